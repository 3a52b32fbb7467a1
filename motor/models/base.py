"""What every backbone shares: its inputs (``ModelContext``), a batch, and the model contract.

Contract (kept as small as MMRec's): ``loss(batch)`` returns named loss terms that are
summed for the optimiser step; ``ranking_state()`` computes everything needed to score all
items, once per evaluation and from the current weights (no stale caches); ``score(state,
users)`` gives ``[len(users), n_items]`` scores. Item vectors always come from ``self.items``,
an ``ItemEncoder`` that the base class builds from the factory the model receives
(``Backbone(ctx, cfg, make_items)``, ``make_items(dim) -> ItemEncoder``).

The boilerplate every backbone shares lives here once: the item encoder (``item_dim()``), the
item features of a multimodal backbone (``needs_features``), user tables (``user_table``),
LightGCN propagation of ``[users; items]`` (``propagate_ui``), the batch's rows (``batch_rows``)
and the checks of config values (``check_range``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, ClassVar, Literal

import numpy as np
import torch
from torch import nn

from motor.config import check_range, doc  # noqa: F401  (check_range: re-exported for the backbones)
from motor.encoders.base import ItemEncoder
from motor.graph import (
    Norm,
    bipartite_adjacency,
    cold_item_combine,
    cold_item_mask,
    fused_knn_adjacency,
    knn_adjacency,
    layer_mean,
    propagate,
    score_scale,
    spmm,
    transpose_csr,
    user_item_matrix,
)
from motor.models.item_features import ItemFeatures

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
    # bool [n_items] per modality with missing rows (``Modality.present``): the kNN graphs link
    # only items that have the content; absent from the dict = every row is real
    present: dict[str, torch.Tensor] = field(default_factory=dict)
    _graphs: dict = field(default_factory=dict, repr=False)

    @classmethod
    def build(cls, n_users: int, n_items: int, train_user: np.ndarray, train_item: np.ndarray,
              features: dict[str, np.ndarray], cache_dir: Path | None = None,
              present: dict[str, np.ndarray] | None = None) -> "ModelContext":
        feats = {k: torch.from_numpy(np.ascontiguousarray(v, dtype=np.float32)) for k, v in features.items()}
        masks = {k: torch.from_numpy(np.asarray(v, bool)) for k, v in (present or {}).items()
                 if not np.asarray(v, bool).all()}
        return cls(n_users, n_items, torch.from_numpy(train_user).long(), torch.from_numpy(train_item).long(),
                   feats, cache_dir, masks)

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
        neighbours, see ``motor.graph``); binary edges unless ``weighted`` (cosine similarities).
        Items without this modality (``present``) keep only their self-loop."""
        return self.cached(("knn", modality, k, norm, weighted), lambda: knn_adjacency(
            self.features[modality], k, norm, weighted, cache_dir=self.cache_dir, present=self.present.get(modality)))

    def fused_item_knn(self, weights: dict[str, float] | None, k: int, norm: Norm = "sym") -> torch.Tensor:
        """All modalities' binary kNN graphs in one: ``sum_m w_m kNN_m`` (FREEDOM, DRAGON; see
        ``motor.graph.fused_knn_adjacency`` for the weights)."""
        key = ("fused-knn", k, norm, tuple(sorted((weights or {}).items())))
        return self.cached(key, lambda: fused_knn_adjacency(self.features, weights, k, norm,
                                                            cache_dir=self.cache_dir, present=self.present))


def check_weights(name: str, weights: dict[str, float]) -> None:
    """Raise ``MotorError`` unless every weight of a per-modality mapping is in [0, inf)."""
    for key, w in weights.items():
        check_range(f"{name}[{key!r}]", w, 0)


@dataclass
class PropagationConfig:
    """Settings of every backbone that propagates item vectors over the user-item graph."""

    cold_dropout: float = doc(0.1, "cold and low-degree items: each training step, this fraction of the warm items is "
                                   "scored from its own layer-0 vector alone (the cold path an item without training "
                                   "edges always takes), so that path learns to rank on the propagated vectors' "
                                   "scale; 0 = off (isolated items still take the cold path)",
                              low=0, high=1, high_open=True)

    def validate(self) -> None:
        """Cross-field checks (the subclasses' chain ends here); the ranges are declared on the fields."""


