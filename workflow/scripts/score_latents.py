"""Glue: rule score_latents -> vae_latent_study.evaluation.score_latents."""

import logging

from vae_latent_study.evaluation import score_latents

logging.basicConfig(filename=snakemake.log[0], level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
settings = snakemake.params.evaluation
score_latents(
    snakemake.input.latents,
    snakemake.input.dataset,
    snakemake.output[0],
    seed=settings["seed"],
    dataset_name=snakemake.wildcards.dataset,
    model_name=snakemake.wildcards.model,
    dci_num_train=settings["dci_num_train"],
    n_jobs=snakemake.threads,
)
