"""The study's report: one self-contained HTML file that answers the study's questions from its numbers.

`build_report` writes a single file that opens from the file system with no network: figures are embedded
as base64 data URIs, interactive plotly figures inline with plotly.js included once. It starts with the
answers to the source study's three questions (directions in the VAE's code, the shape of the manifold,
how the AE differs), written from the metric tables and the exploration summaries rather than fixed text,
then sets our numbers beside the notebook's, shows every figure with its caption, the metric tables, and
the provenance (config, seeds, versions, commit).
"""

from __future__ import annotations

import base64
import html
import json
import logging
import math
import os
import re
import subprocess
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml

from vae_latent_study.io import atomic_path, read_json, read_table, reading
from vae_latent_study.provenance import library_versions

logger = logging.getLogger(__name__)

#: The factors whose directions the answers describe.
FACTORS = ("var_x", "var_y", "cor")
#: Libraries whose versions the provenance lists, beyond `provenance.library_versions`'s.
REPORT_LIBRARIES = ("snakemake", "keras", "tensorflow", "tensorflow-cpu", "plotly", "jsonschema", "PyYAML")
#: Image formats embedded as <img>, by suffix.
IMAGE_TYPES = {".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".svg": "image/svg+xml"}

#: (path, caption, section) or (path, caption, section, mode): `mode` `inline` (the default) draws the
#: figure in the page, `link` links to its file (see `figure_list`).
Figure = tuple[str | Path, str, str] | tuple[str | Path, str, str, str]


# --- captions --------------------------------------------------------------------------------------------

_WILDCARD = re.compile(r"\{\{\s*snakemake\.wildcards\.(\w+)\s*\}\}")


def render_caption(template: str, **wildcards: Any) -> str:
    """A caption of `snakemake --report` (reStructuredText with `{{ snakemake.wildcards.X }}`) as plain text
    with the wildcards filled in, so both reports share one caption file."""
    return _WILDCARD.sub(lambda m: str(wildcards.get(m[1], m[0])), template).strip()


def figure_list(
    patterns: Sequence[tuple[str, str, str | Path]], runs: Sequence[Any]
) -> list[tuple[str, str, str, str]]:
    """(path, caption, section, mode) of every figure, from (section, path pattern, caption file) entries.

    `runs` are the plan's runs (anything with `dataset`, `model` and `seed`), in their order. Patterns use
    `{dataset}`, `{model}` and `{seed}`; a pattern without one of them gives one figure per value of the
    others among the runs. Figures are ordered by section (in order of first appearance), then run and
    the order of the patterns. `mode` is `inline` for the figures of each dataset x model's first
    training seed (the first in `runs`) and `link` for the others: the report draws one seed and links the
    rest, the files beside it, so that its size does not grow with the seeds.
    """
    first_seed: dict[tuple[str, str], Any] = {}
    for run in runs:
        first_seed.setdefault((run.dataset, run.model), run.seed)
    sections = list(dict.fromkeys(section for section, _, _ in patterns))
    captions = {str(caption): Path(caption).read_text(encoding="utf-8") for _, _, caption in patterns}
    out: list[tuple[str, str, str]] = []
    seen: set[str] = set()
    for section in sections:
        for run in runs:
            for entry_section, pattern, caption in patterns:
                if entry_section != section:
                    continue
                wildcards = {"dataset": run.dataset, "model": run.model, "seed": run.seed}
                path = pattern.format(**wildcards)
                if path in seen:
                    continue
                seen.add(path)
                mode = "inline" if first_seed[(run.dataset, run.model)] == run.seed else "link"
                out.append((path, render_caption(captions[str(caption)], **wildcards), section, mode))
    return out


def _caption_html(text: str) -> str:
    """Escaped caption text; reStructuredText's ``literal`` becomes <code>."""
    parts = re.split(r"``(.+?)``", text)
    return "".join(
        f"<code>{html.escape(part)}</code>" if i % 2 else html.escape(part) for i, part in enumerate(parts)
    )


# --- numbers ---------------------------------------------------------------------------------------------


def _fmt(value: Any, digits: int = 3) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "–"
    if isinstance(value, bool | str):
        return str(value)
    if isinstance(value, int | np.integer):
        return str(int(value))
    value = float(value)
    if abs(value) >= 1e5:
        return f"{value:.{digits}g}"
    if value.is_integer() and abs(value) >= 2:
        return str(int(value))  # counts and neighbour numbers, stored as floats by the tables
    return f"{value:.{digits}f}" if abs(value) < 10 else f"{value:.{max(digits - 2, 1)}f}"


def _share(value: float) -> str:
    return f"{100 * value:.0f}%"


def _mean(values: Iterable[Any]) -> float | None:
    kept = [float(v) for v in values if v is not None and math.isfinite(float(v))]
    return float(np.mean(kept)) if kept else None


class _Numbers:
    """Looks up the numbers the answers quote: summary means, paired differences, exploration summaries."""

    def __init__(
        self, summary: pd.DataFrame, paired: pd.DataFrame, comparison: pd.DataFrame, explorations: list[dict]
    ) -> None:
        self.summary = summary
        self.paired = paired
        self.comparison = comparison
        self.explorations = explorations

    def metric(self, dataset: str, model: str, metric: str) -> float | None:
        rows = self.summary[
            (self.summary["dataset"] == dataset)
            & (self.summary["model"] == model)
            & (self.summary["metric"] == metric)
        ]
        return _mean(rows["mean"]) if len(rows) else None

    def n_seeds(self, dataset: str, model: str) -> int:
        rows = self.summary[(self.summary["dataset"] == dataset) & (self.summary["model"] == model)]
        return int(rows["n_seeds"].max()) if len(rows) else 0

    def pair(self, dataset: str, vae: str, ae: str, metric: str) -> Mapping[str, Any] | None:
        if self.paired.empty:
            return None
        rows = self.paired[
            (self.paired["dataset"] == dataset)
            & (self.paired["vae_model"] == vae)
            & (self.paired["ae_model"] == ae)
            & (self.paired["metric"] == metric)
        ]
        return rows.iloc[0].to_dict() if len(rows) else None

    def notebook(self, family: str, kind: str, metric: str) -> float | None:
        rows = self.comparison[
            (self.comparison["family"] == family)
            & (self.comparison["kind"] == kind)
            & (self.comparison["metric"] == metric)
        ]
        return float(rows["expected_value"].iloc[0]) if len(rows) else None

    def runs(self, dataset: str, model: str) -> list[dict]:
        found = [e for e in self.explorations if e["dataset"] == dataset and e["model"] == model]
        return sorted(found, key=lambda e: e["seed"])

    def explored(self, dataset: str, model: str, *keys: str) -> float | None:
        """Mean over training seeds of one number of the exploration summaries (None where absent)."""
        values = []
        for run in self.runs(dataset, model):
            node: Any = run
            for key in keys:
                node = node.get(key) if isinstance(node, Mapping) else None
            values.append(node)
        return _mean(values)

    def models(self, dataset: str, kind: str) -> list[str]:
        rows = self.summary[(self.summary["dataset"] == dataset) & (self.summary["kind"] == kind)]
        return sorted(rows["model"].unique())

    def family(self, dataset: str) -> str:
        rows = self.summary[self.summary["dataset"] == dataset]
        return str(rows["family"].iloc[0]) if len(rows) else ""


def _seeds_note(n: int) -> str:
    return f"mean over {n} training seeds" if n > 1 else "one training seed"


def _strongest_axes(run: Mapping[str, Any]) -> str:
    phrases = []
    for factor in FACTORS:
        correlations = run.get("axis_correlation", {}).get(factor)
        if not correlations or all(r is None for r in correlations):
            continue
        axis = int(np.nanargmax([abs(r) if r is not None else np.nan for r in correlations]))
        phrases.append(f"{factor} ↔ z{axis} (r = {correlations[axis]:+.2f})")
    return ", ".join(phrases)


def _join(items: Sequence[str]) -> str:
    items = [i for i in items if i]
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + " and " + items[-1]


def _direction_null(runs: Sequence[Mapping[str, Any]]) -> str | None:
    """The verdict on the factors' directions: each judged against random directions (explore's
    `direction_null`), per seed; meaningful only when every factor beats chance in every seed."""
    judged: dict[str, list[Mapping[str, Any]]] = {}
    for run in runs:
        for factor in FACTORS:
            null = run.get("paths", {}).get(f"straight_{factor}", {}).get("null")
            if null:
                judged.setdefault(factor, []).append(null)
    if not judged:
        return None
    n_random = max(v["n_random"] for values in judged.values() for v in values)
    passed = {f: sum(bool(v["meaningful"]) for v in values) for f, values in judged.items()}
    parts = [
        f"{f} in {passed[f]} of {len(values)} seed{'s' if len(values) > 1 else ''} "
        f"(selectivity {_fmt(float(np.mean([v['selectivity'] for v in values])), 2)} against "
        f"{_fmt(float(np.mean([v['random_selectivity']['0.95'] for v in values])), 2)} for the 95th "
        "percentile of random directions)"
        for f, values in judged.items()
    ]
    if all(passed[f] == len(values) for f, values in judged.items()) and len(judged) == len(FACTORS):
        verdict = "so these directions are meaningful, as the study concluded"
    elif any(passed.values()):
        verdict = "so these directions are only partly meaningful here"
    else:
        verdict = "so these directions change their factor no more selectively than random ones"
    return (
        f"Against {n_random} random directions of the same length through the same point, the intended "
        "factor's share of what changes beats chance (p ≤ 0.05) for " + _join(parts) + f"; {verdict}."
    )


def _directions(numbers: _Numbers, dataset: str, model: str) -> list[str]:
    runs = numbers.runs(dataset, model)
    out = []
    if runs:
        per_seed = [
            _strongest_axes(run) + (f" (seed {run['seed']})" if len(runs) > 1 else "") for run in runs
        ]
        out.append(
            f"In {_name(model, 'vae')} trained on {dataset}, the code axis most correlated with each factor "
            "is: " + "; ".join(per_seed) + "."
        )
    r2 = {f: numbers.metric(dataset, model, f"regression.{f}_linear_r2") for f in FACTORS}
    if any(v is not None for v in r2.values()):
        out.append(
            "A linear read-out of the mean code recovers "
            + _join([f"R² = {_fmt(v, 2)} of {f}" for f, v in r2.items() if v is not None])
            + f" on the test images ({_seeds_note(numbers.n_seeds(dataset, model))})."
        )
    rho = {
        f: numbers.explored(dataset, model, "paths", f"straight_{f}", "decoded_factor_spearman", f)
        for f in FACTORS
    }
    known = {f: v for f, v in rho.items() if v is not None}
    if known:
        out.append(
            "Decoding points along the fitted direction of each factor, the factor measured on the generated "
            "heatmaps (from their second moments) follows the path: Spearman ρ = "
            + _join([f"{_fmt(v, 2)} for {f}" for f, v in known.items()])
            + " (any smooth decoder changes something monotonically along a short segment, so ρ alone "
            "proves little)."
        )
    null = _direction_null(runs)
    if null:
        out.append(null)
    mig = numbers.metric(dataset, model, "mig")
    dci = numbers.metric(dataset, model, "dci.disentanglement")
    if mig is not None:
        alignment = (
            "largely aligned with single axes"
            if mig >= 0.5
            else "partly aligned with single axes"
            if mig >= 0.2
            else "mostly spread over several axes, i.e. the meaningful directions are oblique"
        )
        extra = f", DCI disentanglement {_fmt(dci, 2)}" if dci is not None else ""
        out.append(f"The factors are {alignment} (MIG {_fmt(mig, 2)}{extra}).")
    return out


def _shape(numbers: _Numbers, dataset: str, model: str, kind: str) -> list[str]:
    runs = numbers.runs(dataset, model)
    if not runs:
        return []
    std = np.mean([run["code_std"] for run in runs], axis=0)
    ratios = np.mean([run["pca_explained_variance_ratio"] for run in runs], axis=0)
    body = (
        "a solid body that fills all its dimensions"
        if len(ratios) and ratios[-1] >= 0.05
        else "close to a surface: its last principal direction holds under 5% of the variance"
    )
    low, high = _fmt(float(std.min()), 2), _fmt(float(std.max()), 2)
    spread = low if low == high else f"{low}–{high}"
    out = [
        f"The mean codes of {_name(model, kind)} on {dataset} spread {spread} "
        "(standard deviation per axis); their principal directions hold "
        + _join([_share(r) for r in ratios])
        + f" of the variance: {body}."
    ]
    layout = numbers.explored(dataset, model, "isovariance_layout_spearman")
    strip_cor = numbers.explored(dataset, model, "paths", "isovariance", "decoded_factor_spearman", "cor")
    if layout is not None:
        sentence = (
            "Images with equal variances sit on a strip through the cloud, and codes lie farther from it the "
            "more the two variances differ"
            if layout > 0.3
            else "The codes of images with equal variances form a strip, but a code's distance from it "
            "hardly tracks how much the two variances differ"
        )
        sentence += f" (Spearman ρ = {_fmt(layout, 2)} between that distance and |var_x − var_y|)"
        if strip_cor is not None:
            # The strip is binned along a code axis whose sign is arbitrary: falling is as monotone as rising.
            follows = "changes monotonically" if abs(strip_cor) >= 0.8 else "follows only loosely"
            sentence += f"; along the strip the decoded correlation {follows} (ρ = {_fmt(strip_cor, 2)})"
        out.append(sentence + ".")
    share = numbers.explored(dataset, model, "empty_space", "share")
    if share is not None:
        out.append(
            f"{_share(share)} of the volume inside the codes' convex hull is farther from every code than "
            "95% of the codes are from their nearest neighbour (about 5% for codes spread evenly)."
        )
    return out


def _name(model: str, kind: str) -> str:
    """ "the VAE" for a model named after its kind (the default config), else "the VAE 'name'"."""
    return f"the {kind.upper()}" if model == kind else f"the {kind.upper()} '{model}'"


def _than(a: float, b: float, lower: str, higher: str, same: str, tolerance: float) -> str:
    """`lower` when a < b, `higher` when a > b, `same` when they differ by at most `tolerance`."""
    if abs(a - b) <= tolerance:
        return same
    return lower if a < b else higher


def _differences(numbers: _Numbers, dataset: str, vae: str, ae: str) -> list[str]:
    out = []
    family = numbers.family(dataset)
    the_vae, the_ae = _name(vae, "vae"), _name(ae, "ae")
    metric = "frobenius_sample.mean"
    v, a = numbers.metric(dataset, vae, metric), numbers.metric(dataset, ae, metric)
    if v is not None and a is not None:
        how = _than(a, v, "better than", "worse than", "about as well as", 0.005 * max(a, v))
        sentence = (
            f"On {dataset}, {the_ae} reconstructs test images {how} {the_vae} on average: mean Frobenius "
            f"error {_fmt(a)} vs {_fmt(v)}"
        )
        nb_a, nb_v = numbers.notebook(family, "ae", metric), numbers.notebook(family, "vae", metric)
        if nb_a is not None and nb_v is not None:
            sentence += f" (the notebook: {_fmt(nb_a)} vs {_fmt(nb_v)})"
        pair = numbers.pair(dataset, vae, ae, metric)
        if pair is not None and pair["n_pairs"] > 1 and math.isfinite(pair["diff_ci_low"]):
            sentence += (
                f"; VAE − AE = {_fmt(pair['diff_mean'])}, 95% interval [{_fmt(pair['diff_ci_low'])}, "
                f"{_fmt(pair['diff_ci_high'])}] over {int(pair['n_pairs'])} seeds"
            )
        out.append(sentence + ".")
        tails = {}
        for model in (vae, ae):
            p95, median = (numbers.metric(dataset, model, f"frobenius_sample.{q}") for q in ("p95", "median"))
            if p95 is not None and median:
                tails[model] = p95 / median
        if len(tails) == 2:
            how = _than(tails[ae], tails[vae], "less", "more", "about as", 0.02)
            out.append(
                f"The errors of {the_ae} are {how} heavy-tailed {'as' if how == 'about as' else 'than'} "
                f"{the_vae}'s: 95th percentile over median {_fmt(tails[ae], 2)} vs {_fmt(tails[vae], 2)}."
            )
    share = {m: numbers.explored(dataset, m, "empty_space", "share") for m in (vae, ae)}
    if None not in share.values():
        how = _than(share[ae], share[vae], "less", "more", "about as much", 0.01)
        than = "as" if how == "about as much" else "than"
        out.append(
            f"The code of {the_ae} leaves {how} of its hull empty {than} {the_vae}'s: {_share(share[ae])} vs "
            f"{_share(share[vae])}."
        )
    far = {
        m: numbers.explored(dataset, m, "decoded_hull", "nearest_image_distance", "median") for m in (vae, ae)
    }
    if None not in far.values():
        verdict = (
            "the AE's empty regions decode to images unlike the data, as the study found"
            if far[ae] > 1.2 * far[vae]
            else "here the AE's hull decodes to data-like images about as well as the VAE's"
            if far[ae] >= far[vae] / 1.2
            else "here the VAE's hull decodes to less data-like images than the AE's"
        )
        out.append(
            "Random points inside the hull of the codes decode to images whose nearest real heatmap is a "
            f"median {_fmt(far[ae])} away for {the_ae} and {_fmt(far[vae])} for {the_vae}: {verdict}."
        )
    accuracy = {m: numbers.metric(dataset, m, "knn_df.fixed_k.test_accuracy") for m in (vae, ae)}
    if None not in accuracy.values():
        f1 = {m: numbers.metric(dataset, m, "knn_df.fixed_k.test_f1") for m in (vae, ae)}
        how = _than(accuracy[ae], accuracy[vae], "worse than", "better than", "about as well as", 0.02)
        # The k the probe used (the config's `evaluation.fixed_k`), as its JSON recorded it.
        k = numbers.metric(dataset, ae, "knn_df.fixed_k.k_used")
        classifier = f"{int(k)}-nearest-neighbour" if k is not None else "k-nearest-neighbour"
        sentence = (
            f"On {dataset}, a {classifier} classifier reads the hidden df off the code of {the_ae} "
            f"{how} off {the_vae}'s: test accuracy {_fmt(accuracy[ae])} vs {_fmt(accuracy[vae])}, "
            f"F1 {_fmt(f1[ae])} vs {_fmt(f1[vae])}"
        )
        nb_a = numbers.notebook(family, "ae", "knn_df.fixed_k.test_accuracy")
        nb_v = numbers.notebook(family, "vae", "knn_df.fixed_k.test_accuracy")
        if nb_a is not None and nb_v is not None:
            sentence += f" (the notebook: {_fmt(nb_a)} vs {_fmt(nb_v)})"
        out.append(sentence + ".")
        knowable = _knowable_df(numbers, dataset, vae, ae, accuracy)
        if knowable:
            out.append(knowable)
    out.extend(_claim_verdicts(numbers, dataset, vae, ae))
    return out


def _knowable_df(
    numbers: _Numbers, dataset: str, vae: str, ae: str, accuracy: Mapping[str, float]
) -> str | None:
    """The codes' df accuracy beside what the true factors make knowable (`knn_df.bayes.*`,
    `knn_df.true_factors.*`: properties of the dataset, the same in every run on it), and the share of the
    knowable margin over the majority class that each code recovers. None where the runs have neither."""

    def dataset_metric(metric: str) -> float | None:
        found = [numbers.metric(dataset, m, metric) for m in (vae, ae)]
        return next((v for v in found if v is not None), None)

    bayes = dataset_metric("knn_df.bayes.test_accuracy")
    realised = dataset_metric("knn_df.bayes.test_accuracy_realised")
    factors = dataset_metric("knn_df.true_factors.fixed_k.test_accuracy")
    if bayes is None and factors is None:
        return None
    parts = []
    if bayes is not None:
        part = f"the df rule's Bayes accuracy from the true variances is {_fmt(bayes)} on the test rows"
        if realised is not None:
            part += f" ({_fmt(realised)} on their drawn labels)"
        parts.append(part)
    if factors is not None:
        parts.append(f"the same classifier on the true (var_x, var_y, cor) scores {_fmt(factors)}")
    sentence = "What the factors make knowable: " + _join(parts)
    positive = dataset_metric("knn_df.test_positive_rate")
    if bayes is not None and positive is not None:
        chance = max(positive, 1.0 - positive)
        if bayes - chance > 0.01:
            shares = {m: (accuracy[m] - chance) / (bayes - chance) for m in (ae, vae)}
            sentence += (
                f"; above the majority class ({_fmt(chance)}), the codes of {_name(ae, 'ae')} and "
                f"{_name(vae, 'vae')} recover {_share(shares[ae])} and {_share(shares[vae])} of the "
                f"{_fmt(bayes - chance)} that the variances make knowable"
            )
            if max(shares.values()) > 1:
                sentence += ": more than the variances allow, so a code holds df beyond them (the tails)"
    return sentence + "."


def _claim_verdicts(numbers: _Numbers, dataset: str, vae: str, ae: str) -> list[str]:
    """The notebook's claims as paired tests over seeds (`evaluation.CLAIMS`: the paired table's rows with a
    `claim`), with their verdicts."""
    out = []
    if "claim" not in numbers.paired:
        return out
    rows = numbers.paired[
        (numbers.paired["dataset"] == dataset)
        & (numbers.paired["vae_model"] == vae)
        & (numbers.paired["ae_model"] == ae)
        & numbers.paired["claim"].notna()
    ]
    for _, pair in rows.iterrows():
        p_value = pair["p_value"]
        test = f"{pair['test']}, p = {_fmt(p_value, 3)}" if math.isfinite(p_value) else pair["test"]
        interval = (
            f", 95% interval [{_fmt(pair['diff_ci_low'])}, {_fmt(pair['diff_ci_high'])}]"
            if math.isfinite(pair["diff_ci_low"])
            else ""
        )
        seeds = f"{int(pair['n_pairs'])} paired seed{'s' if pair['n_pairs'] > 1 else ''}"
        out.append(
            f"Claim: {pair['claim']}. Over {seeds}, VAE − AE = {_fmt(pair['diff_mean'])}{interval} "
            f"({test}): {pair['verdict']}."
        )
    return out


def answer_questions(
    summary: pd.DataFrame, paired: pd.DataFrame, comparison: pd.DataFrame, explorations: list[dict]
) -> list[tuple[str, list[tuple[str, list[str]]]]]:
    """The study's three questions, each answered per dataset by sentences written from the numbers.

    Returns (question, [(dataset, sentences)]), plain text; a dataset with nothing to say is left out.
    """
    numbers = _Numbers(summary, paired, comparison, explorations)
    datasets = sorted(summary["dataset"].unique()) if len(summary) else []
    answers: dict[str, list[tuple[str, list[str]]]] = {
        "Which directions in the VAE's latent space are meaningful?": [],
        "What shape does the manifold of codes have?": [],
        "How does the autoencoder differ?": [],
    }
    directions, shape, differences = answers.values()
    for dataset in datasets:
        vaes, aes = numbers.models(dataset, "vae"), numbers.models(dataset, "ae")
        said: list[list[str]] = [[], [], []]
        for vae in vaes:
            said[0] += _directions(numbers, dataset, vae)
            said[1] += _shape(numbers, dataset, vae, "vae")
        for ae in aes:
            said[1] += _shape(numbers, dataset, ae, "ae")
            for vae in vaes:
                said[2] += _differences(numbers, dataset, vae, ae)
        for per_dataset, sentences in zip((directions, shape, differences), said, strict=True):
            per_dataset.append((dataset, sentences))
    return [
        (question, [(d, sentences) for d, sentences in per_dataset if sentences])
        for question, per_dataset in answers.items()
    ]


# --- HTML ------------------------------------------------------------------------------------------------

_STYLE = """
body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; margin: 0 auto;
       max-width: 1180px; padding: 0 1.5em 3em; color: #1d1d1f; line-height: 1.45; }
h1 { margin-top: 1em; } h2 { border-bottom: 1px solid #ccc; padding-bottom: .2em; margin-top: 2em; }
nav ul { columns: 2; } code, pre { background: #f4f4f6; border-radius: 3px; }
pre { padding: .8em; overflow-x: auto; font-size: 85%; } code { padding: 0 .2em; }
table { border-collapse: collapse; font-size: 85%; margin: .8em 0; }
th, td { border: 1px solid #d8d8dc; padding: .25em .5em; text-align: left; vertical-align: top; }
th { background: #f0f0f3; } td.num { text-align: right; font-variant-numeric: tabular-nums; }
tr.within td.verdict { color: #1a7f37; } tr.outside td.verdict { color: #c62828; font-weight: 600; }
figure { margin: 1.5em 0; padding-bottom: 1em; border-bottom: 1px dashed #ddd; }
figure img { max-width: 100%; height: auto; display: block; }
figcaption { font-size: 92%; margin-top: .4em; } figcaption .path { color: #777; font-size: 85%; }
.plot { width: 100%; height: 640px; }
.answers li { margin-bottom: .4em; } .scroll { overflow-x: auto; }
"""


def _table(
    frame: pd.DataFrame, classes: Sequence[str] | None = None, cell_classes: Mapping[str, str] | None = None
) -> str:
    """An escaped HTML table; numbers right-aligned and rounded, missing values as a dash."""
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in frame.columns)
    rows = []
    for i, (_, row) in enumerate(frame.iterrows()):
        cells = []
        for column, value in row.items():
            numeric = isinstance(value, int | float | np.integer | np.floating) and not isinstance(
                value, bool
            )
            css = ["num"] if numeric else []
            if cell_classes and column in cell_classes:
                css.append(cell_classes[column])
            text = _fmt(value) if numeric else ("–" if value is None else str(value))
            attr = f' class="{" ".join(css)}"' if css else ""
            cells.append(f"<td{attr}>{html.escape(text)}</td>")
        row_class = f' class="{html.escape(classes[i])}"' if classes else ""
        rows.append(f"<tr{row_class}>{''.join(cells)}</tr>")
    body = "".join(rows)
    return f'<div class="scroll"><table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table></div>'


