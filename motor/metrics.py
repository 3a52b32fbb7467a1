"""Top-K ranking metrics exactly as MMRec defines them (binary relevance, macro average).

For a user with relevant set T and hit_i = 1 when the item at rank i is relevant:
Recall@K = sum_{i<=K} hit_i / |T|;  Precision@K = sum_{i<=K} hit_i / K;
NDCG@K = sum_{i<=K} hit_i / log2(i+1)  /  sum_{i<=min(|T|,K)} 1 / log2(i+1);
MAP@K = sum_{i<=K} P@i * hit_i / min(|T|, K).
"""

from __future__ import annotations

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
