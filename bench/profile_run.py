"""Where a finished study's time went: wall time, CPU per rule and per study, process start, slowest jobs.

Run: `python bench/profile_run.py STUDY_DIR [--configfile CONFIG] [--top 10] [--json]`, or
`python bench/profile_run.py --sum DIR1 DIR2 ... [--configfile CONFIG ...]` to add up runs made one study at a
time (each directory its own Snakemake run; one `--configfile` per directory, in the same order, or one for
all).

It reads what a run leaves behind and nothing else:

- `benchmarks/<rule>/<wildcards>.tsv` (Snakemake `benchmark:`): each job's wall `s` and `cpu_time`. Only the
  rules with a `benchmark:` directive have one; the others' jobs are counted from Snakemake's log (their wall
  time) but their CPU time is unknown and is not in the totals. Snakemake samples `cpu_time` every 0.5 s
  for the first 15 s of a job, then every 30 s: the CPU spent after the last sample is missing, which the
  output sizes as `unsampled` wall seconds.
- `logs/<rule>/<wildcards>.log`: the job's log. `jobs.job` ends it with `process start (before the job,
  and its imports): <a> s CPU, <w> s wall; <b> s CPU in all`: the process's own CPU seconds (all its
  threads) and wall seconds from its start to the job's (the interpreter, Snakemake's preamble) plus those
  spent in import statements during the job (the script's, and those the package's functions make at their
  first call, as most import TensorFlow). That is **process start** (import to first work): `a` s of CPU, `w`
  s of wall time; what a long-lived process would pay once. The job's CPU time is `b` where Snakemake's
  samples missed more. Logs without that line (runs before it existed) give the start's wall time only, to
  the first line from the package's modules (timestamped, `jobs.LOG_FORMAT`): its time minus the job's start
  (the benchmark file's modification time minus its `s`, so only where the files keep the run's times;
  checked against the log). That is an upper bound (many scripts log only when their work is done), and
  its CPU is estimated as that wall time on one core (high on a shared machine). **Exit** = the job's end
  minus the log's last line (wall; only where the files keep the run's times).
- `results/models/**/model.json` (the training sidecar): `seconds_this_run`, the time inside
  `train_model()`. For a training job, wall minus it is the time **outside training** (start, exit and
  Snakemake's own wrapper); with `history.csv` beside it, the sum of the epochs' `seconds` and the time in
  `train_model()` outside the epochs (reading the data, building the model, the backups after each epoch,
  saving), and the first epoch's excess over the median epoch (TensorFlow tracing the graph). The steps'
  own time is not recorded, so the overhead inside an epoch cannot be told from its work.
- The run's wall time: from `.snakemake/log/*.snakemake.log` (first to last timestamp of each log that
  finished a job, summed), else from a `driver.log` (`wall=<N>s` lines, summed), else from the benchmark
  files' modification times (first start to last end); the output says which.

A job's start and its time around the epochs are never counted as more than the job's CPU time. The
"start + around the epochs" line is the issue's overhead: process start plus the time in `train_model()`
outside the epochs (that part wall time on one core, an estimate).

Jobs map to studies with `--configfile` (the run's config: a job belongs to every study whose runs include
its dataset, model and seed; a job of several studies counts under `study1+study2`); without it, to their
dataset (the first wildcard). Jobs of the whole run (`build_report`, ...) count under `(run)`.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import re
import statistics
import sys
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

#: A package log line: `jobs.LOG_FORMAT` = "%(asctime)s %(name)s %(message)s".
_PACKAGE_LINE = re.compile(r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}) (vae_latent_study\S*) ")
#: The line `jobs.job` logs at a job's end: the process's CPU and wall seconds before the job and in its
#: imports, and its CPU seconds in all.
_CPU_LINE = re.compile(
    r" vae_latent_study\.jobs process start \(before the job, and its imports\): (-|[\d.]+) s CPU, "
    r"(-|[\d.]+) s wall; ([\d.]+) s CPU in all"
)
_JOBS_LOGGER = "vae_latent_study.jobs"
_ANY_LOG_LINE = re.compile(r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}) \S+ ")
#: Snakemake's log: a timestamp line `[Sun Dec  6 21:06:43 2026]`, the `Date: 2026-12-06 21:06:42` header.
_SNAKE_STAMP = re.compile(r"^\[(\w{3} \w{3} +\d+ \d\d:\d\d:\d\d \d{4})\]$")
_SNAKE_DATE = re.compile(r"^\s*Date: (\d{4}-\d\d-\d\d \d\d:\d\d:\d\d)")
_SNAKE_RULE = re.compile(r"^(?:local)?(?:rule|checkpoint) (\w+):$")
_SNAKE_JOBID = re.compile(r"^\s+jobid: (\d+)$")
_SNAKE_FINISHED = re.compile(r"^Finished jobid: (\d+) \(Rule: (\w+)\)")
_DRIVER_WALL = re.compile(r"\bwall=(\d+(?:\.\d+)?)s\b")
#: Snakemake's benchmark sampling (snakemake.benchmark): every 0.5 s for the first 31 samples, then 30 s.
_SAMPLE_SHORT, _SAMPLES_SHORT, _SAMPLE_LONG = 0.5, 31, 30.0
#: How far (s) the log's lines may fall outside the job's span before the files' times are not trusted.
_TOLERANCE = 1.0
RUN_GROUP = "(run)"
#: More jobs at once than this, by the benchmark files' times, and those times are taken as not the run's.
_MAX_CONCURRENT = 16


@dataclass
class Job:
    """One benchmarked job of a run."""

    rule: str
    wildcards: str  # "gaussian/vae/seed19"; "" for a job of the whole run
    group: str = ""  # its study (or dataset without a config)
    wall_s: float = 0.0
    cpu_s: float = 0.0
    max_rss_mb: float = 0.0
    unsampled_s: float = 0.0  # wall after Snakemake's last CPU sample
    start_s: float | None = None  # import to first work, from the log
    exit_s: float | None = None  # last log line to the job's end
    logged_start_cpu_s: float | None = None  # the process's CPU at its first line of work (jobs.job's line)
    logged_cpu_s: float | None = None  # the process's CPU at the job's end (jobs.job's line)
    work_s: float | None = None  # the training sidecar's seconds_this_run
    outside_work_s: float | None = None  # wall - work_s
    epochs: int | None = None
    epochs_s: float | None = None  # sum of history.csv's epoch seconds
    around_epochs_s: float | None = None  # work_s - epochs_s
    first_epoch_excess_s: float | None = None  # epoch 1 - median epoch

    @property
    def name(self) -> str:
        return f"{self.rule} {self.wildcards}".strip()

    @property
    def start_cpu_s(self) -> float | None:
        """The start's CPU time: as the log's `jobs` line says, else its wall time on one core (an estimate),
        at most the job's CPU time."""
        if self.logged_start_cpu_s is not None:
            return min(self.logged_start_cpu_s, self.cpu_s)
        return None if self.start_s is None else min(self.start_s, self.cpu_s)


