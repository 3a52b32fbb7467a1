"""The classic item representation: one free embedding row per item ID (the baseline)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch
from torch import nn

from motor.config import doc
from motor.encoders.base import ItemEncoder


@dataclass
class IdEncoderConfig:
    init: Literal["xavier_uniform", "xavier_normal", "normal"] = doc(
        "xavier_uniform", "initialisation of the item table (MMRec: xavier_uniform for LightGCN, xavier_normal for BPR)")


class IdEmbedding(ItemEncoder):
    """``n_items x dim`` parameters; an item never seen in training keeps its random init."""

    kind = "id"

    def __init__(self, n_items: int, dim: int, cfg: IdEncoderConfig | None = None):
        super().__init__(n_items, dim)
        cfg = cfg or IdEncoderConfig()
        self.weight = nn.Parameter(torch.empty(n_items, dim))
        {"xavier_uniform": nn.init.xavier_uniform_, "xavier_normal": nn.init.xavier_normal_,
         "normal": lambda w: nn.init.normal_(w, std=0.1)}[cfg.init](self.weight)

    def encode(self, items: torch.Tensor | None) -> torch.Tensor:
        return self.weight if items is None else self.weight[items]
