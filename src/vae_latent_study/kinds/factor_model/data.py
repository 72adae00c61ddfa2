"""Seed 004's one-factor nonlinear model: simulated data with its truth, the exact posterior, and metrics.

The model is Z ~ N(0, 1), X_j = g_j(Z) + e_j, e_j ~ N(0, s_j^2), j = 1..p. The seed's CSV is not
available, so `simulate` draws seeded functions g_j from a documented family and noise sds s_j from a
range, and keeps the truth (Z, s, the parameters of g, g on a grid) beside X. Everything here is NumPy and
SciPy: evaluations take arrays (a trained model's encodings, its decoder on the grid) and return dicts.
The evaluation of a trained model, which imports Keras, is `vae_latent_study.kinds.factor_model.evaluate`.
"""

from __future__ import annotations

import copy
import functools
import logging
import math
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.polynomial.hermite_e import hermegauss
from scipy.special import logsumexp

if TYPE_CHECKING:
    from vae_latent_study import datasets

logger = logging.getLogger(__name__)

# The family of g_j: g_j(z) = a_j * h_f(c_j * z) + b_j, with h_f one of these shapes. The order fixes the
# integer codes stored in `family`; append new shapes, never reorder.
FAMILIES: tuple[str, ...] = ("linear", "tanh", "softplus", "quadratic", "sine", "bump")
MONOTONE: tuple[str, ...] = ("linear", "tanh", "softplus")
NONMONOTONE: tuple[str, ...] = ("quadratic", "sine", "bump")

_SHAPES: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "linear": lambda u: u,
    "tanh": np.tanh,
    "softplus": lambda u: np.logaddexp(0.0, u),
    "quadratic": np.square,
    "sine": np.sin,
    "bump": lambda u: np.exp(-np.square(u)),
}
# Range of c_j per shape, drawn uniformly: slopes and wiggles a small dense decoder can still follow
# (sine at c = 2 has about two periods over z in [-3, 3]). Linear and quadratic need no c.
_C_RANGE: dict[str, tuple[float, float]] = {
    "linear": (1.0, 1.0),
    "tanh": (0.5, 2.0),
    "softplus": (0.5, 2.0),
    "quadratic": (1.0, 1.0),
    "sine": (1.0, 2.0),
    "bump": (0.5, 1.5),
}

DEFAULTS: dict[str, Any] = {
    "p": 100,  # features (the seed's 100)
    "n": 200,  # rows (the seed's file data_1_200_100_1.csv)
    "test_share": 0.1,  # the seed's last 10% as the test set
    "seed": 0,
    "families": list(FAMILIES),  # shapes to draw from
    "nonmonotone_share": 0.5,  # share of features drawn from the non-monotone shapes among `families`
    "noise_range": [0.1, 1.0],  # s_j log-uniform over this range
    "amplitude_range": [0.5, 1.5],  # sd of g_j(Z) under Z ~ N(0, 1), uniform over this range
    "offset_sd": 0.5,  # mean of g_j(Z) ~ N(0, offset_sd^2)
    "grid_limit": 4.0,  # truth stored on z in [-grid_limit, grid_limit]
    "grid_size": 161,
}

# What `simulate` returns beside X and the split that a dataset file must keep as its ground truth: the
# latent values, the noise sds, the exact parameters of g (the oracle evaluates g off the grid) and g on the
# grid (what a learned decoder is compared with). `family` codes index FAMILIES.
GROUND_TRUTH: tuple[str, ...] = ("Z", "s", "family", "a", "b", "c", "z_grid", "g_grid")

# Quadrature over z for the exact posterior and marginal likelihood (see `posterior_moments`).
Z_LIMIT = 8.0
N_NODES = 8001

GFunction = Callable[[np.ndarray], np.ndarray]
NoiseSd = np.ndarray | float | Callable[[np.ndarray], np.ndarray]


# --------------------------------------------------------------------------------------------- settings


def _check_range(config: Mapping[str, Any], key: str, messages: list[str]) -> None:
    value = config[key]
    try:
        low, high = (float(v) for v in value)
    except (TypeError, ValueError):
        messages.append(f"config key '{key}': must be two numbers [low, high] (got {value!r})")
        return
    if not (math.isfinite(low) and math.isfinite(high)) or low <= 0:
        messages.append(f"config key '{key}': both ends must be positive and finite (got {value!r})")
    elif low > high:
        messages.append(f"config key '{key}': low > high, the range is reversed (got {value!r})")


def split_sizes(n: int, test_share: float) -> tuple[int, int]:
    """Train and test row counts: the seed's `data[:int(n*.9)]`, `data[int(n*.9):]` for test_share 0.1.

    A tolerance of 1e-9 keeps float error from losing a row (int(100 * 0.7) would be 70, but some shares
    land just below an integer).
    """
    n_train = int(n * (1.0 - test_share) + 1e-9)
    return n_train, n - n_train


