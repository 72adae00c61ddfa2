"""Two studies compared metric by metric, paired by seed: known answers on hand-made tables and files."""

import json

import numpy as np
import pandas as pd
import pytest

from vae_latent_study.aggregate import equivalence


def _table(values, metric="mig", model="vae"):
    return pd.DataFrame(
        [("d", model, seed, metric, v) for seed, v in enumerate(values, start=19)],
        columns=["dataset", "model", "seed", "metric", "value"],
    )


def test_a_shift_smaller_than_the_spread_is_within_it_and_a_larger_one_is_not():
    rng = np.random.default_rng(0)
    base = 0.5 + rng.normal(0, 0.05, size=5)
    small = equivalence.compare_studies(_table(base), _table(base + 0.01)).iloc[0]
    assert small["n_seeds"] == 5 and small["within_spread"]
    assert small["diff_mean"] == pytest.approx(0.01)
    assert small["diff_ci_low"] == pytest.approx(0.01) == small["diff_ci_high"]  # a constant shift
    large = equivalence.compare_studies(_table(base), _table(base + 0.2 + rng.normal(0, 0.01, 5))).iloc[0]
    assert not large["within_spread"] and large["diff_ci_low"] > 0.15
    assert large["seed_sd"] == pytest.approx(np.sqrt((base.std(ddof=1) ** 2 + large["sd_b"] ** 2) / 2))


def test_only_shared_seeds_pair_and_one_seed_has_no_interval():
    a, b = _table([1.0, 2.0, 3.0]), _table([1.5])
    row = equivalence.compare_studies(a, b).iloc[0]
    assert row["n_seeds"] == 1 and row["within_spread"] is None and np.isnan(row["diff_ci_low"])
    assert equivalence.compare_studies(a, _table([1.0], model="ae")).empty


def test_runs_of_two_machines_pair_within_a_machine_only():
    # Seed 21 on both machines: each pairs with its own machine's partner, never across.
    amx_a, amx_b = _table([1.0, 2.0, 3.0]), _table([1.1, 2.1])
    amd_a, amd_b = _table([5.0, 7.0, 9.0]).iloc[2:], _table([0.0, 0.0, 9.3]).iloc[2:]
    a = pd.concat([equivalence.on_machine(amx_a, "amx"), equivalence.on_machine(amd_a, "amd")])
    b = pd.concat([equivalence.on_machine(amx_b, "amx"), equivalence.on_machine(amd_b, "amd")])
    row = equivalence.compare_studies(a, b).iloc[0]
    assert row["n_seeds"] == 3  # amx 19, amx 20, amd 21; amx 21 has no partner on its machine
    assert row["diff_mean"] == pytest.approx((0.1 + 0.1 + 0.3) / 3)
    assert row["mean_a"] == pytest.approx((1.0 + 2.0 + 9.0) / 3)


def test_study_metrics_reads_the_judged_metrics_and_the_final_losses(tmp_path):
    metrics = tmp_path / "results" / "metrics"
    metrics.mkdir(parents=True)
    rows = [
        ("d", "gaussian", "vae", "vae", 19, "mig", 0.3),
        ("d", "gaussian", "vae", "vae", 19, "other", 1.0),
    ]
    pd.DataFrame(rows, columns=["dataset", "family", "model", "kind", "seed", "metric", "value"]).to_csv(
        metrics / "metrics.tsv", sep="\t", index=False
    )
    sidecar = tmp_path / "results" / "models" / "d" / "vae" / "seed19" / "model.json"
    sidecar.parent.mkdir(parents=True)
    sidecar.write_text(json.dumps({"seed": 19, "final": {"loss": 440.7, "val_loss": 441.0, "epoch": 30}}))
    got = equivalence.study_metrics(tmp_path)
    assert sorted(got["metric"]) == ["final.loss", "final.val_loss", "mig"]
    assert got.set_index("metric").loc["final.val_loss", "value"] == 441.0
