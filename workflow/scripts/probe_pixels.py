"""Glue: rule probe_pixels -> vae_latent_study.kinds.images.pixels.write_pixel_probe."""

from vae_latent_study.jobs import job

with job(snakemake.log[0]):
    from vae_latent_study.kinds.images.pixels import write_pixel_probe

    write_pixel_probe(
        snakemake.input[0],
        snakemake.output[0],
        snakemake.params.settings["knn_k"],
        snakemake.params.settings["cv_folds"],
    )
