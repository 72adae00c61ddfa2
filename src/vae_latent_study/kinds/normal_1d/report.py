"""Seed 002's chapter of the report: the generated values over replicates, per model of the study."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd

from vae_latent_study.report.chapter import ReportInputs, StudyPart
from vae_latent_study.report.markup import html_table


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
