"""Model-specific tests for LATTICE, SLMRec, BM3, FREEDOM, LGMRec and MGCN, and the shared graph
code they added (learned / cached kNN graphs, degree-sensitive pruning, modality weights)."""

import copy

import numpy as np
import pytest
import torch

from motor.data.load import load_dataset
from motor.data.split import make_split
from motor.evaluate import Evaluator
from motor.experiment import RunConfig, build_model, model_context, tokenize
from motor.graph import (degree_sensitive_edge_sample, edge_propagate, fused_knn_adjacency, knn_cache_key,
                         knn_neighbours, learned_knn_dense, learned_knn_edges, modality_weights, sparse_from_edges)
from motor.models.base import Batch
from motor.train import Trainer, TrainConfig

GROUP_B = ["lattice", "slmrec", "bm3", "freedom", "lgmrec", "mgcn"]


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    from tests.conftest import write_simple

    ds = load_dataset(str(write_simple(tmp_path_factory.mktemp("tinyb") / "d", n_users=24, n_items=31, per_user=9)))
    return ds, make_split(ds)


@pytest.fixture(scope="module")
def text_only(tmp_path_factory):
    from tests.conftest import write_simple

    folder = write_simple(tmp_path_factory.mktemp("textonly") / "d", n_users=24, n_items=31, per_user=9)
    (folder / "image.npz").unlink()
    ds = load_dataset(str(folder))
    assert list(ds.modalities) == ["text"]
    return ds, make_split(ds)


def build(ds, split, name, items="id", model=None, cache_dir=None, seed=1):
    cfg = RunConfig.from_dict({"backbone": name, "items": items, "tokenizer": {"m": 2, "k": 4},
                               "motor": {"token_dim": 8, "layers": 1}, "train": {"seed": seed},
                               "model": model or {}})
    tok = tokenize(ds, cfg.tokenizer) if items == "motor" else None
    return build_model(cfg, model_context(ds, split, cache_dir), tok)


def first_batch(split, n=48):
    tr = split.train
    return Batch(torch.from_numpy(tr.user[:n]), torch.from_numpy(tr.item[:n]),
                 torch.from_numpy(np.roll(tr.item, 7)[:n]))


def scores(model, split):
    with torch.no_grad():
        model.eval()
        return model.score(model.ranking_state(), torch.arange(split.n_users))


# --- LATTICE ----------------------------------------------------------------------------------


def test_learned_graph_dense_and_sparse_paths_agree_with_gradients():
    torch.manual_seed(0)
    x = torch.randn(57, 6, requires_grad=True)
    y = torch.randn(57, 3)
    dense = learned_knn_dense(x, 5)
    rows, cols, vals = learned_knn_edges(x, 5, chunk=16)  # several chunks
    assert rows.numel() == 57 * 5
    torch.testing.assert_close(sparse_from_edges(rows, cols, vals, 57).to_dense(), dense.detach())
    (g_dense,) = torch.autograd.grad((dense @ y).pow(2).sum(), x)
    (g_sparse,) = torch.autograd.grad(edge_propagate(rows, cols, vals, y, 57).pow(2).sum(), x)
    torch.testing.assert_close(g_sparse, g_dense)
    assert g_dense.abs().sum() > 0
    # the item is its own first neighbour unless excluded
    assert (rows[::5] == cols[::5]).all()
    r2, c2, _ = learned_knn_edges(x, 5, include_self=False)
    assert not (r2 == c2).any()


