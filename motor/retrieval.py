"""Top-K retrieval with faiss over trained vectors, and token-sharing lookups.

Scores are inner products, the same function the backbones rank with, so faiss returns what
full-ranking evaluation would (checked by a test).
"""

from __future__ import annotations

import faiss
import numpy as np


class VectorIndex:
    """Exact inner-product search (``IndexFlatIP``) over a fixed set of item vectors."""

    def __init__(self, item_vectors: np.ndarray):
        self.vectors = np.ascontiguousarray(item_vectors, dtype=np.float32)
        self.index = faiss.IndexFlatIP(self.vectors.shape[1])
        self.index.add(self.vectors)

    def search(self, queries: np.ndarray, k: int, exclude: list[np.ndarray] | None = None):
        """(scores, items) ``[n, k]`` per query, skipping each query's ``exclude`` items."""
        queries = np.ascontiguousarray(np.atleast_2d(queries), dtype=np.float32)
        n_items = self.index.ntotal
        extra = 0 if exclude is None else max((len(e) for e in exclude), default=0)
        depth = min(n_items, k + extra)
        scores, items = self.index.search(queries, depth)
        if exclude is None:
            return scores[:, :k], items[:, :k]
        out_s = np.full((len(queries), k), -np.inf, np.float32)
        out_i = np.full((len(queries), k), -1, np.int64)
        for q in range(len(queries)):
            keep = ~np.isin(items[q], exclude[q]) & (items[q] >= 0)
            s, i = scores[q][keep][:k], items[q][keep][:k]
            out_s[q, :len(s)], out_i[q, :len(i)] = s, i
        return out_s, out_i

    def similar_items(self, item: int, k: int, measure: str = "centred"):
        """Items closest to ``item``, the item itself excluded; (similarities, items).

        ``measure``: ``centred`` (default) is the cosine after removing the mean item vector:
        trained item vectors share a large common direction (popularity; in the demo every pair
        of LightGCN item vectors has cosine > 0.99), which hides what distinguishes them.
        ``cosine`` is the plain cosine, ``dot`` the inner product the recommender scores with.
        """
        if measure not in ("centred", "cosine", "dot"):
            raise ValueError(f"measure must be centred, cosine or dot, got {measure!r}")
        if measure == "dot":
            index, v = self.index, self.vectors
        else:
            v = centred_unit(self.vectors) if measure == "centred" else unit(self.vectors)
            index = faiss.IndexFlatIP(v.shape[1])
            index.add(v)
        s, i = index.search(np.ascontiguousarray(v[item:item + 1]), min(k + 1, len(v)))
        keep = i[0] != item
        return s[0][keep][:k], i[0][keep][:k]


def unit(v: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length (zero rows stay zero)."""
    v = np.asarray(v, dtype=np.float32)
    return np.ascontiguousarray(v / np.maximum(np.linalg.norm(v, axis=1, keepdims=True), 1e-12))


def centred_unit(v: np.ndarray) -> np.ndarray:
    """Rows minus their mean, scaled to unit length: what distinguishes the vectors."""
    v = np.asarray(v, dtype=np.float32)
    return unit(v - v.mean(0, keepdims=True))
