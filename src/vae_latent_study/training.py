"""Train one VAE or AE on a heatmap dataset: deterministic, resumable after SIGKILL, atomic outputs.

`train_model` is what the workflow's training rule calls. It writes three files:

- `model_path` (`.keras`): the trained model, with its optimizer state;
- `history_path` (CSV, one row per epoch, 1-based `epoch` = epochs finished): `loss`,
  `reconstruction_loss`, `kl_loss`, their `val_*` counterparts on the test split, the `learning_rate` at the
  end of the epoch and the epoch's wall-clock `seconds` (training + validation). The AE has no KL term: its
  `kl_loss` cells are empty;
- `model_path` with suffix `.json`: the sidecar (seed, hparams, dataset link and checksum, backend, thread
  settings, library versions, resume points, final losses).

Determinism: `keras.utils.set_random_seed(seed)` and TensorFlow's op determinism; the model's initial weights
and its sampler derive from `seed` (`models.build_model`); epoch `e` visits the training rows in the order
`np.random.default_rng([seed, SHUFFLE_STREAM, e]).permutation(n_train)`, so every epoch reshuffles and a
resumed run sees the same orders as an uninterrupted one. Two runs with the same inputs, on the same machine
and with the same thread settings, give bitwise-identical weights (a different thread count may change how
TensorFlow splits its reductions, and so the last bits).

Resume: the state is backed up in `backup_dir` at the end of an epoch when `CHECKPOINT_SECONDS` have passed
since the last backup, and when `fit` returns (Keras's `BackupAndRestore`, with the weights, history and
metadata files replaced atomically); a re-run after a kill continues from the last backed-up epoch, replays
the epochs after it with the same batches and noise, and ends bitwise identical to an uninterrupted run.
Sub-second epochs (seed 002's, seed 004's) no longer pay a weight file each. The backup also keeps the
history rows and a fingerprint of the run (seed, hparams, dataset checksum, backend, thread count, Keras and
TensorFlow versions): a backup left by a different run is discarded, not resumed. A run that diverges removes
it. The directory is removed once all outputs are written.

Restarts (`restarts: N` in the hparams; unset: one run, exactly as before the option): N initialisations,
restart k with `restart_seed(seed, k)` (restart 0 with `seed` itself), each trained as above with its own
epoch backup in `backup_dir/restart{k}/state`; the one with the lowest final training loss is kept, and the
sidecar lists each one's seed and final loss and the choice. A finished restart leaves its model and then,
last, its record in `backup_dir/restart{k}`, so a kill during restart k keeps restarts 0..k-1 and resumes
restart k from its last epoch, and an unfinished restart never has a record.

Input pipeline: on the TensorFlow backend a `tf.data.Dataset` of batches gathered from the resident images,
with autotuning switched off (with NumPy arrays Keras rebuilds an autotuned pipeline at each epoch, whose
teardown has been seen to stall an epoch by seconds up to 35-40 s on this kind of machine); on any other
backend a `keras.utils.PyDataset` with the same batches in the same order.
"""

from __future__ import annotations

import csv
import json
import logging
import math
import os
import shutil
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, TextIO

import keras
import numpy as np

from vae_latent_study import models
from vae_latent_study.datasets import read_dataset
from vae_latent_study.io import atomic_path, reading
from vae_latent_study.provenance import library_versions

logger = logging.getLogger(__name__)

#: Second entry of the shuffle seed, so that shuffle orders never share a stream with the models' seeds,
#: which `models` derives from `[seed, index]`.
SHUFFLE_STREAM = 7_365_421

#: Columns of the history CSV, in order.
HISTORY_COLUMNS = (
    "epoch",
    "loss",
    "reconstruction_loss",
    "kl_loss",
    "val_loss",
    "val_reconstruction_loss",
    "val_kl_loss",
    "learning_rate",
    "seconds",
)

#: A running training backs up its state at an epoch's end at most this often (seconds), and when `fit`
#: returns: a kill loses at most this much training, which the resumed run replays bit for bit. The
#: environment variable CHECKPOINT_ENV overrides it for the workflow's jobs (0: every epoch).
CHECKPOINT_SECONDS = 30.0
CHECKPOINT_ENV = "VAE_STUDY_CHECKPOINT_SECONDS"
#: The console shows a training's first and last epoch and, between them, a line at most this often (seconds);
#: the log keeps every epoch.
CONSOLE_SECONDS = 5.0

