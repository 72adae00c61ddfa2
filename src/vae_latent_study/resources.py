"""What a job asks Snakemake for where it runs: a GPU only where jobs can get one.

Only the workflow's Snakefile imports this module (no rule's code digest covers it), so a change here
schedules jobs differently and reruns nothing.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

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


def job_resources(declared: Mapping[str, int], gpu: int) -> dict[str, int]:
    """A rule's declared resources with `gpu` (1 where it loads a model) replaced by `gpu` (`gpu_per_job`)."""
    return {key: (min(int(value), gpu) if key == "gpu" else value) for key, value in declared.items()}
