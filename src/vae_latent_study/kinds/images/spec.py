"""The images kind: Fashion-MNIST or MNIST. Seed 001's conv32 models get its evaluation (`images`); a
conditional model gets seed 003's instead (`cvae`: style transfer, requested labels, ELBO against its
unconditional twin)."""

from vae_latent_study.kinds.interface import TRAINING_CURVES, Evaluation, Figure, KindSpec


def _figure(key, file, caption, label, section, category):
    return Figure(key=key, file=file, caption=caption, section=section, category=category, label=label)


def _images(key, file, caption, label):
    return _figure(key, file, caption, label, "Images (seed 001)", "Images")


def _cvae(key, file, caption, label):
    return _figure(key, file, caption, label, "A conditional VAE (seed 003)", "Conditional VAE")


SPEC = KindSpec(
    name="images",
    data_per_seed=False,
    architectures=("conv32", "dense"),
    factors=lambda config: {"class": "categorical"},
    label="class",
    family=lambda config: config.get("source"),
    conditional=True,
    evaluations=(
        Evaluation(
            name="images",
            module="vae_latent_study.kinds.images.evaluate",
            # The pixel probe: the dataset's PCA-2 class probe, made once per dataset (`probe_pixels`).
            inputs=("model", "dataset", "history", "classifier", "pixel_probe"),
            settings=("knn_k", "cv_folds", "iwae_k", "iwae_images", "samples"),
            figures=(
                _images("embedding", "embedding.png", "images_embedding.rst", "embedding"),
                _images("grid", "code_grid.png", "images_code_grid.rst", "code grid"),
                _images("samples", "samples.png", "images_samples.rst", "samples"),
                _images(
                    "reconstructions",
                    "image_reconstructions.png",
                    "images_reconstructions.rst",
                    "reconstructions",
                ),
            ),
            threads=2,
            resources={"gpu": 1, "mem_mb": 4000},
        ),
        Evaluation(
            name="cvae",
            module="vae_latent_study.kinds.images.cvae",
            # The twin: the same VAE without the label, for the ELBO and probe comparison; none where the
            # plan has none.
            inputs=("model", "dataset", "history", "classifier", "twin"),
            settings=("iwae_k", "iwae_images", "samples"),
            figures=(
                _cvae("style_transfer", "style_transfer.png", "cvae_style_transfer.rst", "style transfer"),
                _cvae("manifolds", "label_manifolds.png", "cvae_label_manifolds.rst", "label manifolds"),
                _cvae(
                    "code_distribution",
                    "code_distribution.png",
                    "cvae_code_distribution.rst",
                    "code distribution",
                ),
                _cvae(
                    "reconstructions",
                    "cvae_reconstructions.png",
                    "cvae_reconstructions.rst",
                    "reconstructions",
                ),
            ),
            threads=2,
            resources={"gpu": 1, "mem_mb": 4000},
        ),
    ),
    run_evaluations=("images",),
    conditional_evaluations=("cvae",),
    report_figures=(TRAINING_CURVES,),
    build_params="build_params",
    drop_unused="drop_unused",
)
