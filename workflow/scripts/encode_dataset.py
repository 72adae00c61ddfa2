"""Glue: rule encode_dataset -> vae_latent_study.evaluation.encode.encode_dataset."""

from vae_latent_study.jobs import job

# Imports inside the job: what they print on stderr (TensorFlow's start-up) goes to the log.
with job(snakemake.log[0]):
    from vae_latent_study.evaluation.encode import encode_dataset

    # The sampled codes are seeded by the training seed, so each replicate has its own, reproducible draw.
    encode_dataset(
        snakemake.input.model,
        snakemake.input.dataset,
        snakemake.output[0],
        seed=int(snakemake.wildcards.seed),
    )
