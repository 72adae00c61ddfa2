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
