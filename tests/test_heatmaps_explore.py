"""Latent-space exploration: known answers for its numbers, and real figures from a tiny latent store."""

import json

import matplotlib.image as mpimg
import numpy as np
import plotly.io as pio
import pytest

from tests.conftest import SCHEMA, TINY_CONFIG
from vae_latent_study import plots
from vae_latent_study.config import validate_config
from vae_latent_study.datasets import build_dataset, write_dataset
from vae_latent_study.evaluation import encode
from vae_latent_study.kinds.heatmaps import explore
from vae_latent_study.models import build

AXIS = np.arange(-3.0, 3.0, 0.17)


def _gaussian(var_x, var_y, cor):
    x, y = np.meshgrid(AXIS, AXIS, indexing="ij")
    cov = np.array([[var_x, cor * np.sqrt(var_x * var_y)], [cor * np.sqrt(var_x * var_y), var_y]])
    inv = np.linalg.inv(cov)
    quad = inv[0, 0] * x**2 + 2 * inv[0, 1] * x * y + inv[1, 1] * y**2
    return np.exp(-quad / 2)


def test_image_moments_recover_a_narrow_gaussian():
    images = np.stack([_gaussian(0.3, 0.6, 0.5), _gaussian(0.5, 0.2, -0.7)])[..., None]
    got = explore.image_moments(images, AXIS)
    np.testing.assert_allclose(got, [[0.3, 0.6, 0.5], [0.5, 0.2, -0.7]], atol=0.01)


def test_image_moments_grow_with_the_true_variance_despite_the_grid():
    images = np.stack([_gaussian(v, 1.0, 0.0) for v in (0.5, 1.5, 3.0, 4.9)])
    assert np.all(np.diff(explore.image_moments(images, AXIS)[:, 0]) > 0)
    assert np.isnan(explore.image_moments(np.zeros((1, 36, 36)), AXIS)).all()  # a blank image has none


def test_empty_space_is_small_for_an_even_cloud_and_large_for_a_shell():
    rng = np.random.default_rng(0)
    even = rng.uniform(-1, 1, size=(3000, 3))
    shell = rng.normal(size=(3000, 3))
    shell /= np.linalg.norm(shell, axis=1, keepdims=True)  # codes on a sphere: the inside is empty
    got = {}
    for name, codes in (("even", even), ("shell", shell)):
        samples = explore.hull_samples(codes, 2000, np.random.default_rng(1))
        got[name] = explore.empty_space(codes, samples)["share"]
    assert got["even"] < 0.15  # about 1 - EMPTY_QUANTILE, a little more at the hull's border
    assert got["shell"] > 0.6


def test_hull_samples_lie_inside_the_hull_and_repeat_with_the_seed():
    rng = np.random.default_rng(2)
    codes = rng.normal(size=(200, 3))
    a = explore.hull_samples(codes, 500, np.random.default_rng(5))
    b = explore.hull_samples(codes, 500, np.random.default_rng(5))
    np.testing.assert_array_equal(a, b)
    assert a.shape == (500, 3)
    assert np.all(a >= codes.min(axis=0)) and np.all(a <= codes.max(axis=0))
    flat = explore.hull_samples(codes[:, :1], 50, np.random.default_rng(5))  # a 1-D code: an interval
    assert flat.shape == (50, 1)


def test_nearest_image_distance_is_zero_for_a_copy():
    rng = np.random.default_rng(3)
    reference = rng.uniform(size=(20, 6, 6))
    got = explore.nearest_image_distance(np.concatenate([reference[:3], reference[:1] + 0.5]), reference)
    np.testing.assert_allclose(got[:3], 0.0, atol=1e-6)
    assert got[3] <= 0.5 * 6 + 1e-9


def test_axis_correlations_find_the_axis_that_carries_a_factor():
    rng = np.random.default_rng(4)
    factors = rng.uniform(size=(100, 2))
    codes = np.column_stack([rng.normal(size=100), 3 * factors[:, 0], -factors[:, 1]])
    got = explore.axis_correlations(codes, factors, ["a", "b"])
    assert np.argmax(np.abs(got["a"])) == 1 and got["a"][1] == pytest.approx(1.0)
    assert np.argmax(np.abs(got["b"])) == 2 and got["b"][2] == pytest.approx(-1.0)


