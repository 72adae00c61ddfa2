"""Reading and writing the project's files: outputs written so that a failed or killed job never leaves a
file that looks finished, and readers whose errors name the file and the command that rebuilds it."""

from __future__ import annotations

import contextlib
import io
import json
import logging
import os
from collections.abc import Iterator
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd


@contextlib.contextmanager
def atomic_path(path: str | Path, keep_suffix: str = "") -> Iterator[Path]:
    """Yield a temporary path beside `path`; move it onto `path` only if the block finishes.

    The rename is atomic on one file system, so readers (and Snakemake) see either no file or a
    complete one; on any error the temporary file is removed. `keep_suffix` ends the temporary name,
    for writers that insist on an extension (Keras's `.keras`, `.weights.h5`).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp{keep_suffix}")
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


#: The rule that writes each project file, by path pattern (matched from the right, `*` within one
#: folder): the one place that turns a damaged file into the command that rebuilds it. First match wins.
WRITERS: tuple[tuple[str, str], ...] = (
    ("results/data/*.h5", "build_dataset"),
    ("results/data/*/seed*.h5", "build_dataset_replicate"),
    ("results/models/*/*/seed*/*", "train_model"),
    ("results/latents/*/*/seed*.h5", "encode_dataset"),
    ("results/evaluation/*/*/seed*/reconstruction.*", "evaluate_reconstruction"),
    ("results/evaluation/*/*/seed*/exploration.json", "explore_latents"),
    ("results/evaluation/*/*/replicates.json", "summarise_replicates"),
    # A kind's evaluation `<name>` writes `<name>.json` (rule `evaluate_<name>`): see `writing_rule`.
    ("results/figures/*/*/seed*/generated_*.png", "evaluate_generation"),
    ("results/figures/*/*/seed*/decoder_curve.png", "evaluate_generation"),
    ("results/figures/*/*/seed*/factor_*.png", "evaluate_recovery"),
    ("results/figures/*/*/seed*/manifold_reconstructions.png", "evaluate_manifold"),
    ("results/figures/*/*/seed*/tail_transfer.png", "evaluate_transfer"),
    ("results/figures/*/*/seed*/embedding.png", "evaluate_images"),
    ("results/figures/*/*/seed*/code_grid.png", "evaluate_images"),
    ("results/figures/*/*/seed*/samples.png", "evaluate_images"),
    ("results/figures/*/*/seed*/image_reconstructions.png", "evaluate_images"),
    ("results/figures/*/*/seed*/style_transfer.png", "evaluate_cvae"),
    ("results/figures/*/*/seed*/label_manifolds.png", "evaluate_cvae"),
    ("results/figures/*/*/seed*/code_distribution.png", "evaluate_cvae"),
    ("results/figures/*/*/seed*/cvae_reconstructions.png", "evaluate_cvae"),
    ("results/figures/*/*/seed*/*", "explore_latents"),
    ("results/metrics/comparison_with_sources.tsv", "compare_with_sources"),
    ("results/metrics/*.tsv", "aggregate_metrics"),
)


def writing_rule(path: str | Path) -> tuple[str, str] | None:
    """(rule, path from `results/` on) of the workflow rule that writes `path`, or None for another file."""
    parts = PurePosixPath(Path(path).as_posix()).parts
    if "results" not in parts:
        return None
    # The last `results` folder: the study's, however deep its working directory lies.
    start = len(parts) - 1 - parts[::-1].index("results")
    target = PurePosixPath(*parts[start:])
    for pattern, rule in WRITERS:
        if target.match(pattern):
            return rule, target.as_posix()
    if target.match("results/evaluation/*/*/seed*/*.json"):
        return f"evaluate_{target.stem}", target.as_posix()
    return None


def rebuild_advice(path: str | Path) -> str:
    """What to do about a damaged `path`: the rule that writes it and the command that rebuilds it."""
    writer = writing_rule(path)
    if writer is None:
        return "Write it again with the code that made it."
    rule, target = writer
    # --forcerun takes a file too: its job reruns, and so does everything downstream of it.
    return (
        f"Rule {rule} writes it; rebuild it and what depends on it, in the study's directory: "
        f"snakemake --cores <N> --forcerun {target}"
    )


class ProjectFileError(ValueError):
    """A project file that cannot be read: missing, cut short, damaged or of an old format.

    The message names the file, what is wrong with it and how to rebuild it (`rebuild_advice`)."""

    def __init__(self, path: str | Path, problem: str) -> None:
        self.path = Path(path)
        super().__init__(f"cannot read {path}: {problem}\n{rebuild_advice(path)}")


@contextlib.contextmanager
def reading(path: str | Path) -> Iterator[Path]:
    """Run a reader of `path`: any error inside becomes a `ProjectFileError` naming the file.

    Every reader of a project file goes through this, so that a damaged file says which one it is (HDF5,
    Keras and pandas errors often do not) and how to rebuild it.
    """
    try:
        yield Path(path)
    except ProjectFileError:
        raise
    except FileNotFoundError as error:
        raise ProjectFileError(path, "no such file") from error
    except Exception as error:
        raise ProjectFileError(path, f"{type(error).__name__}: {error}") from error


def read_json(path: str | Path) -> Any:
    """The content of a JSON file the workflow wrote."""
    with reading(path) as file:
        return json.loads(file.read_text(encoding="utf-8"))


def read_table(path: str | Path, sep: str = "\t") -> pd.DataFrame:
    """A TSV (or, with `sep=","`, CSV) table the workflow wrote with pandas or csv."""
    with reading(path) as file:
        text = file.read_text(encoding="utf-8")
        # Every writer ends the file with a newline: a file without one was cut short mid-row, which
        # pandas would read without complaint (the last row's missing cells as NaN).
        if not text.endswith("\n"):
            raise ValueError("it does not end with a newline, so it was cut short")
        import pandas as pd  # here: the HDF5 readers and writers of this module do not need it

        return pd.read_csv(io.StringIO(text), sep=sep, keep_default_na=True)


def write_table(table: pd.DataFrame, path: str | Path) -> None:
    """`table` as a tab-separated file without its index, written atomically."""
    with atomic_path(path) as tmp:
        table.to_csv(tmp, sep="\t", index=False)
    logging.getLogger(__name__).info("wrote %s (%d rows)", path, len(table))
