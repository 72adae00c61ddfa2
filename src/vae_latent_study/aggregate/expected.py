"""A study's expected-numbers file (`config/expected/<name>.yaml`): the numbers its source printed, the
tolerances they are judged with, and the source's qualitative VAE-vs-AE claims (`claims.parse_claims`).

Light on purpose (PyYAML only): the workflow reads every expected file at its start, so that a malformed one
stops it before any job runs, naming the key.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from vae_latent_study.aggregate.claims import Claim, parse_claims
from vae_latent_study.io import reading


@dataclass(frozen=True)
class ExpectedNumber:
    """One number a study's source printed, and the metric of ours that measures the same thing."""

    quantity: str
    metric: str  # our metric name in the tidy table
    value: float
    line: int | None  # line of the printed value in the source document
    tolerance: str | None  # key of the file's `tolerances`
    where: tuple[tuple[str, str], ...] = ()  # tidy-table columns the compared runs must match (family, kind)
    note: str = ""


@dataclass(frozen=True)
class ExpectedNumbers:
    """A study's expected-numbers file, read by `read_expected`."""

    source: str
    tolerances: dict[str, tuple[str, float] | None]
    entries: tuple[ExpectedNumber, ...]
    claims: tuple[Claim, ...] = ()


_WHERE_COLUMNS = ("dataset", "family", "model", "kind")
_TOP_KEYS = ("source", "tolerances", "expected", "claim_level", "claims")


def read_expected(path: str | Path) -> ExpectedNumbers:
    """Read and check an expected-numbers file: `source`, `tolerances` ({name: [mode, value] or null}),
    `expected` (entries with quantity, metric, value, line, tolerance, where, note) and, where the source
    made claims, `claim_level` and `claims` (see `parse_claims`). A malformed file raises ValueError naming
    the file and the key."""
    import yaml

    with reading(path):
        data = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    if not isinstance(data, Mapping):
        raise ValueError(f"{path}: an expected-numbers file is a mapping of {', '.join(_TOP_KEYS)}")
    unknown = [key for key in data if key not in _TOP_KEYS]
    if unknown:
        raise ValueError(f"{path}: unknown key {unknown[0]!r} (known: {', '.join(_TOP_KEYS)})")
    tolerances = {
        name: None if spec is None else (str(spec[0]), float(spec[1]))
        for name, spec in (data.get("tolerances") or {}).items()
    }
    entries = []
    for i, item in enumerate(data.get("expected") or []):
        where = dict(item.get("where") or {})
        tolerance = item.get("tolerance")
        problems = [] if tolerance in tolerances else [f"unknown tolerance {tolerance!r}"]
        problems += [
            f"'where' key {k!r} is not one of {_WHERE_COLUMNS}" for k in where if k not in _WHERE_COLUMNS
        ]
        problems += [f"no {key!r}" for key in ("quantity", "metric", "value") if key not in item]
        if problems:
            raise ValueError(f"{path}: expected[{i}]: " + "; ".join(problems))
        entries.append(
            ExpectedNumber(
                quantity=str(item["quantity"]),
                metric=str(item["metric"]),
                value=float(item["value"]),
                line=None if item.get("line") is None else int(item["line"]),
                tolerance=item.get("tolerance"),
                where=tuple(sorted((str(k), str(v)) for k, v in where.items())),
                note=str(item.get("note") or ""),
            )
        )
    for mode, _ in filter(None, tolerances.values()):
        if mode not in ("relative", "absolute"):
            raise ValueError(f"{path}: tolerance mode must be 'relative' or 'absolute'; got {mode!r}")
    claims = parse_claims(data.get("claims"), data.get("claim_level"), path)
    return ExpectedNumbers(str(data.get("source", "")), tolerances, tuple(entries), claims)
