"""Glue: rule simulate_heatmaps -> vae_latent_study.datasets.simulate_heatmaps."""

from vae_latent_study.jobs import job

# Imports inside the job: what they print on stderr (TensorFlow's start-up) goes to the log.
with job(snakemake.log[0]):
    from vae_latent_study.datasets import simulate_heatmaps

    simulate_heatmaps(
        snakemake.wildcards.dataset, snakemake.params.dataset, snakemake.output[0], threads=snakemake.threads
    )
