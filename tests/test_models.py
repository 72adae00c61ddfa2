"""The Keras 3 VAE and AE against the seed's architecture, losses, optimisers and saved-file round trip."""

import keras
import numpy as np
import pytest

from vae_latent_study.models import autoencoders, build, inference

LATENT = 3


def _images(n: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).random((n, 36, 36, 1)).astype("float32")


@pytest.fixture(scope="module")
def images() -> np.ndarray:
    return _images(12, 0)


def _weights(model: keras.Model) -> list[np.ndarray]:
    return [np.asarray(w) for w in model.get_weights()]


def _sampler_state(model: autoencoders.VAE) -> np.ndarray:
    return np.asarray(model.encoder.get_layer("sampling").seed_generator.state.numpy())


def _bce(x: np.ndarray, p: np.ndarray) -> np.ndarray:
    p = np.clip(p.astype(np.float64), 1e-7, 1 - 1e-7)
    return -(x * np.log(p) + (1 - x) * np.log(1 - p))


def test_parameter_counts_match_the_seed():
    vae = build.build_model("vae")
    ae = build.build_model("ae")
    assert vae.encoder.count_params() == 232_454
    assert vae.decoder.count_params() == 96_705
    assert ae.encoder.count_params() == 232_259
    assert ae.decoder.count_params() == 96_705
    # The sampler's seed state is a variable but not a weight.
    assert len(vae.encoder.weights) == len(ae.encoder.weights) + 2


def test_output_shapes(images):
    vae = build.build_model("vae", latent_dim=LATENT)
    out = vae(images[:4])
    assert {k: tuple(v.shape) for k, v in out.items()} == {
        "z_mean": (4, LATENT),
        "z_log_sigma": (4, LATENT),
        "z": (4, LATENT),
        "reconstruction": (4, 36, 36, 1),
    }
    ae_out = build.build_model("ae", latent_dim=2)(images[:4])
    assert tuple(ae_out["code"].shape) == (4, 2)
    assert tuple(ae_out["reconstruction"].shape) == (4, 36, 36, 1)
    recon = np.asarray(out["reconstruction"])
    assert recon.min() >= 0.0 and recon.max() <= 1.0
    # Sampling is z = mean + exp(log_sigma) * eps, so the noise it drew is recoverable and standard-ish.
    eps = (np.asarray(out["z"]) - np.asarray(out["z_mean"])) / np.exp(np.asarray(out["z_log_sigma"]))
    assert np.all(np.isfinite(eps)) and np.abs(eps).max() < 6


def test_vae_loss_is_the_seeds_formula(images):
    vae = build.build_model("vae", seed=3)
    y_pred = vae(images)
    total = float(vae.compute_loss(x=images, y_pred=y_pred))
    p = {k: np.asarray(v, dtype=np.float64) for k, v in y_pred.items()}
    recon = np.mean(_bce(images, p["reconstruction"])) * 36 * 36
    kl_terms = -0.5 * (1 + p["z_log_sigma"] - p["z_mean"] ** 2 - np.exp(p["z_log_sigma"]))
    kl = np.mean(np.mean(kl_terms, axis=-1))
    assert total == pytest.approx(recon + kl, rel=1e-5)
    got_recon, got_kl = (float(t) for t in vae.loss_terms(images, y_pred))
    assert got_recon == pytest.approx(recon, rel=1e-5)
    assert got_kl == pytest.approx(kl, rel=1e-4, abs=1e-7)

    summed = autoencoders.VAE(vae.encoder, vae.decoder, kl_reduction="sum")
    assert float(summed.loss_terms(images, y_pred)[1]) == pytest.approx(LATENT * got_kl, rel=1e-5)
    weighted = autoencoders.VAE(vae.encoder, vae.decoder, beta=4.0)
    assert float(weighted.loss_terms(images, y_pred)[1]) == pytest.approx(4.0 * got_kl, rel=1e-5)
    assert float(weighted.loss_terms(images, y_pred)[0]) == pytest.approx(got_recon, rel=1e-6)


def test_ae_loss_is_mean_bce(images):
    ae = build.build_model("ae")
    y_pred = ae(images)
    expected = np.mean(_bce(images, np.asarray(y_pred["reconstruction"])))
    assert float(ae.compute_loss(x=images, y_pred=y_pred)) == pytest.approx(expected, rel=1e-5)


def test_model_kind_names_the_model():
    assert autoencoders.model_kind(build.build_model("vae", LATENT, seed=0)) == "vae"
    assert autoencoders.model_kind(build.build_model("ae", LATENT, seed=0)) == "ae"
    with pytest.raises(TypeError, match="expected a VAE or AE"):
        autoencoders.model_kind(keras.Sequential())


def test_invalid_options_are_rejected():
    with pytest.raises(ValueError, match="kl_reduction"):
        build.build_model("vae", kl_reduction="max")
    with pytest.raises(ValueError, match="kind"):
        build.build_model("gan")
    with pytest.raises(ValueError, match="image_size"):
        build.build_model("ae", image_size=32)
    with pytest.raises(ValueError, match="unknown keys"):
        build.make_optimizer({"type": "constant", "decay_rate": 0.9})


def _schedule(optimizer: keras.optimizers.Optimizer):
    return keras.optimizers.schedules.deserialize(optimizer.get_config()["learning_rate"])


