"""BPR matrix factorisation (Rendle et al. 2009): score = user vector . item vector."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from motor.config import doc
from motor.losses import bpr_vectors, emb_norm_reg
from motor.models.base import Batch, Recommender
from motor.models.registry import register


@dataclass
class BPRConfig:
    embedding_dim: int = doc(64, "size of user and item vectors", low=1)
    reg_weight: float = doc(1e-5, "weight of the embedding-norm regulariser on the batch's user and item vectors",
                            low=0)


@register
class BPR(Recommender):
    """Matrix factorisation trained with BPR: a user vector dotted with each item's vector, no graph.

    One ``[n_users, embedding_dim]`` user table (xavier-normal) and the item encoder; loss = BPR +
    ``reg_weight`` x EmbLoss on the batch's user and item vectors.
    """

    name = "bpr"
    Config = BPRConfig
    user_init = "normal"

    def loss(self, batch: Batch) -> dict[str, torch.Tensor]:
        u = self.user_embedding[batch.user]
        pos, neg = self.items(batch.pos), self.items(batch.neg)
        return {"bpr": bpr_vectors(u, pos, neg), "reg": self.cfg.reg_weight * emb_norm_reg(u, pos, neg)}

    def embeddings(self) -> tuple[torch.Tensor, torch.Tensor]:
        return self.user_embedding, self.items()