def test_lattice_dense_and_sparse_models_agree(tiny):
    ds, split = tiny
    dense = build(ds, split, "lattice", model={"dense_max_items": 10_000})
    sparse = build(ds, split, "lattice", model={"dense_max_items": 0})
    assert dense.dense and not sparse.dense
    assert isinstance(sparse.item_graph()[0], tuple)  # an edge list, no I x I matrix
    torch.testing.assert_close(scores(dense, split), scores(sparse, split), rtol=1e-4, atol=1e-5)
    batch = first_batch(split)
    for m in (dense, sparse):
        m.train()
        m.pre_epoch(1, torch.Generator().manual_seed(0))
    ld, ls = sum(dense.loss(batch).values()), sum(sparse.loss(batch).values())
    torch.testing.assert_close(ld, ls, rtol=1e-5, atol=1e-6)
    ld.backward()
    ls.backward()
    for (n, pd), (_, ps) in zip(dense.named_parameters(), sparse.named_parameters()):
        if pd.grad is not None:
            torch.testing.assert_close(pd.grad, ps.grad, rtol=1e-4, atol=1e-6, msg=n)
    assert dense.modal_weight.grad is not None and dense.modal_weight.grad.abs().sum() > 0


def test_lattice_rebuilds_learned_graph_per_epoch_and_at_ranking(tiny):
    ds, split = tiny
    model = build(ds, split, "lattice")
    batch = first_batch(split)
    model.train()
    model.pre_epoch(1, torch.Generator().manual_seed(0))
    proj = next(model.proj.parameters())
    sum(model.loss(batch).values()).backward()  # first batch of the epoch: graph built with gradients
    assert proj.grad is not None and proj.grad.abs().sum() > 0
    model.zero_grad()
    sum(model.loss(batch).values()).backward()  # later batch: detached reuse
    assert proj.grad is None or proj.grad.abs().sum() == 0
    model.pre_epoch(2, torch.Generator().manual_seed(0))
    model.zero_grad()
    sum(model.loss(batch).values()).backward()
    assert proj.grad.abs().sum() > 0
    # ranking_state follows the current weights (no stale learned graph)
    before = scores(model, split)
    with torch.no_grad():
        for p in model.proj.parameters():
            p.add_(torch.randn_like(p))
    assert not torch.allclose(before, scores(model, split))


def test_lattice_batch_schedule_rebuilds_every_batch(tiny):
    ds, split = tiny
    model = build(ds, split, "lattice", model={"graph_rebuild": "batch"})
    model.train()
    model.pre_epoch(1, torch.Generator().manual_seed(0))
    batch = first_batch(split)
    sum(model.loss(batch).values()).backward()
    model.zero_grad()
    sum(model.loss(batch).values()).backward()
    assert next(model.proj.parameters()).grad.abs().sum() > 0


# --- FREEDOM ----------------------------------------------------------------------------------


def test_degree_sensitive_sampling_fraction_reproducibility_and_bias():
    rng = np.random.default_rng(0)
    users = torch.from_numpy(rng.integers(0, 40, 2000))
    items = torch.from_numpy((rng.pareto(1.0, 2000) * 5).astype(np.int64) % 300)
    kept = degree_sensitive_edge_sample(users, items, 40, 300, 0.2, torch.Generator().manual_seed(3))
    assert kept.numel() == int(2000 * 0.2) and kept.unique().numel() == kept.numel()
    again = degree_sensitive_edge_sample(users, items, 40, 300, 0.2, torch.Generator().manual_seed(3))
    other = degree_sensitive_edge_sample(users, items, 40, 300, 0.2, torch.Generator().manual_seed(4))
    assert torch.equal(kept, again) and not torch.equal(kept, other)
    du, di = torch.bincount(users, minlength=40).float(), torch.bincount(items, minlength=300).float()
    w = du[users].rsqrt() * di[items].rsqrt()
    assert w[kept].mean() > w.mean() * 1.5  # edges between high-degree nodes are pruned more often


