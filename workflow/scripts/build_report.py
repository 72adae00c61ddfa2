"""Glue: rule build_report -> vae_latent_study.report.build_report."""

import logging

from vae_latent_study.report import build_report

logging.basicConfig(filename=snakemake.log[0], level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
build_report(
    snakemake.output[0],
    snakemake.params.figures,
    snakemake.input.summary,
    snakemake.input.comparison,
    snakemake.input.paired,
    snakemake.input.explorations,
    snakemake.params.config,
    source_dir=snakemake.params.source_dir,
)
