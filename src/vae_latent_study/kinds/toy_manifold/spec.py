"""The toy_manifold kind (seed 003): points near two disconnected curves, and whether a plain or conditional
model bridges them."""

from vae_latent_study.kinds.interface import TRAINING_CURVES, Evaluation, Figure, KindSpec

SPEC = KindSpec(
    name="toy_manifold",
    data_per_seed=False,
    architectures=("dense",),
    train_threads=1,
    factors=lambda config: {"component": "categorical", "position": "continuous"},
    label="component",
    family=lambda config: "toy_manifold",
    conditional=True,
    evaluations=(
        Evaluation(
            name="manifold",
            module="vae_latent_study.kinds.toy_manifold.evaluate",
            inputs=("model", "dataset"),
            figures=(
                Figure(
                    key="figure",
                    file="manifold_reconstructions.png",
                    caption="manifold_reconstructions.rst",
                    section="A disconnected manifold, plain and conditional (seed 003)",
                    category="Toy manifold",
                    label="reconstructions",
                ),
            ),
            resources={"gpu": 1},
        ),
    ),
    # Runs of seconds each: one job per model trains (and one evaluates) all its seeds.
    batch_seeds=True,
    run_evaluations=("manifold",),
    report_figures=(TRAINING_CURVES,),
)
