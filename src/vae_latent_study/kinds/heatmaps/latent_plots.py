"""Figures of the latent space: reconstructions, training curves, projections, 3-D views and paths.

Pure functions of arrays; each returns its Figure (matplotlib, or plotly for the interactive view) and, given
a path, writes it atomically.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # figures are files; never open a window (also on a display-less cluster node)
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import plotly.graph_objects as go  # noqa: E402
from matplotlib.figure import SubFigure  # noqa: E402

from vae_latent_study.io import atomic_path  # noqa: E402
from vae_latent_study.plots import finish_figure  # noqa: E402

#: Colour map of the notebook's latent scatter plots.
SCATTER_CMAP = "cool"
#: Colour map of the notebook's image grids.
IMAGE_CMAP = "cubehelix"
#: Factors the latent plots colour by, when the data has them.
CONTINUOUS_FACTORS = ("var_x", "var_y", "cor")
#: One colour per df value in the interactive view (matplotlib's first colours).
DF_COLOURS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728")


def _images(images: np.ndarray) -> np.ndarray:
    """(n, size, size) from (n, size, size) or the decoder's (n, size, size, 1)."""
    images = np.asarray(images)
    if images.ndim == 4 and images.shape[-1] == 1:
        images = images[..., 0]
    if images.ndim != 3:
        raise ValueError(f"images must be (n, size, size[, 1]); got shape {images.shape}")
    return images


def _bare(ax: plt.Axes) -> None:
    ax.set_xticks([])
    ax.set_yticks([])


def plot_reconstructions(
    originals: np.ndarray,
    reconstructions: np.ndarray,
    n: int = 6,
    seed: int = 0,
    path: str | Path | None = None,
) -> plt.Figure:
    """`n` random images (rows) beside their reconstructions, each titled with its Frobenius error.

    Images are titled by their position in the arrays given (e.g. the test split's order).
    """
    originals, reconstructions = _images(originals), _images(reconstructions)
    if originals.shape != reconstructions.shape:
        raise ValueError(f"shapes differ: {originals.shape} and {reconstructions.shape}")
    rows = np.random.default_rng(seed).choice(len(originals), size=min(n, len(originals)), replace=False)
    fig, axes = plt.subplots(len(rows), 2, figsize=(4.4, 2.2 * len(rows)), squeeze=False)
    for (left, right), row in zip(axes, rows, strict=True):
        # One colour scale per pair, so a reconstruction's contrast is judged against its original.
        vmin, vmax = originals[row].min(), originals[row].max()
        left.imshow(originals[row], cmap=IMAGE_CMAP, vmin=vmin, vmax=vmax)
        right.imshow(reconstructions[row], cmap=IMAGE_CMAP, vmin=vmin, vmax=vmax)
        error = float(np.linalg.norm(reconstructions[row] - originals[row]))
        left.set_title(f"original #{row}", fontsize=9)
        right.set_title(f"reconstruction, error {error:.3f}", fontsize=9)
        _bare(left)
        _bare(right)
    fig.suptitle("Test images and their reconstructions")
    fig.tight_layout()
    return finish_figure(fig, path)


def _colour_columns(factor_names: Sequence[str]) -> list[int]:
    chosen = [i for i, name in enumerate(factor_names) if name in CONTINUOUS_FACTORS]
    return chosen or list(range(len(factor_names)))


def latent_pairs(latent_dim: int) -> list[tuple[int, int]]:
    """Axis pairs the projections show: the seed's (0,1), (1,2), (0,2) among the first three axes."""
    if latent_dim < 2:
        raise ValueError(f"projections need at least 2 latent axes; got {latent_dim}")
    return [(0, 1)] if latent_dim == 2 else [(0, 1), (1, 2), (0, 2)]


