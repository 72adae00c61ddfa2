"""Glue: every rule evaluate_<name> -> vae_latent_study.evaluation.runner (which runs the evaluation's
`evaluate_<name>` of the module its kind's spec names)."""

from vae_latent_study.jobs import job

# Imports inside the job: what they print on stderr (TensorFlow's start-up) goes to the log.
with job(snakemake.log[0]):
    from vae_latent_study.evaluation.runner import run_job

    run_job(snakemake)
