"""Glue: rule simulate_heatmaps -> vae_latent_study.datasets.simulate_heatmaps."""

import logging

from vae_latent_study.datasets import simulate_heatmaps

logging.basicConfig(filename=snakemake.log[0], level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
simulate_heatmaps(
    snakemake.wildcards.dataset, snakemake.params.dataset, snakemake.output[0], threads=snakemake.threads
)
