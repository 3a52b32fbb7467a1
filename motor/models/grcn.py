"""GRCN (Wei et al., ACM MM 2020): Graph-Refined Convolutional Network.

The user-item graph is refined from content before the ID embeddings are propagated on it.

Content branch, per modality m: items ``f_i = normalize(LeakyReLU(W_m x_i))`` (feature ->
``latent_dim``), users a learned preference ``p_u``. Routing (``n_routing`` = 3 iterations):
``a_ui = softmax_{i in N(u)}(p_u . f_i)``, ``p_u <- normalize(p_u + sum_i a_ui f_i)``. Then one
dot-product attention convolution over both edge directions on ``x = [p; f]``:
``alpha_e = softmax_{src in N(dst)}(x_dst . x_src)``, ``c^m = x + sum alpha_e x_src``.

Graph refinement: each directed edge src -> dst gets, per modality, ``alpha^m_e`` times the
sender's confidence ``c^m_src`` (``weight_mode='confid'``), the max over modalities, and a ReLU
that prunes edges with a negative weight (``pruning``). ``'max'`` and ``'mean'`` drop the
confidences.

ID branch: ``x0 = normalize([user_embedding ; R])`` with ``R`` the item encoder's output, then
``n_id_layers`` (2) weighted-sum convolutions over the refined graph, output ``x0 + h1 + h2``.
Representation = ``cat(id, c^m1, c^m2, ...)`` (``embedding_dim + M x latent_dim`` wide);
score = inner product. Loss: BPR + ``reg_weight`` x mean squares of the batch's user-ID and
item-encoder vectors and of the batch users' preferences.

Per-node confidences: the published model learns one confidence per node and modality, an
``(U + I) x M`` table. Its item rows would be a per-item parameter outside the item encoder
(an ID table in disguise, which MOTOR mode must not have), so the **item confidences are
derived from the item encoder's output**: ``c_i = Linear(R_i)`` (``embedding_dim -> M``, shared
by all items). In ID mode this is an ID-based confidence (the ID table feeds it), in MOTOR
mode a token-based one; items that share tokens share evidence about their reliability.
User confidences stay a free ``U x M`` parameter (user side, as published).

MOTOR replaces the item rows of the ID embedding (and, through the Linear above, the item
confidences). Deviations from MMRec: no hard-coded CUDA; text-only and any other modality set
work (MMRec's ``conetent_rep`` typo breaks text-only runs); the no-op ``dropout_adj(p=0)`` is
left out; the attention is the plain dot product of the published model, without the extra
degree-scaled sigmoid gate of MMRec's implementation; representations are recomputed at
evaluation.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

from motor.config import doc
from motor.losses import bpr_vectors, mean_square
from motor.models.base import Batch, MakeItems, ModelContext, PropagationConfig
from motor.models.multimodal import MultimodalConfig, MultimodalRecommender
from motor.models.registry import register


def segment_softmax(scores: torch.Tensor, index: torch.Tensor, n: int) -> torch.Tensor:
    """Softmax of ``scores`` within each group of equal ``index`` (groups 0..n-1), vectorised."""
    top = scores.new_full((n,), -float("inf")).scatter_reduce(0, index, scores.detach(), "amax", include_self=True)
    ex = (scores - top[index]).exp()
    total = scores.new_zeros(n).index_add(0, index, ex)
    return ex / total[index].clamp_min(1e-16)


class BipartiteEdges(nn.Module):
    """The training edges (unique, user-major order) with CSR layouts in both directions.

    Edge values live in one canonical order; ``matrix(v)`` is the ``U x I`` CSR matrix with
    those values and ``matrix(v, True)`` the ``I x U`` one, built without sorting (the
    item-major permutation is computed once). The two autograd functions below use them so
    that no backward pass needs an ``[E, d]`` scatter, and per-edge dot products use
    ``sampled_addmm`` (an SDDMM on the CSR pattern) instead of ``[E, d]`` gathers. A first
    gather / index_add version took seconds per demo batch on the shared 2-core machine;
    this one about 0.1 s on one thread. GRCN-specific (the edge values are learned, so the
    constant-graph ``spmm`` does not apply); the index tensors are non-persistent buffers, so
    they follow ``model.to(device)``.
    """

    def __init__(self, users: torch.Tensor, items: torch.Tensor, n_users: int, n_items: int):
        super().__init__()
        codes = torch.unique(users.long() * n_items + items.long())  # sorted: user-major
        user, item = codes // n_items, codes % n_items
        self.n_users, self.n_items = n_users, n_items
        perm = torch.argsort(item * n_users + user)  # item-major order of the same edges
        zero = torch.zeros(1, dtype=torch.long)
        for name, t in {"user": user, "item": item, "perm": perm, "col_t": user[perm],
                        "crow": torch.cat([zero, torch.bincount(user, minlength=n_users).cumsum(0)]),
                        "crow_t": torch.cat([zero, torch.bincount(item, minlength=n_items).cumsum(0)])}.items():
            self.register_buffer(name, t, persistent=False)

    def dot(self, user_x: torch.Tensor, item_x: torch.Tensor) -> torch.Tensor:
        """``<user_x[u_e], item_x[i_e]>`` per edge, canonical order (CSR SDDMM; 50x faster than gathers)."""
        pattern = self.matrix(user_x.new_zeros(self.user.numel()))
        return torch.sparse.sampled_addmm(pattern, user_x, item_x.T, beta=0.0).values()

    def matrix(self, values: torch.Tensor, transpose: bool = False) -> torch.Tensor:
        """The ``U x I`` CSR matrix with edge ``values`` (canonical order), or its ``I x U`` transpose."""
        if transpose:
            return torch.sparse_csr_tensor(self.crow_t, self.col_t, values[self.perm], (self.n_items, self.n_users),
                                           check_invariants=False)
        return torch.sparse_csr_tensor(self.crow, self.item, values, (self.n_users, self.n_items),
                                       check_invariants=False)


class _EdgeDot(torch.autograd.Function):
    """``s_e = <p[user_e], f[item_e]>`` for every edge (an SDDMM)."""

    @staticmethod
    def forward(ctx, g: BipartiteEdges, p: torch.Tensor, f: torch.Tensor) -> torch.Tensor:
        ctx.g = g
        ctx.save_for_backward(p, f)
        return g.dot(p, f)

    @staticmethod
    def backward(ctx, grad):
        g, (p, f) = ctx.g, ctx.saved_tensors
        grad = grad.contiguous()
        return None, torch.sparse.mm(g.matrix(grad), f), torch.sparse.mm(g.matrix(grad, True), p)


class _EdgeSpmm(torch.autograd.Function):
    """``out = A(v) @ x`` with ``A(v)`` the ``U x I`` (or, transposed, ``I x U``) edge matrix."""

    @staticmethod
    def forward(ctx, g: BipartiteEdges, values: torch.Tensor, x: torch.Tensor, transpose: bool) -> torch.Tensor:
        ctx.g, ctx.transpose = g, transpose
        ctx.save_for_backward(values, x)
        return torch.sparse.mm(g.matrix(values, transpose), x)

    @staticmethod
    def backward(ctx, grad):
        g, t, (values, x) = ctx.g, ctx.transpose, ctx.saved_tensors
        grad = grad.contiguous()
        grad_x = torch.sparse.mm(g.matrix(values, not t), grad) if ctx.needs_input_grad[2] else None
        grad_v = None
        if ctx.needs_input_grad[1]:
            grad_v = g.dot(x, grad) if t else g.dot(grad, x)
        return None, grad_v, grad_x, None


def edge_dot(g: BipartiteEdges, p: torch.Tensor, f: torch.Tensor) -> torch.Tensor:
    """``<p[user_e], f[item_e]>`` for every edge ``e``, differentiable in ``p`` and ``f``."""
    return _EdgeDot.apply(g, p, f)


def to_users(g: BipartiteEdges, values: torch.Tensor, item_x: torch.Tensor) -> torch.Tensor:
    """``out[u] = sum_{i in N(u)} v_ui item_x[i]``."""
    return _EdgeSpmm.apply(g, values, item_x, False)


def to_items(g: BipartiteEdges, values: torch.Tensor, user_x: torch.Tensor) -> torch.Tensor:
    """``out[i] = sum_{u in N(i)} v_ui user_x[u]``."""
    return _EdgeSpmm.apply(g, values, user_x, True)


@dataclass
class GRCNConfig(MultimodalConfig, PropagationConfig):
    embedding_dim: int = doc(64, "size of the ID embeddings (user table and item encoder)", low=1)
    latent_dim: int = doc(64, "size of each modality's content representation (MMRec latent_embedding)", low=1)
    n_routing: int = doc(3, "routing iterations that refine the user preferences (MMRec n_layers)", low=0)
    n_id_layers: int = doc(2, "weighted convolutions of the ID embeddings over the refined graph", low=0)
    weight_mode: Literal["confid", "max", "mean"] = doc(
        "confid", "edge weight from the modalities: attention x sender confidence, max over modalities "
                  "('confid', published default), plain max ('max') or mean ('mean')")
    pruning: bool = doc(True, "ReLU on the edge weights: edges with a negative weight are removed")
    has_act: bool = doc(False, "LeakyReLU after each ID convolution")
    reg_weight: float = doc(1e-3, "weight of the mean-square regulariser on the batch's user-ID, item-encoder "
                                  "and user-preference vectors (MMRec grids 1e-5..0.1)", low=0)


@register
class GRCN(MultimodalRecommender):
    """Graph-refined convolution: content attention re-weights and prunes user-item edges before propagation.

    Per modality, routed user preferences and attention over the edges give edge weights; the ID
    vectors (user table and item encoder) are propagated over the refined graph and concatenated
    with the content vectors; loss = BPR + reg.
    """

    name = "grcn"
    Config = GRCNConfig

    def __init__(self, ctx: ModelContext, cfg: GRCNConfig, make_items: MakeItems) -> None:
        super().__init__(ctx, cfg, make_items)
        self.edges = BipartiteEdges(ctx.train_user, ctx.train_item, self.n_users, self.n_items)

    def build_before_items(self) -> None:
        d, c, n_mod = self.cfg.embedding_dim, self.cfg.latent_dim, len(self.features)
        self.content_mlp = nn.ModuleList(nn.Linear(dim, c) for dim in self.features.dims().values())
        self.user_side("user_preference", nn.ParameterList(
            [nn.Parameter(nn.init.xavier_normal_(torch.empty(self.n_users, c))) for _ in range(n_mod)]))
        self.user_table("user_embedding", d, "normal")
        self.user_table("user_confidence", n_mod, "normal")
        self.item_confidence = nn.Linear(d, n_mod)  # item confidences from the item encoder's vector

    def _content(self, j: int, m: str):
        """Modality m's user and item representations and the attention of each edge, both directions.

        Returns ``(users [U, c], items [I, c], alpha_to_user [E], alpha_to_item [E])``:
        ``alpha_to_user`` is normalised over each user's items, ``alpha_to_item`` over each
        item's users (the score ``p_u . f_i`` is the same for both directions).
        """
        g = self.edges
        f = F.normalize(F.leaky_relu(self.content_mlp[j](self.features[m])), dim=1)
        p = F.normalize(self.user_preference[j], dim=1)
        for _ in range(self.cfg.n_routing):
            a = segment_softmax(edge_dot(g, p, f), g.user, self.n_users)
            p = F.normalize(p + to_users(g, a, f), dim=1)
        s = edge_dot(g, p, f)
        alpha_u = segment_softmax(s, g.user, self.n_users)
        alpha_i = segment_softmax(s, g.item, self.n_items)
        return p + to_users(g, alpha_u, f), f + to_items(g, alpha_i, p), alpha_u, alpha_i

    def _forward(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        g = self.edges
        ego_items = self.items()
        parts = [self._content(j, m) for j, m in enumerate(self.features.names)]
        alpha_u = torch.stack([q[2] for q in parts], dim=1)  # [E, M], messages item -> user
        alpha_i = torch.stack([q[3] for q in parts], dim=1)  # [E, M], messages user -> item
        mode = self.cfg.weight_mode
        if mode == "confid":  # weight x the sender's confidence, max over modalities
            w_u = (alpha_u * self.item_confidence(ego_items)[g.item]).max(dim=1).values
            w_i = (alpha_i * self.user_confidence[g.user]).max(dim=1).values
        elif mode == "max":
            w_u, w_i = alpha_u.max(dim=1).values, alpha_i.max(dim=1).values
        else:
            w_u, w_i = alpha_u.mean(dim=1), alpha_i.mean(dim=1)
        if self.cfg.pruning:
            w_u, w_i = F.relu(w_u), F.relu(w_i)
        h_u = F.normalize(self.user_embedding, dim=1)
        h_i = F.normalize(ego_items, dim=1)
        id_u, id_i = h_u, h_i
        for _ in range(self.cfg.n_id_layers):
            h_u, h_i = to_users(g, w_u, h_i), to_items(g, w_i, h_u)
            if self.cfg.has_act:
                h_u, h_i = F.leaky_relu(h_u), F.leaky_relu(h_i)
            id_u, id_i = id_u + h_u, id_i + h_i
        # cold and low-degree items (Recommender.cold_path): the ID branch sums n_id_layers + 1 layers
        id_i = self.cold_path(id_u, id_i, F.normalize(ego_items, dim=1) * float(self.cfg.n_id_layers + 1))
        users = torch.cat([id_u, *(q[0] for q in parts)], dim=1)
        items = torch.cat([id_i, *(q[1] for q in parts)], dim=1)
        return users, items, ego_items

    def loss(self, batch: Batch) -> dict[str, torch.Tensor]:
        users, items, ego_items = self._forward()
        reg = (mean_square(self.user_embedding[batch.user])
               + mean_square(torch.cat([ego_items[batch.pos], ego_items[batch.neg]]))
               + sum(mean_square(p[batch.user]) for p in self.user_preference))
        return {"bpr": bpr_vectors(*self.batch_rows(users, items, batch)), "reg": self.cfg.reg_weight * reg}

    def embeddings(self) -> tuple[torch.Tensor, torch.Tensor]:
        users, items, _ = self._forward()
        return users, items
