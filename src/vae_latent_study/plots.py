"""Figures every kind draws: the atomic figure writer and the training curves of a dataset's models."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # figures are files; never open a window (also on a display-less cluster node)
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from vae_latent_study.io import atomic_path, read_table  # noqa: E402


def save_figure(fig: plt.Figure, path: str | Path, dpi: int = 100) -> None:
    """Write a figure atomically, in the format its extension names."""
    path = Path(path)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format=path.suffix.lstrip("."), dpi=dpi, bbox_inches="tight")


def finish_figure(fig: plt.Figure, path: str | Path | None) -> plt.Figure:
    """`fig`, written atomically at `path` first where one is given (`save_figure`)."""
    if path is not None:
        save_figure(fig, path)
    return fig


def _series(rows: Sequence[Mapping[str, Any]], key: str) -> tuple[np.ndarray, np.ndarray] | None:
    points = [(r["epoch"], r[key]) for r in rows if r.get(key) is not None]
    if not points:
        return None
    epochs, values = zip(*points, strict=True)
    return np.asarray(epochs), np.asarray(values, dtype=np.float64)


def plot_training_curves(
    history_rows_by_model: Mapping[str, Sequence[Mapping[str, Any]]], path: str | Path | None = None
) -> plt.Figure:
    """Loss and val_loss per epoch, one column per model; below, the reconstruction and KL terms.

    Columns do not share a y axis because the VAE's loss (reconstruction + KL) and the AE's are on
    different scales. The KL term sits on its own right-hand axis for the same reason; a model without
    one (the AE, whose loss is its reconstruction) gets no second row panel.
    """
    if not history_rows_by_model:
        raise ValueError("need at least one model's history")
    models = list(history_rows_by_model)
    has_kl = {m: _series(history_rows_by_model[m], "kl_loss") is not None for m in models}
    n_rows = 2 if any(has_kl.values()) else 1
    fig, axes = plt.subplots(n_rows, len(models), figsize=(5 * len(models), 3.6 * n_rows), squeeze=False)
    for col, model in enumerate(models):
        rows = history_rows_by_model[model]
        ax = axes[0, col]
        for key, style in (("loss", "-"), ("val_loss", "--")):
            series = _series(rows, key)
            if series is not None:
                ax.plot(*series, style, marker=".", label=key.replace("_", " "))
        ax.set_title(model)
        ax.set_xlabel("epoch")
        ax.set_ylabel("loss")
        ax.legend()
        if n_rows == 1:
            continue
        ax = axes[1, col]
        if not has_kl[model]:
            ax.axis("off")
            continue
        lines = []
        for key, style in (("reconstruction_loss", "-"), ("val_reconstruction_loss", "--")):
            series = _series(rows, key)
            if series is not None:
                lines += ax.plot(*series, style, color="C2", label=key.replace("_", " "))
        ax.set_xlabel("epoch")
        ax.set_ylabel("reconstruction")
        kl_ax = ax.twinx()
        for key, style in (("kl_loss", "-"), ("val_kl_loss", "--")):
            series = _series(rows, key)
            if series is not None:
                lines += kl_ax.plot(*series, style, color="C3", label=key.replace("_", " "))
        kl_ax.set_ylabel("KL")
        ax.legend(lines, [line.get_label() for line in lines])
        ax.set_title(f"{model}: loss terms")
    fig.tight_layout()
    return finish_figure(fig, path)


def _history_rows(path: str | Path) -> list[dict[str, Any]]:
    table = read_table(path, sep=",")
    return [
        {k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in row.items()}
        for row in table.to_dict("records")
    ]


def plot_training_histories(history_paths: Mapping[str, str | Path], output: str | Path) -> None:
    """Every model's training curves on one dataset and seed (`plot_training_curves`).

    `history_paths` maps a model's name to its `history.csv`, in the order the columns should have.
    """
    fig = plot_training_curves({m: _history_rows(p) for m, p in history_paths.items()})
    save_figure(fig, output)
    plt.close(fig)
