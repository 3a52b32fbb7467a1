"""LATTICE (Zhang et al., MM 2021): a learned item-item graph on top of LightGCN.

Per modality m, item features go through ``proj_m: Linear(D_m -> feat_embed_dim)``; the
weighted top-k cosine graph of the projections, symmetric-normalised, is the *learned* graph
``L_m``. The *frozen* graph ``O_m`` is the weighted top-k cosine graph of the raw features (k =
``knn_k``, the item counts as its own neighbour, as published), symmetric-normalised and cached
on disk under a hash of the feature bytes. The item graph is

    A = sum_m softmax(modal_weight)_m * ((1 - lambda) L_m + lambda O_m),   lambda = 0.9

and the item vectors are ``i = i_g + normalize(A^n_layers R)``, where ``R = self.items()`` (the
ID table or MOTOR) and ``i_g`` is the item part of a LightGCN over the user-item graph whose
layer-0 item input is the same ``R``. That graph is symmetric-normalised as in LightGCN by
default; MMRec's row normalisation with self loops (``ui_norm='row', ui_self_loops=True``) is
one setting away, and it starves MOTOR's items (measured in docs/BACKBONES.md). Users:
LightGCN output. Loss: BPR + ``reg_weight * 0.5 * (|u|^2 + |i+|^2 + |i-|^2) / batch`` on the
final vectors.

Graph schedule (published): during training the learned graph is rebuilt *with gradients* on
the first batch of every epoch and reused, detached, by the other batches of that epoch (so the
projections and ``modal_weight`` learn from one batch per epoch); ``graph_rebuild='batch'``
rebuilds it on every batch. ``ranking_state()`` always rebuilds it from the current weights.

Size: up to ``dense_max_items`` items the learned graph is a dense ``I x I`` matrix (as in the
paper); above, a chunked sparse top-k (``motor.graph.learned_knn_edges``) never holds more
than ``2048 x I`` similarities, and propagation runs on the ``O(I k)`` edge list. Both paths
compute the same graph. The frozen graphs are sparse in both.

Expected training schedule: MMRec uses ``learning_rate_scheduler [0.96, 50]``, i.e. run with
``train.lr_decay=0.96, train.lr_decay_every=50`` (not set automatically).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

from motor.config import doc
from motor.graph import edge_propagate, learned_knn_dense, learned_knn_edges
from motor.losses import bpr_vectors, l2_reg
from motor.models.base import Batch, MakeItems, ModelContext, PropagationConfig
from motor.models.multimodal import ModalityModules, MultimodalConfig, MultimodalRecommender
from motor.models.registry import register


@dataclass
class LATTICEConfig(MultimodalConfig, PropagationConfig):
    embedding_dim: int = doc(64, "size of user and item vectors", low=1)
    feat_embed_dim: int = doc(64, "width of the per-modality feature projections whose cosine similarities "
                                  "define the learned item graph", low=1)
    knn_k: int = doc(10, "neighbours per item in the frozen and the learned item graphs (the item itself is "
                         "one of them, as in the paper and MMRec)", low=1)
    lambda_coeff: float = doc(0.9, "weight of the frozen kNN graph: A = (1 - lambda) * learned + lambda * frozen",
                              low=0, high=1)
    n_layers: int = doc(1, "propagations over the item-item graph", low=0)
    n_ui_layers: int = doc(2, "LightGCN layers over the user-item graph (MMRec: len(weight_size)); output = "
                              "mean of layers 0..n_ui_layers", low=0)
    ui_norm: Literal["sym", "row"] = doc("sym", "normalisation of the user-item graph: 'sym' = D^-1/2 A D^-1/2 as "
                                              "in LightGCN; 'row' = D^-1 (A + I) with ui_self_loops, as in MMRec's "
                                              "LATTICE, starves MOTOR's items (docs/BACKBONES.md)")
    ui_self_loops: bool = doc(False, "add self loops to the user-item graph (MMRec's LATTICE: yes, with 'row')")
    reg_weight: float = doc(1e-4, "weight of the L2 term 0.5 * (|u|^2 + |i+|^2 + |i-|^2) / batch on final "
                                  "vectors (MMRec grid: 0, 1e-5, 1e-4, 1e-3)", low=0)
    graph_rebuild: Literal["epoch", "batch"] = doc(
        "epoch", "when training rebuilds the learned graph with gradients: 'epoch' = first batch of every "
                 "epoch, other batches reuse it detached (published schedule); 'batch' = every batch")
    dense_max_items: int = doc(4000, "catalogues up to this many items use a dense I x I learned graph (as "
                                     "published; 64 MB per matrix at 4000 items, a few per modality while it is "
                                     "built); larger ones the sparse chunked top-k path (O(I k) memory)", low=0)


@register
class LATTICE(MultimodalRecommender):
    """LightGCN plus an item-item graph learned from projected content and mixed with a frozen kNN graph.

    Item vectors = LightGCN output + the item encoder's vectors propagated over the learned and
    frozen item graphs; loss = BPR + L2.
    """

    name = "lattice"
    Config = LATTICEConfig

    def __init__(self, ctx: ModelContext, cfg: LATTICEConfig, make_items: MakeItems) -> None:
        super().__init__(ctx, cfg, make_items)
        self.proj = ModalityModules(self.features.dims(), lambda dim: nn.Linear(dim, cfg.feat_embed_dim))
        n_mod = len(self.features)
        self.modal_weight = nn.Parameter(torch.full((n_mod,), 1.0 / n_mod))
        self.graph_buffer("ui_adj", ctx.ui_adjacency(cfg.ui_norm, cfg.ui_self_loops), symmetric=cfg.ui_norm == "sym")
        self._frozen_names = [f"frozen_adj_{i}" for i in range(n_mod)]
        for name, m in zip(self._frozen_names, self.features.names):
            self.graph_buffer(name, ctx.item_knn(m, cfg.knn_k, "sym", weighted=True))
        # items without a modality's content stay out of its learned graph too (self-loop only)
        self._present = {m: f"present_{i}" for i, m in enumerate(self.features.names) if m in ctx.present}
        for m, attr in self._present.items():
            self.register_buffer(attr, ctx.present[m].clone(), persistent=False)
        self.dense = self.n_items <= cfg.dense_max_items
        self._train_graph = None  # this epoch's learned graph, detached (see graph_rebuild)

    # --- the item-item graph ------------------------------------------------------------------

    def item_graph(self):
        """The current item graph from the current weights: (learned part, frozen scales).

        Learned part: a dense ``I x I`` matrix or an edge list ``(rows, cols, values)``, already
        weighted by ``softmax(modal_weight) * (1 - lambda)`` and summed over modalities.
        """
        cfg = self.cfg
        alpha = torch.softmax(self.modal_weight, dim=0)
        learned_w = alpha * (1.0 - cfg.lambda_coeff)
        learned = None
        rows, cols, vals = [], [], []
        for i, (m, f) in enumerate(self.features.items()):
            z = self.proj[m](f)
            present = getattr(self, self._present[m]) if m in self._present else None
            if self.dense:
                part = learned_w[i] * learned_knn_dense(z, cfg.knn_k, "sym", include_self=True, present=present)
                learned = part if learned is None else learned + part
            else:
                r, c, v = learned_knn_edges(z, cfg.knn_k, "sym", include_self=True, present=present)
                rows.append(r)
                cols.append(c)
                vals.append(learned_w[i] * v)
        if not self.dense:
            learned = (torch.cat(rows), torch.cat(cols), torch.cat(vals))
        return learned, alpha * cfg.lambda_coeff

    @staticmethod
    def _detach(graph):
        learned, scales = graph
        learned = learned.detach() if torch.is_tensor(learned) else tuple(t.detach() for t in learned)
        return learned, scales.detach()

    def propagate_items(self, graph, x: torch.Tensor) -> torch.Tensor:
        """``A^n_layers x`` over the item graph ``(learned part, frozen scales)`` from ``item_graph``."""
        learned, scales = graph
        for _ in range(self.cfg.n_layers):
            y = learned @ x if torch.is_tensor(learned) else edge_propagate(*learned, x, self.n_items)
            for i, name in enumerate(self._frozen_names):
                y = y + scales[i] * self.mm(name, x)
            x = y
        return x

    # --- forward ------------------------------------------------------------------------------

    def _forward(self, graph) -> tuple[torch.Tensor, torch.Tensor]:
        ego_items = self.items()
        users, items_g = self.propagate_ui(ego_items, self.cfg.n_ui_layers, graph="ui_adj")
        h = self.propagate_items(graph, ego_items)
        return users, items_g + F.normalize(h, dim=1)

    def pre_epoch(self, epoch: int, generator: torch.Generator) -> None:
        self._train_graph = None  # rebuilt (with gradients) by the epoch's first batch

    def loss(self, batch: Batch) -> dict[str, torch.Tensor]:
        if self.cfg.graph_rebuild == "batch" or self._train_graph is None:
            graph = self.item_graph()
            self._train_graph = self._detach(graph)
        else:
            graph = self._train_graph
        users, items = self._forward(graph)
        u, pos, neg = self.batch_rows(users, items, batch)
        return {"bpr": bpr_vectors(u, pos, neg), "reg": self.cfg.reg_weight * l2_reg(u, pos, neg)}

    def embeddings(self) -> tuple[torch.Tensor, torch.Tensor]:
        return self._forward(self.item_graph())
