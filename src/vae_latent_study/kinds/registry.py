"""What each dataset kind brings to the workflow: where its data lie, and which evaluations its runs get.

The workflow plans only what applies to a run's kind, so that "does not apply" is never a file of nulls.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Kind:
    """A dataset kind as the workflow sees it."""

    name: str
    #: A fresh sample per training seed (a replicate is new data and a new training), not one file.
    data_per_seed: bool
    #: The metric JSONs of one run, `results/evaluation/{dataset}/{model}/seed{seed}/<name>.json`.
    evaluations: tuple[str, ...]
    #: Whether its runs are encoded into a latent store (the heatmap evaluations read it).
    encoded: bool
    #: The architectures its models may have.
    architectures: tuple[str, ...]
    #: The factors (name: `continuous` or `categorical`) a dataset of the kind has, from its validated
    #: config: what a model's `conditional` can name, checked before anything is built.
    factors: Callable[[Mapping[str, Any]], dict[str, str]]
    #: The factor that is its datasets' label (the condition `conditional: label` names), if any.
    label: str | None = None
    #: Whether its evaluations feed a conditional model its label (else such a model cannot train on it).
    conditional: bool = False
    #: The metric JSONs of a conditional model's runs, where they differ from `evaluations` (None: the same).
    conditional_evaluations: tuple[str, ...] | None = None

    def run_evaluations(self, conditional: bool) -> tuple[str, ...]:
        """The evaluations of one run of the kind, whose model is `conditional` or not."""
        if conditional and self.conditional_evaluations is not None:
            return self.conditional_evaluations
        return self.evaluations


def _heatmap_factors(config: Mapping[str, Any]) -> dict[str, str]:
    factors = dict.fromkeys(("var_x", "var_y", "cor"), "continuous")
    if config.get("family") == "student_t":
        factors["df"] = "categorical"
    return factors


KINDS: dict[str, Kind] = {
    # A df-conditioned model (seed 003's option on the Student-t data) gets every heatmap evaluation and
    # the style transfer between tails (`heatmap_transfer`).
    "heatmaps": Kind(
        "heatmaps",
        False,
        ("reconstruction", "probes", "scores"),
        True,
        ("conv36",),
        _heatmap_factors,
        conditional=True,
        conditional_evaluations=("reconstruction", "probes", "scores", "transfer"),
    ),
    "normal_1d": Kind("normal_1d", True, ("generation",), False, ("dense",), lambda config: {}),
    "factor_model": Kind(
        "factor_model", False, ("recovery",), False, ("dense",), lambda config: {"Z": "continuous"}
    ),
    # Seed 001's conv32 models and seed 003's dense (C)VAE; a conditional model gets seed 003's evaluation
    # (style transfer, requested labels, ELBO against its unconditional twin) instead of seed 001's.
    "images": Kind(
        "images",
        False,
        ("images",),
        False,
        ("conv32", "dense"),
        lambda config: {"class": "categorical"},
        "class",
        conditional=True,
        conditional_evaluations=("cvae",),
    ),
    "toy_manifold": Kind(
        "toy_manifold",
        False,
        ("manifold",),
        False,
        ("dense",),
        lambda config: {"component": "categorical", "position": "continuous"},
        "component",
        conditional=True,
    ),
}


def condition_messages(model: str, conditional: str, dataset: str, config: Mapping[str, Any]) -> list[str]:
    """Why model `model` with `conditional` cannot condition on dataset `dataset` (validated config
    `config`), as config-key messages; empty when it can."""
    kind = KINDS[config["kind"]]
    key = f"config key 'models.{model}.conditional'"
    factor = kind.label if conditional == "label" else conditional
    if factor is None:
        return [f"{key}: dataset {dataset} (kind {kind.name}) has no label to condition on"]
    factors = kind.factors(config)
    if factor not in factors:
        known = ", ".join(factors) or "none"
        return [
            f"{key}: dataset {dataset} (kind {kind.name}) has no factor {factor!r} (its factors: {known})"
        ]
    if factors[factor] != "categorical":
        return [
            f"{key}: {factor!r} is a {factors[factor]} factor of dataset {dataset}; a model conditions on a "
            "categorical factor (one-hot)"
        ]
    return []


def dataset_file(dataset: str, kind: str, seed: int) -> str:
    """The dataset file a run of `dataset` with training seed `seed` reads."""
    if KINDS[kind].data_per_seed:
        return f"results/data/{dataset}/seed{seed}.h5"
    return f"results/data/{dataset}.h5"


def replicate_seed(data_seed: int, training_seed: int) -> int:
    """The seed of the sample a replicate draws: one independent stream per (dataset seed, training seed)."""
    import numpy as np

    return int(np.random.SeedSequence([int(data_seed), int(training_seed)]).generate_state(1)[0] & 0x7FFFFFFF)
