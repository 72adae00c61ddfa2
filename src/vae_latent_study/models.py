"""The source study's VAE and autoencoder in backend-agnostic Keras 3, with their losses and optimisers."""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

import keras
import numpy as np
from keras import ops

from vae_latent_study.io import reading

PACKAGE = "vae_latent_study"

ModelKind = Literal["vae", "ae"]
KLReduction = Literal["mean", "sum"]

#: The seed's optimisers. The VAE cell decays the step size; the AE cell builds a schedule (decay 0.98) but
#: then compiles a plain `Adam()`, whose learning rate is Keras's default 1e-3, so the AE's is constant.
SEED_SCHEDULES: dict[str, dict[str, Any]] = {
    "vae": {
        "type": "exponential_decay",
        "learning_rate": 1e-3,
        "decay_steps": 30,
        "decay_rate": 0.99,
        "staircase": False,
    },
    "ae": {"type": "constant", "learning_rate": 1e-3},
}

# Per-layer initializer seeds are drawn from (seed, index); the sampler uses its own index so that adding
# a layer never shifts the noise stream.
_SAMPLER_SEED_INDEX = 1000


def _derive_seed(seed: int | None, index: int) -> int | None:
    """An independent 31-bit seed for item `index` of a model built with `seed` (None stays None)."""
    if seed is None:
        return None
    state = np.random.SeedSequence([int(seed), index]).generate_state(1, dtype=np.uint32)[0]
    # 31 bits fit every backend's seed dtype (TF int64, JAX uint32, torch int64).
    return int(state) & 0x7FFFFFFF


class _Initializers:
    """Hands out seeded Glorot-uniform kernels (the Keras default distribution) in layer order."""

    def __init__(self, seed: int | None) -> None:
        self.seed = seed
        self.index = 0

    def kernel(self) -> str | keras.initializers.Initializer:
        """The next layer's kernel initializer."""
        self.index += 1
        if self.seed is None:
            return "glorot_uniform"
        return keras.initializers.GlorotUniform(seed=_derive_seed(self.seed, self.index))


def _check_image_size(image_size: int) -> None:
    # The decoder starts from a (size/9)^2 grid and upsamples by 3 twice, so only multiples of 9 round-trip.
    if image_size <= 0 or image_size % 9:
        raise ValueError(f"image_size must be a positive multiple of 9 (the seed's is 36); got {image_size}")


@keras.saving.register_keras_serializable(package=PACKAGE)
class Sampling(keras.layers.Layer):
    """Draws z = z_mean + exp(z_log_sigma) * eps with eps ~ N(0, I), as the seed's `Sample` Lambda."""

    def __init__(self, seed: int | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)

    def call(self, inputs: list[Any]) -> Any:
        z_mean, z_log_sigma = inputs
        epsilon = keras.random.normal(ops.shape(z_mean), dtype=z_mean.dtype, seed=self.seed_generator)
        # The seed treats the second head as a log standard deviation here (but as a log variance in the KL).
        return z_mean + ops.exp(z_log_sigma) * epsilon

    def compute_output_shape(self, input_shape: list[tuple[int | None, ...]]) -> tuple[int | None, ...]:
        return tuple(input_shape[0])

    def save_own_variables(self, store: Any) -> None:
        # Keras leaves seed-generator state out of weight files; without it a resumed run draws different
        # noise from an uninterrupted one, so the state is saved with the (otherwise empty) weights.
        super().save_own_variables(store)
        store["seed_generator_state"] = self.seed_generator.state

    def load_own_variables(self, store: Any) -> None:
        self.seed_generator.state.assign(store["seed_generator_state"])

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "seed": self.seed}


