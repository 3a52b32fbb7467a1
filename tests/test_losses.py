"""Losses and regularisers shared by the backbones (``motor.losses``), against textbook forms."""

import math

import torch

from motor.losses import (
    bpr_loss,
    bpr_vectors,
    emb_norm_reg,
    info_nce,
    l2_reg,
    log2_bpr,
    mean_square,
    pair_scores,
    uniformity,
)


def test_info_nce_variants_agree_with_the_reference():
    from torch.nn.functional import cross_entropy, normalize

    torch.manual_seed(0)
    a, b = torch.randn(33, 8), torch.randn(33, 8)
    reference = cross_entropy(normalize(a, dim=1) @ normalize(b, dim=1).T / 0.2, torch.arange(33))  # the textbook form
    torch.testing.assert_close(info_nce(a, b, 0.2), reference)
    allb = torch.randn(50, 8)
    idx = torch.randint(0, 50, (33,))
    allb[idx] = b
    ref = -torch.log_softmax(torch.nn.functional.normalize(a, dim=1) @ torch.nn.functional.normalize(allb, dim=1).T
                             / 0.3, dim=1)[torch.arange(33), idx]
    torch.testing.assert_close(info_nce(a, allb, 0.3, idx, "sum"), ref.sum())


def test_bpr_forms_agree_with_the_textbook_formula():
    torch.manual_seed(0)
    u, pos, neg = torch.randn(20, 6), torch.randn(20, 6), torch.randn(20, 6)
    s_pos, s_neg = pair_scores(u, pos, neg)
    torch.testing.assert_close(s_pos, torch.stack([u[i] @ pos[i] for i in range(20)]))
    torch.testing.assert_close(s_neg, torch.stack([u[i] @ neg[i] for i in range(20)]))
    reference = -torch.log(torch.sigmoid(s_pos - s_neg)).mean()
    torch.testing.assert_close(bpr_loss(s_pos, s_neg), reference)
    torch.testing.assert_close(bpr_vectors(u, pos, neg), reference)
    torch.testing.assert_close(log2_bpr(s_pos, s_neg), -torch.log2(torch.sigmoid(s_pos - s_neg)).mean())
    # stable where the naive form overflows: a margin of -200 costs 200, not inf
    big = bpr_loss(torch.tensor([0.0]), torch.tensor([200.0]))
    assert torch.isfinite(big) and math.isclose(big.item(), 200.0, rel_tol=1e-6)


def test_regularisers_against_their_definitions():
    torch.manual_seed(0)
    a, b = torch.randn(8, 3), torch.randn(8, 5)
    torch.testing.assert_close(emb_norm_reg(a, b), (a.norm() + b.norm()) / 8)
    torch.testing.assert_close(emb_norm_reg(a, b, squared=True), (a.pow(2).sum() + b.pow(2).sum()) / 8)
    torch.testing.assert_close(l2_reg(a, b), 0.5 * (a.pow(2).sum() + b.pow(2).sum()) / 8)
    torch.testing.assert_close(mean_square(b), b.pow(2).mean())
    torch.testing.assert_close(mean_square(torch.randn(4, 2, 3).mul(0).add(2.0)), torch.tensor(4.0))


def test_uniformity_is_zero_for_vectors_pointing_one_way_and_lowest_when_they_spread():
    torch.manual_seed(0)
    one_way = torch.randn(1, 8).repeat(20, 1) * torch.rand(20, 1)  # lengths differ, directions do not
    assert abs(uniformity(one_way).item()) < 1e-6
    opposite = torch.tensor([[1.0, 0.0], [-1.0, 0.0]])  # distance 2: log exp(-2 * 4)
    assert math.isclose(uniformity(opposite).item(), -8.0, rel_tol=1e-6)
    spread, clustered = torch.randn(64, 8), torch.randn(64, 8) * 0.1 + 1.0
    assert uniformity(spread) < uniformity(clustered) < 0
    x = clustered.clone().requires_grad_()
    uniformity(x).backward()  # its gradient pushes the rows apart: a step along it lowers the loss
    assert uniformity(clustered - 0.5 * x.grad) < uniformity(clustered)
