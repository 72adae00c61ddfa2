"""Dense model options against seeds 002 and 004: parameters, loss arithmetic, determinism, round trip."""

import math

import keras
import numpy as np
import pytest

from tests.conftest import CONV32_AE, CONV32_VAE
from vae_latent_study.models import build
from vae_latent_study.models import inference as models_inference

L2 = {"activity_l2": "l2"}

#: Seed 002's answer: the VAE on 1-D data (n,), faithful to its Keras 2 loss.
SOURCE_002_VAE = {
    "kind": "vae",
    "latent_dim": 1,
    "architecture": "dense",
    "sampler": "log_var",
    "kl_reduction": "sum",
    "likelihood": {"type": "squared_error", "variant": "faithful"},
    "regularization_losses": "ignore",  # its train_step never adds self.losses
    "encoder": {
        "trunk": [
            {"type": "batch_norm"},
            {"type": "dense", "units": 200, "activation": "relu", **L2},
            {"type": "dropout", "rate": 0.1},
            {"type": "dense", "units": 200, "activation": "relu", **L2},
            {"type": "batch_norm"},
            {"type": "dense", "units": 50, "activation": "relu", **L2},
        ],
        "heads": {
            "z_mean": [{"type": "dense", "units": "latent", **L2}, {"type": "batch_norm"}],
            "z_log_var": [{"type": "dense", "units": "latent", "activation": "relu"}, {"type": "batch_norm"}],
        },
    },
    "decoder": {
        "trunk": [
            {"type": "dense", "units": 50, "activation": "relu"},
            {"type": "dense", "units": 200, "activation": "relu"},
            {"type": "dense", "units": 200, "activation": "relu"},
            {"type": "dense", "units": 200},
        ],
        "heads": {"mean": [{"type": "dense", "units": "features"}]},
    },
}

#: Seed 002's question: the AE (code 42 relu, linear output, binary cross-entropy).
SOURCE_002_AE = {
    "kind": "ae",
    "latent_dim": 42,
    "architecture": "dense",
    "likelihood": {"type": "binary_crossentropy"},
    "encoder": {"trunk": [{"type": "dense", "units": "latent", "activation": "relu"}]},
    "decoder": {},
}

_RELU_100 = {"type": "dense", "units": 100, "activation": "relu"}
#: Seed 004: the nonlinear factor model's VAE with a decoder log-variance averaged over features.
SOURCE_004_VAE = {
    "kind": "vae",
    "latent_dim": 1,
    "architecture": "dense",
    "sampler": "log_var",
    "kl_reduction": "sum",
    "likelihood": {"type": "gaussian", "variance": "decoder_mean"},
    "encoder": {
        "trunk": [_RELU_100],
        "heads": {
            "z_mean": [_RELU_100, {"type": "dense", "units": "latent"}],
            "z_log_var": [_RELU_100, {"type": "dense", "units": "latent"}],
        },
    },
    "decoder": {
        "trunk": [{"type": "dense", "units": 50, "activation": "relu"}, _RELU_100],
        "heads": {
            "mean": [_RELU_100, {"type": "dense", "units": "features"}],
            "log_var": [_RELU_100, {"type": "dense", "units": "features"}],
        },
    },
}


def _weights(model):
    return [np.asarray(w) for w in model.get_weights()]


def _states(model):
    """Every variable, seed-generator states included (they are not weights)."""
    return [np.asarray(v.numpy()) for v in model.variables]


def _assert_same(a, b):
    assert len(a) == len(b)
    for x, y in zip(a, b, strict=True):
        np.testing.assert_array_equal(x, y)


def test_source_004_parameter_counts_match_its_summary():
    vae = build.build_model_from_options(SOURCE_004_VAE, (100,), seed=0)
    assert vae.encoder.count_params() == 30_502
    assert vae.decoder.count_params() == 45_600
    out = vae(np.zeros((3, 100), "float32"))
    assert tuple(out["reconstruction"].shape) == tuple(out["reconstruction_log_var"].shape) == (3, 100)


def test_source_002_parameter_counts():
    vae = build.build_model_from_options(SOURCE_002_VAE, (), seed=0)
    # BatchNorm(1), Dense 200, Dense 200, BatchNorm(200), Dense 50, two heads of Dense(1) + BatchNorm(1).
    assert vae.encoder.count_params() == 4 + 400 + 40_200 + 800 + 10_050 + 2 * (51 + 4)
    assert vae.decoder.count_params() == 100 + 10_200 + 40_200 + 40_200 + 201
    ae = build.build_model_from_options(SOURCE_002_AE, (), seed=0)
    assert ae.encoder.count_params() == 84 and ae.decoder.count_params() == 43  # the question's 127
    out = ae(np.full((5,), 100.0, "float32"))  # 1-D data reach the Input (1,) expanded
    assert tuple(out["code"].shape) == (5, 42) and tuple(out["reconstruction"].shape) == (5, 1)


