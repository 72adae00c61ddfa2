"""Seed 002 without a network: the 1-D N(mean, std) data, distribution scores with same-run references, their
summary over replicates, the seed's broadcast loss in NumPy, and the seed's figures (the evaluation of a
trained model is `normal_1d_generation`)."""

from __future__ import annotations

import logging
import math
import numbers
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from vae_latent_study.errors import ConfigError

if TYPE_CHECKING:
    import matplotlib.pyplot as plt

    from vae_latent_study import datasets

# scipy.stats and matplotlib are imported where they are used: the config's validation imports this module
# on every Snakemake start (dry runs too), for `normal_1d_messages`, and they cost seconds there.

log = logging.getLogger(__name__)

#: The seed's settings: `np.random.normal(100, 10, 100)`, then `data[:-33], data[-33:]`.
SOURCE_SETTINGS: dict[str, Any] = {"mean": 100.0, "std": 10.0, "n": 100, "test_share": 0.33, "seed": 0}
#: The answer's printed numbers (one draw of 15,000 decoded codes).
ANSWER_SAMPLE_MEAN = 97.27115
ANSWER_SAMPLE_STD = 10.09742
#: The answer's sample size: 15,000 codes drawn from N(mean, std) of the training codes.
ANSWER_SAMPLE_SIZE = 15_000
#: The config keys of a normal-1d dataset, in `draw_dataset`'s order.
CONFIG_KEYS = ("mean", "std", "n", "test_share", "seed")
#: Fewest training rows (an ML std needs two values) and test rows.
MIN_TRAIN = 2
MIN_TEST = 1
#: The issue's target: median KS(model) / median KS(ML-fitted Gaussian) at most this.
KS_RATIO_TARGET = 1.5
#: The issue asks for at least this many replicates.
MIN_REPLICATES = 20


# ---------------------------------------------------------------------------------------------------------
# Data
# ---------------------------------------------------------------------------------------------------------


def n_test_rows(n: int, test_share: float) -> int:
    """Rows held out for the test set: ceil(test_share * n), 33 for the seed's n=100, test_share=0.33.

    Ceil is what the question's `train_test_split(test_size=0.33)` and this package's heatmap split use. The
    product is rounded to 9 decimals first, so float error (0.07 * 100 = 7.000000000000001) adds no row.
    """
    return math.ceil(round(test_share * n, 9))


def normal_1d_messages(config: Mapping[str, Any], prefix: str = "") -> list[str]:
    """Every problem with a normal-1d config, each naming its key (`prefix` + key, e.g. 'datasets.normal.').

    Rules: mean finite; std finite and > 0; n an integer; test_share in (0, 1); seed a non-negative integer
    (what `numpy.random.default_rng` takes); and the split leaves at least MIN_TRAIN = 2 training rows (the
    ML-fitted std of one value is 0) and MIN_TEST = 1 test row.
    """

    def bad(key: str, why: str) -> str:
        return f"config key '{prefix}{key}': {why}"

    messages = [bad(key, "missing") for key in CONFIG_KEYS if key not in config]
    if messages:
        return messages
    mean, std, n, share, seed = (config[k] for k in CONFIG_KEYS)
    real = numbers.Real
    if not isinstance(mean, real) or isinstance(mean, bool) or not math.isfinite(mean):
        messages.append(bad("mean", f"must be a finite number, got {mean!r}"))
    if not isinstance(std, real) or isinstance(std, bool) or not math.isfinite(std) or std <= 0:
        messages.append(bad("std", f"must be a finite number > 0, got {std!r}"))
    n_ok = isinstance(n, numbers.Integral) and not isinstance(n, bool)
    if not n_ok:
        messages.append(bad("n", f"must be an integer, got {n!r}"))
    share_ok = isinstance(share, real) and not isinstance(share, bool) and 0 < share < 1
    if not share_ok:
        messages.append(bad("test_share", f"must be a number in (0, 1), got {share!r}"))
    if not isinstance(seed, numbers.Integral) or isinstance(seed, bool) or seed < 0:
        messages.append(bad("seed", f"must be a non-negative integer, got {seed!r}"))
    if n_ok and share_ok:
        n_test = n_test_rows(int(n), float(share))
        n_train = int(n) - n_test
        if n_train < MIN_TRAIN or n_test < MIN_TEST:
            messages.append(
                bad(
                    "n",
                    f"{n} rows with test_share {share} give {n_train} training and {n_test} test rows; "
                    f"need at least {MIN_TRAIN} and {MIN_TEST}",
                )
            )
    return messages


