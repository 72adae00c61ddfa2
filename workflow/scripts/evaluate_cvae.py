"""Glue: rule evaluate_cvae -> vae_latent_study.kinds.images.cvae.evaluate_cvae."""

from vae_latent_study.jobs import job

# Imports inside the job: what they print on stderr (TensorFlow's start-up) goes to the log.
with job(snakemake.log[0]):
    from vae_latent_study.kinds.images.cvae import evaluate_cvae

    out = snakemake.output
    twin = list(snakemake.input.twin)
    evaluate_cvae(
        snakemake.input.model,
        snakemake.input.dataset,
        snakemake.input.history,
        out.metrics,
        snakemake.params.evaluation,
        classifier_path=snakemake.input.classifier,
        twin_path=twin[0] if twin else None,
        figures={
            "style_transfer": out.style_transfer,
            "manifolds": out.manifolds,
            "code_distribution": out.code_distribution,
            "reconstructions": out.reconstructions,
        },
        dataset_name=snakemake.wildcards.dataset,
        model_name=snakemake.wildcards.model,
        seed=int(snakemake.wildcards.seed),
    )
