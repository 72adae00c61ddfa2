"""Heatmap datasets: parameter grids, closed-form bivariate densities and max-normalised images."""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np
from scipy.special import gammaln

if TYPE_CHECKING:
    from vae_latent_study import datasets

logger = logging.getLogger(__name__)

#: Version of the image-generating algorithm, written into every dataset's manifest.
#: Bump it whenever a change could alter a single pixel, so that old files are recognisably stale.
#: 2: the quadratic form is a matrix product and the Student-t power of a ratio (pixels move by float32 ulps).
GENERATOR_VERSION = "2"

GRID_FACTORS = ("var_x", "var_y", "cor")

# Rows of one BLAS product. For 36 x 36 images, (32 x 4) @ (4 x 1296) stays below the size at which OpenBLAS
# starts threads of its own, which would fight with ours. Every product has exactly this height (chunks are
# padded) as OpenBLAS picks other kernels for some heights, and a pixel must not depend on its neighbours.
_BLAS_ROWS = 32

# Images per work unit: 64 x 1296 float64 (660 kB) stays in a core's L2 cache through every pass, with room
# for the scratch of integer powers. Each pass is one NumPy call over the whole chunk; 128 or 256 images per
# call (fewer GIL hand-overs between threads) measured no faster on 2 cores, smaller chunks slower.
_CHUNK = 2 * _BLAS_ROWS

# Student-t exponents (df + 2) / 2 that are integers with at most this many multiplications in their
# square-and-multiply chain are raised exactly; above it, one log and one exp are faster (df = 200: 9 > 4).
_MAX_MULTIPLICATIONS = 4


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


def df_heavy_probability(var_x: np.ndarray, var_y: np.ndarray, rule: Mapping[str, float]) -> np.ndarray:
    """P(df = heavy_df | var_x, var_y) under `assign_df`'s rule: P(U < (var_x + var_y)^2 - threshold) with
    U ~ U(0, noise_high), that is clip(((var_x + var_y)^2 - threshold) / noise_high, 0, 1); without noise
    (noise_high = 0) the rule is deterministic, 1 where (var_x + var_y)^2 > threshold, else 0."""
    excess = np.power(np.abs(np.asarray(var_x) + np.asarray(var_y)), 2) - rule["threshold"]
    if rule["noise_high"] == 0:
        return (excess > 0).astype(np.float64)
    return np.clip(excess / rule["noise_high"], 0.0, 1.0)


def df_bayes_accuracy(var_x: np.ndarray, var_y: np.ndarray, rule: Mapping[str, float]) -> float:
    """Expected accuracy over the rule's noise of the Bayes classifier of df from (var_x, var_y) on these
    rows: the mean of max(p, 1 - p), p = `df_heavy_probability`. No classifier that sees only the factors
    (var_x, var_y, cor) can expect more on these rows; the images also show df in their tails, so a code
    that kept the tails could."""
    p = df_heavy_probability(var_x, var_y, rule)
    return float(np.mean(np.maximum(p, 1.0 - p)))


def df_bayes_prediction(var_x: np.ndarray, var_y: np.ndarray, rule: Mapping[str, float]) -> np.ndarray:
    """The Bayes classifier's df: `heavy_df` where the rule makes it the likelier (p > 1/2), else
    `light_df` (a tie, p = 1/2 exactly, goes to `light_df`; either choice has the same expected accuracy)."""
    heavy = df_heavy_probability(var_x, var_y, rule) > 0.5
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


class _Chunk(NamedTuple):
    """One work unit: up to `_CHUNK` images of one df computed together, and the twins copied from them."""

    rows: np.ndarray  # output rows computed here
    padded: np.ndarray  # rows, repeating the last up to a multiple of _BLAS_ROWS
    power: float | None  # Student-t exponent (df + 2) / 2, None for the normal
    copies: np.ndarray  # output rows filled with the transposes of the images of rows[:len(copies)]


def _pixel_basis(axis: np.ndarray) -> np.ndarray:
    """Rows (x^2 + y^2, x^2 - y^2, x y, -1) over the pixels (x=axis[i], y=axis[j]), shape (4, len(axis)^2).

    On this basis the form a x^2 + b x y + c y^2 has coefficients ((a + c)/2, (a - c)/2, b): swapping x with y
    and a with c flips the sign of the second coefficient and of the second basis row exactly and leaves the
    rest bit for bit, so the image of (var_y, var_x) is exactly the transpose of the image of (var_x, var_y).
    The constant row is -1 so that a value to subtract can be stored as the coefficient as it is.
    """
    x2 = np.broadcast_to(axis[:, None] ** 2, (len(axis), len(axis)))
    xy = axis[:, None] * axis[None, :]
    return np.stack([x2 + x2.T, x2 - x2.T, xy, -np.ones_like(xy)]).reshape(4, -1)


