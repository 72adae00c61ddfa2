"""config/quick.yaml, the first thing the README has a user run, and the one-study targets (`snakemake
fashion`): the quick config is the default config at a reduced size and nothing else, it plans every study,
kind and rule of the default, and a study's target plans that study's runs and nothing of the others."""

import subprocess
import sys

import pytest
import yaml

from vae_latent_study.config import study_runs, validate_config

from .conftest import REPO, SCHEMA
from .test_workflow import planned_jobs, planned_outputs

DEFAULT = REPO / "config" / "config.yaml"
QUICK = REPO / "config" / "quick.yaml"


def _load(path):
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def _flat(node, prefix=()):
    """{key path: leaf} of a nested mapping (lists are leaves)."""
    if isinstance(node, dict):
        out = {}
        for key, value in node.items():
            out.update(_flat(value, (*prefix, str(key))))
        return out
    return {prefix: node}


#: The studies whose quick run keeps two seeds or replicates, so that their cards show a spread: the small
#: ones, where a seed costs seconds. The convolutional studies train one seed, as the default's heatmaps.
SPREAD_STUDIES = ("normal_1d", "factor_model", "toy_manifold")


def _reduced(path):
    """Whether a key path is one the quick config may change: the flag, the heatmap grids' steps, the image
    subsets, every model's epochs, the studies' seeds and the evaluation sizes."""
    match path:
        case ("quick",):
            return True
        case ("datasets", _, "grid", _, "step") | ("datasets", _, "subset"):
            return True
        case ("models", _, "epochs") | ("models", _, "epochs_per_dataset", _):
            return True
        case ("studies", _, "seeds") | ("evaluation", *_):
            return True
    return False


def test_the_quick_config_is_the_default_at_a_reduced_size_and_nothing_else():
    # Validated, so that a key one file sets and the other leaves at its default compares by value.
    default = _flat(validate_config(_load(DEFAULT), SCHEMA))
    quick = _flat(validate_config(_load(QUICK), SCHEMA))
    assert quick[("quick",)] is True and default[("quick",)] is False
    changed = {path for path in default.keys() | quick.keys() if default.get(path) != quick.get(path)}
    assert changed, "the quick config must reduce something"
    assert [path for path in changed if not _reduced(path)] == []
    for path in changed - {("quick",)}:
        old, new = default[path], quick[path]
        if path[-1] == "step":  # a coarser grid
            assert new > old, path
        elif path[-1] == "subset":  # a subset of every image
            assert old is None and new >= 1000, path
        elif path[0] == "studies":  # fewer seeds; two at least where the quick run's cards show a spread
            assert set(new) < set(old) and len(new) >= (2 if path[1] in SPREAD_STUDIES else 1), path
        elif isinstance(old, list):  # learning-curve sizes: no larger than the study's
            assert max(new) <= max(old), path
        else:  # epochs and evaluation sizes
            assert new < old, path


def test_the_quick_config_validates_and_keeps_every_study_dataset_and_model():
    default = validate_config(_load(DEFAULT), SCHEMA)
    quick = validate_config(_load(QUICK), SCHEMA)
    assert quick["quick"] is True
    assert list(quick["studies"]) == list(default["studies"])
    for name, spec in default["studies"].items():
        assert quick["studies"][name]["datasets"] == spec["datasets"]
        assert quick["studies"][name]["models"] == spec["models"]
        # Every (dataset, model) of the study trains in the quick run, with fewer or as many seeds.
        pairs = {(r.dataset, r.model) for r in study_runs(default, name)}
        assert {(r.dataset, r.model) for r in study_runs(quick, name)} == pairs
        assert len(study_runs(quick, name)) <= len(study_runs(default, name))
    kinds = {d["kind"] for d in default["datasets"].values()}
    assert {d["kind"] for d in quick["datasets"].values()} == kinds


def _dry_run(*args):
    """A dry run from the repository root, as a user types it; --forceall plans every job whatever
    results/ holds. Returns Snakemake's process."""
    cmd = [sys.executable, "-m", "snakemake", "--dry-run", "--forceall", "--cores", "2", *args]
    proc = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc


def test_the_quick_run_plans_every_rule_of_the_default_run_and_the_full_report():
    default = planned_jobs(_dry_run())
    quick = _dry_run("--configfile", "config/quick.yaml")
    assert set(planned_jobs(quick)) == set(default)
    assert "results/report/report.html" in planned_outputs(quick)


def _model_runs(outputs):
    """{(dataset, model, seed)} of the trainings among a plan's outputs."""
    found = set()
    for path in outputs:
        parts = path.split("/")
        if path.startswith("results/models/") and path.endswith("/model.keras"):
            found.add((parts[2], parts[3], int(parts[4].removeprefix("seed"))))
    return found


def _evaluated_runs(outputs):
    """{(dataset, model, seed)} of the per-run evaluations among a plan's outputs."""
    found = set()
    for path in outputs:
        parts = path.split("/")
        if path.startswith("results/evaluation/") and len(parts) > 5 and parts[4].startswith("seed"):
            found.add((parts[2], parts[3], int(parts[4].removeprefix("seed"))))
    return found


@pytest.mark.parametrize("study", list(_load(DEFAULT)["studies"]))
def test_a_study_by_name_plans_that_studys_runs_and_nothing_of_the_others(study):
    config = validate_config(_load(DEFAULT), SCHEMA)
    runs = {(r.dataset, r.model, r.seed) for r in study_runs(config, study)}
    proc = _dry_run(study)
    outputs = planned_outputs(proc)
    assert _model_runs(outputs) == runs
    assert _evaluated_runs(outputs) <= runs and _evaluated_runs(outputs)
    # Its own tables and report; not the whole study's, nor another study's.
    assert {
        f"results/metrics/studies/{study}/summary.tsv",
        f"results/metrics/studies/{study}/comparison_with_sources.tsv",
        f"results/report/studies/{study}.html",
    } <= outputs
    shared = ("results/report/", "results/metrics/")
    assert not [p for p in outputs if p.startswith(shared) and study not in p]
    others = set(config["studies"]) - {study}
    assert not [p for p in outputs if any(f"/studies/{other}" in p for other in others)]
    jobs = planned_jobs(proc)
    assert jobs[study] == 1 and "all" not in jobs and "build_report" not in jobs


def test_a_study_may_not_take_a_rules_name(tmp_path):
    config = _load(QUICK)
    config["studies"]["build_report"] = config["studies"].pop("fashion")
    config_file = tmp_path / "clash.yaml"
    config_file.write_text(yaml.safe_dump(config))
    cmd = [sys.executable, "-m", "snakemake", "-s", str(REPO / "Snakefile"), "--dry-run", "--cores", "2"]
    cmd += ["--configfile", str(config_file)]
    proc = subprocess.run(cmd, cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert proc.returncode != 0
    assert "config key 'studies.build_report'" in proc.stdout + proc.stderr
    assert not (tmp_path / "results").exists()
