"""Config validation: the defaults are the source study, and every bad input names its key."""

import copy
import re

import numpy as np
import pytest
import yaml

from vae_latent_study.config import (
    ConfigError,
    Run,
    by_value,
    load_schema,
    plan,
    study_runs,
    training_hparams,
    validate_config,
)
from vae_latent_study.kinds.heatmaps.data import dataset_size, grid_values

from .conftest import REPO, SCHEMA, TINY_CONFIG


def test_the_spread_config_is_the_default_heatmap_study_at_five_seeds_in_bfloat16():
    spread = validate_config(yaml.safe_load((REPO / "config" / "spread.yaml").read_text()), SCHEMA)
    default = validate_config(yaml.safe_load((REPO / "config" / "config.yaml").read_text()), SCHEMA)
    # The same datasets, and the same models but for their precision (docs/precision.md).
    assert spread["datasets"] == {name: default["datasets"][name] for name in spread["datasets"]}
    for name, model in spread["models"].items():
        assert model["precision"] == "mixed_bfloat16"
        assert {k: v for k, v in model.items() if k != "precision"} == default["models"][name]
    runs = plan(spread)
    assert sorted({r.seed for r in runs}) == [19, 20, 21, 22, 23]
    assert len(runs) == 2 * 2 * 5


def test_the_heatmaps_study_of_the_config_file_is_the_schema_defaults():
    """An empty config is seed 000's study; config/config.yaml adds the other studies beside it."""
    from_file = validate_config(yaml.safe_load((REPO / "config" / "config.yaml").read_text()), SCHEMA)
    empty = validate_config({}, SCHEMA)
    assert set(from_file["studies"]) == {
        "heatmaps",
        "normal_1d",
        "factor_model",
        "fashion",
        "toy_manifold",
        "mnist_cvae",
        "tails",
    }
    assert from_file["studies"]["heatmaps"] == empty["studies"]["heatmaps"]
    for part in ("datasets", "models"):
        assert {name: from_file[part][name] for name in empty[part]} == empty[part]
    assert {k: v for k, v in from_file.items() if k not in ("datasets", "models", "studies")} == {
        k: v for k, v in empty.items() if k not in ("datasets", "models", "studies")
    }
    assert set(empty["datasets"]) == {"gaussian", "student_t"}
    for ds in empty["datasets"].values():
        assert dataset_size(ds) == 11875
        assert len(grid_values(ds["image_grid"])) == 36
        assert ds["split"] == {"test_size": 0.2, "seed": 19}
    assert "df_rule" not in empty["datasets"]["gaussian"]
    assert empty["datasets"]["student_t"]["df_rule"]["heavy_df"] == 2
    assert from_file["datasets"]["normal_1d"] == {
        "kind": "normal_1d",
        "mean": 100.0,
        "std": 10.0,
        "n": 100,
        "test_share": 0.33,
        "seed": 0,
    }
    # heatmaps, normal_1d (5 models), factor_model, fashion, toy_manifold (3 models), mnist_cvae, tails (its
    # vae run is the heatmaps study's, so only cvae_df adds one)
    assert len(plan(from_file)) == 4 + 5 * 20 + 2 * 3 + 2 * 3 + 3 * 3 + 2 * 3 + 1
    assert from_file["models"]["cvae_df"]["conditional"] == "df"
    assert from_file["models"]["cae_toy"]["conditional"] == "label"
    assert {k: v for k, v in from_file["models"]["cae_toy"].items() if k != "conditional"} == from_file[
        "models"
    ]["ae_toy"]  # seed 003's two AEs differ by the label only
    long = from_file["models"]["cae_toy_long"]
    assert long["epochs"] == 1500 and {k: v for k, v in long.items() if k != "epochs"} == {
        k: v for k, v in from_file["models"]["cae_toy"].items() if k != "epochs"
    }  # the conditional AE 5 times longer, at the same constant rate


