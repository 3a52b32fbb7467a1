"""Top-K ranking metrics exactly as MMRec defines them (binary relevance, macro average).

For a user with relevant set T and hit_i = 1 when the item at rank i is relevant:
Recall@K = sum_{i<=K} hit_i / |T|;  Precision@K = sum_{i<=K} hit_i / K;
NDCG@K = sum_{i<=K} hit_i / log2(i+1)  /  sum_{i<=min(|T|,K)} 1 / log2(i+1);
MAP@K = sum_{i<=K} P@i * hit_i / min(|T|, K).

``popularity_buckets`` splits the catalogue into head / mid / tail / cold by training degree
(rule in ``BUCKET_RULE``); ``motor.evaluate.evaluate_by_popularity`` scores each bucket.
"""

from __future__ import annotations

import math

import numpy as np
import torch

METRICS = ("recall", "ndcg", "precision", "map")
DEFAULT_KS = (5, 10, 20, 50)


def topk_metrics(hits: torch.Tensor, n_relevant: torch.Tensor, ks=DEFAULT_KS) -> dict[str, torch.Tensor]:
    """Per-user metric values from a ``[users, L]`` 0/1 hit matrix of the top-L list.

    ``L`` may be shorter than the largest K (fewer candidate items than K): missing ranks
    count as misses.
    """
    max_k = max(ks)
    hits = hits.float()
    if hits.shape[1] < max_k:
        hits = torch.nn.functional.pad(hits, (0, max_k - hits.shape[1]))
    hits = hits[:, :max_k]
    n_rel = n_relevant.float().clamp(min=1)
    ranks = torch.arange(1, max_k + 1, dtype=torch.float32)
    discount = 1.0 / torch.log2(ranks + 1)
    cum_hits = hits.cumsum(1)
    dcg = (hits * discount).cumsum(1)
    ideal = discount.cumsum(0)
    precision_at_i = cum_hits / ranks
    ap_sum = (precision_at_i * hits).cumsum(1)
    out = {}
    for k in ks:
        n_ideal = torch.minimum(n_rel, torch.tensor(float(k)))
        out[f"recall@{k}"] = cum_hits[:, k - 1] / n_rel
        out[f"precision@{k}"] = cum_hits[:, k - 1] / k
        out[f"ndcg@{k}"] = dcg[:, k - 1] / ideal[n_ideal.long() - 1]
        out[f"map@{k}"] = ap_sum[:, k - 1] / n_ideal
    return out


# --- popularity buckets ------------------------------------------------------------------------------

BUCKETS = ("head", "mid", "tail", "cold")
HEAD_SHARE = 0.2  # head: this share of the items with training interactions, the most-interacted ones
TAIL_MAX = 5  # tail: items with at most this many training interactions (and at least one)
BUCKET_RULE = ("by training degree d (interactions in the training set after any train_fraction): cold = d == 0; "
               "head = the ceil({head:g} x n) most-interacted of the n items with d > 0 (ties at the boundary by "
               "item index); tail = d <= {tail}, not head; mid = the rest. Items held out by cold_items are in no "
               "bucket (they have their own 'cold' metrics)")


def popularity_buckets(train_degree: np.ndarray, held_out: np.ndarray | None = None, head_share: float = HEAD_SHARE,
                       tail_max: int = TAIL_MAX) -> np.ndarray:
    """Bucket index per item (0 head, 1 mid, 2 tail, 3 cold, -1 held out), following ``BUCKET_RULE``.

    Head is a share of the *seen* items so that a sparse regime (train_fraction) still has a head;
    when even the head items have at most ``tail_max`` interactions, head wins (checked in that order).
    """
    degree = np.asarray(train_degree, np.int64)
    bucket = np.full(len(degree), BUCKETS.index("mid"), np.int64)
    held = np.zeros(len(degree), bool) if held_out is None else np.asarray(held_out, bool)
    seen = np.flatnonzero((degree > 0) & ~held)
    bucket[(degree <= tail_max)] = BUCKETS.index("tail")
    bucket[degree == 0] = BUCKETS.index("cold")
    n_head = math.ceil(head_share * len(seen) - 1e-9)
    head = seen[np.lexsort((seen, -degree[seen]))[:n_head]]
    bucket[head] = BUCKETS.index("head")
    bucket[held] = -1
    return bucket
