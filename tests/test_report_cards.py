"""The report's first section: one card per study, its verdict computed from the numbers (each flips when a
number of the fixture does), a quick run judged against no source, and the provenance's config file."""

import ast
import re
from pathlib import Path

import pandas as pd
import pytest
from snakemake.rules import Rule

from tests.conftest import REPO
from vae_latent_study.aggregate.compare import COMPARISON_COLUMNS, compare_expected
from vae_latent_study.aggregate.expected import read_expected
from vae_latent_study.aggregate.summary import summarise_metrics
from vae_latent_study.kinds.factor_model import report as factor_model_report
from vae_latent_study.kinds.heatmaps import report as heatmaps_report
from vae_latent_study.kinds.images import report as images_report
from vae_latent_study.kinds.normal_1d import report as normal_1d_report
from vae_latent_study.kinds.toy_manifold import report as toy_report
from vae_latent_study.report import cards as report_cards
from vae_latent_study.report import page as report
from vae_latent_study.report.chapter import ReportInputs, StudyPart

EXPECTED = REPO / "config" / "expected"
#: The fixtures' first training seed: a metric's values are those of seeds 19, 20, ...
FIRST_SEED = 19


def _inputs(metrics, config, study="", expected=None, replicates=(), claims=None):
    """ReportInputs of `metrics` ({(dataset, family, model, kind): {metric: one value per seed}}), with the
    comparison against config/expected/<expected>.yaml where given."""
    tidy = pd.DataFrame(
        [
            {"dataset": d, "family": f, "model": m, "kind": k, "seed": seed, "metric": name, "value": value}
            for (d, f, m, k), values in metrics.items()
            for name, per_seed in values.items()
            for seed, value in enumerate(per_seed, start=FIRST_SEED)
        ],
        columns=["dataset", "family", "model", "kind", "seed", "metric", "value"],
    )
    summary, paired = summarise_metrics(tidy, n_boot=50, claims=claims)
    comparison = (
        compare_expected(tidy, read_expected(EXPECTED / f"{expected}.yaml"), study)
        if expected
        else pd.DataFrame(columns=list(COMPARISON_COLUMNS))
    )
    return ReportInputs(summary, paired, comparison, [], list(replicates), config, tidy)


def _config(datasets, models):
    """{datasets: {name: kind}, models: {name: (kind, conditional)}} as a config."""
    return {
        "datasets": {name: {"kind": kind} for name, kind in datasets.items()},
        "models": {name: {"kind": kind, "conditional": cond} for name, (kind, cond) in models.items()},
    }


def _part(study, datasets, models):
    return StudyPart(study, tuple(datasets), tuple(models), first=True)


# --- heatmaps ----------------------------------------------------------------------------------------------

HEATMAPS_CONFIG = _config(
    {"gaussian": "heatmaps", "student_t": "heatmaps"}, {"vae": ("vae", None), "ae": ("ae", None)}
)
HEATMAPS_PART = _part("heatmaps", ["gaussian", "student_t"], ["ae", "vae"])


def _heatmaps(vae_error, ae_error, vae_knn=(0.85, 0.84, 0.85), ae_knn=(0.84, 0.85, 0.85)):
    metrics = {
        ("gaussian", "gaussian", "vae", "vae"): {"frobenius_sample.mean": vae_error},
        ("gaussian", "gaussian", "ae", "ae"): {"frobenius_sample.mean": ae_error},
        ("student_t", "student_t", "vae", "vae"): {
            "knn_df.fixed_k.test_accuracy": vae_knn,
            "knn_df.bayes.test_accuracy": (0.95, 0.95, 0.95),
        },
        ("student_t", "student_t", "ae", "ae"): {"knn_df.fixed_k.test_accuracy": ae_knn},
    }
    claims = {"gaussian": read_expected(EXPECTED / "heatmaps.yaml").claims}
    inputs = _inputs(metrics, HEATMAPS_CONFIG, "heatmaps", "heatmaps", claims=claims)
    return heatmaps_report.cards(inputs, HEATMAPS_PART)


