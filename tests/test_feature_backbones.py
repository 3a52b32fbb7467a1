"""Backbones that build items from content through per-modality layers: VBPR (a projection next to
the item vector), MMGCN, GRCN, DualGNN and DRAGON (one graph network per modality).

The contract every backbone shares is in test_backbones.py and what every multimodal backbone
shares in test_multimodal_backbones.py; these check what is particular to each of these models.
"""

import pytest
import torch

from motor.evaluate import Evaluator
from motor.models.base import Batch
from motor.models.grcn import BipartiteEdges, edge_dot, segment_softmax, to_items, to_users
from tests.backbone_helpers import batch_of, make_ctx, make_model, step

# --- VBPR -----------------------------------------------------------------------------------------


def test_vbpr_projection_learns_and_features_stay_frozen():
    ctx = make_ctx()
    model = make_model("vbpr", ctx)
    names = {n for n, _ in model.named_parameters()}
    assert not any(n.startswith("features.") for n in names), names
    before = {m: model.features[m].clone() for m in model.features.names}
    w0 = model.feature_proj.weight.detach().clone()
    model.train()
    sum(model.loss(batch_of(ctx)).values()).backward()
    assert model.feature_proj.weight.grad is not None and model.feature_proj.weight.grad.abs().sum() > 0
    assert model.items.weight.grad.abs().sum() > 0
    step(model, batch_of(ctx))
    assert not torch.equal(model.feature_proj.weight, w0)
    for m in model.features.names:
        assert not model.features[m].requires_grad
        assert torch.equal(model.features[m], before[m])
        assert torch.equal(model.features[m], ctx.features[m])
    # frozen features are not saved in checkpoints and not counted as trainable
    assert not any(k.startswith("features.") for k in model.state_dict())
    assert model.param_counts()["trainable_total"] == sum(p.numel() for p in model.parameters())


def test_vbpr_features_become_trainable_when_unfrozen():
    ctx = make_ctx()
    original = {m: ctx.features[m].clone() for m in ctx.features}
    model = make_model("vbpr", ctx, freeze_features=False)
    params = dict(model.named_parameters())
    assert sorted(n for n in params if n.startswith("features.")) == ["features.feat_image", "features.feat_text"]
    step(model, batch_of(ctx))
    for m in ("image", "text"):
        assert model.features[m].requires_grad
        assert not torch.equal(model.features[m].detach(), original[m]), f"{m} features did not train"
        assert torch.equal(ctx.features[m], original[m]), "the context's features must not be modified"


def test_vbpr_item_vector_is_encoder_then_projection_text_first():
    ctx = make_ctx()
    model = make_model("vbpr", ctx, feature_norm="none", content_bias=False)  # MMRec's simplified VBPR
    assert model.order == ["text", "image"]
    with torch.no_grad():
        users, items = model.embeddings()
        raw = torch.cat([ctx.features["text"], ctx.features["image"]], dim=1)
        expected = torch.cat([model.items(), model.feature_proj(raw)], dim=1)
    assert users.shape == (ctx.n_users, 128) and items.shape == (ctx.n_items, 128)
    assert torch.allclose(items, expected, atol=1e-5)
    # small and large batches (gather path and project-all path) give the same loss
    model.eval()
    b = batch_of(ctx, n=4)
    big = Batch(b.user.repeat(10), b.pos.repeat(10), b.neg.repeat(10))
    with torch.no_grad():
        assert torch.allclose(model.loss(b)["bpr"], model.loss(big)["bpr"], atol=1e-6)


