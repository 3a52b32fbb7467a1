"""What the multimodal backbones share: the ``freeze_features`` setting and per-modality layers.

Not a backbone itself (nothing here is registered). Every multimodal backbone's config derives
from ``MultimodalConfig`` (``freeze_features: bool = True``); the base class then builds
``self.features``, an ``ItemFeatures`` (``motor.models.item_features``: frozen buffers by
default, trainable parameters as in MMRec on request).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from torch import nn

from motor.config import doc
from motor.models.base import Recommender
from motor.models.item_features import ItemFeatures, modality_key

__all__ = ["ItemFeatures", "ModalityModules", "MultimodalConfig", "MultimodalRecommender", "modality_key",
           "xavier_linear"]


@dataclass
class MultimodalConfig:
    """Settings of every backbone that reads item features (its config derives from this one)."""

    freeze_features: bool = doc(True, "keep the item features fixed (non-persistent buffers: not trained, not "
                                      "counted, not saved); False makes them trainable per-item parameters, as "
                                      "MMRec does (millions of item-indexed weights)")


class ModalityModules(nn.Module):
    """One module per modality, built by ``factory(feature_dim)``; ``self[name]`` returns it."""

    def __init__(self, dims: dict[str, int], factory: Callable[[int], nn.Module]):
        super().__init__()
        self.layers = nn.ModuleDict({modality_key(n): factory(d) for n, d in dims.items()})
        self.names = list(dims)

    def __getitem__(self, name: str) -> nn.Module:
        return self.layers[modality_key(name)]


def xavier_linear(d_in: int, d_out: int, bias: bool = True) -> nn.Linear:
    """``nn.Linear`` with xavier-uniform weights (MMRec's usual init) and zero bias."""
    layer = nn.Linear(d_in, d_out, bias=bias)
    nn.init.xavier_uniform_(layer.weight)
    if bias:
        nn.init.zeros_(layer.bias)
    return layer


class MultimodalRecommender(Recommender):
    """Base of the backbones that read item features: ``self.features`` is an ``ItemFeatures``.

    The config must derive from ``MultimodalConfig`` (it holds ``freeze_features``).
    """

    needs_features = True