def test_the_heatmaps_error_card_follows_the_numbers():
    error, knn = _heatmaps((0.33, 0.35, 0.31), (0.25, 0.27, 0.24))
    assert error.verdict == "agrees", error
    assert "lower on 1 of 1 datasets" in error.verdict_text and "gaussian supported" in error.verdict_text
    assert "0.322" in error.source and "0.256" in error.source
    assert "median 0.330 (range 0.310 to 0.350, 3 training seeds)" in error.answer
    # The AE worse than the VAE, and both far from the printed errors: every check fails.
    error, _ = _heatmaps((0.20, 0.21, 0.19), (0.45, 0.46, 0.44))
    assert error.verdict == "differs", error
    assert "lower on 0 of 1" in error.verdict_text and "0 of 2 printed errors" in error.verdict_text
    # The AE lower, but the VAE's error outside the printed one's tolerance: partly.
    error, _ = _heatmaps((0.60, 0.62, 0.61), (0.25, 0.27, 0.24))
    assert error.verdict == "partly", error


def test_the_heatmaps_knn_card_judges_the_printed_accuracies_by_their_tolerance():
    _, knn = _heatmaps((0.33, 0.35, 0.31), (0.25, 0.27, 0.24))
    assert knn.verdict == "agrees" and knn.basis == "source"
    assert "Bayes accuracy" in knn.truth and "0.950" in knn.truth
    assert "0.8493" in knn.source and "0.8472" in knn.source
    _, knn = _heatmaps((0.33, 0.35, 0.31), (0.25, 0.27, 0.24), vae_knn=(0.70, 0.71, 0.69), ae_knn=(0.6,) * 3)
    assert knn.verdict == "differs" and "0 of 2 of our means" in knn.verdict_text
    _, knn = _heatmaps((0.33, 0.35, 0.31), (0.25, 0.27, 0.24), vae_knn=(0.70, 0.71, 0.69))
    assert knn.verdict == "partly" and "outside: test accuracy, vae" in knn.verdict_text


TAILS_CONFIG = _config({"student_t": "heatmaps"}, {"vae": ("vae", None), "cvae_df": ("vae", "df")})
TAILS_PART = _part("tails", ["student_t"], ["vae", "cvae_df"])


def _tails(moved, shift):
    metrics = {
        ("student_t", "student_t", "cvae_df", "vae"): {
            f"transfer.{d}.{name}": (value,)
            for d in ("heavy_to_light", "light_to_heavy")
            for name, value in (
                ("moved_as_asked", moved),
                ("tail_shift_share", shift),
                ("tail_mass.target", 0.1),
            )
        }
    }
    (card,) = heatmaps_report.cards(_inputs(metrics, TAILS_CONFIG), TAILS_PART)
    return card


def test_the_tails_card_judges_the_transfer_against_the_truth():
    card = _tails(0.98, 1.1)
    assert card.verdict == "agrees" and card.basis == "truth" and card.source is None
    assert "tail mass 0.100 at the target df" in card.truth and "2 of 2 directions" in card.verdict_text
    assert _tails(0.98, 2.0).verdict == "partly"  # the right way, too far
    assert _tails(0.30, 1.0).verdict == "differs"  # most transfers do not move as asked


# --- normal_1d ---------------------------------------------------------------------------------------------

NORMAL_CONFIG = {
    **_config({"normal_1d": "normal_1d"}, {"vae_1d": ("vae", None), "vae_1d_standardised": ("vae", None)}),
}
NORMAL_CONFIG["datasets"]["normal_1d"].update(mean=100.0, std=10.0)
NORMAL_PART = _part("normal_1d", ["normal_1d"], ["vae_1d", "vae_1d_standardised"])


