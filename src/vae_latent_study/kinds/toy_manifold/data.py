"""Seed 003's disconnected toy manifold: noisy points on a sine arc and on a circle beside it, the component
as the label, the true curves stored as ground truth.

The seed's data, as its notebook draws them: 1,000 points on y = sin x at x = linspace(-2.2, 2.2), 1,000 on
the circle 0.5 (sin t, cos t) + (1.5, -0.5) at t = linspace(0, 2 pi) (both ends, so one point twice), then
N(0, 0.06^2) noise on both coordinates. The seed's noise was unseeded; here it comes from `seed`. The seed
trained and drew its figure on these 2,000 points and had no test split: ours is a fresh draw beside
them (`test_per_component` points per component at uniform random positions, with their own noise), so
that the validation loss and the evaluation's held-out numbers exist.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from vae_latent_study import datasets

#: The seed's geometry: the arc's x range, the circle's radius and centre.
ARC_X = (-2.2, 2.2)
CIRCLE_RADIUS = 0.5
CIRCLE_CENTRE = (1.5, -0.5)
#: The components, by label value: 0 is the arc, 1 the circle (the seed's `labels`).
COMPONENTS = ("sine arc", "circle")
#: Points of each true curve's polyline in the file's truth (`curve_0`, `curve_1`): the evaluation measures
#: distances to these; the polyline is within 1e-6 of the curve.
CURVE_POINTS = 4001

DEFAULTS: dict[str, Any] = {"n_per_component": 1000, "test_per_component": 250, "noise": 0.06, "seed": 0}


def arc_points(x: np.ndarray) -> np.ndarray:
    """Points (n, 2) of the sine arc at abscissae `x`."""
    x = np.asarray(x, dtype=np.float64)
    return np.column_stack([x, np.sin(x)])


def circle_points(t: np.ndarray) -> np.ndarray:
    """Points (n, 2) of the circle at angles `t`, parametrised as the seed: r (sin t, cos t) + centre."""
    t = np.asarray(t, dtype=np.float64)
    return CIRCLE_RADIUS * np.column_stack([np.sin(t), np.cos(t)]) + np.asarray(CIRCLE_CENTRE)


def true_curves(points: int = CURVE_POINTS) -> dict[str, np.ndarray]:
    """The true curves as polylines, by component: `curve_0` the arc, `curve_1` the closed circle."""
    return {
        "curve_0": arc_points(np.linspace(*ARC_X, points)),
        "curve_1": circle_points(np.linspace(0.0, 2.0 * np.pi, points)),
    }


def simulate(settings: Mapping[str, Any]) -> dict[str, np.ndarray]:
    """The toy's arrays: `x` the noisy points (training rows first, then the test rows), `clean` the points
    before noise, `component` (0 arc, 1 circle), `position` (x on the arc, t on the circle), `train`,
    `test`."""
    cfg = {**DEFAULTS, **settings}
    n, n_test, sd = int(cfg["n_per_component"]), int(cfg["test_per_component"]), float(cfg["noise"])
    rng = np.random.default_rng(int(cfg["seed"]))
    positions = [np.linspace(*ARC_X, n), np.linspace(0.0, 2.0 * np.pi, n)]
    noise = sd * rng.standard_normal((2 * n, 2))
    positions += [rng.uniform(*ARC_X, n_test), rng.uniform(0.0, 2.0 * np.pi, n_test)]
    noise = np.concatenate([noise, sd * rng.standard_normal((2 * n_test, 2))])
    component = np.concatenate([np.zeros(n), np.ones(n), np.zeros(n_test), np.ones(n_test)])
    position = np.concatenate(positions)
    clean = np.where(
        (component == 0)[:, None], arc_points(position), circle_points(position)
    )  # each row on its own component's curve
    return {
        "x": (clean + noise).astype(np.float32),
        "clean": clean,
        "component": component,
        "position": position,
        "train": np.arange(2 * n, dtype=np.int64),
        "test": np.arange(2 * n, 2 * (n + n_test), dtype=np.int64),
    }


def build_dataset(name: str, config: Mapping[str, Any], threads: int = 1) -> datasets.Dataset:
    """A toy_manifold dataset (`datasets.Dataset`) from its validated config: the noisy points, the
    component (categorical, the label) and the position on it (continuous) as factors, and as truth the
    clean points, both curves' polylines and the noise sd (one value)."""
    from vae_latent_study import datasets

    sim = simulate({k: v for k, v in config.items() if k != "kind"})
    dataset = datasets.Dataset(
        x=sim["x"],
        factors=np.column_stack([sim["component"], sim["position"]]),
        factor_names=["component", "position"],
        factor_types={"component": "categorical", "position": "continuous"},
        train=sim["train"],
        test=sim["test"],
        manifest={},
        factor_grids={"component": np.arange(len(COMPONENTS), dtype=np.float64)},
        truth={"clean": sim["clean"], "noise_sd": np.array([float(config["noise"])]), **true_curves()},
        label="component",
    )
    dataset.manifest = datasets.manifest(
        dataset,
        name,
        config,
        component_names=list(COMPONENTS),
        position="x on the sine arc, the angle t on the circle (the seed's parametrisation)",
    )
    return dataset
