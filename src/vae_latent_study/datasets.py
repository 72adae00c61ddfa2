"""Datasets in one HDF5 layout for every kind: build one from its config, write it atomically, read it back.

Layout (format version 2), the same for every kind:

- `x`: the data, float32 (N, ...): images (N, size, size) for heatmaps, rows (N, p) for tabular kinds;
- `factors`: float64 (N, F), attributes `names` and `types` (`continuous` or `categorical` per factor);
- `factor_indices` (optional): int32 (N, F), the position of each value in its grid (`factor_grids/{name}`);
- `split/train`, `split/test`: row indices;
- `truth/{name}` (optional): what the simulation knows beyond `x` and the factors: the heatmaps' image axis,
  the true parameters, latent values and functions of the simulated kinds;
- attribute `label` (optional): the name of the categorical factor that is the condition of a model;
- attribute `manifest`: JSON of the resolved config, kind, versions, sizes and a SHA-256 of the content.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from vae_latent_study.io import atomic_path, reading
from vae_latent_study.provenance import array_checksum, library_versions

# h5py is imported by the functions that read or write a file: common.smk imports this module (for
# `kind_module`) at every Snakemake start, dry runs too.
if TYPE_CHECKING:
    import h5py

logger = logging.getLogger(__name__)

#: Version of the file layout above; readers check it. Version 1 was heatmaps only (`images`, `axis`).
FORMAT_VERSION = 2

FACTOR_TYPES = ("continuous", "categorical")


@dataclass
class Dataset:
    """A dataset as stored, whatever its kind (see the module docstring for the layout)."""

    x: np.ndarray
    factors: np.ndarray
    factor_names: list[str]
    factor_types: dict[str, str]
    train: np.ndarray  # int64 row indices
    test: np.ndarray
    manifest: dict[str, Any]
    factor_indices: np.ndarray | None = None
    factor_grids: dict[str, np.ndarray] = field(default_factory=dict)
    truth: dict[str, np.ndarray] = field(default_factory=dict)
    label: str | None = None

    @property
    def kind(self) -> str:
        return str(self.manifest.get("kind", "heatmaps"))

    @property
    def images(self) -> np.ndarray:
        """The heatmaps kind's name for `x`: (N, size, size)."""
        return self.x

    @property
    def axis(self) -> np.ndarray:
        """The heatmaps kind's image axis (`truth/axis`)."""
        return self.truth["axis"]

    def factor(self, name: str) -> np.ndarray:
        """The values of factor `name`, one per row."""
        if name not in self.factor_names:
            raise KeyError(f"no factor {name!r}; the factors are {self.factor_names}")
        return self.factors[:, self.factor_names.index(name)]

    def categories(self, name: str) -> np.ndarray:
        """The values a categorical factor takes, sorted: its grid where the file has one, else the values
        its rows take."""
        if self.factor_types.get(name) != "categorical":
            raise ValueError(f"factor {name!r} is {self.factor_types.get(name, 'absent')}, not categorical")
        values = self.factor_grids[name] if name in self.factor_grids else self.factor(name)
        return np.unique(np.asarray(values, dtype=np.float64))

    def condition(self, conditional: str) -> dict[str, Any]:
        """What a model's `conditional` option names in this dataset (`models.check_condition`): the
        categorical factor (`label` is the dataset's label) and its values, the order of the one-hot
        columns."""
        factor = self.label if conditional == "label" else conditional
        if factor is None:
            raise ValueError(f"{self.manifest.get('dataset')} has no label to condition on")
        return {"factor": factor, "values": [float(v) for v in self.categories(factor)]}

    def checksum(self) -> str:
        """Checksum of the content, as recorded in the manifest when the file was written. The order (x,
        factors, factor indices, truth by name, split) keeps a heatmap dataset's version-1 checksum."""
        indices = [] if self.factor_indices is None else [self.factor_indices]
        truth = [self.truth[name] for name in sorted(self.truth)]
        return array_checksum(self.x, self.factors, *indices, *truth, self.train, self.test)


def manifest(dataset: Dataset, name: str, config: Mapping[str, Any], **extra: Any) -> dict[str, Any]:
    """The manifest of a dataset built from `config`: its kind and config, the layout's version, `extra`
    (a kind's own entries), sizes, library versions and the content's checksum."""
    covers = ["x", "factors"] + (["factor_indices"] if dataset.factor_indices is not None else [])
    covers += [f"truth/{n}" for n in sorted(dataset.truth)] + ["train", "test"]
    return {
        "dataset": name,
        "kind": config["kind"],
        "config": dict(config),
        "format_version": FORMAT_VERSION,
        **extra,
        "n_rows": int(len(dataset.x)),
        "row_shape": list(dataset.x.shape[1:]),
        "factor_names": dataset.factor_names,
        "n_train": int(len(dataset.train)),
        "n_test": int(len(dataset.test)),
        "versions": library_versions(),
        "checksum": {"sha256": dataset.checksum(), "covers": ", ".join(covers)},
    }