@dataclass
class Profile:
    """A run (or the sum of several): its jobs and where its wall time came from."""

    dirs: list[str]
    jobs: list[Job]
    wall_s: float | None
    wall_source: str
    unbenchmarked: dict[str, list[float]] = field(default_factory=dict)  # rule -> wall s per job (log)
    notes: list[str] = field(default_factory=list)


def last_sample_time(wall: float) -> float:
    """When Snakemake's benchmark took its last sample of a job that ran `wall` seconds."""
    short_end = _SAMPLE_SHORT * (_SAMPLES_SHORT - 1)
    if wall <= short_end:
        return math.floor(wall / _SAMPLE_SHORT) * _SAMPLE_SHORT
    return short_end + math.floor((wall - short_end) / _SAMPLE_LONG) * _SAMPLE_LONG


def read_benchmark(path: Path) -> tuple[float, float, float]:
    """A benchmark TSV's wall seconds, CPU seconds and max RSS (MB); repeated rows add up (RSS: max)."""
    with path.open(newline="") as f:
        rows = list(csv.DictReader(f, delimiter="\t"))
    if not rows:
        raise ValueError(f"{path}: no benchmark row")

    def number(row: dict, key: str) -> float:
        value = row.get(key)
        if value in (None, "", "NA"):
            return 0.0
        return float(value)

    wall = sum(number(r, "s") for r in rows)
    cpu = sum(number(r, "cpu_time") for r in rows)
    rss = max(number(r, "max_rss") for r in rows)
    return wall, cpu, rss


