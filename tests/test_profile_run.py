"""bench/profile_run.py on synthetic finished-study directories with known numbers (no Snakemake, no
TensorFlow): the totals, the sums per rule and per study, the slowest jobs, process start, the wall time."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from datetime import datetime
from pathlib import Path

import pytest
import yaml

from tests.conftest import TINY_CONFIG

REPO = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location("profile_run", REPO / "bench" / "profile_run.py")
profile_run = sys.modules["profile_run"] = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(profile_run)

HEADER = "s\th:m:s\tmax_rss\tmax_vms\tmax_uss\tmax_pss\tio_in\tio_out\tmean_load\tcpu_time\n"
T0 = datetime(2026, 12, 6, 12, 0, 0).timestamp()  # local time, as the logs' asctime


def bench(study: Path, name: str, wall: float, cpu: float, end: float | None = None) -> Path:
    """A benchmark TSV for job `name` (`rule/wildcards`), its modification time the job's end."""
    path = study / "benchmarks" / f"{name}.tsv"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(HEADER + f"{wall:.2f}\t0:00:00\t100.0\t200.0\t90.0\t95.0\t0.1\t0.2\t50.0\t{cpu:.2f}\n")
    if end is not None:
        os.utime(path, (end, end))
    return path


def stamp(t: float) -> str:
    return datetime.fromtimestamp(t).strftime("%Y-%m-%d %H:%M:%S,%f")[:-3]


def log(study: Path, name: str, lines: list[tuple[float, str]]) -> None:
    """A job log: TensorFlow's start-up lines, then `(time, 'logger message')` lines in LOG_FORMAT."""
    path = study / "logs" / f"{name}.log"
    path.parent.mkdir(parents=True, exist_ok=True)
    text = "WARNING: All log messages before absl::InitializeLog() is called are written to STDERR\n"
    text += "I0000 00:00:1796591205.204450    4847 port.cc:153] oneDNN custom operations are on.\n"
    text += "".join(f"{stamp(t)} {message}\n" for t, message in lines)
    path.write_text(text)


@pytest.fixture
def study(tmp_path):
    """A finished run: 2 trainings (one with logs, sidecar and history), 12 probes, a dataset, the report."""
    root = tmp_path / "study"
    # train_model tiny_gauss/vae/seed7: 100 s from T0, first package line at +6 s (a matplotlib line before
    # it is not the package's), last line 2 s before the end.
    end = T0 + 100
    bench(root, "train_model/tiny_gauss/vae/seed7", 100.0, 150.0, end)
    log(
        root,
        "train_model/tiny_gauss/vae/seed7",
        [
            (T0 + 4, "matplotlib.font_manager generated new fontManager"),
            (T0 + 6, "vae_latent_study.training.train training a vae"),
            (T0 + 50, "vae_latent_study.training.callbacks epoch 1/4"),
            (T0 + 98, "vae_latent_study.training.train wrote the model"),
        ],
    )
    run_dir = root / "results" / "models" / "tiny_gauss" / "vae" / "seed7"
    run_dir.mkdir(parents=True)
    (run_dir / "model.json").write_text(json.dumps({"seconds_this_run": 90.0, "history": "history.csv"}))
    (run_dir / "history.csv").write_text(
        "epoch,loss,seconds\n1,1.0,30.0\n2,0.9,15.0\n3,0.8,14.0\n4,0.7,16.0\n"
    )
    # train_model tiny_gauss/ae/seed7: sidecar only, no log, no history.
    bench(root, "train_model/tiny_gauss/ae/seed7", 60.0, 70.0, T0 + 200)
    ae_dir = root / "results" / "models" / "tiny_gauss" / "ae" / "seed7"
    ae_dir.mkdir(parents=True)
    (ae_dir / "model.json").write_text(json.dumps({"seconds_this_run": 52.5}))
    # 12 probes, walls 10..21 s, CPU = wall - 1; seeds 1..12 of tiny_t/vae.
    for i in range(12):
        bench(root, f"probe_latents/tiny_t/vae/seed{i + 1}", 10.0 + i, 9.0 + i, T0 + 300 + 30 * i)
    # build_dataset tiny_gauss: 3 s, its log starts at +1 s and ends at the end.
    bench(root, "build_dataset/tiny_gauss", 3.0, 2.0, T0 + 703)
    log(
        root,
        "build_dataset/tiny_gauss",
        [(T0 + 701, "vae_latent_study.kinds.heatmaps.data drew"), (T0 + 703, "x.y done")],
    )
    # build_report: its log lies outside the benchmark's span (files copied later): no start for it.
    bench(root, "build_report", 5.0, 4.0, T0 + 10_000)
    log(root, "build_report", [(T0, "vae_latent_study.report.page wrote")])
    return root


