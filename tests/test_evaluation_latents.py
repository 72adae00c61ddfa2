"""The latent store: layout, the AE convention, seeded samples, reconstructions, read-back."""

import h5py
import keras
import numpy as np
import pytest

from tests.conftest import SCHEMA, TINY_CONFIG
from vae_latent_study.config import validate_config
from vae_latent_study.datasets import build_dataset, read_dataset, write_dataset
from vae_latent_study.evaluation import encode, latents
from vae_latent_study.models import build, inference
from vae_latent_study.training import train

SEED = 11


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    """A tiny dataset, a VAE trained on it for one epoch, an untrained AE, and both latent stores."""
    root = tmp_path_factory.mktemp("latents")
    config = validate_config(TINY_CONFIG, SCHEMA)
    data = root / "tiny_gauss.h5"
    write_dataset(build_dataset("tiny_gauss", config["datasets"]["tiny_gauss"]), data)
    vae_path = root / "vae" / "model.keras"
    train.train_model(
        data,
        {**config["models"]["vae"], "epochs": 1},
        7,
        model_path=vae_path,
        history_path=root / "vae" / "history.csv",
        backup_dir=root / "vae" / "backup",
    )
    ae_path = root / "ae" / "model.keras"
    ae_path.parent.mkdir()
    ae = build.build_model("ae", latent_dim=2, seed=3)
    ae.compile(optimizer=build.make_optimizer({"type": "constant"}))
    # Built, as training leaves it: an unbuilt optimizer saves 2 variables, and loading it compiled
    # then warns that they do not match the built one's.
    ae.optimizer.build(ae.trainable_variables)
    ae.save(ae_path)
    paths = {"data": data, "vae_model": vae_path, "ae_model": ae_path}
    for kind in ("vae", "ae"):
        paths[kind] = root / f"{kind}_latents.h5"
        encode.encode_dataset(paths[f"{kind}_model"], data, paths[kind], seed=SEED, batch_size=8)
    return paths


def test_vae_store_layout_and_values(store):
    dataset = read_dataset(store["data"])
    got = latents.read_latents(store["vae"])
    assert (got.kind, got.latent_dim, got.seed) == ("vae", 3, SEED)
    model = keras.models.load_model(store["vae_model"])
    eps = np.random.default_rng(SEED)
    for name in ("train", "test"):
        split = got.split(name)
        rows = getattr(dataset, name)
        np.testing.assert_array_equal(split.rows, rows)
        n = len(rows)
        for key in ("z_mean", "z_log_sigma", "z"):
            value = getattr(split, key)
            assert value.shape == (n, 3) and value.dtype == np.float32
        want = inference.encode(model, dataset.images[rows][..., None], batch_size=8)
        np.testing.assert_array_equal(split.z_mean, want["z_mean"])
        np.testing.assert_array_equal(split.z_log_sigma, want["z_log_sigma"])
        # The documented sample: NumPy noise from default_rng(seed), train rows first.
        sample = split.z_mean + np.exp(split.z_log_sigma.astype(np.float64)) * eps.standard_normal((n, 3))
        np.testing.assert_allclose(split.z, sample, rtol=1e-6, atol=1e-6)
    assert got.train.reconstruction_mean is None
    for key, codes in (("reconstruction_mean", got.test.z_mean), ("reconstruction_sample", got.test.z)):
        image = getattr(got.test, key)
        assert image.shape == (len(dataset.test), 36, 36) and image.dtype == np.float32
        assert image.min() >= 0.0 and image.max() <= 1.0
        np.testing.assert_array_equal(image, inference.decode(model, codes, batch_size=8)[..., 0])
    assert not np.array_equal(got.test.reconstruction_mean, got.test.reconstruction_sample)


def test_store_attributes_link_the_dataset(store):
    manifest = read_dataset(store["data"]).manifest
    attrs = latents.read_latents(store["vae"]).attrs
    assert attrs["dataset_path"] == str(store["data"])
    assert attrs["dataset_checksum"] == manifest["checksum"]["sha256"]
    assert attrs["model_dataset_checksum"] == attrs["dataset_checksum"]  # from the training sidecar
    assert attrs["model_path"] == str(store["vae_model"])
    assert attrs["versions"]["keras"] == keras.__version__
    assert attrs["backend"] == keras.backend.backend()
    assert "model_dataset_checksum" not in latents.read_latents(store["ae"]).attrs  # no sidecar


def test_ae_code_is_stored_as_z_mean_and_z(store):
    got = latents.read_latents(store["ae"])
    assert (got.kind, got.latent_dim) == ("ae", 2)
    model = keras.models.load_model(store["ae_model"])
    dataset = read_dataset(store["data"])
    for name in ("train", "test"):
        split = got.split(name)
        assert split.z_log_sigma is None
        code = inference.encode(model, dataset.images[split.rows][..., None], batch_size=8)["code"]
        np.testing.assert_array_equal(split.z_mean, code)
        np.testing.assert_array_equal(split.z, code)
    np.testing.assert_array_equal(got.test.reconstruction_sample, got.test.reconstruction_mean)
    assert 0.0 <= got.test.reconstruction_mean.min() and got.test.reconstruction_mean.max() <= 1.0
    with h5py.File(store["ae"], "r") as h5:
        assert "z_log_sigma" not in h5["train"]
        np.testing.assert_array_equal(h5["test/code"][()], got.test.z_mean)


def test_encoding_is_reproducible_and_seeded(store, tmp_path):
    again = tmp_path / "again.h5"
    encode.encode_dataset(store["vae_model"], store["data"], again, seed=SEED, batch_size=8)
    assert again.read_bytes() == store["vae"].read_bytes()
    other = tmp_path / "other.h5"
    encode.encode_dataset(store["vae_model"], store["data"], other, seed=SEED + 1, batch_size=8)
    first, second = latents.read_latents(store["vae"]), latents.read_latents(other)
    np.testing.assert_array_equal(first.test.z_mean, second.test.z_mean)
    assert not np.array_equal(first.test.z, second.test.z)
    assert second.seed == SEED + 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["again.h5", "other.h5"]  # no temporary files


def test_read_rejects_another_format(store, tmp_path):
    path = tmp_path / "old.h5"
    path.write_bytes(store["ae"].read_bytes())
    with h5py.File(path, "a") as h5:
        h5.attrs["format_version"] = 0
    with pytest.raises(ValueError, match="format"):
        latents.read_latents(path)
    with pytest.raises(KeyError):
        latents.read_latents(store["ae"]).split("validation")
