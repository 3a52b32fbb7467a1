"""What every multimodal backbone shares: any number of modalities, frozen features by default,
ranking in eval mode from the current weights."""

import copy

import numpy as np
import pytest
import torch

from motor.evaluate import Evaluator
from motor.experiment import RunConfig, build_model, model_context
from motor.train import TrainConfig, Trainer
from tests.backbone_helpers import (
    MULTIMODAL,
    batch_of,
    build,
    first_batch,
    make_ctx,
    make_model,
    scores,
    step,
)

# --- any number of modalities ---------------------------------------------------------------------


@pytest.mark.parametrize("modality", ["image", "text"])
@pytest.mark.parametrize("name", MULTIMODAL)
def test_single_modality_on_a_synthetic_context(name, modality):
    ctx = make_ctx(dims={modality: 8})
    model = make_model(name, ctx)
    loss = step(model, batch_of(ctx))
    assert torch.isfinite(loss)
    model.eval()
    with torch.no_grad():
        scores = model.score(model.ranking_state(), torch.arange(ctx.n_users))
    assert scores.shape == (ctx.n_users, ctx.n_items) and torch.isfinite(scores).all()


@pytest.mark.parametrize("items", ["id", "motor"])
@pytest.mark.parametrize("name", MULTIMODAL)
def test_single_modality_dataset_in_both_modes(text_only, name, items):
    ds, split = text_only
    model = build(ds, split, name, items)
    assert model.features.names == ["text"]
    res = Trainer(TrainConfig(epochs=2, batch_size=64, lr=0.01, seed=1)).fit(model, split)
    assert np.isfinite([h["loss"] for h in res.history]).all()
    s = scores(model, split)
    assert s.shape == (split.n_users, split.n_items) and torch.isfinite(s).all()


def test_three_modalities_on_a_synthetic_context():
    ctx = make_ctx(dims={"image": 8, "text": 5, "audio": 3})
    for name in MULTIMODAL:
        model = make_model(name, ctx)
        assert torch.isfinite(step(model, batch_of(ctx)))


def test_three_modalities_dataset_with_an_added_audio_modality(tiny):
    ds, split = tiny
    for name in MULTIMODAL:
        ctx = model_context(ds, split)
        ctx.features = {**ctx.features, "audio": torch.randn(split.n_items, 3)}
        cfg = RunConfig.from_dict({"backbone": name, "train": {"seed": 1}})
        model = build_model(cfg, ctx)
        model.train()
        model.pre_epoch(1, torch.Generator().manual_seed(0))
        loss = sum(model.loss(first_batch(split)).values())
        assert torch.isfinite(loss), name
        loss.backward()
        assert torch.isfinite(scores(model, split)).all(), name


# --- frozen features ------------------------------------------------------------------------------


@pytest.mark.parametrize("name", MULTIMODAL)
def test_features_frozen_by_default_trainable_on_request(tiny, name):
    ds, split = tiny
    frozen = build(ds, split, name)
    shapes = {tuple(m.features.shape) for m in ds.modalities.values()}
    assert not [n for n, p in frozen.named_parameters() if tuple(p.shape) in shapes]
    buffers = dict(frozen.named_buffers())
    assert all(any(b is not None and tuple(b.shape) == s for b in buffers.values()) for s in shapes)
    assert not [k for k, v in frozen.state_dict().items() if tuple(v.shape) in shapes]  # not saved, not counted
    counts = frozen.param_counts()

    trainable = build(ds, split, name, model={"freeze_features": False})
    params = {n: p for n, p in trainable.named_parameters() if tuple(p.shape) in shapes}
    assert len(params) == len(shapes) and all(p.requires_grad for p in params.values())
    assert trainable.param_counts()["trainable_total"] == counts["trainable_total"] + sum(
        p.numel() for p in params.values())
    trainable.train()
    trainable.pre_epoch(1, torch.Generator().manual_seed(0))
    sum(trainable.loss(first_batch(split)).values()).backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in params.values()), name
    # a reload takes trainable features from the state_dict
    clone = build(ds, split, name, model={"freeze_features": False}, seed=9)
    clone.load_state_dict(copy.deepcopy(trainable.state_dict()))
    torch.testing.assert_close(scores(clone, split), scores(trainable, split))


# --- evaluation mode ------------------------------------------------------------------------------


@pytest.mark.parametrize("name", MULTIMODAL)
def test_ranking_uses_eval_mode_and_current_weights(tiny, name):
    ds, split = tiny
    model = build(ds, split, name, "motor", model={})
    ev = Evaluator(split)
    model.train()
    a = ev.evaluate(model, "test")
    assert not model.training
    b = ev.evaluate(model, "test")
    assert a == b
    before = scores(model, split)
    with torch.no_grad():
        model.items.token_table.weight.add_(torch.randn_like(model.items.token_table.weight))
    assert not torch.allclose(before, scores(model, split))


@pytest.mark.parametrize("name", ["lattice", "freedom", "mgcn", "dragon"])
def test_kNN_backbones_train_with_a_partly_missing_modality(name):
    """Items without a poster (``ctx.present``) take part in training; in LATTICE's learned graph they
    keep their self-loop only, as in the frozen graphs."""
    from tests.backbone_helpers import batch_of, step

    ctx = make_ctx(n_items=20)
    present = torch.ones(20, dtype=torch.bool)
    present[[1, 4, 7]] = False
    ctx.features["image"][~present] = ctx.features["image"][present].mean(0)
    ctx.present = {"image": present}
    model = make_model(name, ctx)
    before = [p.detach().clone() for p in model.parameters()]
    step(model, batch_of(ctx))
    assert any(not torch.equal(b, p) for b, p in zip(before, model.parameters()))
    with torch.no_grad():
        users, items = model.embeddings()
    assert torch.isfinite(items).all() and items.shape[0] == 20
    if name == "lattice":
        from motor.graph import learned_knn_dense

        with torch.no_grad():
            learned, _ = model.item_graph()  # dense below dense_max_items: image part + text part
            text = learned_knn_dense(model.proj["text"](model.features["text"]), model.cfg.knn_k)

        def nbrs(graph, i):
            return set(torch.nonzero(graph[i]).flatten().tolist())

        for i in (1, 4, 7):  # no poster: the image part adds only the self-loop
            assert nbrs(learned, i) <= nbrs(text, i) | {i}
        for i in (0, 2, 3):  # with a poster: the image part links to no posterless item
            assert not (nbrs(learned, i) - nbrs(text, i)) & {1, 4, 7}
