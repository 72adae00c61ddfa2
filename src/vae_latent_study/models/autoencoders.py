"""The VAE and the AE (Keras models around an encoder and a decoder, with their losses), and what a model's
condition, labels and standardisation need."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, Literal

import keras
import numpy as np
from keras import ops

from vae_latent_study.models.layers import PACKAGE, SAMPLERS, ModelKind, Sampler, Standardise, _check_keys
from vae_latent_study.models.likelihoods import check_likelihood, reconstruction_term

KLReduction = Literal["mean", "sum"]


def check_condition(condition: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """A conditional model's label (seed 003), or None: `factor`, the categorical factor it conditions on,
    and `values`, that factor's values in the order of the one-hot columns (at least two, all distinct)."""
    if condition is None:
        return None
    _check_keys(condition, {"factor", "values"}, "a condition")
    values = [float(v) for v in condition["values"]]
    if len(values) < 2 or len(set(values)) != len(values):
        raise ValueError(f"a condition needs at least two distinct values; got {condition['values']!r}")
    return {"factor": str(condition["factor"]), "values": values}


def standardise_layers(model: VAE | AE) -> list[Standardise]:
    """The `Standardise` layers of a model's encoder and decoder (none unless built with `standardise`)."""
    return [
        layer
        for network in (model.encoder, model.decoder)
        for layer in network.layers
        if isinstance(layer, Standardise)
    ]


def set_standardisation(model: VAE | AE, x_train: np.ndarray) -> dict[str, list[float]]:
    """Set every `Standardise` layer of `model` to the mean and sd (1/n) per feature of `x_train` (rows
    first; (n,) is one feature) and return them. Raises ValueError for a model without such layers or a
    feature of sd 0 (it cannot be standardised)."""
    layers = standardise_layers(model)
    if not layers:
        raise ValueError("the model has no standardisation layers (model option `standardise`)")
    x = np.asarray(x_train, dtype=np.float64)
    x = x.reshape(len(x), -1)
    shift, scale = x.mean(axis=0), x.std(axis=0)
    if not np.all(scale > 0):
        raise ValueError("a feature of the training data is constant (sd 0): it cannot be standardised")
    for layer in layers:
        shape = tuple(layer.shift.shape)
        layer.shift.assign(shift.reshape(shape).astype(layer.shift.dtype))
        layer.scale.assign(scale.reshape(shape).astype(layer.scale.dtype))
    return {"shift": shift.tolist(), "scale": scale.tolist()}


def _batch_size(x: Any) -> Any:
    """Rows in a batch, as Keras weights its own loss tracker, so that epoch means stay comparable."""
    return ops.shape(x)[0]


def _reject_sample_weight(sample_weight: Any) -> None:
    if sample_weight is not None:
        raise ValueError("sample weights are not supported: every image counts once, as in the source")


REGULARIZATION_LOSSES = ("include", "ignore")
#: How the encoder and decoder run inside a training step (a model's `layers_while_training` option).
LAYER_MODES = ("inference", "training")


class _LayerMode:
    """`layers_while_training`: how the encoder and decoder are called inside a training step.

    None (unset, every model before the option existed) and `training`: as Keras 3's `fit` calls the model,
    `training=True`: BatchNorm normalises with the batch's statistics and updates its moving ones, Dropout
    drops. `inference`: as seed 002's custom Keras 2 `train_step`, which called its encoder and decoder
    without `training=`, so that under Keras 2's learning phase 0 they ran as at inference: BatchNorm
    normalises with its moving statistics, which then never change from their initial 0 and 1 (a learned
    affine map, gamma x / sqrt(1 + eps) + beta), and Dropout passes everything through. Gradients flow as
    usual; the sampler draws its noise either way. Evaluation and prediction are not affected.
    """

    def _set_layer_mode(self, layers_while_training: str | None) -> None:
        if layers_while_training is not None and layers_while_training not in LAYER_MODES:
            raise ValueError(
                f"layers_while_training must be one of {LAYER_MODES}; got {layers_while_training!r}"
            )
        self.layers_while_training = layers_while_training

    def _networks_training(self, training: bool | None) -> bool | None:
        # Only a training call changes: inference and prediction calls come with training False or None.
        return False if training and self.layers_while_training == "inference" else training

    def _layer_mode_config(self) -> dict[str, Any]:
        # Left out when unset, so that the other models' saved configs stay as they were.
        return (
            {}
            if self.layers_while_training is None
            else {"layers_while_training": self.layers_while_training}
        )


