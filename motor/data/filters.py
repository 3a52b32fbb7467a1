"""Iterative k-core filtering (MMRec's preprocessing uses 5-core)."""

from __future__ import annotations

import numpy as np

from motor.data.dataset import Dataset, Modality
from motor.errors import MotorError


def kcore_mask(users: np.ndarray, items: np.ndarray, k: int) -> np.ndarray:
    """Rows kept once every remaining user and item has at least ``k`` interactions."""
    keep = np.ones(len(users), bool)
    while True:
        ucount = np.bincount(users[keep], minlength=users.max() + 1)
        icount = np.bincount(items[keep], minlength=items.max() + 1)
        new = keep & (ucount[users] >= k) & (icount[items] >= k)
        if new.sum() == keep.sum():
            return new
        keep = new


def kcore_filter(ds: Dataset, k: int) -> Dataset:
    """A new dataset with only the k-core, users and items re-indexed, features kept aligned."""
    inter = ds.interactions
    keep = kcore_mask(inter.user, inter.item, k)
    if not keep.any():
        raise MotorError(f"the {k}-core of {ds.name} is empty: no users and items with {k} or more interactions "
                         f"each; use a smaller k (this dataset has at most "
                         f"{int(np.bincount(inter.user).max())} interactions per user)")
    sub = inter.subset(keep)
    kept_users, new_u = np.unique(sub.user, return_inverse=True)
    kept_items, new_i = np.unique(sub.item, return_inverse=True)
    sub.user, sub.item = new_u.astype(np.int64), new_i.astype(np.int64)
    mods = {n: Modality(n, m.features[kept_items], None if m.missing is None else m.missing[kept_items], m.source,
                        m.fill)  # demo-longtail's zero rows were reported, and filled for a new item, as 'mean'
            for n, m in ds.modalities.items()}
    items = None if ds.items is None else ds.items.iloc[kept_items].reset_index(drop=True)
    note = (f"{k}-core kept {len(kept_users)} of {ds.n_users} users, {len(kept_items)} of {ds.n_items} items, "
            f"{len(sub)} of {len(inter)} interactions")
    return Dataset(ds.name, ds.user_ids[kept_users], ds.item_ids[kept_items], sub, mods, items, ds.source,
                   ds.warnings + [note])
