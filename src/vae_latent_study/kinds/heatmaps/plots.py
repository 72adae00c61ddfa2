"""The heatmap study's own figures: sample heatmaps of a dataset, reconstruction errors of its models."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from mpl_toolkits.axes_grid1 import ImageGrid

from vae_latent_study.datasets import Dataset
from vae_latent_study.plots import save_figure


def plot_sample_heatmaps(
    dataset: Dataset, rows: int = 3, cols: int = 4, seed: int = 15, path: str | Path | None = None
) -> plt.Figure:
    """A grid of random training heatmaps (the study's first figure), each titled with its factors.

    As in the notebook, heavy-tailed Student-t images (the smaller df) get a second colour map.
    """
    rng = np.random.default_rng(seed)
    picks = rng.choice(dataset.train, size=min(rows * cols, len(dataset.train)), replace=False)
    names = dataset.factor_names
    heavy = None
    if "df" in names:
        heavy = dataset.factors[:, names.index("df")] == dataset.factor_grids["df"].min()
    fig = plt.figure(figsize=(3 * cols, 3.2 * rows))
    grid = ImageGrid(fig, 111, nrows_ncols=(rows, cols), axes_pad=(0.05, 0.35))
    for ax, row in zip(grid, picks, strict=False):
        cmap = "viridis" if heavy is not None and heavy[row] else "inferno"
        ax.imshow(dataset.images[row], cmap=cmap)
        parts = [f"{n}={v:.3g}" for n, v in zip(names, dataset.factors[row], strict=True)]
        label = ", ".join(parts[:2]) + "\n" + ", ".join(parts[2:])
        ax.set_title(label, fontsize=8)
        ax.set_xticks([])
        ax.set_yticks([])
    for ax in list(grid)[len(picks) :]:
        ax.axis("off")
    size = dataset.images.shape[1]
    title = f"Random sample of {dataset.manifest.get('dataset', '')} heatmaps, {size}x{size}"
    if heavy is not None:
        title += "\n(viridis: heavy-tailed, inferno: near-normal)"
    fig.suptitle(title)
    if path is not None:
        save_figure(fig, path)
    return fig


def plot_reconstruction_errors(
    per_image: Mapping[str, pd.DataFrame], column: str = "frobenius_sample", path: str | Path | None = None
) -> plt.Figure:
    """Overlaid histograms of the per-image test reconstruction error, one per model (the notebook's
    `sns.histplot(vae_rec_error)` and `sns.histplot(ae_rec_error)` on shared bins), each mean a dashed line.

    `per_image` maps a model's label to its `evaluation.evaluate_reconstruction` per-image table.
    """
    if not per_image:
        raise ValueError("need at least one model's per-image errors")
    errors = {label: table[column].to_numpy(dtype=np.float64) for label, table in per_image.items()}
    bins = np.histogram_bin_edges(np.concatenate(list(errors.values())), bins="auto")
    fig, ax = plt.subplots(figsize=(7, 4.5))
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for i, (label, values) in enumerate(errors.items()):
        colour = colours[i % len(colours)]
        mean = float(np.mean(values))
        ax.hist(
            values, bins=bins, alpha=0.5, color=colour, edgecolor=colour, label=f"{label} (n={len(values)})"
        )
        ax.axvline(mean, color=colour, linestyle="--", linewidth=1.5, label=f"{label} mean {mean:.4f}")
    ax.set_xlabel(f"{column.replace('_', ' ')} (Frobenius norm of reconstruction - image)")
    ax.set_ylabel("test images")
    ax.set_title("Test reconstruction error per image")
    ax.legend()
    if path is not None:
        save_figure(fig, path)
    return fig
