"""Model-specific tests for VBPR, MMGCN, GRCN, DualGNN, DRAGON and the user-user graph.

The contract every backbone shares is in test_backbones.py; these check what is particular
to each of these models (frozen features, trained MMGCN IDs, single-modality runs, the
automatically built user-user graph, repeatable scores).
"""

import math

import numpy as np
import pytest
import torch

from motor.config import from_dict
from motor.encoders.id_table import IdEmbedding
from motor.evaluate import Evaluator
from motor.models import get_backbone
from motor.models.base import Batch, ModelContext
from motor.graph import modality_weights, spmm, transpose_csr
from motor.models.grcn import BipartiteEdges, edge_dot, segment_softmax, to_items, to_users
from motor.user_graph import build_user_graph, clear_memory_cache, cooccurrence_topk, graph_key

GROUP = ["vbpr", "mmgcn", "grcn", "dualgnn", "dragon"]


def make_ctx(n_users=12, n_items=20, per_user=6, dims=None, seed=0, cache_dir=None):
    dims = {"image": 10, "text": 6} if dims is None else dims
    rng = np.random.default_rng(seed)
    users, items = [], []
    for u in range(n_users):
        chosen = rng.choice(n_items, per_user, replace=False)
        users += [u] * per_user
        items += list(chosen)
    feats = {m: rng.normal(size=(n_items, d)).astype(np.float32) for m, d in dims.items()}
    return ModelContext.build(n_users, n_items, np.array(users), np.array(items), feats, cache_dir)


def make_model(name, ctx=None, **cfg):
    ctx = ctx or make_ctx()
    cls = get_backbone(name)
    torch.manual_seed(0)
    return cls(ctx, from_dict(cls.Config, cfg), lambda d: IdEmbedding(ctx.n_items, d))


def batch_of(ctx, n=16, seed=0):
    g = torch.Generator().manual_seed(seed)
    rows = torch.randint(0, ctx.train_user.numel(), (n,), generator=g)
    return Batch(ctx.train_user[rows], ctx.train_item[rows], torch.randint(0, ctx.n_items, (n,), generator=g))


def step(model, batch, lr=0.05):
    opt = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=lr)
    model.train()
    opt.zero_grad()
    loss = sum(model.loss(batch).values())
    loss.backward()
    opt.step()
    return loss


# --- VBPR ---------------------------------------------------------------------------------------


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
    model = make_model("vbpr", ctx)
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


# --- MMGCN --------------------------------------------------------------------------------------


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


# --- single modality ----------------------------------------------------------------------------


@pytest.mark.parametrize("modality", ["image", "text"])
@pytest.mark.parametrize("name", GROUP)
def test_single_modality(name, modality):
    ctx = make_ctx(dims={modality: 8})
    model = make_model(name, ctx)
    loss = step(model, batch_of(ctx))
    assert torch.isfinite(loss)
    model.eval()
    with torch.no_grad():
        scores = model.score(model.ranking_state(), torch.arange(ctx.n_users))
    assert scores.shape == (ctx.n_users, ctx.n_items) and torch.isfinite(scores).all()


def test_three_modalities():
    ctx = make_ctx(dims={"image": 8, "text": 5, "audio": 3})
    for name in GROUP:
        model = make_model(name, ctx)
        assert torch.isfinite(step(model, batch_of(ctx)))


# --- GRCN ---------------------------------------------------------------------------------------


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


# --- DRAGON -------------------------------------------------------------------------------------


def test_dragon_modality_weights():
    mm = {"image": 0.1, "text": 0.9}
    assert modality_weights(["image", "text"], mm) == pytest.approx(mm)
    assert modality_weights(["text"], {"image": 0.1, "text": 0.9}) == {"text": 1.0}
    assert modality_weights(["image"], {"image": 0.1, "text": 0.9}) == {"image": 1.0}
    w = modality_weights(["image", "text", "audio"], {"image": 0.1, "text": 0.9})
    assert w == pytest.approx({"image": 0.1 / 1.5, "text": 0.9 / 1.5, "audio": 0.5 / 1.5})
    assert modality_weights(["audio"], {"image": 0.1, "text": 0.9}) == {"audio": 1.0}
    assert modality_weights(["image", "text"], {"image": 0.0, "text": 0.0}) == {"image": 0.5, "text": 0.5}
    assert sum(w.values()) == pytest.approx(1.0)


def test_dragon_concatenates_modalities_and_uses_the_item_graph():
    ctx = make_ctx()
    model = make_model("dragon", ctx)
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


# --- DualGNN / DRAGON: where the item encoder enters, repeatable scores ----------------------


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


# --- user-user graph ----------------------------------------------------------------------------


def tiny_edges():
    # user 0: items 0 1 2 3; user 1: 0 1 2 (3 shared with 0); user 2: 0 (1 shared with 0 and 1)
    # user 3: 2 3 9 (2 shared with 0, 1 with 1); user 4: 7 (shares nothing)
    rows = [(0, 0), (0, 1), (0, 2), (0, 3), (1, 0), (1, 1), (1, 2), (2, 0), (3, 2), (3, 3), (3, 9), (4, 7)]
    u, i = zip(*rows)
    return torch.tensor(u), torch.tensor(i)


def test_user_graph_neighbours_are_the_most_co_interacting_users():
    u, i = tiny_edges()
    nbrs, counts = cooccurrence_topk(u, i, 5, 10, k=2)
    assert nbrs.tolist() == [[1, 3], [0, 2], [0, 1], [0, 1], [-1, -1]]
    assert counts.tolist() == [[3, 2], [3, 1], [1, 1], [2, 1], [0, 0]]
    # against a brute-force dense count
    R = torch.zeros(5, 10)
    R[u, i] = 1
    C = R @ R.T
    C.fill_diagonal_(0)
    for user in range(5):
        for v, c in zip(nbrs[user].tolist(), counts[user].tolist()):
            if v >= 0:
                assert C[user, v] == c
    # k larger than the number of other users: capped at U - 1, missing slots padded with -1
    nbrs, counts = cooccurrence_topk(u, i, 5, 10, k=40)
    assert nbrs.shape == (5, 4)
    assert nbrs[0].tolist() == [1, 3, 2, -1] and nbrs[4].tolist() == [-1, -1, -1, -1]


