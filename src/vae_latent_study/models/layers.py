"""The custom Keras layers of the study's models (the sampler, a label's planes, seeded dropout, a learned
log-variance, the data's standardisation) and the seeds of their initializers."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, Literal

import keras
import numpy as np
from keras import ops

PACKAGE = "vae_latent_study"

ModelKind = Literal["vae", "ae"]
Sampler = Literal["log_sigma", "log_var"]
SAMPLERS = ("log_sigma", "log_var")


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


@keras.saving.register_keras_serializable(package=PACKAGE)
class LabelPlanes(keras.layers.Layer):
    """A one-hot label as constant planes the size of an image, (b, K) -> (b, h, w, K), so that a
    convolutional encoder sees the label at every pixel (its input concatenated with the label)."""

    def call(self, inputs: list[Any]) -> Any:
        image, label = inputs
        planes = ops.expand_dims(ops.expand_dims(label, 1), 1)
        return ops.zeros_like(image[..., :1]) + ops.cast(planes, image.dtype)

    def compute_output_shape(self, input_shape: list[tuple[int | None, ...]]) -> tuple[int | None, ...]:
        image, label = input_shape
        return (*tuple(image)[:-1], label[-1])


@keras.saving.register_keras_serializable(package=PACKAGE)
class Sampling(keras.layers.Layer):
    """Draws z = z_mean + sigma * eps with eps ~ N(0, I) and sigma = exp(h) of the second head h.

    `parameterization="log_sigma"` is seed 000's `Sample` Lambda (h is a log standard deviation here, but
    a log variance in its KL); `"log_var"` is the z_mean + exp(0.5 * h) * eps of seeds 001-004.
    """

    def __init__(
        self, seed: int | None = None, parameterization: Sampler = "log_sigma", **kwargs: Any
    ) -> None:
        super().__init__(**kwargs)
        if parameterization not in SAMPLERS:
            raise ValueError(f"sampler must be one of {SAMPLERS}; got {parameterization!r}")
        self.seed = seed
        self.parameterization = parameterization
        self.seed_generator = keras.random.SeedGenerator(seed)

    def call(self, inputs: list[Any]) -> Any:
        z_mean, h = inputs
        epsilon = keras.random.normal(ops.shape(z_mean), dtype=z_mean.dtype, seed=self.seed_generator)
        if self.parameterization == "log_var":
            return z_mean + ops.exp(0.5 * h) * epsilon
        # The seed treats the second head as a log standard deviation here (but as a log variance in the KL).
        return z_mean + ops.exp(h) * epsilon

    def compute_output_shape(self, input_shape: list[tuple[int | None, ...]]) -> tuple[int | None, ...]:
        return tuple(input_shape[0])

    def save_own_variables(self, store: Any) -> None:
        # Keras leaves seed-generator state out of weight files; without it a resumed run draws different
        # noise from an uninterrupted one, so the state is saved with the (otherwise empty) weights.
        super().save_own_variables(store)
        # As a NumPy array: the weight file would convert the variable itself, which NumPy 2 warns of.
        store["seed_generator_state"] = self.seed_generator.state.numpy()

    def load_own_variables(self, store: Any) -> None:
        self.seed_generator.state.assign(store["seed_generator_state"])

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "seed": self.seed, "parameterization": self.parameterization}


@keras.saving.register_keras_serializable(package=PACKAGE)
class SeededDropout(keras.layers.Dropout):
    """Keras's Dropout whose noise state is saved with the weights, so a resumed run draws the same masks."""

    def save_own_variables(self, store: Any) -> None:
        super().save_own_variables(store)
        if self.rate > 0:
            store["seed_generator_state"] = self.seed_generator.state.numpy()

    def load_own_variables(self, store: Any) -> None:
        if self.rate > 0:
            self.seed_generator.state.assign(store["seed_generator_state"])


