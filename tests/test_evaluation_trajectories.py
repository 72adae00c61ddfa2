"""Path finders on synthetic codes with a known linear map from the factors: known answers."""

import numpy as np
import pytest

from vae_latent_study.evaluation import trajectories

# Mixes every factor into every latent axis, so no finder can succeed by reading one axis.
A = np.array([[1.0, 0.4, -0.3], [-0.5, 1.2, 0.2], [0.3, -0.2, 1.5]])


def _grid():
    var = np.arange(0.5, 4.51, 0.5)
    cor = np.arange(-0.75, 0.76, 0.25)
    return np.array(np.meshgrid(var, var, cor, indexing="ij")).reshape(3, -1).T


@pytest.fixture(scope="module")
def synthetic():
    """Codes = A @ standardised factors + small noise on a full factorial grid, and the inverse fit."""
    factors = _grid()
    standard = (factors - factors.mean(axis=0)) / factors.std(axis=0)
    codes = standard @ A.T + np.random.default_rng(0).normal(scale=0.02, size=standard.shape)
    # The check: factors read back from codes by a linear model fitted on the same data.
    design = np.column_stack([np.ones(len(codes)), codes])
    coef, *_ = np.linalg.lstsq(design, factors, rcond=None)

    def predict(points):
        return np.column_stack([np.ones(len(points)), points]) @ coef

    return codes, factors, predict


def _increasing(values):
    return bool(np.all(np.diff(values) > 0))


@pytest.mark.parametrize("factor", [0, 1, 2])
def test_straight_path_changes_its_factor_monotonically(synthetic, factor):
    codes, factors, predict = synthetic
    path = trajectories.straight_path(codes, factors, factor, n=5)
    assert path.codes.shape == (5, 3)
    predicted = predict(path.codes)
    assert _increasing(predicted[:, factor])
    np.testing.assert_allclose(path.values, predicted[:, factor], atol=0.05)
    span = np.ptp(factors[:, factor])
    assert np.ptp(predicted[:, factor]) > 0.6 * span  # 5th to 95th percentile of the cloud
    for other in set(range(3)) - {factor}:
        assert np.ptp(predicted[:, other]) < 0.05 * np.ptp(factors[:, other])


@pytest.mark.parametrize("factor", [0, 1, 2])
def test_factor_path_holds_the_other_factors(synthetic, factor):
    codes, factors, predict = synthetic
    path = trajectories.factor_path(codes, factors, factor, n=6)
    np.testing.assert_allclose(
        path.values, np.linspace(factors[:, factor].min(), factors[:, factor].max(), 6)
    )
    predicted = predict(path.codes)
    assert _increasing(predicted[:, factor])
    np.testing.assert_allclose(predicted[:, factor], path.values, atol=0.05)
    for other in set(range(3)) - {factor}:
        grid = np.unique(factors[:, other])
        middle = grid[np.argmin(np.abs(grid - np.median(factors[:, other])))]
        np.testing.assert_allclose(predicted[:, other], middle, atol=0.05)


def test_factor_path_with_a_tolerance_and_too_strict_holding(synthetic):
    codes, factors, predict = synthetic
    path = trajectories.factor_path(codes, factors, 2, n=4, fixed_tolerance=0.6)
    assert _increasing(predict(path.codes)[:, 2])
    with pytest.raises(ValueError, match="takes 1 value"):
        trajectories.factor_path(codes[:5], factors[:5], 0, hold=[1, 2])


def test_isovariance_strip_orders_cor_and_keeps_variances_equal(synthetic):
    codes, factors, predict = synthetic
    path = trajectories.isovariance_strip(codes, factors, n=6, tolerance=0.3)
    assert path.codes.shape == (6, 3)
    assert _increasing(path.values)  # mean cor per bin
    predicted = predict(path.codes)
    assert _increasing(predicted[:, 2])
    assert np.all(np.abs(predicted[:, 0] - predicted[:, 1]) < 0.2)


