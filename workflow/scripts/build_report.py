"""Glue: rule build_report -> vae_latent_study.report.page.build_report."""

from vae_latent_study.jobs import job

# Imports inside the job: what they print on stderr (TensorFlow's start-up) goes to the log.
with job(snakemake.log[0]):
    from vae_latent_study.report.page import build_report

    build_report(
        snakemake.output[0],
        snakemake.params.figures,
        snakemake.input.summary,
        snakemake.input.comparison,
        snakemake.input.paired,
        snakemake.input.explorations,
        snakemake.params.config,
        source_dir=snakemake.params.source_dir,
        replicate_summaries=snakemake.input.replicates,
        metrics_tsv=snakemake.input.metrics,
        config_files=snakemake.params.config_files,
        study_order=snakemake.params.study_order,
    )
