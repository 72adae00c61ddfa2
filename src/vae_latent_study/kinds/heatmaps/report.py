"""Seed 000's chapter of the report: the source's three questions (directions in the VAE's code, the shape
of the manifold, how the AE differs) answered in sentences written from the metric tables, the paired
claims and the exploration summaries rather than fixed text; and the latent geometry table.

The page (`report.page`) finds it by name (`report.chapter`) and hands it what it read.
"""

from __future__ import annotations

import html
import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from vae_latent_study.report.cards import (
    Card,
    count_verdict,
    not_measured,
    source_card,
    tolerance_text,
    within_tolerance,
)
from vae_latent_study.report.cards import Numbers as CardNumbers
from vae_latent_study.report.chapter import ReportInputs, StudyPart
from vae_latent_study.report.markup import fmt_number as _fmt
from vae_latent_study.report.markup import fmt_share as _share
from vae_latent_study.report.markup import html_table
from vae_latent_study.report.markup import join_words as _join
from vae_latent_study.report.markup import mean_of as _mean

#: The factors whose directions the answers describe.
FACTORS = ("var_x", "var_y", "cor")

#: The questions of the source's study (seed 000's notebook, its introduction and conclusions), answered in
#: this order: the directions in the VAE's code, the shape of the manifold of codes, the AE's difference.
QUESTIONS = (
    "Which directions in the VAE's latent space are meaningful?",
    "What shape does the manifold of codes have?",
    "How does the autoencoder differ?",
)


def chapter(inputs: ReportInputs, part: StudyPart) -> list[str]:
    """The answers, once per page (in the first study with heatmap datasets, which holds the `#answers`
    anchor): every heatmap dataset of the config, every VAE and AE the summary has on it."""
    if not part.first:
        return []
    summary = inputs.summary
    heatmaps = summary[summary["dataset"].isin(inputs.datasets_of("heatmaps"))] if len(summary) else summary
    parts = ['<div id="answers"><h3>Answers</h3>']
    for question, per_dataset in answer_questions(
        heatmaps, inputs.paired, inputs.comparison, inputs.explorations
    ):
        parts.append(f"<h4>{html.escape(question)}</h4>")
        if not per_dataset:
            parts.append("<p>No run of this kind in the study.</p>")
        for dataset, sentences in per_dataset:
            parts.append(f'<h5>{html.escape(dataset)}</h5><ul class="answers">')
            parts += [f"<li>{html.escape(s)}</li>" for s in sentences]
            parts.append("</ul>")
    parts.append("</div>")
    return parts


def metric_tables(inputs: ReportInputs, datasets: Sequence[str]) -> list[str]:
    """The latent geometry of every exploration summary of `datasets`."""
    runs = [run for run in inputs.explorations if run["dataset"] in set(datasets)]
    return [
        "<h3>Latent geometry (exploration summaries)</h3>",
        "<p>Per run: the share of the codes' hull far from every code, how far decoded random hull points "
        "are from the nearest real heatmap (beside the test reconstruction error, for scale), the spread of "
        "the codes, and Spearman's ρ of each factor measured on the decoded images along its path.</p>",
        geometry_table(runs),
    ]


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
    """The notebook's claims as paired tests over seeds (the paired table's rows with a `claim`: the claims of
    config/expected/heatmaps.yaml), with their verdicts."""
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
    """The source's three questions (`QUESTIONS`), each answered per dataset by sentences written from the
    numbers.

    Returns (question, [(dataset, sentences)]), plain text; a dataset with nothing to say is left out.
    """
    numbers = _Numbers(summary, paired, comparison, explorations)
    datasets = sorted(summary["dataset"].unique()) if len(summary) else []
    answers: dict[str, list[tuple[str, list[str]]]] = {question: [] for question in QUESTIONS}
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


def geometry_table(explorations: list[dict]) -> str:
    """Per exploration summary: the code's empty share, the decoded hull's distance to the data, the code's
    spread and the decoded factors' ρ along their paths."""
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
    return html_table(pd.DataFrame(rows).astype(object))


