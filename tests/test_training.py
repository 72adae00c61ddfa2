"""train_model: outputs, history, determinism across processes, exact resume after SIGKILL, divergence."""

import io
import json
import math
import os
import re
import signal
import subprocess
import sys
import textwrap

import keras
import numpy as np
import pytest

from tests.conftest import SCHEMA, TINY_CONFIG
from vae_latent_study.config import validate_config
from vae_latent_study.datasets import build_dataset, read_dataset, write_dataset
from vae_latent_study.models import autoencoders, inference
from vae_latent_study.training import callbacks, inputs
from vae_latent_study.training import history as training_history
from vae_latent_study.training import train as training_train

EPOCHS = 4  # tiny_gauss: 20 training images in batches of 16, so 2 steps per epoch
KILL_EPOCH = 2  # the killed runs die after the first step of this (0-based) epoch


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    """The tiny dataset on disk and the study config's model settings (with EPOCHS epochs)."""
    config = validate_config(TINY_CONFIG, SCHEMA)
    path = tmp_path_factory.mktemp("data") / "tiny_gauss.h5"
    dataset = build_dataset("tiny_gauss", config["datasets"]["tiny_gauss"])
    write_dataset(dataset, path)
    hparams = {name: {**h, "epochs": EPOCHS} for name, h in config["models"].items()}
    return {"dataset": path, "hparams": hparams, "data": dataset}


def _outputs(root, name):
    root = root / name
    return {
        "model_path": root / "model.keras",
        "history_path": root / "history.csv",
        "backup_dir": root / "backup",
    }


def _hparams(study, name, precision="float32"):
    hparams = dict(study["hparams"][name])
    if precision != "float32":
        hparams["precision"] = precision
    return hparams


def _reference_runs(study, root, precision):
    runs = {}
    for name in ("vae", "ae"):
        runs[name] = _outputs(root, name)
        training_train.train_model(study["dataset"], _hparams(study, name, precision), 7, **runs[name])
    return runs


@pytest.fixture(scope="module")
def reference(study, tmp_path_factory):
    """Uninterrupted in-process runs of the VAE and the AE, seed 7."""
    return _reference_runs(study, tmp_path_factory.mktemp("reference"), "float32")


@pytest.fixture(scope="module")
def reference_bfloat16(study, tmp_path_factory):
    """The same runs under `precision: mixed_bfloat16`."""
    return _reference_runs(study, tmp_path_factory.mktemp("reference_bf16"), "mixed_bfloat16")


def _weights(model_path):
    model = keras.models.load_model(model_path)
    weights = [np.asarray(w) for w in model.get_weights()]
    if isinstance(model, autoencoders.VAE):
        weights.append(model.encoder.get_layer("sampling").seed_generator.state.numpy())
    return model, weights


def _assert_same_weights(path_a, path_b):
    _, a = _weights(path_a)
    _, b = _weights(path_b)
    assert len(a) == len(b)
    for x, y in zip(a, b, strict=True):
        np.testing.assert_array_equal(x, y)


def test_shuffle_orders_differ_per_epoch_and_repeat():
    first = [inputs.shuffle_order(7, e, 50) for e in range(3)]
    again = [inputs.shuffle_order(7, e, 50) for e in range(3)]
    for a, b in zip(first, again, strict=True):
        np.testing.assert_array_equal(a, b)
        assert sorted(a) == list(range(50))
    assert not np.array_equal(first[0], first[1])
    assert not np.array_equal(first[0], inputs.shuffle_order(8, 0, 50))


def _batches(data):
    return [np.asarray(b[0] if isinstance(b, tuple) else b) for b in data]


def test_the_pydataset_pipeline_follows_the_epoch_order():
    x_train = np.arange(11, dtype="float32").reshape(11, 1, 1, 1)
    x_test = -np.arange(5, dtype="float32").reshape(5, 1, 1, 1)
    orders = np.stack([inputs.shuffle_order(3, e, 11) for e in range(3)])
    train, validation, (counter,) = inputs._pydataset_inputs(x_train, x_test, 4, orders)
    for epoch in (2, 0, 1):  # any order, as after a resume
        counter.on_epoch_begin(epoch)
        got = _batches(train)
        assert [len(b) for b in got] == [4, 4, 3]
        np.testing.assert_array_equal(np.concatenate(got).ravel(), orders[epoch])
        np.testing.assert_array_equal(np.concatenate(_batches(validation)).ravel(), x_test.ravel())


