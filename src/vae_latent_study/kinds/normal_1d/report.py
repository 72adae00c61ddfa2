"""Seed 002's chapter of the report: the generated values over replicates, per model of the study."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd

from vae_latent_study.report.cards import Card, Numbers, count_verdict, not_measured, source_card
from vae_latent_study.report.chapter import ReportInputs, StudyPart
from vae_latent_study.report.markup import fmt_number, html_table, join_words

#: The answer's printed numbers that the first card sets beside ours, and what it calls them.
SOURCE_METRICS = {"generated.model_mean": "generated mean", "generated.model_std": "generated sd"}
SOURCE_QUESTION = (
    "Do the VAEs generate values with the mean and sd the answer printed? (one draw of 15,000 values "
    "decoded from codes fitted to its training codes)"
)
TRUTH_QUESTION = (
    "Do the generated values follow the true distribution? (median KS distance to it over replicates, "
    "beside the normal fitted to the same training draws)"
)


def _truth(inputs: ReportInputs, datasets: Sequence[str]) -> str | None:
    specs = [(d, (inputs.config.get("datasets") or {}).get(d) or {}) for d in datasets]
    found = [f"{d}: N({fmt_number(s['mean'])}, {fmt_number(s['std'])})" for d, s in specs if "mean" in s]
    return "; ".join(found) or None


def cards(inputs: ReportInputs, part: StudyPart) -> list[Card]:
    """The answer's printed mean and sd beside our VAEs' (the source's tolerance), and whether each model's
    generated values follow the truth (its median KS within the target ratio of the fitted normal's)."""
    numbers = Numbers(inputs)
    truth = _truth(inputs, part.datasets)
    out = [
        source_card(
            numbers,
            part.study,
            SOURCE_QUESTION,
            list(SOURCE_METRICS),
            truth=truth,
            unit="replicates",
            labels=SOURCE_METRICS,
        )
    ]
    found = [
        r
        for r in inputs.replicates
        if r["dataset"] in part.datasets and r["model"] in part.models and r.get("ks_ratio") is not None
    ]
    if not found:
        return [*out, not_measured(part.study, TRUTH_QUESTION, "no replicate summary of the study", "truth")]
    ours, met, missed, floors = [], [], [], []
    for r in sorted(found, key=lambda r: part.models.index(r["model"])):
        generated = r.get("generated") or {}
        ratio, target = float(r["ks_ratio"]), float(r.get("ks_ratio_target", 1.5))
        ours.append(
            f"{r['model']}: median KS {fmt_number(generated.get('model_ks_median'))}, "
            f"{fmt_number(ratio, 2)}x the fitted normal's ({r['n_replicates']} "
            f"replicate{'s' if r['n_replicates'] != 1 else ''})"
        )
        (met if ratio <= target else missed).append(r["model"])
        if generated.get("fitted_ks_median") is not None:
            floors.append(float(generated["fitted_ks_median"]))
    targets = join_words(
        [fmt_number(t, 2) for t in sorted({float(r.get("ks_ratio_target", 1.5)) for r in found})]
    )
    text = (
        f"{len(met)} of {len(found)} models generate within {targets}x of the fitted normal's median KS"
        + (f" ({join_words(met)})" if met else "")
        + (f"; not {join_words(missed)}" if missed else "")
        + "."
    )
    floor = (
        f"; the normal fitted to each replicate's training draws: median KS {fmt_number(floors[0])}"
        if floors
        else ""
    )
    out.append(
        Card(
            study=part.study,
            question=TRUTH_QUESTION,
            answer="; ".join(ours),
            truth=(truth or "the dataset's normal") + floor,
            source=None,
            verdict=count_verdict(len(met), len(found)),
            verdict_text=text,
            basis="truth",
        )
    )
    return out


def chapter(inputs: ReportInputs, part: StudyPart) -> list[str]:
    """The replicate summaries of the study's normal_1d datasets and models, as one table."""
    found = [r for r in inputs.replicates if r["dataset"] in part.datasets and r["model"] in part.models]
    if not found:
        return []
    return ["<h3>Generated values over replicates (median and quartiles)</h3>", replicate_table(found)]


def replicate_table(summaries: Sequence[Mapping[str, Any]]) -> str:
    """Seed 002's verdict per model: the generated mean and sd, and median KS against the fitted normal's."""
    rows = []
    for found in summaries:
        generated = found["generated"]
        rows.append(
            {
                "dataset": found["dataset"],
                "model": found["model"],
                "replicates": found["n_replicates"],
                "generated mean": f"{found['generated_mean']['median']:.2f} "
                f"[{found['generated_mean']['q25']:.2f}, {found['generated_mean']['q75']:.2f}]",
                "generated sd": f"{found['generated_std']['median']:.2f} "
                f"[{found['generated_std']['q25']:.2f}, {found['generated_std']['q75']:.2f}]",
                "median KS, model": generated["model_ks_median"],
                "median KS, fitted normal": generated["fitted_ks_median"],
                "median KS, fresh sample": generated["fresh_ks_median"],
                "KS ratio (target <= 1.5)": found["ks_ratio"],
                "meets target": "yes" if found["meets_target"] else "no",
                # Per replicate: KS within 1.5x of its own fitted normal's (summaries since issue 21).
                "replicates within 1.5x": generated.get("replicates_within_target", "–"),
            }
        )
    return html_table(pd.DataFrame(rows).astype(object))
