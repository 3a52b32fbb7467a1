"""The user-user co-occurrence graph of DualGNN and DRAGON, built from the training edges.

MMRec needs a separate preprocessing script (``dualgnn-gen-u-u-matrix.py``: an O(U^2) Python
double loop over a dense ``U x U`` matrix) whose output file is the most reported missing
artefact in MMRec's issues. Here the graph is computed on demand from the training interactions:

- ``C = R R^T`` with ``R`` the binary ``U x I`` training matrix: ``C[u, v]`` is the number of
  items both users interacted with. It is computed in blocks of users with sparse x sparse
  products and stays sparse: no dense ``U x U`` (or ``block x U``) matrix is built, and the
  blocks are sized by their number of co-interaction terms, so memory stays bounded even
  with very popular items.
- Each user keeps its ``k`` users with the most co-interactions (self excluded, zero counts
  dropped; ties go to the lower user index, so the result is deterministic).
- The result is cached by a hash of (sorted unique training edges, n_users, n_items, k): in
  memory for the process, and on disk under ``cache_dir`` when one is given. Changing the
  split, the data or k changes the key; a stale graph is never reused.

``UserGraph.adjacency`` turns the neighbour lists into the sparse row-stochastic aggregation
matrix the models use (softmax of the counts, as DualGNN does, or the plain mean). Users with
fewer than ``k`` neighbours either keep only their real neighbours (``padding='mask'``) or,
like MMRec, are padded to ``k`` entries by re-drawing from their own neighbours
(``padding='resample'``, vectorised, drawn from the generator the trainer passes to
``pre_epoch``, so it is reproducible). Users with no co-interacting user get an empty row.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import torch

from motor.graph import sparse_from_edges
from motor.paths import save_npz

Aggregation = Literal["softmax", "mean"]
Padding = Literal["mask", "resample"]

_MEMORY: dict[str, tuple[torch.Tensor, torch.Tensor]] = {}
_MEMORY_MAX = 8
_BLOCK_WORK = 1 << 24  # co-interaction terms per block of users (bounds memory)


@dataclass
class UserGraph:
    """Top-k co-interaction neighbours of every user.

    ``neighbours [U, k]`` user ids (``-1`` where a user has fewer than k neighbours),
    ``counts [U, k]`` their co-interaction counts (0 on padding), sorted by count descending.
    """

    neighbours: torch.Tensor
    counts: torch.Tensor
    key: str
    from_cache: bool = False

    @property
    def n_users(self) -> int:
        return self.neighbours.shape[0]

    @property
    def k(self) -> int:
        return self.neighbours.shape[1]

    @property
    def n_valid(self) -> torch.Tensor:
        return (self.neighbours >= 0).sum(1)

    def adjacency(self, aggregation: Aggregation = "softmax", padding: Padding = "mask",
                  generator: torch.Generator | None = None) -> torch.Tensor:
        """Sparse ``U x U`` matrix ``W`` with ``(W x)[u] = sum_v w_uv x[v]`` over u's neighbours.

        Each non-empty row sums to 1. With ``padding='resample'`` the missing slots of users
        with fewer than k neighbours are filled by drawing (with replacement, from
        ``generator``) among their real neighbours; duplicates then count several times.
        """
        nbrs, counts = self.neighbours, self.counts
        valid = nbrs >= 0
        if padding == "resample" and self.k > 0:
            n = self.n_valid
            draw = (torch.rand(nbrs.shape, generator=generator) * n.clamp_min(1).unsqueeze(1)).long()
            fill_n, fill_c = nbrs.gather(1, draw), counts.gather(1, draw)
            has_any = (n > 0).unsqueeze(1)
            nbrs = torch.where(valid, nbrs, torch.where(has_any, fill_n, nbrs))
            counts = torch.where(valid, counts, torch.where(has_any, fill_c, counts))
            valid = nbrs >= 0
        if aggregation == "softmax":
            logits = counts.masked_fill(~valid, -float("inf"))
            weights = torch.softmax(logits, dim=1).nan_to_num(0.0)  # rows without neighbours: all -inf
        elif aggregation == "mean":
            weights = valid.float() / valid.sum(1, keepdim=True).clamp_min(1)
        else:
            raise ValueError(f"unknown aggregation {aggregation!r}")
        rows = torch.arange(self.n_users).unsqueeze(1).expand_as(nbrs)[valid]
        return sparse_from_edges(rows, nbrs[valid], weights[valid], self.n_users)


def graph_key(users: torch.Tensor, items: torch.Tensor, n_users: int, n_items: int, k: int) -> str:
    """Hash of the training edges (order and duplicates ignored), the sizes and k."""
    codes = np.unique(users.long().numpy() * int(n_items) + items.long().numpy())
    h = hashlib.sha256(codes.astype(np.int64).tobytes())
    h.update(f"user-graph|{n_users}|{n_items}|{k}".encode())
    return h.hexdigest()[:24]


def _blocks(users: torch.Tensor, items: torch.Tensor, n_users: int, n_items: int) -> list[tuple[int, int]]:
    """Consecutive user ranges whose co-interaction products have at most ``_BLOCK_WORK`` terms.

    User u contributes ``sum_{i in N(u)} deg(i)`` terms (an upper bound of its row's non-zeros),
    so memory stays bounded however skewed the item popularity is.
    """
    deg = torch.bincount(items, minlength=n_items)
    work = torch.zeros(n_users, dtype=torch.long).index_add_(0, users, deg[items])
    ends = torch.cumsum(work, 0)
    out, start = [], 0
    while start < n_users:
        base = int(ends[start - 1]) if start else 0
        stop = int(torch.searchsorted(ends, base + _BLOCK_WORK, right=True))
        stop = min(n_users, max(stop, start + 1))
        out.append((start, stop))
        start = stop
    return out


def cooccurrence_topk(users: torch.Tensor, items: torch.Tensor, n_users: int, n_items: int,
                      k: int) -> tuple[torch.Tensor, torch.Tensor]:
    """``(neighbours [U, k'], counts [U, k'])`` with ``k' = min(k, U - 1)``; see the module docstring.

    Per block of users: ``C = R_block R^T`` as a sparse product, the diagonal dropped, then one
    sort of the non-zeros by (user, count descending, neighbour id) and the first k per user.
    Nothing dense of size ``U x U`` (or even ``block x U``) is built.
    """
    users, items = users.long(), items.long()
    k = max(0, min(int(k), n_users - 1))
    nbrs = torch.full((n_users, k), -1, dtype=torch.long)
    cnts = torch.zeros(n_users, k)
    if k == 0 or users.numel() == 0:
        return nbrs, cnts
    if users.min() < 0 or items.min() < 0 or users.max() >= n_users or items.max() >= n_items:
        raise ValueError(f"edge ids out of range for {n_users} users x {n_items} items")
    codes = torch.unique(users * n_items + items)  # unique edges, user-major: R is binary
    r_users, r_items = codes // n_items, codes % n_items
    RT = sparse_from_edges(r_items, r_users, torch.ones(codes.numel()), n_items, n_users)
    for start, stop in _blocks(r_users, r_items, n_users, n_items):
        lo, hi = torch.searchsorted(r_users, torch.tensor([start, stop]))
        part = sparse_from_edges(r_users[lo:hi] - start, r_items[lo:hi], torch.ones(int(hi - lo)), stop - start,
                                 n_items)
        C = torch.sparse.mm(part, RT).to_sparse_coo().coalesce()  # [block, U] co-interaction counts
        (row, col), val = C.indices(), C.values().round().long()
        keep = (col != row + start) & (val > 0)  # a user is not its own neighbour
        row, col, val = row[keep], col[keep], val[keep]
        if row.numel() == 0:
            continue
        top = int(val.max())
        order = torch.argsort((row * (top + 1) + (top - val)) * n_users + col)  # user, count desc, id
        row, col, val = row[order], col[order], val[order]
        per_row = torch.bincount(row, minlength=stop - start)
        rank = torch.arange(row.numel()) - (torch.cumsum(per_row, 0) - per_row)[row]
        sel = rank < k
        nbrs[row[sel] + start, rank[sel]] = col[sel]
        cnts[row[sel] + start, rank[sel]] = val[sel].float()
    return nbrs, cnts


def _read_cache(path: Path, n_users: int, k: int) -> tuple[torch.Tensor, torch.Tensor] | None:
    """A cached graph of ``n_users`` users and top ``k``, or None when the file is missing, unreadable
    (truncated, foreign, pickled) or holds something else: then it is recomputed and replaced."""
    try:
        with np.load(path, allow_pickle=False) as z:
            n, c = z["neighbours"], z["counts"]
    except Exception:  # a missing, truncated or foreign file is just a miss
        return None
    shape = (n_users, max(0, min(int(k), n_users - 1)))
    if (n.shape != shape or c.shape != shape or not np.issubdtype(n.dtype, np.integer)
            or not np.issubdtype(c.dtype, np.floating) or (n.size and (n.min() < -1 or n.max() >= n_users))):
        return None
    return torch.from_numpy(n).long(), torch.from_numpy(c).float()


def build_user_graph(users: torch.Tensor, items: torch.Tensor, n_users: int, n_items: int, k: int = 40,
                     cache_dir: Path | str | None = None, use_memory: bool = True) -> UserGraph:
    """The top-k co-interaction graph of the training edges, from cache when possible."""
    key = graph_key(users, items, n_users, n_items, k)
    if use_memory and key in _MEMORY:
        n, c = _MEMORY[key]
        return UserGraph(n.clone(), c.clone(), key, from_cache=True)
    path = Path(cache_dir) / f"user_graph_{key}.npz" if cache_dir is not None else None
    cached = _read_cache(path, n_users, k) if path is not None else None
    if cached is not None:
        n, c = cached
        hit = True
    else:
        n, c = cooccurrence_topk(users, items, n_users, n_items, k)
        hit = False
        if path is not None:
            save_npz(path, neighbours=n.numpy(), counts=c.numpy())
    if use_memory:
        if len(_MEMORY) >= _MEMORY_MAX:
            _MEMORY.pop(next(iter(_MEMORY)))
        _MEMORY[key] = (n, c)
    return UserGraph(n.clone(), c.clone(), key, from_cache=hit)


def clear_memory_cache() -> None:
    _MEMORY.clear()