def _stamp(text: str) -> float:
    return datetime.strptime(text, "%Y-%m-%d %H:%M:%S,%f").timestamp()


@dataclass
class LogTimes:
    """What a job's log says about its times (wall clock: seconds since the epoch)."""

    first_work: float | None  # the first line of the package's modules (not `jobs`)
    first_line: float | None  # the first timestamped line
    last_line: float | None
    start_cpu: float | None = None  # the process's CPU seconds before the job and in its imports (`jobs.job`)
    start_wall: float | None = None  # ... and wall seconds
    process_cpu: float | None = None  # the process's CPU seconds at the job's end


def log_times(path: Path) -> LogTimes:
    """The times in a job's log."""
    times = LogTimes(None, None, None)
    with path.open(errors="replace") as f:
        for line in f:
            match = _ANY_LOG_LINE.match(line)
            if not match:
                continue
            when = _stamp(match.group(1))
            times.first_line = when if times.first_line is None else times.first_line
            times.last_line = when
            package = _PACKAGE_LINE.match(line)
            if times.first_work is None and package and package.group(2) != _JOBS_LOGGER:
                times.first_work = when
            if cpu := _CPU_LINE.search(line):
                times.start_cpu = None if cpu.group(1) == "-" else float(cpu.group(1))
                times.start_wall = None if cpu.group(2) == "-" else float(cpu.group(2))
                times.process_cpu = float(cpu.group(3))
    return times


def _history_seconds(path: Path) -> list[float]:
    with path.open(newline="") as f:
        return [float(row["seconds"]) for row in csv.DictReader(f) if row.get("seconds") not in (None, "")]


def _training_times(study: Path, job: Job) -> None:
    """Fill a training job's in-process times from its sidecar and history, where they exist."""
    sidecar = study / "results" / "models" / job.wildcards / "model.json"
    if not sidecar.exists():
        return
    record = json.loads(sidecar.read_text())
    if record.get("seconds_this_run") is None:
        return
    job.work_s = float(record["seconds_this_run"])
    job.outside_work_s = job.wall_s - job.work_s
    history = sidecar.parent / record.get("history", "history.csv")
    if history.exists():
        seconds = _history_seconds(history)
        if seconds:
            job.epochs = len(seconds)
            job.epochs_s = sum(seconds)
            job.around_epochs_s = job.work_s - job.epochs_s
            if len(seconds) > 1:
                job.first_epoch_excess_s = seconds[0] - statistics.median(seconds[1:])


def read_jobs(study: Path) -> tuple[list[Job], list[str]]:
    """Every benchmarked job of a finished study directory, with what its log and sidecar say."""
    bench_dir = study / "benchmarks"
    if not bench_dir.is_dir():
        raise FileNotFoundError(f"{bench_dir}: no benchmarks (is {study} a finished study's directory?)")
    jobs, untrusted = [], 0
    for path in sorted(bench_dir.rglob("*.tsv")):
        parts = path.relative_to(bench_dir).with_suffix("").parts
        job = Job(rule=parts[0], wildcards="/".join(parts[1:]))
        job.wall_s, job.cpu_s, job.max_rss_mb = read_benchmark(path)
        job.unsampled_s = job.wall_s - last_sample_time(job.wall_s)
        log = study / "logs" / path.relative_to(bench_dir).with_suffix(".log")
        if log.exists():
            times = log_times(log)
            if times.process_cpu is not None:
                job.logged_start_cpu_s, job.logged_cpu_s = times.start_cpu, times.process_cpu
                # Snakemake's samples miss a job's last seconds; the process's own count does not.
                job.cpu_s = max(job.cpu_s, times.process_cpu)
            end = path.stat().st_mtime
            begin = end - job.wall_s
            in_span = times.first_line is not None and (
                begin - _TOLERANCE <= times.first_line and times.last_line <= end + _TOLERANCE
            )
            if times.first_line is not None and not in_span:
                untrusted += 1
            if times.start_wall is not None:
                job.start_s = times.start_wall
            elif in_span and times.first_work is not None:
                job.start_s = max(0.0, times.first_work - begin)
            if in_span:
                job.exit_s = max(0.0, end - times.last_line)
        if job.rule == "train_model":
            _training_times(study, job)
        jobs.append(job)
    notes = []
    if untrusted:
        notes.append(
            f"{study}: {untrusted} job logs fall outside their benchmark's times (files copied without their "
            "modification times?): no start from the first line of work, no exit for them"
        )
    return jobs, notes


