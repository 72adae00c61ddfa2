"""HDF5 datasets: round trip, manifest, identical bytes for identical config, no half-written files."""

import time

import h5py
import numpy as np
import pytest

from vae_latent_study import datasets
from vae_latent_study.config import validate_config
from vae_latent_study.io import atomic_path
from vae_latent_study.kinds.heatmaps import data as heatmaps
from vae_latent_study.provenance import array_checksum

from .conftest import SCHEMA


@pytest.fixture
def tiny_t(tiny_config):
    return datasets.build_dataset("tiny_t", tiny_config["datasets"]["tiny_t"])


def test_round_trip_and_manifest(tmp_path, tiny_config, tiny_t):
    path = tmp_path / "tiny_t.h5"
    datasets.write_dataset(tiny_t, path)
    back = datasets.read_dataset(path)
    for field in ("images", "factors", "factor_indices", "axis", "train", "test"):
        np.testing.assert_array_equal(getattr(back, field), getattr(tiny_t, field))
    assert back.images.dtype == np.float32 and back.images.shape == (75, 36, 36)
    assert back.factor_names == ["var_x", "var_y", "cor", "df"]
    manifest = datasets.read_manifest(path)
    assert manifest == back.manifest
    assert manifest["config"] == tiny_config["datasets"]["tiny_t"]
    assert manifest["generator_version"] == heatmaps.GENERATOR_VERSION
    assert manifest["checksum"]["sha256"] == back.checksum()
    assert {"numpy", "scipy", "h5py", "python", "vae-latent-study"} <= set(manifest["versions"])
    assert manifest["n_train"] + manifest["n_test"] == 75


def test_factor_indices_and_grids_describe_the_factors(tiny_t):
    for k, name in enumerate(tiny_t.factor_names):
        np.testing.assert_array_equal(
            tiny_t.factor_grids[name][tiny_t.factor_indices[:, k]], tiny_t.factors[:, k]
        )
    assert set(tiny_t.factor_grids["df"]) <= {2.0, 200.0}


def test_student_t_images_use_their_own_df(tiny_t):
    df = tiny_t.factors[:, 3]
    assert len(np.unique(df)) == 2, "the tiny config must draw both classes"
    expected = heatmaps.heatmaps(tiny_t.axis, *tiny_t.factors[:, :3].T, df=df)
    np.testing.assert_array_equal(tiny_t.images, expected)
    gaussian = heatmaps.heatmaps(tiny_t.axis, *tiny_t.factors[:, :3].T)
    heavy = df == 2
    # Heavier tails: the faintest pixel, farthest out, is brighter than in the normal image.
    assert np.all(tiny_t.images[heavy].min(axis=(1, 2)) > gaussian[heavy].min(axis=(1, 2)))


def test_same_config_gives_identical_bytes(tmp_path, tiny_config):
    ds_config = tiny_config["datasets"]["tiny_gauss"]
    for name in ("a.h5", "b.h5"):
        datasets.make_dataset("tiny_gauss", ds_config, tmp_path / name, threads=2)
    assert (tmp_path / "a.h5").read_bytes() == (tmp_path / "b.h5").read_bytes()
    other = {**ds_config, "split": {"test_size": 0.2, "seed": 2}}
    datasets.make_dataset("tiny_gauss", other, tmp_path / "c.h5")
    assert (tmp_path / "c.h5").read_bytes() != (tmp_path / "a.h5").read_bytes()


def test_checksum_detects_a_changed_pixel(tiny_t):
    before = tiny_t.checksum()
    tiny_t.images[3, 10, 10] += 1e-3
    assert tiny_t.checksum() != before


def test_a_failed_write_leaves_nothing(tmp_path, tiny_t, monkeypatch):
    path = tmp_path / "out.h5"

    def explode(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(h5py.Group, "create_group", explode)
    with pytest.raises(RuntimeError, match="disk full"):
        datasets.write_dataset(tiny_t, path)
    assert list(tmp_path.iterdir()) == []


def test_atomic_path_replaces_only_on_success(tmp_path):
    target = tmp_path / "x.txt"
    target.write_text("old")
    with pytest.raises(ValueError), atomic_path(target) as tmp:
        tmp.write_text("half")
        raise ValueError
    assert target.read_text() == "old"
    with atomic_path(target) as tmp:
        tmp.write_text("new")
    assert target.read_text() == "new"
    assert [p.name for p in tmp_path.iterdir()] == ["x.txt"]


def test_reader_refuses_another_format_version(tmp_path, tiny_t):
    tiny_t.manifest = {**tiny_t.manifest, "format_version": 999}
    datasets.write_dataset(tiny_t, tmp_path / "old.h5")
    with pytest.raises(ValueError, match="format version"):
        datasets.read_dataset(tmp_path / "old.h5")


def test_a_heatmap_dataset_keeps_its_version_1_checksum(tiny_t):
    """The one layout for every kind moved `images` to `x` and `axis` to `truth/axis`; the checksum (and so
    everything a model's sidecar and a latent store link to) is the one version 1 computed."""
    version_1 = array_checksum(
        tiny_t.images, tiny_t.factors, tiny_t.factor_indices, tiny_t.axis, tiny_t.train, tiny_t.test
    )
    assert tiny_t.checksum() == version_1 and tiny_t.x is tiny_t.images
    assert tiny_t.kind == "heatmaps"
    types = dict.fromkeys(["var_x", "var_y", "cor"], "continuous") | {"df": "categorical"}
    assert tiny_t.factor_types == types


def test_the_same_dataset_written_seconds_apart_has_the_same_bytes(tmp_path, tiny_t):
    # Groups that track their members' order would store their creation time.
    datasets.write_dataset(tiny_t, tmp_path / "a.h5")
    time.sleep(1.2)
    datasets.write_dataset(tiny_t, tmp_path / "b.h5")
    assert (tmp_path / "a.h5").read_bytes() == (tmp_path / "b.h5").read_bytes()


@pytest.mark.parametrize("kind", ["normal_1d", "factor_model"])
def test_every_kind_writes_the_one_layout(tmp_path, kind):
    settings = {"kind": kind, **({"p": 6, "n": 50} if kind == "factor_model" else {})}
    given = {
        "datasets": {"d": settings, "heat": {}},
        "studies": {"heatmaps": {"datasets": ["heat"], "models": ["vae"]}},
        "models": {"vae": {"kind": "vae"}},
    }
    config = validate_config(given, SCHEMA)["datasets"]["d"]
    built = datasets.build_dataset("d", config)
    datasets.make_dataset("d", config, tmp_path / "d.h5")
    back = datasets.read_dataset(tmp_path / "d.h5")
    assert back.kind == kind and back.manifest["config"] == config
    assert back.manifest["checksum"]["sha256"] == back.checksum() == built.checksum()
    np.testing.assert_array_equal(back.x, built.x)
    assert back.x.dtype == np.float32 and len(back.x) == len(back.factors) == config["n"]
    assert sorted(np.concatenate([back.train, back.test])) == list(range(config["n"]))
    assert back.truth.keys() == built.truth.keys() and back.truth
    if kind == "normal_1d":
        assert back.x.shape == (100,) and len(back.test) == 33
        np.testing.assert_array_equal(back.test, np.arange(67, 100))  # the seed's last 33
        assert float(back.truth["mean"]) == 100.0 and float(back.truth["std"]) == 10.0
    else:
        assert back.x.shape == (50, 6) and back.factor_names == ["Z"]
        np.testing.assert_array_equal(back.factors[:, 0], back.truth["Z"])
        assert back.truth["g_grid"].shape == (161, 6) and back.truth["s"].shape == (6,)
