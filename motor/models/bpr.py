"""BPR matrix factorisation (Rendle et al. 2009): score = user vector . item vector."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from motor.config import doc
from motor.losses import bpr_loss, emb_norm_reg
from motor.models.base import Batch, Recommender
from motor.models.registry import register


@dataclass
class BPRConfig:
    embedding_dim: int = doc(64, "size of user and item vectors")
    reg_weight: float = doc(1e-5, "weight of the embedding-norm regulariser on the batch's user and item vectors")


@register
class BPR(Recommender):
    name = "bpr"
    Config = BPRConfig

    def __init__(self, ctx, cfg: BPRConfig, make_items):
        super().__init__(ctx, cfg, make_items)
        self.user_embedding = nn.Parameter(nn.init.xavier_normal_(torch.empty(self.n_users, cfg.embedding_dim)))
        self.items = make_items(cfg.embedding_dim)

    def loss(self, batch: Batch) -> dict[str, torch.Tensor]:
        u = self.user_embedding[batch.user]
        pos, neg = self.items(batch.pos), self.items(batch.neg)
        return {"bpr": bpr_loss((u * pos).sum(1), (u * neg).sum(1)),
                "reg": self.cfg.reg_weight * emb_norm_reg(u, pos, neg)}

    def embeddings(self):
        return self.user_embedding, self.items()
