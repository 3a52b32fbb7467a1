"""FREEDOM (Zhou & Shen, MM 2023): a frozen item-item graph and a denoised user-item graph.

Item graph: one frozen, sparse graph for all modalities,
``S = sum_m w_m * D^-1/2 kNN_m D^-1/2`` with binary top-k cosine edges per modality (k =
``knn_k``, the item counts as its own neighbour, as published), built once and cached on disk
under a hash of the feature bytes. Published weights are 0.1 image + 0.9 text
(``modality_weights``); generalised to any modalities by ``motor.graph.modality_weights``:
listed modalities keep their weight, an unlisted one gets the mean weight of the listed ones
present (1 if none is), then the weights are renormalised to sum to 1 (a single modality gets
weight 1).

User-item graph: degree-sensitive edge pruning. Every epoch, ``pre_epoch`` keeps
``int(E * (1 - edge_dropout))`` training edges, drawn without replacement with probability
proportional to ``1 / sqrt(deg_u deg_i)`` from the generator the trainer passes (so a run is
reproducible), and symmetric-normalises the kept graph. Training uses the pruned graph;
``ranking_state()`` uses the full graph (and so does ``loss`` if ``pre_epoch`` was never called).

Vectors: ``R = self.items()`` (ID table or MOTOR) feeds both graphs: ``h = S^n_mm_layers R``,
LightGCN (mean of layers 0..n_ui_layers) over the user-item graph from ``[users; R]``; items are
``i_g + h``. Loss: BPR on the final vectors + ``modality_loss_weight * sum_m BPR(u . p_m(i+),
u . p_m(i-))`` with ``p_m = Linear(D_m -> feat_embed_dim)`` on the modality features.

MMRec calls that last weight ``reg_weight`` although it is not a regulariser; here it is
``modality_loss_weight`` (MMRec ``reg_weight`` grid: 0, 1e-5, 1e-4, 1e-3). MMRec's
``dropout`` is ``edge_dropout``; ``mm_image_weight`` is ``modality_weights['image']``.
No learning-rate decay (MMRec: constant).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from motor.config import doc
from motor.errors import MotorError
from motor.graph import bipartite_adjacency, degree_sensitive_edge_sample, layer_mean
from motor.losses import bpr_loss
from motor.models.base import Batch
from motor.models.multimodal import ModalityModules, MultimodalRecommender, xavier_linear
from motor.models.registry import register


@dataclass
class FREEDOMConfig:
    embedding_dim: int = doc(64, "size of user and item vectors")
    feat_embed_dim: int = doc(64, "width of the modality projections used by the auxiliary BPR loss; must equal "
                                  "embedding_dim (they are scored against user vectors)")
    knn_k: int = doc(10, "neighbours per item in each modality's kNN graph (the item itself is one of them)")
    modality_weights: dict[str, float] = doc(
        {"image": 0.1, "text": 0.9}, "weight of each modality's kNN graph in the frozen item graph (MMRec: "
                                     "mm_image_weight=0.1); unlisted modalities get the mean listed weight, then all "
                                     "are renormalised over the modalities present")
    n_mm_layers: int = doc(1, "propagations over the frozen item-item graph")
    n_ui_layers: int = doc(2, "LightGCN layers over the (pruned) user-item graph")
    edge_dropout: float = doc(0.8, "fraction of user-item edges pruned each epoch, degree-sensitively (MMRec "
                                   "'dropout', grid 0.8, 0.9); inference uses every edge")
    modality_loss_weight: float = doc(1e-4, "weight of the auxiliary modality BPR losses (MMRec calls it "
                                            "reg_weight; grid 0, 1e-5, 1e-4, 1e-3)")
    freeze_features: bool = doc(True, "keep item features frozen (buffers); False makes them trainable "
                                      "parameters as in MMRec (millions of per-item weights)")

    def validate(self):
        if not 0.0 <= self.edge_dropout < 1.0:
            raise MotorError(f"edge_dropout must be in [0, 1), got {self.edge_dropout}")
        if self.feat_embed_dim != self.embedding_dim:
            raise MotorError(f"feat_embed_dim ({self.feat_embed_dim}) must equal embedding_dim "
                             f"({self.embedding_dim}): projected features are scored against user vectors")
        if self.knn_k < 1 or self.n_mm_layers < 0 or self.n_ui_layers < 0:
            raise MotorError("knn_k must be at least 1 and n_mm_layers, n_ui_layers at least 0")
        if any(w < 0 for w in self.modality_weights.values()):
            raise MotorError(f"modality_weights must be non-negative, got {self.modality_weights}")


@register
class FREEDOM(MultimodalRecommender):
    name = "freedom"
    Config = FREEDOMConfig

    def __init__(self, ctx, cfg: FREEDOMConfig, make_items):
        super().__init__(ctx, cfg, make_items)
        d = cfg.embedding_dim
        self.user_embedding = nn.Parameter(nn.init.xavier_uniform_(torch.empty(self.n_users, d)))
        self.items = make_items(d)
        self.proj = ModalityModules(self.features.dims(), lambda dim: xavier_linear(dim, cfg.feat_embed_dim))
        self.graph_buffer("mm_adj", ctx.fused_item_knn(cfg.modality_weights, cfg.knn_k))
        self.graph_buffer("full_adj", ctx.ui_adjacency("sym"), symmetric=True)
        self.graph_buffer("train_adj", None, symmetric=True)  # this epoch's pruned graph (pre_epoch)
        self.kept_edges: torch.Tensor | None = None

    def pre_epoch(self, epoch: int, generator: torch.Generator) -> None:
        """Degree-sensitive pruning of the user-item graph for this epoch (reproducible with ``generator``)."""
        ctx = self.ctx
        kept = degree_sensitive_edge_sample(ctx.train_user, ctx.train_item, self.n_users, self.n_items,
                                            1.0 - self.cfg.edge_dropout, generator)
        self.kept_edges = kept
        adj = bipartite_adjacency(self.n_users, self.n_items, ctx.train_user[kept], ctx.train_item[kept], "sym")
        self.train_adj = adj.to(self.full_adj.device)

    def _forward(self, adj: str):
        ego_items = self.items()
        h = ego_items
        for _ in range(self.cfg.n_mm_layers):
            h = self.mm("mm_adj", h)
        out = layer_mean(self.propagate(adj, torch.cat([self.user_embedding, ego_items]), self.cfg.n_ui_layers))
        return out[: self.n_users], out[self.n_users:] + h

    def loss(self, batch: Batch) -> dict[str, torch.Tensor]:
        users, items = self._forward("train_adj" if self.train_adj is not None else "full_adj")
        u, pos, neg = users[batch.user], items[batch.pos], items[batch.neg]
        terms = {"bpr": bpr_loss((u * pos).sum(1), (u * neg).sum(1))}
        # project each distinct batch item once (fewer rows than 2 x batch, and than the catalogue)
        idx, inv = torch.unique(torch.cat([batch.pos, batch.neg]), return_inverse=True)
        n_pos = batch.pos.numel()
        modal = 0.0
        for m, f in self.features.items():
            z = self.proj[m](f[idx])[inv]
            modal = modal + bpr_loss((u * z[:n_pos]).sum(1), (u * z[n_pos:]).sum(1))
        terms["modality_bpr"] = self.cfg.modality_loss_weight * modal
        return terms

    def embeddings(self):
        return self._forward("full_adj")