def test_every_schema_property_has_a_description_and_a_default():
    schema = load_schema(SCHEMA)  # with the kinds' fragments

    def walk(node, path):
        for name, sub in node.get("properties", {}).items():
            if set(sub) <= {"exclusiveMinimum", "maximum"}:  # a bound refining a $defs entry
                continue
            assert "description" in sub, f"{path}.{name} has no description"
            if path.startswith("$defs"):
                continue  # grid fields are required parts of a grid whose default sits on its user
            assert "default" in sub, f"{path}.{name} has no default"
            walk(sub, f"{path}.{name}")
        if isinstance(node.get("additionalProperties"), dict):
            walk(node["additionalProperties"], f"{path}.*")

    walk(schema, "config")
    for name, sub in schema["$defs"].items():
        walk(sub, f"$defs.{name}")


def test_validation_does_not_touch_its_input():
    given = copy.deepcopy(TINY_CONFIG)
    validate_config(given, SCHEMA)
    assert given == TINY_CONFIG


def _with(path, value):
    config = copy.deepcopy(TINY_CONFIG)
    node = config
    for key in path[:-1]:
        node = node.setdefault(key, {})
    node[path[-1]] = value
    return config


BAD = [
    (
        "negative variance",
        ("datasets", "tiny_gauss", "grid", "var_x", "start"),
        -0.5,
        "datasets.tiny_gauss.grid.var_x.start",
    ),
    (
        "zero variance",
        ("datasets", "tiny_gauss", "grid", "var_y", "start"),
        0.0,
        "datasets.tiny_gauss.grid.var_y.start",
    ),
    (
        "correlation reaching 1",
        ("datasets", "tiny_gauss", "grid", "cor"),
        {"start": -0.5, "stop": 1.2, "step": 0.5},
        "datasets.tiny_gauss.grid.cor",
    ),
    (
        "correlation at -1",
        ("datasets", "tiny_gauss", "grid", "cor", "start"),
        -1.0,
        "datasets.tiny_gauss.grid.cor.start",
    ),
    (
        "reversed grid",
        ("datasets", "tiny_gauss", "grid", "var_x"),
        {"start": 2.0, "stop": 1.0, "step": 0.5},
        "datasets.tiny_gauss.grid.var_x",
    ),
    (
        "empty grid",
        ("datasets", "tiny_t", "grid", "cor"),
        {"start": 0.5, "stop": 0.5, "step": 0.1},
        "datasets.tiny_t.grid.cor",
    ),
    (
        "zero step",
        ("datasets", "tiny_gauss", "grid", "var_x", "step"),
        0,
        "datasets.tiny_gauss.grid.var_x.step",
    ),
    (
        "reversed image grid",
        ("datasets", "tiny_gauss", "image_grid"),
        {"start": 3, "stop": -3, "step": 0.17},
        "datasets.tiny_gauss.image_grid",
    ),
    ("unknown family", ("datasets", "tiny_gauss", "family"), "cauchy", "datasets.tiny_gauss.family"),
    (
        "non-numeric value",
        ("datasets", "tiny_gauss", "grid", "var_x", "step"),
        "0.2x",
        "datasets.tiny_gauss.grid.var_x.step",
    ),
    (
        "boolean as a number",
        ("datasets", "tiny_gauss", "split", "test_size"),
        True,
        "datasets.tiny_gauss.split.test_size",
    ),
    (
        "test fraction of 1",
        ("datasets", "tiny_gauss", "split", "test_size"),
        1.0,
        "datasets.tiny_gauss.split.test_size",
    ),
    ("path as dataset name", ("datasets", "../x"), {"family": "gaussian"}, "datasets.../x"),
    ("dataset name with a slash", ("datasets", "a/b"), {"family": "gaussian"}, "datasets.a/b"),
    ("unknown key", ("datasets", "tiny_gauss", "grd"), {}, "datasets.tiny_gauss"),
    (
        "df rule on a gaussian dataset",
        ("datasets", "tiny_gauss", "df_rule"),
        {"seed": 1},
        "datasets.tiny_gauss.df_rule",
    ),
    (
        "same df twice",
        ("datasets", "tiny_t", "df_rule"),
        {"heavy_df": 5, "light_df": 5},
        "datasets.tiny_t.df_rule",
    ),
    ("negative df", ("datasets", "tiny_t", "df_rule", "heavy_df"), -2, "datasets.tiny_t.df_rule.heavy_df"),
    ("negative seed", ("seed",), -1, "'seed'"),
    ("no datasets", ("datasets",), {}, "datasets"),
    ("unknown model kind", ("models", "m", "kind"), "gan", "models.m.kind"),
    ("zero latent size", ("models", "m", "latent_dim"), 0, "models.m.latent_dim"),
    ("negative beta", ("models", "m", "beta"), -1.0, "models.m.beta"),
    ("non-numeric epochs", ("models", "m", "epochs"), "ten", "models.m.epochs"),
    ("unknown KL reduction", ("models", "m", "kl_reduction"), "max", "models.m.kl_reduction"),
    ("decay rate above 1", ("models", "m", "schedule", "decay_rate"), 1.5, "models.m.schedule.decay_rate"),
    ("beta on an AE", ("models", "m"), {"kind": "ae", "beta": 4.0}, "models.m.beta"),
    (
        "decay on a constant rate",
        ("models", "m", "schedule"),
        {"type": "constant", "decay_steps": 3},
        "models.m.schedule.decay_steps",
    ),
    ("path as model name", ("models", "../m"), {"kind": "vae"}, "models.../m"),
    (
        "epochs for an unknown dataset",
        ("models", "m", "epochs_per_dataset"),
        {"nope": 3},
        "models.m.epochs_per_dataset.nope",
    ),
    ("no training seed", ("training", "seeds"), [], "training.seeds"),
    ("repeated training seed", ("training", "seeds"), [1, 1], "training.seeds"),
    (
        "a single image",
        ("datasets", "tiny_gauss", "grid"),
        {k: {"start": 1.0, "stop": 1.5, "step": 1.0} for k in ("var_x", "var_y")}
        | {"cor": {"start": 0, "stop": 0.1, "step": 1}},
        "datasets.tiny_gauss.split.test_size",
    ),
]


