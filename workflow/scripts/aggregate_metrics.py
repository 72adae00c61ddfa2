"""Glue: rule aggregate_metrics -> vae_latent_study.aggregate.summary.aggregate_metrics."""

from vae_latent_study.jobs import job

# Imports inside the job: what they print on stderr (TensorFlow's start-up) goes to the log.
with job(snakemake.log[0]):
    from vae_latent_study.aggregate.summary import aggregate_metrics

    aggregate_metrics(
        list(snakemake.input.metrics),
        snakemake.output.tidy,
        snakemake.output.summary,
        snakemake.output.paired,
        n_boot=snakemake.params.evaluation["bootstrap_samples"],
        seed=snakemake.params.evaluation["seed"],
        explorations=list(snakemake.input.explorations),
        claims=snakemake.params.claims,
    )
