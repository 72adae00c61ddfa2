"""One epoch of seed 001's conv32 AE and VAE on the full Fashion-MNIST, in float32 and mixed bfloat16.

Run: `python bench/bench_images.py [--epochs 2] [--dataset results/data/fashion.h5]` (about 5 minutes on 2
idle cores). Run it on a machine at rest: every figure is a wall-clock rate.

Each model is the default config's (`ae_conv32`, `vae_conv32`: batch 100, 60,000 training / 10,000 test
images of 32x32) trained through `training.train_model`, the workflow's own path (tf.data, per-epoch seeded
shuffle, validation on the test split, backups), for `--epochs` epochs. Printed per model and precision:
the first epoch (it traces the step functions) and the steady epochs after it, split into the training
steps, the validation pass and the epoch-end callbacks, and the training images per second. Without
`--dataset`, the dataset is built from the config's `fashion` entry (the real files, offline as the
workflow finds them).
"""

from __future__ import annotations

import argparse
import logging
import statistics
import sys
import tempfile
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_training import run_project, steady  # noqa: E402

from vae_latent_study.config import validate_config  # noqa: E402
from vae_latent_study.datasets import make_dataset  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
SEED = 19
MODELS = ("ae_conv32", "vae_conv32")
PRECISIONS = ("float32", "mixed_bfloat16")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=2, help="epochs per run (the first is tracing)")
    parser.add_argument("--dataset", type=Path, help="a built fashion dataset (results/data/fashion.h5)")
    parser.add_argument("--precisions", nargs="+", default=list(PRECISIONS), choices=PRECISIONS)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING, format="%(message)s", stream=sys.stdout)
    shipped = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    config = validate_config(shipped, REPO / "config" / "config.schema.yaml")

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        dataset_path = args.dataset
        if dataset_path is None:
            dataset_path = tmp / "fashion.h5"
            make_dataset("fashion", config["datasets"]["fashion"], dataset_path)
        print(f"fashion dataset {dataset_path}, {args.epochs} epochs per run, training seed {SEED}")
        table = []
        for name in MODELS:
            for precision in args.precisions:
                hparams = {**config["models"][name], "epochs": args.epochs, "precision": precision}
                rows, total = run_project(dataset_path, hparams, tmp / name)
                rest = steady(rows)
                mean = {k: statistics.mean(r[k] for r in rest) for k in rest[0]}
                rate = 60000 / mean["total"]
                table.append((name, precision, mean["total"], rate))
                print(
                    f"{name:11s} {precision:15s} first epoch {rows[0]['total']:5.1f} s; steady "
                    f"{mean['total']:5.1f} s per epoch (steps {mean['train']:.1f}, validation "
                    f"{mean['validation']:.1f}, epoch end {mean['epoch_end']:.2f}), {rate:5.0f} images/s; "
                    f"call {total:.1f} s"
                )
    print("\nsteady seconds per epoch (images/s):")
    for name in MODELS:
        cells = {p: (s, r) for n, p, s, r in table if n == name}
        line = "  ".join(f"{p} {s:.1f} s ({r:.0f}/s)" for p, (s, r) in cells.items())
        if len(cells) == 2:
            line += f"  bf16/f32 {cells['float32'][0] / cells['mixed_bfloat16'][0]:.2f}x"
        print(f"  {name:11s} {line}")


if __name__ == "__main__":
    main()
