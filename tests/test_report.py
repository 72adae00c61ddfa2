"""The HTML report: captions, answers written from the numbers, and one self-contained file."""

import base64
import html
import json
import re
from html.parser import HTMLParser
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402
import plotly.graph_objects as go  # noqa: E402
import pytest  # noqa: E402
from plotly.offline import get_plotlyjs  # noqa: E402

from tests.conftest import REPO, SCHEMA, TINY_CONFIG  # noqa: E402
from vae_latent_study.aggregate import compare as aggregate_compare  # noqa: E402
from vae_latent_study.aggregate import expected as aggregate_expected  # noqa: E402
from vae_latent_study.aggregate import summary as aggregate_summary  # noqa: E402
from vae_latent_study.config import (
    Run,  # noqa: E402
    validate_config,  # noqa: E402
)
from vae_latent_study.kinds.heatmaps import report as heatmaps_report  # noqa: E402
from vae_latent_study.report import chapter as report_chapter  # noqa: E402
from vae_latent_study.report import page as report  # noqa: E402

EXPECTED = REPO / "config" / "expected" / "heatmaps.yaml"
#: The notebook's claims (its expected file's), judged on both datasets.
CLAIMS = dict.fromkeys(("gauss", "t"), aggregate_expected.read_expected(EXPECTED).claims)
#: The tiny study's config, validated (every dataset has its `kind`), its datasets named as the tables below.
CONFIG = validate_config(
    {
        **TINY_CONFIG,
        "datasets": {"gauss": TINY_CONFIG["datasets"]["tiny_gauss"], "t": TINY_CONFIG["datasets"]["tiny_t"]},
    },
    SCHEMA,
)

# Per dataset x model: the metrics the answers quote, one value per training seed (1 and 2).
METRICS = {
    ("gauss", "gaussian", "vae", "vae"): {
        "frobenius_sample.mean": (0.33, 0.31),
        "frobenius_sample.median": (0.30, 0.30),
        "frobenius_sample.p95": (0.45, 0.45),
        "regression.cor_linear_r2": (0.95, 0.93),
        "regression.var_x_linear_r2": (0.81, 0.79),
        "regression.var_y_linear_r2": (0.80, 0.78),
        "mig": (0.12, 0.14),
        "dci.disentanglement": (0.35, 0.33),
    },
    ("gauss", "gaussian", "ae", "ae"): {
        "frobenius_sample.mean": (0.25, 0.27),
        "frobenius_sample.median": (0.20, 0.20),
        "frobenius_sample.p95": (0.60, 0.60),
        "regression.cor_linear_r2": (0.90, 0.90),
    },
    ("t", "student_t", "vae", "vae"): {
        "frobenius_sample.mean": (0.30, 0.30),
        "knn_df.fixed_k.test_accuracy": (0.85, 0.85),
        "knn_df.fixed_k.test_f1": (0.86, 0.86),
    },
    ("t", "student_t", "ae", "ae"): {
        "frobenius_sample.mean": (0.26, 0.26),
        "knn_df.fixed_k.test_accuracy": (0.84, 0.86),
        "knn_df.fixed_k.test_f1": (0.85, 0.85),
    },
}


def _tidy(metrics=METRICS):
    rows = [
        {"dataset": d, "family": f, "model": m, "kind": k, "seed": seed, "metric": name, "value": value}
        for (d, f, m, k), values in metrics.items()
        for name, pair in values.items()
        for seed, value in zip((1, 2), pair, strict=True)
    ]
    return pd.DataFrame(rows)


def _null(selectivity, p_value=0.005):
    return {
        "selectivity": selectivity,
        "random_selectivity": {"0.5": 0.5, "0.95": 0.7},
        "n_random": 200,
        "p_value": p_value,
        "meaningful": p_value <= 0.05,
    }