@pytest.mark.parametrize("first_epoch", [0, 1, 2])
def test_the_tf_pipeline_holds_every_remaining_epoch_in_its_order(first_epoch):
    """One pipeline from the (resumed) first epoch to the last, read through one iterator by `fit`; a fit
    that starts at another epoch fails instead of training on the wrong orders."""
    x_train = np.arange(11, dtype="float32").reshape(11, 1, 1, 1)
    x_test = -np.arange(5, dtype="float32").reshape(5, 1, 1, 1)
    orders = np.stack([inputs.shuffle_order(3, e, 11) for e in range(3)])
    train, validation, (check, _) = inputs._tf_inputs(x_train, x_test, 4, orders, first_epoch)
    got = _batches(train)
    assert [len(b) for b in got] == [4, 4, 3] * (3 - first_epoch)
    np.testing.assert_array_equal(np.concatenate(got).ravel(), orders[first_epoch:].ravel())
    # The validation batches, repeated: Keras keeps one iterator and reads 2 batches per validation.
    np.testing.assert_array_equal(
        np.concatenate(_batches(validation.take(6))).ravel(), np.tile(x_test.ravel(), 3)
    )
    check.on_epoch_begin(first_epoch)
    check.on_epoch_begin(first_epoch + 1)  # checked once, at fit's first epoch
    with pytest.raises(RuntimeError, match="batches begin at epoch"):
        inputs._tf_inputs(x_train, x_test, 4, orders, first_epoch)[2][0].on_epoch_begin(first_epoch + 1)


def test_training_writes_model_history_and_sidecar(study, reference):
    run = reference["vae"]
    model, _ = _weights(run["model_path"])
    assert isinstance(model, autoencoders.VAE)
    steps = math.ceil(len(study["data"].train) / 16)
    assert int(model.optimizer.iterations) == EPOCHS * steps
    assert not run["backup_dir"].exists()
    leftovers = [p.name for p in run["model_path"].parent.iterdir() if p.name.startswith(".")]
    assert not leftovers

    rows = training_history.read_history(run["history_path"])
    assert [r["epoch"] for r in rows] == list(range(1, EPOCHS + 1))
    assert list(rows[0]) == list(training_history.HISTORY_COLUMNS)
    for row in rows:
        for prefix in ("", "val_"):
            recon, kl = row[f"{prefix}reconstruction_loss"], row[f"{prefix}kl_loss"]
            assert row[f"{prefix}loss"] == pytest.approx(recon + kl, rel=1e-5)
        assert row["seconds"] > 0
    # The seed's decay: lr = 1e-3 * 0.99 ** (step / 30) at the end of each epoch.
    assert rows[-1]["learning_rate"] == pytest.approx(1e-3 * 0.99 ** (EPOCHS * steps / 30), rel=1e-5)
    assert rows[-1]["loss"] < rows[0]["loss"]

    sidecar = json.loads(training_train.sidecar_path(run["model_path"]).read_text())
    assert sidecar["seed"] == 7
    assert sidecar["hparams"] == json.loads(json.dumps(study["hparams"]["vae"]))
    assert sidecar["dataset"]["checksum"] == study["data"].manifest["checksum"]["sha256"]
    assert sidecar["dataset"]["path"] == str(study["dataset"])
    assert sidecar["backend"] == keras.backend.backend()
    assert sidecar["threads"]["op_determinism"] is True
    assert sidecar["versions"]["keras"] == keras.__version__
    assert sidecar["versions"]["tensorflow"] != "not installed"
    assert sidecar["resumed_after_epoch"] == 0
    assert sidecar["final"]["loss"] == rows[-1]["loss"]


def test_the_console_shows_short_lines_from_the_first_to_the_last_epoch(study, tmp_path):
    console = io.StringIO()
    training_train.train_model(
        study["dataset"], study["hparams"]["ae"], 7, **_outputs(tmp_path, "ae"), console=console, label="job"
    )
    lines = console.getvalue().splitlines()
    # The first and the last epoch, and between them at most a line every CONSOLE_SECONDS.
    shown = []
    for line in lines:
        match = re.fullmatch(rf"job: epoch (\d+)/{EPOCHS} loss [\d.]+ val [\d.]+, [\d.]+ s, done.*", line)
        assert match, line
        shown.append(int(match[1]))
    assert shown[0] == 1 and shown[-1] == EPOCHS and shown == sorted(set(shown))
    left = r"(\d+h\d\dm|\d+m\d\ds|\d+s)"  # training._duration, however loaded the machine
    assert re.search(rf"done ~\d\d:\d\d \({left} left\)$", lines[0]) and lines[-1].endswith(", done")


