"""Heatmap datasets: parameter grids, closed-form bivariate densities and max-normalised images."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor

import numpy as np
from scipy.special import gammaln
from sklearn.model_selection import train_test_split

logger = logging.getLogger(__name__)

#: Version of the image-generating algorithm, written into every dataset's manifest.
#: Bump it whenever a change could alter a single pixel, so that old files are recognisably stale.
GENERATOR_VERSION = "1"

GRID_FACTORS = ("var_x", "var_y", "cor")

# Images per work unit: 64 x 36 x 36 float64 is ~660 kB, so every pass after the first hits the cache.
_CHUNK = 64


def grid_values(spec: Mapping[str, float]) -> np.ndarray:
    """Values of an `{start, stop, step}` grid with `np.arange` semantics (stop excluded), as the study."""
    return np.arange(spec["start"], spec["stop"], spec["step"])


def factor_table(grid: Mapping[str, Mapping[str, float]]) -> tuple[np.ndarray, np.ndarray]:
    """All (var_x, var_y, cor) combinations and their grid indices, in the study's row order.

    The order is the notebook's `np.array(np.meshgrid(vx, vy, cor)).T.reshape(-1, 3)`: correlation varies
    slowest, then var_x, then var_y.
    """
    axes = [grid_values(grid[name]) for name in GRID_FACTORS]
    values = np.array(np.meshgrid(*axes)).T.reshape(-1, 3)
    indices = np.array(np.meshgrid(*[np.arange(len(a)) for a in axes])).T.reshape(-1, 3)
    return values, indices.astype(np.int32)


def assign_df(var_x: np.ndarray, var_y: np.ndarray, rule: Mapping[str, float]) -> np.ndarray:
    """Hidden degrees of freedom: `heavy_df` where (var_x + var_y)^2 - U(0, noise_high) > threshold.

    The notebook drew U(0, 10) from numpy's unseeded global state; here the draws come from a
    generator seeded with `rule["seed"]`, so the labels are reproducible.
    """
    rng = np.random.default_rng(rule["seed"])
    noise = rng.uniform(0.0, rule["noise_high"], size=len(var_x))
    heavy = np.power(np.abs(var_x + var_y), 2) - noise > rule["threshold"]
    return np.where(heavy, rule["heavy_df"], rule["light_df"]).astype(np.float64)


def _quadratic_form(axis: np.ndarray, var_x, var_y, cor) -> np.ndarray:
    """Mahalanobis form Q[n, i, j] of the point (axis[i], axis[j]) under image n's covariance."""
    var_x, var_y, cor = (np.asarray(v, dtype=np.float64).reshape(-1, 1, 1) for v in (var_x, var_y, cor))
    one_minus_r2 = 1.0 - cor**2
    a = 1.0 / (var_x * one_minus_r2)
    b = -2.0 * cor / (np.sqrt(var_x * var_y) * one_minus_r2)
    c = 1.0 / (var_y * one_minus_r2)
    x = axis.reshape(1, -1, 1)
    y = axis.reshape(1, 1, -1)
    q = b * (x * y)
    q += a * x**2
    q += c * y**2
    return q


def _log_kernel(q: np.ndarray, df) -> np.ndarray:
    """Log of the density up to its normalising constant, in place on Q."""
    if df is None:
        q *= -0.5
        return q
    df = np.asarray(df, dtype=np.float64).reshape(-1, 1, 1)
    q /= df
    np.log1p(q, out=q)
    q *= -(df + 2.0) / 2.0
    return q


def log_density(axis: np.ndarray, var_x, var_y, cor, df=None) -> np.ndarray:
    """Closed-form log density, shape (n, len(axis), len(axis)), of a centred bivariate normal
    (`df=None`) or Student-t with scale matrix [[vx, r sqrt(vx vy)], [r sqrt(vx vy), vy]],
    evaluated at (axis[i], axis[j]). Equals `scipy.stats.multivariate_normal/multivariate_t.logpdf`.
    """
    var_x, var_y, cor = (np.asarray(v, dtype=np.float64).reshape(-1, 1, 1) for v in (var_x, var_y, cor))
    log_det = np.log(var_x * var_y * (1.0 - cor**2))
    logp = _log_kernel(_quadratic_form(axis, var_x, var_y, cor), df)
    if df is None:
        return logp - np.log(2.0 * np.pi) - 0.5 * log_det
    df = np.asarray(df, dtype=np.float64).reshape(-1, 1, 1)
    log_norm = gammaln((df + 2.0) / 2.0) - gammaln(df / 2.0) - np.log(df * np.pi) - 0.5 * log_det
    return logp + log_norm


def _fill_heatmaps(out: np.ndarray, start: int, axis, var_x, var_y, cor, df) -> None:
    stop = start + out.shape[0]
    sl = slice(start, stop)
    g = _log_kernel(
        _quadratic_form(axis, var_x[sl], var_y[sl], cor[sl]), None if df is None else df[sl]
    )
    # Dividing by the maximum pixel is subtracting the maximum log value; the normalising constant
    # of the density cancels, so it is never computed here.
    g -= g.max(axis=(1, 2), keepdims=True)
    np.exp(g, out=g)
    out[...] = g


def heatmaps(
    axis: np.ndarray,
    var_x: np.ndarray,
    var_y: np.ndarray,
    cor: np.ndarray,
    df: np.ndarray | None = None,
    threads: int = 1,
) -> np.ndarray:
    """Max-normalised density images, float32 (n, len(axis), len(axis)); image[n, i, j] is the density
    at (x=axis[i], y=axis[j]) divided by the image's largest value, as the study's `simulate_distr`.

    Computed in float64 in cache-sized chunks (spread over `threads` threads) and rounded once to float32.
    """
    n = len(var_x)
    out = np.empty((n, len(axis), len(axis)), dtype=np.float32)
    arrays = [np.asarray(v, dtype=np.float64) for v in (var_x, var_y, cor)]
    df = None if df is None else np.asarray(df, dtype=np.float64)
    starts = range(0, n, _CHUNK)
    jobs = [(out[s : s + _CHUNK], s, axis, *arrays, df) for s in starts]
    if threads <= 1:
        for job in jobs:
            _fill_heatmaps(*job)
    else:
        # NumPy releases the GIL inside its ufuncs, so threads over chunks use every core.
        with ThreadPoolExecutor(max_workers=threads) as pool:
            list(pool.map(lambda job: _fill_heatmaps(*job), jobs))
    return out


def split_indices(n: int, test_size: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Train and test row indices as `train_test_split(..., test_size, random_state=seed)` orders them."""
    train, test = train_test_split(np.arange(n), test_size=test_size, random_state=seed)
    return train.astype(np.int64), test.astype(np.int64)