#: What the backup's cadence reads `monotonic()` from (a test swaps in a clock of its own).
_backup_clock: Any = time
#: The history column of the option `trace_generated_std` (after `seconds`, only when the option is set).
TRACE_COLUMN = "generated_std"
#: Second entry of the trace's noise seed: numpy.random.default_rng([seed, TRACE_STREAM]).
TRACE_STREAM = 2_002_016

_FINGERPRINT_FILE = "run.json"
_HISTORY_FILE = "history.json"


class TrainingDiverged(RuntimeError):
    """The loss became NaN or infinite; no model is written."""


def model_inputs(data: np.ndarray) -> np.ndarray:
    """What the model is fed: images (n, h, w) get the channel axis; tabular (n, p) and 1-D (n,) data stay
    as they are (the encoder's Input (1,) expands a 1-D batch itself, in Keras 3 as in Keras 2, while the
    faithful seed-002 loss sees the batch as (b,))."""
    data = data[..., None] if data.ndim == 3 else data
    return data.astype("float32", copy=False)


def condition_labels(dataset: Any, condition: Mapping[str, Any], rows: np.ndarray) -> np.ndarray:
    """The one-hot labels (len(rows), K) float32 of a dataset's `rows` under a model's `condition`."""
    values = dataset.factor(condition["factor"])[rows]
    return models.one_hot(models.label_indices(condition, values), len(condition["values"]), len(rows))


def shuffle_order(seed: int, epoch: int, n: int) -> np.ndarray:
    """The order in which epoch `epoch` (0-based) visits `n` training rows."""
    return np.random.default_rng([int(seed), SHUFFLE_STREAM, int(epoch)]).permutation(n)


# ----------------------------------------------------------------------------------------------- backend


def runtime_versions() -> dict[str, str]:
    """`provenance.library_versions` plus Keras and TensorFlow.

    TensorFlow is installed as the `tensorflow-cpu` distribution, which a lookup of `tensorflow` misses;
    on the TensorFlow backend its version is taken from the module itself.
    """
    versions = library_versions(extra=("tensorflow", "tensorflow-cpu", "keras"))
    if _tensorflow_backend():
        import tensorflow as tf

        versions["tensorflow"] = tf.__version__
    return versions


def _tensorflow_backend() -> bool:
    return keras.backend.backend() == "tensorflow"


def _configure_tensorflow(threads: int | None) -> dict[str, Any]:
    """Thread pools (only before TensorFlow initialises) and op determinism; the settings in effect."""
    import tensorflow as tf

    if threads is not None:
        try:
            tf.config.threading.set_intra_op_parallelism_threads(int(threads))
            tf.config.threading.set_inter_op_parallelism_threads(int(threads))
        except RuntimeError:
            # Raised once the runtime exists (after any TF op in this process), unless the value is unchanged.
            logger.warning(
                "TensorFlow was already initialised in this process; threads=%d not applied", threads
            )
    tf.config.experimental.enable_op_determinism()
    return {
        "requested": threads,
        "intra_op": tf.config.threading.get_intra_op_parallelism_threads(),
        "inter_op": tf.config.threading.get_inter_op_parallelism_threads(),
        "op_determinism": True,
    }


# ------------------------------------------------------------------------------------------ input pipeline


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


# ------------------------------------------------------------------------------------- resumable training


class _AtomicBackup(keras.callbacks.BackupAndRestore):
    """`BackupAndRestore` whose files are replaced atomically, so a kill mid-save leaves the last backup,
    on a time cadence: at an epoch's end once `every` seconds have passed since the last backup (every
    epoch for 0), and when `fit` returns. The history rows so far are written first, then the weights,
    then the epoch count, so the backup's epoch never runs ahead of its history.

    Relies on the private attribute names of Keras 3.15's implementation (pinned in pyproject.toml).
    """

    def __init__(self, backup_dir: Path, history: _History, every: float, clock: Any = time) -> None:
        super().__init__(backup_dir, delete_checkpoint=False)
        self.history, self.every, self.clock = history, float(every), clock

    def on_train_begin(self, logs: Mapping[str, Any] | None = None) -> None:
        super().on_train_begin(logs)
        self._saved_epoch = getattr(self.model, "_initial_epoch", None) or 0
        self._saved_at = self.clock.monotonic()

    def on_epoch_end(self, epoch: int, logs: Mapping[str, Any] | None = None) -> None:
        self._current_epoch = epoch + 1
        self._last_batch_seen = 0
        if self.clock.monotonic() - self._saved_at >= self.every:
            self._save_model()

    def on_train_end(self, logs: Mapping[str, Any] | None = None) -> None:
        # Keras's own deletes the backup here; ours stays until train_model has written every output.
        if self._current_epoch > self._saved_epoch:
            self._save_model()

    def _save_model(self) -> None:
        Path(self.backup_dir).mkdir(parents=True, exist_ok=True)
        self.history.save(self._current_epoch)
        with atomic_path(self._weights_path, keep_suffix=".weights.h5") as tmp:
            self.model.save_weights(tmp)
        metadata = {"epoch": self._current_epoch, "batch": self._last_batch_seen}
        with atomic_path(self._training_metadata_path) as tmp:
            tmp.write_text(json.dumps(metadata))
        self._saved_epoch, self._saved_at = self._current_epoch, self.clock.monotonic()


