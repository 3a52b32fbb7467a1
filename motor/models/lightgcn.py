"""LightGCN (He et al. 2020): linear propagation on the normalised user-item graph.

The graph is a buffer registered as symmetric, so every layer's backward reuses it as its own
transpose (``motor.graph.spmm``) instead of re-sorting a CSR matrix per step.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from motor.config import doc
from motor.graph import layer_mean
from motor.losses import bpr_loss, emb_norm_reg
from motor.models.base import Batch, Recommender
from motor.models.registry import register


@dataclass
class LightGCNConfig:
    embedding_dim: int = doc(64, "size of user and item vectors")
    n_layers: int = doc(2, "propagation layers; the output is the mean of layers 0..n_layers")
    reg_weight: float = doc(1e-4, "weight of the embedding-norm regulariser on the layer-0 (ego) vectors")


@register
class LightGCN(Recommender):
    name = "lightgcn"
    Config = LightGCNConfig

    def __init__(self, ctx, cfg: LightGCNConfig, make_items):
        super().__init__(ctx, cfg, make_items)
        self.user_embedding = nn.Parameter(nn.init.xavier_uniform_(torch.empty(self.n_users, cfg.embedding_dim)))
        self.items = make_items(cfg.embedding_dim)
        self.graph_buffer("adj", ctx.ui_adjacency("sym"), symmetric=True)

    def _forward(self):
        ego_items = self.items()
        x = torch.cat([self.user_embedding, ego_items])
        out = layer_mean(self.propagate("adj", x, self.cfg.n_layers))
        return out[: self.n_users], out[self.n_users:], ego_items

    def loss(self, batch: Batch) -> dict[str, torch.Tensor]:
        users, items, ego_items = self._forward()
        u, pos, neg = users[batch.user], items[batch.pos], items[batch.neg]
        reg = emb_norm_reg(self.user_embedding[batch.user], ego_items[batch.pos], ego_items[batch.neg])
        return {"bpr": bpr_loss((u * pos).sum(1), (u * neg).sum(1)), "reg": self.cfg.reg_weight * reg}

    def embeddings(self):
        users, items, _ = self._forward()
        return users, items
