"""Latent-space figures write real, non-empty files from small synthetic arrays."""

import re

import matplotlib.image as mpimg
import matplotlib.pyplot as plt
import numpy as np
import pytest

from vae_latent_study import plots
from vae_latent_study.kinds.heatmaps import latent_plots

NAMES = ["var_x", "var_y", "cor", "df"]


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


@pytest.fixture(scope="module")
def data():
    """80 codes in 3-D, their factors (with a df label), and 36x36 blob images with a channel axis."""
    rng = np.random.default_rng(0)
    factors = np.column_stack(
        [
            rng.choice([0.5, 1.0, 2.0], 80),
            rng.choice([0.5, 1.0, 2.0], 80),
            rng.choice([-0.5, 0.0, 0.5], 80),
            rng.choice([2.0, 200.0], 80),
        ]
    )
    codes = factors[:, :3] @ rng.normal(size=(3, 3)) + rng.normal(scale=0.1, size=(80, 3))
    axis = np.linspace(-3, 3, 36)
    x, y = np.meshgrid(axis, axis, indexing="ij")
    images = np.stack(
        [np.exp(-(x**2 / vx + y**2 / vy - 2 * c * x * y) / 2) for vx, vy, c in factors[:12, :3]]
    )[..., None]
    return codes, factors, images


def _check_png(fig, path, min_pixels=200):
    """The file is a PNG about the figure's size (tight bounding box) and not a blank canvas."""
    image = mpimg.imread(path)
    width, height = fig.get_size_inches() * fig.dpi
    assert image.ndim == 3 and image.shape[2] in (3, 4)
    assert min(image.shape[:2]) >= min_pixels
    assert 0.5 * height <= image.shape[0] <= 1.3 * height
    assert 0.5 * width <= image.shape[1] <= 1.3 * width
    assert image[..., :3].std() > 0.05


def test_reconstructions(tmp_path, data):
    _, _, images = data
    rebuilt = np.clip(images + 0.05, 0, 1)
    path = tmp_path / "figs" / "reconstructions.png"
    fig = latent_plots.plot_reconstructions(images, rebuilt, n=4, seed=1, path=path)
    assert isinstance(fig, plt.Figure)
    assert len([ax for ax in fig.axes if ax.images]) == 8
    _check_png(fig, path)
    with pytest.raises(ValueError, match="shapes differ"):
        latent_plots.plot_reconstructions(images, rebuilt[:3])


def test_training_curves(tmp_path):
    epochs = range(1, 6)
    vae = [
        {"epoch": e, "loss": 300 / e, "reconstruction_loss": 290 / e, "kl_loss": 10 + e, "val_loss": 310 / e}
        for e in epochs
    ]
    ae = [
        {"epoch": e, "loss": 0.5 / e, "reconstruction_loss": 0.5 / e, "kl_loss": None, "val_loss": 0.6 / e}
        for e in epochs
    ]
    path = tmp_path / "curves.png"
    fig = plots.plot_training_curves({"vae": vae, "ae": ae}, path=path)
    _check_png(fig, path)
    titles = [ax.get_title() for ax in fig.axes]
    assert "vae" in titles and "ae" in titles and "vae: loss terms" in titles
    labels = {line.get_label() for ax in fig.axes for line in ax.get_lines()}
    assert {"loss", "val loss", "reconstruction loss", "kl loss"} <= labels
    only_ae = plots.plot_training_curves({"ae": ae})
    assert len(only_ae.axes) == 1


def test_latent_projections(tmp_path, data):
    codes, factors, _ = data
    path = tmp_path / "projections.png"
    fig = latent_plots.plot_latent_projections(codes, factors, NAMES, path=path)
    _check_png(fig, path)
    panels = [ax for ax in fig.axes if ax.get_title()]
    assert len(panels) == 9  # 3 axis pairs x (var_x, var_y, cor); df is not a colour here
    assert {ax.get_title() for ax in panels} >= {"z0-z2 by cor", "z1-z2 by var_x"}
    two = latent_plots.plot_latent_projections(codes[:, :2], factors, NAMES)
    assert len([ax for ax in two.axes if ax.get_title()]) == 3