class _Regularized:
    """Adds the layers' activity-regularisation losses, which a `compute_loss` override otherwise drops."""

    def _regularization(self, x: Any) -> Any | None:
        if self.regularization_losses == "ignore" or not self.losses:
            return None
        total = ops.sum(ops.stack([ops.cast(loss, "float32") for loss in self.losses]))
        self.regularization_loss_tracker.update_state(total, sample_weight=_batch_size(x))
        return total


class _Conditional:
    """What a conditional model (`condition`: see `check_condition`) does with its label: a conditional
    model is called on (x, one-hot label), the encoder on [x, label] and the decoder on [code, label];
    any other model on x alone, exactly as before the option existed."""

    def _set_condition(self, condition: Mapping[str, Any] | None) -> None:
        self.condition = check_condition(condition)
        wanted = 1 if self.condition is None else 2
        for name, network in (("encoder", self.encoder), ("decoder", self.decoder)):
            if len(network.inputs) != wanted:
                raise ValueError(
                    f"the {name} takes {len(network.inputs)} inputs; a "
                    f"{'non-' if self.condition is None else ''}conditional model's takes {wanted}"
                )

    def split_inputs(self, inputs: Any) -> tuple[Any, Any | None]:
        """(x, one-hot label) of what the model is called or trained on; the label is None without one."""
        if self.condition is None:
            return inputs, None
        if not isinstance(inputs, list | tuple) or len(inputs) != 2:
            raise ValueError("a conditional model takes (x, one-hot label)")
        return inputs[0], inputs[1]

    def _labelled(self, x: Any, label: Any | None) -> Any:
        return x if label is None else [x, label]

    def _condition_config(self) -> dict[str, Any]:
        # Left out without a condition, so that the other models' saved configs stay as they were.
        return {} if self.condition is None else {"condition": dict(self.condition)}