def _snakemake_logs(study: Path) -> list[Path]:
    return sorted((study / ".snakemake" / "log").glob("*.snakemake.log"))


def snakemake_log_times(path: Path) -> tuple[float | None, dict[int, tuple[str, float, float]]]:
    """A Snakemake log's span (first to last timestamp, s) and each finished job's (rule, start, end)."""
    stamps: list[float] = []
    started: dict[int, tuple[str, float]] = {}
    finished: dict[int, tuple[str, float, float]] = {}
    now = rule = None
    for line in path.read_text(errors="replace").splitlines():
        if match := _SNAKE_DATE.match(line):
            now = datetime.strptime(match.group(1), "%Y-%m-%d %H:%M:%S").timestamp()
            stamps.append(now)
        elif match := _SNAKE_STAMP.match(line):
            now = datetime.strptime(re.sub(" +", " ", match.group(1)), "%a %b %d %H:%M:%S %Y").timestamp()
            stamps.append(now)
        elif match := _SNAKE_RULE.match(line):
            rule = match.group(1)
        elif (match := _SNAKE_JOBID.match(line)) and rule is not None and now is not None:
            started[int(match.group(1))] = (rule, now)
            rule = None
        elif (match := _SNAKE_FINISHED.match(line)) and now is not None:
            jobid = int(match.group(1))
            if jobid in started:
                finished[jobid] = (match.group(2), started[jobid][1], now)
    span = stamps[-1] - stamps[0] if len(stamps) > 1 else None
    return span, finished


def run_wall(study: Path, jobs: list[Job]) -> tuple[float | None, str, dict[str, list[float]]]:
    """The run's wall time, where it came from, and the jobs without a benchmark (rule -> wall s each)."""
    benchmarked = {job.rule for job in jobs}
    total, used, others = 0.0, 0, defaultdict(list)
    for path in _snakemake_logs(study):
        span, finished = snakemake_log_times(path)
        if span is None or not finished:
            continue
        total += span
        used += 1
        for rule, begin, end in finished.values():
            if rule not in benchmarked and rule != "all":
                others[rule].append(end - begin)
    if used:
        return (
            total,
            f"Snakemake's log ({used} file(s) in .snakemake/log, first to last timestamp)",
            dict(others),
        )
    driver = study / "driver.log"
    if driver.exists():
        walls = [float(m.group(1)) for m in _DRIVER_WALL.finditer(driver.read_text())]
        if walls:
            return sum(walls), f"driver.log ({len(walls)} command(s), wall= summed)", {}
    bench_dir = study / "benchmarks"
    spans = []
    for job in jobs:
        name = f"{job.rule}/{job.wildcards}" if job.wildcards else job.rule
        end = (bench_dir / f"{name}.tsv").stat().st_mtime
        spans.append((end - job.wall_s, end))
    if spans:
        # Files checked out or copied without their times all end together: as many jobs at once as a run
        # on a big machine would not have run, the times are not the run's.
        events = sorted([(b, 1) for b, _ in spans] + [(e, -1) for _, e in spans], key=lambda x: (x[0], x[1]))
        running = peak = 0
        for _, step in events:
            running += step
            peak = max(peak, running)
        if peak > _MAX_CONCURRENT:
            return (
                None,
                f"unknown (the benchmark files' times would put {peak} jobs at once: not the run's)",
                {},
            )
        wall = max(end for _, end in spans) - min(begin for begin, _ in spans)
        return wall, "benchmark files' modification times (valid only if they keep the run's times)", {}
    return None, "unknown", {}


def load_study_map(configfile: Path):
    """A function from a job's wildcards to its study key, from the run's config."""
    import yaml

    sys.path.insert(0, str(REPO / "src"))
    from vae_latent_study.config import study_runs, validate_config

    config = validate_config(
        yaml.safe_load(configfile.read_text()) or {}, REPO / "config" / "config.schema.yaml"
    )
    runs = {name: study_runs(config, name) for name in config["studies"]}

    def group(wildcards: str) -> str:
        parts = wildcards.split("/") if wildcards else []
        if not parts:
            return RUN_GROUP
        dataset = parts[0]
        seeds = [int(p[4:]) for p in parts[1:] if re.fullmatch(r"seed\d+", p)]
        models = [p for p in parts[1:] if not re.fullmatch(r"seed\d+", p)]
        names = [
            name
            for name, study in runs.items()
            if any(
                r.dataset == dataset and all(r.model == m for m in models) and all(r.seed == s for s in seeds)
                for r in study
            )
        ]
        return "+".join(names) if names else f"(no study: {dataset})"

    return group