def test_isovariance_strip_needs_enough_rows(synthetic):
    codes, factors, _ = synthetic
    with pytest.raises(ValueError, match="rows with"):
        trajectories.isovariance_strip(codes, factors, n=8, tolerance=0.0)


def test_student_t_style_factors_with_a_dependent_df(synthetic):
    codes, factors, predict = synthetic
    # df follows var_x + var_y, as heatmaps.assign_df draws it; holding it would leave too few rows.
    df = np.where(factors[:, 0] + factors[:, 1] > 4.5, 2.0, 200.0)
    with_df = np.column_stack([factors, df])
    path = trajectories.factor_path(codes, with_df, 0, n=5, hold=[1, 2])
    assert _increasing(predict(path.codes)[:, 0])
    strip = trajectories.isovariance_strip(codes, with_df, n=5)
    assert _increasing(strip.values)


def test_axis_traversal_moves_one_axis(synthetic):
    codes, _, _ = synthetic
    path = trajectories.axis_traversal(codes, axis=1, n=7)
    assert _increasing(path.codes[:, 1])
    np.testing.assert_array_equal(path.codes[:, 1], path.values)
    np.testing.assert_allclose(path.values[[0, -1]], np.quantile(codes[:, 1], [0.02, 0.98]))
    for other in (0, 2):
        np.testing.assert_array_equal(path.codes[:, other], np.median(codes[:, other]))


def test_rotation_points_lie_on_the_circle(synthetic):
    codes, _, _ = synthetic
    path = trajectories.rotation_path(codes, plane=(0, 2), n=5, step_deg=70)
    centre = codes.mean(axis=0)
    radius = np.median(np.hypot(codes[:, 0] - centre[0], codes[:, 2] - centre[2]))
    np.testing.assert_allclose(np.hypot(*(path.codes[:, [0, 2]] - centre[[0, 2]]).T), radius)
    np.testing.assert_allclose(path.codes[:, 1], centre[1])
    np.testing.assert_allclose(path.values, [0, 70, 140, 210, 280])
    angles = np.rad2deg(np.arctan2(path.codes[:, 2] - centre[2], path.codes[:, 0] - centre[0])) % 360
    np.testing.assert_allclose(angles, path.values % 360, atol=1e-9)
    fixed = trajectories.rotation_path(codes, plane=(1, 0), radius=2.0, start_angle=90, n=2)
    np.testing.assert_allclose(fixed.codes[0, [1, 0]], centre[[1, 0]] + [0.0, 2.0], atol=1e-12)


def test_empty_region_points_sit_in_the_gaps():
    rng = np.random.default_rng(1)
    # A filled cube with three carved-out balls: the gaps an AE leaves and the notebook decoded.
    holes = np.array([[-1.5, -1.5, -1.5], [1.5, 1.5, -1.0], [0.0, 1.0, 1.8]])
    codes = rng.uniform(-3, 3, size=(4000, 3))
    codes = codes[np.min(np.linalg.norm(codes[:, None] - holes, axis=2), axis=1) > 1.0]
    path = trajectories.empty_region_points(codes, n=3, grid=25)
    assert path.codes.shape == (3, 3)
    neighbour, _ = trajectories.cKDTree(codes).query(codes, k=2)
    assert np.all(path.values > 3 * np.median(neighbour[:, 1]))
    assert np.all((path.codes >= codes.min(axis=0)) & (path.codes <= codes.max(axis=0)))
    assert np.all(np.diff(path.values) <= 0)
    # One point per hole, near its centre.
    nearest = np.linalg.norm(holes[:, None] - path.codes, axis=2).min(axis=1)
    assert np.all(nearest < 0.4)


def test_empty_region_points_in_more_dimensions():
    codes = np.random.default_rng(2).normal(size=(300, 6))
    path = trajectories.empty_region_points(codes, n=4, grid=8, random_state=3)
    assert path.codes.shape == (4, 6)
    assert np.all(path.values > 0)
