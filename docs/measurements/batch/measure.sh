#!/usr/bin/env bash
# One normal_1d model (vae_1d, the shipped settings) x N replicates, trained and evaluated: one job per run
# (CHECKOUT=a checkout without batch_seeds) against one job per model (this branch). The replicate datasets
# are built first, untimed; then `/usr/bin/time` measures the trainings and evaluations (wall, and the CPU
# of Snakemake and every job it ran), and the job count is Snakemake's.
# Usage: measure.sh CHECKOUT OUT_DIR [N]
set -euo pipefail
checkout=$(realpath "$1"); out=$(realpath -m "$2"); n=${3:-20}
rm -rf "$out"; mkdir -p "$out"
export PATH=/work/main/.venv/bin:$PATH PYTHONPATH=$checkout/src
python - "$checkout" "$out" "$n" <<'PY'
import sys, yaml
checkout, out, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
config = yaml.safe_load(open(f"{checkout}/config/config.yaml"))
config["studies"] = {"normal_1d": {"datasets": ["normal_1d"], "models": ["vae_1d"],
                                   "seeds": list(range(1, n + 1)), "expected": "normal_1d"}}
yaml.safe_dump(config, open(f"{out}/study.yaml", "w"))
PY
sm=(nice -n 5 snakemake -s "$checkout/Snakefile" --directory "$out" --configfile "$out/study.yaml" --cores 2)
data=$(for s in $(seq 1 "$n"); do echo "results/data/normal_1d/seed$s.h5"; done)
"${sm[@]}" $data > "$out/build.txt" 2>&1
targets=$(for s in $(seq 1 "$n"); do echo "results/evaluation/normal_1d/vae_1d/seed$s/generation.json"; done)
/usr/bin/time -f "wall_s %e\nuser_s %U\nsys_s %S" -o "$out/time.txt" "${sm[@]}" $targets > "$out/run.txt" 2>&1
sed -n '/^job /,/^total/p' "$out/run.txt" | head -20 > "$out/jobs.txt"
cat "$out/time.txt" "$out/jobs.txt"