def validate_normal_1d(config: Mapping[str, Any], prefix: str = "") -> None:
    """Raise ConfigError listing every problem `normal_1d_messages` finds."""
    messages = normal_1d_messages(config, prefix)
    if messages:
        raise ConfigError("invalid configuration:\n  " + "\n  ".join(messages))


def draw_dataset(mean: float, std: float, n: int, test_share: float, seed: int) -> dict[str, Any]:
    """n draws of N(mean, std), the LAST n_test_rows(n, test_share) rows the test set (the seed's split).

    `x` is (n,) float32: drawn in float64 by `numpy.random.default_rng(seed).normal` and rounded once, because
    the models train in float32 (Keras 2 also cast the seed's float64 array to float32), so the ML-fitted
    reference and the model see the same numbers; float32 keeps ~1e-5 at 100, far below any KS or W1 scale
    here. Returns x, train and test (row indices, int64), true_mean, true_std, n_train, n_test.
    """
    config = {"mean": mean, "std": std, "n": n, "test_share": test_share, "seed": seed}
    validate_normal_1d(config)
    x = np.random.default_rng(seed).normal(mean, std, n).astype(np.float32)
    n_test = n_test_rows(n, test_share)
    rows = np.arange(n, dtype=np.int64)
    return {
        "x": x,
        "train": rows[: n - n_test],
        "test": rows[n - n_test :],
        "true_mean": float(mean),
        "true_std": float(std),
        "n_train": n - n_test,
        "n_test": n_test,
    }


# ---------------------------------------------------------------------------------------------------------
# Distances to a normal distribution
# ---------------------------------------------------------------------------------------------------------


def _normal_quantile_integral(a: np.ndarray, b: np.ndarray, mean: float, std: float) -> np.ndarray:
    """Integral of the N(mean, std) quantile function over [a, b] (0 <= a <= b <= 1), in closed form:
    mean (b - a) + std (phi(z_a) - phi(z_b)), since the integral of z phi(z) is -phi(z)."""
    from scipy import stats

    z_a, z_b = stats.norm.ppf(a), stats.norm.ppf(b)
    return mean * (b - a) + std * (stats.norm.pdf(z_a) - stats.norm.pdf(z_b))


def wasserstein1_to_normal(samples: np.ndarray, mean: float, std: float) -> float:
    """Exact Wasserstein-1 distance between the empirical distribution of `samples` and N(mean, std).

    W1 = integral over u in (0, 1) of |F_n^-1(u) - F^-1(u)|. On ((i-1)/m, i/m) the empirical quantile is
    the i-th order statistic c; splitting that interval at F(c), where c - F^-1(u) changes sign, leaves
    integrals of the normal quantile, which have a closed form. No grid, so no discretisation error.
    """
    from scipy import stats

    x = np.sort(np.asarray(samples, dtype=np.float64).ravel())
    m = x.size
    a = np.arange(m, dtype=np.float64) / m
    b = np.arange(1, m + 1, dtype=np.float64) / m
    u = np.clip(stats.norm.cdf(x, loc=mean, scale=std), a, b)
    below = x * (u - a) - _normal_quantile_integral(a, u, mean, std)
    above = _normal_quantile_integral(u, b, mean, std) - x * (b - u)
    return float(np.sum(below + above))


def normal_ks_distance(mean_1: float, std_1: float, mean_2: float, std_2: float) -> float:
    """Exact sup_x |Phi1(x) - Phi2(x)| between two normals.

    The difference vanishes at +-infinity, so its extremes are where the densities are equal: the roots of
    a quadratic (one root, the midpoint, when the stds are equal).
    """
    from scipy import stats

    a = 0.5 / std_2**2 - 0.5 / std_1**2
    b = mean_1 / std_1**2 - mean_2 / std_2**2
    c = 0.5 * mean_2**2 / std_2**2 - 0.5 * mean_1**2 / std_1**2 + math.log(std_2 / std_1)
    if abs(a) <= 1e-12 * (abs(b) + abs(c) + 1e-300):
        roots = [-c / b] if b != 0 else []
    else:
        disc = b * b - 4 * a * c
        if disc < 0:  # cannot happen for two normals; guard against rounding
            disc = 0.0
        q = -0.5 * (b + math.copysign(math.sqrt(disc), b))
        roots = [q / a] + ([c / q] if q != 0 else [])
    gaps = [abs(stats.norm.cdf(r, mean_1, std_1) - stats.norm.cdf(r, mean_2, std_2)) for r in roots]
    return float(max(gaps, default=0.0))


