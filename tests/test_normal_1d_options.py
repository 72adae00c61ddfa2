"""Seed 002's options with known answers: BatchNorm and Dropout as the answer's Keras 2 train_step ran them
(`layers_while_training`), the standardisation's round trip (`standardise`), a Gaussian's fixed sd
(`likelihood.sd`), the per-epoch generated sd (`trace_generated_std`) that leaves training unchanged, the
generation protocol (`generation`), and the config refusing bad values by key."""

import copy
import math
import re

import keras
import numpy as np
import pytest
import yaml

from vae_latent_study.config import ConfigError, training_hparams, validate_config
from vae_latent_study.kinds.normal_1d import evaluate as normal_1d_generation
from vae_latent_study.models import autoencoders, build, likelihoods
from vae_latent_study.models import inference as models_inference
from vae_latent_study.training import callbacks, train
from vae_latent_study.training import history as training_history

from .conftest import REPO, SCHEMA, TINY_CONFIG, evaluation_context

#: A small dense VAE with BatchNorm and Dropout in its encoder and BatchNorm in its decoder.
BN_VAE = {
    "kind": "vae",
    "latent_dim": 1,
    "architecture": "dense",
    "sampler": "log_var",
    "kl_reduction": "sum",
    "likelihood": {"type": "squared_error", "variant": "faithful"},
    "regularization_losses": "ignore",
    "encoder": {
        "trunk": [
            {"type": "batch_norm"},
            {"type": "dense", "units": 8, "activation": "relu"},
            {"type": "dropout", "rate": 0.5},
            {"type": "batch_norm"},
        ]
    },
    "decoder": {"trunk": [{"type": "dense", "units": 8, "activation": "relu"}, {"type": "batch_norm"}]},
    "epochs": 2,
    "batch_size": 11,
    "schedule": {"type": "constant", "learning_rate": 0.01},
}
#: The standardised VAE of the study, small.
STANDARDISED_VAE = {
    "kind": "vae",
    "latent_dim": 1,
    "architecture": "dense",
    "sampler": "log_var",
    "kl_reduction": "sum",
    "likelihood": {"type": "gaussian", "variance": "fixed", "sd": 0.1},
    "standardise": True,
    "encoder": {"trunk": [{"type": "dense", "units": 8, "activation": "tanh"}]},
    "decoder": {"trunk": [{"type": "dense", "units": 8, "activation": "tanh"}]},
    "epochs": 2,
    "batch_size": 11,
    "schedule": {"type": "constant", "learning_rate": 0.01},
}
X = np.random.default_rng(3).normal(100.0, 10.0, 44).astype("float32")


def _batch_norms(model):
    return [
        layer
        for net in (model.encoder, model.decoder)
        for layer in net.layers
        if isinstance(layer, keras.layers.BatchNormalization)
    ]


def _fit(options, seed=1):
    model = build.build_model_from_options(options, (), seed=seed)
    model.compile(optimizer=keras.optimizers.Adam(0.01))
    model.fit(X, epochs=2, batch_size=11, shuffle=False, verbose=0)
    return model


def test_inference_mode_leaves_the_moving_statistics_untouched_while_training():
    inference = _fit({**BN_VAE, "layers_while_training": "inference"})
    layers = _batch_norms(inference)
    assert len(layers) == 3
    for layer in layers:
        np.testing.assert_array_equal(layer.moving_mean.numpy(), 0.0)
        np.testing.assert_array_equal(layer.moving_variance.numpy(), 1.0)
    # ... while gamma and beta, which the gradient reaches, did train.
    assert any(np.any(layer.beta.numpy() != 0.0) for layer in layers)
    for mode in ("training", None):  # Keras's fit: training=True, the moving statistics move
        options = {**BN_VAE, "layers_while_training": mode} if mode else BN_VAE
        moved = _fit(options)
        assert np.any(_batch_norms(moved)[0].moving_mean.numpy() != 0.0), mode


def test_inference_mode_runs_a_training_call_as_an_inference_call():
    model = build.build_model_from_options({**BN_VAE, "layers_while_training": "inference"}, (), seed=2)
    x = keras.ops.convert_to_tensor(X[:11])
    as_training, as_inference = model(x, training=True), model(x, training=False)
    # BatchNorm on moving statistics and no Dropout mask: z_mean is the inference call's, bit for bit.
    np.testing.assert_array_equal(as_training["z_mean"], as_inference["z_mean"])
    keras_mode = build.build_model_from_options(BN_VAE, (), seed=2)
    assert not np.array_equal(keras_mode(x, training=True)["z_mean"], keras_mode(x, training=False)["z_mean"])


