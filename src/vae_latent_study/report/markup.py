"""The page's cells: numbers as text, and escaped HTML tables. Shared by the page and the kinds' chapters."""

from __future__ import annotations

import html
import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd


def fmt_number(value: Any, digits: int = 3) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "–"
    if isinstance(value, bool | str):
        return str(value)
    if isinstance(value, int | np.integer):
        return str(int(value))
    value = float(value)
    if abs(value) >= 1e5:
        return f"{value:.{digits}g}"
    if value.is_integer() and abs(value) >= 2:
        return str(int(value))  # counts and neighbour numbers, stored as floats by the tables
    return f"{value:.{digits}f}" if abs(value) < 10 else f"{value:.{max(digits - 2, 1)}f}"


def fmt_share(value: float) -> str:
    return f"{100 * value:.0f}%"


def mean_of(values: Iterable[Any]) -> float | None:
    kept = [float(v) for v in values if v is not None and math.isfinite(float(v))]
    return float(np.mean(kept)) if kept else None


def join_words(items: Sequence[str]) -> str:
    items = [i for i in items if i]
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + " and " + items[-1]


def html_table(
    frame: pd.DataFrame, classes: Sequence[str] | None = None, cell_classes: Mapping[str, str] | None = None
) -> str:
    """An escaped HTML table; numbers right-aligned and rounded, missing values as a dash."""
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in frame.columns)
    rows = []
    for i, (_, row) in enumerate(frame.iterrows()):
        cells = []
        for column, value in row.items():
            numeric = isinstance(value, int | float | np.integer | np.floating) and not isinstance(
                value, bool
            )
            css = ["num"] if numeric else []
            if cell_classes and column in cell_classes:
                css.append(cell_classes[column])
            text = fmt_number(value) if numeric else ("–" if value is None else str(value))
            attr = f' class="{" ".join(css)}"' if css else ""
            cells.append(f"<td{attr}>{html.escape(text)}</td>")
        row_class = f' class="{html.escape(classes[i])}"' if classes else ""
        rows.append(f"<tr{row_class}>{''.join(cells)}</tr>")
    body = "".join(rows)
    return f'<div class="scroll"><table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table></div>'