def _replicate(model, ratio):
    return {
        "dataset": "normal_1d",
        "model": model,
        "n_replicates": 20,
        "ks_ratio": ratio,
        "ks_ratio_target": 1.5,
        "generated": {"model_ks_median": 0.063 * ratio, "fitted_ks_median": 0.063},
    }


def _normal(sd, ratios=(2.8, 0.96)):
    means = tuple(95.0 + 0.25 * i for i in range(20))
    metrics = {
        ("normal_1d", "normal_1d", model, "vae"): {
            "generated.model_mean": means,
            "generated.model_std": tuple(sd + 0.1 * i for i in range(20)),
        }
        for model in ("vae_1d", "vae_1d_standardised")
    }
    replicates = [_replicate(m, r) for m, r in zip(("vae_1d", "vae_1d_standardised"), ratios, strict=True)]
    inputs = _inputs(metrics, NORMAL_CONFIG, "normal_1d", "normal_1d", replicates)
    return normal_1d_report.cards(inputs, NORMAL_PART)


def test_the_normal_1d_cards_set_the_printed_draw_and_the_truth_beside_the_replicates():
    source, truth = _normal(9.0)
    assert source.verdict == "agrees" and "4 of 4 of our means" in source.verdict_text
    assert source.truth == "normal_1d: N(100, 10)" and "97.27" in source.source and "10.1" in source.source
    # 20 replicates: the median and quartiles.
    assert "generated sd, vae_1d: median 9.950 [9.475, 10.4] (20 replicates)" in source.answer
    assert truth.verdict == "partly" and "1 of 2 models" in truth.verdict_text
    assert "vae_1d_standardised" in truth.verdict_text and "not vae_1d" in truth.verdict_text
    assert "median KS 0.063" in truth.truth
    source, truth = _normal(3.0, ratios=(0.9, 1.2))
    assert source.verdict == "partly" and "outside: generated sd, vae_1d" in source.verdict_text
    assert truth.verdict == "agrees"
    _, truth = _normal(9.0, ratios=(2.8, 1.6))
    assert truth.verdict == "differs"


# --- factor_model ------------------------------------------------------------------------------------------

FACTOR_CONFIG = _config({"factor_model": "factor_model"}, {"vae_fm": ("vae", None)})
FACTOR_PART = _part("factor_model", ["factor_model"], ["vae_fm"])


def _factor(gaps, shares):
    metrics = {
        ("factor_model", "factor_model", "vae_fm", "vae"): {
            "latent.corr_test": tuple(0.9999 - g for g in gaps),
            "latent.gap_test": gaps,
            "latent.oracle_corr_test": (0.9999,) * 3,
            "targets.corr_gap_target": (0.01,) * 3,
            "targets.s_share_within": shares,
            "targets.s_share_target": (0.9,) * 3,
            "targets.s_share_ceiling": (0.98,) * 3,
        }
    }
    return factor_model_report.cards(_inputs(metrics, FACTOR_CONFIG), FACTOR_PART)


def test_the_factor_model_cards_count_the_runs_that_meet_the_truth_targets():
    factor, noise = _factor((0.003, 0.005, 0.009), (0.92, 0.94, 0.93))
    assert (
        factor.verdict == "agrees" and "3 of 3 runs" in factor.verdict_text and "0.01" in factor.verdict_text
    )
    assert "0.9999" in factor.truth and factor.basis == "truth"
    assert noise.verdict == "agrees" and "98%" in noise.truth and "93.0%" in noise.answer
    factor, noise = _factor((0.003, 0.005, 0.47), (0.14, 0.15, 0.05))
    assert factor.verdict == "partly" and "vae_fm 2 of 3" in factor.verdict_text
    assert noise.verdict == "differs" and "0 of 3 runs" in noise.verdict_text


# --- images ------------------------------------------------------------------------------------------------

FASHION_CONFIG = _config({"fashion": "images"}, {"ae_conv32": ("ae", None), "vae_conv32": ("vae", None)})
FASHION_PART = _part("fashion", ["fashion"], ["ae_conv32", "vae_conv32"])


