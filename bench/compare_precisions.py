"""Two finished studies side by side, paired by training seed (e.g. float32 and mixed_bfloat16 training).

Run: `python bench/compare_precisions.py FLOAT32_DIR BFLOAT16_DIR [--tsv out.tsv]`.

Each directory is a finished study (its `results/`), trained with the same datasets, model names and seeds
but a different `precision`. Prints, per dataset, model and judged metric (`equivalence.JUDGED`): each
side's mean and sd over seeds, the mean difference (second minus first) with its 95% t-interval, and
whether it lies within the seed-to-seed spread (the two sds pooled); then how many metrics do.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from vae_latent_study.equivalence import compare_studies, study_metrics


def _fmt(value: float, digits: int = 4) -> str:
    return "" if value != value else f"{value:.{digits}g}"  # NaN prints empty


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("first", type=Path)
    parser.add_argument("second", type=Path)
    parser.add_argument("--tsv", type=Path, help="also write the table here")
    args = parser.parse_args()
    table = compare_studies(study_metrics(args.first), study_metrics(args.second))
    if args.tsv:
        table.to_csv(args.tsv, sep="\t", index=False)
    print(
        "| dataset | model | metric | seeds | float32 mean ± sd | bfloat16 mean ± sd "
        "| bf16 − f32 [95% CI] | within spread |"
    )
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    for row in table.itertuples():
        within = {True: "yes", False: "**no**", None: "n/a"}[row.within_spread]
        print(
            f"| {row.dataset} | {row.model} | {row.metric} | {row.n_seeds} | {_fmt(row.mean_a)} ± "
            f"{_fmt(row.sd_a, 2)} | {_fmt(row.mean_b)} ± {_fmt(row.sd_b, 2)} | {_fmt(row.diff_mean, 3)} "
            f"[{_fmt(row.diff_ci_low, 3)}, {_fmt(row.diff_ci_high, 3)}] | {within} |"
        )
    judged = table.dropna(subset=["seed_sd"])
    print(
        f"\n{int(judged['within_spread'].sum())} of {len(judged)} metric rows differ by less than the "
        f"seed-to-seed sd; {int(((judged['diff_ci_low'] > 0) | (judged['diff_ci_high'] < 0)).sum())} have a "
        "95% interval of the difference that excludes 0"
    )


if __name__ == "__main__":
    main()
