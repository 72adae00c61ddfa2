"""Provenance written into every output: library versions and content checksums."""

from __future__ import annotations

import hashlib
import platform
from importlib.metadata import PackageNotFoundError, version

import numpy as np

_LIBRARIES = ("vae-latent-study", "numpy", "scipy", "scikit-learn", "h5py", "pandas", "matplotlib")


def library_versions(extra: tuple[str, ...] = ()) -> dict[str, str]:
    """Versions of Python and of the libraries that compute the study's numbers."""
    out = {"python": platform.python_version()}
    for name in (*_LIBRARIES, *extra):
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            out[name] = "not installed"
    return out


def array_checksum(*arrays: np.ndarray) -> str:
    """SHA-256 over the shapes, dtypes and little-endian C-order bytes of the arrays, in order."""
    digest = hashlib.sha256()
    for array in arrays:
        array = np.ascontiguousarray(array)
        array = array.astype(array.dtype.newbyteorder("<"), copy=False)
        digest.update(f"{array.dtype.str}{array.shape}".encode())
        digest.update(array.tobytes())
    return digest.hexdigest()
