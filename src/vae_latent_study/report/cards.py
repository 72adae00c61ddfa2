"""The report's first section: one card per study that answers its source's headline question.

A kind contributes cards through an optional `cards(inputs: ReportInputs, part: StudyPart) -> list[Card]` in
its `kinds/<kind>/report.py` (found by name, as its chapter: `report.chapter`). A card holds the question
(the source's question or claim), our answer with its spread over training seeds or replicates, the truth
or oracle where the data know it, the number the source printed where it printed one, and a verdict
computed from those numbers by a rule its sentence states: never written by hand. A study whose metric is
missing gets a card that says so (`not_measured`).

A quick run (the config's `quick`) is judged against no source: `for_quick_run` turns a source's verdict
into "not judged" and labels the others (against the truth or a target) as a quick run's.
"""

from __future__ import annotations

import html
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import pandas as pd

from vae_latent_study.report.chapter import ReportInputs
from vae_latent_study.report.markup import fmt_number, join_words

#: What a verdict is judged against: the source (its printed numbers or its claims), the truth (or an
#: oracle) of the data, or a target the project set.
BASES = ("source", "truth", "target")
#: The verdict words a card may carry.
VERDICTS = ("agrees", "partly", "differs", "not judged", "not measured")
#: A quick run's verdict against a source.
QUICK_NOT_JUDGED = "quick run: not judged against the source"


@dataclass(frozen=True)
class Card:
    """One headline question of a study, answered from this run's numbers."""

    study: str
    question: str
    #: Our number(s), with the spread over seeds or replicates and their count.
    answer: str
    #: The truth or an oracle where known, else None.
    truth: str | None
    #: The number the source printed, where it printed one, else None.
    source: str | None
    #: One of VERDICTS.
    verdict: str
    #: One sentence: the verdict and the rule that gave it.
    verdict_text: str
    #: What the verdict is judged against: one of BASES.
    basis: str = "source"

    def __post_init__(self) -> None:
        if self.verdict not in VERDICTS:
            raise ValueError(f"verdict {self.verdict!r} is not one of {VERDICTS}")
        if self.basis not in BASES:
            raise ValueError(f"basis {self.basis!r} is not one of {BASES}")


def not_measured(study: str, question: str, missing: str, basis: str = "source") -> Card:
    """The card of a question whose numbers this run does not have."""
    return Card(
        study=study,
        question=question,
        answer=f"not measured: {missing}",
        truth=None,
        source=None,
        verdict="not measured",
        verdict_text=f"Not measured in this run ({missing}), so not judged.",
        basis=basis,
    )


def for_quick_run(card: Card) -> Card:
    """`card` as a quick run shows it: no verdict against a source; a verdict against the truth or a target
    kept, labelled as a quick run's (reduced sizes)."""
    if card.verdict == "not measured":
        return card
    if card.basis == "source":
        return replace(
            card,
            source=None if card.source is None else f"for reference, not compared (quick run): {card.source}",
            verdict="not judged",
            verdict_text=f"{QUICK_NOT_JUDGED[0].upper()}{QUICK_NOT_JUDGED[1:]} (reduced sizes: these numbers "
            "are not the study's).",
        )
    return replace(card, verdict_text=f"Quick run (reduced sizes): {card.verdict_text}")


def count_verdict(passed: int, total: int) -> str:
    """ "agrees" when every one of `total` checks passed, "differs" when none did, "partly" in between;
    "not measured" when there was none."""
    if total == 0:
        return "not measured"
    return "agrees" if passed == total else "differs" if passed == 0 else "partly"


# --- numbers ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Measured:
    """One metric of one dataset x model over its training seeds (or replicates)."""

    #: Per seed where the tidy table was given, else None (only the summary's mean, sd and n).
    values: tuple[float, ...] | None
    mean: float
    std: float
    n: int

    @property
    def per_seed(self) -> tuple[float, ...]:
        """The values a per-seed rule judges: each seed's, or the mean where only the summary is known."""
        return self.values if self.values is not None else (self.mean,)

    @property
    def centre(self) -> float:
        """The median over seeds where they are known, else the mean."""
        return float(np.median(self.values)) if self.values else self.mean

    def text(self, unit: str = "training seeds", digits: int = 3, percent: bool = False) -> str:
        """The number with its spread: one value; median and range (fewer than 5); median and quartiles.
        `percent`: a share, written in per cent."""

        def fmt(value: float) -> str:
            return f"{100 * value:.1f}%" if percent else fmt_number(value, digits)

        if self.values is not None:
            values = np.asarray(self.values, dtype=np.float64)
            if len(values) == 1:
                return f"{fmt(values[0])} (one run)"
            if len(values) < 5:
                return (
                    f"median {fmt(np.median(values))} (range {fmt(values.min())} to {fmt(values.max())}, "
                    f"{len(values)} {unit})"
                )
            q25, q75 = np.percentile(values, [25, 75])
            return f"median {fmt(np.median(values))} [{fmt(q25)}, {fmt(q75)}] ({len(values)} {unit})"
        if self.n <= 1 or not math.isfinite(self.std):
            return f"{fmt(self.mean)} (one run)"
        return f"mean {fmt(self.mean)} ± {fmt(self.std)} ({self.n} {unit})"


