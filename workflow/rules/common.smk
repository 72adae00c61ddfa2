# Validates the config before anything is planned, and holds the small helpers the rules share.
from pathlib import Path

from vae_latent_study.config import validate_config

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
    """One model's validated settings: a rule param, so editing them retrains that model only."""
    return config["models"][wildcards.model]


def get_backup_dir(wildcards):
    """Where an interrupted training keeps its last finished epoch, to resume from it."""
    return f"results/models/{wildcards.dataset}/{wildcards.model}/seed{wildcards.seed}/backup"


def get_sample_figure_params(wildcards):
    return config["figures"]["sample_heatmaps"]


def get_final_outputs():
    datasets = list(config["datasets"])
    return (
        expand("results/data/{dataset}.h5", dataset=datasets)
        + expand("results/figures/{dataset}/sample_heatmaps.png", dataset=datasets)
        + expand(
            "results/latents/{dataset}/{model}/seed{seed}.h5",
            dataset=datasets,
            model=list(config["models"]),
            seed=config["training"]["seeds"],
        )
    )
