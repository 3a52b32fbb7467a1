"""Self-supervised and contrastive backbones: BM3 (no negatives, BYOL-style targets), LGMRec
(hypergraph contrast) and SLMRec (cross-view contrast, covered by the shared multimodal tests)."""

import numpy as np
import pytest
import torch

from motor.models.base import Batch
from motor.train import TrainConfig, Trainer
from tests.backbone_helpers import build, first_batch, make_ctx, make_model, scores

# --- BM3 ------------------------------------------------------------------------------------------


def test_bm3_ignores_negatives_and_trains(tiny):
    ds, split = tiny
    model = build(ds, split, "bm3")
    assert type(model).uses_negatives is False
    batch = first_batch(split)
    model.train()
    torch.manual_seed(0)
    a = model.loss(batch)
    torch.manual_seed(0)
    b = model.loss(Batch(batch.user, batch.pos, torch.zeros_like(batch.neg)))
    assert {k: v.item() for k, v in a.items()} == {k: v.item() for k, v in b.items()}
    assert "bpr" not in a
    res = Trainer(TrainConfig(epochs=4, batch_size=64, lr=0.01, seed=1)).fit(build(ds, split, "bm3"), split)
    losses = [h["loss"] for h in res.history]
    assert np.isfinite(losses).all() and losses[-1] < losses[0]


@pytest.mark.parametrize("items", ["id", "motor"])
def test_bm3_retrieval_vectors_reproduce_scores(tiny, items):
    ds, split = tiny
    model = build(ds, split, "bm3", items)
    s = scores(model, split)
    with torch.no_grad():
        u, i = model.retrieval_vectors()
        torch.testing.assert_close(u @ i.T, s)
        eu, ei = model.embeddings()
        assert not torch.allclose(eu @ ei.T, s)  # the predictor is part of the score
        torch.testing.assert_close(u, model.predictor(eu))


@pytest.mark.parametrize("items", ["id", "motor"])
def test_bm3_uniformity_term_is_off_by_default_and_names_itself_as_the_remedy(tiny, items):
    ds, split = tiny
    batch = first_batch(split)
    off = build(ds, split, "bm3", items)
    off.train()
    assert "uniformity" not in off.loss(batch) and "uniformity_weight=0.2" in off.collapse_remedy()
    on = build(ds, split, "bm3", items, model={"uniformity_weight": 0.2})
    on.train()
    terms = on.loss(batch)
    assert terms["uniformity"].item() < 0 and on.collapse_remedy() is None  # log mean exp(-2 d^2) < 0 unless collapsed
    sum(terms.values()).backward()
    assert all(p.grad is not None for p in on.items.parameters() if p.requires_grad)


# --- LGMRec ---------------------------------------------------------------------------------------


def test_lgmrec_single_modality_has_no_contrast_term(text_only):
    ds, split = text_only
    model = build(ds, split, "lgmrec")
    model.train()
    assert model.loss(first_batch(split))["hcl"].item() == 0.0


def test_lgmrec_contrast_equals_the_plain_sum_over_batch_rows(tiny):
    from itertools import combinations

    from motor.losses import info_nce

    ds, split = tiny
    model = build(ds, split, "lgmrec")
    model.eval()  # deterministic hyperedges
    batch = first_batch(split)
    with torch.no_grad():
        _, _, parts = model._forward()
        ref = sum(info_nce(ua[batch.user], ub, 0.2, batch.user, "sum")
                  + info_nce(ia[batch.pos], ib, 0.2, batch.pos, "sum")
                  for (ua, ia), (ub, ib) in combinations(parts, 2))
        got = model.loss(batch)["hcl"] / model.cfg.cl_weight
    assert batch.user.unique().numel() < batch.user.numel()
    torch.testing.assert_close(got, ref)


def test_bm3_dropped_items_take_the_cold_path_online_while_their_targets_keep_their_edges():
    """With the cold path's item dropout, BM3's online item vectors of the dropped items are their cold path, and
    the targets the loss aligns with are the items' vectors with every edge (the dropped vectors as their own targets
    cost BM3 with MOTOR 5% of its warm Recall@20 on the demo: docs/BACKBONES.md)."""
    ctx = make_ctx()
    model = make_model("bm3", ctx, cold_dropout=0.5)
    model.train()
    torch.manual_seed(1)
    _, online, full = model._training_views()
    dropped = (online - full).abs().sum(1) > 0
    assert 0 < int(dropped.sum()) < ctx.n_items
    model.cfg.cold_dropout = 0.0
    torch.testing.assert_close(model._training_views()[1], full)  # the targets' items: as if nothing were dropped
    model.cfg.cold_dropout = 0.5

    seen = []
    real = model._target
    model._target = lambda x: seen.append(x.detach().clone()) or real(x)
    batch = Batch(torch.arange(8) % ctx.n_users, torch.nonzero(dropped).flatten()[:1].repeat(8), None)
    torch.manual_seed(1)
    model.loss(batch)
    torch.testing.assert_close(seen[1], full[batch.pos])  # the positive items' targets: the full vectors
    assert not torch.allclose(seen[1], online[batch.pos])
