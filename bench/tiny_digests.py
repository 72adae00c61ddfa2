"""Digests of a finished study's models and metrics: compare two commits' results bit for bit.

    python bench/tiny_digests.py RESULTS_DIR [--json OUT]

Prints, per saved model (`*.keras` under RESULTS_DIR), the SHA-256 of every weight array in order and of
their concatenation, and the SHA-256 of each metrics table (`metrics.tsv` and the per-run JSONs' metric
values, read as floats, not bytes, so a re-laid JSON with the same numbers compares equal). Run it on the
tiny test study at two commits on the same CPU (float32 bits differ between AMD and Intel).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from pathlib import Path


def weight_digests(path: Path) -> dict[str, str]:
    import zipfile

    import h5py
    import numpy as np

    out: dict[str, str] = {}
    with zipfile.ZipFile(path) as archive, archive.open("model.weights.h5") as raw:
        data = raw.read()
    import io

    with h5py.File(io.BytesIO(data), "r") as h5:
        names: list[str] = []
        h5.visititems(lambda name, obj: names.append(name) if isinstance(obj, h5py.Dataset) else None)
        whole = hashlib.sha256()
        for name in sorted(names):
            array = np.ascontiguousarray(h5[name][()])
            digest = hashlib.sha256(array.tobytes()).hexdigest()
            out[name] = digest
            whole.update(name.encode() + b"\0" + array.tobytes())
        out["*"] = whole.hexdigest()
    return out


def _numbers(value, prefix=""):
    if isinstance(value, dict):
        for key in sorted(value):
            yield from _numbers(value[key], f"{prefix}.{key}" if prefix else key)
    elif isinstance(value, list):
        for i, item in enumerate(value):
            yield from _numbers(item, f"{prefix}[{i}]")
    elif isinstance(value, bool) or value is None or isinstance(value, str):
        return
    elif isinstance(value, (int, float)):
        yield prefix, float(value)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("results", type=Path)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    report: dict[str, object] = {"models": {}, "tables": {}}
    for model in sorted(args.results.rglob("*.keras")):
        report["models"][str(model.relative_to(args.results))] = weight_digests(model)["*"]
    for table in sorted(args.results.rglob("metrics.tsv")):
        report["tables"][str(table.relative_to(args.results))] = hashlib.sha256(table.read_bytes()).hexdigest()
    for model, digest in report["models"].items():
        print(f"{digest[:16]}  {model}")
    for table, digest in report["tables"].items():
        print(f"{digest[:16]}  {table}")
    if args.json:
        args.json.write_text(json.dumps(report, indent=1, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