def normal_wasserstein1_distance(mean_1: float, std_1: float, mean_2: float, std_2: float) -> float:
    """Exact W1 between two normals: E|dm + ds Z| with Z ~ N(0, 1) (the quantile coupling), a folded normal
    mean, dm = mean_1 - mean_2, ds = std_1 - std_2."""
    from scipy import stats

    dm, ds = mean_1 - mean_2, abs(std_1 - std_2)
    if ds == 0:
        return abs(dm)
    folded = ds * math.sqrt(2 / math.pi) * math.exp(-(dm**2) / (2 * ds**2))
    return float(folded + dm * (1 - 2 * stats.norm.cdf(-dm / ds)))


def _score(values: np.ndarray, mean: float, std: float, prefix: str) -> dict[str, float]:
    from scipy import stats

    ks = stats.kstest(values, "norm", args=(mean, std))
    return {
        f"{prefix}_mean": float(np.mean(values)),
        f"{prefix}_std": float(np.std(values)),  # ddof=0, as the answer's `sample.std()`
        f"{prefix}_ks": float(ks.statistic),
        f"{prefix}_ks_pvalue": float(ks.pvalue),
        f"{prefix}_w1": wasserstein1_to_normal(values, mean, std),
    }


def reference_samples(
    size: int, mean: float, std: float, train_sample: np.ndarray, rng: np.random.Generator | int
) -> tuple[np.ndarray, np.ndarray]:
    """The two references of `distribution_scores`, drawn in its order from `rng`: a fresh sample of the truth
    N(mean, std), then a sample of the ML Gaussian fitted to `train_sample` (mean and 1/n std). The same
    `rng` seed gives the samples that `distribution_scores` scored, for plotting them."""
    rng = np.random.default_rng(rng)
    train = np.asarray(train_sample, dtype=np.float64).ravel()
    fresh = rng.normal(mean, std, size)
    fitted = rng.normal(float(np.mean(train)), float(np.std(train)), size)
    return fresh, fitted


def distribution_scores(
    samples: np.ndarray,
    mean: float,
    std: float,
    train_sample: np.ndarray,
    rng: np.random.Generator | int,
) -> dict[str, float]:
    """Score generated `samples` against the truth N(mean, std), with two references scored the same way.

    Each of model_, fresh_ and fitted_ gets mean, std, ks, ks_pvalue (scipy.stats.kstest against the truth)
    and w1 (exact, `wasserstein1_to_normal`). fresh_ is a new sample of the truth of the same size; fitted_
    is a same-size sample of the ML Gaussian fit to `train_sample` (its mean and 1/n std: fitted_fit_mean,
    fitted_fit_std), the noise floor of any model that learns from that training sample. fitted_ks_exact and
    fitted_w1_exact are the fit's exact distances to the truth, the limits the sampled ones approach. `rng`
    (a Generator or a seed) draws the fresh sample, then the fitted one: the same seed, the same dict.
    Also n_samples, n_train. Raises ValueError on non-finite samples (a diverged model).
    """

    values = np.asarray(samples, dtype=np.float64).ravel()
    train = np.asarray(train_sample, dtype=np.float64).ravel()
    if values.size == 0 or train.size < MIN_TRAIN:
        raise ValueError(f"need samples and >= {MIN_TRAIN} training values: {values.size}, {train.size}")
    bad = int(np.count_nonzero(~np.isfinite(values)))
    if bad:
        raise ValueError(f"{bad} of {values.size} samples are not finite")
    fresh, fitted = reference_samples(values.size, mean, std, train, rng)
    fit_mean, fit_std = float(np.mean(train)), float(np.std(train))
    return {
        **_score(values, mean, std, "model"),
        **_score(fresh, mean, std, "fresh"),
        **_score(fitted, mean, std, "fitted"),
        "fitted_fit_mean": fit_mean,
        "fitted_fit_std": fit_std,
        "fitted_ks_exact": normal_ks_distance(fit_mean, fit_std, mean, std),
        "fitted_w1_exact": normal_wasserstein1_distance(fit_mean, fit_std, mean, std),
        "n_samples": values.size,
        "n_train": train.size,
    }


