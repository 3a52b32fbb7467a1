"""The contract of every registered backbone, in ID and MOTOR mode, through the same item-encoder interface.

One test body for all: the backbone code never knows which encoder it got. Family-specific
tests: test_general_backbones.py, test_feature_backbones.py, test_item_graph_backbones.py,
test_self_supervised_backbones.py; what every multimodal backbone shares:
test_multimodal_backbones.py.
"""

import dataclasses
import typing

import numpy as np
import pytest
import torch

from motor.config import from_dict
from motor.errors import MotorError
from motor.evaluate import Evaluator
from motor.models import BACKBONES
from motor.models import base as models_base
from motor.models.base import Batch, PropagationConfig
from motor.train import TrainConfig, Trainer
from tests.backbone_helpers import NAMES, batch_of, build, make_ctx, make_model

PROPAGATING = [n for n in NAMES if issubclass(BACKBONES[n].Config, PropagationConfig)]


@pytest.mark.parametrize("items", ["id", "motor"])
@pytest.mark.parametrize("name", NAMES)
def test_two_epochs_loss_finite_and_decreasing(tiny, name, items):
    ds, split = tiny
    model = build(ds, split, name, items)
    res = Trainer(TrainConfig(epochs=4, batch_size=64, lr=0.01, seed=1, patience=10)).fit(model, split)
    losses = [h["loss"] for h in res.history]
    assert all(np.isfinite(losses)), losses
    assert losses[-1] < losses[0], losses


@pytest.mark.parametrize("items", ["id", "motor"])
@pytest.mark.parametrize("name", NAMES)
def test_evaluation_is_finite_and_repeatable(tiny, name, items):
    ds, split = tiny
    model = build(ds, split, name, items)
    model.train()  # evaluation must switch to eval mode itself
    ev = Evaluator(split)
    a, b = ev.evaluate(model, "test"), ev.evaluate(model, "test")
    assert all(np.isfinite(v) for v in a.values())
    assert a == b
    with torch.no_grad():
        scores = model.score(model.ranking_state(), torch.arange(split.n_users))
    assert scores.shape == (split.n_users, split.n_items) and torch.isfinite(scores).all()


@pytest.mark.parametrize("name", NAMES)
def test_motor_mode_trains_tokens_and_has_no_item_id_table(tiny, name):
    ds, split = tiny
    model = build(ds, split, name, "motor")
    assert model.items.kind == "motor"
    batch = Batch(torch.from_numpy(split.train.user[:32]), torch.from_numpy(split.train.item[:32]),
                  torch.from_numpy(split.train.item[32:64]))
    model.train()
    sum(model.loss(batch).values()).backward()
    assert model.items.token_table.weight.grad is not None
    assert model.items.token_table.weight.grad.abs().sum() > 0
    per_item = {split.n_items, split.n_users + split.n_items}
    offenders = [n for n, p in model.named_parameters() if p.requires_grad and p.dim() and p.shape[0] in per_item]
    assert not offenders, f"item-indexed parameters in MOTOR mode: {offenders}"


@pytest.mark.parametrize("name", NAMES)
def test_id_mode_uses_the_id_table(tiny, name):
    ds, split = tiny
    model = build(ds, split, name, "id")
    assert model.items.kind == "id" and model.items.weight.shape[0] == split.n_items
    per_item = {split.n_items, split.n_users + split.n_items}
    extra = [n for n, p in model.named_parameters()
             if p.requires_grad and p.dim() and p.shape[0] in per_item and not n.startswith("items.")]
    assert not extra, f"item-indexed parameters outside the item encoder (frozen features must stay frozen): {extra}"
    counts = model.param_counts()
    assert counts["item_side"] == model.items.n_parameters()
    assert counts["trainable_total"] >= counts["item_side"] + counts["user_side"]


