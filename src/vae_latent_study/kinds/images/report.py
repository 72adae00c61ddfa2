"""The images kind's cards in the report's first section: seed 001's printed losses beside ours (a study of
plain models), or seed 003's conditional VAE (a study with a label-conditioned model): whether it draws the
requested digit, and whether the label has left its code. The kind has no chapter of its own."""

from __future__ import annotations

from vae_latent_study.report.cards import Card, Numbers, count_verdict, not_measured, source_card
from vae_latent_study.report.chapter import ReportInputs, StudyPart
from vae_latent_study.report.markup import fmt_number, fmt_share, join_words

LOSS_QUESTION = "Do our models end training with the losses the source printed for its last epoch?"
REQUESTED_QUESTION = (
    "Does the conditional VAE draw the digit it is asked for? (style transfers and prior samples decoded "
    "with each label, labelled by the workflow's classifier)"
)
PROBE_QUESTION = (
    "Does the label leave the code? (a linear probe of the label from z_mean, beside the same probe on the "
    "unconditional twin's code)"
)
#: The share of decodes showing the requested label that the issue set as the target.
REQUESTED_TARGET = 0.95
SAMPLERS = ("transfer", "prior")


def cards(inputs: ReportInputs, part: StudyPart) -> list[Card]:
    numbers = Numbers(inputs)
    conditional = [m for m in part.models if numbers.conditional(m)]
    if not conditional:
        return [source_card(numbers, part.study, LOSS_QUESTION, None, truth=_entropy_text(numbers, part))]
    out = []
    for model in conditional:
        out += [_requested_card(numbers, part, model), _probe_card(numbers, part, model)]
    return out


def _entropy_text(numbers: Numbers, part: StudyPart) -> str | None:
    """The test images' mean per-pixel binary entropy: the lowest BCE any model can reach on them."""
    for dataset in part.datasets:
        for model in part.models:
            found = numbers.measured(dataset, model, "entropy_limit.nats_per_pixel")
            if found is not None:
                return (
                    f"{dataset}'s test images: mean per-pixel binary entropy {fmt_number(found.mean, 4)} "
                    "nats, the lowest BCE any model can reach"
                )
    return None


def _requested_card(numbers: Numbers, part: StudyPart, model: str) -> Card:
    """Per run and sampler: at the target share (meets), above half (mostly right) or not."""
    question = f"{REQUESTED_QUESTION[:-1]}; model {model})"
    ours, judge, levels = [], [], []
    for dataset in part.datasets:
        for sampler in SAMPLERS:
            found = numbers.measured(dataset, model, f"requested_label.{sampler}.overall")
            if found is None:
                continue
            ours.append(f"{sampler}s: {found.text(percent=True)}")
            levels += [2 if v >= REQUESTED_TARGET else 1 if v > 0.5 else 0 for v in found.per_seed]
        accuracy = numbers.measured(dataset, model, "classifier.test_accuracy")
        if accuracy is not None and not judge:
            judge.append(f"the classifier labels {accuracy.text(percent=True)} of the real test digits right")
    if not levels:
        return not_measured(part.study, question, f"no requested_label numbers of {model}", "target")
    met, most = levels.count(2), sum(level >= 1 for level in levels)
    verdict = "agrees" if met == len(levels) else "differs" if most == 0 else "partly"
    return Card(
        study=part.study,
        question=question,
        answer="; ".join(ours),
        truth=judge[0] if judge else None,
        source=None,
        verdict=verdict,
        verdict_text=f"{met} of {len(levels)} runs (seed x sampler) reach the target of "
        f"{fmt_share(REQUESTED_TARGET)} requested labels; {most} of {len(levels)} show the requested label "
        "in more than half of their decodes (agrees: all reach the target; differs: none above half).",
        basis="target",
    )


def _probe_card(numbers: Numbers, part: StudyPart, model: str) -> Card:
    """Per seed: the probe on the conditional code nearer chance than to the twin's probe."""
    question = f"{PROBE_QUESTION[:-1]}; model {model})"
    ours, truth, near = [], [], []
    for dataset in part.datasets:
        own, twin, chance = (
            numbers.measured(dataset, model, f"probe.{m}")
            for m in ("cvae.test_accuracy", "twin.test_accuracy", "cvae.chance")
        )
        if own is None or twin is None or chance is None:
            continue
        ours.append(f"{model}: {own.text(percent=True)}; its twin: {twin.text(percent=True)}")
        truth.append(f"chance (the commonest label's share): {fmt_share(chance.mean)}")
        twins = twin.per_seed if len(twin.per_seed) == len(own.per_seed) else (twin.mean,) * len(own.per_seed)
        near += [o - chance.mean < t - o for o, t in zip(own.per_seed, twins, strict=True)]
    if not near:
        return not_measured(part.study, question, f"no probe numbers of {model}", "truth")
    return Card(
        study=part.study,
        question=question,
        answer="; ".join(ours),
        truth=join_words(truth),
        source=None,
        verdict=count_verdict(sum(near), len(near)),
        verdict_text=f"In {sum(near)} of {len(near)} seeds the probe on the conditional code is nearer "
        "chance than the twin's probe (the label has mostly left the code).",
        basis="truth",
    )
