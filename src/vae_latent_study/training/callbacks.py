"""The callbacks of a training: the epoch backup, the divergence guard, the history rows, early stopping,
the console's progress lines and seed 002's generated-sd trace."""

from __future__ import annotations

import json
import logging
import math
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, TextIO

import keras
import numpy as np

from vae_latent_study.io import atomic_path
from vae_latent_study.training.history import HISTORY_COLUMNS, TRACE_COLUMN

logger = logging.getLogger(__name__)

#: The console shows a training's first and last epoch and, between them, a line at most this often (seconds);
#: the log keeps every epoch.
CONSOLE_SECONDS = 5.0

#: Second entry of the trace's noise seed: numpy.random.default_rng([seed, TRACE_STREAM]).
TRACE_STREAM = 2_002_016

_HISTORY_FILE = "history.json"


class TrainingDiverged(RuntimeError):
    """The loss became NaN or infinite; no model is written."""


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

        # Traced once each on TensorFlow (an eager call of the two networks cost more than the epoch's steps).
        self._encode = _compiled(lambda x: self.code(x, training=False))
        self._decode = _compiled(lambda z: self.decoder(z, training=False))

    def __call__(self) -> float:
        z = np.asarray(keras.ops.convert_to_numpy(self._encode(self.x)), dtype=np.float64)
        codes = (z.mean(axis=0) + z.std(axis=0) * self.noise).astype("float32")
        decoded = self._decode(codes)
        if isinstance(decoded, list | tuple):  # [mean, log_var] of a Gaussian decoder: the mean
            decoded = decoded[0]
        return float(np.std(np.asarray(keras.ops.convert_to_numpy(decoded), dtype=np.float64)))


def _compiled(function: Any) -> Any:
    """`function` as a TensorFlow graph function (no XLA) on the TensorFlow backend; as it is on others."""
    if keras.backend.backend() != "tensorflow":
        return function
    import tensorflow as tf

    return tf.function(function, jit_compile=False)


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
