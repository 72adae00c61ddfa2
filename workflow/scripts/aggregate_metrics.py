"""Glue: rule aggregate_metrics -> vae_latent_study.evaluation.aggregate_metrics."""

import logging

from vae_latent_study.evaluation import aggregate_metrics

logging.basicConfig(filename=snakemake.log[0], level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
aggregate_metrics(
    list(snakemake.input),
    snakemake.output.tidy,
    snakemake.output.summary,
    snakemake.output.paired,
    n_boot=snakemake.params.evaluation["bootstrap_samples"],
    seed=snakemake.params.evaluation["seed"],
)