def plot_latent_projections(
    codes: np.ndarray,
    factors: np.ndarray,
    factor_names: Sequence[str],
    path: str | Path | None = None,
) -> plt.Figure:
    """The seed's `twod_plot`s: one row per pair of latent axes, one panel per factor colouring it.

    Rows are the pairs (0,1), (1,2), (0,2) of the first three latent axes (only (0,1) for a 2-D code;
    a wider code shows its first three axes). Columns colour by var_x, var_y and cor; df, a two-valued
    label, has its own views (`interactive_latent_3d`). Without those names, every factor gets a column.
    """
    codes, factors = np.asarray(codes), np.asarray(factors)
    pairs = latent_pairs(codes.shape[1])
    columns = _colour_columns(factor_names)
    fig, axes = plt.subplots(
        len(pairs), len(columns), figsize=(4.6 * len(columns), 4 * len(pairs)), squeeze=False
    )
    for r, (a, b) in enumerate(pairs):
        for c, j in enumerate(columns):
            ax = axes[r, c]
            points = ax.scatter(
                codes[:, a], codes[:, b], c=factors[:, j], cmap=SCATTER_CMAP, s=4, alpha=0.6, rasterized=True
            )
            fig.colorbar(points, ax=ax, label=factor_names[j])
            ax.set_xlabel(f"z{a}")
            ax.set_ylabel(f"z{b}")
            ax.set_title(f"z{a}-z{b} by {factor_names[j]}")
    fig.tight_layout()
    return finish_figure(fig, path)


def plot_latent_3d(
    codes: np.ndarray,
    colour: np.ndarray,
    colour_name: str,
    path: str | Path | None = None,
    views: Sequence[tuple[float, float]] = ((30, 45), (30, 135)),
    highlight: np.ndarray | None = None,
) -> plt.Figure:
    """The first three latent axes in 3-D, one panel per (elevation, azimuth) view.

    Points in `highlight` (m, latent_dim), e.g. a path, are drawn red on top and joined in order.
    """
    codes = np.asarray(codes)
    if codes.shape[1] < 3:
        raise ValueError(f"a 3-D view needs at least 3 latent axes; got {codes.shape[1]}")
    fig = plt.figure(figsize=(5.5 * len(views), 5.5))
    points = None
    for i, (elev, azim) in enumerate(views):
        ax = fig.add_subplot(1, len(views), i + 1, projection="3d")
        points = ax.scatter(
            codes[:, 0],
            codes[:, 1],
            codes[:, 2],
            c=colour,
            cmap=SCATTER_CMAP,
            s=3,
            alpha=0.4,
            rasterized=True,
        )
        if highlight is not None:
            h = np.asarray(highlight)
            ax.plot(h[:, 0], h[:, 1], h[:, 2], "-o", color="red", markersize=5, zorder=10)
        ax.view_init(elev=elev, azim=azim)
        ax.set_xlabel("z0")
        ax.set_ylabel("z1")
        ax.set_zlabel("z2")
        ax.set_title(f"elevation {elev:g}, azimuth {azim:g}", fontsize=9)
    fig.colorbar(points, ax=fig.axes, label=colour_name, shrink=0.6)
    fig.suptitle(f"Latent space coloured by {colour_name}")
    return finish_figure(fig, path)


def _colourings(factors: np.ndarray, factor_names: Sequence[str]) -> dict[str, np.ndarray]:
    """The colourings of the notebook's plotly views: cor, |var_x - var_y|, and df where it exists."""
    names = list(factor_names)
    found: dict[str, np.ndarray] = {}
    if "cor" in names:
        found["cor"] = factors[:, names.index("cor")]
    if "var_x" in names and "var_y" in names:
        found["|var_x - var_y|"] = np.abs(factors[:, names.index("var_x")] - factors[:, names.index("var_y")])
    if not found:
        found = {name: factors[:, j] for j, name in enumerate(names) if name != "df"}
    return found


