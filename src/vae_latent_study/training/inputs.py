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


class _EpochCheck(keras.callbacks.Callback):
    """Fails the run if `fit` starts at another epoch than the one the pipeline's batches begin with (the
    backup's, `first_epoch`): its batches would then follow the wrong epochs' orders."""

    def __init__(self, first_epoch: int) -> None:
        super().__init__()
        self._first_epoch: int | None = int(first_epoch)

    def on_epoch_begin(self, epoch: int, logs: Mapping[str, Any] | None = None) -> None:
        if self._first_epoch is not None and epoch != self._first_epoch:
            raise RuntimeError(
                f"the training resumed at epoch {epoch + 1}, "
                f"but its batches begin at epoch {self._first_epoch + 1}"
            )
        self._first_epoch = None


class _KeptValidation(keras.callbacks.Callback):
    """Gives `fit` a validation iterator that it keeps from epoch to epoch: Keras makes a new iterator of the
    validation pipeline at every epoch's validation (its `evaluate` resets the cached one), about 8 ms each.
    The pipeline repeats its `steps` batches in the same order, so each validation reads the same batches
    through the one iterator, and the numbers are those of a new iterator per epoch.

    Relies on Keras 3.15's private `_eval_epoch_iterator`, which `fit` sets to None before `on_train_begin`
    and fills only where it is still None (pinned in pyproject.toml; checked against a new iterator per
    epoch: the same weights and every epoch's losses, docs/measurements/i23-bits-amd). It assumes one step
    per execution (the models compile with Keras's default): a larger `steps_per_execution` would read past
    the end of a validation into the next repeat."""

    def __init__(self, validation: Any, steps: int) -> None:
        super().__init__()
        self.validation, self.steps = validation, int(steps)

    def on_train_begin(self, logs: Mapping[str, Any] | None = None) -> None:
        from keras.src.backend.tensorflow.trainer import TFEpochIterator

        class Kept(TFEpochIterator):
            def reset(self) -> None:
                self._epoch_iterator = None  # the iterator itself stays, at the first batch of a repeat

        self.model._eval_epoch_iterator = Kept(
            x=self.validation,
            steps_per_epoch=self.steps,
            shuffle=False,
            distribute_strategy=self.model.distribute_strategy,
            steps_per_execution=self.model.steps_per_execution,
        )


def _tf_inputs(
    x_train: Inputs, x_test: Inputs, batch_size: int, orders: np.ndarray, first_epoch: int = 0
) -> tuple[Any, Any, list[keras.callbacks.Callback]]:
    """(train, validation) `tf.data` pipelines and their callbacks (`_EpochCheck`, `_KeptValidation`). A
    batch of a conditional model's inputs is ((x, label),): one element, so that Keras takes the pair as x.

    The training pipeline holds every batch from epoch `first_epoch` (0, or the backup's epoch on a resume)
    to the last, in each epoch's order (`orders[epoch]`): batch i is a function of i alone, so `fit` (given
    `steps_per_epoch`) reads it through one iterator instead of making one per epoch (about 8 ms each), and
    no prefetch can run ahead into the wrong epoch's order. The batches, and so the bits, are those of one
    pipeline per epoch."""
    import tensorflow as tf

    options = tf.data.Options()
    options.autotune.enabled = False
    options.deterministic = True
    steps = math.ceil(_rows(x_train) / batch_size)

    def batches(images: Inputs, count: int, rows_of: Any) -> Any:
        if isinstance(images, tuple):
            data, labels = tf.constant(images[0]), tf.constant(images[1])
        else:
            data, labels = tf.constant(images), None

        def batch(i: Any) -> Any:
            rows = rows_of(i)
            if labels is None:
                return tf.gather(data, rows)
            return ((tf.gather(data, rows), tf.gather(labels, rows)),)

        return tf.data.Dataset.range(count).map(batch).prefetch(1).with_options(options)

    def rows_in(order: Any, step: Any, n: int) -> Any:
        start = step * batch_size
        return order[start : tf.minimum(start + batch_size, n)]

    n_train, n_test = _rows(x_train), _rows(x_test)
    table = tf.constant(orders[int(first_epoch) :].astype(np.int32))
    train = batches(
        x_train, len(table) * steps, lambda i: rows_in(tf.gather(table, i // steps), i % steps, n_train)
    )
    test_order = tf.range(n_test, dtype=tf.int64)
    test_steps = math.ceil(n_test / batch_size)
    validation = batches(x_test, test_steps, lambda i: rows_in(test_order, i, n_test)).repeat()
    return train, validation, [_EpochCheck(first_epoch), _KeptValidation(validation, test_steps)]


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
    x_train: Inputs, x_test: Inputs, batch_size: int, orders: np.ndarray, first_epoch: int = 0
) -> tuple[Any, Any, list[keras.callbacks.Callback]]:
    """(train, validation) `PyDataset`s and the callback that selects each epoch's order as it begins
    (`first_epoch` needs no use here)."""
    train = _Batches(x_train, batch_size, orders)
    validation = _Batches(x_test, batch_size)

    def set_epoch(epoch: int) -> None:
        train.epoch = epoch

    return train, validation, [_EpochCounter(set_epoch)]
