"""The kind interface (`kinds/<kind>/spec.py`, `kinds/registry.py`) and the one evaluation runner: every kind
declares what the workflow needs, an evaluation's name, JSON, rule and function line up, and the runner
writes one strict layout."""

import dataclasses
import importlib
import json
import math
import subprocess
import sys
import types

import numpy as np
import pytest
import yaml

from vae_latent_study.config import load_schema
from vae_latent_study.datasets import build_dataset, read_manifest, write_dataset
from vae_latent_study.evaluation import runner
from vae_latent_study.io import writing_rule
from vae_latent_study.kinds import interface, registry
from vae_latent_study.provenance import file_sha256

from .conftest import REPO, SCHEMA, TINY_CONFIG, evaluation_context

REPORT = REPO / "workflow" / "report"
SPECS = registry.kinds()
EVALUATIONS = [(spec, evaluation) for spec in SPECS for evaluation in spec.evaluations]


def test_the_registry_lists_each_kind_once_under_its_own_name():
    assert [spec.name for spec in SPECS] == list(registry.KIND_MODULES)
    for name, module in registry.KIND_MODULES.items():
        assert module == f"vae_latent_study.kinds.{name}.spec"
    with pytest.raises(KeyError, match="no dataset kind 'nope'"):
        registry.kind("nope")


def test_the_schema_knows_every_kind_and_nothing_else():
    """A kind's config is its own file (kinds/<kind>/schema.yaml), and the kinds are listed once (the
    registry): the shared schema names none; the loaded one has every kind's, from those two."""
    shared = yaml.safe_load(SCHEMA.read_text())
    assert not {f"{name}_dataset" for name in registry.KIND_MODULES} & set(shared["$defs"])
    assert shared["properties"]["datasets"]["additionalProperties"]["properties"]["kind"]["enum"] == []
    schema = load_schema(SCHEMA)
    enum = schema["properties"]["datasets"]["additionalProperties"]["properties"]["kind"]["enum"]
    assert enum == list(registry.KIND_MODULES)
    for name in registry.KIND_MODULES:
        fragment = schema["$defs"][f"{name}_dataset"]
        assert fragment["properties"]["kind"]["const"] == name
        assert (REPO / "src" / "vae_latent_study" / "kinds" / name / "schema.yaml").is_file()


def test_the_specs_are_light_enough_for_every_snakemake_start():
    # common.smk imports every spec at each start (dry runs too): no NumPy, Keras or TensorFlow.
    code = (
        "import sys; from vae_latent_study.kinds import registry; registry.kinds(); registry.evaluations(); "
        "heavy = {'numpy', 'keras', 'tensorflow', 'pandas', 'h5py'} & set(sys.modules); "
        "assert not heavy, heavy"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=REPO)


@pytest.mark.parametrize("spec", SPECS, ids=lambda spec: spec.name)
def test_every_kind_declares_what_the_workflow_needs(spec):
    assert spec.architectures and spec.evaluations
    assert isinstance(spec.factors({}), dict) and set(spec.factors({}).values()) <= {
        "continuous",
        "categorical",
    }
    if spec.label is not None:
        assert spec.factors({})[spec.label] == "categorical"
    # Every run set names declared evaluations, and every declared evaluation is some run's.
    names = [e.name for e in spec.evaluations]
    assert len(set(names)) == len(names)
    used = set(spec.run_evaluations) | set(spec.conditional_evaluations or ())
    assert used == set(names)
    assert [e.name for e in spec.evaluations_of_run(False)] == list(spec.run_evaluations)
    data = importlib.import_module(spec.data_module)
    assert callable(data.build_dataset)
    for hook in (spec.config_messages, spec.build_params, spec.drop_unused):
        assert hook is None or callable(spec.data_hook(hook)), hook
    for figure in spec.report_figures:
        assert (REPORT / figure.caption).is_file(), figure.caption


