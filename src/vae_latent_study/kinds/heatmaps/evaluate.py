"""Evaluation of the latent stores: reconstruction errors, probes and disentanglement scores, their tidy
table, summaries over training seeds, and the comparison with the numbers the source notebook printed.

Each of `evaluate_reconstruction`, `evaluate_probes` and `evaluate_scores` is one evaluation of the kind's
spec (one workflow rule, run by `evaluation.runner`): it returns the run's numbers (scalars or nested
dicts of scalars; lists are details) beside the run's size (`latent_dim`, `n_train`, `n_test`), and the
runner writes them with the run's identity and provenance. `collect_metrics` turns every numeric leaf of
those files into one row of a tidy table, its metric named by the dotted path of keys
(`frobenius_sample.mean`, `knn_df.fixed_k.test_f1`, `dci.completeness`).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from vae_latent_study.datasets import Dataset
from vae_latent_study.evaluation import disentanglement as metrics
from vae_latent_study.evaluation import probes
from vae_latent_study.evaluation.latents import SPLITS, Latents, read_latents
from vae_latent_study.io import write_table
from vae_latent_study.kinds.heatmaps import data as heatmaps

if TYPE_CHECKING:
    from vae_latent_study.evaluation.runner import Context

logger = logging.getLogger(__name__)

#: Factors that are class labels rather than continuous quantities.
DISCRETE_FACTORS = ("df",)

#: Training rows of DCI's boosted trees. disentanglement_lib uses 10,000, but boosting costs ~20 s per
#: 25-level factor on 9,500 rows; on 2,000 rows it is ~6 s (measured on a shared core), so the three or four
#: factors take ~15-20 s on one core.
DCI_NUM_TRAIN = 2000

# --- shared helpers -------------------------------------------------------------------------------------


def _load(ctx: Context) -> tuple[Latents, Dataset]:
    """Read a run's latent store and dataset, and check that the store was encoded from this dataset."""
    latents_path, dataset_path = ctx.input("latents"), ctx.input("dataset")
    latents = read_latents(latents_path)
    dataset = ctx.dataset
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


def _run_size(latents: Latents) -> dict[str, Any]:
    """What describes the run beside its numbers (not metrics): its code size and its splits' sizes."""
    return {
        "latent_dim": latents.latent_dim,
        "n_train": len(latents.train.rows),
        "n_test": len(latents.test.rows),
    }


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


def evaluate_reconstruction(ctx: Context) -> dict[str, Any]:
    """Per test image, the Frobenius error of the decoded sample (`frobenius_sample`, the notebook's
    quantity) and of the decoded mean code (`frobenius_mean`); a TSV per image (`ctx.outputs["per_image"]`)
    and their summary, returned.

    For the AE both reconstructions are the decoded code, so the two columns are equal.
    """
    latents, dataset = _load(ctx)
    test = latents.test
    if test.reconstruction_mean is None or test.reconstruction_sample is None:
        raise ValueError(f"{ctx.input('latents')} holds no test reconstructions")
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
        **_run_size(latents),
        "frobenius_sample": error_summary(sample),
        "frobenius_mean": error_summary(mean),
        "notes": {
            "frobenius_sample": "||decoder(z) - x||_F per test image, z the store's seeded sample "
            "(the notebook's quantity); for the AE z is the code",
            "frobenius_mean": "||decoder(z_mean) - x||_F per test image",
            "p95": "95th percentile, linear interpolation",
        },
    }
    write_table(per_image, ctx.outputs["per_image"])
    return summary


# --- 2. probes ------------------------------------------------------------------------------------------


def evaluate_probes(ctx: Context) -> dict[str, Any]:
    """`probe_latents` of a run with its `evaluation` settings (`knn_k`, `cv_folds`, `fixed_k`,
    `learning_curve_sizes`, the global `seed`)."""
    settings = ctx.settings
    return probe_latents(
        *_load(ctx),
        seed=settings["seed"],
        k_grid=range(settings["knn_k"][0], settings["knn_k"][1] + 1),
        cv=settings["cv_folds"],
        learning_curve_sizes=settings["learning_curve_sizes"],
        fixed_k=settings["fixed_k"],
        n_jobs=ctx.threads,
    )


def probe_latents(
    latents: Latents,
    dataset: Dataset,
    seed: int,
    k_grid: Iterable[int] = probes.K_GRID,
    cv: int = 5,
    learning_curve_sizes: Sequence[int] = probes.LEARNING_CURVE_SIZES,
    *,
    fixed_k: int,
    n_jobs: int | None = None,
) -> dict[str, Any]:
    """What the codes hold: regressions of the continuous factors on `z_mean` (test R^2), and when
    the dataset has a `df` factor, the notebook's KNN df classifier on the sampled codes `z` (the VAE's
    seeded sample, the AE's code), refitted both at the grid search's best k (`knn_df.best`) and at
    `fixed_k`, the config's `evaluation.fixed_k` (the source's 13: `knn_df.fixed_k`, its `cv_accuracy` read
    off the same grid search), with
    its learning curve. Without `df`, `knn_df` and `learning_curve` are null. `seed` seeds the regression
    folds and the learning curve's subsets; the df grid search, like the notebook's, has unshuffled folds.
    """
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
        **_run_size(latents),
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
        # The curve's full-size row is `best` (the same probe on the same codes): not searched again.
        curve = probes.learning_curve_probe(
            train.z,
            y_train,
            test.z,
            y_test,
            sizes=learning_curve_sizes,
            random_state=curve_rng,
            full=best,
            **common,
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
    return payload


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
    # The fixed-k fit shares the grid search (`knn_refit`: the refit alone, not a second search); its own
    # cross-validated accuracy is the grid's at k = 13.
    fixed = probes.knn_refit(train_x, y_train, test_x, y_test, fixed_k, common["positive_label"])
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


def evaluate_scores(ctx: Context) -> dict[str, Any]:
    """`score_latents` of a run with its `evaluation` settings (`dci_num_train`, the global `seed`)."""
    settings = ctx.settings
    return score_latents(
        *_load(ctx), seed=settings["seed"], dci_num_train=settings["dci_num_train"], n_jobs=ctx.threads
    )


def score_latents(
    latents: Latents,
    dataset: Dataset,
    seed: int,
    *,
    dci_num_train: int | None = DCI_NUM_TRAIN,
    n_jobs: int | None = None,
) -> dict[str, Any]:
    """Disentanglement metrics of the mean codes `z_mean` (see `metrics` for the definitions).

    MIG, SAP and the Gaussian total correlation read the held-out test codes; DCI fits its boosted trees on
    (`dci_num_train` of) the training codes and reports informativeness on both. SAP treats var_x, var_y
    and cor as continuous (their values) and df as a class. The FactorVAE score needs rows sharing each
    factor level across the whole grid, so it reads the codes of all images, train and test in dataset row
    order (80% of them images the encoder was trained on; its majority vote is fitted to votes, not to the
    codes). `seed` seeds every random choice (one independent stream per metric).
    """
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
    return {
        **_run_size(latents),
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
    }
