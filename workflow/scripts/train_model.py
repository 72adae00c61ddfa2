"""Glue: rule train_model -> vae_latent_study.training.train.train_model."""

from vae_latent_study.jobs import job

# Imports inside the job: what they print on stderr (TensorFlow's start-up) goes to the log.
with job(snakemake.log[0]) as current:
    from vae_latent_study.training.train import train_model

    train_model(
        snakemake.input[0],
        snakemake.params.hparams,
        seed=int(snakemake.wildcards.seed),
        model_path=snakemake.output.model,
        history_path=snakemake.output.history,
        backup_dir=snakemake.params.backup_dir,
        threads=snakemake.params.compute_threads,
        console=current.console,  # one line per epoch where the user watches
        label=current.name,
    )
