"""Digests of a finished study's models and metrics: compare two commits' results bit for bit.

    python bench/tiny_digests.py RESULTS_DIR [--json OUT]

Prints, per saved model (`*.keras` under RESULTS_DIR), the SHA-256 of its weight arrays (names and bytes,
optimizer state included), and the SHA-256 of each `metrics.tsv`. Run it on the tiny test study at two
commits on the same CPU (float32 bits differ between AMD and Intel) and compare.

The JSON (`--json`) also holds `values`: every number of every JSON under RESULTS_DIR/evaluation and
RESULTS_DIR/classifiers, by file and dotted key, identity and provenance left out, so that two layouts of
the same numbers compare equal. `--compare BEFORE.json AFTER.json` prints what differs.
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


#: Keys that identify a run or record its provenance, at any level: not values.
NOT_VALUES = frozenset(
    {
        "identity",
        "inputs",
        "versions",
        "provenance",
        "dataset",
        "model",
        "kind",
        "family",
        "seed",
        "dataset_kind",
        "model_kind",
        "evaluation_seed",
    }
)


def numeric_values(node: object, prefix: str = "") -> dict[str, float]:
    """Every numeric leaf of a JSON document by dotted key, NOT_VALUES keys left out."""
    out: dict[str, float] = {}
    items = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else ()
    for key, value in items:
        if key in NOT_VALUES:
            continue
        name = f"{prefix}{key}"
        if isinstance(value, dict | list):
            out.update(numeric_values(value, f"{name}."))
        elif isinstance(value, int | float) and not isinstance(value, bool):
            out[name] = float(value)
    return out


def compare(before: Path, after: Path) -> int:
    """Print the models, tables and values that differ between two `--json` reports; 1 if any does."""
    a, b = json.loads(before.read_text()), json.loads(after.read_text())
    differ = 0
    for section in ("models", "values"):
        for key in sorted(set(a.get(section, {})) | set(b.get(section, {}))):
            x, y = a.get(section, {}).get(key), b.get(section, {}).get(key)
            if x != y and not (isinstance(x, float) and isinstance(y, float) and x != x and y != y):
                differ += 1
                if differ <= 40:
                    print(f"{section}: {key}: {x} -> {y}")
    n = len(a.get("values", {}))
    print(f"{differ} differences; {len(a.get('models', {}))} models, {n} values compared")
    return 1 if differ else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("results", type=Path, nargs="?")
    parser.add_argument("--json", type=Path)
    parser.add_argument("--compare", type=Path, nargs=2, metavar=("BEFORE", "AFTER"))
    args = parser.parse_args(argv)
    if args.compare:
        return compare(*args.compare)
    report: dict[str, object] = {"models": {}, "tables": {}}
    for model in sorted(args.results.rglob("*.keras")):
        report["models"][str(model.relative_to(args.results))] = weight_digests(model)["*"]
    for table in sorted(args.results.rglob("metrics.tsv")):
        digest = hashlib.sha256(table.read_bytes()).hexdigest()
        report["tables"][str(table.relative_to(args.results))] = digest
    values: dict[str, float] = {}
    for part in ("evaluation", "classifiers"):
        for path in sorted((args.results / part).rglob("*.json")):
            for key, value in numeric_values(json.loads(path.read_text())).items():
                values[f"{path.relative_to(args.results)}:{key}"] = value
    report["values"] = values
    for model, digest in report["models"].items():
        print(f"{digest[:16]}  {model}")
    for table, digest in report["tables"].items():
        print(f"{digest[:16]}  {table}")
    if args.json:
        args.json.write_text(json.dumps(report, indent=1, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