def _form_coefficients(var_x: np.ndarray, var_y: np.ndarray, cor: np.ndarray) -> np.ndarray:
    """Coefficients of each image's Mahalanobis form on `_pixel_basis`, shape (n, 4), constant term 0."""
    one_minus_r2 = 1.0 - cor**2
    a = 1.0 / (var_x * one_minus_r2)
    c = 1.0 / (var_y * one_minus_r2)
    b = -2.0 * cor / (np.sqrt(var_x * var_y) * one_minus_r2)
    return np.column_stack([(a + c) / 2.0, (a - c) / 2.0, b, np.zeros_like(a)])


def _transposed_twins(var_x: np.ndarray, var_y: np.ndarray, cor: np.ndarray, df: np.ndarray) -> np.ndarray:
    """For each row, the row to fill with the transpose of its image, or -1.

    A twin has the same cor and df and the two variances swapped, so its image is exactly the transpose
    (see `_pixel_basis`). Only rows with var_x < var_y get a twin and each at most one, so a twin is never
    needed as the source of another.
    """
    n = len(var_x)
    twin = np.full(n, -1)
    # Parameters become small integer codes; twins share (cor, df, smaller variance, larger variance).
    _, var_code = np.unique(np.concatenate([var_x, var_y]), return_inverse=True)
    vx, vy = var_code[:n], var_code[n:]
    _, cor_code = np.unique(cor, return_inverse=True)
    _, df_code = np.unique(df, return_inverse=True)
    _, group = np.unique(cor_code * (df_code.max() + 1) + df_code, return_inverse=True)
    n_var = int(var_code.max()) + 1
    if (int(group.max()) + 1) * n_var**2 * 2 >= 2**63:  # keys would overflow: billions of images
        return twin
    # Sorted, a pair sits side by side: even key (var_x <= var_y) then that key + 1 (var_x > var_y).
    key = ((group * n_var + np.minimum(vx, vy)) * n_var + np.maximum(vx, vy)) * 2 + (vx > vy)
    order = np.argsort(key)
    key = key[order]
    pairs = np.flatnonzero((key[1:] == key[:-1] + 1) & (key[:-1] % 2 == 0))
    twin[order[pairs]] = order[pairs + 1]
    return twin


def _plan(var_x: np.ndarray, var_y: np.ndarray, cor: np.ndarray, df: np.ndarray | None) -> list[_Chunk]:
    """Split the images into chunks of one df each. Twins (`_transposed_twins`) are not computed but copied
    by the chunk that computes their source, which puts the sources first so that they are one slice."""
    n = len(var_x)
    twin = _transposed_twins(var_x, var_y, cor, np.zeros(n) if df is None else df)
    is_twin = np.zeros(n, dtype=bool)
    is_twin[twin[twin >= 0]] = True
    computed = np.flatnonzero(~is_twin)
    if df is None:
        computed = computed[np.argsort(twin[computed] < 0, kind="stable")]
        bounds = [0, len(computed)]
    else:
        computed = computed[np.lexsort((twin[computed] < 0, df[computed]))]
        bounds = [0, *(np.flatnonzero(np.diff(df[computed])) + 1), len(computed)]
    chunks = []
    for start, stop in zip(bounds[:-1], bounds[1:], strict=True):
        power = None if df is None else (df[computed[start]] + 2.0) / 2.0
        for s in range(start, stop, _CHUNK):
            rows = computed[s : min(s + _CHUNK, stop)]
            padded = np.full(_BLAS_ROWS * math.ceil(len(rows) / _BLAS_ROWS), rows[-1])
            padded[: len(rows)] = rows
            twins = twin[rows]
            chunks.append(_Chunk(rows, padded, power, twins[twins >= 0]))
    return chunks


def _exact_power(power: float) -> int | None:
    """`power` as an int where raising to it by square-and-multiply is cheaper than a log and an exp."""
    if not float(power).is_integer():
        return None
    p = int(power)
    return p if p.bit_length() + p.bit_count() - 2 <= _MAX_MULTIPLICATIONS else None


def _integer_power(base: np.ndarray, power: int, scratch: np.ndarray) -> None:
    """base**power in place by square-and-multiply, exact to a few ulp."""
    bits = bin(power)[3:]  # after the leading 1, which `base` already holds
    if "1" in bits:
        np.copyto(scratch, base)
    for bit in bits:
        np.square(base, out=base)
        if bit == "1":
            base *= scratch


