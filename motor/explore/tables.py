"""Metric tables across runs, relative changes and training curves."""

from __future__ import annotations

import numpy as np
import pandas as pd

HEADLINE = ("recall@10", "recall@20", "ndcg@10", "ndcg@20")


def metrics_table(metrics: dict[str, dict]) -> pd.DataFrame:
    """Rows = figures (test Recall/NDCG@10/20, cold test and cold validation figures, sizes, timings), one column
    per run."""
    rows: dict[str, dict] = {}
    for name, m in metrics.items():
        col = {}
        for key in HEADLINE:
            col[f"test {key}"] = m.get("test", {}).get(key)
        for key in HEADLINE:
            col[f"valid {key}"] = m.get("valid", {}).get(key)
        for part, label in (("cold", "cold"), ("cold_valid", "cold valid")):  # cold test; cold validation
            cold = m.get(part) or {}
            for key in ("recall@20", "ndcg@20", "recall@20_among_cold", "ndcg@20_among_cold"):
                if key in cold:
                    col[f"{label} {key.replace('_among_cold', ' (among cold)')}"] = cold[key]
        p = m.get("params", {})
        col["item-side parameters"] = p.get("item_side")
        col["item-side bytes"] = p.get("item_side_bytes")
        col["user-side parameters"] = p.get("user_side")
        col["trainable parameters"] = p.get("trainable_total")
        col["best epoch"] = m.get("best_epoch")
        col["epochs run"] = m.get("epochs_run")
        col["seconds per epoch"] = m.get("seconds_per_epoch")
        col["total seconds"] = m.get("total_seconds")
        rows[name] = col
    df = pd.DataFrame(rows)
    return df.dropna(how="all")


def cold_sentence(metrics: dict[str, dict]) -> str:
    """The held-out new items in one line, '' when no run has cold figures: '**New items held out of training**:
    Recall@20 ranked among all items ID 0.0000 / MOTOR 0.0354; among the new items only ID 0.0481 / MOTOR 0.1235.'
    A cold-start run's point, which its warm test figure does not show."""
    cold = {n: m.get("cold") for n, m in metrics.items() if isinstance(m.get("cold"), dict) and m["cold"]}
    if not cold:
        return ""

    def figures(key: str) -> str:
        return " / ".join(f"{n} {c[key]:.4f}" for n, c in cold.items() if c.get(key) is not None)

    among_all, among_cold = figures("recall@20"), figures("recall@20_among_cold")
    if not among_all:
        return ""
    return ("**New items held out of training**: Recall@20 ranked among all items " + among_all +
            (f"; among the new items only {among_cold}" if among_cold else "") + ".")


def relative_change(table: pd.DataFrame, base: str, other: str) -> pd.Series:
    """``other`` relative to ``base`` per figure row (+0.12 = 12 % higher); NaN where undefined or not a figure
    (epoch counts)."""
    a = pd.to_numeric(table[base], errors="coerce")
    b = pd.to_numeric(table[other], errors="coerce")
    out = (b - a) / a.where(a != 0)
    return out.where(~table.index.isin(["best epoch", "epochs run"]))


def history_frame(histories: dict[str, list[dict]], metric: str = "recall@20") -> pd.DataFrame:
    """Long table of training curves: run, epoch, loss, valid ``metric``."""
    rows = []
    for name, hist in histories.items():
        for h in hist:
            rows.append({"run": name, "epoch": int(h["epoch"]), "loss": float(h["loss"]),
                         f"valid {metric}": float(h.get("valid", {}).get(metric, np.nan))})
    return pd.DataFrame(rows, columns=["run", "epoch", "loss", f"valid {metric}"])
