"""MMGCN (Wei et al., ACM MM 2019): one graph network per modality, ID embedding at every layer.

Per modality m, on the user-item training graph with **mean** aggregation (row-normalised,
no self loops): layer 0 is ``normalize([p_u ; g_m(f_i)])`` with ``p_u`` a learned user
preference and ``g_m`` a linear projection to ``latent_dim`` (256) for wide features or the
raw feature when it has at most ``raw_max_dim`` dims (MMRec: image 4096 -> 256, text 384
raw). Each of the ``n_layers`` (3) layers:

    h     = LeakyReLU(mean_{j in N(n)} W_conv x_j)           (aggregation)
    x_hat = LeakyReLU(W_lin x_n) + id_n                      (ID embedding injected here)
    x_n   = LeakyReLU(W_g [h ; x_hat])                       (combination, 'concat')
            or LeakyReLU(W_g h + x_hat)                      ('add')

with ``id = [user_embedding ; R]``, ``R`` the item encoder's output (ID table or MOTOR). The
final representation is the mean over modalities (64-d); score = inner product. Loss: BPR +
``reg_weight`` x (mean square of the batch's user-ID vectors + mean square of the batch's
item-encoder vectors).

MOTOR replaces the item half of the ID embedding, at all layers. Deviations from MMRec, on
purpose: MMRec creates its ID embedding and user preferences as plain tensors, so they are
never trained (and its ``reg_weight`` has no effect); here they are parameters and trained.
MMRec's effective combination is the concat variant (its ``concate='False'`` is a truthy
string), which is the default here and an explicit setting. ``n_layers`` is honoured (MMRec
hard-codes 3). Representations are recomputed at evaluation (MMRec reuses the last training
forward's).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Callable, Literal

import torch
import torch.nn.functional as F
from torch import nn

from motor.config import doc
from motor.losses import bpr_vectors, mean_square
from motor.models.base import Batch, MakeItems, ModelContext
from motor.models.multimodal import MultimodalConfig, MultimodalRecommender
from motor.models.registry import register


@dataclass
class MMGCNConfig(MultimodalConfig):
    embedding_dim: int = doc(64, "size of the ID embeddings and of every layer's output", low=1)
    n_layers: int = doc(3, "graph layers per modality (the ID embedding is added at each)", low=1)
    latent_dim: int = doc(256, "width of the linear projection applied to wide features (MMRec: 4096 -> 256)", low=1)
    raw_max_dim: int = doc(512, "features with at most this many dims enter raw, without projection "
                                "(MMRec: text 384 raw); wider ones are projected to latent_dim", low=0)
    combine: Literal["concat", "add"] = doc(
        "concat", "combination layer: W[h; x_hat] ('concat', what MMRec runs) or W h + x_hat ('add')")
    reg_weight: float = doc(1e-4, "weight of the mean-square regulariser on the batch's user-ID and item-encoder "
                                  "vectors (MMRec grids 0..0.1, inert there because its IDs are not trained)", low=0)


class _ModalityGCN(nn.Module):
    """One modality's graph network of MMGCN (the layer equations are in the module docstring)."""

    def __init__(self, feat_dim: int, d: int, cfg: MMGCNConfig):
        super().__init__()
        self.proj = nn.Linear(feat_dim, cfg.latent_dim) if feat_dim > cfg.raw_max_dim else None
        self.in_dim = cfg.latent_dim if self.proj is not None else feat_dim
        self.concat = cfg.combine == "concat"
        dims = [self.in_dim] + [d] * (cfg.n_layers - 1)
        self.conv = nn.ModuleList(nn.Linear(k, k, bias=False) for k in dims)
        self.lin = nn.ModuleList(nn.Linear(k, d) for k in dims)
        self.comb = nn.ModuleList(nn.Linear(k + d if self.concat else k, d) for k in dims)

    def forward(self, aggregate: Callable[[torch.Tensor], torch.Tensor], preference: torch.Tensor,
                features: torch.Tensor, ids: torch.Tensor) -> torch.Tensor:
        """``aggregate(x)``: the mean over each node's neighbours (the model's row-normalised graph)."""
        items = self.proj(features) if self.proj is not None else features
        x = F.normalize(torch.cat([preference, items]), dim=1)
        for conv, lin, comb in zip(self.conv, self.lin, self.comb):
            h = F.leaky_relu(aggregate(conv(x)))
            x_hat = F.leaky_relu(lin(x)) + ids
            x = F.leaky_relu(comb(torch.cat([h, x_hat], dim=1)) if self.concat else comb(h) + x_hat)
        return x


@register
class MMGCN(MultimodalRecommender):
    """One graph network per modality over the user-item graph, with the ID embedding injected at every layer.

    Mean aggregation, a combination layer per step, and the item encoder's vector added to every
    layer's item rows; the output is the mean over modalities; loss = BPR + reg.
    """

    name = "mmgcn"
    Config = MMGCNConfig

    def __init__(self, ctx: ModelContext, cfg: MMGCNConfig, make_items: MakeItems) -> None:
        super().__init__(ctx, cfg, make_items)
        self.graph_buffer("adj", ctx.ui_adjacency("row"))  # mean aggregation over neighbours

    def build_before_items(self) -> None:
        cfg = self.cfg
        self.gcn = nn.ModuleList(_ModalityGCN(dim, cfg.embedding_dim, cfg) for dim in self.features.dims().values())
        self.user_side("user_preference", nn.ParameterList(
            [nn.Parameter(nn.init.xavier_normal_(torch.empty(self.n_users, g.in_dim))) for g in self.gcn]))
        self.user_table("user_embedding", cfg.embedding_dim, "normal")

    def _forward(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        ego_items = self.items()
        ids = torch.cat([self.user_embedding, ego_items])
        aggregate = functools.partial(self.mm, "adj")
        reps = [g(aggregate, p, self.features[m], ids)
                for g, p, m in zip(self.gcn, self.user_preference, self.features.names)]
        out = torch.stack(reps).mean(0)
        return out[: self.n_users], out[self.n_users:], ego_items

    def loss(self, batch: Batch) -> dict[str, torch.Tensor]:
        users, items, ego_items = self._forward()
        reg = mean_square(self.user_embedding[batch.user]) + mean_square(
            torch.cat([ego_items[batch.pos], ego_items[batch.neg]]))
        return {"bpr": bpr_vectors(*self.batch_rows(users, items, batch)),
                "reg": self.cfg.reg_weight * reg}

    def embeddings(self) -> tuple[torch.Tensor, torch.Tensor]:
        users, items, _ = self._forward()
        return users, items
