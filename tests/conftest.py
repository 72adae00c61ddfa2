"""Shared fixtures: the repository's paths, a tiny, seconds-long study config, and one workflow run of it."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from vae_latent_study.config import validate_config

REPO = Path(__file__).resolve().parents[1]
SCHEMA = REPO / "config" / "config.schema.yaml"

#: Seed 001's convolutional models as model options (config/config.yaml's `ae_conv32`, `vae_conv32`
#: without their training settings).
CONV32_AE = {
    "kind": "ae",
    "architecture": "conv32",
    "latent_dim": 2,
    "likelihood": {"type": "binary_crossentropy"},
}
CONV32_VAE = {
    "kind": "vae",
    "architecture": "conv32",
    "latent_dim": 2,
    "sampler": "log_var",
    "kl_reduction": "sum",
    "likelihood": {"type": "bernoulli", "scale": 500},
}

TINY_CONFIG = {
    "seed": 3,
    "datasets": {
        "tiny_gauss": {
            "family": "gaussian",
            "grid": {
                "var_x": {"start": 0.5, "stop": 2.0, "step": 0.5},
                "var_y": {"start": 0.5, "stop": 2.0, "step": 0.5},
                "cor": {"start": -0.5, "stop": 0.6, "step": 0.5},
            },
            "split": {"test_size": 0.25, "seed": 1},
        },
        "tiny_t": {
            "family": "student_t",
            "grid": {
                "var_x": {"start": 0.5, "stop": 3.0, "step": 0.5},
                "var_y": {"start": 0.5, "stop": 3.0, "step": 0.5},
                "cor": {"start": -0.5, "stop": 0.6, "step": 0.5},
            },
            "df_rule": {"threshold": 10.0, "seed": 4},
        },
    },
    "models": {
        "vae": {"kind": "vae", "epochs": 2, "batch_size": 16},
        "ae": {"kind": "ae", "epochs": 2, "batch_size": 16, "schedule": {"type": "constant"}},
    },
    "training": {"seeds": [7]},
    "figures": {"sample_heatmaps": {"rows": 2, "cols": 2, "seed": 0}},
}


def evaluation_context(
    name, *, inputs, outputs=None, settings=None, dataset="d", model="m", seed=0, model_kind="vae", threads=1
):
    """(context, module) of the declared evaluation `name` of one run, as its workflow rule passes them, its
    identity from the arguments and the dataset's manifest."""
    from vae_latent_study.datasets import read_manifest
    from vae_latent_study.evaluation.runner import Context
    from vae_latent_study.kinds.registry import kinds

    spec = next(k for k in kinds() if name in {e.name for e in k.evaluations})
    manifest = read_manifest(inputs["dataset"])
    identity = {
        "dataset": dataset,
        "dataset_kind": spec.name,
        "model": model,
        "model_kind": model_kind,
        "seed": int(seed),
        "family": spec.family(manifest.get("config", {})),
    }
    ctx = Context(
        name=name,
        identity=identity,
        inputs={role: str(path) if path else "" for role, path in inputs.items()},
        outputs={key: str(path) for key, path in (outputs or {}).items()},
        settings=dict(settings or {}),
        threads=threads,
    )
    return ctx, spec.evaluation(name).module


def run_evaluation(name, json_path, **run):
    """Run the declared evaluation `name` as its workflow rule does (`evaluation.runner.run`; `run` as
    `evaluation_context` takes); returns the JSON it wrote."""
    from vae_latent_study.evaluation import runner

    return runner.run(*evaluation_context(name, **run), json_path)


def quick_derived(studies, *, epochs, seeds, datasets=None, evaluation=None):
    """config/quick.yaml (what the README has a user run first) cut to `studies`, their datasets and models,
    and made smaller still for a test: every model at most `epochs` epochs (on every dataset), each study's
    `seeds`, `datasets` ({name: keys}) and `evaluation` keys laid over the quick ones. Everything else (the
    networks, likelihoods, schedules, the studies' pairs and expected files) is the quick config's, so the
    tests run what a user runs."""
    quick = yaml.safe_load((REPO / "config" / "quick.yaml").read_text(encoding="utf-8"))
    chosen = {name: {**quick["studies"][name], "seeds": list(seeds)} for name in studies}
    used_datasets = sorted({d for spec in chosen.values() for d in spec["datasets"]})
    used_models = sorted({m for spec in chosen.values() for m in spec["models"]})
    models = {}
    for name in used_models:
        model = dict(quick["models"][name])
        model["epochs"] = min(int(model["epochs"]), epochs)
        model.pop("epochs_per_dataset", None)
        models[name] = model
    return {
        **{key: value for key, value in quick.items() if key not in ("datasets", "models", "studies")},
        "datasets": {d: {**quick["datasets"][d], **(datasets or {}).get(d, {})} for d in used_datasets},
        "models": models,
        "studies": chosen,
        "evaluation": {**quick.get("evaluation", {}), **(evaluation or {})},
    }


