"""Per-run evaluation JSONs before/after, identity and provenance aside: equal values (NaN/inf as null)."""
import json
import math
import sys
from pathlib import Path

OLD_IDENTITY = {"dataset", "family", "model", "kind", "seed", "inputs", "versions", "provenance"}
NEW = {"identity", "provenance"}


def norm(x):
    if isinstance(x, dict):
        return {k: norm(v) for k, v in x.items()}
    if isinstance(x, list):
        return [norm(v) for v in x]
    if isinstance(x, float) and not math.isfinite(x):
        return None
    return x


def diff(a, b, path=""):
    if isinstance(a, dict) and isinstance(b, dict):
        for k in sorted(set(a) | set(b)):
            if k not in a or k not in b:
                yield f"{path}.{k}: only {'before' if k in a else 'after'}"
            else:
                yield from diff(a[k], b[k], f"{path}.{k}")
    elif a != b:
        yield f"{path}: {a!r} -> {b!r}"


base, new = Path(sys.argv[1]), Path(sys.argv[2])
n = bad = 0
for old in sorted(base.glob("results/evaluation/*/*/seed*/*.json")):
    if old.name == "exploration.json":
        continue
    fresh = new / old.relative_to(base)
    a = json.loads(old.read_text())
    b = json.loads(fresh.read_text())
    ida = {k: a.get(k) for k in ("dataset", "family", "model", "kind", "seed")}
    idb = b["identity"]
    idb2 = {"dataset": idb["dataset"], "family": idb["family"], "model": idb["model"], "kind": idb["model_kind"], "seed": idb["seed"]}
    a = norm({k: v for k, v in a.items() if k not in OLD_IDENTITY})
    b = {k: v for k, v in b.items() if k not in NEW}
    d = list(diff(a, b))
    if ida != idb2:
        d.append(f"identity {ida} -> {idb2}")
    n += 1
    if d:
        bad += 1
        print(old.relative_to(base), d[:5])
print(f"{base.name}: {n} JSONs, {bad} differ")