def test_freedom_prunes_configured_fraction_reproducibly_and_ranks_on_full_graph(tiny):
    ds, split = tiny
    model = build(ds, split, "freedom", model={"edge_dropout": 0.7})
    n_edges = len(split.train.user)
    full_scores = scores(model, split)
    model.train()
    model.pre_epoch(1, torch.Generator().manual_seed(5))
    kept, adj = model.kept_edges.clone(), model.train_adj
    assert kept.numel() == int(n_edges * (1 - 0.7))
    assert adj._nnz() == 2 * kept.numel() < model.full_adj._nnz()
    batch = first_batch(split)
    loss_a = sum(model.loss(batch).values()).item()
    model.pre_epoch(1, torch.Generator().manual_seed(5))
    assert torch.equal(model.kept_edges, kept)
    assert sum(model.loss(batch).values()).item() == loss_a
    model.pre_epoch(1, torch.Generator().manual_seed(6))
    assert not torch.equal(model.kept_edges, kept)
    assert sum(model.loss(batch).values()).item() != loss_a  # training sees the pruned graph
    torch.testing.assert_close(scores(model, split), full_scores)  # inference: every edge


def test_freedom_trainer_runs_are_reproducible(tiny):
    ds, split = tiny
    results = []
    for _ in range(2):
        model = build(ds, split, "freedom")
        res = Trainer(TrainConfig(epochs=2, batch_size=64, lr=0.01, seed=3)).fit(model, split)
        results.append([h["loss"] for h in res.history])
    assert results[0] == results[1]


def test_modality_weights_generalise_to_any_modalities():
    w = {"image": 0.1, "text": 0.9}
    assert modality_weights(["image", "text"], w) == pytest.approx({"image": 0.1, "text": 0.9})
    assert modality_weights(["text"], w) == pytest.approx({"text": 1.0})
    assert modality_weights(["audio"], w) == pytest.approx({"audio": 1.0})
    three = modality_weights(["image", "text", "audio"], w)
    assert sum(three.values()) == pytest.approx(1.0)
    assert three["audio"] == pytest.approx(0.5 / 1.5) and three["text"] == pytest.approx(0.9 / 1.5)


def test_fused_graph_is_the_weighted_sum_of_modality_graphs():
    torch.manual_seed(0)
    feats = {"image": torch.randn(40, 5), "text": torch.randn(40, 7)}
    fused = fused_knn_adjacency(feats, {"image": 0.1, "text": 0.9}, 4).to_dense()
    img = fused_knn_adjacency({"image": feats["image"]}, None, 4).to_dense()
    txt = fused_knn_adjacency({"text": feats["text"]}, None, 4).to_dense()
    torch.testing.assert_close(fused, 0.1 * img + 0.9 * txt)
    assert torch.allclose(img.sum(), img.T.sum()) and img.diagonal().gt(0).all()  # self is a neighbour


# --- kNN cache (stale-graph defect) ----------------------------------------------------------


def test_knn_cache_key_follows_the_features(tmp_path):
    torch.manual_seed(0)
    f = torch.randn(30, 6)
    key = knn_cache_key(f, 5, True)
    assert knn_cache_key(f.clone(), 5, True) == key
    g = f.clone()
    g[3, 2] += 1e-3
    assert knn_cache_key(g, 5, True) != key
    assert knn_cache_key(f, 6, True) != key and knn_cache_key(f, 5, False) != key

    first = knn_neighbours(f, 5, cache_dir=tmp_path)
    assert len(list(tmp_path.glob("*.npz"))) == 1
    hit = knn_neighbours(f, 5, cache_dir=tmp_path)
    assert all(torch.equal(a, b) for a, b in zip(first, hit)) and len(list(tmp_path.glob("*.npz"))) == 1
    h = f.clone()
    h[7] = f[11] + 1e-4  # item 7 now sits next to item 11
    changed = knn_neighbours(h, 5, cache_dir=tmp_path)
    assert len(list(tmp_path.glob("*.npz"))) == 2
    nbrs7 = changed[1][changed[0] == 7]
    assert 11 in nbrs7.tolist()  # the new features' graph, not the stale one
    assert 11 not in first[1][first[0] == 7].tolist()


