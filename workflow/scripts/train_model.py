"""Glue: rule train_model -> vae_latent_study.training.train_model."""

import logging

from vae_latent_study.training import train_model

logging.basicConfig(filename=snakemake.log[0], level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
train_model(
    snakemake.input[0],
    snakemake.params.hparams,
    seed=int(snakemake.wildcards.seed),
    model_path=snakemake.output.model,
    history_path=snakemake.output.history,
    backup_dir=snakemake.params.backup_dir,
    threads=snakemake.params.compute_threads,
)