def profile(study: Path, configfile: Path | None = None) -> Profile:
    """The profile of one finished study directory."""
    jobs, notes = read_jobs(study)
    group = load_study_map(configfile) if configfile else None
    for job in jobs:
        if group is not None:
            job.group = group(job.wildcards)
        else:
            job.group = job.wildcards.split("/")[0] if job.wildcards else RUN_GROUP
    wall, source, others = run_wall(study, jobs)
    return Profile([str(study)], jobs, wall, source, others, notes)


def add_up(profiles: list[Profile]) -> Profile:
    """Several runs' profiles as one: jobs pooled, wall times summed (unknown if one is unknown)."""
    walls = [p.wall_s for p in profiles]
    others: dict[str, list[float]] = defaultdict(list)
    for p in profiles:
        for rule, times in p.unbenchmarked.items():
            others[rule] += times
    return Profile(
        dirs=[d for p in profiles for d in p.dirs],
        jobs=[job for p in profiles for job in p.jobs],
        wall_s=None if any(w is None for w in walls) else sum(walls),
        wall_source="; ".join(f"{p.dirs[0]}: {p.wall_source}" for p in profiles),
        unbenchmarked=dict(others),
        notes=[n for p in profiles for n in p.notes],
    )


def _total(values) -> float | None:
    values = [v for v in values if v is not None]
    return sum(values) if values else None


def overhead(jobs: list[Job], cpu: float) -> dict:
    """Process start (CPU as logged, else estimated) and the time in train_model() around the epochs (wall
    on one core: an estimate, high where the machine was shared), a job's parts together never more than its
    CPU time; and their share of the CPU time."""
    start = around = 0.0
    counted = False
    for j in jobs:
        left = j.cpu_s
        if j.start_cpu_s is not None:
            start += j.start_cpu_s
            left -= j.start_cpu_s
            counted = True
        if j.around_epochs_s is not None:
            used = min(max(j.around_epochs_s, 0.0), max(left, 0.0))
            around += used
            counted = True
    total = start + around if counted else None
    return {
        "start_cpu_s": start,
        "around_epochs_cpu_s": around,
        "cpu_s": total,
        "share_of_cpu": total / cpu if total is not None and cpu else None,
    }


