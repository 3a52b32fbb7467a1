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
import torch.nn.functional as F

from motor.config import doc
from motor.errors import MotorError
from motor.graph import bipartite_adjacency, degree_sensitive_edge_sample
from motor.losses import bpr_vectors
from motor.models.base import Batch, MakeItems, ModelContext, PropagationConfig, check_weights
from motor.models.multimodal import ModalityModules, MultimodalConfig, MultimodalRecommender, xavier_linear
from motor.models.registry import register


@dataclass
class FREEDOMConfig(MultimodalConfig, PropagationConfig):
    embedding_dim: int = doc(64, "size of user and item vectors", low=1)
    feat_embed_dim: int = doc(64, "width of the modality projections used by the auxiliary BPR loss; must equal "
                                  "embedding_dim (they are scored against user vectors)", low=1)
    knn_k: int = doc(10, "neighbours per item in each modality's kNN graph (the item itself is one of them)", low=1)
    modality_weights: dict[str, float] = doc(
        {"image": 0.1, "text": 0.9}, "weight of each modality's kNN graph in the frozen item graph (MMRec: "
                                     "mm_image_weight=0.1); unlisted modalities get the mean listed weight, then all "
                                     "are renormalised over the modalities present")
    n_mm_layers: int = doc(1, "propagations over the frozen item-item graph", low=0)
    n_ui_layers: int = doc(2, "LightGCN layers over the (pruned) user-item graph", low=0)
    edge_dropout: float = doc(0.8, "fraction of user-item edges pruned each epoch, degree-sensitively (MMRec "
                                   "'dropout', grid 0.8, 0.9); inference uses every edge",
                              low=0, high=1, high_open=True)
    modality_loss_weight: float = doc(1e-4, "weight of the auxiliary modality BPR losses (MMRec calls it "
                                            "reg_weight; grid 0, 1e-5, 1e-4, 1e-3)", low=0)

    def validate(self) -> None:
        super().validate()
        if self.feat_embed_dim != self.embedding_dim:
            raise MotorError(f"feat_embed_dim ({self.feat_embed_dim}) must equal embedding_dim "
                             f"({self.embedding_dim}): projected features are scored against user vectors")
        check_weights("modality_weights", self.modality_weights)


@register
class FREEDOM(MultimodalRecommender):
    """A frozen item-item kNN graph of the content plus a degree-pruned user-item graph (LightGCN).

    Items = LightGCN output + the item encoder's vectors propagated over the fused kNN graph;
    every epoch prunes user-item edges degree-sensitively; loss = BPR + modality BPR terms.
    """

    name = "freedom"
    Config = FREEDOMConfig

    def __init__(self, ctx: ModelContext, cfg: FREEDOMConfig, make_items: MakeItems) -> None:
        super().__init__(ctx, cfg, make_items)
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

    def _forward(self, adj: str) -> tuple[torch.Tensor, torch.Tensor]:
        ego_items = self.items()
        h = ego_items
        for _ in range(self.cfg.n_mm_layers):
            h = self.mm("mm_adj", h)
        users, items = self.propagate_ui(ego_items, self.cfg.n_ui_layers, graph=adj)
        return users, items + h

    def loss(self, batch: Batch) -> dict[str, torch.Tensor]:
        users, items = self._forward("train_adj" if self.train_adj is not None else "full_adj")
        n_pos = batch.pos.numel()
        rows = torch.cat([batch.pos, batch.neg])
        u = F.embedding(batch.user, users)
        pos, neg = F.embedding(rows, items).split(n_pos)  # one gather (and one scatter back) for both
        terms = {"bpr": bpr_vectors(u, pos, neg)}
        # Project each distinct batch item once, or every item when the distinct ones are more than half
        # the catalogue: then the projection costs about the same, and gathering their feature rows first
        # (a [n, D] copy per step) was 15% of FREEDOM's ID epoch on the demo. Same vectors either way.
        idx, inv = torch.unique(rows, return_inverse=True)
        every = 2 * idx.numel() > self.n_items
        modal = 0.0
        for m, f in self.features.items():
            z = F.embedding(rows, self.proj[m](f)) if every else F.embedding(inv, self.proj[m](f[idx]))
            modal = modal + bpr_vectors(u, *z.split(n_pos))
        terms["modality_bpr"] = self.cfg.modality_loss_weight * modal
        return terms

    def embeddings(self) -> tuple[torch.Tensor, torch.Tensor]:
        return self._forward("full_adj")
