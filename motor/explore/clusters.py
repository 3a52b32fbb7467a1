"""k-means clusters of item vectors (faiss, spherical), numbered largest first."""

from __future__ import annotations

import numpy as np

from motor.retrieval import unit


def clusters(vectors: np.ndarray, k: int = 12, seed: int = 0) -> np.ndarray:
    """k-means (faiss, spherical) labels of the item vectors, clusters numbered largest first."""
    import faiss

    x = np.ascontiguousarray(unit(vectors))
    k = int(max(1, min(k, len(x))))
    km = faiss.Kmeans(x.shape[1], k, niter=25, seed=seed, spherical=True, verbose=False, min_points_per_centroid=1)
    km.train(x)
    _, lab = km.index.search(x, 1)
    lab = lab[:, 0]
    order = np.argsort(-np.bincount(lab, minlength=k), kind="stable")
    rank = np.empty(k, np.int64)
    rank[order] = np.arange(k)
    return rank[lab]