def _exploration(dataset, model, seed, empty_share, hull_distance):
    return {
        "dataset": dataset,
        "model": model,
        "kind": model,
        "seed": seed,
        "axis_correlation": {"var_x": [0.1, 0.7, -0.2], "var_y": [0.6, 0.2, 0.1], "cor": [0.05, -0.1, -0.93]},
        "code_std": [0.9, 1.0, 1.1],
        "pca_explained_variance_ratio": [0.45, 0.33, 0.22],
        "empty_space": {"share": empty_share},
        "decoded_hull": {
            "nearest_image_distance": {"median": hull_distance},
            "test_reconstruction_error": {"median": 0.3},
        },
        "paths": {
            f"straight_{f}": {"decoded_factor_spearman": {f: 0.97, "cor": 0.1}, "null": _null(0.9)}
            for f in ("var_x", "var_y")
        }
        | {
            "straight_cor": {"decoded_factor_spearman": {"cor": 0.99}, "null": _null(0.8)},
            "isovariance": {"decoded_factor_spearman": {"cor": 0.95}},
        },
        "isovariance_layout_spearman": 0.6,
    }


EXPLORATIONS = [
    _exploration(d, m, seed, share, far)
    for d in ("gauss", "t")
    for m, share, far in (("vae", 0.08, 0.2), ("ae", 0.4, 0.9))
    for seed in (1, 2)
]

CAPTIONS = {
    "a.png": "The first figure of ``gauss`` & <friends>",
    "b.png": "The second figure, seed 2",
    "c.json": "An interactive view",
}


@pytest.fixture
def inputs(tmp_path):
    """Small but real inputs: two PNGs, a plotly JSON, the three tables and four exploration summaries."""
    for name in ("a.png", "b.png"):
        fig, ax = plt.subplots(figsize=(3, 2))
        ax.plot([0, 1], [1, 0])
        fig.savefig(tmp_path / name)
        plt.close(fig)
    (tmp_path / "c.json").write_text(
        go.Figure(go.Scatter3d(x=[0, 1, 2], y=[1, 0, 2], z=[2, 1, 0], mode="markers")).to_json()
    )
    tidy = _tidy()
    aggregate_summary.summarise_metrics(
        tidy, tmp_path / "summary.tsv", tmp_path / "paired.tsv", n_boot=200, claims=CLAIMS
    )
    aggregate_compare.compare_with_expected(
        tidy, {"heatmaps": {"datasets": ["gauss", "t"], "models": ["vae", "ae"]}}, {"heatmaps": EXPECTED}
    ).to_csv(tmp_path / "comparison.tsv", sep="\t", index=False)
    explorations = []
    for i, run in enumerate(EXPLORATIONS):
        path = tmp_path / f"exploration{i}.json"
        path.write_text(json.dumps(run))
        explorations.append(path)
    figures = [
        (tmp_path / "a.png", CAPTIONS["a.png"], "Data"),
        (tmp_path / "c.json", CAPTIONS["c.json"], "Latent space"),
        (tmp_path / "b.png", CAPTIONS["b.png"], "Latent space"),
    ]
    return {
        "figures": figures,
        "summary_tsv": tmp_path / "summary.tsv",
        "comparison_tsv": tmp_path / "comparison.tsv",
        "paired_tsv": tmp_path / "paired.tsv",
        "explorations": explorations,
        "config": CONFIG,
        "source_dir": REPO,
    }


class _Resources(HTMLParser):
    """Every tag and the attributes that can load something."""

    def __init__(self):
        super().__init__()
        self.tags, self.loads = [], []

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        self.loads += [
            (tag, k, v or "") for k, v in attrs if k in ("src", "href", "srcset", "data", "poster")
        ]


def _build(inputs, path):
    report.build_report(path, **inputs)
    return path.read_text(encoding="utf-8")


