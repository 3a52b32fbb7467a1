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

    def similar_items(self, item: int, k: int, cosine: bool = True):
        """Items closest to ``item`` (cosine by default, the item itself excluded)."""
        v = self.vectors
        if cosine:
            v = v / np.maximum(np.linalg.norm(v, axis=1, keepdims=True), 1e-12)
            index = faiss.IndexFlatIP(v.shape[1])
            index.add(np.ascontiguousarray(v))
        else:
            index = self.index
        s, i = index.search(np.ascontiguousarray(v[item:item + 1]), min(k + 1, len(v)))
        keep = i[0] != item
        return s[0][keep][:k], i[0][keep][:k]
