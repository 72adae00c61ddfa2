"""Whether two study directories hold the same per-run results for one model's seeds: the SHA-256 of every
weight array of each model.keras, the history without its wall-clock column, and each generation.json (all of it but the model file's
SHA-256, which differs by the archive's save date).
Usage: python compare_bits.py DIR_A DIR_B DATASET MODEL N"""

import hashlib
import io
import json
import sys
import zipfile
from pathlib import Path

import h5py
import pandas as pd


def weights(path):
    with zipfile.ZipFile(path) as archive, h5py.File(io.BytesIO(archive.read("model.weights.h5"))) as h5:
        found = {}
        h5.visititems(
            lambda name, node: found.update({name: hashlib.sha256(node[()].tobytes()).hexdigest()})
            if hasattr(node, "shape")
            else None
        )
        return found


a, b, dataset, model, n = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3], sys.argv[4], int(sys.argv[5])
same = {"weights": 0, "history": 0, "generation.json": 0}
for seed in range(1, n + 1):
    run = Path("results/models") / dataset / model / f"seed{seed}"
    same["weights"] += weights(a / run / "model.keras") == weights(b / run / "model.keras")
    ha, hb = (pd.read_csv(d / run / "history.csv").drop(columns=["seconds"]) for d in (a, b))
    same["history"] += ha.equals(hb)
    ev = Path("results/evaluation") / dataset / model / f"seed{seed}" / "generation.json"
    ja, jb = (json.loads((d / ev).read_text()) for d in (a, b))
    # The model's file SHA-256 differs: a .keras archive stores its save date (README, Training).
    for j in (ja, jb):
        j["provenance"]["inputs"]["model"].pop("sha256")
    same["generation.json"] += ja == jb
print(json.dumps({"seeds": n, "identical": same}))
