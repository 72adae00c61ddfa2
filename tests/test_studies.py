"""The studies of seeds 002 and 004 beside a heatmap study: one tiny run of the Snakefile with three studies,
what each kind plans, and that editing one study's config reruns that study's chain only."""

import copy
import json

import pandas as pd
import pytest
import yaml

from .conftest import CONV32_AE, CONV32_VAE, TINY_CONFIG, snakemake
from .test_workflow import planned_jobs, planned_outputs

pytestmark = pytest.mark.workflow

#: Small but real: the 1-D normal and the factor model at their default (the seeds') sizes, with few
#: epochs and two replicates; a heatmap study of one dataset and one model beside them.
STUDIES_CONFIG = {
    "seed": 3,
    "datasets": {
        "tiny_gauss": TINY_CONFIG["datasets"]["tiny_gauss"],
        "normal": {"kind": "normal_1d"},
        "factors": {"kind": "factor_model"},
        # Real Fashion-MNIST (Debian's files in CI), 200 images per split.
        "fashion": {"kind": "images", "source": "fashion_mnist", "subset": 200},
    },
    "models": {
        "ae": {"kind": "ae", "epochs": 2, "batch_size": 16, "schedule": {"type": "constant"}},
        "vae_1d": {
            "kind": "vae",
            "architecture": "dense",
            "latent_dim": 1,
            "sampler": "log_var",
            "kl_reduction": "sum",
            "likelihood": {"type": "squared_error", "variant": "faithful"},
            "regularization_losses": "ignore",
            "encoder": {
                "trunk": [{"type": "batch_norm"}, {"type": "dense", "units": 16, "activation": "relu"}],
                "heads": {"z_mean": [{"type": "dense", "units": "latent"}, {"type": "batch_norm"}]},
            },
            "decoder": {"trunk": [{"type": "dense", "units": 16, "activation": "relu"}]},
            "epochs": 4,
            "batch_size": 11,
            "early_stopping": {"monitor": "loss", "patience": 10},
            "schedule": {"type": "constant", "learning_rate": 0.001},
        },
        "vae_fm": {
            "kind": "vae",
            "architecture": "dense",
            "latent_dim": 1,
            "sampler": "log_var",
            "kl_reduction": "sum",
            "likelihood": {"type": "gaussian", "variance": "per_feature"},
            "encoder": {"trunk": [{"type": "dense", "units": 32, "activation": "relu"}]},
            "decoder": {"trunk": [{"type": "dense", "units": 32, "activation": "relu"}]},
            "epochs": 4,
            "batch_size": 32,
            "schedule": {"type": "constant", "learning_rate": 0.001},
        },
        "ae_conv32": {**CONV32_AE, "epochs": 2, "batch_size": 100, "schedule": {"type": "constant"}},
        "vae_conv32": {**CONV32_VAE, "epochs": 2, "batch_size": 100, "schedule": {"type": "constant"}},
    },
    "studies": {
        "heatmaps": {"datasets": ["tiny_gauss"], "models": ["ae"], "expected": "heatmaps"},
        "fashion": {"datasets": ["fashion"], "models": ["ae_conv32", "vae_conv32"], "expected": "fashion"},
        "normal_1d": {"datasets": ["normal"], "models": ["vae_1d"], "seeds": [1, 2], "expected": "normal_1d"},
        "factor_model": {"datasets": ["factors"], "models": ["vae_fm"], "seeds": [5]},
    },
    "training": {"seeds": [7]},
    "figures": {"sample_heatmaps": {"rows": 2, "cols": 2, "seed": 0}},
}


