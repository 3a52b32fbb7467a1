"""The backbone table read back: MOTOR against ID per backbone on dense data, and on items never seen in training.

``python -m motor bench backbones`` writes ``benchmarks/backbones.csv``: one row per run (dataset,
backbone, items, seed, warm test ``recall@20``, ``cold_recall@20``, ``cold_fraction``, ...), every run with a
share of the items held out as cold (``--cold-items``, 10% by default: no training interaction; their test
interactions ranked among all items).
This module pairs MOTOR with ID per dataset and backbone over the seeds, so the app can show the two
sides of MOTOR's claim next to each other: how it ranks items that have interactions (where an ID
row learns them) and items that have none (where an ID row is untrained noise and MOTOR still has
the item's content).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from motor.explore.bench_tables import read_table
from motor.explore.seed_spread import clear_counts, p_column

REQUIRED = ("dataset", "backbone", "items", "seed", "recall@20", "cold_recall@20")
HOW_TO = "python -m motor bench backbones"
COLD_FACTOR = 3.0  # "MOTOR clearly ahead on new items": at least this multiple of ID's cold Recall@20 ...
COLD_FLOOR = 0.01  # ... and at least this much: 0.0002 against 0 is "infinitely more" but finds no new item


def load_backbones(path: Path | str) -> pd.DataFrame:
    """The benchmark's runs (one row per seed); MotorError naming what is missing if the file is not one."""
    df = read_table(path, REQUIRED, "a backbone table", HOW_TO)
    for c in ("recall@20", "cold_recall@20"):
        df[c] = pd.to_numeric(df[c], errors="coerce")
    return df


def cold_ratio(motor: float, id_: float) -> float:
    """MOTOR's cold Recall@20 as a multiple of ID's: inf when only MOTOR finds cold items, NaN when neither does
    or either figure is missing (a backbone whose every run on one side failed)."""
    if np.isnan(motor) or np.isnan(id_):
        return float("nan")
    if id_ > 0:
        return motor / id_
    return float("inf") if motor > 0 else float("nan")


def summary(runs: pd.DataFrame) -> pd.DataFrame:
    """Per dataset and backbone with both models: ``id``, ``motor`` (warm test Recall@20, mean over seeds),
    ``gap`` (MOTOR minus ID) and ``gap_std`` (the two spreads combined as for independent seeds),
    ``cold_id``, ``cold_motor`` (cold Recall@20 among all items), ``cold_ratio`` (``cold_ratio``) and
    ``seeds`` (the fewer of the two sides), ``p`` (Welch's t-test of the warm gap over the seeds, NaN below two
    seeds a side), ``cold_fraction`` (the share of items the dataset's runs held out,
    NaN when the table does not record it or its runs differ), sorted by dataset and backbone. Failed runs (an ``error``, or no
    test figure) are left out: they are in the log to be retried, not figures to average or count as seeds. One
    seed gives no spread (``gap_std`` NaN, not 0)."""
    ok = runs["recall@20"].notna()
    if "error" in runs:
        ok &= runs["error"].isna() | (runs["error"].astype(str).str.strip() == "")
    runs = runs[ok]
    stats = (runs.groupby(["dataset", "backbone", "items"])
             .agg(r=("recall@20", "mean"), r_std=("recall@20", "std"), cold=("cold_recall@20", "mean"),
                  seeds=("seed", "nunique"))
             .reset_index())
    idr, mot = stats[stats["items"] == "id"], stats[stats["items"] == "motor"]
    both = mot.merge(idr, on=["dataset", "backbone"], suffixes=("_motor", "_id"))
    out = pd.DataFrame({"dataset": both["dataset"], "backbone": both["backbone"],
                        "id": both["r_id"], "motor": both["r_motor"]})
    out["gap"] = out["motor"] - out["id"]
    out["gap_std"] = np.sqrt(both["r_std_motor"] ** 2 + both["r_std_id"] ** 2)  # NaN below two seeds a side
    out["cold_id"], out["cold_motor"] = both["cold_id"], both["cold_motor"]
    out["cold_ratio"] = [cold_ratio(m, i) for m, i in zip(out["cold_motor"], out["cold_id"])]
    out["seeds"] = np.minimum(both["seeds_motor"], both["seeds_id"])
    out["p"] = p_column(both["r_motor"], both["r_std_motor"], both["seeds_motor"],  # Welch's t-test over the seeds
                        both["r_id"], both["r_std_id"], both["seeds_id"])
    held = pd.Series(dtype=float)
    if "cold_fraction" in runs:  # NaN where older tables did not record it, or a dataset's runs differ
        one = lambda v: float(v.iloc[0]) if v.notna().all() and v.nunique() == 1 else np.nan  # noqa: E731
        held = pd.to_numeric(runs["cold_fraction"], errors="coerce").groupby(runs["dataset"]).agg(one)
    out["cold_fraction"] = out["dataset"].map(held).astype(float)
    return out.sort_values(["dataset", "backbone"]).reset_index(drop=True)


def held_out(table: pd.DataFrame, data: str) -> str:
    """'10% of the items' for ``data`` from the summary's ``cold_fraction``; a plain phrase when it is unknown."""
    f = table.loc[table["dataset"] == data, "cold_fraction"] if "cold_fraction" in table else pd.Series(dtype=float)
    f = f.dropna().unique()
    return f"{f[0]:.0%} of the items" if len(f) == 1 else "some of the items (the benchmark's --cold-items)"


def win_summary(table: pd.DataFrame, data: str) -> str:
    """One sentence for ``data``: on how many backbones MOTOR ranks warm items better than ID, and on how many
    it finds at least ``COLD_FACTOR`` times ID's share of the new (cold) items' test interactions, and at least
    ``COLD_FLOOR`` of them."""
    rows = table[table["dataset"] == data]
    if rows.empty:
        return ""
    warm = int((rows["gap"] > 0).sum())
    clear = ""
    if "p" in rows and rows["p"].notna().any():
        wins, losses = clear_counts(zip(rows["gap"], rows["p"]))
        clear = f" (clearly on {wins}, ID clearly ahead on {losses})"
    cold = int(((rows["cold_ratio"] >= COLD_FACTOR) & (rows["cold_motor"] >= COLD_FLOOR)).sum())  # NaN: False
    return (f"MOTOR ahead of ID on {warm} of {len(rows)} backbones on items with training interactions{clear}; "
            f"on new items at least {COLD_FACTOR:g}x ID's cold Recall@20 (and {COLD_FLOOR:g}) on {cold} of "
            f"{len(rows)}")
