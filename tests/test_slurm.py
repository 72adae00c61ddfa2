"""The study on a one-node SLURM cluster, submitted through profiles/slurm by snakemake-executor-plugin-slurm.

The module's fixture starts munged, slurmctld and slurmd with tests/slurm/start_cluster.sh (which installs
slurm-wlm and munge with apt-get when they are missing: root on Debian), with one fake GPU and no accounting
database, and stops them again however the tests end.
"""

import copy
import os
import re
import shutil
import subprocess
import threading

import pytest
import yaml

from .conftest import REPO, TINY_CONFIG, snakemake_command
from .test_studies import STUDIES_CONFIG

pytestmark = pytest.mark.slurm

START_CLUSTER = REPO / "tests" / "slurm" / "start_cluster.sh"
PROFILE = REPO / "profiles" / "slurm"
PARTITION = "main"  # the one partition start_cluster.sh makes

# What this cluster needs on top of profiles/slurm, as a second profile: its partition; `squeue` for job
# states, as it has no slurmdbd (and so no `sacct`); a first status check 2 s after submission, for jobs of
# seconds; the logs of successful jobs kept. Training keeps its 2 threads (checked below as 2 CPUs); the other
# rules that ask for 2 get 1, so that two of them share the 2-CPU node.
LOCAL_CLUSTER = {
    "slurm-status-command": "squeue",
    "slurm-init-seconds-before-status-checks": 2,
    "slurm-keep-successful-logs": True,
    "latency-wait": 5,
    "default-resources": {"slurm_partition": PARTITION, "mem_mb": 1000, "runtime": 30},
    "set-threads": {"build_dataset": 1, "encode_dataset": 1, "evaluate_probes": 1, "evaluate_scores": 1},
}

# The tiny study with one dataset (the Student-t one: it has the extra probe) and both models: every rule,
# at half the jobs, since each SLURM job costs seconds of start-up and status polling.
SLURM_STUDY = copy.deepcopy(TINY_CONFIG)
del SLURM_STUDY["datasets"]["tiny_gauss"]
# Beside it, a kind with `batch_seeds`: one job trains both replicates of its model, one evaluates them.
SLURM_STUDY["datasets"]["normal"] = {"kind": "normal_1d"}
SLURM_STUDY["models"]["vae_1d"] = {**STUDIES_CONFIG["models"]["vae_1d"], "epochs": 2}
SLURM_STUDY["studies"] = {
    "heatmaps": {"datasets": ["tiny_t"], "models": ["ae", "vae"], "expected": "heatmaps"},
    "normal_1d": {"datasets": ["normal"], "models": ["vae_1d"], "seeds": [1, 2]},
}
HEATMAP_MODELS = SLURM_STUDY["studies"]["heatmaps"]["models"]

SUBMITTED = re.compile(r"Job \d+ has been submitted with SLURM jobid (\d+) \(log: .*/rule_(\w+?)/")


def retries_in_profile() -> int:
    return yaml.safe_load((PROFILE / "config.yaml").read_text())["retries"]


def run(cmd, timeout=60, **kwargs):
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, **kwargs)


@pytest.fixture(scope="module")
def slurm_cluster(tmp_path_factory):
    """A running one-node cluster (partition `main`, 1 fake GPU); its daemons are stopped afterwards."""
    pytest.importorskip("snakemake_executor_plugin_slurm")
    if os.geteuid() != 0:
        pytest.skip("starting a SLURM cluster needs root")
    if shutil.which("slurmctld") is None and shutil.which("apt-get") is None:
        pytest.skip("no SLURM and no apt-get to install it")
    base = tmp_path_factory.mktemp("slurm")
    env = {**os.environ, "SLURM_BASE": str(base), "WITH_DBD": "0", "FAKE_GPUS": "1"}
    try:
        proc = run(["bash", str(START_CLUSTER)], env=env, timeout=900)
        if proc.returncode != 0:
            pytest.fail(f"the SLURM cluster did not start:\n{proc.stdout}\n{proc.stderr}")
        yield base
    finally:
        # Cancel what a failed test may have left queued or running, then stop the daemons.
        jobs = run(["squeue", "-h", "-o", "%i"]).stdout.split() if shutil.which("squeue") else []
        if jobs:
            run(["scancel", *jobs])
        run(["bash", str(START_CLUSTER), "stop"], env=env, timeout=120)


