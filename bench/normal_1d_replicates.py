"""Seed 002's 20-replicate measurement, in one process: for each model and training seed, the replicate's
dataset, its training and its evaluation, with the workflow's own functions (`datasets.make_dataset`,
`training.train_model`, the `generation` evaluation through `evaluation.runner`), then
`summarise_replicates` per model.

    python bench/normal_1d_replicates.py --out docs/measurements/normal_1d [--models vae_1d ...]

Models: the config's (config/config.yaml) and VARIANTS below (a config model with some keys replaced).
Writes, under --out: replicates.csv (one row per model and seed), traces.csv (the per-epoch generated sd),
summary_<model>.json, trace_<model>.png, and fitted_ks_population.json (the ML-fitted normal's exact KS to
the truth for n = 67, by simulation). Runs whose evaluation exists under --workdir are not redone.
"""

from __future__ import annotations

import argparse
import copy
import csv
import json
import time
from pathlib import Path

import numpy as np
import yaml

from vae_latent_study.config import training_hparams, validate_config
from vae_latent_study.kinds.registry import replicate_seed

ROOT = Path(__file__).resolve().parents[1]
#: Variants measured beside the config's models: (base model, replaced keys).
VARIANTS = {
    # Today's port before the option: BatchNorm and Dropout in training mode, as Keras 3's fit calls them.
    "vae_1d_keras3": ("vae_1d", {"layers_while_training": "training"}),
    "vae_1d_corrected_keras3": ("vae_1d_corrected", {"layers_while_training": "training"}),
    # The faithful model over a fixed 150 epochs, no early stopping: the transient after the answer's stop.
    "vae_1d_150_epochs": ("vae_1d", {"epochs": 150, "early_stopping": None}),
}
DEFAULT_MODELS = [
    "vae_1d",
    "vae_1d_corrected",
    "vae_1d_standardised",
    "vae_1d_learned_variance",
    "vae_1d_keras3",
    "vae_1d_corrected_keras3",
    "vae_1d_150_epochs",
]


def model_config(config: dict, name: str) -> dict:
    if name in config["models"]:
        return copy.deepcopy(config["models"][name])
    base, replaced = VARIANTS[name]
    model = copy.deepcopy(config["models"][base])
    for key, value in replaced.items():
        if value is None:
            model.pop(key, None)
        else:
            model[key] = value
    return model