@pytest.mark.parametrize("name", NAMES)
def test_tensors_are_parameters_or_buffers_and_negatives_are_read_only_when_drawn(tiny, name):
    """Every tensor a model holds follows ``model.to(device)``; a model that declares
    ``uses_negatives = False`` trains on batches without negatives (``batch.neg`` is None)."""
    ds, split = tiny
    model = build(ds, split, name, "id")
    loose = [f"{m}.{k}" for m, mod in model.named_modules() for k, v in vars(mod).items() if torch.is_tensor(v)]
    assert not loose, f"tensors outside parameters and buffers (they would not move with .to): {loose}"
    assert all(b.layout in (torch.strided, torch.sparse_csr) for b in model.buffers())
    if not model.uses_negatives:
        model.train()
        model.pre_epoch(1, torch.Generator().manual_seed(0))
        terms = model.loss(Batch(torch.from_numpy(split.train.user[:32]), torch.from_numpy(split.train.item[:32])))
        assert torch.isfinite(sum(terms.values()))


@pytest.mark.parametrize("name", NAMES)
def test_every_numeric_setting_is_validated_with_its_range(name):
    """A negative value is wrong for every numeric setting of every backbone (sizes, layer counts, weights,
    temperatures, rates): it is refused with the valid range in the message, not silently used."""
    cls = BACKBONES[name]
    hints = typing.get_type_hints(cls.Config)
    numeric = [f.name for f in dataclasses.fields(cls.Config) if hints[f.name] in (int, float)]
    assert "embedding_dim" in numeric
    for key in numeric:
        with pytest.raises(MotorError, match=rf"{key} must be in [\[(].*, got -1"):
            from_dict(cls.Config, {key: -1})
    from_dict(cls.Config, {})  # the defaults are valid


@pytest.mark.parametrize("name", NAMES)
def test_every_backbone_describes_itself_in_its_first_docstring_line(name):
    """The app shows the first line of the class docstring under the backbone picker."""
    doc = BACKBONES[name].__dict__.get("__doc__") or ""
    first = doc.strip().splitlines()[0] if doc.strip() else ""
    assert first.endswith(".") and 30 <= len(first) <= 110, first


@pytest.mark.parametrize("name", NAMES)
def test_user_side_counts_exactly_the_user_indexed_parameters(tiny, name):
    ds, split = tiny
    model = build(ds, split, name, "id")
    counts = model.param_counts()
    user_indexed = sum(p.numel() for p in model.parameters() if p.requires_grad and p.shape[0] == split.n_users)
    assert counts["user_side"] == user_indexed > 0
    assert counts["item_side"] + counts["user_side"] + counts["other"] == counts["trainable_total"]


def test_the_backbones_without_a_cold_path_setting_are_those_that_do_not_propagate_item_vectors():
    assert sorted(set(NAMES) - set(PROPAGATING)) == ["bpr", "mmgcn", "vbpr"]  # docs/BACKBONES.md, cold items


@pytest.mark.parametrize("name", PROPAGATING)
def test_cold_path_is_taken_in_training_with_one_draw_for_every_view(name, monkeypatch):
    """Every backbone with ``cold_dropout`` sends the dropped items through the cold path in training, and in one
    training step every view that takes it (each LightGCN of SLMRec, each modality of DualGNN / DRAGON, LGMRec's
    CGE and MGEs) gets the same mask: an item is dropped in all of them or in none, the state a cold item is in at
    ranking time. A fresh draw per view trained mixed states instead (all three SLMRec views cold together 1 time
    in 1,000 at cold_dropout 0.1). Views that drop no item (BM3's targets keep every item's edges; only items
    without any take the cold path there) do not count."""
    ctx = make_ctx()
    model = make_model(name, ctx, cold_dropout=0.5)
    masks = []
    real = models_base.cold_item_combine

    def spy(combined, ego, cold, scale=1.0):
        masks.append(cold.clone())
        return real(combined, ego, cold, scale)

    monkeypatch.setattr(models_base, "cold_item_combine", spy)
    model.train()
    model.pre_epoch(1, torch.Generator().manual_seed(0))
    torch.manual_seed(0)
    batch = batch_of(ctx)
    if not model.uses_negatives:
        batch.neg = None
    model.loss(batch)
    isolated = model.item_degree == 0
    dropping = [m for m in masks if bool((m & ~isolated).any())]
    assert dropping, f"{name} never took the cold path in training"
    assert all(torch.equal(m, dropping[0]) for m in dropping), [m.nonzero().flatten().tolist() for m in dropping]
    assert 0 < int(dropping[0].sum()) < ctx.n_items
