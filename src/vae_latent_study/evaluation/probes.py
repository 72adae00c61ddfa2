"""Probes of what latent codes hold: the seed's KNN df classifier, factor regressions, learning curves."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np
from sklearn.linear_model import LinearRegression
from sklearn.metrics import accuracy_score, f1_score, r2_score
from sklearn.model_selection import GridSearchCV, KFold, train_test_split
from sklearn.neighbors import KNeighborsClassifier, KNeighborsRegressor

logger = logging.getLogger(__name__)

RandomState = int | np.random.Generator | None

#: The seed's grid of neighbour counts, `np.arange(3, 25)`.
K_GRID = tuple(range(3, 25))

#: Training-subset sizes of `learning_curve_probe`; sizes past the training set are clipped to it.
LEARNING_CURVE_SIZES = (100, 300, 1000, 3000, 10_000)


def _seed(random_state: RandomState) -> int:
    """An int seed for scikit-learn, which takes no `Generator`."""
    if isinstance(random_state, np.random.Generator):
        return int(random_state.integers(2**31 - 1))
    return random_state


def _as_2d(array: np.ndarray) -> np.ndarray:
    array = np.asarray(array)
    return array[:, np.newaxis] if array.ndim == 1 else array


def _usable_k(k_grid: Iterable[int], n_rows: int, cv: int) -> list[int]:
    """The ks of the grid that the smallest cross-validation training fold can serve."""
    n_fit = n_rows - -(-n_rows // cv)  # the largest validation fold holds ceil(n / cv) rows
    ks = [int(k) for k in k_grid if k <= n_fit]
    if not ks:
        raise ValueError(f"no k in the grid fits a training fold of {n_fit} rows")
    return ks


def knn_probe(
    train_codes: np.ndarray,
    train_labels: np.ndarray,
    test_codes: np.ndarray,
    test_labels: np.ndarray,
    k_grid: Iterable[int] = K_GRID,
    cv: int = 5,
    positive_label: float | None = None,
    refit_k: int | None = None,
    n_jobs: int | None = None,
) -> dict:
    """How well a k-nearest-neighbour classifier reads a label off the codes, as the seed's df probe.

    `GridSearchCV(KNeighborsClassifier(), {"n_neighbors": k_grid}, cv=cv)` on the training codes (plain
    stratified folds in row order, as the seed; its rows are the split's shuffled order), then a classifier
    with `refit_k` neighbours (the seed fixed 13 for both models) or, when None, the best k, fitted on all
    training codes and scored on the test codes: accuracy and the F1 score of `positive_label` (default the
    smallest label, df = 2, the heavy tails, as the seed's `f1_score(y == 2, pred == 2)`). Codes are not
    rescaled: the probe asks what the latent geometry itself separates.
    """
    train_codes, test_codes = _as_2d(train_codes), _as_2d(test_codes)
    train_labels, test_labels = np.asarray(train_labels), np.asarray(test_labels)
    if positive_label is None:
        positive_label = np.min(train_labels)
    ks = _usable_k(k_grid, train_codes.shape[0], cv)
    search = GridSearchCV(KNeighborsClassifier(), {"n_neighbors": ks}, cv=cv, n_jobs=n_jobs)
    search.fit(train_codes, train_labels)
    best_k = int(search.best_params_["n_neighbors"])
    refit = knn_refit(
        train_codes,
        train_labels,
        test_codes,
        test_labels,
        best_k if refit_k is None else refit_k,
        positive_label,
    )
    results = search.cv_results_
    return {
        "best_k": best_k,
        "k_used": refit["k_used"],
        "cv_accuracy": float(search.best_score_),
        "test_accuracy": refit["test_accuracy"],
        "test_f1": refit["test_f1"],
        "positive_label": positive_label.item() if isinstance(positive_label, np.generic) else positive_label,
        "test_positive_rate": float(np.mean(test_labels == positive_label)),
        "cv_results": [
            {"k": int(k), "mean_accuracy": float(mean), "std_accuracy": float(std)}
            for k, mean, std in zip(
                results["param_n_neighbors"],
                results["mean_test_score"],
                results["std_test_score"],
                strict=True,
            )
        ],
    }


def knn_refit(
    train_codes: np.ndarray,
    train_labels: np.ndarray,
    test_codes: np.ndarray,
    test_labels: np.ndarray,
    k: int,
    positive_label: float,
) -> dict:
    """`knn_probe`'s refit without its grid search: a classifier with `k` neighbours fitted on all training
    codes and scored on the test codes (`k_used`, `test_accuracy`, the F1 score of `positive_label`). For
    a second k on codes already searched (the seed's fixed k = 13), so the search runs once."""
    train_codes, test_codes = _as_2d(train_codes), _as_2d(test_codes)
    train_labels, test_labels = np.asarray(train_labels), np.asarray(test_labels)
    classifier = KNeighborsClassifier(n_neighbors=int(k)).fit(train_codes, train_labels)
    predicted = classifier.predict(test_codes)
    return {
        "k_used": int(k),
        "test_accuracy": float(accuracy_score(test_labels, predicted)),
        "test_f1": float(f1_score(test_labels == positive_label, predicted == positive_label)),
    }


def regression_probe(
    train_codes: np.ndarray,
    train_targets: np.ndarray,
    test_codes: np.ndarray,
    test_targets: np.ndarray,
    names: Sequence[str],
    k_grid: Iterable[int] = K_GRID,
    cv: int = 5,
    random_state: RandomState = 0,
    n_jobs: int | None = None,
) -> dict:
    """Test R^2 of each continuous factor predicted from the codes, linearly and by k nearest neighbours.

    `LinearRegression` asks whether a factor is a linear direction of the latent space; `KNeighborsRegressor`
    with k chosen by `GridSearchCV` (R^2 over shuffled `KFold`s, so row order does not matter) asks whether
    it is a smooth function of the codes at all. Returns `<name>_linear_r2`, `<name>_knn_r2` and
    `<name>_knn_k` per factor.
    """
    train_codes, test_codes = _as_2d(train_codes), _as_2d(test_codes)
    train_targets, test_targets = _as_2d(train_targets), _as_2d(test_targets)
    if len(names) != train_targets.shape[1]:
        raise ValueError(f"need one name per target column; got {len(names)} for {train_targets.shape[1]}")
    folds = KFold(n_splits=cv, shuffle=True, random_state=_seed(random_state))
    ks = _usable_k(k_grid, train_codes.shape[0], cv)
    out: dict = {}
    for j, name in enumerate(names):
        y_train, y_test = train_targets[:, j], test_targets[:, j]
        linear = LinearRegression().fit(train_codes, y_train)
        search = GridSearchCV(
            KNeighborsRegressor(), {"n_neighbors": ks}, cv=folds, scoring="r2", n_jobs=n_jobs
        )
        search.fit(train_codes, y_train)
        out[f"{name}_linear_r2"] = float(r2_score(y_test, linear.predict(test_codes)))
        out[f"{name}_knn_r2"] = float(r2_score(y_test, search.predict(test_codes)))
        out[f"{name}_knn_k"] = int(search.best_params_["n_neighbors"])
    return out


def learning_curve_probe(
    train_codes: np.ndarray,
    train_labels: np.ndarray,
    test_codes: np.ndarray,
    test_labels: np.ndarray,
    sizes: Sequence[int] = LEARNING_CURVE_SIZES,
    random_state: RandomState = 0,
    k_grid: Iterable[int] = K_GRID,
    cv: int = 5,
    positive_label: float | None = None,
    n_repeats: int = 1,
    n_jobs: int | None = None,
    full: Mapping[str, Any] | None = None,
) -> list[dict]:
    """Test accuracy and F1 of `knn_probe` (grid search over k included) fitted on growing training subsets.

    A manual loop rather than `sklearn.model_selection.learning_curve`, which scores on cross-validation
    folds: here every subset is scored on the same held-out test codes, as the seed's probe. Subsets are
    stratified random draws (so both labels are present even at small sizes), `n_repeats` per size; sizes
    past the training set are clipped to it (drawn once: the full set does not vary). One row per
    (size, repeat). `full`: the caller's `knn_probe` of the whole training set with the same settings,
    where it has one; the full set's row then takes its numbers rather than searching again (the same).
    """
    train_codes = _as_2d(train_codes)
    train_labels = np.asarray(train_labels)
    n_train = train_codes.shape[0]
    if positive_label is None:
        positive_label = np.min(train_labels)
    rng = (
        random_state if isinstance(random_state, np.random.Generator) else np.random.default_rng(random_state)
    )
    rows: list[dict] = []
    for size in sorted({min(int(s), n_train) for s in sizes}):
        for repeat in range(n_repeats if size < n_train else 1):
            if size < n_train:
                subset, _ = train_test_split(
                    np.arange(n_train), train_size=size, stratify=train_labels, random_state=_seed(rng)
                )
            else:
                subset = np.arange(n_train)
            if size == n_train and full is not None:
                probe = full
                rows.append(_curve_row(size, repeat, probe))
                continue
            probe = knn_probe(
                train_codes[subset],
                train_labels[subset],
                test_codes,
                test_labels,
                k_grid=k_grid,
                cv=cv,
                positive_label=positive_label,
                n_jobs=n_jobs,
            )
            rows.append(_curve_row(size, repeat, probe))
    return rows


def _curve_row(size: int, repeat: int, probe: Mapping[str, Any]) -> dict:
    """One row of `learning_curve_probe`: a subset's size and repeat, and its probe's scores."""
    return {
        "train_size": int(size),
        "repeat": repeat,
        "best_k": probe["best_k"],
        "cv_accuracy": probe["cv_accuracy"],
        "test_accuracy": probe["test_accuracy"],
        "test_f1": probe["test_f1"],
    }
