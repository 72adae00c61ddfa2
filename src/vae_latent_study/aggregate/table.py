"""The tidy table of every per-run metric: one row per (run, metric), read from the evaluation JSONs."""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from vae_latent_study.io import read_json, write_table

logger = logging.getLogger(__name__)

#: Columns of the tidy metric table.
TIDY_COLUMNS = ("dataset", "family", "model", "kind", "seed", "metric", "value")

# Top-level keys that describe a run rather than measure it (the runner's identity and provenance blocks, and
# the run's size beside its numbers), and keys that are never metrics at any level.
_IDENTITY_KEYS = frozenset({"identity", "provenance", "evaluation_seed", "latent_dim", "n_train", "n_test"})
_NON_METRIC_KEYS = frozenset({"settings", "notes", "source"})

#: The tidy table's identity columns, from the keys of a run JSON's identity block (`evaluation.runner`).
_IDENTITY_COLUMNS = {
    "dataset": "dataset",
    "family": "family",
    "model": "model",
    "kind": "model_kind",
    "seed": "seed",
}


def _numeric_leaves(node: Mapping[str, Any], prefix: str = "") -> Iterator[tuple[str, float]]:
    for key, value in node.items():
        if key in _NON_METRIC_KEYS or (not prefix and key in _IDENTITY_KEYS):
            continue
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            yield from _numeric_leaves(value, f"{name}.")
        elif isinstance(value, int | float) and not isinstance(value, bool):
            yield name, float(value)


def collect_metrics(paths: Sequence[str | Path], output_tsv: str | Path | None = None) -> pd.DataFrame:
    """Every numeric leaf of the evaluation JSONs (the one layout of `evaluation.runner`) as one tidy table
    (`TIDY_COLUMNS`, `kind` the identity's `model_kind`), metric names the dotted key paths; identity,
    settings and provenance are not metrics, and lists (cross-validation results, learning curves) and
    nulls stay in the JSONs. Written as TSV when `output_tsv` is given."""
    records = []
    for path in paths:
        payload = read_json(path)
        identity = payload["identity"]
        ident = {column: identity.get(key) for column, key in _IDENTITY_COLUMNS.items()}
        records.extend({**ident, "metric": name, "value": value} for name, value in _numeric_leaves(payload))
    tidy = pd.DataFrame.from_records(records, columns=list(TIDY_COLUMNS))
    tidy["seed"] = tidy["seed"].astype("int64")
    tidy["value"] = tidy["value"].astype("float64")
    duplicated = tidy.duplicated(["dataset", "model", "seed", "metric"], keep=False)
    if duplicated.any():
        raise ValueError(f"metrics reported twice: {tidy[duplicated].head().to_dict('records')}")
    tidy = tidy.sort_values(["dataset", "model", "seed", "metric"], ignore_index=True)
    if output_tsv is not None:
        write_table(tidy, output_tsv)
    return tidy


#: Numbers of the exploration summaries that join the metrics: (metric name, key path).
EXPLORATION_METRICS = (("exploration.empty_share", ("empty_space", "share")),)


def add_exploration_metrics(tidy: pd.DataFrame, explorations: Sequence[str | Path]) -> pd.DataFrame:
    """`tidy` with the EXPLORATION_METRICS of each exploration summary, in the same order and columns
    (the family is the one the run's other metrics name)."""
    families = dict(zip(tidy["dataset"], tidy["family"], strict=True))
    records = []
    for path in explorations:
        payload = read_json(path)
        for name, keys in EXPLORATION_METRICS:
            node: Any = payload
            for key in keys:
                node = node[key]
            records.append(
                {
                    **{key: payload[key] for key in ("dataset", "model", "kind", "seed")},
                    "family": families.get(payload["dataset"]),
                    "metric": name,
                    "value": float(node),
                }
            )
    added = pd.DataFrame.from_records(records, columns=list(TIDY_COLUMNS))
    tidy = pd.concat([tidy, added.astype(tidy.dtypes.to_dict())], ignore_index=True)
    return tidy.sort_values(["dataset", "model", "seed", "metric"], ignore_index=True)