def test_totals_rules_slowest_and_start(study):
    data = profile_run.summary(profile_run.profile(study))
    probes_wall = sum(10.0 + i for i in range(12))
    assert data["jobs"] == 16
    assert data["jobs_wall_s"] == pytest.approx(100 + 60 + probes_wall + 3 + 5)
    assert data["cpu_s"] == pytest.approx(150 + 70 + (probes_wall - 12) + 2 + 4)

    by_rule = {r["name"]: r for r in data["by_rule"]}
    assert by_rule["train_model"]["jobs"] == 2
    assert by_rule["train_model"]["cpu_s"] == pytest.approx(220.0)
    assert by_rule["probe_latents"]["wall_s"] == pytest.approx(probes_wall)
    assert by_rule["train_model"]["cpu_share"] == pytest.approx(220.0 / data["cpu_s"])
    assert [r["name"] for r in data["by_rule"]][:2] == [
        "train_model",
        "probe_latents",
    ]  # by CPU, largest first
    # Without a config, jobs group by dataset; the report is the whole run's.
    by_group = {r["name"]: r for r in data["by_group"]}
    assert set(by_group) == {"tiny_gauss", "tiny_t", "(run)"}
    assert by_group["tiny_gauss"]["cpu_s"] == pytest.approx(150 + 70 + 2)

    slowest = [r["job"] for r in data["slowest"]]
    assert len(slowest) == 10
    assert slowest[:3] == [
        "train_model tiny_gauss/vae/seed7",
        "train_model tiny_gauss/ae/seed7",
        "probe_latents tiny_t/vae/seed12",
    ]
    assert [r["wall_s"] for r in data["slowest"]] == sorted(
        (r["wall_s"] for r in data["slowest"]), reverse=True
    )
    assert slowest[-1] == "probe_latents tiny_t/vae/seed5"  # walls 21..14 after the two trainings

    # Start: training 6 s (not the matplotlib line's 4 s), build_dataset 1 s; build_report's log: out of span.
    start = data["start"]
    assert start["jobs_measured"] == 2
    assert start["wall_s"] == pytest.approx(7.0, abs=0.01)
    assert start["exit_wall_s"] == pytest.approx(2.0 + 0.0, abs=0.01)
    assert start["cpu_s"] == pytest.approx(7.0, abs=0.01)  # no `jobs` CPU line: wall on one core
    assert start["share_of_cpu"] == pytest.approx(7.0 / data["cpu_s"], rel=1e-3)
    assert start["share_of_timed_jobs_wall"] == pytest.approx(7.0 / 103.0, rel=1e-3)
    assert by_rule["train_model"]["start_s"] == pytest.approx(6.0, abs=0.01)
    assert by_rule["build_report"]["start_s"] is None
    assert any("outside their benchmark's times" in note for note in data["notes"])

    train = data["training"]
    assert train["in_train_model_s"] == pytest.approx(142.5)
    assert train["outside_train_model_s"] == pytest.approx(10.0 + 7.5)
    assert train["jobs_with_history"] == 1
    assert train["epochs"] == 4
    assert train["epochs_s"] == pytest.approx(75.0)
    assert train["around_epochs_s"] == pytest.approx(15.0)
    assert train["first_epoch_excess_s"] == pytest.approx(30.0 - 15.0)
    over = data["overhead"]
    assert over["cpu_s"] == pytest.approx(6 + 15 + 1, abs=0.01)  # starts and the time around the epochs
    assert over["share_of_cpu"] == pytest.approx(over["cpu_s"] / data["cpu_s"])

    # No Snakemake log or driver.log: the wall time comes from the files' times, first start to last end.
    assert data["run_wall_s"] == pytest.approx(10_000.0)
    assert "modification times" in data["run_wall_source"]


def test_start_cpu_is_at_most_the_jobs_cpu(tmp_path):
    # A job whose log says 8 s to its first line but that used 3 s of CPU: the start's CPU estimate is 3 s.
    bench(tmp_path, "encode_dataset/d/m/seed1", 10.0, 3.0, T0 + 10)
    log(tmp_path, "encode_dataset/d/m/seed1", [(T0 + 8, "vae_latent_study.evaluation.latents encoded")])
    data = profile_run.summary(profile_run.profile(tmp_path))
    assert data["start"]["wall_s"] == pytest.approx(8.0, abs=0.01)
    assert data["start"]["cpu_s"] == pytest.approx(3.0, abs=0.01)