@pytest.fixture(scope="module")
def studies_run(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("studies")
    config_file = workdir / "studies.yaml"
    # In the dict's order (heatmaps, fashion, normal_1d, factor_model), which the report keeps.
    config_file.write_text(yaml.safe_dump(STUDIES_CONFIG, sort_keys=False))
    snakemake(workdir, config_file)
    return workdir, config_file


def test_each_kind_gets_its_own_data_and_evaluations(studies_run):
    workdir, _ = studies_run
    results = workdir / "results"
    # A fresh draw per replicate for the 1-D normal; one file for the factor model.
    replicates = sorted(p.name for p in (results / "data" / "normal").iterdir())
    assert replicates == ["seed1.h5", "seed2.h5"]
    assert (results / "data" / "normal" / "seed1.h5").read_bytes() != (
        results / "data" / "normal" / "seed2.h5"
    ).read_bytes()
    assert (results / "data" / "factors.h5").exists() and not (results / "data" / "normal.h5").exists()
    for seed in (1, 2):
        generation = json.loads(
            (results / f"evaluation/normal/vae_1d/seed{seed}/generation.json").read_text()
        )
        assert generation["identity"]["dataset"] == "normal" and generation["identity"]["seed"] == seed
        assert 0 <= generation["generated"]["fresh_ks"] < 0.05  # a true sample of 15,000
    recovery = json.loads((results / "evaluation/factors/vae_fm/seed5/recovery.json").read_text())
    assert recovery["identity"]["dataset"] == "factors" and 0.99 < recovery["latent"]["oracle_corr_test"] <= 1
    # Heatmap evaluations only where they apply: "does not apply" is no file at all.
    assert not (results / "evaluation" / "normal" / "vae_1d" / "seed1" / "probes.json").exists()
    assert not (results / "latents" / "normal").exists() and (results / "latents" / "tiny_gauss").exists()
    tidy = pd.read_csv(results / "metrics" / "metrics.tsv", sep="\t")
    assert set(tidy["dataset"]) == {"tiny_gauss", "normal", "factors", "fashion"}
    assert "generated.model_ks" in set(tidy["metric"]) and "latent.corr_test" in set(tidy["metric"])
    comparison = pd.read_csv(results / "metrics" / "comparison_with_sources.tsv", sep="\t")
    assert set(comparison["study"]) == {"heatmaps", "normal_1d", "fashion"}
    page = (results / "report" / "report.html").read_text(encoding="utf-8")
    # A chapter per study, and the cards and chapters in the config file's order, not by name.
    chapters = [page.index(f'id="study-{study}"') for study in STUDIES_CONFIG["studies"]]
    cards = [page.index(f'id="card-{study}"') for study in STUDIES_CONFIG["studies"]]
    assert chapters == sorted(chapters) and cards == sorted(cards), (chapters, cards)
    assert "A 1-D normal learned from 67 draws (seed 002)" in page and "(seed 004)" in page
    # Seed 002's verdict over replicates, in the report and in its own file.
    assert "Generated values over replicates" in page and "KS ratio (target &lt;= 1.5)" in page
    summary = json.loads((results / "evaluation" / "normal" / "vae_1d" / "replicates.json").read_text())
    assert summary["n_replicates"] == 2 and summary["enough_replicates"] is False
    assert isinstance(summary["meets_target"], bool) and summary["ks_ratio"] > 0
    # Each training ran on its kind's threads (`train_threads`): one for the small kinds' networks.
    for sidecar in (results / "models").glob("*/*/seed*/model.json"):
        dataset = sidecar.relative_to(results / "models").parts[0]
        threads = json.loads(sidecar.read_text())["threads"]["intra_op"]
        assert threads == (1 if dataset in ("normal", "factors") else 2), (sidecar, threads)


def test_the_images_study_trains_source_001s_models_on_real_fashion_mnist(studies_run):
    workdir, _ = studies_run
    results = workdir / "results"
    for model, kind in (("ae_conv32", "ae"), ("vae_conv32", "vae")):
        found = json.loads((results / f"evaluation/fashion/{model}/seed7/images.json").read_text())
        assert (
            found["identity"]["model_kind"] == kind and found["source"]["origin"]
        )  # where the images came from
        limit = found["entropy_limit"]
        # The floor of every model's BCE: positive, and no reconstruction goes below it.
        assert 0 < limit["nats_per_pixel"] < limit["bce_mean_code"]
        assert limit["excess_mean_code"] == pytest.approx(limit["bce_mean_code"] - limit["nats_per_pixel"])
        for probe in ("knn_class", "knn_class_pca2"):
            assert 0.1 <= found[probe]["test_accuracy"] <= 1  # ten classes: chance is 0.1
        assert found["knn_gain_over_pca2"] == pytest.approx(
            found["knn_class"]["test_accuracy"] - found["knn_class_pca2"]["test_accuracy"]
        )
        if kind == "vae":
            bounds = found["bounds"]
            # Proper bounds on log p(x), nats per image: the IWAE bound is at least the ELBO.
            assert bounds["iwae"] >= bounds["elbo_mc"] and bounds["iwae_minus_elbo_mc_min"] >= 0
            assert bounds["elbo"] < 0 and bounds["k"] == 50 and bounds["n_images"] == 200
        else:
            assert "bounds" not in found  # an AE has no density
        quality = found["sample_quality"]
        assert set(quality) == ({"box", "gmm", "prior"} if kind == "vae" else {"box", "gmm"})
        for judged in quality.values():
            assert judged["n"] == 1000 and 0 <= judged["confident_share"] <= 1
            assert sum(judged["label_counts"]) == 1000
        for figure in ("embedding", "code_grid", "samples", "image_reconstructions"):
            assert (results / f"figures/fashion/{model}/seed7/{figure}.png").stat().st_size > 10_000
        sidecar = json.loads((results / f"models/fashion/{model}/seed7/model.json").read_text())
        assert sidecar["dataset"]["n_train"] == 200 and sidecar["parameters"] > 300_000
        assert set(found["final"]) >= {"loss", "val_loss"}
    classifier = json.loads((results / "classifiers/fashion/classifier.json").read_text())
    # 200 real training images: better than chance, far from the full data's >= 90% (reported there).
    assert classifier["n_train"] == 200 and 0.1 < classifier["test_accuracy"] <= 1
    comparison = pd.read_csv(results / "metrics" / "comparison_with_sources.tsv", sep="\t")
    fashion = comparison[comparison["study"] == "fashion"]
    assert set(fashion["metric"]) == {
        "final.val_loss",
        "final.loss",
        "final.reconstruction_loss",
        "final.kl_loss",
    }
    assert fashion["n_seeds"].min() == 1


def test_a_finished_run_of_three_studies_has_nothing_to_do(studies_run):
    workdir, config_file = studies_run
    proc = snakemake(workdir, config_file, "--dry-run")
    assert "Nothing to be done" in proc.stdout + proc.stderr


def _plan(studies_run, tmp_path, changed):
    workdir, _ = studies_run
    config_file = tmp_path / "changed.yaml"
    config_file.write_text(yaml.safe_dump(changed))
    proc = snakemake(workdir, config_file, "--dry-run")
    return planned_jobs(proc), planned_outputs(proc)


def test_editing_one_study_reruns_that_studys_chain_only(studies_run, tmp_path):
    changed = copy.deepcopy(STUDIES_CONFIG)
    changed["datasets"]["normal"]["std"] = 12.0
    jobs, outputs = _plan(studies_run, tmp_path, changed)
    assert jobs == {
        "build_dataset_replicate": 2,
        # normal_1d has `batch_seeds`: one job trains both replicates, one evaluates them.
        "train_models_normal": 1,
        "evaluate_generation_normal": 1,
        "summarise_replicates": 1,
        "plot_training_curves": 2,  # every replicate's curves: the report draws the first, links the others
        "aggregate_metrics": 1,
        "compare_with_sources": 1,
        "build_report": 1,
        "all": 1,
    }
    assert not [p for p in outputs if "factors" in p or "tiny_gauss" in p]

    changed = copy.deepcopy(STUDIES_CONFIG)
    changed["models"]["vae_fm"]["epochs"] = 5
    jobs, outputs = _plan(studies_run, tmp_path, changed)
    assert jobs == {
        "train_models_factors": 1,
        "evaluate_recovery_factors": 1,
        "plot_training_curves": 1,
        "aggregate_metrics": 1,
        "compare_with_sources": 1,
        "build_report": 1,
        "all": 1,
    }
    assert not [p for p in outputs if "normal" in p or "tiny_gauss" in p]


def test_an_images_evaluation_setting_reruns_the_images_evaluations_only(studies_run, tmp_path):
    changed = copy.deepcopy(STUDIES_CONFIG)
    changed["evaluation"] = {"iwae_k": 5}
    jobs, outputs = _plan(studies_run, tmp_path, changed)
    assert jobs == {
        "evaluate_images": 2,
        "aggregate_metrics": 1,
        "compare_with_sources": 1,
        "build_report": 1,
        "all": 1,
    }
    assert all("fashion" in p or "metrics" in p or "report" in p for p in outputs)


def test_naming_another_expected_file_reruns_the_comparison_and_the_report_only(studies_run, tmp_path):
    changed = copy.deepcopy(STUDIES_CONFIG)
    changed["studies"]["factor_model"]["expected"] = "heatmaps"
    jobs, _ = _plan(studies_run, tmp_path, changed)
    assert jobs == {"compare_with_sources": 1, "build_report": 1, "all": 1}


def test_editing_the_heatmap_generator_rebuilds_no_other_kinds_data(studies_run, tmp_path):
    """A dataset's build covers its own kind's modules only: an edit of the heatmap generator rebuilds the
    heatmap datasets (and what depends on them), never the images, normal_1d or factor_model data."""
    from .test_rerun import copy_workflow
    from .test_rerun import snakemake as copy_snakemake

    workdir, config_file = studies_run
    workflow, study, config = copy_workflow(workdir, config_file, tmp_path)
    generator = workflow / "src" / "vae_latent_study" / "kinds" / "heatmaps" / "data.py"
    generator.write_text(generator.read_text() + "\n_AN_EDIT = 1\n")
    proc = copy_snakemake(workflow, study, "--configfile", str(config), "--dry-run")
    built = {path for path in planned_outputs(proc) if path.startswith("results/data/")}
    assert built == {"results/data/tiny_gauss.h5"}, proc.stdout
    assert planned_jobs(proc)["train_model"] == 1  # the one heatmap run, ae on tiny_gauss


def _shipped_model(name, **changes):
    from .conftest import REPO

    shipped = yaml.safe_load((REPO / "config" / "config.yaml").read_text())["models"][name]
    return {**shipped, **changes}


#: Seed 003's toy study as shipped (its dataset, its deep AE and conditional AE), at 120 + 40 points and
#: 3 epochs.
TOY_CONFIG = {
    "seed": 3,
    "datasets": {"toy": {"kind": "toy_manifold", "n_per_component": 60, "test_per_component": 20}},
    "models": {name: _shipped_model(name, epochs=3) for name in ("ae_toy", "cae_toy")},
    "studies": {"toy_manifold": {"datasets": ["toy"], "models": ["ae_toy", "cae_toy"], "seeds": [5]}},
}


@pytest.fixture(scope="module")
def toy_run(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("toy")
    config_file = workdir / "toy.yaml"
    config_file.write_text(yaml.safe_dump(TOY_CONFIG))
    snakemake(workdir, config_file)
    return workdir, config_file


def test_the_toy_study_trains_a_plain_and_a_conditional_ae_and_measures_bridge_and_seam(toy_run):
    workdir, _ = toy_run
    results = workdir / "results"
    assert (results / "data" / "toy.h5").exists() and not (results / "latents").exists()
    for model, conditional in (("ae_toy", None), ("cae_toy", "component")):
        found = json.loads((results / f"evaluation/toy/{model}/seed5/manifold.json").read_text())
        assert found["identity"]["family"] == "toy_manifold" and found["identity"]["model_kind"] == "ae"
        assert found["conditional"] == conditional and found["targets"]["targeted"] is (
            conditional is not None
        )
        for split, n in (("train", 120), ("test", 40)):
            numbers = found[split]
            assert numbers["n"] == n and numbers["noise_floor"] == pytest.approx(2 * 0.06**2)
            assert numbers["mse_over_floor"] == pytest.approx(numbers["mse"] / numbers["noise_floor"])
            assert 0 <= numbers["distance"]["median"] <= numbers["distance"]["p95"]
            assert 0 <= numbers["bridge_share"] <= 1 and 0 <= numbers["seam_share"] <= 1
            assert set(numbers["components"]) == {"sine_arc", "circle"}
        figure = results / f"figures/toy/{model}/seed5/manifold_reconstructions.png"
        assert figure.stat().st_size > 20_000
        sidecar = json.loads((results / f"models/toy/{model}/seed5/model.json").read_text())
        assert sidecar.get("condition") == (
            {"factor": "component", "values": [0.0, 1.0]} if conditional else None
        )
        assert sidecar["dataset"]["n_train"] == 120 and sidecar["epochs_trained"] == 3
    tidy = pd.read_csv(results / "metrics" / "metrics.tsv", sep="\t")
    assert {"test.seam_share", "test.bridge_share", "train.distance.median", "test.mse_over_floor"} <= set(
        tidy["metric"]
    )
    page = (results / "report" / "report.html").read_text(encoding="utf-8")
    assert 'id="study-toy_manifold"' in page and "A disconnected manifold, plain and conditional" in page
    assert "Toy manifold: the squared error over both floors" in page and "circle: torn share" in page


def test_a_finished_toy_study_has_nothing_to_do_and_conditioning_one_model_retrains_it_only(
    toy_run, tmp_path
):
    workdir, config_file = toy_run
    proc = snakemake(workdir, config_file, "--dry-run")
    assert "Nothing to be done" in proc.stdout + proc.stderr
    # `conditional: null` written out is the option's default: nothing to do.
    written = copy.deepcopy(TOY_CONFIG)
    written["models"]["ae_toy"]["conditional"] = None
    jobs, _ = _plan(toy_run, tmp_path, written)
    assert jobs == {}
    # Conditioning the plain AE on the label retrains that model only, and what reads it.
    changed = copy.deepcopy(TOY_CONFIG)
    changed["models"]["ae_toy"]["conditional"] = "label"
    jobs, outputs = _plan(toy_run, tmp_path, changed)
    assert jobs == {
        "train_models_toy": 1,
        "evaluate_manifold_toy": 1,
        "plot_training_curves": 1,
        "aggregate_metrics": 1,
        "compare_with_sources": 1,
        "build_report": 1,
        "all": 1,
    }
    assert not [p for p in outputs if "cae_toy" in p or "results/data/" in p]


#: Seed 003's df-conditioned VAE on seed 000's Student-t data (the `tails` study), on the tiny Student-t set.
TAILS_CONFIG = {
    "seed": 3,
    "datasets": {"tiny_t": TINY_CONFIG["datasets"]["tiny_t"]},
    "models": {
        "vae": TINY_CONFIG["models"]["vae"],
        "cvae_df": {**TINY_CONFIG["models"]["vae"], "conditional": "df"},
    },
    "studies": {"tails": {"datasets": ["tiny_t"], "models": ["vae", "cvae_df"], "seeds": [5]}},
}


@pytest.fixture(scope="module")
def tails_run(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("tails")
    config_file = workdir / "tails.yaml"
    config_file.write_text(yaml.safe_dump(TAILS_CONFIG))
    snakemake(workdir, config_file)
    return workdir


def test_the_df_conditioned_vae_gets_every_heatmap_evaluation_and_the_tail_transfer(tails_run):
    results = tails_run / "results"
    for model in ("vae", "cvae_df"):
        for name in ("reconstruction", "probes", "scores", "exploration"):
            assert (results / f"evaluation/tiny_t/{model}/seed5/{name}.json").exists(), (model, name)
    assert not (results / "evaluation/tiny_t/vae/seed5/transfer.json").exists()
    transfer = json.loads((results / "evaluation/tiny_t/cvae_df/seed5/transfer.json").read_text())
    assert {d["target_df"] for d in transfer["transfer"].values()} == {2.0, 200.0}
    assert (results / "figures/tiny_t/cvae_df/seed5/tail_transfer.png").stat().st_size > 10_000
    exploration = json.loads((results / "evaluation/tiny_t/cvae_df/seed5/exploration.json").read_text())
    assert exploration["decoded_with"] == {"factor": "df", "value": 2.0}
    sidecar = json.loads((results / "models/tiny_t/cvae_df/seed5/model.json").read_text())
    assert sidecar["condition"] == {"factor": "df", "values": [2.0, 200.0]}
    tidy = pd.read_csv(results / "metrics" / "metrics.tsv", sep="\t")
    knn = tidy[tidy["metric"] == "knn_df.fixed_k.test_accuracy"]
    assert set(knn["model"]) == {"vae", "cvae_df"}  # the df probe on both codes, side by side
    assert "transfer.heavy_to_light.moved_as_asked" in set(tidy["metric"])
    page = (results / "report" / "report.html").read_text(encoding="utf-8")
    assert "Style transfer between tails" in page and page.count("tail_transfer") >= 1
