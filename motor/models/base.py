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
from motor.graph import (Norm, bipartite_adjacency, fused_knn_adjacency, knn_adjacency, propagate, spmm,
                         transpose_csr, user_item_matrix)

MakeItems = Callable[[int], ItemEncoder]


@dataclass
class Batch:
    """One training step's rows: users, their positive items, one sampled negative each (``neg`` is
    None for a model with ``uses_negatives = False``: none are drawn)."""

    user: torch.Tensor
    pos: torch.Tensor
    neg: torch.Tensor | None = None


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

    def cached(self, key: tuple, build: Callable[[], torch.Tensor]) -> torch.Tensor:
        """``build()`` once per context and ``key``: the models built on one context share their graphs.

        This is the in-memory layer; the kNN and user-user graphs are also cached on disk under
        ``cache_dir``, keyed by a hash of their inputs.
        """
        if key not in self._graphs:
            self._graphs[key] = build()
        return self._graphs[key]

    def ui_adjacency(self, norm: Norm = "sym", self_loops: bool = False) -> torch.Tensor:
        """The normalised ``(U+I) x (U+I)`` user-item training graph."""
        return self.cached(("ui", norm, self_loops), lambda: bipartite_adjacency(
            self.n_users, self.n_items, self.train_user, self.train_item, norm, self_loops))

    def ui_matrix(self, norm: Norm = "row") -> torch.Tensor:
        """The ``U x I`` training interaction matrix (``motor.graph.user_item_matrix``)."""
        return self.cached(("ui-matrix", norm), lambda: user_item_matrix(
            self.n_users, self.n_items, self.train_user, self.train_item, norm))

    def item_knn(self, modality: str, k: int, norm: Norm = "sym", weighted: bool = False) -> torch.Tensor:
        """The frozen item-item kNN graph of one modality's features (the item is one of its own k
        neighbours, see ``motor.graph``); binary edges unless ``weighted`` (cosine similarities)."""
        return self.cached(("knn", modality, k, norm, weighted), lambda: knn_adjacency(
            self.features[modality], k, norm, weighted, cache_dir=self.cache_dir))

    def fused_item_knn(self, weights: dict[str, float] | None, k: int, norm: Norm = "sym") -> torch.Tensor:
        """All modalities' binary kNN graphs in one: ``sum_m w_m kNN_m`` (FREEDOM, DRAGON; see
        ``motor.graph.fused_knn_adjacency`` for the weights)."""
        key = ("fused-knn", k, norm, tuple(sorted((weights or {}).items())))
        return self.cached(key, lambda: fused_knn_adjacency(self.features, weights, k, norm,
                                                            cache_dir=self.cache_dir))


class Recommender(nn.Module):
    """Base class of all backbones."""

    name: ClassVar[str] = ""
    Config: ClassVar[type] = object
    needs_features: ClassVar[bool] = False  # multimodal backbones read ctx.features
    uses_negatives: ClassVar[bool] = True  # False: the trainer draws none and ``batch.neg`` is None

    def __init__(self, ctx: ModelContext, cfg, make_items: MakeItems):
        super().__init__()
        self.ctx, self.cfg = ctx, cfg
        self.n_users, self.n_items = ctx.n_users, ctx.n_items
        self._symmetric: set[str] = set()

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

    @torch.no_grad()
    def vectors(self) -> tuple[np.ndarray, np.ndarray]:
        """``retrieval_vectors`` as numpy arrays, computed in eval mode (for search and inspection)."""
        self.eval()
        users, items = self.retrieval_vectors()
        return users.numpy(), items.numpy()

    def param_counts(self) -> dict[str, int]:
        """Trainable parameters: item side (the item encoder), user side (user tables), total."""
        total = sum(p.numel() for p in self.parameters() if p.requires_grad)
        item = self.items.n_parameters()
        user = sum(p.numel() for n, p in self.named_parameters() if p.requires_grad and n.startswith("user"))
        return {"item_side": int(item), "user_side": int(user), "other": int(total - item - user),
                "trainable_total": int(total), "item_side_bytes": int(self.items.n_bytes())}

    # --- constant graphs: buffers, so ``model.to(device)`` moves them ----------------------------

    def graph_buffer(self, name: str, tensor: torch.Tensor | None, symmetric: bool = False) -> None:
        """Register (or replace) a constant sparse graph as a non-persistent buffer, with its transpose
        ``name_t`` unless ``symmetric`` (for the fast backward of ``motor.graph.spmm``); ``None``
        reserves the name for a graph set later."""
        self.register_buffer(name, tensor, persistent=False)
        if symmetric:
            self._symmetric.add(name)
        else:
            self._symmetric.discard(name)
            self.register_buffer(name + "_t", None if tensor is None else transpose_csr(tensor), persistent=False)

    def _transpose(self, name: str) -> torch.Tensor:
        return getattr(self, name) if name in self._symmetric else getattr(self, name + "_t")

    def mm(self, name: str, x: torch.Tensor) -> torch.Tensor:
        """``graph @ x`` for a graph registered with ``graph_buffer``."""
        return spmm(getattr(self, name), x, self._transpose(name))

    def propagate(self, name: str, x: torch.Tensor, n_layers: int) -> list[torch.Tensor]:
        """``[x, Ax, A^2 x, ...]`` over a graph registered with ``graph_buffer``."""
        return propagate(getattr(self, name), x, n_layers, self._transpose(name))
