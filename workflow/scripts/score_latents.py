"""Glue: rule score_latents -> vae_latent_study.kinds.heatmaps.evaluate.score_latents."""

from vae_latent_study.jobs import job

# Imports inside the job: what they print on stderr (TensorFlow's start-up) goes to the log.
with job(snakemake.log[0]):
    from vae_latent_study.kinds.heatmaps.evaluate import score_latents

    settings = snakemake.params.evaluation
    score_latents(
        snakemake.input.latents,
        snakemake.input.dataset,
        snakemake.output[0],
        seed=settings["seed"],
        dataset_name=snakemake.wildcards.dataset,
        model_name=snakemake.wildcards.model,
        dci_num_train=settings["dci_num_train"],
        n_jobs=snakemake.threads,
    )