# --- the first section's cards ---------------------------------------------------------------------------

#: The notebook's conclusion that the cards judge, its metric, and the probe it printed.
ERROR_QUESTION = (
    "Does the AE reconstruct test images better than the VAE? (the notebook's conclusion; its mean test "
    "Frobenius errors)"
)
ERROR_METRIC = "frobenius_sample.mean"
KNN_QUESTION = "Can the hidden degrees of freedom be read off the code? (KNN probe at k = 13, test accuracy)"
KNN_METRICS = ("knn_df.fixed_k.test_accuracy",)
TRANSFER_QUESTION = (
    "Does conditioning the VAE on df let it move an image's tails to the other df? (seed 003's style "
    "transfer, on seed 000's Student-t heatmaps)"
)
#: A transfer moves as asked when more than this share of its images move towards the target's tails, and
#: lands near the truth when its mean tail change is this close (as a share of the true change) to 1.
MOVED_SHARE = 0.5
SHIFT_BAND = (0.5, 1.5)


def cards(inputs: ReportInputs, part: StudyPart) -> list[Card]:
    """The study's headline cards: where it has a plain VAE and AE, the notebook's reconstruction claim and
    its KNN df probe; for each df-conditioned model, its style transfer between tails."""
    numbers = CardNumbers(inputs)
    plain = [m for m in part.models if not numbers.conditional(m)]
    vaes = [m for m in plain if numbers.model_kind(m) == "vae"]
    aes = [m for m in plain if numbers.model_kind(m) == "ae"]
    out: list[Card] = []
    if vaes and aes:
        out.append(_error_card(numbers, part, vaes, aes))
        out.append(
            source_card(
                numbers,
                part.study,
                KNN_QUESTION,
                KNN_METRICS,
                truth=_bayes_text(numbers, part),
                labels=dict.fromkeys(KNN_METRICS, "test accuracy"),
            )
        )
    conditional = [m for m in part.models if numbers.conditional(m)]
    if not (vaes and aes) and not conditional:
        out.append(not_measured(part.study, ERROR_QUESTION, "the study has no plain VAE beside an AE"))
    out += [_transfer_card(numbers, part, m) for m in conditional]
    return out


def _bayes_text(numbers: CardNumbers, part: StudyPart) -> str | None:
    """The df rule's Bayes accuracy from the true variances (a property of the dataset)."""
    found = []
    for dataset in part.datasets:
        for model in part.models:
            value = numbers.measured(dataset, model, "knn_df.bayes.test_accuracy")
            if value is not None:
                found.append(f"{dataset}: {_fmt(value.mean)}")
                break
    if not found:
        return None
    return "the df rule's Bayes accuracy from the true variances (the most any code can reach): " + ", ".join(
        found
    )


def _error_card(numbers: CardNumbers, part: StudyPart, vaes: list[str], aes: list[str]) -> Card:
    """The AE's error against the VAE's on each dataset, the printed errors within the source's tolerance,
    and the paired test over seeds where it decided."""
    ours, checks, lower = [], [], []
    for dataset in part.datasets:
        for vae in vaes:
            for ae in aes:
                v, a = (numbers.measured(dataset, m, ERROR_METRIC) for m in (vae, ae))
                if v is None or a is None:
                    continue
                ours.append(f"{dataset}: {vae} {v.text()}, {ae} {a.text()}")
                checks.append(a.centre < v.centre)
                lower.append(dataset)
    if not checks:
        return not_measured(part.study, ERROR_QUESTION, f"no VAE and AE of the study measured {ERROR_METRIC}")
    rows = numbers.comparison_rows(part.study, [ERROR_METRIC])
    tolerance = [within_tolerance(row) for _, row in rows.iterrows()]
    tolerance = [t for t in tolerance if t is not None]
    paired = _decided_claims(numbers, part, ERROR_METRIC)
    passed = sum(checks) + sum(tolerance) + sum(v == "supported" for _, v in paired)
    total = len(checks) + len(tolerance) + len(paired)
    text = f"The AE's error is the lower on {sum(checks)} of {len(checks)} datasets"
    if tolerance:
        text += f"; {sum(tolerance)} of {len(tolerance)} printed errors are within the source's tolerance"
    text += (
        f"; the paired test over seeds: {_join([f'{d} {v}' for d, v in paired])}"
        if paired
        else "; no paired test (fewer than 2 seeds)"
    )
    printed = [
        f"{row['model']} {_fmt(row['expected_value'])} ({row['dataset']}, {tolerance_text(row)})"
        for _, row in rows.iterrows()
    ]
    return Card(
        study=part.study,
        question=ERROR_QUESTION,
        answer="; ".join(ours),
        truth=None,
        source="; ".join(dict.fromkeys(printed)) or None,
        verdict=count_verdict(passed, total),
        verdict_text=text + " (agrees: every check holds; differs: none does).",
        basis="source",
    )