def summary(prof: Profile, top: int = 10) -> dict:
    """The profile's numbers, as plain data (what --json prints)."""
    jobs = prof.jobs
    cpu = sum(j.cpu_s for j in jobs)
    wall_jobs = sum(j.wall_s for j in jobs)

    def grouped(key) -> list[dict]:
        out = defaultdict(
            lambda: {"jobs": 0, "wall_s": 0.0, "cpu_s": 0.0, "start_s": None, "start_cpu_s": None}
        )
        for j in jobs:
            row = out[key(j)]
            row["jobs"] += 1
            row["wall_s"] += j.wall_s
            row["cpu_s"] += j.cpu_s
            if j.start_s is not None:
                row["start_s"] = (row["start_s"] or 0.0) + j.start_s
            if j.start_cpu_s is not None:
                row["start_cpu_s"] = (row["start_cpu_s"] or 0.0) + j.start_cpu_s
        rows = [
            {"name": name, **row, "cpu_share": row["cpu_s"] / cpu if cpu else None}
            for name, row in out.items()
        ]
        return sorted(rows, key=lambda r: (-r["cpu_s"], r["name"]))

    timed = [j for j in jobs if j.start_s is not None]
    measured = [j for j in jobs if j.start_cpu_s is not None]
    start_cpu = _total(j.start_cpu_s for j in measured)
    training = [j for j in jobs if j.work_s is not None]
    with_history = [j for j in training if j.epochs_s is not None]
    slowest = sorted(jobs, key=lambda j: (-j.wall_s, j.name))[:top]
    return {
        "dirs": prof.dirs,
        "run_wall_s": prof.wall_s,
        "run_wall_source": prof.wall_source,
        "jobs": len(jobs),
        "jobs_wall_s": wall_jobs,
        "cpu_s": cpu,
        "unsampled_s": sum(j.unsampled_s for j in jobs),
        "unbenchmarked": {
            rule: {"jobs": len(t), "wall_s": sum(t)} for rule, t in sorted(prof.unbenchmarked.items())
        },
        "by_rule": grouped(lambda j: j.rule),
        "by_group": grouped(lambda j: j.group),
        "cpu_from_log_jobs": sum(1 for j in jobs if j.logged_cpu_s is not None and j.logged_cpu_s >= j.cpu_s),
        "start": {
            "jobs_measured": len(measured),
            "jobs_cpu_logged": sum(1 for j in measured if j.logged_start_cpu_s is not None),
            "cpu_s": start_cpu,
            "share_of_cpu": start_cpu / cpu if start_cpu is not None and cpu else None,
            "jobs_timed": len(timed),
            "wall_s": _total(j.start_s for j in timed),
            "share_of_timed_jobs_wall": _total(j.start_s for j in timed) / sum(j.wall_s for j in timed)
            if timed
            else None,
            "exit_wall_s": _total(j.exit_s for j in timed),
        },
        "training": {
            "jobs": len(training),
            "wall_s": sum(j.wall_s for j in training),
            "cpu_s": sum(j.cpu_s for j in training),
            "in_train_model_s": _total(j.work_s for j in training),
            "outside_train_model_s": _total(j.outside_work_s for j in training),
            "jobs_with_history": len(with_history),
            "epochs": _total(j.epochs for j in with_history),
            "epochs_s": _total(j.epochs_s for j in with_history),
            "around_epochs_s": _total(j.around_epochs_s for j in with_history),
            "first_epoch_excess_s": _total(j.first_epoch_excess_s for j in with_history),
        },
        "overhead": overhead(jobs, cpu),
        "slowest": [
            {"job": j.name, "group": j.group, "wall_s": j.wall_s, "cpu_s": j.cpu_s, "start_s": j.start_s}
            for j in slowest
        ],
        "notes": prof.notes,
    }


def _s(value: float | None, digits: int = 1) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.1f}%"


