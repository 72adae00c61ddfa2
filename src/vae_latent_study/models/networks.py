"""The encoder and decoder builders: seed 000's conv36, seed 001's conv32 and the dense stacks of a config."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import keras

from vae_latent_study.models.layers import (
    LabelPlanes,
    LogVariance,
    ModelKind,
    Sampler,
    Sampling,
    SeededDropout,
    Standardise,
    _check_keys,
    _derive_seed,
    _Initializers,
)
from vae_latent_study.models.likelihoods import initial_log_variance
from vae_latent_study.models.precision import _as_float32, _full_precision

# Per-layer initializer seeds are drawn from (seed, index); the sampler uses its own index so that adding
# a layer never shifts the noise stream.
_SAMPLER_SEED_INDEX = 1000


def _check_image_size(image_size: int) -> None:
    # The decoder starts from a (size/9)^2 grid and upsamples by 3 twice, so only multiples of 9 round-trip.
    if image_size <= 0 or image_size % 9:
        raise ValueError(
            f"image_size must be a positive multiple of 9 (the source's is 36); got {image_size}"
        )


def _label_input(condition_size: int) -> Any | None:
    """The one-hot label's Input of a conditional network (None without one)."""
    if condition_size < 0 or condition_size == 1:
        raise ValueError(f"condition_size must be 0 (no label) or at least 2; got {condition_size}")
    return keras.Input(shape=(condition_size,), name="label") if condition_size else None


def _network_inputs(inputs: Any, label: Any | None) -> Any:
    return inputs if label is None else [inputs, label]


def _with_label_planes(image: Any, label: Any | None) -> Any:
    if label is None:
        return image
    planes = LabelPlanes(name="label_planes")([image, label])
    return keras.layers.Concatenate(name="image_label")([image, planes])


def _with_label(x: Any, label: Any | None, name: str) -> Any:
    """`x` with the one-hot label concatenated on its last axis (`x` itself without a label)."""
    return x if label is None else keras.layers.Concatenate(name=name)([x, label])


def build_encoder(
    kind: ModelKind = "vae",
    latent_dim: int = 3,
    image_size: int = 36,
    seed: int | None = 0,
    condition_size: int = 0,
) -> keras.Model:
    """The source's convolutional encoder: outputs [z_mean, z_log_sigma, z] (VAE) or the code (AE).

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
    # The source's `gen_block(x, units)`: a 3x3 convolution then a 2x2 max-pool (its dropout commented out).
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
    """The source's decoder: Dense to a 4x4x64 grid, then transposed convolutions up to a sigmoid image.
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


#: Filters of seed 001's three stride-2 convolutions (the decoder mirrors them).
CONV32_FILTERS = (32, 64, 128)


def _check_conv32_size(image_size: int) -> None:
    # Three stride-2 convolutions halve the size three times; the decoder doubles it back.
    if image_size <= 0 or image_size % 8:
        raise ValueError(
            f"conv32 takes images whose size is a multiple of 8 (the source's is 32); got {image_size}"
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
    # The source's Dense has no activation.
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


#: Layer items of a `dense` architecture, as the study config writes them (see `build_dense_encoder`).
LAYER_TYPES = ("dense", "batch_norm", "dropout", "leaky_relu")
#: Keras 2's `LeakyReLU()` slope (its `alpha`), which Keras 3's layer keeps as `negative_slope`: seed 003's.
LEAKY_RELU_SLOPE = 0.3
#: Keras's string "l2" regulariser: activity_regularizer="l2" is L2(0.01).
KERAS_L2_FACTOR = 0.01
# Dropout layers draw from their own seed indices, away from the kernels' and the sampler's.
_DROPOUT_SEED_INDEX = 2000


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
