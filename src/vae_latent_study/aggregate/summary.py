"""Summaries of the tidy table over training seeds, and the paired VAE-vs-AE comparison, where the sources'
claims (`config/expected/<name>.yaml`'s `claims`, read by `claims.read_claims`) are judged."""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from vae_latent_study.aggregate.claims import Claim
from vae_latent_study.aggregate.table import add_exploration_metrics, collect_metrics
from vae_latent_study.io import write_table

logger = logging.getLogger(__name__)


def bootstrap_mean_ci(values: Sequence[float], n_boot: int = 2000, seed: int = 0) -> tuple[float, float, str]:
    """Percentile bootstrap 95% interval of the mean, and how it was made.

    Fewer than two values, or a non-finite one, give (NaN, NaN) with the reason instead.
    """
    values = np.asarray(values, dtype=np.float64)
    if len(values) < 2:
        return math.nan, math.nan, "no CI: fewer than 2 seeds"
    if not np.all(np.isfinite(values)):
        return math.nan, math.nan, "no CI: non-finite values"
    if np.ptp(values) == 0:
        return float(values[0]), float(values[0]), "all seeds equal"
    result = stats.bootstrap(
        (values,),
        np.mean,
        n_resamples=n_boot,
        confidence_level=0.95,
        method="percentile",
        rng=np.random.default_rng(seed),
    )
    interval = result.confidence_interval
    return float(interval.low), float(interval.high), f"percentile bootstrap, {n_boot} resamples"


CLAIM_COLUMNS = ("claim", "test", "margin", "statistic", "p_value", "verdict")


def judge_claim(claim: Claim, diff: Sequence[float]) -> dict[str, Any]:
    """The claim's paired test on the per-seed VAE-minus-AE differences `diff`, and a verdict that can come
    out either way: `supported` / `not supported` at the claim's level, or for fewer than 2 seeds
    `undecided`."""
    diff = np.asarray(diff, dtype=np.float64)
    row: dict[str, Any] = {"claim": claim.text, "margin": claim.margin}
    if claim.alternative == "equivalent":
        row["test"] = f"TOST, paired t-tests against +-{claim.margin}"
    else:
        row["test"] = f"paired one-sided t-test, VAE - AE {'>' if claim.alternative == 'greater' else '<'} 0"
    if len(diff) < 2 or np.std(diff) == 0:
        reason = "fewer than 2 seeds" if len(diff) < 2 else "identical differences"
        return {**row, "statistic": math.nan, "p_value": math.nan, "verdict": f"undecided ({reason})"}
    if claim.alternative == "equivalent":
        lower = stats.ttest_1samp(diff, -claim.margin, alternative="greater")
        upper = stats.ttest_1samp(diff, claim.margin, alternative="less")
        worse = max((lower, upper), key=lambda result: result.pvalue)
        statistic, p_value = float(worse.statistic), float(worse.pvalue)
        supported = p_value < claim.level
        verdict = (
            f"supported: equivalent within +-{claim.margin}"
            if supported
            else f"not supported: not shown equivalent within +-{claim.margin}"
        )
    else:
        result = stats.ttest_1samp(diff, 0.0, alternative=claim.alternative)
        statistic, p_value = float(result.statistic), float(result.pvalue)
        verdict = "supported" if p_value < claim.level else "not supported"
    return {**row, "statistic": statistic, "p_value": p_value, "verdict": verdict}