def _comparison_table(comparison: pd.DataFrame) -> str:
    columns = [
        "study",
        "quantity",
        "dataset",
        "model",
        "expected_value",
        "ours_mean",
        "ours_min",
        "ours_max",
        "ours_sd",
        "ours_ci_low",
        "ours_ci_high",
        "in_seed_range",
        "n_seeds",
        "tolerance_mode",
        "tolerance",
        "verdict",
        "note",
    ]
    frame = comparison[[c for c in columns if c in comparison.columns]]
    verdicts = [str(v) for v in comparison.get("verdict", pd.Series([""] * len(comparison)))]
    return _table(
        frame.astype(object).where(frame.notna(), None), classes=verdicts, cell_classes={"verdict": "verdict"}
    )


def _replicate_table(summaries: Sequence[Mapping[str, Any]]) -> str:
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
    return _table(pd.DataFrame(rows).astype(object))


def _summary_table(summary: pd.DataFrame) -> str:
    """Metrics as rows, dataset/model as columns: the mean (± the std over seeds when there are several)."""
    if summary.empty:
        return "<p>No metrics.</p>"
    cells = summary.assign(
        column=summary["dataset"] + " / " + summary["model"],
        text=[
            _fmt(m) + (f" ± {_fmt(s)}" if isinstance(s, float) and math.isfinite(s) else "")
            for m, s in zip(summary["mean"], summary["std"], strict=True)
        ],
    )
    pivot = cells.pivot(index="metric", columns="column", values="text").fillna("–")
    pivot = pivot.reset_index()
    return _table(pivot.astype(object))