@pytest.mark.parametrize(("case", "path", "value", "key"), BAD, ids=[b[0] for b in BAD])
def test_bad_config_fails_naming_the_key(case, path, value, key):
    with pytest.raises(ConfigError) as err:
        validate_config(_with(path, value), SCHEMA)
    assert key in str(err.value), f"{case}: {err.value}"


def test_all_errors_are_reported_at_once():
    config = _with(("datasets", "tiny_gauss", "family"), "cauchy")
    config["datasets"]["tiny_t"]["split"] = {"test_size": "big"}
    with pytest.raises(ConfigError) as err:
        validate_config(config, SCHEMA)
    assert "datasets.tiny_gauss.family" in str(err.value)
    assert "datasets.tiny_t.split.test_size" in str(err.value)


def test_epochs_per_dataset_override_the_model_epochs():
    config = validate_config({}, SCHEMA)
    vae = config["models"]["vae"]
    assert training_hparams(vae, "student_t")["epochs"] == 40  # the notebook's 30 + 10
    assert training_hparams(vae, "gaussian")["epochs"] == 30
    assert training_hparams(config["models"]["ae"], "student_t")["epochs"] == 25
    assert "epochs_per_dataset" not in training_hparams(vae, "gaussian")


def test_tiny_config_sizes(tiny_config):
    assert dataset_size(tiny_config["datasets"]["tiny_gauss"]) == 3 * 3 * 3
    assert np.allclose(grid_values(tiny_config["datasets"]["tiny_gauss"]["grid"]["cor"]), [-0.5, 0.0, 0.5])


