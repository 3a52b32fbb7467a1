"""What every backbone shares: its inputs (``ModelContext``), a batch, and the model contract.

Contract (kept as small as MMRec's): ``loss(batch)`` returns named loss terms that are
summed for the optimiser step; ``ranking_state()`` computes everything needed to score all
items, once per evaluation and from the current weights (no stale caches); ``score(state,
users)`` gives ``[len(users), n_items]`` scores. Item vectors always come from ``self.items``,
an ``ItemEncoder`` built by the factory the model receives.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, ClassVar

import numpy as np
import torch
from torch import nn

from motor.encoders.base import ItemEncoder
from motor.graph import Norm, bipartite_adjacency, knn_graph

MakeItems = Callable[[int], ItemEncoder]


@dataclass
class Batch:
    """One training step's rows: users, their positive items, one sampled negative each."""

    user: torch.Tensor
    pos: torch.Tensor
    neg: torch.Tensor


@dataclass
class ModelContext:
    """What a backbone may read about the data: sizes, training edges, frozen item content."""

    n_users: int
    n_items: int
    train_user: torch.Tensor  # int64 [E]
    train_item: torch.Tensor  # int64 [E]
    features: dict[str, torch.Tensor] = field(default_factory=dict)  # frozen, row i = item i
    cache_dir: Path | None = None
    _graphs: dict = field(default_factory=dict, repr=False)

    @classmethod
    def build(cls, n_users: int, n_items: int, train_user: np.ndarray, train_item: np.ndarray,
              features: dict[str, np.ndarray], cache_dir: Path | None = None) -> "ModelContext":
        feats = {k: torch.from_numpy(np.ascontiguousarray(v, dtype=np.float32)) for k, v in features.items()}
        return cls(n_users, n_items, torch.from_numpy(train_user).long(), torch.from_numpy(train_item).long(),
                   feats, cache_dir)

    def ui_adjacency(self, norm: Norm = "sym", self_loops: bool = False) -> torch.Tensor:
        """The normalised user-item training graph, built once per setting."""
        key = ("ui", norm, self_loops)
        if key not in self._graphs:
            self._graphs[key] = bipartite_adjacency(self.n_users, self.n_items, self.train_user,
                                                    self.train_item, norm, self_loops)
        return self._graphs[key]

    def item_knn(self, modality: str, k: int, norm: Norm = "sym") -> torch.Tensor:
        """The item-item kNN graph of one modality's frozen features (hash-keyed disk cache)."""
        key = ("knn", modality, k, norm)
        if key not in self._graphs:
            self._graphs[key] = knn_graph(self.features[modality], k, norm, self.cache_dir)
        return self._graphs[key]

    def interaction_matrix(self) -> torch.Tensor:
        """Sparse binary ``U x I`` matrix of training interactions."""
        key = ("R",)
        if key not in self._graphs:
            idx = torch.stack([self.train_user, self.train_item])
            self._graphs[key] = torch.sparse_coo_tensor(idx, torch.ones(idx.shape[1]),
                                                        (self.n_users, self.n_items), check_invariants=False).coalesce()
        return self._graphs[key]


class Recommender(nn.Module):
    """Base class of all backbones."""

    name: ClassVar[str] = ""
    Config: ClassVar[type] = object
    needs_features: ClassVar[bool] = False  # multimodal backbones read ctx.features
    uses_negatives: ClassVar[bool] = True

    def __init__(self, ctx: ModelContext, cfg, make_items: MakeItems):
        super().__init__()
        self.ctx, self.cfg = ctx, cfg
        self.n_users, self.n_items = ctx.n_users, ctx.n_items

    def loss(self, batch: Batch) -> dict[str, torch.Tensor]:
        raise NotImplementedError

    def embeddings(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Final user and item vectors from the current weights."""
        raise NotImplementedError

    def ranking_state(self):
        return self.embeddings()

    def score(self, state, users: torch.Tensor) -> torch.Tensor:
        user_vecs, item_vecs = state
        return user_vecs[users] @ item_vecs.T

    def pre_epoch(self, epoch: int, generator: torch.Generator) -> None:
        """Hook for per-epoch work (edge dropout, graph resampling)."""

    def retrieval_vectors(self) -> tuple[torch.Tensor, torch.Tensor]:
        """(user, item) vectors whose inner product is the ranking score (faiss search, maps)."""
        return self.embeddings()

    def param_counts(self) -> dict[str, int]:
        """Trainable parameters: item side (the item encoder), user side (user tables), total."""
        total = sum(p.numel() for p in self.parameters() if p.requires_grad)
        item = self.items.n_parameters()
        user = sum(p.numel() for n, p in self.named_parameters() if p.requires_grad and n.startswith("user"))
        return {"item_side": int(item), "user_side": int(user), "other": int(total - item - user),
                "trainable_total": int(total), "item_side_bytes": int(self.items.n_bytes())}
