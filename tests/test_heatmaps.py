"""The heatmap generator against the source study's algorithm and against scipy."""

import numpy as np
import pytest
from scipy.stats import multivariate_normal, multivariate_t
from sklearn.model_selection import train_test_split

from vae_latent_study.kinds.heatmaps import data as heatmaps
from vae_latent_study.kinds.heatmaps import reference

SOURCE_GRID = {
    "var_x": {"start": 0.1, "stop": 5.0, "step": 0.2},
    "var_y": {"start": 0.1, "stop": 5.0, "step": 0.2},
    "cor": {"start": -0.95, "stop": 0.95, "step": 0.1},
}
SOURCE_AXIS = {"start": -3.0, "stop": 3.0, "step": 0.17}


@pytest.fixture(scope="module")
def source_table():
    return heatmaps.factor_table(SOURCE_GRID)


def test_grid_counts_and_order_match_the_source(source_table):
    values, indices = source_table
    assert len(heatmaps.grid_values(SOURCE_GRID["var_x"])) == 25
    assert len(heatmaps.grid_values(SOURCE_GRID["cor"])) == 19
    assert heatmaps.grid_values(SOURCE_GRID["cor"]).max() < 0.95 - 1e-9  # 0.95 itself is excluded
    assert values.shape == (11875, 3)
    np.testing.assert_array_equal(values, reference.source_combinations())
    # The notebook's first rows of y_train, which pin both the order and the split.
    assert values[0].tolist() == pytest.approx([0.1, 0.1, -0.95])
    assert values[1].tolist() == pytest.approx([0.1, 0.3, -0.95])  # var_y varies fastest


def test_grid_indices_point_back_to_the_values(source_table):
    values, indices = source_table
    for k, name in enumerate(heatmaps.GRID_FACTORS):
        axis = heatmaps.grid_values(SOURCE_GRID[name])
        np.testing.assert_array_equal(axis[indices[:, k]], values[:, k])
    assert len({tuple(r) for r in indices}) == len(indices)


def test_image_axis_is_the_sources_mgrid():
    axis = heatmaps.grid_values(SOURCE_AXIS)
    np.testing.assert_array_equal(axis, np.mgrid[-3:3:0.17])
    assert len(axis) == 36 and axis[-1] == pytest.approx(2.95)


@pytest.mark.parametrize("df", [None, 2.0, 5.5, 200.0])
def test_closed_form_log_density_equals_scipy(df):
    rng = np.random.default_rng(0)
    axis = np.linspace(-3, 3, 7)
    params = np.column_stack([rng.uniform(0.1, 5, 6), rng.uniform(0.1, 5, 6), rng.uniform(-0.95, 0.95, 6)])
    ours = heatmaps.log_density(axis, *params.T, df=None if df is None else np.full(6, df))
    x, y = np.meshgrid(axis, axis, indexing="ij")
    pos = np.dstack((x, y))
    for n, (vx, vy, r) in enumerate(params):
        cov = [[vx, r * np.sqrt(vx * vy)], [r * np.sqrt(vx * vy), vy]]
        dist = multivariate_normal(cov=cov) if df is None else multivariate_t(shape=cov, df=df)
        np.testing.assert_allclose(ours[n], dist.logpdf(pos), rtol=1e-10, atol=1e-10)


def test_gaussian_images_equal_the_source_algorithm(source_table):
    values, _ = source_table
    axis = heatmaps.grid_values(SOURCE_AXIS)
    rows = np.r_[0:300, 5000:5300, 11575:11875]  # the extremes of every factor and the middle
    ours = heatmaps.heatmaps(axis, *values[rows].T, threads=2)
    seed = np.array([reference.source_gaussian_heatmap(*values[r]) for r in rows])
    assert ours.dtype == np.float32 and ours.shape == (len(rows), 36, 36)
    np.testing.assert_allclose(ours, seed, rtol=0, atol=1e-6)
    assert np.all(ours.reshape(len(rows), -1).max(axis=1) == 1.0)


def test_student_t_images_equal_the_source_algorithm(source_table):
    values, _ = source_table
    axis = heatmaps.grid_values(SOURCE_AXIS)
    rows = np.r_[0:60, 6000:6060, 11815:11875]
    df = np.where(rows % 2 == 0, 2.0, 200.0)
    ours = heatmaps.heatmaps(axis, *values[rows].T, df=df)
    seed = np.array(
        [reference.source_student_t_heatmap(*values[r], df=d) for r, d in zip(rows, df, strict=True)]
    )
    np.testing.assert_allclose(ours, seed, rtol=0, atol=1e-6)


def test_threads_do_not_change_a_bit(source_table):
    values, _ = source_table
    axis = heatmaps.grid_values(SOURCE_AXIS)
    sub = values[::7]
    one = heatmaps.heatmaps(axis, *sub.T, threads=1)
    two = heatmaps.heatmaps(axis, *sub.T, threads=2)
    assert one.tobytes() == two.tobytes()