def test_report_is_self_contained(inputs, tmp_path):
    page = _build(inputs, tmp_path / "report.html")
    parsed = _Resources()
    parsed.feed(page)
    external = [load for load in parsed.loads if re.match(r"(https?:)?//", load[2].strip(), re.I)]
    assert not external, external
    assert "iframe" not in parsed.tags and "link" not in parsed.tags
    images = [v for tag, k, v in parsed.loads if tag == "img"]
    assert len(images) == 2
    for src in images:
        assert src.startswith("data:image/png;base64,")
        assert base64.b64decode(src.split(",", 1)[1]).startswith(b"\x89PNG")
    assert page.count(get_plotlyjs()[:500]) == 1  # plotly.js inline, once
    assert page.count("Plotly.newPlot(") == 1
    assert not [tag for tag, k, v in parsed.loads if tag == "script"]  # no script loads a file


def test_report_shows_every_caption_escaped(inputs, tmp_path):
    page = _build(inputs, tmp_path / "report.html")
    assert "The first figure of <code>gauss</code> &amp; &lt;friends&gt;" in page
    assert "<friends>" not in page
    for caption in list(CAPTIONS.values())[1:]:
        assert caption in page
    for section in (
        "Answers",
        "Our numbers beside the source",
        "Study ",
        "Data",
        "Latent space",
        "Provenance",
    ):
        assert section in page


def test_report_is_reproducible(inputs, tmp_path):
    assert _build(inputs, tmp_path / "one.html") == _build(inputs, tmp_path / "two.html")


def test_answers_are_written_from_the_numbers(inputs):
    summary = pd.read_csv(inputs["summary_tsv"], sep="\t")
    paired = pd.read_csv(inputs["paired_tsv"], sep="\t")
    comparison = pd.read_csv(inputs["comparison_tsv"], sep="\t")
    answers = heatmaps_report.answer_questions(summary, paired, comparison, EXPLORATIONS)
    assert [[dataset for dataset, _ in per_dataset] for _, per_dataset in answers] == [["gauss", "t"]] * 3
    directions, shape, differences = (
        " ".join(s for _, sentences in per_dataset for s in sentences) for _, per_dataset in answers
    )
    assert "cor ↔ z2 (r = -0.93)" in directions and "R² = 0.94 of cor" in directions
    assert "Spearman ρ = 0.97 for var_x" in directions
    assert "var_x in 2 of 2 seeds (selectivity 0.90 against 0.70" in directions
    assert "so these directions are meaningful" in directions
    assert "45%, 33% and 22%" in shape and "ρ = 0.60" in shape
    assert "the AE reconstructs test images better than the VAE" in differences
    assert "0.260 vs 0.320" in differences  # means over the two seeds
    assert "the notebook: 0.256 vs 0.322" in differences
    assert "more heavy-tailed" in differences  # 0.60/0.20 against 0.45/0.30
    assert "40% vs 8%" in differences and "unlike the data" in differences
    assert "about as well as" in differences  # df accuracy 0.85 against 0.85

    # The same sentences turn round when the numbers do.
    flipped = {key: dict(values) for key, values in METRICS.items()}
    flipped[("gauss", "gaussian", "ae", "ae")]["frobenius_sample.mean"] = (0.40, 0.42)
    summary, paired = aggregate_summary.summarise_metrics(_tidy(flipped), n_boot=200)
    _, per_dataset = heatmaps_report.answer_questions(summary, paired, comparison, EXPLORATIONS)[2]
    differences = " ".join(per_dataset[0][1])
    assert "the AE reconstructs test images worse than the VAE" in differences


def test_render_caption_fills_the_wildcards():
    template = "Seed {{ snakemake.wildcards.seed }} of ``{{snakemake.wildcards.dataset}}``; {{ other }}\n"
    assert report.render_caption(template, seed=7, dataset="gauss") == "Seed 7 of ``gauss``; {{ other }}"