def _manifold_table(summary: pd.DataFrame) -> str:
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
            row[title] = _fmt(mean) + (f" ± {_fmt(std)}" if math.isfinite(std) else "")
        rows.append(row)
    return _table(pd.DataFrame(rows).astype(object))


def _geometry_table(explorations: list[dict]) -> str:
    rows = []
    for run in sorted(explorations, key=lambda e: (e["dataset"], e["model"], e["seed"])):
        paths = run.get("paths", {})
        row = {
            "dataset": run["dataset"],
            "model": run["model"],
            "seed": run["seed"],
            "empty share": run["empty_space"]["share"],
            "hull → nearest image (median)": run["decoded_hull"]["nearest_image_distance"]["median"],
            "test error from z_mean (median)": run["decoded_hull"]["test_reconstruction_error"]["median"],
            "code std": ", ".join(_fmt(v, 2) for v in run["code_std"]),
            "PCA variance": ", ".join(_share(v) for v in run["pca_explained_variance_ratio"]),
        }
        for factor in FACTORS:
            rho = paths.get(f"straight_{factor}", {}).get("decoded_factor_spearman", {}).get(factor)
            row[f"ρ along {factor} path"] = rho if rho is not None else math.nan
        row["strip layout ρ"] = (
            run["isovariance_layout_spearman"]
            if run.get("isovariance_layout_spearman") is not None
            else math.nan
        )
        rows.append(row)
    if not rows:
        return "<p>No exploration summaries.</p>"
    return _table(pd.DataFrame(rows).astype(object))


