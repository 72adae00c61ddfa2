"""Bit check of the models/training split: train_model on the tests' tiny_gauss (3 epochs, seed 7) for five
model entries; prints the SHA-256 of each model's weights and history and writes its saved config and
sidecar (Keras's `module` field left out) under BITS_ROOT, to compare two commits on one machine.

    BITS_ROOT=/tmp/bits_old PYTHONPATH=<old checkout>/src python bits.py > old.json   # from that checkout
    BITS_ROOT=/tmp/bits_new PYTHONPATH=src python bits.py > new.json
"""

import csv
import hashlib
import json
import os
import shutil
import sys
import zipfile
from pathlib import Path

sys.path[:0] = [str(Path.cwd()), "bench"]

from tiny_digests import weight_digests  # noqa: E402

from tests.conftest import SCHEMA, TINY_CONFIG  # noqa: E402
from vae_latent_study.config import validate_config  # noqa: E402
from vae_latent_study.datasets import build_dataset, write_dataset  # noqa: E402

try:
    from vae_latent_study.training.train import train_model
except ImportError:  # before the split
    from vae_latent_study.training import train_model

DENSE = {
    "kind": "vae",
    "latent_dim": 2,
    "architecture": "dense",
    "sampler": "log_var",
    "likelihood": {"type": "gaussian", "variance": "per_feature"},
    "standardise": True,
    "encoder": {
        "trunk": [
            {"type": "batch_norm"},
            {"type": "dense", "units": 16, "activation": "relu", "activity_l2": "l2"},
            {"type": "dropout", "rate": 0.2},
        ]
    },
    "decoder": {"trunk": [{"type": "dense", "units": 16}, {"type": "leaky_relu"}]},
    "trace_generated_std": 5,
}


def strip(o):
    """`o` without Keras's `module` field and its per-process `shared_object_id`."""
    if isinstance(o, dict):
        return {k: strip(v) for k, v in o.items() if k not in ("module", "shared_object_id")}
    if isinstance(o, list):
        return [strip(v) for v in o]
    return o


def main() -> None:
    root = Path(os.environ["BITS_ROOT"])
    shutil.rmtree(root, ignore_errors=True)
    root.mkdir(parents=True)
    config = validate_config(TINY_CONFIG, SCHEMA)
    path = root / "tiny_gauss.h5"
    write_dataset(build_dataset("tiny_gauss", config["datasets"]["tiny_gauss"]), path)
    base = {n: {**h, "epochs": 3} for n, h in config["models"].items()}
    stopping = {"monitor": "val_loss", "patience": 1}
    runs = {
        **base,
        "vae_restarts": {**base["vae"], "restarts": 2, "early_stopping": stopping},
        "vae_bf16": {**base["vae"], "precision": "mixed_bfloat16"},
        "dense_vae": {**{k: v for k, v in base["vae"].items() if k != "architecture"}, **DENSE},
    }
    out = {}
    for name, hparams in runs.items():
        d = root / name
        train_model(path, hparams, 7, d / "model.keras", d / "history.csv", d / "backup")
        with zipfile.ZipFile(d / "model.keras") as z:
            (d / "cfg.json").write_text(json.dumps(strip(json.loads(z.read("config.json"))), indent=1))
        side = json.loads((d / "model.json").read_text())
        for key in ("seconds_this_run", "dataset"):
            side.pop(key)
        (d / "side.json").write_text(json.dumps(side, sort_keys=True, indent=1))
        with open(d / "history.csv", newline="") as f:
            rows = [{k: v for k, v in r.items() if k != "seconds"} for r in csv.DictReader(f)]
        out[name] = {
            "weights": weight_digests(d / "model.keras")["*"],
            "history": hashlib.sha256(json.dumps(rows).encode()).hexdigest(),
            "config": hashlib.sha256((d / "cfg.json").read_bytes()).hexdigest(),
        }
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