def _fashion(ae_loss, vae_loss):
    metrics = {
        ("fashion", "fashion_mnist", "ae_conv32", "ae"): {
            "final.val_loss": ae_loss,
            "entropy_limit.nats_per_pixel": (0.18540852,) * len(ae_loss),
        },
        ("fashion", "fashion_mnist", "vae_conv32", "vae"): {
            "final.loss": vae_loss,
            "final.reconstruction_loss": (126.37,) * len(vae_loss),
            "final.kl_loss": (5.23,) * len(vae_loss),
        },
    }
    (card,) = images_report.cards(_inputs(metrics, FASHION_CONFIG, "fashion", "fashion"), FASHION_PART)
    return card


def test_the_fashion_card_judges_the_printed_losses():
    card = _fashion((0.2527, 0.2515, 0.2532), (131.6, 131.46, 131.74))
    assert card.verdict == "agrees" and "4 of 4" in card.verdict_text and "0.2518" in card.source
    assert card.truth.startswith("fashion's test images: mean per-pixel binary entropy 0.1854 nats")
    assert "inside the range of our seeds for 1 of 4" in card.verdict_text  # only the AE's 0.2518
    card = _fashion((0.40, 0.41, 0.42), (131.6, 131.46, 131.74))
    assert card.verdict == "partly" and "3 of 4" in card.verdict_text
    # One seed has no range to hold the printed value: the sentence says nothing of it.
    card = _fashion((0.2527,), (131.6,))
    assert card.verdict == "agrees" and "range" not in card.verdict_text and "(one run)" in card.answer


MNIST_CONFIG = _config({"mnist": "images"}, {"cvae_mnist": ("vae", "label"), "vae_mnist": ("vae", None)})
MNIST_PART = _part("mnist_cvae", ["mnist"], ["cvae_mnist", "vae_mnist"])


def _mnist(requested, probe):
    metrics = {
        ("mnist", "mnist", "cvae_mnist", "vae"): {
            "requested_label.transfer.overall": requested,
            "requested_label.prior.overall": requested,
            "classifier.test_accuracy": (0.958,) * 3,
            "probe.cvae.test_accuracy": probe,
            "probe.twin.test_accuracy": (0.81, 0.80, 0.81),
            "probe.cvae.chance": (0.1,) * 3,
        }
    }
    return images_report.cards(_inputs(metrics, MNIST_CONFIG), MNIST_PART)


def test_the_mnist_cards_judge_the_requested_label_and_the_probe():
    requested, probe = _mnist((0.96, 0.97, 0.955), (0.16, 0.22, 0.18))
    assert requested.verdict == "agrees" and requested.basis == "target" and "95.8%" in requested.truth
    assert probe.verdict == "agrees" and "3 of 3 seeds" in probe.verdict_text
    requested, probe = _mnist((0.93, 0.91, 0.92), (0.70, 0.72, 0.18))
    assert requested.verdict == "partly" and "0 of 6 runs" in requested.verdict_text
    assert probe.verdict == "partly" and "1 of 3 seeds" in probe.verdict_text
    requested, probe = _mnist((0.3, 0.2, 0.25), (0.70, 0.72, 0.75))
    assert requested.verdict == "differs" and probe.verdict == "differs"


# --- toy_manifold ------------------------------------------------------------------------------------------

TOY_CONFIG = _config({"toy": "toy_manifold"}, {"ae_toy": ("ae", None), "cae_toy": ("ae", "label")})
TOY_PART = _part("toy_manifold", ["toy"], ["ae_toy", "cae_toy"])


def _toy(plain_bridge, conditional_bridge, arc):
    metrics = {
        ("toy", "toy_manifold", "ae_toy", "ae"): {"test.bridge_share": plain_bridge},
        ("toy", "toy_manifold", "cae_toy", "ae"): {
            "test.bridge_share": conditional_bridge,
            "test.components.sine_arc.mse_over_projection_floor": arc,
            "test.components.circle.mse_over_projection_floor": (4.0,) * 3,
            "test.torn_share.circle": (0.05,) * 3,
        },
    }
    return toy_report.cards(_inputs(metrics, TOY_CONFIG), TOY_PART)


