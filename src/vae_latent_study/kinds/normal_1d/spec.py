"""The normal_1d kind (seed 002): a 1-D normal sample drawn afresh per training seed, and what a model
generates from it."""

from vae_latent_study.kinds.interface import TRAINING_CURVES, Evaluation, Figure, KindSpec, ReportFigure

_SECTION = "A 1-D normal learned from 67 draws (seed 002)"


def _figure(key, file, label):
    return Figure(
        key=key,
        file=file,
        caption=file.replace(".png", ".rst"),
        section=_SECTION,
        category="Generation",
        label=label,
    )


SPEC = KindSpec(
    name="normal_1d",
    data_per_seed=True,
    architectures=("dense",),
    train_threads=1,
    factors=lambda config: {},
    family=lambda config: "normal_1d",
    evaluations=(
        Evaluation(
            name="generation",
            module="vae_latent_study.kinds.normal_1d.evaluate",
            inputs=("model", "dataset"),
            model_settings=("generation",),
            figures=(
                _figure("histogram", "generated_histogram.png", "histogram"),
                _figure("qq", "generated_qq.png", "Q-Q plot"),
                _figure("decoder_curve", "decoder_curve.png", "decoder curve"),
            ),
            resources={"gpu": 1},
        ),
    ),
    # Runs of seconds each: one job per model trains (and one evaluates) all its seeds.
    batch_seeds=True,
    run_evaluations=("generation",),
    report_figures=(
        TRAINING_CURVES,
        # Drawn by `summarise_replicates` over the training seeds.
        ReportFigure(
            section=_SECTION,
            pattern="results/figures/{dataset}/{model}/generated_std_trace.png",
            caption="generated_std_trace.rst",
            last=True,
        ),
    ),
    config_messages="config_messages",
)
