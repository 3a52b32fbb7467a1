"""DCN-v2 cross layers on an item's concatenated tokens: explicit feature crossing, no attention."""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F
from torch import nn

from motor.encoders.tcn.base import TCNOutput, TokenCrossNetwork
from motor.errors import MotorError

if TYPE_CHECKING:
    from motor.encoders.token_encoder import MotorEncoderConfig


def cross_rank(T: int, token_dim: int) -> int | None:
    """Rank of the cross layers' W: token_dim when low rank has fewer weights (T > 2), else None (full)."""
    width = T * token_dim
    return token_dim if 2 * width * token_dim < width * width else None


class CrossLayer(nn.Module):
    """DCN-v2 cross layer ``x0 * (W x + b) + x``; ``W = U V^T`` (rank r) when that is smaller than D x D."""

    def __init__(self, width: int, rank: int | None, dropout: float):
        super().__init__()
        self.low_rank = rank is not None
        if not self.low_rank:
            self.w = nn.Linear(width, width)
        else:
            self.v = nn.Linear(width, rank, bias=False)  # V^T x
            self.u = nn.Linear(rank, width)  # U (V^T x) + b
        self.drop = nn.Dropout(dropout)

    def forward(self, x0: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """One crossing step of the flattened tokens ``x`` with the input ``x0``."""
        wx = self.u(self.v(x)) if self.low_rank else self.w(x)
        return x0 * self.drop(wx) + x


class CrossTCN(TokenCrossNetwork):
    """``x_{l+1} = x0 * (W_l x_l + b_l) + x_l`` on ``x0 = flatten(H0)`` (T x token_dim wide), LayerNorm, Linear.

    W is low rank, ``U V^T`` with rank token_dim, whenever that has fewer weights than a full
    ``D x D`` matrix (T > 2): at T=16, token_dim=64 that is 131k instead of 1M weights per layer.
    """

    name = "cross"

    def __init__(self, n_tokens: int, dim: int, cfg: "MotorEncoderConfig"):
        super().__init__(n_tokens, dim, cfg)
        width = n_tokens * cfg.token_dim
        rank = cross_rank(n_tokens, cfg.token_dim)
        self.cross = nn.ModuleList(CrossLayer(width, rank, cfg.dropout) for _ in range(cfg.layers))
        self.ln_f = nn.LayerNorm(width)
        self.out = nn.Linear(width, dim)

    def forward(self, h0: torch.Tensor, tids: torch.Tensor, keep: bool = False, recurring: bool = False) -> TCNOutput:
        """Crossed item vectors (no attention maps, no pooling weights)."""
        x0 = x = self.drop(F.embedding(tids, h0)).flatten(1)
        for layer in self.cross:
            x = layer(x0, x)
        return TCNOutput(self.out(self.ln_f(x)))

    @classmethod
    def check(cls, cfg: "MotorEncoderConfig") -> None:
        """At least one cross layer."""
        if cfg.layers < 1:
            raise MotorError(f"layers={cfg.layers}: tcn='cross' needs at least 1 layer (typical: 1 to 3); "
                             f"use tcn='mean' for no crossing")

    @classmethod
    def n_parameters_for(cls, n_tokens: int, dim: int, cfg: "MotorEncoderConfig") -> int:
        """Cross layers (full or low-rank W plus bias), LayerNorm and output projection."""
        w, r = n_tokens * cfg.token_dim, cross_rank(n_tokens, cfg.token_dim)
        per_layer = w * w + w if r is None else w * r + r * w + w
        return cfg.layers * per_layer + 2 * w + w * dim + dim

    @classmethod
    def forward_macs(cls, n_items: int, n_tokens: int, vocab: int, dim: int, cfg: "MotorEncoderConfig") -> int:
        """Each cross layer is a (T d) x (T d) product (or its low-rank form) per item, then the output projection."""
        width, r = n_tokens * cfg.token_dim, cross_rank(n_tokens, cfg.token_dim)
        per_layer = width * width if r is None else 2 * width * r
        return n_items * (cfg.layers * per_layer + width * dim)
