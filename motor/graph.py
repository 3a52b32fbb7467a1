"""Graph building blocks shared by every backbone: one normaliser, one propagation, one kNN graph.

MMRec copies adjacency code into 13 model files, each with a slightly different normalisation;
here the variants are flags of single functions. Edge lists ``(rows, cols, values)`` are the
common currency: they can be normalised and propagated differentiably (LATTICE learns its item
graph), combined across modalities, and turned into a constant CSR matrix once.

kNN convention (every frozen and learned item-item graph): the top-k ranks the **full** cosine
similarity row, so an item counts among its own k neighbours (almost always as the first one:
it then has k - 1 others). That is what MMRec's LATTICE, FREEDOM, MGCN and DRAGON do;
``include_self=False`` exists for experiments only. Frozen kNN searches are cached on disk
under a hash of the feature bytes (``knn_cache_key``), so re-encoded features never reuse a
stale graph (MMRec keys its ``mm_adj_{k}.pt`` by k only).
"""

from __future__ import annotations

import hashlib
import warnings
from pathlib import Path
from typing import Literal

import numpy as np
import torch

from motor.paths import save_npz

Norm = Literal["sym", "row", "none"]

# CSR sparse-dense products are about 1.5x faster than COO on CPU; torch labels CSR "beta".
warnings.filterwarnings("ignore", message="Sparse CSR tensor support is in beta")


# --- normalisation: edge lists -> (constant) sparse matrices -----------------------------------


def inv_degree(deg: torch.Tensor, norm: Norm) -> torch.Tensor:
    """``deg^-1/2`` (sym) or ``deg^-1`` (row); 0 where the degree is not positive (an isolated node, or
    only negative similarities), instead of an inf or a NaN, also in the gradient."""
    ok = deg > 0
    safe = torch.where(ok, deg, torch.ones_like(deg))
    return torch.where(ok, safe.pow(-0.5 if norm == "sym" else -1.0), torch.zeros_like(deg))


def edge_norm_values(rows: torch.Tensor, cols: torch.Tensor, values: torch.Tensor, n: int,
                     norm: Norm = "sym") -> torch.Tensor:
    """Values of ``D^-1/2 A D^-1/2`` (sym), ``D^-1 A`` (row) or ``A`` (none) for an ``n x n`` edge list.

    Degrees are row sums; differentiable in ``values`` (LATTICE's learned graph).
    """
    if norm == "none":
        return values
    inv = inv_degree(torch.zeros(n, dtype=values.dtype, device=values.device).index_add(0, rows, values), norm)
    return inv[rows] * values * inv[cols] if norm == "sym" else inv[rows] * values


def sparse_from_edges(rows: torch.Tensor, cols: torch.Tensor, values: torch.Tensor, n_rows: int,
                      n_cols: int | None = None) -> torch.Tensor:
    """A constant sparse CSR matrix from an edge list (duplicate edges are summed)."""
    n_cols = n_rows if n_cols is None else n_cols
    adj = torch.sparse_coo_tensor(torch.stack([rows.long(), cols.long()]), values.detach().float(),
                                  (n_rows, n_cols), check_invariants=False).coalesce()
    return adj.to_sparse_csr()


def normalize_edges(rows: torch.Tensor, cols: torch.Tensor, n: int, values: torch.Tensor | None = None,
                    norm: Norm = "sym", self_loops: bool = False) -> torch.Tensor:
    """A constant sparse ``n x n`` CSR matrix from edges (binary unless ``values``), normalised by
    ``edge_norm_values``; ``self_loops`` adds ``I`` before the degrees are taken."""
    rows, cols = rows.long(), cols.long()
    values = torch.ones(rows.numel()) if values is None else values.float()
    if self_loops:
        loop = torch.arange(n)
        rows, cols, values = torch.cat([rows, loop]), torch.cat([cols, loop]), torch.cat([values, torch.ones(n)])
    return sparse_from_edges(rows, cols, edge_norm_values(rows, cols, values, n, norm), n)


def bipartite_adjacency(n_users: int, n_items: int, users: torch.Tensor, items: torch.Tensor,
                        norm: Norm = "sym", self_loops: bool = False) -> torch.Tensor:
    """The ``(U+I) x (U+I)`` user-item graph of the training interactions, normalised."""
    rows = torch.cat([users, items + n_users])
    cols = torch.cat([items + n_users, users])
    return normalize_edges(rows, cols, n_users + n_items, norm=norm, self_loops=self_loops)


