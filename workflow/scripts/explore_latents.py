"""Glue: rule explore_latents -> vae_latent_study.kinds.heatmaps.explore.explore_latents."""

from vae_latent_study.jobs import job

# Imports inside the job: what they print on stderr (TensorFlow's start-up) goes to the log.
with job(snakemake.log[0]):
    from vae_latent_study.kinds.heatmaps.explore import explore_latents

    # Seeded by the training seed, as the latent store's sampled codes: each replicate has its own draws.
    explore_latents(
        snakemake.input.model,
        snakemake.input.latents,
        snakemake.input.dataset,
        dict(snakemake.output.items()),
        seed=int(snakemake.wildcards.seed),
        dataset_name=snakemake.wildcards.dataset,
        model_name=snakemake.wildcards.model,
    )
