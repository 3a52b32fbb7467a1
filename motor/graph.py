"""Graph building blocks shared by every backbone: one normaliser, one propagation, one kNN graph.

MMRec copies adjacency code into 13 model files, each with a slightly different normalisation;
here the variants are explicit flags of a single function.
"""

from __future__ import annotations

import hashlib
import warnings
from pathlib import Path
from typing import Literal

import numpy as np
import torch

Norm = Literal["sym", "row", "none"]

# CSR sparse-dense products are about 1.5x faster than COO on CPU; torch labels CSR "beta".
warnings.filterwarnings("ignore", message="Sparse CSR tensor support is in beta")


def normalize_edges(rows: torch.Tensor, cols: torch.Tensor, n: int, values: torch.Tensor | None = None,
                    norm: Norm = "sym", self_loops: bool = False) -> torch.Tensor:
    """A sparse ``n x n`` matrix from edges: ``D^-1/2 A D^-1/2`` (sym), ``D^-1 A`` (row) or ``A``.

    Degrees are row sums of ``A`` (plus the self loop when ``self_loops``); isolated nodes get
    zero rows instead of a division by zero.
    """
    rows, cols = rows.long(), cols.long()
    values = torch.ones(rows.numel(), dtype=torch.float32) if values is None else values.float()
    if self_loops:
        loop = torch.arange(n)
        rows, cols = torch.cat([rows, loop]), torch.cat([cols, loop])
        values = torch.cat([values, torch.ones(n)])
    deg = torch.zeros(n).index_add_(0, rows, values)
    if norm == "sym":
        inv = deg.pow(-0.5)
        inv[torch.isinf(inv)] = 0.0
        values = inv[rows] * values * inv[cols]
    elif norm == "row":
        inv = deg.pow(-1.0)
        inv[torch.isinf(inv)] = 0.0
        values = inv[rows] * values
    adj = torch.sparse_coo_tensor(torch.stack([rows, cols]), values, (n, n), check_invariants=False).coalesce()
    return adj.to_sparse_csr()


def bipartite_adjacency(n_users: int, n_items: int, users: torch.Tensor, items: torch.Tensor,
                        norm: Norm = "sym", self_loops: bool = False) -> torch.Tensor:
    """The ``(U+I) x (U+I)`` user-item graph of the training interactions, normalised."""
    rows = torch.cat([users, items + n_users])
    cols = torch.cat([items + n_users, users])
    return normalize_edges(rows, cols, n_users + n_items, norm=norm, self_loops=self_loops)


def propagate(adj: torch.Tensor, x: torch.Tensor, n_layers: int) -> list[torch.Tensor]:
    """LightGCN-style propagation: ``[x, Ax, A^2x, ...]`` (layer 0 included)."""
    out = [x]
    for _ in range(n_layers):
        out.append(torch.sparse.mm(adj, out[-1]))
    return out


def layer_mean(layers: list[torch.Tensor]) -> torch.Tensor:
    return torch.stack(layers, dim=0).mean(dim=0)


def knn_edges(features: torch.Tensor, k: int, chunk: int = 2048) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Top-k cosine neighbours of every row (self excluded), computed in chunks.

    Never builds the dense ``n x n`` similarity matrix, so it scales to catalogues where
    that matrix would not fit (MMRec's LATTICE needs ``n^2`` floats).
    Returns (rows, cols, similarity).
    """
    x = torch.nn.functional.normalize(features.float(), dim=1)
    n = x.shape[0]
    k = min(k, n - 1)
    rows, cols, sims = [], [], []
    for start in range(0, n, chunk):
        block = x[start:start + chunk] @ x.T
        idx = torch.arange(start, min(start + chunk, n))
        block[torch.arange(len(idx)), idx] = -float("inf")
        s, c = block.topk(k, dim=1)
        rows.append(idx.repeat_interleave(k))
        cols.append(c.reshape(-1))
        sims.append(s.reshape(-1))
    return torch.cat(rows), torch.cat(cols), torch.cat(sims)


def knn_graph(features: torch.Tensor, k: int, norm: Norm = "sym", cache_dir: Path | None = None) -> torch.Tensor:
    """Sparse item-item kNN graph (binary edges, normalised), cached by a hash of the inputs.

    The cache key covers the feature bytes, k and the normalisation, so re-encoded features
    never reuse a stale graph (a known MMRec defect).
    """
    key = None
    if cache_dir is not None:
        h = hashlib.sha256(features.detach().cpu().float().numpy().tobytes())
        h.update(f"{tuple(features.shape)}|{k}|{norm}".encode())
        key = Path(cache_dir) / f"knn_{h.hexdigest()[:24]}.npz"
        if key.exists():
            with np.load(key, allow_pickle=False) as z:
                rows, cols = torch.from_numpy(z["rows"]), torch.from_numpy(z["cols"])
            return normalize_edges(rows, cols, features.shape[0], norm=norm)
    rows, cols, _ = knn_edges(features, k)
    if key is not None:
        key.parent.mkdir(parents=True, exist_ok=True)
        np.savez(key, rows=rows.numpy(), cols=cols.numpy())
    return normalize_edges(rows, cols, features.shape[0], norm=norm)
