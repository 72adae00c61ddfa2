"""Glue: rule probe_latents -> vae_latent_study.kinds.heatmaps.evaluate.probe_latents."""

from vae_latent_study.jobs import job

# Imports inside the job: what they print on stderr (TensorFlow's start-up) goes to the log.
with job(snakemake.log[0]):
    from vae_latent_study.kinds.heatmaps.evaluate import probe_latents

    settings = snakemake.params.evaluation
    probe_latents(
        snakemake.input.latents,
        snakemake.input.dataset,
        snakemake.output[0],
        seed=settings["seed"],
        k_grid=range(settings["knn_k"][0], settings["knn_k"][1] + 1),
        cv=settings["cv_folds"],
        learning_curve_sizes=settings["learning_curve_sizes"],
        fixed_k=settings["fixed_k"],
        dataset_name=snakemake.wildcards.dataset,
        model_name=snakemake.wildcards.model,
        n_jobs=snakemake.threads,
    )