def test_without_studies_one_heatmaps_study_trains_every_model_on_every_dataset(tiny_config):
    assert tiny_config["studies"] == {
        "heatmaps": {
            "datasets": ["tiny_gauss", "tiny_t"],
            "models": ["ae", "vae"],
            "pairs": [],
            "seeds": [],
            "expected": "heatmaps",
        }
    }
    runs = plan(tiny_config)
    assert runs == [Run(d, m, 7) for d in ("tiny_gauss", "tiny_t") for m in ("ae", "vae")]


def test_studies_choose_their_pairs_and_seeds_and_share_runs():
    given = copy.deepcopy(TINY_CONFIG)
    given["studies"] = {
        "one": {"datasets": ["tiny_gauss", "tiny_t"], "models": ["vae", "ae"], "pairs": [["tiny_t", "vae"]]},
        "two": {"datasets": ["tiny_t"], "models": ["vae"], "seeds": [7, 8]},
    }
    config = validate_config(given, SCHEMA)
    assert study_runs(config, "one") == [Run("tiny_t", "vae", 7)]
    assert study_runs(config, "two") == [Run("tiny_t", "vae", 7), Run("tiny_t", "vae", 8)]
    assert plan(config) == [Run("tiny_t", "vae", 7), Run("tiny_t", "vae", 8)]  # the shared run once


@pytest.mark.parametrize(
    ("study", "key"),
    [
        ({"datasets": ["nope"], "models": ["vae"]}, "studies.s.datasets.0': no dataset named 'nope'"),
        ({"datasets": ["tiny_t"], "models": ["vae", "gan"]}, "studies.s.models.1': no model named 'gan'"),
        ({"datasets": ["tiny_t"], "models": ["vae"], "pairs": [["tiny_gauss", "vae"]]}, "studies.s.pairs.0'"),
        ({"datasets": [], "models": ["vae"]}, "studies.s.datasets'"),
        ({"datasets": ["tiny_t"], "models": ["vae"], "expected": "../x"}, "studies.s.expected'"),
    ],
)
def test_a_bad_study_is_refused_naming_the_key(study, key):
    given = copy.deepcopy(TINY_CONFIG)
    given["studies"] = {"s": study}
    with pytest.raises(ConfigError, match=re.escape(key)):
        validate_config(given, SCHEMA)


def test_by_value_sorts_every_mapping_and_keeps_lists():
    value = {"b": [{"z": 1, "a": 2}, 3], "a": {"y": 1, "x": None}}
    canonical = by_value(value)
    assert canonical == value
    assert list(canonical) == ["a", "b"] and list(canonical["a"]) == ["x", "y"]
    assert list(canonical["b"][0]) == ["a", "z"] and canonical["b"][1] == 3


@pytest.mark.parametrize(
    ("dataset", "key"),
    [
        ({"kind": "normal_1d", "std": 0}, "datasets.x.std'"),
        ({"kind": "normal_1d", "std": -2.0}, "datasets.x.std'"),
        ({"kind": "normal_1d", "n": 3, "test_share": 0.9}, "datasets.x.n'"),
        ({"kind": "factor_model", "p": 0}, "datasets.x.p'"),
        ({"kind": "factor_model", "noise_range": [1.0, 0.1]}, "datasets.x.noise_range'"),
        ({"kind": "factor_model", "n": 2, "test_share": 0.1}, "datasets.x"),
        ({"kind": "normal_1d", "grid": {}}, "datasets.x': Additional properties"),
        ({"kind": "cauchy"}, "datasets.x.kind'"),
    ],
)
def test_a_bad_dataset_of_another_kind_is_refused_naming_the_key(dataset, key):
    given = copy.deepcopy(TINY_CONFIG)
    given["datasets"]["x"] = dataset
    given["studies"] = {"heatmaps": {"datasets": ["tiny_t"], "models": ["vae"]}}
    with pytest.raises(ConfigError, match=re.escape(key)):
        validate_config(given, SCHEMA)


