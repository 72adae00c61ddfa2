"""The images evaluation's known answers: the entropy floor, and proper bounds on log p(x) of a VAE."""

import numpy as np
import pytest

from tests.conftest import CONV32_VAE
from vae_latent_study.kinds.images import evaluate as ev
from vae_latent_study.models import build


def test_binary_entropy_is_the_floor_of_every_cross_entropy():
    np.testing.assert_allclose(ev.binary_entropy(np.array([0.0, 1.0, 0.5])), [0.0, 0.0, np.log(2)])
    rng = np.random.default_rng(0)
    x = rng.uniform(size=(4, 8, 8))
    limit = ev.entropy_limit(x)
    assert ev.binary_cross_entropy(x, x).mean() == pytest.approx(limit)  # a perfect reconstruction
    for _ in range(5):
        assert ev.binary_cross_entropy(x, rng.uniform(size=x.shape)).mean() > limit


def test_the_iwae_bound_is_at_least_the_elbo_and_tightens_with_k():
    vae = build.build_model_from_options(CONV32_VAE, (32, 32, 1), seed=4)
    images = np.random.default_rng(1).uniform(size=(6, 32, 32, 1)).astype("float32")
    one = ev.likelihood_bounds(vae, images, k=1, seed=0)
    many = ev.likelihood_bounds(vae, images, k=64, seed=0)
    assert one["iwae"] == pytest.approx(one["elbo_mc"])  # one draw: the same estimate
    assert many["iwae"] >= many["elbo_mc"] and many["iwae_minus_elbo_mc_min"] >= 0
    assert many["iwae"] >= one["iwae"] - 1.0  # more draws tighten the bound (up to noise)
    # The closed-form KL and the draws agree on the ELBO to Monte-Carlo error.
    assert many["elbo"] == pytest.approx(many["elbo_mc"], rel=0.01)
    # 1,024 pixels of a Bernoulli on gray levels: at least the entropy floor per pixel.
    assert -many["elbo"] >= 1024 * ev.entropy_limit(images)
    assert ev.likelihood_bounds(vae, images, k=8, seed=3) == ev.likelihood_bounds(vae, images, k=8, seed=3)


def _images_dataset(tmp_path, separable: bool):
    """A small images dataset built by the kind's own code from IDX files written here: 30 training and 10
    test images per class, whose brightness is the class (`separable`) or random."""
    from tests.test_images import write_source
    from vae_latent_study.datasets import make_dataset

    rng = np.random.default_rng(0)
    arrays = {}
    for split, n in (("train", 30), ("test", 10)):
        y = rng.permutation(np.repeat(np.arange(10, dtype=np.uint8), n))
        level = y[:, None, None] * 25 if separable else rng.integers(0, 226, size=(len(y), 1, 1))
        noise = rng.integers(0, 30, size=(len(y), 28, 28))
        arrays[f"x_{split}"], arrays[f"y_{split}"] = (level + noise).astype(np.uint8), y
    folder = write_source(tmp_path / "source", arrays)
    config = {"kind": "images", "source": "fashion_mnist", "directory": str(folder), "subset": None}
    path = tmp_path / "images.h5"
    make_dataset("images", {**config, "seed": 0, "pad": True}, path)
    return path


@pytest.mark.parametrize("separable", [True, False])
def test_the_pixel_probe_is_made_once_per_dataset_and_read_by_each_models_evaluation(tmp_path, separable):
    from vae_latent_study.io import ProjectFileError
    from vae_latent_study.kinds.images import pixels

    dataset = _images_dataset(tmp_path, separable)
    path = tmp_path / "pixels_pca2_knn.json"
    pixels.write_pixel_probe(dataset, path, [3, 24], 5)
    probe = ev._pixel_probe(path, [3, 24], 5)
    # Brightness is the first principal direction: the probe reads the class off it; random images give
    # about the chance rate of ten classes.
    assert probe["test_accuracy"] > 0.9 if separable else probe["test_accuracy"] < 0.3
    assert [row["k"] for row in probe["cv_results"]] == list(range(3, 25))
    # Made with other settings than the evaluation's own probe: refused, naming the file.
    with pytest.raises(ProjectFileError, match="pixels_pca2_knn.json"):
        ev._pixel_probe(path, [3, 10], 5)
