"""SLMRec (Tao et al., IEEE TMM 2022): self-supervised learning for multimedia recommendation.

Branches: one LightGCN pass (symmetric normalisation, mean of layers 0..n_layers) per item
view over the same user-item graph and the same user table: the ID view, whose layer-0 items
are ``R = self.items()`` (ID table or MOTOR), and one view per modality, whose layer-0 items are
``dense_m(normalize(feature_m))`` (``Linear(D_m -> d)`` of the L2-normalised features). Fusion
'concat': users = ``Linear((1+M) d -> d)`` of the concatenated user outputs, items likewise.

Loss: in-batch InfoNCE between each user and its positive item (cosine, temperature
``temperature``; other rows of the batch are the negatives, the sampled negative is unused)
+ ``ssl_alpha`` * FAC. FAC (fine and coarse spaces, after MMV): the ID-view vectors of the
batch's items and the first modality's are projected into a fine shared space and contrasted
(InfoNCE, ``ssl_temp``); each further modality is compared in a coarser space, into which the
ID side's previous-space vector is projected again. With image + text this is the published
ID-visual fine space and a coarse space for text; with one modality only the fine space.

Scores: ``user . item`` (MMRec applies a sigmoid, which does not change the ranking).
Optimiser: MMRec uses ``weight_decay: 1e-4`` for SLMRec (run with ``train.weight_decay=1e-4``;
not set automatically); MMRec's ``reg`` grid key is never read and has no equivalent here.
No learning-rate decay. Note for MOTOR mode: the ID view is then also built from the features,
so FAC contrasts two feature-derived views (the task may become easier).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from motor.config import doc
from motor.losses import info_nce
from motor.models.base import Batch, MakeItems, ModelContext, PropagationConfig
from motor.models.multimodal import ModalityModules, MultimodalConfig, MultimodalRecommender, xavier_linear
from motor.models.registry import register


@dataclass
class SLMRecConfig(MultimodalConfig, PropagationConfig):
    embedding_dim: int = doc(64, "size of user and item vectors in every view", low=1)
    n_layers: int = doc(3, "LightGCN layers per view (MMRec layer_num)", low=0)
    temperature: float = doc(0.2, "temperature of the main user-item in-batch InfoNCE", low=0, low_open=True)
    ssl_temp: float = doc(0.2, "temperature of the FAC self-supervised InfoNCE terms (MMRec grid 0.1 to 1.0)",
                          low=0, low_open=True)
    ssl_alpha: float = doc(0.1, "weight of the FAC self-supervised loss (MMRec grid 0.01 to 1.0)", low=0)


@register
class SLMRec(MultimodalRecommender):
    """Self-supervised multimedia LightGCN: an ID view and one view per modality, fused and contrasted.

    Each view is a LightGCN pass sharing the user table; users and items are fused by linear
    layers; loss = in-batch InfoNCE + fine-and-coarse cross-view contrast (FAC).
    """

    name = "slmrec"
    Config = SLMRecConfig

    def __init__(self, ctx: ModelContext, cfg: SLMRecConfig, make_items: MakeItems) -> None:
        super().__init__(ctx, cfg, make_items)
        d = cfg.embedding_dim
        n_views = 1 + len(self.features)
        dims = self.features.dims()
        self.dense = ModalityModules(dims, lambda dim: xavier_linear(dim, d))
        self.fuse_users = xavier_linear(n_views * d, d)
        self.fuse_items = xavier_linear(n_views * d, d)
        # FAC heads: the ID side's projection into each space, and each modality's projection into its space
        self.fac_id = nn.ModuleList(xavier_linear(d, d) for _ in dims)
        self.fac_modal = ModalityModules(dims, lambda dim: xavier_linear(d, d))
        self.graph_buffer("adj", ctx.ui_adjacency("sym"), symmetric=True)

    def _views(self) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """(user, item) outputs of every view: ID view first, then one per modality."""
        views = [self.items()] + [self.dense[m](F.normalize(f, dim=1)) for m, f in self.features.items()]
        cold = self.cold_items()  # one draw for every view (Recommender.cold_path)
        return [self.propagate_ui(items, self.cfg.n_layers, cold=cold) for items in views]

    @staticmethod
    def _fuse(views, fuse_users, fuse_items):
        return fuse_users(torch.cat([u for u, _ in views], 1)), fuse_items(torch.cat([i for _, i in views], 1))

    def fac_loss(self, views, items: torch.Tensor) -> torch.Tensor:
        """FAC: the ID view's item vectors against each modality's, in fine then coarser shared spaces."""
        z = views[0][1][items]
        loss = 0.0
        for k, m in enumerate(self.features.names):
            z = self.fac_id[k](z)  # ID side into space k (fine for k = 0, coarser after)
            loss = loss + info_nce(z, self.fac_modal[m](views[1 + k][1][items]), self.cfg.ssl_temp)
        return loss

    def loss(self, batch: Batch) -> dict[str, torch.Tensor]:
        views = self._views()
        users, items = self._fuse(views, self.fuse_users, self.fuse_items)
        main = info_nce(users[batch.user], items[batch.pos], self.cfg.temperature)
        ssl = self.fac_loss(views, torch.unique(batch.pos))
        return {"infonce": main, "fac": self.cfg.ssl_alpha * ssl}

    def embeddings(self) -> tuple[torch.Tensor, torch.Tensor]:
        return self._fuse(self._views(), self.fuse_users, self.fuse_items)
