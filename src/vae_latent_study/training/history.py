"""The training history CSV: its columns, its writer and its reader. Imports neither Keras nor TensorFlow, so
that readers of a finished run's history load none of them."""

from __future__ import annotations

import csv
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from vae_latent_study.io import atomic_path, reading

#: Columns of the history CSV, in order.
HISTORY_COLUMNS = (
    "epoch",
    "loss",
    "reconstruction_loss",
    "kl_loss",
    "val_loss",
    "val_reconstruction_loss",
    "val_kl_loss",
    "learning_rate",
    "seconds",
)

#: The history column of the option `trace_generated_std` (after `seconds`, only when the option is set).
TRACE_COLUMN = "generated_std"


def _write_history(
    rows: Sequence[Mapping[str, Any]], path: Path, columns: Sequence[str] = HISTORY_COLUMNS
) -> None:
    with atomic_path(path) as tmp, open(tmp, "w", newline="") as f:
        writer = csv.writer(f, lineterminator="\n")
        writer.writerow(columns)
        for row in rows:
            # repr keeps every bit of a float; None (no KL term in the AE) becomes an empty cell.
            writer.writerow(["" if row[c] is None else repr(row[c]) for c in columns])


def read_history(path: str | Path) -> list[dict[str, float | None]]:
    """The rows of a history CSV written by `train_model` (empty cells as None)."""
    with reading(path), open(path, newline="") as f:
        return [
            {k: (int(v) if k == "epoch" else float(v)) if v != "" else None for k, v in row.items()}
            for row in csv.DictReader(f)
        ]
