"""Several runs in one job: a kind with `batch_seeds` (`kinds.interface.KindSpec`) trains all seeds of one
(dataset, model) in one process, and runs each evaluation for all of them in one process, so that they pay
one TensorFlow start per model instead of one per run. The per-run files are the same as a job per run.

Kill safety. Snakemake removes a job's outputs before it (re)runs the job, so a finished run cannot keep its
files among the outputs of a killed batch. Each run therefore writes its files into its own keep folder
(`Item.keep_dir`) and, last and atomically, a record there (`finished.json`, with the run's fingerprint:
what its files depend on). Only when every run of the batch has its record are the files copied onto the
job's outputs (bit for bit), and then the keep folders are removed. A kill at any point leaves either a
record whose files are complete or no record (that run is done again: a training resumes from its own
epoch backup); the rerun of the job copies the recorded runs' files back instead of redoing them. A record
whose fingerprint is not the run's (the settings, the code or the inputs changed since) is discarded.
"""

from __future__ import annotations

import json
import logging
import shutil
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vae_latent_study.io import atomic_path

logger = logging.getLogger(__name__)

#: The record a finished run leaves in its keep folder, last.
FINISHED = "finished.json"


@dataclass(frozen=True)
class Item:
    """One run of a batch: its name (for the log), its output files by key (in the order they are put in
    place: the one that says "finished" to a reader last), its keep folder and its fingerprint."""

    name: str
    outputs: Mapping[str, str | Path]
    keep_dir: Path
    fingerprint: Mapping[str, Any]

    def staged(self) -> dict[str, Path]:
        """Where the run writes each output first: its file name in the keep folder."""
        paths = {key: self.keep_dir / Path(path).name for key, path in self.outputs.items()}
        if len(set(paths.values())) != len(paths):
            raise ValueError(
                f"{self.name}: two outputs share a file name: {sorted(map(str, paths.values()))}"
            )
        return paths


def _plain(node: Any) -> Any:
    return json.loads(json.dumps(node, sort_keys=True, default=str))


def finished(item: Item) -> bool:
    """Whether an earlier process finished `item` with the same fingerprint (its files are then complete)."""
    try:
        record = json.loads((item.keep_dir / FINISHED).read_text())
    except (OSError, ValueError):
        return False
    return record == _plain(item.fingerprint) and all(p.is_file() for p in item.staged().values())


def run_batch(items: Sequence[Item], work: Callable[[Item, dict[str, Path]], None]) -> list[str]:
    """Run `work(item, staged_paths)` for each item not finished before (see the module docstring), then put
    every item's files in place and remove the keep folders. Returns the names of the items it ran."""
    names = [item.name for item in items]
    if len(set(names)) != len(names) or len({item.keep_dir for item in items}) != len(items):
        raise ValueError(f"the runs of a batch need their own names and keep folders: {names}")
    ran = []
    for item in items:
        if finished(item):
            logger.info("%s was finished by an earlier process: its files are kept", item.name)
            continue
        if item.keep_dir.exists():  # an unfinished run's files, or another run's
            shutil.rmtree(item.keep_dir)
        item.keep_dir.mkdir(parents=True)
        staged = item.staged()
        work(item, staged)
        missing = [str(path) for path in staged.values() if not path.is_file()]
        if missing:
            raise RuntimeError(f"{item.name} wrote no {', '.join(missing)}")
        with atomic_path(item.keep_dir / FINISHED) as tmp:
            tmp.write_text(json.dumps(_plain(item.fingerprint), sort_keys=True))
        ran.append(item.name)
    for item in items:
        staged = item.staged()
        for key, path in item.outputs.items():
            with atomic_path(path, keep_suffix=Path(path).suffix) as tmp:
                shutil.copyfile(staged[key], tmp)
    for item in items:
        shutil.rmtree(item.keep_dir, ignore_errors=True)
    logger.info(
        "%d runs: %d run now, %d kept from an earlier process", len(items), len(ran), len(items) - len(ran)
    )
    return ran
