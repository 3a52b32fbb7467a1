"""LightGCN (He et al. 2020): linear propagation on the normalised user-item graph.

Reference code: https://github.com/kuandeng/LightGCN. The graph is a buffer registered as
symmetric, so every layer's backward reuses it as its own transpose (``motor.graph.spmm``)
instead of re-sorting a CSR matrix per step.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from motor.config import doc
from motor.losses import bpr_vectors, emb_norm_reg
from motor.models.base import Batch, MakeItems, ModelContext, PropagationConfig, Recommender
from motor.models.registry import register


@dataclass
class LightGCNConfig(PropagationConfig):
    embedding_dim: int = doc(64, "size of user and item vectors", low=1)
    n_layers: int = doc(2, "propagation layers; the output is the mean of layers 0..n_layers", low=0)
    reg_weight: float = doc(1e-4, "weight of the embedding-norm regulariser on the layer-0 (ego) vectors "
                                  "(the paper searches 1e-6..1e-2)", low=0)


@register
class LightGCN(Recommender):
    """Graph collaborative filtering: the mean of linear propagations over the user-item graph.

    Layer 0 is ``[user table; item encoder output]``; each layer multiplies by the symmetric-
    normalised user-item graph; the output is the mean of layers 0..n_layers. Loss = BPR on
    the output + ``reg_weight`` x EmbLoss on the batch's layer-0 vectors.
    """

    name = "lightgcn"
    Config = LightGCNConfig

    def __init__(self, ctx: ModelContext, cfg: LightGCNConfig, make_items: MakeItems) -> None:
        super().__init__(ctx, cfg, make_items)
        self.graph_buffer("adj", ctx.ui_adjacency("sym"), symmetric=True)

    def _forward(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        ego_items = self.items()
        users, items = self.propagate_ui(ego_items, self.cfg.n_layers)
        return users, items, ego_items

    def loss(self, batch: Batch) -> dict[str, torch.Tensor]:
        users, items, ego_items = self._forward()
        reg = emb_norm_reg(self.user_embedding[batch.user], ego_items[batch.pos], ego_items[batch.neg])
        return {"bpr": bpr_vectors(*self.batch_rows(users, items, batch)), "reg": self.cfg.reg_weight * reg}

    def embeddings(self) -> tuple[torch.Tensor, torch.Tensor]:
        users, items, _ = self._forward()
        return users, items
