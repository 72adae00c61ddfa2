"""Seed 004 over 10 training seeds: the per-feature model as config/config.yaml ships it (log_var_rate,
restarts), each initialisation evaluated against the truth, and the one `restarts` keeps.

Run from the repository root, in the project's environment (one process; about 30 trainings of 200
epochs):

    python bench/factor_model_restarts.py train --work /tmp/fm_bench [--seeds 19 ... 28]
    python bench/factor_model_restarts.py evaluate --work /tmp/fm_bench \
        --out docs/measurements/factor_model/seeds.tsv

`train` builds the study's `factor_model` dataset and trains the model entry (default
`vae_fm_per_feature`) of config/config.yaml with `training.train_model`, exactly as the workflow does, at
each training seed; a callback saves every restart's final model beside the chosen one. `evaluate` runs the
study's evaluation (`factor_model_evaluation.model_evaluation`) on every restart's model and on the chosen
one and writes one row per (seed, restart) with `chosen` marking the kept one, and `summary.txt` beside it
(the targets over seeds, for the kept model and for every initialisation). Not a test: it asserts
nothing, it reports.
"""

from __future__ import annotations

import argparse
import csv
import json
import time
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]


def _config() -> dict:
    from vae_latent_study.config import validate_config

    raw = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    return validate_config(raw, REPO / "config" / "config.schema.yaml")


def train(work: Path, seeds: list[int], model_name: str, threads: int) -> None:
    import keras

    from vae_latent_study import datasets
    from vae_latent_study.training import train as training_train

    config = _config()
    work.mkdir(parents=True, exist_ok=True)
    data = work / "factor_model.h5"
    if not data.exists():
        datasets.write_dataset(
            datasets.build_dataset("factor_model", config["datasets"]["factor_model"]), data
        )
    hparams = config["models"][model_name]

    class SaveEach(keras.callbacks.Callback):
        """Saves the model at the end of each restart's fit (the k-th fit of this call is restart k)."""

        def __init__(self, root: Path) -> None:
            super().__init__()
            self.root, self.k = root, 0

        def on_epoch_end(self, epoch, logs=None) -> None:
            self.last = {key: float(value) for key, value in (logs or {}).items()}

        def on_train_end(self, logs=None) -> None:
            self.model.save(self.root / f"restart{self.k}.keras")
            (self.root / f"restart{self.k}.json").write_text(json.dumps(self.last))
            self.k += 1

    for seed in seeds:
        root = work / model_name / f"seed{seed}"
        if (root / "model.keras").exists():
            continue
        root.mkdir(parents=True, exist_ok=True)
        start = time.perf_counter()
        training_train.train_model(
            data,
            hparams,
            seed,
            root / "model.keras",
            root / "history.csv",
            root / "backup",
            threads=threads,
            callbacks=[SaveEach(root)],
        )
        print(f"seed {seed}: {time.perf_counter() - start:.0f} s", flush=True)


COLUMNS = (
    "seed",
    "restart",
    "init_seed",
    "chosen",
    "final_loss",
    "corr_test",
    "oracle_corr_test",
    "gap_test",
    "corr_met",
    "s_share_within",
    "ceiling_share",
    "s_ratio_median",
    "fold_r2_z",
    "fold_r2_abs_z",
    "folded",
    "spearman",
    "monotone",
    "kl_per_row",
    "g_error_median",
)


