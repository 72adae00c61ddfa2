"""Disentanglement metrics on codes with known answers: identity, constant, noise and rotated codes."""

import numpy as np
import pytest

from vae_latent_study.evaluation import disentanglement as metrics

# A small full factorial grid, like the study's (var_x, var_y, cor) grid but 10 x 8 x 6 = 480 rows. Every
# factor has at most 20 levels, so 20 histogram bins give each level its own bin (the level spacing exceeds
# the bin width) and the identity code keeps all of a factor's entropy.
LEVELS = (10, 8, 6)
INDICES = np.array(np.meshgrid(*[np.arange(m) for m in LEVELS], indexing="ij")).reshape(3, -1).T
VALUES = np.column_stack(
    [
        np.linspace(0.1, 4.9, 10)[INDICES[:, 0]],
        np.linspace(0.5, 3.0, 8)[INDICES[:, 1]],
        np.linspace(-0.75, 0.75, 6)[INDICES[:, 2]],
    ]
)
STANDARDISED = (VALUES - VALUES.mean(axis=0)) / VALUES.std(axis=0)
# A fixed rotation that mixes every factor into every code dim (|entries| between 0.20 and 0.78).
ROTATION = np.linalg.qr(np.array([[1.0, 1.0, 0.5], [-1.0, 1.0, 1.0], [0.5, -1.0, 1.0]]))[0]


def _identity_code(noise: float = 1e-3) -> np.ndarray:
    # Noise of 0.1% of a standard deviation: far below the level spacing, so no level changes bins.
    return STANDARDISED + noise * np.random.default_rng(0).standard_normal(STANDARDISED.shape)