def test_ae_history_has_no_kl(reference):
    rows = training_history.read_history(reference["ae"]["history_path"])
    assert len(rows) == EPOCHS
    for row in rows:
        assert row["kl_loss"] is None and row["val_kl_loss"] is None
        assert row["loss"] == row["reconstruction_loss"]
        assert row["learning_rate"] == pytest.approx(1e-3)
    assert isinstance(keras.models.load_model(reference["ae"]["model_path"]), autoencoders.AE)


def test_a_loaded_model_keeps_its_optimizer_state(reference):
    # A trained model loads with its optimizer's moments and step count, and without a warning.
    import warnings

    for name in ("vae", "ae"):
        path = reference[name]["model_path"]
        sidecar = json.loads(training_train.sidecar_path(path).read_text())
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            model = inference.load_model(path)
        assert int(model.optimizer.iterations.numpy()) == sidecar["steps"] > 0
        # Adam: the step count (and a constant rate), then a first and a second moment per trained variable.
        moments = [v for v in model.optimizer.variables if v.shape != ()]
        assert len(moments) == 2 * len(model.trainable_variables)
        assert all(np.abs(v.numpy()).sum() > 0 for v in moments[:2])


def test_pydataset_fallback_gives_the_same_model(study, reference, tmp_path, monkeypatch):
    # The non-TensorFlow path, run on TensorFlow: same batches in the same order, so the same weights.
    monkeypatch.setattr(training_train, "_tensorflow_backend", lambda: False)
    run = _outputs(tmp_path, "vae")
    training_train.train_model(study["dataset"], study["hparams"]["vae"], 7, **run)
    _assert_same_weights(run["model_path"], reference["vae"]["model_path"])


def test_divergence_raises_and_writes_no_model(study, tmp_path):
    hparams = {**study["hparams"]["ae"], "schedule": {"type": "constant", "learning_rate": 1e3}}
    run = _outputs(tmp_path, "ae")
    with pytest.raises(callbacks.TrainingDiverged, match=r"loss became (nan|inf) at epoch 1"):
        training_train.train_model(study["dataset"], hparams, 7, **run)
    assert not run["model_path"].exists()
    assert not run["history_path"].exists()
    assert not training_train.sidecar_path(run["model_path"]).exists()
    assert not run["backup_dir"].exists()


def test_backup_of_another_run_is_discarded(tmp_path):
    backup = tmp_path / "backup"
    training_train._prepare_backup(backup, {"seed": 1})
    (backup / "latest.weights.h5").write_text("stale")
    training_train._prepare_backup(backup, {"seed": 1})  # the same run: kept
    assert (backup / "latest.weights.h5").exists()
    training_train._prepare_backup(backup, {"seed": 2})  # another run: discarded
    assert not (backup / "latest.weights.h5").exists()
    assert json.loads((backup / "run.json").read_text()) == {"seed": 2}


_RUNNER = textwrap.dedent(
    """
    import json, os, signal, sys
    import keras
    from vae_latent_study.training.train import train_model

    class Kill(keras.callbacks.Callback):
        # Kills in epoch `epoch` of fit number `fit` (0-based: the restart) of this run; any fit if None.
        def __init__(self, epoch, fit=None):
            super().__init__()
            self.kill_epoch, self.kill_fit, self.epoch, self.fits = epoch, fit, None, 0
        def on_train_begin(self, logs=None):
            self.fits += 1
        def on_epoch_begin(self, epoch, logs=None):
            self.epoch = epoch
        def on_train_batch_end(self, batch, logs=None):
            if self.kill_epoch is None or self.kill_fit not in (None, self.fits - 1):
                return
            if self.epoch == self.kill_epoch:
                os.kill(os.getpid(), signal.SIGKILL)

    for run in json.loads(sys.argv[1]):
        kill, kill_fit = run.pop("kill", None), run.pop("kill_fit", None)
        if kill is not None:
            run.setdefault("checkpoint_seconds", 0)  # back up every epoch; the cadence has its own test
        counter = Kill(kill, kill_fit)
        train_model(**run, callbacks=[counter])
        print("fits", counter.fits, flush=True)
    """
)


