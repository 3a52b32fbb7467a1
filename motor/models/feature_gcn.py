"""Pieces shared by the multimodal backbones VBPR, MMGCN, GRCN, DualGNN and DRAGON.

Not a backbone itself (nothing here is registered):

- ``ItemFeatures``: the item feature matrices, frozen buffers by default (not parameters, not
  in the state_dict, not in the trainable count) or trainable parameters when
  ``freeze_features=False`` (MMRec's behaviour for several models, issue MMRec#56).
- ``FixedSparse`` / ``spmm`` / ``propagate_fixed``: a constant sparse matrix with its transpose
  built once, so the backward of ``A @ x`` is one more CSR product instead of a transpose
  (a COO->CSR sort) in every step; on the demo's user-item graph forward + backward went
  from ~100 ms to ~6 ms on the (loaded) 2-core machine.
- ``mean_square``: MMRec's ``(x ** 2).mean()`` regulariser, expressed with ``emb_norm_reg``.
- ``FeatureGCN``: DualGNN's and DRAGON's per-modality graph network (MMRec copies it between
  the two files): item layer 0 = ``MLP(feature)`` (``D -> hidden -> dim``, LeakyReLU) plus an
  optional extra item vector (the item encoder's output, where MOTOR enters), user layer 0 = a
  learned preference vector, row-wise L2 normalisation, then weight-free propagation over the
  symmetric-normalised user-item graph; the output is the sum of layers ``0..n_layers``.
- ``DualGraphModel``: the common body of DualGNN and DRAGON (feature GCNs, per-user modality
  weights, user-user co-interaction graph, log2-BPR loss). The two registered models differ
  only in how modalities are combined (sum vs concatenation) and in DRAGON's item-item graph.

Where MOTOR enters DualGNN / DRAGON: neither published model has an item-ID table; items are
represented by their features only. The item encoder's vector ``R_i`` (an ID embedding in ID
mode, MOTOR's token vector in MOTOR mode) is added to the item's layer-0 input of every
modality's feature GCN: ``x_i^m = MLP_m(f_i^m) + R_i``. That is the one place an item-identity
vector can enter without changing the published feature pathway: the MLPs, the propagation,
the fusion and the user side stay exactly as published, and ``R`` reaches the scores through
the same graph convolutions as the content. ID mode is therefore "the model plus an item-ID
embedding" and MOTOR mode "the model plus MOTOR's token vector". See docs/BACKBONES.md.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

from motor.config import doc
from motor.errors import MotorError
from motor.losses import bpr_loss, emb_norm_reg
from motor.models.base import Batch, Recommender
from motor.user_graph import build_user_graph

LN2 = math.log(2.0)


class FixedSparse:
    """A constant sparse CSR matrix and its transpose (computed once; ``symmetric`` reuses it)."""

    def __init__(self, matrix: torch.Tensor, symmetric: bool = False):
        self.matrix = matrix.to_sparse_csr() if matrix.layout != torch.sparse_csr else matrix
        if symmetric:
            self.transposed = self.matrix
        else:
            self.transposed = matrix.to_sparse_coo().t().coalesce().to_sparse_csr()
        self.shape = tuple(self.matrix.shape)

    def t(self) -> "FixedSparse":
        out = FixedSparse.__new__(FixedSparse)
        out.matrix, out.transposed, out.shape = self.transposed, self.matrix, self.shape[::-1]
        return out

    def to_dense(self) -> torch.Tensor:
        return self.matrix.to_dense()


class _Spmm(torch.autograd.Function):
    @staticmethod
    def forward(ctx, op: FixedSparse, x: torch.Tensor) -> torch.Tensor:
        ctx.op = op
        return torch.sparse.mm(op.matrix, x)

    @staticmethod
    def backward(ctx, grad):
        return None, torch.sparse.mm(ctx.op.transposed, grad.contiguous())


def spmm(op: FixedSparse, x: torch.Tensor) -> torch.Tensor:
    """``A @ x`` for a constant sparse ``A``; differentiable in ``x``."""
    return _Spmm.apply(op, x)


def propagate_fixed(op: FixedSparse, x: torch.Tensor, n_layers: int) -> list[torch.Tensor]:
    """``[x, Ax, A^2 x, ...]`` (layer 0 included), like ``motor.graph.propagate``."""
    out = [x]
    for _ in range(n_layers):
        out.append(spmm(op, out[-1]))
    return out


def mean_square(x: torch.Tensor) -> torch.Tensor:
    """``(x ** 2).mean()`` (MMRec's regulariser in MMGCN, GRCN, DualGNN, DRAGON) via ``emb_norm_reg``."""
    return emb_norm_reg(x.reshape(x.shape[0], -1), squared=True) / max(1, x[0].numel())


def log2_bpr(pos: torch.Tensor, neg: torch.Tensor) -> torch.Tensor:
    """``-mean(log2 sigmoid(s+ - s-))`` = ``bpr_loss / ln 2`` (DualGNN and DRAGON use base-2 logs)."""
    return bpr_loss(pos, neg) / LN2


class ItemFeatures(nn.Module):
    """Item feature matrices by modality name, in the context's order.

    Frozen (default): non-persistent buffers, so they follow ``.to(device)`` but are neither
    trained, counted as parameters, nor copied into checkpoints (the run rebuilds them from the
    dataset). ``freeze=False``: ``nn.Parameter`` copies, trained with everything else; they are
    per-item parameters, so the "no per-item parameter outside the item encoder" property of
    the contract test no longer holds (MMRec's behaviour, kept only as an explicit option).
    """

    def __init__(self, features: dict[str, torch.Tensor], freeze: bool = True):
        super().__init__()
        if not features:
            raise ValueError("this backbone needs at least one item feature modality")
        self.names = list(features)
        self.frozen = freeze
        self._attr = {}
        for i, (name, x) in enumerate(features.items()):
            attr = f"feat_{name}" if name.isidentifier() else f"feat_{i}"
            self._attr[name] = attr
            x = x.detach().float()
            if freeze:
                self.register_buffer(attr, x, persistent=False)
            else:
                setattr(self, attr, nn.Parameter(x.clone()))

    def __getitem__(self, name: str) -> torch.Tensor:
        return getattr(self, self._attr[name])

    def dim(self, name: str) -> int:
        return int(self[name].shape[1])

    def __len__(self) -> int:
        return len(self.names)


class FeatureGCN(nn.Module):
    """One modality's graph network of DualGNN / DRAGON (see the module docstring)."""

    def __init__(self, in_dim: int, dim: int, hidden: int, n_layers: int):
        super().__init__()
        self.mlp = nn.Linear(in_dim, hidden)
        self.mlp_out = nn.Linear(hidden, dim)
        self.n_layers = n_layers

    def item_input(self, features: torch.Tensor) -> torch.Tensor:
        return self.mlp_out(F.leaky_relu(self.mlp(features)))

    def forward(self, adj: FixedSparse, preference: torch.Tensor, features: torch.Tensor,
                item_extra: torch.Tensor | None = None) -> torch.Tensor:
        """``[U + I, dim]``: sum of layers 0..n_layers over the normalised user-item graph."""
        items = self.item_input(features)
        if item_extra is not None:
            items = items + item_extra
        x = F.normalize(torch.cat([preference, items]), dim=1)
        return torch.stack(propagate_fixed(adj, x, self.n_layers)).sum(0)


@dataclass
class DualGraphConfig:
    embedding_dim: int = doc(64, "size of each modality's user and item representation")
    mlp_hidden: int = doc(256, "hidden width of the feature MLP (feature -> hidden -> embedding_dim), 4 x 64 in MMRec")
    n_layers: int = doc(2, "weight-free graph convolutions per modality; the output is the sum of layers 0..n_layers")
    user_k: int = doc(40, "neighbours per user in the user-user co-interaction graph (top-k by shared items)")
    user_aggregation: Literal["softmax", "mean"] = doc(
        "softmax", "user-user weights: softmax of the co-interaction counts (published) or the plain mean")
    user_padding: Literal["mask", "resample"] = doc(
        "mask", "users with fewer than user_k neighbours: keep only the real ones ('mask'), or pad by re-drawing "
                "among them every epoch as MMRec does ('resample', seeded by the trainer)")
    reg_weight: float = doc(1e-3, "weight of the mean-square regulariser on the batch users' preferences and on "
                                  "the per-user modality weights (MMRec grids 1e-5..1e-1)")
    freeze_features: bool = doc(True, "keep the item features fixed (buffers); False makes them trainable "
                                      "per-item parameters, as MMRec does")

    def validate(self):
        if min(self.embedding_dim, self.mlp_hidden) < 1 or self.n_layers < 0 or self.user_k < 0:
            raise MotorError(f"embedding_dim and mlp_hidden must be at least 1, n_layers and user_k at least 0; got "
                             f"{self.embedding_dim}, {self.mlp_hidden}, {self.n_layers}, {self.user_k}")


class DualGraphModel(Recommender):
    """Common body of DualGNN (``combine='sum'``) and DRAGON (``combine='cat'`` + item-item graph)."""

    needs_features = True
    combine: str = "sum"

    def __init__(self, ctx, cfg: DualGraphConfig, make_items):
        super().__init__(ctx, cfg, make_items)
        d = cfg.embedding_dim
        self.features = ItemFeatures(ctx.features, cfg.freeze_features)
        names = self.features.names
        self.gcn = nn.ModuleDict({f"m{j}": FeatureGCN(self.features.dim(m), d, cfg.mlp_hidden, cfg.n_layers)
                                  for j, m in enumerate(names)})
        self.user_preference = nn.ParameterList(
            [nn.Parameter(nn.init.xavier_normal_(torch.empty(self.n_users, d))) for _ in names])
        # Per-user modality weights, initialised as a softmax over modalities (as published).
        self.user_modality_weight = nn.Parameter(torch.softmax(
            nn.init.xavier_normal_(torch.empty(self.n_users, len(names))), dim=1))
        self.items = make_items(d)
        self.adj = FixedSparse(ctx.ui_adjacency("sym"), symmetric=True)
        self.user_graph = build_user_graph(ctx.train_user, ctx.train_item, self.n_users, self.n_items, cfg.user_k,
                                           ctx.cache_dir)
        self.user_adj = FixedSparse(self.user_graph.adjacency(cfg.user_aggregation, "mask"))

    def pre_epoch(self, epoch: int, generator: torch.Generator) -> None:
        if self.cfg.user_padding == "resample":
            self.user_adj = FixedSparse(self.user_graph.adjacency(self.cfg.user_aggregation, "resample", generator))

    def modality_reps(self) -> list[torch.Tensor]:
        """Each modality's ``[U + I, d]`` output, with the item encoder's vector added at item layer 0."""
        extra = self.items()
        return [gcn(self.adj, pref, self.features[m], extra)
                for gcn, pref, m in zip(self.gcn.values(), self.user_preference, self.features.names)]

    def fuse(self, reps: list[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        U, w = self.n_users, self.user_modality_weight
        if self.combine == "sum":
            users = sum(w[:, j:j + 1] * r[:U] for j, r in enumerate(reps))
            items = sum(r[U:] for r in reps)
        else:
            users = torch.cat([w[:, j:j + 1] * r[:U] for j, r in enumerate(reps)], dim=1)
            items = torch.cat([r[U:] for r in reps], dim=1)
        return users, items

    def refine_items(self, items: torch.Tensor) -> torch.Tensor:
        return items

    def embeddings(self):
        users, items = self.fuse(self.modality_reps())
        users = users + spmm(self.user_adj, users)
        return users, self.refine_items(items)

    def loss(self, batch: Batch) -> dict[str, torch.Tensor]:
        users, items = self.embeddings()
        u = users[batch.user]
        pos = (u * items[batch.pos]).sum(1)
        neg = (u * items[batch.neg]).sum(1)
        reg = sum(mean_square(p[batch.user]) for p in self.user_preference) + mean_square(self.user_modality_weight)
        return {"bpr": log2_bpr(pos, neg), "reg": self.cfg.reg_weight * reg}
