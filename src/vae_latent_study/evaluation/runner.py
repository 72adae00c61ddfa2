"""The one runner of every per-run evaluation (the workflow's `evaluate_<name>` rules, `scripts/evaluate.py`).

An evaluation is a function `evaluate_<name>(ctx: Context) -> dict` of its kind's module (declared in the
kind's spec, `kinds.interface.Evaluation`): it reads its inputs (`ctx.inputs`, by role), draws its figures
(`ctx.outputs`, by key) and returns its numbers. The runner writes them as the run's JSON, one layout for
all:

- `identity`: `dataset`, `dataset_kind`, `model`, `model_kind` (vae or ae), `seed`, `family`;
- the evaluation's own keys (its numbers, `settings`, `notes`, and what describes the run beside them:
  `latent_dim`, `n_train`, `n_test`, `evaluation_seed`);
- `provenance`: `inputs` (each input's path and SHA-256, the dataset's manifest checksum) and `versions`;

as strict JSON (`provenance.write_strict_json`): a non-finite number (an infinite total correlation, the
spread of one value) is written as null.
"""

from __future__ import annotations

import dataclasses
import functools
import importlib
import logging
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)

#: The keys of the identity block, in order.
IDENTITY_KEYS = ("dataset", "dataset_kind", "model", "model_kind", "seed", "family")

#: The keys of the JSON the runner writes itself; an evaluation returning one of them is an error.
RESERVED_KEYS = frozenset({"identity", "provenance"})


@dataclass(frozen=True, kw_only=True)
class Context:
    """What one evaluation of one run gets: who the run is, its input files by role, its output files by
    key (figures and extra outputs), its settings (the `evaluation` settings it reads and the study's
    global `seed`; `model` holds the model settings it reads) and its threads."""

    name: str
    identity: Mapping[str, Any]
    inputs: Mapping[str, str]
    outputs: Mapping[str, str] = field(default_factory=dict)
    settings: Mapping[str, Any] = field(default_factory=dict)
    threads: int = 1

    @property
    def dataset_name(self) -> str:
        return str(self.identity["dataset"])

    @property
    def model_name(self) -> str:
        return str(self.identity["model"])

    @property
    def seed(self) -> int:
        """The run's training seed."""
        return int(self.identity["seed"])

    @functools.cached_property
    def dataset(self) -> Any:
        """The run's dataset (`datasets.read_dataset`), read once."""
        from vae_latent_study.datasets import read_dataset

        return read_dataset(self.inputs["dataset"])

    def input(self, role: str) -> str | None:
        """The path of input `role`, or None where the run has none (a conditional model without a twin)."""
        value = self.inputs.get(role)
        return str(value) if value else None


def finite(node: Any) -> Any:
    """`node` with every non-finite float (and NumPy scalar) replaced by None, mappings and lists followed."""
    if isinstance(node, Mapping):
        return {str(key): finite(value) for key, value in node.items()}
    if isinstance(node, list | tuple):
        return [finite(value) for value in node]
    if isinstance(node, bool) or node is None or isinstance(node, str | int):
        return node
    if isinstance(node, float):
        return node if math.isfinite(node) else None
    # NumPy scalars (a float32 of a metric): as Python numbers.
    if hasattr(node, "item"):
        return finite(node.item())
    return node


def run_record(inputs: Mapping[str, str | None], dataset_checksum: str | None) -> dict[str, Any]:
    """The provenance block: each input's path and SHA-256 (the dataset's manifest checksum beside them),
    and the versions of the libraries (Keras and TensorFlow too)."""
    from vae_latent_study.provenance import file_sha256, library_versions

    record: dict[str, Any] = {}
    for role, path in sorted(inputs.items()):
        if not path:
            continue
        record[role] = {"path": str(path), "sha256": file_sha256(path)}
        if role == "dataset":
            record[role]["checksum"] = dataset_checksum
    return {"inputs": record, "versions": library_versions(extra=("keras", "tensorflow"))}


def run(ctx: Context, module: str, json_path: str | Path) -> dict[str, Any]:
    """Run evaluation `ctx.name` of `module` (`evaluate_<name>(ctx)`), write its JSON at `json_path` in the
    one layout (see the module docstring) and return what was written."""
    function = getattr(importlib.import_module(module), f"evaluate_{ctx.name}")
    return write(ctx, function(ctx), json_path)


