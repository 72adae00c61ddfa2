"""Glue: rule summarise_replicates -> vae_latent_study.kinds.normal_1d.evaluate.summarise_replicates."""

from vae_latent_study.jobs import job

# Imports inside the job: what they print on stderr goes to the log.
with job(snakemake.log[0]):
    from vae_latent_study.kinds.normal_1d.evaluate import summarise_replicates

    summarise_replicates(
        list(snakemake.input.generations),
        output_json=snakemake.output.summary,
        histories=list(snakemake.input.histories),
        trace_figure=snakemake.output.trace,
    )
