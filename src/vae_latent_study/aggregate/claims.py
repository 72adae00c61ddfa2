"""A source's qualitative VAE-vs-AE claims, the `claims` and `claim_level` of its expected file
(`config/expected/<name>.yaml`): read and checked here, judged by `summary.judge_claim` on the paired table.

Light on purpose (PyYAML only), and apart from the expected numbers: the aggregation runs it (its claims
param), so that editing how a printed number is read reruns the comparison only.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from vae_latent_study.io import reading

_CLAIM_KEYS = ("claim", "metric", "alternative", "margin", "line")
ALTERNATIVES = ("greater", "less", "equivalent")


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


def read_claims(path: str | Path) -> tuple[Claim, ...]:
    """The claims of an expected file, checked (`parse_claims`); none where it has no `claims`."""
    import yaml

    with reading(path):
        data = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    if not isinstance(data, Mapping):
        raise ValueError(f"{path}: an expected-numbers file is a mapping")
    return parse_claims(data.get("claims"), data.get("claim_level"), path)


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
        for claim in read_claims(path):
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