def test_faithful_squared_error_is_the_keras2_broadcast():
    vae = build.build_model_from_options(SOURCE_002_VAE, (), seed=1)
    x = np.random.default_rng(0).normal(100, 10, 6).astype("float32")
    y_pred = vae(x)
    r = np.asarray(y_pred["reconstruction"], np.float64)  # (6, 1)
    assert r.shape == (6, 1)
    # Keras 2: mean_squared_error((6,), (6, 1)) = mean over the last axis of (6, 6), then reduce_sum.
    broadcast = sum(np.mean([(r[i, 0] - x[j]) ** 2 for j in range(6)]) for i in range(6))
    mu, lv = (np.asarray(y_pred[k], np.float64) for k in ("z_mean", "z_log_var"))
    kl = np.sum(-0.5 * (1 + lv - mu**2 - np.exp(lv)), axis=1)  # (6,)
    recon, kl_term = (float(t) for t in vae.loss_terms(x, y_pred))
    # The seed differentiates the vector broadcast + kl, i.e. its sum.
    assert recon == pytest.approx(6 * broadcast, rel=1e-5)
    assert kl_term == pytest.approx(kl.sum(), rel=1e-4, abs=1e-6)
    assert float(vae.compute_loss(x=x, y_pred=y_pred)) == pytest.approx(6 * broadcast + kl.sum(), rel=1e-5)


def test_corrected_squared_error_is_per_sample():
    options = {**SOURCE_002_VAE, "likelihood": {"type": "squared_error", "variant": "corrected"}}
    vae = build.build_model_from_options(options, (), seed=1)
    x = np.random.default_rng(0).normal(100, 10, 6).astype("float32")
    y_pred = vae(x)
    r = np.asarray(y_pred["reconstruction"], np.float64)[:, 0]
    mu, lv = (np.asarray(y_pred[k], np.float64) for k in ("z_mean", "z_log_var"))
    recon, kl = (float(t) for t in vae.loss_terms(x, y_pred))
    assert recon == pytest.approx(np.mean((x - r) ** 2), rel=1e-5)
    assert kl == pytest.approx(np.mean(np.sum(-0.5 * (1 + lv - mu**2 - np.exp(lv)), axis=1)), rel=1e-4)


def test_gaussian_decoder_mean_is_source_004s_formula():
    vae = build.build_model_from_options(SOURCE_004_VAE, (100,), seed=2)
    x = np.random.default_rng(1).normal(size=(7, 100)).astype("float32")
    y_pred = vae(x)
    mu, lv = (np.asarray(y_pred[k], np.float64) for k in ("reconstruction", "reconstruction_log_var"))
    lv = lv.mean(axis=1, keepdims=True)
    recon = 0.5 * np.mean(np.sum((x - mu) ** 2 * np.exp(-lv) + lv + np.log(2 * np.pi), axis=1))
    zm, zl = (np.asarray(y_pred[k], np.float64) for k in ("z_mean", "z_log_var"))
    kl = np.mean(np.sum(-0.5 * (1 + zl - zm**2 - np.exp(zl)), axis=1))
    got = [float(t) for t in vae.loss_terms(x, y_pred)]
    assert got == pytest.approx([recon, kl], rel=1e-5)
    # The sampler is z = mu + exp(0.5 * log_var) * eps.
    eps = (np.asarray(y_pred["z"]) - zm) / np.exp(0.5 * zl)
    assert np.all(np.isfinite(eps)) and np.abs(eps).max() < 6


@pytest.mark.parametrize("variance", ["decoder", "per_feature", "shared", "fixed"])
def test_gaussian_variances(variance):
    options = {**SOURCE_004_VAE, "likelihood": {"type": "gaussian", "variance": variance}}
    if variance != "decoder":
        options["decoder"] = {
            **SOURCE_004_VAE["decoder"],
            "heads": {"mean": SOURCE_004_VAE["decoder"]["heads"]["mean"]},
        }
    vae = build.build_model_from_options(options, (5,), seed=2)
    x = np.random.default_rng(1).normal(size=(4, 5)).astype("float32")
    y_pred = vae(x)
    mu, lv = (np.asarray(y_pred[k], np.float64) for k in ("reconstruction", "reconstruction_log_var"))
    recon = 0.5 * np.mean(np.sum((x - mu) ** 2 * np.exp(-lv) + lv + np.log(2 * np.pi), axis=1))
    assert float(vae.loss_terms(x, y_pred)[0]) == pytest.approx(recon, rel=1e-5)
    free = {w.path: tuple(w.shape) for w in vae.decoder.weights if w.path.startswith("log_var/")}
    want = {"per_feature": {"log_var/log_var": (5,)}, "shared": {"log_var/log_var": ()}}
    assert free == want.get(variance, {"log_var/log_var": ()} if variance == "fixed" else {})
    assert all("log_var/" not in w.path for w in vae.trainable_weights) == (variance in ("fixed", "decoder"))


