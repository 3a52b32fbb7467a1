"""VBPR's loss takes shortcuts for speed (one gather for positives and negatives, EmbLoss from per-row
norms); they must give the loss and gradients of the plain computation, on both of its paths."""

import copy

import pytest
import torch

from motor.losses import bpr_vectors, emb_norm_reg
from motor.models.base import Batch
from tests.backbone_helpers import make_ctx, make_model


def plain_loss(model, batch: Batch) -> torch.Tensor:
    """The published form: gather every row, score (content bias included), EmbLoss on the gathered rows."""
    u = model.user_embedding[batch.user]
    (pos, b_pos), (neg, b_neg) = model.item_parts(batch.pos), model.item_parts(batch.neg)
    one = torch.ones_like(b_pos)
    bpr = bpr_vectors(torch.cat([u, one], 1), torch.cat([pos, b_pos], 1), torch.cat([neg, b_neg], 1))
    return bpr + model.cfg.reg_weight * emb_norm_reg(u, pos, neg)


@pytest.mark.parametrize("n_rows", [6, 40])  # 2B < n_items (batch items only), 2B >= n_items (every item once)
def test_loss_and_gradients_match_the_plain_computation(n_rows):
    ctx = make_ctx(n_users=12, n_items=20)
    model = make_model("vbpr", ctx, reg_weight=0.5)  # a large weight, so the regulariser's gradient counts
    with torch.no_grad():
        model.content_bias.weight.normal_()  # a trained, non-zero content bias
    g = torch.Generator().manual_seed(n_rows)
    batch = Batch(torch.randint(0, 12, (n_rows,), generator=g), torch.randint(0, 20, (n_rows,), generator=g),
                  torch.randint(0, 20, (n_rows,), generator=g))
    batch.pos[:3] = 7  # repeated items, as in real batches
    ref = copy.deepcopy(model)
    got = sum(model.loss(batch).values())
    want = plain_loss(ref, batch)
    torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-7)
    got.backward()
    want.backward()
    for (name, a), b in zip(model.named_parameters(), ref.parameters()):
        if a.requires_grad:
            torch.testing.assert_close(a.grad, b.grad, rtol=1e-4, atol=1e-7, msg=name)
