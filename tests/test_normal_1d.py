"""Seed 002's NumPy/SciPy part with known answers: the split, KS and W1 against the truth, the references,
the summary's verdict, the seed's broadcast loss and its identity, determinism, bad settings, figures."""

import math

import matplotlib.pyplot as plt
import numpy as np
import pytest
from scipy import stats

from vae_latent_study.config import ConfigError
from vae_latent_study.kinds.normal_1d import data as normal_1d

MEAN, STD = 100.0, 10.0


def _train_sample(seed: int = 0) -> np.ndarray:
    data = normal_1d.draw_dataset(**{**normal_1d.SOURCE_SETTINGS, "seed": seed})
    return data["x"][data["train"]]


def _quantile_grid(mean: float, std: float, size: int = 200_000) -> np.ndarray:
    return stats.norm.ppf((np.arange(size) + 0.5) / size, loc=mean, scale=std)


# --- data --------------------------------------------------------------------------------------------------


def test_source_settings_split_67_33_with_the_last_rows_as_test_set():
    data = normal_1d.draw_dataset(**normal_1d.SOURCE_SETTINGS)
    assert data["x"].shape == (100,) and data["x"].dtype == np.float32
    assert (data["n_train"], data["n_test"]) == (67, 33)
    np.testing.assert_array_equal(data["train"], np.arange(67))
    np.testing.assert_array_equal(data["test"], np.arange(67, 100))
    assert (data["true_mean"], data["true_std"]) == (MEAN, STD)


def test_draws_are_the_seeded_generator_rounded_once_to_float32():
    data = normal_1d.draw_dataset(5.0, 2.0, 50, 0.2, seed=7)
    expected = np.random.default_rng(7).normal(5.0, 2.0, 50).astype(np.float32)
    np.testing.assert_array_equal(data["x"], expected)
    again = normal_1d.draw_dataset(5.0, 2.0, 50, 0.2, seed=7)
    np.testing.assert_array_equal(again["x"], data["x"])
    assert not np.array_equal(normal_1d.draw_dataset(5.0, 2.0, 50, 0.2, seed=8)["x"], data["x"])


@pytest.mark.parametrize(
    ("n", "share", "expected"), [(100, 0.33, 33), (100, 0.07, 7), (10, 0.25, 3), (3, 0.1, 1)]
)
def test_test_rows_are_the_ceiling_without_float_error(n, share, expected):
    # 0.07 * 100 is 7.000000000000001 in floating point: a bare ceil would hold out 8 rows.
    assert normal_1d.n_test_rows(n, share) == expected


@pytest.mark.parametrize(
    ("change", "key"),
    [
        ({"std": 0.0}, "std"),
        ({"std": -1.0}, "std"),
        ({"std": math.inf}, "std"),
        ({"mean": math.nan}, "mean"),
        ({"n": 2}, "n"),  # 1 training row and 1 test row: an ML std needs 2 training rows
        ({"n": 10.5}, "n"),
        ({"test_share": 0.0}, "test_share"),
        ({"test_share": 1.0}, "test_share"),
        ({"seed": -1}, "seed"),
        ({"seed": 1.5}, "seed"),
    ],
)
def test_bad_settings_are_rejected_naming_the_key(change, key):
    config = {**normal_1d.SOURCE_SETTINGS, **change}
    messages = normal_1d.normal_1d_messages(config, prefix="datasets.normal.")
    assert len(messages) == 1 and f"config key 'datasets.normal.{key}'" in messages[0]
    with pytest.raises(ConfigError, match=f"'{key}'"):
        normal_1d.draw_dataset(**config)


def test_smallest_valid_split_and_missing_keys():
    assert normal_1d.normal_1d_messages({**normal_1d.SOURCE_SETTINGS, "n": 3}) == []  # 2 train, 1 test
    messages = normal_1d.normal_1d_messages({"mean": 1.0, "std": 1.0})
    assert messages == [f"config key '{key}': missing" for key in ("n", "test_share", "seed")]


# --- distances -------------------------------------------------------------------------------------------


