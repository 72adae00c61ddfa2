"""Seed 002's generation evaluation on a tiny VAE trained in seconds: the JSON's identity and sections, a
true sample's small KS, byte-identical reruns, the figures, a constant decoder's known answers, an AE
without a prior, and the summary over replicates."""

import json
import math

import numpy as np
import pytest

from vae_latent_study.datasets import read_dataset
from vae_latent_study.io import read_json
from vae_latent_study.kinds.normal_1d import data as normal_1d
from vae_latent_study.kinds.normal_1d import evaluate as normal_1d_generation

from .conftest import evaluation_context

MEAN, STD = 100.0, 10.0

#: A tiny dense VAE with seed 002's options (corrected loss), BatchNorm in both networks so that training
#: mode changes the decodes; seconds to train.
TINY_VAE = {
    "kind": "vae",
    "latent_dim": 1,
    "architecture": "dense",
    "sampler": "log_var",
    "kl_reduction": "sum",
    "likelihood": {"type": "squared_error", "variant": "corrected"},
    "encoder": {"trunk": [{"type": "batch_norm"}, {"type": "dense", "units": 8, "activation": "relu"}]},
    "decoder": {
        "trunk": [{"type": "dense", "units": 8, "activation": "relu"}, {"type": "batch_norm"}],
        "heads": {"mean": [{"type": "dense", "units": "features"}]},
    },
    "epochs": 3,
    "batch_size": 11,
    "schedule": {"type": "constant", "learning_rate": 0.01},
}
N_SAMPLES = 3_000
SECTIONS = ("generated", "prior", "training_mode", "codes", "decoder_curve", "answer", "provenance")


def _figures(root, name):
    return {key: root / f"{name}_{key}.png" for key in normal_1d_generation.FIGURE_KEYS}


