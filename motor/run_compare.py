"""Several finished runs side by side: one row per (run, item representation), and the same
settings across seeds summarised as a mean with its spread. Pure functions (no Streamlit).

A "setting" is everything that describes a run except its seed (backbone, representation,
dataset, cold-item and training fractions, and every other hyperparameter it was trained with);
runs that differ only by seed are repeats of one setting, and their spread (standard deviation,
min, max) says how much of a difference between settings is noise. Settings that read alike in
few words are told apart by what differs between them (``differs``).
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd

from motor.explore.seed_spread import ALPHA, is_clear, welch_p

FIGURES = ("recall@20", "ndcg@20", "cold recall@20")
SETTING = ["backbone", "model", "dataset", "cold items", "train fraction", "setting"]
# what a run's settings hold that is not part of its setting: the seed that repeats it, and how it was executed
NOT_SETTING = {"train.seed", "seed", "train.threads", "threads", "train.device", "device", "variants"}
MOTOR_ONLY = ("motor.", "tokenizer.")  # settings an ID model never reads: they do not tell ID runs apart


def _flat(settings: dict, prefix: str = "") -> dict:
    """{'tokenizer.per_modality': {'image': {'k': 64}}} -> {'tokenizer.per_modality.image.k': 64}."""
    out = {}
    for k, v in settings.items():
        if isinstance(v, dict):
            out.update(_flat(v, f"{prefix}{k}."))
        else:
            out[f"{prefix}{k}"] = v
    return out


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
            "setting": json.dumps({k: v for k, v in _flat(s).items() if k not in NOT_SETTING and not (
                e["variant"] == "id" and k.startswith(MOTOR_ONLY))}, sort_keys=True, default=str),
        })
    df = pd.DataFrame(rows)
    if not df.empty:
        for f in FIGURES:  # a run without a figure is NaN (a blank cell), not the text "None"
            df[f] = pd.to_numeric(df[f], errors="coerce")
        df["differs"] = _differences(df)
    return df


def _differences(rows: pd.DataFrame) -> list[str]:
    """Per row, the settings that tell it apart from rows that read alike (same backbone, model, dataset and
    fractions, other settings): 'train.epochs 4, motor.tcn mean'; '' when nothing alike differs."""
    base = ["backbone", "model", "dataset", "cold items", "train fraction"]
    out = [""] * len(rows)
    for _, part in rows.groupby(base, sort=False, dropna=False):
        if part["setting"].nunique() < 2:
            continue
        parsed = {i: json.loads(t) for i, t in part["setting"].items()}
        keys = sorted({k for d in parsed.values() for k in d})
        varying = [k for k in keys if len({json.dumps(d.get(k), default=str) for d in parsed.values()}) > 1]
        for i, d in parsed.items():
            out[rows.index.get_loc(i)] = ", ".join(f"{k} {d.get(k, '-')}" for k in varying)
    return out


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
        row["item-side parameters"] = part["item-side parameters"].iloc[0]  # one setting: one size
        row["differs"] = part["differs"].iloc[0]
        out.append(row)
    return pd.DataFrame(out)


def split_words(train_fraction, cold_items) -> list[str]:
    """A run's split regime in few words ('cold 20%', 'train 10%'); nothing for the defaults (all training
    data, no item held out) or a missing value. Shared by these labels and the app's run names."""
    words = []
    if isinstance(cold_items, (int, float)) and cold_items > 0:
        words.append(f"cold {cold_items:.0%}")
    if isinstance(train_fraction, (int, float)) and train_fraction != 1.0:
        words.append(f"train {train_fraction:.0%}")
    return words


def setting_label(row) -> str:
    """'lightgcn · MOTOR · demo' plus the fractions when they are not the defaults, and what differs from the
    settings that read alike."""
    parts = [str(row["backbone"]), {"id": "ID", "motor": "MOTOR"}.get(row["model"], str(row["model"])),
             str(row["dataset"])]
    parts += split_words(row.get("train fraction"), row.get("cold items"))
    if row.get("differs"):
        parts.append(str(row["differs"]))
    return " · ".join(parts)


def motor_minus_id(summary: pd.DataFrame, figure: str = "recall@20") -> pd.DataFrame:
    """MOTOR minus ID of ``figure`` for each MOTOR setting of ``with_spread`` that has exactly one ID setting with
    the same backbone, dataset and fractions to compare with (an ID model reads none of MOTOR's settings, so its
    runs are the baseline of every MOTOR variant): backbone, dataset, motor (its label), gap, p (Welch's t-test over
    the seeds; NaN below two runs a side), motor runs, id runs."""
    cols = ["backbone", "dataset", "motor", "gap", "p", "motor runs", "id runs"]
    if summary.empty:
        return pd.DataFrame(columns=cols)
    out = []
    key = ["backbone", "dataset", "cold items", "train fraction"]
    for _, part in summary.groupby(key, sort=False, dropna=False):
        ids, motors = part[part["model"] == "id"], part[part["model"] == "motor"]
        if len(ids) != 1:
            continue
        i = ids.iloc[0]
        for _, m in motors.iterrows():
            p = welch_p(m[f"{figure} mean"], m[f"{figure} std"], int(m["runs"]),
                        i[f"{figure} mean"], i[f"{figure} std"], int(i["runs"]))  # a NaN spread: no test
            out.append({"backbone": m["backbone"], "dataset": m["dataset"], "motor": setting_label(m),
                        "gap": m[f"{figure} mean"] - i[f"{figure} mean"], "p": np.nan if p is None else p,
                        "motor runs": int(m["runs"]), "id runs": int(i["runs"])})
    return pd.DataFrame(out, columns=cols)


def gap_sentence(row, figure: str = "Recall@20") -> str:
    """One pair of ``motor_minus_id`` in words: the gap, and whether the seeds can tell it from noise."""
    head = (f"{row['motor']}: MOTOR minus ID {row['gap']:+.4f} (test {figure}, {row['motor runs']} and "
            f"{row['id runs']} seeds)")
    if pd.isna(row["p"]):
        return head + "; train at least two seeds of each (the Train page's seed) to tell a gap from seed noise"
    if is_clear(row["p"]):
        return head + f", p = {row['p']:.3f}: more than the spread between seeds allows by chance"
    return (head + f", p = {row['p']:.3f} (not below {ALPHA:g}): within the spread between seeds; more seeds "
                   "would tell")
