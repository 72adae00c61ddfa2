"""Kinds with `batch_seeds`: every seed of one (dataset, model) trained, and evaluated, in one process.

A seed trained in a batch has the bits of the same seed trained alone in a fresh process (weights and
history), and its evaluation the same JSON; a SIGKILL mid-batch keeps the finished seeds (their files come
back bit for bit) and the unfinished one resumes from its epoch backup; and the workflow plans one training
job per (dataset, model) of those kinds.
"""

import hashlib
import io
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
import zipfile

import h5py
import pandas as pd
import pytest
import yaml

from vae_latent_study import batch
from vae_latent_study.config import plan, validate_config
from vae_latent_study.kinds.registry import kind
from vae_latent_study.provenance import file_sha256
from vae_latent_study.training import train
from vae_latent_study.training.batch import keep_dir

from .conftest import REPO, SCHEMA, snakemake_command
from .test_normal_1d_evaluate import TINY_VAE
from .test_workflow import planned_jobs

SEEDS = (1, 2, 3)
EPOCHS = 4  # 45 training rows in batches of 11: 5 steps per epoch
KILL_EPOCH = 2  # the killed batch dies in this (0-based) epoch of its second seed
HPARAMS = {**TINY_VAE, "epochs": EPOCHS}

_CHILD = textwrap.dedent(
    """
    import json, os, signal, sys
    import keras

    class Kill(keras.callbacks.Callback):
        # Kills after the first step of epoch `epoch` of the `fit`-th fit (1-based) of this process.
        def __init__(self, epoch, fit):
            super().__init__()
            self.kill_epoch, self.kill_fit, self.epoch, self.fits = epoch, fit, None, 0
        def on_train_begin(self, logs=None):
            self.fits += 1
        def on_epoch_begin(self, epoch, logs=None):
            self.epoch = epoch
        def on_train_batch_end(self, batch, logs=None):
            if self.fits == self.kill_fit and self.epoch == self.kill_epoch:
                os.kill(os.getpid(), signal.SIGKILL)

    args = json.loads(sys.argv[1])
    if args["mode"] == "alone":
        from vae_latent_study.training.train import train_model
        train_model(**args["run"])
    elif args["mode"] == "train":
        from vae_latent_study.training.batch import train_seeds
        kill = args.pop("kill", None)
        callbacks = [Kill(*kill)] if kill else []
        print("trained", json.dumps(train_seeds(**args["run"], callbacks=callbacks)), flush=True)
    else:
        from types import SimpleNamespace
        from vae_latent_study.evaluation.runner import run_batch_job
        print("evaluated", json.dumps(run_batch_job(SimpleNamespace(**args["params"]), 1)), flush=True)
    """
)


