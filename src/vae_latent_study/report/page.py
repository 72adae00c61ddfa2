"""The study's report: one self-contained HTML file that sets out the study's numbers.

`build_report` writes a single file that opens from the file system with no network: figures are embedded
as base64 data URIs, interactive plotly figures inline with plotly.js included once. It opens on the answers:
one card per study with its headline questions answered from the numbers (each kind's `cards`,
`report.cards`), a quick run's marked as such. A section per study
holds what each dataset kind has to say about its runs (the kind's chapter, `kinds/<kind>/report.py`,
found by name: `report.chapter`; the heatmaps kind answers seed 000's questions from the numbers), the
numbers its source printed beside ours, and its metrics; then every figure with its caption, the metric
tables, and the provenance (the config file, config, seeds, versions, commit).
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
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from vae_latent_study.io import atomic_path, read_json, read_table, reading
from vae_latent_study.provenance import library_versions
from vae_latent_study.report.cards import CARD_STYLE, Card, cards_html, for_quick_run
from vae_latent_study.report.chapter import ReportInputs, StudyPart, load_chapter
from vae_latent_study.report.markup import fmt_number, html_table

logger = logging.getLogger(__name__)

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
_STYLE += CARD_STYLE


#: What a quick run's comparison shows in place of its verdicts against the source.
QUICK_NOT_JUDGED_CELL = "not judged (quick run)"


def _comparison_table(comparison: pd.DataFrame, quick: bool = False) -> str:
    """The source's numbers beside ours; a quick run's shows no verdict (`QUICK_NOT_JUDGED_CELL` in the
    `verdict` and `in_seed_range` columns)."""
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
    if quick:
        frame = frame.assign(
            **{c: QUICK_NOT_JUDGED_CELL for c in ("in_seed_range", "verdict") if c in frame.columns}
        )
        verdicts = ["quick"] * len(frame)
    return html_table(
        frame.astype(object).where(frame.notna(), None), classes=verdicts, cell_classes={"verdict": "verdict"}
    )


def _summary_table(summary: pd.DataFrame) -> str:
    """Metrics as rows, dataset/model as columns: the mean (± the std over seeds when there are several)."""
    if summary.empty:
        return "<p>No metrics.</p>"
    cells = summary.assign(
        column=summary["dataset"] + " / " + summary["model"],
        text=[
            fmt_number(m) + (f" ± {fmt_number(s)}" if isinstance(s, float) and math.isfinite(s) else "")
            for m, s in zip(summary["mean"], summary["std"], strict=True)
        ],
    )
    pivot = cells.pivot(index="metric", columns="column", values="text").fillna("–")
    pivot = pivot.reset_index()
    return html_table(pivot.astype(object))


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


#: The config files of the checkout that the provenance names by their role (relative to the checkout).
CONFIG_FILE_CLASSES = {"config/quick.yaml": "the quick config", "config/config.yaml": "the default config"}


def describe_config_files(
    paths: Sequence[str | Path], repo: str | Path, workdir: str | Path | None = None
) -> list[str]:
    """Each config file Snakemake read (`workflow.configfiles`), as the provenance names it: its path
    relative to `workdir` where it lies inside it (else as given, made absolute), and which it is: the
    checkout's quick config, its default config or another file (its resolved path against `repo`'s)."""
    workdir = Path(workdir if workdir is not None else os.getcwd()).resolve()
    known = {(Path(repo) / name).resolve(): role for name, role in CONFIG_FILE_CLASSES.items()}
    out = []
    for path in paths:
        resolved = (workdir / Path(path)).resolve()
        try:
            shown = resolved.relative_to(workdir).as_posix()
        except ValueError:
            shown = str(resolved)
        out.append(f"{shown} ({known.get(resolved, 'another file')})")
    return out


def _config_file_html(config_files: Sequence[str], quick: bool) -> str:
    """The provenance's line on the config: the file(s) it came from and whether it is a quick run."""
    if config_files:
        label = "Config file" if len(config_files) == 1 else "Config files (in the order read)"
        files = ", ".join(f"<code>{html.escape(str(f))}</code>" for f in config_files)
    else:
        label, files = "Config file", "not recorded (the report was built outside the workflow)"
    run = (
        "a quick run: every study at reduced sizes, its numbers not the study's"
        if quick
        else "a full-size run (the config's <code>quick</code> is false)"
    )
    return f"<p>{label}: {files}. This is {run}.</p>"


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
    return html_table(frame.astype(object))


