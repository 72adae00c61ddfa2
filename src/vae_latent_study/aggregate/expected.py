"""A study's expected-numbers file (`config/expected/<name>.yaml`): the numbers its source printed, the
tolerances they are judged with, and the source's qualitative VAE-vs-AE claims.

Light on purpose (PyYAML only): the workflow reads every expected file at its start, so that a malformed one
stops it before any job runs, naming the key; the claims it finds are a param of the aggregation.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

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
class Claim:
    """One of a source's qualitative VAE-vs-AE claims, as a paired test over training seeds at `level`.

    `alternative` is the direction of the VAE-minus-AE difference the claim asserts (`greater`, `less`),
    or `equivalent`: |difference| < `margin`, by two one-sided t-tests (TOST). `line`: where the source
    says it.
    """

    text: str
    metric: str
    alternative: str
    level: float
    margin: float | None = None
    line: int | None = None


@dataclass(frozen=True)
class ExpectedNumbers:
    """A study's expected-numbers file, read by `read_expected`."""

    source: str
    tolerances: dict[str, tuple[str, float] | None]
    entries: tuple[ExpectedNumber, ...]
    claims: tuple[Claim, ...] = ()


_WHERE_COLUMNS = ("dataset", "family", "model", "kind")
_TOP_KEYS = ("source", "tolerances", "expected", "claim_level", "claims")
_CLAIM_KEYS = ("claim", "metric", "alternative", "margin", "line")
ALTERNATIVES = ("greater", "less", "equivalent")


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


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def parse_claims(claims: Any, level: Any, path: str | Path = "<claims>") -> tuple[Claim, ...]:
    """The `claims` section of an expected file, checked: a list of {claim, metric, alternative, margin,
    line}, with `margin` (> 0) for `equivalent` claims only, one claim per metric, judged at `claim_level`
    (0 < level < 1, given wherever claims are). Raises ValueError naming the key."""
    if claims is None:
        if level is not None:
            raise ValueError(f"{path}: key 'claim_level': given without 'claims'")
        return ()
    if not isinstance(claims, list):
        raise ValueError(f"{path}: key 'claims': a list of claims; got {type(claims).__name__}")
    if not (_number(level) and 0 < level < 1):
        raise ValueError(
            f"{path}: key 'claim_level': the claims' test level, a number in (0, 1); got {level!r}"
        )
    out = []
    for i, item in enumerate(claims):
        key = f"claims[{i}]"
        if not isinstance(item, Mapping):
            raise ValueError(f"{path}: key '{key}': a mapping of {', '.join(_CLAIM_KEYS)}")
        for name in item:
            if name not in _CLAIM_KEYS:
                raise ValueError(f"{path}: key '{key}.{name}': unknown (known: {', '.join(_CLAIM_KEYS)})")
        for name in ("claim", "metric", "alternative"):
            if not isinstance(item.get(name), str) or not item[name].strip():
                raise ValueError(f"{path}: key '{key}.{name}': required, a non-empty string")
        alternative = item["alternative"]
        if alternative not in ALTERNATIVES:
            raise ValueError(
                f"{path}: key '{key}.alternative': one of {', '.join(ALTERNATIVES)}; got {alternative!r}"
            )
        margin = item.get("margin")
        if alternative == "equivalent" and not (_number(margin) and margin > 0):
            raise ValueError(
                f"{path}: key '{key}.margin': an equivalence claim needs a margin > 0; got {margin!r}"
            )
        if alternative != "equivalent" and margin is not None:
            raise ValueError(f"{path}: key '{key}.margin': only an 'equivalent' claim has a margin")
        line = item.get("line")
        if line is not None and not (isinstance(line, int) and not isinstance(line, bool) and line >= 1):
            raise ValueError(f"{path}: key '{key}.line': a line number of the source (>= 1); got {line!r}")
        if any(claim.metric == item["metric"] for claim in out):
            raise ValueError(f"{path}: key '{key}.metric': {item['metric']!r} has a claim already")
        out.append(
            Claim(
                text=item["claim"],
                metric=item["metric"],
                alternative=alternative,
                level=float(level),
                margin=None if margin is None else float(margin),
                line=line,
            )
        )
    return tuple(out)


def claims_by_dataset(studies: Iterable[tuple[str, Sequence[str], str | Path]]) -> dict[str, list[dict]]:
    """{dataset: its claims, as plain dicts} from (study, datasets, expected file) triples: the claims of a
    study's source are judged on the VAE-vs-AE pairs of the study's datasets. The aggregation's param
    (`aggregate_metrics`'s `claims`), so that editing a claim reruns it and editing a printed number does
    not. Two studies that judge one dataset's metric by different claims are refused."""
    out: dict[str, dict[str, dict]] = {}
    owner: dict[tuple[str, str], str] = {}
    for study, datasets, path in studies:
        for claim in read_expected(path).claims:
            plain = asdict(claim)
            del plain["line"]  # where the source says it: no part of the test
            for dataset in datasets:
                found = out.setdefault(dataset, {}).get(claim.metric)
                if found is not None and found != plain:
                    raise ValueError(
                        f"studies {owner[dataset, claim.metric]!r} and {study!r} judge {claim.metric} on "
                        f"dataset {dataset} by different claims ({path})"
                    )
                out[dataset][claim.metric] = plain
                owner.setdefault((dataset, claim.metric), study)
    return {dataset: list(claims.values()) for dataset, claims in sorted(out.items())}
