"""Glue: rule plot_reconstruction_errors -> vae_latent_study.plots.plot_reconstruction_errors."""

import logging

import pandas as pd

from vae_latent_study.plots import plot_reconstruction_errors

logging.basicConfig(filename=snakemake.log[0], level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
tables = {m: pd.read_csv(p, sep="\t") for m, p in zip(snakemake.params.models, snakemake.input, strict=True)}
plot_reconstruction_errors(tables, path=snakemake.output[0])
