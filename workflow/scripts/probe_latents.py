"""Glue: rule probe_latents -> vae_latent_study.evaluation.probe_latents."""

import logging

from vae_latent_study.evaluation import probe_latents

logging.basicConfig(filename=snakemake.log[0], level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
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