def test_the_toy_cards_judge_the_bridge_and_the_open_curves_floor():
    bridge, floor = _toy((0.034, 0.076, 0.012), (0.0, 0.0, 0.0), (1.12, 1.18, 1.28))
    assert bridge.verdict == "agrees" and "2 of 2 models" in bridge.verdict_text
    assert floor.verdict == "agrees" and "cae_toy, sine_arc" in floor.answer and "circle" not in floor.answer
    bridge, floor = _toy((0.0, 0.0, 0.002), (0.0, 0.0, 0.0), (2.87, 1.15, 3.20))
    assert bridge.verdict == "partly" and "not ae_toy" in bridge.verdict_text
    assert floor.verdict == "partly" and "cae_toy 1 of 3" in floor.verdict_text
    bridge, floor = _toy((0.0,) * 3, (0.05,) * 3, (2.0,) * 3)
    assert bridge.verdict == "differs" and floor.verdict == "differs"


# --- missing numbers ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("module", "config", "part"),
    [
        (heatmaps_report, HEATMAPS_CONFIG, HEATMAPS_PART),
        (heatmaps_report, TAILS_CONFIG, TAILS_PART),
        (normal_1d_report, NORMAL_CONFIG, NORMAL_PART),
        (factor_model_report, FACTOR_CONFIG, FACTOR_PART),
        (images_report, FASHION_CONFIG, FASHION_PART),
        (images_report, MNIST_CONFIG, MNIST_PART),
        (toy_report, TOY_CONFIG, TOY_PART),
    ],
)
def test_a_study_without_its_metrics_gets_not_measured_cards(module, config, part):
    """No run measured anything: every card says so, none crashes or judges."""
    other = {("elsewhere", "x", "m", "vae"): {"some.metric": (1.0, 2.0)}}
    found = module.cards(_inputs(other, config), part)
    assert found and all(card.verdict == "not measured" for card in found), found
    assert all(card.answer.startswith("not measured") and card.study == part.study for card in found)


# --- the page: first section, quick run, provenance ---------------------------------------------------------


def _write_page(tmp_path, config, metrics, expected=None, study="heatmaps", **kwargs):
    tidy = pd.DataFrame(
        [
            {"dataset": d, "family": f, "model": m, "kind": k, "seed": seed, "metric": name, "value": value}
            for (d, f, m, k), values in metrics.items()
            for name, per_seed in values.items()
            for seed, value in enumerate(per_seed, start=FIRST_SEED)
        ]
    )
    tidy.to_csv(tmp_path / "metrics.tsv", sep="\t", index=False)
    summarise_metrics(tidy, tmp_path / "summary.tsv", tmp_path / "paired.tsv", n_boot=50)
    comparison = (
        compare_expected(tidy, read_expected(EXPECTED / f"{expected}.yaml"), study)
        if expected
        else pd.DataFrame(columns=list(COMPARISON_COLUMNS))
    )
    comparison.to_csv(tmp_path / "comparison.tsv", sep="\t", index=False)
    out = tmp_path / "report.html"
    report.build_report(
        out,
        [],
        tmp_path / "summary.tsv",
        tmp_path / "comparison.tsv",
        tmp_path / "paired.tsv",
        [],
        config,
        metrics_tsv=tmp_path / "metrics.tsv",
        **kwargs,
    )
    return out.read_text(encoding="utf-8")


