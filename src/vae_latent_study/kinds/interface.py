"""The one interface a dataset kind declares, in its `kinds/<kind>/spec.py` as `SPEC = KindSpec(...)`.

Light on purpose: the workflow imports every kind's spec at each Snakemake start (dry runs too), so a spec
holds names and plain data, and names a function of its kind's data module where it needs code
(`config_messages`, `build_params`), imported only when a dataset of the kind exists.

An evaluation is declared once, here: its name is its JSON (`results/evaluation/{dataset}/{model}/
seed{seed}/<name>.json`), its rule (`evaluate_<name>`) and its function (`<module>.evaluate_<name>(ctx)`,
see `evaluation.runner`); its figures are the rule's `report()` outputs and the HTML report's figures.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

#: The inputs an evaluation may read, by role: the trained model, the run's dataset file (the kind's path,
#: per training seed where the kind draws data per seed), its latent store (`encode_dataset`), its training
#: history, the dataset's classifier (`train_classifier`), the dataset's pixel probe (`probe_pixels`) and a
#: conditional model's unconditional twin.
INPUT_ROLES = ("model", "dataset", "latents", "history", "classifier", "pixel_probe", "twin")

#: Where a run's figures lie: `<RUN_FIGURES>/<Figure.file>`.
RUN_FIGURES = "results/figures/{dataset}/{model}/seed{seed}"

#: Where a run's evaluation files lie: `<RUN_EVALUATION>/<name>.json` and the extra outputs.
RUN_EVALUATION = "results/evaluation/{dataset}/{model}/seed{seed}"


@dataclass(frozen=True, kw_only=True)
class Figure:
    """One figure an evaluation draws: the rule's output `key` (the key of `ctx.outputs`), its file under
    `RUN_FIGURES`, its caption (`workflow/report/<caption>`, shared by the HTML report and `snakemake
    --report`), the HTML report's section, and `snakemake --report`'s category and `figure` label."""

    key: str
    file: str
    caption: str
    section: str
    category: str
    label: str

    @property
    def pattern(self) -> str:
        return f"{RUN_FIGURES}/{self.file}"


@dataclass(frozen=True, kw_only=True)
class ReportFigure:
    """A figure of the HTML report that a per-dataset rule draws (the data, the training curves): its
    section, path pattern (`{dataset}`, `{model}`, `{seed}`) and caption file."""

    section: str
    pattern: str
    caption: str
    #: Listed after the evaluations' figures (in its section), not before.
    last: bool = False


@dataclass(frozen=True, kw_only=True)
class Evaluation:
    """One per-run evaluation (see the module docstring for how its name lines up)."""

    name: str
    #: The module whose `evaluate_<name>(ctx)` computes it (`vae_latent_study.kinds.<kind>.evaluate`).
    module: str
    #: Its inputs by role (`INPUT_ROLES`).
    inputs: tuple[str, ...]
    #: The `evaluation` config settings it reads: each evaluation gets only its own (and the global seed),
    #: so editing one reruns only the evaluations that read it.
    settings: tuple[str, ...] = ()
    #: Whether it reads the study's global `seed` (its random draws' seed): a param only where it does.
    seeded: bool = False
    #: The model config settings it reads (a model's `generation`), unset ones as None.
    model_settings: tuple[str, ...] = ()
    #: Outputs beside its JSON, by key: file names under `RUN_EVALUATION`.
    extra_outputs: Mapping[str, str] = field(default_factory=dict)
    figures: tuple[Figure, ...] = ()
    #: Whether its JSON's numbers join the tidy metric table.
    metrics: bool = True
    threads: int = 1
    #: Snakemake resources (`gpu`: it loads a Keras model, which reserves a GPU's memory there).
    resources: Mapping[str, int] = field(default_factory=dict)

    @property
    def rule(self) -> str:
        return f"evaluate_{self.name}"

    @property
    def function(self) -> str:
        return f"evaluate_{self.name}"

    @property
    def json(self) -> str:
        return f"{RUN_EVALUATION}/{self.name}.json"


@dataclass(frozen=True, kw_only=True)
class KindSpec:
    """What a dataset kind declares to the workflow."""

    name: str
    #: A fresh sample per training seed (a replicate is new data and a new training), not one file.
    data_per_seed: bool
    #: The architectures its models may have.
    architectures: tuple[str, ...]
    #: TensorFlow threads of a training on it, also the training job's Snakemake `threads`. A network too
    #: small to gain from a second thread trains with 1 (the same bits as with 2, measured for the small
    #: kinds), so that two such trainings share two cores.
    train_threads: int = 2
    #: The factors (name: `continuous` or `categorical`) a dataset of the kind has, from its validated
    #: config: what a model's `conditional` can name, checked before anything is built.
    factors: Callable[[Mapping[str, Any]], dict[str, str]]
    #: The factor that is its datasets' label (the condition `conditional: label` names), if any.
    label: str | None = None
    #: The `family` column of its runs' metrics, from a dataset's validated config.
    family: Callable[[Mapping[str, Any]], str | None]
    #: Whether its evaluations feed a conditional model its label (else such a model cannot train on it).
    conditional: bool = False
    #: Every evaluation it declares, once each.
    evaluations: tuple[Evaluation, ...]
    #: One job trains every training seed of one (dataset, model) in one process, and one job runs each of
    #: its evaluations for all those seeds (`batch.run_batch`): for kinds whose runs take seconds, so that
    #: they pay one TensorFlow start per model, not per run. The per-run files are the same either way.
    batch_seeds: bool = False
    #: The evaluations (by name) of a run of an unconditional model, and of a conditional model's runs.
    run_evaluations: tuple[str, ...]
    conditional_evaluations: tuple[str, ...] | None = None
    #: The HTML report's figures of per-dataset rules, in order, before the evaluations' figures (after them
    #: where `last`).
    report_figures: tuple[ReportFigure, ...] = ()
    #: A function of its data module, `f(settings, *, prefix, given) -> [message]`: the checks of a
    #: validated dataset config (`given`: as written) a schema cannot say, each naming its key
    #: (`prefix` + key).
    config_messages: str | None = None
    #: A function of its data module, `f(settings)`, removing in place the defaults that do not apply (so
    #: they neither reach rule params nor trigger reruns).
    drop_unused: str | None = None
    #: A function of its data module, `f(settings) -> dict`: what the build rule's params add to the
    #: dataset's config (where an images dataset's files are, and their SHA-256).
    build_params: str | None = None

    @property
    def data_module(self) -> str:
        return f"vae_latent_study.kinds.{self.name}.data"

    def evaluation(self, name: str) -> Evaluation:
        for evaluation in self.evaluations:
            if evaluation.name == name:
                return evaluation
        raise KeyError(f"kind {self.name} declares no evaluation {name!r}")

    def evaluations_of_run(self, conditional: bool) -> tuple[Evaluation, ...]:
        """The evaluations of one run of the kind, whose model is `conditional` or not."""
        names = self.run_evaluations
        if conditional and self.conditional_evaluations is not None:
            names = self.conditional_evaluations
        return tuple(self.evaluation(name) for name in names)

    def data_hook(self, name: str | None) -> Callable[..., Any] | None:
        """The data module's function `name` (imported now), or None when the spec names none."""
        if name is None:
            return None
        import importlib

        return getattr(importlib.import_module(self.data_module), name)


#: The training curves, drawn for every kind (`plot_training_curves`).
TRAINING_CURVES = ReportFigure(
    section="Training",
    pattern="results/figures/{dataset}/training_curves_seed{seed}.png",
    caption="training_curves.rst",
)
