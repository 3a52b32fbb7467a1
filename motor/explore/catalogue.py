"""Item metadata for display: titles, genres, interaction counts, modality summaries."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    from motor.data.dataset import Dataset


def genres_of(ds: "Dataset") -> list[list[str]] | None:
    """Each item's genres (the items table's ``genres`` column split on ``,`` or ``|``), or None."""
    if ds.items is None or "genres" not in ds.items.columns:
        return None
    out = []
    for g in ds.items["genres"].tolist():
        if not isinstance(g, str) or not g.strip() or g.strip() == "(no genres listed)":
            out.append([])
        else:
            out.append([p.strip() for p in g.replace("|", ",").split(",") if p.strip()])
    return out


def genre_counts(ds: "Dataset") -> pd.Series:
    """Items per genre, most common first (empty when the dataset has no genres)."""
    genres = genres_of(ds)
    if not genres:
        return pd.Series(dtype=int)
    return pd.Series([g for gs in genres for g in gs]).value_counts()


def item_frame(ds: "Dataset", cold_items: np.ndarray | None = None) -> pd.DataFrame:
    """One row per item: index, original id, title, genres (text), interactions, cold flag."""
    df = pd.DataFrame({"item": np.arange(ds.n_items), "item_id": ds.item_ids.astype(str), "title": ds.titles()})
    genres = genres_of(ds)
    if genres is not None:
        df["genres"] = [", ".join(g) for g in genres]
    if ds.items is not None and "year" in ds.items.columns:
        df["year"] = ds.items["year"].astype(str).to_numpy()
    df["interactions"] = np.bincount(ds.interactions.item, minlength=ds.n_items)
    if cold_items is not None:
        df["cold"] = np.asarray(cold_items, bool)
    return df


def item_label(ds: "Dataset", item: int) -> str:
    """A display name: the item's title, or 'item <id>' when the dataset has no titles."""
    title, iid = ds.title(item), str(ds.item_ids[item])
    return f"item {iid}" if title == iid else title


def preview(ds: "Dataset", n: int = 50) -> pd.DataFrame:
    """The ``n`` most interacted-with items with their metadata columns (long text shortened)."""
    df = item_frame(ds).sort_values("interactions", ascending=False, kind="stable").head(n)
    if ds.items is not None:
        extra = [c for c in ds.items.columns if c not in ("item_id", "title", "genres", "year")]
        for c in extra:
            col = ds.items[c].iloc[df["item"].to_numpy()].astype(str)
            df[c] = [v if len(v) <= 80 else v[:77] + "..." for v in col]
    return df.reset_index(drop=True)


def modalities_frame(ds: "Dataset") -> pd.DataFrame:
    """Modality, dimension, how many items have it and how many lack it (a movie without a poster: its row is a
    fill, marked missing, and MOTOR gives it a 'missing' token instead of a made-up one), source file."""
    return pd.DataFrame([{"modality": m.name, "dimension": m.dim, "items": int(m.features.shape[0]),
                          "with content": int(m.features.shape[0]) - int(m.n_missing),
                          "missing (marked, not made up)": int(m.n_missing), "file": m.source}
                         for m in ds.modalities.values()])
