"""The expected-numbers files (`aggregate/expected.py`, `aggregate/claims.py`): the sources' printed numbers
and claims as data, read and checked, and the claims as the aggregation's param."""

import pytest
import yaml

from tests.conftest import REPO
from vae_latent_study.aggregate import claims as aggregate_claims
from vae_latent_study.aggregate import expected as aggregate_expected

EXPECTED = REPO / "config" / "expected"


def test_every_expected_file_reads_and_the_heatmaps_file_holds_the_notebooks_claims():
    files = sorted(EXPECTED.glob("*.yaml"))
    assert {f.stem for f in files} >= {"heatmaps", "normal_1d", "fashion"}
    read = {f.stem: aggregate_expected.read_expected(f) for f in files}
    claims = read["heatmaps"].claims
    assert [(c.metric, c.alternative) for c in claims] == [
        ("frobenius_sample.mean", "greater"),
        ("knn_df.fixed_k.test_accuracy", "equivalent"),
        ("exploration.empty_share", "less"),
    ]
    assert claims[1].margin == 0.02 and {c.level for c in claims} == {0.05}
    assert all(c.line in (1197, 1198) for c in claims)  # the notebook's conclusions


def _with(tmp_path, **changes):
    """The heatmaps file with top-level keys replaced (None removes one)."""
    data = yaml.safe_load((EXPECTED / "heatmaps.yaml").read_text(encoding="utf-8"))
    for key, value in changes.items():
        if value is None:
            data.pop(key, None)
        else:
            data[key] = value
    path = tmp_path / "heatmaps.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    return path


GOOD = {"claim": "c", "metric": "m", "alternative": "less"}


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"claims": [{**GOOD, "alternative": "bigger"}]}, r"key 'claims\[0\].alternative': one of greater"),
        ({"claims": [GOOD, {**GOOD, "alternative": "equivalent"}]}, r"key 'claims\[1\].margin': an equival"),
        ({"claims": [{**GOOD, "margin": 0.1}]}, r"key 'claims\[0\].margin': only an 'equivalent'"),
        ({"claims": [{**GOOD, "colour": "red"}]}, r"key 'claims\[0\].colour': unknown"),
        ({"claims": [{**GOOD, "metric": ""}]}, r"key 'claims\[0\].metric': required"),
        ({"claims": [GOOD, {**GOOD, "claim": "d"}]}, r"key 'claims\[1\].metric': 'm' has a claim already"),
        ({"claims": [{**GOOD, "line": 0}]}, r"key 'claims\[0\].line'"),
        ({"claims": {"c": GOOD}}, r"key 'claims': a list"),
        ({"claim_level": None}, r"key 'claim_level': the claims' test level"),
        ({"claim_level": 1.5}, r"key 'claim_level'"),
        ({"claims": None}, r"key 'claim_level': given without 'claims'"),
        ({"claimz": []}, r"unknown key 'claimz'"),
    ],
)
def test_a_malformed_claim_is_refused_naming_the_key(tmp_path, changes, message):
    path = _with(tmp_path, **changes)
    with pytest.raises(ValueError, match=message) as error:
        aggregate_expected.read_expected(path)
    assert str(path) in str(error.value)


def test_the_claims_param_changes_with_a_claim_and_not_with_a_printed_number(tmp_path):
    """The aggregation's param holds what decides a verdict: an edited claim changes it (so the aggregation
    reruns, and the comparison and the report after it), an edited printed number or a claim's source line
    does not (that reruns the comparison only: its rule reads the file)."""
    original = yaml.safe_load((EXPECTED / "heatmaps.yaml").read_text(encoding="utf-8"))

    def param(**changes):
        path = _with(tmp_path, **changes)
        return aggregate_claims.claims_by_dataset([("heatmaps", ["gaussian", "student_t"], path)])

    base = param()
    assert set(base) == {"gaussian", "student_t"} and len(base["gaussian"]) == 3
    numbers = [dict(entry) for entry in original["expected"]]
    numbers[0]["value"] *= 2
    assert param(expected=numbers) == base
    claims = [dict(claim) for claim in original["claims"]]
    claims[0]["line"] = 1
    assert param(claims=claims) == base
    claims[1]["margin"] = 0.05
    assert param(claims=claims) != base
    assert param(claim_level=0.01) != base


def test_two_studies_judging_one_dataset_by_different_claims_are_refused(tmp_path):
    path = _with(tmp_path, claims=[{**GOOD, "metric": "frobenius_sample.mean"}])
    heatmaps = EXPECTED / "heatmaps.yaml"
    same = aggregate_claims.claims_by_dataset([("a", ["d"], heatmaps), ("b", ["d", "e"], heatmaps)])
    assert same["d"] == same["e"]
    with pytest.raises(ValueError, match="studies 'a' and 'b' judge frobenius_sample.mean on dataset d"):
        aggregate_claims.claims_by_dataset([("a", ["d"], heatmaps), ("b", ["d"], path)])


def test_a_malformed_claim_stops_the_workflow_before_any_job_naming_the_key(tmp_path):
    """The workflow reads every study's expected file at its start: a bad claim is a config error."""
    import shutil
    import subprocess

    from tests.conftest import TINY_CONFIG, snakemake_command

    checkout = tmp_path / "checkout"
    checkout.mkdir()
    for part in ("Snakefile", "workflow", "config", "profiles", "envs"):
        source = REPO / part
        copy = shutil.copytree if source.is_dir() else shutil.copy2
        copy(source, checkout / part)
    path = checkout / "config" / "expected" / "heatmaps.yaml"
    path.write_text(path.read_text(encoding="utf-8").replace("alternative: less", "alternative: fewer"))
    config = tmp_path / "tiny.yaml"
    config.write_text(yaml.safe_dump(TINY_CONFIG))
    work = tmp_path / "study"
    work.mkdir()
    proc = subprocess.run(
        snakemake_command(work, "--configfile", str(config), "--dry-run", snakefile=checkout / "Snakefile"),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode != 0
    assert "config key 'studies.heatmaps.expected'" in proc.stderr + proc.stdout
    assert (
        "key 'claims[2].alternative': one of greater, less, equivalent; got 'fewer'"
        in proc.stderr + proc.stdout
    )
    assert not (work / "results").exists()