def _scalar(value: Any) -> float:
    """A Python float from a number, tensor or Keras variable."""
    value = getattr(value, "value", value)  # a Keras variable's backend value
    # Eager TensorFlow values have .numpy(); np.asarray on a TF variable warns under NumPy 2.
    return float(value.numpy() if hasattr(value, "numpy") else keras.ops.convert_to_numpy(value))


def _finite(value: Any) -> bool:
    return value is None or math.isfinite(float(value))


class _NaNGuard(keras.callbacks.Callback):
    """Raises `TrainingDiverged` as soon as a logged loss is not finite (before anything is backed up)."""

    def __init__(self) -> None:
        super().__init__()
        self._epoch = 0

    def on_train_batch_end(self, batch: int, logs: Mapping[str, Any] | None = None) -> None:
        loss = (logs or {}).get("loss")
        if not _finite(loss):
            raise TrainingDiverged(
                f"loss became {float(loss)} at epoch {self._epoch + 1}, batch {batch + 1}; "
                "no model written (lower the learning rate or check the data)"
            )

    def on_epoch_begin(self, epoch: int, logs: Mapping[str, Any] | None = None) -> None:
        self._epoch = epoch

    def on_epoch_end(self, epoch: int, logs: Mapping[str, Any] | None = None) -> None:
        bad = {k: v for k, v in (logs or {}).items() if "loss" in k and not _finite(v)}
        if bad:
            raise TrainingDiverged(
                f"{', '.join(f'{k}={float(v)}' for k, v in sorted(bad.items()))} at the end of epoch "
                f"{epoch + 1}; no model written (lower the learning rate or check the data)"
            )


class GeneratedStdTrace:
    """Seed 002's generation protocol, measured cheaply at an epoch's end (the option `trace_generated_std`):
    the training rows' z_mean (the AE's code), encoded in inference mode; N(mean, sd) per dimension fitted
    to it (1/n sd); `n_codes` fixed standard-normal draws (numpy.random.default_rng([seed, TRACE_STREAM]))
    scaled to that fit and decoded in inference mode (the decoder's mean); the sd (1/n) of the decodes.

    It runs the encoder up to z_mean only (the sampler never draws, its noise state does not move) and in
    inference mode (no Dropout mask is drawn, no BatchNorm statistic changes), so a run with the trace
    trains bit for bit as one without it. Conditional models are not supported.
    """

    def __init__(self, model: keras.Model, x_train: np.ndarray, n_codes: int, seed: int) -> None:
        if getattr(model, "condition", None) is not None:
            raise ValueError("trace_generated_std does not support conditional models")
        if int(n_codes) < 2:
            raise ValueError(f"trace_generated_std needs at least 2 codes; got {n_codes!r}")
        outputs = model.encoder.outputs
        inputs = model.encoder.inputs
        # One input, given as a tensor: a list of one would make Keras warn at every call.
        self.code = keras.Model(inputs[0] if len(inputs) == 1 else inputs, outputs[0], name="trace_code")
        self.decoder = model.decoder
        self.x = np.asarray(x_train, dtype="float32")
        latent_dim = int(outputs[0].shape[-1])
        self.noise = np.random.default_rng([int(seed), TRACE_STREAM]).standard_normal(
            (int(n_codes), latent_dim)
        )

    def __call__(self) -> float:
        z = np.asarray(keras.ops.convert_to_numpy(self.code(self.x, training=False)), dtype=np.float64)
        codes = (z.mean(axis=0) + z.std(axis=0) * self.noise).astype("float32")
        decoded = self.decoder(codes, training=False)
        if isinstance(decoded, list | tuple):  # [mean, log_var] of a Gaussian decoder: the mean
            decoded = decoded[0]
        return float(np.std(np.asarray(keras.ops.convert_to_numpy(decoded), dtype=np.float64)))