def test_vbpr_default_normalises_features_and_adds_the_content_bias():
    ctx = make_ctx()
    ctx.features["image"].mul_(18.0)  # a modality of much larger norm (EfficientNet vs MiniLM)
    model = make_model("vbpr", ctx)
    with torch.no_grad():
        model.content_bias.weight.normal_()
        users, items = model.embeddings()
        unit = torch.cat([torch.nn.functional.normalize(ctx.features[m], dim=1) for m in ("text", "image")], 1)
        assert users.shape == (ctx.n_users, 129) and items.shape == (ctx.n_items, 129)
        torch.testing.assert_close(items[:, 64:128], model.feature_proj(unit))  # scale-free projection
        torch.testing.assert_close(items[:, 128], model.content_bias(unit)[:, 0])  # beta' . f_i
        assert torch.all(users[:, 128] == 1)
        scores = users @ items.T
        torch.testing.assert_close(scores, model.user_embedding @ items[:, :128].T + items[:, 128][None, :])
        # the loss sees the bias: it changes the BPR term, and the two batch paths still agree
        model.eval()
        b = batch_of(ctx, n=4)
        big = Batch(b.user.repeat(10), b.pos.repeat(10), b.neg.repeat(10))
        with_bias = model.loss(b)["bpr"]
        torch.testing.assert_close(with_bias, model.loss(big)["bpr"])
        model.content_bias.weight.zero_()
        assert not torch.allclose(with_bias, model.loss(b)["bpr"])


# --- MMGCN ----------------------------------------------------------------------------------------


def test_mmgcn_ids_are_trained_parameters():
    ctx = make_ctx()
    model = make_model("mmgcn", ctx)
    item_w = model.items.weight.detach().clone()
    user_w = model.user_embedding.detach().clone()
    prefs = [p.detach().clone() for p in model.user_preference]
    step(model, batch_of(ctx))
    assert not torch.equal(model.items.weight, item_w), "item encoder (ID table) did not change"
    assert not torch.equal(model.user_embedding, user_w)
    assert all(not torch.equal(p, q) for p, q in zip(model.user_preference, prefs))


def test_mmgcn_projects_only_wide_features():
    ctx = make_ctx(dims={"image": 600, "text": 384})
    model = make_model("mmgcn", ctx)
    assert model.gcn[0].proj is not None and model.gcn[0].in_dim == 256
    assert model.gcn[1].proj is None and model.gcn[1].in_dim == 384
    model_add = make_model("mmgcn", ctx, combine="add")
    model_add.train()
    assert torch.isfinite(sum(model_add.loss(batch_of(ctx)).values()))


# --- GRCN -----------------------------------------------------------------------------------------


def test_grcn_edge_operators_match_dense():
    torch.manual_seed(0)
    U, I = 5, 7
    g = BipartiteEdges(torch.tensor([0, 0, 1, 2, 2, 2, 4, 3]), torch.tensor([1, 2, 0, 3, 6, 1, 5, 5]), U, I)
    p = torch.randn(U, 3, dtype=torch.float64, requires_grad=True)
    f = torch.randn(I, 3, dtype=torch.float64, requires_grad=True)
    v = torch.randn(g.user.numel(), dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda p, f: edge_dot(g, p, f), (p, f))
    assert torch.autograd.gradcheck(lambda v, f: to_users(g, v, f), (v, f))
    assert torch.autograd.gradcheck(lambda v, p: to_items(g, v, p), (v, p))
    dense = torch.zeros(U, I, dtype=torch.float64)
    dense[g.user, g.item] = v.detach()
    assert torch.allclose(to_users(g, v, f), dense @ f)
    assert torch.allclose(to_items(g, v, p), dense.T @ p)
    assert torch.allclose(edge_dot(g, p, f), (p @ f.T)[g.user, g.item])
    sm = segment_softmax(v.detach(), g.user, U)
    assert torch.allclose(torch.zeros(U, dtype=torch.float64).index_add(0, g.user, sm)[[0, 1, 2, 3, 4]],
                          torch.ones(U, dtype=torch.float64))


def test_grcn_item_confidence_comes_from_the_item_encoder():
    ctx = make_ctx()
    model = make_model("grcn", ctx)
    per_node = [n for n, p in model.named_parameters() if p.shape[0] in (ctx.n_items, ctx.n_users + ctx.n_items)
                and not n.startswith("items.")]
    assert not per_node
    assert model.user_confidence.shape == (ctx.n_users, 2)
    model.train()
    sum(model.loss(batch_of(ctx)).values()).backward()
    assert model.item_confidence.weight.grad is not None and model.item_confidence.weight.grad.abs().sum() > 0
    with torch.no_grad():
        users, items = model.embeddings()
    assert users.shape[1] == items.shape[1] == 64 + 2 * 64