def validate_config(config: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The settings with defaults filled in; raises ValueError naming every offending config key."""
    config = dict(config or {})
    unknown = sorted(set(config) - set(DEFAULTS))
    full = {**copy.deepcopy(DEFAULTS), **config}
    messages = [f"config key '{key}': unknown setting" for key in unknown]

    def integer(key: str, minimum: int) -> None:
        value = full[key]
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
            messages.append(f"config key '{key}': must be an integer >= {minimum} (got {value!r})")

    integer("p", 1)
    integer("n", 2)
    integer("seed", 0)
    integer("grid_size", 2)
    share = full["test_share"]
    if not isinstance(share, (int, float)) or isinstance(share, bool) or not 0.0 < share < 1.0:
        messages.append(f"config key 'test_share': must be a number in (0, 1) (got {share!r})")
    elif not any("'n'" in m for m in messages):
        n_train, n_test = split_sizes(int(full["n"]), float(share))
        if n_train < 2 or n_test < 1:
            messages.append(
                f"config key 'n': {full['n']} rows give {n_train} train and {n_test} test rows with "
                f"test_share {share}; need at least 2 and 1"
            )
    _check_range(full, "noise_range", messages)
    _check_range(full, "amplitude_range", messages)
    for key in ("offset_sd", "grid_limit"):
        value = full[key]
        if not isinstance(value, (int, float)) or isinstance(value, bool) or not value >= 0:
            messages.append(f"config key '{key}': must be a number >= 0 (got {value!r})")
    if full["grid_limit"] == 0:
        messages.append("config key 'grid_limit': must be positive (got 0)")

    families = full["families"]
    if isinstance(families, str) or not isinstance(families, Sequence) or not families:
        messages.append(f"config key 'families': must be a non-empty list of {list(FAMILIES)}")
        families = []
    else:
        bad = [f for f in families if f not in FAMILIES]
        if bad:
            messages.append(f"config key 'families': unknown {bad}; choose from {list(FAMILIES)}")
    share_nm = full["nonmonotone_share"]
    if not isinstance(share_nm, (int, float)) or isinstance(share_nm, bool) or not 0.0 <= share_nm <= 1.0:
        messages.append(f"config key 'nonmonotone_share': must be a number in [0, 1] (got {share_nm!r})")
    elif families:
        if share_nm > 0 and not any(f in NONMONOTONE for f in families):
            messages.append(
                f"config key 'nonmonotone_share': {share_nm} > 0 but 'families' has no non-monotone shape"
            )
        if share_nm < 1 and not any(f in MONOTONE for f in families):
            messages.append(
                f"config key 'nonmonotone_share': {share_nm} < 1 but 'families' has no monotone shape"
            )
    if messages:
        raise ValueError("invalid factor-model settings:\n  " + "\n  ".join(messages))
    full["families"] = list(full["families"])
    full["noise_range"] = [float(v) for v in full["noise_range"]]
    full["amplitude_range"] = [float(v) for v in full["amplitude_range"]]
    return full


# ------------------------------------------------------------------------------------------- functions


@functools.cache
def _hermite_rule(n_nodes: int) -> tuple[np.ndarray, np.ndarray]:
    """Probabilists' Gauss-Hermite nodes, weights summing to 1 (cached: each one solves an eigenproblem)."""
    nodes, weights = hermegauss(n_nodes)
    return nodes, weights / weights.sum()


def _shape_moments(name: str, c: float, n_nodes: int = 101) -> tuple[float, float]:
    """Mean and sd of h(c Z) under Z ~ N(0, 1), by Gauss-Hermite quadrature (101 nodes: far more accurate
    than an amplitude needs)."""
    nodes, weights = _hermite_rule(n_nodes)
    values = _SHAPES[name](c * nodes)
    mean = float(weights @ values)
    return mean, float(np.sqrt(weights @ (values - mean) ** 2))


def draw_g_params(config: Mapping[str, Any], rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Per-feature parameters of g_j(z) = a_j h(c_j z) + b_j, as plain arrays (storable in HDF5).

    round(nonmonotone_share * p) features, placed at random, take a non-monotone shape; each feature's
    shape is uniform among the allowed ones of its kind. a_j and b_j are set so that g_j(Z), Z ~ N(0, 1),
    has an sd drawn from `amplitude_range` (with a random sign) and a mean drawn from N(0, offset_sd^2):
    signal and noise stay comparable whatever the shape.
    """
    p = int(config["p"])
    families = list(config["families"])
    monotone = [f for f in families if f in MONOTONE]
    nonmonotone = [f for f in families if f in NONMONOTONE]
    n_nonmonotone = int(round(float(config["nonmonotone_share"]) * p))
    is_nonmonotone = np.zeros(p, dtype=bool)
    is_nonmonotone[rng.permutation(p)[:n_nonmonotone]] = True
    names = [
        nonmonotone[rng.integers(len(nonmonotone))] if nm else monotone[rng.integers(len(monotone))]
        for nm in is_nonmonotone
    ]
    lo, hi = config["amplitude_range"]
    amplitude = rng.uniform(lo, hi, size=p) * rng.choice([-1.0, 1.0], size=p)
    mean = rng.normal(0.0, float(config["offset_sd"]), size=p)
    c = np.array([rng.uniform(*_C_RANGE[name]) for name in names])
    a = np.empty(p)
    b = np.empty(p)
    for j, name in enumerate(names):
        shape_mean, shape_sd = _shape_moments(name, c[j])
        a[j] = amplitude[j] / shape_sd
        b[j] = mean[j] - a[j] * shape_mean
    family = np.array([FAMILIES.index(name) for name in names], dtype=np.int64)
    return {"family": family, "a": a, "b": b, "c": c}


def evaluate_g(params: Mapping[str, np.ndarray], z: np.ndarray) -> np.ndarray:
    """g_j(z) for every feature at every z: shape (len(z), p). `params` has family, a, b, c (p,)."""
    z = np.asarray(z, dtype=np.float64).reshape(-1)
    family = np.asarray(params["family"])
    a, b, c = (np.asarray(params[k], dtype=np.float64) for k in ("a", "b", "c"))
    out = np.empty((z.size, family.size))
    for code in np.unique(family):
        cols = np.flatnonzero(family == code)
        out[:, cols] = a[cols] * _SHAPES[FAMILIES[int(code)]](np.outer(z, c[cols])) + b[cols]
    return out


def true_g_function(params: Mapping[str, np.ndarray]) -> GFunction:
    """The true mean function as a callable z (m,) -> (m, p), the form `log_marginal` takes."""
    return lambda z: evaluate_g(params, z)


def simulate(config: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Data and truth of the factor model.

    Returns X (n, p) float32; the truth: Z (n,), s (p,), the g parameters family (int codes into
    `family_names`), a, b, c (p,), and z_grid (m,) with g_grid (m, p); train and test row indices (the
    seed's first and last rows); and the validated config. Independent streams of one SeedSequence draw
    the functions, Z and the noise, so the functions of a seed do not change with n.
    """
    config = validate_config(config)
    p, n = int(config["p"]), int(config["n"])
    g_rng, z_rng, noise_rng = (
        np.random.default_rng(s) for s in np.random.SeedSequence(config["seed"]).spawn(3)
    )
    params = draw_g_params(config, g_rng)
    lo, hi = config["noise_range"]
    s = np.exp(g_rng.uniform(np.log(lo), np.log(hi), size=p))
    Z = z_rng.standard_normal(n)
    X = evaluate_g(params, Z) + s * noise_rng.standard_normal((n, p))
    n_train, _ = split_sizes(n, float(config["test_share"]))
    z_grid = np.linspace(-config["grid_limit"], config["grid_limit"], int(config["grid_size"]))
    return {
        "X": X.astype(np.float32),
        "Z": Z,
        "s": s,
        **params,
        "family_names": list(FAMILIES),
        "z_grid": z_grid,
        "g_grid": evaluate_g(params, z_grid),
        "train": np.arange(n_train),
        "test": np.arange(n_train, n),
        "config": config,
    }


# ------------------------------------------------------------------------------------------- quadrature


def _noise_variance(s: NoiseSd, z: np.ndarray, p: int) -> np.ndarray:
    """Noise variances on the nodes: (p,) when s does not depend on z, else (m, p)."""
    if callable(s):
        sd = np.asarray(s(z), dtype=np.float64)
        if sd.shape != (z.size, p):
            raise ValueError(f"s(z) must have shape {(z.size, p)}, got {sd.shape}")
    else:
        sd = np.broadcast_to(np.asarray(s, dtype=np.float64), (p,))
    if not np.all(sd > 0):
        raise ValueError("noise sds must be positive")
    return sd**2


def _log_joint(
    X: np.ndarray, g_fn: GFunction, s: NoiseSd, z_limit: float, n_nodes: int, chunk: int = 2_000_000
):
    """Yield (rows, z, log of N(z; 0, 1) prod_j N(x_j; g_j(z), s_j^2) times the node's weight), by row chunk.

    The log-likelihood over all nodes is three matrix products (x^2/v, x g/v, g^2/v), so a dense grid of
    thousands of nodes costs little; row chunks bound the memory to about `chunk` floats.
    """
    X = np.asarray(X, dtype=np.float64)
    if X.ndim != 2:
        raise ValueError(f"X must be (n, p), got shape {X.shape}")
    p = X.shape[1]
    z = np.linspace(-z_limit, z_limit, int(n_nodes))
    G = np.asarray(g_fn(z), dtype=np.float64)
    if G.shape != (z.size, p):
        raise ValueError(f"g_fn(z) must have shape {(z.size, p)}, got {G.shape}")
    var = _noise_variance(s, z, p)
    prec = 1.0 / var
    h = z[1] - z[0]
    log_w = np.full(z.size, np.log(h))
    log_w[[0, -1]] -= np.log(2.0)  # trapezoid
    const = -0.5 * z**2 - 0.5 * np.log(2 * np.pi) * (p + 1) + log_w
    gp = (G * prec).T  # (p, m)
    tail = -0.5 * (np.sum(G**2 * prec, axis=1) + np.sum(np.log(var), axis=-1)) + const
    step = max(1, chunk // z.size)
    for start in range(0, X.shape[0], step):
        x = X[start : start + step]
        x2 = (x**2) @ np.atleast_2d(prec).T  # (rows, 1) for a fixed variance, else (rows, m)
        yield slice(start, start + step), z, -0.5 * x2 + x @ gp + tail


def posterior_moments(
    X: np.ndarray, g_fn: GFunction, s: NoiseSd, z_limit: float = Z_LIMIT, n_nodes: int = N_NODES
) -> dict[str, np.ndarray]:
    """E[Z | x] and sd(Z | x) per row under the model (g_fn, s) with prior Z ~ N(0, 1).

    Quadrature is a dense uniform grid over [-z_limit, z_limit] (trapezoid rule, in log space). Why not
    Gauss-Hermite: with p = 100 the posterior is far narrower than the prior (sd ~ 0.01), so the fixed nodes
    of a Gauss-Hermite rule (spaced ~0.1 near 0) miss it; an adaptive rule centred on the mode assumes one
    mode, which even g_j (quadratic, bump) can break. The trapezoid rule is spectrally accurate for smooth
    integrands once the spacing is below the posterior sd; a warning says when it is not.
    """
    X = np.asarray(X, dtype=np.float64)
    mean = np.empty(X.shape[0])
    sd = np.empty(X.shape[0])
    for rows, z, logj in _log_joint(X, g_fn, s, z_limit, n_nodes):
        w = np.exp(logj - logsumexp(logj, axis=1, keepdims=True))
        mean[rows] = w @ z
        sd[rows] = np.sqrt(np.sum(w * (z[None, :] - mean[rows, None]) ** 2, axis=1))
    spacing = 2 * z_limit / (int(n_nodes) - 1)
    if X.shape[0] and sd.min() < spacing:
        logger.warning(
            "posterior sd %.2g is below the quadrature spacing %.2g: raise n_nodes", sd.min(), spacing
        )
    return {"mean": mean, "sd": sd}


def posterior_mean(
    X: np.ndarray,
    params: Mapping[str, np.ndarray],
    s: NoiseSd,
    z_limit: float = Z_LIMIT,
    n_nodes: int = N_NODES,
) -> dict[str, np.ndarray]:
    """The oracle: E[Z | x] ("mean") and sd(Z | x) ("sd") under the true g (from `params`) and s."""
    return posterior_moments(X, true_g_function(params), s, z_limit, n_nodes)


def log_marginal(
    X: np.ndarray, g_fn: GFunction, s: NoiseSd, z_limit: float = Z_LIMIT, n_nodes: int = N_NODES
) -> np.ndarray:
    """log p(x) = log ∫ N(z; 0, 1) prod_j N(x_j; g_j(z), s_j^2) dz per row, by the posterior's quadrature.

    g_fn maps z (m,) to means (m, p); s is the noise sd: a scalar (shared), (p,), or a callable z (m,) ->
    (m, p) for a decoder whose variance is an output (pass exp(0.5 * log_var)). The same function gives the
    true model's likelihood and a learned decoder's; the latter integrates over the model's own code under
    its own prior, so it needs no alignment with Z.
    """
    X = np.asarray(X, dtype=np.float64)
    out = np.empty(X.shape[0])
    for rows, _, logj in _log_joint(X, g_fn, s, z_limit, n_nodes):
        out[rows] = logsumexp(logj, axis=1)
    return out


# ------------------------------------------------------------------------------------------ evaluations


def _corr(a: np.ndarray, b: np.ndarray) -> float:
    a = np.asarray(a, dtype=np.float64).reshape(-1)
    b = np.asarray(b, dtype=np.float64).reshape(-1)
    if a.shape != b.shape:
        raise ValueError(f"need paired arrays, got {a.shape} and {b.shape}")
    if a.std() == 0 or b.std() == 0:
        return 0.0
    return float(np.corrcoef(a, b)[0, 1])


def align_sign(z_mean: np.ndarray, Z: np.ndarray) -> tuple[float, np.ndarray]:
    """The sign that makes the code correlate positively with Z, and the code times that sign."""
    z_mean = np.asarray(z_mean, dtype=np.float64).reshape(-1)
    sign = 1.0 if _corr(z_mean, Z) >= 0 else -1.0
    return sign, sign * z_mean


def latent_recovery(
    z_mean_train: np.ndarray,
    Z_train: np.ndarray,
    z_mean_test: np.ndarray,
    Z_test: np.ndarray,
    oracle_train: np.ndarray,
    oracle_test: np.ndarray,
) -> dict[str, float]:
    """corr(code, Z) on train and test beside the oracle's corr(E[Z | x], Z), and the gaps (oracle - code).

    The sign is fixed on the training rows and applied to the test rows, so corr_test is |corr| unless the
    encoder flips sign between the sets (it cannot, but a wrong input would show).
    """
    sign, aligned_train = align_sign(z_mean_train, Z_train)
    corr_train = _corr(aligned_train, Z_train)
    corr_test = _corr(sign * np.asarray(z_mean_test, dtype=np.float64).reshape(-1), Z_test)
    oracle_corr_train = _corr(oracle_train, Z_train)
    oracle_corr_test = _corr(oracle_test, Z_test)
    return {
        "sign": sign,
        "corr_train": corr_train,
        "corr_test": corr_test,
        "oracle_corr_train": oracle_corr_train,
        "oracle_corr_test": oracle_corr_test,
        "gap_train": oracle_corr_train - corr_train,
        "gap_test": oracle_corr_test - corr_test,
    }


CODE_MAPS = ("affine", "quantile", "sign")


def code_map(
    z_mean: np.ndarray, reference: np.ndarray, z_grid: np.ndarray, method: str = "affine"
) -> np.ndarray:
    """The model's code for each true z on the grid: T(z_grid), the map that aligns a learned g with Z.

    The code is identified only up to an invertible map of Z; `reference` holds the true Z of the same
    rows (or the oracle's E[Z | x]). Methods:
    - "affine" (default): least squares of the code on the reference, T(z) = alpha + beta z. A VAE's
      N(0, 1) prior pins its code up to about sign, shift and scale, and two parameters add almost no
      noise of their own.
    - "quantile": the monotone map sending the sorted reference onto the sorted codes (linear beyond the
      sample, with the least-squares slope), for codes warped beyond an affine map. Its jitter is the cost:
      with codes 0.05 off Z it adds 0.13 (median) to 0.65 (max) s_j of function error on the seed
      setting, against 0.02 to 0.11 for "affine".
    - "sign": T(z) = ±z, trusting the prior for the scale. A VAE's codes are shrunk and not exactly
      N(0, 1); a 10% scale error reads as 0.4 s_j (median) to 3 s_j (max) of function error on the seed
      setting, which is the encoder's scale, not the decoder's fit.
    """
    z_grid = np.asarray(z_grid, dtype=np.float64).reshape(-1)
    ref = np.asarray(reference, dtype=np.float64).reshape(-1)
    sign, aligned = align_sign(z_mean, ref)
    if method not in CODE_MAPS:
        raise ValueError(f"method must be one of {list(CODE_MAPS)}, got {method!r}")
    if method == "sign":
        return sign * z_grid
    if ref.size < 2 or ref.std() == 0:
        raise ValueError("need at least two distinct reference values to fit a code map")
    slope, intercept = np.polyfit(ref, aligned, 1)
    if method == "affine":
        return sign * (intercept + slope * z_grid)
    ref, code = np.sort(ref), np.sort(aligned)
    slope = np.polyfit(ref, code, 1)[0]
    mapped = np.interp(z_grid, ref, code)
    mapped = np.where(z_grid < ref[0], code[0] + slope * (z_grid - ref[0]), mapped)
    mapped = np.where(z_grid > ref[-1], code[-1] + slope * (z_grid - ref[-1]), mapped)
    return sign * mapped


def _normal_grid_weights(z_grid: np.ndarray) -> np.ndarray:
    """Trapezoid weights of the N(0, 1) density on the grid, normalised to sum to 1."""
    w = np.exp(-0.5 * z_grid**2)
    h = np.diff(z_grid)
    trap = np.zeros_like(z_grid)
    trap[:-1] += h / 2
    trap[1:] += h / 2
    w = w * trap
    return w / w.sum()


def align_learned_g(
    learned_g_on_grid: np.ndarray, z_grid: np.ndarray, code_on_grid: np.ndarray | None = None
) -> np.ndarray:
    """The learned g as a function of true z: the decoder (evaluated at codes = z_grid) read at T(z_grid).

    Codes beyond the grid take the grid's end values (np.interp); `function_error` reports their weight.
    """
    learned = np.asarray(learned_g_on_grid, dtype=np.float64)
    if code_on_grid is None:
        return learned
    code = np.asarray(code_on_grid, dtype=np.float64).reshape(-1)
    return np.column_stack([np.interp(code, z_grid, learned[:, j]) for j in range(learned.shape[1])])


def function_error(
    learned_g_on_grid: np.ndarray,
    true_g_on_grid: np.ndarray,
    z_grid: np.ndarray,
    s: np.ndarray,
    code_on_grid: np.ndarray | None = None,
) -> dict[str, Any]:
    """Error of the learned g_j over Z ~ N(0, 1), in units of the true s_j.

    Per feature: sqrt(E_Z[(g_learned(T(Z)) - g_j(Z))^2]) / s_j, with the expectation a N(0, 1)-weighted
    trapezoid sum over z_grid, and T from `code_map` (None: the codes are already aligned with Z). An
    error of 1 means the function is off by one noise sd on average. Returns the per-feature array and
    its median, p90, max and mean, and the N(0, 1) weight where T(z) left the decoder's grid.
    """
    z_grid = np.asarray(z_grid, dtype=np.float64).reshape(-1)
    true_g = np.asarray(true_g_on_grid, dtype=np.float64)
    learned = align_learned_g(learned_g_on_grid, z_grid, code_on_grid)
    if learned.shape != true_g.shape or true_g.shape[0] != z_grid.size:
        raise ValueError(f"g on the grid must be ({z_grid.size}, p): got {learned.shape} and {true_g.shape}")
    w = _normal_grid_weights(z_grid)
    per_feature = np.sqrt(w @ (learned - true_g) ** 2) / np.asarray(s, dtype=np.float64)
    outside = 0.0
    if code_on_grid is not None:
        code = np.asarray(code_on_grid, dtype=np.float64).reshape(-1)
        outside = float(w[(code < z_grid[0]) | (code > z_grid[-1])].sum())
    return {
        "per_feature": per_feature,
        "median": float(np.median(per_feature)),
        "p90": float(np.quantile(per_feature, 0.9)),
        "max": float(per_feature.max()),
        "mean": float(per_feature.mean()),
        "extrapolated_weight": outside,
    }


def expected_variance_cost(assumed_s: np.ndarray | float, true_s: np.ndarray) -> np.ndarray:
    """Expected extra NLL (nats) per feature of modelling N(g, s_j^2) data with sd assumed_s, g known.

    E[-log N(x; g, a^2)] - E[-log N(x; g, s^2)] = 0.5 (log(a^2 / s^2) + s^2 / a^2 - 1) >= 0, zero at a = s.
    """
    true_var = np.asarray(true_s, dtype=np.float64) ** 2
    ratio = true_var / np.asarray(assumed_s, dtype=np.float64) ** 2
    return 0.5 * (-np.log(ratio) + ratio - 1.0)


def variance_recovery(learned_s: np.ndarray | float, true_s: np.ndarray, tolerance: float = 0.1) -> dict:
    """Learned noise sds against the true ones, and what a shared (pooled) sd costs.

    learned_s: (p,) or one value for all features (seed 004's model). For a decoder whose variance depends
    on z, pass the root of its mean variance over the encoded rows. Returns the share of features with
    |learned / true - 1| <= tolerance, the ratios' median/min/max; the expected extra NLL per row (nats,
    summed over features, with the true g) of the learned sds and of the best single shared sd,
    sqrt(mean(s_j^2)), which minimises it.
    """
    true_s = np.asarray(true_s, dtype=np.float64).reshape(-1)
    learned = np.broadcast_to(np.asarray(learned_s, dtype=np.float64), true_s.shape)
    ratio = learned / true_s
    within = np.abs(ratio - 1.0) <= tolerance
    pooled = float(np.sqrt(np.mean(true_s**2)))
    return {
        "n_features": int(true_s.size),
        "shared": bool(np.ndim(learned_s) == 0 or np.unique(learned).size == 1),
        "share_within": float(within.mean()),
        "n_within": int(within.sum()),
        "ratio_median": float(np.median(ratio)),
        "ratio_min": float(ratio.min()),
        "ratio_max": float(ratio.max()),
        "expected_cost_learned": float(expected_variance_cost(learned, true_s).sum()),
        "pooled_optimal_s": pooled,
        "expected_cost_pooled_optimal": float(expected_variance_cost(pooled, true_s).sum()),
    }


def variance_ceiling(
    X: np.ndarray, params: Mapping[str, np.ndarray], Z: np.ndarray, true_s: np.ndarray, tolerance: float = 0.1
) -> dict[str, Any]:
    """The most an estimator of s_j can recover from these rows: the one that knows the true g and Z.

    With g and Z known, the residuals x_ij - g_j(Z_i) of feature j are n independent N(0, s_j^2) draws, and
    s_hat_j = sqrt(mean_i (x_ij - g_j(Z_i))^2) is the maximum-likelihood estimate from them. Returns its
    share of features within `tolerance` on these rows (`share_within_rows`) and the expected share over
    draws of n rows, P((1 - t)^2 n <= chi2_n <= (1 + t)^2 n) (`expected_share`): n s_hat^2 / s^2 is
    chi-squared with n degrees of freedom, so s_hat / s has a relative sd of about 1 / sqrt(2 n), 0.053 for
    n = 180, and misses +-10% for about 6% of features however well g is learned.
    """
    from scipy.stats import chi2

    X = np.asarray(X, dtype=np.float64)
    true_s = np.asarray(true_s, dtype=np.float64).reshape(-1)
    residual = X - evaluate_g(params, np.asarray(Z, dtype=np.float64).reshape(-1))
    s_hat = np.sqrt(np.mean(residual**2, axis=0))
    ratio = s_hat / true_s
    within = np.abs(ratio - 1.0) <= tolerance
    n = X.shape[0]
    expected = chi2.cdf((1 + tolerance) ** 2 * n, n) - chi2.cdf((1 - tolerance) ** 2 * n, n)
    return {
        "estimator": "sqrt(mean over the rows of (x_ij - g_j(Z_i))^2), the true g and Z",
        "n_rows": int(n),
        "share_within_rows": float(within.mean()),
        "n_within_rows": int(within.sum()),
        "expected_share": float(expected),
        "ratio_median": float(np.median(ratio)),
    }


#: `fold_check`: the R^2 of |Z| on the code from which a code counts as carrying |Z| (a monotone code's is
#: about 0.88, an unrelated code's about 0).
FOLD_MIN_R2 = 0.5
#: `fold_check`: the |Spearman correlation| of code and Z from which a chart counts as monotone (a code
#: within 0.01 of the oracle's correlation has about 0.99; a folded or torn one 0.7 or less).
MONOTONE_MIN = 0.95


def fold_check(code: np.ndarray, Z: np.ndarray, degree: int = 3) -> dict[str, Any]:
    """Whether a 1-d code is folded (U-shaped in Z, as code ~ |Z|) rather than monotone in Z.

    Fits Z and |Z| each on a polynomial of the code (degree 3, the code standardised) and reports both
    R^2. A monotone code predicts Z nearly exactly (R^2 near 1) and |Z| only as well as a cubic of Z does
    (0.88 for Z ~ N(0, 1): |Z| is not a polynomial); a folded code has lost Z's sign, so it predicts |Z|
    better than Z (whose R^2 falls towards 0 as the fold becomes symmetric). `folded` is
    r2_abs_z > r2_z with r2_abs_z >= FOLD_MIN_R2 (the code does carry |Z|): posterior collapse (a code
    unrelated to Z) gives both near 0 and is not called folded.

    A chart can also fail off centre: folded at another z, or torn (monotone over most of Z, then jumping
    to the other end of the code's range). Neither is U-shaped about 0, so `folded` misses them; `monotone`
    catches every non-monotone chart: |Spearman correlation| of code and Z >= MONOTONE_MIN.
    """
    code = np.asarray(code, dtype=np.float64).reshape(-1)
    Z = np.asarray(Z, dtype=np.float64).reshape(-1)
    if code.size != Z.size or code.size <= degree + 1:
        raise ValueError(f"need more than {degree + 1} rows of code and Z of equal length")
    sd = code.std()
    u = (code - code.mean()) / (sd if sd > 0 else 1.0)
    design = np.vander(u, degree + 1)

    def r2(y: np.ndarray) -> float:
        coef, *_ = np.linalg.lstsq(design, y, rcond=None)
        total = np.sum((y - y.mean()) ** 2)
        return float(1.0 - np.sum((y - design @ coef) ** 2) / total) if total > 0 else 0.0

    r2_z, r2_abs = r2(Z), r2(np.abs(Z))
    from scipy.stats import spearmanr  # here: scipy.stats takes longer to import than planning the study

    rank = abs(float(spearmanr(code, Z).statistic)) if sd > 0 else 0.0
    return {
        "degree": int(degree),
        "r2_z": r2_z,
        "r2_abs_z": r2_abs,
        "folded": bool(r2_abs > r2_z and r2_abs >= FOLD_MIN_R2),
        "spearman": rank,
        "monotone": bool(rank >= MONOTONE_MIN),
    }


def heldout_nll(
    X_test: np.ndarray,
    learned_g_fn: GFunction,
    learned_s: NoiseSd,
    params: Mapping[str, np.ndarray],
    true_s: np.ndarray,
    z_limit: float = Z_LIMIT,
    n_nodes: int = N_NODES,
) -> dict[str, float]:
    """Mean negative log marginal likelihood per test row: learned model, true model, and the gap.

    Also the true g with the best single shared sd (`variance_recovery`'s pooled_optimal_s): the marginal
    counterpart of the expected cost of a shared variance.
    """
    g_true = true_g_function(params)
    true_s = np.asarray(true_s, dtype=np.float64)
    pooled = float(np.sqrt(np.mean(true_s**2)))
    nll_learned = float(-log_marginal(X_test, learned_g_fn, learned_s, z_limit, n_nodes).mean())
    nll_true = float(-log_marginal(X_test, g_true, true_s, z_limit, n_nodes).mean())
    nll_pooled = float(-log_marginal(X_test, g_true, pooled, z_limit, n_nodes).mean())
    return {
        "n_rows": int(np.asarray(X_test).shape[0]),
        "nll_learned": nll_learned,
        "nll_true": nll_true,
        "nll_gap": nll_learned - nll_true,
        "nll_true_g_pooled_s": nll_pooled,
        "pooled_cost": nll_pooled - nll_true,
    }


# ---------------------------------------------------------------------------------------------- figures


def _finish(fig, path: str | Path | None):
    if path is not None:
        from vae_latent_study.plots import save_figure  # matplotlib only when drawing

        save_figure(fig, path)
    return fig


def plot_reconstruction_scatter(X: np.ndarray, X_reconstructed: np.ndarray, path: str | Path | None = None):
    """The seed's "Reconstructed vs Original data": every entry as a point, with the identity line."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    x = np.asarray(X, dtype=np.float64).reshape(-1)
    y = np.asarray(X_reconstructed, dtype=np.float64).reshape(-1)
    fig, ax = plt.subplots(figsize=(5.5, 5.5))
    ax.scatter(x, y, s=3, alpha=0.3)
    lo, hi = float(min(x.min(), y.min())), float(max(x.max(), y.max()))
    ax.plot([lo, hi], [lo, hi], "k-", lw=1)
    ax.set(title="Reconstructed vs original data", xlabel="original", ylabel="reconstructed")
    return _finish(fig, path)


def plot_code_histogram(z_mean: np.ndarray, Z: np.ndarray | None = None, path: str | Path | None = None):
    """The seed's histogram of the codes, with the N(0, 1) density (and the true Z's, sign-aligned)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    code = np.asarray(z_mean, dtype=np.float64).reshape(-1)
    if Z is not None:
        _, code = align_sign(code, Z)
    fig, ax = plt.subplots(figsize=(6, 4))
    ax.hist(code, bins="auto", density=True, alpha=0.6, label="codes (z_mean)")
    if Z is not None:
        ax.hist(
            np.asarray(Z).reshape(-1), bins="auto", density=True, histtype="step", color="k", label="true Z"
        )
    grid = np.linspace(min(-4.0, code.min()), max(4.0, code.max()), 200)
    ax.plot(grid, np.exp(-0.5 * grid**2) / np.sqrt(2 * np.pi), "r-", label="N(0, 1)")
    ax.set(title="Distribution of the estimated latent variable", xlabel="code", ylabel="density")
    ax.legend()
    return _finish(fig, path)


def plot_g_curves(
    z_grid: np.ndarray,
    learned_g_on_grid: np.ndarray,
    true_g_on_grid: np.ndarray,
    code_on_grid: np.ndarray | None = None,
    s: np.ndarray | None = None,
    features: Sequence[int] | None = None,
    z_range: tuple[float, float] = (-3.0, 3.0),
    path: str | Path | None = None,
):
    """The seed's 20 learned g_j curves (4 x 5), aligned with Z, over the true curves (and ±s_j bands).

    Drawn over z_range (the seed's grid, np.arange(-3, 3, .1)), where nearly all data lie.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    z_grid = np.asarray(z_grid, dtype=np.float64).reshape(-1)
    learned = align_learned_g(learned_g_on_grid, z_grid, code_on_grid)
    true_g = np.asarray(true_g_on_grid, dtype=np.float64)
    shown = (z_grid >= z_range[0]) & (z_grid <= z_range[1])
    z_grid, learned, true_g = z_grid[shown], learned[shown], true_g[shown]
    features = list(range(min(20, true_g.shape[1]))) if features is None else list(features)
    cols = 5
    rows = max(1, math.ceil(len(features) / cols))
    fig, axes = plt.subplots(rows, cols, figsize=(2.6 * cols, 2.2 * rows), sharex=True, squeeze=False)
    for ax, j in zip(axes.flat, features, strict=False):
        if s is not None:
            ax.fill_between(z_grid, true_g[:, j] - s[j], true_g[:, j] + s[j], color="0.85", lw=0)
        ax.plot(z_grid, true_g[:, j], "k--", lw=1, label="true")
        ax.plot(z_grid, learned[:, j], "C0-", lw=1.5, label="learned")
        ax.set_title(f"g_{j}", fontsize=9)
        ax.tick_params(labelsize=7)
    for ax in list(axes.flat)[len(features) :]:
        ax.axis("off")
    axes.flat[0].legend(fontsize=7)
    fig.suptitle("Learned g_j (aligned with Z) over the true g_j" + (", band ±s_j" if s is not None else ""))
    fig.supxlabel("z")
    fig.tight_layout()
    return _finish(fig, path)


def plot_noise_sd(
    learned_s: np.ndarray | float, true_s: np.ndarray, tolerance: float = 0.1, path: str | Path | None = None
):
    """Learned against true noise sds, log-log, with the identity line and the ±tolerance band."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    true_s = np.asarray(true_s, dtype=np.float64).reshape(-1)
    learned = np.broadcast_to(np.asarray(learned_s, dtype=np.float64), true_s.shape)
    within = np.abs(learned / true_s - 1.0) <= tolerance
    lo = 0.8 * min(true_s.min(), learned.min())
    hi = 1.25 * max(true_s.max(), learned.max())
    grid = np.geomspace(lo, hi, 50)
    fig, ax = plt.subplots(figsize=(5.5, 5.5))
    ax.fill_between(
        grid, grid * (1 - tolerance), grid * (1 + tolerance), color="0.85", lw=0, label=f"±{tolerance:.0%}"
    )
    ax.plot(grid, grid, "k-", lw=1)
    ax.scatter(true_s[within], learned[within], s=12, color="C0", label=f"within ({within.sum()})")
    ax.scatter(true_s[~within], learned[~within], s=12, color="C3", label=f"outside ({(~within).sum()})")
    ax.set(
        xscale="log",
        yscale="log",
        xlim=(lo, hi),
        ylim=(lo, hi),
        xlabel="true s_j",
        ylabel="learned s_j",
        title="Noise sd per feature: learned vs true",
    )
    ax.legend()
    return _finish(fig, path)


# ---------------------------------------------------------------------------------------------- dataset


def build_dataset(name: str, config: Mapping[str, Any], threads: int = 1) -> datasets.Dataset:
    """A factor_model dataset (`datasets.Dataset`) from its validated config: X, Z as its one factor, and
    every array of `GROUND_TRUTH` as truth."""
    from vae_latent_study import datasets

    settings = {k: v for k, v in config.items() if k != "kind"}
    sim = simulate(settings)
    dataset = datasets.Dataset(
        x=sim["X"],
        factors=np.asarray(sim["Z"], dtype=np.float64).reshape(-1, 1),
        factor_names=["Z"],
        factor_types={"Z": "continuous"},
        train=np.asarray(sim["train"], dtype=np.int64),
        test=np.asarray(sim["test"], dtype=np.int64),
        manifest={},
        truth={key: np.asarray(sim[key]) for key in GROUND_TRUTH},
    )
    dataset.manifest = datasets.manifest(dataset, name, config, family_names=list(sim["family_names"]))
    return dataset


def config_messages(config: Mapping[str, Any], prefix: str = "", given: Mapping[str, Any] = {}) -> list[str]:
    """The problems `validate_config` finds in a factor-model config, each naming its key (`prefix` + key,
    e.g. 'datasets.factors.'): the spec's `config_messages`."""
    try:
        validate_config(config)
    except ValueError as error:
        return [
            line.strip().replace("config key '", f"config key '{prefix}", 1)
            for line in str(error).splitlines()
            if line.strip().startswith("config key '")
        ]
    return []
