"""Glue: rule evaluate_transfer -> vae_latent_study.kinds.heatmaps.transfer.evaluate_transfer."""

from vae_latent_study.jobs import job

# Imports inside the job: what they print on stderr (TensorFlow's start-up) goes to the log.
with job(snakemake.log[0]):
    from vae_latent_study.kinds.heatmaps.transfer import evaluate_transfer

    evaluate_transfer(
        snakemake.input.model,
        snakemake.input.dataset,
        snakemake.output.metrics,
        snakemake.output.figure,
        dataset_name=snakemake.wildcards.dataset,
        model_name=snakemake.wildcards.model,
        seed=int(snakemake.wildcards.seed),
    )
