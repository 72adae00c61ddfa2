"""Encoding a dataset with a trained model into its latent store (`evaluation.latents`, whose docstring
describes the layout): the one step between a model and the evaluations that read codes."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from vae_latent_study.datasets import read_dataset
from vae_latent_study.evaluation.latents import FORMAT_VERSION, SPLITS
from vae_latent_study.io import atomic_path

logger = logging.getLogger(__name__)


def _sample(z_mean: np.ndarray, z_log_sigma: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    eps = rng.standard_normal(z_mean.shape)
    return (z_mean.astype(np.float64) + np.exp(z_log_sigma.astype(np.float64)) * eps).astype(np.float32)


def _model_dataset_checksum(model_path: Path) -> str | None:
    # The training sidecar (training.sidecar_path), read without importing TensorFlow-specific code.
    sidecar = model_path.with_suffix(".json")
    try:
        return json.loads(sidecar.read_text())["dataset"]["checksum"]
    except (OSError, ValueError, KeyError, TypeError):
        return None


def encode_dataset(
    model_path: str | Path,
    dataset_path: str | Path,
    output_path: str | Path,
    seed: int,
    batch_size: int = 256,
) -> None:
    """Encode both splits of a dataset with a trained model and write the latent store, atomically."""
    # Imported here, not at the top: readers of latent stores (the evaluation jobs) never need Keras, and
    # importing it with TensorFlow costs seconds per job.
    import keras

    from vae_latent_study.models import autoencoders, inference
    from vae_latent_study.training.backend import runtime_versions

    model_path = Path(model_path)
    # Not compiled: encoding needs no optimizer (and loading one the model saved unbuilt only warns).
    model = inference.load_model(model_path, compile=False)
    kind = autoencoders.model_kind(model)
    dataset = read_dataset(dataset_path)
    shape = inference.data_input_shape(model)
    if tuple(shape[1:3]) != tuple(dataset.images.shape[1:]):
        raise ValueError(
            f"{model_path} takes {shape[1:3]} images; {dataset_path} holds {dataset.images.shape[1:]}"
        )
    condition = model.condition
    rng = np.random.default_rng(int(seed))
    splits: dict[str, dict[str, np.ndarray]] = {}
    for name in SPLITS:
        rows = getattr(dataset, name)
        images = dataset.images[rows][..., None].astype(np.float32)
        label = None
        if condition is not None:
            label = autoencoders.label_indices(condition, dataset.factor(condition["factor"])[rows])
        codes = inference.encode(model, images, batch_size=batch_size, label=label)
        if kind == "vae":
            out = {"z_mean": codes["z_mean"], "z_log_sigma": codes["z_log_sigma"]}
            out["z"] = _sample(out["z_mean"], out["z_log_sigma"], rng)  # the model's own sample is unused
        else:
            out = {"z_mean": codes["code"]}
        splits[name] = {"rows": np.asarray(rows, dtype=np.int64), **out}
        if label is not None:
            splits[name]["label"] = label
    test = splits["test"]
    label = test.get("label")
    test["reconstruction_mean"] = inference.decode(model, test["z_mean"], batch_size=batch_size, label=label)[
        ..., 0
    ]
    if kind == "vae":
        test["reconstruction_sample"] = inference.decode(
            model, test["z"], batch_size=batch_size, label=label
        )[..., 0]

    checksum = dataset.manifest["checksum"]["sha256"]
    attrs: dict[str, Any] = {
        "format_version": FORMAT_VERSION,
        "dataset_path": str(dataset_path),
        "dataset_checksum": checksum,
        "model_path": str(model_path),
        "kind": kind,
        "latent_dim": int(test["z_mean"].shape[1]),
        "seed": int(seed),
        "batch_size": int(batch_size),
        "backend": keras.backend.backend(),
        "versions": json.dumps(runtime_versions(), sort_keys=True),
    }
    if condition is not None:
        attrs["conditional"] = condition["factor"]
        attrs["condition_values"] = json.dumps(condition["values"])
    trained_on = _model_dataset_checksum(model_path)
    if trained_on is not None:
        attrs["model_dataset_checksum"] = trained_on
        if trained_on != checksum:
            logger.info("%s was trained on another dataset than %s", model_path, dataset_path)

    with atomic_path(output_path) as tmp, h5py.File(tmp, "w", track_order=False) as h5:
        for name, arrays in splits.items():
            group = h5.create_group(name)
            for key, value in arrays.items():
                group.create_dataset(key, data=value, track_times=False)
            if kind == "ae":
                # One array, three names: the code is the AE's z_mean and its (deterministic) z.
                group["code"] = group["z_mean"]
                group["z"] = group["z_mean"]
                if "reconstruction_mean" in group:
                    group["reconstruction_sample"] = group["reconstruction_mean"]
        h5.attrs.update(attrs)
    logger.info(
        "wrote %s: %s latents (dim %d) of %d train and %d test images",
        output_path,
        kind,
        attrs["latent_dim"],
        len(splits["train"]["rows"]),
        len(splits["test"]["rows"]),
    )
