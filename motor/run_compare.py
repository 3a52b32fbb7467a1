"""Several finished runs side by side: one row per (run, item representation), and the same
settings across seeds summarised as a mean with its spread. Pure functions (no Streamlit).

A "setting" is everything that describes a run except its seed (backbone, representation,
dataset, cold-item and training fractions); runs that differ only by seed are repeats of one
setting, and their spread (standard deviation, min, max) says how much of a difference between
settings is noise.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

FIGURES = ("recall@20", "ndcg@20", "cold recall@20")
SETTING = ["backbone", "model", "dataset", "cold items", "train fraction"]


def run_rows(entries: list[dict]) -> pd.DataFrame:
    """``entries``: {'run', 'label', 'backbone', 'variant', 'dataset', 'items', 'settings', 'metrics'} per run and
    variant (``metrics`` = that variant's metrics.json, ``items`` = the catalogue size). One row each."""
    rows = []
    for e in entries:
        m, s = e["metrics"], e.get("settings", {})
        test, cold = m.get("test", {}), m.get("cold", {})
        rows.append({
            "run": e["run"], "label": e.get("label", ""), "backbone": e["backbone"], "model": e["variant"],
            "dataset": e["dataset"],
            "seed": s.get("train.seed", s.get("seed")),
            "cold items": s.get("split.cold_items", s.get("cold_items", 0.0)) or 0.0,
            "train fraction": s.get("split.train_fraction", s.get("train_fraction", 1.0)) or 1.0,
            "catalogue items": e.get("items"),
            "recall@20": test.get("recall@20"), "ndcg@20": test.get("ndcg@20"),
            "cold recall@20": cold.get("recall@20"),
            "item-side parameters": m.get("params", {}).get("item_side"),
            "best epoch": m.get("best_epoch"), "epochs run": m.get("epochs_run"),
        })
    return pd.DataFrame(rows)


def with_spread(rows: pd.DataFrame, figures=FIGURES) -> pd.DataFrame:
    """One row per setting (all but the seed): runs, then mean, std, min and max of each figure."""
    if rows.empty:
        return pd.DataFrame()
    out = []
    for key, part in rows.groupby(SETTING, sort=False, dropna=False):
        row = dict(zip(SETTING, key))
        row["runs"] = len(part)
        row["seeds"] = ", ".join(str(s) for s in sorted(part["seed"].dropna().unique()))
        for f in figures:
            v = pd.to_numeric(part[f], errors="coerce").dropna()
            row[f"{f} mean"] = float(v.mean()) if len(v) else np.nan
            row[f"{f} std"] = float(v.std(ddof=1)) if len(v) > 1 else np.nan
            row[f"{f} min"] = float(v.min()) if len(v) else np.nan
            row[f"{f} max"] = float(v.max()) if len(v) else np.nan
        row["item-side parameters"] = part["item-side parameters"].iloc[0]
        out.append(row)
    return pd.DataFrame(out)


def setting_label(row) -> str:
    """'lightgcn · MOTOR · demo' plus the fractions when they are not the defaults."""
    parts = [str(row["backbone"]), {"id": "ID", "motor": "MOTOR"}.get(row["model"], str(row["model"])),
             str(row["dataset"])]
    if row.get("cold items"):
        parts.append(f"cold {row['cold items']:.0%}")
    if row.get("train fraction") not in (None, 1.0):
        parts.append(f"train {row['train fraction']:.0%}")
    return " · ".join(parts)
