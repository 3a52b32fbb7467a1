"""Every registered backbone, in ID and MOTOR mode, through the same item-encoder interface.

One test body for all: the backbone code never knows which encoder it got.
"""

import numpy as np
import pytest
import torch

from motor.data.load import load_dataset
from motor.data.split import make_split
from motor.evaluate import Evaluator
from motor.experiment import RunConfig, build_model, model_context, tokenize
from motor.models import BACKBONES
from motor.train import Trainer, TrainConfig

NAMES = sorted(BACKBONES)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    from tests.conftest import write_simple

    ds = load_dataset(str(write_simple(tmp_path_factory.mktemp("tiny") / "d", n_users=24, n_items=31, per_user=9)))
    split = make_split(ds)
    return ds, split


def build(ds, split, name, items, tmp_path=None):
    cfg = RunConfig.from_dict({"backbone": name, "items": items, "tokenizer": {"m": 2, "k": 4},
                               "motor": {"token_dim": 8, "layers": 1}, "train": {"seed": 1}})
    tok = tokenize(ds, cfg.tokenizer) if items == "motor" else None
    return build_model(cfg, model_context(ds, split, tmp_path), tok)


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
    from motor.models.base import Batch

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
        from motor.models.base import Batch

        model.train()
        model.pre_epoch(1, torch.Generator().manual_seed(0))
        terms = model.loss(Batch(torch.from_numpy(split.train.user[:32]), torch.from_numpy(split.train.item[:32])))
        assert torch.isfinite(sum(terms.values()))
