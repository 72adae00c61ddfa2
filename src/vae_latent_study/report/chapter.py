"""What the page hands a dataset kind's chapter, and how it finds one.

A kind contributes to the report through a module `vae_latent_study.kinds.<kind>.report` (only where it has
something to add) with

- `chapter(inputs: ReportInputs, part: StudyPart) -> list[str]`: HTML for the kind's datasets inside one
  study's section (an empty list: nothing to say), and optionally
- `metric_tables(inputs: ReportInputs, datasets: Sequence[str]) -> list[str]`: HTML for the page's metric
  tables, given every dataset of the kind, and
- `cards(inputs: ReportInputs, part: StudyPart) -> list[report.cards.Card]`: the answers to the study's
  headline questions that the page's first section shows (`report.cards`). A module may have cards and no
  chapter.

The page imports a chapter by name, when it runs; the report rule's code digest names the chapters
(`chapter_modules`), so that editing one rebuilds the report.
"""

from __future__ import annotations

import importlib
import importlib.util
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from types import ModuleType
from typing import Any

import pandas as pd


@dataclass(frozen=True)
class ReportInputs:
    """Everything the page read: the aggregation's tables, the per-run summaries it was given, the config."""

    summary: pd.DataFrame
    paired: pd.DataFrame
    comparison: pd.DataFrame
    #: The latent-space exploration summaries (heatmap runs), one per run.
    explorations: list[dict]
    #: The summaries over replicates (replicate kinds), each with its `dataset`.
    replicates: list[dict]
    config: Mapping[str, Any]
    #: The per-seed tidy table (`metrics.tsv`) where the page was given it: the cards' spreads over seeds.
    tidy: pd.DataFrame | None = None

    def dataset_kinds(self) -> dict[str, str]:
        """{dataset: its kind} of the config's datasets."""
        return {name: spec["kind"] for name, spec in (self.config.get("datasets") or {}).items()}

    def datasets_of(self, kind: str) -> list[str]:
        """The config's datasets of `kind`, by name."""
        return sorted(name for name, found in self.dataset_kinds().items() if found == kind)


@dataclass(frozen=True)
class StudyPart:
    """One study as one kind's chapter sees it."""

    study: str
    #: The study's datasets of the chapter's kind, and the study's models.
    datasets: tuple[str, ...]
    models: tuple[str, ...]
    #: Whether this is the first study of the page with datasets of the kind.
    first: bool


def chapter_module(kind: str) -> str | None:
    """The name of kind `kind`'s report module, or None where the kind has none."""
    name = f"vae_latent_study.kinds.{kind}.report"
    return name if importlib.util.find_spec(name) is not None else None


def chapter_modules(kinds: Iterable[str]) -> list[str]:
    """The report modules of `kinds` that exist: code the report runs without a static import."""
    return [name for name in map(chapter_module, kinds) if name is not None]


def load_chapter(kind: str) -> ModuleType | None:
    """Kind `kind`'s report module, imported; None where the kind has none."""
    name = chapter_module(kind)
    return None if name is None else importlib.import_module(name)