def population_fitted_ks(n_train: int, draws: int, seed: int = 20_021_067) -> dict:
    """The exact KS distance of the ML-fitted normal of n_train draws of N(0, 1) to N(0, 1), over `draws`
    samples: median and quartiles (the distance is scale and location free)."""
    from vae_latent_study.kinds.normal_1d.data import normal_ks_distance

    rng = np.random.default_rng(seed)
    values = [
        normal_ks_distance(float(x.mean()), float(x.std()), 0.0, 1.0)
        for x in rng.standard_normal((draws, n_train))
    ]
    q25, median, q75 = np.percentile(values, [25, 50, 75])
    return {"n_train": n_train, "draws": draws, "seed": seed, "median": median, "q25": q25, "q75": q75}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs/measurements/normal_1d")
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/normal_1d_replicates"))
    parser.add_argument("--models", nargs="+", default=DEFAULT_MODELS)
    parser.add_argument("--seeds", nargs="+", type=int, default=list(range(1, 21)))
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument(
        "--no-backup",
        action="store_true",
        help="skip the per-epoch resume backup (it only serves a resume after a kill: the numbers are the "
        "same, each epoch about 0.1 s faster)",
    )
    args = parser.parse_args()
    if args.no_backup:
        import keras

        from vae_latent_study.training import callbacks

        class _NoBackup(keras.callbacks.Callback):
            def __init__(self, *args: object, **kwargs: object) -> None:
                super().__init__()

        callbacks._AtomicBackup = _NoBackup

    from vae_latent_study.datasets import make_dataset
    from vae_latent_study.evaluation.runner import Context
    from vae_latent_study.evaluation.runner import run as run_evaluation
    from vae_latent_study.kinds.normal_1d.evaluate import summarise_replicates
    from vae_latent_study.training.train import train_model

    config = validate_config(
        yaml.safe_load((ROOT / "config/config.yaml").read_text()), ROOT / "config/config.schema.yaml"
    )
    args.out.mkdir(parents=True, exist_ok=True)
    population = args.out / "fitted_ks_population.json"
    if not population.exists():  # 20,000 draws: a minute; the same seed gives the same file
        population.write_text(json.dumps(population_fitted_ks(67, 20_000), indent=2) + "\n")
    rows, traces = [], []
    for name in args.models:
        model = model_config(config, name)
        hparams = training_hparams(model, "normal_1d")
        protocol = model.get("generation") or "decoded_mean"
        evaluations, histories = [], []
        for seed in args.seeds:
            run = args.workdir / name / f"seed{seed}"
            run.mkdir(parents=True, exist_ok=True)
            data_config = dict(config["datasets"]["normal_1d"])
            data_config["seed"] = replicate_seed(data_config["seed"], seed)
            dataset = args.workdir / "data" / f"normal_1d_seed{seed}.h5"
            if not dataset.exists():
                dataset.parent.mkdir(parents=True, exist_ok=True)
                make_dataset("normal_1d", data_config, dataset)
            evaluation = run / "generation.json"
            if not evaluation.exists():
                start = time.perf_counter()
                train_model(
                    dataset,
                    hparams,
                    seed,
                    run / "model.keras",
                    run / "history.csv",
                    run / "backup",
                    threads=args.threads,
                    label=f"{name} seed {seed}",
                )
                # As the workflow's evaluate_generation rule runs it (evaluation.runner).
                context = Context(
                    name="generation",
                    identity={
                        "dataset": "normal_1d",
                        "dataset_kind": "normal_1d",
                        "model": name,
                        "model_kind": hparams["kind"],
                        "seed": seed,
                        "family": "normal_1d",
                    },
                    inputs={"model": str(run / "model.keras"), "dataset": str(dataset)},
                    outputs={k: str(run / f"{k}.png") for k in ("histogram", "qq", "decoder_curve")},
                    settings={"model": {"generation": protocol}},
                )
                run_evaluation(context, "vae_latent_study.kinds.normal_1d.evaluate", evaluation)
                print(f"{name} seed {seed}: {time.perf_counter() - start:.1f} s", flush=True)
            evaluations.append(evaluation)
            histories.append(run / "history.csv")
            result = json.loads(evaluation.read_text())
            sidecar = json.loads((run / "model.json").read_text())
            g = result["generated"]
            row = {
                "model": name,
                "seed": seed,
                "protocol": protocol,
                "epochs_trained": sidecar["epochs_trained"],
                "generated_mean": g["model_mean"],
                "generated_std": g["model_std"],
                "model_ks": g["model_ks"],
                "fitted_ks": g["fitted_ks"],
                "fitted_ks_exact": g["fitted_ks_exact"],
                "fresh_ks": g["fresh_ks"],
                "ks_over_fitted": g["model_ks"] / g["fitted_ks"],
                "model_w1": g["model_w1"],
                "fitted_w1": g["fitted_w1"],
                "kl_mean": result["codes"].get("kl_mean"),
                "code_mean": result["codes"]["mean"]["z0"],
                "code_std": result["codes"]["std"]["z0"],
            }
            for how, scores in result.get("protocols", {}).items():
                row[f"{how}_std"] = scores["model_std"]
                row[f"{how}_ks"] = scores["model_ks"]
            if "observation_sd" in result:
                row["observation_sd"] = result["observation_sd"]["median"]
            rows.append(row)
            with open(run / "history.csv", newline="") as f:
                for h in csv.DictReader(f):
                    if h.get("generated_std"):
                        traces.append(
                            {
                                "model": name,
                                "seed": seed,
                                "epoch": int(h["epoch"]),
                                "loss": h["loss"],
                                "generated_std": h["generated_std"],
                            }
                        )
        summary = summarise_replicates(
            evaluations, histories=histories, trace_figure=args.out / f"trace_{name}.png"
        )
        summary["replicates"] = [{"seed": r["seed"]} for r in summary["replicates"]]  # no temp paths
        (args.out / f"summary_{name}.json").write_text(json.dumps(summary, indent=2, sort_keys=True) + "\n")
        write_csv(args.out / "replicates.csv", rows)
        write_csv(args.out / "traces.csv", traces)


def write_csv(path: Path, rows: list[dict]) -> None:
    columns = list(dict.fromkeys(key for row in rows for key in row))
    with open(path, "w", newline="") as f:
        writer = csv.DictWriter(f, columns, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)


if __name__ == "__main__":
    main()