def summarise_metrics(
    tidy: pd.DataFrame,
    summary_tsv: str | Path | None = None,
    paired_tsv: str | Path | None = None,
    n_boot: int = 2000,
    seed: int = 0,
    claims: Mapping[str, Sequence[Claim | Mapping[str, Any]]] | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Each metric over training seeds, and the VAE-minus-AE difference paired by seed.

    The summary has one row per dataset x model x metric: n_seeds, mean, std (ddof 1), and a percentile
    bootstrap 95% CI of the mean (`ci_low`, `ci_high`; NaN with one seed, as `ci_method` says). The paired
    table has one row per dataset x (VAE-kind model, AE-kind model) x metric over the seeds both have:
    n_pairs, both means, the mean difference VAE - AE and its bootstrap CI. Each bootstrap is seeded with
    `seed`, so a row does not depend on the others. `claims` ({dataset: claims}, `claims.Claim`s or their
    fields, as `claims.claims_by_dataset` gives them) judges a pair's metric that a claim names
    (`judge_claim`, the columns `CLAIM_COLUMNS`; empty for the other metrics).
    """
    keys = ["dataset", "family", "model", "kind", "metric"]
    summary_rows = []
    for key, group in tidy.groupby(keys, sort=True, dropna=False):
        values = group["value"].to_numpy()
        low, high, method = bootstrap_mean_ci(values, n_boot=n_boot, seed=seed)
        summary_rows.append(
            {
                **dict(zip(keys, key, strict=True)),
                "n_seeds": len(values),
                "mean": float(np.mean(values)),
                "std": float(np.std(values, ddof=1)) if len(values) > 1 else math.nan,
                "ci_low": low,
                "ci_high": high,
                "ci_method": method,
            }
        )
    summary = pd.DataFrame(
        summary_rows, columns=[*keys, "n_seeds", "mean", "std", "ci_low", "ci_high", "ci_method"]
    )

    judged_by = {
        dataset: {c.metric: c for c in (Claim(**c) if isinstance(c, Mapping) else c for c in found)}
        for dataset, found in (claims or {}).items()
    }
    paired_rows = []
    for (dataset, family), data in tidy.groupby(["dataset", "family"], sort=True, dropna=False):
        vae_models = sorted(data.loc[data["kind"] == "vae", "model"].unique())
        ae_models = sorted(data.loc[data["kind"] == "ae", "model"].unique())
        for vae_model in vae_models:
            for ae_model in ae_models:
                vae = data[data["model"] == vae_model].pivot(index="seed", columns="metric", values="value")
                ae = data[data["model"] == ae_model].pivot(index="seed", columns="metric", values="value")
                seeds = vae.index.intersection(ae.index).sort_values()
                for metric in sorted(vae.columns.intersection(ae.columns)):
                    pair = pd.DataFrame({"vae": vae.loc[seeds, metric], "ae": ae.loc[seeds, metric]}).dropna()
                    if pair.empty:
                        continue
                    diff = (pair["vae"] - pair["ae"]).to_numpy()
                    low, high, method = bootstrap_mean_ci(diff, n_boot=n_boot, seed=seed)
                    claim = judged_by.get(dataset, {}).get(metric)
                    judged = judge_claim(claim, diff) if claim is not None else dict.fromkeys(CLAIM_COLUMNS)
                    paired_rows.append(
                        {
                            "dataset": dataset,
                            "family": family,
                            "vae_model": vae_model,
                            "ae_model": ae_model,
                            "metric": metric,
                            "n_pairs": len(pair),
                            "seeds": ",".join(str(s) for s in pair.index),
                            "vae_mean": float(pair["vae"].mean()),
                            "ae_mean": float(pair["ae"].mean()),
                            "diff_mean": float(np.mean(diff)),
                            "diff_ci_low": low,
                            "diff_ci_high": high,
                            "ci_method": method,
                            **judged,
                        }
                    )
    paired = pd.DataFrame(
        paired_rows,
        columns=[
            "dataset",
            "family",
            "vae_model",
            "ae_model",
            "metric",
            "n_pairs",
            "seeds",
            "vae_mean",
            "ae_mean",
            "diff_mean",
            "diff_ci_low",
            "diff_ci_high",
            "ci_method",
            *CLAIM_COLUMNS,
        ],
    )
    if summary_tsv is not None:
        write_table(summary, summary_tsv)
    if paired_tsv is not None:
        write_table(paired, paired_tsv)
    return summary, paired


def aggregate_metrics(
    paths: Sequence[str | Path],
    tidy_tsv: str | Path,
    summary_tsv: str | Path,
    paired_tsv: str | Path,
    n_boot: int = 2000,
    seed: int = 0,
    explorations: Sequence[str | Path] = (),
    claims: Mapping[str, Sequence[Claim | Mapping[str, Any]]] | None = None,
) -> None:
    """The aggregation rule's job: one tidy table of every metric, its summary over seeds and the paired
    VAE-vs-AE comparison (see `collect_metrics` and `summarise_metrics`). `explorations` (the latent-space
    summaries of `explore.explore_latents`) add each run's `exploration.empty_share`; `claims` are the
    sources' claims judged on each dataset's pairs (the rule's param, `claims.claims_by_dataset`)."""
    tidy = collect_metrics(paths)
    if explorations:
        tidy = add_exploration_metrics(tidy, explorations)
    write_table(tidy, tidy_tsv)
    summarise_metrics(tidy, summary_tsv, paired_tsv, n_boot=n_boot, seed=seed, claims=claims)
