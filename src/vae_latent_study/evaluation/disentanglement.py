"""Disentanglement metrics of latent codes against known generating factors, after disentanglement_lib."""

from __future__ import annotations

import logging
from collections.abc import Sequence

import numpy as np
from joblib import Parallel, delayed
from scipy import stats
from sklearn.ensemble import GradientBoostingClassifier
from sklearn.metrics import mutual_info_score
from sklearn.svm import LinearSVC

logger = logging.getLogger(__name__)

RandomState = int | np.random.Generator | None

# Conventions: `codes` (n, d); `factors` (n, k) values or `factor_indices` (n, k) integer grid indices; the
# definitions are google-research/disentanglement_lib's (mig.py, dci.py, sap_score.py, factor_vae.py,
# unsupervised_metrics.py, utils.py), and each docstring names where it departs. disentanglement_lib samples
# fresh observations from a simulator; here the codes of a full factorial grid are precomputed, so
# "sampling a factor vector" becomes "sampling a row".

#: disentanglement_lib's FactorVAE settings (its unsupervised_study_v1 metric configs).
FACTOR_VAE_BATCH_SIZE = 64
FACTOR_VAE_NUM_TRAIN = 10_000
FACTOR_VAE_NUM_EVAL = 5_000
FACTOR_VAE_PRUNE_THRESHOLD = 0.05


def _rng(random_state: RandomState) -> np.random.Generator:
    return (
        random_state if isinstance(random_state, np.random.Generator) else np.random.default_rng(random_state)
    )


def _seed(rng: np.random.Generator) -> int:
    """A fresh int seed for scikit-learn estimators, which take no `Generator`."""
    return int(rng.integers(2**31 - 1))


def _as_2d(array: np.ndarray, name: str) -> np.ndarray:
    array = np.asarray(array)
    if array.ndim == 1:
        array = array[:, np.newaxis]
    if array.ndim != 2:
        raise ValueError(f"{name} must be (n, d); got shape {array.shape}")
    return array


def _check_rows(a: np.ndarray, b: np.ndarray, names: str) -> None:
    if a.shape[0] != b.shape[0]:
        raise ValueError(f"{names} must have the same number of rows; got {a.shape[0]} and {b.shape[0]}")


def discretize(codes: np.ndarray, n_bins: int = 20) -> np.ndarray:
    """Bin each code dim into `n_bins` equal-width bins over its own range: (n, d) -> ints in [0, n_bins).

    disentanglement_lib's `_histogram_discretize`: `np.digitize` against the left edges of `np.histogram`,
    shifted here to start at 0 (it starts at 1; mutual information does not see the shift). A constant
    dimension falls into a single bin.
    """
    codes = _as_2d(codes, "codes")
    out = np.empty(codes.shape, dtype=np.int64)
    for j in range(codes.shape[1]):
        edges = np.histogram(codes[:, j], n_bins)[1]
        out[:, j] = np.digitize(codes[:, j], edges[:-1]) - 1
    return out


def mutual_information_matrix(discrete_codes: np.ndarray, factor_indices: np.ndarray) -> np.ndarray:
    """Plug-in mutual information (nats) between every discrete code dim and factor, shape (d, k)."""
    discrete_codes = _as_2d(discrete_codes, "discrete_codes")
    factor_indices = _as_2d(factor_indices, "factor_indices")
    _check_rows(discrete_codes, factor_indices, "discrete_codes and factor_indices")
    return np.array(
        [
            [
                mutual_info_score(factor_indices[:, f], discrete_codes[:, j])
                for f in range(factor_indices.shape[1])
            ]
            for j in range(discrete_codes.shape[1])
        ]
    )


