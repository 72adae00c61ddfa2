"""Glue: rule build_dataset -> vae_latent_study.datasets.make_dataset."""

from vae_latent_study.jobs import job

# Imports inside the job: what they print on stderr (TensorFlow's start-up) goes to the log.
with job(snakemake.log[0]):
    from vae_latent_study.datasets import make_dataset

    make_dataset(
        snakemake.wildcards.dataset, snakemake.params.dataset, snakemake.output[0], threads=snakemake.threads
    )