def replicate_summary(
    rows: Sequence[Mapping[str, float]],
    ratio_target: float = KS_RATIO_TARGET,
    min_replicates: int = MIN_REPLICATES,
) -> dict[str, float | int | bool]:
    """Median, quartiles and IQR over replicates (rows of `distribution_scores`) of each source's ks and w1
    (also mean and std), e.g. model_ks_median, fresh_w1_iqr; fitted_ks_exact_median.

    ks_ratio = median model_ks / median fitted_ks is the issue's target, meets_target = ks_ratio <=
    ratio_target (1.5); ks_ratio_fresh divides by the fresh sample's median instead. enough_replicates says
    whether there were at least `min_replicates` (20) rows; the verdict is computed either way.
    """
    if not rows:
        raise ValueError("need at least one replicate")
    out: dict[str, float | int | bool] = {"n_replicates": len(rows)}
    columns = [f"{s}_{stat}" for s in ("model", "fresh", "fitted") for stat in ("ks", "w1", "mean", "std")]
    for column in [*columns, "fitted_ks_exact", "fitted_w1_exact"]:
        values = np.array([row[column] for row in rows], dtype=np.float64)
        q25, median, q75 = np.percentile(values, [25, 50, 75])
        out.update(
            {
                f"{column}_median": float(median),
                f"{column}_q25": float(q25),
                f"{column}_q75": float(q75),
                f"{column}_iqr": float(q75 - q25),
            }
        )
    out["ks_ratio"] = out["model_ks_median"] / out["fitted_ks_median"]
    out["ks_ratio_fresh"] = out["model_ks_median"] / out["fresh_ks_median"]
    out["ks_ratio_target"] = float(ratio_target)
    out["meets_target"] = bool(out["ks_ratio"] <= ratio_target)
    out["enough_replicates"] = len(rows) >= min_replicates
    return out


def decode_mode_difference(training_decodes: np.ndarray, inference_decodes: np.ndarray) -> dict[str, float]:
    """How far decodes with BatchNorm in training mode (batch statistics) lie from inference-mode decodes
    (moving statistics) of the same codes: max_abs_diff, mean_abs_diff, and the same relative to the
    inference decodes' std (relative_max_diff)."""
    train = np.asarray(training_decodes, dtype=np.float64).ravel()
    infer = np.asarray(inference_decodes, dtype=np.float64).ravel()
    if train.shape != infer.shape:
        raise ValueError(f"decodes differ in size: {train.size} and {infer.size}")
    diff = np.abs(train - infer)
    spread = float(np.std(infer))
    return {
        "max_abs_diff": float(diff.max()),
        "mean_abs_diff": float(diff.mean()),
        "relative_max_diff": float(diff.max() / spread) if spread > 0 else math.inf,
    }


# ---------------------------------------------------------------------------------------------------------
# The seed's reconstruction loss
# ---------------------------------------------------------------------------------------------------------


def keras2_mse_broadcast_loss(data: np.ndarray, reconstruction: np.ndarray) -> float:
    """The seed's `tf.reduce_sum(keras.losses.mean_squared_error(data, reconstruction))`, as Keras 2 computed
    it: `mean(squared_difference(y_pred, y_true), axis=-1)` with NumPy broadcasting, then a sum.

    The seed fed a 1-D array, and its custom `train_step` skipped `data_adapter.expand_1d` (only Keras 2's
    default `train_step` called it), so `data` stayed (b,); the encoder, a Functional model with
    `Input(shape=(1,))`, expanded it to (b, 1) itself, so the decoder returned (b, 1). (b, 1) - (b,)
    broadcasts to (b, b): every reconstruction is compared with every sample of its batch, and

        sum_i mean_j (r_i - x_j)^2 = sum_i [(r_i - xbar)^2 + var_b],    var_b = mean_j (x_j - xbar)^2.

    Its gradient in r_i is 2 (r_i - xbar): the loss pulls every reconstruction to the BATCH MEAN, not to its
    own x_i, and b var_b is a floor no decoder can lower. The decoder learns to output (about) the mean
    whatever the code, so the reconstructions come out too narrow, and any spread in generated samples
    comes from elsewhere: whatever slope in z the decoder kept from its initialisation (the answer stopped
    early), and the KL/prior mismatch (the answer's codes sat at N(-43, 4.5), far from N(0, 1)).
    With (b, 1) data the same arithmetic is the ordinary per-sample error (`per_sample_squared_error`).
    Keras 3's `mean_squared_error` first calls `squeeze_or_expand_to_same_rank`, so it returns the
    per-sample error for (b,) and (b, 1): a faithful port has to write the broadcast out.
    """
    data = np.asarray(data, dtype=np.float64)
    reconstruction = np.asarray(reconstruction, dtype=np.float64)
    return float(np.sum(np.mean(np.square(reconstruction - data), axis=-1)))