class _History(keras.callbacks.Callback):
    """Collects one row per epoch and logs it; the backup keeps the rows (`save`) for a resume. With a
    `trace` (`GeneratedStdTrace`), each row also gets its value as TRACE_COLUMN."""

    def __init__(
        self, backup_dir: Path, epochs: int, steps_per_epoch: int, trace: GeneratedStdTrace | None = None
    ) -> None:
        super().__init__()
        self.trace = trace
        self.path = backup_dir / _HISTORY_FILE
        self.epochs = epochs
        self.steps_per_epoch = steps_per_epoch
        self.rows: list[dict[str, Any]] = []
        if self.path.exists():
            self.rows = json.loads(self.path.read_text())
        self.first_epoch: int | None = None

    def on_epoch_begin(self, epoch: int, logs: Mapping[str, Any] | None = None) -> None:
        if self.first_epoch is None:
            self.first_epoch = epoch
            iterations = int(_scalar(self.model.optimizer.iterations))
            if iterations != epoch * self.steps_per_epoch or len(self.rows) < epoch:
                raise RuntimeError(
                    f"the backup in {self.path.parent} is inconsistent (epoch {epoch}, {iterations} steps, "
                    f"{len(self.rows)} history rows); delete it and run again"
                )
            self.rows = self.rows[:epoch]
            if epoch:
                logger.info("resuming from the backup after epoch %d/%d", epoch, self.epochs)
        self._start = time.perf_counter()

    def on_epoch_end(self, epoch: int, logs: Mapping[str, Any] | None = None) -> None:
        logs = dict(logs or {})
        row: dict[str, Any] = {"epoch": epoch + 1}
        for column in HISTORY_COLUMNS[1:-2]:
            row[column] = float(logs[column]) if column in logs else None
        row["learning_rate"] = _scalar(self.model.optimizer.learning_rate)
        row["seconds"] = time.perf_counter() - self._start
        if self.trace is not None:
            row[TRACE_COLUMN] = self.trace()
        self.rows.append(row)
        kl = "-" if row["kl_loss"] is None else f"{row['kl_loss']:.4f}"
        logger.info(
            "epoch %d/%d: loss %.4f (reconstruction %.4f, kl %s), val_loss %.4f, lr %.3g, %.1f s",
            epoch + 1,
            self.epochs,
            row["loss"],
            row["reconstruction_loss"],
            kl,
            row["val_loss"],
            row["learning_rate"],
            row["seconds"],
        )

    def save(self, epochs: int) -> None:
        """Write the rows of the first `epochs` epochs to the backup (before its weights)."""
        with atomic_path(self.path) as tmp:
            tmp.write_text(json.dumps(self.rows[:epochs]))


def early_stopping_epoch(values: Sequence[float], patience: int) -> int | None:
    """The epoch (1-based) after which Keras's `EarlyStopping(monitor, patience)` (mode min, min_delta 0,
    no baseline) stops, given the monitored value of each finished epoch; None if it does not stop."""
    best, wait = math.inf, 0
    for epoch, value in enumerate(values):
        wait += 1
        if value < best:
            best, wait = value, 0
        if wait >= patience and epoch > 0:  # Keras checks only after the first epoch
            return epoch + 1
    return None


class _EarlyStopping(keras.callbacks.Callback):
    """Keras's EarlyStopping, decided from the history rows (which the backup keeps), so that a resumed
    run stops where an uninterrupted one does."""

    def __init__(self, history: _History, monitor: str, patience: int) -> None:
        super().__init__()
        self.history, self.monitor, self.patience = history, monitor, patience

    def on_epoch_end(self, epoch: int, logs: Mapping[str, Any] | None = None) -> None:
        if _stopped_epoch(self.history.rows, self.monitor, self.patience) is not None:
            self.model.stop_training = True


def _stopped_epoch(rows: Sequence[Mapping[str, Any]], monitor: str, patience: int) -> int | None:
    return early_stopping_epoch([row[monitor] for row in rows], patience)


def _backed_up_epoch(backup_dir: Path) -> int:
    """Epochs finished in the backup (0 if none)."""
    try:
        return int(json.loads((backup_dir / "training_metadata.json").read_text())["epoch"])
    except (OSError, ValueError, KeyError):
        return 0


def _duration(seconds: float) -> str:
    """`7m50s`, `1h02m`, `12s`: a remaining time, as short as a console line wants it."""
    seconds = round(seconds)
    if seconds >= 3600:
        return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"
    if seconds >= 60:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds}s"