def test_latent_3d(tmp_path, data):
    codes, factors, _ = data
    path = tmp_path / "latent3d.png"
    fig = latent_plots.plot_latent_3d(
        codes, factors[:, 2], "cor", path=path, views=((20, 45), (20, 135), (60, 0)), highlight=codes[:4]
    )
    _check_png(fig, path)
    assert len([ax for ax in fig.axes if ax.name == "3d"]) == 3


def test_interactive_latent_3d_is_self_contained(tmp_path, data):
    codes, factors, _ = data
    path = tmp_path / "latent.html"
    fig = latent_plots.interactive_latent_3d(codes, factors, NAMES, path=path)
    names = [trace.name for trace in fig.data]
    # One trace holds the points for every colouring; df splits them into a trace per level.
    assert names == ["codes", "df=2", "df=200"]
    assert [trace.visible for trace in fig.data] == [None, False, False]
    assert fig.data[0].x.dtype == np.float32 and len(fig.data[0].x) == len(codes)
    assert len(fig.data[1].x) + len(fig.data[2].x) == len(codes)
    buttons = fig.layout.updatemenus[0].buttons
    assert [b.label for b in buttons] == ["colour by cor", "colour by |var_x - var_y|", "colour by df"]
    assert list(buttons[2].args[0]["visible"]) == [False, True, True]
    colour = buttons[1].args[0]["marker.color"][0]
    cols = [NAMES.index("var_x"), NAMES.index("var_y")]
    np.testing.assert_allclose(colour, np.abs(factors[:, cols[0]] - factors[:, cols[1]]), atol=1e-4)
    html = path.read_text(encoding="utf-8")
    # The inline bundle mentions cdn.plot.ly as a default topojson URL; what matters is that no script
    # is fetched from anywhere.
    scripts = re.findall(r"<script[^>]*>", html)
    assert scripts and not any("src=" in tag for tag in scripts)
    assert 'src="https://cdn.plot.ly' not in html
    assert "Plotly.newPlot" in html and len(html) > 1_000_000  # plotly.js itself is embedded
    for name in ("codes", "colour by |var_x - var_y|", "df=200"):
        assert name in html
    gaussian = latent_plots.interactive_latent_3d(codes, factors[:, :3], NAMES[:3])
    assert [trace.name for trace in gaussian.data] == ["codes"]
    assert [b.label for b in gaussian.layout.updatemenus[0].buttons] == [
        "colour by cor",
        "colour by |var_x - var_y|",
    ]


def test_trajectory(tmp_path, data):
    codes, factors, images = data
    path = tmp_path / "trajectory.png"
    fig = latent_plots.plot_trajectory(
        codes,
        factors[:, 2],
        (0, 2),
        codes[:5],
        images[:5],
        "Straight path along cor",
        path=path,
        colour_name="cor",
        labels=[f"cor={v:.2f}" for v in np.linspace(-0.5, 0.5, 5)],
    )
    _check_png(fig, path)
    assert len([ax for ax in fig.axes if ax.images]) == 5
    assert any(ax.get_title() == "1: cor=-0.50" for ax in fig.axes)
    with pytest.raises(ValueError, match="path points"):
        latent_plots.plot_trajectory(codes, factors[:, 2], (0, 1), codes[:4], images[:5], "x")


def test_image_strip(tmp_path, data):
    _, _, images = data
    path = tmp_path / "strip.png"
    fig = latent_plots.plot_image_strip(
        images, labels=[str(i) for i in range(12)], title="strip", path=path, ncols=6
    )
    _check_png(fig, path, min_pixels=150)
    assert len([ax for ax in fig.axes if ax.images]) == 12
    assert isinstance(latent_plots.plot_image_strip(images[:3, ..., 0]), plt.Figure)
