"""Seed 003's conditional toy AE at the seed's 300 epochs and at 1,500 epochs (constant rate 1e-3), 3 seeds.

One process, the project's own functions: the `toy_manifold` dataset and the `cae_toy` model from the
shipped config (`config/config.yaml`, validated), `training.train_model` with 1,500 epochs and everything
else as `cae_toy`, 2 compute threads (the workflow's). With a constant rate and the per-epoch orders a
function of (seed, epoch) only, the first 300 epochs of a 1,500-epoch run are the 300-epoch run: a callback
saves the model at the end of epoch 300 (`--check` trains seed 19's 300-epoch model on its own and compares
the weights bit for bit). Then `toy_manifold_evaluation.evaluate_manifold` on every model writes
`cae_toy_e{300,1500}_seed{seed}.json` here, and `table.md` the per-seed table.

    PYTHONPATH=src nice -n 5 python docs/measurements/toy_manifold/measure.py train [--check]
    PYTHONPATH=src python docs/measurements/toy_manifold/measure.py evaluate

Models, histories and figures go to `results/measure_toy_manifold/` (not committed).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import yaml

ROOT = Path(__file__).resolve().parents[3]
HERE = Path(__file__).resolve().parent
WORK = ROOT / "results" / "measure_toy_manifold"
SEEDS = (19, 20, 21)
LONG, SHORT = 1500, 300
THREADS = 2


def _config() -> dict:
    from vae_latent_study.config import validate_config

    config = yaml.safe_load((ROOT / "config" / "config.yaml").read_text())
    return validate_config(config, ROOT / "config" / "config.schema.yaml")


def _dataset(config: dict) -> Path:
    from vae_latent_study.datasets import make_dataset

    path = WORK / "toy_manifold.h5"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        make_dataset("toy_manifold", config["datasets"]["toy_manifold"], path)
    return path


def _model_path(epochs: int, seed: int) -> Path:
    return WORK / f"cae_toy_e{epochs}" / f"seed{seed}" / "model.keras"


def train(check: bool) -> None:
    import keras

    from vae_latent_study.config import training_hparams
    from vae_latent_study.training.train import train_model

    config = _config()
    dataset = _dataset(config)
    base = training_hparams(config["models"]["cae_toy"], "toy_manifold")
    assert base["epochs"] == SHORT and base["schedule"]["type"] == "constant", base

    class Snapshot(keras.callbacks.Callback):
        def __init__(self, path: Path) -> None:
            super().__init__()
            self.path = path

        def on_epoch_end(self, epoch, logs=None):
            if epoch + 1 == SHORT:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                self.model.save(self.path)

    for seed in SEEDS:
        path = _model_path(LONG, seed)
        if path.exists():
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        train_model(
            dataset,
            {**base, "epochs": LONG},
            seed,
            path,
            path.parent / "history.tsv",
            path.parent / "backup",
            threads=THREADS,
            callbacks=[Snapshot(_model_path(SHORT, seed))],
            label=f"cae_toy {LONG} epochs, seed {seed}",
        )
    if check:
        seed = SEEDS[0]
        path = WORK / f"cae_toy_e{SHORT}_alone" / f"seed{seed}" / "model.keras"
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            train_model(
                dataset,
                base,
                seed,
                path,
                path.parent / "history.tsv",
                path.parent / "backup",
                threads=THREADS,
                label=f"cae_toy {SHORT} epochs alone, seed {seed}",
            )
        from vae_latent_study.models import inference

        alone = inference.load_model(path, compile=False).get_weights()
        snap = inference.load_model(_model_path(SHORT, seed), compile=False).get_weights()
        same = all(np.array_equal(a, b) for a, b in zip(alone, snap, strict=True))
        (HERE / "snapshot_check.json").write_text(
            json.dumps({"seed": seed, "epochs": SHORT, "weights_identical": same}, indent=2) + "\n"
        )
        print(f"seed {seed}: the epoch-{SHORT} snapshot equals the {SHORT}-epoch run bit for bit: {same}")


def evaluate() -> None:
    from vae_latent_study.evaluation.runner import Context, finite
    from vae_latent_study.kinds.toy_manifold.evaluate import evaluate_manifold
    from vae_latent_study.provenance import model_run_record

    dataset = WORK / "toy_manifold.h5"
    for epochs in (SHORT, LONG):
        for seed in SEEDS:
            path = _model_path(epochs, seed)
            if not path.exists():
                print(f"missing {path}", file=sys.stderr)
                continue
            out = HERE / f"cae_toy_e{epochs}_seed{seed}.json"
            context = Context(
                name="manifold",
                identity={"dataset": "toy_manifold", "model": f"cae_toy_e{epochs}", "seed": seed},
                inputs={"model": str(path), "dataset": str(dataset)},
                outputs={"figure": str(path.parent / "manifold_reconstructions.png")},
            )
            numbers = evaluate_manifold(context)
            checksum = context.dataset.manifest["checksum"]["sha256"]
            payload = finite(
                {"identity": context.identity, **numbers, **model_run_record(path, dataset, checksum)}
            )
            # Paths relative to the repository, so that the committed file does not name this machine.
            for entry in payload["inputs"].values():
                entry["path"] = str(Path(entry["path"]).resolve().relative_to(ROOT))
            out.write_text(json.dumps(payload, indent=2, sort_keys=True, allow_nan=False) + "\n")
    table()


def _quartiles(values: list[float]) -> str:
    q25, q50, q75 = np.percentile(values, [25, 50, 75])
    return f"{q50:.3f} [{q25:.3f}, {q75:.3f}]"


#: The table's columns: title, and the path of the number in `test` (held-out points).
COLUMNS = (
    ("MSE / projection floor", ("mse_over_projection_floor",)),
    ("MSE / clean floor", ("mse_over_floor",)),
    ("projection's MSE / projection floor", ("projection_mse_over_projection_floor",)),
    ("arc / projection floor", ("components", "sine_arc", "mse_over_projection_floor")),
    ("circle / projection floor", ("components", "circle", "mse_over_projection_floor")),
    ("circle torn", ("torn_share", "circle")),
    ("circle torn: share of its error", ("components", "circle", "torn_error_share")),
    ("circle untorn / projection floor", ("components", "circle", "untorn_mse_over_projection_floor")),
    ("circle largest gap", ("components", "circle", "largest_gap")),
    ("median distance", ("distance", "median")),
)


def _get(node: dict, path: tuple[str, ...]) -> float:
    for key in path:
        node = node[key]
    return float(node)


def table() -> None:
    """`table.md`: per seed and the median [quartiles] over seeds, held-out and training points."""
    lines = [
        "# cae_toy at the seed's 300 epochs and at 1,500 epochs (constant rate 1e-3)",
        "",
        "Written by `measure.py evaluate` from the `cae_toy_e*_seed*.json` beside it (each a manifold.json).",
        "Floors: projection sd^2 = 0.0036, clean 2 sd^2 = 0.0072 per point (sd 0.06). Torn: reconstructed",
        "more than 3 sd (0.18) from where the input projects onto its own curve. Shares as fractions.",
    ]
    for split, what in (("test", "held-out points (500)"), ("train", "training points (the seed's 2,000)")):
        lines += ["", f"## {what}", ""]
        lines.append("| epochs | seed | " + " | ".join(title for title, _ in COLUMNS) + " |")
        lines.append("|" + " --- |" * (len(COLUMNS) + 2))
        for epochs in (SHORT, LONG):
            found = {}
            for seed in SEEDS:
                path = HERE / f"cae_toy_e{epochs}_seed{seed}.json"
                if path.exists():
                    found[seed] = json.loads(path.read_text())[split]
            for seed, numbers in found.items():
                cells = [f"{_get(numbers, key):.3f}" for _, key in COLUMNS]
                lines.append(f"| {epochs} | {seed} | " + " | ".join(cells) + " |")
            if found:
                cells = [_quartiles([_get(n, key) for n in found.values()]) for _, key in COLUMNS]
                lines.append(f"| {epochs} | median [q25, q75] | " + " | ".join(cells) + " |")
    (HERE / "table.md").write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("step", choices=("train", "evaluate", "table"))
    parser.add_argument("--check", action="store_true", help="also train seed 19's 300 epochs alone")
    args = parser.parse_args()
    {"train": lambda: train(args.check), "evaluate": evaluate, "table": table}[args.step]()
