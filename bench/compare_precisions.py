"""Two finished studies side by side, paired by training seed (e.g. float32 and mixed_bfloat16 training).

Run: `python bench/compare_precisions.py F32_DIR BF16_DIR [F32_DIR BF16_DIR ...] [--tsv out.tsv]`.

Each directory is a finished study (its `results/`), trained with the same datasets, model names and seeds
but a different `precision`. Each pair of directories is one machine's: a seed pairs with the same seed of
the same machine only (`equivalence.on_machine`), and the pairs of every machine are pooled. Prints, per
dataset, model and judged metric (`equivalence.JUDGED`): each side's mean and sd over the pairs, the mean
difference (second minus first) with its 95% t-interval, and whether it lies within the seed-to-seed
spread (the two sds pooled); then how many metrics do.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd

from vae_latent_study.aggregate.equivalence import compare_studies, on_machine, study_metrics


def _fmt(value: float, digits: int = 4) -> str:
    return "" if value != value else f"{value:.{digits}g}"  # NaN prints empty


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dirs", type=Path, nargs="+", help="FLOAT32_DIR BFLOAT16_DIR, one pair per machine")
    parser.add_argument("--tsv", type=Path, help="also write the table here")
    args = parser.parse_args()
    if len(args.dirs) % 2:
        parser.error("give the directories in pairs: FLOAT32_DIR BFLOAT16_DIR per machine")
    sides: tuple[list[pd.DataFrame], list[pd.DataFrame]] = ([], [])
    for i in range(0, len(args.dirs), 2):
        machine = f"pair{i // 2}"
        for side, directory in zip(sides, args.dirs[i : i + 2], strict=True):
            side.append(on_machine(study_metrics(directory), machine))
        print(f"{machine}: {args.dirs[i]} / {args.dirs[i + 1]}")
    table = compare_studies(pd.concat(sides[0]), pd.concat(sides[1]))
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
