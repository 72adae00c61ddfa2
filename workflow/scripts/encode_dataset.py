"""Glue: rule encode_dataset -> vae_latent_study.latents.encode_dataset."""

import logging

from vae_latent_study.latents import encode_dataset

logging.basicConfig(filename=snakemake.log[0], level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
# The sampled codes are seeded by the training seed, so each replicate has its own, reproducible draw.
encode_dataset(
    snakemake.input.model, snakemake.input.dataset, snakemake.output[0], seed=int(snakemake.wildcards.seed)
)