class ConsoleProgress(keras.callbacks.Callback):
    """Short lines on `stream` (the console, where the user watches a long training): epoch, loss,
    validation loss, the epoch's time and when the run should end, from this process's mean epoch. The first
    and the last epoch always, between them at most one line every `every` seconds (a sub-second epoch
    would otherwise print thousands); the log keeps every epoch."""

    def __init__(
        self, stream: TextIO, label: str, epochs: int, clock: Any = time, every: float = CONSOLE_SECONDS
    ) -> None:
        super().__init__()
        self.stream, self.label, self.epochs, self.clock, self.every = stream, label, epochs, clock, every
        self._seconds: list[float] = []
        self._shown_at: float | None = None
        self._unshown: str | None = None

    def on_epoch_begin(self, epoch: int, logs: Mapping[str, Any] | None = None) -> None:
        self._start = self.clock.perf_counter()

    def on_epoch_end(self, epoch: int, logs: Mapping[str, Any] | None = None) -> None:
        logs = logs or {}
        now = self.clock.perf_counter()
        seconds = now - self._start
        self._seconds.append(seconds)
        left = (self.epochs - epoch - 1) * sum(self._seconds) / len(self._seconds)
        if left > 0:
            finish = time.strftime("%H:%M", time.localtime(self.clock.time() + left))
            when = f"done ~{finish} ({_duration(left)} left)"
        else:
            when = "done"
        line = (
            f"{self.label}: epoch {epoch + 1}/{self.epochs} loss {float(logs['loss']):.4g} "
            f"val {float(logs['val_loss']):.4g}, {seconds:.1f} s, {when}\n"
        )
        if self._shown_at is None or left <= 0 or now - self._shown_at >= self.every:
            self._show(line, now)
        else:
            self._unshown = line

    def on_train_end(self, logs: Mapping[str, Any] | None = None) -> None:
        # A run that early stopping ended: its last epoch, whenever the line before it was shown.
        if self._unshown is not None:
            self._show(self._unshown, self.clock.perf_counter())

    def _show(self, line: str, now: float) -> None:
        self.stream.write(line)
        self.stream.flush()
        self._shown_at, self._unshown = now, None


def _prepare_backup(backup_dir: Path, fingerprint: Mapping[str, Any]) -> None:
    """Keep a backup only if it was left by this very run; record the run's fingerprint."""
    marker = backup_dir / _FINGERPRINT_FILE
    if backup_dir.exists():
        try:
            previous = json.loads(marker.read_text())
        except (OSError, ValueError):
            previous = None
        if previous != json.loads(json.dumps(fingerprint)):
            logger.warning("discarding %s: it was left by a different run", backup_dir)
            shutil.rmtree(backup_dir)
    if not marker.exists():
        with atomic_path(marker) as tmp:
            tmp.write_text(json.dumps(fingerprint, sort_keys=True))


def _write_history(
    rows: Sequence[Mapping[str, Any]], path: Path, columns: Sequence[str] = HISTORY_COLUMNS
) -> None:
    with atomic_path(path) as tmp, open(tmp, "w", newline="") as f:
        writer = csv.writer(f, lineterminator="\n")
        writer.writerow(columns)
        for row in rows:
            # repr keeps every bit of a float; None (no KL term in the AE) becomes an empty cell.
            writer.writerow(["" if row[c] is None else repr(row[c]) for c in columns])


def read_history(path: str | Path) -> list[dict[str, float | None]]:
    """The rows of a history CSV written by `train_model` (empty cells as None)."""
    with reading(path), open(path, newline="") as f:
        return [
            {k: (int(v) if k == "epoch" else float(v)) if v != "" else None for k, v in row.items()}
            for row in csv.DictReader(f)
        ]


def checkpoint_interval() -> float:
    """Seconds between two backups of a running training: CHECKPOINT_ENV if set, else CHECKPOINT_SECONDS.
    The cadence never changes a result, only how much a kill loses."""
    value = os.environ.get(CHECKPOINT_ENV)
    if value is None or value == "":
        return CHECKPOINT_SECONDS
    try:
        seconds = float(value)
    except ValueError:
        seconds = math.nan
    if not (math.isfinite(seconds) and seconds >= 0):
        raise ValueError(f"{CHECKPOINT_ENV} must be a number of seconds >= 0; got {value!r}")
    return seconds


def sidecar_path(model_path: str | Path) -> Path:
    """Where `train_model` writes the JSON sidecar of `model_path`."""
    return Path(model_path).with_suffix(".json")


