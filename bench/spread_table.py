"""The heatmap study's spread over training runs pooled from several finished studies (machines), beside the
notebook's numbers, and the notebook's three VAE-vs-AE claims as paired tests over those runs.

Run: `python bench/spread_table.py NAME=DIR [NAME=DIR ...] [--tsv-prefix out/spread]`.

Each DIR is a finished heatmap study (its `results/metrics/metrics.tsv`) of one machine, all in one
precision; NAME tags its seeds (`NAME:seed`), so that the same seed on two CPUs, whose float32 bits
differ, counts as two runs and a VAE pairs with the AE of its own machine only. Prints, per printed number
of the notebook (`config/expected/heatmaps.yaml`): our mean ± sd over the runs, the 95% t-interval of the
mean, the range and whether the notebook's single run lies inside it (`evaluation.compare_expected`); then
the three claims (the file's `claims`: paired test, statistic, p-value, verdict), as the workflow's
`paired_vae_vs_ae.tsv` judges them within one study.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd

from vae_latent_study.aggregate.compare import compare_expected, read_expected
from vae_latent_study.aggregate.summary import summarise_metrics
from vae_latent_study.io import read_table

REPO = Path(__file__).resolve().parents[1]


def _fmt(value: float, digits: int = 4) -> str:
    return "" if value != value else f"{value:.{digits}g}"  # NaN prints empty


def pooled_metrics(named_dirs: list[tuple[str, Path]]) -> pd.DataFrame:
    """The studies' metric tables, one after another, each seed renamed `NAME:seed`."""
    tables = []
    for name, directory in named_dirs:
        tidy = read_table(directory / "results" / "metrics" / "metrics.tsv")
        tables.append(tidy.assign(seed=[f"{name}:{seed}" for seed in tidy["seed"]]))
    return pd.concat(tables, ignore_index=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("studies", nargs="+", help="NAME=DIR: a finished study of one machine")
    parser.add_argument("--expected", type=Path, default=REPO / "config" / "expected" / "heatmaps.yaml")
    parser.add_argument("--tsv-prefix", type=Path, help="also write PREFIX_seed.tsv and PREFIX_claims.tsv")
    args = parser.parse_args()
    named = []
    for item in args.studies:
        name, sep, directory = item.partition("=")
        if not sep or not name:
            parser.error(f"give each study as NAME=DIR; got {item!r}")
        named.append((name, Path(directory)))
    tidy = pooled_metrics(named)

    expected = read_expected(args.expected)
    table = compare_expected(tidy, expected, "heatmaps")
    table = table[table["n_seeds"] > 0]
    print(
        "| quantity | dataset, model | notebook | ours: mean ± sd (runs) | 95% CI of the mean | range "
        "| notebook in range |"
    )
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for row in table.itertuples():
        print(
            f"| {row.quantity} | {row.dataset}, {row.model} | {_fmt(row.expected_value)} | "
            f"{_fmt(row.ours_mean)} ± {_fmt(row.ours_sd, 2)} ({row.n_seeds}) | "
            f"[{_fmt(row.ours_ci_low)}, {_fmt(row.ours_ci_high)}] | "
            f"{_fmt(row.ours_min)}-{_fmt(row.ours_max)} | {row.in_seed_range} |"
        )

    _, paired = summarise_metrics(tidy, claims=dict.fromkeys(tidy["dataset"].unique(), expected.claims))
    claims = paired.dropna(subset=["claim"])
    print("\n| claim | dataset | runs | VAE − AE [95% CI] | test | statistic | p | verdict |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    for row in claims.itertuples():
        print(
            f"| {row.claim} | {row.dataset} | {row.n_pairs} | {_fmt(row.diff_mean, 3)} "
            f"[{_fmt(row.diff_ci_low, 3)}, {_fmt(row.diff_ci_high, 3)}] | {row.test} | "
            f"{_fmt(row.statistic, 3)} | {_fmt(row.p_value, 2)} | {row.verdict} |"
        )
    if args.tsv_prefix:
        args.tsv_prefix.parent.mkdir(parents=True, exist_ok=True)
        table.to_csv(f"{args.tsv_prefix}_seed.tsv", sep="\t", index=False)
        claims.to_csv(f"{args.tsv_prefix}_claims.tsv", sep="\t", index=False)


if __name__ == "__main__":
    main()
