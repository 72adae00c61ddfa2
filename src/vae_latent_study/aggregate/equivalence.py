"""Two finished studies compared metric by metric, paired by training seed: is a change (a precision, a
library version, a machine) within the seed-to-seed spread?

`study_metrics` reads a study directory's judged metrics (`results/metrics/metrics.tsv`) and its models'
final losses (the training sidecars); `compare_studies` pairs two such tables by dataset, model and seed.
Where the pairs were trained on different machines (whose float32 bits differ), `on_machine` tags each
machine's seeds, so that a seed pairs with the same seed of the same machine only.
`bench/compare_precisions.py` prints the table for the float32 and bfloat16 studies.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from vae_latent_study.aggregate.compare import mean_t_interval
from vae_latent_study.io import read_json, read_table

#: The metrics the study judges: reconstruction, the probes, the disentanglement scores, the code's
#: geometry, and the final training and test losses.
JUDGED = (
    "frobenius_sample.mean",
    "frobenius_mean.mean",
    "knn_df.fixed_k.test_accuracy",
    "knn_df.fixed_k.test_f1",
    "knn_df.best.test_accuracy",
    "regression.var_x_linear_r2",
    "regression.var_y_linear_r2",
    "regression.cor_linear_r2",
    "regression.var_x_knn_r2",
    "regression.var_y_knn_r2",
    "regression.cor_knn_r2",
    "mig",
    "sap",
    "dci.disentanglement",
    "dci.completeness",
    "dci.informativeness_test",
    "factor_vae.eval_accuracy",
    "total_correlation",
    "exploration.empty_share",
    "final.loss",
    "final.val_loss",
)
COLUMNS = (
    "dataset",
    "model",
    "metric",
    "n_seeds",
    "mean_a",
    "sd_a",
    "mean_b",
    "sd_b",
    "diff_mean",
    "diff_ci_low",
    "diff_ci_high",
    "seed_sd",
    "within_spread",
)


def study_metrics(study_dir: str | Path, metrics: Sequence[str] = JUDGED) -> pd.DataFrame:
    """(dataset, model, seed, metric, value) of a finished study: the judged metrics of its metrics table
    and `final.<column>` of each model's last history row, from its sidecar."""
    study_dir = Path(study_dir)
    tidy = read_table(study_dir / "results" / "metrics" / "metrics.tsv")
    rows = tidy.loc[tidy["metric"].isin(metrics), ["dataset", "model", "seed", "metric", "value"]]
    finals = []
    for sidecar in sorted(study_dir.glob("results/models/*/*/seed*/model.json")):
        found = read_json(sidecar)
        dataset, model = sidecar.parts[-4], sidecar.parts[-3]
        for key, value in (found.get("final") or {}).items():
            if f"final.{key}" in metrics and value is not None:
                finals.append((dataset, model, int(found["seed"]), f"final.{key}", float(value)))
    finals_frame = pd.DataFrame(finals, columns=["dataset", "model", "seed", "metric", "value"])
    return pd.concat([rows, finals_frame], ignore_index=True)


def on_machine(table: pd.DataFrame, machine: str) -> pd.DataFrame:
    """`table` (of `study_metrics`) with each seed renamed `machine:seed`: concatenate the tagged tables of
    several machines on each side, and `compare_studies` pairs runs of one machine only, while pooling the
    pairs of all of them."""
    return table.assign(seed=[f"{machine}:{seed}" for seed in table["seed"]])


def compare_studies(a: pd.DataFrame, b: pd.DataFrame) -> pd.DataFrame:
    """Per dataset, model and metric, over the seeds both tables have: each side's mean and sd (ddof 1),
    the mean paired difference b - a with its 95% t-interval, the seed-to-seed sd (the two sides' sds
    pooled) and `within_spread`: |mean difference| <= that sd (None with fewer than 2 seeds)."""
    keys = ["dataset", "model", "metric", "seed"]
    joined = a.merge(b, on=keys, suffixes=("_a", "_b")).dropna(subset=["value_a", "value_b"])
    out = []
    for (dataset, model, metric), group in joined.groupby(["dataset", "model", "metric"], sort=True):
        va, vb = group["value_a"].to_numpy(), group["value_b"].to_numpy()
        diff = vb - va
        n = len(diff)
        row = {
            "dataset": dataset,
            "model": model,
            "metric": metric,
            "n_seeds": n,
            "mean_a": float(va.mean()),
            "mean_b": float(vb.mean()),
            "diff_mean": float(diff.mean()),
        }
        if n >= 2:
            low, high = mean_t_interval(diff)
            sd_a, sd_b = float(va.std(ddof=1)), float(vb.std(ddof=1))
            seed_sd = math.sqrt((sd_a**2 + sd_b**2) / 2)
            row |= {
                "sd_a": sd_a,
                "sd_b": sd_b,
                "diff_ci_low": low,
                "diff_ci_high": high,
                "seed_sd": seed_sd,
                "within_spread": bool(abs(row["diff_mean"]) <= seed_sd),
            }
        else:
            row |= dict.fromkeys(("sd_a", "sd_b", "diff_ci_low", "diff_ci_high", "seed_sd"), np.nan)
            row["within_spread"] = None
        out.append(row)
    return pd.DataFrame(out, columns=list(COLUMNS))