#: Second entry of the seed of restart k >= 1 (`restart_seed`), a stream apart from the shuffle's.
RESTART_STREAM = 5_101_003
_RESTART_DONE = "finished.json"
_RESTART_MODEL = "model.keras"
#: What the sidecar lists of every restart.
_RESTART_SUMMARY = ("restart", "seed", "final_loss", "epochs_trained", "resumed_after_epoch")


def restart_seed(seed: int, k: int) -> int:
    """The training seed of restart k: the run's own seed for k = 0 (so `restarts: 1` trains exactly the
    model that no restarts does), else a seed drawn from `[seed, RESTART_STREAM, k]`."""
    if k == 0:
        return int(seed)
    return int(np.random.SeedSequence([int(seed), RESTART_STREAM, int(k)]).generate_state(1)[0] % 2**31)


def _restart_dir(backup_dir: Path, k: int) -> Path:
    return backup_dir / f"restart{k}"


def _run_record(model: keras.Model, history: _History) -> dict[str, Any]:
    """What the sidecar says of one trained initialisation (and its history rows)."""
    rows = history.rows
    return {
        "parameters": int(model.count_params()),
        "steps": int(_scalar(model.optimizer.iterations)),
        "resumed_after_epoch": len(rows) if history.first_epoch is None else history.first_epoch,
        "epochs_trained": len(rows),
        "final_loss": float(rows[-1]["loss"]) if rows else math.inf,
        "rows": rows,
    }


def _restart(k: int, seed: int, backup_dir: Path, fit: Any) -> dict[str, Any]:
    """Restart k: its record from the backup when a previous process finished it, else trained now.

    A finished restart leaves its model file and then, last and atomically, its record (`finished.json`):
    a kill at any point leaves either no record (the restart resumes from its own epoch backup in
    `state/`) or a record whose model file is complete. Its weights are the in-process state after
    `keras.backend.clear_session` and `keras.utils.set_random_seed` with its seed, as in a fresh process.
    """
    root = _restart_dir(backup_dir, k)
    done = root / _RESTART_DONE
    if done.exists():
        record = json.loads(done.read_text())
        logger.info(
            "restart %d (seed %d) was finished by an earlier run: final loss %.4f",
            k,
            record["seed"],
            record["final_loss"],
        )
        return record
    run_seed = restart_seed(seed, k)
    keras.backend.clear_session()
    keras.utils.set_random_seed(run_seed)
    state = root / "state"
    _prepare_backup(state, {"restart": k, "seed": run_seed})
    model, history = fit(run_seed, state)
    record = {"restart": k, "seed": run_seed, **_run_record(model, history)}
    with atomic_path(root / _RESTART_MODEL, keep_suffix=".keras") as tmp:
        model.save(tmp)
    with atomic_path(done) as tmp:
        tmp.write_text(json.dumps(record))
    shutil.rmtree(state, ignore_errors=True)
    logger.info("restart %d (seed %d): final loss %.4f", k, run_seed, record["final_loss"])
    return record


