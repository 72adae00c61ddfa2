"""The CI guard in conftest.py: with VAE_STUDY_NO_SKIPS=1 a skipped test fails the run, without it not."""

import os
import subprocess
import sys

import pytest

from .conftest import REPO

SUITE = """
import pytest

def test_runs():
    assert True

def test_cannot_run_here():
    pytest.skip("needs something this machine lacks")
"""


def run_suite(tmp_path, env_value, test_file):
    (tmp_path / "conftest.py").write_text(
        f"import sys\nsys.path.insert(0, {str(REPO)!r})\nfrom tests.conftest import pytest_sessionfinish\n"
    )
    (tmp_path / "test_suite.py").write_text(test_file)
    env = {key: value for key, value in os.environ.items() if key != "VAE_STUDY_NO_SKIPS"}
    if env_value is not None:
        env["VAE_STUDY_NO_SKIPS"] = env_value
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", str(tmp_path)],
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


def test_the_guard_passes_a_suite_without_skips(tmp_path):
    proc = run_suite(tmp_path, "1", "def test_runs():\n    assert True\n")
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_ci_sets_the_guard():
    assert "export VAE_STUDY_NO_SKIPS=1" in (REPO / ".ci" / "run").read_text()