def interactive_latent_3d(
    codes: np.ndarray,
    factors: np.ndarray,
    factor_names: Sequence[str],
    path: str | Path | None = None,
) -> go.Figure:
    """A rotatable 3-D scatter of the first three latent axes with buttons choosing the colouring.

    Buttons colour by cor, by |var_x - var_y| and, for Student-t data, by df (one trace per df value,
    as the notebook's `symbol="df"`). The HTML embeds plotly.js, so it opens offline with no CDN.
    """
    # float32 and one shared trace: the view's size is about that of its points once (a trace per
    # colouring would repeat every coordinate), so that a report of many runs stays small.
    codes, factors = np.asarray(codes, dtype=np.float32), np.asarray(factors, dtype=np.float32)
    if codes.shape[1] < 3:
        raise ValueError(f"a 3-D view needs at least 3 latent axes; got {codes.shape[1]}")
    names = list(factor_names)
    hover = "<br>".join(f"{name}=%{{customdata[{j}]:.3g}}" for j, name in enumerate(names))
    colourings = _colourings(factors, names)
    first = next(iter(colourings))
    traces: list[go.Scatter3d] = [
        go.Scatter3d(
            x=codes[:, 0],
            y=codes[:, 1],
            z=codes[:, 2],
            mode="markers",
            customdata=factors,
            hovertemplate=hover + "<extra></extra>",
            name="codes",
            marker={
                "size": 2,
                "color": colourings[first],
                "colorscale": "Plasma",
                "colorbar": {"title": {"text": first}},
            },
            showlegend=False,
        )
    ]
    df_colours: list[str] = []
    if "df" in names:
        df = factors[:, names.index("df")]
        for k, level in enumerate(np.unique(df)):
            rows = df == level
            df_colours.append(DF_COLOURS[k % len(DF_COLOURS)])
            traces.append(
                go.Scatter3d(
                    x=codes[rows, 0],
                    y=codes[rows, 1],
                    z=codes[rows, 2],
                    mode="markers",
                    customdata=factors[rows],
                    hovertemplate=hover + "<extra></extra>",
                    name=f"df={level:g}",
                    marker={"size": 2, "color": df_colours[-1]},
                    showlegend=True,
                    visible=False,
                )
            )
    hidden = [False] * len(df_colours)
    buttons = [
        {
            "label": f"colour by {label}",
            "method": "restyle",
            # One value per trace: the shared trace takes the colouring, the df traces keep theirs.
            "args": [
                {
                    "visible": [True, *hidden],
                    "marker.color": [np.round(values.astype(np.float64), 4).tolist(), *df_colours],
                    "marker.colorbar.title.text": [label, *([None] * len(df_colours))],
                }
            ],
        }
        for label, values in colourings.items()
    ]
    if df_colours:
        buttons.append(
            {
                "label": "colour by df",
                "method": "restyle",
                "args": [{"visible": [False, *[True] * len(hidden)]}],
            }
        )
    fig = go.Figure(traces)
    fig.update_layout(
        title={"text": "Latent space (first three axes)"},
        scene={"xaxis_title": "z0", "yaxis_title": "z1", "zaxis_title": "z2"},
        updatemenus=[{"type": "buttons", "direction": "right", "x": 0.0, "y": 1.08, "buttons": buttons}],
        margin={"l": 0, "r": 0, "t": 60, "b": 0},
    )
    if path is not None:
        # A fixed div id: plotly's default is a random UUID, which would change the file on every run.
        html = fig.to_html(include_plotlyjs=True, full_html=True, div_id="latent-3d")
        with atomic_path(path) as tmp:
            tmp.write_text(html, encoding="utf-8")
    return fig


