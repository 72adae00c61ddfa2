"""Glue: rule plot_training_curves -> vae_latent_study.explore.plot_training_histories."""

import logging

from vae_latent_study.explore import plot_training_histories

logging.basicConfig(filename=snakemake.log[0], level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
plot_training_histories(dict(zip(snakemake.params.models, snakemake.input, strict=True)), snakemake.output[0])
