"""Exploration of one trained model's latent space: its figures, decoded paths, and the numbers behind them.

`explore_latents` is the workflow's per dataset x model x training seed job: it reads the model, its latent
store and the dataset, writes the figures of the source notebook's latent-space sections (projections,
3-D views, an interactive view, reconstructions, decoded paths, traversals, decoded empty regions), and a
JSON of the numbers the report's answers quote. `plot_training_histories` draws every model's training
curves on one dataset. Everything is a function of the inputs and the seed.

The figures show the mean codes `z_mean` (for the AE its code): they are the manifold itself, while the
VAE's sampled `z` scatters each image's code by exp(z_log_sigma) and blurs it. The notebook plotted its 2-D
projections from z_mean too (its 3-D views from one sample z); the KNN df probe reads z, as the notebook.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # figures are files; never open a window (also on a display-less cluster node)
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from scipy import stats  # noqa: E402
from scipy.spatial import ConvexHull, Delaunay, QhullError, cKDTree  # noqa: E402

from vae_latent_study.datasets import Dataset, read_dataset  # noqa: E402
from vae_latent_study.evaluation import trajectories
from vae_latent_study.evaluation.latents import read_latents  # noqa: E402
from vae_latent_study.io import atomic_path  # noqa: E402
from vae_latent_study.kinds.heatmaps import latent_plots  # noqa: E402
from vae_latent_study.plots import save_figure  # noqa: E402
from vae_latent_study.provenance import library_versions  # noqa: E402

logger = logging.getLogger(__name__)

#: The code the figures and paths use (see the module docstring).
FIGURE_CODES = "z_mean"
#: Keys of `explore_latents`'s `outputs`: the files it writes.
OUTPUT_KEYS = (
    "projections",
    "latent_3d",
    "interactive",
    "interactive_json",
    "reconstructions",
    "trajectories",
    "traversals",
    "empty_regions",
    "summary",
)
#: The factors the paths follow; the dataset's other factors (df) are labels, not directions.
PATH_FACTORS = ("var_x", "var_y", "cor")
#: Random points drawn inside the codes' convex hull to measure its empty share.
HULL_SAMPLES = 2000
#: Of those, how many are decoded to see whether the decoder makes heatmaps there.
DECODED_HULL_SAMPLES = 300
#: A hull point is "empty" when it lies farther from every code than this quantile of the codes' own
#: nearest-neighbour distances. For codes spread uniformly through their hull the share is then about
#: 1 - EMPTY_QUANTILE (a random place is as far from its nearest code as a code is from its neighbour).
EMPTY_QUANTILE = 0.95
#: Second entry of the random directions' seed, a stream of its own.
NULL_STREAM = 4_417


# --- numbers ---------------------------------------------------------------------------------------------


def image_moments(images: np.ndarray, axis: np.ndarray) -> np.ndarray:
    """var_x, var_y and cor (n, 3) of heatmaps read as densities on the grid `axis` x `axis`.

    `images[n, i, j]` is the density at (x = axis[i], y = axis[j]), as the datasets store it. The grid
    truncates the density at its edges, so the moments understate large variances, but they grow with the
    true ones, which is what following a path needs: they measure what a decoded image shows.
    """
    images = np.asarray(images, dtype=np.float64)
    if images.ndim == 4 and images.shape[-1] == 1:
        images = images[..., 0]
    axis = np.asarray(axis, dtype=np.float64)
    if images.ndim != 3 or images.shape[1:] != (len(axis), len(axis)):
        raise ValueError(f"images must be (n, {len(axis)}, {len(axis)}); got {images.shape}")
    weights = np.clip(images, 0.0, None)
    total = weights.sum(axis=(1, 2))
    total = np.where(total > 0, total, np.nan)  # a blank image has no moments
    x, y = axis[:, None], axis[None, :]
    mx = (weights * x).sum(axis=(1, 2)) / total
    my = (weights * y).sum(axis=(1, 2)) / total
    dx, dy = x[None] - mx[:, None, None], y[None] - my[:, None, None]
    var_x = (weights * dx**2).sum(axis=(1, 2)) / total
    var_y = (weights * dy**2).sum(axis=(1, 2)) / total
    cov = (weights * dx * dy).sum(axis=(1, 2)) / total
    with np.errstate(invalid="ignore", divide="ignore"):
        cor = cov / np.sqrt(var_x * var_y)
    return np.column_stack([var_x, var_y, cor])


def _spearman(a: np.ndarray, b: np.ndarray) -> float | None:
    """Spearman's rho, or None where it is undefined (a constant input, NaNs)."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    keep = np.isfinite(a) & np.isfinite(b)
    if keep.sum() < 3 or np.ptp(a[keep]) == 0 or np.ptp(b[keep]) == 0:
        return None
    return float(stats.spearmanr(a[keep], b[keep]).statistic)