def mig(codes: np.ndarray, factor_indices: np.ndarray, n_bins: int = 20) -> dict:
    """Mutual Information Gap (Chen et al. 2018, "Isolating sources of disentanglement in VAEs", eq. 6).

    For each factor v_k: (I(z_(1); v_k) - I(z_(2); v_k)) / H(v_k), where z_(1), z_(2) are the code dims with
    the largest and second largest mutual information with v_k, estimated on histogram-discretised codes
    (disentanglement_lib's `discrete_mig`); the score is the mean over factors. Needs d >= 2.
    """
    codes = _as_2d(codes, "codes")
    factor_indices = _as_2d(factor_indices, "factor_indices")
    if codes.shape[1] < 2:
        raise ValueError("MIG needs at least two code dimensions")
    m = mutual_information_matrix(discretize(codes, n_bins), factor_indices)
    entropy = np.array([mutual_info_score(f, f) for f in factor_indices.T])
    if np.any(entropy <= 0):
        raise ValueError("every factor must take at least two values (a constant factor has zero entropy)")
    top = np.sort(m, axis=0)[::-1]
    per_factor = (top[0] - top[1]) / entropy
    return {"mig": float(per_factor.mean()), "mig_per_factor": [float(v) for v in per_factor]}


def _gbt_importances(
    x_train: np.ndarray, y_train: np.ndarray, x_test: np.ndarray, y_test: np.ndarray, seed: int
) -> tuple[np.ndarray, float, float]:
    model = GradientBoostingClassifier(random_state=seed)
    model.fit(x_train, y_train)
    train_acc = float(np.mean(model.predict(x_train) == y_train))
    test_acc = float(np.mean(model.predict(x_test) == y_test))
    return np.abs(model.feature_importances_), train_acc, test_acc


def _weighted_one_minus_entropy(importance: np.ndarray) -> float:
    """sum_i rho_i (1 - H_K(P_i.)) over rows i of `importance`, as disentanglement_lib's DCI helpers."""
    # The 1e-11 keeps rows of zeros defined (uniform, entropy 1), exactly as disentanglement_lib does.
    per_row = 1.0 - stats.entropy(importance.T + 1e-11, base=importance.shape[1])
    weights = importance if importance.sum() > 0 else np.ones_like(importance)
    rho = weights.sum(axis=1) / weights.sum()
    return float(np.sum(per_row * rho))


def dci(
    train_codes: np.ndarray,
    train_factor_indices: np.ndarray,
    test_codes: np.ndarray,
    test_factor_indices: np.ndarray,
    random_state: RandomState = 0,
    num_train: int | None = None,
    n_jobs: int | None = None,
) -> dict:
    """Disentanglement, Completeness, Informativeness (Eastwood & Williams 2018), as disentanglement_lib.

    One `GradientBoostingClassifier` (scikit-learn defaults, as disentanglement_lib) per factor predicts its
    grid index from the codes; its impurity-based `feature_importances_` form the (d, k) importance matrix R.
    Disentanglement is sum_i rho_i (1 - H_k(P_i.)) with P_ij = R_ij / sum_j R_ij and rho_i the share of code i
    in the total importance; completeness is the same over factors (1 - H_d(P~_.j)). Informativeness is the
    mean classification accuracy on train and on test (disentanglement_lib's convention; the paper reports
    a prediction error, i.e. one minus this). `num_train` subsamples the training rows (disentanglement_lib
    uses 10,000; None keeps all) because boosting costs ~20 s per 25-level factor on 9,500 rows; `n_jobs`
    fits the factors in parallel.
    """
    train_codes = _as_2d(train_codes, "train_codes")
    test_codes = _as_2d(test_codes, "test_codes")
    train_factor_indices = _as_2d(train_factor_indices, "train_factor_indices")
    test_factor_indices = _as_2d(test_factor_indices, "test_factor_indices")
    _check_rows(train_codes, train_factor_indices, "train_codes and train_factor_indices")
    _check_rows(test_codes, test_factor_indices, "test_codes and test_factor_indices")
    rng = _rng(random_state)
    if num_train is not None and num_train < train_codes.shape[0]:
        rows = np.sort(rng.choice(train_codes.shape[0], size=num_train, replace=False))
        train_codes, train_factor_indices = train_codes[rows], train_factor_indices[rows]
    seeds = [_seed(rng) for _ in range(train_factor_indices.shape[1])]
    fits = Parallel(n_jobs=n_jobs)(
        delayed(_gbt_importances)(
            train_codes, train_factor_indices[:, f], test_codes, test_factor_indices[:, f], seeds[f]
        )
        for f in range(train_factor_indices.shape[1])
    )
    importance = np.column_stack([fit[0] for fit in fits])
    return {
        "disentanglement": _weighted_one_minus_entropy(importance),
        "completeness": _weighted_one_minus_entropy(importance.T),
        "informativeness_train": float(np.mean([fit[1] for fit in fits])),
        "informativeness_test": float(np.mean([fit[2] for fit in fits])),
    }


