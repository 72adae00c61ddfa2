"""Glue: rule train_models_<dataset> -> vae_latent_study.training.batch.train_seeds (every seed of one
dataset and model, in one process; the kinds with `batch_seeds`)."""

from vae_latent_study.jobs import job

# Imports inside the job: what they print on stderr (TensorFlow's start-up) goes to the log.
with job(snakemake.log[0]) as current:
    from vae_latent_study.training.batch import train_seeds

    train_seeds(
        list(snakemake.input.datasets),
        snakemake.params.hparams,
        seeds=snakemake.params.seeds,
        model_paths=list(snakemake.output.models),
        history_paths=list(snakemake.output.histories),
        backup_dirs=snakemake.params.backup_dirs,
        threads=snakemake.params.compute_threads,
        code=snakemake.params.code,
        console=current.console,  # a line of progress where the user watches
        label=current.name,
    )
