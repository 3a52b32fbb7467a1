"""The item-encoder interface: the one place a backbone gets item vectors from.

Backbones never own an item table. They call ``self.items(idx)`` for a batch of items or
``self.items()`` for all of them; whether the vectors come from an ID embedding table or
from MOTOR's shared tokens is invisible to them. This is where MOTOR plugs in.
"""

from __future__ import annotations

from typing import ClassVar

import torch
from torch import nn


class ItemEncoder(nn.Module):
    """Maps item indices to ``dim``-d vectors. Subclasses implement ``encode``."""

    kind: ClassVar[str] = ""

    def __init__(self, n_items: int, dim: int):
        super().__init__()
        self.n_items, self.dim = int(n_items), int(dim)

    def encode(self, items: torch.Tensor | None) -> torch.Tensor:
        """Vectors of ``items`` ([n, dim]) or of every item when ``items`` is None ([n_items, dim])."""
        raise NotImplementedError

    def forward(self, items: torch.Tensor | None = None) -> torch.Tensor:
        """Vectors of ``items`` ([n, dim]) or of every item when ``items`` is None ([n_items, dim])."""
        return self.encode(items)

    def n_parameters(self) -> int:
        """Trainable parameters of the item representation (frozen buffers excluded)."""
        return sum(p.numel() for p in self.parameters() if p.requires_grad)

    def n_bytes(self) -> int:
        """Memory of parameters and buffers (frozen token ids included)."""
        return sum(t.numel() * t.element_size() for t in list(self.parameters()) + list(self.buffers()))

    def diagnostics(self) -> dict:
        """What the trained representation does, as a JSON-ready dict for ``metrics.json`` (empty: nothing to say)."""
        return {}

    def explain(self, item: int) -> dict:
        """An item's tokens, attention maps and pooling weights; only a token encoder has them."""
        from motor.errors import MotorError

        raise MotorError(f"item {item}: an '{self.kind}' item representation has no tokens to explain; "
                         "explain items of a MOTOR run (items='motor')")
