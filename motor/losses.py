"""Losses and regularisers shared by every backbone (MMRec re-implements BPR in 9 files)."""

from __future__ import annotations

import torch
import torch.nn.functional as F


def bpr_loss(pos_scores: torch.Tensor, neg_scores: torch.Tensor) -> torch.Tensor:
    """Bayesian personalised ranking: ``mean(-log sigmoid(s+ - s-))``, computed stably."""
    return F.softplus(neg_scores - pos_scores).mean()


def emb_norm_reg(*tensors: torch.Tensor, squared: bool = False) -> torch.Tensor:
    """MMRec's EmbLoss: sum of Frobenius norms / batch size (``squared`` sums squared norms)."""
    batch = tensors[0].shape[0]
    if squared:
        return sum(t.pow(2).sum() for t in tensors) / batch
    return sum(torch.linalg.norm(t) for t in tensors) / batch


def l2_reg(*tensors: torch.Tensor) -> torch.Tensor:
    """``0.5 * sum ||x||^2 / batch``: the L2 term LATTICE and MGCN use."""
    return 0.5 * sum(t.pow(2).sum() for t in tensors) / tensors[0].shape[0]


def info_nce(a: torch.Tensor, b: torch.Tensor, temperature: float = 0.2) -> torch.Tensor:
    """In-batch InfoNCE: row i of ``a`` should match row i of ``b`` against the other rows."""
    a, b = F.normalize(a, dim=1), F.normalize(b, dim=1)
    logits = a @ b.T / temperature
    return F.cross_entropy(logits, torch.arange(a.shape[0], device=a.device))
