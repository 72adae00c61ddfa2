"""Seed 003's toy chapter of the report: the squared error over both floors, per model of the study."""

from __future__ import annotations

import math

import pandas as pd

from vae_latent_study.report.cards import Card, Numbers, count_verdict, not_measured
from vae_latent_study.report.chapter import ReportInputs, StudyPart
from vae_latent_study.report.markup import fmt_number, fmt_share, html_table, join_words

BRIDGE_QUESTION = (
    "Does an AE with a 1-d code bridge the disconnected curves, and does conditioning on the component stop "
    "it? (seed 003's two claims; the share of held-out reconstructions farther than 3 sd from every curve)"
)
FLOOR_QUESTION = (
    "Does the conditional AE follow the open curve down to its floor? (held-out squared error over the "
    "projection floor sd^2, the lowest a reconstruction on the true curve can reach)"
)
#: A model bridges the curves when at least this share of its held-out reconstructions lie off every curve
#: (the clean points have none).
BRIDGE_SHARE = 0.01
#: The issue's target for the conditional AE on the open curve: its error within this factor of the floor.
FLOOR_TARGET = 1.3


def cards(inputs: ReportInputs, part: StudyPart) -> list[Card]:
    """Seed 003's claims on the toy, against the true curves: the plain models bridge, the conditional ones
    do not; and the conditional models' error on each open curve against the target over its floor."""
    numbers = Numbers(inputs)
    return [_bridge_card(numbers, part), _floor_card(numbers, part)]


def _bridge_card(numbers: Numbers, part: StudyPart) -> Card:
    ours, held, wrong = [], [], []
    for dataset in part.datasets:
        for model in part.models:
            found = numbers.measured(dataset, model, "test.bridge_share")
            if found is None:
                continue
            conditional = numbers.conditional(model)
            ours.append(f"{model}{' (conditional)' if conditional else ''}: {found.text(percent=True)}")
            bridges = found.centre >= BRIDGE_SHARE
            (held if bridges != conditional else wrong).append(model)
    if not ours:
        return not_measured(part.study, BRIDGE_QUESTION, "no run of the study has test.bridge_share", "truth")
    return Card(
        study=part.study,
        question=BRIDGE_QUESTION,
        answer="; ".join(ours),
        truth="the two true curves (stored with the data); the clean points lie on them: no bridge",
        source=None,
        verdict=count_verdict(len(held), len(held) + len(wrong)),
        verdict_text=f"{len(held)} of {len(held) + len(wrong)} models behave as claimed (a plain model "
        f"bridges: median share at least {fmt_share(BRIDGE_SHARE)}; a conditional one does not)"
        + (f"; not {join_words(wrong)}" if wrong else "")
        + ".",
        basis="truth",
    )


def _floor_card(numbers: Numbers, part: StudyPart) -> Card:
    summary = numbers.summary
    own = summary[summary["dataset"].isin(part.datasets)] if len(summary) else summary
    metrics = set(own["metric"]) if len(own) else set()
    closed = {m.split(".", 2)[2] for m in metrics if m.startswith("test.torn_share.")}
    open_curves = sorted(
        m.split(".")[2]
        for m in metrics
        if m.startswith("test.components.") and m.endswith(".mse_over_projection_floor") and m.count(".") == 3
    )
    open_curves = [c for c in dict.fromkeys(open_curves) if c not in closed]
    ours, per_model = [], []
    passed = total = 0
    for dataset in part.datasets:
        for model in part.models:
            if not numbers.conditional(model):
                continue
            for curve in open_curves:
                found = numbers.measured(dataset, model, f"test.components.{curve}.mse_over_projection_floor")
                if found is None:
                    continue
                ours.append(f"{model}, {curve}: {found.text()}")
                ok = sum(v <= FLOOR_TARGET for v in found.per_seed)
                passed, total = passed + ok, total + len(found.per_seed)
                per_model.append(f"{model} {ok} of {len(found.per_seed)}")
    if not total:
        return not_measured(
            part.study,
            FLOOR_QUESTION,
            "no conditional model's error on an open curve over its floor",
            "target",
        )
    return Card(
        study=part.study,
        question=FLOOR_QUESTION,
        answer="; ".join(ours),
        truth="the projection floor sd^2 of the data's noise (1 on this scale)",
        source=None,
        verdict=count_verdict(passed, total),
        verdict_text=f"{passed} of {total} runs (model x seed) come within {FLOOR_TARGET:g}x of "
        f"the floor, the issue's target: {join_words(per_model)}.",
        basis="target",
    )


def chapter(inputs: ReportInputs, part: StudyPart) -> list[str]:
    """The manifold table of the study's toy datasets and models, where their runs measured it."""
    summary = inputs.summary
    if not len(summary):
        return []
    own = summary[summary["dataset"].isin(part.datasets) & summary["model"].isin(part.models)]
    if not own["metric"].eq("test.mse_over_projection_floor").any():
        return []
    return [
        "<h3>Toy manifold: the squared error over both floors (held-out points)</h3>",
        "<p>The projection floor sd^2 is the error of projecting each noisy point onto its true curve, the "
        "lowest a reconstruction on the curves can reach; the clean floor 2 sd^2 that of returning the clean "
        "points. A 1-d code must cut a closed curve: the torn share is the share of its points reconstructed "
        "more than 3 sd from their own place on it.</p>",
        manifold_table(own),
    ]


def manifold_table(summary: pd.DataFrame) -> str:
    """Seed 003's toy (`manifold.json`, held-out points) per model: the squared error over both floors, the
    projection floor's check, each component's error over the projection floor, and each closed
    component's torn share and what it costs. Means ± std over training seeds."""
    test = summary[summary["metric"].str.startswith("test.")]
    names = sorted(
        {m.split(".")[2] for m in test["metric"] if m.startswith("test.components.") and m.count(".") == 3}
    )
    closed = sorted({m.split(".", 2)[2] for m in test["metric"] if m.startswith("test.torn_share.")})
    columns = {
        "MSE / projection floor (sd^2)": "test.mse_over_projection_floor",
        "MSE / clean floor (2 sd^2)": "test.mse_over_floor",
        "projection's MSE / projection floor": "test.projection_mse_over_projection_floor",
    }
    columns.update(
        {f"{n} / projection floor": f"test.components.{n}.mse_over_projection_floor" for n in names}
    )
    for n in closed:
        columns[f"{n}: torn share"] = f"test.torn_share.{n}"
        columns[f"{n}: torn share of its error"] = f"test.components.{n}.torn_error_share"
        columns[f"{n} untorn / projection floor"] = f"test.components.{n}.untorn_mse_over_projection_floor"
    rows = []
    for (dataset, model), own in test.groupby(["dataset", "model"], sort=True):
        found = own.set_index("metric")
        row = {"dataset": dataset, "model": model, "seeds": int(found["n_seeds"].max())}
        for title, metric in columns.items():
            if metric not in found.index:
                row[title] = None
                continue
            mean, std = found.at[metric, "mean"], found.at[metric, "std"]
            row[title] = fmt_number(mean) + (f" ± {fmt_number(std)}" if math.isfinite(std) else "")
        rows.append(row)
    return html_table(pd.DataFrame(rows).astype(object))