def test_ae_binary_crossentropy_keeps_keras_clipping():
    ae = build.build_model_from_options(SOURCE_002_AE, (), seed=0)
    x = np.array([90.0, 100.0, 110.0], "float32")
    y_pred = ae(x)
    eps = keras.config.epsilon()
    p = np.clip(np.asarray(y_pred["reconstruction"], np.float64)[:, 0], eps, 1 - eps)
    expected = np.mean(-(x * np.log(p) + (1 - x) * np.log(1 - p)))
    assert float(ae.compute_loss(x=x, y_pred=y_pred)) == pytest.approx(expected, rel=1e-4)


def test_activity_regularisation_is_added_unless_ignored():
    options = {**SOURCE_002_VAE, "regularization_losses": "include"}
    vae = build.build_model_from_options(options, (), seed=1)
    x = np.random.default_rng(0).normal(100, 10, 6).astype("float32")
    y_pred = vae(x)
    penalty = float(sum(float(v) for v in vae.losses))
    assert penalty > 0
    recon, kl = (float(t) for t in vae.loss_terms(x, y_pred))
    assert float(vae.compute_loss(x=x, y_pred=y_pred)) == pytest.approx(recon + kl + penalty, rel=1e-5)
    ignored = build.build_model_from_options(SOURCE_002_VAE, (), seed=1)
    y_pred = ignored(x)
    assert float(ignored.compute_loss(x=x, y_pred=y_pred)) == pytest.approx(
        sum(float(t) for t in ignored.loss_terms(x, y_pred)), rel=1e-6
    )


def test_two_builds_with_one_seed_are_identical():
    for options, shape in ((SOURCE_002_VAE, ()), (SOURCE_004_VAE, (100,)), (SOURCE_002_AE, ())):
        keras.utils.set_random_seed(1)
        a = build.build_model_from_options(options, shape, seed=3)
        keras.utils.set_random_seed(2)
        b = build.build_model_from_options(options, shape, seed=3)
        _assert_same(_states(a), _states(b))
        c = build.build_model_from_options(options, shape, seed=4)
        assert not np.array_equal(_weights(a)[-2], _weights(c)[-2]) or options is SOURCE_002_VAE


def _fit(options, shape, x, seed=3):
    keras.utils.set_random_seed(0)
    model = build.build_model_from_options(options, shape, seed=seed)
    model.compile(optimizer=build.make_optimizer({"type": "constant"}), jit_compile=False)
    logs = model.fit(x, batch_size=4, epochs=2, shuffle=False, verbose=0).history
    return model, logs


@pytest.fixture(scope="module")
def one_d():
    return np.random.default_rng(0).normal(100, 10, 10).astype("float32")


def test_short_fits_are_identical_and_dropout_state_round_trips(one_d, tmp_path):
    first, logs = _fit(SOURCE_002_VAE, (), one_d)
    second, _ = _fit(SOURCE_002_VAE, (), one_d)
    _assert_same(_states(first), _states(second))
    assert np.isfinite(logs["loss"]).all()
    assert logs["loss"][0] == pytest.approx(logs["reconstruction_loss"][0] + logs["kl_loss"][0], rel=1e-5)
    # What BackupAndRestore relies on: a weights file restores the dropout and sampler noise states too.
    first.save_weights(tmp_path / "b.weights.h5")
    fresh = build.build_model_from_options(SOURCE_002_VAE, (), seed=9)
    fresh.load_weights(tmp_path / "b.weights.h5")
    _assert_same(_states(fresh)[: len(_states(first))], _states(first))


@pytest.mark.parametrize("name", ["source_002_vae", "source_004_vae", "source_002_ae"])
def test_keras_file_round_trip(name, tmp_path):
    options, shape = {
        "source_002_vae": (SOURCE_002_VAE, ()),
        "source_004_vae": (SOURCE_004_VAE, (100,)),
        "source_002_ae": (SOURCE_002_AE, ()),
    }[name]
    x = np.random.default_rng(0).normal(size=(8, *shape)).astype("float32")
    model, _ = _fit(options, shape, x)
    model.save(tmp_path / "m.keras")
    loaded = keras.models.load_model(tmp_path / "m.keras")
    assert type(loaded) is type(model) and loaded.likelihood == model.likelihood
    _assert_same(_states(loaded), _states(model))
    codes = models_inference.encode(model, x)
    _assert_same(list(models_inference.encode(loaded, x).values()), list(codes.values()))
    key = "code" if "code" in codes else "z_mean"
    np.testing.assert_array_equal(
        models_inference.decode(loaded, codes[key]), models_inference.decode(model, codes[key])
    )


