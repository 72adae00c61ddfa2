"""A small CNN trained in the workflow on an images dataset's real training images, to label decoded
samples: the judge of sample quality (seed 001) and of requested labels (seed 003).

`train_classifier` is the workflow's per-dataset job; it writes the model and a JSON with its test
accuracy. Deterministic: `keras.utils.set_random_seed` and TensorFlow's op determinism, the epoch orders
drawn from the seed.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from vae_latent_study.io import atomic_path

logger = logging.getLogger(__name__)

#: The seed's `evaluation.classifier` defaults: enough for about 90% on Fashion-MNIST in minutes on a CPU.
DEFAULTS = {"epochs": 5, "batch_size": 128, "seed": 0}
#: A sample counts as recognised when the classifier's top probability reaches this.
CONFIDENCE = 0.8


def build_classifier(n_classes: int, image_size: int, seed: int) -> Any:
    """Conv2D 32 -> max-pool -> Conv2D 64 -> max-pool -> Dropout 0.3 -> Dense 128 -> softmax, seeded."""
    import keras

    from vae_latent_study.models.layers import _derive_seed

    def init(i: int) -> Any:
        return keras.initializers.GlorotUniform(seed=_derive_seed(seed, 3000 + i))

    layers = keras.layers
    inputs = keras.Input(shape=(image_size, image_size, 1), name="image")
    x = layers.Conv2D(32, 3, activation="relu", padding="same", kernel_initializer=init(0))(inputs)
    x = layers.MaxPooling2D(2)(x)
    x = layers.Conv2D(64, 3, activation="relu", padding="same", kernel_initializer=init(1))(x)
    x = layers.MaxPooling2D(2)(x)
    x = layers.Flatten()(x)
    x = layers.Dropout(0.3, seed=_derive_seed(seed, 3100))(x)
    x = layers.Dense(128, activation="relu", kernel_initializer=init(2))(x)
    outputs = layers.Dense(n_classes, activation="softmax", kernel_initializer=init(3))(x)
    return keras.Model(inputs, outputs, name="classifier")


def train_classifier(
    dataset_path: str | Path,
    model_path: str | Path,
    metrics_path: str | Path,
    settings: Mapping[str, Any],
    threads: int | None = None,
) -> dict[str, Any]:
    """Train the classifier on the dataset's training images and labels; write it and its test accuracy."""
    import keras

    from vae_latent_study.datasets import read_dataset
    from vae_latent_study.training.backend import _configure_tensorflow, _tensorflow_backend
    from vae_latent_study.training.inputs import model_inputs

    started = time.perf_counter()
    settings = {**DEFAULTS, **settings}
    threading = _configure_tensorflow(threads) if _tensorflow_backend() else {"requested": threads}
    keras.utils.set_random_seed(int(settings["seed"]))
    dataset = read_dataset(dataset_path)
    labels = dataset.factors[:, dataset.factor_names.index(dataset.label or "class")].astype(np.int64)
    n_classes = len(dataset.manifest.get("class_names") or []) or int(labels.max()) + 1
    x_train, x_test = model_inputs(dataset.x[dataset.train]), model_inputs(dataset.x[dataset.test])
    y_train, y_test = labels[dataset.train], labels[dataset.test]
    model = build_classifier(n_classes, x_train.shape[1], int(settings["seed"]))
    model.compile(
        optimizer=keras.optimizers.Adam(1e-3), loss="sparse_categorical_crossentropy", metrics=["accuracy"]
    )
    rng = np.random.default_rng([int(settings["seed"]), 5_551])
    history = []
    for epoch in range(int(settings["epochs"])):
        order = rng.permutation(len(x_train))
        fit = model.fit(
            x_train[order],
            y_train[order],
            batch_size=int(settings["batch_size"]),
            epochs=1,
            shuffle=False,
            verbose=0,
        )
        history.append({"epoch": epoch + 1, "loss": float(fit.history["loss"][-1])})
        logger.info("classifier epoch %d: loss %.4f", epoch + 1, history[-1]["loss"])
    probabilities = model.predict(x_test, batch_size=512, verbose=0)
    accuracy = float(np.mean(probabilities.argmax(axis=1) == y_test))
    result = {
        "dataset": dataset.manifest.get("dataset"),
        "source": dataset.manifest.get("source"),
        "origin": dataset.manifest.get("origin"),
        "n_train": int(len(x_train)),
        "n_test": int(len(x_test)),
        "test_accuracy": accuracy,
        "confident_share_test": float(np.mean(probabilities.max(axis=1) >= CONFIDENCE)),
        "history": history,
        "settings": settings,
        "threads": threading,
        "seconds": time.perf_counter() - started,
    }
    with atomic_path(metrics_path) as tmp:
        tmp.write_text(json.dumps(result, indent=2) + "\n")
    with atomic_path(model_path, keep_suffix=".keras") as tmp:
        model.save(tmp)
    logger.info("classifier of %s: test accuracy %.4f", result["dataset"], accuracy)
    return result


def confident_share(probabilities: np.ndarray, threshold: float = CONFIDENCE) -> dict[str, Any]:
    """From the classifier's class probabilities (n, classes) of some images: the share it labels with
    confidence >= `threshold`, and the label counts."""
    probabilities = np.asarray(probabilities)
    confident = probabilities.max(axis=1) >= threshold
    labels = probabilities.argmax(axis=1)
    return {
        "n": int(len(probabilities)),
        "confident_share": float(confident.mean()),
        "threshold": float(threshold),
        "label_counts": np.bincount(labels, minlength=probabilities.shape[1]).tolist(),
    }