def test_a_true_sample_passes_ks_at_the_expected_scale_and_a_shifted_one_fails():
    m = 2_000
    rng = np.random.default_rng(11)
    true_sample = rng.normal(MEAN, STD, m)
    scores = normal_1d.distribution_scores(true_sample, MEAN, STD, _train_sample(), rng=1)
    assert scores["model_ks_pvalue"] > 0.01
    # E[sup|F_m - F|] is about 0.87 / sqrt(m); allow a factor of two either way.
    assert 0.4 / math.sqrt(m) < scores["model_ks"] < 1.8 / math.sqrt(m)
    shifted = normal_1d.distribution_scores(true_sample + 0.3 * STD, MEAN, STD, _train_sample(), rng=1)
    assert shifted["model_ks_pvalue"] < 1e-10
    # A shift by d moves every quantile by d, so W1 is about d (up to the sample's own W1).
    assert abs(shifted["model_w1"] - 0.3 * STD) < scores["model_w1"] + 0.1


def test_exact_w1_matches_scipy_on_a_fine_quantile_grid():
    values = np.random.default_rng(3).normal(97.0, 12.0, 500)
    exact = normal_1d.wasserstein1_to_normal(values, MEAN, STD)
    on_grid = stats.wasserstein_distance(values, _quantile_grid(MEAN, STD))
    assert exact == pytest.approx(on_grid, rel=1e-4)
    # A single point at the mean: E|X - mean| = std sqrt(2 / pi).
    assert normal_1d.wasserstein1_to_normal(np.array([MEAN]), MEAN, STD) == pytest.approx(
        STD * math.sqrt(2 / math.pi)
    )


@pytest.mark.parametrize(
    "other", [(MEAN, STD), (101.0, 10.0), (100.0, 12.0), (97.27, 10.1), (120.0, 3.0), (100.0, 10.0 + 1e-7)]
)
def test_exact_distances_between_normals_match_a_dense_grid(other):
    grid = np.linspace(0.0, 200.0, 400_001)
    gaps = np.abs(stats.norm.cdf(grid, *other) - stats.norm.cdf(grid, MEAN, STD))
    assert normal_1d.normal_ks_distance(*other, MEAN, STD) == pytest.approx(gaps.max(), rel=1e-6, abs=1e-12)
    assert normal_1d.normal_ks_distance(MEAN, STD, *other) == pytest.approx(gaps.max(), rel=1e-6, abs=1e-12)
    on_grid = stats.wasserstein_distance(_quantile_grid(*other), _quantile_grid(MEAN, STD))
    assert normal_1d.normal_wasserstein1_distance(*other, MEAN, STD) == pytest.approx(
        on_grid, rel=1e-4, abs=1e-9
    )


def test_equal_stds_give_the_midpoint_formula():
    shift = 3.0
    expected = 2 * stats.norm.cdf(shift / (2 * STD)) - 1
    assert normal_1d.normal_ks_distance(MEAN + shift, STD, MEAN, STD) == pytest.approx(expected)


# --- references --------------------------------------------------------------------------------------------


def test_fitted_reference_is_the_ml_fit_and_its_sampled_ks_brackets_the_exact_one():
    train = _train_sample()
    m = normal_1d.ANSWER_SAMPLE_SIZE
    scores = normal_1d.distribution_scores(np.random.default_rng(5).normal(MEAN, STD, m), MEAN, STD, train, 9)
    assert scores["fitted_fit_mean"] == pytest.approx(np.mean(train.astype(np.float64)))
    assert scores["fitted_fit_std"] == pytest.approx(np.std(train.astype(np.float64), ddof=0))
    # Triangle inequality: |KS(sample, truth) - KS(fit, truth)| <= KS(sample, fit). Redraw the fitted sample
    # from the same seed to measure its own KS against the fit.
    rng = np.random.default_rng(9)
    rng.normal(MEAN, STD, m)  # the fresh sample comes first
    fitted = rng.normal(scores["fitted_fit_mean"], scores["fitted_fit_std"], m)
    assert fitted.mean() == pytest.approx(scores["fitted_mean"])
    own = stats.kstest(fitted, "norm", args=(scores["fitted_fit_mean"], scores["fitted_fit_std"])).statistic
    assert abs(scores["fitted_ks"] - scores["fitted_ks_exact"]) <= own + 1e-12
    assert own < 1.63 / math.sqrt(m)  # the Kolmogorov 1% critical value
    assert abs(scores["fitted_w1"] - scores["fitted_w1_exact"]) < 3 * STD / math.sqrt(m) + 0.05


