"""The set-up of one workflow job: its log, its console, and what an error shows on each."""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

logger = logging.getLogger(__name__)

LOG_FORMAT = "%(asctime)s %(name)s %(message)s"


@dataclass
class Job:
    """A running job: its name (`train_model tiny_gauss/vae/seed7`), log file and console stream."""

    name: str
    log_path: Path
    console: TextIO


def job_name(log_path: str | Path) -> str:
    """The job's name from its log's path, `logs/<rule>/<wildcards>.log` -> `<rule> <wildcards>`."""
    parts = Path(log_path).with_suffix("").parts
    if "logs" in parts:
        parts = parts[len(parts) - parts[::-1].index("logs") :]
    return f"{parts[0]} {'/'.join(parts[1:])}".strip() if parts else str(log_path)


class _FirstWork(logging.Filter):
    """Notes the process's CPU seconds (all its threads) at its first record from the package's modules,
    which the scripts import inside the job: the cost of starting the process, for bench/profile_run.py."""

    def __init__(self) -> None:
        super().__init__()
        self.cpu: float | None = None

    def filter(self, record: logging.LogRecord) -> bool:
        if self.cpu is None and record.name.startswith("vae_latent_study.") and record.name != __name__:
            self.cpu = time.process_time()
        return True


@contextlib.contextmanager
def job(log_path: str | Path) -> Iterator[Job]:
    """Run a workflow script's work as a job that logs to `log_path` and keeps the console for the user.

    From here to the process's end, file descriptor 2 writes to the log, so what C++ libraries print
    there (TensorFlow's start-up lines) lands in it: the script imports the package's modules inside the
    block for that reason. The console (the original stderr, which Snakemake shows) is kept as
    `Job.console`, for a line of progress. An error in the block is logged with its traceback and its
    message is printed on the console too; then the process exits with status 1.
    """
    log_path = Path(log_path)
    log_path.parent.mkdir(parents=True, exist_ok=True)
    sys.stderr.flush()
    console = os.fdopen(os.dup(2), "w", buffering=1, encoding="utf-8", errors="replace")
    log_fd = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    os.dup2(log_fd, 2)
    os.close(log_fd)
    # Python's own stderr (warnings, the logging handler below) writes through fd 2, to the log as well.
    logging.basicConfig(stream=sys.stderr, level=logging.INFO, format=LOG_FORMAT, force=True)
    logging.captureWarnings(True)
    first_work = _FirstWork()
    logging.getLogger().handlers[0].addFilter(first_work)
    current = Job(job_name(log_path), log_path, console)
    try:
        yield current
        first = "-" if first_work.cpu is None else f"{first_work.cpu:.3f}"
        logger.info("process CPU: %s s to the first line of work, %.3f s in all", first, time.process_time())
    except Exception as error:
        logger.exception("%s failed", current.name)
        console.write(f"{current.name} failed: {type(error).__name__}: {error}\n(traceback in {log_path})\n")
        console.flush()
        raise SystemExit(1) from error
