"""The pixels' own class probe (seed 001's baseline): a KNN probe of the class on a 2-d PCA of the images.

It depends on the dataset and the probe's settings alone, not on a model, so the workflow runs it once per
dataset (rule `probe_pixels`, `results/evaluation/{dataset}/pixels_pca2_knn.json`) and every model's images
evaluation reads it (`knn_class_pca2`, and its gain over it), rather than each computing it again.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np

from vae_latent_study.evaluation.probes import knn_probe

logger = logging.getLogger(__name__)


def pca_codes(train: np.ndarray, test: np.ndarray, components: int = 2) -> tuple[np.ndarray, np.ndarray]:
    """The pixels projected on the first principal components of the training images (scikit-learn), in
    float32 as the models read them."""
    from sklearn.decomposition import PCA

    train = np.asarray(train, dtype=np.float32).reshape(len(train), -1)
    test = np.asarray(test, dtype=np.float32).reshape(len(test), -1)
    pca = PCA(n_components=components, random_state=0).fit(train)
    return pca.transform(train), pca.transform(test)


def pixel_probe(dataset_path: str | Path, k_grid: Iterable[int], cv: int) -> dict[str, Any]:
    """`probes.knn_probe` of the class (the dataset's label) on `pca_codes` of the training and test images,
    with the settings of the models' own class probe: `knn_class_pca2`, and `settings`."""
    from vae_latent_study.datasets import read_dataset
    from vae_latent_study.io import reading

    with reading(dataset_path):
        dataset = read_dataset(dataset_path)
    labels = dataset.factors[:, dataset.factor_names.index(dataset.label or "class")]
    pca_train, pca_test = pca_codes(dataset.x[dataset.train], dataset.x[dataset.test])
    grid = [int(k) for k in k_grid]
    probe = knn_probe(
        pca_train, labels[dataset.train], pca_test, labels[dataset.test], k_grid=grid, cv=int(cv)
    )
    logger.info("%s: KNN class accuracy of the pixels' PCA-2 %.3f", dataset_path, probe["test_accuracy"])
    return {
        "knn_class_pca2": probe,
        "settings": {"k_grid": [grid[0], grid[-1]], "cv_folds": int(cv), "components": 2},
        "dataset": {"path": str(dataset_path), "checksum": dataset.manifest["checksum"]["sha256"]},
    }


def write_pixel_probe(
    dataset_path: str | Path, json_path: str | Path, knn_k: Iterable[int], cv_folds: int
) -> None:
    """The rule's job: `pixel_probe` with the `evaluation` settings `knn_k` ([lo, hi]) and `cv_folds`,
    written as strict JSON."""
    from vae_latent_study.provenance import write_strict_json

    lo, hi = (int(k) for k in knn_k)
    write_strict_json(pixel_probe(dataset_path, range(lo, hi + 1), cv_folds), json_path)
