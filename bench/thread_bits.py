"""Whether a model's training gives the same bits on 1 and on 2 TensorFlow threads (a kind's `train_threads`).

    python bench/thread_bits.py [--epochs 40] [--out DIR] MODEL:DATASET [MODEL:DATASET ...]

For each pair of `config/config.yaml`, builds the dataset (its config's seed), then trains the model (seed
19, `--epochs` epochs, early stopping off) through `training.train_model` twice, each in a fresh process: on
1 and on 2 threads. Prints one line per pair: the SHA-256 (16 hex digits) of every weight array, optimizer
state included, and of the history's losses, per thread count, and whether they are equal.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def _train(model: str, dataset: str, threads: int, epochs: int, out: Path) -> None:
    import yaml

    from vae_latent_study.config import training_hparams, validate_config
    from vae_latent_study.datasets import build_dataset, write_dataset
    from vae_latent_study.training.train import train_model

    config = validate_config(
        yaml.safe_load((REPO / "config/config.yaml").read_text()), REPO / "config/config.schema.yaml"
    )
    hparams = dict(training_hparams(config["models"][model], dataset))
    hparams["epochs"] = min(int(hparams["epochs"]), epochs)
    hparams.pop("early_stopping", None)
    data = out / "data.h5"
    if not data.exists():
        write_dataset(build_dataset(dataset, config["datasets"][dataset]), data)
    train_model(
        data,
        hparams,
        seed=19,
        model_path=out / f"model{threads}.keras",
        history_path=out / f"history{threads}.csv",
        backup_dir=out / f"backup{threads}",
        threads=threads,
        console=io.StringIO(),
    )


def _digest(model_file: Path, history_file: Path) -> tuple[str, str]:
    import h5py
    import numpy as np
    import pandas as pd

    weights = hashlib.sha256()
    with (
        zipfile.ZipFile(model_file) as archive,
        h5py.File(io.BytesIO(archive.read("model.weights.h5"))) as h5,
    ):
        h5.visititems(
            lambda name, node: (
                weights.update(np.asarray(node).tobytes()) if isinstance(node, h5py.Dataset) else None
            )
        )
    history = pd.read_csv(history_file).drop(columns=["seconds"])
    return weights.hexdigest()[:16], hashlib.sha256(history.to_csv(index=False).encode()).hexdigest()[:16]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("pairs", nargs="+", help="MODEL:DATASET")
    parser.add_argument("--epochs", type=int, default=40)
    parser.add_argument("--out", type=Path)
    parser.add_argument("--train", nargs=4, help=argparse.SUPPRESS)  # MODEL DATASET THREADS DIR (one process)
    args = parser.parse_args()
    if args.train:
        model, dataset, threads, out = args.train
        _train(model, dataset, int(threads), args.epochs, Path(out))
        return
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for pair in args.pairs:
            model, dataset = pair.split(":")
            out = Path(args.out or tmp) / f"{model}_{dataset}"
            out.mkdir(parents=True, exist_ok=True)
            digests = {}
            for threads in (1, 2):
                command = [sys.executable, __file__, "x", "--epochs", str(args.epochs)]
                subprocess.run(
                    [*command, "--train", model, dataset, str(threads), str(out)],
                    check=True,
                    capture_output=True,
                )
                digests[threads] = _digest(out / f"model{threads}.keras", out / f"history{threads}.csv")
            row = {
                "model": model,
                "dataset": dataset,
                "epochs": args.epochs,
                "weights": {t: d[0] for t, d in digests.items()},
                "history": {t: d[1] for t, d in digests.items()},
                "equal": digests[1] == digests[2],
            }
            rows.append(row)
            one, two = digests[1], digests[2]
            same = "equal" if row["equal"] else "DIFFERENT"
            print(
                f"{model:26s} {dataset:14s} 1 thread {one[0]} {one[1]}  2 threads {two[0]} {two[1]}  {same}"
            )
    print(json.dumps(rows))


if __name__ == "__main__":
    main()