def test_optimisers_follow_the_seed():
    schedule = _schedule(build.make_optimizer({"type": "exponential_decay"}))
    assert isinstance(schedule, keras.optimizers.schedules.ExponentialDecay)
    assert float(schedule(0)) == pytest.approx(1e-3)
    assert float(schedule(30)) == pytest.approx(1e-3 * 0.99)
    assert float(schedule(15)) == pytest.approx(1e-3 * 0.99**0.5)  # staircase=False
    ae_opt = build.make_optimizer({"type": "constant"})
    assert float(ae_opt.learning_rate) == pytest.approx(1e-3)
    # Missing keys take the seed's values; a changed one is honoured.
    custom = _schedule(build.make_optimizer({"type": "exponential_decay", "decay_rate": 0.5}))
    assert float(custom(30)) == pytest.approx(5e-4)


@pytest.fixture(scope="module")
def trained_vae(images):
    keras.utils.set_random_seed(0)
    vae = build.build_model("vae", seed=1)
    vae.compile(optimizer=build.make_optimizer({"type": "exponential_decay"}))
    # 12 and 10 rows in batches of 8: uneven last batches check the trackers' weighting too.
    history = vae.fit(
        images, images, batch_size=8, epochs=1, validation_data=(_images(10, 1),) * 2, verbose=0
    )
    return vae, history.history


def test_fit_logs_loss_as_reconstruction_plus_kl(trained_vae):
    vae, logs = trained_vae
    assert int(vae.optimizer.iterations) == 2
    for prefix in ("", "val_"):
        loss, recon, kl = (logs[f"{prefix}{k}"][0] for k in ("loss", "reconstruction_loss", "kl_loss"))
        assert np.isfinite(loss) and loss > 0
        assert loss == pytest.approx(recon + kl, rel=1e-6)
    assert {"loss", "reconstruction_loss", "kl_loss"} <= {m.name for m in vae.metrics}


def test_ae_fit_step(images):
    ae = build.build_model("ae")
    ae.compile(optimizer=build.make_optimizer({"type": "constant"}))
    logs = ae.fit(images, images, batch_size=8, epochs=1, verbose=0).history
    assert np.isfinite(logs["loss"][0])
    assert logs["loss"][0] == pytest.approx(logs["reconstruction_loss"][0], rel=1e-6)


def test_keras_file_round_trip(trained_vae, images, tmp_path):
    vae, _ = trained_vae
    path = tmp_path / "vae.keras"
    vae.save(path)
    loaded = keras.models.load_model(path)
    assert isinstance(loaded, autoencoders.VAE)
    assert (loaded.kl_reduction, loaded.beta) == (vae.kl_reduction, vae.beta)
    np.testing.assert_array_equal(_sampler_state(loaded), _sampler_state(vae))
    assert int(loaded.optimizer.iterations) == int(vae.optimizer.iterations)
    original, restored = inference.encode(vae, images), inference.encode(loaded, images)
    for key in ("z_mean", "z_log_sigma", "z"):  # equal samples z prove the sampler state came back
        np.testing.assert_array_equal(restored[key], original[key])
    codes = original["z_mean"]
    np.testing.assert_array_equal(inference.decode(loaded, codes), inference.decode(vae, codes))

    ae = build.build_model("ae", latent_dim=2)
    ae.save(tmp_path / "ae.keras")
    ae_loaded = keras.models.load_model(tmp_path / "ae.keras")
    assert isinstance(ae_loaded, autoencoders.AE)
    np.testing.assert_array_equal(
        inference.encode(ae_loaded, images)["code"], inference.encode(ae, images)["code"]
    )


def test_weights_file_carries_the_sampler_state(trained_vae, tmp_path):
    # What BackupAndRestore relies on: weights saved mid-run restore the noise stream in a fresh model.
    vae, _ = trained_vae
    path = tmp_path / "backup.weights.h5"
    vae.save_weights(path)
    fresh = build.build_model("vae", seed=99)
    assert not np.array_equal(_sampler_state(fresh), _sampler_state(vae))
    fresh.load_weights(path)
    np.testing.assert_array_equal(_sampler_state(fresh), _sampler_state(vae))
    for a, b in zip(_weights(fresh), _weights(vae), strict=True):
        np.testing.assert_array_equal(a, b)


def test_initial_weights_depend_only_on_the_seed():
    keras.utils.set_random_seed(5)
    first = build.build_model("vae", seed=7)
    keras.utils.set_random_seed(5)
    second = build.build_model("vae", seed=7)
    other = build.build_model("vae", seed=8)
    for a, b in zip(_weights(first), _weights(second), strict=True):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(_sampler_state(first), _sampler_state(second))
    assert not np.array_equal(_weights(first)[0], _weights(other)[0])
    # An explicit seed does not depend on the global one either.
    keras.utils.set_random_seed(6)
    third = build.build_model("vae", seed=7)
    np.testing.assert_array_equal(_weights(third)[-2], _weights(first)[-2])
    # seed=None falls back to the global RNG, which set_random_seed makes reproducible.
    keras.utils.set_random_seed(5)
    unseeded = build.build_model("ae", seed=None)
    keras.utils.set_random_seed(5)
    unseeded_again = build.build_model("ae", seed=None)
    for a, b in zip(_weights(unseeded), _weights(unseeded_again), strict=True):
        np.testing.assert_array_equal(a, b)