def test_the_layer_mode_is_saved_only_when_set(tmp_path):
    plain = build.build_model_from_options(BN_VAE, (), seed=2)
    assert "layers_while_training" not in plain.get_config()
    model = build.build_model_from_options({**BN_VAE, "layers_while_training": "inference"}, (), seed=2)
    model.save(tmp_path / "m.keras")
    assert models_inference.load_model(tmp_path / "m.keras").layers_while_training == "inference"
    with pytest.raises(ValueError, match="layers_while_training"):
        build.build_model_from_options({**BN_VAE, "layers_while_training": "eval"}, (), seed=2)


def test_the_standardisation_round_trips_and_is_saved_with_the_model(tmp_path):
    model = build.build_model_from_options(STANDARDISED_VAE, (), seed=4)
    stats = autoencoders.set_standardisation(model, X)
    assert stats["shift"] == pytest.approx([X.astype(np.float64).mean()])
    assert stats["scale"] == pytest.approx([X.astype(np.float64).std()])
    forward = model.encoder.get_layer("standardise")
    z = keras.ops.convert_to_numpy(forward(X[:, None]))
    assert z.mean() == pytest.approx(0.0, abs=1e-5) and z.std() == pytest.approx(1.0, abs=1e-5)
    inverse = model.decoder.get_layer("destandardise_mean")
    np.testing.assert_allclose(keras.ops.convert_to_numpy(inverse(z)), X[:, None], rtol=1e-6)
    # The fixed log-variance: 2 log 0.1 in standardised units, + 2 log sd in data units.
    log_var = models_inference.decode_log_variance(model, np.zeros((3, 1), dtype="float32"))
    np.testing.assert_allclose(log_var, 2 * math.log(0.1) + 2 * math.log(stats["scale"][0]), rtol=1e-5)
    model.save(tmp_path / "s.keras")
    loaded = models_inference.load_model(tmp_path / "s.keras")
    codes = np.linspace(-2, 2, 7, dtype="float32")[:, None]
    np.testing.assert_array_equal(
        models_inference.decode(loaded, codes), models_inference.decode(model, codes)
    )
    assert keras.ops.convert_to_numpy(loaded.encoder.get_layer("standardise").scale) == pytest.approx(
        stats["scale"]
    )


def test_a_constant_feature_cannot_be_standardised():
    model = build.build_model_from_options(STANDARDISED_VAE, (), seed=4)
    with pytest.raises(ValueError, match="sd 0"):
        autoencoders.set_standardisation(model, np.full(10, 3.0, dtype="float32"))
    plain = build.build_model_from_options(BN_VAE, (), seed=4)
    with pytest.raises(ValueError, match="no standardisation"):
        autoencoders.set_standardisation(plain, X)


def test_a_gaussian_sd_must_be_positive_and_alone():
    for sd in (0, -0.1, math.inf):
        with pytest.raises(ValueError, match="sd"):
            likelihoods.check_likelihood({"type": "gaussian", "variance": "fixed", "sd": sd}, "vae")
    with pytest.raises(ValueError, match="not both"):
        likelihoods.check_likelihood(
            {"type": "gaussian", "variance": "fixed", "sd": 1.0, "log_var": 0.0}, "vae"
        )
    assert likelihoods.initial_log_variance({"sd": 0.5}) == pytest.approx(2 * math.log(0.5))


@pytest.fixture(scope="module")
def traced_runs(tmp_path_factory):
    """The standardised VAE trained on a normal_1d dataset with and without the per-epoch trace."""
    from vae_latent_study import datasets

    root = tmp_path_factory.mktemp("normal_1d_options")
    data = root / "normal.h5"
    config = {"kind": "normal_1d", "mean": 100.0, "std": 10.0, "n": 60, "test_share": 0.25, "seed": 0}
    datasets.make_dataset("normal", config, data)
    runs = {}
    for name, options in (
        ("plain", STANDARDISED_VAE),
        ("traced", {**STANDARDISED_VAE, "trace_generated_std": 500}),
        ("learned", {**STANDARDISED_VAE, "likelihood": {"type": "gaussian", "variance": "shared"}}),
    ):
        run = root / name
        train.train_model(
            data, options, 7, run / "model.keras", run / "history.csv", run / "backup", threads=1
        )
        runs[name] = run
    return data, runs