def test_snakemake_log_wall_and_jobs_without_benchmark(study):
    snake = study / ".snakemake" / "log"
    snake.mkdir(parents=True)
    (snake / "2026-12-06T120000.000000.snakemake.log").write_text(
        "  Date: 2026-12-06 12:00:00\n"
        "[Sun Dec  6 12:00:01 2026]\nlocalrule evaluate_reconstruction:\n    jobid: 6\n"
        "[Sun Dec  6 12:00:13 2026]\nFinished jobid: 6 (Rule: evaluate_reconstruction)\n"
        "[Sun Dec  6 12:00:13 2026]\nrule train_model:\n    jobid: 8\n"
        "[Sun Dec  6 12:01:53 2026]\nFinished jobid: 8 (Rule: train_model)\n"
        "[Sun Dec  6 12:02:30 2026]\nFinished jobid: 0 (Rule: all)\n"
    )
    data = profile_run.summary(profile_run.profile(study))
    assert data["run_wall_s"] == pytest.approx(150.0)
    assert data["run_wall_source"].startswith("Snakemake's log")
    assert data["unbenchmarked"] == {"evaluate_reconstruction": {"jobs": 1, "wall_s": 12.0}}
    assert "evaluate_reconstruction 1 (12.0 s)" in profile_run.render(data)


