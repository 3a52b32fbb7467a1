"""Token Cross Network variants, chosen once by name (``MotorEncoderConfig.tcn``).

- ``attention``: self-attention blocks among an item's tokens, then attention pooling (default);
- ``factored``: one attention block whose pooling comes before any per-token work, so every token-wise
  computation runs once per vocabulary entry (the fast variant);
- ``cross``: DCN-v2 cross layers on the concatenated tokens;
- ``mean``: no crossing, the average token (the ablation).
"""

from __future__ import annotations

from motor.encoders.tcn.attention import AttentionTCN
from motor.encoders.tcn.base import TCNOutput, TokenCrossNetwork
from motor.encoders.tcn.cross import CrossTCN, cross_rank
from motor.encoders.tcn.factored import FactoredAttentionTCN
from motor.encoders.tcn.mean import MeanTCN
from motor.errors import MotorError

TCN_VARIANTS: dict[str, type[TokenCrossNetwork]] = {cls.name: cls for cls in (AttentionTCN, FactoredAttentionTCN, CrossTCN, MeanTCN)}


def get_tcn(name: str) -> type[TokenCrossNetwork]:
    """The TCN class registered as ``name``; a ``MotorError`` naming the choices otherwise."""
    if name not in TCN_VARIANTS:
        raise MotorError(f"unknown Token Cross Network {name!r}; choose one of {', '.join(TCN_VARIANTS)}")
    return TCN_VARIANTS[name]


__all__ = ["TCN_VARIANTS", "AttentionTCN", "CrossTCN", "FactoredAttentionTCN", "MeanTCN", "TCNOutput", "TokenCrossNetwork", "cross_rank",
           "get_tcn"]
