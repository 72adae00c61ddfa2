"""Glue: rule evaluate_recovery -> vae_latent_study.kinds.factor_model.evaluate.evaluate_model."""

from vae_latent_study.jobs import job

# Imports inside the job: what they print on stderr (TensorFlow's start-up) goes to the log.
with job(snakemake.log[0]):
    from vae_latent_study.kinds.factor_model.evaluate import evaluate_model

    out = snakemake.output
    evaluate_model(
        snakemake.input.model,
        snakemake.input.dataset,
        out.metrics,
        {
            "reconstruction": out.reconstruction,
            "codes": out.codes,
            "g_curves": out.g_curves,
            "noise_sd": out.noise_sd,
        },
        dataset_name=snakemake.wildcards.dataset,
        model_name=snakemake.wildcards.model,
        seed=int(snakemake.wildcards.seed),
    )