@pytest.mark.parametrize(
    ("spec", "evaluation"), EVALUATIONS, ids=lambda x: x.name if hasattr(x, "module") else None
)
def test_an_evaluations_name_json_rule_and_function_line_up(spec, evaluation):
    assert evaluation.rule == f"evaluate_{evaluation.name}"
    assert evaluation.json == f"results/evaluation/{{dataset}}/{{model}}/seed{{seed}}/{evaluation.name}.json"
    # Its module is its kind's, and holds `evaluate_<name>`.
    assert evaluation.module.startswith(f"vae_latent_study.kinds.{spec.name}.")
    assert callable(getattr(importlib.import_module(evaluation.module), evaluation.function))
    assert set(evaluation.inputs) <= set(interface.INPUT_ROLES) and "dataset" in evaluation.inputs
    schema = yaml.safe_load(SCHEMA.read_text())
    assert set(evaluation.settings) <= set(schema["properties"]["evaluation"]["properties"])
    keys = [f.key for f in evaluation.figures] + list(evaluation.extra_outputs)
    assert len(set(keys)) == len(keys) and "metrics" not in keys
    for figure in evaluation.figures:
        assert (REPORT / figure.caption).is_file(), figure.caption
        assert figure.pattern.startswith(interface.RUN_FIGURES) and figure.file.endswith(".png")
        assert figure.section and figure.category and figure.label


@pytest.mark.parametrize(
    ("spec", "evaluation"), EVALUATIONS, ids=lambda x: x.name if hasattr(x, "module") else None
)
def test_a_damaged_output_of_an_evaluation_names_its_rule(spec, evaluation):
    """`io.writing_rule` turns a damaged file into the command that rebuilds it: for every file an
    evaluation declares (its JSON, its extra outputs, its figures), that is the evaluation's own rule."""
    run = {"dataset": "d", "model": "m", "seed": 3}
    paths = [evaluation.json, *(f"{interface.RUN_EVALUATION}/{f}" for f in evaluation.extra_outputs.values())]
    paths += [figure.pattern for figure in evaluation.figures]
    for pattern in paths:
        path = pattern.format(**run)
        assert writing_rule(f"study/{path}") == (evaluation.rule, path), path


def test_no_two_kinds_declare_one_evaluation_name():
    names = [e.name for e in registry.evaluations()]
    assert len(names) == len(set(names)) == len(EVALUATIONS)


def test_the_workflow_has_one_rule_per_declared_evaluation_and_no_hand_written_one():
    proc = subprocess.run(
        [sys.executable, "-m", "snakemake", "--list-rules", "--cores", "1"],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
    )
    rules = set(proc.stdout.split())
    assert {e.rule for e in registry.evaluations()} <= rules
    assert not {"probe_latents", "score_latents"} & rules
    scripts = {path.stem for path in (REPO / "workflow" / "scripts").glob("evaluate*.py")}
    assert scripts == {"evaluate"}


def test_a_new_kind_is_one_registry_line_and_its_own_package(monkeypatch):
    """A kind is found by its registry line alone: its spec module declares the rest (here a throwaway
    module standing in for `kinds/<kind>/spec.py`)."""
    evaluation = interface.Evaluation(
        name="novel", module="vae_latent_study.kinds.novel.evaluate", inputs=("model", "dataset")
    )
    spec = interface.KindSpec(
        name="novel",
        data_per_seed=True,
        architectures=("dense",),
        factors=lambda config: {},
        family=lambda config: "novel",
        evaluations=(evaluation,),
        run_evaluations=("novel",),
    )
    module = types.ModuleType("novel_spec")
    module.SPEC = spec
    monkeypatch.setitem(sys.modules, "novel_spec", module)
    monkeypatch.setitem(registry.KIND_MODULES, "novel", "novel_spec")
    registry.kind.cache_clear()
    try:
        assert registry.kind("novel") is spec
        assert evaluation in registry.evaluations()
        assert registry.dataset_file("d", "novel", 3) == "results/data/d/seed3.h5"
        # A spec filed under another name is refused.
        monkeypatch.setitem(registry.KIND_MODULES, "other", "novel_spec")
        with pytest.raises(ValueError, match="declares kind 'novel', listed as 'other'"):
            registry.kind("other")
    finally:
        registry.kind.cache_clear()


# --- the runner -------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def tiny_dataset(tmp_path_factory):
    from vae_latent_study.config import validate_config

    config = validate_config(TINY_CONFIG, SCHEMA)
    path = tmp_path_factory.mktemp("runner") / "tiny_gauss.h5"
    write_dataset(build_dataset("tiny_gauss", config["datasets"]["tiny_gauss"]), path)
    return path


