"""The no-crossing ablation: an item is the mean of its token states."""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F
from torch import nn

from motor.encoders.tcn.base import TCNOutput, TokenCrossNetwork

if TYPE_CHECKING:
    from motor.encoders.token_encoder import MotorEncoderConfig


class MeanTCN(TokenCrossNetwork):
    """Mean of H0 over tokens, LayerNorm, ``Linear(token_dim -> dim)``: tokens never see each other."""

    name = "mean"
    has_pooling = True  # uniform pooling, 1/T per token

    def __init__(self, n_tokens: int, dim: int, cfg: "MotorEncoderConfig"):
        super().__init__(n_tokens, dim, cfg)
        self.ln_f = nn.LayerNorm(cfg.token_dim)
        self.out = nn.Linear(cfg.token_dim, dim)

    def forward(self, h0: torch.Tensor, tids: torch.Tensor, keep: bool = False, recurring: bool = False) -> TCNOutput:
        """Mean-pooled item vectors; with ``keep`` also the (uniform) pooling weights."""
        if not (self.training and self.cfg.dropout > 0):  # one fused gather-and-average
            pooled = F.embedding_bag(tids, h0, mode="mean")
        else:
            pooled = self.drop(F.embedding(tids, h0)).mean(1)
        pooling = torch.full(tids.shape, 1.0 / self.n_tokens, device=h0.device) if keep else None
        return TCNOutput(self.out(self.ln_f(pooled)), None, pooling)

    @classmethod
    def n_parameters_for(cls, n_tokens: int, dim: int, cfg: "MotorEncoderConfig") -> int:
        """LayerNorm (2 d) and the output projection (d x dim + dim)."""
        d = cfg.token_dim
        return 2 * d + d * dim + dim

    @classmethod
    def forward_macs(cls, n_items: int, n_tokens: int, vocab: int, dim: int, cfg: "MotorEncoderConfig") -> int:
        """The average (T d per item) and the output projection."""
        return n_items * (n_tokens * cfg.token_dim + cfg.token_dim * dim)