def test_training_mode_decodes_leave_the_model_unchanged(one_d):
    vae, _ = _fit(SOURCE_002_VAE, (), one_d)
    inference = models_inference.encode(vae, one_d)["z_mean"]  # advances the sampler, as predict does
    before = _states(vae)
    training = models_inference.encode(vae, one_d, training=True)["z_mean"]
    assert inference.shape == training.shape == (10, 1)
    assert not np.allclose(inference, training)  # BatchNorm on batch statistics, Dropout on
    models_inference.decode(vae, inference, training=True)
    _assert_same(_states(vae), before)


def test_invalid_options_are_rejected():
    with pytest.raises(ValueError, match="layer type"):
        build.build_model_from_options({**SOURCE_002_AE, "encoder": {"trunk": [{"type": "conv"}]}}, (), 0)
    with pytest.raises(ValueError, match="latent_dim"):
        code = {"trunk": [{"type": "dense", "units": 42, "activation": "relu"}]}
        build.build_model_from_options({**SOURCE_002_AE, "latent_dim": 3, "encoder": code}, (), 0)
    with pytest.raises(ValueError, match="variant"):
        build.build_model_from_options(
            {**SOURCE_002_VAE, "likelihood": {"type": "squared_error", "variant": "x"}}, (), 0
        )
    with pytest.raises(ValueError, match="conv36"):
        build.build_model_from_options({"kind": "vae", "sampler": "log_var"}, (36, 36, 1), 0)
    with pytest.raises(ValueError, match="optimizer"):
        build.make_optimizer({"type": "constant"}, "sgd")


def test_conv36_options_build_the_source_000_model():
    a = build.build_model_from_options({"kind": "vae", "latent_dim": 3}, (36, 36, 1), seed=7)
    b = build.build_model("vae", latent_dim=3, seed=7)
    _assert_same(_states(a), _states(b))
    assert [w.path for w in a.weights] == [w.path for w in b.weights]


def test_adadelta():
    opt = build.make_optimizer({"type": "constant", "learning_rate": 1.0}, "adadelta")
    assert isinstance(opt, keras.optimizers.Adadelta)
    assert float(opt.learning_rate) == 1.0 and opt.rho == 0.95 and math.isclose(opt.epsilon, 1e-7)


@pytest.mark.parametrize("precision", ["float32", "mixed_bfloat16"])
def test_conv32_is_source_001s_network(precision):
    """Seed 001's Fashion-MNIST models: Conv2D 32-64-128 stride 2 and a Dense(2) code; a linear Dense to
    4x4x128, Conv2DTranspose 128-64-32 and a sigmoid Conv2D. Its parameter counts, layer for layer."""
    ae = build.build_model_from_options({**CONV32_AE, "precision": precision}, (32, 32, 1), seed=3)
    vae = build.build_model_from_options({**CONV32_VAE, "precision": precision}, (32, 32, 1), seed=3)
    assert ae.encoder.count_params() == 96_770 and vae.encoder.count_params() == 100_868
    assert ae.decoder.count_params() == vae.decoder.count_params() == 246_273
    assert [layer.strides for layer in ae.encoder.layers if "conv" in layer.name] == [(2, 2)] * 3
    assert ae.decoder.get_layer("dense").activation.__name__ == "linear"  # the seed's Dense has none
    assert vae.encoder.get_layer("sampling").parameterization == "log_var"
    assert vae.reconstruction_scale == 500.0 and vae.kl_reduction == "sum"
    out = vae(np.random.default_rng(0).uniform(size=(3, 32, 32, 1)).astype("float32"))
    assert tuple(out["reconstruction"].shape) == (3, 32, 32, 1) and tuple(out["z"].shape) == (3, 2)
    assert str(out["reconstruction"].dtype) == "<dtype: 'float32'>"
    with pytest.raises(ValueError, match="multiple of 8"):
        build.build_model_from_options({"kind": "ae", "architecture": "conv32"}, (36, 36, 1), seed=0)
    with pytest.raises(ValueError, match="bernoulli or binary_crossentropy"):
        build.build_model_from_options(
            {"kind": "ae", "architecture": "conv32", "likelihood": {"type": "squared_error"}},
            (32, 32, 1),
            seed=0,
        )