def test_the_trace_adds_a_column_and_leaves_training_bit_for_bit(traced_runs):
    _, runs = traced_runs
    plain = training_history.read_history(runs["plain"] / "history.csv")
    traced = training_history.read_history(runs["traced"] / "history.csv")
    assert list(plain[0]) == list(training_history.HISTORY_COLUMNS)
    assert list(traced[0]) == [*training_history.HISTORY_COLUMNS, training_history.TRACE_COLUMN]
    # The replicates' summary reads the trace from the history files (training.history, no Keras): the
    # traced run's per-epoch values, and nothing for the plain run.
    summary = normal_1d_generation.trace_summary([traced])
    assert summary["epochs"]["median"] == [row[training_history.TRACE_COLUMN] for row in traced]
    assert normal_1d_generation.trace_summary([plain]) is None
    assert all(row["generated_std"] > 0 for row in traced)
    for a, b in zip(plain, traced, strict=True):
        assert a["loss"] == b["loss"] and a["val_loss"] == b["val_loss"]
    weights = [
        models_inference.load_model(runs[n] / "model.keras").get_weights() for n in ("plain", "traced")
    ]
    for a, b in zip(*weights, strict=True):
        np.testing.assert_array_equal(a, b)


def test_the_trace_is_the_answers_protocol_by_hand(traced_runs):
    data, runs = traced_runs
    from vae_latent_study.datasets import read_dataset

    dataset = read_dataset(data)
    model = models_inference.load_model(runs["traced"] / "model.keras")
    x = dataset.x[dataset.train].astype("float32")
    z = models_inference.encode(model, x)["z_mean"].astype(np.float64)
    noise = np.random.default_rng([7, callbacks.TRACE_STREAM]).standard_normal((500, 1))
    decoded = models_inference.decode(model, (z.mean(0) + z.std(0) * noise).astype("float32"))
    last = training_history.read_history(runs["traced"] / "history.csv")[-1]["generated_std"]
    assert last == pytest.approx(float(np.std(decoded.astype(np.float64))), rel=1e-5)


def _evaluate(data, run, protocol, name):
    """The generation evaluation of 4,000 draws (fewer than the workflow's), written by the runner."""
    from vae_latent_study.evaluation import runner

    numbers = normal_1d_generation.generation_evaluation(
        run / "model.keras",
        data,
        {key: run / f"{name}_{key}.png" for key in normal_1d_generation.FIGURE_KEYS},
        dataset_name="normal",
        model_name="m",
        seed=3,
        n_samples=4000,
        protocol=protocol,
    )
    ctx, _ = evaluation_context(
        "generation",
        inputs={"model": run / "model.keras", "dataset": data},
        dataset="normal",
        model="m",
        seed=3,
    )
    return runner.write(ctx, numbers, run / f"{name}.json")


def test_the_protocol_changes_what_is_sampled(traced_runs):
    data, runs = traced_runs
    means = _evaluate(data, runs["learned"], "decoded_mean", "means")
    draws = _evaluate(data, runs["learned"], "likelihood_sample", "draws")
    assert (
        means["settings"]["protocol"] == "decoded_mean"
        and draws["settings"]["protocol"] == "likelihood_sample"
    )
    # Both are scored either way; `generated` is the chosen one's.
    assert means["protocols"] == draws["protocols"]
    assert means["generated"] == means["protocols"]["decoded_mean"]
    assert draws["generated"] == draws["protocols"]["likelihood_sample"]
    # A draw of p(x|z) adds the decoder's variance to the spread of the means: var = var(means) + sd^2
    # (the shared sd is the same at every code).
    sd = draws["observation_sd"]["median"]
    assert draws["observation_sd"]["min"] == pytest.approx(draws["observation_sd"]["max"])
    expected = math.sqrt(means["generated"]["model_std"] ** 2 + sd**2)
    assert draws["generated"]["model_std"] == pytest.approx(expected, rel=0.05)
    assert draws["generated"]["model_std"] > means["generated"]["model_std"]
    with pytest.raises(ValueError, match="protocol"):
        _evaluate(data, runs["learned"], "posterior_mean", "bad")
    with pytest.raises(ValueError, match="likelihood_sample needs a gaussian"):
        bn = runs["plain"].parent / "bn"
        train.train_model(data, BN_VAE, 1, bn / "model.keras", bn / "history.csv", bn / "backup", threads=1)
        _evaluate(data, bn, "likelihood_sample", "bad")