def test_df_rule_is_the_sources_rule_with_seeded_draws(source_table):
    values, _ = source_table
    rule = {"heavy_df": 2, "light_df": 200, "threshold": 20.0, "noise_high": 10.0, "seed": 25}
    df = heatmaps.assign_df(values[:, 0], values[:, 1], rule)
    draws = np.random.default_rng(25).uniform(0, 10, len(values))
    np.testing.assert_array_equal(df, reference.source_df_labels(values, draws))
    assert set(np.unique(df)) == {2.0, 200.0}
    # The notebook printed a heavy-tailed share of 0.50004 with its unseeded draws.
    assert abs(np.mean(df == 2) - 0.5) < 0.02
    np.testing.assert_array_equal(df, heatmaps.assign_df(values[:, 0], values[:, 1], rule))
    other = heatmaps.assign_df(values[:, 0], values[:, 1], {**rule, "seed": 26})
    assert not np.array_equal(df, other)


def test_split_equals_sklearn_on_the_arrays(source_table):
    values, _ = source_table
    train, test = heatmaps.split_indices(len(values), 0.2, 19)
    _, _, y_train, y_test = train_test_split(values, values, test_size=0.2, random_state=19)
    np.testing.assert_array_equal(values[train], y_train)
    np.testing.assert_array_equal(values[test], y_test)
    assert len(test) == 2375 and len(train) == 9500
    # The notebook printed y_train[:2] = [4.1, 4.3, -0.75], [1.5, 2.5, -0.15].
    np.testing.assert_allclose(values[train[:2]], [[4.1, 4.3, -0.75], [1.5, 2.5, -0.15]])


def test_twin_images_are_exact_transposes_and_independent_of_the_batch(source_table):
    # heatmaps() copies the image of (var_y, var_x, cor) as the transpose of that of (var_x, var_y, cor):
    # the copy must be bit for bit what computing it gives, and no image may depend on the others requested.
    values, _ = source_table
    axis = heatmaps.grid_values(SOURCE_AXIS)
    row_of = {tuple(v): r for r, v in enumerate(values)}
    rows = np.flatnonzero(values[:, 0] < values[:, 1])
    twins = np.array([row_of[(vy, vx, r)] for vx, vy, r in values[rows]])
    rule = {"heavy_df": 2, "light_df": 200, "threshold": 20.0, "noise_high": 10.0, "seed": 25}
    df = heatmaps.assign_df(values[:, 0], values[:, 1], rule)
    for family_df in (None, df):
        full = heatmaps.heatmaps(axis, *values.T, df=family_df, threads=2)
        same = slice(None) if family_df is None else df[rows] == df[twins]
        np.testing.assert_array_equal(full[twins[same]], full[rows[same]].transpose(0, 2, 1))
        for row in (1, 25, 5000, 11874):  # var_x < var_y, var_x > var_y (a copy), another, var_x == var_y
            one_df = None if family_df is None else family_df[[row]]
            alone = heatmaps.heatmaps(axis, *values[[row]].T, df=one_df)
            assert alone.tobytes() == full[row].tobytes()


def test_quadratic_form_of_twins_is_transposed_bit_for_bit_in_float64(source_table):
    # The float32 test above would miss a float64 last-bit difference almost always; the basis makes it none.
    values, _ = source_table
    axis = heatmaps.grid_values(SOURCE_AXIS)
    basis = heatmaps._pixel_basis(axis)
    vx, vy, cor = values[:64].T
    form = heatmaps._form_coefficients(vx, vy, cor) @ basis
    swapped = heatmaps._form_coefficients(vy, vx, cor) @ basis
    assert swapped.reshape(-1, 36, 36).tobytes() == form.reshape(-1, 36, 36).transpose(0, 2, 1).tobytes()


@pytest.mark.parametrize("df", [1.0, 4.0, 5.5, 6.0, 30.0])
def test_student_t_images_for_other_df_equal_scipy(df):
    # df = 2 and 200 are the study's; these take the other branches of the power (odd, exact, log-exp).
    rng = np.random.default_rng(1)
    axis = heatmaps.grid_values(SOURCE_AXIS)
    params = np.column_stack([rng.uniform(0.1, 5, 40), rng.uniform(0.1, 5, 40), rng.uniform(-0.95, 0.95, 40)])
    ours = heatmaps.heatmaps(axis, *params.T, df=np.full(40, df))
    x, y = np.meshgrid(axis, axis, indexing="ij")
    pos = np.dstack((x, y))
    for n, (vx, vy, r) in enumerate(params):
        cov = [[vx, r * np.sqrt(vx * vy)], [r * np.sqrt(vx * vy), vy]]
        pdf = multivariate_t(shape=cov, df=df).pdf(pos)
        np.testing.assert_allclose(ours[n], pdf / pdf.max(), rtol=0, atol=1e-6)