def _studies(
    config: Mapping[str, Any], summary: pd.DataFrame, order: Sequence[str] = ()
) -> dict[str, dict[str, list[str]]]:
    """{study: {datasets, models}} of the config, in `order` where it names them (then the config's order);
    one study of every run when the config names none."""
    given = config.get("studies") or {}
    if given:
        names = [name for name in order if name in given] + [name for name in given if name not in order]
        return {
            name: {"datasets": list(given[name]["datasets"]), "models": list(given[name]["models"])}
            for name in names
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
    metrics_tsv: str | Path | None = None,
    config_files: Sequence[str] = (),
    study_order: Sequence[str] = (),
) -> None:
    """Write the report as one self-contained HTML file.

    `figures` holds (path, caption, section) in display order: PNGs (embedded as data URIs) and plotly
    figure JSONs (drawn inline; plotly.js is included once). The tables are the aggregation's TSVs,
    `explorations` the `explore.explore_latents` summaries, `config` the resolved study config, and
    `source_dir` the checkout whose git commit the provenance names. `metrics_tsv`, the per-seed tidy
    table, gives the cards their spreads over seeds (without it they quote the summary's mean and sd);
    `config_files` are the config files as the provenance names them (`describe_config_files`).
    `study_order` orders the cards and chapters (the config file's order; the resolved config's studies are
    sorted by name), studies it leaves out follow in the config's order.
    """
    summary = read_table(summary_tsv)
    comparison = read_table(comparison_tsv)
    paired = read_table(paired_tsv)
    runs = [read_json(p) for p in explorations]
    studies = _studies(config, summary, study_order)
    replicates = []
    for path in replicate_summaries:
        found = read_json(path)
        replicates.append({**found, "dataset": found["replicates"][0]["dataset"]})
    tidy = read_table(metrics_tsv) if metrics_tsv is not None else None
    inputs = ReportInputs(summary, paired, comparison, runs, replicates, config, tidy)
    quick = bool(config.get("quick"))
    # Each dataset kind of the studies, in the order of their datasets, with its chapter where it has one
    # (by name: no job imports the registry, so that adding a kind reruns nothing).
    kinds_of = inputs.dataset_kinds()
    kinds = dict.fromkeys(kinds_of[d] for spec in studies.values() for d in spec["datasets"] if d in kinds_of)
    chapters = {kind: load_chapter(kind) for kind in kinds}

    sections = list(dict.fromkeys(figure[2] for figure in figures))
    anchors = {s: f"figures-{i}" for i, s in enumerate(sections)}
    toc = [("headline", "The answers, study by study")]
    toc += [(f"study-{name}", f"Study {name}") for name in studies]
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
    if quick:
        parts.append(
            '<p class="quick-banner" id="quick-run">Quick run: every study at reduced sizes (the config sets '
            "<code>quick</code>). These numbers show the workflow working; they are not the studies' and are "
            "judged against no source.</p>"
        )
    parts.append('<section id="headline"><h2>The answers, study by study</h2>')
    parts.append(
        "<p>Each study's headline questions: our numbers with their spread, the truth where the data know "
        "it, the number the source printed and a verdict computed from them by the rule it states.</p>"
    )
    study_parts = _study_parts(studies, chapters, kinds_of)
    parts.append(cards_html(list(studies), _cards(inputs, study_parts, quick)))
    parts.append("</section>")
    parts.append(
        "<p>Then a chapter per study: the heatmap study's questions answered from this run's numbers, each "
        "source's printed numbers beside ours, and the study's metrics; then every figure, the metric "
        "tables and the provenance. This file opens offline: it draws the figures of each model's first "
        "training seed and links those of the other seeds, files beside it in results/figures/.</p>"
    )
    parts.append(
        "<nav><ul>" + "".join(f'<li><a href="#{a}">{html.escape(t)}</a></li>' for a, t in toc) + "</ul></nav>"
    )

    for name, spec in studies.items():
        own = summary[summary["dataset"].isin(spec["datasets"]) & summary["model"].isin(spec["models"])]
        parts.append(f'<section id="study-{html.escape(name)}"><h2>Study {html.escape(name)}</h2>')
        parts.append(
            f"<p>Datasets {html.escape(', '.join(spec['datasets']))}; models "
            f"{html.escape(', '.join(spec['models']))}.</p>"
        )
        for module, part in study_parts[name]:
            if module is not None and hasattr(module, "chapter"):
                parts += module.chapter(inputs, part)
        rows = (
            comparison[comparison["study"] == name] if "study" in comparison.columns else comparison.iloc[:0]
        )
        # The first chapter's comparison keeps the anchor the report has always had.
        anchor = ' id="comparison"' if name == next(iter(studies)) else ""
        parts.append(f"<h3{anchor}>Our numbers beside the source's{' (quick run)' if quick else ''}</h3>")
        if len(rows):
            parts.append(
                "<p>Each number the source printed, beside ours (the mean over training seeds, with the "
                "range), and whether it lies within the tolerance.</p>"
                if not quick
                else "<p>Each number the source printed, beside this quick run's (reduced sizes): shown, "
                f"not judged; the verdict columns read “{QUICK_NOT_JUDGED_CELL}”.</p>"
            )
            parts.append(_comparison_table(rows, quick=quick))
        else:
            parts.append("<p>The source printed no number that a metric of ours measures.</p>")
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
    for kind, module in chapters.items():
        if module is not None and hasattr(module, "metric_tables"):
            parts += module.metric_tables(inputs, inputs.datasets_of(kind))
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
    parts.append(html_table(shown.astype(object).where(shown.notna(), None)))
    parts.append("</section>")

    versions = library_versions(extra=REPORT_LIBRARIES)
    parts.append('<section id="provenance"><h2>Provenance</h2>')
    parts.append(_config_file_html(config_files, quick))
    parts.append(f"<p>Source commit: <code>{html.escape(git_commit(source_dir))}</code></p>")
    parts.append("<h3>Seeds</h3>" + _key_value_table(_seeds(config)))
    parts.append("<h3>Library versions</h3>" + _key_value_table(versions))
    parts.append("<h3>Resolved config</h3>")
    parts.append(f"<pre>{html.escape(yaml.safe_dump(_plain(config), sort_keys=False))}</pre>")
    parts.append("</section></body></html>")

    with atomic_path(output_html) as tmp:
        tmp.write_text("\n".join(parts) + "\n", encoding="utf-8")
    logger.info("wrote %s: %d figures, %d exploration summaries", output_html, len(figures), len(runs))


