"""How long Snakemake takes to find that a finished study has nothing to do, and (with --slurm) how long the
tiny study takes on a one-node SLURM cluster from submission to the last job.

Run: `python bench/bench_rerun.py [STUDY_DIR] [--configfile FILE] [--repeats 5]` (STUDY_DIR defaults to the
repository root; give the config file the study was run with). Target: a no-op dry run under 3 s.

`--slurm` (root on Debian; installs slurm-wlm and munge with apt-get when missing) starts the cluster with
tests/slurm/start_cluster.sh, runs the tiny study (`--slurm-study one-dataset`: the smaller one of
tests/test_slurm.py) through profiles/slurm into a temporary directory, prints the wall-clock time from
submission to finish and per SLURM job, and stops the cluster again.
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.conftest import TINY_CONFIG, snakemake_command  # noqa: E402
from tests.test_slurm import LOCAL_CLUSTER, PROFILE, SLURM_STUDY, START_CLUSTER  # noqa: E402


def snakemake_cmd(snakefile: Path, study: Path, configfile: Path | None, *args: str) -> list[str]:
    config = ["--configfile", str(configfile)] if configfile is not None else []
    return snakemake_command(study, *config, *args, snakefile=snakefile)


def noop_dry_run(snakefile: Path, study: Path, configfile: Path | None, repeats: int) -> None:
    cmd = snakemake_cmd(snakefile, study, configfile, "--dry-run", "--cores", "1")
    times, output = [], ""
    for _ in range(repeats):
        start = time.perf_counter()
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
        times.append(time.perf_counter() - start)
        output = proc.stdout + proc.stderr
        if proc.returncode != 0:
            sys.exit(f"the dry run failed:\n{output}")
    total = re.search(r"^total\s+(\d+)$", output, re.M)
    state = "nothing to do" if "Nothing to be done" in output else f"{total[1] if total else '?'} jobs to do"
    print(f"study: {study} ({state})")
    print(
        f"dry run, {repeats} repeats: min {min(times):.2f} s, median {statistics.median(times):.2f} s, "
        f"max {max(times):.2f} s (target < 3 s)"
    )
    if "Nothing to be done" not in output:
        print("note: the study is not finished, so this times planning those jobs, not a no-op")


def slurm_run(study_config: dict) -> None:
    with tempfile.TemporaryDirectory(prefix="bench_slurm_") as tmp:
        tmp = Path(tmp)
        env = {**os.environ, "SLURM_BASE": str(tmp / "slurm"), "WITH_DBD": "0", "FAKE_GPUS": "1"}
        try:
            start = time.perf_counter()
            proc = subprocess.run(["bash", str(START_CLUSTER)], env=env, capture_output=True, text=True)
            if proc.returncode != 0:
                sys.exit(f"the SLURM cluster did not start:\n{proc.stdout}\n{proc.stderr}")
            print(f"cluster up in {time.perf_counter() - start:.1f} s")
            (tmp / "local_cluster").mkdir()
            (tmp / "local_cluster" / "config.yaml").write_text(yaml.safe_dump(LOCAL_CLUSTER))
            config = tmp / "tiny.yaml"
            config.write_text(yaml.safe_dump(study_config))
            cmd = snakemake_cmd(REPO / "Snakefile", tmp / "study", config)
            cmd += ["--profile", str(PROFILE), "--profile", str(tmp / "local_cluster")]
            cmd += ["--workflow-profile", "none"]
            start = time.perf_counter()
            proc = subprocess.run(cmd, capture_output=True, text=True)
            elapsed = time.perf_counter() - start
            log = proc.stdout + proc.stderr
            if proc.returncode != 0:
                sys.exit(f"the study failed on SLURM:\n{log}")
            jobs = len(re.findall(r"has been submitted with SLURM jobid", log))
            print(
                f"tiny study on SLURM ({len(study_config['datasets'])} dataset(s)): {elapsed:.0f} s from "
                f"submission to finish, {jobs} SLURM jobs, {elapsed / jobs:.1f} s per job"
            )
        finally:
            jobs = subprocess.run(["squeue", "-h", "-o", "%i"], capture_output=True, text=True).stdout.split()
            if jobs:
                subprocess.run(["scancel", *jobs])
            subprocess.run(["bash", str(START_CLUSTER), "stop"], env=env)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("study", nargs="?", type=Path, default=REPO, help="a finished study directory")
    parser.add_argument("--snakefile", type=Path, default=REPO / "Snakefile")
    parser.add_argument("--configfile", type=Path, default=None, help="the config the study was run with")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--slurm", action="store_true", help="also time the tiny study on a local SLURM")
    parser.add_argument("--slurm-study", choices=("tiny", "one-dataset"), default="tiny")
    args = parser.parse_args()

    noop_dry_run(args.snakefile, args.study.resolve(), args.configfile, args.repeats)
    if args.slurm:
        slurm_run(TINY_CONFIG if args.slurm_study == "tiny" else SLURM_STUDY)


if __name__ == "__main__":
    main()
