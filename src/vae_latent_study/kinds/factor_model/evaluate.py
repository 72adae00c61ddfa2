"""Seed 004's evaluation of one trained model against the truth of its factor-model dataset.

Apart from `vae_latent_study.kinds.factor_model.data`, so that the dataset's build digest (what rebuilds a
dataset) holds the simulation only: `learned_model` and `evaluate_recovery` import the models and Keras.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from vae_latent_study.evaluation.runner import Context

from vae_latent_study.kinds.factor_model.data import (
    FAMILIES,
    GROUND_TRUTH,
    N_NODES,
    Z_LIMIT,
    GFunction,
    _finish,
    code_map,
    expected_variance_cost,
    fold_check,
    function_error,
    heldout_nll,
    latent_recovery,
    log_marginal,
    plot_code_histogram,
    plot_g_curves,
    plot_noise_sd,
    plot_reconstruction_scatter,
    posterior_mean,
    true_g_function,
    variance_ceiling,
    variance_recovery,
)

logger = logging.getLogger(__name__)


# -------------------------------------------------------------------------------- one trained model

#: The seed's targets: the code's corr with Z within 0.01 of the oracle's; >= 90% of the s_j within 10%.
CORR_GAP_TARGET = 0.01
S_TOLERANCE = 0.1
S_SHARE_TARGET = 0.9
#: Figures of `evaluate_model`: the seed's three and the learned against the true noise sds.
MODEL_FIGURES = ("reconstruction", "codes", "g_curves", "noise_sd")
#: Variance options whose learned sd is one value for all features.
SHARED_VARIANCES = ("decoder_mean", "shared", "fixed")


@dataclass(frozen=True)
class LearnedModel:
    """What the evaluation reads from a trained model with a 1-d code, as NumPy functions.

    `encode`: rows x (n, p) -> codes (n,) (the VAE's z_mean, the AE's code); `decode`: codes (m,) -> means
    (m, p); `log_variance`: codes (m,) -> the log noise variance (m, p) as the model's likelihood uses it
    (for `decoder_mean` the head's mean over features, repeated), or None when the likelihood has no
    variance. `variance` names the likelihood's variance option (None without one).
    """

    kind: str
    variance: str | None
    encode: Callable[[np.ndarray], np.ndarray]
    decode: GFunction
    log_variance: GFunction | None


def learned_model(model: Any) -> LearnedModel:
    """The `LearnedModel` view of a VAE or AE of `models`; raises ValueError unless its code is 1-d."""
    from vae_latent_study.models import (  # Keras only when a trained model is evaluated
        autoencoders,
        inference,
    )

    latent_dim = int(model.decoder.inputs[0].shape[-1])
    if latent_dim != 1:
        raise ValueError(
            f"the factor model has one latent variable: this model's code has latent_dim={latent_dim}, "
            "but the evaluation (code map, quadrature over the code's prior) needs latent_dim=1"
        )
    kind = autoencoders.model_kind(model)
    likelihood = dict(getattr(model, "likelihood", {}))
    gaussian = kind == "vae" and likelihood.get("type") == "gaussian"
    variance = likelihood.get("variance") if gaussian else None

    def codes(u: np.ndarray) -> np.ndarray:
        return np.asarray(u, dtype=np.float32).reshape(-1, 1)

    def encode(x: np.ndarray) -> np.ndarray:
        out = inference.encode(model, np.asarray(x, dtype=np.float32))
        return np.asarray(out["z_mean" if kind == "vae" else "code"], dtype=np.float64).reshape(-1)

    def decode(u: np.ndarray) -> np.ndarray:
        return np.asarray(inference.decode(model, codes(u)), dtype=np.float64)

    def log_variance(u: np.ndarray) -> np.ndarray:
        log_var = np.asarray(inference.decode_log_variance(model, codes(u)), dtype=np.float64)
        if variance == "decoder_mean":
            # Seed 004's loss: one variance per sample, the head's log-variance averaged over features.
            log_var = np.broadcast_to(log_var.mean(axis=1, keepdims=True), log_var.shape)
        return log_var

    return LearnedModel(kind, variance, encode, decode, log_variance if gaussian else None)


def _plain(value: Any, key: str = "") -> Any:
    """JSON types for a payload (NumPy scalars and arrays converted); a NaN or infinity raises, naming it."""
    if isinstance(value, Mapping):
        return {str(k): _plain(v, f"{key}.{k}" if key else str(k)) for k, v in value.items()}
    if isinstance(value, np.ndarray | list | tuple):
        return [_plain(v, f"{key}[{i}]") for i, v in enumerate(np.asarray(value, dtype=object).tolist())]
    if isinstance(value, bool | np.bool_):
        return bool(value)
    if isinstance(value, int | np.integer):
        return int(value)
    if isinstance(value, float | np.floating):
        if not math.isfinite(value):
            raise ValueError(f"the evaluation gave a non-finite {key} ({value}): the model is broken")
        return float(value)
    return value


def _truth(dataset: Any) -> dict[str, Any]:
    """The truth arrays of a factor_model dataset, with the g parameters as `evaluate_g` takes them."""
    missing = [name for name in GROUND_TRUTH if name not in dataset.truth]
    if dataset.kind != "factor_model" or missing:
        raise ValueError(f"not a factor_model dataset (kind {dataset.kind!r}; truth lacks {missing})")
    names = dataset.manifest.get("family_names", list(FAMILIES))
    if list(names) != list(FAMILIES):
        raise ValueError(f"the dataset's family codes index {names}, this code's FAMILIES are {FAMILIES}")
    return {name: np.asarray(dataset.truth[name]) for name in GROUND_TRUTH}


def _not_applicable_figure(title: str, reason: str, path: str | Path | None):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5.5, 3))
    ax.text(0.5, 0.5, reason, ha="center", va="center", wrap=True)
    ax.set(title=title)
    ax.axis("off")
    return _finish(fig, path)


def model_evaluation(
    learned: LearnedModel,
    dataset: Any,
    figure_paths: Mapping[str, str | Path] | None = None,
    method: str = "affine",
) -> dict[str, Any]:
    """The numbers of one trained model on a factor_model dataset (see `evaluate_model`), and its figures.

    `dataset` is a `datasets.Dataset`; `figure_paths` maps each of MODEL_FIGURES to a path (None: none
    drawn). Returns the payload without identity or provenance, in JSON types.
    """
    truth = _truth(dataset)
    params = {k: truth[k] for k in ("family", "a", "b", "c")}
    Z, s, z_grid, g_grid = truth["Z"], truth["s"], truth["z_grid"], truth["g_grid"]
    x = np.asarray(dataset.x, dtype=np.float64)
    train, test = dataset.train, dataset.test
    X_train, X_test = x[train], x[test]
    p = x.shape[1]

    oracle_train = posterior_mean(X_train, params, s)["mean"]
    oracle_test = posterior_mean(X_test, params, s)["mean"]
    code_train, code_test = learned.encode(X_train), learned.encode(X_test)
    latent = latent_recovery(code_train, Z[train], code_test, Z[test], oracle_train, oracle_test)
    latent["fold"] = fold_check(code_train, Z[train])

    # The decoder read at the code of each true z: the learned g_j as functions of Z, no interpolation.
    code_on_grid = code_map(code_train, Z[train], z_grid, method=method)
    learned_g = learned.decode(code_on_grid)
    if learned_g.shape != g_grid.shape:
        raise ValueError(f"the model decodes {learned_g.shape[1:]} features; the dataset has {p}")
    errors = function_error(learned_g, g_grid, z_grid, s)
    slope, intercept = np.polyfit(z_grid, code_on_grid, 1)
    by_family = {
        FAMILIES[int(code)]: float(np.median(errors["per_feature"][truth["family"] == code]))
        for code in np.unique(truth["family"])
    }
    functions = {
        **{k: errors[k] for k in ("median", "p90", "max", "mean")},
        "median_by_family": by_family,
        "per_feature": errors["per_feature"],
        "code_map": {"method": method, "intercept": float(intercept), "slope": float(slope)},
    }

    pooled = float(np.sqrt(np.mean(s**2)))
    if learned.log_variance is not None:
        # The variance at the training codes, averaged before the root: for z-dependent heads the sd of the
        # mixture over the data, and exactly the head's value where it does not depend on z.
        variance = np.exp(learned.log_variance(code_train))
        learned_s = np.sqrt(variance.mean(axis=0))
        shared = learned.variance in SHARED_VARIANCES
        reported_s = np.array([float(np.sqrt(variance.mean()))]) if shared else learned_s
        recovery = variance_recovery(reported_s[0] if shared else learned_s, s, tolerance=S_TOLERANCE)

        def learned_sd(u: np.ndarray) -> np.ndarray:
            return np.exp(0.5 * learned.log_variance(u))

        nll = heldout_nll(X_test, learned.decode, learned_sd, params, s)
        noise = {
            "variance_option": learned.variance,
            "learned_s": reported_s,
            "shared_s": float(reported_s[0]) if shared else None,
            **{k: v for k, v in recovery.items() if k != "shared"},
        }
    else:
        learned_s = None
        cost = float(expected_variance_cost(pooled, s).sum())
        noise = {
            "variance_option": None,
            "learned_s": None,
            "shared_s": None,
            "n_features": p,
            **dict.fromkeys(("share_within", "n_within", "ratio_median", "ratio_min", "ratio_max")),
            "expected_cost_learned": None,
            "pooled_optimal_s": pooled,
            "expected_cost_pooled_optimal": cost,
        }
        nll_true = float(-log_marginal(X_test, true_g_function(params), s).mean())
        nll_pooled = float(-log_marginal(X_test, true_g_function(params), pooled).mean())
        nll = {
            "n_rows": int(len(test)),
            "nll_learned": None,
            "nll_gap": None,
            "nll_true": nll_true,
            "nll_true_g_pooled_s": nll_pooled,
            "pooled_cost": nll_pooled - nll_true,
        }

    # Beside the model's share: what an estimator with the true g and Z reaches on the same training rows.
    noise["ceiling"] = variance_ceiling(X_train, params, Z[train], s, tolerance=S_TOLERANCE)

    floor = float(np.mean(s**2))
    mse = float(np.mean((learned.decode(code_test) - X_test) ** 2))
    reconstruction = {"test_mse": mse, "noise_floor": floor, "ratio": mse / floor}

    share = noise["share_within"]
    targets = {
        "corr_gap_target": CORR_GAP_TARGET,
        "corr_gap_test": latent["gap_test"],
        "corr_met_test": latent["gap_test"] <= CORR_GAP_TARGET,
        "corr_gap_train": latent["gap_train"],
        "corr_met_train": latent["gap_train"] <= CORR_GAP_TARGET,
        "s_tolerance": S_TOLERANCE,
        "s_share_target": S_SHARE_TARGET,
        "s_share_within": share,
        "s_share_ceiling": noise["ceiling"]["share_within_rows"],
        "s_met": None if share is None else share >= S_SHARE_TARGET,
    }

    if figure_paths is not None:
        _draw_model_figures(
            figure_paths,
            X_train,
            learned.decode(code_train),
            code_train,
            Z[train],
            z_grid,
            learned_g,
            g_grid,
            None if learned.log_variance is None else reported_s,
            s,
        )
    return _plain(
        {
            "latent": latent,
            "functions": functions,
            "noise": noise,
            "heldout_nll": nll,
            "reconstruction": reconstruction,
            "targets": targets,
        }
    )


def _draw_model_figures(
    paths: Mapping[str, str | Path],
    X_train: np.ndarray,
    reconstructed: np.ndarray,
    code_train: np.ndarray,
    Z_train: np.ndarray,
    z_grid: np.ndarray,
    learned_g: np.ndarray,
    g_grid: np.ndarray,
    learned_s: np.ndarray | None,
    s: np.ndarray,
) -> None:
    import matplotlib.pyplot as plt

    unknown, missing = set(paths) - set(MODEL_FIGURES), set(MODEL_FIGURES) - set(paths)
    if unknown or missing:
        raise ValueError(
            f"figure_paths needs exactly {list(MODEL_FIGURES)}: {sorted(missing)} missing, "
            f"{sorted(unknown)} unknown"
        )
    figures = [
        plot_reconstruction_scatter(X_train, reconstructed, paths["reconstruction"]),
        plot_code_histogram(code_train, Z_train, paths["codes"]),
        plot_g_curves(z_grid, learned_g, g_grid, s=s, path=paths["g_curves"]),
    ]
    if learned_s is None:
        reason = "This model's likelihood has no noise variance to compare with the true s_j."
        figures.append(_not_applicable_figure("Noise sd per feature", reason, paths["noise_sd"]))
    else:
        learned = learned_s[0] if learned_s.size == 1 else learned_s
        figures.append(plot_noise_sd(learned, s, tolerance=S_TOLERANCE, path=paths["noise_sd"]))
    for fig in figures:
        plt.close(fig)


def evaluate_recovery(ctx: Context) -> dict[str, Any]:
    """Evaluate one trained model (latent_dim 1) on its factor_model dataset: its figures
    (`ctx.outputs`: `reconstruction`, `codes`, `g_curves`, `noise_sd`) and its numbers, returned
    (`evaluation.runner` writes them, `recovery.json`).

    Numbers:
    - `latent`: `latent_recovery` of the code (z_mean) against Z, beside the oracle E[Z | x], and `fold`
      (`fold_check`: R^2 of Z and of |Z| on a cubic of the training codes; a folded code is U-shaped in Z);
    - `functions`: `function_error` (units of s_j) of the decoded mean at T(z), T the affine `code_map`
      of the training codes onto Z, with the per-feature errors and the map;
    - `noise`: the learned s_j (per feature, or the one shared value of `decoder_mean`, `shared`, `fixed`:
      the root of the mean variance over the training codes) and `variance_recovery` against the true s,
      with `ceiling` (`variance_ceiling`: the share within 10% of s_hat_j from the true g and Z on the
      training rows, and its expectation);
    - `heldout_nll`: mean -log p(x) per test row of the learned model, by quadrature over its own code
      prior N(0, 1), beside the true model's (`heldout_nll`);
    - `reconstruction`: test MSE of decode(z_mean) against the floor mean(s_j^2);
    - `targets`: the seed's targets (corr gap <= 0.01; >= 90% of s_j within 10%).
    Values that do not apply (no likelihood variance: an AE, or a VAE without a Gaussian likelihood) are
    null. The same inputs give the same JSON bytes.
    """
    from vae_latent_study.models import inference

    dataset = ctx.dataset
    learned = learned_model(inference.load_model(ctx.input("model"), compile=False))
    numbers = model_evaluation(learned, dataset, ctx.outputs)
    notes = {
        "functions": "sqrt(E_Z[(decoded mean at T(Z) - g_j(Z))^2]) / s_j, T the affine map of the training "
        "codes onto the true Z",
        "heldout_nll": "nats per test row; the learned model integrates over its own code, prior N(0, 1)",
        "reconstruction": "mean squared error of decode(z_mean) on the test rows; floor = mean(s_j^2)",
    }
    if learned.variance in SHARED_VARIANCES:
        notes["noise"] = (
            f"variance {learned.variance!r} gives one noise sd for all features: learned_s holds "
            "sqrt(mean of its variance over the training codes)"
        )
    elif learned.variance == "decoder":
        notes["noise"] = "learned_s[j] = sqrt(mean of exp(log_var_j) over the training codes)"
    return {
        "latent_dim": 1,
        "n_train": int(len(dataset.train)),
        "n_test": int(len(dataset.test)),
        **numbers,
        "settings": {
            "code_map": numbers["functions"]["code_map"]["method"],
            "z_limit": Z_LIMIT,
            "n_nodes": N_NODES,
        },
        "notes": notes,
    }