def test_figure_list_orders_by_section_then_dataset(tmp_path):
    (tmp_path / "x.rst").write_text("X of {{ snakemake.wildcards.dataset }}")
    (tmp_path / "y.rst").write_text(
        "Y of {{ snakemake.wildcards.model }}, seed {{ snakemake.wildcards.seed }}"
    )
    patterns = [
        ("Data", "{dataset}/x.png", tmp_path / "x.rst"),
        ("Models", "{dataset}/{model}/{seed}/y.png", tmp_path / "y.rst"),
    ]
    runs = [Run(dataset, model, 1) for dataset in ("d1", "d2") for model in ("vae", "ae")]
    got = report.figure_list(patterns, runs)
    assert got == [
        ("d1/x.png", "X of d1", "Data", "inline"),
        ("d2/x.png", "X of d2", "Data", "inline"),
        ("d1/vae/1/y.png", "Y of vae, seed 1", "Models", "inline"),
        ("d1/ae/1/y.png", "Y of ae, seed 1", "Models", "inline"),
        ("d2/vae/1/y.png", "Y of vae, seed 1", "Models", "inline"),
        ("d2/ae/1/y.png", "Y of ae, seed 1", "Models", "inline"),
    ]
    # More seeds: each dataset x model's first seed is drawn, the others linked.
    seeds = report.figure_list(patterns[1:], [Run("d1", "vae", s) for s in (5, 3, 9)])
    assert [(path, mode) for path, _, _, mode in seeds] == [
        ("d1/vae/5/y.png", "inline"),
        ("d1/vae/3/y.png", "link"),
        ("d1/vae/9/y.png", "link"),
    ]


def test_linked_figures_are_relative_links_to_their_files(inputs, tmp_path):
    """The report's size does not grow with the seeds: linked figures are captions and relative links."""
    figures = list(inputs["figures"])
    png = next(Path(f[0]) for f in figures if str(f[0]).endswith(".png"))
    view = next(Path(f[0]) for f in figures if str(f[0]).endswith(".json"))
    view.with_suffix(".html").write_text("<html>the standalone view</html>")
    inputs["figures"] = [(f[0], f[1], f[2], "inline") for f in figures] + [
        (png, "the same figure of another seed", "Data", "link"),
        (view, "another seed's interactive view", "Data", "link"),
    ]
    page = tmp_path / "out" / "report.html"
    page.parent.mkdir()
    report.build_report(page, **inputs)
    text = page.read_text(encoding="utf-8")
    links = re.findall(r'<p class="linked"><a href="([^"]+)">', text)
    assert len(links) == 2
    assert (page.parent / links[0]).resolve() == png.resolve()
    assert (page.parent / links[1]).resolve() == view.with_suffix(".html").resolve()
    assert "another seed&#x27;s interactive view" in text or "another seed's interactive view" in text
    inline_only = tmp_path / "inline.html"
    inputs["figures"] = inputs["figures"][:-2]
    report.build_report(inline_only, **inputs)
    # A linked figure costs a line, not its bytes.
    assert len(text.encode()) - len(inline_only.read_text(encoding="utf-8").encode()) < 1000
    inputs["figures"] = [(png, "bad", "Data", "thumbnail")]
    with pytest.raises(ValueError, match="mode"):
        report.build_report(tmp_path / "bad.html", **inputs)


def test_git_commit(tmp_path):
    assert re.fullmatch(r"[0-9a-f]{40}( \(with uncommitted changes\))?", report.git_commit(REPO))
    assert report.git_commit(tmp_path) == "unknown"
    assert report.git_commit(None) == "unknown"


def test_an_unknown_figure_type_is_refused(inputs, tmp_path):
    (tmp_path / "page.html").write_text("<html></html>")
    inputs["figures"] = [(tmp_path / "page.html", "a page", "Data")]
    with pytest.raises(ValueError, match="cannot embed"):
        report.build_report(tmp_path / "report.html", **inputs)


