"""The factor_model kind (seed 004): a nonlinear one-factor model, and how well a model recovers its factor,
curves and noise."""

from vae_latent_study.kinds.interface import TRAINING_CURVES, Evaluation, Figure, KindSpec

_SECTION = "A nonlinear factor model (seed 004)"


def _figure(key, label):
    return Figure(
        key=key,
        file=f"factor_{key}.png",
        caption=f"factor_{key}.rst",
        section=_SECTION,
        category="Factor model",
        label=label,
    )


SPEC = KindSpec(
    name="factor_model",
    data_per_seed=False,
    architectures=("dense",),
    train_threads=1,
    factors=lambda config: {"Z": "continuous"},
    family=lambda config: "factor_model",
    evaluations=(
        Evaluation(
            name="recovery",
            module="vae_latent_study.kinds.factor_model.evaluate",
            inputs=("model", "dataset"),
            figures=(
                _figure("reconstruction", "reconstruction"),
                _figure("codes", "codes"),
                _figure("g_curves", "g curves"),
                _figure("noise_sd", "noise sd"),
            ),
            resources={"gpu": 1},
        ),
    ),
    # Runs of seconds each: one job per model trains (and one evaluates) all its seeds.
    batch_seeds=True,
    run_evaluations=("recovery",),
    report_figures=(TRAINING_CURVES,),
    config_messages="config_messages",
)
