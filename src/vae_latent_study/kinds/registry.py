"""What each dataset kind brings to the workflow: where its data lie, and which evaluations its runs get.

The workflow plans only what applies to a run's kind, so that "does not apply" is never a file of nulls.
"""

from __future__ import annotations

import functools
import importlib
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from vae_latent_study.kinds.interface import Evaluation, KindSpec

#: The one place that lists the dataset kinds: name -> the module whose `SPEC` declares it (imported lazily,
#: by name). A new kind adds its line here, its `kinds/<kind>/` package (spec, data, evaluate) and its schema.
#: Their order is the HTML report's order of the kinds' figures.
KIND_MODULES: dict[str, str] = {
    "heatmaps": "vae_latent_study.kinds.heatmaps.spec",
    "normal_1d": "vae_latent_study.kinds.normal_1d.spec",
    "images": "vae_latent_study.kinds.images.spec",
    "factor_model": "vae_latent_study.kinds.factor_model.spec",
    "toy_manifold": "vae_latent_study.kinds.toy_manifold.spec",
}


@functools.cache
def kind(name: str) -> KindSpec:
    """The spec of dataset kind `name`."""
    try:
        module = KIND_MODULES[name]
    except KeyError:
        raise KeyError(f"no dataset kind {name!r} (the kinds: {', '.join(KIND_MODULES)})") from None
    spec = importlib.import_module(module).SPEC
    if spec.name != name:
        raise ValueError(f"{module} declares kind {spec.name!r}, listed as {name!r}")
    return spec


def kinds() -> list[KindSpec]:
    """Every kind's spec, in `KIND_MODULES` order."""
    return [kind(name) for name in KIND_MODULES]


def evaluations() -> list[Evaluation]:
    """Every evaluation of every kind, once each, in order: one workflow rule each."""
    found: dict[str, Evaluation] = {}
    for spec in kinds():
        for evaluation in spec.evaluations:
            if found.setdefault(evaluation.name, evaluation) is not evaluation:
                raise ValueError(f"two kinds declare an evaluation {evaluation.name!r}")
    return list(found.values())


def condition_messages(model: str, conditional: str, dataset: str, config: Mapping[str, Any]) -> list[str]:
    """Why model `model` with `conditional` cannot condition on dataset `dataset` (validated config
    `config`), as config-key messages; empty when it can."""
    spec = kind(config["kind"])
    key = f"config key 'models.{model}.conditional'"
    factor = spec.label if conditional == "label" else conditional
    if factor is None:
        return [f"{key}: dataset {dataset} (kind {spec.name}) has no label to condition on"]
    factors = spec.factors(config)
    if factor not in factors:
        known = ", ".join(factors) or "none"
        return [
            f"{key}: dataset {dataset} (kind {spec.name}) has no factor {factor!r} (its factors: {known})"
        ]
    if factors[factor] != "categorical":
        return [
            f"{key}: {factor!r} is a {factors[factor]} factor of dataset {dataset}; a model conditions on a "
            "categorical factor (one-hot)"
        ]
    return []


def dataset_file(dataset: str, kind_name: str, seed: int) -> str:
    """The dataset file a run of `dataset` with training seed `seed` reads."""
    if kind(kind_name).data_per_seed:
        return f"results/data/{dataset}/seed{seed}.h5"
    return f"results/data/{dataset}.h5"


def replicate_seed(data_seed: int, training_seed: int) -> int:
    """The seed of the sample a replicate draws: one independent stream per (dataset seed, training seed)."""
    import numpy as np

    return int(np.random.SeedSequence([int(data_seed), int(training_seed)]).generate_state(1)[0] & 0x7FFFFFFF)
