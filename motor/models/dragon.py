"""DRAGON (Zhou et al., 2023): dual representations from heterogeneous and homogeneous graphs.

Published model (MMRec defaults): the same per-modality feature GCNs as DualGNN (feature ->
256 -> 64 MLP for items, learned user preferences, two weight-free symmetric-normalised
convolutions, ``x + h1 + h2``), but modalities are **concatenated** (item = ``cat(v, t)``, user
= ``cat(w_uv * v_u, w_ut * t_u)`` with per-user modality weights). Homogeneous graphs: an
item-item graph ``S`` = weighted sum of per-modality kNN graphs (cosine on the frozen raw
features, k = 10, symmetric-normalised; 0.1 image + 0.9 text), applied ``n_mm_layers = 1``
time: ``item <- item + S item``; and the user-user co-interaction graph (top k = 40, softmax of
counts): ``user <- user + W user``. Loss: base-2 BPR (= ``bpr_loss / ln 2``) + ``reg_weight`` x
mean squares of the batch users' preferences and the user modality weights. Score = inner
product of the concatenated vectors (``64 x n_modalities`` wide).

Where MOTOR enters: DRAGON has **no item-ID table**. As in DualGNN, the item encoder's vector
is added to the items' layer-0 input of every modality's feature GCN (``MLP_m(f_i) + R_i``):
ID mode is DRAGON plus an item-ID embedding, MOTOR mode DRAGON plus MOTOR's token vector
(``feature_gcn.py``, docs/BACKBONES.md).

Any set of modalities: the item-item graph weight of a modality is its entry in
``mm_weights`` (default image 0.1, text 0.9); a modality without an entry gets the mean
weight of the listed modalities present (1 when none is); the weights of the present
modalities are then rescaled to sum to 1. So image + text gives 0.1 / 0.9 exactly, a single
modality gets weight 1, and image + text + audio gives 0.067 / 0.6 / 0.333 (audio gets the
mean 0.5 before rescaling). This is FREEDOM's mixing rule (``motor.graph.modality_weights``),
and the graph is the one FREEDOM builds (``ctx.fused_item_knn``: cosine top-k ranking the full
similarity row, so the item is one of its own k neighbours as in MMRec, binary edges,
symmetric normalisation), from the dataset's frozen features (hash-keyed cache), also when
``freeze_features=False``.

Deviations from MMRec: as for DualGNN (user graph from the training split, masked padding by
default, no stale representations), plus a cache key that covers the feature bytes (MMRec's
``mm_adj_{k}.pt`` is keyed by k only).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from motor.config import doc
from motor.models.base import MakeItems, ModelContext, check_weights
from motor.models.feature_gcn import DualGraphConfig, DualGraphModel
from motor.models.registry import register


@dataclass
class DRAGONConfig(DualGraphConfig):
    item_k: int = doc(10, "neighbours per item in each modality's kNN graph (cosine on the raw features; the item "
                         "itself is one of them)", low=1)
    n_mm_layers: int = doc(1, "propagations over the item-item graph; item <- item + S^n item", low=0)
    mm_weights: dict[str, float] = doc({"image": 0.1, "text": 0.9},
                                       "weight of each modality's kNN graph in the item-item graph; modalities "
                                       "without an entry get the mean listed weight, then the present ones are "
                                       "rescaled to sum to 1")

    def validate(self) -> None:
        super().validate()
        check_weights("mm_weights", self.mm_weights)


@register
class DRAGON(DualGraphModel):
    """Per-modality feature GCNs concatenated, refined by an item-item kNN graph and a user-user graph.

    DualGNN's body with modalities concatenated instead of summed, plus ``item <- item + S item``
    over FREEDOM's fused content kNN graph; the item encoder's vector enters every modality's
    layer 0.
    """

    name = "dragon"
    Config = DRAGONConfig
    combine = "cat"

    def __init__(self, ctx: ModelContext, cfg: DRAGONConfig, make_items: MakeItems) -> None:
        super().__init__(ctx, cfg, make_items)
        self.graph_buffer("mm_adj", ctx.fused_item_knn(cfg.mm_weights, cfg.item_k))

    def refine_items(self, items: torch.Tensor) -> torch.Tensor:
        if self.cfg.n_mm_layers < 1:
            return items
        return items + self.propagate("mm_adj", items, self.cfg.n_mm_layers)[-1]
