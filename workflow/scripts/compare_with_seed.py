"""Glue: rule compare_with_seed -> vae_latent_study.evaluation.compare_with_seed."""

import logging

import pandas as pd

from vae_latent_study.evaluation import compare_with_seed

logging.basicConfig(filename=snakemake.log[0], level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
compare_with_seed(pd.read_csv(snakemake.input[0], sep="\t"), snakemake.output[0])
