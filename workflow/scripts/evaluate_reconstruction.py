"""Glue: rule evaluate_reconstruction -> vae_latent_study.evaluation.evaluate_reconstruction."""

import logging

from vae_latent_study.evaluation import evaluate_reconstruction

logging.basicConfig(filename=snakemake.log[0], level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
evaluate_reconstruction(
    snakemake.input.latents,
    snakemake.input.dataset,
    snakemake.output.per_image,
    snakemake.output.summary,
    dataset_name=snakemake.wildcards.dataset,
    model_name=snakemake.wildcards.model,
)
