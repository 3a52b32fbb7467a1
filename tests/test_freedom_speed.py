"""FREEDOM's loss gathers positives and negatives in one pass; it must give the loss and gradients of
the plain computation (rows gathered one by one), on both projection paths."""

import pytest
import torch

from motor.losses import bpr_vectors
from motor.models.base import Batch
from tests.backbone_helpers import make_ctx, make_model


def plain_loss(model, batch: Batch) -> torch.Tensor:
    users, items = model._forward("train_adj" if model.train_adj is not None else "full_adj")
    u, pos, neg = users[batch.user], items[batch.pos], items[batch.neg]
    modal = sum(bpr_vectors(u, model.proj[m](f)[batch.pos], model.proj[m](f)[batch.neg])
                for m, f in model.features.items())
    return bpr_vectors(u, pos, neg) + model.cfg.modality_loss_weight * modal


@pytest.mark.parametrize("n_rows", [3, 40])  # few distinct items (their rows projected), many (every item)
def test_loss_and_gradients_match_the_plain_computation(n_rows):
    ctx = make_ctx(n_users=12, n_items=20)
    model = make_model("freedom", ctx, modality_loss_weight=0.5, cold_dropout=0.0)
    model.eval()  # no random cold-path rows, so both computations see the same forward
    g = torch.Generator().manual_seed(n_rows)
    batch = Batch(torch.randint(0, 12, (n_rows,), generator=g), torch.randint(0, 20, (n_rows,), generator=g),
                  torch.randint(0, 20, (n_rows,), generator=g))
    names, params = zip(*[(n, p) for n, p in model.named_parameters() if p.requires_grad])
    got = sum(model.loss(batch).values())
    want = plain_loss(model, batch)  # the same weights (the sparse graphs cannot be deep-copied)
    torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-7)
    grads = torch.autograd.grad(got, params, allow_unused=True)
    wanted = torch.autograd.grad(want, params, allow_unused=True)
    for name, a, b in zip(names, grads, wanted):
        assert (a is None) == (b is None), name
        if a is not None:
            torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-7, msg=name)
