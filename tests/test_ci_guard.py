"""The CI guard in conftest.py: with VAE_STUDY_NO_SKIPS=1 a skipped test fails the run, without it not."""

import ast
import os
import subprocess
import sys

import pytest

from .conftest import REPO, SLOW_MODULES_FIRST, TINY_STUDY_MODULES

SUITE = """
import pytest

def test_runs():
    assert True

def test_cannot_run_here():
    pytest.skip("needs something this machine lacks")
"""


def run_suite(tmp_path, env_value, test_file, *args):
    (tmp_path / "conftest.py").write_text(
        f"import sys\nsys.path.insert(0, {str(REPO)!r})\nfrom tests.conftest import pytest_sessionfinish\n"
    )
    (tmp_path / "test_suite.py").write_text(test_file)
    env = {key: value for key, value in os.environ.items() if key != "VAE_STUDY_NO_SKIPS"}
    if env_value is not None:
        env["VAE_STUDY_NO_SKIPS"] = env_value
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", *args, str(tmp_path)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.parametrize(("env_value", "returncode"), [(None, 0), ("0", 0), ("1", 1)])
def test_a_skip_fails_the_run_only_under_the_ci_guard(tmp_path, env_value, returncode):
    proc = run_suite(tmp_path, env_value, SUITE)
    assert proc.returncode == returncode, proc.stdout + proc.stderr
    assert "1 passed, 1 skipped" in proc.stdout
    assert ("test(s) skipped; failing the run" in proc.stdout) == (returncode == 1)


def test_the_guard_holds_under_pytest_xdist_workers(tmp_path):
    """The suite runs on two pytest-xdist workers (pyproject.toml): a skip on a worker fails the run too."""
    proc = run_suite(tmp_path, "1", SUITE, "-n", "2", "--dist", "loadfile")
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "1 passed, 1 skipped" in proc.stdout and "test(s) skipped; failing the run" in proc.stdout


def test_the_guard_passes_a_suite_without_skips(tmp_path):
    proc = run_suite(tmp_path, "1", "def test_runs():\n    assert True\n")
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_the_modules_that_share_the_tiny_study_run_on_one_worker():
    """conftest.TINY_STUDY_MODULES names exactly the modules with a fixture or test that takes
    `finished_run`: a module left out would build the tiny study a second time on the other worker."""
    takers = set()
    for path in sorted((REPO / "tests").glob("test_*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        functions = (n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef))
        if any(arg.arg == "finished_run" for f in functions for arg in f.args.args):
            takers.add(f"tests/{path.name}")
    assert takers == TINY_STUDY_MODULES
    # The slow modules start first (the tiny study's among them); a renamed one would drop out silently.
    assert all((REPO / module).is_file() for module in SLOW_MODULES_FIRST)
    assert TINY_STUDY_MODULES <= set(SLOW_MODULES_FIRST)


def test_ci_sets_the_guard():
    assert "export VAE_STUDY_NO_SKIPS=1" in (REPO / ".ci" / "run").read_text()
