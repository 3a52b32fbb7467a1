"""MGCN (Yu et al., MM 2023): multi-view graph convolutional network for multimedia recommendation.

With ``R = self.items()`` (ID table or MOTOR) used twice, as published:

1. Behaviour-guided purifier, per modality m: ``x_m = R * sigmoid(G_m(p_m(f_m)))`` with
   ``p_m: Linear(D_m -> d)`` on the (frozen) features and ``G_m: Linear(d -> d)``.
2. User-item view: LightGCN (symmetric normalisation, no self loops, mean of layers
   0..n_ui_layers) from ``[users; R]``: the "content" vectors ``c``.

Item-item view, per modality: ``x_m`` propagated ``n_layers`` times over the frozen kNN graph
(binary top-k cosine edges, the item counts as its own neighbour, symmetric-normalised, cached
on disk under a hash of the feature bytes); users ``R_sym x_m`` with ``R_sym`` the user-item
block of the symmetric-normalised adjacency. Behaviour-aware fuser: attention weights
``softmax_m(q(e_m))`` (``q = Linear-tanh-Linear``) give the common part ``s = sum_m w_m e_m``; the
modality-specific parts ``e_m - s`` are gated by ``sigmoid(P_m(c))``; side vectors
``(sum_m gated_m + s) / (M + 1)``; final vectors ``c + side``. With image + text this is the
published ``(sep_image + sep_text + common) / 3``; with one modality the specific part is zero.

Loss: BPR + ``reg_weight * 0.5 * (|u|^2 + |i+|^2 + |i-|^2) / batch`` on the final vectors +
``cl_weight`` * (InfoNCE(side, content) of the batch's positive items + of its users), in-batch,
temperature ``cl_temp``. Expected schedule: MMRec uses ``learning_rate_scheduler [0.96, 50]``:
run with ``train.lr_decay=0.96, train.lr_decay_every=50`` (not set automatically).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from motor.config import doc
from motor.losses import bpr_vectors, info_nce, l2_reg
from motor.models.base import Batch, MakeItems, ModelContext, PropagationConfig
from motor.models.multimodal import ModalityModules, MultimodalConfig, MultimodalRecommender, xavier_linear
from motor.models.registry import register


@dataclass
class MGCNConfig(MultimodalConfig, PropagationConfig):
    embedding_dim: int = doc(64, "size of user and item vectors (also of the modality projections)", low=1)
    knn_k: int = doc(10, "neighbours per item in each modality's kNN graph (the item itself is one of them)", low=1)
    n_layers: int = doc(1, "propagations over the item-item kNN graphs", low=0)
    n_ui_layers: int = doc(2, "LightGCN layers over the user-item graph", low=0)
    reg_weight: float = doc(1e-4, "weight of the L2 term 0.5 * (|u|^2 + |i+|^2 + |i-|^2) / batch on final vectors",
                            low=0)
    cl_weight: float = doc(0.01, "weight of the side-vs-content contrastive loss (MMRec cl_loss, grid 0.001, "
                                 "0.01, 0.1)", low=0)
    cl_temp: float = doc(0.2, "temperature of the contrastive loss", low=0, low_open=True)


@register
class MGCN(MultimodalRecommender):
    """Multi-view GCN: item vectors purified by content, propagated over kNN and user-item graphs, fused.

    A user-item LightGCN view plus one item-item kNN view per modality (item vectors gated by
    their features), fused by attention; loss = BPR + L2 + side-vs-content contrast.
    """

    name = "mgcn"
    Config = MGCNConfig

    def __init__(self, ctx: ModelContext, cfg: MGCNConfig, make_items: MakeItems) -> None:
        super().__init__(ctx, cfg, make_items)
        d = cfg.embedding_dim
        dims = self.features.dims()
        self.proj = ModalityModules(dims, lambda dim: xavier_linear(dim, d))
        self.purifier = ModalityModules(dims, lambda dim: nn.Sequential(xavier_linear(d, d), nn.Sigmoid()))
        self.prefer = ModalityModules(dims, lambda dim: nn.Sequential(xavier_linear(d, d), nn.Sigmoid()))
        self.query_common = nn.Sequential(xavier_linear(d, d), nn.Tanh(), xavier_linear(d, 1, bias=False))
        self.graph_buffer("adj", ctx.ui_adjacency("sym"), symmetric=True)
        self.graph_buffer("r_sym", ctx.ui_matrix("sym"))
        self._knn = [f"knn_adj_{i}" for i in range(len(dims))]
        for name, m in zip(self._knn, dims):
            self.graph_buffer(name, ctx.item_knn(m, cfg.knn_k, "sym"))

    def _forward(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        cfg, n_u = self.cfg, self.n_users
        ego_items = self.items()
        content = torch.cat(self.propagate_ui(ego_items, cfg.n_ui_layers))
        views = []
        for (m, f), knn in zip(self.features.items(), self._knn):
            x = ego_items * self.purifier[m](self.proj[m](f))
            for _ in range(cfg.n_layers):
                x = self.mm(knn, x)
            views.append(torch.cat([self.mm("r_sym", x), x]))
        att = torch.softmax(torch.cat([self.query_common(e) for e in views], dim=1), dim=1)  # [U+I, M]
        common = sum(att[:, k:k + 1] * e for k, e in enumerate(views))
        side = common
        for m, e in zip(self.features.names, views):
            side = side + self.prefer[m](content) * (e - common)
        side = side / (len(views) + 1)
        out = content + side
        return out[:n_u], out[n_u:], side, content

    def loss(self, batch: Batch) -> dict[str, torch.Tensor]:
        users, items, side, content = self._forward()
        n_u, cfg = self.n_users, self.cfg
        u, pos, neg = self.batch_rows(users, items, batch)
        cl = (info_nce(side[n_u:][batch.pos], content[n_u:][batch.pos], cfg.cl_temp)
              + info_nce(side[:n_u][batch.user], content[:n_u][batch.user], cfg.cl_temp))
        return {"bpr": bpr_vectors(u, pos, neg), "reg": cfg.reg_weight * l2_reg(u, pos, neg), "cl": cfg.cl_weight * cl}

    def embeddings(self) -> tuple[torch.Tensor, torch.Tensor]:
        users, items, _, _ = self._forward()
        return users, items