def test_the_summary_has_the_trace_the_protocols_and_the_share_within_target(traced_runs, tmp_path):
    data, runs = traced_runs
    result = _evaluate(data, runs["traced"], "decoded_mean", "summary_input")
    path = runs["traced"] / "summary_input.json"
    summary = normal_1d_generation.summarise_replicates(
        [path, path], histories=[runs["traced"] / "history.csv"] * 2, trace_figure=tmp_path / "trace.png"
    )
    within = result["generated"]["model_ks"] <= 1.5 * result["generated"]["fitted_ks"]
    assert summary["generated"]["replicates_within_target"] == 2 * within
    assert summary["generated"]["share_within_target"] == float(within)
    trace = summary["trace"]
    history = training_history.read_history(runs["traced"] / "history.csv")
    assert trace["epochs"]["median"] == [row["generated_std"] for row in history]
    assert trace["last_epochs"] == [len(history)] * 2 and trace["epochs"]["n_replicates"] == [2] * len(
        history
    )
    assert set(summary["protocols"]) == set(normal_1d_generation.PROTOCOLS)
    assert (tmp_path / "trace.png").stat().st_size > 0
    # Without the column: no trace, and a figure that says so.
    plain = normal_1d_generation.summarise_replicates(
        [path], histories=[runs["plain"] / "history.csv"], trace_figure=tmp_path / "none.png"
    )
    assert "trace" not in plain and (tmp_path / "none.png").stat().st_size > 0


def _with_model(**changes):
    config = copy.deepcopy(TINY_CONFIG)
    model = config["models"][next(iter(config["models"]))]
    name = next(iter(config["models"]))
    model.update(changes)
    return config, name


BAD_OPTIONS = [
    ("layer mode", {"layers_while_training": "eval"}, "layers_while_training"),
    (
        "zero sd",
        {"architecture": "dense", "likelihood": {"type": "gaussian", "variance": "fixed", "sd": 0}},
        "likelihood.sd",
    ),
    (
        "negative sd",
        {"architecture": "dense", "likelihood": {"type": "gaussian", "variance": "fixed", "sd": -1.0}},
        "likelihood.sd",
    ),
    (
        "sd of a squared error",
        {"architecture": "dense", "likelihood": {"type": "squared_error", "sd": 1.0}},
        "likelihood.sd",
    ),
    (
        "sd and log_var",
        {
            "architecture": "dense",
            "likelihood": {"type": "gaussian", "variance": "fixed", "sd": 1.0, "log_var": 0.0},
        },
        "likelihood.sd",
    ),
    ("unknown protocol", {"generation": "posterior_mean"}, "generation"),
    ("likelihood sample without a variance", {"generation": "likelihood_sample"}, "generation"),
    ("trace of one code", {"trace_generated_std": 1}, "trace_generated_std"),
    ("standardised images", {"standardise": True}, "standardise"),
]


@pytest.mark.parametrize(("case", "changes", "key"), BAD_OPTIONS, ids=[b[0] for b in BAD_OPTIONS])
def test_bad_options_are_refused_naming_the_key(case, changes, key):
    config, name = _with_model(**changes)
    with pytest.raises(ConfigError, match=re.escape(f"models.{name}.{key}")):
        validate_config(config, SCHEMA)


def test_the_new_options_are_unset_by_default_and_generation_does_not_retrain():
    config, name = _with_model()
    model = validate_config(config, SCHEMA)["models"][name]
    for key in ("layers_while_training", "standardise", "trace_generated_std", "generation"):
        assert key not in model
    study = validate_config(yaml.safe_load((REPO / "config" / "config.yaml").read_text()), SCHEMA)["models"]
    for key in ("layers_while_training", "standardise", "trace_generated_std", "generation"):
        assert key not in study["vae"] and key not in study["ae"]
    assert (
        study["vae_1d"]["layers_while_training"]
        == study["vae_1d_corrected"]["layers_while_training"]
        == "inference"
    )
    model = study["vae_1d_standardised"]
    assert model["likelihood"] == {"type": "gaussian", "variance": "fixed", "sd": 0.1}  # no default log_var
    assert model["standardise"] is True
    model = study["vae_1d_learned_variance"]
    assert model["generation"] == "likelihood_sample"
    assert "generation" not in training_hparams(model, "normal_1d")