def train_model(
    dataset_path: str | Path,
    hparams: Mapping[str, Any],
    seed: int,
    model_path: str | Path,
    history_path: str | Path,
    backup_dir: str | Path,
    threads: int | None = None,
    callbacks: Sequence[keras.callbacks.Callback] = (),
    console: TextIO | None = None,
    label: str | None = None,
    checkpoint_seconds: float | None = None,
) -> None:
    """Train the model that `hparams` describe on the dataset's training split and write its outputs.

    `hparams` (a validated `models` entry of the study config): `kind`, `latent_dim`, `epochs`,
    `batch_size`, `schedule` and `optimizer` (for `models.make_optimizer`), the model options of
    `models.build_model_from_options` and, optionally, `early_stopping: {monitor, patience}` (Keras's
    EarlyStopping with mode min and restore_best_weights=False; `monitor` is a history column) and
    `restarts` (see the module's docstring).
    Validation runs on the test split after every epoch, as in the source notebook. A model with
    `conditional` is fed each row's one-hot label beside its data, in the same order (the factor's values,
    `datasets.Dataset.condition`, go into the model and its sidecar).

    `threads` sets TensorFlow's intra- and inter-op thread pools. TensorFlow accepts that only before its
    runtime starts, so it takes effect when `train_model` is the first thing in the process to run a
    TensorFlow op (as in the workflow's job); otherwise it is logged and ignored. Results are bitwise
    reproducible for a given thread count; another count may change the last bits.

    Each epoch writes a full line to the log (the module's logger); `console` (by default `sys.stderr`; the
    workflow's job gives its console, `jobs.job`) gets a short line (`ConsoleProgress`, named `label`) for
    the first and last epoch and at most every `CONSOLE_SECONDS` between. The state is backed up for a
    resume when `checkpoint_seconds` have passed since the last backup (0: every epoch; by default
    `checkpoint_interval()`) and when `fit` returns. `callbacks` run after the project's own (for
    diagnostics and tests). Raises `TrainingDiverged` on a non-finite loss, leaving no output and no backup.
    """
    started = time.perf_counter()
    if checkpoint_seconds is None:
        checkpoint_seconds = checkpoint_interval()
    model_path, history_path, backup_dir = Path(model_path), Path(history_path), Path(backup_dir)
    backend = keras.backend.backend()
    settings = _configure_tensorflow(threads) if _tensorflow_backend() else {"requested": threads}
    keras.utils.set_random_seed(int(seed))

    dataset = read_dataset(dataset_path)
    x_train = model_inputs(dataset.x[dataset.train])
    x_test = model_inputs(dataset.x[dataset.test])
    if not (np.isfinite(x_train).all() and np.isfinite(x_test).all()):
        raise ValueError(f"{dataset_path}: the images contain NaN or infinite pixels")
    condition = dataset.condition(hparams["conditional"]) if hparams.get("conditional") else None
    checksum = dataset.manifest["checksum"]["sha256"]
    epochs, batch_size = int(hparams["epochs"]), int(hparams["batch_size"])
    steps_per_epoch = math.ceil(len(x_train) / batch_size)

    hparams = json.loads(json.dumps(dict(hparams)))  # plain JSON types, for the fingerprint and sidecar
    versions = runtime_versions()
    # What the numbers depend on: a backup written under anything else is not resumed (see _prepare_backup).
    fingerprint = {
        "seed": int(seed),
        "hparams": hparams,
        "dataset_checksum": checksum,
        "backend": backend,
        "intra_op_threads": settings.get("intra_op"),
        "versions": {k: versions[k] for k in ("keras", "tensorflow")},
    }
    _prepare_backup(backup_dir, fingerprint)

    label = label or f"{hparams['kind']} on {dataset.manifest.get('dataset')}, seed {seed}"

    extra: dict[str, Any] = {}
    trace_codes = int(hparams.get("trace_generated_std") or 0)

    def fit(run_seed: int, run_backup: Path, run_label: str) -> tuple[keras.Model, _History]:
        """Build, train and check one initialisation, backed up in `run_backup`; (model, its history)."""
        model = models.build_model_from_options(
            hparams, x_train.shape[1:], seed=int(run_seed), condition=condition
        )
        if hparams.get("standardise"):
            # The training rows' mean and sd (also saved in the model's weights), for the sidecar.
            extra["standardisation"] = models.set_standardisation(model, x_train)
        trace = None
        if trace_codes:
            trace = GeneratedStdTrace(model, x_train, trace_codes, int(run_seed))
        optimizer = models.make_optimizer(hparams["schedule"], hparams.get("optimizer", "adam"))
        model.compile(optimizer=optimizer, jit_compile=False)

        orders = np.array([shuffle_order(run_seed, e, len(x_train)) for e in range(epochs)], dtype=np.int64)
        orders = orders.reshape(epochs, len(x_train))
        make_inputs = _tf_inputs if _tensorflow_backend() else _pydataset_inputs
        inputs_train, inputs_test = x_train, x_test
        if condition is not None:
            inputs_train, inputs_test = (
                (x, condition_labels(dataset, condition, rows))
                for x, rows in ((x_train, dataset.train), (x_test, dataset.test))
            )
        train, validation, epoch_counter = make_inputs(inputs_train, inputs_test, batch_size, orders)
        history = _History(run_backup, epochs, steps_per_epoch, trace)
        stopping = hparams.get("early_stopping")
        stop_callbacks: list[keras.callbacks.Callback] = []
        fit_epochs = epochs
        if stopping:
            monitor, patience = stopping.get("monitor", "loss"), int(stopping.get("patience", 10))
            if monitor not in HISTORY_COLUMNS[1:-1]:
                raise ValueError(f"early_stopping monitor must be a history column; got {monitor!r}")
            stop_callbacks = [_EarlyStopping(history, monitor, patience)]
            # A backup of a run that already stopped: fit up to there, i.e. restore it and train no further.
            fit_epochs = (
                _stopped_epoch(history.rows[: _backed_up_epoch(run_backup)], monitor, patience) or epochs
            )
        progress = ConsoleProgress(sys.stderr if console is None else console, run_label, epochs)
        logger.info(
            "training a %s (latent_dim %d, %s) on %s: %d train / %d test images, %d epochs of %d steps, "
            "seed %d, backend %s, threads %s",
            hparams["kind"],
            hparams["latent_dim"],
            hparams.get("precision", "float32"),
            dataset_path,
            len(x_train),
            len(x_test),
            epochs,
            steps_per_epoch,
            run_seed,
            backend,
            settings,
        )
        try:
            model.fit(
                train,
                epochs=fit_epochs,
                validation_data=validation,
                shuffle=False,  # the pipeline shuffles, per epoch
                verbose=0,
                callbacks=[
                    epoch_counter,
                    _NaNGuard(),
                    history,
                    *stop_callbacks,
                    progress,
                    _AtomicBackup(run_backup, history, checkpoint_seconds, clock=_backup_clock),
                    *callbacks,
                ],
            )
            if not all(np.isfinite(w).all() for w in model.get_weights()):
                raise TrainingDiverged("the weights contain NaN or infinite values; no model written")
        except TrainingDiverged:
            # The run is deterministic: resuming from the backup would only diverge again.
            shutil.rmtree(backup_dir, ignore_errors=True)
            raise
        rows = history.rows
        expected = epochs
        if stopping:
            expected = _stopped_epoch(rows, monitor, patience) or epochs
        if len(rows) != expected:
            raise RuntimeError(f"expected {expected} history rows, got {len(rows)}; delete {backup_dir}")
        return model, history

    restarts = hparams.get("restarts")
    if restarts is None:
        model, history = fit(int(seed), backup_dir, label)
        run = _run_record(model, history)
        chosen_model: keras.Model | Path = model
        restart_record = {}
    else:
        runs = []
        for k in range(int(restarts)):
            runs.append(
                _restart(k, int(seed), backup_dir, lambda s, d, k=k: fit(s, d, f"{label}, restart {k}"))
            )
        best = min(range(len(runs)), key=lambda k: (runs[k]["final_loss"], k))
        run = runs[best]
        chosen_model = _restart_dir(backup_dir, best) / _RESTART_MODEL
        restart_record = {
            "restarts": {
                "n": int(restarts),
                "criterion": "the lowest final training loss (the history's `loss` in the last epoch), "
                "ties to the first",
                "chosen": best,
                "chosen_seed": run["seed"],
                "runs": [{k: r[k] for k in _RESTART_SUMMARY} for r in runs],
            }
        }
    rows = run["rows"]
    _write_history(rows, history_path, HISTORY_COLUMNS + ((TRACE_COLUMN,) if trace_codes else ()))
    sidecar = {
        "kind": hparams["kind"],
        "seed": int(seed),
        "hparams": hparams,
        "dataset": {
            "path": str(dataset_path),
            "name": dataset.manifest.get("dataset"),
            "checksum": checksum,
            "n_train": len(x_train),
            "n_test": len(x_test),
        },
        "shuffle": f"epoch e visits the training rows in np.random.default_rng([seed, {SHUFFLE_STREAM}, e])"
        ".permutation(n_train) order",
        "backend": backend,
        "threads": settings,
        "parameters": run["parameters"],
        # The dtype policy of the bulk of the network (`models.precision_scope`); float32 when unset.
        "precision": hparams.get("precision", "float32"),
        **({"condition": condition} if condition is not None else {}),
        # The training rows' mean and sd the model standardises with (also saved in the model's weights).
        **({"standardisation": extra["standardisation"]} if "standardisation" in extra else {}),
        "epochs": epochs,
        "steps": run["steps"],
        # 0 for a fresh run; the epochs already done when this process started otherwise.
        "resumed_after_epoch": run["resumed_after_epoch"],
        "epochs_trained": len(rows),  # fewer than `epochs` when early stopping stopped the run
        "final": dict(rows[-1]) if rows else None,
        "history": history_path.name,
        "seconds_this_run": time.perf_counter() - started,
        "versions": versions,
        **restart_record,
    }
    with atomic_path(sidecar_path(model_path)) as tmp:
        tmp.write_text(json.dumps(sidecar, indent=2, sort_keys=True) + "\n")
    # Last, so that an existing model file always comes with its history and sidecar.
    with atomic_path(model_path, keep_suffix=".keras") as tmp:
        if isinstance(chosen_model, Path):
            shutil.copyfile(chosen_model, tmp)  # the chosen restart's own file, bit for bit
        else:
            chosen_model.save(tmp)
    shutil.rmtree(backup_dir, ignore_errors=True)
    logger.info("wrote %s, %s and %s", model_path, history_path, sidecar_path(model_path))