PAGE_METRICS = {
    ("gaussian", "gaussian", "vae", "vae"): {"frobenius_sample.mean": (0.33, 0.35, 0.31)},
    ("gaussian", "gaussian", "ae", "ae"): {"frobenius_sample.mean": (0.25, 0.27, 0.24)},
    ("student_t", "student_t", "vae", "vae"): {"knn_df.fixed_k.test_accuracy": (0.85, 0.84, 0.85)},
    ("student_t", "student_t", "ae", "ae"): {"knn_df.fixed_k.test_accuracy": (0.84, 0.85, 0.85)},
    ("toy", "toy_manifold", "ae_toy", "ae"): {"test.bridge_share": (0.03, 0.05, 0.02)},
}
PAGE_CONFIG = {
    "datasets": {**HEATMAPS_CONFIG["datasets"], **TOY_CONFIG["datasets"]},
    "models": {**HEATMAPS_CONFIG["models"], **TOY_CONFIG["models"]},
    "studies": {
        "toy_manifold": {"datasets": ["toy"], "models": ["ae_toy"]},
        "heatmaps": {"datasets": ["gaussian", "student_t"], "models": ["ae", "vae"]},
    },
}


def test_the_page_opens_on_one_card_per_study_in_config_order(tmp_path):
    page = _write_page(tmp_path, PAGE_CONFIG, PAGE_METRICS, expected="heatmaps")
    first = page.index('<section id="headline">')
    assert first < page.index("<nav>") < page.index('<section id="study-')
    assert page.index('id="card-toy_manifold"') < page.index('id="card-heatmaps"') < page.index("<nav>")
    assert page.count('class="card"') == 2 and 'class="quick-banner"' not in page
    assert '<span class="verdict-word v-agrees">agrees</span>' in page
    # The tidy table gives the spread over seeds.
    assert "median 0.330 (range 0.310 to 0.350, 3 training seeds)" in page
    assert "not judged (quick run)" not in page and '<td class="verdict">within</td>' in page


def test_the_cards_and_chapters_follow_the_study_order_given(tmp_path):
    """The workflow passes the config file's study order (its resolved config's studies are sorted)."""
    page = _write_page(tmp_path, PAGE_CONFIG, PAGE_METRICS, study_order=["heatmaps", "toy_manifold"])
    assert page.index('id="card-heatmaps"') < page.index('id="card-toy_manifold"')
    assert page.index('id="study-heatmaps"') < page.index('id="study-toy_manifold"')
    # A study the order leaves out follows the others.
    page = _write_page(tmp_path, PAGE_CONFIG, PAGE_METRICS, study_order=["heatmaps"])
    assert page.index('id="card-heatmaps"') < page.index('id="card-toy_manifold"')


def test_a_quick_run_is_labelled_and_judged_against_no_source(tmp_path):
    page = _write_page(tmp_path, {**PAGE_CONFIG, "quick": True}, PAGE_METRICS, expected="heatmaps")
    banner = page.index('class="quick-banner"')
    assert banner < page.index('<section id="headline">')
    headline = page[page.index('<section id="headline">') : page.index("<nav>")]
    # The source's cards: no verdict; the truth's (the toy's bridge): kept, labelled as a quick run's.
    assert "v-agrees" in headline and headline.count("v-not-judged") == 2
    assert headline.count(report_cards.QUICK_NOT_JUDGED[1:]) == 2
    assert "Quick run (reduced sizes): 1 of 1 models behave as claimed" in headline
    # The comparison table shows the printed numbers, without a verdict.
    assert '<h3 id="comparison">Our numbers beside the source\'s (quick run)</h3>' in page
    assert '<td class="verdict">not judged (quick run)</td>' in page
    assert '<td class="verdict">within</td>' not in page and 'class="within"' not in page
    assert "This is a quick run" in page


def test_for_quick_run_turns_only_a_source_verdict():
    card = report_cards.Card("s", "q?", "1", None, "2", "differs", "It differs.", basis="source")
    quick = report_cards.for_quick_run(card)
    assert quick.verdict == "not judged" and quick.verdict_text.startswith("Quick run: not judged")
    assert quick.source == "for reference, not compared (quick run): 2"
    truth = report_cards.Card("s", "q?", "1", "2", None, "differs", "It differs.", basis="truth")
    assert report_cards.for_quick_run(truth).verdict == "differs"
    missing = report_cards.not_measured("s", "q?", "nothing")
    assert report_cards.for_quick_run(missing) == missing
    with pytest.raises(ValueError, match="verdict"):
        report_cards.Card("s", "q?", "1", None, None, "fine", "")


