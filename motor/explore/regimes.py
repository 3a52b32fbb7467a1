"""The regimes benchmark's table read back: MOTOR minus ID as training data thins out.

``python -m motor bench regimes`` writes ``benchmarks/regimes.csv`` (``motor.bench.regimes.aggregate``:
one row per dataset x training fraction x backbone x items, means and standard deviations over
seeds). This module reads that file and pairs each MOTOR row with its ID row, so the app can
draw "MOTOR minus ID against the training fraction" per backbone without importing the
benchmark machinery. The gap is recomputed from the two means (so a CSV with only the columns
the issue requires is enough); its spread combines the two standard deviations as for
independent seeds.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from motor.errors import MotorError
from motor.explore.bench_tables import read_table
from motor.explore.seed_spread import clear_counts, p_column

REQUIRED = ("dataset", "train_fraction", "backbone", "items", "seeds", "test_recall@20_mean")
HOW_TO = "python -m motor bench regimes"


def load_regimes(path: Path | str) -> pd.DataFrame:
    """The benchmark's cells (one row each); MotorError naming what is missing if the file is not one."""
    df = read_table(path, REQUIRED, "a regimes table", HOW_TO)
    df["train_fraction"] = pd.to_numeric(df["train_fraction"], errors="coerce")
    return df


def gaps(cells: pd.DataFrame, figure: str = "test_recall@20") -> pd.DataFrame:
    """MOTOR minus ID of ``figure`` per dataset x training fraction x backbone (cells with both models):
    columns dataset, backbone, train_fraction, id, motor, gap, gap_std (NaN without stds), seeds, p (Welch's
    t-test over the seeds, ``motor.explore.seed_spread``; NaN without stds or with one seed), sorted by dataset,
    backbone and fraction."""
    mean, std = f"{figure}_mean", f"{figure}_std"
    if mean not in cells.columns:
        raise MotorError(f"the regimes table has no column {mean}")
    key = ["dataset", "train_fraction", "backbone"]
    cols = key + [mean] + ([std] if std in cells.columns else []) + ["seeds"] + [
        c for c in ("tuned", "tuned_on") if c in cells]
    idr = cells[cells["items"] == "id"][cols]
    mot = cells[cells["items"] == "motor"][cols]
    both = mot.merge(idr, on=key, suffixes=("_motor", "_id"))
    out = pd.DataFrame({"dataset": both["dataset"], "backbone": both["backbone"],
                        "train_fraction": both["train_fraction"],
                        "id": both[f"{mean}_id"], "motor": both[f"{mean}_motor"]})
    out["gap"] = out["motor"] - out["id"]
    if std in cells.columns:
        out["gap_std"] = np.sqrt(both[f"{std}_motor"].astype(float) ** 2 + both[f"{std}_id"].astype(float) ** 2)
    else:
        out["gap_std"] = np.nan
    out["seeds"] = np.minimum(both["seeds_motor"], both["seeds_id"])
    # Welch's t-test over the seeds: is the gap more than the spread between training seeds? (NaN without stds)
    out["p"] = np.nan
    if std in cells.columns:
        out["p"] = p_column(both[f"{mean}_motor"], both[f"{std}_motor"], both["seeds_motor"],
                            both[f"{mean}_id"], both[f"{std}_id"], both["seeds_id"])
    # both sides searched on validation (the benchmark tunes ID and MOTOR alike, or neither)
    out["tuned"] = (_truthy(both["tuned_motor"]) & _truthy(both["tuned_id"])) if "tuned" in cells else False
    # where the settings were chosen: this cell's own validation, another cell's (--longtail-tuned-from), or nowhere
    borrowed = (both["tuned_on_motor"].astype(object).where(both["tuned_on_motor"].notna(), "").astype(str)
                if "tuned_on" in cells else pd.Series("", index=both.index))
    out["settings"] = np.where(borrowed != "", "chosen on " + borrowed + " validation",
                               np.where(out["tuned"], "tuned on validation", "defaults"))
    out = out.dropna(subset=["gap"])
    return out.sort_values(["dataset", "backbone", "train_fraction"]).reset_index(drop=True)


def _truthy(col: pd.Series) -> pd.Series:
    return col.astype(str).str.lower().isin(("true", "1", "1.0"))


