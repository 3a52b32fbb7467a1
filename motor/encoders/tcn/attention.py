"""Self-attention among an item's tokens, then attention pooling: MOTOR's default Token Cross Network."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F
from torch import nn

from motor.encoders.tcn.base import TCNOutput, TokenCrossNetwork
from motor.errors import MotorError

if TYPE_CHECKING:
    from motor.encoders.token_encoder import MotorEncoderConfig


def _divisors(n: int) -> list[int]:
    return [d for d in range(1, n + 1) if n % d == 0]


class SelfAttention(nn.Module):
    """Multi-head self-attention among one item's tokens; returns the weights for inspection."""

    def __init__(self, d: int, heads: int, dropout: float):
        super().__init__()
        self.heads = heads
        self.qkv = nn.Linear(d, 3 * d)
        self.proj = nn.Linear(d, d)
        self.attn_drop, self.resid_drop = nn.Dropout(dropout), nn.Dropout(dropout)

    def forward(self, x: torch.Tensor, keep: bool = False,
                qkv: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor | None]:
        """``qkv`` may be given precomputed ([B, T, 3d]); ``keep`` returns the weights [B, h, T, T]."""
        B, T, d = x.shape
        qkv = self.qkv(x) if qkv is None else qkv
        q, k, v = qkv.view(B, T, 3, self.heads, d // self.heads).permute(2, 0, 3, 1, 4)  # 3 x [B, h, T, hd]
        # Explicit softmax (not the fused kernel): on CPU at T=16 it is faster, and the weights are the
        # token-cross attention maps the app shows.
        att = torch.softmax(q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1]), dim=-1)  # [B, h, T, T]
        y = self.attn_drop(att) @ v
        return self.resid_drop(self.proj(y.transpose(1, 2).reshape(B, T, d))), (att if keep else None)


class Block(nn.Module):
    """Pre-norm transformer block: x + attn(LN(x)), then x + FFN(LN(x))."""

    def __init__(self, d: int, heads: int, ffn_mult: int, dropout: float):
        super().__init__()
        self.ln1, self.ln2 = nn.LayerNorm(d), nn.LayerNorm(d)
        self.attn = SelfAttention(d, heads, dropout)
        self.ffn = nn.Sequential(nn.Linear(d, ffn_mult * d), nn.GELU(), nn.Linear(ffn_mult * d, d), nn.Dropout(dropout))

    def forward(self, x: torch.Tensor, keep: bool = False,
                qkv: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor | None]:
        """One block; ``qkv`` (precomputed from ``LN1(x)``) skips the first LayerNorm and projection."""
        a, att = self.attn(self.ln1(x) if qkv is None else x, keep, qkv)
        x = x + a
        return x + self.ffn(self.ln2(x)), att


class AttentionTCN(TokenCrossNetwork):
    """L pre-norm transformer blocks over the item's T tokens, final LayerNorm, attention pooling
    ``alpha = softmax(H q / sqrt(token_dim))``, ``Linear(token_dim -> dim)``."""

    name = "attention"
    has_attention = True
    has_pooling = True

    def __init__(self, n_tokens: int, dim: int, cfg: "MotorEncoderConfig"):
        super().__init__(n_tokens, dim, cfg)
        d = cfg.token_dim
        self.blocks = nn.ModuleList(Block(d, cfg.heads, cfg.ffn_mult, cfg.dropout) for _ in range(cfg.layers))
        self.ln_f = nn.LayerNorm(d)
        self.query = nn.Parameter(torch.zeros(d))
        self.out = nn.Linear(d, dim)

    def init_weights(self, std: float) -> None:
        """Pooling query N(0, std); residual output projections N(0, std / sqrt(2 L)) (nanoGPT)."""
        nn.init.normal_(self.query, std=std)
        for blk in self.blocks:
            for w in (blk.attn.proj.weight, blk.ffn[2].weight):
                nn.init.normal_(w, std=std / math.sqrt(2 * self.cfg.layers))

    def forward(self, h0: torch.Tensor, tids: torch.Tensor, keep: bool = False) -> TCNOutput:
        """Item vectors; with ``keep`` also the attention maps [L, B, h, T, T] (pooling weights always)."""
        h = self.drop(F.embedding(tids, h0))
        maps = []
        qkv = None
        if not (self.training and self.cfg.dropout > 0):  # block 0's LayerNorm + q,k,v once per vocabulary entry
            first = self.blocks[0]
            qkv = F.embedding(tids, first.attn.qkv(first.ln1(h0)))
        for i, blk in enumerate(self.blocks):
            h, att = blk(h, keep, qkv if i == 0 else None)
            maps.append(att)
        h = self.ln_f(h)
        alpha = torch.softmax(h @ self.query / math.sqrt(self.cfg.token_dim), dim=1)  # [B, T]
        pooled = (alpha.unsqueeze(-1) * h).sum(1)
        return TCNOutput(self.out(pooled), torch.stack(maps) if keep else None, alpha)

    @classmethod
    def check(cls, cfg: "MotorEncoderConfig") -> None:
        """At least one block, and ``heads`` dividing ``token_dim``."""
        if cfg.layers < 1:
            raise MotorError(f"layers={cfg.layers}: tcn='attention' needs at least 1 layer (typical: 1 to 3); "
                             f"use tcn='mean' for no crossing")
        if cfg.heads < 1 or cfg.token_dim % cfg.heads:
            raise MotorError(f"heads={cfg.heads} must divide token_dim={cfg.token_dim}; valid values: "
                             f"{', '.join(map(str, _divisors(cfg.token_dim)))}")

    @classmethod
    def n_parameters_for(cls, n_tokens: int, dim: int, cfg: "MotorEncoderConfig") -> int:
        """Blocks (two LayerNorms, q/k/v, output projection, FFN), final LayerNorm, query, output projection."""
        d, f = cfg.token_dim, cfg.ffn_mult * cfg.token_dim
        per_block = 2 * 2 * d + (3 * d * d + 3 * d) + (d * d + d) + (d * f + f) + (f * d + d)
        return cfg.layers * per_block + 2 * d + d + d * dim + dim
