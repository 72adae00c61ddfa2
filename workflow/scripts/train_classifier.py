"""Glue: rule train_classifier -> vae_latent_study.kinds.images.classifier.train_classifier."""

from vae_latent_study.jobs import job

# Imports inside the job: what they print on stderr (TensorFlow's start-up) goes to the log.
with job(snakemake.log[0]):
    from vae_latent_study.kinds.images.classifier import train_classifier

    train_classifier(
        snakemake.input[0],
        snakemake.output.model,
        snakemake.output.metrics,
        snakemake.params.settings,
        threads=snakemake.params.compute_threads,
    )
