"""Seed 004's cards in the report's first section: the factor and the noise, judged against the truth the
dataset stores (the post printed no number). The kind has no chapter of its own: its numbers are in the
study's metric table."""

from __future__ import annotations

from vae_latent_study.report.cards import Card, Numbers, count_verdict, not_measured
from vae_latent_study.report.chapter import ReportInputs, StudyPart
from vae_latent_study.report.markup import fmt_number, fmt_share, join_words

FACTOR_QUESTION = (
    "Does the 1-d code recover the true factor Z? (|corr(z_mean, Z)| on the test rows, beside the oracle "
    "E[Z | X] from the true functions and noise)"
)
NOISE_QUESTION = (
    "Does the decoder learn each feature's noise sd? (the share of features whose learned s_j lies within "
    "±10% of the true s_j)"
)


def cards(inputs: ReportInputs, part: StudyPart) -> list[Card]:
    """Per run (model x seed): the code's correlation within the target gap of the oracle's, and the share
    of features with their s_j within tolerance at the target share; each card agrees when every run meets
    its target, differs when none does."""
    numbers = Numbers(inputs)
    return [
        _target_card(
            numbers,
            part,
            FACTOR_QUESTION,
            shown="latent.corr_test",
            judged="latent.gap_test",
            target="targets.corr_gap_target",
            meets=lambda value, target: value <= target,
            rule="come within {target} of the oracle's correlation",
            truth=lambda dataset, model: numbers.measured(dataset, model, "latent.oracle_corr_test"),
            truth_text="the oracle's |corr(E[Z | X], Z)|",
        ),
        _target_card(
            numbers,
            part,
            NOISE_QUESTION,
            shown="targets.s_share_within",
            judged="targets.s_share_within",
            target="targets.s_share_target",
            meets=lambda value, target: value >= target,
            rule="have at least {target} of their features within ±10%",
            truth=lambda dataset, model: numbers.measured(dataset, model, "targets.s_share_ceiling"),
            truth_text="the true s_j; an estimator with the true functions and Z on the same training rows "
            "gets within ±10% for",
            share=True,
        ),
    ]


def _target_card(
    numbers: Numbers,
    part: StudyPart,
    question: str,
    *,
    shown: str,
    judged: str,
    target: str,
    meets,
    rule: str,
    truth,
    truth_text: str,
    share: bool = False,
) -> Card:
    fmt = fmt_share if share else fmt_number
    ours, per_model, truths = [], [], []
    passed = total = 0
    targets = set()
    for dataset in part.datasets:
        for model in part.models:
            value, gap, goal = (numbers.measured(dataset, model, m) for m in (shown, judged, target))
            if value is None or gap is None or goal is None:
                continue
            ours.append(f"{model}: {value.text(digits=4, percent=share)}")
            ok = sum(bool(meets(v, goal.mean)) for v in gap.per_seed)
            passed, total = passed + ok, total + len(gap.per_seed)
            per_model.append(f"{model} {ok} of {len(gap.per_seed)}")
            targets.add(goal.mean)
            found = truth(dataset, model)
            if found is not None and not truths:
                truths.append(
                    f"{truth_text} {fmt(found.mean)}" if share else f"{truth_text}: {fmt(found.mean, 4)}"
                )
    if not total:
        return not_measured(part.study, question, f"no run of the study has {judged} and {target}", "truth")
    rule = rule.format(target=join_words([fmt(t) if share else f"{t:g}" for t in sorted(targets)]))
    return Card(
        study=part.study,
        question=question,
        answer="; ".join(ours),
        truth=truths[0] if truths else None,
        source=None,
        verdict=count_verdict(passed, total),
        verdict_text=f"{passed} of {total} runs (model x training seed) {rule}: {join_words(per_model)}.",
        basis="truth",
    )