def user_item_matrix(n_users: int, n_items: int, users: torch.Tensor, items: torch.Tensor,
                     norm: Norm = "row") -> torch.Tensor:
    """Sparse ``U x I`` interaction matrix (CSR): ``row`` = mean over the user's items,
    ``sym`` = ``1 / sqrt(deg_u deg_i)`` (the user-item block of the symmetric UI adjacency),
    ``none`` = binary."""
    users, items = users.long(), items.long()
    values = torch.ones(users.numel())
    du = torch.bincount(users, minlength=n_users).float()
    di = torch.bincount(items, minlength=n_items).float()
    if norm == "row":
        values = values / du[users]
    elif norm == "sym":
        values = du[users].rsqrt() * di[items].rsqrt()
    return sparse_from_edges(users, items, values, n_users, n_items)


# --- propagation over constant graphs ---------------------------------------------------------


class _SpMM(torch.autograd.Function):
    """``A @ x`` whose backward uses a precomputed ``A^T`` (CSR) instead of transposing ``A`` again."""

    @staticmethod
    def forward(ctx, adj, adj_t, x):
        ctx.adj_t = adj_t
        return torch.sparse.mm(adj, x)

    @staticmethod
    def backward(ctx, grad):
        return None, None, torch.sparse.mm(ctx.adj_t, grad)


def transpose_csr(adj: torch.Tensor) -> torch.Tensor:
    """The transpose of a sparse matrix, as CSR (computed once, kept next to the matrix)."""
    return adj.to_sparse_coo().t().coalesce().to_sparse_csr()


def spmm(adj: torch.Tensor, x: torch.Tensor, adj_t: torch.Tensor | None = None) -> torch.Tensor:
    """``adj @ x`` for a constant sparse ``adj``; with ``adj_t`` (its transpose, or ``adj`` itself when
    symmetric) the backward pass reuses it.

    ``torch.sparse.mm``'s backward transposes a CSR matrix on every call, which sorts all
    edges: on the demo's user-item graph that made forward + backward 8.5 ms instead of 1.4 ms
    (1 CPU thread). The gradient is the same; only the constant matrix gets no gradient.
    """
    with torch.autocast(x.device.type, enabled=False):  # mixed precision: sparse products stay float32
        if x.dtype != adj.dtype:  # bf16/fp16 activations meet the graph's own precision
            x = x.to(adj.dtype)
        if adj_t is None or not (torch.is_grad_enabled() and x.requires_grad):
            return torch.sparse.mm(adj, x)
        return _SpMM.apply(adj, adj_t, x)


def propagate(adj: torch.Tensor, x: torch.Tensor, n_layers: int,
              adj_t: torch.Tensor | None = None) -> list[torch.Tensor]:
    """LightGCN-style propagation ``[x, Ax, A^2x, ...]`` (layer 0 included); ``adj_t`` as in ``spmm``
    (``adj`` itself for a symmetric graph) gives every layer the fast backward."""
    out = [x]
    for _ in range(n_layers):
        out.append(spmm(adj, out[-1], adj_t))
    return out


def layer_mean(layers: list[torch.Tensor]) -> torch.Tensor:
    """The mean of propagation layers 0..n (LightGCN's layer combination)."""
    return torch.stack(layers, dim=0).mean(dim=0)


# --- cold and low-degree items ----------------------------------------------------------------


def cold_item_mask(degree: torch.Tensor, dropout: float = 0.0, training: bool = False) -> torch.Tensor:
    """Which items take the cold path: those without training edges, plus (in training only) a random
    ``dropout`` fraction of the others, drawn from torch's global generator (seeded by the trainer).

    The random part is item dropout in the spirit of DropoutNet (Volkovs et al. 2017): a warm
    item sometimes has to be scored from its own vector alone, so the model learns a cold path
    that ranks on the same scale as the propagated vectors. Without it the own vector of an item
    is never trained to stand alone, and a cold item lands below every warm item.
    """
    cold = degree == 0
    if training and dropout > 0:
        cold = cold | (torch.rand(degree.shape, device=degree.device) < dropout)
    return cold


def score_scale(users: torch.Tensor, propagated: torch.Tensor, own: torch.Tensor, edge_user: torch.Tensor,
                edge_item: torch.Tensor) -> torch.Tensor:
    """How much higher the propagated item vectors score than the items' own vectors on the training
    interactions: ``sum_e u . propagated_i / sum_e u . own_i`` over edges ``e = (u, i)``, detached.

    Multiplying the cold path by it makes cold-path scores unbiased on the training interactions:
    on average an interacted item would score the same from its own vector as from its
    propagated one. 1 when the own vectors do not score positively (nothing to match).
    """
    with torch.no_grad():
        u = users[edge_user]
        full = (u * propagated[edge_item]).sum()
        alone = (u * own[edge_item]).sum()
        if not bool(alone > 0) or not bool(full > 0):
            return torch.ones((), dtype=own.dtype, device=own.device)
        return full / alone


