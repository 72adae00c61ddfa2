"""What a model trains on: its inputs, each epoch's shuffle order and the batch pipelines (`tf.data` on the
TensorFlow backend, a `keras.utils.PyDataset` on any other)."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import keras
import numpy as np

from vae_latent_study.models.autoencoders import label_indices, one_hot

#: Second entry of the shuffle seed, so that shuffle orders never share a stream with the models' seeds,
#: which `models` derives from `[seed, index]`.
SHUFFLE_STREAM = 7_365_421


def model_inputs(data: np.ndarray) -> np.ndarray:
    """What the model is fed: images (n, h, w) get the channel axis; tabular (n, p) and 1-D (n,) data stay
    as they are (the encoder's Input (1,) expands a 1-D batch itself, in Keras 3 as in Keras 2, while the
    faithful seed-002 loss sees the batch as (b,))."""
    data = data[..., None] if data.ndim == 3 else data
    return data.astype("float32", copy=False)


def condition_labels(dataset: Any, condition: Mapping[str, Any], rows: np.ndarray) -> np.ndarray:
    """The one-hot labels (len(rows), K) float32 of a dataset's `rows` under a model's `condition`."""
    values = dataset.factor(condition["factor"])[rows]
    return one_hot(label_indices(condition, values), len(condition["values"]), len(rows))


def shuffle_order(seed: int, epoch: int, n: int) -> np.ndarray:
    """The order in which epoch `epoch` (0-based) visits `n` training rows."""
    return np.random.default_rng([int(seed), SHUFFLE_STREAM, int(epoch)]).permutation(n)


class _EpochCounter(keras.callbacks.Callback):
    """Tells the input pipeline which epoch is starting, so that it can draw that epoch's order."""

    def __init__(self, set_epoch: Any) -> None:
        super().__init__()
        self._set_epoch = set_epoch

    def on_epoch_begin(self, epoch: int, logs: Mapping[str, Any] | None = None) -> None:
        self._set_epoch(epoch)


#: What a model trains on: the data (n, ...), or for a conditional model (data, one-hot labels (n, K)).
Inputs = np.ndarray | tuple[np.ndarray, np.ndarray]


def _rows(inputs: Inputs) -> int:
    return len(inputs[0] if isinstance(inputs, tuple) else inputs)


def _tf_inputs(
    x_train: Inputs, x_test: Inputs, batch_size: int, orders: np.ndarray
) -> tuple[Any, Any, keras.callbacks.Callback]:
    """(train, validation) `tf.data` pipelines and the callback that selects each epoch's order. A batch of
    a conditional model's inputs is ((x, label),): one element, so that Keras takes the pair as its x."""
    import tensorflow as tf

    options = tf.data.Options()
    options.autotune.enabled = False
    options.deterministic = True

    def batches(images: Inputs, order: Any) -> Any:
        n = _rows(images)
        if isinstance(images, tuple):
            data, labels = tf.constant(images[0]), tf.constant(images[1])
        else:
            data, labels = tf.constant(images), None

        def batch(i: Any) -> Any:
            start = i * batch_size
            rows = order()[start : tf.minimum(start + batch_size, n)]
            if labels is None:
                return tf.gather(data, rows)
            return ((tf.gather(data, rows), tf.gather(labels, rows)),)

        count = math.ceil(n / batch_size)
        return tf.data.Dataset.range(count).map(batch).prefetch(1).with_options(options)

    # The map function reads the variable when the epoch's iterator runs, i.e. after `on_epoch_begin`.
    epoch = tf.Variable(0, dtype=tf.int64, trainable=False, name="shuffle_epoch")
    table = tf.constant(orders.astype(np.int32))
    train = batches(x_train, lambda: table[epoch])
    validation = batches(x_test, lambda: tf.range(_rows(x_test)))
    return train, validation, _EpochCounter(lambda e: epoch.assign(e))


class _Batches(keras.utils.PyDataset):
    """Backend-agnostic batches of `images`, in `orders[epoch]` (all rows in order when `orders` is None);
    of a conditional model's (x, label) pairs, as ((x, label),)."""

    def __init__(self, images: Inputs, batch_size: int, orders: np.ndarray | None = None) -> None:
        super().__init__()
        self.images = images
        self.batch_size = batch_size
        self.orders = orders
        self.epoch = 0

    def __len__(self) -> int:
        return math.ceil(_rows(self.images) / self.batch_size)

    def __getitem__(self, index: int) -> tuple[Any]:
        rows = slice(index * self.batch_size, (index + 1) * self.batch_size)
        if self.orders is not None:
            rows = self.orders[self.epoch][rows]
        if isinstance(self.images, tuple):
            return (tuple(part[rows] for part in self.images),)
        return (self.images[rows],)


def _pydataset_inputs(
    x_train: Inputs, x_test: Inputs, batch_size: int, orders: np.ndarray
) -> tuple[Any, Any, keras.callbacks.Callback]:
    train = _Batches(x_train, batch_size, orders)
    validation = _Batches(x_test, batch_size)

    def set_epoch(epoch: int) -> None:
        train.epoch = epoch

    return train, validation, _EpochCounter(set_epoch)
