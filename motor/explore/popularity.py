"""Test figures per item-popularity bucket (head, mid, tail, cold) from runs' ``metrics.json``.

Training writes ``metrics.json["by_popularity"]`` (``motor.evaluate.evaluate_by_popularity``:
``{"k", "rule", "buckets": {name: {"items", "test_interactions", "users", "recall@k", "ndcg@k"}}}``);
these functions flatten it into tables for charts, and summarise repeats of one setting (seeds)
as a mean with its spread. Pure functions: plain dicts in, DataFrames out.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from motor.metrics import BUCKETS

# a bucket with fewer test interactions than this is shown but never called "the largest difference": with one
# cold item and two test interactions a gap of +1.0 is a coin toss, not where the models differ
MIN_TEST_INTERACTIONS = 20


def bucket_rows(metrics: dict) -> list[dict]:
    """One row per bucket of one run's metrics (empty when it has no ``by_popularity``): bucket, items,
    test interactions, users, recall@k, ndcg@k (None where the bucket had no test interaction)."""
    pop = metrics.get("by_popularity") if isinstance(metrics, dict) else None
    if not isinstance(pop, dict) or not isinstance(pop.get("buckets"), dict):
        return []
    k = pop.get("k", 20)
    rows = []
    for name in [b for b in BUCKETS if b in pop["buckets"]] + [b for b in pop["buckets"] if b not in BUCKETS]:
        b = pop["buckets"][name]
        rows.append({"bucket": name, "items": b.get("items"), "test interactions": b.get("test_interactions"),
                     "users": b.get("users"), f"recall@{k}": b.get(f"recall@{k}"), f"ndcg@{k}": b.get(f"ndcg@{k}")})
    return rows


def popularity_table(named) -> pd.DataFrame:
    """Long table over several runs: ``named`` is (display name, metrics) pairs or a dict of them (repeats
    of one setting share a name, e.g. 'lightgcn · MOTOR · demo' for each seed); columns ``name`` then
    those of ``bucket_rows``. Empty when no run has buckets."""
    pairs = named.items() if isinstance(named, dict) else named
    rows = [{"name": n, **r} for n, m in pairs for r in bucket_rows(m)]
    return pd.DataFrame(rows)


def bucket_rule(metrics: dict) -> str | None:
    """The rule the buckets were made with (written with them) as a sentence for a caption: metrics.json
    writes it starting lower-case ('by training degree d ...'), without a full stop."""
    pop = metrics.get("by_popularity") if isinstance(metrics, dict) else None
    rule = pop.get("rule") if isinstance(pop, dict) else None
    if not isinstance(rule, str) or not rule.strip():
        return None
    rule = rule.strip()
    return rule[0].upper() + rule[1:] + ("" if rule.endswith(".") else ".")


def popularity_spread(table: pd.DataFrame, figure: str = "recall@20") -> pd.DataFrame:
    """Mean and standard deviation of ``figure`` per (name, bucket) over the rows of ``table`` (repeats of
    one setting, e.g. seeds): columns name, bucket, runs, mean, std (NaN below two values), items, test
    interactions (the bucket's, as the first run has it)."""
    if table.empty or figure not in table.columns:
        return pd.DataFrame(columns=["name", "bucket", "runs", "mean", "std", "items", "test interactions"])
    out = []
    for (name, bucket), part in table.groupby(["name", "bucket"], sort=False):
        v = pd.to_numeric(part[figure], errors="coerce").dropna()
        out.append({"name": name, "bucket": bucket, "runs": len(part),
                    "mean": float(v.mean()) if len(v) else np.nan,
                    "std": float(v.std(ddof=1)) if len(v) > 1 else np.nan,
                    "items": part["items"].iloc[0],
                    "test interactions": part["test interactions"].iloc[0] if "test interactions" in part else None})
    rank = {b: i for i, b in enumerate(BUCKETS)}  # head, mid, tail, cold whichever run listed which first
    return pd.DataFrame(out).sort_values("bucket", key=lambda c: c.map(rank).fillna(len(rank)), kind="stable",
                                         ignore_index=True)


def gap_sentence(spread: pd.DataFrame, first: str = "ID", second: str = "MOTOR", figure: str = "Recall@20") -> str:
    """Where ``second`` gains or loses against ``first``, one sentence from ``popularity_spread`` (buckets with
    a figure for both): 'MOTOR minus ID, test Recall@20: head +0.0710, tail -0.0053; its largest difference is
    on head items.' ('' when the two have no bucket in common). A bucket with fewer than
    ``MIN_TEST_INTERACTIONS`` test interactions is marked as too few to tell and never named as the largest. The
    overall figure is an average over users,
    so these differences say where the two rank differently, not shares of the overall gap."""
    if spread.empty:
        return ""
    means = spread.pivot_table(index="bucket", columns="name", values="mean", sort=False)
    if first not in means or second not in means:
        return ""
    diff = (means[second] - means[first]).dropna()
    if diff.empty:
        return ""
    order = [b for b in BUCKETS if b in diff.index] + [b for b in diff.index if b not in BUCKETS]
    tests = spread.drop_duplicates("bucket").set_index("bucket").get("test interactions", pd.Series(dtype=float))
    few = {b for b in order if pd.notna(tests.get(b)) and tests.get(b) < MIN_TEST_INTERACTIONS}
    parts = ", ".join(f"{b} {diff[b]:+.4f}" + (f" ({int(tests[b])} test interaction{'s' * (int(tests[b]) != 1)}: "
                                               "too few to tell)" if b in few else "") for b in order)
    sized = diff.drop(index=list(few))
    if sized.empty:
        tail = ""
    elif sized.abs().max() > 0:
        tail = f"; its largest difference is on {sized.abs().idxmax()} items"
    else:
        tail = "; no difference in any bucket" + (" with enough test interactions" if few else "")
    return f"{second} minus {first}, test {figure}: {parts}{tail}."


def no_held_out_note(table: pd.DataFrame) -> str:
    """What to say where a run held no item out (no cold figures): how to hold some out, and, when the training
    fraction left items without any training interaction (the popularity table's cold bucket), that those are
    not held-out items but are counted in the cold bucket."""
    note = "Train with a cold-item fraction above 0 to compare items held out of training on purpose."
    cold = table[table["bucket"] == "cold"]["items"] if "bucket" in table else pd.Series(dtype=float)
    n = int(pd.to_numeric(cold, errors="coerce").fillna(0).max()) if len(cold) else 0
    if n:
        note += (f" Here no item was held out, but {n:,} item{'s' * (n != 1)} lost every training interaction to "
                 "the training fraction: the cold bucket below counts them.")
    return note