def keras2_source_objective(data: np.ndarray, reconstruction: np.ndarray, kl_per_sample: np.ndarray) -> float:
    """What the seed's gradients descended: b * broadcast loss + sum_i KL_i.

    Its `total_loss` is the scalar reconstruction loss plus the (b,) KL vector, so (b,); `tape.gradient` of a
    non-scalar target differentiates the sum of its elements, which counts the reconstruction term b times
    (b = 11, the seed's batch) against each KL once. The seed's activity regularizers (`self.losses`) are
    never added, so they did nothing.
    """
    kl = np.asarray(kl_per_sample, dtype=np.float64).ravel()
    return float(np.sum(keras2_mse_broadcast_loss(data, reconstruction) + kl))


def per_sample_squared_error(data: np.ndarray, reconstruction: np.ndarray) -> float:
    """The corrected loss: each reconstruction against its own sample, sum over the batch of the mean over
    features (for 1-D data, sum_i (r_i - x_i)^2), whatever mix of (b,) and (b, 1) the two arrays have."""
    b = np.shape(data)[0]
    data = np.asarray(data, dtype=np.float64).reshape(b, -1)
    reconstruction = np.asarray(reconstruction, dtype=np.float64).reshape(b, -1)
    if data.shape != reconstruction.shape:
        raise ValueError(f"data {data.shape} and reconstruction {reconstruction.shape} differ per row")
    return float(np.sum(np.mean(np.square(reconstruction - data), axis=-1)))


def broadcast_loss_decomposition(data: np.ndarray, reconstruction: np.ndarray) -> dict[str, float]:
    """The broadcast loss of 1-D `data` (b,) split as in `keras2_mse_broadcast_loss`: loss =
    pull_to_batch_mean (sum_i (r_i - xbar)^2) + variance_floor (b var_b); also batch_mean (xbar)."""
    x = np.asarray(data, dtype=np.float64).ravel()
    r = np.asarray(reconstruction, dtype=np.float64).ravel()
    xbar = float(np.mean(x))
    pull = float(np.sum(np.square(r - xbar)))
    floor = float(r.size * np.mean(np.square(x - xbar)))
    return {"loss": pull + floor, "pull_to_batch_mean": pull, "variance_floor": floor, "batch_mean": xbar}


# ---------------------------------------------------------------------------------------------------------
# Figures
# ---------------------------------------------------------------------------------------------------------


def plot_real_vs_generated(
    real: np.ndarray,
    generated: np.ndarray,
    bins: int = 20,
    labels: tuple[str, str] = ("Real Distribution", "Sampled"),
    path: str | Path | None = None,
    density: bool = False,
) -> plt.Figure:
    """The answer's figure: overlaid histograms of real and generated values (alpha 0.5, 20 bins), on
    shared bin edges so the bars compare, with each mean and std in the legend. `density=True` draws
    densities instead of counts, for samples of very different sizes (100 data values beside 15,000 draws)."""
    import matplotlib.pyplot as plt

    from vae_latent_study.plots import save_figure

    real = np.asarray(real, dtype=np.float64).ravel()
    generated = np.asarray(generated, dtype=np.float64).ravel()
    edges = np.histogram_bin_edges(np.concatenate([real, generated]), bins=bins)
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for values, label in zip((real, generated), labels, strict=True):
        summary = f"n={values.size}, {values.mean():.2f} ± {values.std():.2f}"
        ax.hist(values, bins=edges, alpha=0.5, density=density, label=f"{label} ({summary})")
    ax.set_xlabel("value")
    ax.set_ylabel("density" if density else "count")
    ax.legend()
    if path is not None:
        save_figure(fig, path)
    return fig


