"""The common body of DualGNN and DRAGON (MMRec copies it between the two files).

Not a backbone itself (nothing here is registered).

- ``FeatureGCN``: one modality's graph network: item layer 0 = ``MLP(feature)`` (``D -> hidden
  -> dim``, LeakyReLU) plus an optional extra item vector (the item encoder's output, where
  MOTOR enters), user layer 0 = a learned preference vector, row-wise L2 normalisation, then
  weight-free propagation over the symmetric-normalised user-item graph; the output is the sum
  of layers ``0..n_layers``.
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

from dataclasses import dataclass
from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

from motor.config import doc
from motor.losses import log2_bpr, mean_square, pair_scores
from motor.models.base import Batch, MakeItems, ModelContext, PropagationConfig
from motor.models.multimodal import MultimodalConfig, MultimodalRecommender
from motor.user_graph import build_user_graph


class FeatureGCN(nn.Module):
    """One modality's layer 0 of DualGNN / DRAGON: ``normalize([preference ; MLP(feature) + extra])``.

    The model propagates it over the user-item graph (see the module docstring).
    """

    def __init__(self, in_dim: int, dim: int, hidden: int):
        super().__init__()
        self.mlp = nn.Linear(in_dim, hidden)
        self.mlp_out = nn.Linear(hidden, dim)

    def item_input(self, features: torch.Tensor) -> torch.Tensor:
        """``MLP(feature)``: the item's content vector at layer 0."""
        return self.mlp_out(F.leaky_relu(self.mlp(features)))

    def forward(self, preference: torch.Tensor, features: torch.Tensor,
                item_extra: torch.Tensor | None = None) -> torch.Tensor:
        items = self.item_input(features)
        if item_extra is not None:
            items = items + item_extra
        return F.normalize(torch.cat([preference, items]), dim=1)


@dataclass
class DualGraphConfig(MultimodalConfig, PropagationConfig):
    embedding_dim: int = doc(64, "size of each modality's user and item representation", low=1)
    mlp_hidden: int = doc(256, "hidden width of the feature MLP (feature -> hidden -> embedding_dim), 4 x 64 in MMRec",
                          low=1)
    n_layers: int = doc(2, "weight-free graph convolutions per modality; the output is the sum of layers 0..n_layers",
                        low=0)
    user_k: int = doc(40, "neighbours per user in the user-user co-interaction graph (top-k by shared items)", low=0)
    user_aggregation: Literal["softmax", "mean"] = doc(
        "softmax", "user-user weights: softmax of the co-interaction counts (published) or the plain mean")
    user_padding: Literal["mask", "resample"] = doc(
        "mask", "users with fewer than user_k neighbours: keep only the real ones ('mask'), or pad by re-drawing "
                "among them every epoch as MMRec does ('resample', seeded by the trainer)")
    reg_weight: float = doc(1e-3, "weight of the mean-square regulariser on the batch users' preferences and on "
                                  "the per-user modality weights (MMRec grids 1e-5..1e-1)", low=0)


class DualGraphModel(MultimodalRecommender):
    """Common body of DualGNN (``combine='sum'``) and DRAGON (``combine='cat'`` + item-item graph)."""

    combine: str = "sum"

    def __init__(self, ctx: ModelContext, cfg: DualGraphConfig, make_items: MakeItems) -> None:
        super().__init__(ctx, cfg, make_items)
        self.graph_buffer("adj", ctx.ui_adjacency("sym"), symmetric=True)
        self.user_graph = build_user_graph(ctx.train_user, ctx.train_item, self.n_users, self.n_items, cfg.user_k,
                                           ctx.cache_dir)
        self.graph_buffer("user_adj", self.user_graph.adjacency(cfg.user_aggregation, "mask"))

    def build_before_items(self) -> None:
        d, n_mod = self.cfg.embedding_dim, len(self.features)
        self.gcn = nn.ModuleDict({f"m{j}": FeatureGCN(dim, d, self.cfg.mlp_hidden)
                                  for j, dim in enumerate(self.features.dims().values())})
        self.user_side("user_preference", nn.ParameterList(
            [nn.Parameter(nn.init.xavier_normal_(torch.empty(self.n_users, d))) for _ in range(n_mod)]))
        # Per-user modality weights, initialised as a softmax over modalities (as published).
        self.user_side("user_modality_weight", nn.Parameter(torch.softmax(
            nn.init.xavier_normal_(torch.empty(self.n_users, n_mod)), dim=1)))

    def pre_epoch(self, epoch: int, generator: torch.Generator) -> None:
        if self.cfg.user_padding == "resample":
            adj = self.user_graph.adjacency(self.cfg.user_aggregation, "resample", generator)
            self.graph_buffer("user_adj", adj.to(self.user_adj.device))

    def modality_reps(self) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """Each modality's (users ``[U, d]``, items ``[I, d]``) output, the item encoder's vector added
        at item layer 0; layer 0 is L2-normalised row-wise and the layers are summed."""
        extra = self.items()
        cold = self.cold_items()  # one draw for every modality (Recommender.cold_path)
        reps = []
        for gcn, pref, m in zip(self.gcn.values(), self.user_preference, self.features.names):
            x = gcn(pref, self.features[m], extra)
            reps.append(self.propagate_ui(x[self.n_users:], self.cfg.n_layers, users=x[: self.n_users],
                                          combine="sum", cold=cold))
        return reps

    def fuse(self, reps: list[tuple[torch.Tensor, torch.Tensor]]) -> tuple[torch.Tensor, torch.Tensor]:
        """Modalities combined: items summed (DualGNN) or concatenated (DRAGON), users weighted per user."""
        w = self.user_modality_weight
        if self.combine == "sum":
            users = sum(w[:, j:j + 1] * u for j, (u, _) in enumerate(reps))
            items = sum(i for _, i in reps)
        else:
            users = torch.cat([w[:, j:j + 1] * u for j, (u, _) in enumerate(reps)], dim=1)
            items = torch.cat([i for _, i in reps], dim=1)
        return users, items

    def refine_items(self, items: torch.Tensor) -> torch.Tensor:
        """Hook on the fused item vectors (DRAGON adds its item-item graph); identity here."""
        return items

    def embeddings(self) -> tuple[torch.Tensor, torch.Tensor]:
        users, items = self.fuse(self.modality_reps())
        users = users + self.mm("user_adj", users)
        return users, self.refine_items(items)

    def loss(self, batch: Batch) -> dict[str, torch.Tensor]:
        users, items = self.embeddings()
        reg = sum(mean_square(p[batch.user]) for p in self.user_preference) + mean_square(self.user_modality_weight)
        return {"bpr": log2_bpr(*pair_scores(*self.batch_rows(users, items, batch))),
                "reg": self.cfg.reg_weight * reg}
