"""The reconstruction terms (`likelihood` options): their checks, defaults and arithmetic."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import keras
from keras import ops

from vae_latent_study.models.layers import ModelKind, _check_keys


def initial_log_variance(likelihood: Mapping[str, Any]) -> float:
    """The initial (per_feature, shared) or fixed log-variance of a Gaussian likelihood: `log_var`, or 2 log
    `sd` when the observation sd is given instead, else 0."""
    if likelihood.get("sd") is not None:
        return 2.0 * math.log(float(likelihood["sd"]))
    return float(likelihood.get("log_var", 0.0))


#: Reconstruction terms (`likelihood.type`) and their variants.
LIKELIHOODS = ("bernoulli", "binary_crossentropy", "squared_error", "gaussian")
SQUARED_ERROR_VARIANTS = ("faithful", "corrected")
VARIANCES = ("decoder_mean", "decoder", "per_feature", "shared", "fixed")
_LIKELIHOOD_KEYS = {
    "bernoulli": {"scale"},
    "binary_crossentropy": set(),
    "squared_error": {"variant"},
    "gaussian": {"variance", "log_var", "log_var_rate", "sd"},
}

#: The variances whose log-variance is a learned `LogVariance` weight: those `log_var_rate` applies to.
LEARNED_LOG_VARIANCES = ("per_feature", "shared")


def check_likelihood(likelihood: Mapping[str, Any] | None, kind: ModelKind) -> dict[str, Any]:
    """The likelihood options with defaults filled: seed 000's Bernoulli term when None."""
    options = dict(likelihood or {"type": "bernoulli"})
    kind_ = options.pop("type", "bernoulli")
    if kind_ not in LIKELIHOODS:
        raise ValueError(f"likelihood type must be one of {LIKELIHOODS}; got {kind_!r}")
    _check_keys(options, _LIKELIHOOD_KEYS[kind_], f"a {kind_!r} likelihood")
    if kind_ == "bernoulli":
        # The seed-000 VAE scales the per-pixel mean by the pixel count; its AE does not.
        options.setdefault("scale", "features" if kind == "vae" else 1.0)
    if kind_ == "squared_error":
        options.setdefault("variant", "corrected")
        if options["variant"] not in SQUARED_ERROR_VARIANTS:
            raise ValueError(
                f"squared_error variant must be one of {SQUARED_ERROR_VARIANTS}; got {options['variant']!r}"
            )
    if kind_ == "gaussian":
        if kind != "vae":
            raise ValueError("a gaussian likelihood with a variance needs a VAE")
        options.setdefault("variance", "decoder_mean")
        if options["variance"] not in VARIANCES:
            raise ValueError(f"gaussian variance must be one of {VARIANCES}; got {options['variance']!r}")
        if "log_var_rate" in options:
            # No default: a likelihood without it is the one every model had before it existed.
            rate = options["log_var_rate"]
            if (
                isinstance(rate, bool)
                or not isinstance(rate, int | float)
                or not (math.isfinite(rate) and rate > 0)
            ):
                raise ValueError(f"log_var_rate must be a positive number; got {rate!r}")
            if options["variance"] not in LEARNED_LOG_VARIANCES:
                raise ValueError(
                    f"log_var_rate applies to a learned log-variance ({LEARNED_LOG_VARIANCES}); "
                    f"variance is {options['variance']!r}"
                )
        if "sd" in options:
            # The observation sd, in the units the decoder works in (standardised units for `standardise`).
            sd = options["sd"]
            if isinstance(sd, bool) or not isinstance(sd, int | float) or not math.isfinite(sd) or sd <= 0:
                raise ValueError(f"gaussian sd must be a finite number > 0; got {sd!r}")
            if "log_var" in options:
                raise ValueError("give a gaussian likelihood's sd or its log_var, not both")
            if options["variance"] in ("decoder", "decoder_mean"):
                raise ValueError(
                    "a gaussian sd sets a per_feature, shared or fixed variance, not a decoder head"
                )
    return {"type": kind_, **options}


def _like_reconstruction(x: Any, reconstruction: Any) -> Any:
    """`x` with the rank of the reconstruction: 1-D data (b,) against a (b, 1) output, as Keras 2's
    compiled losses expanded it (a static shape check, so equal shapes emit no op)."""
    if len(x.shape) == len(reconstruction.shape) - 1:
        return ops.expand_dims(x, -1)
    return x


def _feature_axes(t: Any) -> tuple[int, ...]:
    return tuple(range(1, len(t.shape)))


def reconstruction_term(
    likelihood: Mapping[str, Any], x: Any, y_pred: Mapping[str, Any], scale: float = 1.0
) -> Any:
    """The reconstruction loss of a batch, reduced as the options say (see `check_likelihood`)."""
    kind = likelihood["type"]
    reconstruction = y_pred["reconstruction"]
    if kind == "squared_error" and likelihood["variant"] == "faithful":
        # Seed 002's Keras 2 arithmetic, kept on purpose: `mean_squared_error(data, reconstruction)` with
        # data (b,) and reconstruction (b, 1) broadcast to (b, b), comparing every reconstruction with every
        # sample of the batch, then `reduce_sum`. Keras 3's loss function would align the ranks first, so
        # the broadcast is written out here.
        return ops.sum(ops.mean(ops.square(reconstruction - x), axis=-1))
    x = _like_reconstruction(x, reconstruction)
    if kind == "bernoulli":
        return scale * ops.mean(keras.losses.binary_crossentropy(x, reconstruction))
    if kind == "binary_crossentropy":
        # Keras's BCE clips the prediction into [eps, 1 - eps] and not the target; see the report notes.
        return ops.mean(keras.losses.binary_crossentropy(x, reconstruction))
    if kind == "squared_error":
        # Per-sample sum of squares, then the batch mean: a per-sample loss like the KL's, so that the
        # uneven last batch weighs as much per sample as the others.
        return ops.mean(ops.sum(ops.square(x - reconstruction), axis=_feature_axes(x)))
    log_var = y_pred["reconstruction_log_var"]
    if likelihood["variance"] == "decoder_mean":
        # Seed 004: one variance per sample, the mean of the decoder's log-variance head over features.
        log_var = ops.mean(log_var, axis=_feature_axes(log_var), keepdims=True)
    terms = ops.square(x - reconstruction) * ops.exp(-log_var) + log_var + math.log(2.0 * math.pi)
    return 0.5 * ops.mean(ops.sum(terms, axis=_feature_axes(terms)))