def tuned_note(gap_table: pd.DataFrame, data: str) -> str:
    """Which training fractions of ``data`` had their settings tuned on validation ('' when none)."""
    rows = gap_table[gap_table["dataset"] == data]
    if "tuned" not in rows:
        return ""
    return tuning_phrase(zip(rows["train_fraction"], rows["tuned"].astype(bool)))


def tuning_phrase(cells) -> str:
    """Says which training fractions were tuned, from ``(F, tuned)`` pairs, one per backbone and F ('' when
    none). An F counts as tuned only when every backbone there was (a cell whose tuning failed runs with the
    defaults); an F with some tuned backbones is named as partly tuned, with the count. Shared by the app's
    caption and the benchmark's PNG title, so both say the same."""
    share: dict[float, list[int]] = {}
    for f, tuned in cells:
        counts = share.setdefault(float(f), [0, 0])
        counts[0] += bool(tuned)
        counts[1] += 1
    if not any(k for k, _ in share.values()):
        return ""
    full = sorted(f for f, (k, n) in share.items() if k == n)
    partly = sorted((f, k, n) for f, (k, n) in share.items() if 0 < k < n)
    if len(full) == len(share):
        return "settings tuned on validation at every F"
    parts = []
    if full:
        parts.append(f"settings tuned on validation at F = {', '.join(f'{f:g}' for f in full)} (the same "
                     f"budget for ID and MOTOR)")
    if partly:
        parts.append("partly tuned at " + ", ".join(f"F = {f:g} ({k} of {n} backbones)" for f, k, n in partly))
    return "; ".join(parts) + ", the documented defaults elsewhere"


def win_summary(gap_table: pd.DataFrame, data: str) -> str:
    """'MOTOR ahead of ID on W of N backbones at F = ...' for each training fraction of ``data``, largest F
    first, each marked when its settings were tuned on its own validation (not when chosen on another dataset's:
    ``settings_sentence`` names that) and, where the table has spreads, with how many gaps each way are clear of
    the spread between seeds (``seed_spread.CLEAR_NOTE`` says what that means)."""
    rows = gap_table[gap_table["dataset"] == data]
    parts = []
    for f in sorted(rows["train_fraction"].unique(), reverse=True):
        at = rows[rows["train_fraction"] == f]
        borrowed = "settings" in at and at["settings"].astype(str).str.startswith("chosen on").any()
        notes = ["tuned"] if "tuned" in at and bool(at["tuned"].astype(bool).all()) and not borrowed else []
        if "p" in at and at["p"].notna().any():
            wins, losses = clear_counts(zip(at["gap"], at["p"]))
            notes.append(f"clearly on {wins}, ID clearly ahead on {losses}")
        parts.append(f"{int((at['gap'] > 0).sum())} of {len(at)} at F = {f:g}" + (f" ({'; '.join(notes)})"
                                                                                 if notes else ""))
    return "MOTOR ahead of ID on " + ", ".join(parts) if parts else ""


def settings_sentence(gap_table: pd.DataFrame, data: str) -> str:
    """``win_summary`` of ``data`` with how its settings were chosen and its seeds, for a dataset drawn as a table:
    'demo-longtail with the documented defaults, 2 seeds: MOTOR ahead of ID on 3 of 13 at F = 1'."""
    rows = gap_table[gap_table["dataset"] == data]
    how = " and ".join(dict.fromkeys("the documented defaults" if h == "defaults" else f"settings {h}"
                                     for h in rows["settings"]))
    lo, hi = int(rows["seeds"].min()), int(rows["seeds"].max())
    return f"{data} with {how}, {lo if lo == hi else f'{lo}-{hi}'} seeds: {win_summary(gap_table, data)}"


def median_gap(gap_table: pd.DataFrame, data: str) -> pd.DataFrame:
    """The median over backbones of MOTOR minus ID at each training fraction of ``data`` (the typical backbone,
    one number per F, robust to the one or two backbones far off the rest): train_fraction, gap, backbones."""
    rows = gap_table[gap_table["dataset"] == data]
    out = rows.groupby("train_fraction")["gap"].agg(gap="median", backbones="size").reset_index()
    return out.sort_values("train_fraction").reset_index(drop=True)


def sweeps(gap_table: pd.DataFrame) -> list[str]:
    """Datasets measured at two or more training fractions (the ones a line against F makes sense for)."""
    n = gap_table.groupby("dataset")["train_fraction"].nunique()
    return [d for d in gap_table["dataset"].drop_duplicates() if n.get(d, 0) >= 2]