class SqueueRecorder(threading.Thread):
    """Every job the controller knows (`squeue -t all` keeps ended jobs MinJobAge = 300 s), polled every 2 s
    while Snakemake runs: job id -> (state, CPUs, TRES per job, comment)."""

    FORMAT = "JobID:20,State:20,NumCPUs:8,tres-per-job:60,Comment:400"

    def __init__(self):
        super().__init__(daemon=True)
        self.jobs: dict[str, tuple[str, str, str, str]] = {}
        self.done = threading.Event()

    def snapshot(self):
        proc = run(["squeue", "-t", "all", "-h", "-O", self.FORMAT], timeout=30)
        for line in proc.stdout.splitlines():
            fields = line.split(None, 4)
            if len(fields) == 5:
                self.jobs[fields[0]] = tuple(fields[1:])

    def run(self):
        while not self.done.wait(2):
            self.snapshot()

    def stop(self):
        self.done.set()
        self.join()
        self.snapshot()


def snakemake_on_slurm(snakefile, workdir, override_dir, *args, timeout=1500):
    """Run Snakemake through profiles/slurm plus the local cluster's profile; its log goes to a file."""
    override_dir.mkdir(exist_ok=True)
    (override_dir / "config.yaml").write_text(yaml.safe_dump(LOCAL_CLUSTER))
    cmd = snakemake_command(
        workdir,
        *("--profile", str(PROFILE), "--profile", str(override_dir), "--workflow-profile", "none", *args),
        snakefile=snakefile,
    )
    log = workdir / "snakemake.log"
    recorder = SqueueRecorder()
    recorder.start()
    with open(log, "w") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, text=True)
        try:
            returncode = proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.terminate()  # Snakemake cancels its SLURM jobs on SIGTERM
            try:
                proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                proc.kill()
            raise
        finally:
            recorder.stop()
    return returncode, log.read_text(), recorder.jobs