@pytest.fixture
def tiny_config():
    """The tiny study config, validated (defaults filled)."""
    return validate_config(TINY_CONFIG, SCHEMA)


@pytest.fixture
def tiny_config_file(tmp_path):
    """The tiny study config as a YAML file in a fresh working directory."""
    path = tmp_path / "tiny.yaml"
    path.write_text(yaml.safe_dump(TINY_CONFIG))
    return path


def snakemake_command(workdir, *args, snakefile=REPO / "Snakefile") -> list[str]:
    """The command line that runs `snakefile` (this interpreter's Snakemake) in `workdir`."""
    return [sys.executable, "-m", "snakemake", "-s", str(snakefile), "--directory", str(workdir), *args]


def run_snakemake(workdir, *args, snakefile=REPO / "Snakefile", check=True, timeout=1800, env=None):
    """Run `snakemake_command` to its end; with `check`, a failure raises with Snakemake's output."""
    cmd = snakemake_command(workdir, *args, snakefile=snakefile)
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env)
    if check and proc.returncode != 0:
        raise AssertionError(f"snakemake failed:\n{proc.stdout}\n{proc.stderr}")
    return proc


def snakemake(workdir, config_file, *args, check=True):
    """Run the repository's Snakefile in `workdir` with `config_file` on 2 cores."""
    return run_snakemake(workdir, "--configfile", str(config_file), "--cores", "2", *args, check=check)


@pytest.fixture(scope="session")
def finished_run(tmp_path_factory):
    """The whole tiny study, run once per test session (the workflow tests and the report's browser test
    read it): its working directory and config file. What Snakemake printed on the console (its stderr)
    is kept beside the directory, in `<its name>.console.txt`."""
    workdir = tmp_path_factory.mktemp("tiny_study")
    config_file = workdir / "tiny.yaml"
    config_file.write_text(yaml.safe_dump(TINY_CONFIG))
    proc = snakemake(workdir, config_file)
    (workdir.parent / f"{workdir.name}.console.txt").write_text(proc.stderr)
    return workdir, config_file


#: The test modules that read the session's `finished_run` (a fixture or test takes it): one pytest-xdist
#: worker runs them all, so that the tiny study is built once (tests/test_ci_guard.py checks the list).
TINY_STUDY_MODULES = frozenset(
    f"tests/{name}.py" for name in ("test_report_browser", "test_rerun", "test_workflow")
)


#: The longest test modules (minutes each: Snakemake runs, the SLURM cluster's polling, kills and resumes),
#: started first so that no worker is left alone with one of them at the end; the others follow in file
#: order. pyproject.toml's `--no-loadscope-reorder` keeps this order for the workers.
SLOW_MODULES_FIRST = tuple(
    f"tests/{name}.py"
    for name in (
        "test_workflow",
        "test_report_browser",
        "test_rerun",
        "test_slurm",
        "test_studies",
        "test_training",
        "test_batch",
        "test_images_cvae",
    )
)


def pytest_collection_modifyitems(items):
    """The slow modules first (SLOW_MODULES_FIRST), each module's tests in their own order."""
    rank = {module: i for i, module in enumerate(SLOW_MODULES_FIRST)}
    items.sort(key=lambda item: rank.get(item.nodeid.split("::")[0], len(rank)))


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config, log):
    """pyproject.toml's `--dist loadfile`, with one change: the modules of TINY_STUDY_MODULES are one unit.

    Each module runs on one worker, so that its module-scoped fixtures (a study run, a trained model) are
    built once. xdist's own `loadgroup` would group by mark, but it does not work with pytest 9.2
    (pytest-dev/pytest-xdist#1386: its node-id suffix is lost), so the grouping is by module path here."""
    if config.getvalue("dist") != "loadfile":
        return None
    from xdist.scheduler import LoadFileScheduling

    class ModuleScheduling(LoadFileScheduling):
        def _split_scope(self, nodeid: str) -> str:
            module = super()._split_scope(nodeid)
            return "tiny_study" if module in TINY_STUDY_MODULES else module

    return ModuleScheduling(config, log)


@pytest.hookimpl(trylast=True)
def pytest_sessionfinish(session, exitstatus):
    """With VAE_STUDY_NO_SKIPS=1 (set by .ci/run) a skipped test fails the run: CI must run the SLURM and
    browser tests, which skip themselves only where they cannot install what they need (not root)."""
    if os.environ.get("VAE_STUDY_NO_SKIPS") != "1" or exitstatus != pytest.ExitCode.OK:
        return
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    skipped = reporter.stats.get("skipped", []) if reporter is not None else []
    if skipped:
        if reporter is not None:
            reporter.ensure_newline()
            reporter.write_line(
                f"VAE_STUDY_NO_SKIPS=1: {len(skipped)} test(s) skipped; failing the run", red=True
            )
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
