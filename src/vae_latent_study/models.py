"""The source study's VAE and autoencoder in backend-agnostic Keras 3, with their losses and optimisers."""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

import keras
import numpy as np
from keras import ops

from vae_latent_study.io import reading

PACKAGE = "vae_latent_study"

ModelKind = Literal["vae", "ae"]
KLReduction = Literal["mean", "sum"]
Sampler = Literal["log_sigma", "log_var"]
SAMPLERS = ("log_sigma", "log_var")

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

#: Training precisions (a model's `precision` option). `mixed_bfloat16`: Keras's mixed policy (bfloat16
#: compute, float32 variables) for the bulk of the network, while the code heads, the sampler, the decoder's
#: output and the loss stay float32 (see `precision_scope`).
PRECISIONS = ("float32", "mixed_bfloat16")


@contextlib.contextmanager
def precision_scope(precision: str) -> Iterator[None]:
    """Layers created inside compute in `precision` (Keras's global dtype policy, restored on exit).

    A layer keeps the policy it was created with, and saves it: a loaded model computes as it trained,
    whatever the global policy then. `float32` inside a `mixed_bfloat16` scope is how the builders keep the
    heads, the sampler and the outputs in full precision; in a float32 model it changes nothing.
    """
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {PRECISIONS}; got {precision!r}")
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy(precision)
    try:
        yield
    finally:
        keras.config.set_dtype_policy(previous)


def _full_precision() -> contextlib.AbstractContextManager[None]:
    """Builds the layers a loss reads (heads, sampler, outputs) in float32 under any policy."""
    return precision_scope("float32")


def _as_float32(tensor: Any, name: str) -> Any:
    """`tensor` itself when it is float32 (always, in a float32 model); else a float32 copy, for outputs
    whose last layer ran in bfloat16 (an AE whose trunk ends in its code)."""
    if keras.backend.standardize_dtype(tensor.dtype) == "float32":
        return tensor
    with _full_precision():
        return keras.layers.Activation("linear", name=name)(tensor)


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


# ------------------------------------------------------------------------------------------- conditioning


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


def _label_input(condition_size: int) -> Any | None:
    """The one-hot label's Input of a conditional network (None without one)."""
    if condition_size < 0 or condition_size == 1:
        raise ValueError(f"condition_size must be 0 (no label) or at least 2; got {condition_size}")
    return keras.Input(shape=(condition_size,), name="label") if condition_size else None


def _network_inputs(inputs: Any, label: Any | None) -> Any:
    return inputs if label is None else [inputs, label]


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


def _with_label_planes(image: Any, label: Any | None) -> Any:
    if label is None:
        return image
    planes = LabelPlanes(name="label_planes")([image, label])
    return keras.layers.Concatenate(name="image_label")([image, planes])


def _with_label(x: Any, label: Any | None, name: str) -> Any:
    """`x` with the one-hot label concatenated on its last axis (`x` itself without a label)."""
    return x if label is None else keras.layers.Concatenate(name=name)([x, label])


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


def build_encoder(
    kind: ModelKind = "vae",
    latent_dim: int = 3,
    image_size: int = 36,
    seed: int | None = 0,
    condition_size: int = 0,
) -> keras.Model:
    """The seed's convolutional encoder: outputs [z_mean, z_log_sigma, z] (VAE) or the code (AE).

    With `condition_size` K > 0 it also takes a one-hot label (b, K), as K constant planes beside the image.
    """
    if kind not in ("vae", "ae"):
        raise ValueError(f"kind must be 'vae' or 'ae'; got {kind!r}")
    _check_image_size(image_size)
    init = _Initializers(seed)
    layers = keras.layers
    inputs = keras.Input(shape=(image_size, image_size, 1), name="image")
    label = _label_input(condition_size)
    x = layers.Conv2D(
        32, 3, strides=1, padding="same", activation="relu", kernel_initializer=init.kernel(), name="conv0"
    )(_with_label_planes(inputs, label))
    # The seed's `gen_block(x, units)`: a 3x3 convolution then a 2x2 max-pool (its dropout is commented out).
    for block, units in enumerate((64, 128, 64), start=1):
        x = layers.Conv2D(
            units, 3, padding="same", activation="relu", kernel_initializer=init.kernel(), name=f"conv{block}"
        )(x)
        x = layers.MaxPooling2D(2, strides=2, name=f"pool{block}")(x)
    x = layers.Flatten(name="flatten")(x)
    h = layers.Dense(64, activation="relu", kernel_initializer=init.kernel(), name="hidden")(x)
    with _full_precision():
        if kind == "ae":
            code = layers.Dense(latent_dim, kernel_initializer=init.kernel(), name="code")(h)
            return keras.Model(_network_inputs(inputs, label), code, name="encoder")
        z_mean = layers.Dense(latent_dim, kernel_initializer=init.kernel(), name="z_mean")(h)
        z_log_sigma = layers.Dense(latent_dim, kernel_initializer=init.kernel(), name="z_log_sigma")(h)
        z = Sampling(seed=_derive_seed(seed, _SAMPLER_SEED_INDEX), name="sampling")([z_mean, z_log_sigma])
    return keras.Model(_network_inputs(inputs, label), [z_mean, z_log_sigma, z], name="encoder")


