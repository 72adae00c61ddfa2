#!/bin/bash
# A new user's first run, timed: a fresh clone of this checkout, the README's install and quick command.
# Usage: bench/fresh_clone_quick.sh DIR (DIR is deleted first). Writes DIR/times.txt.
set -u
DIR=${1:?usage: bench/fresh_clone_quick.sh DIR}
rm -rf "$DIR"; git clone -q "$(git -C "$(dirname "$0")" rev-parse --show-toplevel)" "$DIR"; cd "$DIR"
t0=$(date +%s)
python3 -m venv .venv && . .venv/bin/activate && pip install -q -e . > install.log 2>&1
t1=$(date +%s)
snakemake --cores 2 --configfile config/quick.yaml > run.log 2>&1
rc=$?
t2=$(date +%s)
echo "commit=$(git rev-parse --short HEAD) install_s=$((t1-t0)) run_s=$((t2-t1)) rc=$rc" > times.txt
