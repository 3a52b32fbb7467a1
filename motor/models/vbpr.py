"""VBPR (He & McAuley, AAAI 2016), in MMRec's simplified form.

Item vector = ``cat(R_i, W [f_i^text; f_i^image])``: the item encoder's ``d``-d vector (the
item-ID embedding in ID mode, MOTOR's token vector in MOTOR mode) next to a linear projection
of the concatenated frozen features (text first, then the other modalities in the dataset's
order, as MMRec concatenates ``t_feat, v_feat``). Users have one ``2d``-d vector. Score =
inner product; loss = BPR + ``reg_weight`` x EmbLoss on the batch's user and 2d-d item vectors
(the ID half included, so the encoder's output gets the regulariser the ID table had).

Two settings differ from MMRec by default, because without them VBPR fell below a popularity
ranking on sparse data (issue 12): ``feature_norm='l2'`` scales every modality's rows to unit
length before the projection (our EfficientNet poster vectors have norm ~18 against MiniLM's 1,
so the image part dominated the projection and its gradients), and ``content_bias=True`` adds the
published model's content bias ``beta' . f_i`` (He & McAuley's visual bias, a linear function of
the features, so it stays ID-free; the per-item bias of the paper is left out for that reason).
``feature_norm='none', content_bias=False`` is MMRec's simplified model.

MOTOR replaces the ID half of the item vector only; the feature projection stays.
Differences from MMRec: the loss encodes and projects only the batch's items when the batch
has fewer rows than the catalogue has items, all items once otherwise (MMRec always projects
all items, the dominant cost on large catalogues; the numbers are identical), the
concatenation is never materialised (one weight slice per modality), and the features are
frozen buffers unless ``freeze_features=False``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

from motor.config import doc
from motor.errors import MotorError
from motor.losses import bpr_vectors, emb_norm_reg
from motor.models.base import Batch, MakeItems, ModelContext
from motor.models.multimodal import MultimodalConfig, MultimodalRecommender
from motor.models.registry import register


@dataclass
class VBPRConfig(MultimodalConfig):
    embedding_dim: int = doc(64, "size of the item encoder's vector and of the feature projection; users get 2x", low=1)
    reg_weight: float = doc(1.0, "weight of the embedding-norm regulariser (EmbLoss) on the batch's user and "
                                 "item vectors (MMRec grids 1e-5..2); 1.0 chosen on MovieLens-100K validation "
                                 "Recall@20 among 1e-4, 0.1, 1, 3 for ID and MOTOR at F = 1 and 0.1", low=0)
    feature_norm: Literal["l2", "none"] = doc("l2", "'l2': scale each modality's feature rows to unit length before "
                                                    "the projection (modalities of very different norms otherwise "
                                                    "let one dominate); 'none': raw features, as MMRec")
    content_bias: bool = doc(True, "add the published VBPR's content bias beta' . f_i to every score (ID-free: a "
                                   "linear function of the features); False: no bias, as MMRec")

    def validate(self) -> None:
        if self.feature_norm not in ("l2", "none"):
            raise MotorError(f"feature_norm must be 'l2' or 'none', got {self.feature_norm!r}")


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
        width = sum(self.features.dims().values())
        self.feature_proj = nn.Linear(width, d)
        nn.init.xavier_normal_(self.feature_proj.weight)
        # beta' . f_i: one extra output row of the projection, zero at the start
        self.content_bias = nn.Linear(width, 1, bias=False) if self.cfg.content_bias else None
        if self.content_bias is not None:
            nn.init.zeros_(self.content_bias.weight)
        self.user_table("user_embedding", 2 * d, "normal")

    def feature(self, m: str, idx: torch.Tensor | None) -> torch.Tensor:
        """Modality ``m``'s feature rows for ``idx`` (all when None), unit-length with ``feature_norm='l2'``."""
        x = self.features[m] if idx is None else self.features[m][idx]
        return F.normalize(x, dim=1) if self.cfg.feature_norm == "l2" else x

    def project(self, idx: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor | None]:
        """``W [f^text; f^image; ...] + b`` and the content bias ``beta' . f`` (None when off) for ``idx``
        (all items when None), without materialising the concatenation."""
        out = bias = None
        start = 0
        for m in self.order:
            x = self.feature(m, idx)
            cols = slice(start, start + x.shape[1])
            start += x.shape[1]
            part = F.linear(x, self.feature_proj.weight[:, cols])
            out = part + self.feature_proj.bias if out is None else out + part
            if self.content_bias is not None:
                b = F.linear(x, self.content_bias.weight[:, cols])
                bias = b if bias is None else bias + b
        return out, bias

    def item_parts(self, idx: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor | None]:
        """(``cat(R_i, W f_i)``, content bias or None) for ``idx`` (all items when None)."""
        proj, bias = self.project(idx)
        return torch.cat([self.items(idx), proj], dim=1), bias

    def item_vectors(self, idx: torch.Tensor | None = None) -> torch.Tensor:
        """``cat(R_i, W f_i)`` for ``idx`` (all items when None); the content bias is not part of it."""
        return self.item_parts(idx)[0]

    def loss(self, batch: Batch) -> dict[str, torch.Tensor]:
        n = batch.pos.numel()
        u = F.embedding(batch.user, self.user_embedding)
        rows = torch.cat([batch.pos, batch.neg])
        if 2 * n >= self.n_items:
            # More batch rows than items: encoding and projecting every item once is cheaper than
            # encoding / gathering 2B rows (MOTOR's encoder included); the vectors are the same.
            every, bias = self.item_parts()
            pos, neg = F.embedding(rows, every).split(n)  # one gather (and one scatter back) for both
            b_pos, b_neg = (None, None) if bias is None else F.embedding(rows, bias).split(n)
            # EmbLoss's Frobenius norms from per-row squared norms times how often each row occurs in the batch:
            # the same sums, with a backward over the n_items rows instead of three [B, 2d] passes
            sq = every.square().sum(1)
            reg = (_batch_norm(sq, batch.pos) + _batch_norm(sq, batch.neg)
                   + _batch_norm(self.user_embedding.square().sum(1), batch.user)) / n
        else:
            parts, bias = self.item_parts(rows)
            pos, neg = parts.split(n)
            b_pos, b_neg = (None, None) if bias is None else bias.split(n)
            reg = emb_norm_reg(u, pos, neg)
        if b_pos is None:
            bpr = bpr_vectors(u, pos, neg)
        else:  # the same BPR loss with the bias as an extra coordinate (user side 1)
            one = torch.ones_like(b_pos)
            bpr = bpr_vectors(torch.cat([u, one], 1), torch.cat([pos, b_pos], 1), torch.cat([neg, b_neg], 1))
        return {"bpr": bpr, "reg": self.cfg.reg_weight * reg}

    def embeddings(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Users and items for inner-product scoring; with the content bias, users get a constant 1
        column and items their bias, so ``users @ items.T`` includes it."""
        items, bias = self.item_parts()
        if bias is None:
            return self.user_embedding, items
        users = torch.cat([self.user_embedding, torch.ones_like(self.user_embedding[:, :1])], 1)
        return users, torch.cat([items, bias], 1)


def _batch_norm(row_sq: torch.Tensor, idx: torch.Tensor) -> torch.Tensor:
    """``||table[idx]||_F`` from the table's squared row norms ``row_sq``, without gathering the rows:
    ``sqrt(sum_i count_i * row_sq_i)`` (clamped off 0, where the square root has no gradient)."""
    counts = torch.bincount(idx, minlength=row_sq.shape[0]).to(row_sq.dtype)
    return torch.sqrt((counts @ row_sq).clamp_min(1e-30))
