"""The Snakefile itself, run on the tiny config in a temporary directory."""

import copy
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time

import numpy as np
import pandas as pd
import pytest
import yaml

from vae_latent_study import datasets
from vae_latent_study.training import train

from .conftest import REPO, TINY_CONFIG, snakemake

pytestmark = pytest.mark.workflow


def planned_jobs(proc) -> dict[str, int]:
    """Job counts per rule from a dry run's job table."""
    return {m[1]: int(m[2]) for m in re.finditer(r"^(\w+)\s+(\d+)$", proc.stdout, re.M) if m[1] != "total"}


def planned_outputs(proc) -> set[str]:
    """Every output path of the jobs a dry run plans."""
    return {path for m in re.finditer(r"^\s+output: (.+)$", proc.stdout, re.M) for path in m[1].split(", ")}


def test_tiny_study_writes_every_dataset_and_figure(finished_run, tiny_config):
    workdir, _ = finished_run
    for name, ds_config in tiny_config["datasets"].items():
        path = workdir / "results" / "data" / f"{name}.h5"
        ds = datasets.read_dataset(path)
        assert ds.manifest["config"] == ds_config
        assert ds.manifest["checksum"]["sha256"] == ds.checksum()
        assert len(ds.train) + len(ds.test) == len(ds.images)
        assert (workdir / "results" / "figures" / name / "sample_heatmaps.png").stat().st_size > 10_000
        assert (workdir / "logs" / "build_dataset" / f"{name}.log").exists()
        assert (workdir / "benchmarks" / "build_dataset" / f"{name}.tsv").exists()
        for model in ("vae", "ae"):
            run = workdir / "results" / "models" / name / model / "seed7"
            assert (run / "model.keras").stat().st_size > 100_000
            assert len((run / "history.csv").read_text().strip().splitlines()) == 1 + 2  # header + epochs
            assert not (run / "backup").exists()
            assert (workdir / "results" / "latents" / name / model / "seed7.h5").exists()


def test_tiny_study_writes_every_metric_table(finished_run, tiny_config):
    workdir, _ = finished_run
    metrics = workdir / "results" / "metrics"
    tidy = pd.read_csv(metrics / "metrics.tsv", sep="\t")
    assert set(zip(tidy["dataset"], tidy["model"], strict=True)) == {
        (d, m) for d in tiny_config["datasets"] for m in tiny_config["models"]
    }
    assert set(tidy["seed"]) == {7}
    for metric in ("frobenius_sample.mean", "frobenius_mean.mean", "mig", "dci.disentanglement", "sap"):
        assert metric in set(tidy["metric"]), metric
    df_probe = tidy[(tidy["dataset"] == "tiny_t") & (tidy["metric"] == "knn_df.best.test_accuracy")]
    assert len(df_probe) == 2 and df_probe["value"].between(0, 1).all()
    assert not (tidy[tidy["dataset"] == "tiny_gauss"]["metric"].str.startswith("knn_df")).any()
    summary = pd.read_csv(metrics / "summary.tsv", sep="\t")
    assert {"mean", "ci_low", "ci_high", "n_seeds"} <= set(summary.columns)
    assert (summary["n_seeds"] == 1).all() and summary["ci_low"].isna().all()  # one seed: no interval
    paired = pd.read_csv(metrics / "paired_vae_vs_ae.tsv", sep="\t")
    assert set(paired["dataset"]) == set(tiny_config["datasets"])
    comparison = pd.read_csv(metrics / "comparison_with_sources.tsv", sep="\t")
    assert {"study", "expected_value", "ours_mean", "verdict"} <= set(comparison.columns)
    for name in tiny_config["datasets"]:
        assert (
            workdir / "results" / "figures" / name / "reconstruction_errors_seed7.png"
        ).stat().st_size > 5000
        per_image = pd.read_csv(
            workdir / "results" / "evaluation" / name / "vae" / "seed7" / "reconstruction.tsv", sep="\t"
        )
        assert len(per_image) == len(datasets.read_dataset(workdir / "results" / "data" / f"{name}.h5").test)