def build_encoder(
    kind: ModelKind = "vae", latent_dim: int = 3, image_size: int = 36, seed: int | None = 0
) -> keras.Model:
    """The seed's convolutional encoder: outputs [z_mean, z_log_sigma, z] (VAE) or the code (AE)."""
    if kind not in ("vae", "ae"):
        raise ValueError(f"kind must be 'vae' or 'ae'; got {kind!r}")
    _check_image_size(image_size)
    init = _Initializers(seed)
    layers = keras.layers
    inputs = keras.Input(shape=(image_size, image_size, 1), name="image")
    x = layers.Conv2D(
        32, 3, strides=1, padding="same", activation="relu", kernel_initializer=init.kernel(), name="conv0"
    )(inputs)
    # The seed's `gen_block(x, units)`: a 3x3 convolution then a 2x2 max-pool (its dropout is commented out).
    for block, units in enumerate((64, 128, 64), start=1):
        x = layers.Conv2D(
            units, 3, padding="same", activation="relu", kernel_initializer=init.kernel(), name=f"conv{block}"
        )(x)
        x = layers.MaxPooling2D(2, strides=2, name=f"pool{block}")(x)
    x = layers.Flatten(name="flatten")(x)
    h = layers.Dense(64, activation="relu", kernel_initializer=init.kernel(), name="hidden")(x)
    if kind == "ae":
        code = layers.Dense(latent_dim, kernel_initializer=init.kernel(), name="code")(h)
        return keras.Model(inputs, code, name="encoder")
    z_mean = layers.Dense(latent_dim, kernel_initializer=init.kernel(), name="z_mean")(h)
    z_log_sigma = layers.Dense(latent_dim, kernel_initializer=init.kernel(), name="z_log_sigma")(h)
    z = Sampling(seed=_derive_seed(seed, _SAMPLER_SEED_INDEX), name="sampling")([z_mean, z_log_sigma])
    return keras.Model(inputs, [z_mean, z_log_sigma, z], name="encoder")


def build_decoder(latent_dim: int = 3, image_size: int = 36, seed: int | None = 0) -> keras.Model:
    """The seed's decoder: Dense to a 4x4x64 grid, then transposed convolutions up to a sigmoid image."""
    _check_image_size(image_size)
    # Offset the indices so that encoder and decoder layers never share an initializer seed.
    init = _Initializers(None if seed is None else _derive_seed(seed, 500))
    layers = keras.layers
    base = image_size // 9
    inputs = keras.Input(shape=(latent_dim,), name="code")
    x = layers.Dense(base * base * 64, activation="relu", kernel_initializer=init.kernel(), name="dense")(
        inputs
    )
    x = layers.Reshape((base, base, 64), name="reshape")(x)
    for block, (units, stride) in enumerate(((64, 1), (64, 3), (32, 3))):
        x = layers.Conv2DTranspose(
            units,
            3,
            strides=stride,
            padding="same",
            activation="relu",
            kernel_initializer=init.kernel(),
            name=f"deconv{block}",
        )(x)
    outputs = layers.Conv2DTranspose(
        1, 3, padding="same", activation="sigmoid", kernel_initializer=init.kernel(), name="image"
    )(x)
    return keras.Model(inputs, outputs, name="decoder")


def _batch_size(x: Any) -> Any:
    """Rows in a batch, as Keras weights its own loss tracker, so that epoch means stay comparable."""
    return ops.shape(x)[0]


def _reject_sample_weight(sample_weight: Any) -> None:
    if sample_weight is not None:
        raise ValueError("sample weights are not supported: every image counts once, as in the seed")