_USER_INIT = {"uniform": nn.init.xavier_uniform_, "normal": nn.init.xavier_normal_}


class Recommender(nn.Module):
    """Base class of all backbones: the item encoder, user tables, graphs and the model contract.

    Construction order (it fixes what a seed draws, so keep it when changing a backbone): item
    features (``needs_features``), then ``build_before_items()`` (by default one user table as wide
    as the items), then ``self.items = make_items(item_dim())``, then the subclass's own body.
    """

    name: ClassVar[str] = ""
    Config: ClassVar[type] = object
    needs_features: ClassVar[bool] = False  # multimodal backbones read ctx.features (self.features)
    uses_negatives: ClassVar[bool] = True  # False: the trainer draws none and ``batch.neg`` is None
    user_init: ClassVar[Literal["uniform", "normal"]] = "uniform"  # xavier init of the default user table
    # Config fields the tuner searches besides the learning rate and the regularisation weight: field -> the values
    # it chooses from (a choice, so 'off' = 0 can be one); the documented default is tried first (motor.tune)
    tuned_fields: ClassVar[dict[str, tuple]] = {}

    def __init__(self, ctx: ModelContext, cfg, make_items: MakeItems) -> None:
        super().__init__()
        self.ctx, self.cfg = ctx, cfg
        self.n_users, self.n_items = ctx.n_users, ctx.n_items
        self._symmetric: set[str] = set()
        self._user_side: list[str] = []
        # training degree of every item (an item without edges takes the cold path, ``propagate_ui``) and the
        # training edges the cold path's score scale is matched on
        self.register_buffer("item_degree", torch.bincount(ctx.train_item, minlength=ctx.n_items), persistent=False)
        self.register_buffer("edge_user", ctx.train_user, persistent=False)
        self.register_buffer("edge_item", ctx.train_item, persistent=False)
        if self.needs_features:
            self.features = ItemFeatures(ctx.features, freeze=cfg.freeze_features)
        self.build_before_items()
        self.items: ItemEncoder = make_items(self.item_dim())

    def item_dim(self) -> int:
        """Width of the item encoder's vectors (``cfg.embedding_dim`` unless a backbone says otherwise)."""
        return self.cfg.embedding_dim

    def build_before_items(self) -> None:
        """Create the parameters drawn before the item encoder: by default ``self.user_embedding``,
        a user table as wide as the items. A backbone whose published initialisation creates
        other parameters first overrides this, so its seeded runs stay the same."""
        self.user_table("user_embedding", self.item_dim())

    def user_table(self, name: str, dim: int, init: Literal["uniform", "normal"] | None = None) -> nn.Parameter:
        """Create ``self.<name>``: a trainable ``[n_users, dim]`` table with xavier init (``user_init``
        unless given), counted as user side by ``param_counts``."""
        table = nn.Parameter(_USER_INIT[init or self.user_init](torch.empty(self.n_users, dim)))
        return self.user_side(name, table)

    def user_side(self, name: str, value: nn.Parameter | nn.Module) -> nn.Parameter | nn.Module:
        """Set ``self.<name> = value`` and count its parameters as user side in ``param_counts``."""
        setattr(self, name, value)
        self._user_side.append(name)
        return value

    def loss(self, batch: Batch) -> dict[str, torch.Tensor]:
        """Named loss terms of one batch; the trainer sums them for the optimiser step."""
        raise NotImplementedError

    def embeddings(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Final user and item vectors from the current weights."""
        raise NotImplementedError

    def ranking_state(self):
        """Everything ``score`` needs, computed once per evaluation from the current weights."""
        return self.embeddings()

    def score(self, state, users: torch.Tensor) -> torch.Tensor:
        """Scores ``[len(users), n_items]`` of ``users`` against every item."""
        user_vecs, item_vecs = state
        return user_vecs[users] @ item_vecs.T

    def pre_epoch(self, epoch: int, generator: torch.Generator) -> None:
        """Hook for per-epoch work (edge dropout, graph resampling)."""

    def collapse_remedy(self) -> str | None:
        """What to change when this model ranks every user alike (``motor.personalisation`` adds it to its
        warning); None: nothing specific to this backbone."""
        return None

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
        """Trainable parameters: item side (the item encoder), user side (what ``user_table`` and
        ``user_side`` registered), the rest, and the total."""
        total = sum(p.numel() for p in self.parameters() if p.requires_grad)
        item = self.items.n_parameters()
        user = sum(p.numel() for name in self._user_side for p in _parameters(getattr(self, name)) if p.requires_grad)
        return {"item_side": int(item), "user_side": int(user), "other": int(total - item - user),
                "trainable_total": int(total), "item_side_bytes": int(self.items.n_bytes())}

    # --- shared pieces of the forward passes ------------------------------------------------------

    @staticmethod
    def batch_rows(users: torch.Tensor, items: torch.Tensor,
                   batch: Batch) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """The batch's rows of full user and item matrices: ``(u, pos, neg)``."""
        return users[batch.user], items[batch.pos], items[batch.neg]

    def propagate_ui(self, items: torch.Tensor, n_layers: int, graph: str = "adj", users: torch.Tensor | None = None,
                     combine: Literal["mean", "sum"] = "mean",
                     cold: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """LightGCN over a user-item graph: ``[users; items]`` propagated ``n_layers`` times over the
        graph buffer ``graph``, the layers 0..n_layers combined (``mean``, or ``sum`` as DualGNN and
        DRAGON do), split back into (users, items). ``users`` defaults to ``self.user_embedding``.

        Cold and low-degree items: the rows of ``cold_items()`` (items without training edges, and in
        training a random ``cfg.cold_dropout`` share of the others) take the cold path: their own
        vector at the weight all layers have together (``motor.graph.cold_item_combine``); at ranking
        time (eval mode) also rescaled to the score scale of the propagated vectors on the training
        interactions (``motor.graph.score_scale``), so cold items compete with warm ones on one scale.
        ``cold``: the mask of those rows (default: a fresh ``cold_items()``, see ``cold_path``).
        """
        users = self.user_embedding if users is None else users
        layers = self.propagate(graph, torch.cat([users, items]), n_layers)
        out = layer_mean(layers) if combine == "mean" else torch.stack(layers).sum(0)
        out_users, out_items = out[: self.n_users], out[self.n_users:]
        own = items if combine == "mean" else items * float(n_layers + 1)
        return out_users, self.cold_path(out_users, out_items, own, cold)

    def cold_path(self, users: torch.Tensor, propagated: torch.Tensor, own: torch.Tensor,
                  cold: torch.Tensor | None = None) -> torch.Tensor:
        """``propagated`` item vectors with the rows of ``cold`` (default: a fresh ``cold_items()``) replaced
        by ``own`` (an item's own vector at the weight its propagated layers have together); in eval mode
        ``own`` is rescaled by ``score_scale`` so that cold items compete with warm ones on one scale.
        Training learns to rank with the cold path as it is.

        A backbone that takes the cold path in several views of its items in one forward pass (a LightGCN per
        view or per modality: SLMRec, DualGNN, DRAGON, LGMRec) draws ``cold_items()`` once and passes that mask
        to every view, so an item dropped in training takes the cold path in all of them together, as a cold
        item does at ranking time (a fresh draw per view trained mixed states a cold item is never in: with
        ``cold_dropout`` 0.1 and three views, all three at once 1 time in 1,000 instead of 1 in 10)."""
        cold = self.cold_items() if cold is None else cold
        if not bool(cold.any()):
            return propagated
        scale = 1.0 if self.training else score_scale(users, propagated, own, self.edge_user, self.edge_item)
        return cold_item_combine(propagated, own, cold, scale)

    def cold_items(self) -> torch.Tensor:
        """Bool ``[n_items]``: the items that take the cold path in this forward pass (``cold_item_mask``)."""
        return cold_item_mask(self.item_degree, self.cfg.cold_dropout, self.training)

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


def _parameters(value: nn.Parameter | nn.Module) -> list[nn.Parameter]:
    return list(value.parameters()) if isinstance(value, nn.Module) else [value]