@keras.saving.register_keras_serializable(package=PACKAGE)
class LogVariance(keras.layers.Layer):
    """A log-variance that does not depend on the code, broadcast to the shape of the decoded mean.

    `per_feature=True`: one value per feature; otherwise one shared value. `trainable=False` keeps it at
    `initial_value` (a fixed variance).

    `rate` k (None: 1): the log-variance's learning rate as k times the model's, by parametrisation. The
    weight stores v / k and the layer returns k times it, so a step of size d on the weight moves the
    log-variance by k d; Adam's steps do not depend on the gradient's scale (up to its epsilon), so with
    Adam the log-variance moves k times as far per step as with the plain weight, and the optimizer stays
    one. None leaves the weight, its values and the saved config exactly as before the option existed.
    """

    def __init__(
        self, per_feature: bool = True, initial_value: float = 0.0, rate: float | None = None, **kwargs: Any
    ) -> None:
        super().__init__(**kwargs)
        if rate is not None and not (math.isfinite(float(rate)) and float(rate) > 0):
            raise ValueError(f"the log-variance's rate must be a positive number; got {rate!r}")
        self.per_feature = per_feature
        self.initial_value = float(initial_value)
        self.rate = None if rate is None else float(rate)

    def build(self, input_shape: tuple[int | None, ...]) -> None:
        initial = self.initial_value if self.rate is None else self.initial_value / self.rate
        self.log_var = self.add_weight(
            shape=tuple(input_shape[1:]) if self.per_feature else (),
            initializer=keras.initializers.Constant(initial),
            trainable=self.trainable,
            name="log_var",
        )

    def call(self, mean: Any) -> Any:
        log_var = self.log_var if self.rate is None else self.rate * self.log_var
        return ops.zeros_like(mean) + ops.cast(log_var, mean.dtype)

    def compute_output_shape(self, input_shape: tuple[int | None, ...]) -> tuple[int | None, ...]:
        return tuple(input_shape)

    def get_config(self) -> dict[str, Any]:
        # `rate` only when set, so that the models saved before it existed keep their config.
        rate = {} if self.rate is None else {"rate": self.rate}
        return {
            **super().get_config(),
            "per_feature": self.per_feature,
            "initial_value": self.initial_value,
            **rate,
        }


#: What a `Standardise` layer computes (its `mode`).
STANDARDISE_MODES = ("forward", "inverse", "log_variance")


@keras.saving.register_keras_serializable(package=PACKAGE)
class Standardise(keras.layers.Layer):
    """The data's standardisation, its `shift` (the training mean) and `scale` (the training sd, 1/n) per
    feature kept as non-trainable weights, so that they are saved with the model (`set_standardisation`
    sets them from the training rows; until then 0 and 1, the identity).

    `mode`: `forward`, (x - shift) / scale (the encoder's input); `inverse`, y * scale + shift (the decoded
    mean back in data units); `log_variance`, y + 2 log scale (a log-variance back in data units).
    """

    def __init__(self, mode: str = "forward", **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if mode not in STANDARDISE_MODES:
            raise ValueError(f"standardise mode must be one of {STANDARDISE_MODES}; got {mode!r}")
        self.mode = mode

    def build(self, input_shape: tuple[int | None, ...]) -> None:
        shape = tuple(input_shape[1:])
        self.shift = self.add_weight(shape=shape, initializer="zeros", trainable=False, name="shift")
        self.scale = self.add_weight(shape=shape, initializer="ones", trainable=False, name="scale")

    def call(self, x: Any) -> Any:
        shift, scale = ops.cast(self.shift, x.dtype), ops.cast(self.scale, x.dtype)
        if self.mode == "forward":
            return (x - shift) / scale
        if self.mode == "inverse":
            return x * scale + shift
        return x + 2.0 * ops.log(scale)

    def compute_output_shape(self, input_shape: tuple[int | None, ...]) -> tuple[int | None, ...]:
        return tuple(input_shape)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "mode": self.mode}


def _check_keys(options: Mapping[str, Any], known: set[str], what: str) -> None:
    unknown = set(options) - known
    if unknown:
        raise ValueError(f"unknown keys for {what}: {sorted(unknown)} (known: {sorted(known)})")
