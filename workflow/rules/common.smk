# Validates the config before anything is planned, and holds the small helpers the rules share.
from pathlib import Path

from vae_latent_study.config import training_hparams, validate_config
from vae_latent_study.heatmaps import GENERATOR_VERSION

# A wrong config stops here, before any job is planned, with a message naming the key.
config.update(validate_config(config, Path(workflow.basedir) / "config" / "config.schema.yaml"))


wildcard_constraints:
    dataset="|".join(config["datasets"]),
    model="|".join(config["models"]),
    seed=r"\d+",


def get_dataset_config(wildcards):
    """The validated config of one dataset: a rule param, so editing it reruns that dataset only."""
    return config["datasets"][wildcards.dataset]


def get_model_hparams(wildcards):
    """One model's settings for one dataset: a rule param, so editing them retrains that model only."""
    return training_hparams(config["models"][wildcards.model], wildcards.dataset)


def get_backup_dir(wildcards):
    """Where an interrupted training keeps its last finished epoch, to resume from it."""
    return f"results/models/{wildcards.dataset}/{wildcards.model}/seed{wildcards.seed}/backup"


def get_evaluation_params(wildcards):
    """Probe and metric settings, with the study's global seed for their random draws."""
    return {**config["evaluation"], "seed": config["seed"]}


def get_model_names(wildcards):
    return list(config["models"])


def get_reconstruction_tables(wildcards):
    """Per-image error tables of every model on one dataset and seed, in `get_model_names` order."""
    return expand(
        "results/evaluation/{dataset}/{model}/seed{seed}/reconstruction.tsv",
        dataset=wildcards.dataset,
        model=get_model_names(wildcards),
        seed=wildcards.seed,
    )


def _combinations(pattern):
    return expand(
        pattern,
        dataset=list(config["datasets"]),
        model=list(config["models"]),
        seed=config["training"]["seeds"],
    )


def get_metric_files(wildcards):
    """Every metrics JSON of every dataset x model x training seed."""
    return [
        path
        for name in ("reconstruction", "probes", "scores")
        for path in _combinations(f"results/evaluation/{{dataset}}/{{model}}/seed{{seed}}/{name}.json")
    ]


def get_sample_figure_params(wildcards):
    return config["figures"]["sample_heatmaps"]


def get_final_outputs():
    datasets = list(config["datasets"])
    return (
        expand("results/figures/{dataset}/sample_heatmaps.png", dataset=datasets)
        + expand(
            "results/figures/{dataset}/reconstruction_errors_seed{seed}.png",
            dataset=datasets,
            seed=config["training"]["seeds"],
        )
        + [
            "results/metrics/summary.tsv",
            "results/metrics/comparison_with_seed.tsv",
        ]
    )
