"""The comparison of our numbers with the numbers each study's source printed (`config/expected/`, read by
`expected.read_expected`)."""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from vae_latent_study.aggregate.expected import ExpectedNumbers, read_expected
from vae_latent_study.io import write_table

logger = logging.getLogger(__name__)


COMPARISON_COLUMNS = (
    "study",
    "quantity",
    "family",
    "kind",
    "expected_value",
    "source_line",
    "metric",
    "dataset",
    "model",
    "n_seeds",
    "ours_mean",
    "ours_min",
    "ours_max",
    "ours_sd",
    "ours_ci_low",
    "ours_ci_high",
    "in_seed_range",
    "difference",
    "relative_difference",
    "tolerance_mode",
    "tolerance",
    "verdict",
    "note",
)


def _verdict(ours: float, expected: float, tolerance: tuple[str, float] | None) -> str:
    if tolerance is None:
        return "not judged"
    mode, value = tolerance
    bound = value * abs(expected) if mode == "relative" else value
    return "within" if abs(ours - expected) <= bound else "outside"


def _seed_spread(values: np.ndarray, expected: float) -> dict[str, Any]:
    """Our values' sd over seeds, the 95% t-interval of their mean, and whether the source's single run
    lies within the range our seeds span (`inside`, `outside`; `one seed` when there is no range)."""
    if len(values) < 2:
        return {
            "ours_sd": math.nan,
            "ours_ci_low": math.nan,
            "ours_ci_high": math.nan,
            "in_seed_range": "one seed",
        }
    low, high = mean_t_interval(values)
    inside = values.min() <= expected <= values.max()
    return {
        "ours_sd": float(values.std(ddof=1)),
        "ours_ci_low": low,
        "ours_ci_high": high,
        "in_seed_range": "inside" if inside else "outside",
    }


def mean_t_interval(values: np.ndarray) -> tuple[float, float]:
    """The 95% Student-t interval of the mean of `values` (at least 2)."""
    values = np.asarray(values, dtype=np.float64)
    half = float(stats.t.ppf(0.975, len(values) - 1)) * float(values.std(ddof=1)) / math.sqrt(len(values))
    return float(values.mean()) - half, float(values.mean()) + half


def compare_expected(
    tidy: pd.DataFrame,
    expected: ExpectedNumbers,
    study: str = "",
    tolerance: Mapping[str, tuple[str, float] | None] | None = None,
) -> pd.DataFrame:
    """Each expected number beside ours (the mean over training seeds), per dataset and model its `where`
    matches, with a verdict: "within" or "outside" its tolerance, "not judged" (no tolerance), or "no
    value" (no run of ours measures it). `tolerance` overrides entries of the file's tolerances; the mode
    and value used are columns of the table (`COMPARISON_COLUMNS`)."""
    tolerances = {**expected.tolerances, **(tolerance or {})}
    rows = []
    for entry in expected.entries:
        tol = tolerances[entry.tolerance]
        where = dict(entry.where)
        base = {
            "study": study,
            "quantity": entry.quantity,
            "family": where.get("family"),
            "kind": where.get("kind"),
            "expected_value": entry.value,
            "source_line": entry.line,
            "metric": entry.metric,
            "tolerance_mode": tol[0] if tol else None,
            "tolerance": tol[1] if tol else math.nan,
            "note": entry.note,
        }
        match = tidy["metric"] == entry.metric
        for column, value in entry.where:
            match &= tidy[column] == value
        found = tidy[match]
        if found.empty:
            rows.append({**base, "n_seeds": 0, "verdict": "no value"})
            continue
        for (dataset, model), group in found.groupby(["dataset", "model"], sort=True):
            values = group["value"].to_numpy(dtype=np.float64)
            ours = float(values.mean())
            difference = ours - entry.value
            spread = _seed_spread(values, entry.value)
            rows.append(
                {
                    **base,
                    "dataset": dataset,
                    "model": model,
                    "n_seeds": len(group),
                    "ours_mean": ours,
                    "ours_min": float(group["value"].min()),
                    "ours_max": float(group["value"].max()),
                    **spread,
                    "difference": difference,
                    "relative_difference": difference / entry.value if entry.value else math.nan,
                    "verdict": _verdict(ours, entry.value, tol),
                }
            )
    return pd.DataFrame(rows, columns=list(COMPARISON_COLUMNS))


def compare_with_expected(
    tidy: pd.DataFrame,
    studies: Mapping[str, Mapping[str, Any]],
    expected_files: Mapping[str, str | Path],
    output_tsv: str | Path | None = None,
) -> pd.DataFrame:
    """The comparison of every study that has expected numbers: `studies` maps a study to its `datasets`
    and `models` (the runs it compares), `expected_files` a study to its expected-numbers file."""
    tables = []
    for study in sorted(expected_files):
        spec = studies[study]
        own = tidy[tidy["dataset"].isin(spec["datasets"]) & tidy["model"].isin(spec["models"])]
        tables.append(compare_expected(own, read_expected(expected_files[study]), study))
    empty = pd.DataFrame(columns=list(COMPARISON_COLUMNS))
    table = pd.concat(tables, ignore_index=True) if tables else empty
    if output_tsv is not None:
        write_table(table, output_tsv)
    return table
