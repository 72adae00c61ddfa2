"""What the true factors make knowable of seed 000's df, beside the codes' KNN df probe (issue 8).

Builds the full-size Student-t dataset of config/config.yaml (no training: the df rule, the grid and the
split are the dataset's) and computes, with the workflow's own code (`evaluation.knowable_df`, which
`probe_latents` writes into every Student-t run's probes.json as `knn_df.bayes` and
`knn_df.true_factors`): the df rule's Bayes accuracy from the true variances on the train and test rows,
its realised accuracy on the test labels, and the codes' KNN probe (k = 3..24, 5 unshuffled folds, refit
at the best k and at 13) on the true (var_x, var_y, cor); and, for comparison, the same probe on (var_x,
var_y) alone. Then the share of the knowable margin over the majority class that the committed runs' codes
recover, per run, with its median and quartiles.

    PYTHONPATH=src python docs/measurements/df_oracle/df_oracle.py   # from the repository root

Writes df_oracle.json and df_oracle.md beside this script.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from vae_latent_study.config import validate_config
from vae_latent_study.datasets import build_dataset
from vae_latent_study.kinds.heatmaps import evaluate as evaluation

REPO = Path(__file__).resolve().parents[3]
HERE = Path(__file__).resolve().parent
MEASUREMENTS = REPO / "docs" / "measurements"

#: Committed runs of the Student-t dataset (metrics.tsv of each study): the pooled float32 runs the README
#: quotes (Intel seeds 19, 20; AMD 21) and config/spread.yaml's five bfloat16 seeds (Intel with AMX).
RUN_SETS = {
    "float32, pooled (AMX 19, 20; AMD 21)": [
        "precision-amx/float32/results/metrics/metrics.tsv",
        "precision-amd/float32/results/metrics/metrics.tsv",
    ],
    "bfloat16, spread.yaml (AMX 19-23)": ["spread-amx/results/metrics/metrics.tsv"],
}
#: The df-conditioned VAE of the tails study (one run, seed 19, float32 on the AMD machine).
TAILS_PROBES = "tails/probes.json"


def quartiles(values) -> dict:
    q1, median, q3 = np.percentile(np.asarray(values, dtype=np.float64), [25, 50, 75])
    return {"n": len(values), "median": float(median), "q1": float(q1), "q3": float(q3)}


def main() -> None:
    config = validate_config(
        yaml.safe_load((REPO / "config" / "config.yaml").read_text()), REPO / "config" / "config.schema.yaml"
    )
    settings = config["evaluation"]
    start = time.perf_counter()
    dataset = build_dataset("student_t", config["datasets"]["student_t"], threads=2)
    built = time.perf_counter() - start
    df = dataset.factor("df")
    y_train, y_test = df[dataset.train], df[dataset.test]
    common = {
        "k_grid": list(range(settings["knn_k"][0], settings["knn_k"][1] + 1)),
        "cv": settings["cv_folds"],
        "positive_label": float(np.min(dataset.factor_grids["df"])),
        "n_jobs": 2,
    }
    start = time.perf_counter()
    knowable = evaluation.knowable_df(
        dataset, dataset.train, dataset.test, y_train, y_test, settings["fixed_k"], common
    )
    seconds = time.perf_counter() - start
    # The same probe on the variances alone (not shipped: see df_oracle.md).
    variances = [dataset.factor_names.index(n) for n in ("var_x", "var_y")]
    best, fixed = evaluation._knn_df_probe(
        dataset.factors[np.ix_(dataset.train, variances)],
        y_train,
        dataset.factors[np.ix_(dataset.test, variances)],
        y_test,
        settings["fixed_k"],
        common,
    )
    positive_rate = float(np.mean(y_test == common["positive_label"]))
    chance = max(positive_rate, 1 - positive_rate)
    bayes = knowable["bayes"]["test_accuracy"]

    runs = []
    for name, files in RUN_SETS.items():
        for file in files:
            tidy = pd.read_csv(MEASUREMENTS / file, sep="\t")
            rows = tidy[(tidy["dataset"] == "student_t") & (tidy["metric"] == "knn_df.fixed_k.test_accuracy")]
            for row in rows.itertuples():
                runs.append(
                    {
                        "set": name,
                        "file": file,
                        "model": row.model,
                        "seed": int(row.seed),
                        "accuracy": float(row.value),
                    }
                )
    tails = json.loads((MEASUREMENTS / TAILS_PROBES).read_text())
    runs.append(
        {
            "set": "tails (float32, AMD 19)",
            "file": TAILS_PROBES,
            "model": tails["model"],
            "seed": int(tails["seed"]),
            "accuracy": float(tails["knn_df"]["fixed_k"]["test_accuracy"]),
        }
    )
    for run in runs:
        run["share_of_knowable"] = (run["accuracy"] - chance) / (bayes - chance)
    table = pd.DataFrame(runs)
    spreads = [
        {
            "set": s,
            "model": m,
            "accuracy": quartiles(g["accuracy"]),
            "share_of_knowable": quartiles(g["share_of_knowable"]),
        }
        for (s, m), g in table.groupby(["set", "model"], sort=False)
    ]
    result = {
        "dataset": {
            "name": "student_t",
            "config": config["datasets"]["student_t"],
            "checksum": dataset.manifest["checksum"]["sha256"],
            "n_train": len(dataset.train),
            "n_test": len(dataset.test),
            "build_seconds": round(built, 2),
        },
        "settings": {**{k: v for k, v in common.items() if k != "n_jobs"}, "fixed_k": settings["fixed_k"]},
        "test_positive_rate": positive_rate,
        "majority_class_accuracy": chance,
        "knn_df": knowable,
        "knowable_seconds": round(seconds, 2),
        "variances_only": {
            "settings": {"codes": ["var_x", "var_y"]},
            "best": {k: best[k] for k in ("best_k", "cv_accuracy", "test_accuracy", "test_f1")},
            "fixed_k": fixed,
        },
        "codes": {"runs": runs, "spread": spreads},
    }
    (HERE / "df_oracle.json").write_text(json.dumps(result, indent=2) + "\n")

    b, t = knowable["bayes"], knowable["true_factors"]
    lines = [
        "# What the true factors make knowable of df (seed 000's Student-t data)",
        "",
        "`PYTHONPATH=src python docs/measurements/df_oracle/df_oracle.py` (full-size dataset of "
        f"config/config.yaml, {len(dataset.train)} train / {len(dataset.test)} test rows, built in "
        f"{built:.1f} s; the knowable numbers in {seconds:.1f} s on 2 shared cores). They depend on the "
        "dataset only, so every Student-t run's probes.json states the same values.",
        "",
        "| quantity | train | test |",
        "| --- | --- | --- |",
        f"| df rule's Bayes accuracy from (var_x, var_y), expected over the rule's noise | "
        f"{b['train_accuracy']:.4f} | {b['test_accuracy']:.4f} |",
        f"| the same Bayes classifier on the stored labels | | {b['test_accuracy_realised']:.4f} |",
        f"| KNN probe on the true (var_x, var_y, cor), best k = {t['best']['best_k']} (shipped) | "
        f"cv {t['best']['cv_accuracy']:.4f} | {t['best']['test_accuracy']:.4f} |",
        f"| KNN probe on the true (var_x, var_y, cor), k = {t['fixed_k']['k_used']} (shipped) | "
        f"cv {t['fixed_k']['cv_accuracy']:.4f} | {t['fixed_k']['test_accuracy']:.4f} |",
        f"| KNN probe on (var_x, var_y) only, best k = {best['best_k']} (not shipped) | "
        f"cv {best['cv_accuracy']:.4f} | {best['test_accuracy']:.4f} |",
        f"| KNN probe on (var_x, var_y) only, k = {fixed['k_used']} (not shipped) | "
        f"cv {fixed['cv_accuracy']:.4f} | {fixed['test_accuracy']:.4f} |",
        f"| majority class (df = 200) | | {chance:.4f} |",
        "",
        "The codes' KNN df probe (k = 13, test accuracy) of the committed runs, and the share of the margin "
        f"the variances make knowable over the majority class ({bayes:.4f} - {chance:.4f} = "
        f"{bayes - chance:.4f}) that it recovers: median [quartiles] over runs.",
        "",
        "| runs | model | n | codes' accuracy | share of the knowable margin |",
        "| --- | --- | --- | --- | --- |",
    ]
    for s in spreads:
        a, r = s["accuracy"], s["share_of_knowable"]
        lines.append(
            f"| {s['set']} | {s['model']} | {a['n']} | {a['median']:.4f} [{a['q1']:.4f}, {a['q3']:.4f}] | "
            f"{100 * r['median']:.0f}% [{100 * r['q1']:.0f}%, {100 * r['q3']:.0f}%] |"
        )
    (HERE / "df_oracle.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
