"""Building a model: the source's conv36 model (`build_model`), a study config's model entry
(`build_model_from_options`) and the optimisers with their learning-rate schedules."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import keras

from vae_latent_study.models.autoencoders import AE, VAE, KLReduction, check_condition
from vae_latent_study.models.layers import ModelKind, Sampler
from vae_latent_study.models.likelihoods import check_likelihood
from vae_latent_study.models.networks import (
    build_conv32_decoder,
    build_conv32_encoder,
    build_decoder,
    build_dense_decoder,
    build_dense_encoder,
    build_encoder,
)
from vae_latent_study.models.precision import PRECISIONS, _full_precision, precision_scope

#: The defaults of each learning-rate schedule type (the config schema's): a model's `schedule` overrides
#: them. The sources' own schedules are written out in `config/config.yaml`'s models.
SCHEDULE_DEFAULTS: dict[str, dict[str, Any]] = {
    "exponential_decay": {
        "type": "exponential_decay",
        "learning_rate": 1e-3,
        "decay_steps": 30,
        "decay_rate": 0.99,
        "staircase": False,
    },
    "constant": {"type": "constant", "learning_rate": 1e-3},
}


def build_model(
    kind: ModelKind,
    latent_dim: int = 3,
    kl_reduction: KLReduction = "mean",
    beta: float = 1.0,
    seed: int | None = 0,
    image_size: int = 36,
    condition: Mapping[str, Any] | None = None,
) -> VAE | AE:
    """An uncompiled VAE or AE with the source's architecture; its initial weights depend only on `seed`.

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


#: Optimisers by name. Keras 3's Adadelta defaults to learning_rate=1e-3, like tf.keras 2's; standalone
#: Keras <= 2.3 (and the Adadelta paper) used 1.0: a study config must say which (seed 002's AE: 1.0).
OPTIMIZERS = {"adam": keras.optimizers.Adam, "adadelta": keras.optimizers.Adadelta}


def make_optimizer(schedule: Mapping[str, Any], optimizer: str = "adam") -> keras.optimizers.Optimizer:
    """Adam (or `optimizer="adadelta"`, rho 0.95 and epsilon 1e-7 as in Keras 2) with a learning rate
    given by `schedule`.

    `schedule["type"]` is `"exponential_decay"` (keys `learning_rate`, the initial rate, `decay_steps`,
    `decay_rate`, `staircase`; defaults `SCHEDULE_DEFAULTS`) or `"constant"` (key `learning_rate`,
    default 1e-3). These are the keys of a model's `schedule` in the study config.
    """
    if optimizer not in OPTIMIZERS:
        raise ValueError(f"optimizer must be one of {sorted(OPTIMIZERS)}; got {optimizer!r}")
    kind = schedule.get("type", "constant")
    known = SCHEDULE_DEFAULTS
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