def _process(runs):
    args = [{k: str(v) if hasattr(v, "__fspath__") else v for k, v in run.items()} for run in runs]
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    return subprocess.Popen(
        [sys.executable, "-c", _RUNNER, json.dumps(args)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


@pytest.mark.parametrize("precision", ["float32", "mixed_bfloat16"])
def test_other_process_and_resume_after_sigkill_are_bitwise_identical(study, precision, request, tmp_path):
    reference = request.getfixturevalue("reference" if precision == "float32" else "reference_bfloat16")

    def run(name, out, **extra):
        return {
            "dataset_path": study["dataset"],
            "hparams": _hparams(study, name, precision),
            "seed": 7,
            **_outputs(tmp_path, out),
            **extra,
        }

    # Two processes at once, each training one model, killed mid-epoch.
    killed = [_process([run(name, f"{name}_resumed", kill=KILL_EPOCH)]) for name in ("vae", "ae")]
    for proc in killed:
        out, _ = proc.communicate(timeout=900)
        assert proc.returncode == -signal.SIGKILL, out
    for name in ("vae", "ae"):
        backup = tmp_path / f"{name}_resumed" / "backup"
        assert json.loads((backup / "training_metadata.json").read_text())["epoch"] == KILL_EPOCH
        assert len(json.loads((backup / "history.json").read_text())) == KILL_EPOCH
        assert not (tmp_path / f"{name}_resumed" / "model.keras").exists()

    # A third resumes both, then trains the VAE from scratch.
    proc = _process([run("vae", "vae_resumed"), run("ae", "ae_resumed"), run("vae", "vae_fresh")])
    out, _ = proc.communicate(timeout=900)
    assert proc.returncode == 0, out

    # Another process, same inputs: the same bits.
    _assert_same_weights(tmp_path / "vae_fresh" / "model.keras", reference["vae"]["model_path"])
    # Killed and resumed: the same bits as never interrupted, and the full history.
    for name in ("vae", "ae"):
        resumed = _outputs(tmp_path, f"{name}_resumed")
        _assert_same_weights(resumed["model_path"], reference[name]["model_path"])
        assert not resumed["backup_dir"].exists()
        got = training_history.read_history(resumed["history_path"])
        want = training_history.read_history(reference[name]["history_path"])
        assert [{k: v for k, v in r.items() if k != "seconds"} for r in got] == [
            {k: v for k, v in r.items() if k != "seconds"} for r in want
        ]
        sidecar = json.loads(training_train.sidecar_path(resumed["model_path"]).read_text())
        assert sidecar["resumed_after_epoch"] == KILL_EPOCH
        assert sidecar["precision"] == precision


class _StepClock:
    """`monotonic()` 25 s later at every call: with a 30 s cadence the backup skips some epochs."""

    def __init__(self):
        self.now = 0.0

    def monotonic(self):
        self.now += 25.0
        return self.now


class _Interrupt(keras.callbacks.Callback):
    """Stops the process's training after the first step of `epoch` (0-based), as a kill would."""

    def __init__(self, epoch):
        super().__init__()
        self.kill_epoch, self.epoch = epoch, None

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        if self.epoch == self.kill_epoch:
            raise KeyboardInterrupt("killed")


def test_the_backup_keeps_a_time_cadence_and_a_resume_replays_the_epochs_after_it(
    study, reference, tmp_path, monkeypatch
):
    monkeypatch.setattr(training_train, "_backup_clock", _StepClock())
    run = _outputs(tmp_path, "vae")
    with pytest.raises(KeyboardInterrupt):
        training_train.train_model(
            study["dataset"],
            _hparams(study, "vae"),
            7,
            **run,
            callbacks=[_Interrupt(3)],
            checkpoint_seconds=30,
        )
    # Epochs 1-3 finished; the cadence backed up after epoch 2 only (not 1, not 3), history and weights alike.
    assert json.loads((run["backup_dir"] / "training_metadata.json").read_text())["epoch"] == 2
    assert len(json.loads((run["backup_dir"] / "history.json").read_text())) == 2
    assert not run["model_path"].exists()
    training_train.train_model(study["dataset"], _hparams(study, "vae"), 7, **run)
    _assert_same_weights(run["model_path"], reference["vae"]["model_path"])
    got, want = (training_history.read_history(r["history_path"]) for r in (run, reference["vae"]))
    assert [r["loss"] for r in got] == [r["loss"] for r in want]
    assert json.loads(training_train.sidecar_path(run["model_path"]).read_text())["resumed_after_epoch"] == 2


def test_mixed_bfloat16_trains_other_bits_in_bfloat16_and_keeps_the_loss_in_float32(
    study, reference, reference_bfloat16
):
    for name in ("vae", "ae"):
        model, weights = _weights(reference_bfloat16[name]["model_path"])
        _, float32_weights = _weights(reference[name]["model_path"])
        # The option takes effect: the same seed and data, other weights (close: a few epochs apart).
        assert any(not np.array_equal(a, b) for a, b in zip(weights, float32_weights, strict=True))
        assert all(w.dtype == np.float32 for w in weights if w.dtype.kind == "f")  # float32 variables
        assert model.encoder.get_layer("conv1").dtype_policy.name == "mixed_bfloat16"
        assert model.decoder.get_layer("deconv1").dtype_policy.name == "mixed_bfloat16"
        heads = ("z_mean", "z_log_sigma", "sampling") if name == "vae" else ("code",)
        for layer in heads:
            assert model.encoder.get_layer(layer).dtype_policy.name == "float32", layer
        assert model.decoder.get_layer("image").dtype_policy.name == "float32"  # the sigmoid output
        outputs = model(study["data"].x[:3, ..., None].astype("float32"))
        assert {str(v.dtype) for v in outputs.values()} == {"<dtype: 'float32'>"}
        # Losses in float32 and finite; bfloat16 lands near float32 after the same epochs.
        got = training_history.read_history(reference_bfloat16[name]["history_path"])[-1]["val_loss"]
        want = training_history.read_history(reference[name]["history_path"])[-1]["val_loss"]
        assert math.isfinite(got) and abs(got - want) <= 0.05 * abs(want)


def test_early_stopping_replays_keras():
    # Keras's EarlyStopping (mode min, min_delta 0): `wait` counts epochs without a strict improvement.
    assert callbacks.early_stopping_epoch([3, 2, 2, 2], patience=2) == 4
    assert callbacks.early_stopping_epoch([3, 2, 1, 0], patience=1) is None
    assert callbacks.early_stopping_epoch([1, 1], patience=1) == 2
    assert callbacks.early_stopping_epoch([1], patience=0) is None  # never after the first epoch


class _FailAtEnd(keras.callbacks.Callback):
    def on_train_end(self, logs=None):
        raise KeyboardInterrupt("stopped before the outputs")


def test_early_stopping_stops_and_resumes_at_the_same_epoch(study, tmp_path):
    # A constant learning rate never improves, so patience 1 stops after epoch 2 of EPOCHS.
    hparams = {**study["hparams"]["ae"], "early_stopping": {"monitor": "learning_rate", "patience": 1}}
    whole = _outputs(tmp_path, "whole")
    training_train.train_model(study["dataset"], hparams, 7, **whole)
    rows = training_history.read_history(whole["history_path"])
    assert [r["epoch"] for r in rows] == [1, 2]
    steps = math.ceil(len(study["data"].train) / 16)
    model, _ = _weights(whole["model_path"])
    assert int(model.optimizer.iterations) == 2 * steps
    # Interrupted after the stop but before the outputs: the rerun restores the backup and trains no further.
    interrupted = _outputs(tmp_path, "interrupted")
    with pytest.raises(KeyboardInterrupt):
        training_train.train_model(study["dataset"], hparams, 7, **interrupted, callbacks=[_FailAtEnd()])
    assert interrupted["backup_dir"].exists() and not interrupted["model_path"].exists()
    training_train.train_model(study["dataset"], hparams, 7, **interrupted)
    _assert_same_weights(interrupted["model_path"], whole["model_path"])
    sidecar = json.loads(training_train.sidecar_path(interrupted["model_path"]).read_text())
    assert sidecar["epochs_trained"] == 2 and sidecar["resumed_after_epoch"] == 2


def test_model_inputs_keep_tabular_and_1d_shapes():
    assert inputs.model_inputs(np.zeros((4, 9, 9))).shape == (4, 9, 9, 1)
    assert inputs.model_inputs(np.zeros((4, 5))).shape == (4, 5)
    assert inputs.model_inputs(np.zeros(4)).shape == (4,)


@pytest.fixture(scope="module")
def dense_study(tmp_path_factory):
    """Seed 002's VAE (BatchNorm, Dropout, L2 activity losses, the faithful broadcast loss) on a normal_1d
    dataset: the options whose state (Dropout's and the sampler's noise, BatchNorm's moving statistics) a
    resume must restore."""
    import yaml

    from tests.conftest import REPO

    study = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    config = validate_config(
        {
            "datasets": {"normal": {"kind": "normal_1d"}, "heat": {}},
            "models": {"vae_1d": {**study["models"]["vae_1d"], "epochs": EPOCHS}, "vae": {}},
            "studies": {"s": {"datasets": ["normal"], "models": ["vae_1d"]}},
        },
        SCHEMA,
    )
    path = tmp_path_factory.mktemp("dense") / "normal.h5"
    write_dataset(build_dataset("normal", config["datasets"]["normal"]), path)
    return {"dataset": path, "hparams": config["models"]["vae_1d"]}


def _all_state(model_path):
    """Every variable of a saved model, seed-generator states and BatchNorm statistics included."""
    model = keras.models.load_model(model_path)
    return [np.asarray(v.numpy() if hasattr(v, "numpy") else v) for v in model.variables]


def test_a_dense_model_resumes_after_sigkill_bitwise_and_stops_on_nan(dense_study, tmp_path):
    run = {"dataset_path": dense_study["dataset"], "hparams": dense_study["hparams"], "seed": 3}
    proc = _process([{**run, **_outputs(tmp_path, "killed"), "kill": KILL_EPOCH}])
    out, _ = proc.communicate(timeout=900)
    assert proc.returncode == -signal.SIGKILL, out
    proc = _process([{**run, **_outputs(tmp_path, "killed")}, {**run, **_outputs(tmp_path, "whole")}])
    out, _ = proc.communicate(timeout=900)
    assert proc.returncode == 0, out
    killed, whole = (_all_state(tmp_path / name / "model.keras") for name in ("killed", "whole"))
    assert len(killed) == len(whole) > 20
    for a, b in zip(killed, whole, strict=True):
        np.testing.assert_array_equal(a, b)
    sidecar = json.loads(training_train.sidecar_path(tmp_path / "killed" / "model.keras").read_text())
    assert sidecar["resumed_after_epoch"] == KILL_EPOCH

    diverging = {**dense_study["hparams"], "schedule": {"type": "constant", "learning_rate": 1e30}}
    outputs = _outputs(tmp_path, "nan")
    with pytest.raises(callbacks.TrainingDiverged):
        training_train.train_model(dense_study["dataset"], diverging, 3, **outputs)
    assert not outputs["model_path"].exists() and not outputs["backup_dir"].exists()


@pytest.fixture(scope="module")
def conditional_study(tmp_path_factory):
    """Seed 003's toy with a small conditional AE and a conditional VAE (Dropout and the sampler: noise
    states a resume must restore), each fed the component's one-hot label."""
    from tests.test_conditional import DENSE_AE, DENSE_VAE

    config = validate_config(
        {
            "datasets": {"toy": {"kind": "toy_manifold", "n_per_component": 40, "test_per_component": 10}},
            "models": {
                name: {**options, "epochs": EPOCHS, "batch_size": 16, "schedule": {"type": "constant"}}
                for name, options in (("cae", DENSE_AE), ("cvae", DENSE_VAE))
            },
            "studies": {"s": {"datasets": ["toy"], "models": ["cae", "cvae"]}},
        },
        SCHEMA,
    )
    path = tmp_path_factory.mktemp("conditional") / "toy.h5"
    write_dataset(build_dataset("toy", config["datasets"]["toy"]), path)
    return {"dataset": path, "hparams": config["models"]}


def test_a_conditional_model_trains_on_its_labels_resumes_bitwise_and_stops_on_nan(
    conditional_study, tmp_path
):
    hparams = conditional_study["hparams"]
    runs = {
        name: {"dataset_path": conditional_study["dataset"], "hparams": hparams[name], "seed": 3}
        for name in hparams
    }
    killed = [
        _process([{**runs[name], **_outputs(tmp_path, f"{name}_killed"), "kill": KILL_EPOCH}])
        for name in runs
    ]
    for proc in killed:
        out, _ = proc.communicate(timeout=900)
        assert proc.returncode == -signal.SIGKILL, out
    proc = _process(
        [
            {**runs[name], **_outputs(tmp_path, f"{name}_{how}")}
            for name in runs
            for how in ("killed", "whole")
        ]
    )
    out, _ = proc.communicate(timeout=900)
    assert proc.returncode == 0, out
    for name in runs:
        killed, whole = (
            _all_state(tmp_path / f"{name}_{how}" / "model.keras") for how in ("killed", "whole")
        )
        assert len(killed) == len(whole)
        for a, b in zip(killed, whole, strict=True):
            np.testing.assert_array_equal(a, b)
        sidecar = json.loads(
            training_train.sidecar_path(tmp_path / f"{name}_killed" / "model.keras").read_text()
        )
        assert sidecar["resumed_after_epoch"] == KILL_EPOCH
        assert sidecar["condition"] == {"factor": "component", "values": [0.0, 1.0]}
        # In this process too, the same bits: the labels are part of the deterministic run.
        again = _outputs(tmp_path, f"{name}_here")
        training_train.train_model(conditional_study["dataset"], hparams[name], 3, **again)
        for a, b in zip(_all_state(again["model_path"]), whole, strict=True):
            np.testing.assert_array_equal(a, b)
        model = inference.load_model(again["model_path"])
        assert model.condition == sidecar["condition"] and len(model.encoder.inputs) == 2

    diverging = {**hparams["cae"], "schedule": {"type": "constant", "learning_rate": 1e30}}
    outputs = _outputs(tmp_path, "nan")
    with pytest.raises(callbacks.TrainingDiverged):
        training_train.train_model(conditional_study["dataset"], diverging, 3, **outputs)
    assert not outputs["model_path"].exists() and not outputs["backup_dir"].exists()


def test_condition_labels_are_the_one_hot_rows_of_the_factor(conditional_study):
    dataset = read_dataset(conditional_study["dataset"])
    condition = dataset.condition("label")
    rows = dataset.train[::7]
    labels = inputs.condition_labels(dataset, condition, rows)
    assert labels.dtype == np.float32 and labels.shape == (len(rows), 2)
    np.testing.assert_array_equal(labels, np.eye(2)[dataset.factor("component")[rows].astype(int)])
    assert set(labels.argmax(axis=1)) == {0, 1}


# ---------------------------------------------------------------------------------------------- restarts

RESTARTS = 3


@pytest.fixture(scope="module")
def restarted(study, tmp_path_factory):
    """The VAE with `restarts: 3`, seed 7, trained in this process; and each initialisation's seed trained
    alone (no restarts), which the restarts must reproduce."""
    root = tmp_path_factory.mktemp("restarts")
    hparams = {**study["hparams"]["vae"], "restarts": RESTARTS}
    runs = {"restarts": _outputs(root, "restarts")}
    training_train.train_model(study["dataset"], hparams, 7, **runs["restarts"])
    for k in range(RESTARTS):
        runs[k] = _outputs(root, f"alone{k}")
        training_train.train_model(
            study["dataset"], study["hparams"]["vae"], training_train.restart_seed(7, k), **runs[k]
        )
    return hparams, runs


def test_restart_seeds_derive_from_the_training_seed():
    seeds = [training_train.restart_seed(7, k) for k in range(5)]
    assert seeds[0] == 7 and len(set(seeds)) == 5 and all(0 <= s < 2**31 for s in seeds)
    assert seeds == [training_train.restart_seed(7, k) for k in range(5)]
    assert training_train.restart_seed(8, 1) != seeds[1]


def test_restarts_keep_the_lowest_final_loss_and_record_each(study, restarted, reference):
    hparams, runs = restarted
    out = runs["restarts"]
    sidecar = json.loads(training_train.sidecar_path(out["model_path"]).read_text())
    record = sidecar["restarts"]
    assert record["n"] == RESTARTS and [r["restart"] for r in record["runs"]] == list(range(RESTARTS))
    assert [r["seed"] for r in record["runs"]] == [training_train.restart_seed(7, k) for k in range(RESTARTS)]
    # Each restart is its seed trained alone: the same final loss, bit for bit.
    alone = [training_history.read_history(runs[k]["history_path"])[-1]["loss"] for k in range(RESTARTS)]
    assert [r["final_loss"] for r in record["runs"]] == alone
    assert len(set(alone)) == RESTARTS  # the initialisations differ
    best = int(np.argmin(alone))
    assert record["chosen"] == best and record["chosen_seed"] == training_train.restart_seed(7, best)
    assert all(r["epochs_trained"] == EPOCHS and r["resumed_after_epoch"] == 0 for r in record["runs"])
    # The kept model, its history and the sidecar's final row are the chosen restart's.
    _assert_same_weights(out["model_path"], runs[best]["model_path"])
    history = training_history.read_history(out["history_path"])
    want = training_history.read_history(runs[best]["history_path"])
    assert [{k: v for k, v in r.items() if k != "seconds"} for r in history] == [
        {k: v for k, v in r.items() if k != "seconds"} for r in want
    ]
    assert sidecar["final"]["loss"] == min(alone) and sidecar["seed"] == 7
    assert sidecar["hparams"]["restarts"] == RESTARTS and not out["backup_dir"].exists()
    # Restart 0 is the training seed itself: the reference run (no restarts) trained it.
    _assert_same_weights(runs[0]["model_path"], reference["vae"]["model_path"])


def test_one_restart_is_the_model_without_restarts_and_restarts_are_deterministic(
    study, restarted, reference, tmp_path
):
    hparams, runs = restarted
    one = _outputs(tmp_path, "one")
    training_train.train_model(study["dataset"], {**study["hparams"]["vae"], "restarts": 1}, 7, **one)
    _assert_same_weights(one["model_path"], reference["vae"]["model_path"])
    sidecar = json.loads(training_train.sidecar_path(one["model_path"]).read_text())
    assert sidecar["restarts"]["chosen"] == 0 and len(sidecar["restarts"]["runs"]) == 1
    # No `restarts` key: the sidecar has none (as before the option existed).
    plain = json.loads(training_train.sidecar_path(reference["vae"]["model_path"]).read_text())
    assert "restarts" not in plain and "restarts" not in plain["hparams"]
    again = _outputs(tmp_path, "again")
    training_train.train_model(study["dataset"], hparams, 7, **again)
    _assert_same_weights(again["model_path"], runs["restarts"]["model_path"])
    first = json.loads(training_train.sidecar_path(runs["restarts"]["model_path"]).read_text())["restarts"]
    assert json.loads(training_train.sidecar_path(again["model_path"]).read_text())["restarts"] == first


def test_a_kill_during_a_restart_keeps_the_finished_ones_and_resumes_bitwise(study, restarted, tmp_path):
    hparams, runs = restarted
    run = {"dataset_path": study["dataset"], "hparams": hparams, "seed": 7, **_outputs(tmp_path, "killed")}
    proc = _process([{**run, "kill": KILL_EPOCH, "kill_fit": 1}])  # in epoch KILL_EPOCH of restart 1
    out, _ = proc.communicate(timeout=900)
    assert proc.returncode == -signal.SIGKILL, out
    backup = run["backup_dir"]
    # Restart 0 finished: its model and its record. Restart 1 did not: no record, only its epoch backup.
    finished = json.loads((backup / "restart0" / "finished.json").read_text())
    assert (backup / "restart0" / "model.keras").exists() and finished["epochs_trained"] == EPOCHS
    assert not (backup / "restart1" / "finished.json").exists()
    assert not (backup / "restart1" / "model.keras").exists()
    state = json.loads((backup / "restart1" / "state" / "training_metadata.json").read_text())
    assert state["epoch"] == KILL_EPOCH
    assert not (backup / "restart2").exists() and not run["model_path"].exists()

    proc = _process([{k: v for k, v in run.items()}])
    out, _ = proc.communicate(timeout=900)
    assert proc.returncode == 0, out
    assert "fits 2" in out  # restarts 1 (resumed) and 2; restart 0 was not trained again
    _assert_same_weights(run["model_path"], runs["restarts"]["model_path"])
    record = json.loads(training_train.sidecar_path(run["model_path"]).read_text())["restarts"]
    whole = json.loads(training_train.sidecar_path(runs["restarts"]["model_path"]).read_text())["restarts"]
    assert [r["resumed_after_epoch"] for r in record["runs"]] == [0, KILL_EPOCH, 0]
    assert [r["final_loss"] for r in record["runs"]] == [r["final_loss"] for r in whole["runs"]]
    assert record["chosen"] == whole["chosen"] and not backup.exists()


def test_the_backup_cadence_comes_from_the_environment(monkeypatch):
    monkeypatch.delenv(training_train.CHECKPOINT_ENV, raising=False)
    assert training_train.checkpoint_interval() == training_train.CHECKPOINT_SECONDS == 30.0
    monkeypatch.setenv(training_train.CHECKPOINT_ENV, "0")
    assert training_train.checkpoint_interval() == 0.0
    for bad in ("-1", "soon", "nan"):
        monkeypatch.setenv(training_train.CHECKPOINT_ENV, bad)
        with pytest.raises(ValueError, match=training_train.CHECKPOINT_ENV):
            training_train.checkpoint_interval()


def test_the_history_module_loads_neither_keras_nor_tensorflow():
    """Readers of a finished run's history (the replicates' summary) import training.history alone."""
    code = (
        "import sys; import vae_latent_study.training.history, vae_latent_study.kinds.normal_1d.evaluate; "
        "print(sorted(m for m in ('keras', 'tensorflow') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
