"""provenance.code_digest: the param that makes an edit of the package code rerun the rules that run it."""

import shutil

import pytest

from vae_latent_study import provenance
from vae_latent_study.kinds.registry import evaluations

from .conftest import REPO

SCRIPTS = REPO / "workflow" / "scripts"


def clear_caches():
    for cached in (provenance._analysis, provenance._package_imports):
        cached.cache_clear()


@pytest.fixture
def package(tmp_path, monkeypatch):
    """A copy of the package and the workflow scripts that code_digest reads instead of the real ones."""
    copy = tmp_path / "vae_latent_study"
    shutil.copytree(REPO / "src" / "vae_latent_study", copy, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(SCRIPTS, tmp_path / "scripts")
    monkeypatch.setattr(provenance, "_PACKAGE_DIR", copy)
    clear_caches()
    yield copy, tmp_path / "scripts"
    clear_caches()


def digests(scripts):
    """The code digest of every rule: each script's, and each declared evaluation's (`evaluate_<name>`: the
    one evaluation script with its own module, as the workflow's rule template computes it)."""
    clear_caches()
    out = {path.name: provenance.code_digest(path) for path in sorted(scripts.glob("*.py"))}
    for evaluation in evaluations():
        out[evaluation.rule] = provenance.code_digest(scripts / "evaluate.py", evaluation.module)
    return out


def test_the_digest_is_stable_and_names_the_code_of_each_rule():
    first = provenance.code_digest(SCRIPTS / "train_model.py")
    assert first == provenance.code_digest(SCRIPTS / "train_model.py")
    assert len(first) == 16 and int(first, 16) >= 0
    # Different rules run different code.
    assert first != provenance.code_digest(SCRIPTS / "build_dataset.py")


def test_the_copy_gives_the_real_digests(package):
    _, scripts = package
    real = {path.name: provenance.code_digest(path) for path in sorted(SCRIPTS.glob("*.py"))}
    real |= {e.rule: provenance.code_digest(SCRIPTS / "evaluate.py", e.module) for e in evaluations()}
    assert digests(scripts) == real


def test_a_code_edit_changes_the_digests_of_the_rules_that_import_it_only(package):
    copy, scripts = package
    before = digests(scripts)
    metrics = copy / "evaluation" / "disentanglement.py"
    metrics.write_text(metrics.read_text() + "\n_AN_EDIT = 1\n")
    after = digests(scripts)
    changed = {name for name in before if before[name] != after[name]}
    # The disentanglement metrics are imported by the heatmap evaluations (kinds/heatmaps/evaluate.py) only;
    # not by training, the data, the figures or the aggregation.
    assert changed == {"evaluate_reconstruction", "evaluate_probes", "evaluate_scores"}


@pytest.mark.parametrize(
    ("module", "rules"),
    [
        ("kinds/factor_model/evaluate.py", {"evaluate_recovery"}),
        ("kinds/images/cvae.py", {"evaluate_cvae"}),
        ("kinds/heatmaps/transfer.py", {"evaluate_transfer"}),
        ("kinds/toy_manifold/evaluate.py", {"evaluate_manifold"}),
    ],
)
def test_editing_one_evaluations_module_changes_that_evaluations_digest_only(package, module, rules):
    """The rule template digests the one evaluation script with each evaluation's own module: an edit of
    one kind's evaluation reruns that evaluation, no other kind's and no other rule."""
    copy, scripts = package
    before = digests(scripts)
    path = copy / module
    path.write_text(path.read_text() + "\n_AN_EDIT = 1\n")
    after = digests(scripts)
    assert {name for name in before if before[name] != after[name]} == rules


def test_the_evaluation_runner_loads_no_kind(package):
    """The runner imports its evaluation's module by name: the one script's own digest covers no kind, and
    editing a kind's spec (which the workflow reads) reruns no job."""
    copy, scripts = package
    before = digests(scripts)
    for spec in sorted(copy.glob("kinds/*/spec.py")) + [copy / "kinds" / "interface.py"]:
        spec.write_text(spec.read_text() + "\n_AN_EDIT = 1\n")
    assert digests(scripts) == before


def test_an_import_inside_a_function_counts(package):
    # latents.py imports the models' inference API inside encode_dataset: an edit of it changes the
    # encoding's digest, and not the training's (train_model encodes nothing) nor the report's.
    copy, scripts = package
    before = digests(scripts)
    inference = copy / "models" / "inference.py"
    inference.write_text(inference.read_text() + "\n_AN_EDIT = 1\n")
    after = digests(scripts)
    assert before["encode_dataset.py"] != after["encode_dataset.py"]
    assert before["train_model.py"] == after["train_model.py"]
    assert before["build_report.py"] == after["build_report.py"]
    build = copy / "models" / "build.py"
    build.write_text(build.read_text() + "\n_AN_EDIT = 1\n")
    assert digests(scripts)["train_model.py"] != after["train_model.py"]


def closure(script):
    """The package files that code_digest follows from `script`, relative to the package."""
    todo, seen = set(provenance._package_imports(script.resolve())), set()
    while todo:
        module = todo.pop()
        if module not in seen:
            seen.add(module)
            todo |= provenance._package_imports(module)
    return {module.relative_to(provenance._PACKAGE_DIR).as_posix() for module in seen}


def test_the_training_covers_the_models_it_builds_and_not_their_inference_api():
    covered = closure(SCRIPTS / "train_model.py")
    assert {"models/build.py", "models/autoencoders.py", "training/train.py"} <= covered
    assert "models/inference.py" not in covered
    # The bottom layers of the models import no other package module; the likelihoods only the layers.
    for bottom in ("precision.py", "layers.py"):
        assert closure(provenance._PACKAGE_DIR / "models" / bottom) == set()
    assert closure(provenance._PACKAGE_DIR / "models" / "likelihoods.py") == {"models/layers.py"}


def test_comments_docstrings_and_layout_do_not_count(package):
    copy, scripts = package
    before = digests(scripts)
    heatmaps = copy / "kinds" / "heatmaps" / "data.py"
    source = heatmaps.read_text()
    start = source.index('"""') + 3
    edited = source[:start] + "An edited module docstring. " + source[start:]
    edited = edited.replace("\ndef ", "\n# a new comment\n\n\ndef ", 1)
    heatmaps.write_text(edited + "\n\n# a trailing comment\n")
    assert digests(scripts) == before
    build = scripts / "build_dataset.py"
    before_build = provenance.code_digest(build, "vae_latent_study.kinds.heatmaps.data")
    heatmaps.write_text(edited.replace("GENERATOR_VERSION = ", "GENERATOR_VERSION = 'x' + ", 1))
    clear_caches()
    assert provenance.code_digest(build, "vae_latent_study.kinds.heatmaps.data") != before_build


def test_a_kinds_edit_changes_the_build_digest_of_that_kind_only(package):
    """datasets.py picks a kind's builder by name, so the build rule digests the script with the built
    kind's module: an edit of the factor model rebuilds its datasets, not the heatmaps (and so retrains
    nothing of seed 000)."""
    copy, scripts = package
    build = scripts / "build_dataset.py"
    kinds = ("heatmaps", "normal_1d", "factor_model")

    def build_digests():
        clear_caches()
        return {kind: provenance.code_digest(build, f"vae_latent_study.kinds.{kind}.data") for kind in kinds}

    before = build_digests()
    assert len(set(before.values())) == 3
    module = copy / "kinds" / "factor_model" / "data.py"
    module.write_text(module.read_text() + "\n_AN_EDIT = 1\n")
    after = build_digests()
    assert {kind for kind in kinds if before[kind] != after[kind]} == {"factor_model"}
    with pytest.raises(ValueError, match="not a module"):
        provenance.code_digest(build, "numpy")


def test_no_rule_runs_the_config_layer(package):
    """config.py and kinds/registry.py plan the workflow (common.smk reads them) but no job runs them:
    adding a kind or a study check must rerun nothing, so they are in no script's digest."""
    copy, scripts = package
    before = digests(scripts)
    for name in ("config.py", "kinds/registry.py"):
        module = copy / name
        module.write_text(module.read_text() + "\n_AN_EDIT = 1\n")
    assert digests(scripts) == before


def _report_code(scripts):
    from vae_latent_study.kinds.registry import KIND_MODULES
    from vae_latent_study.report.chapter import chapter_modules

    return provenance.code_digest(scripts / "build_report.py", *chapter_modules(KIND_MODULES))


def test_the_study_wide_rules_cover_no_model_training_or_per_run_code():
    """The aggregation, the comparison and the report read tables and JSONs: their digests cover no Keras
    model, no training, no dataset builder and no per-run evaluation (the report: the kinds' chapters, which
    the page runs by name, and nothing else of a kind)."""
    from vae_latent_study.kinds.registry import KIND_MODULES
    from vae_latent_study.report.chapter import chapter_modules

    chapters = chapter_modules(KIND_MODULES)
    assert "vae_latent_study.kinds.heatmaps.report" in chapters
    for script, modules in (
        ("aggregate_metrics.py", ()),
        ("compare_with_sources.py", ()),
        ("build_report.py", chapters),
    ):
        covered = {
            path.relative_to(provenance._PACKAGE_DIR).as_posix()
            for path in provenance.code_closure(SCRIPTS / script, *modules)
        }
        code = {name for name in covered if not name.endswith("__init__.py")}
        assert not {n for n in code if n.split("/")[0] in ("models.py", "training.py", "evaluation")}, script
        assert not {n for n in code if n.startswith("kinds/") and not n.endswith("/report.py")}, script
        assert code >= {"io.py", "jobs.py"}, script


def test_the_report_digest_covers_the_chapters_and_the_aggregation_no_evaluation(package):
    """Editing a kind's chapter rebuilds the report only; editing a heatmap evaluation reruns no study-wide
    rule (the claims it once held are data: config/expected/heatmaps.yaml)."""
    copy, scripts = package
    before, report = digests(scripts), _report_code(scripts)
    chapter = copy / "kinds" / "heatmaps" / "report.py"
    chapter.write_text(chapter.read_text() + "\n_AN_EDIT = 1\n")
    assert digests(scripts) == before and _report_code(scripts) != report
    report = _report_code(scripts)
    heatmap_evaluation = (scripts / "evaluate.py", "vae_latent_study.kinds.heatmaps.evaluate")
    evaluation_before = provenance.code_digest(*heatmap_evaluation)
    evaluation = copy / "kinds" / "heatmaps" / "evaluate.py"
    evaluation.write_text(evaluation.read_text() + "\n_AN_EDIT = 1\n")
    after = digests(scripts)
    assert _report_code(scripts) == report
    for script in ("aggregate_metrics.py", "compare_with_sources.py", "build_report.py"):
        assert after[script] == before[script], script
    assert provenance.code_digest(*heatmap_evaluation) != evaluation_before


def test_an_ancestor_packages_init_counts(package):
    """Python runs every ancestor `__init__.py` of a module before it: an edit there is an edit of the code
    the module's rules run (they are kept empty, so this never happens by accident)."""
    copy, scripts = package
    evaluate = scripts / "evaluate.py"
    module = "vae_latent_study.kinds.heatmaps.evaluate"
    before = (provenance.code_digest(evaluate, module), provenance.code_digest(scripts / "train_model.py"))
    init = copy / "kinds" / "heatmaps" / "__init__.py"
    init.write_text("_AN_EDIT = 1\n")
    clear_caches()
    after = (provenance.code_digest(evaluate, module), provenance.code_digest(scripts / "train_model.py"))
    assert after[0] != before[0]
    assert after[1] == before[1]