def test_tiny_study_writes_the_report(finished_run, tiny_config):
    workdir, _ = finished_run
    for name in tiny_config["datasets"]:
        assert (workdir / "results" / "figures" / name / "training_curves_seed7.png").stat().st_size > 5000
        for model in tiny_config["models"]:
            run = workdir / "results" / "figures" / name / model / "seed7"
            for figure in ("projections", "latent_3d", "reconstructions", "trajectories", "traversals"):
                assert (run / f"{figure}.png").stat().st_size > 5000, (run, figure)
            assert (run / "empty_regions.png").exists() and (run / "latent_3d.html").exists()
    report = workdir / "results" / "report" / "report.html"
    assert report.stat().st_size > 1_000_000  # plotly.js and the figures are inside
    assert "Answers" in report.read_text(encoding="utf-8")


def test_workflow_output_equals_the_package(finished_run, tiny_config):
    workdir, _ = finished_run
    built = datasets.build_dataset("tiny_gauss", tiny_config["datasets"]["tiny_gauss"])
    stored = datasets.read_dataset(workdir / "results" / "data" / "tiny_gauss.h5")
    np.testing.assert_array_equal(stored.images, built.images)


TF_NOISE = ("oneDNN custom operations", "cpu_feature_guard", "absl::InitializeLog")


def test_the_console_shows_each_epoch_and_no_tensorflow_start_up(finished_run, tiny_config):
    workdir, _ = finished_run
    console = (workdir.parent / f"{workdir.name}.console.txt").read_text()
    assert not [noise for noise in TF_NOISE if noise in console]
    for name in tiny_config["datasets"]:
        for model, settings in tiny_config["models"].items():
            job = f"train_model {name}/{model}/seed7"
            epochs = settings["epochs"]
            lines = re.findall(rf"^{job}: epoch (\d+)/{epochs} loss .+ val .+, done.*$", console, re.M)
            assert lines == [str(e) for e in range(1, epochs + 1)], console
            log = (workdir / "logs" / "train_model" / name / model / "seed7.log").read_text()
            assert [noise for noise in TF_NOISE if noise in log]  # TensorFlow's lines went to the log
            assert len(re.findall(rf"epoch \d+/{epochs}: loss .*, val_loss ", log)) == epochs