def cold_item_combine(combined: torch.Tensor, ego: torch.Tensor, cold: torch.Tensor,
                      scale: float | torch.Tensor = 1.0) -> torch.Tensor:
    """Rows flagged ``cold`` take ``scale * ego`` (their own layer-0 vector) instead of the layer combination.

    ``scale``: the backbones pass what the combination gives when every layer equals the layer-0
    vector, as it would for a node with only a self-loop (1 for a layer mean, ``n_layers + 1`` for
    a layer sum), times ``score_scale``. So an isolated item's own vector keeps the weight a
    propagated item's layers have together, instead of ``1 / (n_layers + 1)`` of it (its
    propagated layers are zero), on the scale the propagated vectors score at.
    """
    if not bool(cold.any()):
        return combined
    return torch.where(cold.unsqueeze(1), ego * scale, combined)


def edge_propagate(rows: torch.Tensor, cols: torch.Tensor, values: torch.Tensor, x: torch.Tensor,
                   n_rows: int) -> torch.Tensor:
    """``A @ x`` for ``A`` given as an edge list; differentiable in both ``values`` and ``x``."""
    out = torch.zeros(n_rows, x.shape[1], dtype=x.dtype, device=x.device)
    return out.index_add(0, rows, values.unsqueeze(1) * x[cols])


# --- kNN item-item graphs (the convention is in the module docstring) -------------------------