def test_user_graph_matches_dense_reference_with_ties():
    ctx = make_ctx(n_users=40, n_items=15, per_user=4, seed=3)  # small catalogue: many equal counts
    nbrs, counts = cooccurrence_topk(ctx.train_user, ctx.train_item, 40, 15, k=6)
    R = torch.zeros(40, 15)
    R[ctx.train_user, ctx.train_item] = 1
    C = (R @ R.T).fill_diagonal_(0).long()
    for u in range(40):
        expected = sorted((v for v in range(40) if C[u, v] > 0), key=lambda v: (-C[u, v].item(), v))[:6]
        expected += [-1] * (6 - len(expected))
        assert nbrs[u].tolist() == expected
        assert counts[u].tolist() == [float(C[u, v]) if v >= 0 else 0.0 for v in expected]


def test_user_graph_adjacency_weights():
    u, i = tiny_edges()
    g = build_user_graph(u, i, 5, 10, k=2, use_memory=False)
    W = g.adjacency("softmax").to_dense()
    assert W[0, 1] == pytest.approx(math.exp(3) / (math.exp(3) + math.exp(2)))
    assert W[0, 3] == pytest.approx(math.exp(2) / (math.exp(3) + math.exp(2)))
    assert W[4].abs().sum() == 0  # no co-interacting user: nothing to aggregate
    assert torch.allclose(W[:4].sum(1), torch.ones(4))
    M = g.adjacency("mean").to_dense()
    assert M[2, 0] == pytest.approx(0.5) and M[2, 1] == pytest.approx(0.5)


def test_user_graph_resampling_is_reproducible_and_only_pads():
    u, i = tiny_edges()
    g = build_user_graph(u, i, 5, 10, k=4, use_memory=False)  # user 1 has 3 neighbours, user 2 has 2
    a = g.adjacency("mean", "resample", torch.Generator().manual_seed(7)).to_dense()
    b = g.adjacency("mean", "resample", torch.Generator().manual_seed(7)).to_dense()
    assert torch.equal(a, b)
    masked = g.adjacency("mean", "mask").to_dense()
    support = masked > 0
    assert torch.equal(a > 0, support)  # padding only repeats real neighbours
    assert torch.allclose(a[:4].sum(1), torch.ones(4))


def test_user_graph_cache(tmp_path):
    clear_memory_cache()
    u, i = tiny_edges()
    first = build_user_graph(u, i, 5, 10, k=2, cache_dir=tmp_path)
    assert not first.from_cache
    assert len(list(tmp_path.glob("user_graph_*.npz"))) == 1
    again = build_user_graph(u, i, 5, 10, k=2, cache_dir=tmp_path)
    assert again.from_cache and again.key == first.key
    from_disk = build_user_graph(u, i, 5, 10, k=2, cache_dir=tmp_path, use_memory=False)
    assert from_disk.from_cache
    assert torch.equal(from_disk.neighbours, first.neighbours) and torch.equal(from_disk.counts, first.counts)
    # edge order and duplicates do not change the key; edges, sizes and k do
    perm = torch.randperm(u.numel())
    assert graph_key(torch.cat([u[perm], u[:1]]), torch.cat([i[perm], i[:1]]), 5, 10, 2) == first.key
    changed = build_user_graph(torch.cat([u, torch.tensor([4])]), torch.cat([i, torch.tensor([0])]), 5, 10, k=2,
                               cache_dir=tmp_path)
    assert changed.key != first.key and not changed.from_cache
    assert graph_key(u, i, 5, 10, 3) != first.key
    assert graph_key(u, i, 6, 10, 2) != first.key
    assert len(list(tmp_path.glob("user_graph_*.npz"))) == 2
    # user 4 now shares item 0 with users 0, 1 and 2
    assert changed.neighbours[4, 0].item() == 0


def test_user_graph_blocks_match_one_block(monkeypatch):
    import motor.user_graph as ug

    ctx = make_ctx(n_users=50, n_items=30, per_user=5)
    full = cooccurrence_topk(ctx.train_user, ctx.train_item, 50, 30, k=7)
    monkeypatch.setattr(ug, "_BLOCK_WORK", 40)  # a few users per block
    assert len(ug._blocks(ctx.train_user, ctx.train_item, 50, 30)) > 5
    blocked = cooccurrence_topk(ctx.train_user, ctx.train_item, 50, 30, k=7)
    assert torch.equal(full[0], blocked[0]) and torch.equal(full[1], blocked[1])


def test_models_use_the_cached_user_graph(tmp_path):
    clear_memory_cache()
    ctx = make_ctx(cache_dir=tmp_path)
    a = make_model("dualgnn", ctx)
    b = make_model("dragon", ctx)
    assert not a.user_graph.from_cache and b.user_graph.from_cache
    assert a.user_graph.key == b.user_graph.key


def test_fixed_sparse_gradient_matches_dense():
    dense = torch.tensor([[0.0, 2.0, 0.0], [1.0, 0.0, 3.0]], dtype=torch.float64)
    adj = dense.to_sparse_csr()
    adj_t = transpose_csr(adj)
    x = torch.randn(3, 4, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda x: spmm(adj, x, adj_t), (x,))
    assert torch.allclose(spmm(adj, x, adj_t), dense @ x)
