"""The `conditional` model option (seed 003): the label reaches both halves of every architecture, style
transfer, the saved round trip, the latent store's labels, and the configs refused before any job."""

import copy
import dataclasses
import re

import keras
import numpy as np
import pytest

from vae_latent_study.config import ConfigError, validate_config
from vae_latent_study.datasets import build_dataset, write_dataset
from vae_latent_study.kinds.registry import kind
from vae_latent_study.models import autoencoders, build, inference

from .conftest import CONV32_AE, CONV32_VAE, SCHEMA, TINY_CONFIG

CONDITION = {"factor": "component", "values": [0.0, 1.0]}
_ELU = {"type": "dense", "units": 16, "activation": "elu"}
#: A small version of seed 003's deep AE on 2-d points, conditional on the dataset's label.
DENSE_AE = {
    "kind": "ae",
    "architecture": "dense",
    "latent_dim": 1,
    "likelihood": {"type": "squared_error"},
    "encoder": {"trunk": [_ELU, _ELU], "heads": {"code": [{"type": "dense", "units": "latent"}]}},
    "decoder": {"trunk": [_ELU, _ELU]},
    "conditional": "label",
}
DENSE_VAE = {
    "kind": "vae",
    "architecture": "dense",
    "latent_dim": 2,
    "sampler": "log_var",
    "kl_reduction": "sum",
    "likelihood": {"type": "squared_error"},
    "encoder": {"trunk": [_ELU, {"type": "dropout", "rate": 0.1}]},
    "decoder": {"trunk": [_ELU]},
    "conditional": "label",
}
#: (options, one sample's shape) of every architecture, each conditional.
ARCHITECTURES = {
    "dense_ae": (DENSE_AE, (2,)),
    "dense_vae": (DENSE_VAE, (2,)),
    "conv36_vae": ({"kind": "vae", "latent_dim": 2, "conditional": "df"}, (18, 18, 1)),
    "conv36_ae": ({"kind": "ae", "latent_dim": 2, "conditional": "df"}, (18, 18, 1)),
    "conv32_ae": ({**CONV32_AE, "conditional": "class"}, (16, 16, 1)),
    "conv32_vae": ({**CONV32_VAE, "conditional": "class"}, (16, 16, 1)),
}


def _data(shape, n=6, seed=0):
    return np.random.default_rng(seed).random((n, *shape)).astype("float32")


def options_latent(name):
    return ARCHITECTURES[name][0]["latent_dim"]


def _build(name, seed=3):
    options, shape = ARCHITECTURES[name]
    return build.build_model_from_options(options, shape, seed=seed, condition=CONDITION), shape


@pytest.mark.parametrize("name", list(ARCHITECTURES))
def test_the_label_reaches_the_encoder_and_the_decoder(name):
    model, shape = _build(name)
    x = _data(shape)
    # One input with two labels: two codes. One code with two labels: two outputs.
    codes = [inference.mean_code(model, x, label=label) for label in (0, 1)]
    assert codes[0].shape == (len(x), options_latent(name))
    assert not np.allclose(codes[0], codes[1])
    decoded = [inference.decode(model, codes[0], label=label) for label in (0, 1)]
    assert decoded[0].shape == (len(x), *shape)
    assert not np.allclose(decoded[0], decoded[1])
    # Each row its own label, as an array: the same as the rows decoded label by label.
    labels = np.array([0, 1, 1, 0, 1, 0])
    mixed = inference.decode(model, codes[0], label=labels)
    np.testing.assert_allclose(
        mixed, np.where((labels == 0).reshape(-1, *[1] * len(shape)), *decoded), atol=1e-6
    )
    out = model((x, autoencoders.one_hot(labels, 2, len(x))))
    assert tuple(out["reconstruction"].shape) == (len(x), *shape)


@pytest.mark.parametrize("name", ["dense_ae", "dense_vae", "conv36_vae"])
def test_style_transfer_to_the_own_label_is_the_reconstruction_from_the_mean_code(name):
    model, shape = _build(name)
    x, labels = _data(shape), np.array([0, 1, 0, 1, 1, 0])
    own = inference.style_transfer(model, x, labels, labels)
    np.testing.assert_array_equal(own, inference.reconstruct(model, x, label=labels))
    code = inference.encode(model, x, label=labels)["z_mean" if name.endswith("vae") else "code"]
    np.testing.assert_array_equal(own, inference.decode(model, code, label=labels))
    # To another label: the same codes, decoded otherwise.
    other = inference.style_transfer(model, x, labels, 1 - labels)
    np.testing.assert_array_equal(other, inference.decode(model, code, label=1 - labels))
    assert not np.allclose(other, own)