def _normal_images(
    coef: np.ndarray, basis: np.ndarray, buf: np.ndarray, scratch: np.ndarray, power: None
) -> None:
    """Each row of `buf` becomes exp(-(Q - Qmin)/2), the density divided by its largest pixel.
    `coef` holds the form coefficients times -1/2."""
    np.matmul(coef, basis, out=buf)  # -Q/2
    # Subtracting the largest log value is dividing by the largest pixel; the density's normalising constant
    # cancels, so it is never computed. Stored as the constant coefficient, the subtraction costs one more
    # product instead of a per-image broadcast, which NumPy runs several times slower.
    np.max(buf, axis=-1, out=coef[..., 3])
    np.matmul(coef, basis, out=buf)
    np.exp(buf, out=buf)


def _student_t_images(
    coef: np.ndarray, basis: np.ndarray, buf: np.ndarray, scratch: np.ndarray, power: float
) -> None:
    """Each row of `buf` becomes ((df + Qmin) / (df + Q))**power, the density divided by its largest pixel.
    `coef` holds the form coefficients divided by df, and constant coefficient -1."""
    np.matmul(coef, basis, out=buf)  # 1 + Q/df
    coef /= np.min(buf, axis=-1, keepdims=True)
    np.matmul(coef, basis, out=buf)  # (df + Q) / (df + Qmin) >= 1
    exact = _exact_power(power)
    if exact:
        _integer_power(buf, exact, scratch)
        np.reciprocal(buf, out=buf)
    else:
        np.log(buf, out=buf)
        buf *= -power
        np.exp(buf, out=buf)


def _fill_chunks(
    out: np.ndarray, chunks: list[_Chunk], coef: np.ndarray, basis: np.ndarray, images: Callable
) -> None:
    """Compute `chunks` with `images` and write them, and their twins, into `out` (one thread's share)."""
    # Scratch is allocated once per thread: a fresh array per chunk costs page faults on every chunk.
    blocks = _CHUNK // _BLAS_ROWS
    chunk_coef = np.empty((blocks, _BLAS_ROWS, 4))
    buf = np.empty((blocks, _BLAS_ROWS, basis.shape[1]))
    scratch = np.empty_like(buf)
    side = out.shape[1]
    for chunk in chunks:
        k = len(chunk.padded) // _BLAS_ROWS
        np.take(coef, chunk.padded.reshape(k, _BLAS_ROWS), axis=0, out=chunk_coef[:k])
        images(chunk_coef[:k], basis, buf[:k], scratch[:k], chunk.power)
        result = buf[:k].reshape(-1, side, side)[: len(chunk.rows)]
        out[chunk.rows] = result  # the single rounding to float32
        if len(chunk.copies):
            out[chunk.copies] = result[: len(chunk.copies)].transpose(0, 2, 1)


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
    No pixel depends on `threads` or on the other images requested. An image whose (var_y, var_x) twin is
    also requested is copied as the twin's transpose, bit for bit what computing it gives.
    """
    axis = np.asarray(axis, dtype=np.float64)
    var_x, var_y, cor = (np.asarray(v, dtype=np.float64) for v in (var_x, var_y, cor))
    n = len(var_x)
    out = np.empty((n, len(axis), len(axis)), dtype=np.float32)
    if n == 0:
        return out
    coef = _form_coefficients(var_x, var_y, cor)
    if df is None:
        coef *= -0.5
        images = _normal_images
    else:
        df = np.asarray(df, dtype=np.float64)
        coef /= df[:, None]
        coef[:, 3] = -1.0
        images = _student_t_images
    # float64 throughout, rounded once: float32 passes would be faster but add several float32 ulps of
    # error, and NumPy's float32 exp and log take CPU-specific SIMD paths that differ in their last bits.
    basis = _pixel_basis(axis)
    chunks = _plan(var_x, var_y, cor, df)
    # Chunks are dealt round-robin: the cost differs between df groups, so contiguous runs would unbalance.
    workers = max(threads, 1)
    shares = [chunks[k::workers] for k in range(workers)]
    if workers == 1:
        _fill_chunks(out, chunks, coef, basis, images)
    else:
        # NumPy and OpenBLAS release the GIL inside their loops, so threads over chunks use every core.
        with ThreadPoolExecutor(max_workers=len(shares)) as pool:
            list(pool.map(lambda share: _fill_chunks(out, share, coef, basis, images), shares))
    return out


def split_indices(n: int, test_size: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Train and test row indices as `train_test_split(..., test_size, random_state=seed)` orders them."""
    # Imported here: scikit-learn takes ~1.4 s to import, and the config checks import this module at every
    # Snakemake start where a heatmap dataset exists, dry runs included.
    from sklearn.model_selection import train_test_split

    train, test = train_test_split(np.arange(n), test_size=test_size, random_state=seed)
    return train.astype(np.int64), test.astype(np.int64)