def sap(
    train_codes: np.ndarray,
    train_factors: np.ndarray,
    test_codes: np.ndarray,
    test_factors: np.ndarray,
    continuous: bool | Sequence[bool] = True,
    random_state: RandomState = 0,
) -> dict:
    """Separated Attribute Predictability (Kumar et al. 2018, "Variational inference of disentangled latent
    concepts from unlabeled observations", Sec. 3), as disentanglement_lib's `sap_score.py`.

    Score matrix S (d, k): for a continuous factor, the R^2 of a linear fit of the factor on one code dim
    (the squared correlation, on the training rows; 0 for a constant dim); for a discrete factor, the test
    accuracy of `LinearSVC(C=0.01, class_weight="balanced")` on one code dim. SAP is the mean over factors
    of the gap between the two largest entries of each column. `continuous` may be one flag or one per
    factor (disentanglement_lib takes one flag for all).
    """
    train_codes = _as_2d(train_codes, "train_codes")
    test_codes = _as_2d(test_codes, "test_codes")
    train_factors = _as_2d(train_factors, "train_factors")
    test_factors = _as_2d(test_factors, "test_factors")
    _check_rows(train_codes, train_factors, "train_codes and train_factors")
    _check_rows(test_codes, test_factors, "test_codes and test_factors")
    if train_codes.shape[1] < 2:
        raise ValueError("SAP needs at least two code dimensions")
    n_factors = train_factors.shape[1]
    flags = [bool(continuous)] * n_factors if np.ndim(continuous) == 0 else [bool(c) for c in continuous]
    if len(flags) != n_factors:
        raise ValueError(f"continuous must be one flag or {n_factors}; got {len(flags)}")
    rng = _rng(random_state)
    score = np.zeros((train_codes.shape[1], n_factors))
    for f, is_continuous in enumerate(flags):
        y = train_factors[:, f]
        for j in range(train_codes.shape[1]):
            z = train_codes[:, j]
            if is_continuous:
                cov = np.cov(z, y, ddof=1)
                # The threshold is disentanglement_lib's: a collapsed dim predicts nothing.
                score[j, f] = cov[0, 1] ** 2 / (cov[0, 0] * cov[1, 1]) if cov[0, 0] > 1e-12 else 0.0
            else:
                classifier = LinearSVC(C=0.01, class_weight="balanced", random_state=_seed(rng))
                classifier.fit(z[:, np.newaxis], y)
                score[j, f] = np.mean(classifier.predict(test_codes[:, [j]]) == test_factors[:, f])
    top = np.sort(score, axis=0)[::-1]
    per_factor = top[0] - top[1]
    return {"sap": float(per_factor.mean()), "sap_per_factor": [float(v) for v in per_factor]}


def _fixed_factor_votes(
    codes: np.ndarray,
    factor_indices: np.ndarray,
    global_variances: np.ndarray,
    active: np.ndarray,
    batch_size: int,
    num_points: int,
    rng: np.random.Generator,
) -> np.ndarray:
    """Votes (k, d): how often fixing factor f left code dim j with the least normalised variance."""
    n, n_factors = factor_indices.shape
    factor = rng.integers(n_factors, size=num_points)
    # The fixed value is that of a random anchor row: on a full factorial grid every level is equally likely,
    # as when disentanglement_lib fixes the factor at the first of a batch drawn from the uniform prior.
    anchor = rng.integers(n, size=num_points)
    uniforms = rng.random((num_points, batch_size))
    rows = np.empty((num_points, batch_size), dtype=np.int64)
    for f in range(n_factors):
        # Rows sorted by factor f make each of its levels one contiguous block, so a batch with factor f
        # fixed is drawn (with replacement, like i.i.d. prior samples) by indexing into the block.
        order = np.argsort(factor_indices[:, f], kind="stable")
        levels, starts, counts = np.unique(factor_indices[order, f], return_index=True, return_counts=True)
        pick = factor == f
        level = np.searchsorted(levels, factor_indices[anchor[pick], f])
        offset = np.floor(uniforms[pick] * counts[level][:, np.newaxis]).astype(np.int64)
        rows[pick] = order[starts[level][:, np.newaxis] + offset]
    local_variances = np.var(codes[rows], axis=1, ddof=1)
    active_dims = np.flatnonzero(active)
    argmin = active_dims[np.argmin(local_variances[:, active] / global_variances[active], axis=1)]
    votes = np.zeros((n_factors, codes.shape[1]), dtype=np.int64)
    np.add.at(votes, (factor, argmin), 1)
    return votes