@pytest.fixture(scope="module")
def stores(tmp_path_factory):
    """Tiny datasets, untrained models (a 3-D VAE, a 2-D AE) saved as .keras, and their latent stores."""
    root = tmp_path_factory.mktemp("explore")
    config = validate_config(TINY_CONFIG, SCHEMA)
    out = {}
    for kind, dataset, latent_dim in (("vae", "tiny_t", 3), ("ae", "tiny_gauss", 2), ("cvae", "tiny_t", 3)):
        data = root / f"{dataset}.h5"
        if not data.exists():
            write_dataset(build_dataset(dataset, config["datasets"][dataset]), data)
        model_path = root / f"{kind}.keras"
        # The conditional VAE (seed 003's option on seed 000's data) takes the Student-t's df as its label.
        condition = {"factor": "df", "values": [2.0, 200.0]} if kind == "cvae" else None
        build.build_model(kind.removeprefix("c"), latent_dim=latent_dim, seed=1, condition=condition).save(
            model_path
        )
        store = root / f"{kind}_latents.h5"
        encode.encode_dataset(model_path, data, store, seed=5, batch_size=16)
        out[kind] = {"model": model_path, "latents": store, "dataset": data, "name": dataset}
    return out


def _outputs(directory):
    names = {"interactive": "latent_3d.html", "interactive_json": "latent_3d.json", "summary": "summary.json"}
    return {key: directory / names.get(key, f"{key}.png") for key in explore.OUTPUT_KEYS}


def _explore(store, directory, seed=5):
    outputs = _outputs(directory)
    explore.explore_latents(
        store["model"], store["latents"], store["dataset"], outputs, seed, dataset_name=store["name"]
    )
    return outputs


#: (min width, min height) in pixels of each PNG at the figures' 100 dpi; the path figures are grids.
MIN_SIZE = {
    "projections": (800, 300),
    "latent_3d": (800, 400),
    "reconstructions": (300, 900),
    "trajectories": (1800, 1800),
    "traversals": (600, 300),
    "empty_regions": (500, 500),
}


@pytest.mark.parametrize("kind", ["vae", "ae", "cvae"])
def test_explore_latents_writes_every_figure(stores, tmp_path, kind):
    outputs = _explore(stores[kind], tmp_path)
    for key, (width, height) in MIN_SIZE.items():
        image = mpimg.imread(outputs[key])
        assert image.shape[1] >= width and image.shape[0] >= height, (key, image.shape)
        assert image[..., :3].std() > 0.05, key  # not a blank canvas
    page = outputs["interactive"].read_text(encoding="utf-8")
    assert 'id="latent-3d"' in page and "<script src=" not in page  # plotly.js inline, no CDN
    figure = pio.from_json(outputs["interactive_json"].read_text(encoding="utf-8"))
    assert figure.data and all(len(trace.x) > 0 for trace in figure.data)
    summary = json.loads(outputs["summary"].read_text())
    assert summary["kind"] == kind.removeprefix("c") and summary["dataset"] == stores[kind]["name"]
    assert len(summary["code_std"]) == len(summary["axis_correlation"]["cor"]) == (2 if kind == "ae" else 3)
    # A conditional model decodes the places of its latent space under its first label.
    assert summary["decoded_with"] == ({"factor": "df", "value": 2.0} if kind == "cvae" else None)
    assert 0.0 <= summary["empty_space"]["share"] <= 1.0
    assert summary["decoded_hull"]["n"] == explore.DECODED_HULL_SAMPLES
    assert {"straight_cor", "factor_var_x", "rotation", "axis_z0", "empty"} <= set(summary["paths"])


def test_explore_latents_is_deterministic(stores, tmp_path):
    first = _explore(stores["vae"], tmp_path / "a")
    second = _explore(stores["vae"], tmp_path / "b")
    for key in explore.OUTPUT_KEYS:
        if key != "summary":  # the summary names its inputs' paths, which differ here
            assert first[key].read_bytes() == second[key].read_bytes(), key
    a, b = (json.loads(o["summary"].read_text()) for o in (first, second))
    assert {k: v for k, v in a.items() if k != "inputs"} == {k: v for k, v in b.items() if k != "inputs"}


