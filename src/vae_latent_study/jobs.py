"""The set-up of one workflow job: its log, its console, and what an error shows on each."""

from __future__ import annotations

import builtins
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


class _ImportClock:
    """Stands in for `builtins.__import__` while a job runs and adds up the process's CPU seconds (all its
    threads) and the wall seconds spent in import statements, the outermost ones wherever they are (the
    script's, and those the package's functions make at their first call: TensorFlow is often imported so).
    With the time before the job, that is the cost of starting the process, for bench/profile_run.py."""

    def __init__(self, original) -> None:
        self.original = original
        self.cpu = self.wall = 0.0
        self._depth = 0

    def __call__(self, name, globals=None, locals=None, fromlist=(), level=0):
        if self._depth:
            self._depth += 1
            try:
                return self.original(name, globals, locals, fromlist, level)
            finally:
                self._depth -= 1
        self._depth, cpu, wall = 1, time.process_time(), time.perf_counter()
        try:
            return self.original(name, globals, locals, fromlist, level)
        finally:
            self._depth = 0
            self.cpu += time.process_time() - cpu
            self.wall += time.perf_counter() - wall


def _process_age() -> float | None:
    """Seconds since this process started (Linux), else None."""
    try:
        start_ticks = float(Path("/proc/self/stat").read_text().rsplit(")", 1)[1].split()[19])
        return time.clock_gettime(time.CLOCK_BOOTTIME) - start_ticks / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError, AttributeError):
        return None


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
    age, cpu = _process_age(), time.process_time()
    imports = _ImportClock(builtins.__import__)
    builtins.__import__ = imports
    current = Job(job_name(log_path), log_path, console)
    try:
        yield current
        builtins.__import__ = imports.original
        wall = "-" if age is None else f"{age + imports.wall:.3f}"
        logger.info(
            "process start (before the job, and its imports): %.3f s CPU, %s s wall; %.3f s CPU in all",
            cpu + imports.cpu,
            wall,
            time.process_time(),
        )
    except Exception as error:
        logger.exception("%s failed", current.name)
        console.write(f"{current.name} failed: {type(error).__name__}: {error}\n(traceback in {log_path})\n")
        console.flush()
        raise SystemExit(1) from error
    finally:
        builtins.__import__ = imports.original
