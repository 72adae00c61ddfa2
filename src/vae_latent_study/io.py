"""Writing outputs so that a failed or killed job never leaves a file that looks finished."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path


@contextlib.contextmanager
def atomic_path(path: str | Path, keep_suffix: str = "") -> Iterator[Path]:
    """Yield a temporary path beside `path`; move it onto `path` only if the block finishes.

    The rename is atomic on one file system, so readers (and Snakemake) see either no file or a
    complete one; on any error the temporary file is removed. `keep_suffix` ends the temporary name,
    for writers that insist on an extension (Keras's `.keras`, `.weights.h5`).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp{keep_suffix}")
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
