"""Glue: rule plot_training_curves -> vae_latent_study.plots.plot_training_histories."""

from vae_latent_study.jobs import job

# Imports inside the job: what they print on stderr (TensorFlow's start-up) goes to the log.
with job(snakemake.log[0]):
    from vae_latent_study.plots import plot_training_histories

    histories = dict(zip(snakemake.params.models, snakemake.input, strict=True))
    plot_training_histories(histories, snakemake.output[0])