def similarity_topk(x: torch.Tensor, k: int, include_self: bool = True, chunk: int = 2048,
                    present: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Top-k cosine neighbours of every row of ``x``, computed in row chunks; differentiable in ``x``.

    ``include_self`` keeps the diagonal as a candidate (the convention, see the module docstring);
    otherwise it is excluded. Only ``chunk x n`` similarities exist at a time, never ``n x n``.
    ``present`` (bool ``[n]``, optional): the rows that hold real content. Items without it (filled
    rows: all alike, so they would be each other's nearest neighbours) neither get nor give
    neighbours: they keep only their self-loop (with ``include_self``), and the others' top-k
    ranks present items only.
    Returns (rows, cols, cosine similarity) on ``x``'s device, ``k`` entries per present row.
    """
    if present is not None and not bool(present.all()):
        keep = torch.nonzero(present.to(x.device), as_tuple=True)[0]
        rows, cols, sims = similarity_topk(x[keep], k, include_self, chunk)
        rows, cols = keep[rows], keep[cols]
        if include_self:
            alone = torch.nonzero(~present.to(x.device), as_tuple=True)[0]
            rows, cols = torch.cat([rows, alone]), torch.cat([cols, alone])
            sims = torch.cat([sims, torch.ones(alone.numel(), dtype=sims.dtype, device=sims.device)])
        return rows, cols, sims
    xn = torch.nn.functional.normalize(x.float(), dim=1)
    n = xn.shape[0]
    k = max(0, min(k, n if include_self else n - 1))
    rows, cols, sims = [], [], []
    for start in range(0, n, chunk):
        stop = min(start + chunk, n)
        block = xn[start:stop] @ xn.T
        idx = torch.arange(start, stop, device=xn.device)
        if not include_self:
            block = block.index_put((torch.arange(stop - start, device=xn.device), idx),
                                    torch.tensor(-float("inf"), device=xn.device))
        s, c = block.topk(k, dim=1)
        rows.append(idx.repeat_interleave(k))
        cols.append(c.reshape(-1))
        sims.append(s.reshape(-1))
    return torch.cat(rows), torch.cat(cols), torch.cat(sims)


def knn_cache_key(features: torch.Tensor, k: int, include_self: bool, present: torch.Tensor | None = None) -> str:
    """Hash of the feature bytes, their shape, the present mask and the kNN settings: the cache file's name."""
    h = hashlib.sha256(features.detach().cpu().float().contiguous().numpy().tobytes())
    h.update(f"knn-edges-v1|{tuple(features.shape)}|{k}|{include_self}".encode())
    if present is not None and not bool(present.all()):
        h.update(b"present|" + present.detach().cpu().numpy().astype(np.uint8).tobytes())
    return f"knnw_{h.hexdigest()[:24]}"


def _read_knn_cache(path: Path, n: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor] | None:
    """The cached edges of an ``n``-item kNN graph, or None when the file is missing, unreadable
    (truncated, foreign, pickled) or does not describe such a graph: then it is recomputed and replaced."""
    try:
        with np.load(path, allow_pickle=False) as z:
            rows, cols, sims = z["rows"], z["cols"], z["sims"]
    except Exception:  # a missing, truncated or foreign file is just a miss
        return None
    arrays = (rows, cols, sims)
    if (any(a.ndim != 1 or len(a) != len(rows) for a in arrays)
            or not all(np.issubdtype(a.dtype, np.integer) for a in (rows, cols))
            or not np.issubdtype(sims.dtype, np.floating)
            or (len(rows) and (min(rows.min(), cols.min()) < 0 or max(rows.max(), cols.max()) >= n))):
        return None
    return torch.from_numpy(rows), torch.from_numpy(cols), torch.from_numpy(sims)


def knn_neighbours(features: torch.Tensor, k: int, include_self: bool = True, cache_dir: Path | None = None,
                   present: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Frozen kNN edges (rows, cols, cosine similarity) of a feature matrix, hash-keyed disk cache.

    The key (``knn_cache_key``) covers the feature bytes, so re-encoded features never reuse a
    stale graph. ``present``: see ``similarity_topk``. Returned on the CPU.
    """
    path = None
    if cache_dir is not None:
        path = Path(cache_dir) / f"{knn_cache_key(features, k, include_self, present)}.npz"
        cached = _read_knn_cache(path, features.shape[0])
        if cached is not None:
            return cached
    with torch.no_grad():
        rows, cols, sims = (t.cpu() for t in similarity_topk(features.detach(), k, include_self, present=present))
    if path is not None:
        save_npz(path, rows=rows.numpy(), cols=cols.numpy(), sims=sims.numpy())
    return rows, cols, sims


def knn_adjacency_edges(features: torch.Tensor, k: int, norm: Norm = "sym", weighted: bool = False,
                        include_self: bool = True, cache_dir: Path | None = None,
                        present: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Frozen kNN graph of one modality as a normalised edge list (cached kNN search).

    ``weighted`` keeps the cosine similarities as edge weights (LATTICE); otherwise edges are
    binary (FREEDOM, MGCN, DRAGON). ``present``: items without this modality link to themselves only.
    """
    rows, cols, sims = knn_neighbours(features, k, include_self, cache_dir, present)
    values = sims.float() if weighted else torch.ones(rows.numel())
    return rows, cols, edge_norm_values(rows, cols, values, features.shape[0], norm)


def knn_adjacency(features: torch.Tensor, k: int, norm: Norm = "sym", weighted: bool = False,
                  include_self: bool = True, cache_dir: Path | None = None,
                  present: torch.Tensor | None = None) -> torch.Tensor:
    """Frozen kNN graph of one modality as a sparse CSR matrix (see ``knn_adjacency_edges``)."""
    rows, cols, values = knn_adjacency_edges(features, k, norm, weighted, include_self, cache_dir, present)
    return sparse_from_edges(rows, cols, values, features.shape[0])


def modality_weights(names, weights: dict[str, float] | None = None) -> dict[str, float]:
    """Mixing weights for the modalities present, summing to 1.

    Listed modalities take their weight; a modality not listed gets the mean weight of the listed
    ones that are present (1 when none is), then all are renormalised. So FREEDOM's
    ``{"image": 0.1, "text": 0.9}`` gives 0.1/0.9 on image+text, 1.0 on a single modality, and
    a sensible share to a third modality.
    """
    names = list(names)
    weights = dict(weights or {})
    bad = [m for m, w in weights.items() if w < 0]
    if bad:
        raise ValueError(f"modality weights must be non-negative, got {weights}")
    listed = [weights[m] for m in names if m in weights]
    fill = sum(listed) / len(listed) if listed else 1.0
    raw = {m: float(weights.get(m, fill)) for m in names}
    total = sum(raw.values())
    if total <= 0:
        return {m: 1.0 / len(names) for m in names}
    return {m: w / total for m, w in raw.items()}


def fused_knn_adjacency(features: dict[str, torch.Tensor], weights: dict[str, float] | None, k: int,
                        norm: Norm = "sym", weighted: bool = False, include_self: bool = True,
                        cache_dir: Path | None = None, present: dict[str, torch.Tensor] | None = None
                        ) -> torch.Tensor:
    """One frozen item-item graph for all modalities: ``sum_m w_m * normalised kNN_m`` (CSR).

    ``w`` from ``modality_weights`` (FREEDOM / DRAGON: 0.1 image + 0.9 text); a modality of
    weight 0 is skipped. Each modality's kNN search is cached separately by a hash of its features.
    ``present`` (per modality, optional): an item without a modality gets that modality's part as a
    self-loop only, so its neighbours come from the modalities it has.
    """
    w = modality_weights(features.keys(), weights)
    present = present or {}
    parts = [(w[m], knn_adjacency_edges(f, k, norm, weighted, include_self, cache_dir, present.get(m)))
             for m, f in features.items() if w[m] > 0]
    n = next(iter(features.values())).shape[0]
    rows = torch.cat([p[0] for _, p in parts])
    cols = torch.cat([p[1] for _, p in parts])
    values = torch.cat([wm * p[2] for wm, p in parts])
    return sparse_from_edges(rows, cols, values, n)


def learned_knn_edges(x: torch.Tensor, k: int, norm: Norm = "sym", include_self: bool = True,
                      chunk: int = 2048, present: torch.Tensor | None = None
                      ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """LATTICE's learned item graph, sparse path: weighted top-k cosine graph of ``x``, normalised.

    Memory ``O(n k)`` plus one ``chunk x n`` block; gradients reach ``x`` through the kept
    similarities. Agrees with ``learned_knn_dense`` (up to ties in the top-k). ``present``: see
    ``similarity_topk``.
    """
    rows, cols, sims = similarity_topk(x, k, include_self, chunk, present)
    return rows, cols, edge_norm_values(rows, cols, sims, x.shape[0], norm)


def learned_knn_dense(x: torch.Tensor, k: int, norm: Norm = "sym", include_self: bool = True,
                      present: torch.Tensor | None = None) -> torch.Tensor:
    """LATTICE's learned item graph, dense path: the same graph as ``learned_knn_edges`` as an
    ``n x n`` matrix (only for small catalogues: ``n^2`` floats). ``present``: see ``similarity_topk``."""
    xn = torch.nn.functional.normalize(x.float(), dim=1)
    n = xn.shape[0]
    sim = xn @ xn.T
    eye = torch.eye(n, dtype=torch.bool, device=xn.device)
    if not include_self:
        sim = torch.where(eye, torch.full_like(sim, -float("inf")), sim)
    if present is not None and not bool(present.all()):
        p = present.to(xn.device)
        n_present = int(p.sum())
        k = min(k, n_present if include_self else n_present - 1)
        sim = torch.where(p[None, :] | eye, sim, torch.full_like(sim, -float("inf")))
    k = max(0, min(k, n if include_self else n - 1))
    s, c = sim.topk(k, dim=1)
    s = torch.where(torch.isinf(s), torch.zeros_like(s), s)
    adj = torch.zeros(n, n, dtype=xn.dtype, device=xn.device).scatter(1, c, s)
    if present is not None and not bool(present.all()):
        # an item without this content keeps its self-loop only (as in the sparse path)
        absent = ~present.to(xn.device)
        adj = torch.where(absent[:, None], eye.to(adj.dtype) * float(include_self), adj)
    if norm == "none":
        return adj
    inv = inv_degree(adj.sum(1), norm)
    return inv[:, None] * adj * inv[None, :] if norm == "sym" else inv[:, None] * adj


# --- FREEDOM's degree-sensitive edge pruning ---------------------------------------------------


def degree_sensitive_edge_sample(users: torch.Tensor, items: torch.Tensor, n_users: int, n_items: int,
                                 keep_ratio: float, generator: torch.Generator | None = None) -> torch.Tensor:
    """FREEDOM's degree-sensitive edge pruning: indices of the user-item edges kept this epoch.

    ``int(E * keep_ratio)`` edges drawn without replacement with probability proportional to
    ``1 / sqrt(deg_u * deg_i)`` (the symmetric-normalised edge weight), so edges between
    high-degree nodes are dropped more often. Reproducible for a seeded ``generator``.
    """
    users, items = users.long().cpu(), items.long().cpu()
    n_edges = users.numel()
    n_keep = int(n_edges * keep_ratio)
    if n_keep >= n_edges:
        return torch.arange(n_edges)
    if n_keep <= 0:
        return torch.zeros(0, dtype=torch.long)
    du = torch.bincount(users, minlength=n_users).float()
    di = torch.bincount(items, minlength=n_items).float()
    p = du[users].rsqrt() * di[items].rsqrt()
    return torch.multinomial(p, n_keep, replacement=False, generator=generator).sort().values