def _evaluate(paths, name, **changes):
    """The generation evaluation of N_SAMPLES draws (fewer than the workflow's), written by the runner."""
    from vae_latent_study.evaluation import runner

    arguments = {
        "model_path": paths["model"],
        "dataset_path": paths["data"],
        "figure_paths": _figures(paths["root"], name),
        "dataset_name": "normal_r0",
        "model_name": "tiny_vae",
        "seed": 5,
        "n_samples": N_SAMPLES,
    }
    arguments.update(changes)
    numbers = normal_1d_generation.generation_evaluation(**arguments)
    ctx, _ = evaluation_context(
        "generation",
        inputs={"model": arguments["model_path"], "dataset": arguments["dataset_path"]},
        dataset=arguments["dataset_name"],
        model=arguments["model_name"],
        seed=arguments["seed"],
        model_kind="ae" if arguments["model_name"] == "tiny_ae" else "vae",
    )
    return runner.write(ctx, numbers, paths["root"] / f"{name}.json")


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A normal_1d dataset (45 training rows), the tiny VAE trained on it, and one evaluation."""
    from vae_latent_study import datasets
    from vae_latent_study.training import train

    root = tmp_path_factory.mktemp("normal_1d_eval")
    data = root / "normal_r0.h5"
    config = {"kind": "normal_1d", "mean": MEAN, "std": STD, "n": 60, "test_share": 0.25, "seed": 0}
    datasets.make_dataset("normal_r0", config, data)
    model = root / "model.keras"
    train.train_model(data, TINY_VAE, 3, model, root / "history.csv", root / "backup", threads=1)
    paths = {"root": root, "data": data, "model": model}
    paths["result"] = _evaluate(paths, "first")
    return paths


def test_evaluation_json_has_the_identity_and_every_section(trained):
    result = trained["result"]
    assert read_json(trained["root"] / "first.json") == result
    assert result["identity"] == {
        "dataset": "normal_r0",
        "dataset_kind": "normal_1d",
        "family": "normal_1d",
        "model": "tiny_vae",
        "model_kind": "vae",
        "seed": 5,
    }
    assert (result["latent_dim"], result["n_train"], result["n_test"]) == (1, 45, 15)
    assert set(SECTIONS) <= set(result)
    for section in ("generated", "prior", "training_mode"):
        assert result[section]["n_samples"] == N_SAMPLES and result[section]["n_train"] == 45
        assert {"model_ks", "fresh_ks", "fitted_ks", "model_w1", "fitted_ks_exact"} <= set(result[section])
    # One reference stream: the fresh and fitted samples are the same in every section.
    assert (
        result["generated"]["fresh_ks"] == result["prior"]["fresh_ks"] == result["training_mode"]["fresh_ks"]
    )
    modes = result["training_mode"]
    assert set(modes["decode_mode_difference"]) == {"max_abs_diff", "mean_abs_diff", "relative_max_diff"}
    assert modes["decode_mode_difference"]["max_abs_diff"] > 0  # BatchNorm in the decoder
    assert modes["encode_mode_difference"]["max_abs_diff"] > 0  # and in the encoder
    from_training_codes = modes["codes_encoded_in_training_mode"]
    assert from_training_codes["fresh_ks"] == result["generated"]["fresh_ks"]
    assert set(from_training_codes["code_std"]) == {"z0"} and from_training_codes["n_samples"] == N_SAMPLES
    assert set(result["codes"]["mean"]) == {"z0"} and "z_log_var_mean" in result["codes"]
    assert 0 <= result["codes"]["outside_range_share"] <= 1
    assert result["answer"]["mean"] == normal_1d.ANSWER_SAMPLE_MEAN
    assert result["answer"]["mean_difference"] == pytest.approx(
        result["generated"]["model_mean"] - normal_1d.ANSWER_SAMPLE_MEAN
    )
    inputs = result["provenance"]["inputs"]
    assert inputs["dataset"]["checksum"] == read_dataset(trained["data"]).manifest["checksum"]["sha256"]
    assert inputs["model"]["path"] == str(trained["model"]) and len(inputs["model"]["sha256"]) == 64
    assert "keras" in result["provenance"]["versions"]


def test_evaluation_metrics_are_numbers_in_the_tidy_table(trained):
    from vae_latent_study.aggregate.table import collect_metrics

    tidy = collect_metrics([trained["root"] / "first.json"])
    assert {
        "generated.model_ks",
        "prior.fitted_ks",
        "training_mode.decode_mode_difference.max_abs_diff",
    } <= set(tidy["metric"])
    assert tidy["value"].notna().all() and not any(m.startswith("provenance") for m in tidy["metric"])


def test_fresh_true_sample_scores_small_and_the_figures_are_written(trained):
    generated = trained["result"]["generated"]
    assert generated["fresh_ks"] < 2 / math.sqrt(N_SAMPLES)  # a true sample: ~0.87/sqrt(n) typically
    assert abs(generated["fresh_mean"] - MEAN) < 5 * STD / math.sqrt(N_SAMPLES)
    for path in _figures(trained["root"], "first").values():
        assert path.stat().st_size > 0


def test_the_same_inputs_give_identical_json_bytes(trained):
    _evaluate(trained, "second")
    assert (trained["root"] / "first.json").read_bytes() == (trained["root"] / "second.json").read_bytes()


def test_constant_decoder_gives_no_spread_and_a_ks_of_one_half(trained, monkeypatch):
    from vae_latent_study.models import inference

    # Every decode is the true mean: the empirical CDF jumps 0 -> 1 at the normal's median, so KS = 1/2,
    # and W1 = E|X - mean| = std sqrt(2 / pi).
    monkeypatch.setattr(inference, "decode", lambda model, codes, *a, **k: np.full((len(codes), 1), MEAN))
    result = _evaluate(trained, "constant")
    for section in ("generated", "prior", "training_mode"):
        assert result[section]["model_std"] == 0.0
        assert result[section]["model_ks"] == pytest.approx(0.5)
        assert result[section]["model_w1"] == pytest.approx(STD * math.sqrt(2 / math.pi), rel=1e-9)
    assert result["training_mode"]["codes_encoded_in_training_mode"]["model_ks"] == pytest.approx(0.5)
    assert result["training_mode"]["decode_mode_difference"]["relative_max_diff"] is None  # no spread
    assert result["decoder_curve"]["output_range"] == 0.0


def test_an_autoencoder_has_no_prior_and_a_per_dimension_code_fit(trained):
    from vae_latent_study.models import build

    options = {
        "kind": "ae",
        "latent_dim": 3,
        "architecture": "dense",
        "likelihood": {"type": "squared_error"},
        "encoder": {"trunk": [{"type": "dense", "units": "latent", "activation": "relu"}]},
    }
    ae = build.build_model_from_options(options, (), seed=2)
    ae.save(trained["root"] / "ae.keras")
    result = _evaluate(trained, "ae", model_path=trained["root"] / "ae.keras", model_name="tiny_ae")
    assert result["identity"]["model_kind"] == "ae" and "prior" not in result
    assert "no prior" in result["notes"]["prior"]
    assert set(result["codes"]["std"]) == {"z0", "z1", "z2"}
    assert 0 <= result["codes"]["n_constant_dims"] <= 3


def test_evaluation_refuses_wrong_figure_keys(trained):
    with pytest.raises(ValueError, match="figure_paths"):
        _evaluate(trained, "bad", figure_paths={"histogram": trained["root"] / "h.png"})


def test_replicate_summary_over_two_copies(trained, tmp_path):
    copies = [tmp_path / f"copy{i}.json" for i in range(2)]
    for copy in copies:
        copy.write_bytes((trained["root"] / "first.json").read_bytes())
    summary = normal_1d_generation.summarise_replicates(copies, output_json=tmp_path / "summary.json")
    assert summary["n_replicates"] == 2 and (summary["model"], summary["kind"]) == ("tiny_vae", "vae")
    assert isinstance(summary["meets_target"], bool) and summary["enough_replicates"] is False
    generated = trained["result"]["generated"]
    assert summary["ks_ratio"] == pytest.approx(generated["model_ks"] / generated["fitted_ks"])
    assert summary["generated_mean"] == {
        "median": generated["model_mean"],
        "q25": generated["model_mean"],
        "q75": generated["model_mean"],
        "iqr": 0.0,
    }
    assert set(summary["generated_std"]) == {"median", "q25", "q75", "iqr"}
    assert {"generated", "training_mode", "prior", "answer", "replicates"} <= set(summary)
    assert read_json(tmp_path / "summary.json") == summary
    other = read_json(copies[1])
    other["identity"]["model"] = "another"
    copies[1].write_text(json.dumps(other))
    with pytest.raises(ValueError, match="one model"):
        normal_1d_generation.summarise_replicates(copies)