class Numbers:
    """Looks up the numbers of one report: the summary over seeds, the per-seed tidy table where the page
    was given it, the comparison with the sources and the config's models."""

    def __init__(self, inputs: ReportInputs) -> None:
        self.inputs = inputs
        self.summary = inputs.summary
        self.tidy = inputs.tidy
        self.comparison = inputs.comparison

    def measured(self, dataset: str, model: str, metric: str) -> Measured | None:
        summary = self.summary
        if not len(summary):
            return None
        rows = summary[
            (summary["dataset"] == dataset) & (summary["model"] == model) & (summary["metric"] == metric)
        ]
        if not len(rows):
            return None
        row = rows.iloc[0]
        values = None
        if self.tidy is not None and len(self.tidy):
            tidy = self.tidy
            found = tidy[(tidy["dataset"] == dataset) & (tidy["model"] == model) & (tidy["metric"] == metric)]
            if len(found):
                values = tuple(float(v) for v in found.sort_values("seed")["value"])
        std = float(row["std"]) if row["std"] is not None and pd.notna(row["std"]) else math.nan
        return Measured(values, float(row["mean"]), std, int(row["n_seeds"]))

    def model_spec(self, model: str) -> Mapping[str, Any]:
        return (self.inputs.config.get("models") or {}).get(model) or {}

    def model_kind(self, model: str) -> str | None:
        """The model's kind (vae, ae) from the config, else from the summary."""
        kind = self.model_spec(model).get("kind")
        if kind is None and len(self.summary):
            found = self.summary.loc[self.summary["model"] == model, "kind"]
            kind = str(found.iloc[0]) if len(found) else None
        return kind

    def conditional(self, model: str) -> bool:
        return bool(self.model_spec(model).get("conditional"))

    def comparison_rows(self, study: str, metrics: Iterable[str] | None = None) -> pd.DataFrame:
        """The study's rows of the comparison with its source (of `metrics` where given) that have a value
        of ours."""
        table = self.comparison
        if not len(table) or "study" not in table.columns:
            return table.iloc[:0] if len(table.columns) else pd.DataFrame()
        rows = table[table["study"] == study]
        if metrics is not None:
            rows = rows[rows["metric"].isin(list(metrics))]
        return rows[rows["ours_mean"].notna()] if "ours_mean" in rows.columns else rows.iloc[:0]


def within_tolerance(row: Mapping[str, Any]) -> bool | None:
    """Whether our mean lies within the source's tolerance of its printed value (the rule of
    `aggregate.compare`: relative to the printed value, or absolute); None where it has no tolerance."""
    mode = row.get("tolerance_mode")
    if mode is None or (isinstance(mode, float) and math.isnan(mode)) or mode == "":
        return None
    expected, ours, tolerance = float(row["expected_value"]), float(row["ours_mean"]), float(row["tolerance"])
    bound = tolerance * abs(expected) if mode == "relative" else tolerance
    return abs(ours - expected) <= bound


def tolerance_text(row: Mapping[str, Any]) -> str:
    mode, value = row.get("tolerance_mode"), row.get("tolerance")
    if mode == "relative":
        return f"±{100 * float(value):.0f}%"
    if mode == "absolute":
        return f"±{fmt_number(float(value))}"
    return "no tolerance"


