"""Seed 003's toy manifold: the data as the seed draws them, and the evaluation's metrics by known answers
(points on their curve are at distance 0, a torn quarter of the circle is a seam of 0.25, ...)."""

import math

import numpy as np
import pytest

from vae_latent_study.datasets import read_dataset, write_dataset
from vae_latent_study.kinds.toy_manifold import data as toy_manifold
from vae_latent_study.kinds.toy_manifold.evaluate import largest_gap, manifold_metrics, polyline_distance

SD = 0.06


@pytest.fixture(scope="module")
def toy():
    return toy_manifold.simulate({"seed": 4})


@pytest.fixture(scope="module")
def curves():
    truth = toy_manifold.true_curves()
    return {0: truth["curve_0"], 1: truth["curve_1"]}


def _train(toy):
    rows = toy["train"]
    return {key: toy[key][rows] for key in ("x", "clean", "component", "position")}


def test_the_data_are_the_sources(toy):
    assert toy["x"].shape == (2500, 2) and toy["x"].dtype == np.float32
    np.testing.assert_array_equal(toy["train"], np.arange(2000))
    np.testing.assert_array_equal(toy["test"], np.arange(2000, 2500))
    train = _train(toy)
    # The seed's rows: 1,000 on the arc at linspace(-2.2, 2.2), then 1,000 on the circle at linspace(0, 2 pi).
    np.testing.assert_array_equal(train["component"], np.repeat([0.0, 1.0], 1000))
    x1 = np.linspace(-2.2, 2.2, 1000)
    np.testing.assert_array_equal(train["clean"][:1000], np.vstack([x1, np.sin(x1)]).T)
    t = np.linspace(0, 2 * np.pi, num=1000)
    dots2 = 0.5 * np.array([np.sin(t), np.cos(t)]).T + np.array([1.5, -0.5])[None, :]
    np.testing.assert_array_equal(train["clean"][1000:], dots2)
    # The noise: N(0, 0.06^2) on both coordinates, independent.
    noise = toy["x"].astype(np.float64) - toy["clean"]
    assert noise.std(axis=0) == pytest.approx([SD, SD], rel=0.05)
    assert abs(np.corrcoef(noise.T)[0, 1]) < 0.06
    # The held-out points lie on their curves too, spread along them.
    test = toy["test"]
    assert set(toy["component"][test]) == {0.0, 1.0}
    arc = toy["position"][test][toy["component"][test] == 0]
    assert -2.2 <= arc.min() < -1.8 and 1.8 < arc.max() <= 2.2


def test_the_data_are_seeded(toy):
    again = toy_manifold.simulate({"seed": 4})
    np.testing.assert_array_equal(again["x"], toy["x"])
    other = toy_manifold.simulate({"seed": 5})
    assert not np.array_equal(other["x"], toy["x"])
    np.testing.assert_array_equal(other["clean"][:2000], toy["clean"][:2000])  # the seed's positions


def test_the_dataset_file_keeps_the_truth_and_the_label(tmp_path):
    config = {"kind": "toy_manifold", **toy_manifold.DEFAULTS, "n_per_component": 20, "test_per_component": 5}
    write_dataset(toy_manifold.build_dataset("toy", config), tmp_path / "toy.h5")
    dataset = read_dataset(tmp_path / "toy.h5")
    assert dataset.label == "component" and dataset.condition("label") == dataset.condition("component")
    assert dataset.condition("label") == {"factor": "component", "values": [0.0, 1.0]}
    assert dataset.factor_types == {"component": "categorical", "position": "continuous"}
    assert set(dataset.truth) == {"clean", "curve_0", "curve_1", "noise_sd"}
    assert dataset.truth["noise_sd"][0] == 0.06 and dataset.truth["curve_1"].shape == (4001, 2)
    assert len(dataset.train) == 40 and len(dataset.test) == 10
    assert dataset.manifest["component_names"] == ["sine arc", "circle"]


# ----------------------------------------------------------------------------------------------- metrics