def test_fresh_reference_is_a_true_sample_of_the_same_size():
    samples = np.full(3_000, MEAN)  # a decoder that learned only the mean
    scores = normal_1d.distribution_scores(samples, MEAN, STD, _train_sample(), rng=4)
    assert scores["n_samples"] == 3_000 and scores["n_train"] == 67
    assert scores["fresh_ks_pvalue"] > 0.01 and scores["fresh_ks"] < 1.63 / math.sqrt(3_000)
    # A point mass at the median: KS 0.5, W1 std sqrt(2 / pi), std 0.
    assert scores["model_ks"] == pytest.approx(0.5, abs=1e-9)
    assert scores["model_w1"] == pytest.approx(STD * math.sqrt(2 / math.pi))
    assert scores["model_std"] == 0.0


def test_same_inputs_give_identical_scores_and_the_model_samples_do_not_move_the_references():
    samples = np.random.default_rng(2).normal(98.0, 9.0, 1_000).reshape(-1, 1)  # a decoder's (m, 1)
    first = normal_1d.distribution_scores(samples, MEAN, STD, _train_sample(), rng=6)
    again = normal_1d.distribution_scores(samples, MEAN, STD, _train_sample(), rng=np.random.default_rng(6))
    assert first == again
    other = normal_1d.distribution_scores(samples + 1.0, MEAN, STD, _train_sample(), rng=6)
    assert all(first[k] == other[k] for k in first if not k.startswith("model_"))


def test_reference_samples_are_the_ones_the_scores_measured():
    samples = np.random.default_rng(2).normal(98.0, 9.0, 500)
    scores = normal_1d.distribution_scores(samples, MEAN, STD, _train_sample(), rng=6)
    fresh, fitted = normal_1d.reference_samples(500, MEAN, STD, _train_sample(), rng=6)
    assert (scores["fresh_mean"], scores["fitted_mean"]) == (float(fresh.mean()), float(fitted.mean()))
    assert scores["fresh_ks"] == stats.kstest(fresh, "norm", args=(MEAN, STD)).statistic


def test_non_finite_samples_are_rejected():
    with pytest.raises(ValueError, match="1 of 3 samples are not finite"):
        normal_1d.distribution_scores(np.array([1.0, np.nan, 2.0]), MEAN, STD, _train_sample(), rng=0)


# --- summary ---------------------------------------------------------------------------------------------


def _rows(model_shift: float, replicates: int = 20) -> list[dict]:
    rows = []
    for r in range(replicates):
        rng = np.random.default_rng(100 + r)
        train = rng.normal(MEAN, STD, 67)
        samples = rng.normal(MEAN + model_shift, STD, 2_000)
        rows.append(normal_1d.distribution_scores(samples, MEAN, STD, train, rng))
    return rows


def test_summary_medians_iqr_and_verdict():
    good = normal_1d.replicate_summary(_rows(0.0))
    assert good["n_replicates"] == 20 and good["enough_replicates"]
    assert good["meets_target"] and good["ks_ratio"] < 1.0  # a true sample beats a 67-point fit
    assert good["ks_ratio"] == pytest.approx(good["model_ks_median"] / good["fitted_ks_median"])
    assert good["model_ks_iqr"] == pytest.approx(good["model_ks_q75"] - good["model_ks_q25"])
    assert good["model_ks_q25"] <= good["model_ks_median"] <= good["model_ks_q75"]
    # The fitted Gaussian's sampled KS sits near its exact KS (2,000 draws add ~0.02 at most).
    assert abs(good["fitted_ks_median"] - good["fitted_ks_exact_median"]) < 0.03
    bad = normal_1d.replicate_summary(_rows(5.0))  # half a std off: KS about 0.2
    assert not bad["meets_target"] and bad["ks_ratio"] > 1.5


def test_summary_of_few_replicates_says_so_and_of_none_refuses():
    few = normal_1d.replicate_summary(_rows(0.0, replicates=3))
    assert few["n_replicates"] == 3 and not few["enough_replicates"]
    with pytest.raises(ValueError):
        normal_1d.replicate_summary([])


def test_decode_mode_difference():
    inference = np.linspace(80.0, 120.0, 11)
    same = normal_1d.decode_mode_difference(inference.reshape(-1, 1), inference)
    assert same["max_abs_diff"] == 0.0 and same["mean_abs_diff"] == 0.0
    moved = normal_1d.decode_mode_difference(inference + np.r_[np.zeros(10), 2.0], inference)
    assert moved["max_abs_diff"] == pytest.approx(2.0)
    assert moved["relative_max_diff"] == pytest.approx(2.0 / np.std(inference))