def test_the_directions_verdict_follows_the_random_direction_null(inputs):
    """High Spearman rho alone is not a pass: the verdict is the null's, factor by factor and seed by seed."""
    summary = pd.read_csv(inputs["summary_tsv"], sep="\t")
    paired = pd.read_csv(inputs["paired_tsv"], sep="\t")
    comparison = pd.read_csv(inputs["comparison_tsv"], sep="\t")
    verdicts = {}
    for case, failing in (("one seed fails cor", {("cor", 2)}), ("all fail", "all")):
        runs = json.loads(json.dumps(EXPLORATIONS))
        for run in runs:
            for f in ("var_x", "var_y", "cor"):
                if failing == "all" or (f, run["seed"]) in failing:
                    run["paths"][f"straight_{f}"]["null"] = _null(0.3, p_value=0.6)
        directions = heatmaps_report.answer_questions(summary, paired, comparison, runs)[0]
        verdicts[case] = " ".join(s for _, sentences in directions[1] for s in sentences)
    assert "only partly meaningful" in verdicts["one seed fails cor"]
    assert "cor in 1 of 2 seeds" in verdicts["one seed fails cor"]
    assert "no more selectively than random ones" in verdicts["all fail"]
    assert "are meaningful, as the study" not in verdicts["all fail"]


def test_a_falling_strip_is_as_monotone_as_a_rising_one(inputs):
    # The strip is binned along a code axis whose sign is arbitrary, so rho = -0.95 is a monotone strip.
    summary = pd.read_csv(inputs["summary_tsv"], sep="\t")
    paired = pd.read_csv(inputs["paired_tsv"], sep="\t")
    comparison = pd.read_csv(inputs["comparison_tsv"], sep="\t")
    runs = json.loads(json.dumps(EXPLORATIONS))
    for rho, wording in ((-0.95, "changes monotonically"), (0.3, "follows only loosely")):
        for run in runs:
            run["paths"]["isovariance"]["decoded_factor_spearman"]["cor"] = rho
        _, shape = heatmaps_report.answer_questions(summary, paired, comparison, runs)[1]
        assert wording in " ".join(s for _, sentences in shape for s in sentences)


def test_the_knn_sentence_names_the_k_the_probe_used(inputs):
    """The df sentence quotes the probe's own k (`evaluation.fixed_k`), not the notebook's 13."""
    comparison = pd.read_csv(inputs["comparison_tsv"], sep="\t")
    sentences = {}
    for k in (13, 7):
        metrics = {key: dict(values) for key, values in METRICS.items()}
        for model in ("vae", "ae"):
            metrics[("t", "student_t", model, model)]["knn_df.fixed_k.k_used"] = (k, k)
        summary, paired = aggregate_summary.summarise_metrics(_tidy(metrics), n_boot=50)
        _, per_dataset = heatmaps_report.answer_questions(summary, paired, comparison, EXPLORATIONS)[2]
        sentences[k] = " ".join(dict(per_dataset)["t"])
    assert "a 13-nearest-neighbour classifier" in sentences[13]
    assert "a 7-nearest-neighbour classifier" in sentences[7] and "13-nearest" not in sentences[7]


def test_the_df_sentence_sets_the_codes_beside_what_the_factors_make_knowable(inputs):
    """The Bayes accuracy and the true-factor probe (the dataset's, the same in every run) beside the codes'
    accuracy, and the share of the knowable margin over the majority class each code recovers."""
    comparison = pd.read_csv(inputs["comparison_tsv"], sep="\t")

    def differences(extra):
        metrics = {key: dict(values) for key, values in METRICS.items()}
        for model in ("vae", "ae"):
            metrics[("t", "student_t", model, model)].update(extra)
        summary, paired = aggregate_summary.summarise_metrics(_tidy(metrics), n_boot=50)
        _, per_dataset = heatmaps_report.answer_questions(summary, paired, comparison, EXPLORATIONS)[2]
        return " ".join(dict(per_dataset)["t"])

    numbers = {
        "knn_df.bayes.test_accuracy": (0.95, 0.95),
        "knn_df.bayes.test_accuracy_realised": (0.944, 0.944),
        "knn_df.true_factors.fixed_k.test_accuracy": (0.942, 0.942),
        "knn_df.test_positive_rate": (0.45, 0.45),
    }
    sentence = differences(numbers)
    assert (
        "Bayes accuracy from the true variances is 0.950 on the test rows (0.944 on their drawn labels)"
        in (sentence)
    )
    assert "the true (var_x, var_y, cor) scores 0.942" in sentence
    # Majority class 0.55; knowable margin 0.40; the AE (0.85) recovers 0.30 of it, the VAE (0.85) too.
    assert "above the majority class (0.550)" in sentence and "recover 75% and 75% of the 0.400" in sentence
    lower = differences({**numbers, "knn_df.bayes.test_accuracy": (0.75, 0.75)})
    assert "recover 150% and 150% of the 0.200" in lower and "beyond them (the tails)" in lower
    assert "beyond them" not in sentence
    # Runs without these numbers (an older study) keep the sentence they had.
    assert "knowable" not in differences({})