def render(data: dict) -> str:
    """The summary as Markdown tables."""
    lines = [f"# Profile of {', '.join(data['dirs'])}", ""]
    add = lines.append
    wall, start, train, over = data["run_wall_s"], data["start"], data["training"], data["overhead"]
    add(
        f"- Run wall time: {_s(wall)} s ({_s(wall / 60 if wall else None)} min), "
        f"from {data['run_wall_source']}."
    )
    add(
        f"- {data['jobs']} benchmarked jobs: {_s(data['jobs_wall_s'])} s of job wall time, "
        f"{_s(data['cpu_s'])} s CPU (Snakemake's sampled `cpu_time`; {_s(data['unsampled_s'])} s of job "
        "wall time fell after a job's last CPU sample and is not in it)."
    )
    if data["unbenchmarked"]:
        parts = ", ".join(
            f"{rule} {v['jobs']} ({_s(v['wall_s'])} s)" for rule, v in data["unbenchmarked"].items()
        )
        n = sum(v["jobs"] for v in data["unbenchmarked"].values())
        add(
            f"- {n} jobs of rules without a `benchmark:` (wall from Snakemake's log; CPU not counted): "
            f"{parts}."
        )
    if data["cpu_from_log_jobs"]:
        add(
            f"- CPU: {data['cpu_from_log_jobs']} jobs' CPU time is their process's own count at its end (the "
            "`jobs` log line), larger than Snakemake's sampled one."
        )
    if start["jobs_measured"]:
        how = f"logged by {start['jobs_cpu_logged']}"
        if start["jobs_cpu_logged"] < start["jobs_measured"]:
            how += ", the others' to their first line of work, estimated as its wall time on one core"
        add(
            f"- **Process start** (import to first work), {start['jobs_measured']} of {data['jobs']} jobs: "
            f"{_s(start['cpu_s'])} s CPU ({how}) = **{_pct(start['share_of_cpu'])} of the CPU time**."
        )
    else:
        add("- Process start: not measured (no job logs with a `jobs` CPU line or the run's file times).")
    if start["jobs_timed"]:
        add(
            f"- Start in wall time, {start['jobs_timed']} jobs: {_s(start['wall_s'])} s = "
            f"{_pct(start['share_of_timed_jobs_wall'])} of those jobs' wall time; exit (last log line to the "
            f"job's end, where the files keep the run's times): {_s(start['exit_wall_s'])} s."
        )
    if train["jobs"]:
        add(
            f"- Training: {train['jobs']} jobs, {_s(train['wall_s'])} s wall, {_s(train['cpu_s'])} s CPU; "
            f"{_s(train['in_train_model_s'])} s inside `train_model()` (the sidecar's `seconds_this_run`), "
            f"{_s(train['outside_train_model_s'])} s wall outside it (start, exit, Snakemake's wrapper)."
        )
        if train["jobs_with_history"]:
            add(
                f"- Epochs ({train['jobs_with_history']} jobs with history.csv, {train['epochs']} epochs): "
                f"{_s(train['epochs_s'])} s in the epochs, {_s(train['around_epochs_s'])} s in "
                "`train_model()` around them (reading the data, building the model, the backup after each "
                "epoch, saving); the first epochs' excess over the median epoch (tracing): "
                f"{_s(train['first_epoch_excess_s'])} s. "
                "Step times are not recorded: overhead inside an epoch is not separated from its work."
            )
        else:
            add("- Epochs: no history.csv beside the sidecars; per-epoch times not available.")
    if over["cpu_s"] is not None:
        add(
            f"- **Process start + time around the epochs**: {_s(over['cpu_s'])} s CPU = "
            f"**{_pct(over['share_of_cpu'])} of the CPU time** (start {_s(over['start_cpu_s'])} s; around "
            f"the epochs {_s(over['around_epochs_cpu_s'])} s, its wall time on one core: an estimate)."
        )
    for note in data["notes"]:
        add(f"- Note: {note}")

    def table(title: str, rows: list[dict]) -> None:
        lines.extend(
            ["", f"## {title}", "", "| | jobs | wall s | CPU s | CPU share | start wall s | start CPU s |"]
        )
        add("|---|---:|---:|---:|---:|---:|---:|")
        for r in rows:
            cells = [r["name"], r["jobs"], _s(r["wall_s"]), _s(r["cpu_s"]), _pct(r["cpu_share"])]
            add("| " + " | ".join(map(str, [*cells, _s(r["start_s"]), _s(r["start_cpu_s"])])) + " |")

    table("CPU time per rule", data["by_rule"])
    table("CPU time per study", data["by_group"])
    lines.extend(
        ["", f"## The {len(data['slowest'])} slowest jobs", "", "| job | study | wall s | CPU s | start s |"]
    )
    add("|---|---|---:|---:|---:|")
    for r in data["slowest"]:
        add(f"| {r['job']} | {r['group']} | {_s(r['wall_s'])} | {_s(r['cpu_s'])} | {_s(r['start_s'])} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("study_dir", nargs="?", type=Path, help="a finished study's working directory")
    parser.add_argument("--sum", nargs="+", type=Path, metavar="DIR", help="add up several runs' directories")
    parser.add_argument(
        "--configfile",
        action="append",
        type=Path,
        default=[],
        help="the run's config, to map jobs to studies (with --sum: one per directory, or one for all)",
    )
    parser.add_argument("--top", type=int, default=10, help="how many of the slowest jobs to list")
    parser.add_argument("--json", action="store_true", help="print the numbers as JSON")
    args = parser.parse_args(argv)
    if (args.study_dir is None) == (args.sum is None):
        parser.error("give one STUDY_DIR or --sum DIR1 DIR2 ...")
    dirs = [args.study_dir] if args.sum is None else args.sum
    configs = args.configfile
    if len(configs) not in (0, 1, len(dirs)):
        parser.error(
            f"{len(configs)} --configfile for {len(dirs)} directories: give one, or one per directory"
        )
    if len(configs) == 1:
        configs = configs * len(dirs)
    profiles = [profile(d, configs[i] if configs else None) for i, d in enumerate(dirs)]
    data = summary(add_up(profiles) if len(profiles) > 1 else profiles[0], top=args.top)
    print(json.dumps(data, indent=2) if args.json else render(data), end="" if not args.json else "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