def _split(n: int = len(INDICES), seed: int = 1) -> tuple[np.ndarray, np.ndarray]:
    order = np.random.default_rng(seed).permutation(n)
    return order[: 3 * n // 4], order[3 * n // 4 :]


def test_grid_is_full_factorial():
    assert len(np.unique(INDICES, axis=0)) == np.prod(LEVELS)


def test_discretize_bins_each_dim_over_its_range():
    codes = np.column_stack([np.linspace(0, 1, 100), np.full(100, 3.0)])
    binned = metrics.discretize(codes, 10)
    assert binned.shape == (100, 2) and binned.dtype.kind == "i"
    assert binned[:, 0].min() == 0 and binned[:, 0].max() == 9
    assert np.all(np.bincount(binned[:, 0]) == 10)
    assert len(np.unique(binned[:, 1])) == 1


def test_mig_identity_code_is_one():
    # Bins are a bijection of levels and, the grid being full factorial, every other dim has exactly zero
    # mutual information with the factor: the gap is the factor's whole entropy.
    result = metrics.mig(_identity_code(noise=0.0), INDICES)
    assert result["mig"] == pytest.approx(1.0, abs=1e-9)
    assert result["mig_per_factor"] == pytest.approx([1.0, 1.0, 1.0], abs=1e-9)
    # The 6 levels of the last factor sit on bin edges (i/5 = 4i/20), so tiny noise splits each level over
    # two bins at random; the plug-in estimate then finds a little spurious information in the other dims.
    assert metrics.mig(_identity_code(), INDICES)["mig"] > 0.95


def test_mig_constant_code_is_zero():
    assert metrics.mig(np.ones((len(INDICES), 3)), INDICES)["mig"] == pytest.approx(0.0, abs=1e-12)


def test_mig_rotated_code_is_clearly_lower():
    # Each binned rotated dim carries part of every factor, so top-two gaps are small (about 0.07 here).
    assert metrics.mig(_identity_code() @ ROTATION, INDICES)["mig"] < 0.3


def test_mig_rejects_constant_factor():
    with pytest.raises(ValueError, match="entropy"):
        metrics.mig(_identity_code(), np.column_stack([INDICES[:, 0], np.zeros(len(INDICES), int)]))


def test_dci_identity_code_is_near_one():
    train, test = _split()
    codes = _identity_code()
    result = metrics.dci(codes[train], INDICES[train], codes[test], INDICES[test], random_state=0)
    assert set(result) == {"disentanglement", "completeness", "informativeness_train", "informativeness_test"}
    # Within a leaf that fixes the level of the factor's own dim the residual is constant, so the trees have
    # no reason to split on the other (independent) dims; the importance matrix is diagonal up to noise.
    assert result["disentanglement"] > 0.95
    assert result["completeness"] > 0.95
    assert result["informativeness_train"] == pytest.approx(1.0)
    assert result["informativeness_test"] > 0.95


def test_dci_constant_code_scores_zero_and_predicts_the_majority():
    train, test = _split()
    constant = np.zeros((len(INDICES), 3))
    result = metrics.dci(constant[train], INDICES[train], constant[test], INDICES[test], random_state=0)
    # No split is possible: all importances are zero, every row of P is uniform, D = C = 0.
    assert result["disentanglement"] == pytest.approx(0.0, abs=1e-6)
    assert result["completeness"] == pytest.approx(0.0, abs=1e-6)
    # A constant input predicts one class per factor, whose frequency is about 1 / levels.
    assert result["informativeness_test"] < 0.3


def test_dci_rotated_code_is_clearly_less_disentangled():
    train, test = _split()
    codes = _identity_code() @ ROTATION
    result = metrics.dci(codes[train], INDICES[train], codes[test], INDICES[test], random_state=0)
    # Every factor needs all three dims, so importances spread over each row and column (D ~ C ~ 0.05 here).
    assert result["disentanglement"] < 0.5
    assert result["completeness"] < 0.5


def test_dci_is_deterministic_and_subsamples():
    train, test = _split()
    codes = _identity_code(0.3) @ ROTATION
    args = (codes[train], INDICES[train], codes[test], INDICES[test])
    first = metrics.dci(*args, random_state=3, num_train=200)
    assert first == metrics.dci(*args, random_state=np.random.default_rng(3), num_train=200)
    assert first == metrics.dci(*args, random_state=3, num_train=200, n_jobs=2)


def test_sap_identity_code_is_one_for_continuous_factors():
    train, test = _split()
    codes = _identity_code()
    result = metrics.sap(codes[train], VALUES[train], codes[test], VALUES[test], continuous=True)
    # R^2 is ~1 on the factor's own dim and ~0 elsewhere (independent factors; only the split's sampling
    # leaves a little correlation).
    assert result["sap"] > 0.95


def test_sap_constant_code_is_zero():
    constant = np.zeros((len(INDICES), 3))
    train, test = _split()
    assert metrics.sap(constant[train], VALUES[train], constant[test], VALUES[test])["sap"] == 0.0
    discrete = metrics.sap(constant[train], INDICES[train], constant[test], INDICES[test], continuous=False)
    assert discrete["sap"] == pytest.approx(0.0, abs=1e-12)


def test_sap_rotated_code_is_clearly_lower():
    train, test = _split()
    codes = _identity_code() @ ROTATION
    # R^2 of a factor on dim j is ROTATION[f, j]^2, so the gaps are those of squared entries (mean ~0.17).
    assert metrics.sap(codes[train], VALUES[train], codes[test], VALUES[test])["sap"] < 0.5


def test_sap_discrete_binary_factor():
    # A linear classifier on one dim separates a binary factor perfectly when that dim is the factor and is at
    # chance on an independent dim: the gap is 1 - 1/2.
    rng = np.random.default_rng(2)
    labels = rng.integers(0, 2, size=(600, 1))
    codes = np.column_stack([labels[:, 0] + 0.05 * rng.standard_normal(600), rng.standard_normal(600)])
    result = metrics.sap(
        codes[:400], labels[:400], codes[400:], labels[400:], continuous=[False], random_state=0
    )
    assert result["sap"] > 0.4
    again = metrics.sap(
        codes[:400], labels[:400], codes[400:], labels[400:], continuous=[False], random_state=0
    )
    assert result == again


def test_sap_rejects_wrong_number_of_flags():
    with pytest.raises(ValueError, match="flag"):
        metrics.sap(STANDARDISED, VALUES, STANDARDISED, VALUES, continuous=[True, False])


def test_factor_vae_identity_code_is_one():
    result = metrics.factor_vae_score(_identity_code(), INDICES, random_state=0, num_train=500, num_eval=300)
    # Fixing a factor leaves its own dim with (near) zero variance, the smallest: every vote is right.
    assert result == {
        "factor_vae_train_accuracy": 1.0,
        "factor_vae_eval_accuracy": 1.0,
        "factor_vae_num_active_dims": 3,
    }


def test_factor_vae_noise_code_is_at_chance():
    noise = np.random.default_rng(5).standard_normal((len(INDICES), 3))
    result = metrics.factor_vae_score(noise, INDICES, random_state=0, num_train=2000, num_eval=2000)
    # The argmin dim is independent of the fixed factor, so any dim -> factor map is right with
    # probability 1/3; the standard error with 2,000 votes is about 0.011.
    assert result["factor_vae_eval_accuracy"] == pytest.approx(1 / 3, abs=0.05)


def test_factor_vae_prunes_collapsed_dims():
    codes = np.column_stack([STANDARDISED[:, :2], np.full(len(INDICES), 7.0)])
    result = metrics.factor_vae_score(codes, INDICES, random_state=0, num_train=300, num_eval=300)
    assert result["factor_vae_num_active_dims"] == 2
    # Two informative dims can name at most two of three equally likely factors.
    assert result["factor_vae_eval_accuracy"] == pytest.approx(2 / 3, abs=0.08)
    constant = metrics.factor_vae_score(np.zeros((len(INDICES), 3)), INDICES, random_state=0)
    assert constant == {
        "factor_vae_train_accuracy": 0.0,
        "factor_vae_eval_accuracy": 0.0,
        "factor_vae_num_active_dims": 0,
    }


def test_factor_vae_is_deterministic():
    codes = _identity_code(0.5) @ ROTATION
    first = metrics.factor_vae_score(codes, INDICES, random_state=4, num_train=300, num_eval=200)
    assert first == metrics.factor_vae_score(
        codes, INDICES, np.random.default_rng(4), num_train=300, num_eval=200
    )


def test_gaussian_total_correlation_of_independent_codes_is_zero():
    codes = np.random.default_rng(6).standard_normal((20_000, 3)) * [1.0, 5.0, 0.2]
    # The plug-in estimate's bias is about d(d-1) / (4n) ~ 1e-4 nats.
    assert metrics.gaussian_total_correlation(codes)["total_correlation"] == pytest.approx(0.0, abs=2e-3)


def test_gaussian_total_correlation_matches_the_closed_form():
    rho = 0.6
    codes = np.random.default_rng(7).multivariate_normal([0, 0], [[1, rho], [rho, 1]], size=50_000)
    tc = metrics.gaussian_total_correlation(codes)["total_correlation"]
    # In two dims the Gaussian TC is exactly -0.5 log(1 - r^2) of the sample correlation r ...
    r = np.corrcoef(codes.T)[0, 1]
    assert tc == pytest.approx(-0.5 * np.log(1 - r**2), rel=1e-10)
    # ... and close to the population value (standard error ~ 0.003 nats at n = 50,000).
    assert tc == pytest.approx(-0.5 * np.log(1 - rho**2), abs=0.015)


def test_gaussian_total_correlation_edge_cases():
    x = np.random.default_rng(8).standard_normal(100)
    assert metrics.gaussian_total_correlation(np.column_stack([x, np.ones(100)]))["total_correlation"] == 0.0
    assert metrics.gaussian_total_correlation(np.column_stack([x, 2 * x]))["total_correlation"] > 10
