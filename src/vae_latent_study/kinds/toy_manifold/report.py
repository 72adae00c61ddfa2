"""Seed 003's toy chapter of the report: the squared error over both floors, per model of the study."""

from __future__ import annotations

import math

import pandas as pd

from vae_latent_study.report.chapter import ReportInputs, StudyPart
from vae_latent_study.report.markup import fmt_number, html_table


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