# --- DRAGON ---------------------------------------------------------------------------------------


def test_dragon_concatenates_modalities_and_uses_the_item_graph():
    ctx = make_ctx()
    model = make_model("dragon", ctx)
    model.eval()  # in training a random share of items takes the cold path (cold_dropout)
    with torch.no_grad():
        users, items = model.embeddings()
        _, raw_items = model.fuse(model.modality_reps())
    assert users.shape == (ctx.n_users, 128) and items.shape == (ctx.n_items, 128)
    expected = raw_items + torch.sparse.mm(model.mm_adj, raw_items)
    assert torch.allclose(items, expected, atol=1e-6)


def test_dragon_item_graph_is_freedoms_and_counts_the_item_among_its_neighbours():
    ctx = make_ctx()
    model = make_model("dragon", ctx)
    adj = model.mm_adj.to_dense()
    assert adj.diagonal().gt(0).all()  # MMRec ranks the full similarity row: the item is its own neighbour
    torch.testing.assert_close(adj, ctx.fused_item_knn({"image": 0.1, "text": 0.9}, 10).to_dense())
    assert model.mm_adj is ctx.fused_item_knn({"image": 0.1, "text": 0.9}, 10)  # built once per context


# --- DualGNN / DRAGON: where the item encoder enters, repeatable scores ---------------------------


@pytest.mark.parametrize("name", ["dualgnn", "dragon"])
def test_item_encoder_enters_at_layer_zero(name):
    ctx = make_ctx()
    model = make_model(name, ctx)
    model.train()
    sum(model.loss(batch_of(ctx)).values()).backward()
    assert model.items.weight.grad is not None and model.items.weight.grad.abs().sum() > 0
    with torch.no_grad():
        model.eval()
        a = model.embeddings()[1].clone()
        model.items.weight.add_(1.0)
        b = model.embeddings()[1]
    assert not torch.allclose(a, b)


@pytest.mark.parametrize("name,extra", [("dualgnn", {}), ("dragon", {}), ("dualgnn", {"user_padding": "resample"}),
                                        ("dragon", {"user_padding": "resample"}), ("grcn", {}), ("mmgcn", {}),
                                        ("vbpr", {})])
def test_scores_repeatable_and_fresh_after_training(name, extra):
    ctx = make_ctx()
    model = make_model(name, ctx, **extra)
    model.pre_epoch(1, torch.Generator().manual_seed(3))
    step(model, batch_of(ctx))
    model.train()  # the evaluator must switch to eval mode itself

    def scores():
        with torch.no_grad():
            model.eval()
            return model.score(model.ranking_state(), torch.arange(ctx.n_users)).clone()

    s1, s2 = scores(), scores()
    assert torch.equal(s1, s2)
    step(model, batch_of(ctx, seed=1))
    s3 = scores()
    assert not torch.allclose(s1, s3), "evaluation reused representations from before the last step"


def test_evaluator_repeatable_for_dualgnn_and_dragon(tmp_path):
    from motor.data.load import load_dataset
    from motor.data.split import make_split
    from motor.experiment import RunConfig, build_model, model_context
    from tests.conftest import write_simple

    ds = load_dataset(str(write_simple(tmp_path / "d", n_users=24, n_items=31, per_user=9)))
    split = make_split(ds)
    for name in ("dualgnn", "dragon"):
        cfg = RunConfig.from_dict({"backbone": name, "train": {"seed": 1}})
        model = build_model(cfg, model_context(ds, split))
        step(model, Batch(torch.from_numpy(split.train.user[:32]), torch.from_numpy(split.train.item[:32]),
                          torch.from_numpy(split.train.item[32:64])))
        model.train()
        ev = Evaluator(split)
        assert ev.evaluate(model, "test") == ev.evaluate(model, "test")