def _child(args, *, check=True):
    """Run _CHILD with `args` in a fresh process (every epoch backed up); the finished process."""
    plain = json.loads(json.dumps(args, default=str))
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", train.CHECKPOINT_ENV: "0"}
    proc = subprocess.run(
        [sys.executable, "-c", _CHILD, json.dumps(plain)],
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    if check:
        assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc


def _weights_sha256(model_path):
    """{weight array: SHA-256 of its bytes} of a `.keras` file (its HDF5 weights, read without Keras)."""
    with (
        zipfile.ZipFile(model_path) as archive,
        h5py.File(io.BytesIO(archive.read("model.weights.h5"))) as h5,
    ):
        found = {}

        def visit(name, node):
            if hasattr(node, "shape"):
                found[name] = hashlib.sha256(node[()].tobytes()).hexdigest()

        h5.visititems(visit)
    return found


def _history(path):
    """The history without its wall-clock column."""
    return pd.read_csv(path).drop(columns=["seconds"])


def _runs(root):
    """train_seeds' per-seed paths under `root`, as the workflow lays them out."""
    return {
        "model_paths": [root / f"seed{s}" / "model.keras" for s in SEEDS],
        "history_paths": [root / f"seed{s}" / "history.csv" for s in SEEDS],
        "backup_dirs": [root / f"seed{s}" / "backup" for s in SEEDS],
    }


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    """One normal_1d replicate per seed (60 draws, 45 for training)."""
    from vae_latent_study import datasets

    root = tmp_path_factory.mktemp("batch_data")
    paths = []
    for seed in SEEDS:
        config = {"kind": "normal_1d", "mean": 100.0, "std": 10.0, "n": 60, "test_share": 0.25, "seed": seed}
        paths.append(root / f"seed{seed}.h5")
        datasets.make_dataset(f"normal_r{seed}", config, paths[-1])
    return paths


@pytest.fixture(scope="module")
def alone(data, tmp_path_factory):
    """Each seed trained by train_model in a fresh process of its own, as `train_model` jobs do."""
    root = tmp_path_factory.mktemp("alone")
    runs = _runs(root)
    for i, seed in enumerate(SEEDS):
        run = {
            "dataset_path": data[i],
            "hparams": HPARAMS,
            "seed": seed,
            "model_path": runs["model_paths"][i],
            "history_path": runs["history_paths"][i],
            "backup_dir": runs["backup_dirs"][i],
            "threads": 2,
        }
        _child({"mode": "alone", "run": run})
    return runs


def _batch_run(data, root):
    return {"dataset_paths": data, "hparams": HPARAMS, "seeds": list(SEEDS), "threads": 2, **_runs(root)}


def _assert_same_training(runs, reference):
    for model, history, ref_model, ref_history in zip(
        runs["model_paths"],
        runs["history_paths"],
        reference["model_paths"],
        reference["history_paths"],
        strict=True,
    ):
        weights = _weights_sha256(model)
        assert weights and weights == _weights_sha256(ref_model), model
        pd.testing.assert_frame_equal(_history(history), _history(ref_history))


@pytest.fixture(scope="module")
def batched(data, tmp_path_factory):
    root = tmp_path_factory.mktemp("batched")
    proc = _child({"mode": "train", "run": _batch_run(data, root)})
    return _runs(root), proc.stdout


def test_a_batch_trains_each_seed_with_the_bits_of_a_process_of_its_own(alone, batched):
    runs, out = batched
    assert json.loads(out.split("trained", 1)[1]) == [f"seed{s}" for s in SEEDS]
    _assert_same_training(runs, alone)
    for model, backup in zip(runs["model_paths"], runs["backup_dirs"], strict=True):
        sidecar = json.loads(train.sidecar_path(model).read_text())
        assert sidecar["resumed_after_epoch"] == 0 and sidecar["epochs_trained"] == EPOCHS
        assert not backup.exists() and not keep_dir(backup).exists()


def test_a_kill_mid_batch_keeps_the_finished_seeds_and_resumes_bitwise(data, alone, tmp_path):
    run = _batch_run(data, tmp_path)
    runs = _runs(tmp_path)
    killed = _child({"mode": "train", "run": run, "kill": [KILL_EPOCH, 2]}, check=False)
    assert killed.returncode == -signal.SIGKILL, killed.stdout + killed.stderr
    first, second, third = (keep_dir(b) for b in runs["backup_dirs"])
    # Seed 1 finished: its files and record kept; nothing is in place (Snakemake would delete it anyway).
    assert json.loads((first / batch.FINISHED).read_text())["seed"] == SEEDS[0]
    kept = {name: file_sha256(first / name) for name in ("model.keras", "model.json", "history.csv")}
    assert not any(path.exists() for path in runs["model_paths"] + runs["history_paths"])
    # Seed 2 did not: no record, and its epoch backup is at the kill; seed 3 never started.
    assert not (second / batch.FINISHED).exists()
    state = json.loads((runs["backup_dirs"][1] / "training_metadata.json").read_text())
    assert state["epoch"] == KILL_EPOCH
    assert not third.exists() and not runs["backup_dirs"][2].exists()

    resumed = _child({"mode": "train", "run": run})
    assert json.loads(resumed.stdout.split("trained", 1)[1]) == ["seed2", "seed3"]
    _assert_same_training(runs, alone)
    seed_dir = runs["model_paths"][0].parent
    assert {name: file_sha256(seed_dir / name) for name in kept} == kept  # restored bit for bit
    sidecars = [json.loads(train.sidecar_path(m).read_text()) for m in runs["model_paths"]]
    assert [s["resumed_after_epoch"] for s in sidecars] == [0, KILL_EPOCH, 0]
    assert not any(b.exists() or keep_dir(b).exists() for b in runs["backup_dirs"])


def test_a_batch_evaluates_each_seed_as_a_job_of_its_own(data, alone, tmp_path):
    from vae_latent_study.evaluation import runner

    evaluation = kind("normal_1d").evaluation("generation")
    keys = [figure.key for figure in evaluation.figures]

    def run_spec(i, root):
        seed = SEEDS[i]
        return {
            "identity": {
                "dataset": "normal",
                "dataset_kind": "normal_1d",
                "model": "tiny_vae",
                "model_kind": "vae",
                "seed": seed,
                "family": "normal_1d",
            },
            "inputs": {"model": str(alone["model_paths"][i]), "dataset": str(data[i])},
            "outputs": {key: str(root / f"seed{seed}" / f"{key}.png") for key in keys},
            "metrics": str(root / f"seed{seed}" / "generation.json"),
        }

    params = {
        "evaluation": "generation",
        "module": evaluation.module,
        "settings": {"model": {"generation": None}},
        "code": "digest",
        "runs": [run_spec(i, tmp_path / "batch") for i in range(len(SEEDS))],
    }
    proc = _child({"mode": "evaluate", "params": params})
    assert json.loads(proc.stdout.split("evaluated", 1)[1]) == [f"seed{s}" for s in SEEDS]
    for i in range(len(SEEDS)):
        spec, alone_spec = params["runs"][i], run_spec(i, tmp_path / "alone")
        ctx = runner.Context(
            name="generation",
            identity=alone_spec["identity"],
            inputs=alone_spec["inputs"],
            outputs=alone_spec["outputs"],
            settings=params["settings"],
        )
        expected = runner.run(ctx, evaluation.module, alone_spec["metrics"])
        assert json.loads(open(spec["metrics"]).read()) == expected
        for key in keys:
            assert os.path.getsize(spec["outputs"][key]) > 10_000
    assert not list((tmp_path / "batch").rglob(f"finished_{evaluation.name}"))


# --- a real Snakemake run, killed mid-batch ---------------------------------------------------------------


def test_after_snakemake_is_killed_mid_batch_unlock_then_the_same_command_resumes_bitwise(tmp_path):
    """README, Recovering: the process group of a run killed while the batch trains its second seed; after
    `--unlock` the same command keeps the first seed's files (bit for bit), resumes the second from its
    epoch backup and trains the third, with the weights of a run that was never interrupted."""
    from .test_studies import STUDIES_CONFIG

    study = {
        "seed": 3,
        "datasets": {"normal": {"kind": "normal_1d"}},
        "models": {"vae_1d": {**STUDIES_CONFIG["models"]["vae_1d"], "epochs": 60}},
        "studies": {"normal_1d": {"datasets": ["normal"], "models": ["vae_1d"], "seeds": list(SEEDS)}},
    }
    run = "results/models/normal/vae_1d/seed{}"
    targets = [f"{run.format(s)}/model.keras" for s in SEEDS]
    env = {**os.environ, train.CHECKPOINT_ENV: "0"}
    dirs = {}
    for name in ("uninterrupted", "killed"):
        dirs[name] = tmp_path / name
        dirs[name].mkdir()
        (dirs[name] / "study.yaml").write_text(yaml.safe_dump(study))
    command = {
        name: snakemake_command(path, "--configfile", str(path / "study.yaml"), "--cores", "2", *targets)
        for name, path in dirs.items()
    }
    subprocess.run(command["uninterrupted"], capture_output=True, text=True, timeout=900, check=True, env=env)

    killed = dirs["killed"]
    first_done = killed / run.format(1) / "finished" / batch.FINISHED
    second_state = killed / run.format(2) / "backup" / "training_metadata.json"
    proc = subprocess.Popen(
        command["killed"],
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=env,
    )
    try:
        deadline = time.monotonic() + 600
        while not (first_done.exists() and second_state.exists()):
            assert proc.poll() is None, "the run ended before it could be killed"
            assert time.monotonic() < deadline, "the batch did not reach its second seed"
            time.sleep(0.02)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    assert not any((killed / target).exists() for target in targets)
    kept = file_sha256(first_done.parent / "model.keras")

    unlock = snakemake_command(killed, "--configfile", str(killed / "study.yaml"), "--unlock")
    subprocess.run(unlock, capture_output=True, timeout=600, check=True)
    resumed = subprocess.run(command["killed"], capture_output=True, text=True, timeout=900, env=env)
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    log = (killed / "logs" / "train_models" / "normal" / "vae_1d.log").read_text()
    assert "seed1 was finished by an earlier process" in log
    assert file_sha256(killed / targets[0]) == kept
    for target in targets:
        assert _weights_sha256(killed / target) == _weights_sha256(dirs["uninterrupted"] / target), target
    sidecar = json.loads((killed / run.format(2) / "model.json").read_text())
    assert sidecar["resumed_after_epoch"] >= 1
    assert not list((killed / "results").rglob("finished"))


# --- the keep folders, without TensorFlow ---------------------------------------------------------------


def _items(root, fingerprint="a"):
    return [
        batch.Item(
            f"run{i}", {"out": root / f"run{i}" / "out.txt"}, root / f"run{i}" / "keep", {"f": fingerprint}
        )
        for i in range(3)
    ]


def _work(log, fail=None):
    def work(item, staged):
        if item.name == fail:
            raise RuntimeError("killed")
        log.append(item.name)
        staged["out"].write_text(item.name)

    return work


def test_no_output_is_in_place_before_the_whole_batch_is_done_and_a_rerun_redoes_only_the_unfinished(
    tmp_path,
):
    log = []
    with pytest.raises(RuntimeError, match="killed"):
        batch.run_batch(_items(tmp_path), _work(log, fail="run1"))
    assert log == ["run0"] and not [p for p in tmp_path.rglob("out.txt") if p.parent.name != "keep"]
    assert batch.finished(_items(tmp_path)[0]) and not batch.finished(_items(tmp_path)[1])
    assert batch.run_batch(_items(tmp_path), _work(log)) == ["run1", "run2"]
    assert [(tmp_path / f"run{i}" / "out.txt").read_text() for i in range(3)] == ["run0", "run1", "run2"]
    assert not list(tmp_path.rglob("keep"))


def test_a_finished_run_of_other_settings_or_code_is_done_again(tmp_path):
    log = []
    with pytest.raises(RuntimeError):
        batch.run_batch(_items(tmp_path), _work(log, fail="run2"))
    assert batch.run_batch(_items(tmp_path, fingerprint="b"), _work(log)) == ["run0", "run1", "run2"]


def test_the_runs_of_a_batch_need_their_own_keep_folders(tmp_path):
    items = _items(tmp_path)
    with pytest.raises(ValueError, match="own names and keep folders"):
        batch.run_batch([items[0], items[0]], _work([]))


# --- the plan -------------------------------------------------------------------------------------------


def test_the_shipped_study_plans_one_training_and_one_evaluation_job_per_batched_model(tmp_path):
    config = validate_config(yaml.safe_load((REPO / "config" / "config.yaml").read_text()), SCHEMA)
    pairs = {}
    for run in plan(config):
        spec = kind(config["datasets"][run.dataset]["kind"])
        if spec.batch_seeds:
            pairs.setdefault(run.dataset, set()).add(run.model)
    assert set(pairs) == {"normal_1d", "factor_model", "toy_manifold"}
    command = snakemake_command(
        tmp_path, "-n", "--quiet", "rules", "--configfile", str(REPO / "config" / "config.yaml")
    )
    proc = subprocess.run(command, capture_output=True, text=True, timeout=600, check=True)
    jobs = planned_jobs(proc)
    unbatched = sum(
        1 for run in plan(config) if not kind(config["datasets"][run.dataset]["kind"]).batch_seeds
    )
    assert jobs["train_model"] == unbatched
    for dataset, models in pairs.items():
        assert jobs[f"train_models_{dataset}"] == len(models)
        for evaluation in kind(config["datasets"][dataset]["kind"]).run_evaluations:
            assert jobs[f"evaluate_{evaluation}_{dataset}"] == len(models)
            assert f"evaluate_{evaluation}" not in jobs


def test_models_of_one_dataset_with_other_seed_lists_get_a_rule_each_and_match_only_their_pairs(tmp_path):
    """A rule's outputs are fixed, so a dataset whose models train with other seed lists gets one batch rule
    per list (`<dataset>_<k>`), each matching its own (dataset, model) pairs; a heatmap run beside them
    still trains in `train_model`."""
    from .conftest import TINY_CONFIG
    from .test_studies import STUDIES_CONFIG

    vae_1d = STUDIES_CONFIG["models"]["vae_1d"]
    study = {
        "seed": 3,
        "datasets": {"normal": {"kind": "normal_1d"}, "tiny_gauss": TINY_CONFIG["datasets"]["tiny_gauss"]},
        "models": {"one": vae_1d, "two": vae_1d, "ae": TINY_CONFIG["models"]["ae"]},
        "studies": {
            "a": {"datasets": ["normal"], "models": ["one"], "seeds": [1, 2]},
            "b": {"datasets": ["normal"], "models": ["two"], "seeds": [3]},
            "c": {"datasets": ["tiny_gauss"], "models": ["ae"], "seeds": [7]},
        },
    }
    config_file = tmp_path / "study.yaml"
    config_file.write_text(yaml.safe_dump(study))
    command = snakemake_command(tmp_path, "-n", "--configfile", str(config_file))
    proc = subprocess.run(command, capture_output=True, text=True, timeout=600, check=True)
    jobs = planned_jobs(proc)
    assert jobs["train_models_normal_1"] == jobs["train_models_normal_2"] == jobs["train_model"] == 1
    assert jobs["evaluate_generation_normal_1"] == jobs["evaluate_generation_normal_2"] == 1
    assert "results/models/normal/two/seed3/model.keras" in proc.stdout
    assert "results/models/normal/two/seed1/model.keras" not in proc.stdout