def dry_run(snakefile, workdir, *args):
    proc = run(
        snakemake_command(
            workdir, "--workflow-profile", "none", "--cores", "1", "--dry-run", *args, snakefile=snakefile
        ),
        timeout=300,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc.stdout + proc.stderr


def test_the_tiny_study_runs_on_slurm_with_a_gpu_for_training(slurm_cluster, tmp_path):
    config_file = tmp_path / "tiny.yaml"
    config_file.write_text(yaml.safe_dump(SLURM_STUDY))
    workdir = tmp_path / "study"
    workdir.mkdir()
    returncode, log, jobs = snakemake_on_slurm(
        REPO / "Snakefile", workdir, tmp_path / "local_cluster", "--configfile", str(config_file)
    )
    assert returncode == 0, log

    # Every job but the target rule `all` went through sbatch, once.
    submitted = SUBMITTED.findall(log)
    planned = int(re.search(r"^total\s+(\d+)$", log, re.M)[1])
    assert len(submitted) == planned - 1, log
    assert re.search(r"^all\s+1$", log, re.M)
    # SLURM's own record of each request: training asked for a GPU and 2 CPUs (its `threads`), as did
    # nothing that does not declare `gpu`.
    by_rule: dict[str, list[tuple[str, str, str, str]]] = {}
    for jobid, rule in submitted:
        assert jobid in jobs, (jobid, rule, jobs)
        by_rule.setdefault(rule, []).append(jobs[jobid])
    assert len(by_rule["train_model"]) == len(HEATMAP_MODELS)
    for state, cpus, tres, comment in by_rule["train_model"]:
        assert state == "COMPLETED" and comment.startswith("rule_train_model_wildcards_tiny_t_")
        assert tres == "gres:gpu:1" and cpus == "2", (state, cpus, tres, comment)
    # The batch is a job like any other: one training job for both seeds, with a GPU like train_model's.
    assert len(by_rule["train_models_normal"]) == len(by_rule["evaluate_generation_normal"]) == 1
    for state, cpus, tres, _ in by_rule["train_models_normal"] + by_rule["evaluate_generation_normal"]:
        assert state == "COMPLETED" and tres == "gres:gpu:1", (state, cpus, tres)
    assert by_rule["train_models_normal"][0][1] == "1"  # the small kind's `train_threads`
    for rule in ("build_dataset", "evaluate_probes", "aggregate_metrics"):
        for state, cpus, tres, _ in by_rule[rule]:
            assert state == "COMPLETED" and "gpu" not in tres and cpus == "1", (rule, cpus, tres)
    # The job logs were kept: each training job's log shows the job step that ran the rule.
    train_logs = re.findall(r"\(log: (\S+/rule_train_model/\S+?\.log)\)", log)
    assert len(train_logs) == len(HEATMAP_MODELS)
    for train_log in train_logs:
        assert "rule train_model:" in open(train_log).read()

    # Every final output exists and is up to date: a second look finds nothing to do.
    for path in (
        "results/figures/tiny_t/sample_heatmaps.png",
        "results/figures/tiny_t/reconstruction_errors_seed7.png",
        "results/metrics/summary.tsv",
        "results/metrics/comparison_with_sources.tsv",
        "results/latents/tiny_t/vae/seed7.h5",
    ):
        assert (workdir / path).stat().st_size > 0, path
    assert "Nothing to be done" in dry_run(REPO / "Snakefile", workdir, "--configfile", str(config_file))


FLAKY_WORKFLOW = """
rule all:
    input:
        "flaky.txt",
        "broken.txt",


# Fails on its first attempt, after writing part of its output.
rule flaky:
    output:
        "flaky.txt",
    resources:
        attempt=lambda wildcards, attempt: attempt,
    shell:
        "echo {resources.attempt} >> flaky.attempts; "
        "echo 'partial output of attempt {resources.attempt}' >> {output}; "
        "if [ {resources.attempt} -lt 2 ]; then exit 1; fi; "
        "echo complete >> {output}"


# Fails on every attempt, after writing part of its output.
rule broken:
    output:
        "broken.txt",
    resources:
        attempt=lambda wildcards, attempt: attempt,
    shell:
        "echo {resources.attempt} >> broken.attempts; echo partial > {output}; exit 1"
"""


def test_a_failed_job_is_retried_and_leaves_no_partial_output(slurm_cluster, tmp_path):
    snakefile = tmp_path / "Snakefile"
    snakefile.write_text(FLAKY_WORKFLOW)
    workdir = tmp_path / "work"
    workdir.mkdir()
    returncode, log, jobs = snakemake_on_slurm(snakefile, workdir, tmp_path / "local_cluster", "--keep-going")
    attempts = retries_in_profile() + 1

    assert returncode != 0, log  # `broken` never succeeds
    # `flaky` failed once on the cluster, was submitted again, and its output holds the second attempt only:
    # the first attempt's partial file was deleted, not appended to.
    assert (workdir / "flaky.attempts").read_text().split() == ["1", "2"]
    assert (workdir / "flaky.txt").read_text() == "partial output of attempt 2\ncomplete\n"
    # `broken` was tried as often as the profile allows, each time as a new SLURM job that SLURM saw fail,
    # and left no output behind.
    assert (workdir / "broken.attempts").read_text().split() == [str(i) for i in range(1, attempts + 1)]
    assert not (workdir / "broken.txt").exists()
    submitted = SUBMITTED.findall(log)
    assert sorted(rule for _, rule in submitted) == ["broken"] * attempts + ["flaky"] * 2, log
    states = sorted(jobs[jobid][0] for jobid, _ in submitted)
    assert states == ["COMPLETED"] + ["FAILED"] * (attempts + 1), jobs
    # A rerun trusts the finished output and rebuilds only the failed one.
    plan = dry_run(snakefile, workdir)
    assert re.search(r"^broken\s+1$", plan, re.M) and not re.search(r"^flaky\s", plan, re.M), plan