def kind_module(kind: str) -> str:
    """The module that builds datasets of `kind`: by convention its kind's `data` module
    (`vae_latent_study.kinds.<kind>.data`), whose `build_dataset(name, config, threads)` builds one. Imported
    by name, so that this module imports none of them: the build rule's code digest then covers the built
    kind's modules only, and an edit of one kind (or a new kind) rebuilds that kind's datasets, not every
    dataset."""
    return f"vae_latent_study.kinds.{kind}.data"


def build_dataset(name: str, config: Mapping[str, Any], threads: int = 1) -> Dataset:
    """Build the dataset a validated dataset config describes, with its factors, split, truth and manifest."""
    import importlib

    builder = importlib.import_module(kind_module(config.get("kind", "heatmaps")))
    return builder.build_dataset(name, config, threads)


def _ordered_group(parent: h5py.Group, name: str) -> h5py.Group:
    """A group that keeps its members in creation order, without the creation and modification times HDF5
    otherwise stores with such a group (which made the same dataset differ in bytes from second to second)."""
    import h5py

    gcpl = h5py.h5p.create(h5py.h5p.GROUP_CREATE)
    gcpl.set_link_creation_order(h5py.h5p.CRT_ORDER_TRACKED | h5py.h5p.CRT_ORDER_INDEXED)
    gcpl.set_obj_track_times(False)
    return h5py.Group(h5py.h5g.create(parent.id, name.encode(), gcpl=gcpl))


def write_dataset(dataset: Dataset, path: str | Path) -> None:
    """Write the dataset to HDF5, atomically; two writes of the same dataset give identical bytes."""
    import h5py

    with atomic_path(path) as tmp, h5py.File(tmp, "w", track_order=False) as h5:
        # No timestamps in object headers, so the same content always gives the same bytes.
        chunks = (min(256, len(dataset.x)), *dataset.x.shape[1:]) if len(dataset.x) else None
        h5.create_dataset("x", data=dataset.x, chunks=chunks, track_times=False)
        h5.create_dataset("factors", data=dataset.factors, track_times=False)
        h5["factors"].attrs["names"] = dataset.factor_names
        h5["factors"].attrs["types"] = [dataset.factor_types[n] for n in dataset.factor_names]
        if dataset.factor_indices is not None:
            h5.create_dataset("factor_indices", data=dataset.factor_indices, track_times=False)
            h5["factor_indices"].attrs["names"] = dataset.factor_names
        grids = _ordered_group(h5, "factor_grids")
        for name in dataset.factor_grids:
            grids.create_dataset(name, data=dataset.factor_grids[name], track_times=False)
        truth = _ordered_group(h5, "truth")
        for name in sorted(dataset.truth):
            truth.create_dataset(name, data=dataset.truth[name], track_times=False)
        split = h5.create_group("split")
        split.create_dataset("train", data=dataset.train, track_times=False)
        split.create_dataset("test", data=dataset.test, track_times=False)
        if dataset.label is not None:
            h5.attrs["label"] = dataset.label
        h5.attrs["manifest"] = json.dumps(dataset.manifest, sort_keys=True)
    logger.info("wrote %s (%d rows of %s)", path, len(dataset.x), dataset.x.shape[1:])


def read_manifest(path: str | Path) -> dict[str, Any]:
    """The manifest of a dataset file, without reading its arrays."""
    import h5py

    with reading(path), h5py.File(path, "r") as h5:
        return json.loads(h5.attrs["manifest"])


def read_dataset(path: str | Path) -> Dataset:
    """Read a dataset written by `write_dataset`; a damaged one raises `io.ProjectFileError`."""
    import h5py

    with reading(path), h5py.File(path, "r") as h5:
        manifest = json.loads(h5.attrs["manifest"])
        if manifest.get("format_version") != FORMAT_VERSION:
            raise ValueError(f"format version {manifest.get('format_version')}, expected {FORMAT_VERSION}")
        names = [str(n) for n in h5["factors"].attrs["names"]]
        types = [str(t) for t in h5["factors"].attrs["types"]]
        return Dataset(
            x=h5["x"][()],
            factors=h5["factors"][()],
            factor_names=names,
            factor_types=dict(zip(names, types, strict=True)),
            train=h5["split/train"][()],
            test=h5["split/test"][()],
            manifest=manifest,
            factor_indices=h5["factor_indices"][()] if "factor_indices" in h5 else None,
            factor_grids={n: h5["factor_grids"][n][()] for n in h5["factor_grids"]},
            truth={n: h5["truth"][n][()] for n in h5["truth"]},
            label=str(h5.attrs["label"]) if "label" in h5.attrs else None,
        )


def make_dataset(name: str, config: Mapping[str, Any], output: str | Path, threads: int = 1) -> None:
    """Build the dataset `name` from its validated config and write it to `output` (the rule's job)."""
    write_dataset(build_dataset(name, config, threads=threads), output)
