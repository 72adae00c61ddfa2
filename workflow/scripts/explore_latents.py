"""Glue: rule explore_latents -> vae_latent_study.explore.explore_latents."""

import logging

from vae_latent_study.explore import explore_latents

logging.basicConfig(filename=snakemake.log[0], level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
# Seeded by the training seed, as the latent store's sampled codes: each replicate has its own draws.
explore_latents(
    snakemake.input.model,
    snakemake.input.latents,
    snakemake.input.dataset,
    dict(snakemake.output.items()),
    seed=int(snakemake.wildcards.seed),
    dataset_name=snakemake.wildcards.dataset,
    model_name=snakemake.wildcards.model,
)