def test_models_write_hash_keyed_graph_caches(tiny, tmp_path):
    ds, split = tiny
    build(ds, split, "freedom", cache_dir=tmp_path)
    files = sorted(p.name for p in tmp_path.glob("knnw_*.npz"))
    assert len(files) == 2  # one per modality
    build(ds, split, "mgcn", cache_dir=tmp_path)  # same features and k: cache hits
    assert sorted(p.name for p in tmp_path.glob("knnw_*.npz")) == files


def test_runs_cache_graphs_under_motor_cache_dir_by_default(tiny, tmp_path, monkeypatch):
    from motor.paths import cache_dir
    from motor.user_graph import clear_memory_cache

    clear_memory_cache()  # else a user graph built by an earlier test comes from memory, not written here
    monkeypatch.setenv("MOTOR_CACHE_DIR", str(tmp_path / "root"))
    assert cache_dir("graphs") == tmp_path / "root" / "graphs"
    ds, split = tiny
    assert model_context(ds, split).cache_dir == tmp_path / "root" / "graphs"
    build(ds, split, "dragon")
    graphs = tmp_path / "root" / "graphs"
    assert len(list(graphs.glob("knnw_*.npz"))) == 2 and len(list(graphs.glob("user_graph_*.npz"))) == 1


# --- BM3 --------------------------------------------------------------------------------------


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


# --- single modality --------------------------------------------------------------------------


@pytest.mark.parametrize("items", ["id", "motor"])
@pytest.mark.parametrize("name", GROUP_B)
def test_single_modality(text_only, name, items):
    ds, split = text_only
    model = build(ds, split, name, items)
    assert model.features.names == ["text"]
    res = Trainer(TrainConfig(epochs=2, batch_size=64, lr=0.01, seed=1)).fit(model, split)
    assert np.isfinite([h["loss"] for h in res.history]).all()
    s = scores(model, split)
    assert s.shape == (split.n_users, split.n_items) and torch.isfinite(s).all()


def test_lgmrec_single_modality_has_no_contrast_term(text_only):
    ds, split = text_only
    model = build(ds, split, "lgmrec")
    model.train()
    assert model.loss(first_batch(split))["hcl"].item() == 0.0


def test_three_modalities(tiny):
    ds, split = tiny
    for name in GROUP_B:
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


# --- frozen features --------------------------------------------------------------------------


@pytest.mark.parametrize("name", GROUP_B)
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


# --- evaluation mode --------------------------------------------------------------------------


@pytest.mark.parametrize("name", GROUP_B)
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


# --- fast sparse backward ---------------------------------------------------------------------


@pytest.mark.parametrize("symmetric", [True, False])
def test_spmm_with_precomputed_transpose_matches_torch(symmetric):
    from motor.graph import normalize_edges, spmm, transpose_csr

    torch.manual_seed(0)
    rows, cols, vals = torch.randint(0, 40, (300,)), torch.randint(0, 40, (300,)), torch.rand(300)
    if symmetric:
        rows, cols, vals = torch.cat([rows, cols]), torch.cat([cols, rows]), torch.cat([vals, vals])
    adj = normalize_edges(rows, cols, 40, vals, norm="sym" if symmetric else "row")
    if symmetric:
        torch.testing.assert_close(adj.to_dense(), adj.to_dense().T)
    adj_t = adj if symmetric else transpose_csr(adj)
    x = torch.randn(40, 5, requires_grad=True)
    w = torch.randn(40, 5)
    (g_ref,) = torch.autograd.grad((torch.sparse.mm(adj, x) * w).sum(), x)
    out = spmm(adj, x, adj_t)
    (g,) = torch.autograd.grad((out * w).sum(), x)
    torch.testing.assert_close(out, torch.sparse.mm(adj, x))
    torch.testing.assert_close(g, g_ref)


def test_info_nce_variants_agree_with_the_reference():
    from torch.nn.functional import cross_entropy, normalize

    from motor.losses import info_nce

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
