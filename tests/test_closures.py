"""The code each rule's digest covers (`provenance.code_closure`): what an edit reruns is what runs the edited
code. These are the closures the layout exists for; a new import that crosses them fails here, with the
module that crossed named."""

import pytest

from vae_latent_study import provenance
from vae_latent_study.datasets import kind_module
from vae_latent_study.kinds import registry

from .conftest import REPO

SCRIPTS = REPO / "workflow" / "scripts"
PACKAGE = REPO / "src" / "vae_latent_study"
KINDS = list(registry.KIND_MODULES)


def covered(script, *modules):
    """The package files (relative POSIX paths) the digest of `script` (with `modules`) covers."""
    return {
        path.relative_to(PACKAGE).as_posix() for path in provenance.code_closure(SCRIPTS / script, *modules)
    }


def keras_modules(files):
    """The covered files that import Keras or TensorFlow themselves (anywhere, also inside a function)."""
    return {
        file
        for file in files
        if any(
            name.split(".")[0] in ("keras", "tensorflow") for name in provenance._analysis(PACKAGE / file)[1]
        )
    }


def test_training_covers_no_inference_evaluation_report_or_aggregation_module():
    files = covered("train_model.py")
    assert "models/autoencoders.py" in files and "training/train.py" in files
    crossing = {
        file
        for file in files
        if file == "models/inference.py"
        or file.startswith(("evaluation/", "report/", "aggregate/", "kinds/"))
    }
    assert crossing == set()


@pytest.mark.parametrize("script", ["aggregate_metrics.py", "compare_with_sources.py", "build_report.py"])
def test_the_aggregation_and_report_cover_no_keras_model_or_training_code(script):
    files = covered(script)
    assert {file for file in files if file.startswith(("models/", "training/"))} == set()
    assert keras_modules(files) == set()


def test_plotting_the_training_curves_covers_no_keras_and_no_kind():
    files = covered("plot_training_curves.py")
    assert keras_modules(files) == set()
    assert {file for file in files if file.startswith("kinds/")} == set()


@pytest.mark.parametrize("kind", KINDS)
def test_a_kinds_evaluations_cover_no_other_kinds_module(kind):
    spec = registry.kind(kind)
    others = tuple(f"kinds/{other}/" for other in KINDS if other != kind)
    for evaluation in spec.evaluations:
        files = covered("evaluate.py", evaluation.module)
        assert f"kinds/{kind}/__init__.py" in files, evaluation.name
        assert {file for file in files if file.startswith(others)} == set(), evaluation.name


@pytest.mark.parametrize("kind", KINDS)
def test_a_datasets_build_covers_only_its_kind(kind):
    files = covered("build_dataset.py", kind_module(kind))
    assert f"kinds/{kind}/data.py" in files
    assert {
        file for file in files if file.startswith("kinds/") and not file.startswith(f"kinds/{kind}/")
    } == {"kinds/__init__.py"}
    # Building data trains nothing and evaluates nothing.
    assert {file for file in files if file.startswith(("models/", "training/", "evaluation/"))} == set()


def test_every_covered_package_init_is_empty():
    """A re-export in an `__init__.py` would pull a subpackage into every digest that touches it."""
    inits = sorted(PACKAGE.rglob("__init__.py"))
    assert len(inits) > 5
    assert {init.relative_to(PACKAGE).as_posix() for init in inits if init.read_text().strip()} == {
        "__init__.py"
    }


@pytest.mark.parametrize(
    "evaluation",
    [e for e in registry.evaluations() if "model" not in e.inputs and "twin" not in e.inputs],
    ids=lambda e: e.name,
)
def test_an_evaluation_that_loads_no_model_covers_no_model_code(evaluation):
    """The evaluations of a latent store (the heatmaps' reconstruction, probes and scores) read codes, not a
    model: an edit of the models or of training reruns them only through a new store."""
    files = covered("evaluate.py", evaluation.module)
    assert {file for file in files if file.startswith(("models/", "training/"))} == set()
    assert keras_modules(files) == set()