def _finite(value: float) -> float | None:
    return float(value) if math.isfinite(value) else None


def axis_correlations(codes: np.ndarray, factors: np.ndarray, names: Sequence[str]) -> dict[str, list]:
    """Pearson correlation of every code axis with every factor: {factor: [r per axis]} (None if constant)."""
    out = {}
    for j, name in enumerate(names):
        column = []
        for a in range(codes.shape[1]):
            if np.ptp(codes[:, a]) == 0 or np.ptp(factors[:, j]) == 0:
                column.append(None)
            else:
                column.append(_finite(np.corrcoef(codes[:, a], factors[:, j])[0, 1]))
        out[name] = column
    return out


def hull_samples(codes: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    """`n` points drawn uniformly inside the convex hull of the codes (up to three axes; else on segments).

    Rejection sampling from the bounding box against a Delaunay triangulation of the hull's vertices. A
    wider code, or a flat one with no full-dimensional hull, gets points on segments between random pairs
    of codes instead (inside the hull, though not uniform).
    """
    codes = np.asarray(codes, dtype=np.float64)
    dim = codes.shape[1]
    lo, hi = codes.min(axis=0), codes.max(axis=0)
    if dim == 1:
        return rng.uniform(lo, hi, size=(n, 1))
    try:
        if dim > 3:
            raise QhullError("too many axes for a hull")
        inside = Delaunay(codes[ConvexHull(codes).vertices])
    except QhullError:
        pairs = rng.integers(len(codes), size=(n, 2))
        t = rng.uniform(size=(n, 1))
        return (1 - t) * codes[pairs[:, 0]] + t * codes[pairs[:, 1]]
    found: list[np.ndarray] = []
    count = 0
    for _ in range(1000):  # the hull fills a fair share of its box; this never comes close
        batch = rng.uniform(lo, hi, size=(4 * n, dim))
        batch = batch[inside.find_simplex(batch) >= 0]
        found.append(batch)
        count += len(batch)
        if count >= n:
            break
    return np.concatenate(found)[:n]


def empty_space(codes: np.ndarray, samples: np.ndarray) -> dict[str, float]:
    """Share of the hull samples farther from every code than `EMPTY_QUANTILE` of the codes' nearest-
    neighbour distances (scale-free: compares the AE's wide codes and the VAE's compact ones alike)."""
    tree = cKDTree(codes)
    neighbour, _ = tree.query(codes, k=2)
    radius = float(np.quantile(neighbour[:, 1], EMPTY_QUANTILE))
    distance, _ = tree.query(samples)
    return {
        "share": float(np.mean(distance > radius)),
        "radius": radius,
        "quantile": EMPTY_QUANTILE,
        "uniform_share": round(1 - EMPTY_QUANTILE, 6),
        "n_samples": int(len(samples)),
    }


def nearest_image_distance(images: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """Frobenius distance from each image to its nearest image in `reference` (both (n, h, w[, 1]))."""
    a = np.asarray(images, dtype=np.float64).reshape(len(images), -1)
    b = np.asarray(reference, dtype=np.float64).reshape(len(reference), -1)
    squared = (a**2).sum(axis=1)[:, None] + (b**2).sum(axis=1)[None, :] - 2.0 * a @ b.T
    return np.sqrt(np.clip(squared.min(axis=1), 0.0, None))


def _distance_summary(values: np.ndarray) -> dict[str, float]:
    return {
        "mean": float(np.mean(values)),
        "median": float(np.median(values)),
        "p95": float(np.percentile(values, 95)),
    }


# --- paths -----------------------------------------------------------------------------------------------


def _try_path(name: str, finder: Callable[[], trajectories.LatentPath]) -> trajectories.LatentPath | str:
    """The path, or why it could not be found (small data can leave a finder too few codes)."""
    try:
        return finder()
    except ValueError as error:
        logger.info("no %s path: %s", name, error)
        return str(error)


def find_paths(
    codes: np.ndarray, factors: np.ndarray, names: Sequence[str], n: int = 6, seed: int = 0
) -> dict[str, trajectories.LatentPath | str]:
    """Every path the figures decode, by name; a string instead of a path says why it was not found.

    Straight paths and one-factor paths for var_x, var_y and cor (fitted on those factors only: df is a
    label that follows var_x + var_y, not a direction of the grid), the notebook's rotation in the plane
    of the two most spread axes, its isovariance strip, a traversal of every axis (n + 1 points), and the
    emptiest places among the codes (`seed` seeds their candidates beyond three axes).
    """
    followed = [names.index(f) for f in PATH_FACTORS if f in names]
    grid = factors[:, followed]
    grid_names = [names[j] for j in followed]
    paths: dict[str, trajectories.LatentPath | str] = {}
    for k, name in enumerate(grid_names):
        paths[f"straight_{name}"] = _try_path(
            name, lambda k=k: trajectories.straight_path(codes, grid, k, n=n)
        )
    for k, name in enumerate(grid_names):
        hold = [j for j in range(len(grid_names)) if j != k]
        paths[f"factor_{name}"] = _try_path(
            name, lambda k=k, hold=hold: trajectories.factor_path(codes, grid, k, n=n, hold=hold)
        )
    spread = np.argsort(-codes.std(axis=0), kind="stable")[:2]
    plane = (int(min(spread)), int(max(spread)))
    paths["rotation"] = _try_path("rotation", lambda: trajectories.rotation_path(codes, plane=plane, n=n))
    if set(PATH_FACTORS) <= set(names):
        paths["isovariance"] = _try_path("isovariance", lambda: _isovariance_strip(codes, factors, names))
    for a in range(codes.shape[1]):
        paths[f"axis_z{a}"] = trajectories.axis_traversal(codes, a, n=n + 1)
    paths["empty"] = _try_path(
        "empty", lambda: trajectories.empty_region_points(codes, n=n, random_state=seed)
    )
    return paths


def _isovariance_strip(
    codes: np.ndarray, factors: np.ndarray, names: Sequence[str]
) -> trajectories.LatentPath:
    columns = [names.index(f) for f in PATH_FACTORS]
    tolerance = 0.3  # the notebook's |var_x - var_y| < 0.3: equal variances or one grid step apart
    rows = int(np.sum(np.abs(factors[:, columns[0]] - factors[:, columns[1]]) < tolerance))
    bins = min(8, rows // 2)  # as many bins as the strip's codes allow, two codes a bin at least
    if bins < 3:
        raise ValueError(f"only {rows} codes with |var_x - var_y| < {tolerance}; need 6")
    return trajectories.isovariance_strip(
        codes, factors, n=bins, tolerance=tolerance, var_columns=tuple(columns[:2]), cor_column=columns[2]
    )


def _labels(name: str, path: trajectories.LatentPath) -> list[str]:
    if name.startswith(("straight_", "factor_")):
        factor = name.split("_", 1)[1]
        return [f"{factor} {v:.2g}" for v in path.values]
    if name == "rotation":
        return [f"{v:.0f}°" for v in path.values]
    if name == "isovariance":
        return [f"cor {v:.2f}" for v in path.values]
    if name.startswith("axis_"):
        return [f"{name[5:]}={v:.2g}" for v in path.values]
    return [f"d={v:.2g}" for v in path.values]


_TITLES = {
    "straight": "Straight path along the fitted direction of {}",
    "factor": "Codes where only {} changes (others at their medians)",
}


def _title(name: str) -> str:
    kind, _, factor = name.partition("_")
    if kind in _TITLES:
        return _TITLES[kind].format(factor)
    return {
        "rotation": "Rotation in the plane of the two most spread axes",
        "isovariance": "Isovariance strip (var_x ~ var_y), ordered by cor",
        "empty": "Emptiest places among the codes",
    }[name]


def _plot_axes(path_codes: np.ndarray, codes: np.ndarray) -> tuple[int, int]:
    """The two latent axes along which the path moves most relative to the codes' spread (ties: the more
    spread axis), in increasing order."""
    if codes.shape[1] == 2:
        return (0, 1)
    motion = np.ptp(path_codes, axis=0) / (codes.std(axis=0) + 1e-12)
    order = np.lexsort((-codes.std(axis=0), -np.round(motion, 9)))
    a, b = sorted(int(i) for i in order[:2])
    return (a, b)


def _colour(name: str, factors: np.ndarray, names: Sequence[str]) -> tuple[np.ndarray, str]:
    factor = name.partition("_")[2] if name.startswith(("straight_", "factor_")) else "cor"
    if factor not in names:
        factor = names[0]
    return factors[:, names.index(factor)], factor


def plot_path_panels(
    panels: Sequence[tuple[str, trajectories.LatentPath | str, np.ndarray | None]],
    codes: np.ndarray,
    factors: np.ndarray,
    names: Sequence[str],
    suptitle: str,
    path: str | Path | None = None,
    ncols: int = 3,
) -> plt.Figure:
    """Several decoded paths in one figure, one `latent_plots.plot_trajectory` panel each, `ncols` a row.

    `panels` holds (name, path or the reason there is none, decoded images). A missing path gets a panel
    that says why, so the figure always has the same layout.
    """
    codes = _pad(codes, 2)
    nrows = -(-len(panels) // ncols)
    fig = plt.figure(figsize=(7.2 * ncols, 7.4 * nrows))
    subfigures = np.atleast_1d(fig.subfigures(nrows, ncols)).ravel()
    for sub, (name, found, images) in zip(subfigures, panels, strict=False):
        if isinstance(found, str) or images is None:
            ax = sub.add_subplot()
            ax.axis("off")
            ax.set_title(_title(name))
            ax.text(0.5, 0.5, f"no path:\n{found}", ha="center", va="center", wrap=True)
            continue
        colour, colour_name = _colour(name, factors, names)
        path_codes = _pad(found.codes, 2)
        latent_plots.plot_trajectory(
            codes,
            colour,
            _plot_axes(path_codes, codes),
            path_codes,
            images,
            _title(name),
            colour_name=colour_name,
            labels=_labels(name, found),
            fig=sub,
        )
    for sub in subfigures[len(panels) :]:
        sub.add_subplot().axis("off")
    fig.suptitle(suptitle, fontsize=16)
    if path is not None:
        save_figure(fig, path)
    return fig


def _decode_all(
    model: Any, paths: Mapping[str, np.ndarray], label: int | None = None
) -> dict[str, np.ndarray]:
    """Decode every path's points in one call (one predict, not one per path), a conditional model's with
    `label` for every point."""
    from vae_latent_study.models import inference

    names = list(paths)
    if not names:
        return {}
    stacked = np.concatenate([paths[n] for n in names])
    images = inference.decode(model, stacked, label=label)[..., 0]
    bounds = np.cumsum([0] + [len(paths[n]) for n in names])
    return {n: images[bounds[i] : bounds[i + 1]] for i, n in enumerate(names)}


def _path_numbers(path: trajectories.LatentPath, images: np.ndarray, axis: np.ndarray) -> dict[str, Any]:
    """How the decoded images' measured factors move along the path (Spearman's rho with the position)."""
    measured = image_moments(images, axis)
    position = np.arange(len(path.codes))
    return {
        "points": int(len(path.codes)),
        "values": [float(v) for v in path.values],
        "decoded_factor_spearman": {
            name: _spearman(position, measured[:, j]) for j, name in enumerate(PATH_FACTORS)
        },
    }


#: Random directions each factor's fitted direction is judged against (`direction_null`).
NULL_DIRECTIONS = 200
#: A factor's direction is meaningful when at most this share of random directions is as selective.
NULL_LEVEL = 0.05


def _path_changes(measured: np.ndarray, scale: np.ndarray) -> np.ndarray:
    """Change of each measured factor over a path (points, factors) or paths (m, points, factors): the
    least-squares slope along the path times its length, in units of the factor's spread in the data."""
    measured = np.nan_to_num(np.asarray(measured, dtype=np.float64))  # a blank image has no moments
    t = np.linspace(-0.5, 0.5, measured.shape[-2])
    slope = np.tensordot(t, measured - measured.mean(axis=-2, keepdims=True), axes=([0], [-2])) / (t @ t)
    return np.abs(slope) / scale


def _selectivity(changes: np.ndarray, k: int) -> np.ndarray:
    """|change of factor k| / the norm of all changes: 1 when only factor k moves, 0 when it stays."""
    norm = np.linalg.norm(changes, axis=-1)
    return np.divide(changes[..., k], norm, out=np.zeros_like(norm), where=norm > 1e-12)


def direction_null(
    path: trajectories.LatentPath,
    factor: str,
    decode: Callable[[np.ndarray], np.ndarray],
    axis: np.ndarray,
    scale: np.ndarray,
    rng: np.random.Generator,
    n_random: int = NULL_DIRECTIONS,
) -> dict[str, Any]:
    """Judge a factor's straight path against random directions of the same length through the same point.

    Along a path, the decoded images' measured factors (`image_moments`) change; `selectivity` is the
    intended factor's share of that change (|change| / norm of all changes, each factor in units of its
    spread `scale` in the data). Any smooth decoder changes something monotonically along a short segment,
    so the path is compared with `n_random` segments through the path's midpoint, with the same length and
    spacing, in uniformly random directions: `p_value` = (1 + random paths at least as selective) /
    (1 + n_random). `meaningful` when p_value <= NULL_LEVEL. An untrained decoder, or codes whose fitted
    direction is no better than chance, fail at rate NULL_LEVEL per factor.
    """
    k = PATH_FACTORS.index(factor)
    codes = np.asarray(path.codes, dtype=np.float64)
    centre = codes.mean(axis=0)
    offsets = np.linalg.norm(codes - centre, axis=1) * np.sign((codes - centre) @ (codes[-1] - codes[0]))
    directions = rng.standard_normal((n_random, codes.shape[1]))
    directions /= np.linalg.norm(directions, axis=1, keepdims=True)
    random_codes = centre + offsets[None, :, None] * directions[:, None, :]
    images = decode(np.concatenate([codes, random_codes.reshape(-1, codes.shape[1])]))
    measured = image_moments(images, axis)
    observed = _selectivity(_path_changes(measured[: len(codes)], scale), k)
    random = _selectivity(_path_changes(measured[len(codes) :].reshape(n_random, len(codes), -1), scale), k)
    p_value = (1 + int(np.sum(random >= observed))) / (1 + n_random)
    return {
        "selectivity": float(observed),
        "random_selectivity": {q: float(np.quantile(random, float(q))) for q in ("0.5", "0.95")},
        "n_random": int(n_random),
        "p_value": float(p_value),
        "meaningful": bool(p_value <= NULL_LEVEL),
    }


def _isovariance_layout(
    strip: trajectories.LatentPath, codes: np.ndarray, factors: np.ndarray, names: Sequence[str]
) -> float | None:
    """Spearman's rho between a code's distance from the isovariance strip and its |var_x - var_y|.

    The notebook saw images with similar variances along a central strip and unequal ones towards the
    sides; a positive rho says the same.
    """
    dense = np.column_stack(
        [
            np.interp(
                np.linspace(0, len(strip.codes) - 1, 200), np.arange(len(strip.codes)), strip.codes[:, j]
            )
            for j in range(codes.shape[1])
        ]
    )
    distance, _ = cKDTree(dense).query(codes)
    gap = np.abs(factors[:, names.index("var_x")] - factors[:, names.index("var_y")])
    return _spearman(distance, gap)


def _check_inputs(latents: Any, dataset: Dataset, latents_path: Any, dataset_path: Any) -> None:
    checksum = dataset.manifest["checksum"]["sha256"]
    if latents.attrs.get("dataset_checksum") != checksum:
        raise ValueError(f"{latents_path} was not encoded from {dataset_path} (checksum {checksum})")
    if not np.array_equal(latents.train.rows, dataset.train):
        raise ValueError(f"{latents_path}: the train rows differ from the split of {dataset_path}")


def explore_latents(
    model_path: str | Path,
    latents_path: str | Path,
    dataset_path: str | Path,
    outputs: Mapping[str, str | Path],
    seed: int,
    *,
    dataset_name: str | None = None,
    model_name: str | None = None,
) -> None:
    """Write the latent-space figures and numbers of one dataset x model x training seed.

    `outputs` maps every key of `OUTPUT_KEYS` to a path: `projections`, `latent_3d`, `reconstructions`,
    `trajectories` (straight, one-factor, rotation and isovariance paths, decoded), `traversals` (every
    axis, decoded), `empty_regions` (the emptiest places among the codes, decoded: the AE's holes, and the
    VAE's as a control) are PNGs; `interactive` a standalone HTML view and `interactive_json` the same
    plotly figure as JSON (the report embeds it); `summary` a JSON of the numbers. `seed` picks the
    reconstructions shown and the random points of the hull.
    """
    missing = set(OUTPUT_KEYS) - set(outputs)
    if missing:
        raise ValueError(f"outputs lacks {sorted(missing)}")
    # Imported here: Keras brings TensorFlow, seconds to import, which only the decoding needs.
    from vae_latent_study.models import inference

    model = inference.load_model(model_path, compile=False)
    latents = read_latents(latents_path)
    dataset = read_dataset(dataset_path)
    _check_inputs(latents, dataset, latents_path, dataset_path)
    names = list(dataset.factor_names)
    codes = np.asarray(getattr(latents.train, FIGURE_CODES), dtype=np.float64)
    factors = dataset.factors[latents.train.rows]
    dataset_name = dataset_name or dataset.manifest.get("dataset", "")
    model_name = model_name or latents.kind
    label = f"{model_name} on {dataset_name}, seed {latents.seed}"
    reconstruction_seed, hull_seed = np.random.default_rng(int(seed)).integers(2**31, size=2)
    # A conditional model decodes the places of its latent space under one label: its first value (for
    # the Student-t's df, the heavy tails). The latent store's reconstructions keep each row's own label.
    decode_label = None if model.condition is None else 0

    # 1. Where the codes are. The figures need two (projections) or three (3-D views) axes: a narrower
    # code is drawn with zero axes added; the paths and the decoder use the code as it is.
    paths = find_paths(codes, factors, names, seed=int(seed))
    strip = paths.get("isovariance")
    strip = strip if isinstance(strip, trajectories.LatentPath) else None
    latent_plots.plot_latent_projections(_pad(codes, 2), factors, names, path=outputs["projections"])
    colour = factors[:, names.index("cor")] if "cor" in names else factors[:, 0]
    fig = latent_plots.plot_latent_3d(
        _pad(codes, 3), colour, "cor", highlight=None if strip is None else _pad(strip.codes, 3)
    )
    fig.suptitle(f"Latent space of the {label}" + ("; red: the isovariance strip" if strip else ""))
    save_figure(fig, outputs["latent_3d"])
    interactive = latent_plots.interactive_latent_3d(_pad(codes, 3), factors, names)
    interactive.update_layout(title={"text": f"Latent space of the {label} (first three axes)"})
    with atomic_path(outputs["interactive"]) as tmp:
        # A fixed div id: plotly's default is a random UUID, which would change the file on every run.
        tmp.write_text(interactive.to_html(include_plotlyjs=True, div_id="latent-3d"), encoding="utf-8")
    with atomic_path(outputs["interactive_json"]) as tmp:
        tmp.write_text(interactive.to_json(), encoding="utf-8")
    plt.close("all")

    # 2. What the model makes of the test images (the notebook decoded sampled codes).
    test_images = dataset.images[latents.test.rows]
    fig = latent_plots.plot_reconstructions(
        test_images, latents.test.reconstruction_sample, n=6, seed=int(reconstruction_seed)
    )
    fig.suptitle(f"Test images and their reconstructions from sampled codes ({label})")
    save_figure(fig, outputs["reconstructions"])
    plt.close("all")

    # 3. What it makes of places in the latent space: paths, traversals, empty regions, random hull points.
    samples = hull_samples(codes, HULL_SAMPLES, np.random.default_rng(int(hull_seed)))
    found = {name: p.codes for name, p in paths.items() if isinstance(p, trajectories.LatentPath)}
    decoded = _decode_all(model, {**found, "hull": samples[:DECODED_HULL_SAMPLES]}, decode_label)
    order = [f"straight_{f}" for f in PATH_FACTORS] + [f"factor_{f}" for f in PATH_FACTORS]
    order += ["rotation", "isovariance"]
    plot_path_panels(
        [(name, paths[name], decoded.get(name)) for name in order if name in paths],
        codes,
        factors,
        names,
        f"Decoded paths through the latent space ({label})",
        path=outputs["trajectories"],
    )
    plt.close("all")
    axes = [name for name in paths if name.startswith("axis_")]
    latent_plots.plot_image_strip(
        np.concatenate([decoded[name] for name in axes]),
        labels=[text for name in axes for text in _labels(name, paths[name])],
        title=f"Traversal of each latent axis, the others at their medians ({label})",
        ncols=len(paths[axes[0]].codes),
        path=outputs["traversals"],
    )
    plt.close("all")
    plot_path_panels(
        [("empty", paths["empty"], decoded.get("empty"))],
        codes,
        factors,
        names,
        f"Decoded points in the emptiest places among the codes ({label})",
        path=outputs["empty_regions"],
        ncols=1,
    )
    plt.close("all")

    # 4. The numbers the report quotes, each factor's direction judged against random ones.
    path_numbers = {
        name: _path_numbers(p, decoded[name], dataset.axis)
        if isinstance(p, trajectories.LatentPath)
        else {"skipped": p}
        for name, p in paths.items()
    }
    scale = np.nanstd(image_moments(dataset.images[latents.train.rows], dataset.axis), axis=0)
    null_rng = np.random.default_rng([int(seed), NULL_STREAM])
    for factor in PATH_FACTORS:
        path = paths.get(f"straight_{factor}")
        if isinstance(path, trajectories.LatentPath):
            path_numbers[f"straight_{factor}"]["null"] = direction_null(
                path,
                factor,
                lambda c: inference.decode(model, c, label=decode_label)[..., 0],
                dataset.axis,
                scale,
                null_rng,
            )
    summary = {
        "dataset": dataset_name,
        "model": model_name,
        "kind": latents.kind,
        "seed": latents.seed,
        "latent_dim": latents.latent_dim,
        "codes": f"train {FIGURE_CODES}",
        "decoded_with": None
        if model.condition is None
        else {"factor": model.condition["factor"], "value": model.condition["values"][0]},
        **describe_codes(codes, factors, names),
        "empty_space": empty_space(codes, samples),
        "decoded_hull": {
            "n": int(len(decoded["hull"])),
            "nearest_image_distance": _distance_summary(
                nearest_image_distance(decoded["hull"], dataset.images)
            ),
            "test_reconstruction_error": _distance_summary(
                _paired_distance(latents.test.reconstruction_mean, test_images)
            ),
            "notes": "Frobenius distance from each decoded random point of the hull to its nearest dataset "
            "image; beside it, for scale, the test images' errors decoded from z_mean",
        },
        "paths": path_numbers,
        "isovariance_layout_spearman": None
        if strip is None
        else _isovariance_layout(strip, codes, factors, names),
        "inputs": {"model": str(model_path), "latents": str(latents_path), "dataset": str(dataset_path)},
        "settings": {
            "seed": int(seed),
            "hull_samples": HULL_SAMPLES,
            "decoded_hull_samples": DECODED_HULL_SAMPLES,
            "null_directions": NULL_DIRECTIONS,
            "null_level": NULL_LEVEL,
        },
        "versions": library_versions(extra=("keras", "plotly")),
    }
    with atomic_path(outputs["summary"]) as tmp:
        tmp.write_text(json.dumps(summary, indent=2) + "\n")
    logger.info("explored the %s: empty share %.3f", label, summary["empty_space"]["share"])


def _pad(codes: np.ndarray, dim: int) -> np.ndarray:
    """The codes with zero axes appended up to `dim` axes (for drawing only)."""
    codes = np.asarray(codes)
    if codes.shape[1] >= dim:
        return codes
    return np.column_stack([codes, np.zeros((len(codes), dim - codes.shape[1]))])


def _paired_distance(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    return np.sqrt(np.sum((a.reshape(len(a), -1) - b.reshape(len(b), -1)) ** 2, axis=1))


def describe_codes(codes: np.ndarray, factors: np.ndarray, names: Sequence[str]) -> dict[str, Any]:
    """Correlation of every axis with every factor, the spread of the axes and their principal components."""
    centred = codes - codes.mean(axis=0)
    power = np.linalg.svd(centred, compute_uv=False) ** 2
    return {
        "axis_correlation": axis_correlations(codes, factors, names),
        "code_std": [float(v) for v in codes.std(axis=0)],
        "code_range": [[float(lo), float(hi)] for lo, hi in zip(codes.min(0), codes.max(0), strict=True)],
        "pca_explained_variance_ratio": [float(v) for v in power / power.sum()] if power.sum() > 0 else [],
    }
