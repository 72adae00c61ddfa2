"""Glue: rule compare_with_sources -> vae_latent_study.aggregate.compare.compare_with_expected."""

from vae_latent_study.jobs import job

# Imports inside the job: what they print on stderr (TensorFlow's start-up) goes to the log.
with job(snakemake.log[0]):
    from vae_latent_study.aggregate.compare import compare_with_expected
    from vae_latent_study.io import read_table

    compare_with_expected(
        read_table(snakemake.input.metrics),
        snakemake.params.studies,
        dict(zip(snakemake.params.studies, snakemake.input.expected, strict=True)),
        snakemake.output[0],
    )
