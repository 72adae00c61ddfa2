"""Compare two metrics.tsv: same rows (dataset, model, seed, metric), same family/kind, same values (exact)."""
import sys

import pandas as pd

a, b = (pd.read_csv(p, sep="\t") for p in sys.argv[1:3])
key = ["dataset", "model", "seed", "metric"]
m = a.merge(b, on=key, how="outer", suffixes=("_before", "_after"), indicator=True)
only_before = m[m["_merge"] == "left_only"]
only_after = m[m["_merge"] == "right_only"]
both = m[m["_merge"] == "both"]
same_value = (both["value_before"] == both["value_after"]) | (both["value_before"].isna() & both["value_after"].isna())
same_id = (both["family_before"].fillna("") == both["family_after"].fillna("")) & (both["kind_before"] == both["kind_after"])
print(f"{sys.argv[1]}: rows before {len(a)}, after {len(b)}; only before {len(only_before)}, only after {len(only_after)}; "
      f"values differing {int((~same_value).sum())}; identity differing {int((~same_id).sum())}")
if len(only_before):
    print(only_before[key + ["value_before"]].to_string())
if len(only_after):
    print(only_after[key + ["value_after"]].to_string())
if (~same_value).any():
    print(both[~same_value][key + ["value_before", "value_after"]].head(20).to_string())