#: PNGs larger than this are embedded with a 256-colour palette (the file beside keeps every colour):
#: the decoded-path grids are 1-1.5 MB in full colour and a third of that in a palette, so the page stays
#: small and opens faster.
PALETTE_ABOVE_BYTES = 200_000


def embedded_png(path: Path) -> tuple[bytes, bool]:
    """The bytes the report embeds for a PNG, and whether they were palette-reduced (Pillow's median-cut
    quantisation to 256 colours, deterministic; kept only where it is smaller)."""
    data = path.read_bytes()
    if len(data) <= PALETTE_ABOVE_BYTES:
        return data, False
    import io

    from PIL import Image

    with reading(path), Image.open(io.BytesIO(data)) as image:
        reduced = image.convert("RGB").quantize(colors=256, method=Image.Quantize.MEDIANCUT)
    out = io.BytesIO()
    reduced.save(out, format="PNG", optimize=True)
    return (out.getvalue(), True) if len(out.getvalue()) < len(data) else (data, False)


def _figure_html(index: int, path: Path, caption: str) -> str:
    suffix = path.suffix.lower()
    note = ""
    if suffix in IMAGE_TYPES:
        raw, reduced = embedded_png(path) if suffix == ".png" else (path.read_bytes(), False)
        note = "; embedded in 256 colours" if reduced else ""
        data = base64.b64encode(raw).decode("ascii")
        body = f'<img src="data:{IMAGE_TYPES[suffix]};base64,{data}" alt="{html.escape(path.name)}">'
    elif suffix == ".json":
        import plotly.io as pio

        with reading(path):
            figure = pio.from_json(path.read_text(encoding="utf-8"))
        # No plotly.js here: the page loads it once, in its head. A fixed id keeps the file reproducible.
        body = pio.to_html(
            figure,
            full_html=False,
            include_plotlyjs=False,
            div_id=f"plotly-figure-{index}",
            default_width="100%",
            default_height="640px",
            config={"displaylogo": False},
        )
        body = f'<div class="plot">{body}</div>'
    else:
        raise ValueError(
            f"{path}: cannot embed {suffix or 'a file without suffix'}; give a PNG or a plotly JSON"
        )
    return (
        f'<figure id="figure-{index}">{body}<figcaption>{_caption_html(caption)} '
        f'<span class="path">({html.escape(str(path))}{note})</span></figcaption></figure>'
    )


