"""The latent store: a trained model's latent coordinates of a dataset, in HDF5, with test reconstructions.

The store's reader and layout; `evaluation.encode.encode_dataset` writes it (apart, so that what reads a
store runs no model code).

Layout of the file `encode_dataset` writes (all float arrays float32):

- groups `train` and `test`, each with
  - `rows` (int64): the dataset's row indices of the split, copied from its `split/train` or `split/test`;
  - `z_mean` (n, latent_dim): the VAE's mean head; for the AE its code (then also reachable as `code`,
    a hard link to the same data), so that downstream code can treat both models alike;
  - `z_log_sigma` (n, latent_dim): the VAE's second head (a log standard deviation in the sampler). The AE
    has none;
  - `z` (n, latent_dim): one seeded sample z = z_mean + exp(z_log_sigma) * eps, with eps drawn in NumPy from
    `np.random.default_rng(seed)` (first the train rows, then the test rows), so it does not depend on the
    model's sampler state. For the AE z is the code (a hard link to `z_mean`);
- in `test` also `reconstruction_mean` and `reconstruction_sample` (n_test, size, size): the decoder's
  images of `z_mean` and of `z` (for the AE, the same data);
- for a conditional model (seed 003) also `label` (int64): each row's label, its position among the
  model's condition values, with which it was encoded and its reconstructions decoded;
- attributes: `format_version`, `dataset_path` (as given), `dataset_checksum` (its manifest's SHA-256),
  `model_path`, `kind`, `latent_dim`, `seed`, `batch_size`, `backend`, `versions` (JSON) and, when the
  model's training sidecar exists, `model_dataset_checksum` (the dataset the model was trained on); for a
  conditional model `conditional` (the factor) and `condition_values` (JSON: the factor's value of each
  label, in order).

Two encodings of the same model and dataset give identical bytes (no timestamps in object headers).
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from vae_latent_study.io import reading

logger = logging.getLogger(__name__)

#: Version of the file layout above; `read_latents` checks it.
FORMAT_VERSION = 1

SPLITS = ("train", "test")


@dataclass
class LatentSplit:
    """The latent coordinates of one split (see the module docstring for the conventions)."""

    rows: np.ndarray
    z_mean: np.ndarray
    z: np.ndarray
    z_log_sigma: np.ndarray | None = None  # VAE only
    reconstruction_mean: np.ndarray | None = None  # test split only
    reconstruction_sample: np.ndarray | None = None
    label: np.ndarray | None = None  # conditional models only


@dataclass
class Latents:
    """A latent store as read back by `read_latents`."""

    kind: str
    latent_dim: int
    seed: int
    train: LatentSplit
    test: LatentSplit
    attrs: dict[str, Any] = field(default_factory=dict)

    def split(self, name: str) -> LatentSplit:
        """The split called `name` ("train" or "test")."""
        if name not in SPLITS:
            raise KeyError(f"split must be one of {SPLITS}; got {name!r}")
        return getattr(self, name)


def _attr(value: Any) -> Any:
    if isinstance(value, bytes):
        return value.decode()
    if isinstance(value, np.generic):
        return value.item()
    return value


def read_latents(path: str | Path) -> Latents:
    """Read a latent store written by `encode_dataset`; a damaged one raises `io.ProjectFileError`."""
    with reading(path), h5py.File(path, "r") as h5:
        attrs = {k: _attr(v) for k, v in h5.attrs.items()}
        if attrs.get("format_version") != FORMAT_VERSION:
            raise ValueError(f"latent store format {attrs.get('format_version')}, expected {FORMAT_VERSION}")
        attrs["versions"] = json.loads(attrs["versions"])

        def split(name: str) -> LatentSplit:
            group = h5[name]
            return LatentSplit(
                **{key: group[key][()] for key in LatentSplit.__dataclass_fields__ if key in group}
            )

        return Latents(
            kind=attrs["kind"],
            latent_dim=int(attrs["latent_dim"]),
            seed=int(attrs["seed"]),
            train=split("train"),
            test=split("test"),
            attrs=attrs,
        )