def _study_parts(
    studies: Mapping[str, Mapping[str, Any]], chapters: Mapping[str, Any], kinds_of: Mapping[str, str]
) -> dict[str, list[tuple[Any, StudyPart]]]:
    """{study: [(report module, part)]}: each kind with datasets in the study, in the order of `chapters`,
    with its report module (None where it has none) and its part of the study (`first` on the kind's first
    study, where its chapter writes what it says once per page)."""
    seen: set[str] = set()
    out: dict[str, list[tuple[Any, StudyPart]]] = {}
    for name, spec in studies.items():
        out[name] = []
        for kind, module in chapters.items():
            datasets = tuple(d for d in spec["datasets"] if kinds_of.get(d) == kind)
            if datasets:
                out[name].append(
                    (module, StudyPart(name, datasets, tuple(spec["models"]), first=kind not in seen))
                )
                seen.add(kind)
    return out


def _cards(
    inputs: ReportInputs, study_parts: Mapping[str, Sequence[tuple[Any, StudyPart]]], quick: bool
) -> dict[str, list[Card]]:
    """{study: its cards}: each kind with datasets in the study adds its module's `cards` (a quick run's
    judged against no source: `cards.for_quick_run`)."""
    out: dict[str, list[Card]] = {}
    for name, found_parts in study_parts.items():
        found = [
            card
            for module, part in found_parts
            if module is not None and hasattr(module, "cards")
            for card in module.cards(inputs, part)
        ]
        out[name] = [for_quick_run(card) for card in found] if quick else found
    return out


def _plain(node: Any) -> Any:
    """Snakemake's config is made of its own mapping types; plain dicts and lists for YAML."""
    if isinstance(node, Mapping):
        return {str(k): _plain(v) for k, v in node.items()}
    if isinstance(node, list | tuple):
        return [_plain(v) for v in node]
    return node
