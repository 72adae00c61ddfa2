"""The heatmaps kind (seed 000): bivariate normal and Student-t densities on a grid, and the evaluations of
their latent stores; a df-conditioned model (seed 003's option on the Student-t data) gets every heatmap
evaluation and the style transfer between tails."""

from vae_latent_study.kinds.interface import TRAINING_CURVES, Evaluation, Figure, KindSpec, ReportFigure

_RUN = "results/figures/{dataset}/{model}/seed{seed}"
_LATENT_SPACE = "Latent space"
_PATHS = "Paths through the latent space"


def _factors(config):
    factors = dict.fromkeys(("var_x", "var_y", "cor"), "continuous")
    if config.get("family") == "student_t":
        factors["df"] = "categorical"
    return factors


SPEC = KindSpec(
    name="heatmaps",
    data_per_seed=False,
    architectures=("conv36",),
    factors=_factors,
    family=lambda config: config.get("family"),
    conditional=True,
    evaluations=(
        Evaluation(
            name="reconstruction",
            module="vae_latent_study.kinds.heatmaps.evaluate",
            inputs=("latents", "dataset"),
            extra_outputs={"per_image": "reconstruction.tsv"},
        ),
        Evaluation(
            name="probes",
            module="vae_latent_study.kinds.heatmaps.evaluate",
            inputs=("latents", "dataset"),
            settings=("knn_k", "cv_folds", "fixed_k", "learning_curve_sizes"),
            seeded=True,
            threads=2,
        ),
        Evaluation(
            name="scores",
            module="vae_latent_study.kinds.heatmaps.evaluate",
            inputs=("latents", "dataset"),
            settings=("dci_num_train",),
            seeded=True,
            threads=2,
        ),
        Evaluation(
            name="transfer",
            module="vae_latent_study.kinds.heatmaps.transfer",
            inputs=("model", "dataset"),
            figures=(
                Figure(
                    key="figure",
                    file="tail_transfer.png",
                    caption="tail_transfer.rst",
                    section="Style transfer between tails (seed 003 on seed 000's data)",
                    category="Style transfer between tails",
                    label="tail transfer",
                ),
            ),
            resources={"gpu": 1},
        ),
    ),
    config_messages="config_messages",
    drop_unused="drop_unused",
    run_evaluations=("reconstruction", "probes", "scores"),
    conditional_evaluations=("reconstruction", "probes", "scores", "transfer"),
    # The exploration's figures (`explore_latents`) and the per-dataset figures.
    report_figures=(
        ReportFigure(
            section="Data",
            pattern="results/figures/{dataset}/sample_heatmaps.png",
            caption="sample_heatmaps.rst",
        ),
        TRAINING_CURVES,
        ReportFigure(
            section="Reconstruction",
            pattern="results/figures/{dataset}/reconstruction_errors_seed{seed}.png",
            caption="reconstruction_errors.rst",
        ),
        ReportFigure(
            section="Reconstruction", pattern=f"{_RUN}/reconstructions.png", caption="reconstructions.rst"
        ),
        ReportFigure(section=_LATENT_SPACE, pattern=f"{_RUN}/projections.png", caption="projections.rst"),
        ReportFigure(section=_LATENT_SPACE, pattern=f"{_RUN}/latent_3d.png", caption="latent_3d.rst"),
        ReportFigure(
            section=_LATENT_SPACE, pattern=f"{_RUN}/latent_3d.json", caption="interactive_latent_3d.rst"
        ),
        ReportFigure(section=_PATHS, pattern=f"{_RUN}/trajectories.png", caption="trajectories.rst"),
        ReportFigure(section=_PATHS, pattern=f"{_RUN}/traversals.png", caption="traversals.rst"),
        ReportFigure(section=_PATHS, pattern=f"{_RUN}/empty_regions.png", caption="empty_regions.rst"),
    ),
)