def evaluate(work: Path, out: Path, model_name: str, seeds: list[int]) -> None:
    from vae_latent_study.datasets import read_dataset
    from vae_latent_study.kinds.factor_model.evaluate import learned_model, model_evaluation
    from vae_latent_study.models import inference

    dataset = read_dataset(work / "factor_model.h5")
    rows = []
    for seed in seeds:
        root = work / model_name / f"seed{seed}"
        sidecar = json.loads((root / "model.json").read_text())
        restarts = sidecar["restarts"]
        for run in restarts["runs"]:
            k = run["restart"]
            model = inference.load_model(root / f"restart{k}.keras", compile=False)
            numbers = model_evaluation(learned_model(model), dataset)
            latent, noise = numbers["latent"], numbers["noise"]
            rows.append(
                {
                    "seed": sidecar["seed"],
                    "restart": k,
                    "init_seed": run["seed"],
                    "chosen": k == restarts["chosen"],
                    "final_loss": run["final_loss"],
                    "corr_test": abs(latent["corr_test"]),
                    "oracle_corr_test": latent["oracle_corr_test"],
                    "gap_test": latent["gap_test"],
                    "corr_met": latent["gap_test"] <= 0.01,
                    "s_share_within": noise["share_within"],
                    "ceiling_share": noise["ceiling"]["share_within_rows"],
                    "s_ratio_median": noise["ratio_median"],
                    "fold_r2_z": latent["fold"]["r2_z"],
                    "fold_r2_abs_z": latent["fold"]["r2_abs_z"],
                    "folded": latent["fold"]["folded"],
                    "spearman": latent["fold"]["spearman"],
                    "monotone": latent["fold"]["monotone"],
                    "kl_per_row": json.loads((root / f"restart{k}.json").read_text())["kl_loss"],
                    "g_error_median": numbers["functions"]["median"],
                }
            )
            print(rows[-1], flush=True)
    out.parent.mkdir(parents=True, exist_ok=True)
    with open(out, "w", newline="") as f:
        writer = csv.DictWriter(f, COLUMNS, delimiter="\t", lineterminator="\n")
        writer.writeheader()
        for row in rows:
            writer.writerow({k: (f"{v:.6g}" if isinstance(v, float) else v) for k, v in row.items()})
    print(summarise(rows, out.with_name("summary.txt")))


def summarise(rows: list[dict], path: Path) -> str:
    """The targets over seeds, for the kept model and for every initialisation, as plain text."""
    import numpy as np

    def quartiles(values) -> str:
        q1, med, q3 = np.quantile(np.asarray(values, dtype=float), [0.25, 0.5, 0.75])
        return f"median {med:.3f} (quartiles {q1:.3f}-{q3:.3f})"

    chosen = [r for r in rows if r["chosen"]]
    lines = [
        f"{len(chosen)} training seeds, {len(rows)} initialisations ({len(rows) // len(chosen)} per seed)"
    ]
    for label, group in (("kept (lowest final training loss)", chosen), ("every initialisation", rows)):
        share_met = sum(r["s_share_within"] >= 0.9 for r in group)
        lines += [
            f"{label}:",
            f"  corr(z_mean, Z) within 0.01 of the oracle on the test rows: "
            f"{sum(r['corr_met'] for r in group)} of {len(group)}; "
            f"gap {quartiles([r['gap_test'] for r in group])}",
            f"  s_j within +-10% for >= 90% of features: {share_met} of {len(group)}; share "
            f"{quartiles([r['s_share_within'] for r in group])}",
            f"  learned / true s_j, median over features: {quartiles([r['s_ratio_median'] for r in group])}",
            f"  folded (|Z| R^2 > Z R^2): {sum(r['folded'] for r in group)}; "
            f"not monotone (|Spearman| < 0.95): {sum(not r['monotone'] for r in group)}",
            f"  final training loss: {quartiles([r['final_loss'] for r in group])}",
        ]
    good = [r["final_loss"] for r in rows if r["monotone"]]
    bad = [r["final_loss"] for r in rows if not r["monotone"]]
    lines.append(
        f"final training loss, monotone charts: {min(good):.2f}-{max(good):.2f}; not monotone: "
        + (f"{min(bad):.2f}-{max(bad):.2f}" if bad else "none")
    )
    ceiling = sorted({r["ceiling_share"] for r in rows})
    lines.append(f"ceiling (true g and Z, the 180 training rows): share within +-10% {ceiling}")
    text = "\n".join(lines) + "\n"
    path.write_text(text)
    return text


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("phase", choices=("train", "evaluate"))
    parser.add_argument("--work", type=Path, required=True)
    parser.add_argument("--seeds", type=int, nargs="+", default=list(range(19, 29)))
    parser.add_argument("--model", default="vae_fm_per_feature")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", type=Path, default=REPO / "docs/measurements/factor_model/seeds.tsv")
    args = parser.parse_args()
    if args.phase == "train":
        train(args.work, args.seeds, args.model, args.threads)
    else:
        evaluate(args.work, args.out, args.model, args.seeds)


if __name__ == "__main__":
    main()
