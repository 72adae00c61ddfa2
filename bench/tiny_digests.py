"""Digests of a finished study's models and metrics: compare two commits' results bit for bit.

    python bench/tiny_digests.py RESULTS_DIR [--json OUT]

Prints, per saved model (`*.keras` under RESULTS_DIR), the SHA-256 of its weight arrays (names and bytes,
optimizer state included), and the SHA-256 of each `metrics.tsv`. Run it on the tiny test study at two
commits on the same CPU (float32 bits differ between AMD and Intel) and compare.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from pathlib import Path


def weight_digests(path: Path) -> dict[str, str]:
    """SHA-256 of every array in a `.keras` archive's weight file, by name, and of all of them ("*")."""
    import io
    import zipfile

    import h5py
    import numpy as np

    out: dict[str, str] = {}
    with zipfile.ZipFile(path) as archive, archive.open("model.weights.h5") as raw:
        data = raw.read()
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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("results", type=Path)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    report: dict[str, object] = {"models": {}, "tables": {}}
    for model in sorted(args.results.rglob("*.keras")):
        report["models"][str(model.relative_to(args.results))] = weight_digests(model)["*"]
    for table in sorted(args.results.rglob("metrics.tsv")):
        digest = hashlib.sha256(table.read_bytes()).hexdigest()
        report["tables"][str(table.relative_to(args.results))] = digest
    for model, digest in report["models"].items():
        print(f"{digest[:16]}  {model}")
    for table, digest in report["tables"].items():
        print(f"{digest[:16]}  {table}")
    if args.json:
        args.json.write_text(json.dumps(report, indent=1, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
