"""Train every seed of one (dataset, model) in one process (rule `train_models_<dataset>`, for the kinds with
`batch_seeds`): `train.train_model` per seed, unchanged, each seed as in a process of its own.

Each seed starts from `keras.backend.clear_session()` (Keras's name counters and global state as a fresh
process has them; `train_model` then sets its seeds), and writes the three files of a training alone, bit
for bit the same weights and history (tests/test_batch.py). TensorFlow's thread pools are set by the first
seed and unchanged after it (`train_model` asks the same count each time). A kill keeps the finished seeds
(`vae_latent_study.batch`) and the unfinished one resumes from its epoch backup (`backup_dir`), as alone.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, TextIO

import keras

from vae_latent_study.batch import Item, run_batch
from vae_latent_study.provenance import file_sha256
from vae_latent_study.training.train import sidecar_path, train_model


def keep_dir(backup_dir: str | Path) -> Path:
    """Where a batch keeps a finished seed's files until the whole batch is done: beside its epoch backup
    (`train_model` removes that one when the seed finishes)."""
    return Path(backup_dir).with_name("finished")


def train_seeds(
    dataset_paths: Sequence[str | Path],
    hparams: Mapping[str, Any],
    seeds: Sequence[int],
    model_paths: Sequence[str | Path],
    history_paths: Sequence[str | Path],
    backup_dirs: Sequence[str | Path],
    threads: int | None = None,
    code: str | None = None,
    console: TextIO | None = None,
    label: str | None = None,
    callbacks: Sequence[keras.callbacks.Callback] = (),
) -> list[str]:
    """Train `hparams` once per seed (seed i on `dataset_paths[i]`, written at `model_paths[i]`, its sidecar
    and `history_paths[i]`); `code` (the rule's code digest) joins each seed's fingerprint. Returns the
    names (`seed<N>`) of the seeds trained now (the others were finished by an earlier process)."""
    lists = (dataset_paths, model_paths, history_paths, backup_dirs)
    if any(len(values) != len(seeds) for values in lists):
        raise ValueError("one dataset, model, history and backup path per seed")
    items = []
    for seed, dataset, model, history, backup in zip(seeds, *lists, strict=True):
        fingerprint = {
            "seed": int(seed),
            "hparams": dict(hparams),
            "dataset_sha256": file_sha256(dataset),
            "threads": threads,
            "code": code,
        }
        # The model last: an existing model file always comes with its history and sidecar.
        outputs = {"history": history, "metadata": sidecar_path(model), "model": model}
        items.append(Item(f"seed{seed}", outputs, keep_dir(backup), fingerprint))
    runs = dict(
        zip((item.name for item in items), zip(seeds, dataset_paths, backup_dirs, strict=True), strict=True)
    )

    def work(item: Item, staged: dict[str, Path]) -> None:
        seed, dataset, backup = runs[item.name]
        keras.backend.clear_session()
        train_model(
            dataset,
            hparams,
            seed=int(seed),
            model_path=staged["model"],
            history_path=staged["history"],
            backup_dir=backup,
            threads=threads,
            callbacks=callbacks,
            console=console,
            label=f"{label} seed{seed}" if label else None,
        )

    return run_batch(items, work)
