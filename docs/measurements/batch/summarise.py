"""Tables of measure.sh's runs: per rule, the jobs (= Python processes started), the wall and CPU seconds of
the jobs (Snakemake's benchmark files: `s`, `cpu_time`, which samples and undercounts a long job), each
job's own CPU and the CPU its process start took (its log: `jobs.job`'s "process start" line, the process's
CPU time over all its threads), and the whole command's wall and CPU (/usr/bin/time, Snakemake included).
Usage: python summarise.py NAME=DIR [NAME=DIR ...]"""

import json
import re
import sys
from pathlib import Path

import pandas as pd

START = re.compile(r"process start \(before the job, and its imports\): ([\d.]+) s CPU, .*; ([\d.]+) s CPU in all")

rows, totals = [], {}
for arg in sys.argv[1:]:
    name, root = arg.split("=", 1)
    root = Path(root)
    times = dict(line.split() for line in (root / "time.txt").read_text().splitlines() if line.strip())
    totals[name] = {"wall_s": float(times["wall_s"]), "cpu_s": float(times["user_s"]) + float(times["sys_s"])}
    for rule in ("train_model", "train_models", "evaluate_generation"):
        files = sorted((root / "benchmarks" / rule).rglob("*.tsv")) if (root / "benchmarks" / rule).exists() else []
        if not files:
            continue
        bench = pd.concat([pd.read_csv(f, sep="\t") for f in files])
        logs = sorted((root / "logs" / rule).rglob("*.log"))
        found = [m for log in logs for m in START.finditer(log.read_text())]
        start, cpu = sum(float(m[1]) for m in found), sum(float(m[2]) for m in found)
        rows.append(
            {
                "run": name,
                "rule": rule,
                "jobs (processes)": len(files),
                "job wall s": round(bench["s"].sum(), 1),
                "job CPU s (benchmark)": round(bench["cpu_time"].sum(), 1),
                "job CPU s (process)": round(cpu, 1),
                "process start CPU s": round(start, 1),
            }
        )
table = pd.DataFrame(rows)
print(table.to_markdown(index=False))
print()
print(pd.DataFrame(totals).T.to_markdown())
Path("summary.json").write_text(json.dumps({"rules": rows, "totals": totals}, indent=2) + "\n")
