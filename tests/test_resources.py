"""What jobs ask Snakemake for: a GPU only where jobs can get one, and the trainings' threads per kind."""

import re

import pytest
import yaml

from vae_latent_study import resources
from vae_latent_study.kinds.registry import kind

from .conftest import run_snakemake
from .test_studies import STUDIES_CONFIG


@pytest.fixture
def no_override(monkeypatch):
    monkeypatch.delenv(resources.GPU_ENV, raising=False)
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)


def test_a_machine_without_a_gpu_declares_none_a_cluster_or_a_gpu_box_one(tmp_path, no_override, monkeypatch):
    assert resources.gpu_per_job(local_exec=True, dev=tmp_path) == 0
    assert resources.gpu_per_job(local_exec=False, dev=tmp_path) == 1  # each job asks SLURM for one
    (tmp_path / "nvidiactl").touch()  # the driver's control file is no GPU
    assert resources.gpu_per_job(local_exec=True, dev=tmp_path) == 0
    (tmp_path / "nvidia0").touch()
    assert resources.gpu_per_job(local_exec=True, dev=tmp_path) == 1
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")
    assert resources.gpu_per_job(local_exec=True, dev=tmp_path) == 0
    monkeypatch.setenv(resources.GPU_ENV, "1")
    assert resources.gpu_per_job(local_exec=True, dev=tmp_path) == 1
    monkeypatch.setenv(resources.GPU_ENV, "0")
    assert resources.gpu_per_job(local_exec=False, dev=tmp_path) == 0
    monkeypatch.setenv(resources.GPU_ENV, "yes")
    with pytest.raises(ValueError, match=resources.GPU_ENV):
        resources.gpu_per_job(local_exec=True, dev=tmp_path)


def test_job_resources_replace_only_the_gpu():
    declared = {"gpu": 1, "mem_mb": 4000}
    assert resources.job_resources(declared, 0) == {"gpu": 0, "mem_mb": 4000}
    assert resources.job_resources(declared, 1) == declared
    assert resources.job_resources({"mem_mb": 10}, 1) == {"mem_mb": 10}
    # The workflow passes a function of a job's wildcards: asked once Snakemake knows its executor.
    per_job = lambda wildcards: 1  # noqa: E731
    assert resources.job_resources(declared, per_job)["gpu"] is per_job
    assert resources.job_resources({"gpu": 0}, per_job) == {"gpu": 0}


def test_the_small_kinds_train_on_one_thread_the_others_on_two():
    assert {name: kind(name).train_threads for name in ("normal_1d", "factor_model", "toy_manifold")} == {
        "normal_1d": 1,
        "factor_model": 1,
        "toy_manifold": 1,
    }
    assert kind("heatmaps").train_threads == kind("images").train_threads == 2


@pytest.mark.parametrize("gpu_jobs", ["0", "1"])
def test_the_plan_gives_model_jobs_the_gpu_the_machine_has(tmp_path, gpu_jobs, monkeypatch):
    """A dry run: every job that loads a model declares `gpu=<VAE_STUDY_GPU_JOBS>` (0: scheduled by cores
    alone, the profile's `gpu: 1` limit then binds nothing), and no other job declares one."""
    monkeypatch.setenv(resources.GPU_ENV, gpu_jobs)
    config_file = tmp_path / "studies.yaml"
    config_file.write_text(yaml.safe_dump(STUDIES_CONFIG))
    proc = run_snakemake(tmp_path / "run", "--configfile", str(config_file), "-n", "--cores", "2")
    jobs = re.findall(r"^rule (\w+):\n(?:    .*\n)*?    resources: (.*)$", proc.stdout, re.M)
    gpu_rules = {rule for rule, res in jobs if "gpu=" in res}
    # The batched kinds' rules carry their dataset's name (`train_models_normal`, ...).
    assert {"train_model", "encode_dataset", "train_models_normal", "train_models_factors"} <= gpu_rules
    assert {"evaluate_generation_normal", "evaluate_recovery_factors"} <= gpu_rules
    assert "build_dataset" not in gpu_rules and "aggregate_metrics" not in gpu_rules
    for rule, res in jobs:
        if rule in gpu_rules:
            assert f"gpu={gpu_jobs}" in res, (rule, res)