@keras.saving.register_keras_serializable(package=PACKAGE)
class VAE(keras.Model):
    """Encoder + sampler + decoder trained on the seed's loss: 36*36 x mean BCE + beta x KL.

    Calling the model returns a dict with `z_mean`, `z_log_sigma`, `z` and `reconstruction`. The target is
    always the input itself. History keys: `loss` (total), `reconstruction_loss`, `kl_loss` (and `val_*`).
    """

    def __init__(
        self,
        encoder: keras.Model,
        decoder: keras.Model,
        kl_reduction: KLReduction = "mean",
        beta: float = 1.0,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if kl_reduction not in ("mean", "sum"):
            raise ValueError(f"kl_reduction must be 'mean' or 'sum'; got {kl_reduction!r}")
        if beta < 0:
            raise ValueError(f"beta must be non-negative; got {beta}")
        self.encoder = encoder
        self.decoder = decoder
        self.kl_reduction = kl_reduction
        self.beta = float(beta)
        # The seed multiplies the per-pixel mean by 36 * 36, i.e. the pixel count of one image.
        self.reconstruction_scale = float(math.prod(decoder.output_shape[1:]))
        self.reconstruction_loss_tracker = keras.metrics.Mean(name="reconstruction_loss")
        self.kl_loss_tracker = keras.metrics.Mean(name="kl_loss")

    def call(self, inputs: Any, training: bool | None = None) -> dict[str, Any]:
        z_mean, z_log_sigma, z = self.encoder(inputs, training=training)
        reconstruction = self.decoder(z, training=training)
        return {"z_mean": z_mean, "z_log_sigma": z_log_sigma, "z": z, "reconstruction": reconstruction}

    def loss_terms(self, x: Any, y_pred: Mapping[str, Any]) -> tuple[Any, Any]:
        """(reconstruction, weighted KL) batch means for inputs `x` and the model's outputs `y_pred`."""
        reconstruction = self.reconstruction_scale * ops.mean(
            keras.losses.binary_crossentropy(x, y_pred["reconstruction"])
        )
        z_mean, z_log_sigma = y_pred["z_mean"], y_pred["z_log_sigma"]
        # Deliberately the seed's formula: it plugs z_log_sigma in as if it were log(sigma^2), although
        # the sampler uses exp(z_log_sigma) as sigma. Kept as is so that the study reproduces the seed.
        kl = -0.5 * (1.0 + z_log_sigma - ops.square(z_mean) - ops.exp(z_log_sigma))
        kl = ops.mean(kl, axis=-1) if self.kl_reduction == "mean" else ops.sum(kl, axis=-1)
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
        reconstruction, kl = self.loss_terms(x, y_pred)
        # Same weights as Keras's own `loss` tracker, so that logged loss == reconstruction + kl per epoch.
        self.reconstruction_loss_tracker.update_state(reconstruction, sample_weight=_batch_size(x))
        self.kl_loss_tracker.update_state(kl, sample_weight=_batch_size(x))
        return reconstruction + kl

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "encoder": keras.saving.serialize_keras_object(self.encoder),
            "decoder": keras.saving.serialize_keras_object(self.decoder),
            "kl_reduction": self.kl_reduction,
            "beta": self.beta,
        }

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> VAE:
        config = dict(config)
        config["encoder"] = keras.saving.deserialize_keras_object(config["encoder"])
        config["decoder"] = keras.saving.deserialize_keras_object(config["decoder"])
        return cls(**config)


@keras.saving.register_keras_serializable(package=PACKAGE)
class AE(keras.Model):
    """Deterministic autoencoder trained on the seed's AE loss: mean binary cross-entropy over pixels.

    Calling the model returns a dict with `code` and `reconstruction`. History keys: `loss`,
    `reconstruction_loss` (equal for the AE, kept so that both models log the same names).
    """

    def __init__(self, encoder: keras.Model, decoder: keras.Model, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.encoder = encoder
        self.decoder = decoder
        self.reconstruction_loss_tracker = keras.metrics.Mean(name="reconstruction_loss")

    def call(self, inputs: Any, training: bool | None = None) -> dict[str, Any]:
        code = self.encoder(inputs, training=training)
        return {"code": code, "reconstruction": self.decoder(code, training=training)}

    def compute_loss(
        self,
        x: Any = None,
        y: Any = None,
        y_pred: Mapping[str, Any] | None = None,
        sample_weight: Any = None,
        training: bool = True,
    ) -> Any:
        _reject_sample_weight(sample_weight)
        # Unlike the VAE's, the seed's AE loss is not rescaled by the pixel count.
        reconstruction = ops.mean(keras.losses.binary_crossentropy(x, y_pred["reconstruction"]))
        self.reconstruction_loss_tracker.update_state(reconstruction, sample_weight=_batch_size(x))
        return reconstruction

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "encoder": keras.saving.serialize_keras_object(self.encoder),
            "decoder": keras.saving.serialize_keras_object(self.decoder),
        }

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> AE:
        config = dict(config)
        config["encoder"] = keras.saving.deserialize_keras_object(config["encoder"])
        config["decoder"] = keras.saving.deserialize_keras_object(config["decoder"])
        return cls(**config)