def build_decoder(
    latent_dim: int = 3, image_size: int = 36, seed: int | None = 0, condition_size: int = 0
) -> keras.Model:
    """The seed's decoder: Dense to a 4x4x64 grid, then transposed convolutions up to a sigmoid image.
    With `condition_size` K > 0 it takes [code, one-hot label (b, K)], concatenated before the Dense."""
    _check_image_size(image_size)
    # Offset the indices so that encoder and decoder layers never share an initializer seed.
    init = _Initializers(None if seed is None else _derive_seed(seed, 500))
    layers = keras.layers
    base = image_size // 9
    inputs = keras.Input(shape=(latent_dim,), name="code")
    label = _label_input(condition_size)
    x = layers.Dense(base * base * 64, activation="relu", kernel_initializer=init.kernel(), name="dense")(
        _with_label(inputs, label, "code_label")
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
    with _full_precision():  # the sigmoid output the cross-entropy reads
        outputs = layers.Conv2DTranspose(
            1, 3, padding="same", activation="sigmoid", kernel_initializer=init.kernel(), name="image"
        )(x)
    return keras.Model(_network_inputs(inputs, label), outputs, name="decoder")


# ------------------------------------------------------------------------ seed 001's 32x32 networks

#: Filters of seed 001's three stride-2 convolutions (the decoder mirrors them).
CONV32_FILTERS = (32, 64, 128)


def _check_conv32_size(image_size: int) -> None:
    # Three stride-2 convolutions halve the size three times; the decoder doubles it back.
    if image_size <= 0 or image_size % 8:
        raise ValueError(
            f"conv32 takes images whose size is a multiple of 8 (the seed's is 32); got {image_size}"
        )


def build_conv32_encoder(
    kind: ModelKind = "vae",
    latent_dim: int = 2,
    image_size: int = 32,
    sampler: Sampler = "log_var",
    seed: int | None = 0,
    condition_size: int = 0,
) -> keras.Model:
    """Seed 001's encoder: Conv2D 32, 64, 128 (3x3, stride 2, relu, same), Flatten, then Dense(latent_dim)
    heads: the code (AE), or z_mean and z_log_var and the sampler z_mean + exp(0.5 z_log_var) eps (VAE).
    With `condition_size` K > 0 it also takes a one-hot label (b, K), as K constant planes beside the
    image."""
    _check_conv32_size(image_size)
    init = _Initializers(seed)
    layers = keras.layers
    inputs = keras.Input(shape=(image_size, image_size, 1), name="image")
    label = _label_input(condition_size)
    x = _with_label_planes(inputs, label)
    for i, filters in enumerate(CONV32_FILTERS):
        x = layers.Conv2D(
            filters,
            3,
            strides=2,
            activation="relu",
            padding="same",
            kernel_initializer=init.kernel(),
            name=f"conv{i}",
        )(x)
    x = layers.Flatten(name="flatten")(x)
    with _full_precision():
        if kind == "ae":
            code = layers.Dense(latent_dim, kernel_initializer=init.kernel(), name="code")(x)
            return keras.Model(_network_inputs(inputs, label), code, name="encoder")
        scale = "z_log_var" if sampler == "log_var" else "z_log_sigma"
        z_mean = layers.Dense(latent_dim, kernel_initializer=init.kernel(), name="z_mean")(x)
        h = layers.Dense(latent_dim, kernel_initializer=init.kernel(), name=scale)(x)
        z = Sampling(seed=_derive_seed(seed, _SAMPLER_SEED_INDEX), parameterization=sampler, name="sampling")(
            [z_mean, h]
        )
    return keras.Model(_network_inputs(inputs, label), [z_mean, h, z], name="encoder")


def build_conv32_decoder(
    latent_dim: int = 2, image_size: int = 32, seed: int | None = 0, condition_size: int = 0
) -> keras.Model:
    """Seed 001's decoder: a linear Dense to the encoder's last grid (4x4x128 for 32x32), Conv2DTranspose
    128, 64, 32 (3x3, stride 2, relu, same), then Conv2D(1, 3x3, sigmoid). With `condition_size` K > 0 it
    takes [code, one-hot label (b, K)], concatenated before the Dense."""
    _check_conv32_size(image_size)
    init = _Initializers(None if seed is None else _derive_seed(seed, 500))
    layers = keras.layers
    base = image_size // 8
    inputs = keras.Input(shape=(latent_dim,), name="code")
    label = _label_input(condition_size)
    # The seed's Dense has no activation.
    x = layers.Dense(base * base * CONV32_FILTERS[-1], kernel_initializer=init.kernel(), name="dense")(
        _with_label(inputs, label, "code_label")
    )
    x = layers.Reshape((base, base, CONV32_FILTERS[-1]), name="reshape")(x)
    for i, filters in enumerate(reversed(CONV32_FILTERS)):
        x = layers.Conv2DTranspose(
            filters,
            3,
            strides=2,
            activation="relu",
            padding="same",
            kernel_initializer=init.kernel(),
            name=f"deconv{i}",
        )(x)
    with _full_precision():  # the sigmoid output the cross-entropy reads
        outputs = layers.Conv2D(
            1, 3, padding="same", activation="sigmoid", kernel_initializer=init.kernel(), name="image"
        )(x)
    return keras.Model(_network_inputs(inputs, label), outputs, name="decoder")


# ------------------------------------------------------------------------------------ dense networks

#: Layer items of a `dense` architecture, as the study config writes them (see `build_dense_encoder`).
LAYER_TYPES = ("dense", "batch_norm", "dropout", "leaky_relu")
#: Keras 2's `LeakyReLU()` slope (its `alpha`), which Keras 3's layer keeps as `negative_slope`: seed 003's.
LEAKY_RELU_SLOPE = 0.3
#: Keras's string "l2" regulariser: activity_regularizer="l2" is L2(0.01).
KERAS_L2_FACTOR = 0.01
# Dropout layers draw from their own seed indices, away from the kernels' and the sampler's.
_DROPOUT_SEED_INDEX = 2000


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


def _activity_l2(value: Any) -> keras.regularizers.Regularizer | None:
    """`activity_l2` of a dense item: a factor, `"l2"` (Keras's default 0.01), or None/0 for none."""
    if value in (None, 0, False):
        return None
    factor = KERAS_L2_FACTOR if value in ("l2", True) else float(value)
    # Keras 3 divides an activity loss by the batch size, as Keras 2's base Layer did.
    return keras.regularizers.L2(factor)


class _Stack:
    """Builds the layer items of one dense network in order, with seeded kernels and dropout."""

    def __init__(self, seed: int | None, sizes: Mapping[str, int]) -> None:
        self.init = _Initializers(seed)
        self.seed = seed
        self.sizes = sizes
        self.dropouts = 0

    def units(self, value: Any) -> int:
        if isinstance(value, str):
            if value not in self.sizes:
                raise ValueError(
                    f"units must be a positive integer or one of {sorted(self.sizes)}; got {value!r}"
                )
            return int(self.sizes[value])
        if int(value) != value or value < 1:
            raise ValueError(f"units must be a positive integer; got {value!r}")
        return int(value)

    def __call__(self, x: Any, items: Sequence[Mapping[str, Any]], prefix: str) -> Any:
        for i, item in enumerate(items):
            item = dict(item)
            kind = item.pop("type", None)
            name = f"{prefix}_{i}"
            if kind == "dense":
                _check_keys(item, {"units", "activation", "activity_l2"}, f"dense item {name}")
                x = keras.layers.Dense(
                    self.units(item["units"]),
                    activation=item.get("activation", "linear"),
                    activity_regularizer=_activity_l2(item.get("activity_l2")),
                    kernel_initializer=self.init.kernel(),
                    name=name,
                )(x)
            elif kind == "batch_norm":
                # Keras 2 and Keras 3 share the defaults (momentum 0.99, epsilon 1e-3).
                _check_keys(item, {"momentum", "epsilon"}, f"batch_norm item {name}")
                x = keras.layers.BatchNormalization(name=name, **item)(x)
            elif kind == "dropout":
                _check_keys(item, {"rate"}, f"dropout item {name}")
                self.dropouts += 1
                seed = (
                    None
                    if self.seed is None
                    else _derive_seed(self.seed, _DROPOUT_SEED_INDEX + self.dropouts)
                )
                x = SeededDropout(float(item["rate"]), seed=seed, name=name)(x)
            elif kind == "leaky_relu":
                # A layer of its own after a linear Dense, as seed 003's decoder writes it (no kernel: the
                # initializer seeds of the items after it do not shift).
                _check_keys(item, {"negative_slope"}, f"leaky_relu item {name}")
                slope = float(item.get("negative_slope", LEAKY_RELU_SLOPE))
                x = keras.layers.LeakyReLU(negative_slope=slope, name=name)(x)
            else:
                raise ValueError(f"layer type must be one of {LAYER_TYPES}; got {kind!r} in {prefix}")
        return x


def _check_keys(options: Mapping[str, Any], known: set[str], what: str) -> None:
    unknown = set(options) - known
    if unknown:
        raise ValueError(f"unknown keys for {what}: {sorted(unknown)} (known: {sorted(known)})")


def _features(input_shape: Sequence[int]) -> int:
    return int(math.prod(input_shape)) if len(input_shape) else 1


def _default_head(units: str) -> list[dict[str, Any]]:
    return [{"type": "dense", "units": units}]


def build_dense_encoder(
    kind: ModelKind,
    latent_dim: int,
    input_shape: Sequence[int],
    network: Mapping[str, Any],
    sampler: Sampler = "log_var",
    seed: int | None = 0,
    condition_size: int = 0,
    standardise: bool = False,
) -> keras.Model:
    """A dense encoder: `trunk` items, then one item list per head, then (VAE) the sampler.

    `network`: `trunk` (list of items) and `heads`: for a VAE `z_mean` and `z_log_var` (sampler
    `log_var`) or `z_log_sigma` (sampler `log_sigma`), each defaulting to one linear Dense(latent); for an
    AE `code`, defaulting to no layers (the trunk's last layer is the code). An item is a mapping with
    `type`: `dense` (`units`: an integer, `latent` or `features`; `activation`, default linear;
    `activity_l2`: a factor or `"l2"` = 0.01), `batch_norm` (`momentum`, `epsilon`), `dropout` (`rate`) or
    `leaky_relu` (`negative_slope`, default Keras 2's 0.3, seed 003's decoder).
    An empty `input_shape` means one number per sample (data of shape (n,)); the Input is then (1,).
    With `condition_size` K > 0 it also takes a one-hot label (b, K), concatenated to the (flattened) input
    before the trunk, as seed 003's conditional AE. `standardise` puts a `Standardise` layer (the
    training mean and sd, set by `set_standardisation`) before everything else.
    """
    _check_keys(network, {"trunk", "heads"}, "the encoder")
    stack = _Stack(seed, {"latent": latent_dim, "features": _features(input_shape)})
    inputs = keras.Input(shape=tuple(input_shape) or (1,), name="x")
    label = _label_input(condition_size)
    x = inputs
    if standardise:
        with _full_precision():
            x = Standardise("forward", name="standardise")(x)
    x = keras.layers.Flatten(name="flatten")(x) if len(input_shape) > 1 else x
    x = stack(_with_label(x, label, "x_label"), network.get("trunk", ()), "encoder")
    heads = dict(network.get("heads", {}))
    if kind == "ae":
        _check_keys(heads, {"code"}, "the AE's encoder heads")
        with _full_precision():
            code = _as_float32(stack(x, heads.get("code", ()), "code"), "code_float32")
        if code.shape[-1] != latent_dim:
            raise ValueError(f"the AE's code has {code.shape[-1]} units, not latent_dim={latent_dim}")
        return keras.Model(_network_inputs(inputs, label), code, name="encoder")
    scale = "z_log_var" if sampler == "log_var" else "z_log_sigma"
    _check_keys(heads, {"z_mean", scale}, f"the encoder heads of a {sampler!r} VAE")
    with _full_precision():  # the heads the KL reads, and the sampler's noise
        z_mean = stack(x, heads.get("z_mean", _default_head("latent")), "z_mean")
        h = stack(x, heads.get(scale, _default_head("latent")), scale)
        for name, head in (("z_mean", z_mean), (scale, h)):
            if head.shape[-1] != latent_dim:
                raise ValueError(f"head {name} has {head.shape[-1]} units, not latent_dim={latent_dim}")
        z = Sampling(seed=_derive_seed(seed, _SAMPLER_SEED_INDEX), parameterization=sampler, name="sampling")(
            [z_mean, h]
        )
    return keras.Model(_network_inputs(inputs, label), [z_mean, h, z], name="encoder")


def build_dense_decoder(
    latent_dim: int,
    input_shape: Sequence[int],
    network: Mapping[str, Any],
    likelihood: Mapping[str, Any],
    seed: int | None = 0,
    condition_size: int = 0,
    standardise: bool = False,
) -> keras.Model:
    """A dense decoder: `trunk` items, a `mean` head (default one linear Dense(features)) and, for a
    Gaussian likelihood, its log-variance: a `log_var` head (`variance: decoder` or `decoder_mean`, default
    one linear Dense(features)) or a `LogVariance` layer (`per_feature`, `shared`, `fixed`).

    Outputs the mean in the data's shape ((n, 1) for 1-D data), or [mean, log_var] for a Gaussian. With
    `condition_size` K > 0 it takes [code, one-hot label (b, K)], concatenated before the trunk.
    `standardise`: the network works in standardised units and `Standardise` layers map its mean (y *
    sd + mean) and log-variance (+ 2 log sd) back to data units, so the outputs and the loss are in data
    units (a Gaussian loss then differs from the standardised one by the constant log sd per feature only).
    """
    _check_keys(network, {"trunk", "heads"}, "the decoder")
    features = _features(input_shape)
    out_shape = tuple(input_shape) or (1,)
    variance = likelihood.get("variance") if likelihood.get("type") == "gaussian" else None
    stack = _Stack(
        None if seed is None else _derive_seed(seed, 500), {"latent": latent_dim, "features": features}
    )
    inputs = keras.Input(shape=(latent_dim,), name="code")
    label = _label_input(condition_size)
    x = stack(_with_label(inputs, label, "code_label"), network.get("trunk", ()), "decoder")
    heads = dict(network.get("heads", {}))
    _check_keys(
        heads, {"mean", "log_var"} if variance in ("decoder", "decoder_mean") else {"mean"}, "decoder heads"
    )

    def head(name: str) -> Any:
        with _full_precision():  # the outputs the likelihood reads
            y = _as_float32(stack(x, heads.get(name, _default_head("features")), name), f"{name}_float32")
            if y.shape[-1] != features:
                raise ValueError(
                    f"decoder head {name} has {y.shape[-1]} units, not the data's {features} features"
                )
            return keras.layers.Reshape(out_shape, name=f"{name}_reshape")(y) if len(out_shape) > 1 else y

    def to_data_units(y: Any, mode: str, name: str) -> Any:
        if not standardise:
            return y
        with _full_precision():
            return Standardise(mode, name=name)(y)

    mean = head("mean")
    if variance is None:
        mean = to_data_units(mean, "inverse", "destandardise_mean")
        return keras.Model(_network_inputs(inputs, label), mean, name="decoder")
    if variance in ("decoder", "decoder_mean"):
        log_var = head("log_var")
    else:
        with _full_precision():
            log_var = LogVariance(
                per_feature=variance == "per_feature",
                initial_value=initial_log_variance(likelihood),
                rate=likelihood.get("log_var_rate"),
                trainable=variance != "fixed",
                name="log_var",
            )(mean)
    mean = to_data_units(mean, "inverse", "destandardise_mean")
    log_var = to_data_units(log_var, "log_variance", "destandardise_log_var")
    return keras.Model(_network_inputs(inputs, label), [mean, log_var], name="decoder")


def initial_log_variance(likelihood: Mapping[str, Any]) -> float:
    """The initial (per_feature, shared) or fixed log-variance of a Gaussian likelihood: `log_var`, or 2 log
    `sd` when the observation sd is given instead, else 0."""
    if likelihood.get("sd") is not None:
        return 2.0 * math.log(float(likelihood["sd"]))
    return float(likelihood.get("log_var", 0.0))


# --------------------------------------------------------------------------------------------- losses

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


def _batch_size(x: Any) -> Any:
    """Rows in a batch, as Keras weights its own loss tracker, so that epoch means stay comparable."""
    return ops.shape(x)[0]


def _reject_sample_weight(sample_weight: Any) -> None:
    if sample_weight is not None:
        raise ValueError("sample weights are not supported: every image counts once, as in the seed")


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
        # For `log_sigma` deliberately the seed's formula: it plugs z_log_sigma in as if it were
        # log(sigma^2), although the sampler uses exp(z_log_sigma) as sigma. Kept as is so that the study
        # reproduces the seed. For `log_var` the same expression is the standard KL.
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
            # Unlike the VAE's, the seed's AE loss is not rescaled by the pixel count.
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


def build_model(
    kind: ModelKind,
    latent_dim: int = 3,
    kl_reduction: KLReduction = "mean",
    beta: float = 1.0,
    seed: int | None = 0,
    image_size: int = 36,
    condition: Mapping[str, Any] | None = None,
) -> VAE | AE:
    """An uncompiled VAE or AE with the seed's architecture; its initial weights depend only on `seed`.

    With `seed=None` the initializers and the sampler draw from Keras's global RNG instead (then
    `keras.utils.set_random_seed` makes them reproducible). `kl_reduction` and `beta` apply to the VAE only.
    `condition` (see `check_condition`) makes it conditional on a one-hot label.
    """
    condition = check_condition(condition)
    size = _condition_size(condition)
    encoder = build_encoder(
        kind, latent_dim=latent_dim, image_size=image_size, seed=seed, condition_size=size
    )
    decoder = build_decoder(latent_dim=latent_dim, image_size=image_size, seed=seed, condition_size=size)
    with _full_precision():  # the wrapper, its loss and its metrics: float32 under any policy
        if kind == "vae":
            model: VAE | AE = VAE(
                encoder, decoder, kl_reduction=kl_reduction, beta=beta, condition=condition, name="vae"
            )
        else:
            model = AE(encoder, decoder, condition=condition, name="ae")
    _build_symbolically(model, (image_size, image_size, 1), condition)
    return model


def _condition_size(condition: Mapping[str, Any] | None) -> int:
    return 0 if condition is None else len(condition["values"])


def _build_symbolically(
    model: VAE | AE, input_shape: Sequence[int], condition: Mapping[str, Any] | None
) -> None:
    # A symbolic call builds the outer model, so that it saves and loads without ever seeing data.
    x = keras.KerasTensor((None, *input_shape))
    model(x if condition is None else (x, keras.KerasTensor((None, _condition_size(condition)))))


#: Options of a model entry that `build_model_from_options` reads (the rest, e.g. `epochs`, is training's).
MODEL_OPTIONS = {
    "kind",
    "latent_dim",
    "architecture",
    "encoder",
    "decoder",
    "sampler",
    "likelihood",
    "kl_reduction",
    "beta",
    "regularization_losses",
    "precision",
    "conditional",
    "layers_while_training",
    "standardise",
}
ARCHITECTURES = ("conv36", "conv32", "dense")


def build_model_from_options(
    options: Mapping[str, Any],
    input_shape: Sequence[int],
    seed: int | None,
    condition: Mapping[str, Any] | None = None,
) -> VAE | AE:
    """An uncompiled VAE or AE as a study config's model entry describes it; weights depend only on `seed`.

    `input_shape` is one sample's shape without the batch axis: (size, size, 1) for images, (p,) for
    tabular data, () for 1-D data of shape (n,). Keys (others, such as `epochs`, are ignored here):
    `kind` (`vae`, `ae`), `latent_dim`, `architecture` (`conv36`, the default: `build_model`, bit for bit;
    or `dense`, with `encoder` and `decoder` as in `build_dense_encoder` / `build_dense_decoder`),
    `sampler` (`log_sigma`, default for conv36; `log_var`, default for dense), `likelihood` (see
    `check_likelihood`), `kl_reduction`, `beta`, `regularization_losses` (`include`, `ignore`),
    `precision` (`float32`, the default; `mixed_bfloat16`: see `precision_scope`), `conditional` (the
    factor the model conditions on, as the config names it: a factor or `label`; null or absent: none),
    `layers_while_training` (`inference`, `training`; absent: Keras's `training`, see `_LayerMode`),
    `standardise` (dense only: the networks work in standardised units, see `Standardise`; the training
    job sets the statistics with `set_standardisation`).

    A model with `conditional` needs `condition`, what that name resolves to in its dataset (`factor` and
    its `values`, see `check_condition`, from `datasets.Dataset.condition`); one without takes none.
    """
    precision = options.get("precision", "float32")
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {PRECISIONS}; got {precision!r}")
    if bool(options.get("conditional")) != (condition is not None):
        raise ValueError(
            "a model with the option `conditional` needs its condition (the factor's values), and only it"
            f"; got conditional={options.get('conditional')!r}, condition={condition!r}"
        )
    with precision_scope(precision):
        return _build_from_options(options, input_shape, seed, check_condition(condition))


def _build_from_options(
    options: Mapping[str, Any],
    input_shape: Sequence[int],
    seed: int | None,
    condition: dict[str, Any] | None,
) -> VAE | AE:
    kind = options.get("kind", "vae")
    if kind not in ("vae", "ae"):
        raise ValueError(f"kind must be 'vae' or 'ae'; got {kind!r}")
    architecture = options.get("architecture", "conv36")
    latent_dim = int(options.get("latent_dim", 3))
    kl_reduction = options.get("kl_reduction", "mean")
    beta = float(options.get("beta", 1.0))
    regularization = options.get("regularization_losses", "include")
    layer_mode = options.get("layers_while_training")
    standardise = bool(options.get("standardise"))
    if standardise and architecture != "dense":
        raise ValueError(f"standardise is for dense models; got architecture {architecture!r}")
    if architecture == "conv36":
        if len(input_shape) != 3 or input_shape[0] != input_shape[1] or input_shape[2] != 1:
            raise ValueError(f"conv36 takes square one-channel images; got input_shape {tuple(input_shape)}")
        for key, default in (
            ("sampler", "log_sigma"),
            ("likelihood", None),
            ("encoder", None),
            ("decoder", None),
        ):
            if options.get(key, default) not in (default, {"type": "bernoulli"}):
                raise ValueError(
                    f"conv36 is seed 000's network: {key}={options[key]!r} is not available for it"
                )
        model = build_model(
            kind, latent_dim, kl_reduction, beta, seed, image_size=int(input_shape[0]), condition=condition
        )
        model._set_layer_mode(layer_mode)  # builds nothing: seed 000's models stay bit for bit
        return model
    if architecture not in ARCHITECTURES:
        raise ValueError(f"architecture must be one of {ARCHITECTURES}; got {architecture!r}")
    sampler = options.get("sampler", "log_var")
    likelihood = check_likelihood(options.get("likelihood"), kind)
    if architecture == "conv32":
        if len(input_shape) != 3 or input_shape[0] != input_shape[1] or input_shape[2] != 1:
            raise ValueError(f"conv32 takes square one-channel images; got input_shape {tuple(input_shape)}")
        for key in ("encoder", "decoder"):
            if options.get(key):
                raise ValueError(f"conv32 is seed 001's network: {key} is for dense models")
        if likelihood["type"] not in ("bernoulli", "binary_crossentropy"):
            raise ValueError("conv32 decodes pixels in [0, 1]: a bernoulli or binary_crossentropy likelihood")
        size = int(input_shape[0])
        labels = _condition_size(condition)
        encoder = build_conv32_encoder(kind, latent_dim, size, sampler, seed, condition_size=labels)
        decoder = build_conv32_decoder(latent_dim, size, seed, condition_size=labels)
    else:
        network = options.get("encoder", {})
        labels = _condition_size(condition)
        encoder = build_dense_encoder(
            kind, latent_dim, input_shape, network, sampler, seed, labels, standardise=standardise
        )
        decoder = build_dense_decoder(
            latent_dim,
            input_shape,
            options.get("decoder", {}),
            likelihood,
            seed,
            labels,
            standardise=standardise,
        )
    with _full_precision():
        model = _wrap(
            kind,
            encoder,
            decoder,
            kl_reduction,
            beta,
            sampler,
            likelihood,
            regularization,
            condition,
            layer_mode,
        )
    _build_symbolically(model, input_shape, condition)
    return model


def _wrap(
    kind: ModelKind,
    encoder: keras.Model,
    decoder: keras.Model,
    kl_reduction: KLReduction,
    beta: float,
    sampler: Sampler,
    likelihood: Mapping[str, Any],
    regularization: str,
    condition: Mapping[str, Any] | None = None,
    layers_while_training: str | None = None,
) -> VAE | AE:
    if kind == "vae":
        return VAE(
            encoder,
            decoder,
            kl_reduction=kl_reduction,
            beta=beta,
            sampler=sampler,
            likelihood=likelihood,
            regularization_losses=regularization,
            condition=condition,
            layers_while_training=layers_while_training,
            name="vae",
        )
    return AE(
        encoder,
        decoder,
        likelihood=likelihood,
        regularization_losses=regularization,
        condition=condition,
        layers_while_training=layers_while_training,
        name="ae",
    )


def seed_schedule(kind: ModelKind) -> dict[str, Any]:
    """A copy of the seed's learning-rate schedule for `kind`, for `make_optimizer`."""
    return dict(SEED_SCHEDULES[kind])


#: Optimisers by name. Keras 3's Adadelta defaults to learning_rate=1e-3, like tf.keras 2's; standalone
#: Keras <= 2.3 (and the Adadelta paper) used 1.0: a study config must say which (seed 002's AE: 1.0).
OPTIMIZERS = {"adam": keras.optimizers.Adam, "adadelta": keras.optimizers.Adadelta}


def make_optimizer(schedule: Mapping[str, Any], optimizer: str = "adam") -> keras.optimizers.Optimizer:
    """Adam (or `optimizer="adadelta"`, rho 0.95 and epsilon 1e-7 as in Keras 2) with a learning rate
    given by `schedule`.

    `schedule["type"]` is `"exponential_decay"` (keys `learning_rate`, the initial rate, `decay_steps`,
    `decay_rate`, `staircase`; defaults are the seed's VAE values) or `"constant"` (key `learning_rate`,
    default 1e-3). These are the keys of a model's `schedule` in the study config.
    """
    if optimizer not in OPTIMIZERS:
        raise ValueError(f"optimizer must be one of {sorted(OPTIMIZERS)}; got {optimizer!r}")
    kind = schedule.get("type", "constant")
    known = {"exponential_decay": SEED_SCHEDULES["vae"], "constant": SEED_SCHEDULES["ae"]}
    if kind not in known:
        raise ValueError(f"schedule type must be one of {sorted(known)}; got {kind!r}")
    unknown = set(schedule) - set(known[kind])
    if unknown:
        raise ValueError(f"unknown keys for a {kind!r} schedule: {sorted(unknown)}")
    params = {**known[kind], **schedule}
    make = OPTIMIZERS[optimizer]
    if kind == "constant":
        return make(learning_rate=float(params["learning_rate"]))
    learning_rate = keras.optimizers.schedules.ExponentialDecay(
        initial_learning_rate=float(params["learning_rate"]),
        decay_steps=int(params["decay_steps"]),
        decay_rate=float(params["decay_rate"]),
        staircase=bool(params["staircase"]),
    )
    return make(learning_rate=learning_rate)


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

    The VAE's `z` is one draw from the sampler, as the seed's plots use; drawing it advances the sampler
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
    """A model written by `training.train_model`; a damaged file raises `io.ProjectFileError`."""
    with reading(path):
        model = keras.models.load_model(path, compile=compile)
        if not isinstance(model, VAE | AE):
            raise TypeError(f"expected a VAE or AE from {PACKAGE}.models, got {type(model).__name__}")
    return model
