"""Model files written before the models split (tests/data/legacy_models) load and predict as they did."""

import json
import zipfile

import numpy as np
import pytest

from vae_latent_study.models import autoencoders, inference

from .conftest import REPO

LEGACY = REPO / "tests" / "data" / "legacy_models"


@pytest.mark.parametrize(("name", "kind"), [("dense_vae", "vae"), ("conditional_dense_ae", "ae")])
def test_a_legacy_model_loads_and_predicts_what_it_did(name, kind):
    model = inference.load_model(LEGACY / f"{name}.keras")
    expected = dict(np.load(LEGACY / f"{name}.npz"))
    assert isinstance(model, autoencoders.VAE if kind == "vae" else autoencoders.AE)
    assert model.optimizer is not None and int(model.optimizer.iterations.numpy()) == 6
    label = expected["probe_labels"] if model.condition is not None else None
    codes = inference.encode(model, expected["probe"], label=label)
    assert sorted(f"encode_{k}" for k in codes) == sorted(k for k in expected if k.startswith("encode_"))
    # Same CPU: the same bits; another CPU maker may differ in the last float32 bits.
    for key, value in codes.items():
        np.testing.assert_allclose(value, expected[f"encode_{key}"], rtol=1e-5, atol=1e-6)
    decoded = inference.decode(model, expected["codes"], label=label)
    np.testing.assert_allclose(decoded, expected["decode"], rtol=1e-5, atol=1e-6)
    if kind == "vae":
        log_var = inference.decode_log_variance(model, expected["codes"])
        np.testing.assert_allclose(log_var, expected["decode_log_variance"], rtol=1e-5, atol=1e-6)


def _config(path):
    """A `.keras` file's config without Keras's `module` (the defining module, which the split renamed) and
    `shared_object_id` (a memory address) fields."""

    def strip(o):
        if isinstance(o, dict):
            return {k: strip(v) for k, v in o.items() if k not in ("module", "shared_object_id")}
        if isinstance(o, list):
            return [strip(v) for v in o]
        return o

    with zipfile.ZipFile(path) as archive:
        return strip(json.loads(archive.read("config.json")))


@pytest.mark.parametrize("name", ["dense_vae", "conditional_dense_ae"])
def test_a_legacy_model_saves_again_with_its_config_and_weights(name, tmp_path):
    model = inference.load_model(LEGACY / f"{name}.keras")
    model.save(tmp_path / "again.keras")
    assert _config(tmp_path / "again.keras") == _config(LEGACY / f"{name}.keras")
    again = inference.load_model(tmp_path / "again.keras")
    for a, b in zip(model.get_weights(), again.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)
