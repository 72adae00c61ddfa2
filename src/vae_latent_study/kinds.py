"""What each dataset kind brings to the workflow: where its data lie, and which evaluations its runs get.

The workflow plans only what applies to a run's kind, so that "does not apply" is never a file of nulls.
"""

from __future__ import annotations

from dataclasses import dataclass


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


KINDS: dict[str, Kind] = {
    "heatmaps": Kind("heatmaps", False, ("reconstruction", "probes", "scores"), True, ("conv36",)),
    "normal_1d": Kind("normal_1d", True, ("generation",), False, ("dense",)),
    "factor_model": Kind("factor_model", False, ("recovery",), False, ("dense",)),
    "images": Kind("images", False, ("images",), False, ("conv32",)),
}


def dataset_file(dataset: str, kind: str, seed: int) -> str:
    """The dataset file a run of `dataset` with training seed `seed` reads."""
    if KINDS[kind].data_per_seed:
        return f"results/data/{dataset}/seed{seed}.h5"
    return f"results/data/{dataset}.h5"


def replicate_seed(data_seed: int, training_seed: int) -> int:
    """The seed of the sample a replicate draws: one independent stream per (dataset seed, training seed)."""
    import numpy as np

    return int(np.random.SeedSequence([int(data_seed), int(training_seed)]).generate_state(1)[0] & 0x7FFFFFFF)
