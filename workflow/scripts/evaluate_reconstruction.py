"""Glue: rule evaluate_reconstruction -> vae_latent_study.kinds.heatmaps.evaluate.evaluate_reconstruction."""

from vae_latent_study.jobs import job

# Imports inside the job: what they print on stderr (TensorFlow's start-up) goes to the log.
with job(snakemake.log[0]):
    from vae_latent_study.kinds.heatmaps.evaluate import evaluate_reconstruction

    evaluate_reconstruction(
        snakemake.input.latents,
        snakemake.input.dataset,
        snakemake.output.per_image,
        snakemake.output.summary,
        dataset_name=snakemake.wildcards.dataset,
        model_name=snakemake.wildcards.model,
    )
