"""Paths through a latent space, chosen from a trained model's codes and factors; decoding is elsewhere.

Every finder takes the codes of one split (n, latent_dim), and where it needs them the factors of the same
rows (n, n_factors, columns in the dataset's order: var_x, var_y, cor[, df]), and returns a `LatentPath`:
the path's points in latent space and one value per point saying where along the path it is.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import numpy as np
from scipy.interpolate import UnivariateSpline
from scipy.spatial import ConvexHull, Delaunay, QhullError, cKDTree


class LatentPath(NamedTuple):
    """Points of a path in latent space (n, latent_dim) and one value per point (n,)."""

    codes: np.ndarray
    values: np.ndarray


def _check_codes(codes: np.ndarray, min_rows: int = 2) -> np.ndarray:
    codes = np.asarray(codes, dtype=np.float64)
    if codes.ndim != 2 or len(codes) < min_rows:
        raise ValueError(f"codes must be (n >= {min_rows}, latent_dim); got shape {codes.shape}")
    return codes


def _check_factors(codes: np.ndarray, factors: np.ndarray) -> np.ndarray:
    factors = np.asarray(factors, dtype=np.float64)
    if factors.ndim != 2 or len(factors) != len(codes):
        raise ValueError(f"factors must be (n={len(codes)}, n_factors); got shape {factors.shape}")
    return factors


def factor_direction(codes: np.ndarray, factors: np.ndarray, factor_index: int) -> np.ndarray:
    """Mean code displacement per unit of one factor, the others held fixed (latent_dim,).

    It is that factor's coefficient in the multi-output least-squares fit codes ~ 1 + factors. On a full
    factorial grid the factors are uncorrelated, so the fit is well posed and moving along the direction
    changes only the chosen factor in the fit's view; regressing the factor on the codes instead would give
    the direction of its steepest change, along which the other factors change too.
    """
    codes = _check_codes(codes)
    factors = _check_factors(codes, factors)
    design = np.column_stack([np.ones(len(factors)), factors - factors.mean(axis=0)])
    coef, *_ = np.linalg.lstsq(design, codes - codes.mean(axis=0), rcond=None)
    return coef[1 + factor_index]


def straight_path(
    codes: np.ndarray,
    factors: np.ndarray,
    factor_index: int,
    n: int = 5,
    quantiles: tuple[float, float] = (0.05, 0.95),
) -> LatentPath:
    """A straight segment through the code cloud along which factor `factor_index` changes.

    The segment passes through the centroid of the codes along `factor_direction` (the notebook's
    `create_trajectory` between two hand-picked codes, with the direction now fitted). It spans the
    `quantiles` of the codes' projections on that direction, so it stays where codes are, clipped to where
    the fit puts the same quantiles of the factor, so it stays within the factor's range. Values are the
    factor's value the linear fit implies at each point (increasing along the path).
    """
    codes = _check_codes(codes)
    factors = _check_factors(codes, factors)
    direction = factor_direction(codes, factors, factor_index)
    scale = float(np.linalg.norm(direction))
    if scale == 0.0:
        raise ValueError(f"factor {factor_index} does not move the codes; no direction to follow")
    unit = direction / scale
    centroid = codes.mean(axis=0)
    lo, hi = np.quantile((codes - centroid) @ unit, quantiles)
    # The fit moves `scale` code units per unit of the factor, and its centroid sits at the mean factors.
    # Other factors and curvature also spread the codes along the direction, so the codes' quantiles can
    # imply factor values beyond the data's; clip to the factor's own quantiles too.
    factor = factors[:, factor_index]
    f_lo, f_hi = (np.quantile(factor, quantiles) - factor.mean()) * scale
    lo, hi = max(lo, f_lo), min(hi, f_hi)
    if lo >= hi:
        raise ValueError(f"the codes and factor {factor_index} share no stretch along its direction")
    steps = np.linspace(lo, hi, n)
    values = factor.mean() + steps / scale
    return LatentPath(centroid + steps[:, None] * unit, values)


def rotation_path(
    codes: np.ndarray,
    plane: tuple[int, int] = (0, 2),
    n: int = 5,
    radius: float | None = None,
    start_angle: float = 0.0,
    step_deg: float = 70.0,
) -> LatentPath:
    """Points on a circle in the latent plane `plane` around the codes' centroid (angles in degrees).

    The notebook's rotation trajectory: a start point turned by `step_deg` at each step. The other
    coordinates stay at the centroid. `radius` defaults to the median distance of the codes from the
    centroid within the plane, so the circle runs through the cloud rather than around or inside it.
    Values are the angles, measured from the plane's first axis towards its second.
    """
    codes = _check_codes(codes)
    a, b = plane
    if a == b:
        raise ValueError(f"plane needs two different axes; got {plane}")
    centroid = codes.mean(axis=0)
    if radius is None:
        radius = float(np.median(np.hypot(codes[:, a] - centroid[a], codes[:, b] - centroid[b])))
    angles = start_angle + step_deg * np.arange(n)
    points = np.tile(centroid, (n, 1))
    points[:, a] += radius * np.cos(np.deg2rad(angles))
    points[:, b] += radius * np.sin(np.deg2rad(angles))
    return LatentPath(points, angles)


def isovariance_strip(
    codes: np.ndarray,
    factors: np.ndarray,
    n: int = 8,
    tolerance: float = 0.3,
    smoothing: float | None = None,
    var_columns: tuple[int, int] = (0, 1),
    cor_column: int = 2,
) -> LatentPath:
    """The notebook's isovariance strip: the curve of codes of images with var_x ~ var_y, ordered by cor.

    Among rows with |var_x - var_y| < `tolerance`, the codes are projected on the direction of their
    covariance with cor (the mean code shift per unit of cor; a regression on all codes would be ill posed
    here because the rows vary in two factors only), cut into `n` bins of equal counts along it, and the
    mean code of each bin is smoothed coordinate by coordinate with a `UnivariateSpline` over the bin
    position. The spline weights are the inverse standard errors of the bin means, so the default
    smoothing (s = n) keeps the curve within about a standard error of each mean; pass `smoothing` for
    another s. Values are the mean cor of each bin.
    """
    codes = _check_codes(codes)
    factors = _check_factors(codes, factors)
    keep = np.abs(factors[:, var_columns[0]] - factors[:, var_columns[1]]) < tolerance
    if keep.sum() < 2 * n:
        raise ValueError(
            f"only {keep.sum()} rows with |var_x - var_y| < {tolerance}; need {2 * n} for {n} bins"
        )
    strip, cor = codes[keep], factors[keep, cor_column]
    centred = strip - strip.mean(axis=0)
    direction = centred.T @ (cor - cor.mean())
    norm = float(np.linalg.norm(direction))
    if norm == 0.0:
        raise ValueError("cor does not move the codes of the isovariance rows")
    position = centred @ (direction / norm)
    bins = np.array_split(np.argsort(position, kind="stable"), n)
    where = np.array([position[b].mean() for b in bins])
    means = np.array([strip[b].mean(axis=0) for b in bins])
    mean_cor = np.array([cor[b].mean() for b in bins])
    # Standard errors of the bin means, floored so a bin of identical codes does not get infinite weight.
    spread = np.array([strip[b].std(axis=0, ddof=1) / np.sqrt(len(b)) for b in bins])
    floor = 1e-3 * (float(strip.std()) + 1e-12)
    errors = np.maximum(spread, floor)
    if np.any(np.diff(where) <= 0):
        raise ValueError("bins along the strip coincide; use fewer bins")
    degree = min(3, n - 1)
    smoothed = np.column_stack(
        [
            UnivariateSpline(where, means[:, j], w=1.0 / errors[:, j], k=degree, s=smoothing)(where)
            for j in range(codes.shape[1])
        ]
    )
    return LatentPath(smoothed, mean_cor)


def factor_path(
    codes: np.ndarray,
    factors: np.ndarray,
    factor_index: int,
    n: int = 6,
    fixed_tolerance: float | Sequence[float] | None = None,
    hold: Sequence[int] | None = None,
) -> LatentPath:
    """Codes of images where only factor `factor_index` changes, averaged per value and resampled.

    The held factors (`hold`, default all others) stay at the grid value nearest their median: exactly
    (the dataset is a full factorial grid) or, with `fixed_tolerance` (one or one per held factor), within
    that distance. The mean code per value of the chosen factor gives a polyline, sampled by linear
    interpolation at `n` evenly spaced factor values from its smallest to its largest, which are the
    values returned. For Student-t data, whose df follows var_x + var_y, pass `hold` without df.
    """
    codes = _check_codes(codes)
    factors = _check_factors(codes, factors)
    if hold is None:
        hold = [j for j in range(factors.shape[1]) if j != factor_index]
    hold = list(hold)
    if factor_index in hold:
        raise ValueError(f"factor {factor_index} cannot be both followed and held")
    tolerances = (
        np.zeros(len(hold)) if fixed_tolerance is None else np.broadcast_to(fixed_tolerance, len(hold))
    )
    keep = np.ones(len(codes), dtype=bool)
    for j, tol in zip(hold, tolerances, strict=True):
        grid = np.unique(factors[:, j])
        target = grid[np.argmin(np.abs(grid - np.median(factors[:, j])))]
        keep &= np.abs(factors[:, j] - target) <= tol
    levels, group = np.unique(factors[keep, factor_index], return_inverse=True)
    if len(levels) < 2:
        raise ValueError(
            f"with the held factors fixed, factor {factor_index} takes {len(levels)} value(s); "
            "widen fixed_tolerance"
        )
    sums = np.zeros((len(levels), codes.shape[1]))
    np.add.at(sums, group, codes[keep])
    means = sums / np.bincount(group)[:, None]
    values = np.linspace(levels[0], levels[-1], n)
    points = np.column_stack([np.interp(values, levels, means[:, j]) for j in range(codes.shape[1])])
    return LatentPath(points, values)


def axis_traversal(
    codes: np.ndarray, axis: int, n: int = 7, quantiles: tuple[float, float] = (0.02, 0.98)
) -> LatentPath:
    """Latent axis `axis` from its low to its high quantile, the other axes at their medians.

    The classic latent traversal; the quantiles keep it off the outermost codes. Values are the axis's values.
    """
    codes = _check_codes(codes)
    values = np.linspace(*np.quantile(codes[:, axis], quantiles), n)
    points = np.tile(np.median(codes, axis=0), (n, 1))
    points[:, axis] = values
    return LatentPath(points, values)


#: Up to this many latent axes, candidates are a grid clipped to the convex hull; Qhull grows fast beyond.
_HULL_MAX_DIM = 3


def _candidates(codes: np.ndarray, grid: int, rng: np.random.Generator) -> np.ndarray:
    dim = codes.shape[1]
    if dim > _HULL_MAX_DIM:
        # Random points on segments between random pairs of codes: inside the hull by construction.
        pairs = rng.integers(len(codes), size=(grid**3, 2))
        t = rng.uniform(size=(grid**3, 1))
        return (1 - t) * codes[pairs[:, 0]] + t * codes[pairs[:, 1]]
    lo, hi = codes.min(axis=0), codes.max(axis=0)
    axes = [np.linspace(lo[j], hi[j], grid) for j in range(dim)]
    candidates = np.stack(np.meshgrid(*axes, indexing="ij"), axis=-1).reshape(-1, dim)
    try:
        inside = Delaunay(codes[ConvexHull(codes).vertices]).find_simplex(candidates) >= 0
    except QhullError:
        return candidates  # codes in a flat subspace have no full-dimensional hull; keep the box
    # The box's corners are empty merely because the cloud is not a box; keep what the hull holds.
    return candidates[inside] if inside.any() else candidates


def empty_region_points(codes: np.ndarray, n: int = 5, grid: int = 20, random_state: int = 0) -> LatentPath:
    """Points in the gaps of the code cloud, farthest from any code (the AE's holes the notebook decoded).

    Candidates are a `grid`-per-axis grid over the codes' bounding box, kept inside their convex hull (up to
    three latent axes), or else `grid`**3 random points on segments between random pairs of codes (seeded
    by `random_state`). They are picked greedily by distance to the nearest code (a KD-tree), each pick
    ruling out the candidates within its own distance, so the points lie in different gaps. Values are
    the distances to the nearest code, decreasing.
    """
    codes = _check_codes(codes)
    rng = np.random.default_rng(random_state)
    candidates = _candidates(codes, grid, rng)
    distance, _ = cKDTree(codes).query(candidates)
    picked: list[int] = []
    alive = np.ones(len(candidates), dtype=bool)
    for _ in range(n):
        if not alive.any():
            break
        best = int(np.argmax(np.where(alive, distance, -np.inf)))
        picked.append(best)
        alive &= np.linalg.norm(candidates - candidates[best], axis=1) > distance[best]
    return LatentPath(candidates[picked], distance[picked])
