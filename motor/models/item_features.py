"""Item features inside a model: every modality's ``[n_items, D]`` matrix, frozen by default.

MMRec wraps the raw feature matrices in ``nn.Embedding.from_pretrained(feat, freeze=False)``, so
in LATTICE, BM3, FREEDOM and MGCN the 4096-/384-d feature tables silently become trainable
per-item parameters (MMRec#56): millions of item-indexed weights that contradict an "ID-free"
parameter count. Here frozen features are non-persistent buffers (not parameters, not in the
state_dict: a reloaded run takes them from the dataset again, and they move with
``model.to(device)``); ``freeze=False`` turns them into trainable ``nn.Parameter``s, saved with
the model, to reproduce MMRec's behaviour deliberately.
"""

from __future__ import annotations

import re
from typing import Iterator

import torch
from torch import nn

from motor.errors import MotorError


def modality_key(name: str) -> str:
    """A module/parameter-safe key for a modality name (torch forbids '.' in module names)."""
    key = re.sub(r"\W", "_", str(name))
    return key if key and not key[0].isdigit() else f"m_{key}"


class ItemFeatures(nn.Module):
    """The item feature matrix of every modality, in ``ctx.features`` order: ``self[name]`` is ``[n_items, D]``.

    ``freeze=True`` (default): non-persistent buffers sharing memory with the context's tensors.
    ``freeze=False``: trainable parameters (a copy), as in MMRec.
    """

    def __init__(self, features: dict[str, torch.Tensor], freeze: bool = True):
        super().__init__()
        if not features:
            raise MotorError("this backbone needs at least one item feature modality (image, text, ...)")
        self.names: list[str] = list(features)
        self._attr: dict[str, str] = {}
        for name, f in features.items():
            attr = "feat_" + modality_key(name)
            while attr in self._attr.values():
                attr += "_"
            self._attr[name] = attr
            f = f.float()
            if freeze:
                self.register_buffer(attr, f, persistent=False)
            else:
                self.register_parameter(attr, nn.Parameter(f.detach().clone()))
        self.frozen = bool(freeze)

    def __getitem__(self, name: str) -> torch.Tensor:
        return getattr(self, self._attr[name])

    def __len__(self) -> int:
        return len(self.names)

    def __iter__(self) -> Iterator[str]:
        return iter(self.names)

    def items(self) -> list[tuple[str, torch.Tensor]]:
        """``(name, [n_items, D] matrix)`` for every modality, in order."""
        return [(n, self[n]) for n in self.names]

    def dims(self) -> dict[str, int]:
        """Each modality's feature width ``D``."""
        return {n: int(self[n].shape[1]) for n in self.names}
