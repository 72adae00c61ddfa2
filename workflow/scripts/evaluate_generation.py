"""Glue: rule evaluate_generation -> vae_latent_study.kinds.normal_1d.evaluate.evaluate_generation."""

from vae_latent_study.jobs import job

# Imports inside the job: what they print on stderr (TensorFlow's start-up) goes to the log.
with job(snakemake.log[0]):
    from vae_latent_study.kinds.normal_1d.evaluate import evaluate_generation

    figures = {"histogram": snakemake.output.histogram, "qq": snakemake.output.qq}
    evaluate_generation(
        snakemake.input.model,
        snakemake.input.dataset,
        snakemake.output.metrics,
        {**figures, "decoder_curve": snakemake.output.decoder_curve},
        dataset_name=snakemake.wildcards.dataset,
        model_name=snakemake.wildcards.model,
        seed=int(snakemake.wildcards.seed),
        protocol=snakemake.params.protocol,
    )