def factor_vae_score(
    codes: np.ndarray,
    factor_indices: np.ndarray,
    random_state: RandomState = 0,
    batch_size: int = FACTOR_VAE_BATCH_SIZE,
    num_train: int = FACTOR_VAE_NUM_TRAIN,
    num_eval: int = FACTOR_VAE_NUM_EVAL,
    prune_threshold: float = FACTOR_VAE_PRUNE_THRESHOLD,
) -> dict:
    """FactorVAE disentanglement score (Kim & Mnih 2018, "Disentangling by factorising", Sec. 4).

    Each training point fixes one random factor, draws `batch_size` rows sharing its value, divides each code
    dim's variance over the batch by its variance over all rows, and votes (factor, argmin dim); a majority
    vote classifier maps each dim to the factor it most often stood for, and its accuracy is read on the
    training votes and on `num_eval` fresh ones. Dims whose overall standard deviation is below
    `prune_threshold` (disentanglement_lib's 0.05, on the raw scale, meant for collapsed VAE dims) take no
    part; with none left the accuracies are 0, as disentanglement_lib. Departures from it: `codes` and
    `factor_indices` must cover a full factorial grid (each batch is drawn from its rows), the global
    variances use all rows rather than 10,000 fresh samples, and `num_active_dims` counts the active dims
    (disentanglement_lib returns the length of its boolean mask, i.e. d).
    """
    codes = _as_2d(codes, "codes").astype(np.float64)
    factor_indices = _as_2d(factor_indices, "factor_indices")
    _check_rows(codes, factor_indices, "codes and factor_indices")
    if batch_size < 2:
        raise ValueError("batch_size must be at least 2 for a variance")
    rng = _rng(random_state)
    global_variances = np.var(codes, axis=0, ddof=1)
    active = np.sqrt(global_variances) >= prune_threshold
    if not active.any():
        return {
            "factor_vae_train_accuracy": 0.0,
            "factor_vae_eval_accuracy": 0.0,
            "factor_vae_num_active_dims": 0,
        }
    train_votes = _fixed_factor_votes(
        codes, factor_indices, global_variances, active, batch_size, num_train, rng
    )
    classifier = np.argmax(train_votes, axis=0)
    dims = np.arange(codes.shape[1])
    eval_votes = _fixed_factor_votes(
        codes, factor_indices, global_variances, active, batch_size, num_eval, rng
    )
    return {
        "factor_vae_train_accuracy": float(train_votes[classifier, dims].sum() / train_votes.sum()),
        "factor_vae_eval_accuracy": float(eval_votes[classifier, dims].sum() / eval_votes.sum()),
        "factor_vae_num_active_dims": int(active.sum()),
    }


def gaussian_total_correlation(codes: np.ndarray) -> dict:
    """Total correlation of a Gaussian fitted to the codes, in nats (Watanabe 1960; disentanglement_lib's
    `unsupervised_metrics.gaussian_total_correlation`, Locatello et al. 2019).

    TC = KL(N(mu, Sigma) || prod_j N(mu_j, Sigma_jj)) = 0.5 (sum_j log Sigma_jj - log det Sigma), which
    needs no factors.
    Constant dims are dropped first: a constant is independent of everything. Perfectly collinear dims give
    infinity, the true TC of a degenerate Gaussian.
    """
    codes = _as_2d(codes, "codes").astype(np.float64)
    codes = codes[:, np.var(codes, axis=0) > 0]
    if codes.shape[1] < 2:
        return {"total_correlation": 0.0}
    sigma = np.cov(codes, rowvar=False)
    sign, logdet = np.linalg.slogdet(sigma)
    if sign <= 0:
        return {"total_correlation": float("inf")}
    return {"total_correlation": float(0.5 * (np.sum(np.log(np.diag(sigma))) - logdet))}
