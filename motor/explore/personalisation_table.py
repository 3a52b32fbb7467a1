"""The personalisation benchmark read back: per backbone, how many directions ID's and MOTOR's item vectors use
and how alike their users' lists are.

``benchmarks/personalisation.py`` trains the backbone table's cells and writes
``benchmarks/personalisation.csv``: one row per run (dataset, backbone, items, seed, ``recall@20``,
``top_overlap``, ``popularity_top_overlap``, ``item_direction_share``, ``item_effective_rank``,
``item_effective_rank_centred``, ``item_dim``; the figures of ``metrics.json["personalisation"]``, ``motor.personalisation``). This module
pairs MOTOR with ID per dataset and backbone, so the app can show one likely reason MOTOR loses on
items with many interactions: vectors built from shared tokens span fewer directions than free ID rows.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from motor.explore.bench_tables import read_table

REQUIRED = ("dataset", "backbone", "items", "seed", "top_overlap", "item_effective_rank")
HOW_TO = "python benchmarks/personalisation.py --jobs 2"
NUMERIC = ("recall@20", "top_overlap", "popularity_top_overlap", "item_direction_share", "item_effective_rank",
           "item_effective_rank_centred", "item_dim")


def load_personalisation(path: Path | str) -> pd.DataFrame:
    """The benchmark's runs (one row per seed); MotorError naming what is missing if the file is not one."""
    df = read_table(path, REQUIRED, "a personalisation table", HOW_TO)
    for c in NUMERIC:
        df[c] = pd.to_numeric(df[c], errors="coerce") if c in df else np.nan
    return df


def summary(runs: pd.DataFrame) -> pd.DataFrame:
    """Per dataset and backbone with both models, means over seeds: ``gap`` (MOTOR minus ID, test Recall@20, NaN
    where a table has no Recall), ``rank_id``, ``rank_motor`` (the scored item
    vectors' effective rank), ``centred_id``, ``centred_motor`` (the same around the items' mean; NaN where not
    recorded), ``dim_id``, ``dim_motor`` (their width; NaN where not recorded), ``overlap_id``,
    ``overlap_motor`` (share of items two test users' top-20 lists have in common), ``popularity`` (a popularity
    ranking's overlap on the same splits) and ``seeds`` (the fewer of the two sides). Runs without the figures
    are left out."""
    runs = runs[runs["top_overlap"].notna() & runs["item_effective_rank"].notna()]
    stats = (runs.groupby(["dataset", "backbone", "items"])
             .agg(recall=("recall@20", "mean"), rank=("item_effective_rank", "mean"),
                  centred=("item_effective_rank_centred", "mean"),
                  dim=("item_dim", "mean"), overlap=("top_overlap", "mean"),
                  popularity=("popularity_top_overlap", "mean"), seeds=("seed", "nunique"))
             .reset_index())
    idr, mot = stats[stats["items"] == "id"], stats[stats["items"] == "motor"]
    both = mot.merge(idr, on=["dataset", "backbone"], suffixes=("_motor", "_id"))
    out = pd.DataFrame({"dataset": both["dataset"], "backbone": both["backbone"],
                        "gap": both["recall_motor"] - both["recall_id"],
                        "rank_id": both["rank_id"], "rank_motor": both["rank_motor"],
                        "centred_id": both["centred_id"], "centred_motor": both["centred_motor"],
                        "dim_id": both["dim_id"], "dim_motor": both["dim_motor"],
                        "overlap_id": both["overlap_id"], "overlap_motor": both["overlap_motor"],
                        "popularity": both[["popularity_id", "popularity_motor"]].mean(axis=1),
                        "seeds": np.minimum(both["seeds_id"], both["seeds_motor"])})
    return out.sort_values(["dataset", "backbone"]).reset_index(drop=True)


def sentence(table: pd.DataFrame, data: str) -> str:
    """For ``data``: on how many backbones MOTOR's item vectors span fewer directions than ID's (``rank_columns``),
    and on how many its users' lists are more alike than ID's, with the medians ('' when the dataset has no pair)."""
    rows = table[table["dataset"] == data]
    if rows.empty:
        return ""
    n = len(rows)
    id_col, motor_col = rank_columns(rows)
    fewer = int((rows[motor_col] < rows[id_col]).sum())
    alike = int((rows["overlap_motor"] > rows["overlap_id"]).sum())
    centred = ""
    if rows[["centred_id", "centred_motor"]].notna().all().all():
        centred = (f"; around the items' mean {rows['centred_motor'].median():.1f} against "
                   f"{rows['centred_id'].median():.1f}")
    return (f"MOTOR's item vectors span fewer directions than ID's on {fewer} of {n} backbones (median effective rank "
            f"{rows['rank_motor'].median():.1f} against {rows['rank_id'].median():.1f}{centred}); its users' top-20 lists are "
            f"more alike than ID's on {alike} of {n} (median share in common {rows['overlap_motor'].median():.0%} "
            f"against {rows['overlap_id'].median():.0%}; a popularity ranking: {rows['popularity'].median():.0%})")


def rank_columns(table: pd.DataFrame) -> tuple[str, str]:
    """The (ID, MOTOR) effective-rank columns to compare: around the items' mean where every row has it (an offset
    shared by every item cannot change a ranking), the plain ones otherwise (tables from before it existed)."""
    centred = table[["centred_id", "centred_motor"]].notna().all().all()
    return ("centred_id", "centred_motor") if centred else ("rank_id", "rank_motor")


def rank_ratio(table: pd.DataFrame) -> pd.Series:
    """MOTOR's effective rank as a share of ID's (``rank_columns``)."""
    id_col, motor_col = rank_columns(table)
    return table[motor_col] / table[id_col]


def rank_gap_correlation(table: pd.DataFrame, data: str) -> float:
    """Spearman correlation, over ``data``'s backbones, between ``rank_ratio`` and MOTOR minus ID (test Recall@20):
    near 1 when MOTOR loses most where its item vectors give up most directions. NaN below three backbones."""
    rows = table[table["dataset"] == data].dropna(subset=["gap"])
    if len(rows) < 3:
        return float("nan")
    return float(rank_ratio(rows).rank().corr(rows["gap"].rank()))