def test_a_large_png_is_embedded_in_a_palette_and_a_small_one_as_it_is(tmp_path):
    import io

    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(0)
    smooth = np.linspace(0, 255, 900 * 900 * 3).reshape(900, 900, 3).astype("uint8")
    noisy = (smooth.astype(int) + rng.integers(0, 40, smooth.shape)).clip(0, 255).astype("uint8")
    big, small = tmp_path / "big.png", tmp_path / "small.png"
    Image.fromarray(noisy).save(big)
    Image.fromarray(smooth[:50, :50]).save(small)
    assert big.stat().st_size > report.PALETTE_ABOVE_BYTES
    data, reduced = report.embedded_png(big)
    assert reduced and len(data) < big.stat().st_size
    with Image.open(io.BytesIO(data)) as image:
        assert image.size == (900, 900) and image.mode == "P"  # the same picture, 256 colours
    assert report.embedded_png(small) == (small.read_bytes(), False)
    assert report.embedded_png(big) == (data, True)  # deterministic


def test_each_kind_finds_its_chapter_by_name(monkeypatch):
    """A kind's chapter is its `kinds/<kind>/report.py`, found by name; a kind without one has none. Every
    kind has cards for the first section; factor_model and images have no chapter of their own."""
    from vae_latent_study.kinds.registry import KIND_MODULES

    kinds = ("heatmaps", "normal_1d", "factor_model", "images", "toy_manifold")
    assert sorted(report_chapter.chapter_modules(KIND_MODULES)) == sorted(
        f"vae_latent_study.kinds.{kind}.report" for kind in kinds
    )
    assert report_chapter.load_chapter("heatmaps") is heatmaps_report
    # A kind package without a report module has none (the throwaway kind of tests/test_kinds.py has none).
    monkeypatch.setattr(report_chapter.importlib.util, "find_spec", lambda name: None)
    assert report_chapter.chapter_module("heatmaps") is None and report_chapter.load_chapter("images") is None
    monkeypatch.undo()
    for kind in ("heatmaps", "normal_1d", "toy_manifold"):
        assert callable(report_chapter.load_chapter(kind).chapter)
    for kind in kinds:
        assert callable(report_chapter.load_chapter(kind).cards)
    assert not hasattr(report_chapter.load_chapter("images"), "chapter")


def test_the_chapters_follow_the_configs_kinds(inputs, tmp_path):
    """The heatmaps chapter (the answers, the claims, the latent geometry) is on the page where the config's
    datasets are heatmaps, and nowhere else: the page holds no kind's text itself."""
    page = _build(inputs, tmp_path / "heatmaps.html")
    assert page.count('id="answers"') == 1 and "Latent geometry" in page
    measured = {metric for values in METRICS.values() for metric in values}
    claims = [c for c in aggregate_expected.read_expected(EXPECTED).claims if c.metric in measured]
    assert len(claims) == 2  # the test tables have no empty share
    for claim in claims:
        assert "Claim: " + html.escape(claim.text) + "." in page
    other = {"datasets": {"gauss": {"kind": "toy_manifold"}, "t": {"kind": "toy_manifold"}}}
    page = _build({**inputs, "config": other}, tmp_path / "toy.html")
    assert "Answers" not in page and "Latent geometry" not in page and "Claim:" not in page
    assert 'id="study-study"' in page and "Every metric" in page
