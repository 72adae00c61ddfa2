"""Glue: rule plot_sample_heatmaps -> vae_latent_study.kinds.heatmaps.plots.plot_sample_heatmaps."""

from vae_latent_study.jobs import job

# Imports inside the job: what they print on stderr (TensorFlow's start-up) goes to the log.
with job(snakemake.log[0]):
    from vae_latent_study.datasets import read_dataset
    from vae_latent_study.kinds.heatmaps.plots import plot_sample_heatmaps

    dataset = read_dataset(snakemake.input[0])
    plot_sample_heatmaps(dataset, **snakemake.params.figure, path=snakemake.output[0])
