"""Glue: rule evaluate_images -> vae_latent_study.kinds.images.evaluate.evaluate_images."""

from vae_latent_study.jobs import job

# Imports inside the job: what they print on stderr (TensorFlow's start-up) goes to the log.
with job(snakemake.log[0]):
    from vae_latent_study.kinds.images.evaluate import evaluate_images

    out = snakemake.output
    evaluate_images(
        snakemake.input.model,
        snakemake.input.dataset,
        snakemake.input.history,
        out.metrics,
        snakemake.params.evaluation,
        classifier_path=snakemake.input.classifier,
        figures={
            "embedding": out.embedding,
            "grid": out.grid,
            "samples": out.samples,
            "reconstructions": out.reconstructions,
        },
        dataset_name=snakemake.wildcards.dataset,
        model_name=snakemake.wildcards.model,
        seed=int(snakemake.wildcards.seed),
    )
