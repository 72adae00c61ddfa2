"""What a job asks Snakemake for where it runs: a GPU only where jobs can get one.

Only the workflow's Snakefile imports this module (no rule's code digest covers it), so a change here
schedules jobs differently and reruns nothing.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

#: `1`: every job that loads a model asks for a GPU; `0`: none does; unset: decided by `gpu_per_job`.
GPU_ENV = "VAE_STUDY_GPU_JOBS"


def gpu_visible(dev: Path = Path("/dev")) -> bool:
    """Whether this machine shows an NVIDIA GPU (a device file /dev/nvidia0, /dev/nvidia1, ...) that
    `CUDA_VISIBLE_DEVICES` does not hide."""
    if os.environ.get("CUDA_VISIBLE_DEVICES", None) in ("", "-1"):
        return False
    return any(dev.glob("nvidia[0-9]*"))


def gpu_per_job(local_exec: bool, dev: Path = Path("/dev")) -> int:
    """The `gpu` resource a job that loads a Keras model declares: 1 on a cluster (where each such job asks
    its scheduler for one, `--gpus=1`) and on a machine with a GPU (where the profile's `gpu: 1` keeps two
    of them off one device), 0 on a machine without one, so that the profile's `gpu: 1` limit does not run
    the CPU's jobs one after another: they are then scheduled by `--cores` alone. `GPU_ENV` overrides."""
    value = os.environ.get(GPU_ENV, "")
    if value:
        if value not in ("0", "1"):
            raise ValueError(f"{GPU_ENV} must be 0 or 1; got {value!r}")
        return int(value)
    return 1 if (not local_exec or gpu_visible(dev)) else 0


def job_resources(declared: Mapping[str, int], gpu: Any) -> dict[str, Any]:
    """A rule's declared resources with a declared `gpu` of 1 (it loads a model) replaced by `gpu`: a number,
    or the workflow's function of a job's wildcards that calls `gpu_per_job` once the executor is known."""
    return {key: (gpu if key == "gpu" and int(value) >= 1 else value) for key, value in declared.items()}
