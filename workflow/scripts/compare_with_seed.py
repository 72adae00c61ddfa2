"""Glue: rule compare_with_seed -> vae_latent_study.evaluation.compare_with_expected."""

import logging

import pandas as pd

from vae_latent_study.evaluation import compare_with_expected

logging.basicConfig(filename=snakemake.log[0], level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
compare_with_expected(
    pd.read_csv(snakemake.input.metrics, sep="\t"),
    snakemake.params.studies,
    dict(zip(snakemake.params.studies, snakemake.input.expected, strict=True)),
    snakemake.output[0],
)