def write(ctx: Context, numbers: Mapping[str, Any], json_path: str | Path) -> dict[str, Any]:
    """Write the numbers of evaluation `ctx.name` at `json_path` in the one layout; return what was
    written."""
    from vae_latent_study.datasets import read_manifest
    from vae_latent_study.provenance import write_strict_json

    numbers = dict(numbers)
    clash = RESERVED_KEYS & set(numbers)
    if clash:
        raise ValueError(f"evaluation {ctx.name} returned the runner's own keys {sorted(clash)}")
    if "dataset" in ctx.__dict__:  # read by the evaluation: its manifest is at hand
        checksum = ctx.dataset.manifest["checksum"]["sha256"]
    else:
        checksum = read_manifest(ctx.inputs["dataset"])["checksum"]["sha256"]
    payload = {
        "identity": {key: ctx.identity.get(key) for key in IDENTITY_KEYS},
        **numbers,
        "provenance": run_record(ctx.inputs, checksum),
    }
    payload = finite(payload)
    write_strict_json(payload, json_path)
    logger.info("wrote %s", json_path)
    return payload


def run_job(snakemake: Any) -> dict[str, Any] | list[str]:
    """`run` from a Snakemake job of an `evaluate_<name>` rule (`workflow/scripts/evaluate.py`); of an
    `evaluate_<name>_<dataset>` rule (a kind with `batch_seeds`: its `runs` param lists the seeds' runs),
    `run_batch_job`."""
    params = snakemake.params
    if "runs" in params.keys():
        return run_batch_job(params, int(snakemake.threads))
    outputs = {key: str(value) for key, value in snakemake.output.items() if key != "metrics"}
    ctx = Context(
        name=params.evaluation,
        identity=params.identity,
        inputs={key: _one_path(value) for key, value in snakemake.input.items()},
        outputs=outputs,
        settings=params.settings,
        threads=int(snakemake.threads),
    )
    return run(ctx, params.module, snakemake.output.metrics)


def _one_path(value: Any) -> str:
    """An input's path; an input function's list of at most one path (a twin) as that path or ''."""
    if isinstance(value, str):
        return value
    paths = list(value)
    if len(paths) > 1:
        raise ValueError(f"one input file expected, got {paths}")
    return str(paths[0]) if paths else ""


def run_batch_job(params: Any, threads: int) -> list[str]:
    """Run evaluation `params.evaluation` for each run of `params.runs` (one dict per training seed: its
    `identity`, `inputs` by role, `outputs` by key, `metrics` JSON path) in this process, each as a job of
    its own would (the same settings, and Keras's global state cleared before each run), with the kill
    safety of `vae_latent_study.batch`. Returns the runs evaluated now."""
    import sys

    from vae_latent_study.batch import Item, run_batch
    from vae_latent_study.provenance import file_sha256

    contexts: dict[str, Context] = {}
    items = []
    for spec in params.runs:
        inputs = {role: _one_path(value) for role, value in spec["inputs"].items()}
        ctx = Context(
            name=params.evaluation,
            identity=spec["identity"],
            inputs=inputs,
            settings=params.settings,
            threads=threads,
        )
        name = f"seed{ctx.seed}"
        outputs = {"metrics": spec["metrics"], **spec["outputs"]}
        fingerprint = {
            "identity": dict(spec["identity"]),
            "settings": dict(params.settings),
            "module": params.module,
            "code": params.code,
            "inputs": {role: file_sha256(path) for role, path in sorted(inputs.items()) if path},
        }
        keep = Path(spec["metrics"]).with_name(f"finished_{params.evaluation}")
        items.append(Item(name, outputs, keep, fingerprint))
        contexts[name] = ctx

    def work(item: Item, staged: dict[str, Path]) -> None:
        if "keras" in sys.modules:  # each run as in a process of its own
            sys.modules["keras"].backend.clear_session()
        outputs = {key: str(path) for key, path in staged.items() if key != "metrics"}
        run(dataclasses.replace(contexts[item.name], outputs=outputs), params.module, staged["metrics"])

    return run_batch(items, work)