def test_sum_of_runs_and_driver_log(study, tmp_path, capsys):
    other = tmp_path / "other"
    bench(other, "train_model/tiny_t/vae/seed7", 40.0, 55.0)
    (other / "driver.log").write_text("A start\nA rc=0 wall=300s\nB rc=0 wall=45s\n")
    assert profile_run.summary(profile_run.profile(other))["run_wall_s"] == pytest.approx(345.0)

    assert profile_run.main(["--sum", str(study), str(other), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["jobs"] == 17
    assert data["run_wall_s"] == pytest.approx(10_000.0 + 345.0)
    by_rule = {r["name"]: r for r in data["by_rule"]}
    assert by_rule["train_model"]["jobs"] == 3
    assert by_rule["train_model"]["cpu_s"] == pytest.approx(275.0)

    assert profile_run.main([str(study), "--top", "3"]) == 0
    text = capsys.readouterr().out
    assert "## The 3 slowest jobs" in text
    assert "| train_model | 2 | 160.0 | 220.0 |" in text
    with pytest.raises(SystemExit):
        profile_run.main([])


def test_studies_from_the_config(study, tmp_path):
    config = dict(TINY_CONFIG)
    config["studies"] = {
        "a": {"datasets": ["tiny_gauss"], "models": ["vae", "ae"]},
        "b": {"datasets": ["tiny_gauss", "tiny_t"], "models": ["vae"]},
    }
    config_file = tmp_path / "studies.yaml"
    config_file.write_text(yaml.safe_dump(config))
    jobs = {j.name: j.group for j in profile_run.profile(study, config_file).jobs}
    assert jobs["train_model tiny_gauss/vae/seed7"] == "a+b"  # one run, two studies
    assert jobs["train_model tiny_gauss/ae/seed7"] == "a"
    assert jobs["build_dataset tiny_gauss"] == "a+b"
    assert jobs["build_report"] == "(run)"
    # The probes' seeds 1..12 are no study's seed (training.seeds is [7]), seed 7 is b's.
    assert jobs["probe_latents tiny_t/vae/seed7"] == "b"
    assert jobs["probe_latents tiny_t/vae/seed1"] == "(no study: tiny_t)"


def test_last_cpu_sample():
    # Every 0.5 s up to 15 s, then every 30 s (snakemake.benchmark).
    assert profile_run.last_sample_time(3.7) == pytest.approx(3.5)
    assert profile_run.last_sample_time(44.0) == pytest.approx(15.0)
    assert profile_run.last_sample_time(250.19) == pytest.approx(225.0)


def test_slowest_is_by_wall_time_not_cpu(tmp_path):
    # Wall and CPU in opposite orders: the list follows the wall time.
    for name, wall, cpu in (("a", 30.0, 5.0), ("b", 20.0, 50.0), ("c", 10.0, 500.0)):
        bench(tmp_path, f"score_latents/d/{name}/seed1", wall, cpu, T0 + wall)
    data = profile_run.summary(profile_run.profile(tmp_path), top=2)
    assert [r["job"] for r in data["slowest"]] == ["score_latents d/a/seed1", "score_latents d/b/seed1"]
    assert data["cpu_s"] == pytest.approx(555.0)


def test_copied_files_give_no_wall_time(tmp_path):
    # 20 jobs of 50 s all ending at the same second (a checkout): no wall time from the files' times.
    for seed in range(20):
        bench(tmp_path, f"probe_latents/d/m/seed{seed}", 50.0, 60.0, T0)
    data = profile_run.summary(profile_run.profile(tmp_path))
    assert data["run_wall_s"] is None
    assert "20 jobs at once" in data["run_wall_source"]
    assert data["cpu_s"] == pytest.approx(1200.0)


def test_the_cpu_the_job_logged_wins(tmp_path):
    # jobs.job's line: 2.5 s CPU and 4.25 s wall to the end of the imports, 40 s CPU in all; Snakemake
    # sampled 30 s. The first line of work (at 9 s) is not the start any more.
    bench(tmp_path, "train_model/d/vae/seed1", 50.0, 30.0, T0 + 50)
    lines = [
        (T0 + 9, "vae_latent_study.training.train training a vae"),
        (T0 + 48, "vae_latent_study.training.train wrote"),
    ]
    message = (
        "process start (before the job, and its imports): 2.500 s CPU, 4.250 s wall; 40.000 s CPU in all"
    )
    lines.append((T0 + 49, f"vae_latent_study.jobs {message}"))
    log(tmp_path, "train_model/d/vae/seed1", lines)
    # A job whose line has no start (no import in the script): counted in the CPU, not in the start.
    bench(tmp_path, "build_report", 5.0, 3.0, T0 + 60)
    message = "process start (before the job, and its imports): - s CPU, - s wall; 4.000 s CPU in all"
    log(tmp_path, "build_report", [(T0 + 60, f"vae_latent_study.jobs {message}")])
    data = profile_run.summary(profile_run.profile(tmp_path))
    assert data["cpu_s"] == pytest.approx(44.0)
    assert data["cpu_from_log_jobs"] == 2
    assert data["start"]["cpu_s"] == pytest.approx(2.5)  # not the 9 s of wall
    assert data["start"]["jobs_measured"] == data["start"]["jobs_cpu_logged"] == 1
    assert data["start"]["wall_s"] == pytest.approx(4.25)
    assert data["start"]["exit_wall_s"] == pytest.approx(1.0 + 0.0, abs=0.01)
    assert data["start"]["share_of_cpu"] == pytest.approx(2.5 / 44.0)


def test_jobs_job_logs_the_start_line_the_profile_reads(tmp_path):
    # A real job (no TensorFlow): the script imports a module that takes 0.3 s of CPU to import, then works
    # 0.5 s in a function that imports another module (0.2 s) at its first call: the start counts both
    # imports, not the work; the line parses, and __import__ is given back.
    log_path = tmp_path / "logs" / "x" / "y.log"
    spin = "import time\nt = time.process_time()\nwhile time.process_time() - t < {}: pass\n"
    (tmp_path / "slow_a.py").write_text(spin.format(0.3))
    (tmp_path / "slow_b.py").write_text(spin.format(0.2))
    (tmp_path / "worker.py").write_text(
        "import time\n"
        "def work():\n"
        "    t = time.process_time()\n"
        "    while time.process_time() - t < 0.5: pass\n"
        "    import slow_b\n"
    )
    code = (
        "import builtins, logging, sys, time\n"
        f"sys.path.insert(0, {str(tmp_path)!r})\n"
        "from vae_latent_study.jobs import job\n"
        "from worker import work\n"
        "original = builtins.__import__\n"
        "before = time.process_time()\n"
        f"with job({str(log_path)!r}):\n"
        "    import slow_a\n"
        "    work()\n"
        "    logging.getLogger('vae_latent_study.x').info('done')\n"
        "assert builtins.__import__ is original\n"
        "print(before)\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    before = float(proc.stdout)
    times = profile_run.log_times(log_path)
    assert before + 0.5 <= times.start_cpu < before + 0.5 + 0.3
    assert times.start_wall >= 0.5
    assert times.process_cpu - times.start_cpu >= 0.5 - 0.002  # both logged to the millisecond
