"""Glue: rule plot_sample_heatmaps -> vae_latent_study.plots.plot_sample_heatmaps."""

import logging

from vae_latent_study.datasets import read_dataset
from vae_latent_study.plots import plot_sample_heatmaps

logging.basicConfig(filename=snakemake.log[0], level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
plot_sample_heatmaps(read_dataset(snakemake.input[0]), **snakemake.params.figure, path=snakemake.output[0])
