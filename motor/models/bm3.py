"""BM3 (Zhou et al., WWW 2023): bootstrapped latent representations, no negative sampling.

Online vectors: LightGCN (symmetric normalisation, mean of layers 0..n_layers) over the
user-item graph with layer-0 items ``R = self.items()`` (ID table or MOTOR); the item output
gets ``R`` added back as a residual (both uses are the encoder's output). Modality
projections ``p_m = Linear(D_m -> embedding_dim)`` of the (frozen) features.

Targets (BYOL style, no momentum encoder): a detached copy of each online vector with dropout
``dropout``. A shared ``predictor = Linear(d -> d)`` maps online vectors into the target space.
For a batch of (user, positive item) pairs, with ``C(a, b) = 1 - cos(a, b)`` averaged:

    L = C(pred(u), sg(drop(i))) + C(pred(i), sg(drop(u)))                       (user <-> item)
      + cl_weight * sum_m [C(pred(p_m(i)), sg(drop(i))) + C(pred(p_m(i)), sg(drop(p_m(i))))]
      + reg_weight * EmbLoss(all users, all items)        (Frobenius norms / n_users; docs/BACKBONES.md)
      + uniformity_weight * (U(batch users) + U(batch items))       (not in the published model; default 0)

with ``U(x) = log mean exp(-2 |a - b|^2)`` over pairs of unit rows (``motor.losses.uniformity``): without a
push apart, the alignment terms are smallest when every vector points one way, and with MOTOR they do.

Cold items: the LightGCN takes the cold path of ``motor.models.base`` (``cold_dropout``). An item dropped in a
training step takes it in its online vector only; its target keeps the item's edges, so the cold path learns to
predict what the whole item predicts and the users are never aligned with a cold-path vector (the teacher of
DropoutNet). With the dropped vector as its own target, as before 2026-12-07, the item dropout cost BM3 with MOTOR
5% of its warm test Recall@20 on the demo (docs/BACKBONES.md).

No negatives are used (``uses_negatives = False``: the trainer draws none). Scores are
``pred(u) . pred(i)``: ``ranking_state`` and ``retrieval_vectors`` both return the predicted
vectors, so a faiss search ranks exactly as the evaluator. ``embeddings()`` returns the online
vectors before the predictor. MMRec's ``feat_embed_dim`` is ignored by BM3 and absent here.
No learning-rate decay (MMRec: constant).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from motor.config import doc
from motor.losses import emb_norm_reg, neg_cosine, uniformity
from motor.models.base import Batch, MakeItems, ModelContext, PropagationConfig
from motor.models.multimodal import ModalityModules, MultimodalConfig, MultimodalRecommender, xavier_linear
from motor.models.registry import register


@dataclass
class BM3Config(MultimodalConfig, PropagationConfig):
    embedding_dim: int = doc(64, "size of user and item vectors (also of the modality projections)", low=1)
    n_layers: int = doc(1, "LightGCN layers over the user-item graph (MMRec grid: 1, 2)", low=0)
    dropout: float = doc(0.5, "dropout that turns a detached online vector into its target (MMRec grid: 0.3, 0.5)",
                         low=0, high=1, high_open=True)
    reg_weight: float = doc(0.1, "weight of the embedding-norm regulariser on all online user and item vectors "
                                 "(MMRec grid: 0.1, 0.01)", low=0)
    cl_weight: float = doc(2.0, "weight of the modality alignment and masked-modality terms", low=0)
    uniformity_weight: float = doc(0.0, "weight of a uniformity term (Wang and Isola) that pushes the batch's "
                                        "online users and items apart; not in the published model (0). On the demo "
                                        "0.2 stopped BM3 with MOTOR from collapsing, 0.05-0.1 suited ID", low=0)


@register
class BM3(MultimodalRecommender):
    """Self-supervised LightGCN without negatives: online vectors predict dropout-perturbed targets.

    BYOL-style alignment of users, items and each modality's feature projection (cosine loss, no
    negative sampling); score = predicted user . predicted item.
    """

    name = "bm3"
    Config = BM3Config
    uses_negatives = False
    tuned_fields = {"uniformity_weight": (0.0, 0.05, 0.1, 0.2, 0.5, 1.0)}

    def __init__(self, ctx: ModelContext, cfg: BM3Config, make_items: MakeItems) -> None:
        super().__init__(ctx, cfg, make_items)
        d = cfg.embedding_dim
        self.proj = ModalityModules(self.features.dims(), lambda dim: xavier_linear(dim, d))
        self.predictor = xavier_linear(d, d)
        self.graph_buffer("adj", ctx.ui_adjacency("sym"), symmetric=True)

    def _online(self) -> tuple[torch.Tensor, torch.Tensor]:
        users, items, _ = self._training_views()
        return users, items

    def _target(self, x: torch.Tensor) -> torch.Tensor:
        return F.dropout(x.detach(), self.cfg.dropout, self.training)

    def _training_views(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(users, online items, items for the targets): in training this step's dropped items (``cold_items()``)
        take the cold path in the online vectors only, the targets keep every item's edges; in eval nothing is
        dropped and the two item matrices are the same (only items without edges take the cold path)."""
        ego = self.items()
        isolated = self.item_degree == 0
        users, warm = self.propagate_ui(ego, self.cfg.n_layers, cold=isolated)
        online = self.cold_path(users, warm, ego, self.cold_items() & ~isolated)
        return users, online + ego, warm + ego

    def loss(self, batch: Batch) -> dict[str, torch.Tensor]:
        users, items, full = self._training_views()
        u, i = users[batch.user], items[batch.pos]
        u_target, i_target = self._target(u), self._target(full[batch.pos])
        terms = {"align_ui": neg_cosine(self.predictor(u), i_target) + neg_cosine(self.predictor(i), u_target),
                 "reg": self.cfg.reg_weight * emb_norm_reg(users, items)}
        idx, inv = torch.unique(batch.pos, return_inverse=True)  # project each distinct item once
        modal = 0.0
        for m, f in self.features.items():
            z = self.proj[m](f[idx])[inv]
            z_pred = self.predictor(z)
            modal = modal + neg_cosine(z_pred, i_target) + neg_cosine(z_pred, self._target(z))
        terms["align_modal"] = self.cfg.cl_weight * modal
        if self.cfg.uniformity_weight > 0:
            terms["uniformity"] = self.cfg.uniformity_weight * (uniformity(users[torch.unique(batch.user)])
                                                                + uniformity(items[idx]))
        return terms

    def collapse_remedy(self) -> str | None:
        if self.cfg.uniformity_weight > 0:
            return None
        return ("BM3's loss has no term that pushes items apart; train with a uniformity term, e.g. --set "
                "model.uniformity_weight=0.2 (in the app: Train, Backbone and optimisation), which stopped the collapse of "
                "BM3 with MOTOR on the demo (docs/BACKBONES.md)")

    def embeddings(self) -> tuple[torch.Tensor, torch.Tensor]:
        """The online vectors, before the predictor (``retrieval_vectors`` applies it)."""
        return self._online()

    def retrieval_vectors(self) -> tuple[torch.Tensor, torch.Tensor]:
        users, items = self._online()
        return self.predictor(users), self.predictor(items)

    def ranking_state(self):
        return self.retrieval_vectors()
