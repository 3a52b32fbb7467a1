"""The classic item representation: one free embedding row per item ID (the baseline)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Literal, get_args

import torch
from torch import nn

from motor.config import doc
from motor.encoders.base import ItemEncoder
from motor.errors import MotorError

IdInit = Literal["xavier_uniform", "xavier_normal", "normal"]
_INITS: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {
    "xavier_uniform": nn.init.xavier_uniform_, "xavier_normal": nn.init.xavier_normal_,
    "normal": lambda w: nn.init.normal_(w, std=0.1)}


@dataclass
class IdEncoderConfig:
    """Settings of the ID table (items='id')."""

    init: IdInit = doc(
        "xavier_uniform",
        "initialisation of the item table (MMRec: xavier_uniform for LightGCN, xavier_normal for BPR)")

    def validate(self) -> None:
        """``init`` must name one of the initialisations (a typo in a config built in code is caught here)."""
        if self.init not in get_args(IdInit):
            raise MotorError(f"id_encoder.init={self.init!r}: choose one of {', '.join(get_args(IdInit))}")


class IdEmbedding(ItemEncoder):
    """``n_items x dim`` parameters; an item never seen in training keeps its random init."""

    kind = "id"

    def __init__(self, n_items: int, dim: int, cfg: IdEncoderConfig | None = None):
        super().__init__(n_items, dim)
        cfg = cfg or IdEncoderConfig()
        cfg.validate()
        self.weight = nn.Parameter(torch.empty(n_items, dim))
        _INITS[cfg.init](self.weight)

    def encode(self, items: torch.Tensor | None) -> torch.Tensor:
        """Rows of the table: ``items``' rows, or the whole table."""
        return self.weight if items is None else self.weight[items]
