"""What a change to the config or to a script reruns, proven with dry runs on a copy of the workflow.

The copy (Snakefile, workflow/, config/, profiles/, envs/ and the package, put first on PYTHONPATH) works on a
copy of the finished tiny study, so that its scripts and package code can be edited without touching the
repository.
tests/test_workflow.py covers a finished run doing nothing, a dataset's `df_rule` and a model's batch size;
this file covers the rest: a dataset's grid, a model's epochs on one dataset only, each evaluation setting,
the figure settings, the global seed, an edited script and edited package code.
"""

import contextlib
import copy
import os
import shutil

import pytest
import yaml

from .conftest import REPO, TINY_CONFIG, run_snakemake
from .test_studies import STUDIES_CONFIG
from .test_workflow import planned_jobs, planned_outputs

pytestmark = pytest.mark.workflow

WORKFLOW_PARTS = ("Snakefile", "workflow", "config", "profiles", "envs", "src/vae_latent_study")
DATASETS = list(TINY_CONFIG["datasets"])
MODELS = list(TINY_CONFIG["models"])

# The study's rules by what one job covers (a training seed is fixed at 7 in the tiny config).
PER_RUN = (  # one dataset x model x seed
    "train_model",
    "encode_dataset",
    "evaluate_reconstruction",
    "evaluate_probes",
    "evaluate_scores",
    "explore_latents",
)
PER_DATASET = ("build_dataset", "plot_sample_heatmaps")
PER_DATASET_AND_SEED = ("plot_reconstruction_errors", "plot_training_curves")
STUDY_WIDE = ("aggregate_metrics", "compare_with_sources", "build_report")
DOWNSTREAM_OF_METRICS = {"aggregate_metrics": 1, "compare_with_sources": 1, "build_report": 1, "all": 1}


def snakemake(workflow, study, *args, check=True):
    # The copy's package comes first on the path, for Snakemake and for the scripts it runs, so that its
    # code can be edited too.
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(filter(None, [str(workflow / "src"), os.environ.get("PYTHONPATH")])),
    }
    return run_snakemake(
        study, "--cores", "2", *args, snakefile=workflow / "Snakefile", check=check, timeout=900, env=env
    )


@contextlib.contextmanager
def edited(path, text):
    """`path` holds `text` inside the block, then its own text and modification time again."""
    original, stat = path.read_text(), path.stat()
    try:
        path.write_text(text)
        yield
    finally:
        path.write_text(original)
        os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))