def test_plot_training_histories(tmp_path):
    vae, ae = tmp_path / "vae.csv", tmp_path / "ae.csv"
    vae.write_text(
        "epoch,loss,reconstruction_loss,kl_loss,val_loss,val_reconstruction_loss,val_kl_loss\n"
        "1,700,690,10,510,500,10\n2,500,492,8,480,473,7\n3,450,443,7,445,439,6\n"
    )
    ae.write_text(
        "epoch,loss,reconstruction_loss,kl_loss,val_loss,val_reconstruction_loss,val_kl_loss\n"
        "1,0.53,0.53,,0.36,0.36,\n2,0.35,0.35,,0.34,0.34,\n3,0.34,0.34,,0.34,0.34,\n"
    )
    path = tmp_path / "curves.png"
    plots.plot_training_histories({"vae": vae, "ae": ae}, path)
    image = mpimg.imread(path)
    assert image.shape[1] > 700 and image.shape[0] > 500 and image[..., :3].std() > 0.05


def _factor_world(scrambled):
    """Codes that are the standardised factors (or the same codes in a shuffled row order: codes that say
    nothing about their images' factors), and a decoder that draws the density its code names."""
    grid = np.array(
        [
            (vx, vy, c)
            for vx in np.linspace(0.3, 2.0, 6)
            for vy in np.linspace(0.3, 2.0, 6)
            for c in np.linspace(-0.6, 0.6, 5)
        ]
    )
    mean, sd = grid.mean(axis=0), grid.std(axis=0)
    codes = (grid - mean) / sd
    if scrambled:
        codes = codes[np.random.default_rng(8).permutation(len(codes))]

    def decode(c):
        f = c * sd + mean
        return np.stack(
            [_gaussian(max(vx, 0.05), max(vy, 0.05), float(np.clip(r, -0.95, 0.95))) for vx, vy, r in f]
        )

    scale = np.nanstd(explore.image_moments(decode(codes), AXIS), axis=0)
    return codes, grid, decode, scale


def _verdicts(codes, grid, decode, scale):
    from vae_latent_study.evaluation import trajectories

    out = {}
    for k, factor in enumerate(explore.PATH_FACTORS):
        path = trajectories.straight_path(codes, grid, k, n=6)
        out[factor] = explore.direction_null(path, factor, decode, AXIS, scale, np.random.default_rng(k))
    return out


def test_a_direction_that_moves_only_its_factor_beats_random_directions():
    got = _verdicts(*_factor_world(scrambled=False))
    for factor, verdict in got.items():
        assert verdict["meaningful"], (factor, verdict)
        assert verdict["selectivity"] > verdict["random_selectivity"]["0.95"]
        assert verdict["p_value"] == pytest.approx(1 / (1 + explore.NULL_DIRECTIONS))


def test_scrambled_codes_cannot_pass_the_direction_null():
    # The decoder is perfect, but the codes no longer follow the factors: the fitted directions are as
    # good as random ones, and the verdict must not call them meaningful.
    got = _verdicts(*_factor_world(scrambled=True))
    assert sum(v["meaningful"] for v in got.values()) <= 1, got
    assert all(v["p_value"] > explore.NULL_LEVEL / 5 for v in got.values()), got


@pytest.mark.parametrize("kind", ["vae", "ae"])
def test_an_untrained_model_cannot_pass_the_direction_null(stores, tmp_path, kind):
    summary = json.loads(_explore(stores[kind], tmp_path)["summary"].read_text())
    nulls = {f: summary["paths"][f"straight_{f}"].get("null") for f in explore.PATH_FACTORS}
    judged = {f: v for f, v in nulls.items() if v is not None}
    assert judged, summary["paths"]
    assert not all(v["meaningful"] for v in judged.values()), judged
    for verdict in judged.values():
        assert verdict["n_random"] == explore.NULL_DIRECTIONS and 0 < verdict["p_value"] <= 1
