"""Readers of project files: a damaged file raises ProjectFileError naming it and the command that rebuilds
it, and leaves nothing behind; the rule behind each path."""

import json
import shutil

import pandas as pd
import pytest

from tests.conftest import SCHEMA, TINY_CONFIG
from vae_latent_study import datasets, plots
from vae_latent_study.aggregate import table as aggregate_table
from vae_latent_study.config import validate_config
from vae_latent_study.evaluation import encode, latents
from vae_latent_study.io import ProjectFileError, read_json, read_table, writing_rule
from vae_latent_study.models import autoencoders, build, inference
from vae_latent_study.report import page as report
from vae_latent_study.training import history

RUN = "tiny_gauss/ae/seed7"


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    """A study directory holding one file of each kind, as the workflow lays them out."""
    root = tmp_path_factory.mktemp("study")
    results = root / "results"
    config = validate_config(TINY_CONFIG, SCHEMA)
    paths = {"dataset": results / "data" / "tiny_gauss.h5", "model": results / "models" / RUN / "model.keras"}
    datasets.write_dataset(
        datasets.build_dataset("tiny_gauss", config["datasets"]["tiny_gauss"]), paths["dataset"]
    )
    model = build.build_model("ae", latent_dim=2, seed=3)
    model.compile(optimizer=build.make_optimizer({"type": "constant"}))
    # Built, as training leaves it: an unbuilt optimizer saves 2 variables, and loading it compiled
    # then warns that they do not match the built one's.
    model.optimizer.build(model.trainable_variables)
    paths["model"].parent.mkdir(parents=True)
    model.save(paths["model"])
    paths["latents"] = results / "latents" / f"{RUN}.h5"
    encode.encode_dataset(paths["model"], paths["dataset"], paths["latents"], seed=7, batch_size=8)
    paths["metrics_json"] = results / "evaluation" / RUN / "scores.json"
    paths["metrics_json"].parent.mkdir(parents=True)
    paths["metrics_json"].write_text(
        json.dumps({"identity": {"dataset": "tiny_gauss", "seed": 7}, "mig": 0.5}, indent=2) + "\n"
    )
    paths["metrics_tsv"] = results / "metrics" / "summary.tsv"
    paths["metrics_tsv"].parent.mkdir(parents=True)
    pd.DataFrame({"metric": ["mig", "sap"], "mean": [0.5, 0.25]}).to_csv(
        paths["metrics_tsv"], sep="\t", index=False
    )
    paths["history"] = results / "models" / RUN / "history.csv"
    paths["history"].write_text("epoch,loss,val_loss\n1,0.7,0.71\n2,0.6,0.65\n")
    return root, paths


# Each reader, the file kind it reads, and the rule the advice names.
READERS = {
    "dataset": (datasets.read_dataset, "build_dataset"),
    "manifest": (datasets.read_manifest, "build_dataset"),
    "latents": (latents.read_latents, "encode_dataset"),
    "model": (inference.load_model, "train_model"),
    "metrics_json": (lambda path: aggregate_table.collect_metrics([path]), "evaluate_scores"),
    "read_json": (read_json, "evaluate_scores"),
    "metrics_tsv": (read_table, "aggregate_metrics"),
    "history": (history.read_history, "train_model"),
    "history_plot": (plots._history_rows, "train_model"),
}
KIND = {"manifest": "dataset", "read_json": "metrics_json", "history_plot": "history"}


def damaged_copy(study, tmp_path, kind, damage):
    """A copy of the study whose file of `kind` is cut to half its size or replaced by garbage."""
    root, paths = study
    copy = tmp_path / "copy"
    shutil.copytree(root, copy)
    path = copy / paths[kind].relative_to(root)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2] if damage == "truncated" else b"\x89garbage\x00" * 50)
    return copy, path


def tree(root):
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*"))


@pytest.mark.parametrize("damage", ["truncated", "garbage"])
@pytest.mark.parametrize("reader", list(READERS))
def test_a_damaged_file_names_itself_and_its_rebuild(study, tmp_path, reader, damage):
    read, rule = READERS[reader]
    copy, path = damaged_copy(study, tmp_path, KIND.get(reader, reader), damage)
    before = tree(copy)
    with pytest.raises(ProjectFileError) as caught:
        read(path)
    message = str(caught.value)
    assert str(path) in message
    target = path.relative_to(copy).as_posix()
    assert f"snakemake --cores <N> --forcerun {target}" in message
    assert f"Rule {rule} writes it" in message
    assert tree(copy) == before