@pytest.mark.parametrize("name", ["dense_vae", "conv32_ae"])
def test_a_conditional_model_trains_saves_and_loads_with_its_condition(name, tmp_path):
    model, shape = _build(name)
    x, labels = _data(shape, n=8), np.array([0, 1] * 4)
    model.compile(optimizer=keras.optimizers.Adam(1e-3), jit_compile=False)
    before = [np.asarray(w) for w in model.get_weights()]
    model.fit((x, autoencoders.one_hot(labels, 2, len(x))), epochs=1, batch_size=4, shuffle=False, verbose=0)
    assert any(not np.array_equal(a, np.asarray(b)) for a, b in zip(before, model.get_weights(), strict=True))
    model.save(tmp_path / "m.keras")
    loaded = inference.load_model(tmp_path / "m.keras")
    assert loaded.condition == CONDITION and inference.data_input_shape(loaded) == (None, *shape)
    np.testing.assert_array_equal(
        inference.reconstruct(loaded, x, label=labels), inference.reconstruct(model, x, label=labels)
    )


def test_without_the_option_a_model_is_built_as_before():
    options, shape = ARCHITECTURES["dense_vae"]
    plain = {k: v for k, v in options.items() if k != "conditional"}
    a = build.build_model_from_options(plain, shape, seed=3)
    b = build.build_model_from_options({**plain, "conditional": None}, shape, seed=3)
    assert a.condition is None and len(a.encoder.inputs) == 1 and len(a.decoder.inputs) == 1
    assert "condition" not in a.get_config()
    for u, v in zip(a.get_weights(), b.get_weights(), strict=True):
        np.testing.assert_array_equal(u, v)
    # The conditional model differs only in the label's columns of the first kernels.
    c = build.build_model_from_options(options, shape, seed=3, condition=CONDITION)
    assert c.encoder.count_params() == a.encoder.count_params() + 2 * 16
    assert c.decoder.count_params() == a.decoder.count_params() + 2 * 16


def test_labels_are_checked():
    model, shape = _build("dense_ae")
    x = _data(shape)
    with pytest.raises(ValueError, match="is conditional on component: give each row's label"):
        inference.encode(model, x)
    with pytest.raises(ValueError, match="labels must lie in"):
        inference.decode(model, np.zeros((6, 1)), label=2)
    with pytest.raises(ValueError, match="integer positions"):
        inference.decode(model, np.zeros((6, 1)), label=np.full(6, 1.0))
    with pytest.raises(ValueError, match="3 labels for 6 rows"):
        inference.decode(model, np.zeros((6, 1)), label=np.array([0, 1, 0]))
    plain = build.build_model_from_options({**DENSE_AE, "conditional": None}, (2,), seed=3)
    with pytest.raises(ValueError, match="is not conditional"):
        inference.decode(plain, np.zeros((6, 1)), label=0)
    with pytest.raises(ValueError, match="needs its condition"):
        build.build_model_from_options(DENSE_AE, (2,), seed=3)
    with pytest.raises(ValueError, match="needs its condition"):
        build.build_model_from_options({**DENSE_AE, "conditional": None}, (2,), seed=3, condition=CONDITION)
    # Factor values map to the positions the one-hot columns take; an unknown value raises.
    condition = {"factor": "df", "values": [2.0, 200.0]}
    np.testing.assert_array_equal(autoencoders.label_indices(condition, [200.0, 2.0, 2.0]), [1, 0, 0])
    with pytest.raises(ValueError, match=re.escape("df values [5.0]")):
        autoencoders.label_indices(condition, [2.0, 5.0])
    np.testing.assert_array_equal(autoencoders.one_hot(np.array([1, 0]), 3, 2), [[0, 1, 0], [1, 0, 0]])


# ---------------------------------------------------------------------------------------- the latent store


def test_the_latent_store_records_each_rows_label(tmp_path):
    from vae_latent_study.config import validate_config
    from vae_latent_study.evaluation import encode, latents

    config = validate_config(TINY_CONFIG, SCHEMA)
    dataset = build_dataset("tiny_t", config["datasets"]["tiny_t"])
    write_dataset(dataset, tmp_path / "tiny_t.h5")
    condition = dataset.condition("df")
    assert condition == {"factor": "df", "values": [2.0, 200.0]}
    model = build.build_model_from_options(
        {"kind": "vae", "conditional": "df"}, (36, 36, 1), seed=1, condition=condition
    )
    model.save(tmp_path / "model.keras")
    encode.encode_dataset(tmp_path / "model.keras", tmp_path / "tiny_t.h5", tmp_path / "latents.h5", seed=2)
    store = latents.read_latents(tmp_path / "latents.h5")
    assert store.attrs["conditional"] == "df" and store.attrs["condition_values"] == "[2.0, 200.0]"
    for split in ("train", "test"):
        rows = store.split(split).rows
        want = autoencoders.label_indices(condition, dataset.factor("df")[rows])
        np.testing.assert_array_equal(store.split(split).label, want)
    assert set(store.train.label) == {0, 1}
    test = store.test
    images = dataset.x[test.rows][..., None]
    np.testing.assert_allclose(
        test.z_mean, inference.encode(model, images, label=test.label)["z_mean"], rtol=1e-6, atol=1e-6
    )
    np.testing.assert_allclose(
        test.reconstruction_mean,
        inference.decode(model, test.z_mean, label=test.label)[..., 0],
        rtol=1e-6,
        atol=1e-6,
    )