@keras.saving.register_keras_serializable(package=PACKAGE)
class VAE(_LayerMode, _Conditional, _Regularized, keras.Model):
    """Encoder + sampler + decoder trained on reconstruction + beta x KL; by default seed 000's loss,
    36*36 x mean BCE + beta x KL.

    Calling the model returns a dict with `z_mean`, the second head (`z_log_sigma` or `z_log_var`, after
    the sampler), `z`, `reconstruction` and, for a Gaussian likelihood, `reconstruction_log_var`. The target
    is always the input itself. History keys: `loss` (total), `reconstruction_loss`, `kl_loss` (and
    `val_*`), plus `regularization_loss` when layers carry activity regularisers. A conditional VAE
    (`condition`) is called on (x, one-hot label) and reconstructs x.
    """

    def __init__(
        self,
        encoder: keras.Model,
        decoder: keras.Model,
        kl_reduction: KLReduction = "mean",
        beta: float = 1.0,
        sampler: Sampler = "log_sigma",
        likelihood: Mapping[str, Any] | None = None,
        regularization_losses: str = "include",
        condition: Mapping[str, Any] | None = None,
        layers_while_training: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if kl_reduction not in ("mean", "sum"):
            raise ValueError(f"kl_reduction must be 'mean' or 'sum'; got {kl_reduction!r}")
        if beta < 0:
            raise ValueError(f"beta must be non-negative; got {beta}")
        if sampler not in SAMPLERS:
            raise ValueError(f"sampler must be one of {SAMPLERS}; got {sampler!r}")
        if regularization_losses not in REGULARIZATION_LOSSES:
            raise ValueError(f"regularization_losses must be one of {REGULARIZATION_LOSSES}")
        self.encoder = encoder
        self.decoder = decoder
        self._set_condition(condition)
        self._set_layer_mode(layers_while_training)
        self.kl_reduction = kl_reduction
        self.beta = float(beta)
        self.sampler = sampler
        self.scale_key = "z_log_var" if sampler == "log_var" else "z_log_sigma"
        self.likelihood = check_likelihood(likelihood, "vae")
        self.regularization_losses = regularization_losses
        mean_shape = (
            decoder.output_shape[0] if self.likelihood["type"] == "gaussian" else decoder.output_shape
        )
        scale = self.likelihood.get("scale", 1.0)
        # The seed multiplies the per-pixel mean by 36 * 36, i.e. the pixel count of one image.
        self.reconstruction_scale = float(math.prod(mean_shape[1:]) if scale == "features" else scale)
        self.reconstruction_loss_tracker = keras.metrics.Mean(name="reconstruction_loss")
        self.kl_loss_tracker = keras.metrics.Mean(name="kl_loss")
        if regularization_losses == "include" and _has_activity_regularizer(encoder, decoder):
            self.regularization_loss_tracker = keras.metrics.Mean(name="regularization_loss")

    def call(self, inputs: Any, training: bool | None = None) -> dict[str, Any]:
        x, label = self.split_inputs(inputs)
        training = self._networks_training(training)
        z_mean, h, z = self.encoder(self._labelled(x, label), training=training)
        decoded = self.decoder(self._labelled(z, label), training=training)
        out = {"z_mean": z_mean, self.scale_key: h, "z": z}
        if self.likelihood["type"] == "gaussian":
            out["reconstruction"], out["reconstruction_log_var"] = decoded
        else:
            out["reconstruction"] = decoded
        return out

    def loss_terms(self, x: Any, y_pred: Mapping[str, Any]) -> tuple[Any, Any]:
        """(reconstruction, weighted KL) for inputs `x` and the model's outputs `y_pred`: batch means, or
        for the faithful squared error the batch sums that seed 002's gradient saw."""
        reconstruction = reconstruction_term(self.likelihood, x, y_pred, self.reconstruction_scale)
        z_mean, h = y_pred["z_mean"], y_pred[self.scale_key]
        # For `log_sigma` deliberately the source's formula: it plugs z_log_sigma in as if it were
        # log(sigma^2), although the sampler uses exp(z_log_sigma) as sigma. Kept as is so that the study
        # reproduces the source. For `log_var` the same expression is the standard KL.
        kl = -0.5 * (1.0 + h - ops.square(z_mean) - ops.exp(h))
        kl = ops.mean(kl, axis=-1) if self.kl_reduction == "mean" else ops.sum(kl, axis=-1)
        if self.likelihood["type"] == "squared_error" and self.likelihood["variant"] == "faithful":
            # Seed 002 adds the scalar reconstruction to the per-sample KL vector and differentiates that
            # vector, i.e. its sum: batch x reconstruction + sum of the KL.
            batch = ops.cast(_batch_size(x), reconstruction.dtype)
            return batch * reconstruction, self.beta * ops.sum(kl)
        # The seed added this per-image vector to the scalar reconstruction; its batch mean is what it logged.
        return reconstruction, self.beta * ops.mean(kl)

    def compute_loss(
        self,
        x: Any = None,
        y: Any = None,
        y_pred: Mapping[str, Any] | None = None,
        sample_weight: Any = None,
        training: bool = True,
    ) -> Any:
        _reject_sample_weight(sample_weight)
        x, _ = self.split_inputs(x)
        reconstruction, kl = self.loss_terms(x, y_pred)
        # Same weights as Keras's own `loss` tracker, so that logged loss == reconstruction + kl per epoch.
        self.reconstruction_loss_tracker.update_state(reconstruction, sample_weight=_batch_size(x))
        self.kl_loss_tracker.update_state(kl, sample_weight=_batch_size(x))
        total = reconstruction + kl
        regularization = self._regularization(x)
        return total if regularization is None else total + regularization

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "encoder": keras.saving.serialize_keras_object(self.encoder),
            "decoder": keras.saving.serialize_keras_object(self.decoder),
            "kl_reduction": self.kl_reduction,
            "beta": self.beta,
            "sampler": self.sampler,
            "likelihood": dict(self.likelihood),
            "regularization_losses": self.regularization_losses,
            **self._condition_config(),
            **self._layer_mode_config(),
        }

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> VAE:
        config = dict(config)
        config["encoder"] = keras.saving.deserialize_keras_object(config["encoder"])
        config["decoder"] = keras.saving.deserialize_keras_object(config["decoder"])
        return cls(**config)


