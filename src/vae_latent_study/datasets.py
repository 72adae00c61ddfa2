"""Heatmap datasets in HDF5: build one from its config, write it atomically, read it back."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from vae_latent_study import heatmaps
from vae_latent_study.io import atomic_path, reading
from vae_latent_study.provenance import array_checksum, library_versions

logger = logging.getLogger(__name__)

#: Version of the file layout below; readers check it.
FORMAT_VERSION = 1


@dataclass
class HeatmapDataset:
    """A heatmap dataset as stored: images, factors and their grid indices, split and manifest."""

    images: np.ndarray  # float32 (n, size, size)
    factors: np.ndarray  # float64 (n, n_factors)
    factor_names: list[str]
    factor_indices: np.ndarray  # int32 (n, n_factors): position of each value in its factor's grid
    factor_grids: dict[str, np.ndarray]
    axis: np.ndarray  # evaluation points of the density on both image axes
    train: np.ndarray  # int64 row indices, in train_test_split's order
    test: np.ndarray
    manifest: dict[str, Any]

    def checksum(self) -> str:
        """Checksum of the content, as recorded in the manifest when the file was written."""
        return array_checksum(
            self.images, self.factors, self.factor_indices, self.axis, self.train, self.test
        )


def build_dataset(name: str, config: Mapping[str, Any], threads: int = 1) -> HeatmapDataset:
    """Draw every image of a validated dataset config, with its factors, split and manifest."""
    values, indices = heatmaps.factor_table(config["grid"])
    names = list(heatmaps.GRID_FACTORS)
    grids = {f: heatmaps.grid_values(config["grid"][f]) for f in names}
    df = None
    if config["family"] == "student_t":
        df = heatmaps.assign_df(values[:, 0], values[:, 1], config["df_rule"])
        grids["df"] = np.unique(df)
        values = np.column_stack([values, df])
        indices = np.column_stack([indices, np.searchsorted(grids["df"], df)]).astype(np.int32)
        names.append("df")
    axis = heatmaps.grid_values(config["image_grid"])
    start = time.perf_counter()
    images = heatmaps.heatmaps(axis, values[:, 0], values[:, 1], values[:, 2], df=df, threads=threads)
    logger.info(
        "%s: drew %d images of %dx%d in %.3f s",
        name,
        len(images),
        *images.shape[1:],
        time.perf_counter() - start,
    )
    train, test = heatmaps.split_indices(len(images), config["split"]["test_size"], config["split"]["seed"])
    dataset = HeatmapDataset(images, values, names, indices, grids, axis, train, test, manifest={})
    dataset.manifest = {
        "dataset": name,
        "config": dict(config),
        "format_version": FORMAT_VERSION,
        "generator_version": heatmaps.GENERATOR_VERSION,
        "n_images": int(len(images)),
        "image_shape": list(images.shape[1:]),
        "factor_names": names,
        "n_train": int(len(train)),
        "n_test": int(len(test)),
        "versions": library_versions(),
        "checksum": {
            "sha256": dataset.checksum(),
            "covers": "images, factors, factor_indices, axis, train, test",
        },
    }
    return dataset


def write_dataset(dataset: HeatmapDataset, path: str | Path) -> None:
    """Write the dataset to HDF5, atomically; two writes of the same dataset give identical bytes."""
    with atomic_path(path) as tmp, h5py.File(tmp, "w", track_order=False) as h5:
        # No timestamps in object headers, so the same content always gives the same bytes.
        h5.create_dataset(
            "images",
            data=dataset.images,
            chunks=(min(256, len(dataset.images)), *dataset.images.shape[1:]),
            track_times=False,
        )
        h5.create_dataset("factors", data=dataset.factors, track_times=False)
        h5.create_dataset("factor_indices", data=dataset.factor_indices, track_times=False)
        h5["factors"].attrs["names"] = dataset.factor_names
        h5["factor_indices"].attrs["names"] = dataset.factor_names
        grids = h5.create_group("factor_grids", track_order=True)
        for name in dataset.factor_names:
            grids.create_dataset(name, data=dataset.factor_grids[name], track_times=False)
        h5.create_dataset("axis", data=dataset.axis, track_times=False)
        split = h5.create_group("split")
        split.create_dataset("train", data=dataset.train, track_times=False)
        split.create_dataset("test", data=dataset.test, track_times=False)
        h5.attrs["manifest"] = json.dumps(dataset.manifest, sort_keys=True)
    logger.info("wrote %s (%d images)", path, len(dataset.images))


def read_manifest(path: str | Path) -> dict[str, Any]:
    """The manifest of a dataset file, without reading its arrays."""
    with reading(path), h5py.File(path, "r") as h5:
        return json.loads(h5.attrs["manifest"])


def read_dataset(path: str | Path) -> HeatmapDataset:
    """Read a dataset written by `write_dataset`; a damaged one raises `io.ProjectFileError`."""
    with reading(path), h5py.File(path, "r") as h5:
        manifest = json.loads(h5.attrs["manifest"])
        if manifest.get("format_version") != FORMAT_VERSION:
            raise ValueError(f"format version {manifest.get('format_version')}, expected {FORMAT_VERSION}")
        names = [str(n) for n in h5["factors"].attrs["names"]]
        return HeatmapDataset(
            images=h5["images"][()],
            factors=h5["factors"][()],
            factor_names=names,
            factor_indices=h5["factor_indices"][()],
            factor_grids={n: h5["factor_grids"][n][()] for n in names},
            axis=h5["axis"][()],
            train=h5["split/train"][()],
            test=h5["split/test"][()],
            manifest=manifest,
        )


def simulate_heatmaps(name: str, config: Mapping[str, Any], output: str | Path, threads: int = 1) -> None:
    """Build the dataset `name` from its validated config and write it to `output` (the rule's job)."""
    write_dataset(build_dataset(name, config, threads=threads), output)
