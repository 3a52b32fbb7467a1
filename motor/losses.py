"""Losses and regularisers shared by every backbone (MMRec re-implements BPR in 9 files)."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F


def bpr_loss(pos_scores: torch.Tensor, neg_scores: torch.Tensor) -> torch.Tensor:
    """Bayesian personalised ranking: ``mean(-log sigmoid(s+ - s-))``, computed stably."""
    return F.softplus(neg_scores - pos_scores).mean()


def pair_scores(u: torch.Tensor, pos: torch.Tensor, neg: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Row-wise inner products ``(u . pos, u . neg)``: the two scores a BPR loss compares."""
    return (u * pos).sum(1), (u * neg).sum(1)


def bpr_vectors(u: torch.Tensor, pos: torch.Tensor, neg: torch.Tensor) -> torch.Tensor:
    """``bpr_loss`` of the inner products of user rows with their positive and negative item rows."""
    return bpr_loss(*pair_scores(u, pos, neg))


def log2_bpr(pos_scores: torch.Tensor, neg_scores: torch.Tensor) -> torch.Tensor:
    """``-mean(log2 sigmoid(s+ - s-))`` = ``bpr_loss / ln 2``: DualGNN and DRAGON use base-2 logs."""
    return bpr_loss(pos_scores, neg_scores) / math.log(2.0)


def emb_norm_reg(*tensors: torch.Tensor, squared: bool = False) -> torch.Tensor:
    """MMRec's EmbLoss: sum of Frobenius norms / the first tensor's rows (``squared`` sums squared norms).

    RecBole's EmbLoss divides by the last tensor's rows: the same for batch-sized tensors, a constant factor on the
    weight for BM3's full user and item matrices (docs/BACKBONES.md)."""
    batch = tensors[0].shape[0]
    if squared:
        return sum(t.pow(2).sum() for t in tensors) / batch
    return sum(torch.linalg.norm(t) for t in tensors) / batch


def l2_reg(*tensors: torch.Tensor) -> torch.Tensor:
    """``0.5 * sum ||x||^2 / batch``: the L2 term LATTICE and MGCN use."""
    return 0.5 * emb_norm_reg(*tensors, squared=True)


def mean_square(x: torch.Tensor) -> torch.Tensor:
    """``(x ** 2).mean()`` over all entries: MMRec's regulariser in MMGCN, GRCN, DualGNN and DRAGON."""
    return emb_norm_reg(x.reshape(x.shape[0], -1), squared=True) / max(1, x[0].numel())


def neg_cosine(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """``mean(1 - cos(a_i, b_i))``: BM3's BYOL-style alignment (pass a detached target as ``b``)."""
    return (1.0 - F.cosine_similarity(a, b, dim=-1)).mean()


def uniformity(x: torch.Tensor, t: float = 2.0) -> torch.Tensor:
    """``log mean exp(-t |a - b|^2)`` over pairs of distinct unit rows of ``x`` (Wang and Isola, 2020): smallest
    when the vectors spread over the sphere, 0 when they all point one way. It pushes apart what no negative
    sampling does in BYOL-style losses."""
    z = F.normalize(x, dim=-1)
    return torch.pdist(z).pow(2).mul(-t).exp().mean().log()


def info_nce(anchor: torch.Tensor, candidates: torch.Tensor, temperature: float = 0.2,
             target: torch.Tensor | None = None, reduction: str = "mean") -> torch.Tensor:
    """InfoNCE on cosine similarities: row i of ``anchor`` should match ``candidates[target[i]]``
    against every other candidate row.

    ``target=None`` is the in-batch form (row i matches row i; SLMRec, MGCN). LGMRec passes all
    users (items) as candidates and sums over the batch (``reduction='sum'``), the scale its small
    default weight (1e-4) assumes. The temperature scales the ``[B, d]`` anchors rather than the
    ``[B, N]`` logits: one large temporary fewer, about 20% faster at batch 2048.
    """
    if target is None:
        target = torch.arange(anchor.shape[0], device=anchor.device)
    logits = (F.normalize(anchor, dim=1) / temperature) @ F.normalize(candidates, dim=1).T
    return F.cross_entropy(logits, target.long(), reduction=reduction)