@keras.saving.register_keras_serializable(package=PACKAGE)
class AE(_LayerMode, _Conditional, _Regularized, keras.Model):
    """Deterministic autoencoder; by default seed 000's AE loss, the mean binary cross-entropy over pixels.

    Calling the model returns a dict with `code` and `reconstruction`. History keys: `loss`,
    `reconstruction_loss` (equal unless layers carry activity regularisers, then also
    `regularization_loss`), kept so that both models log the same names. A conditional AE (`condition`)
    is called on (x, one-hot label) and reconstructs x.
    """

    def __init__(
        self,
        encoder: keras.Model,
        decoder: keras.Model,
        likelihood: Mapping[str, Any] | None = None,
        regularization_losses: str = "include",
        condition: Mapping[str, Any] | None = None,
        layers_while_training: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if regularization_losses not in REGULARIZATION_LOSSES:
            raise ValueError(f"regularization_losses must be one of {REGULARIZATION_LOSSES}")
        self.encoder = encoder
        self.decoder = decoder
        self._set_condition(condition)
        self._set_layer_mode(layers_while_training)
        self.likelihood = check_likelihood(likelihood, "ae")
        self.regularization_losses = regularization_losses
        scale = self.likelihood.get("scale", 1.0)
        self.reconstruction_scale = float(
            math.prod(decoder.output_shape[1:]) if scale == "features" else scale
        )
        self.reconstruction_loss_tracker = keras.metrics.Mean(name="reconstruction_loss")
        if regularization_losses == "include" and _has_activity_regularizer(encoder, decoder):
            self.regularization_loss_tracker = keras.metrics.Mean(name="regularization_loss")

    def call(self, inputs: Any, training: bool | None = None) -> dict[str, Any]:
        x, label = self.split_inputs(inputs)
        training = self._networks_training(training)
        code = self.encoder(self._labelled(x, label), training=training)
        return {"code": code, "reconstruction": self.decoder(self._labelled(code, label), training=training)}

    def compute_loss(
        self,
        x: Any = None,
        y: Any = None,
        y_pred: Mapping[str, Any] | None = None,
        sample_weight: Any = None,
        training: bool = True,
    ) -> Any:
        _reject_sample_weight(sample_weight)
        x, _ = self.split_inputs(x)
        if self.likelihood == {"type": "bernoulli", "scale": 1.0}:
            # Unlike the VAE's, the source's AE loss is not rescaled by the pixel count.
            reconstruction = ops.mean(keras.losses.binary_crossentropy(x, y_pred["reconstruction"]))
        else:
            reconstruction = reconstruction_term(self.likelihood, x, y_pred, self.reconstruction_scale)
        self.reconstruction_loss_tracker.update_state(reconstruction, sample_weight=_batch_size(x))
        regularization = self._regularization(x)
        return reconstruction if regularization is None else reconstruction + regularization

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "encoder": keras.saving.serialize_keras_object(self.encoder),
            "decoder": keras.saving.serialize_keras_object(self.decoder),
            "likelihood": dict(self.likelihood),
            "regularization_losses": self.regularization_losses,
            **self._condition_config(),
            **self._layer_mode_config(),
        }

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> AE:
        config = dict(config)
        config["encoder"] = keras.saving.deserialize_keras_object(config["encoder"])
        config["decoder"] = keras.saving.deserialize_keras_object(config["decoder"])
        return cls(**config)


def _has_activity_regularizer(*networks: keras.Model) -> bool:
    return any(
        getattr(layer, "activity_regularizer", None) is not None for net in networks for layer in net.layers
    )


# Labels: a conditional model takes, wherever it takes data or codes, each row's label as its position in
# the model's `condition["values"]` (an integer array, or one integer for every row); the one-hot columns
# are made here.
def label_indices(condition: Mapping[str, Any] | VAE | AE, values: Any) -> np.ndarray:
    """The positions of factor `values` among a condition's values (a model's, or a `check_condition`
    mapping): the labels `encode` and `decode` take. A value that is not one of them raises."""
    if isinstance(condition, VAE | AE):
        condition = _require_condition(condition)
    position = {float(v): i for i, v in enumerate(condition["values"])}
    values = np.asarray(values, dtype=np.float64)
    unknown = sorted({float(v) for v in values.ravel()} - set(position))
    if unknown:
        raise ValueError(
            f"{condition['factor']} values {unknown[:5]} are not among the model's {condition['values']}"
        )
    return np.array([position[float(v)] for v in values.ravel()], dtype=np.int64).reshape(values.shape)


def one_hot(labels: Any, classes: int, n: int) -> np.ndarray:
    """(n, classes) float32 one-hot rows of integer `labels` in [0, classes): an array of n, or one integer
    for all n rows."""
    labels = np.asarray(labels)
    if labels.dtype.kind not in "iu":
        raise ValueError(
            "labels are integer positions among the condition's values (see label_indices); "
            f"got {labels.dtype}"
        )
    labels = np.broadcast_to(labels, (n,)) if labels.ndim == 0 else labels
    if labels.shape != (n,):
        raise ValueError(f"{labels.shape[0] if labels.ndim else 1} labels for {n} rows")
    if n and (labels.min() < 0 or labels.max() >= classes):
        raise ValueError(f"labels must lie in [0, {classes}); got {labels.min()} .. {labels.max()}")
    return np.eye(classes, dtype=np.float32)[labels]


def _require_condition(model: VAE | AE) -> dict[str, Any]:
    if model.condition is None:
        raise ValueError(f"{model.name} is not conditional: it takes no label")
    return model.condition


def model_kind(model: VAE | AE) -> ModelKind:
    """`"vae"` or `"ae"`: the kind of a built or loaded model."""
    if isinstance(model, VAE):
        return "vae"
    if isinstance(model, AE):
        return "ae"
    raise TypeError(f"expected a VAE or AE, got {type(model).__name__}")