def test_every_kind_fills_its_own_defaults():
    given = copy.deepcopy(TINY_CONFIG)
    given["datasets"] |= {"n1": {"kind": "normal_1d"}, "fm": {"kind": "factor_model", "p": 5}}
    given["studies"] = {"heatmaps": {"datasets": ["tiny_gauss"], "models": ["vae"]}}
    config = validate_config(given, SCHEMA)
    assert config["datasets"]["n1"] == {
        "kind": "normal_1d",
        "mean": 100.0,
        "std": 10.0,
        "n": 100,
        "test_share": 0.33,
        "seed": 0,
    }
    assert config["datasets"]["fm"]["p"] == 5 and config["datasets"]["fm"]["n"] == 200
    assert config["datasets"]["tiny_gauss"]["kind"] == "heatmaps"
    assert "family" not in config["datasets"]["n1"]


def test_a_model_that_cannot_train_on_a_kind_is_refused_naming_the_key():
    given = copy.deepcopy(TINY_CONFIG)
    given["datasets"]["n1"] = {"kind": "normal_1d"}
    given["models"]["dense"] = {"kind": "vae", "architecture": "dense", "latent_dim": 1}
    given["studies"] = {"heatmaps": {"datasets": ["tiny_t"], "models": ["vae"]}}
    validate_config(given, SCHEMA)  # a dataset and a model no study uses are fine
    given["studies"]["s"] = {"datasets": ["n1"], "models": ["dense", "vae"]}
    with pytest.raises(ConfigError, match=re.escape("'studies.s.models.1': vae (conv36) cannot train on n1")):
        validate_config(given, SCHEMA)
    given["studies"]["s"]["pairs"] = [["n1", "dense"]]
    assert plan(validate_config(given, SCHEMA))[0] == Run("n1", "dense", 7)


@pytest.mark.parametrize(
    ("model", "key"),
    [
        ({"kind": "vae", "encoder": {"trunk": []}}, "models.m.encoder': applies to architecture dense only"),
        ({"kind": "vae", "sampler": "log_var"}, "models.m.sampler': conv36 is seed 000's"),
        ({"kind": "vae", "likelihood": {"type": "gaussian"}}, "models.m.likelihood.type': conv36 has"),
        (
            {"kind": "ae", "architecture": "dense", "likelihood": {"type": "gaussian"}},
            "gaussian needs kind vae",
        ),
        ({"kind": "vae", "likelihood": {"type": "poisson"}}, "models.m.likelihood.type'"),
        ({"kind": "ae", "sampler": "log_var"}, "models.m.sampler': applies to kind vae only"),
        ({"kind": "vae", "optimizer": "sgd"}, "models.m.optimizer'"),
    ],
)
def test_a_bad_model_option_is_refused_naming_the_key(model, key):
    given = copy.deepcopy(TINY_CONFIG)
    given["models"]["m"] = model
    given["studies"] = {"heatmaps": {"datasets": ["tiny_t"], "models": ["vae"]}}
    with pytest.raises(ConfigError, match=re.escape(key)):
        validate_config(given, SCHEMA)


def test_a_conv36_model_keeps_source_000s_settings_only(tiny_config):
    vae = tiny_config["models"]["vae"]
    assert vae["likelihood"] == {"type": "bernoulli"}
    assert not {"encoder", "decoder", "sampler", "early_stopping"} & set(vae)


def test_precision_is_a_checked_training_param_left_out_when_float32():
    with pytest.raises(ConfigError, match=re.escape("models.vae.precision")):
        validate_config(_with(["models", "vae", "precision"], "float16"), SCHEMA)
    mixed = validate_config(_with(["models", "vae", "precision"], "mixed_bfloat16"), SCHEMA)
    assert training_hparams(mixed["models"]["vae"], "tiny_gauss")["precision"] == "mixed_bfloat16"
    # float32, written or not, is the same params: models trained before the option stay finished.
    written = validate_config(_with(["models", "vae", "precision"], "float32"), SCHEMA)
    assert written == validate_config(TINY_CONFIG, SCHEMA) and "precision" not in written["models"]["vae"]