def build_model(
    kind: ModelKind,
    latent_dim: int = 3,
    kl_reduction: KLReduction = "mean",
    beta: float = 1.0,
    seed: int | None = 0,
    image_size: int = 36,
) -> VAE | AE:
    """An uncompiled VAE or AE with the seed's architecture; its initial weights depend only on `seed`.

    With `seed=None` the initializers and the sampler draw from Keras's global RNG instead (then
    `keras.utils.set_random_seed` makes them reproducible). `kl_reduction` and `beta` apply to the VAE only.
    """
    encoder = build_encoder(kind, latent_dim=latent_dim, image_size=image_size, seed=seed)
    decoder = build_decoder(latent_dim=latent_dim, image_size=image_size, seed=seed)
    if kind == "vae":
        model: VAE | AE = VAE(encoder, decoder, kl_reduction=kl_reduction, beta=beta, name="vae")
    else:
        model = AE(encoder, decoder, name="ae")
    # A symbolic call builds the outer model, so that it saves and loads without ever seeing data.
    model(keras.KerasTensor((None, image_size, image_size, 1)))
    return model


def seed_schedule(kind: ModelKind) -> dict[str, Any]:
    """A copy of the seed's learning-rate schedule for `kind`, for `make_optimizer`."""
    return dict(SEED_SCHEDULES[kind])


def make_optimizer(schedule: Mapping[str, Any]) -> keras.optimizers.Adam:
    """Adam with a learning rate given by `schedule`.

    `schedule["type"]` is `"exponential_decay"` (keys `learning_rate`, the initial rate, `decay_steps`,
    `decay_rate`, `staircase`; defaults are the seed's VAE values) or `"constant"` (key `learning_rate`,
    default 1e-3). These are the keys of a model's `schedule` in the study config.
    """
    kind = schedule.get("type", "constant")
    known = {"exponential_decay": SEED_SCHEDULES["vae"], "constant": SEED_SCHEDULES["ae"]}
    if kind not in known:
        raise ValueError(f"schedule type must be one of {sorted(known)}; got {kind!r}")
    unknown = set(schedule) - set(known[kind])
    if unknown:
        raise ValueError(f"unknown keys for a {kind!r} schedule: {sorted(unknown)}")
    params = {**known[kind], **schedule}
    if kind == "constant":
        return keras.optimizers.Adam(learning_rate=float(params["learning_rate"]))
    learning_rate = keras.optimizers.schedules.ExponentialDecay(
        initial_learning_rate=float(params["learning_rate"]),
        decay_steps=int(params["decay_steps"]),
        decay_rate=float(params["decay_rate"]),
        staircase=bool(params["staircase"]),
    )
    return keras.optimizers.Adam(learning_rate=learning_rate)


def encode(model: VAE | AE, images: np.ndarray, batch_size: int = 256) -> dict[str, np.ndarray]:
    """Latent coordinates of `images`: `z_mean`, `z_log_sigma` and a sample `z` (VAE) or `code` (AE).

    The VAE's `z` is one draw from the sampler, as the seed's plots use; drawing it advances the sampler.
    """
    outputs = model.encoder.predict(images, batch_size=batch_size, verbose=0)
    if isinstance(model, VAE):
        z_mean, z_log_sigma, z = outputs
        return {"z_mean": z_mean, "z_log_sigma": z_log_sigma, "z": z}
    return {"code": outputs}


def decode(model: VAE | AE, codes: np.ndarray, batch_size: int = 256) -> np.ndarray:
    """Images (n, size, size, 1) in [0, 1] decoded from latent points `codes` (n, latent_dim)."""
    return model.decoder.predict(np.asarray(codes, dtype="float32"), batch_size=batch_size, verbose=0)


def load_model(path: str | Path, compile: bool = True) -> VAE | AE:
    """A model written by `training.train_model`; a damaged file raises `io.ProjectFileError`."""
    with reading(path):
        model = keras.models.load_model(path, compile=compile)
        if not isinstance(model, VAE | AE):
            raise TypeError(f"expected a VAE or AE from {PACKAGE}.models, got {type(model).__name__}")
    return model
