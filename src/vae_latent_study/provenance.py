"""Provenance written into every output: library versions and content checksums; and the digest of the
package code behind each rule, which the workflow passes as a param."""

from __future__ import annotations

import ast
import functools
import hashlib
import json
import os
import platform
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

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


def file_sha256(path: str | Path) -> str:
    """SHA-256 of a file's bytes as found, read in blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


_PACKAGE = "vae_latent_study"
_PACKAGE_DIR = Path(__file__).resolve().parent


#: Where the analysis of each module (its normalised code's digest and its imports) is kept between
#: Snakemake starts, keyed by the file's bytes: parsing and unparsing every module at every start (dry runs
#: too) cost most of a second.
_CACHE_FILE = (
    Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    / "vae-latent-study"
    / "code-digest-v1.json"
)


@functools.cache
def _disk_cache() -> dict[str, list]:
    try:
        return json.loads(_CACHE_FILE.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


#: Whether `_disk_cache` holds analyses not yet written: `code_digest` writes them once, at its end.
_unsaved = False


def _save_disk_cache() -> None:
    """Write the cache atomically if it has new entries; a machine where it cannot be written just
    analyses every time."""
    global _unsaved
    if not _unsaved:
        return
    _unsaved = False
    try:
        _CACHE_FILE.parent.mkdir(parents=True, exist_ok=True)
        tmp = _CACHE_FILE.with_name(f".{_CACHE_FILE.name}.{os.getpid()}.tmp")
        tmp.write_text(json.dumps(_disk_cache(), sort_keys=True), encoding="utf-8")
        os.replace(tmp, _CACHE_FILE)
    except OSError:
        pass


def _normalised_source(tree: ast.Module) -> str:
    """The module's code without comments, docstrings or layout: `ast.unparse` of its tree, docstrings
    removed, so an edit to those alone does not count as a code change."""
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
                if isinstance(body[0].value.value, str):
                    node.body = body[1:] or [ast.Pass()]
    return ast.unparse(tree)


def _imported_names(tree: ast.Module, path: Path) -> list[str]:
    """Every module name `path` imports anywhere (also inside functions), relative imports resolved."""
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: only meaningful inside the package
                package = path.parent.relative_to(_PACKAGE_DIR.parent).parts
                package = package[: len(package) - node.level + 1]
                module = ".".join((*package, node.module) if node.module else package)
            else:
                module = node.module or ""
            names.add(module)
            names.update(f"{module}.{alias.name}" for alias in node.names)  # `from pkg import submodule`
    return sorted(names)


@functools.cache
def _analysis(path: Path) -> tuple[str, tuple[str, ...]]:
    """(SHA-256 of the normalised code, imported module names) of one Python file."""
    raw = path.read_bytes()
    where = path.relative_to(_PACKAGE_DIR).as_posix() if path.is_relative_to(_PACKAGE_DIR) else "script"
    key = f"{where}:{hashlib.sha256(raw).hexdigest()}"
    cached = _disk_cache().get(key)
    if cached is None:
        # Imports first: stripping the docstrings changes the tree, not its imports.
        tree = ast.parse(raw.decode("utf-8"), filename=str(path))
        names = _imported_names(tree, path)
        cached = [hashlib.sha256(_normalised_source(tree).encode()).hexdigest(), names]
        _disk_cache()[key] = cached
        global _unsaved
        _unsaved = True
    return cached[0], tuple(cached[1])


def _module_file(name: str) -> Path | None:
    """The file of package module `name` ('vae_latent_study.x'), or None when it is not one."""
    parts = name.split(".")
    if parts[0] != _PACKAGE:
        return None
    base = _PACKAGE_DIR.joinpath(*parts[1:])
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


@functools.cache
def _package_imports(path: Path) -> frozenset[Path]:
    """Package modules that `path` imports anywhere (also inside functions), as files."""
    files = {_module_file(name) for name in _analysis(path)[1]}
    return frozenset(file for file in files if file is not None)


def code_closure(script: str | Path, *modules: str) -> list[Path]:
    """The package files a workflow script runs, sorted: every module of vae_latent_study it imports,
    followed through their imports, and every ancestor package's `__init__.py` (Python runs them before a
    module). `modules` ('vae_latent_study.x') are code it runs without a static import (a dataset kind's
    builder, chosen by name at run time), followed the same way."""
    todo = set(_package_imports(Path(script).resolve()))
    for name in modules:
        file = _module_file(name)
        if file is None:
            raise ValueError(f"{name!r} is not a module of {_PACKAGE}")
        todo.add(file)
    seen: set[Path] = set()
    while todo:
        module = todo.pop()
        if module not in seen:
            seen.add(module)
            todo |= _package_imports(module)
    for module in list(seen):
        for parent in module.parents:
            if not parent.is_relative_to(_PACKAGE_DIR):
                break
            seen.add(parent / "__init__.py")
    seen.add(_PACKAGE_DIR / "__init__.py")
    return sorted(seen)


def code_digest(script: str | Path, *modules: str) -> str:
    """SHA-256 (16 hex digits) of the package code that a workflow script runs (`code_closure`), comments
    and docstrings left out.

    A rule passes it as a param, so Snakemake reruns the rule when that code changes, as it does for an
    edit of the script itself."""
    digest = hashlib.sha256()
    for module in code_closure(script, *modules):
        digest.update(module.relative_to(_PACKAGE_DIR).as_posix().encode() + b"\0")
        digest.update(_analysis(module)[0].encode() + b"\0")
    _save_disk_cache()
    return digest.hexdigest()[:16]


def write_strict_json(payload: Any, path: str | Path) -> None:
    """`payload` as sorted, indented JSON with no NaN or infinity (refused, not written), atomically."""
    from vae_latent_study.io import atomic_path

    text = json.dumps(payload, indent=2, sort_keys=True, allow_nan=False) + "\n"
    with atomic_path(path) as tmp:
        tmp.write_text(text)