def test_the_readers_read_the_intact_files(study):
    _, paths = study
    assert datasets.read_dataset(paths["dataset"]).images.shape[1:] == (36, 36)
    assert latents.read_latents(paths["latents"]).kind == "ae"
    assert isinstance(inference.load_model(paths["model"]), autoencoders.AE)
    assert read_json(paths["metrics_json"])["mig"] == 0.5
    assert list(read_table(paths["metrics_tsv"])["metric"]) == ["mig", "sap"]
    assert [row["epoch"] for row in history.read_history(paths["history"])] == [1, 2]


def test_a_missing_file_says_so(tmp_path):
    path = tmp_path / "results" / "latents" / "tiny_t" / "vae" / "seed3.h5"
    with pytest.raises(ProjectFileError, match="no such file") as caught:
        latents.read_latents(path)
    assert "--forcerun results/latents/tiny_t/vae/seed3.h5" in str(caught.value)


def test_an_old_format_is_a_project_file_error(study, tmp_path):
    _, paths = study
    dataset = datasets.read_dataset(paths["dataset"])
    dataset.manifest = {**dataset.manifest, "format_version": 999}
    path = tmp_path / "results" / "data" / "old.h5"
    datasets.write_dataset(dataset, path)
    with pytest.raises(ProjectFileError, match=f"format version 999, expected {datasets.FORMAT_VERSION}"):
        datasets.read_dataset(path)


def test_encoding_a_damaged_dataset_writes_nothing(study, tmp_path):
    copy, path = damaged_copy(study, tmp_path, "dataset", "truncated")
    _, paths = study
    output = copy / "results" / "latents" / "tiny_gauss" / "ae" / "seed8.h5"
    before = tree(copy)
    with pytest.raises(ProjectFileError, match="tiny_gauss.h5"):
        encode.encode_dataset(copy / paths["model"].relative_to(study[0]), path, output, seed=8)
    assert tree(copy) == before


def test_a_damaged_report_input_names_itself(study, tmp_path):
    copy, path = damaged_copy(study, tmp_path, "metrics_tsv", "truncated")
    with pytest.raises(ProjectFileError, match="summary.tsv"):
        report.build_report(tmp_path / "report.html", [], path, path, path, [], {})
    assert not (tmp_path / "report.html").exists()


@pytest.mark.parametrize(
    ("path", "rule"),
    [
        ("results/data/tiny_t.h5", "build_dataset"),
        ("/work/study/results/models/tiny_t/vae/seed7/model.keras", "train_model"),
        ("results/models/tiny_t/vae/seed7/history.csv", "train_model"),
        ("results/latents/tiny_t/vae/seed7.h5", "encode_dataset"),
        ("results/evaluation/tiny_t/vae/seed7/reconstruction.tsv", "evaluate_reconstruction"),
        ("results/evaluation/tiny_t/vae/seed7/reconstruction.json", "evaluate_reconstruction"),
        ("results/evaluation/tiny_t/vae/seed7/probes.json", "evaluate_probes"),
        ("results/evaluation/tiny_t/vae/seed7/scores.json", "evaluate_scores"),
        ("results/evaluation/fm/vae/seed7/recovery.json", "evaluate_recovery"),
        ("results/evaluation/fashion/cvae/seed7/cvae.json", "evaluate_cvae"),
        ("results/evaluation/tiny_t/vae/seed7/exploration.json", "explore_latents"),
        ("results/figures/tiny_t/vae/seed7/latent_3d.json", "explore_latents"),
        ("results/metrics/metrics.tsv", "aggregate_metrics"),
        ("results/metrics/paired_vae_vs_ae.tsv", "aggregate_metrics"),
        ("results/metrics/comparison_with_sources.tsv", "compare_with_sources"),
    ],
)
def test_the_rule_behind_each_project_file(path, rule):
    assert writing_rule(path)[0] == rule
    assert writing_rule(path)[1] == path[path.index("results/") :]


def test_a_file_outside_the_study_gets_general_advice(tmp_path):
    with pytest.raises(ProjectFileError, match="Write it again") as caught:
        read_json(tmp_path / "elsewhere.json")
    assert "snakemake" not in str(caught.value)