def _figure_link(path: Path, caption: str, page_dir: Path) -> str:
    """A linked figure: its caption and a link relative to the page (an interactive view links to its
    standalone HTML beside the JSON, which opens offline by itself)."""
    target = path.with_suffix(".html") if path.suffix.lower() == ".json" else path
    if not target.exists():
        target = path
    href = Path(os.path.relpath(Path(target).absolute(), Path(page_dir).absolute())).as_posix()
    return (
        f'<p class="linked"><a href="{html.escape(href)}">{html.escape(target.name)}</a>: '
        f"{_caption_html(caption)}</p>"
    )


def git_commit(source_dir: str | Path | None) -> str:
    """The commit of the source checkout (`git rev-parse HEAD`), marked when it has uncommitted changes;
    "unknown" outside a git checkout or without git."""
    if source_dir is None:
        return "unknown"

    def git(*args: str) -> str:
        return subprocess.run(
            ["git", *args], cwd=source_dir, capture_output=True, text=True, timeout=30, check=True
        ).stdout.strip()

    try:
        commit = git("rev-parse", "HEAD")
        dirty = git("status", "--porcelain", "--untracked-files=no")
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return f"{commit} (with uncommitted changes)" if dirty else commit or "unknown"


def _seeds(config: Mapping[str, Any]) -> dict[str, Any]:
    seeds: dict[str, Any] = {
        "study (probes, metrics)": config.get("seed"),
        "training": config.get("training", {}).get("seeds"),
    }
    for name, dataset in config.get("datasets", {}).items():
        seeds[f"{name}: split"] = dataset.get("split", {}).get("seed")
        if "df_rule" in dataset:
            seeds[f"{name}: df labels"] = dataset["df_rule"].get("seed")
    sample = config.get("figures", {}).get("sample_heatmaps", {})
    if "seed" in sample:
        seeds["sample heatmaps figure"] = sample["seed"]
    seeds["exploration figures"] = "the training seed of each model"
    return seeds


