"""Side-by-side recommendations of several runs for one user (hits, overlap, cold flags) and all-user exports."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from motor.errors import MotorError
from motor.explore.catalogue import genres_of, item_frame, item_label

if TYPE_CHECKING:
    from motor.runs import LoadedRun


def user_items(run: "LoadedRun", user: int, which: str) -> np.ndarray:
    """A user's items in one part of the split: 'train', 'valid', 'test' or 'cold'."""
    pairs = getattr(run.split, which)
    return pairs.item[pairs.user == user]


def user_options(run: "LoadedRun", min_test: int = 1) -> pd.DataFrame:
    """Users with at least ``min_test`` held-out test (or cold) items: id, training and test counts."""
    sp = run.split
    n_train = np.bincount(sp.train.user, minlength=sp.n_users)
    n_test = np.bincount(sp.test.user, minlength=sp.n_users) + np.bincount(sp.cold.user, minlength=sp.n_users)
    users = np.flatnonzero((n_test >= min_test) & (n_train > 0))
    return pd.DataFrame({"user": users, "user_id": run.dataset.user_ids[users].astype(str),
                         "train": n_train[users], "test": n_test[users]})


def user_history(run: "LoadedRun", user_id) -> pd.DataFrame:
    """The user's items before the test: training items (what the models learned from) and the validation items
    that chose the epoch, each with its part; the recommendation lists leave out the ones the test ranking does."""
    u = run.dataset.user_index(user_id)
    parts = [("train", run.seen_items(u))] + [(part, user_items(run, u, name)) for part, name in
                                             (("validation", "valid"), ("validation (cold)", "cold_valid"))]
    cols = ["item", "item_id", "title"] + (["genres"] if genres_of(run.dataset) is not None else [])
    frame = item_frame(run.dataset)
    df = pd.concat([frame.iloc[np.asarray(items, dtype=int)][cols].assign(part=part) for part, items in parts])
    return df.reset_index(drop=True)


def held_out(run: "LoadedRun", user_id) -> pd.DataFrame:
    """The user's held-out items: test (and cold, when items were held out)."""
    u = run.dataset.user_index(user_id)
    rows = [{"item": int(i), "title": item_label(run.dataset, int(i)), "part": part}
            for part in ("test", "cold") for i in user_items(run, u, part)]
    return pd.DataFrame(rows, columns=["item", "title", "part"])


def compare_recommendations(runs: dict[str, "LoadedRun"], user_id, k: int = 10) -> dict:
    """Top-``k`` of each run for one user, side by side.

    Returns ``lists`` (name -> DataFrame rank, item, title, score, hit, cold, in_others),
    ``overlap`` (items in every list), ``jaccard``, ``hits`` (name -> count) and ``held_out``.
    A hit is a held-out test or cold item of the user. Runs must share the dataset and split.
    """
    if not runs:
        raise MotorError("no runs to compare; train or open a run first")
    first = next(iter(runs.values()))
    u = first.dataset.user_index(user_id)
    truth = set(user_items(first, u, "test").tolist()) | set(user_items(first, u, "cold").tolist())
    lists, sets = {}, {}
    for name, run in runs.items():
        recs = run.recommend(user_id, k)
        df = pd.DataFrame(recs, columns=["rank", "item", "item_id", "title", "score", "cold"])
        df["hit"] = df["item"].isin(truth)
        lists[name], sets[name] = df, set(df["item"].tolist())
    overlap = set.intersection(*sets.values()) if sets else set()
    union = set.union(*sets.values()) if sets else set()
    for name, df in lists.items():
        others = set().union(*(s for n, s in sets.items() if n != name)) if len(sets) > 1 else set()
        df["in other list"] = df["item"].isin(others)
    return {"lists": lists, "overlap": sorted(overlap), "jaccard": len(overlap) / len(union) if union else 0.0,
            "hits": {n: int(df["hit"].sum()) for n, df in lists.items()}, "held_out": held_out(first, user_id),
            "n_truth": len(truth)}


def all_recommendations(run: "LoadedRun", k: int = 20, users: np.ndarray | None = None) -> pd.DataFrame:
    """Top-``k`` for every user (the items the test ranking excludes excluded: ``LoadedRun.excluded_items``) as a
    long table, hits and cold flags included."""
    from motor.data.split import Pairs

    uvec, _ = run.vectors()
    sp = run.split
    users = np.arange(sp.n_users) if users is None else np.asarray(users)
    exclude = run.excluded_lists(users)  # as the test ranking: training (and, strict, validation) items
    scores, items = run.index().search(uvec[users], k, exclude)
    k = items.shape[1]  # at most the catalogue: the index clamps a larger k
    truth = set()
    for part in ("test", "cold"):
        p: Pairs = getattr(sp, part)
        truth |= set(zip(p.user.tolist(), p.item.tolist()))
    rows_u = np.repeat(users, k)
    flat_i, flat_s = items.ravel(), scores.ravel()
    keep = flat_i >= 0
    rows_u, flat_i, flat_s = rows_u[keep], flat_i[keep], flat_s[keep]
    ranks = np.tile(np.arange(1, k + 1), len(users))[keep]
    ds = run.dataset
    titles = np.asarray(ds.titles(), dtype=object)
    return pd.DataFrame({"user_id": ds.user_ids[rows_u].astype(str), "rank": ranks,
                         "item_id": ds.item_ids[flat_i].astype(str), "title": titles[flat_i],
                         "score": flat_s.astype(float), "cold": sp.cold_items[flat_i],
                         "hit": [(int(u), int(i)) in truth for u, i in zip(rows_u, flat_i)]})
