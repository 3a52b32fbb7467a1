"""The Token Cross Network interface: how one item's T token states become one item vector.

A TCN variant is an ``nn.Module`` that receives the token states of the whole vocabulary
(``h0 [V, token_dim]``, token embedding plus slot embedding) and a batch of items' token ids
(``tids [B, T]``) and returns the item vectors ``[B, dim]``. Getting ``h0`` per vocabulary entry
rather than per item token lets a variant compute anything that depends on one token alone
once per vocabulary entry (V rows) instead of once per item token (B x T rows).

Each variant also states its trainable parameter count by formula (no allocation), so the
size of a MOTOR model can be computed for any catalogue without building it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

import torch
from torch import nn

if TYPE_CHECKING:
    from motor.encoders.token_encoder import MotorEncoderConfig


@dataclass
class TCNOutput:
    """A TCN forward pass: item vectors, and (only when asked to ``keep`` them) what it looked at.

    ``attention`` [L, B, heads, T, T] or None for variants without attention; ``pooling`` [B, T]
    (how much each token counts in the vector) or None for variants that do not pool tokens.
    """

    vectors: torch.Tensor
    attention: torch.Tensor | None = None
    pooling: torch.Tensor | None = None


class TokenCrossNetwork(nn.Module):
    """Base class of the TCN variants: ``forward(h0, tids, keep) -> TCNOutput``.

    Subclasses set ``name`` (the ``MotorEncoderConfig.tcn`` value that selects them) and
    implement ``forward``, ``n_parameters_for`` and, where they need more than the checks of
    ``MotorEncoderConfig.validate``, ``check``.
    """

    name: ClassVar[str] = ""
    has_attention: ClassVar[bool] = False  # returns attention maps when kept
    has_pooling: ClassVar[bool] = False  # returns pooling weights when kept
    learns_pooling: ClassVar[bool] = False  # the pooling weights are learned (not fixed, as the mean's 1/T)
    piece: ClassVar[int] = 0  # items per forward call when the encoder runs many (0: all at once); see AttentionTCN

    def __init__(self, n_tokens: int, dim: int, cfg: "MotorEncoderConfig"):
        super().__init__()
        self.n_tokens, self.dim, self.cfg = int(n_tokens), int(dim), cfg
        self.drop = nn.Dropout(cfg.dropout)  # on the token embeddings (training only)

    def forward(self, h0: torch.Tensor, tids: torch.Tensor, keep: bool = False, recurring: bool = False) -> TCNOutput:
        """Item vectors of ``tids [B, T]`` from the vocabulary's token states ``h0 [V, token_dim]``; ``recurring``
        says these ids come back at every step (the whole catalogue), so structures built from them may be kept."""
        raise NotImplementedError

    def init_weights(self, std: float) -> None:
        """Variant-specific initialisation, run after the encoder's generic nanoGPT init (default: none)."""

    def adopt_legacy(self, state_dict: dict, prefix: str) -> None:
        """Adapt to a state dict saved by an older version of this variant before it is loaded (default: nothing)."""

    @classmethod
    def check(cls, cfg: "MotorEncoderConfig") -> None:
        """Raise ``MotorError`` when ``cfg`` cannot build this variant (default: nothing to check)."""

    @classmethod
    def n_parameters_for(cls, n_tokens: int, dim: int, cfg: "MotorEncoderConfig") -> int:
        """Trainable parameters of this variant for T=``n_tokens`` tokens and ``dim``-d outputs, by formula."""
        raise NotImplementedError

    @classmethod
    def forward_macs(cls, n_items: int, n_tokens: int, vocab: int, dim: int, cfg: "MotorEncoderConfig") -> int:
        """Multiply-adds of the matrix products of one forward pass over ``n_items`` items (LayerNorms,
        softmaxes and GELUs are a few operations per element, small beside them): the arithmetic floor of
        ``motor.bench.speed``."""
        raise NotImplementedError