def test_a_damaged_dataset_fails_its_job_naming_the_file(finished_run, tmp_path):
    finished, config_file = finished_run
    study = tmp_path / "study"
    shutil.copytree(finished, study, symlinks=True)
    config = study / config_file.relative_to(finished)
    dataset = study / "results" / "data" / "tiny_gauss.h5"
    stat, data = dataset.stat(), dataset.read_bytes()
    dataset.write_bytes(data[: len(data) // 2])
    os.utime(dataset, ns=(stat.st_atime_ns, stat.st_mtime_ns))  # damaged, not edited: nothing else reruns
    store = study / "results" / "latents" / "tiny_gauss" / "vae" / "seed7.h5"

    def files():
        return {p: p.stat().st_mtime_ns for p in (study / "results").rglob("*") if p.is_file()}

    before = files()
    del before[store]
    old_store = store.read_bytes()

    proc = snakemake(study, config, str(store.relative_to(study)), "--force", check=False)
    assert proc.returncode != 0
    advice = "snakemake --cores <N> --forcerun results/data/tiny_gauss.h5"
    log = (study / "logs" / "encode_dataset" / "tiny_gauss" / "vae" / "seed7.log").read_text()
    for text in (log, proc.stderr):
        assert "cannot read results/data/tiny_gauss.h5: OSError: " in text and "truncated file" in text
        assert advice in text
    assert "encode_dataset tiny_gauss/vae/seed7 failed: ProjectFileError" in proc.stderr
    assert not store.exists() or store.read_bytes() == old_store  # Snakemake removes a failed job's output
    after = files()
    after.pop(store, None)
    assert after == before  # no file new or rewritten

    # The advice rebuilds the dataset and what depends on it, nothing else.
    plan = snakemake(study, config, "--forcerun", "results/data/tiny_gauss.h5", "--dry-run")
    outputs = planned_outputs(plan)
    assert "results/data/tiny_gauss.h5" in outputs and str(store.relative_to(study)) in outputs
    assert not [path for path in outputs if "tiny_t" in path]


def test_second_run_has_nothing_to_do(finished_run):
    workdir, config_file = finished_run
    proc = snakemake(workdir, config_file, "--dry-run")
    assert "Nothing to be done" in proc.stdout + proc.stderr


def test_changing_one_dataset_reruns_only_that_dataset(finished_run, tmp_path):
    workdir, _ = finished_run
    changed = copy.deepcopy(TINY_CONFIG)
    changed["datasets"]["tiny_t"]["df_rule"]["seed"] = 5
    config_file = tmp_path / "changed.yaml"
    config_file.write_text(yaml.safe_dump(changed))
    proc = snakemake(workdir, config_file, "--dry-run")
    per_model = {
        "train_model",
        "encode_dataset",
        "evaluate_reconstruction",
        "evaluate_probes",
        "evaluate_scores",
    }
    assert planned_jobs(proc) == {
        "all": 1,
        "build_dataset": 1,
        "plot_sample_heatmaps": 1,
        **{rule: 2 for rule in per_model},
        "plot_reconstruction_errors": 1,
        "aggregate_metrics": 1,
        "compare_with_sources": 1,
        "explore_latents": 2,
        "plot_training_curves": 1,
        "build_report": 1,
    }
    outputs = planned_outputs(proc)
    assert "results/data/tiny_t.h5" in outputs
    assert not [path for path in outputs if "tiny_gauss" in path]


def test_changing_one_model_retrains_only_that_model(finished_run, tmp_path):
    workdir, _ = finished_run
    changed = copy.deepcopy(TINY_CONFIG)
    changed["models"]["ae"]["batch_size"] = 8
    config_file = tmp_path / "changed.yaml"
    config_file.write_text(yaml.safe_dump(changed))
    proc = snakemake(workdir, config_file, "--dry-run")
    per_model = {
        "train_model",
        "encode_dataset",
        "evaluate_reconstruction",
        "evaluate_probes",
        "evaluate_scores",
    }
    assert planned_jobs(proc) == {
        "all": 1,
        **{rule: 2 for rule in per_model},
        "plot_reconstruction_errors": 2,
        "aggregate_metrics": 1,
        "compare_with_sources": 1,
        "explore_latents": 2,  # the AE's on each dataset; the VAE's figures stay
        "plot_training_curves": 2,
        "build_report": 1,
    }
    outputs = planned_outputs(proc)
    assert "results/models/tiny_t/ae/seed7/model.keras" in outputs
    assert not [path for path in outputs if "/vae/" in path or "results/data" in path]
    assert "results/metrics/summary.tsv" in outputs


def _dry_run_from_the_checkout(*args):
    """A dry run of the whole plan, from the repository root as a user types it (so that
    config/config.yaml is there); --forceall plans every job whatever results/ holds."""
    cmd = [sys.executable, "-m", "snakemake", "--dry-run", "--forceall", "--cores", "2", *args]
    proc = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return planned_outputs(proc)


def test_a_configfile_is_the_whole_study(tmp_path):
    shipped = _dry_run_from_the_checkout()
    assert {"results/data/gaussian.h5", "results/data/student_t.h5"} <= shipped

    mine = {
        "datasets": {"small": TINY_CONFIG["datasets"]["tiny_gauss"]},
        "models": {"ae": TINY_CONFIG["models"]["ae"]},
    }
    config_file = tmp_path / "my.yaml"
    config_file.write_text(yaml.safe_dump(mine))
    outputs = _dry_run_from_the_checkout("--configfile", str(config_file))
    assert {p for p in outputs if p.startswith("results/data/")} == {"results/data/small.h5"}
    assert "results/models/small/ae/seed19/model.keras" in outputs
    assert not [p for p in outputs if "gaussian" in p or "student_t" in p or "/vae/" in p]


@pytest.mark.parametrize(
    ("path", "value", "key"),
    [
        (("datasets", "tiny_gauss", "grid", "var_x", "start"), -1.0, "datasets.tiny_gauss.grid.var_x.start"),
        (("datasets", "tiny_t", "family"), "cauchy", "datasets.tiny_t.family"),
        (("datasets", "tiny_t", "grid", "cor", "stop"), 1.5, "datasets.tiny_t.grid.cor"),
    ],
)
def test_bad_config_fails_before_any_job(tmp_path, path, value, key):
    bad = copy.deepcopy(TINY_CONFIG)
    node = bad
    for part in path[:-1]:
        node = node[part]
    node[path[-1]] = value
    config_file = tmp_path / "bad.yaml"
    config_file.write_text(yaml.safe_dump(bad))
    proc = snakemake(tmp_path, config_file, check=False)
    assert proc.returncode != 0
    assert key in proc.stdout + proc.stderr
    assert not (tmp_path / "results").exists()
    assert not (tmp_path / "logs").exists()


def test_a_killed_writer_leaves_no_file(tmp_path):
    target = tmp_path / "data.h5"
    code = (
        "import os, signal\n"
        "from vae_latent_study.io import atomic_path\n"
        f"with atomic_path({str(target)!r}) as tmp:\n"
        "    tmp.write_bytes(b'x' * 1000)\n"
        "    os.kill(os.getpid(), signal.SIGKILL)\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], timeout=60)
    assert proc.returncode == -9
    assert not target.exists()


def test_lint_is_clean():
    proc = subprocess.run(
        [sys.executable, "-m", "snakemake", "--lint"], cwd=REPO, capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "Congratulations" in proc.stdout + proc.stderr


def test_snakefmt_is_clean():
    proc = subprocess.run(
        [sys.executable, "-m", "snakefmt", "--check", "."],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ},
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_ruff_is_clean():
    proc = subprocess.run(
        [sys.executable, "-m", "ruff", "check", "src", "tests", "workflow/scripts", "bench"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


def _weights(model_file):
    """Every weight array of a `.keras` archive, by its path in the archive's weights file."""
    import io
    import zipfile

    import h5py

    with (
        zipfile.ZipFile(model_file) as archive,
        h5py.File(io.BytesIO(archive.read("model.weights.h5"))) as h5,
    ):
        arrays = {}
        h5.visititems(lambda name, node: arrays.update({name: node[()]}) if hasattr(node, "shape") else None)
        return arrays


def test_after_snakemake_itself_is_killed_unlock_then_the_same_command_resumes(tmp_path):
    """README, Failures: a SIGKILL of the whole Snakemake process group mid-training leaves Snakemake's lock;
    `snakemake --unlock`, then the same command, resumes the training and ends with the weights of a run that
    was never interrupted. While a run is alive the lock refuses a second one in the same directory."""
    study = {
        "datasets": {"tiny_gauss": TINY_CONFIG["datasets"]["tiny_gauss"]},
        # Enough epochs that the kill lands mid-training.
        "models": {"vae": {"kind": "vae", "epochs": 120, "batch_size": 16}},
        "training": {"seeds": [7]},
    }
    target = "results/models/tiny_gauss/vae/seed7/model.keras"
    runs = {}
    for name in ("uninterrupted", "killed"):
        runs[name] = tmp_path / name
        runs[name].mkdir()
        (runs[name] / "study.yaml").write_text(yaml.safe_dump(study))
    command = ["--configfile", "study.yaml", "--cores", "2", target]
    snakemake(runs["uninterrupted"], runs["uninterrupted"] / "study.yaml", target)

    killed = runs["killed"]
    backup = killed / "results/models/tiny_gauss/vae/seed7/backup/history.json"
    cmd = [
        sys.executable,
        "-m",
        "snakemake",
        "-s",
        str(REPO / "Snakefile"),
        "--directory",
        str(killed),
        *command,
    ]
    # Back up every epoch: the default cadence (30 s) is longer than this whole training.
    env = {**os.environ, train.CHECKPOINT_ENV: "0"}
    proc = subprocess.Popen(
        cmd, cwd=killed, start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env
    )
    try:
        deadline = time.monotonic() + 600
        while not (backup.exists() and len(json.loads(backup.read_text() or "[]")) >= 3):
            assert proc.poll() is None, "the run ended before it could be killed"
            assert time.monotonic() < deadline, "training did not start"
            time.sleep(0.05)
        second = subprocess.run(cmd, cwd=killed, capture_output=True, text=True, timeout=600)
        assert second.returncode != 0 and "cannot be locked" in second.stdout + second.stderr
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    assert not (killed / target).exists()

    refused = subprocess.run(cmd, cwd=killed, capture_output=True, text=True, timeout=600)
    assert refused.returncode != 0 and "cannot be locked" in refused.stdout + refused.stderr
    unlock = [sys.executable, "-m", "snakemake", "-s", str(REPO / "Snakefile"), "--directory", str(killed)]
    subprocess.run([*unlock, "--configfile", "study.yaml", "--unlock"], cwd=killed, check=True, timeout=600)
    resumed = subprocess.run(cmd, cwd=killed, capture_output=True, text=True, timeout=900)
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr

    sidecar = json.loads((killed / target).with_suffix(".json").read_text())
    assert sidecar["resumed_after_epoch"] >= 3
    expected, got = _weights(runs["uninterrupted"] / target), _weights(killed / target)
    assert expected.keys() == got.keys() and expected
    for name, array in expected.items():
        np.testing.assert_array_equal(got[name], array, err_msg=name)
