"""Evaluation of the latent stores: reconstruction errors, probes and disentanglement scores, their tidy
table, summaries over training seeds, and the comparison with the numbers the source notebook printed.

Each of `evaluate_reconstruction`, `probe_latents` and `score_latents` is one workflow rule. Each writes a
JSON file whose top level holds the identity of the run (`dataset`, `family`, `model`, `kind`, `seed`,
...), its numbers (scalars or nested dicts of scalars; lists are details), and its provenance
(`inputs`: the latent file's path and SHA-256 and the dataset's manifest checksum; `versions`).
`collect_metrics` turns every numeric leaf of those files into one row of a tidy table, its metric named
by the dotted path of keys (`frobenius_sample.mean`, `knn_df.fixed_k.test_f1`, `dci.completeness`).
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from vae_latent_study import heatmaps, metrics, probes
from vae_latent_study.datasets import Dataset, read_dataset
from vae_latent_study.io import atomic_path, read_json, reading
from vae_latent_study.latents import SPLITS, Latents, read_latents
from vae_latent_study.provenance import file_sha256, library_versions

logger = logging.getLogger(__name__)

#: Factors that are class labels rather than continuous quantities.
DISCRETE_FACTORS = ("df",)

#: The neighbour count the notebook refitted its df classifier with, for both models.
SEED_FIXED_K = 13

#: Training rows of DCI's boosted trees. disentanglement_lib uses 10,000, but boosting costs ~20 s per
#: 25-level factor on 9,500 rows; on 2,000 rows it is ~6 s (measured on a shared core), so the three or four
#: factors take ~15-20 s on one core.
DCI_NUM_TRAIN = 2000

#: Columns of the tidy metric table.
TIDY_COLUMNS = ("dataset", "family", "model", "kind", "seed", "metric", "value")

# Top-level keys that identify a run rather than measure it, and keys that are never metrics at any level.
_IDENTITY_KEYS = frozenset(
    {"dataset", "family", "model", "kind", "seed", "evaluation_seed", "latent_dim", "n_train", "n_test"}
)
_NON_METRIC_KEYS = frozenset({"settings", "inputs", "versions", "notes", "source"})


# --- shared helpers -------------------------------------------------------------------------------------


def _load(latents_path: str | Path, dataset_path: str | Path) -> tuple[Latents, Dataset]:
    """Read a latent store and its dataset, and check that the store was encoded from this dataset."""
    latents = read_latents(latents_path)
    dataset = read_dataset(dataset_path)
    checksum = dataset.manifest["checksum"]["sha256"]
    if latents.attrs.get("dataset_checksum") != checksum:
        raise ValueError(
            f"{latents_path} was encoded from a dataset with checksum "
            f"{latents.attrs.get('dataset_checksum')}; {dataset_path} has {checksum}"
        )
    for name in SPLITS:
        if not np.array_equal(latents.split(name).rows, getattr(dataset, name)):
            raise ValueError(f"{latents_path}: the {name} rows differ from the split of {dataset_path}")
    return latents, dataset


def _identity(
    latents: Latents, dataset: Dataset, dataset_name: str | None, model_name: str | None
) -> dict[str, Any]:
    return {
        "dataset": dataset_name if dataset_name is not None else dataset.manifest.get("dataset"),
        "family": dataset.manifest.get("config", {}).get("family"),
        "model": model_name if model_name is not None else latents.kind,
        "kind": latents.kind,
        "seed": latents.seed,
        "latent_dim": latents.latent_dim,
        "n_train": len(latents.train.rows),
        "n_test": len(latents.test.rows),
    }


def _provenance(
    latents: Latents, dataset: Dataset, latents_path: str | Path, dataset_path: str | Path
) -> dict[str, Any]:
    return {
        "inputs": {
            "latents": {
                "path": str(latents_path),
                "sha256": file_sha256(latents_path),
                "model_path": latents.attrs.get("model_path"),
                "dataset_checksum": latents.attrs.get("dataset_checksum"),
            },
            "dataset": {"path": str(dataset_path), "checksum": dataset.manifest["checksum"]["sha256"]},
        },
        "versions": library_versions(),
    }


def _write_json(payload: Mapping[str, Any], path: str | Path) -> None:
    # Non-finite numbers (an infinite total correlation) are written as JSON's common extension Infinity/NaN.
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(payload, indent=2) + "\n")
    logger.info("wrote %s", path)


def _write_tsv(table: pd.DataFrame, path: str | Path) -> None:
    with atomic_path(path) as tmp:
        table.to_csv(tmp, sep="\t", index=False)
    logger.info("wrote %s (%d rows)", path, len(table))


def _factor_columns(dataset: Dataset, rows: np.ndarray) -> dict[str, np.ndarray]:
    return {name: dataset.factors[rows, j] for j, name in enumerate(dataset.factor_names)}


# --- 1. reconstruction ----------------------------------------------------------------------------------


def reconstruction_errors(images: np.ndarray, reconstructions: np.ndarray) -> np.ndarray:
    """Frobenius norm of (reconstruction - image) per image, (n, h, w) x 2 -> (n,), as the notebook's
    `LA.norm(rec - x_test, axis=(1, 2))` but computed in float64."""
    images = np.asarray(images, dtype=np.float64)
    reconstructions = np.asarray(reconstructions, dtype=np.float64)
    if images.shape != reconstructions.shape or images.ndim != 3:
        raise ValueError(
            f"need two (n, h, w) arrays of one shape; got {images.shape} and {reconstructions.shape}"
        )
    return np.sqrt(np.sum((reconstructions - images) ** 2, axis=(1, 2)))


def error_summary(errors: np.ndarray) -> dict[str, float]:
    """Mean, median, 95th percentile (linear interpolation), maximum and standard deviation of errors."""
    errors = np.asarray(errors, dtype=np.float64)
    return {
        "mean": float(np.mean(errors)),
        "median": float(np.median(errors)),
        "p95": float(np.percentile(errors, 95)),
        "max": float(np.max(errors)),
        "std": float(np.std(errors, ddof=1)) if len(errors) > 1 else math.nan,
    }


def evaluate_reconstruction(
    latents_path: str | Path,
    dataset_path: str | Path,
    per_image_path: str | Path,
    summary_path: str | Path,
    *,
    dataset_name: str | None = None,
    model_name: str | None = None,
) -> None:
    """Per test image, the Frobenius error of the decoded sample (`frobenius_sample`, the notebook's
    quantity) and of the decoded mean code (`frobenius_mean`); a TSV per image and a JSON summary.

    For the AE both reconstructions are the decoded code, so the two columns are equal. `dataset_name` and
    `model_name` (the workflow's wildcards) default to the dataset manifest's name and the model's kind.
    """
    latents, dataset = _load(latents_path, dataset_path)
    test = latents.test
    if test.reconstruction_mean is None or test.reconstruction_sample is None:
        raise ValueError(f"{latents_path} holds no test reconstructions")
    images = dataset.images[test.rows]
    sample = reconstruction_errors(images, test.reconstruction_sample)
    mean = reconstruction_errors(images, test.reconstruction_mean)
    per_image = pd.DataFrame(
        {
            "row": test.rows,
            **_factor_columns(dataset, test.rows),
            "frobenius_sample": sample,
            "frobenius_mean": mean,
        }
    )
    summary = {
        **_identity(latents, dataset, dataset_name, model_name),
        "frobenius_sample": error_summary(sample),
        "frobenius_mean": error_summary(mean),
        "notes": {
            "frobenius_sample": "||decoder(z) - x||_F per test image, z the store's seeded sample "
            "(the notebook's quantity); for the AE z is the code",
            "frobenius_mean": "||decoder(z_mean) - x||_F per test image",
            "p95": "95th percentile, linear interpolation",
        },
        **_provenance(latents, dataset, latents_path, dataset_path),
    }
    _write_tsv(per_image, per_image_path)
    _write_json(summary, summary_path)


# --- 2. probes ------------------------------------------------------------------------------------------


def probe_latents(
    latents_path: str | Path,
    dataset_path: str | Path,
    output_path: str | Path,
    seed: int,
    k_grid: Iterable[int] = probes.K_GRID,
    cv: int = 5,
    learning_curve_sizes: Sequence[int] = probes.LEARNING_CURVE_SIZES,
    fixed_k: int = SEED_FIXED_K,
    *,
    dataset_name: str | None = None,
    model_name: str | None = None,
    n_jobs: int | None = None,
) -> None:
    """What the codes hold, as JSON: regressions of the continuous factors on `z_mean` (test R^2), and when
    the dataset has a `df` factor, the notebook's KNN df classifier on the sampled codes `z` (the VAE's
    seeded sample, the AE's code), refitted both at the grid search's best k (`knn_df.best`) and at the
    notebook's fixed k = 13 (`knn_df.fixed_k`, its `cv_accuracy` read off the same grid search), with
    its learning curve. Without `df`, `knn_df` and `learning_curve` are null. `seed` seeds the regression
    folds and the learning curve's subsets; the df grid search, like the notebook's, has unshuffled folds.
    """
    latents, dataset = _load(latents_path, dataset_path)
    k_grid = [int(k) for k in k_grid]
    regression_rng, curve_rng = np.random.default_rng(seed).spawn(2)
    train, test = latents.train, latents.test
    continuous = [n for n in dataset.factor_names if n not in DISCRETE_FACTORS]
    columns = [dataset.factor_names.index(n) for n in continuous]
    regression = probes.regression_probe(
        train.z_mean,
        dataset.factors[np.ix_(train.rows, columns)],
        test.z_mean,
        dataset.factors[np.ix_(test.rows, columns)],
        names=continuous,
        k_grid=k_grid,
        cv=cv,
        random_state=regression_rng,
        n_jobs=n_jobs,
    )
    payload: dict[str, Any] = {
        **_identity(latents, dataset, dataset_name, model_name),
        "evaluation_seed": int(seed),
        "regression": {"settings": {"codes": "z_mean", "factors": continuous, "k_grid": k_grid, "cv": cv}}
        | regression,
        "knn_df": None,
        "learning_curve": None,
    }
    if "df" in dataset.factor_names:
        df_column = dataset.factor_names.index("df")
        y_train, y_test = dataset.factors[train.rows, df_column], dataset.factors[test.rows, df_column]
        positive = float(np.min(dataset.factor_grids["df"]))  # the heavy tails, the notebook's df == 2
        common = {"k_grid": k_grid, "cv": cv, "positive_label": positive, "n_jobs": n_jobs}
        best, fixed_scores = _knn_df_probe(train.z, y_train, test.z, y_test, fixed_k, common)
        curve = probes.learning_curve_probe(
            train.z, y_train, test.z, y_test, sizes=learning_curve_sizes, random_state=curve_rng, **common
        )
        payload["knn_df"] = {
            "settings": {
                "codes": "z",
                "positive_label": positive,
                "k_grid": k_grid,
                "cv": cv,
                "fixed_k": int(fixed_k),
            },
            "test_positive_rate": best["test_positive_rate"],
            "best": {key: best[key] for key in ("best_k", "cv_accuracy", "test_accuracy", "test_f1")},
            "fixed_k": fixed_scores,
            "cv_results": best["cv_results"],
            **knowable_df(dataset, train.rows, test.rows, y_train, y_test, fixed_k, common),
        }
        payload["learning_curve"] = {
            "settings": {"codes": "z", "sizes": [int(s) for s in learning_curve_sizes]},
            "rows": curve,
        }
    payload.update(_provenance(latents, dataset, latents_path, dataset_path))
    _write_json(payload, output_path)


def _knn_df_probe(
    train_x: np.ndarray,
    y_train: np.ndarray,
    test_x: np.ndarray,
    y_test: np.ndarray,
    fixed_k: int,
    common: Mapping[str, Any],
) -> tuple[dict, dict]:
    """The notebook's KNN df probe of `train_x` / `test_x`: the grid search refitted at its best k, and the
    scores at `fixed_k`. Returns (`probes.knn_probe` at the best k, the fixed-k scores)."""
    best = probes.knn_probe(train_x, y_train, test_x, y_test, **common)
    fixed = probes.knn_probe(train_x, y_train, test_x, y_test, refit_k=fixed_k, **common)
    # The fixed-k fit shares the grid search; its own cross-validated accuracy is the grid's at k = 13.
    at_fixed_k = [r["mean_accuracy"] for r in best["cv_results"] if r["k"] == int(fixed_k)]
    fixed_scores = {
        "k_used": fixed["k_used"],
        "cv_accuracy": at_fixed_k[0] if at_fixed_k else None,
        "test_accuracy": fixed["test_accuracy"],
        "test_f1": fixed["test_f1"],
    }
    return best, fixed_scores


#: The factors the df probe of the true factors reads: all the continuous factors the images are drawn from.
KNOWABLE_DF_FACTORS = ("var_x", "var_y", "cor")


def knowable_df(
    dataset: Dataset,
    train_rows: np.ndarray,
    test_rows: np.ndarray,
    y_train: np.ndarray,
    y_test: np.ndarray,
    fixed_k: int,
    common: Mapping[str, Any],
) -> dict[str, Any]:
    """What the true factors make knowable of df, beside the codes' probe (`knn_df.bayes`,
    `knn_df.true_factors`): properties of the dataset alone, the same for every model trained on it.

    `bayes`: the df rule's Bayes accuracy from (var_x, var_y) (`heatmaps.df_bayes_accuracy`, expected over
    the rule's noise) on the training and test rows, and the accuracy of that classifier on the test rows'
    stored labels (`test_accuracy_realised`, the codes' probe's own labels). `true_factors`: the codes'
    probe, the same function and settings, on the true (var_x, var_y, cor) instead of the codes. The rule's
    parameters are read from the dataset's manifest; a dataset without a df rule gets no `bayes`. Nothing
    here draws random numbers (the grid search's folds are unshuffled).
    """
    out: dict[str, Any] = {}
    rule = dataset.manifest.get("config", {}).get("df_rule")
    if rule is not None and {"var_x", "var_y"} <= set(dataset.factor_names):
        var_x, var_y = dataset.factor("var_x"), dataset.factor("var_y")
        realised = heatmaps.df_bayes_prediction(var_x[test_rows], var_y[test_rows], rule) == y_test
        out["bayes"] = {
            "settings": {"factors": ["var_x", "var_y"], "df_rule": dict(rule)},
            "train_accuracy": heatmaps.df_bayes_accuracy(var_x[train_rows], var_y[train_rows], rule),
            "test_accuracy": heatmaps.df_bayes_accuracy(var_x[test_rows], var_y[test_rows], rule),
            "test_accuracy_realised": float(np.mean(realised)),
        }
    if set(KNOWABLE_DF_FACTORS) <= set(dataset.factor_names):
        columns = [dataset.factor_names.index(n) for n in KNOWABLE_DF_FACTORS]
        best, fixed_scores = _knn_df_probe(
            dataset.factors[np.ix_(train_rows, columns)],
            y_train,
            dataset.factors[np.ix_(test_rows, columns)],
            y_test,
            fixed_k,
            common,
        )
        out["true_factors"] = {
            "settings": {"codes": list(KNOWABLE_DF_FACTORS)},
            "best": {key: best[key] for key in ("best_k", "cv_accuracy", "test_accuracy", "test_f1")},
            "fixed_k": fixed_scores,
        }
    return out


# --- 3. disentanglement ---------------------------------------------------------------------------------


def _all_rows(latents: Latents, n_images: int) -> np.ndarray:
    """The z_mean of every image, train and test together, ordered by dataset row."""
    rows = np.concatenate([latents.train.rows, latents.test.rows])
    order = np.argsort(rows, kind="stable")
    if not np.array_equal(rows[order], np.arange(n_images)):
        raise ValueError("the train and test rows of the latent store do not cover the dataset once each")
    return np.concatenate([latents.train.z_mean, latents.test.z_mean])[order]


def score_latents(
    latents_path: str | Path,
    dataset_path: str | Path,
    output_path: str | Path,
    seed: int,
    *,
    dataset_name: str | None = None,
    model_name: str | None = None,
    dci_num_train: int | None = DCI_NUM_TRAIN,
    n_jobs: int | None = None,
) -> None:
    """Disentanglement metrics of the mean codes `z_mean`, as JSON (see `metrics` for the definitions).

    MIG, SAP and the Gaussian total correlation read the held-out test codes; DCI fits its boosted trees on
    (`dci_num_train` of) the training codes and reports informativeness on both. SAP treats var_x, var_y
    and cor as continuous (their values) and df as a class. The FactorVAE score needs rows sharing each
    factor level across the whole grid, so it reads the codes of all images, train and test in dataset row
    order (80% of them images the encoder was trained on; its majority vote is fitted to votes, not to the
    codes). `seed` seeds every random choice (one independent stream per metric).
    """
    latents, dataset = _load(latents_path, dataset_path)
    names = dataset.factor_names
    train, test = latents.train, latents.test
    dci_rng, sap_rng, factor_vae_rng = np.random.default_rng(seed).spawn(3)
    mig = metrics.mig(test.z_mean, dataset.factor_indices[test.rows])
    dci = metrics.dci(
        train.z_mean,
        dataset.factor_indices[train.rows],
        test.z_mean,
        dataset.factor_indices[test.rows],
        random_state=dci_rng,
        num_train=dci_num_train,
        n_jobs=n_jobs,
    )
    continuous = [name not in DISCRETE_FACTORS for name in names]
    sap = metrics.sap(
        train.z_mean,
        dataset.factors[train.rows],
        test.z_mean,
        dataset.factors[test.rows],
        continuous=continuous,
        random_state=sap_rng,
    )
    factor_vae = metrics.factor_vae_score(
        _all_rows(latents, len(dataset.images)), dataset.factor_indices, random_state=factor_vae_rng
    )
    payload = {
        **_identity(latents, dataset, dataset_name, model_name),
        "evaluation_seed": int(seed),
        "settings": {
            "codes": "z_mean",
            "factors": names,
            "sap_continuous": dict(zip(names, continuous, strict=True)),
            "dci_num_train": dci_num_train,
            "factor_vae_rows": "train and test, in dataset row order",
        },
        "mig": mig["mig"],
        "mig_per_factor": dict(zip(names, mig["mig_per_factor"], strict=True)),
        "dci": dci,
        "sap": sap["sap"],
        "sap_per_factor": dict(zip(names, sap["sap_per_factor"], strict=True)),
        "factor_vae": {key.removeprefix("factor_vae_"): value for key, value in factor_vae.items()},
        "total_correlation": metrics.gaussian_total_correlation(test.z_mean)["total_correlation"],
        **_provenance(latents, dataset, latents_path, dataset_path),
    }
    _write_json(payload, output_path)


# --- 4. the tidy table ----------------------------------------------------------------------------------


def _numeric_leaves(node: Mapping[str, Any], prefix: str = "") -> Iterator[tuple[str, float]]:
    for key, value in node.items():
        if key in _NON_METRIC_KEYS or (not prefix and key in _IDENTITY_KEYS):
            continue
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            yield from _numeric_leaves(value, f"{name}.")
        elif isinstance(value, int | float) and not isinstance(value, bool):
            yield name, float(value)


def collect_metrics(paths: Sequence[str | Path], output_tsv: str | Path | None = None) -> pd.DataFrame:
    """Every numeric leaf of the evaluation JSONs as one tidy table (`TIDY_COLUMNS`), metric names the dotted
    key paths; identity, settings and provenance are not metrics, and lists (cross-validation results,
    learning curves) stay in the JSONs. Written as TSV when `output_tsv` is given."""
    records = []
    for path in paths:
        payload = read_json(path)
        ident = {key: payload.get(key) for key in ("dataset", "family", "model", "kind", "seed")}
        records.extend({**ident, "metric": name, "value": value} for name, value in _numeric_leaves(payload))
    tidy = pd.DataFrame.from_records(records, columns=list(TIDY_COLUMNS))
    tidy["seed"] = tidy["seed"].astype("int64")
    tidy["value"] = tidy["value"].astype("float64")
    duplicated = tidy.duplicated(["dataset", "model", "seed", "metric"], keep=False)
    if duplicated.any():
        raise ValueError(f"metrics reported twice: {tidy[duplicated].head().to_dict('records')}")
    tidy = tidy.sort_values(["dataset", "model", "seed", "metric"], ignore_index=True)
    if output_tsv is not None:
        _write_tsv(tidy, output_tsv)
    return tidy


# --- 5. summaries over seeds ----------------------------------------------------------------------------


def bootstrap_mean_ci(values: Sequence[float], n_boot: int = 2000, seed: int = 0) -> tuple[float, float, str]:
    """Percentile bootstrap 95% interval of the mean, and how it was made.

    Fewer than two values, or a non-finite one, give (NaN, NaN) with the reason instead.
    """
    values = np.asarray(values, dtype=np.float64)
    if len(values) < 2:
        return math.nan, math.nan, "no CI: fewer than 2 seeds"
    if not np.all(np.isfinite(values)):
        return math.nan, math.nan, "no CI: non-finite values"
    if np.ptp(values) == 0:
        return float(values[0]), float(values[0]), "all seeds equal"
    result = stats.bootstrap(
        (values,),
        np.mean,
        n_resamples=n_boot,
        confidence_level=0.95,
        method="percentile",
        rng=np.random.default_rng(seed),
    )
    interval = result.confidence_interval
    return float(interval.low), float(interval.high), f"percentile bootstrap, {n_boot} resamples"


@dataclass(frozen=True)
class Claim:
    """One of the source's qualitative VAE-vs-AE claims, as a paired test over training seeds.

    `alternative` is the direction of the VAE-minus-AE difference the claim asserts (`greater`, `less`),
    or `equivalent`: |difference| < `margin`, by two one-sided t-tests (TOST).
    """

    text: str
    metric: str
    alternative: str
    margin: float | None = None


#: The notebook's three claims (seed 000), judged at CLAIM_LEVEL.
CLAIMS = (
    Claim(
        "the AE's mean test error is lower than the VAE's (sampled code)", "frobenius_sample.mean", "greater"
    ),
    Claim("the KNN df accuracies of the two are similar", "knn_df.fixed_k.test_accuracy", "equivalent", 0.02),
    Claim("the VAE's code is denser than the AE's (empty share)", "exploration.empty_share", "less"),
)
CLAIM_LEVEL = 0.05
CLAIM_COLUMNS = ("claim", "test", "margin", "statistic", "p_value", "verdict")


def judge_claim(claim: Claim, diff: Sequence[float]) -> dict[str, Any]:
    """The claim's paired test on the per-seed VAE-minus-AE differences `diff`, and a verdict that can come
    out either way: `supported` / `not supported` at CLAIM_LEVEL, or for fewer than 2 seeds `undecided`."""
    diff = np.asarray(diff, dtype=np.float64)
    row: dict[str, Any] = {"claim": claim.text, "margin": claim.margin}
    if claim.alternative == "equivalent":
        row["test"] = f"TOST, paired t-tests against +-{claim.margin}"
    else:
        row["test"] = f"paired one-sided t-test, VAE - AE {'>' if claim.alternative == 'greater' else '<'} 0"
    if len(diff) < 2 or np.std(diff) == 0:
        reason = "fewer than 2 seeds" if len(diff) < 2 else "identical differences"
        return {**row, "statistic": math.nan, "p_value": math.nan, "verdict": f"undecided ({reason})"}
    if claim.alternative == "equivalent":
        lower = stats.ttest_1samp(diff, -claim.margin, alternative="greater")
        upper = stats.ttest_1samp(diff, claim.margin, alternative="less")
        worse = max((lower, upper), key=lambda result: result.pvalue)
        statistic, p_value = float(worse.statistic), float(worse.pvalue)
        supported = p_value < CLAIM_LEVEL
        verdict = (
            f"supported: equivalent within +-{claim.margin}"
            if supported
            else f"not supported: not shown equivalent within +-{claim.margin}"
        )
    else:
        result = stats.ttest_1samp(diff, 0.0, alternative=claim.alternative)
        statistic, p_value = float(result.statistic), float(result.pvalue)
        verdict = "supported" if p_value < CLAIM_LEVEL else "not supported"
    return {**row, "statistic": statistic, "p_value": p_value, "verdict": verdict}


def summarise_metrics(
    tidy: pd.DataFrame,
    summary_tsv: str | Path | None = None,
    paired_tsv: str | Path | None = None,
    n_boot: int = 2000,
    seed: int = 0,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Each metric over training seeds, and the VAE-minus-AE difference paired by seed.

    The summary has one row per dataset x model x metric: n_seeds, mean, std (ddof 1), and a percentile
    bootstrap 95% CI of the mean (`ci_low`, `ci_high`; NaN with one seed, as `ci_method` says). The paired
    table has one row per dataset x (VAE-kind model, AE-kind model) x metric over the seeds both have:
    n_pairs, both means, the mean difference VAE - AE and its bootstrap CI. Each bootstrap is seeded with
    `seed`, so a row does not depend on the others.
    """
    keys = ["dataset", "family", "model", "kind", "metric"]
    summary_rows = []
    for key, group in tidy.groupby(keys, sort=True, dropna=False):
        values = group["value"].to_numpy()
        low, high, method = bootstrap_mean_ci(values, n_boot=n_boot, seed=seed)
        summary_rows.append(
            {
                **dict(zip(keys, key, strict=True)),
                "n_seeds": len(values),
                "mean": float(np.mean(values)),
                "std": float(np.std(values, ddof=1)) if len(values) > 1 else math.nan,
                "ci_low": low,
                "ci_high": high,
                "ci_method": method,
            }
        )
    summary = pd.DataFrame(
        summary_rows, columns=[*keys, "n_seeds", "mean", "std", "ci_low", "ci_high", "ci_method"]
    )

    paired_rows = []
    for (dataset, family), data in tidy.groupby(["dataset", "family"], sort=True, dropna=False):
        vae_models = sorted(data.loc[data["kind"] == "vae", "model"].unique())
        ae_models = sorted(data.loc[data["kind"] == "ae", "model"].unique())
        for vae_model in vae_models:
            for ae_model in ae_models:
                vae = data[data["model"] == vae_model].pivot(index="seed", columns="metric", values="value")
                ae = data[data["model"] == ae_model].pivot(index="seed", columns="metric", values="value")
                seeds = vae.index.intersection(ae.index).sort_values()
                for metric in sorted(vae.columns.intersection(ae.columns)):
                    pair = pd.DataFrame({"vae": vae.loc[seeds, metric], "ae": ae.loc[seeds, metric]}).dropna()
                    if pair.empty:
                        continue
                    diff = (pair["vae"] - pair["ae"]).to_numpy()
                    low, high, method = bootstrap_mean_ci(diff, n_boot=n_boot, seed=seed)
                    claim = next((c for c in CLAIMS if c.metric == metric), None)
                    judged = judge_claim(claim, diff) if claim is not None else dict.fromkeys(CLAIM_COLUMNS)
                    paired_rows.append(
                        {
                            "dataset": dataset,
                            "family": family,
                            "vae_model": vae_model,
                            "ae_model": ae_model,
                            "metric": metric,
                            "n_pairs": len(pair),
                            "seeds": ",".join(str(s) for s in pair.index),
                            "vae_mean": float(pair["vae"].mean()),
                            "ae_mean": float(pair["ae"].mean()),
                            "diff_mean": float(np.mean(diff)),
                            "diff_ci_low": low,
                            "diff_ci_high": high,
                            "ci_method": method,
                            **judged,
                        }
                    )
    paired = pd.DataFrame(
        paired_rows,
        columns=[
            "dataset",
            "family",
            "vae_model",
            "ae_model",
            "metric",
            "n_pairs",
            "seeds",
            "vae_mean",
            "ae_mean",
            "diff_mean",
            "diff_ci_low",
            "diff_ci_high",
            "ci_method",
            *CLAIM_COLUMNS,
        ],
    )
    if summary_tsv is not None:
        _write_tsv(summary, summary_tsv)
    if paired_tsv is not None:
        _write_tsv(paired, paired_tsv)
    return summary, paired


# --- 6. the source's printed numbers ----------------------------------------------------------------


@dataclass(frozen=True)
class ExpectedNumber:
    """One number a study's source printed, and the metric of ours that measures the same thing."""

    quantity: str
    metric: str  # our metric name in the tidy table
    value: float
    line: int | None  # line of the printed value in the source document
    tolerance: str | None  # key of the file's `tolerances`
    where: tuple[tuple[str, str], ...] = ()  # tidy-table columns the compared runs must match (family, kind)
    note: str = ""


@dataclass(frozen=True)
class ExpectedNumbers:
    """A study's expected-numbers file (config/expected/<name>.yaml), read by `read_expected`."""

    source: str
    tolerances: dict[str, tuple[str, float] | None]
    entries: tuple[ExpectedNumber, ...]


_WHERE_COLUMNS = ("dataset", "family", "model", "kind")


def read_expected(path: str | Path) -> ExpectedNumbers:
    """Read and check an expected-numbers file: `source`, `tolerances` ({name: [mode, value] or null}) and
    `expected` (entries with quantity, metric, value, line, tolerance, where, note)."""
    import yaml

    with reading(path):
        data = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    tolerances = {
        name: None if spec is None else (str(spec[0]), float(spec[1]))
        for name, spec in (data.get("tolerances") or {}).items()
    }
    entries = []
    for i, item in enumerate(data.get("expected") or []):
        where = dict(item.get("where") or {})
        tolerance = item.get("tolerance")
        problems = [] if tolerance in tolerances else [f"unknown tolerance {tolerance!r}"]
        problems += [
            f"'where' key {k!r} is not one of {_WHERE_COLUMNS}" for k in where if k not in _WHERE_COLUMNS
        ]
        problems += [f"no {key!r}" for key in ("quantity", "metric", "value") if key not in item]
        if problems:
            raise ValueError(f"{path}: expected[{i}]: " + "; ".join(problems))
        entries.append(
            ExpectedNumber(
                quantity=str(item["quantity"]),
                metric=str(item["metric"]),
                value=float(item["value"]),
                line=None if item.get("line") is None else int(item["line"]),
                tolerance=item.get("tolerance"),
                where=tuple(sorted((str(k), str(v)) for k, v in where.items())),
                note=str(item.get("note") or ""),
            )
        )
    for mode, _ in filter(None, tolerances.values()):
        if mode not in ("relative", "absolute"):
            raise ValueError(f"{path}: tolerance mode must be 'relative' or 'absolute'; got {mode!r}")
    return ExpectedNumbers(str(data.get("source", "")), tolerances, tuple(entries))


COMPARISON_COLUMNS = (
    "study",
    "quantity",
    "family",
    "kind",
    "expected_value",
    "source_line",
    "metric",
    "dataset",
    "model",
    "n_seeds",
    "ours_mean",
    "ours_min",
    "ours_max",
    "ours_sd",
    "ours_ci_low",
    "ours_ci_high",
    "in_seed_range",
    "difference",
    "relative_difference",
    "tolerance_mode",
    "tolerance",
    "verdict",
    "note",
)


def _verdict(ours: float, expected: float, tolerance: tuple[str, float] | None) -> str:
    if tolerance is None:
        return "not judged"
    mode, value = tolerance
    bound = value * abs(expected) if mode == "relative" else value
    return "within" if abs(ours - expected) <= bound else "outside"


def _seed_spread(values: np.ndarray, expected: float) -> dict[str, Any]:
    """Our values' sd over seeds, the 95% t-interval of their mean, and whether the source's single run
    lies within the range our seeds span (`inside`, `outside`; `one seed` when there is no range)."""
    if len(values) < 2:
        return {
            "ours_sd": math.nan,
            "ours_ci_low": math.nan,
            "ours_ci_high": math.nan,
            "in_seed_range": "one seed",
        }
    low, high = mean_t_interval(values)
    inside = values.min() <= expected <= values.max()
    return {
        "ours_sd": float(values.std(ddof=1)),
        "ours_ci_low": low,
        "ours_ci_high": high,
        "in_seed_range": "inside" if inside else "outside",
    }


def mean_t_interval(values: np.ndarray) -> tuple[float, float]:
    """The 95% Student-t interval of the mean of `values` (at least 2)."""
    values = np.asarray(values, dtype=np.float64)
    half = float(stats.t.ppf(0.975, len(values) - 1)) * float(values.std(ddof=1)) / math.sqrt(len(values))
    return float(values.mean()) - half, float(values.mean()) + half


def compare_expected(
    tidy: pd.DataFrame,
    expected: ExpectedNumbers,
    study: str = "",
    tolerance: Mapping[str, tuple[str, float] | None] | None = None,
) -> pd.DataFrame:
    """Each expected number beside ours (the mean over training seeds), per dataset and model its `where`
    matches, with a verdict: "within" or "outside" its tolerance, "not judged" (no tolerance), or "no
    value" (no run of ours measures it). `tolerance` overrides entries of the file's tolerances; the mode
    and value used are columns of the table (`COMPARISON_COLUMNS`)."""
    tolerances = {**expected.tolerances, **(tolerance or {})}
    rows = []
    for entry in expected.entries:
        tol = tolerances[entry.tolerance]
        where = dict(entry.where)
        base = {
            "study": study,
            "quantity": entry.quantity,
            "family": where.get("family"),
            "kind": where.get("kind"),
            "expected_value": entry.value,
            "source_line": entry.line,
            "metric": entry.metric,
            "tolerance_mode": tol[0] if tol else None,
            "tolerance": tol[1] if tol else math.nan,
            "note": entry.note,
        }
        match = tidy["metric"] == entry.metric
        for column, value in entry.where:
            match &= tidy[column] == value
        found = tidy[match]
        if found.empty:
            rows.append({**base, "n_seeds": 0, "verdict": "no value"})
            continue
        for (dataset, model), group in found.groupby(["dataset", "model"], sort=True):
            values = group["value"].to_numpy(dtype=np.float64)
            ours = float(values.mean())
            difference = ours - entry.value
            spread = _seed_spread(values, entry.value)
            rows.append(
                {
                    **base,
                    "dataset": dataset,
                    "model": model,
                    "n_seeds": len(group),
                    "ours_mean": ours,
                    "ours_min": float(group["value"].min()),
                    "ours_max": float(group["value"].max()),
                    **spread,
                    "difference": difference,
                    "relative_difference": difference / entry.value if entry.value else math.nan,
                    "verdict": _verdict(ours, entry.value, tol),
                }
            )
    return pd.DataFrame(rows, columns=list(COMPARISON_COLUMNS))


def compare_with_expected(
    tidy: pd.DataFrame,
    studies: Mapping[str, Mapping[str, Any]],
    expected_files: Mapping[str, str | Path],
    output_tsv: str | Path | None = None,
) -> pd.DataFrame:
    """The comparison of every study that has expected numbers: `studies` maps a study to its `datasets`
    and `models` (the runs it compares), `expected_files` a study to its expected-numbers file."""
    tables = []
    for study in sorted(expected_files):
        spec = studies[study]
        own = tidy[tidy["dataset"].isin(spec["datasets"]) & tidy["model"].isin(spec["models"])]
        tables.append(compare_expected(own, read_expected(expected_files[study]), study))
    empty = pd.DataFrame(columns=list(COMPARISON_COLUMNS))
    table = pd.concat(tables, ignore_index=True) if tables else empty
    if output_tsv is not None:
        _write_tsv(table, output_tsv)
    return table


def aggregate_metrics(
    paths: Sequence[str | Path],
    tidy_tsv: str | Path,
    summary_tsv: str | Path,
    paired_tsv: str | Path,
    n_boot: int = 2000,
    seed: int = 0,
    explorations: Sequence[str | Path] = (),
) -> None:
    """The aggregation rule's job: one tidy table of every metric, its summary over seeds and the paired
    VAE-vs-AE comparison (see `collect_metrics` and `summarise_metrics`). `explorations` (the latent-space
    summaries of `explore.explore_latents`) add each run's `exploration.empty_share`."""
    tidy = collect_metrics(paths)
    if explorations:
        tidy = add_exploration_metrics(tidy, explorations)
    _write_tsv(tidy, tidy_tsv)
    summarise_metrics(tidy, summary_tsv, paired_tsv, n_boot=n_boot, seed=seed)


#: Numbers of the exploration summaries that join the metrics: (metric name, key path).
EXPLORATION_METRICS = (("exploration.empty_share", ("empty_space", "share")),)


def add_exploration_metrics(tidy: pd.DataFrame, explorations: Sequence[str | Path]) -> pd.DataFrame:
    """`tidy` with the EXPLORATION_METRICS of each exploration summary, in the same order and columns
    (the family is the one the run's other metrics name)."""
    families = dict(zip(tidy["dataset"], tidy["family"], strict=True))
    records = []
    for path in explorations:
        payload = read_json(path)
        for name, keys in EXPLORATION_METRICS:
            node: Any = payload
            for key in keys:
                node = node[key]
            records.append(
                {
                    **{key: payload[key] for key in ("dataset", "model", "kind", "seed")},
                    "family": families.get(payload["dataset"]),
                    "metric": name,
                    "value": float(node),
                }
            )
    added = pd.DataFrame.from_records(records, columns=list(TIDY_COLUMNS))
    tidy = pd.concat([tidy, added.astype(tidy.dtypes.to_dict())], ignore_index=True)
    return tidy.sort_values(["dataset", "model", "seed", "metric"], ignore_index=True)