def test_points_on_a_curve_are_at_distance_zero_and_off_it_at_known_distances(toy, curves):
    train = _train(toy)
    for k in (0, 1):
        rows = train["component"] == k
        distance, nearest, _ = polyline_distance(train["clean"][rows], curves[k])
        assert distance.max() < 1e-6
        np.testing.assert_allclose(nearest, train["clean"][rows], atol=1e-6)
    # The circle's centre is a radius away from it; a point beside the arc's top, its offset.
    assert polyline_distance(np.array([[1.5, -0.5]]), curves[1])[0][0] == pytest.approx(0.5, abs=1e-6)
    top = np.array([[math.pi / 2, 1.1], [math.pi / 2, 0.9]])
    np.testing.assert_allclose(polyline_distance(top, curves[0])[0], [0.1, 0.1], atol=1e-6)
    # Circle points 0.2 out along the radius: distance 0.2, at their angle's share of the length.
    t = np.array([0.0, math.pi / 2, math.pi])
    outside = toy_manifold.circle_points(t) + 0.2 * np.column_stack([np.sin(t), np.cos(t)])
    distance, _, position = polyline_distance(outside, curves[1])
    np.testing.assert_allclose(distance, 0.2, atol=1e-6)
    np.testing.assert_allclose(position, [0.0, 0.25, 0.5], atol=1e-6)


def test_the_largest_gap():
    assert largest_gap(np.array([0.1, 0.2, 0.7]), closed=True) == pytest.approx(0.5)
    assert largest_gap(np.array([0.7, 0.9]), closed=True) == pytest.approx(0.8)
    assert largest_gap(np.array([0.3, 0.4]), closed=False) == pytest.approx(0.6)
    assert largest_gap(np.array([]), closed=True) == 1.0


def _metrics(toy, curves, reconstruction, split="train"):
    rows = toy[split]
    return manifold_metrics(
        reconstruction,
        toy["x"][rows],
        toy["clean"][rows],
        toy["component"][rows],
        curves,
        SD,
        {0: "sine_arc", 1: "circle"},
    )


def test_reconstructing_the_clean_points_leaves_the_noise_and_no_bridge_or_seam(toy, curves):
    train = _train(toy)
    found = _metrics(toy, curves, train["clean"])
    assert found["noise_floor"] == pytest.approx(2 * SD**2)
    assert found["mse"] == pytest.approx(found["clean_mse"]) and found["clean_mse"] == pytest.approx(
        2 * SD**2, rel=0.08
    )
    assert found["mse_over_floor"] == pytest.approx(found["mse"] / (2 * SD**2))
    assert found["distance"]["median"] < 1e-6 and found["distance"]["p95"] < 1e-6
    assert found["bridge_share"] == 0
    circle = found["components"]["circle"]
    assert circle["off_curve_share"] == 0 and circle["largest_gap"] == pytest.approx(1 / 999, rel=0.01)
    # A clean point is torn from its input's projection only where the noise along the circle exceeds
    # 3 sd: P(|N(0, 1)| > 3) = 0.27% of the points.
    assert circle["torn_share"] == found["seam_share"] <= 0.01
    # A perfect projection onto the true curves keeps only the noise across them: about sd^2, half the floor.
    assert found["projection_mse"] == pytest.approx(SD**2, rel=0.15)
    rows = toy["train"]
    projected = np.empty_like(train["clean"])
    for k in (0, 1):
        on = train["component"] == k
        projected[on] = polyline_distance(toy["x"][rows][on], curves[k])[1]
    exact = _metrics(toy, curves, projected)
    assert exact["mse"] == pytest.approx(found["projection_mse"]) and exact["seam_share"] == 0
    # The noisy points themselves: no error at all, and a distance of about the noise's.
    itself = _metrics(toy, curves, train["x"])
    assert itself["mse"] == 0 and itself["distance"]["median"] == pytest.approx(0.6745 * SD, rel=0.15)