# ---------------------------------------------------------------------------------------------- dataset


def build_dataset(name: str, config: Mapping[str, Any], threads: int = 1) -> datasets.Dataset:
    """A heatmaps dataset (`datasets.Dataset`) from its validated config: every image of the grid, drawn
    with `threads`, its factors (df categorical), grid indices and grids, the image axis as truth."""
    from vae_latent_study import datasets

    values, indices = factor_table(config["grid"])
    names = list(GRID_FACTORS)
    grids = {f: grid_values(config["grid"][f]) for f in names}
    types = dict.fromkeys(names, "continuous")
    df = None
    if config["family"] == "student_t":
        df = assign_df(values[:, 0], values[:, 1], config["df_rule"])
        grids["df"] = np.unique(df)
        values = np.column_stack([values, df])
        indices = np.column_stack([indices, np.searchsorted(grids["df"], df)]).astype(np.int32)
        names.append("df")
        types["df"] = "categorical"
    axis = grid_values(config["image_grid"])
    start = time.perf_counter()
    images = heatmaps(axis, values[:, 0], values[:, 1], values[:, 2], df=df, threads=threads)
    logger.info(
        "%s: drew %d images of %dx%d in %.3f s",
        name,
        len(images),
        *images.shape[1:],
        time.perf_counter() - start,
    )
    train, test = split_indices(len(images), config["split"]["test_size"], config["split"]["seed"])
    dataset = datasets.Dataset(
        images,
        values,
        names,
        types,
        train,
        test,
        {},
        factor_indices=indices,
        factor_grids=grids,
        truth={"axis": axis},
    )
    dataset.manifest = datasets.manifest(dataset, name, config, generator_version=GENERATOR_VERSION)
    return dataset


# --- the config checks a schema cannot say (the spec's `config_messages`, `drop_unused`) -----------------


def dataset_size(config: Mapping[str, Any]) -> int:
    """Number of images a validated heatmaps dataset config describes."""
    return int(np.prod([len(grid_values(config["grid"][f])) for f in GRID_FACTORS]))


def _grid_messages(key: str, spec: Mapping[str, float], low: float | None, high: float | None) -> list[str]:
    if spec["stop"] <= spec["start"]:
        return [f"config key '{key}': empty or reversed grid (stop {spec['stop']} <= start {spec['start']})"]
    values = grid_values(spec)
    out = []
    if low is not None and values.min() <= low:
        out.append(f"config key '{key}': every value must be > {low}, the grid starts at {values.min():g}")
    if high is not None and values.max() >= high:
        out.append(f"config key '{key}': every value must be < {high}, the grid reaches {values.max():g}")
    return out


#: The open bounds of each factor's grid.
_BOUNDS = {"var_x": (0.0, None), "var_y": (0.0, None), "cor": (-1.0, 1.0)}


def config_messages(config: Mapping[str, Any], prefix: str = "", given: Mapping[str, Any] = {}) -> list[str]:
    """Every problem with a validated heatmaps dataset config a schema cannot say, each naming its key
    (`prefix` + key, e.g. 'datasets.tiny_t.'): grids empty, reversed or out of their factor's range, an
    image of fewer than 2 points per axis, a split that leaves no training image, a df rule where there is
    no df (`given`: the dataset's config as written) or with equal df values."""
    messages = []
    for factor in GRID_FACTORS:
        messages += _grid_messages(f"{prefix}grid.{factor}", config["grid"][factor], *_BOUNDS[factor])
    key = f"{prefix}image_grid"
    messages += _grid_messages(key, config["image_grid"], None, None)
    if not messages and len(grid_values(config["image_grid"])) < 2:
        messages.append(f"config key '{key}': an image needs at least 2 points per axis")
    if not messages:
        n_images = dataset_size(config)
        n_test = math.ceil(config["split"]["test_size"] * n_images)
        if n_test >= n_images:
            messages.append(
                f"config key '{prefix}split.test_size': leaves no training image "
                f"({n_test} of {n_images} images held out)"
            )
    if config["family"] == "gaussian" and "df_rule" in given:
        messages.append(f"config key '{prefix}df_rule': applies to family student_t only")
    rule = config.get("df_rule", {})
    if config["family"] == "student_t" and rule["heavy_df"] == rule["light_df"]:
        messages.append(f"config key '{prefix}df_rule': heavy_df and light_df must differ")
    return messages


def drop_unused(config: dict[str, Any]) -> None:
    """Remove the defaults of a validated heatmaps dataset config that do not apply: the df rule of a
    family without df (so it neither reaches rule params nor triggers reruns)."""
    if config["family"] != "student_t":
        config.pop("df_rule", None)