def _strip_axes(fig: plt.Figure, spec: Any, count: int, ncols: int) -> list[plt.Axes]:
    nrows = -(-count // ncols)
    grid = spec.subgridspec(nrows, ncols, wspace=0.05, hspace=0.3)
    axes = [fig.add_subplot(grid[i // ncols, i % ncols]) for i in range(nrows * ncols)]
    for ax in axes[count:]:
        ax.axis("off")
    return axes[:count]


def _draw_images(axes: Sequence[plt.Axes], images: np.ndarray, labels: Sequence[str] | None) -> None:
    for i, (ax, image) in enumerate(zip(axes, images, strict=True)):
        ax.imshow(image, cmap=IMAGE_CMAP)
        _bare(ax)
        ax.set_title(labels[i] if labels is not None else str(i + 1), fontsize=8)


def plot_image_strip(
    images: np.ndarray,
    labels: Sequence[str] | None = None,
    title: str = "",
    path: str | Path | None = None,
    ncols: int | None = None,
) -> plt.Figure:
    """Images side by side (wrapped after `ncols`, default up to 10 per row), each titled by its label."""
    images = _images(images)
    if labels is not None and len(labels) != len(images):
        raise ValueError(f"{len(labels)} labels for {len(images)} images")
    ncols = ncols or min(len(images), 10)
    nrows = -(-len(images) // ncols)
    fig = plt.figure(figsize=(1.6 * ncols, 1.8 * nrows + (0.5 if title else 0.1)))
    _draw_images(_strip_axes(fig, fig.add_gridspec(1, 1)[0], len(images), ncols), images, labels)
    if title:
        fig.suptitle(title)
    return finish_figure(fig, path)


def plot_trajectory(
    codes: np.ndarray,
    colour: np.ndarray,
    axes: tuple[int, int],
    path_codes: np.ndarray,
    images: np.ndarray,
    title: str,
    path: str | Path | None = None,
    colour_name: str = "",
    labels: Sequence[str] | None = None,
    fig: plt.Figure | SubFigure | None = None,
) -> plt.Figure | SubFigure:
    """Codes on two latent axes with a path's points numbered, and the path's decoded images below.

    The notebook hung the images on the scatter as annotation boxes; here they form a numbered strip under
    it, because boxes placed along a path chosen by code overlap each other and the cloud, and the strip
    reads in path order. `labels` (default the point numbers) title the images. Given `fig` (e.g. a
    subfigure of a larger figure), it draws there and writes nothing.
    """
    codes, path_codes, images = np.asarray(codes), np.asarray(path_codes), _images(images)
    if len(path_codes) != len(images):
        raise ValueError(f"{len(path_codes)} path points but {len(images)} images")
    a, b = axes
    ncols = min(len(images), 8)
    strip_rows = -(-len(images) // ncols)
    own = fig is None
    if fig is None:
        fig = plt.figure(figsize=(max(7.0, 1.4 * ncols), 5.5 + 1.7 * strip_rows))
    outer = fig.add_gridspec(2, 1, height_ratios=[5.5, 1.7 * strip_rows], hspace=0.25)
    ax = fig.add_subplot(outer[0])
    points = ax.scatter(codes[:, a], codes[:, b], c=colour, cmap="viridis", s=5, alpha=0.4, rasterized=True)
    fig.colorbar(points, ax=ax, label=colour_name)
    ax.plot(path_codes[:, a], path_codes[:, b], "-o", color="red", markersize=5, linewidth=1)
    for i, point in enumerate(path_codes):
        ax.annotate(
            str(i + 1),
            (point[a], point[b]),
            xytext=(4, 4),
            textcoords="offset points",
            color="red",
            fontweight="bold",
            # A pale box keeps the number legible on top of the red path and the dense cloud.
            bbox={"boxstyle": "round,pad=0.1", "facecolor": "white", "edgecolor": "none", "alpha": 0.7},
        )
    ax.set_xlabel(f"z{a}")
    ax.set_ylabel(f"z{b}")
    ax.set_title(title)
    numbered = [f"{i + 1}: {text}" for i, text in enumerate(labels)] if labels is not None else None
    _draw_images(_strip_axes(fig, outer[1], len(images), ncols), images, numbered)
    return finish_figure(fig, path) if own else fig
