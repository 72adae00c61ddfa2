"""HDF5 datasets: round trip, manifest, identical bytes for identical config, no half-written files."""

import h5py
import numpy as np
import pytest

from vae_latent_study import datasets, heatmaps
from vae_latent_study.io import atomic_path


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
        datasets.simulate_heatmaps("tiny_gauss", ds_config, tmp_path / name, threads=2)
    assert (tmp_path / "a.h5").read_bytes() == (tmp_path / "b.h5").read_bytes()
    other = {**ds_config, "split": {"test_size": 0.2, "seed": 2}}
    datasets.simulate_heatmaps("tiny_gauss", other, tmp_path / "c.h5")
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
