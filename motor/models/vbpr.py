"""VBPR (He & McAuley, AAAI 2016), in MMRec's simplified form.

Item vector = ``cat(R_i, W [f_i^text; f_i^image])``: the item encoder's ``d``-d vector (the
item-ID embedding in ID mode, MOTOR's token vector in MOTOR mode) next to a linear projection
of the concatenated frozen features (text first, then the other modalities in the dataset's
order, as MMRec concatenates ``t_feat, v_feat``). Users have one ``2d``-d vector. Score =
inner product; loss = BPR + ``reg_weight`` x EmbLoss on the batch's user and 2d-d item vectors
(the ID half included, so the encoder's output gets the regulariser the ID table had).
As in MMRec there is no visual bias term and no item bias.

MOTOR replaces the ID half of the item vector only; the feature projection stays.
Differences from MMRec: the loss encodes and projects only the batch's items when the batch
has fewer rows than the catalogue has items, all items once otherwise (MMRec always projects
all items, the dominant cost on large catalogues; the numbers are identical), the
concatenation is never materialised (one weight slice per modality), and the features are
frozen buffers unless ``freeze_features=False``.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from motor.config import doc
from motor.losses import bpr_vectors, emb_norm_reg
from motor.models.base import Batch, MakeItems, ModelContext, check_range
from motor.models.multimodal import MultimodalConfig, MultimodalRecommender
from motor.models.registry import register


@dataclass
class VBPRConfig(MultimodalConfig):
    embedding_dim: int = doc(64, "size of the item encoder's vector and of the feature projection; users get 2x")
    reg_weight: float = doc(1e-4, "weight of the embedding-norm regulariser (EmbLoss) on the batch's user and "
                                  "item vectors (MMRec grids 1e-5..2)")

    def validate(self) -> None:
        check_range("embedding_dim", self.embedding_dim, 1)
        check_range("reg_weight", self.reg_weight, 0)


@register
class VBPR(MultimodalRecommender):
    """Visual BPR: each item's vector next to a linear projection of its content features.

    Item = ``cat(item encoder output, W [text; image; ...])``, users one ``2 x embedding_dim``
    vector; score = inner product; loss = BPR + EmbLoss.
    """

    name = "vbpr"
    Config = VBPRConfig

    def __init__(self, ctx: ModelContext, cfg: VBPRConfig, make_items: MakeItems) -> None:
        super().__init__(ctx, cfg, make_items)
        self.order = sorted(self.features.names, key=lambda m: m != "text")  # text first, as MMRec

    def build_before_items(self) -> None:
        d = self.cfg.embedding_dim
        self.feature_proj = nn.Linear(sum(self.features.dims().values()), d)
        nn.init.xavier_normal_(self.feature_proj.weight)
        self.user_table("user_embedding", 2 * d, "normal")

    def project(self, idx: torch.Tensor | None = None) -> torch.Tensor:
        """``W [f^text; f^image; ...] + b`` for ``idx`` (all items when None), without materialising the concat."""
        out, start = None, 0
        for m in self.order:
            x = self.features[m] if idx is None else self.features[m][idx]
            w = self.feature_proj.weight[:, start:start + x.shape[1]]
            start += x.shape[1]
            out = F.linear(x, w, self.feature_proj.bias) if out is None else out + F.linear(x, w)
        return out

    def item_vectors(self, idx: torch.Tensor | None = None) -> torch.Tensor:
        """``cat(R_i, W f_i)`` for ``idx`` (all items when None)."""
        return torch.cat([self.items(idx), self.project(idx)], dim=1)

    def loss(self, batch: Batch) -> dict[str, torch.Tensor]:
        n = batch.pos.numel()
        u = F.embedding(batch.user, self.user_embedding)
        rows = torch.cat([batch.pos, batch.neg])
        if 2 * n >= self.n_items:
            # More batch rows than items: encoding and projecting every item once is cheaper than
            # encoding / gathering 2B rows (MOTOR's encoder included); the vectors are the same.
            every = self.item_vectors()
            pos, neg = F.embedding(rows, every).split(n)  # one gather (and one scatter back) for both
            # EmbLoss's Frobenius norms from per-row squared norms times how often each row occurs in the batch:
            # the same sums, with a backward over the n_items rows instead of three [B, 2d] passes
            sq = every.square().sum(1)
            reg = (_batch_norm(sq, batch.pos) + _batch_norm(sq, batch.neg)
                   + _batch_norm(self.user_embedding.square().sum(1), batch.user)) / n
        else:
            pos, neg = self.item_vectors(rows).split(n)
            reg = emb_norm_reg(u, pos, neg)
        return {"bpr": bpr_vectors(u, pos, neg), "reg": self.cfg.reg_weight * reg}

    def embeddings(self) -> tuple[torch.Tensor, torch.Tensor]:
        return self.user_embedding, self.item_vectors()


def _batch_norm(row_sq: torch.Tensor, idx: torch.Tensor) -> torch.Tensor:
    """``||table[idx]||_F`` from the table's squared row norms ``row_sq``, without gathering the rows:
    ``sqrt(sum_i count_i * row_sq_i)`` (clamped off 0, where the square root has no gradient)."""
    counts = torch.bincount(idx, minlength=row_sq.shape[0]).to(row_sq.dtype)
    return torch.sqrt((counts @ row_sq).clamp_min(1e-30))