def _decided_claims(numbers: CardNumbers, part: StudyPart, metric: str) -> list[tuple[str, str]]:
    """(dataset, verdict) of the paired claim on `metric` over the study's datasets, where decided."""
    paired = numbers.inputs.paired
    if not len(paired) or "claim" not in paired.columns:
        return []
    rows = paired[
        paired["dataset"].isin(part.datasets)
        & (paired["metric"] == metric)
        & paired["claim"].notna()
        & paired["vae_model"].isin(part.models)
        & paired["ae_model"].isin(part.models)
    ]
    return [
        (str(dataset), str(verdict))
        for dataset, verdict in zip(rows["dataset"], rows["verdict"], strict=True)
        if isinstance(verdict, str) and not verdict.startswith("undecided")
    ]


def _transfer_card(numbers: CardNumbers, part: StudyPart, model: str) -> Card:
    """The share of transfers that move towards the target df's tails, and how far, against the truth."""
    summary = numbers.summary
    directions = sorted(
        {
            m.split(".")[1]
            for m in summary.loc[
                summary["dataset"].isin(part.datasets) & (summary["model"] == model), "metric"
            ]
            if m.startswith("transfer.") and m.endswith(".moved_as_asked")
        }
        if len(summary)
        else set()
    )
    question = f"{TRANSFER_QUESTION[:-1]}; model {model})"
    if not directions:
        return not_measured(part.study, question, f"no transfer.*.moved_as_asked of {model}", basis="truth")
    ours, truth, moved, landed = [], [], [], []
    for dataset in part.datasets:
        for direction in directions:
            share = numbers.measured(dataset, model, f"transfer.{direction}.moved_as_asked")
            shift = numbers.measured(dataset, model, f"transfer.{direction}.tail_shift_share")
            target = numbers.measured(dataset, model, f"transfer.{direction}.tail_mass.target")
            if share is None or shift is None:
                continue
            name = direction.replace("_", " ")
            ours.append(
                f"{name}: moved as asked {share.text(percent=True)}; share of the true change moved "
                f"{shift.text()}"
            )
            if target is not None:
                truth.append(f"{name}: tail mass {_fmt(target.mean)} at the target df")
            moved.append(share.centre > MOVED_SHARE)
            landed.append(SHIFT_BAND[0] <= shift.centre <= SHIFT_BAND[1])
    if not moved:
        return not_measured(part.study, question, f"no transfer numbers of {model}", basis="truth")
    if all(moved) and all(landed):
        verdict = "agrees"
    elif not any(moved):
        verdict = "differs"
    else:
        verdict = "partly"
    text = (
        f"The tails move as asked (more than {_share(MOVED_SHARE)} of the images) in {sum(moved)} of "
        f"{len(moved)} directions and land within {SHIFT_BAND[0]}-{SHIFT_BAND[1]}x of the true change in "
        f"{sum(landed)} of {len(landed)}."
    )
    return Card(
        study=part.study,
        question=question,
        answer="; ".join(ours),
        truth="the true density of each image's factors at the target df: " + "; ".join(truth)
        if truth
        else None,
        source=None,
        verdict=verdict,
        verdict_text=text,
        basis="truth",
    )