# ---------------------------------------------------------------------------------------------- configs


def _config(model, dataset, **extra_datasets):
    given = copy.deepcopy(TINY_CONFIG)
    given["datasets"] |= {"data": dataset, **extra_datasets}
    given["models"]["m"] = model
    given["studies"] = {"s": {"datasets": ["data"], "models": ["m"]}}
    return given


_DENSE = {"kind": "ae", "architecture": "dense", "latent_dim": 1}


@pytest.mark.parametrize(
    ("model", "dataset", "message"),
    [
        # A continuous factor.
        (
            {**_DENSE, "conditional": "Z"},
            {"kind": "factor_model", "p": 5},
            "'models.m.conditional': 'Z' is a continuous factor of dataset data",
        ),
        (
            {**_DENSE, "conditional": "position"},
            {"kind": "toy_manifold"},
            "'models.m.conditional': 'position' is a continuous factor of dataset data",
        ),
        # A dataset without a label.
        (
            {**_DENSE, "conditional": "label"},
            {"kind": "normal_1d"},
            "'models.m.conditional': dataset data (kind normal_1d) has no label to condition on",
        ),
        (
            {"kind": "vae", "conditional": "label"},
            {"family": "student_t"},
            "'models.m.conditional': dataset data (kind heatmaps) has no label to condition on",
        ),
        # A factor that does not exist.
        (
            {**_DENSE, "conditional": "colour"},
            {"kind": "toy_manifold"},
            "'models.m.conditional': dataset data (kind toy_manifold) has no factor 'colour' "
            "(its factors: component, position)",
        ),
        (
            {"kind": "vae", "conditional": "df"},
            {"family": "gaussian"},
            "'models.m.conditional': dataset data (kind heatmaps) has no factor 'df'",
        ),
        # Not a name.
        ({**_DENSE, "conditional": "two words"}, {"kind": "toy_manifold"}, "'models.m.conditional'"),
    ],
)
def test_a_bad_condition_is_refused_before_any_job_naming_the_key(model, dataset, message):
    with pytest.raises(ConfigError, match=re.escape(message)):
        validate_config(_config(model, dataset), SCHEMA)


def test_a_kind_whose_evaluations_take_no_label_refuses_a_conditional_model(monkeypatch):
    # Every kind with a categorical factor feeds a conditional model its label now; one that did not
    # (the heatmaps kind before its df bridge) would be refused naming the study's entry.
    from vae_latent_study.kinds.heatmaps import spec

    monkeypatch.setattr(spec, "SPEC", dataclasses.replace(spec.SPEC, conditional=False))
    kind.cache_clear()
    with pytest.raises(
        ConfigError,
        match=re.escape(
            "'studies.s.models.0': m is conditional, and the evaluations of data's kind heatmaps do not "
            "feed a model its label yet"
        ),
    ):
        validate_config(_config({"kind": "vae", "conditional": "df"}, {"family": "student_t"}), SCHEMA)
    monkeypatch.undo()
    kind.cache_clear()
    validate_config(_config({"kind": "vae", "conditional": "df"}, {"family": "student_t"}), SCHEMA)


def test_a_condition_on_the_label_or_a_categorical_factor_is_accepted():
    for conditional in ("label", "component"):
        config = validate_config(
            _config({**_DENSE, "conditional": conditional}, {"kind": "toy_manifold"}), SCHEMA
        )
        assert config["models"]["m"]["conditional"] == conditional
    # Not given, or null: no key at all, so the models trained before the option stay finished.
    config = validate_config(_config({**_DENSE, "conditional": None}, {"kind": "toy_manifold"}), SCHEMA)
    assert "conditional" not in config["models"]["m"]
    assert config == validate_config(_config(_DENSE, {"kind": "toy_manifold"}), SCHEMA)


def test_every_kind_declares_the_factors_its_datasets_have(tmp_path):
    """The config refuses a condition from these declarations, before anything is built: they must be the
    factors the builders write (images aside: its files are not built here; its one factor is `class`)."""
    given = copy.deepcopy(TINY_CONFIG)
    given["datasets"] |= {
        "n1": {"kind": "normal_1d"},
        "fm": {"kind": "factor_model", "p": 5, "n": 20},
        "toy": {"kind": "toy_manifold", "n_per_component": 10, "test_per_component": 3},
    }
    given["studies"] = {"s": {"datasets": ["tiny_t"], "models": ["vae"]}}
    config = validate_config(given, SCHEMA)
    for name, settings in config["datasets"].items():
        spec = kind(settings["kind"])
        dataset = build_dataset(name, settings)
        assert spec.factors(settings) == dataset.factor_types, name
        assert spec.label == dataset.label, name
    assert kind("images").factors({}) == {"class": "categorical"} and kind("images").label == "class"
