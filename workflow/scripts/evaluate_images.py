"""Glue: rule evaluate_images -> vae_latent_study.images_evaluation.evaluate_images."""

from vae_latent_study.jobs import job

# Imports inside the job: what they print on stderr (TensorFlow's start-up) goes to the log.
with job(snakemake.log[0]):
    from vae_latent_study.images_evaluation import evaluate_images

    evaluate_images(
        snakemake.input.model,
        snakemake.input.dataset,
        snakemake.input.history,
        snakemake.output[0],
        snakemake.params.evaluation,
        dataset_name=snakemake.wildcards.dataset,
        model_name=snakemake.wildcards.model,
        seed=int(snakemake.wildcards.seed),
    )
