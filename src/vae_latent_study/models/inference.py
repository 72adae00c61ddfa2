"""Using a trained model: load it, encode data, decode codes, reconstruct, and seed 003's style transfer."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import keras
import numpy as np
from keras import ops

from vae_latent_study.io import reading
from vae_latent_study.models.autoencoders import AE, VAE, _require_condition, one_hot
from vae_latent_study.models.layers import PACKAGE


def _predict(network: keras.Model, x: np.ndarray | list[np.ndarray], batch_size: int, training: bool) -> Any:
    """`network.predict`, or with `training=True` a training-mode pass (BatchNorm on batch statistics,
    Dropout active) that leaves the model's state untouched: the moving statistics and noise states are
    carried from batch to batch in a copy only. `x` is a list [x, one-hot label] for a conditional network."""
    if not training:
        return network.predict(x, batch_size=batch_size, verbose=0)
    trainable = [v.value for v in network.trainable_variables]
    state = [v.value for v in network.non_trainable_variables]
    batches = []
    for start in range(0, len(x[0] if isinstance(x, list) else x), batch_size):
        rows = slice(start, start + batch_size)
        batch = [part[rows] for part in x] if isinstance(x, list) else x[rows]
        out, state = network.stateless_call(trainable, state, batch, training=True)
        batches.append(
            [ops.convert_to_numpy(o) for o in out]
            if isinstance(out, list | tuple)
            else [ops.convert_to_numpy(out)]
        )
    parts = [np.concatenate(p) for p in zip(*batches, strict=True)]
    return parts if isinstance(network.output, list | tuple) else parts[0]


def _inputs(model: VAE | AE, x: np.ndarray, label: Any | None) -> np.ndarray | list[np.ndarray]:
    """`x`, or [x, the one-hot label] for a conditional model; a label for a model without one, or none
    for a model with one, raises."""
    if label is None:
        if model.condition is not None:
            raise ValueError(
                f"{model.name} is conditional on {model.condition['factor']}: give each row's label"
            )
        return x
    condition = _require_condition(model)
    return [x, one_hot(label, len(condition["values"]), len(x))]


def data_input_shape(model: VAE | AE) -> tuple[int | None, ...]:
    """The shape of the data the model's encoder takes, batch axis first (its label input aside)."""
    shape = model.encoder.input_shape
    return tuple(shape[0] if model.condition is not None else shape)


def encode(
    model: VAE | AE,
    images: np.ndarray,
    batch_size: int = 256,
    training: bool = False,
    label: Any | None = None,
) -> dict[str, np.ndarray]:
    """Latent coordinates of `images`: `z_mean`, the second head (`z_log_sigma` or `z_log_var`, after the
    model's sampler) and a sample `z` (VAE) or `code` (AE). A conditional model needs each row's `label`
    (see `label_indices`); any other takes none.

    The VAE's `z` is one draw from the sampler, as the source's plots use; drawing it advances the sampler
    (unless `training=True`, which runs BatchNorm on batch statistics and Dropout without changing the model).
    """
    outputs = _predict(model.encoder, _inputs(model, images, label), batch_size, training)
    if isinstance(model, VAE):
        z_mean, h, z = outputs
        return {"z_mean": z_mean, model.scale_key: h, "z": z}
    return {"code": outputs}


def decode(
    model: VAE | AE,
    codes: np.ndarray,
    batch_size: int = 256,
    training: bool = False,
    label: Any | None = None,
) -> np.ndarray:
    """The decoded means of latent points `codes` (n, latent_dim): images (n, size, size, 1) in [0, 1] for
    conv36, (n, p) or (n, 1) for dense decoders. `training=True` decodes in training mode (BatchNorm on batch
    statistics, Dropout active) without changing the model. A conditional model decodes each code with its
    `label` (see `label_indices`; one integer for all): prior draws decoded with a label sample that class.
    """
    codes = np.asarray(codes, dtype="float32")
    out = _predict(model.decoder, _inputs(model, codes, label), batch_size, training)
    return out[0] if isinstance(out, list) else out


def decode_log_variance(
    model: VAE,
    codes: np.ndarray,
    batch_size: int = 256,
    training: bool = False,
    label: Any | None = None,
) -> np.ndarray:
    """The decoder's log-variance (per feature) at `codes`, for a VAE with a Gaussian likelihood."""
    if model.likelihood["type"] != "gaussian":
        raise ValueError("only a gaussian likelihood has a decoded variance")
    codes = np.asarray(codes, dtype="float32")
    return _predict(model.decoder, _inputs(model, codes, label), batch_size, training)[1]


def mean_code(model: VAE | AE, x: np.ndarray, batch_size: int = 256, label: Any | None = None) -> np.ndarray:
    """The deterministic code of `x`: the VAE's z_mean, the AE's code."""
    codes = encode(model, x, batch_size=batch_size, label=label)
    return codes["z_mean"] if isinstance(model, VAE) else codes["code"]


def reconstruct(
    model: VAE | AE, x: np.ndarray, batch_size: int = 256, label: Any | None = None
) -> np.ndarray:
    """The decoded mean of each row's mean code (`mean_code`), decoded with its own label if any."""
    return decode(model, mean_code(model, x, batch_size, label), batch_size=batch_size, label=label)


def style_transfer(
    model: VAE | AE, x: np.ndarray, source_label: Any, target_label: Any, batch_size: int = 256
) -> np.ndarray:
    """Seed 003's style transfer: the mean code of each source row `x` under its `source_label`, decoded
    with `target_label` (labels as `label_indices` gives them; one integer for all rows). With the target
    the source's own label this is `reconstruct`."""
    _require_condition(model)
    codes = mean_code(model, x, batch_size, source_label)
    return decode(model, codes, batch_size=batch_size, label=target_label)


def load_model(path: str | Path, compile: bool = True) -> VAE | AE:
    """A model written by `training.train.train_model`; a damaged file raises `io.ProjectFileError`."""
    with reading(path):
        model = keras.models.load_model(path, compile=compile)
        if not isinstance(model, VAE | AE):
            raise TypeError(f"expected a VAE or AE from {PACKAGE}.models, got {type(model).__name__}")
    return model