def test_a_bridge_and_a_seam_are_measured(toy, curves):
    train = _train(toy)
    # A quarter of the circle reconstructed at its centre: torn away from it, and far from the arc too.
    reconstruction = train["clean"].copy()
    on_circle = np.flatnonzero(train["component"] == 1)
    quarter = on_circle[train["position"][on_circle] < math.pi / 2]
    reconstruction[quarter] = [1.5, -0.5]
    found = _metrics(toy, curves, reconstruction)
    circle = found["components"]["circle"]
    assert circle["off_curve_share"] == pytest.approx(len(quarter) / 1000) == pytest.approx(0.25, abs=0.002)
    # Torn: that quarter, and the few clean points the noise carried more than 3 sd along the circle.
    assert found["seam_share"] == pytest.approx(len(quarter) / 1000, abs=0.01)
    assert circle["largest_gap"] == pytest.approx(0.25, abs=0.002)
    assert found["bridge_share"] == pytest.approx(len(quarter) / 2000)
    assert found["components"]["sine_arc"]["off_curve_share"] == 0
    assert found["distance"]["p95"] == pytest.approx(0.5, abs=1e-6)
    # The same quarter slid to the opposite side of the circle: on the curve, but torn away all the same.
    slid = train["clean"].copy()
    slid[quarter] = toy_manifold.circle_points(train["position"][quarter] + math.pi)
    found = _metrics(toy, curves, slid)
    assert found["components"]["circle"]["off_curve_share"] == 0 and found["bridge_share"] == 0
    assert found["seam_share"] == pytest.approx(len(quarter) / 1000, abs=0.01)
    assert found["components"]["circle"]["largest_gap"] == pytest.approx(0.25, abs=0.002)
    # Every point sent between the components, far from both curves: all bridge.
    between = np.tile([0.6, -0.8], (2000, 1))
    assert _metrics(toy, curves, between)["bridge_share"] == 1
    # Circle points reconstructed on the arc: near a curve (no bridge), but not their own (torn).
    crossed = train["clean"].copy()
    crossed[on_circle] = toy_manifold.arc_points(np.linspace(-1, 1, 1000))
    found = _metrics(toy, curves, crossed)
    assert found["bridge_share"] == 0 and found["seam_share"] == 1


def test_a_component_without_a_curve_is_refused(toy, curves):
    with pytest.raises(ValueError, match="have no curve"):
        _metrics(toy, {0: curves[0]}, _train(toy)["clean"])


# ------------------------------------------------------------------------------ the two floors, the tear


def _on_curves_plus_noise(n: int, sd: float, seed: int):
    """`n` points per component at uniform random positions on the true curves, plus N(0, sd^2) noise."""
    rng = np.random.default_rng(seed)
    clean = np.concatenate(
        [
            toy_manifold.arc_points(rng.uniform(*toy_manifold.ARC_X, n)),
            toy_manifold.circle_points(rng.uniform(0.0, 2 * math.pi, n)),
        ]
    )
    component = np.repeat([0.0, 1.0], n)
    return clean + sd * rng.standard_normal(clean.shape), clean, component


def test_the_projection_floor_is_sd_squared_for_points_on_the_curves_plus_known_noise(curves):
    # The squared distance of a noisy point to its curve is the square of the noise across the curve,
    # N(0, sd^2): its mean over n points is sd^2 with a standard error of sqrt(2 / n) sd^2. The noise is
    # small beside the curves' radii (0.5 and >= 1), so curvature and the arc's ends move it by < 0.1%.
    n, sd = 3000, 0.01
    x, clean, component = _on_curves_plus_noise(n, sd, seed=8)
    projected = np.empty_like(x)
    for k in (0, 1):
        projected[component == k] = polyline_distance(x[component == k], curves[k])[1]
    names = {0: "sine_arc", 1: "circle"}
    found = manifold_metrics(projected, x, clean, component, curves, sd, names)
    assert found["projection_floor"] == pytest.approx(sd**2) and found["clean_floor"] == pytest.approx(
        2 * sd**2
    )
    tolerance = 4 * math.sqrt(2 / (2 * n))  # 4 standard errors, relative
    assert found["projection_mse"] == pytest.approx(sd**2, rel=tolerance)
    assert found["projection_mse_over_projection_floor"] == pytest.approx(1, abs=tolerance)
    # Reconstructing by the projection reaches the projection floor, half the clean floor.
    assert found["mse"] == pytest.approx(found["projection_mse"])
    assert found["mse_over_projection_floor"] == pytest.approx(1, abs=tolerance)
    assert found["mse_over_clean_floor"] == found["mse_over_floor"] == pytest.approx(0.5, abs=tolerance / 2)
    for name in names.values():
        own = found["components"][name]
        assert own["mse_over_projection_floor"] == pytest.approx(1, abs=4 * math.sqrt(2 / n))
        assert own["mse_over_clean_floor"] == pytest.approx(own["mse_over_projection_floor"] / 2)
        assert own["torn_share"] == 0 and own["torn_error_share"] == 0
    # The clean points: the clean floor (the noise along the curve as well), within its own sampling error.
    found = manifold_metrics(clean, x, clean, component, curves, sd, names)
    assert found["mse_over_clean_floor"] == pytest.approx(1, abs=4 * math.sqrt(1 / (2 * n)))
    assert found["mse_over_projection_floor"] == pytest.approx(2 * found["mse_over_clean_floor"])
    assert found["components"]["sine_arc"]["closed"] is False and found["components"]["circle"]["closed"]