def copy_workflow(finished, config_file, root):
    """(workflow copy, study copy, its config file): the workflow (Snakefile, rules, config, package) and
    the finished study `finished` copied under `root` with their modification times."""
    workflow = root / "workflow_copy"
    workflow.mkdir()
    for part in WORKFLOW_PARTS:
        source = REPO / part
        if source.is_dir():
            shutil.copytree(source, workflow / part, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(source, workflow / part)
    study = root / "study"
    shutil.copytree(finished, study, symlinks=True)
    return workflow, study, study / config_file.relative_to(finished)


@pytest.fixture(scope="module")
def study_copy(finished_run, tmp_path_factory):
    """(workflow copy, study copy, its config file, the workflow's rules): the finished tiny study and the
    workflow copied with their modification times, then brought up to date by the copy."""
    finished, config_file = finished_run
    workflow, study, config = copy_workflow(finished, config_file, tmp_path_factory.mktemp("rerun"))

    # Moving a finished study under another checkout recomputes nothing but what names the checkout's path:
    # the report (its provenance reads the checkout's git commit) and the comparison (its inputs are the
    # checkout's config/expected files).
    catch_up = snakemake(workflow, study, "--configfile", str(config), "--dry-run")
    assert set(planned_jobs(catch_up)) <= {"compare_with_sources", "build_report", "all"}, catch_up.stdout
    snakemake(workflow, study, "--configfile", str(config))
    rules = set(snakemake(workflow, study, "--configfile", str(config), "--list-rules").stdout.split())
    return workflow, study, config, rules


def plan(study_copy, tmp_path, config: dict):
    """The jobs and outputs a dry run of the copy plans with `config`."""
    workflow, study, _, _ = study_copy
    config_file = tmp_path / "changed.yaml"
    config_file.write_text(yaml.safe_dump(config))
    proc = snakemake(workflow, study, "--configfile", str(config_file), "--dry-run")
    return planned_jobs(proc), planned_outputs(proc)


def expected_jobs(rules, *, runs=0, datasets=0, dataset_seeds=0, only=None, metrics=True):
    """The job table a change should plan: `runs` dataset x model chains, `datasets` dataset chains, ...;
    `only` restricts the per-run rules. Rules the workflow does not have (yet) are left out."""
    table = {rule: runs for rule in (only or PER_RUN)}
    table |= {rule: datasets for rule in PER_DATASET}
    table |= {rule: dataset_seeds for rule in PER_DATASET_AND_SEED}
    if metrics:
        table |= DOWNSTREAM_OF_METRICS
    else:
        table |= {"build_report": 1, "all": 1}
    return {rule: n for rule, n in table.items() if n and (rule in rules or rule == "all")}


def test_a_finished_copy_has_nothing_to_do(study_copy):
    workflow, study, config, _ = study_copy
    proc = snakemake(workflow, study, "--configfile", str(config), "--dry-run")
    assert "Nothing to be done" in proc.stdout + proc.stderr


def test_changing_one_dataset_grid_reruns_that_dataset_chain_only(study_copy, tmp_path):
    changed = copy.deepcopy(TINY_CONFIG)
    changed["datasets"]["tiny_gauss"]["grid"]["var_x"]["stop"] = 2.5
    jobs, outputs = plan(study_copy, tmp_path, changed)
    assert jobs == expected_jobs(study_copy[3], runs=2, datasets=1, dataset_seeds=1)
    assert "results/data/tiny_gauss.h5" in outputs
    assert "results/models/tiny_gauss/vae/seed7/model.keras" in outputs
    assert not [path for path in outputs if "tiny_t" in path]


def test_changing_one_models_epochs_on_one_dataset_retrains_that_run_only(study_copy, tmp_path):
    changed = copy.deepcopy(TINY_CONFIG)
    changed["models"]["vae"]["epochs_per_dataset"] = {"tiny_gauss": 3}
    jobs, outputs = plan(study_copy, tmp_path, changed)
    assert jobs == expected_jobs(study_copy[3], runs=1, dataset_seeds=1)
    assert "results/models/tiny_gauss/vae/seed7/model.keras" in outputs
    assert "results/metrics/summary.tsv" in outputs
    assert not [path for path in outputs if "tiny_t" in path or "/ae/" in path or "results/data/" in path]


def test_changing_one_models_precision_retrains_that_model_only(study_copy, tmp_path):
    written = copy.deepcopy(TINY_CONFIG)
    written["models"]["ae"]["precision"] = "float32"  # the default, written out: nothing to do
    jobs, _ = plan(study_copy, tmp_path, written)
    assert jobs == {}
    changed = copy.deepcopy(TINY_CONFIG)
    changed["models"]["ae"]["precision"] = "mixed_bfloat16"
    jobs, outputs = plan(study_copy, tmp_path, changed)
    assert jobs == expected_jobs(study_copy[3], runs=2, dataset_seeds=2)  # the AE on both datasets
    assert "results/models/tiny_gauss/ae/seed7/model.keras" in outputs
    assert not [path for path in outputs if "/vae/" in path or "results/data/" in path]


def test_conditional_written_out_as_null_reruns_nothing(study_copy, tmp_path):
    """`conditional: null` is the option's default, left out of the params: the models trained before the
    option existed stay finished. (Conditioning a model retrains it only: tests/test_studies.py, on the toy
    study, since the heatmap kind's evaluations take no label yet.)"""
    written = copy.deepcopy(TINY_CONFIG)
    for model in written["models"].values():
        model["conditional"] = None
    jobs, _ = plan(study_copy, tmp_path, written)
    assert jobs == {}


# Each `evaluation` setting, a new value for it, and the one per-run rule that reads it (None: only
# aggregate_metrics reads it, downstream of every run).
EVALUATION_CHANGES = {
    "knn_k": ([3, 5], "evaluate_probes"),
    "cv_folds": (3, "evaluate_probes"),
    "fixed_k": (4, "evaluate_probes"),
    "learning_curve_sizes": ([10, 20], "evaluate_probes"),
    "dci_num_train": (150, "evaluate_scores"),
    "bootstrap_samples": (200, None),
    # The images kind's (the tiny study has no images run: only the report reruns; tests/test_studies.py
    # checks that they rerun the images evaluation only).
    "iwae_k": (5, "evaluate_images"),
    "iwae_images": (20, "evaluate_images"),
    "samples": (50, "evaluate_images"),
    "classifier": ({"epochs": 1}, "train_classifier"),
}
#: Rules of a kind the tiny study does not have.
ABSENT_RULES = {"evaluate_images", "train_classifier"}


def test_every_evaluation_setting_is_covered_below():
    schema = yaml.safe_load((REPO / "config" / "config.schema.yaml").read_text())
    assert set(schema["properties"]["evaluation"]["properties"]) == set(EVALUATION_CHANGES)


@pytest.mark.parametrize(
    ("key", "value", "rule"), [(key, *change) for key, change in EVALUATION_CHANGES.items()]
)
def test_changing_one_evaluation_setting_reruns_its_rule_only(study_copy, tmp_path, key, value, rule):
    changed = copy.deepcopy(TINY_CONFIG)
    changed.setdefault("evaluation", {})[key] = value
    jobs, outputs = plan(study_copy, tmp_path, changed)
    runs = len(DATASETS) * len(MODELS)
    if rule in ABSENT_RULES:
        # No run reads it here; only the report, whose provenance prints the resolved config, is redone.
        assert jobs == {"build_report": 1, "all": 1}
        return
    assert jobs == expected_jobs(study_copy[3], runs=runs if rule else 0, only=(rule,) if rule else ())
    assert not [path for path in outputs if "results/models/" in path or "results/latents/" in path]


def test_changing_the_sample_figure_redraws_it_only(study_copy, tmp_path):
    changed = copy.deepcopy(TINY_CONFIG)
    changed["figures"]["sample_heatmaps"]["rows"] = 3
    jobs, _ = plan(study_copy, tmp_path, changed)
    assert jobs == {
        "plot_sample_heatmaps": len(DATASETS),
        **expected_jobs(study_copy[3], metrics=False),
    }


def test_changing_the_global_seed_reruns_the_evaluation_not_the_training(study_copy, tmp_path):
    changed = copy.deepcopy(TINY_CONFIG)
    changed["seed"] += 1
    jobs, outputs = plan(study_copy, tmp_path, changed)
    runs = len(DATASETS) * len(MODELS)
    assert jobs == expected_jobs(study_copy[3], runs=runs, only=("evaluate_probes", "evaluate_scores"))
    assert not [path for path in outputs if "results/models/" in path or "results/data/" in path]


def test_editing_a_script_reruns_its_rule_and_what_depends_on_it(study_copy):
    workflow, study, config, rules = study_copy
    # The one script of every declared evaluation: each evaluation rule reruns, nothing upstream.
    script = workflow / "workflow" / "scripts" / "evaluate.py"
    with edited(script, script.read_text() + "# an edit that changes nothing but the file\n"):
        proc = snakemake(workflow, study, "--configfile", str(config), "--dry-run")
        jobs = planned_jobs(proc)
        evaluations = ("evaluate_reconstruction", "evaluate_probes", "evaluate_scores")
        expected = expected_jobs(rules, runs=len(DATASETS) * len(MODELS), only=evaluations)
        assert jobs == expected | {"plot_reconstruction_errors": len(DATASETS)}
        # Snakemake tells a script's edit by its modification time.
        assert "reason: Code has changed since last execution" in proc.stdout
    proc = snakemake(workflow, study, "--configfile", str(config), "--dry-run")
    assert "Nothing to be done" in proc.stdout + proc.stderr


def test_editing_package_code_reruns_the_rules_that_run_it(study_copy):
    workflow, study, config, rules = study_copy
    module = workflow / "src" / "vae_latent_study" / "evaluation" / "disentanglement.py"
    runs = len(DATASETS) * len(MODELS)
    # A comment is not code: nothing to do.
    with edited(module, module.read_text() + "\n# a comment\n"):
        proc = snakemake(workflow, study, "--configfile", str(config), "--dry-run")
        assert "Nothing to be done" in proc.stdout + proc.stderr

    # disentanglement.py is run by the heatmap evaluation rules, through kinds/heatmaps/evaluate.py; they
    # rerun with what depends on them, and nothing upstream (data, training, encoding) or beside them
    # (figures of the latent space) does.
    with edited(module, module.read_text() + "\n_AN_EDIT = 1\n"):
        proc = snakemake(workflow, study, "--configfile", str(config), "--dry-run")
        expected = {rule: runs for rule in ("evaluate_reconstruction", "evaluate_probes", "evaluate_scores")}
        expected |= {"plot_reconstruction_errors": len(DATASETS)} | DOWNSTREAM_OF_METRICS
        assert planned_jobs(proc) == expected, proc.stdout
        assert "reason: Params have changed since last execution" in proc.stdout
    proc = snakemake(workflow, study, "--configfile", str(config), "--dry-run")
    assert "Nothing to be done" in proc.stdout + proc.stderr


def _reversed_keys(node):
    """`node` with the keys of every mapping in reverse order (the values unchanged)."""
    if isinstance(node, dict):
        return {key: _reversed_keys(node[key]) for key in reversed(list(node))}
    return node


def test_the_same_config_with_its_keys_reordered_reruns_nothing(study_copy, tmp_path):
    workflow, study, config, rules = study_copy
    original = yaml.safe_load(config.read_text())
    reordered = tmp_path / "reordered.yaml"
    reordered.write_text(yaml.safe_dump(_reversed_keys(original), sort_keys=False))
    assert list(yaml.safe_load(reordered.read_text())) != list(original)  # the keys really moved
    proc = snakemake(workflow, study, "--configfile", str(reordered), "--dry-run")
    assert "Nothing to be done" in proc.stdout + proc.stderr, proc.stdout

    # Reordered and one value changed: exactly what that value alone reruns.
    changed = _reversed_keys(original)
    changed["models"]["vae"]["epochs_per_dataset"] = {"tiny_gauss": 3}
    reordered.write_text(yaml.safe_dump(changed, sort_keys=False))
    proc = snakemake(workflow, study, "--configfile", str(reordered), "--dry-run")
    assert planned_jobs(proc) == expected_jobs(rules, runs=1, dataset_seeds=1), proc.stdout


def test_editing_the_inference_api_retrains_nothing(study_copy):
    """models/inference.py (encode, decode, style transfer) is run by the encoding and the evaluations that
    load a model, not by training: an edit reruns those and what depends on them, and no training."""
    workflow, study, config, _ = study_copy
    module = workflow / "src" / "vae_latent_study" / "models" / "inference.py"
    with edited(module, module.read_text() + "\n_AN_EDIT = 1\n"):
        proc = snakemake(workflow, study, "--configfile", str(config), "--dry-run")
    jobs = planned_jobs(proc)
    assert jobs.get("encode_dataset") == len(DATASETS) * len(MODELS), proc.stdout
    assert not {"build_dataset", "train_model", "plot_sample_heatmaps", "plot_training_curves"} & set(jobs)


def test_editing_a_claim_reruns_the_aggregation_the_comparison_and_the_report_only(study_copy):
    """The source's claims are data (config/expected/heatmaps.yaml): a changed margin is judged again from
    the same metrics, and nothing per run reruns."""
    workflow, study, config, _ = study_copy
    expected = workflow / "config" / "expected" / "heatmaps.yaml"
    text = expected.read_text()
    assert "margin: 0.02" in text
    with edited(expected, text.replace("margin: 0.02", "margin: 0.03", 1)):
        proc = snakemake(workflow, study, "--configfile", str(config), "--dry-run")
    assert planned_jobs(proc) == DOWNSTREAM_OF_METRICS, proc.stdout


# --- a batched kind (`batch_seeds`): normal_1d's replicates train in one job per model, evaluate in one -----

#: Seed 002's study, tiny: tests/test_studies.py's model, two replicates of two epochs.
NORMAL_CONFIG = {
    "seed": 3,
    "datasets": {"normal": {"kind": "normal_1d"}},
    "models": {"vae_1d": {**STUDIES_CONFIG["models"]["vae_1d"], "epochs": 2}},
    "studies": {
        "normal_1d": {"datasets": ["normal"], "models": ["vae_1d"], "seeds": [1, 2], "expected": "normal_1d"}
    },
}
#: What one batched evaluation job's rerun brings after it.
AFTER_GENERATION = {"summarise_replicates": 1, **DOWNSTREAM_OF_METRICS}


@pytest.fixture(scope="module")
def normal_copy(tmp_path_factory):
    """(workflow copy, study, config file): the tiny normal_1d study run to its end by a workflow copy."""
    root = tmp_path_factory.mktemp("rerun_normal")
    empty = root / "empty"
    empty.mkdir()
    config = empty / "normal.yaml"
    config.write_text(yaml.safe_dump(NORMAL_CONFIG))
    workflow, study, config = copy_workflow(empty, config, root)
    proc = snakemake(workflow, study, "--configfile", str(config))
    assert "train_models_normal" in proc.stdout + proc.stderr
    return workflow, study, config


def test_a_batched_kind_trains_and_evaluates_one_job_per_model(normal_copy):
    workflow, study, config = normal_copy
    jobs = planned_jobs(snakemake(workflow, study, "--configfile", str(config), "--dry-run", "--forceall"))
    assert jobs["train_models_normal"] == jobs["evaluate_generation_normal"] == 1
    assert not {"train_model", "evaluate_generation"} & set(jobs)
    for seed in (1, 2):
        assert (study / f"results/models/normal/vae_1d/seed{seed}/model.keras").exists()
        assert (study / f"results/evaluation/normal/vae_1d/seed{seed}/generation.json").exists()
    assert not list((study / "results").rglob("finished*"))


def test_editing_a_batched_evaluation_reruns_its_batch_not_the_training(normal_copy):
    workflow, study, config = normal_copy
    module = workflow / "src" / "vae_latent_study" / "kinds" / "normal_1d" / "evaluate.py"
    with edited(module, module.read_text() + "\n_AN_EDIT = 1\n"):
        proc = snakemake(workflow, study, "--configfile", str(config), "--dry-run")
    assert planned_jobs(proc) == {"evaluate_generation_normal": 1, **AFTER_GENERATION}, proc.stdout
    outputs = planned_outputs(proc)
    assert {f"results/evaluation/normal/vae_1d/seed{s}/generation.json" for s in (1, 2)} <= outputs
    assert not [path for path in outputs if "results/models/" in path or "results/data/" in path]


@pytest.mark.parametrize(
    "module", ["kinds/factor_model/evaluate.py", "evaluation/disentanglement.py", "kinds/heatmaps/data.py"]
)
def test_editing_another_kinds_code_touches_nothing_batched(normal_copy, module):
    workflow, study, config = normal_copy
    path = workflow / "src" / "vae_latent_study" / module
    with edited(path, path.read_text() + "\n_AN_EDIT = 1\n"):
        proc = snakemake(workflow, study, "--configfile", str(config), "--dry-run")
    assert "Nothing to be done" in proc.stdout + proc.stderr, proc.stdout


def test_editing_the_training_reruns_the_batched_training_and_what_reads_it(normal_copy):
    workflow, study, config = normal_copy
    module = workflow / "src" / "vae_latent_study" / "training" / "train.py"
    with edited(module, module.read_text() + "\n_AN_EDIT = 1\n"):
        proc = snakemake(workflow, study, "--configfile", str(config), "--dry-run")
    jobs = planned_jobs(proc)
    assert jobs == {
        "train_models_normal": 1,
        "evaluate_generation_normal": 1,
        "plot_training_curves": 2,
        **AFTER_GENERATION,
    }, proc.stdout


def test_a_new_seed_reruns_the_whole_batch_of_each_model(normal_copy, tmp_path):
    """A rule's outputs are its seeds: another seed list is another job, which trains every seed of it
    again (the same bits) and evaluates them; the other replicates' data are not rebuilt."""
    workflow, study, _ = normal_copy
    changed = copy.deepcopy(NORMAL_CONFIG)
    changed["studies"]["normal_1d"]["seeds"] = [1, 2, 3]
    config_file = tmp_path / "changed.yaml"
    config_file.write_text(yaml.safe_dump(changed))
    proc = snakemake(workflow, study, "--configfile", str(config_file), "--dry-run")
    assert planned_jobs(proc) == {
        "build_dataset_replicate": 1,
        "train_models_normal": 1,
        "evaluate_generation_normal": 1,
        "plot_training_curves": 3,  # every seed's history is written again
        **AFTER_GENERATION,
    }, proc.stdout
    assert "results/models/normal/vae_1d/seed1/model.keras" in planned_outputs(proc)
