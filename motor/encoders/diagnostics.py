"""Is the Token Cross Network really crossing? Summaries of attention maps and pooling weights.

Attention that has collapsed looks like this: every row of an item's map is (nearly) one-hot,
all rows pick the same key token (the map is a single dark column, so every token receives the
same value and the tokens do not cross), and every item's map is the same (the attention does
not depend on the item's content). Pooling that does not learn is (nearly) uniform. The figures
below measure each symptom; ``collapse_warnings`` turns them into readable warnings.

All functions take plain tensors, so they can be checked on hand-made maps.
"""

from __future__ import annotations

import math

import torch

# thresholds of a collapsed TCN (the targets of issue 11): beyond them a run is flagged
MAX_WEIGHT_LIMIT = 0.9  # mean largest weight of an attention row
SAME_KEY_LIMIT = 0.3  # share of items whose rows all pick the same key
TV_FLOOR = 0.10  # mean total-variation distance of an item's map from the average map
POOL_FLOOR_TIMES_UNIFORM = 2.0  # mean largest pooling weight must reach this many times 1/T


def attention_stats(maps: torch.Tensor, average: torch.Tensor | None = None) -> dict:
    """Per-head figures of one layer's maps ``[N items, heads, T, T]`` (rows sum to 1).

    Returns lists with one value per head:

    - ``entropy``: mean entropy (nats) of the attention rows (``log T`` is uniform, 0 one-hot);
    - ``max_weight``: mean largest weight of a row (1/T uniform, 1 one-hot);
    - ``same_key``: share of items whose every row has its strict maximum on one and the same
      key (a single dark column); ties never count, so uniform maps give 0;
    - ``tv_from_average``: mean over items and rows of the total-variation distance
      ``0.5 * sum_k |a_qk - avg_qk|`` between the item's map and ``average`` (default: the mean
      map of these items); 0 when every item has the same map.
    """
    maps = maps.double()
    avg = maps.mean(0) if average is None else average.double()
    entropy = -(maps * maps.clamp_min(1e-12).log()).sum(-1)  # [N, h, T]
    top2 = maps.topk(min(2, maps.shape[-1]), dim=-1)
    strict = (top2.values[..., 0] - top2.values[..., -1] > 1e-6) if maps.shape[-1] > 1 else \
        torch.ones(maps.shape[:-1], dtype=torch.bool)
    key = top2.indices[..., 0]  # [N, h, T]
    same = strict.all(-1) & (key == key[..., :1]).all(-1)  # [N, h]
    tv = 0.5 * (maps - avg).abs().sum(-1)  # [N, h, T]
    return {"entropy": entropy.mean((0, 2)).tolist(), "max_weight": top2.values[..., 0].mean((0, 2)).tolist(),
            "same_key": same.double().mean(0).tolist(), "tv_from_average": tv.mean((0, 2)).tolist()}


def pooling_stats(alpha: torch.Tensor, average: torch.Tensor | None = None) -> dict:
    """Figures of pooling weights ``[N items, T]``: mean largest weight (1/T uniform), mean entropy,
    mean TV distance from the average pooling, and T."""
    alpha = alpha.double()
    avg = alpha.mean(0) if average is None else average.double()
    T = alpha.shape[-1]
    return {"max_weight": float(alpha.max(-1).values.mean()), "uniform": 1.0 / T, "T": int(T),
            "entropy": float(-(alpha * alpha.clamp_min(1e-12).log()).sum(-1).mean()),
            "tv_from_average": float((0.5 * (alpha - avg).abs().sum(-1)).mean())}


def summarise_attention(layers: list[dict]) -> dict:
    """Means over every layer and head of ``attention_stats`` results (the figures the targets name)."""
    def mean(key: str) -> float:
        values = [v for layer in layers for v in layer[key]]
        return float(sum(values) / len(values))
    return {key: mean(key) for key in ("entropy", "max_weight", "same_key", "tv_from_average")}


def collapse_warnings(attention: dict | None, pooling: dict | None) -> list[str]:
    """Readable warnings for each collapse symptom beyond its threshold (empty: the TCN crosses)."""
    out = []
    if attention is not None:
        if attention["max_weight"] > MAX_WEIGHT_LIMIT:
            out.append(f"attention is nearly one-hot: mean largest weight {attention['max_weight']:.3f} "
                       f"> {MAX_WEIGHT_LIMIT}")
        if attention["same_key"] > SAME_KEY_LIMIT:
            out.append(f"in {attention['same_key']:.0%} of items every token attends to the same key "
                       f"(> {SAME_KEY_LIMIT:.0%}): their tokens do not cross")
        if attention["tv_from_average"] < TV_FLOOR:
            out.append(f"attention hardly depends on the item: mean distance from the average map "
                       f"{attention['tv_from_average']:.3f} < {TV_FLOOR}")
    if pooling is not None and pooling["T"] > 1:
        floor = POOL_FLOOR_TIMES_UNIFORM / pooling["T"]
        if pooling["max_weight"] < floor:
            out.append(f"pooling is nearly uniform: mean largest weight {pooling['max_weight']:.3f} "
                       f"< 2/T = {floor:.3f}")
    return out


def uniform_entropy(T: int) -> float:
    """Entropy of a uniform row over T keys (the largest an attention row can have)."""
    return math.log(T)