def _key_value_table(items: Mapping[str, Any]) -> str:
    frame = pd.DataFrame(
        {"": list(items), "value": [json.dumps(v) if isinstance(v, list) else v for v in items.values()]}
    )
    return _table(frame.astype(object))


#: Dataset families of the heatmap kind: the runs seed 000's questions are about.
HEATMAP_FAMILIES = ("gaussian", "student_t")


def _studies(config: Mapping[str, Any], summary: pd.DataFrame) -> dict[str, dict[str, list[str]]]:
    """{study: {datasets, models}} of the config; one study of every run when the config names none."""
    given = config.get("studies") or {}
    if given:
        return {
            name: {"datasets": list(s["datasets"]), "models": list(s["models"])} for name, s in given.items()
        }
    columns = ("dataset", "model")
    return {"study": {f"{c}s": sorted(summary[c].unique()) if len(summary) else [] for c in columns}}


def build_report(
    output_html: str | Path,
    figures: Sequence[Figure],
    summary_tsv: str | Path,
    comparison_tsv: str | Path,
    paired_tsv: str | Path,
    explorations: Sequence[str | Path],
    config: Mapping[str, Any],
    source_dir: str | Path | None = None,
    title: str = "How a VAE and an autoencoder organise their latent space",
    replicate_summaries: Sequence[str | Path] = (),
) -> None:
    """Write the report as one self-contained HTML file.

    `figures` holds (path, caption, section) in display order: PNGs (embedded as data URIs) and plotly
    figure JSONs (drawn inline; plotly.js is included once). The tables are the aggregation's TSVs,
    `explorations` the `explore.explore_latents` summaries, `config` the resolved study config, and
    `source_dir` the checkout whose git commit the provenance names.
    """
    summary = read_table(summary_tsv)
    comparison = read_table(comparison_tsv)
    paired = read_table(paired_tsv)
    runs = [read_json(p) for p in explorations]
    studies = _studies(config, summary)
    replicates = []
    for path in replicate_summaries:
        found = read_json(path)
        replicates.append({**found, "dataset": found["replicates"][0]["dataset"]})
    # The questions are seed 000's, about heatmaps: only those datasets are answered.
    heatmaps = summary[summary["family"].isin(HEATMAP_FAMILIES)] if len(summary) else summary
    answers = answer_questions(heatmaps, paired, comparison, runs)

    sections = list(dict.fromkeys(figure[2] for figure in figures))
    anchors = {s: f"figures-{i}" for i, s in enumerate(sections)}
    toc = [(f"study-{name}", f"Study {name}") for name in studies]
    toc += [(anchors[s], s) for s in sections]
    toc += [("metrics", "Metric tables"), ("provenance", "Provenance")]

    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{html.escape(title)}</title><style>{_STYLE}</style>",
    ]
    drawn = [f for f in figures if tuple(f[3:]) in ((), ("inline",))]
    if any(Path(f[0]).suffix.lower() == ".json" for f in drawn):
        from plotly.offline import get_plotlyjs

        parts.append(f'<script type="text/javascript">{get_plotlyjs()}</script>')
    parts.append("</head><body>")
    parts.append(f"<h1>{html.escape(title)}</h1>")
    parts.append(
        "<p>A chapter per study: the heatmap study's questions answered from this run's numbers, each "
        "source's printed numbers beside ours, and the study's metrics; then every figure, the metric "
        "tables and the provenance. This file opens offline: it draws the figures of each model's first "
        "training seed and links those of the other seeds, files beside it in results/figures/.</p>"
    )
    parts.append(
        "<nav><ul>" + "".join(f'<li><a href="#{a}">{html.escape(t)}</a></li>' for a, t in toc) + "</ul></nav>"
    )

    answered = False
    for name, spec in studies.items():
        own = summary[summary["dataset"].isin(spec["datasets"]) & summary["model"].isin(spec["models"])]
        parts.append(f'<section id="study-{html.escape(name)}"><h2>Study {html.escape(name)}</h2>')
        parts.append(
            f"<p>Datasets {html.escape(', '.join(spec['datasets']))}; models "
            f"{html.escape(', '.join(spec['models']))}.</p>"
        )
        if not answered and set(spec["datasets"]) & set(heatmaps["dataset"] if len(heatmaps) else ()):
            answered = True  # one chapter answers seed 000's questions (and holds the #answers anchor)
            parts.append('<div id="answers"><h3>Answers</h3>')
            for question, per_dataset in answers:
                parts.append(f"<h4>{html.escape(question)}</h4>")
                if not per_dataset:
                    parts.append("<p>No run of this kind in the study.</p>")
                for dataset, sentences in per_dataset:
                    parts.append(f'<h5>{html.escape(dataset)}</h5><ul class="answers">')
                    parts += [f"<li>{html.escape(s)}</li>" for s in sentences]
                    parts.append("</ul>")
            parts.append("</div>")
        rows = (
            comparison[comparison["study"] == name] if "study" in comparison.columns else comparison.iloc[:0]
        )
        # The first chapter's comparison keeps the anchor the report has always had.
        anchor = ' id="comparison"' if name == next(iter(studies)) else ""
        parts.append(f"<h3{anchor}>Our numbers beside the source's</h3>")
        if len(rows):
            parts.append(
                "<p>Each number the source printed, beside ours (the mean over training seeds, with the "
                "range), and whether it lies within the tolerance.</p>"
            )
            parts.append(_comparison_table(rows))
        else:
            parts.append("<p>The source printed no number that a metric of ours measures.</p>")
        replicated = [
            r for r in replicates if r["dataset"] in spec["datasets"] and r["model"] in spec["models"]
        ]
        if replicated:
            parts.append("<h3>Generated values over replicates (median and quartiles)</h3>")
            parts.append(_replicate_table(replicated))
        toy = own[own["family"] == "toy_manifold"] if len(own) else own
        if len(toy) and toy["metric"].eq("test.mse_over_projection_floor").any():
            parts.append("<h3>Toy manifold: the squared error over both floors (held-out points)</h3>")
            parts.append(
                "<p>The projection floor sd^2 is the error of projecting each noisy point onto its true "
                "curve, the lowest a reconstruction on the curves can reach; the clean floor 2 sd^2 that of "
                "returning the clean points. A 1-d code must cut a closed curve: the torn share is the share "
                "of its points reconstructed more than 3 sd from their own place on it.</p>"
            )
            parts.append(_manifold_table(toy))
        parts.append("<h3>Every metric (mean over training seeds ± standard deviation)</h3>")
        parts.append(_summary_table(own))
        parts.append("</section>")

    for index, (path, caption, section, *mode) in enumerate(figures):
        if index == 0 or figures[index - 1][2] != section:
            if index:
                parts.append("</section>")
            parts.append(f'<section id="{anchors[section]}"><h2>{html.escape(section)}</h2>')
        if mode and mode[0] == "link":
            parts.append(_figure_link(Path(path), caption, Path(output_html).parent))
        elif mode and mode[0] != "inline":
            raise ValueError(f"{path}: figure mode must be 'inline' or 'link'; got {mode[0]!r}")
        else:
            parts.append(_figure_html(index, Path(path), caption))
    if figures:
        parts.append("</section>")

    parts.append('<section id="metrics"><h2>Metric tables</h2>')
    parts.append("<h3>Latent geometry (exploration summaries)</h3>")
    parts.append(
        "<p>Per run: the share of the codes' hull far from every code, how far decoded random hull points "
        "are from the nearest real heatmap (beside the test reconstruction error, for scale), the spread of "
        "the codes, and Spearman's ρ of each factor measured on the decoded images along its path.</p>"
    )
    parts.append(_geometry_table(runs))
    parts.append("<h3>VAE minus AE, paired by training seed</h3>")
    paired_columns = [
        "dataset",
        "vae_model",
        "ae_model",
        "metric",
        "n_pairs",
        "vae_mean",
        "ae_mean",
        "diff_mean",
        "diff_ci_low",
        "diff_ci_high",
    ]
    shown = paired[[c for c in paired_columns if c in paired.columns]]
    parts.append(_table(shown.astype(object).where(shown.notna(), None)))
    parts.append("</section>")

    versions = library_versions(extra=REPORT_LIBRARIES)
    parts.append('<section id="provenance"><h2>Provenance</h2>')
    parts.append(f"<p>Source commit: <code>{html.escape(git_commit(source_dir))}</code></p>")
    parts.append("<h3>Seeds</h3>" + _key_value_table(_seeds(config)))
    parts.append("<h3>Library versions</h3>" + _key_value_table(versions))
    parts.append("<h3>Resolved config</h3>")
    parts.append(f"<pre>{html.escape(yaml.safe_dump(_plain(config), sort_keys=False))}</pre>")
    parts.append("</section></body></html>")

    with atomic_path(output_html) as tmp:
        tmp.write_text("\n".join(parts) + "\n", encoding="utf-8")
    logger.info("wrote %s: %d figures, %d exploration summaries", output_html, len(figures), len(runs))


def _plain(node: Any) -> Any:
    """Snakemake's config is made of its own mapping types; plain dicts and lists for YAML."""
    if isinstance(node, Mapping):
        return {str(k): _plain(v) for k, v in node.items()}
    if isinstance(node, list | tuple):
        return [_plain(v) for v in node]
    return node