def test_the_torn_share_of_a_circle_cut_at_a_known_place(curves):
    # The circle's 1,000 points evenly spaced, reconstructed by their projection onto it, except those
    # within 0.11 x 2 pi of the cut at t = pi: sent to the far side of the circle (a radius's width away,
    # far beyond 3 sd), as a 1-d code's other end would. Torn: exactly those, 11% of the circle.
    n, sd = 1000, 0.06
    rng = np.random.default_rng(9)
    t = np.linspace(0.0, 2 * math.pi, n, endpoint=False)
    clean = toy_manifold.circle_points(t)
    x = clean + sd * rng.standard_normal(clean.shape)
    reconstruction = polyline_distance(x, curves[1])[1]
    cut = np.abs(t - math.pi) < 0.11 * math.pi
    reconstruction[cut] = toy_manifold.circle_points(np.zeros(cut.sum()))
    found = manifold_metrics(reconstruction, x, clean, np.ones(n), {1: curves[1]}, sd, {1: "circle"})
    assert cut.mean() == pytest.approx(0.11, abs=0.001)
    assert found["torn_share"] == {"circle": cut.mean()} and found["seam_share"] == cut.mean()
    circle = found["components"]["circle"]
    # What the tear costs: the torn points are ~1 away (squared error ~1, 280 x the floor each), the
    # others at the projection floor; so nearly all of the circle's error is the tear's.
    assert circle["untorn_mse_over_projection_floor"] == pytest.approx(1, abs=4 * math.sqrt(2 / (n * 0.89)))
    assert circle["torn_error_share"] > 0.95
    assert circle["mse_over_projection_floor"] > 25
    # Nothing torn: no share, no cost.
    whole = polyline_distance(x, curves[1])[1]
    found = manifold_metrics(whole, x, clean, np.ones(n), {1: curves[1]}, sd, {1: "circle"})
    assert found["torn_share"] == {"circle": 0.0} and found["components"]["circle"]["torn_error_share"] == 0


def test_the_report_shows_both_floors_and_the_circles_tear(curves):
    # Two "seeds" of manifold.json numbers on known reconstructions (the projection, then the same with
    # 11% of the circle cut away), through the tidy table and the summary into the report's toy table.
    from vae_latent_study.aggregate import summary as aggregate_summary
    from vae_latent_study.aggregate import table as aggregate_table
    from vae_latent_study.kinds.toy_manifold import report as toy_report

    n, sd = 400, 0.06
    x, clean, component = _on_curves_plus_noise(n, sd, seed=10)
    projected = np.empty_like(x)
    for k in (0, 1):
        projected[component == k] = polyline_distance(x[component == k], curves[k])[1]
    torn = projected.copy()
    circle_rows = np.flatnonzero(component == 1)[: int(0.11 * n)]
    torn[circle_rows] = toy_manifold.circle_points(
        polyline_distance(x[circle_rows], curves[1])[2] * 2 * math.pi + math.pi
    )  # the far side of the circle from where they belong
    names = {0: "sine_arc", 1: "circle"}
    records = []
    for seed, reconstruction in ((1, projected), (2, torn)):
        numbers = manifold_metrics(reconstruction, x, clean, component, curves, sd, names)
        payload = {"dataset": "toy", "family": "toy_manifold", "model": "cae", "kind": "ae", "seed": seed}
        records += [
            {**payload, "metric": name, "value": value}
            for name, value in aggregate_table._numeric_leaves({"test": numbers})
        ]
    import pandas as pd

    summary, _ = aggregate_summary.summarise_metrics(pd.DataFrame(records), n_boot=50)
    page = toy_report.manifold_table(summary)
    assert "MSE / projection floor (sd^2)" in page and "MSE / clean floor (2 sd^2)" in page
    assert "sine_arc / projection floor" in page and "circle: torn share" in page
    assert "sine_arc: torn share" not in page  # the arc is open: it has no torn share
    shares = summary.set_index("metric").loc["test.torn_share.circle"]
    assert shares["mean"] == pytest.approx(0.11 / 2, abs=0.01) and f"{shares['mean']:.3f}" in page
    arc = summary.set_index("metric").loc["test.components.sine_arc.mse_over_projection_floor", "mean"]
    assert arc == pytest.approx(1, abs=4 * math.sqrt(2 / n)) and f"{arc:.3f}" in page