@pytest.fixture
def fake_evaluation(monkeypatch):
    """A module `fake_evaluation` whose `evaluate_reconstruction` returns what the test sets."""
    module = types.ModuleType("fake_evaluation")
    module.returned = {}
    module.evaluate_reconstruction = lambda ctx: module.returned
    monkeypatch.setitem(sys.modules, "fake_evaluation", module)
    return module


def _context(tiny_dataset, history):
    ctx, _ = evaluation_context(
        "reconstruction",
        inputs={"dataset": tiny_dataset, "history": history},
        dataset="tiny_gauss",
        model="my_ae",
        seed=7,
        model_kind="ae",
    )
    return ctx


def test_the_runner_writes_identity_numbers_and_provenance_as_strict_json(
    tiny_dataset, fake_evaluation, tmp_path
):
    history = tmp_path / "history.csv"
    history.write_text("epoch,loss\n1,0.5\n")
    fake_evaluation.returned = {
        "a": {"b": np.float32(0.25), "c": 3},
        "infinite": math.inf,
        "nan": [1.0, math.nan],
        "n_test": np.int64(5),
    }
    out = tmp_path / "reconstruction.json"
    written = runner.run(_context(tiny_dataset, history), "fake_evaluation", out)
    text = out.read_text()
    # Strict: no NaN or Infinity token; the non-finite numbers are null.
    assert "NaN" not in text and "Infinity" not in text
    assert json.loads(text) == written
    assert written["identity"] == {
        "dataset": "tiny_gauss",
        "dataset_kind": "heatmaps",
        "model": "my_ae",
        "model_kind": "ae",
        "seed": 7,
        "family": "gaussian",
    }
    assert written["a"] == {"b": 0.25, "c": 3} and written["n_test"] == 5
    assert written["infinite"] is None and written["nan"] == [1.0, None]
    inputs = written["provenance"]["inputs"]
    assert inputs["dataset"]["checksum"] == read_manifest(tiny_dataset)["checksum"]["sha256"]
    assert inputs["dataset"]["sha256"] == file_sha256(tiny_dataset)
    assert inputs["history"] == {"path": str(history), "sha256": file_sha256(history)}
    assert {"numpy", "keras", "tensorflow"} <= set(written["provenance"]["versions"])
    # Sorted keys (`provenance.write_strict_json`).
    assert list(json.loads(text)) == sorted(json.loads(text))


def test_an_input_the_run_lacks_is_left_out_of_the_provenance(tiny_dataset, fake_evaluation, tmp_path):
    ctx = dataclasses.replace(_context(tiny_dataset, ""), inputs={"dataset": str(tiny_dataset), "twin": ""})
    written = runner.run(ctx, "fake_evaluation", tmp_path / "r.json")
    assert set(written["provenance"]["inputs"]) == {"dataset"} and ctx.input("twin") is None


def test_an_evaluation_may_not_write_the_runners_blocks(tiny_dataset, fake_evaluation, tmp_path):
    fake_evaluation.returned = {"identity": {"dataset": "forged"}, "x": 1.0}
    with pytest.raises(ValueError, match="runner's own keys"):
        runner.run(_context(tiny_dataset, ""), "fake_evaluation", tmp_path / "r.json")
    assert not (tmp_path / "r.json").exists()


def test_the_tidy_table_reads_the_identity_block(tiny_dataset, fake_evaluation, tmp_path):
    from vae_latent_study.aggregate.table import TIDY_COLUMNS, collect_metrics

    fake_evaluation.returned = {"score": 0.5, "nested": {"value": 2}, "n_test": 9, "undefined": math.nan}
    path = tmp_path / "reconstruction.json"
    runner.run(_context(tiny_dataset, ""), "fake_evaluation", path)
    tidy = collect_metrics([path])
    assert list(tidy.columns) == list(TIDY_COLUMNS)
    assert tidy.to_dict("records") == [
        {
            "dataset": "tiny_gauss",
            "family": "gaussian",
            "model": "my_ae",
            "kind": "ae",
            "seed": 7,
            "metric": metric,
            "value": value,
        }
        for metric, value in (("nested.value", 2.0), ("score", 0.5))
    ]