def source_card(
    numbers: Numbers,
    study: str,
    question: str,
    metrics: Sequence[str] | None,
    truth: str | None = None,
    unit: str = "training seeds",
    labels: Mapping[str, str] | None = None,
) -> Card:
    """A card of the source's printed numbers of `metrics` (None: every one of the study's) beside ours,
    judged by the source's tolerance: agrees when every judged number lies within it, differs when none
    does, partly in between. The sentence also says for how many the printed value lies inside the range of
    our seeds."""
    rows = numbers.comparison_rows(study, metrics)
    if not len(rows):
        what = join_words(list(metrics)) if metrics else "a number the source printed"
        return not_measured(study, question, f"no run of ours measures {what}")
    ours, printed, judged, ranged = [], [], [], []
    for _, row in rows.sort_values(["metric", "dataset", "model"], kind="stable").iterrows():
        name = (labels or {}).get(row["metric"], row["quantity"])
        found = numbers.measured(row["dataset"], row["model"], row["metric"])
        value = (
            found.text(unit)
            if found is not None
            else f"mean {fmt_number(row['ours_mean'])} ({int(row['n_seeds'])} {unit})"
        )
        ours.append(f"{name}, {row['model']}: {value}")
        printed.append(f"{row['quantity']}: {fmt_number(row['expected_value'], 4)} ({tolerance_text(row)})")
        verdict = within_tolerance(row)
        if verdict is not None:
            judged.append((f"{name}, {row['model']}", verdict))
        if row.get("in_seed_range") in ("inside", "outside"):  # with at least 2 seeds
            ranged.append(row["in_seed_range"] == "inside")
    printed = list(dict.fromkeys(printed))
    passed = [name for name, ok in judged if ok]
    failed = [name for name, ok in judged if not ok]
    verdict = count_verdict(len(passed), len(judged)) if judged else "not judged"
    if not judged:
        text = "The source gave these numbers no tolerance, so they are shown, not judged."
    else:
        text = (
            f"{len(passed)} of {len(judged)} of our means lie within the source's tolerance of its printed "
            "value" + (f" (outside: {join_words(failed)})" if failed else "")
        )
        if ranged:
            text += (
                f"; the printed value lies inside the range of our {unit.split()[-1]} for {sum(ranged)} of "
                f"{len(ranged)}"
            )
        text += "."
    return Card(
        study=study,
        question=question,
        answer="; ".join(ours),
        truth=truth,
        source="; ".join(printed),
        verdict=verdict,
        verdict_text=text,
        basis="source",
    )


# --- HTML ------------------------------------------------------------------------------------------------

CARD_STYLE = """
.cards { display: grid; grid-template-columns: repeat(auto-fill, minmax(340px, 1fr)); gap: .8em; }
.card { border: 1px solid #d8d8dc; border-radius: 6px; padding: .5em .8em; font-size: 88%; }
.card h3 { margin: .1em 0 .3em; font-size: 105%; } .card .question { font-weight: 600; margin: .5em 0 .2em; }
.card dl { margin: 0; display: grid; grid-template-columns: max-content 1fr; gap: .1em .6em; }
.card dt { color: #555; } .card dd { margin: 0; }
.verdict-word { font-weight: 700; text-transform: uppercase; font-size: 85%; padding: 0 .3em;
                border-radius: 3px; }
.v-agrees { background: #dcf2e0; color: #1a7f37; } .v-differs { background: #fbe0e0; color: #c62828; }
.v-partly { background: #fff1cc; color: #8a5a00; }
.v-not-judged, .v-not-measured { background: #eee; color: #555; }
.quick-banner { border: 2px solid #b26a00; background: #fff4e0; padding: .5em .8em; border-radius: 6px;
                font-weight: 600; }
"""


def cards_html(studies: Sequence[str], cards: Mapping[str, Sequence[Card]]) -> str:
    """One card per study, in `studies`' order, with each of its questions."""
    parts = ['<div class="cards">']
    for study in studies:
        parts.append(f'<div class="card" id="card-{html.escape(study)}"><h3>Study {html.escape(study)}</h3>')
        found = cards.get(study) or []
        if not found:
            parts.append("<p>No headline question for this study's kinds.</p>")
        for card in found:
            rows = [("Ours", card.answer)]
            if card.truth is not None:
                rows.append(("Truth", card.truth))
            if card.source is not None:
                rows.append(("Source printed", card.source))
            css = "v-" + card.verdict.replace(" ", "-")
            parts.append(f'<p class="question">{html.escape(card.question)}</p><dl>')
            parts += [f"<dt>{html.escape(k)}</dt><dd>{html.escape(v)}</dd>" for k, v in rows]
            parts.append(
                f'<dt>Verdict</dt><dd><span class="verdict-word {css}">{html.escape(card.verdict)}</span> '
                f"{html.escape(card.verdict_text)}</dd></dl>"
            )
        parts.append("</div>")
    parts.append("</div>")
    return "".join(parts)