def plot_qq(
    samples: Mapping[str, np.ndarray], mean: float, std: float, path: str | Path | None = None
) -> plt.Figure:
    """QQ plot of each labelled sample against N(mean, std): sorted values against the normal quantiles at
    (i - 0.5) / m, and the identity line."""
    import matplotlib.pyplot as plt
    from scipy import stats

    from vae_latent_study.plots import save_figure

    if not samples:
        raise ValueError("need at least one sample")
    fig, ax = plt.subplots(figsize=(5.5, 5.5))
    low, high = math.inf, -math.inf
    for label, values in samples.items():
        values = np.sort(np.asarray(values, dtype=np.float64).ravel())
        theory = stats.norm.ppf((np.arange(values.size) + 0.5) / values.size, loc=mean, scale=std)
        ax.plot(theory, values, ".", markersize=3, label=label)
        low, high = min(low, theory[0], values[0]), max(high, theory[-1], values[-1])
    ax.plot([low, high], [low, high], "k--", linewidth=1, label="identity")
    ax.set_xlabel(f"quantile of N({mean:g}, {std:g})")
    ax.set_ylabel("sample quantile")
    ax.legend()
    if path is not None:
        save_figure(fig, path)
    return fig


def plot_decoder_curve(
    code_grid: np.ndarray,
    decoded: np.ndarray,
    train_codes: np.ndarray | None = None,
    true_mean: float | None = None,
    true_std: float | None = None,
    path: str | Path | None = None,
) -> plt.Figure:
    """The decoder's output over a grid of 1-D codes; optionally the training codes as a rug and the true
    mean +- std as a band (a decoder that learned only the mean draws a flat line)."""
    import matplotlib.pyplot as plt

    from vae_latent_study.plots import save_figure

    code_grid = np.asarray(code_grid, dtype=np.float64).ravel()
    decoded = np.asarray(decoded, dtype=np.float64).ravel()
    if code_grid.shape != decoded.shape:
        raise ValueError(f"code_grid has {code_grid.size} points, decoded {decoded.size}")
    fig, ax = plt.subplots(figsize=(7, 4.5))
    if true_mean is not None and true_std is not None:
        ax.axhspan(true_mean - true_std, true_mean + true_std, color="0.9", label="true mean ± std")
        ax.axhline(true_mean, color="0.6", linewidth=1)
    ax.plot(code_grid, decoded, label="decoder")
    if train_codes is not None:
        codes = np.asarray(train_codes, dtype=np.float64).ravel()
        rug = np.full(codes.size, decoded.min())
        ax.plot(codes, rug, "|", color="k", markersize=12, label="training codes")
    ax.set_xlabel("code z")
    ax.set_ylabel("decoded value")
    ax.legend()
    if path is not None:
        save_figure(fig, path)
    return fig


# ---------------------------------------------------------------------------------------------- dataset


def build_dataset(name: str, config: Mapping[str, Any], threads: int = 1) -> datasets.Dataset:
    """A normal_1d dataset (`datasets.Dataset`) from its validated config: the draws as x (n,), no factors,
    the true mean and std as truth."""
    from vae_latent_study import datasets

    drawn = draw_dataset(*(config[key] for key in CONFIG_KEYS))
    n = len(drawn["x"])
    dataset = datasets.Dataset(
        # (n,), the seed's own shape: its loss compared (b,) data with (b, 1) reconstructions.
        x=drawn["x"],
        factors=np.zeros((n, 0)),
        factor_names=[],
        factor_types={},
        train=drawn["train"],
        test=drawn["test"],
        manifest={},
        truth={"mean": np.float64(drawn["true_mean"]), "std": np.float64(drawn["true_std"])},
    )
    dataset.manifest = datasets.manifest(dataset, name, config)
    return dataset


def config_messages(config: Mapping[str, Any], prefix: str = "", given: Mapping[str, Any] = {}) -> list[str]:
    """The spec's `config_messages`: `normal_1d_messages` (the config as written, `given`, is not needed)."""
    return normal_1d_messages(config, prefix=prefix)