# --- what the variances make knowable of df: the rule's Bayes classifier ----------------------------------

SOURCE_RULE = {"heavy_df": 2, "light_df": 200, "threshold": 20.0, "noise_high": 10.0, "seed": 25}


def test_df_bayes_accuracy_known_answers():
    """Points where P(heavy) is exactly 0, 1/2 and 1, and a deterministic rule."""
    rule = {"heavy_df": 2, "light_df": 200, "threshold": 1.0, "noise_high": 2.0, "seed": 0}
    # (var_x + var_y)^2 = 1, 2.25, 4, 9: P(heavy) = clip((v^2 - 1) / 2, 0, 1) = 0, 0.625, 1, 1.
    var_x, var_y = np.array([0.5, 0.75, 1.0, 2.0]), np.array([0.5, 0.75, 1.0, 1.0])
    np.testing.assert_array_equal(heatmaps.df_heavy_probability(var_x, var_y, rule), [0.0, 0.625, 1.0, 1.0])
    assert heatmaps.df_bayes_accuracy(var_x, var_y, rule) == (1 + 0.625 + 1 + 1) / 4
    np.testing.assert_array_equal(heatmaps.df_bayes_prediction(var_x, var_y, rule), [200, 2, 2, 2])
    # v = 1 with threshold 0 and noise 2: P(heavy) = 1/2, a coin: the Bayes accuracy is 1/2 there.
    half = {**rule, "threshold": 0.0}
    assert heatmaps.df_heavy_probability(np.array([0.5]), np.array([0.5]), half)[0] == 0.5
    assert heatmaps.df_bayes_accuracy(np.array([0.5, 0.5]), np.array([0.5, 1.5]), half) == (0.5 + 1.0) / 2
    # Without noise the rule is deterministic: the Bayes classifier is the rule, always right.
    exact = {**SOURCE_RULE, "noise_high": 0.0}
    values, _ = heatmaps.factor_table(SOURCE_GRID)
    labels = heatmaps.assign_df(values[:, 0], values[:, 1], exact)
    np.testing.assert_array_equal(heatmaps.df_bayes_prediction(values[:, 0], values[:, 1], exact), labels)
    assert heatmaps.df_bayes_accuracy(values[:, 0], values[:, 1], exact) == 1.0
    assert 0 < np.mean(labels == 2) < 1


def test_df_bayes_probability_matches_the_generators_labels(source_table):
    """Monte Carlo: over 400 seeds of the rule's own draws, each (var_x, var_y)'s share of heavy labels
    agrees with P(heavy) within sampling error, and the Bayes classifier's accuracy with its expectation."""
    values, _ = source_table
    pairs = np.unique(values[:, :2], axis=0)  # 625 (var_x, var_y)
    p = heatmaps.df_heavy_probability(pairs[:, 0], pairs[:, 1], SOURCE_RULE)
    assert 0 < np.mean((p > 0) & (p < 1)) < 1  # some pairs are certain, some are left to the noise
    n_seeds = 400
    heavy = np.zeros(len(pairs))
    correct = 0.0
    predicted = heatmaps.df_bayes_prediction(pairs[:, 0], pairs[:, 1], SOURCE_RULE)
    for seed in range(n_seeds):
        labels = heatmaps.assign_df(pairs[:, 0], pairs[:, 1], {**SOURCE_RULE, "seed": 1000 + seed})
        heavy += labels == 2
        correct += np.mean(predicted == labels)
    share = heavy / n_seeds
    sd = np.sqrt(p * (1 - p) / n_seeds)
    # Certain pairs are always (never) heavy; the others within 5 binomial sds (625 pairs).
    np.testing.assert_array_equal(share[p == 1], 1.0)
    np.testing.assert_array_equal(share[p == 0], 0.0)
    inner = (p > 0) & (p < 1)
    assert np.all(np.abs(share[inner] - p[inner]) <= 5 * sd[inner] + 1e-12)
    # Over all pairs, the shares' deviations are as small as binomial noise makes them (chi-square ~ 1).
    chi2 = np.mean((share[inner] - p[inner]) ** 2 / sd[inner] ** 2)
    assert 0.6 < chi2 < 1.5
    expected = heatmaps.df_bayes_accuracy(pairs[:, 0], pairs[:, 1], SOURCE_RULE)
    margin = np.mean(np.minimum(p, 1 - p))  # the expected error; the mean over seeds has sd < it / 10
    assert abs(correct / n_seeds - expected) < 0.1 * margin
    # A wrong formula is caught: halving the noise's range moves P(heavy) visibly.
    wrong = heatmaps.df_heavy_probability(pairs[:, 0], pairs[:, 1], {**SOURCE_RULE, "noise_high": 5.0})
    assert np.max(np.abs(share - wrong)) > 10 * np.max(sd)
