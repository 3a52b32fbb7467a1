"""Where a run ranks rare items, and why: the figures behind "MOTOR rarely ranks tail items".

For each test interaction with a tail item (the ``by_popularity`` tail bucket of metrics.json:
``motor.metrics.popularity_buckets``), the rank of that item for its user among the candidates the
evaluator ranks it among (the user's training items masked, and their validation items too under the
default ``strict`` protocol; held-out cold items are not candidates). Then two candidate explanations, measured: do the items' scores
follow popularity (the correlation of the mean score with log training degree, and the vector
norms of tail against head items), and, for a token model, are the items sharing most tokens
with a tail item more popular than it and ranked above it ("popular look-alikes")?
``benchmarks/tail_analysis.py`` prints these for saved runs; the Compare page shows them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from motor.evaluate import Evaluator
from motor.metrics import BUCKETS, TAIL_MAX, popularity_buckets

if TYPE_CHECKING:
    from motor.runs import LoadedRun

__all__ = ["TAIL_MAX", "rare_item_ranks", "rare_item_story", "rare_item_table"]  # TAIL_MAX: the bucket's rule
NEIGHBOURS = 10  # token look-alikes per tail item (with every item tied with the 10th)
MAX_ROWS = 3000  # tail test interactions read at most (evenly spaced), a bound on the cost
CHUNK = 512  # users scored at a time


def rare_item_ranks(run: "LoadedRun", max_rows: int = MAX_ROWS) -> dict:
    """Figures for one run (JSON-ready); ``tail_test_interactions`` 0 when the test set has no tail item."""
    users, items = run.vectors()
    test = run.split.test
    n_items = len(items)
    degree = run.split.train_degree()
    tail = popularity_buckets(degree, run.split.cold_items) == BUCKETS.index("tail")  # the metrics.json bucket, head excluded
    rows = np.flatnonzero(tail[test.item])
    out = {"items": run.config.items, "catalogue": int(n_items), "tail_items": int(tail.sum()),
           "tail_test_interactions": int(len(rows))}
    mean_score = items @ users.mean(0)  # the mean over users of every item's score
    out["corr_log_degree_mean_score"] = float(np.corrcoef(np.log1p(degree), mean_score)[0, 1])
    head = degree >= np.quantile(degree, 0.8)
    out["norm_tail"] = float(np.linalg.norm(items[tail], axis=1).mean()) if tail.any() else float("nan")
    out["norm_head"] = float(np.linalg.norm(items[head], axis=1).mean())
    if not len(rows):
        return out
    if len(rows) > max_rows:
        rows = rows[np.linspace(0, len(rows) - 1, max_rows).round().astype(int)]
    # ranked among the evaluator's candidates: its protocol's masked sets (each user's items: seen[indptr[u]:
    # indptr[u + 1]]) and, with a cold hold-out, the warm items only
    csrs, among = Evaluator(run.split, run.config.train.protocol).candidates("test")
    tids = getattr(run.model.items, "token_ids", None)
    tids = None if tids is None else tids.cpu().numpy()
    ranks, candidates, more_popular, ranked_above = [], [], [], []
    look_alikes: dict[int, np.ndarray] = {}  # per tail item, computed once
    for start in range(0, len(rows), CHUNK):
        part = rows[start:start + CHUNK]
        scores = users[test.user[part]] @ items.T
        for s, u, i in zip(scores, test.user[part], test.item[part]):
            for indptr, seen in csrs:
                s[seen[indptr[u]:indptr[u + 1]]] = -np.inf  # trained (and validation) items are never recommended
            if among is not None:
                s[~among] = -np.inf
            ranks.append(int((s >= s[i]).sum()) - 1)  # 0-based, below every equal score (ties earn nothing)
            candidates.append(int(np.isfinite(s).sum()))  # what it was ranked among, after the masks
            if tids is not None:
                if i not in look_alikes:
                    look_alikes[i] = _look_alikes(tids, i)
                nb = look_alikes[i]
                if len(nb):  # an item sharing no token with any other has no look-alikes to measure
                    more_popular.append(float(np.mean(degree[nb] > degree[i])))
                    ranked_above.append(float(np.mean(s[nb] > s[i])))
    ranks = np.asarray(ranks)
    out.update(rows_read=int(len(ranks)), median_rank=float(np.median(ranks)),
               median_candidates=float(np.median(candidates)), share_in_top20=float(np.mean(ranks < 20)))
    if more_popular:
        out.update(neighbours_more_popular=float(np.mean(more_popular)),
                   neighbours_ranked_above=float(np.mean(ranked_above)))
    return out


def _look_alikes(tids: np.ndarray, i: int) -> np.ndarray:
    """The ``NEIGHBOURS`` items sharing most tokens with item ``i``, with every item tied with the last one
    (at least one shared token; a catalogue under 11 items has fewer)."""
    shared = (tids == tids[i]).sum(1)
    shared[i] = -1
    k = min(NEIGHBOURS, len(tids) - 1)
    if k < 1:
        return np.zeros(0, np.int64)
    cut = max(int(np.partition(shared, -k)[-k]), 1)
    return np.flatnonzero(shared >= cut)


def rare_item_table(reports: dict[str, dict]) -> pd.DataFrame:
    """One row per run name: the figures of ``rare_item_ranks`` under readable column names."""
    rows = []
    for name, r in reports.items():
        rows.append({"model": name, "tail test interactions": r["tail_test_interactions"],
                     "median rank of the user's rare item": r.get("median_rank"),
                     "share in the top 20": r.get("share_in_top20"),
                     "score ~ popularity (corr.)": r["corr_log_degree_mean_score"],
                     "token look-alikes more popular": r.get("neighbours_more_popular")})
    return pd.DataFrame(rows)


def rare_item_story(reports: dict[str, dict]) -> str:
    """The table in words, for an ID run and a MOTOR run ('' unless both have tail test interactions)."""
    i, m = reports.get("ID"), reports.get("MOTOR")
    if not i or not m or not i["tail_test_interactions"] or not m["tail_test_interactions"]:
        return ""
    n = m.get("median_candidates", m["catalogue"])  # the items it was ranked among (the masks leave fewer)
    text = (f"A user's rare test item ranks at a median of {m['median_rank']:.0f} of {n:,.0f} candidates with "
            f"MOTOR and {i['median_rank']:.0f} with ID. ")
    if m["median_rank"] > i["median_rank"]:
        text += "ID's row still learns from the item's few interactions; MOTOR's vector comes from its content. "
    share = m.get("neighbours_more_popular")
    if share is not None and np.isfinite(share):
        text += (f"The items sharing most tokens with a rare item are more popular than it {share:.0%} of the "
                 f"time, so " + ("popular look-alikes do not explain it." if share < 0.5 else
                                 "popular look-alikes may push it down."))
    return text
