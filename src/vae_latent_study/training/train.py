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
and its sampler derive from `seed` (`models.build`); epoch `e` visits the training rows in the order
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

from vae_latent_study.datasets import read_dataset
from vae_latent_study.io import atomic_path
from vae_latent_study.models.autoencoders import set_standardisation
from vae_latent_study.models.build import build_model_from_options, make_optimizer
from vae_latent_study.training.backend import _configure_tensorflow, _tensorflow_backend, runtime_versions
from vae_latent_study.training.callbacks import (
    ConsoleProgress,
    GeneratedStdTrace,
    TrainingDiverged,
    _AtomicBackup,
    _EarlyStopping,
    _History,
    _NaNGuard,
    _scalar,
    _stopped_epoch,
)
from vae_latent_study.training.history import HISTORY_COLUMNS, TRACE_COLUMN, _write_history
from vae_latent_study.training.inputs import (
    SHUFFLE_STREAM,
    _pydataset_inputs,
    _tf_inputs,
    condition_labels,
    model_inputs,
    shuffle_order,
)

logger = logging.getLogger(__name__)

#: A running training backs up its state at an epoch's end at most this often (seconds), and when `fit`
#: returns: a kill loses at most this much training, which the resumed run replays bit for bit. The
#: environment variable CHECKPOINT_ENV overrides it for the workflow's jobs (0: every epoch).
CHECKPOINT_SECONDS = 30.0
CHECKPOINT_ENV = "VAE_STUDY_CHECKPOINT_SECONDS"

#: What the backup's cadence reads `monotonic()` from (a test swaps in a clock of its own).
_backup_clock: Any = time

_FINGERPRINT_FILE = "run.json"


def _backed_up_epoch(backup_dir: Path) -> int:
    """Epochs finished in the backup (0 if none)."""
    try:
        return int(json.loads((backup_dir / "training_metadata.json").read_text())["epoch"])
    except (OSError, ValueError, KeyError):
        return 0


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
    `batch_size`, `schedule` and `optimizer` (for `models.build.make_optimizer`), the model options of
    `models.build.build_model_from_options` and, optionally, `early_stopping: {monitor, patience}` (Keras's
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
        model = build_model_from_options(hparams, x_train.shape[1:], seed=int(run_seed), condition=condition)
        if hparams.get("standardise"):
            # The training rows' mean and sd (also saved in the model's weights), for the sidecar.
            extra["standardisation"] = set_standardisation(model, x_train)
        trace = None
        if trace_codes:
            trace = GeneratedStdTrace(model, x_train, trace_codes, int(run_seed))
        optimizer = make_optimizer(hparams["schedule"], hparams.get("optimizer", "adam"))
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
        # The epoch fit starts from: the backup's (BackupAndRestore restores it), else 0.
        first_epoch = _backed_up_epoch(run_backup)
        train, validation, input_callbacks = make_inputs(
            inputs_train, inputs_test, batch_size, orders, first_epoch
        )
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
                # One pipeline of every remaining epoch's batches (`training.inputs`) on TensorFlow.
                steps_per_epoch=steps_per_epoch if _tensorflow_backend() else None,
                validation_data=validation,
                shuffle=False,  # the pipeline shuffles, per epoch
                verbose=0,
                callbacks=[
                    *input_callbacks,
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
        # The dtype policy of the bulk of the network (`models.precision`); float32 when unset.
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
