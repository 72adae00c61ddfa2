"""Glue: rule plot_reconstruction_errors ->
vae_latent_study.kinds.heatmaps.plots.plot_reconstruction_errors."""

from vae_latent_study.jobs import job

# Imports inside the job: what they print on stderr (TensorFlow's start-up) goes to the log.
with job(snakemake.log[0]):
    from vae_latent_study.io import read_table
    from vae_latent_study.kinds.heatmaps.plots import plot_reconstruction_errors

    tables = {m: read_table(p) for m, p in zip(snakemake.params.models, snakemake.input, strict=True)}
    plot_reconstruction_errors(tables, path=snakemake.output[0])