@pytest.mark.parametrize(
    ("given", "named"),
    [
        ("config/quick.yaml", "config/quick.yaml (the quick config)"),
        ("config/config.yaml", "config/config.yaml (the default config)"),
        ("mine.yaml", "mine.yaml (another file)"),
    ],
)
def test_the_provenance_names_the_config_file_and_which_it_is(tmp_path, given, named):
    repo = tmp_path / "repo"
    (repo / "config").mkdir(parents=True)
    for name in ("quick.yaml", "config.yaml"):
        (repo / "config" / name).write_text("{}\n")
    (repo / "mine.yaml").write_text("{}\n")
    # Relative to the working directory, given relative or absolute; an outside file keeps its full path.
    assert report.describe_config_files([given], repo, workdir=repo) == [named]
    assert report.describe_config_files([repo / given], repo, workdir=repo) == [named]
    outside = report.describe_config_files([repo / given], repo, workdir=tmp_path / "elsewhere")
    assert outside == [f"{(repo / given).resolve()} ({named.split(' (')[1]}"]
    page = _write_page(tmp_path, PAGE_CONFIG, PAGE_METRICS, config_files=[named])
    assert f"Config file: <code>{named}</code>. This is a full-size run" in page


def test_a_report_built_outside_the_workflow_says_so(tmp_path):
    page = _write_page(tmp_path, {**PAGE_CONFIG, "quick": True}, PAGE_METRICS)
    assert "Config file: not recorded" in page and "This is a quick run" in page


def test_the_config_file_param_is_no_rerun_trigger():
    """`get_config_files` (common.smk) takes `output`: Snakemake counts it as derived from the job's files
    and keeps it out of the recorded params, so the same config read from another file reruns nothing."""
    source = (REPO / "workflow" / "rules" / "common.smk").read_text()
    match = re.search(r"^def get_config_files\(.*?(?=^def |\Z)", source, re.S | re.M)
    assert match, "common.smk has no get_config_files"
    tree = ast.parse(match[0])
    namespace = {
        "describe_config_files": report.describe_config_files,
        "workflow": type(
            "W", (), {"configfiles": [str(REPO / "config" / "quick.yaml")], "basedir": str(REPO)}
        ),
    }
    exec(compile(tree, "common.smk", "exec"), namespace)  # noqa: S102
    function = namespace["get_config_files"]
    assert Rule._is_deriving_function(function)
    assert function({}, []) == report.describe_config_files([REPO / "config" / "quick.yaml"], REPO)
    assert function({}, [])[0].endswith("(the quick config)")
    # The report rule names it.
    assert "config_files=get_config_files" in (REPO / "workflow" / "rules" / "report.smk").read_text()


def test_every_kind_module_can_be_found_and_has_cards():
    from vae_latent_study.kinds.registry import KIND_MODULES
    from vae_latent_study.report.chapter import load_chapter

    assert all(callable(getattr(load_chapter(kind), "cards", None)) for kind in KIND_MODULES)
    assert Path(heatmaps_report.__file__).name == "report.py"


def test_a_heatmap_study_without_a_vae_beside_its_ae_says_so():
    only_ae = _part("heatmaps", ["gaussian"], ["ae"])
    metrics = {("gaussian", "gaussian", "ae", "ae"): {"frobenius_sample.mean": (0.25, 0.27)}}
    (card,) = heatmaps_report.cards(_inputs(metrics, HEATMAPS_CONFIG), only_ae)
    assert card.verdict == "not measured" and "no plain VAE beside an AE" in card.answer