# --- the seed's loss ---------------------------------------------------------------------------------------


def test_source_loss_broadcasts_to_batch_by_batch():
    data = np.array([1.0, 2.0, 4.0])  # (b,), as the seed fed it
    reconstruction = np.array([[1.0], [2.0], [4.0]])  # (b, 1), a perfect reconstruction
    # Every reconstruction against every sample: sum_i mean_j (r_i - x_j)^2.
    expected = sum(np.mean([(r - x) ** 2 for x in data]) for r in data)
    assert normal_1d.keras2_mse_broadcast_loss(data, reconstruction) == pytest.approx(expected)
    assert expected > 0  # a perfect reconstruction still pays
    assert normal_1d.per_sample_squared_error(data, reconstruction) == 0.0
    # With (b, 1) data Keras's arithmetic is the per-sample error.
    assert normal_1d.keras2_mse_broadcast_loss(data.reshape(-1, 1), reconstruction) == 0.0


def test_broadcast_loss_is_pull_to_batch_mean_plus_variance_floor():
    rng = np.random.default_rng(0)
    for b in (1, 2, 11, 67):
        data = rng.normal(MEAN, STD, b)
        reconstruction = rng.normal(MEAN, 3.0, (b, 1))
        loss = normal_1d.keras2_mse_broadcast_loss(data, reconstruction)
        parts = normal_1d.broadcast_loss_decomposition(data, reconstruction)
        expected = np.sum((reconstruction.ravel() - data.mean()) ** 2) + b * np.var(data)
        assert loss == pytest.approx(expected, rel=1e-12)
        assert parts["loss"] == pytest.approx(loss, rel=1e-12)
        assert parts["pull_to_batch_mean"] + parts["variance_floor"] == pytest.approx(loss, rel=1e-12)
        # Its minimiser is the batch mean for every row, whatever the row's own value.
        at_mean = normal_1d.keras2_mse_broadcast_loss(data, np.full((b, 1), data.mean()))
        assert at_mean == pytest.approx(b * np.var(data)) and at_mean <= loss
        own = normal_1d.keras2_mse_broadcast_loss(data, data.reshape(-1, 1))
        assert own >= at_mean - 1e-9


# --- figures ---------------------------------------------------------------------------------------------


def test_figures_return_a_figure_and_write_the_file(tmp_path):
    rng = np.random.default_rng(0)
    real, generated = rng.normal(MEAN, STD, 500), rng.normal(97.27, 10.1, 500)
    grid = np.linspace(-3, 3, 61)
    figures = {
        "hist.png": normal_1d.plot_real_vs_generated(real, generated, path=tmp_path / "hist.png"),
        "qq.png": normal_1d.plot_qq({"model": generated, "fresh": real}, MEAN, STD, path=tmp_path / "qq.png"),
        "curve.svg": normal_1d.plot_decoder_curve(
            grid,
            MEAN + STD * np.tanh(grid),
            train_codes=rng.normal(size=67),
            true_mean=MEAN,
            true_std=STD,
            path=tmp_path / "curve.svg",
        ),
    }
    for name, fig in figures.items():
        assert fig.axes and (tmp_path / name).stat().st_size > 0
        plt.close(fig)
    assert len(figures["hist.png"].axes[0].patches) == 40  # 20 shared bins per histogram
    density = normal_1d.plot_real_vs_generated(real[:50], generated, density=True)
    heights = [patch.get_height() for patch in density.axes[0].patches]
    width = density.axes[0].patches[0].get_width()
    assert sum(heights[:20]) * width == pytest.approx(1.0) and sum(heights[20:]) * width == pytest.approx(1.0)
    plt.close(density)
    with pytest.raises(ValueError):
        normal_1d.plot_decoder_curve(grid, grid[:-1])


def test_source_objective_counts_the_reconstruction_once_per_row():
    data, reconstruction = np.array([1.0, 2.0, 4.0]), np.array([[2.0], [2.0], [2.0]])
    kl = np.array([0.5, 1.0, 1.5])
    loss = normal_1d.keras2_mse_broadcast_loss(data, reconstruction)
    assert normal_1d.keras2_source_objective(data, reconstruction, kl) == pytest.approx(3 * loss + kl.sum())
