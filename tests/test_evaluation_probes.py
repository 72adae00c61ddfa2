"""Latent probes on synthetic codes with known answers: separable clusters, noise labels, linear targets."""

import numpy as np
import pytest

from vae_latent_study.evaluation import probes


def _clusters(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Two 3-d Gaussian clusters 20 standard deviations apart, labelled with the df values 2 and 200."""
    rng = np.random.default_rng(seed)
    labels = np.where(rng.random(n) < 0.4, 2.0, 200.0)
    codes = rng.standard_normal((n, 3)) + np.where(labels == 2.0, 10.0, -10.0)[:, np.newaxis]
    return codes, labels


def test_knn_probe_separates_clusters_perfectly():
    train_codes, train_labels = _clusters(400, 0)
    test_codes, test_labels = _clusters(200, 1)
    result = probes.knn_probe(train_codes, train_labels, test_codes, test_labels)
    assert result["cv_accuracy"] == 1.0
    assert result["test_accuracy"] == 1.0
    assert result["test_f1"] == 1.0
    assert result["positive_label"] == 2.0  # the smaller label: the heavy tails, as the seed
    assert result["best_k"] == result["k_used"] == 3  # every k ties; GridSearchCV keeps the first
    assert [row["k"] for row in result["cv_results"]] == list(range(3, 25))
    assert set(result["cv_results"][0]) == {"k", "mean_accuracy", "std_accuracy"}
    assert result["test_positive_rate"] == pytest.approx(np.mean(test_labels == 2.0))


def test_knn_probe_refit_k_and_positive_label():
    train_codes, train_labels = _clusters(300, 2)
    test_codes, test_labels = _clusters(100, 3)
    # The seed refitted with k = 13 whatever the search chose.
    result = probes.knn_probe(
        train_codes, train_labels, test_codes, test_labels, refit_k=13, positive_label=200.0
    )
    assert result["k_used"] == 13
    assert result["positive_label"] == 200.0
    assert result["test_f1"] == 1.0


def test_knn_probe_cannot_beat_the_majority_rate_on_noise():
    rng = np.random.default_rng(4)
    codes = rng.standard_normal((1500, 3))
    labels = np.where(rng.random(1500) < 0.3, 2, 200)
    result = probes.knn_probe(codes[:1000], labels[:1000], codes[1000:], labels[1000:], k_grid=(5, 15, 45))
    majority = np.mean(labels[1000:] == 200)
    # Labels independent of the codes: no classifier beats always predicting the majority, up to the
    # sampling error of 500 test rows (standard error ~0.02).
    assert result["test_accuracy"] < majority + 0.06
    assert result["cv_accuracy"] < np.mean(labels[:1000] == 200) + 0.06


def test_knn_probe_is_deterministic_and_drops_ks_too_large_for_a_fold():
    train_codes, train_labels = _clusters(30, 5)
    test_codes, test_labels = _clusters(20, 6)
    first = probes.knn_probe(train_codes, train_labels, test_codes, test_labels)
    assert first == probes.knn_probe(train_codes, train_labels, test_codes, test_labels)
    # Training folds of 24 rows: k = 3 .. 24 all fit; with 10 rows (8 per fold) only k = 3 .. 8 do.
    assert len(first["cv_results"]) == 22
    small = probes.knn_probe(train_codes[:10], train_labels[:10], test_codes, test_labels, cv=5)
    assert [row["k"] for row in small["cv_results"]] == list(range(3, 9))


def test_regression_probe_linear_and_nonlinear_targets():
    rng = np.random.default_rng(7)
    codes = rng.uniform(-2, 2, size=(1200, 3))
    # A linear direction of the codes, and a smooth but symmetric function that no line can follow.
    targets = np.column_stack([codes @ [1.0, -2.0, 0.5] + 3.0, np.abs(codes[:, 0])])
    result = probes.regression_probe(
        codes[:900], targets[:900], codes[900:], targets[900:], ["linear", "fold"], k_grid=(3, 7, 15)
    )
    assert set(result) == {
        "linear_linear_r2",
        "linear_knn_r2",
        "linear_knn_k",
        "fold_linear_r2",
        "fold_knn_r2",
        "fold_knn_k",
    }
    assert result["linear_linear_r2"] == pytest.approx(1.0, abs=1e-12)
    assert result["linear_knn_r2"] > 0.9
    # E[|z0| | linear in z] has no linear part for z0 symmetric about 0: R^2 ~ 0 (test-set noise only).
    assert result["fold_linear_r2"] < 0.05
    assert result["fold_knn_r2"] > 0.9
    assert result["fold_knn_k"] in (3, 7, 15)
    again = probes.regression_probe(
        codes[:900], targets[:900], codes[900:], targets[900:], ["linear", "fold"], k_grid=(3, 7, 15)
    )
    assert again == result


def test_regression_probe_needs_one_name_per_target():
    codes = np.zeros((20, 3))
    with pytest.raises(ValueError, match="name"):
        probes.regression_probe(codes, np.zeros((20, 2)), codes, np.zeros((20, 2)), ["only_one"])


def test_learning_curve_probe_rows_sizes_and_reproducibility():
    train_codes, train_labels = _clusters(500, 8)
    test_codes, test_labels = _clusters(200, 9)
    rows = probes.learning_curve_probe(
        train_codes,
        train_labels,
        test_codes,
        test_labels,
        sizes=(50, 200, 10_000),
        n_repeats=2,
        random_state=3,
    )
    # Sizes past the training set are clipped to it and the full set is drawn once.
    assert [(row["train_size"], row["repeat"]) for row in rows] == [
        (50, 0),
        (50, 1),
        (200, 0),
        (200, 1),
        (500, 0),
    ]
    assert set(rows[0]) == {"train_size", "repeat", "best_k", "cv_accuracy", "test_accuracy", "test_f1"}
    assert all(row["test_accuracy"] == 1.0 and row["test_f1"] == 1.0 for row in rows)
    again = probes.learning_curve_probe(
        train_codes,
        train_labels,
        test_codes,
        test_labels,
        sizes=(50, 200, 10_000),
        n_repeats=2,
        random_state=np.random.default_rng(3),
    )
    assert again == rows


def test_learning_curve_probe_improves_with_size_on_overlapping_clusters():
    rng = np.random.default_rng(10)
    labels = np.where(rng.random(3000) < 0.5, 2, 200)
    codes = rng.standard_normal((3000, 2)) + np.where(labels == 2, 1.0, -1.0)[:, np.newaxis]
    rows = probes.learning_curve_probe(
        codes[:2000], labels[:2000], codes[2000:], labels[2000:], sizes=(20, 2000), random_state=0
    )
    # The Bayes accuracy is Phi(sqrt(2)) ~ 0.92; the full training set gets close to it.
    assert rows[-1]["test_accuracy"] > 0.88
    assert rows[-1]["test_accuracy"] >= rows[0]["test_accuracy"] - 0.02


def _overlapping(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Two 3-d Gaussian clusters one standard deviation apart: a probe gets some rows wrong."""
    rng = np.random.default_rng(seed)
    labels = np.where(rng.random(n) < 0.4, 2.0, 200.0)
    codes = rng.standard_normal((n, 3)) + np.where(labels == 2.0, 0.5, -0.5)[:, np.newaxis]
    return codes, labels


@pytest.mark.parametrize("k", [3, 13, 20])
def test_knn_refit_is_the_probes_refit_without_its_search(k):
    train_codes, train_labels = _overlapping(400, 11)
    test_codes, test_labels = _overlapping(200, 12)
    probe = probes.knn_probe(
        train_codes, train_labels, test_codes, test_labels, refit_k=k, positive_label=2.0
    )
    refit = probes.knn_refit(train_codes, train_labels, test_codes, test_labels, k, 2.0)
    assert refit == {key: probe[key] for key in ("k_used", "test_accuracy", "test_f1")}
    assert 0.5 < refit["test_accuracy"] < 1.0  # a real classifier, not a trivial one


def test_learning_curve_takes_the_callers_full_probe_instead_of_searching_again():
    train_codes, train_labels = _overlapping(300, 13)
    test_codes, test_labels = _overlapping(150, 14)
    args = (train_codes, train_labels, test_codes, test_labels)
    settings = {"sizes": (60, 120, 10_000), "random_state": 5, "positive_label": 2.0}
    searched = probes.learning_curve_probe(*args, **settings)
    full = probes.knn_probe(*args, positive_label=2.0)
    assert probes.learning_curve_probe(*args, full=full, **settings) == searched
    # The full set's row is the given probe's (no search of its own); the smaller rows are unchanged.
    marked = {**full, "best_k": -1}
    rows = probes.learning_curve_probe(*args, full=marked, **settings)
    assert rows[-1]["train_size"] == 300 and rows[-1]["best_k"] == -1
    assert rows[:-1] == searched[:-1]
