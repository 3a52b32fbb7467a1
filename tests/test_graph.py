"""The shared graph code (``motor.graph``): sparse products, kNN graphs and their caches, modality
weights, learned graphs, degree-sensitive pruning."""

import numpy as np
import pytest
import torch

from motor.experiment import model_context
from motor.graph import (
    cold_item_combine,
    cold_item_mask,
    degree_sensitive_edge_sample,
    edge_propagate,
    fused_knn_adjacency,
    knn_cache_key,
    knn_neighbours,
    learned_knn_dense,
    learned_knn_edges,
    modality_weights,
    normalize_edges,
    score_scale,
    sparse_from_edges,
    spmm,
    transpose_csr,
)
from tests.backbone_helpers import build

# --- sparse products with a precomputed transpose -------------------------------------------------


def test_fixed_sparse_gradient_matches_dense():
    dense = torch.tensor([[0.0, 2.0, 0.0], [1.0, 0.0, 3.0]], dtype=torch.float64)
    adj = dense.to_sparse_csr()
    adj_t = transpose_csr(adj)
    x = torch.randn(3, 4, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda x: spmm(adj, x, adj_t), (x,))
    assert torch.allclose(spmm(adj, x, adj_t), dense @ x)


@pytest.mark.parametrize("symmetric", [True, False])
def test_spmm_with_precomputed_transpose_matches_torch(symmetric):
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


# --- modality weights and fused kNN graphs --------------------------------------------------------


def test_modality_weights_generalise_to_any_modalities():
    """FREEDOM's and DRAGON's mixing rule: listed weights kept, unlisted modalities get the mean, sum 1."""
    mm = {"image": 0.1, "text": 0.9}
    assert modality_weights(["image", "text"], mm) == pytest.approx(mm)
    assert modality_weights(["text"], {"image": 0.1, "text": 0.9}) == {"text": 1.0}
    assert modality_weights(["image"], {"image": 0.1, "text": 0.9}) == {"image": 1.0}
    w = modality_weights(["image", "text", "audio"], {"image": 0.1, "text": 0.9})
    assert w == pytest.approx({"image": 0.1 / 1.5, "text": 0.9 / 1.5, "audio": 0.5 / 1.5})
    assert modality_weights(["audio"], {"image": 0.1, "text": 0.9}) == {"audio": 1.0}
    assert modality_weights(["image", "text"], {"image": 0.0, "text": 0.0}) == {"image": 0.5, "text": 0.5}
    assert sum(w.values()) == pytest.approx(1.0)
    with pytest.raises(ValueError, match="non-negative"):
        modality_weights(["image"], {"image": -0.1})


def test_fused_graph_is_the_weighted_sum_of_modality_graphs():
    torch.manual_seed(0)
    feats = {"image": torch.randn(40, 5), "text": torch.randn(40, 7)}
    fused = fused_knn_adjacency(feats, {"image": 0.1, "text": 0.9}, 4).to_dense()
    img = fused_knn_adjacency({"image": feats["image"]}, None, 4).to_dense()
    txt = fused_knn_adjacency({"text": feats["text"]}, None, 4).to_dense()
    torch.testing.assert_close(fused, 0.1 * img + 0.9 * txt)
    assert torch.allclose(img.sum(), img.T.sum()) and img.diagonal().gt(0).all()  # self is a neighbour


# --- kNN cache (stale-graph defect) ---------------------------------------------------------------


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


@pytest.mark.parametrize("damage", ["text", "truncated", "pickled", "wrong_arrays", "out_of_range"])
def test_a_damaged_knn_cache_file_is_recomputed_and_replaced(tmp_path, damage):
    torch.manual_seed(0)
    f = torch.randn(30, 6)
    first = knn_neighbours(f, 5, cache_dir=tmp_path)
    (path,) = tmp_path.glob("*.npz")
    if damage == "text":
        path.write_text("x\n")
    elif damage == "truncated":
        path.write_bytes(path.read_bytes()[:100])
    elif damage == "pickled":
        np.savez(path, rows=np.array([object()]), cols=np.array([1]), sims=np.array([1.0]))
    elif damage == "wrong_arrays":
        np.savez(path, neighbours=np.zeros(3))
    else:
        np.savez(path, rows=np.array([0, 99]), cols=np.array([0, 1]), sims=np.ones(2, np.float32))
    again = knn_neighbours(f, 5, cache_dir=tmp_path)
    assert all(torch.equal(a, b) for a, b in zip(first, again))
    # the damaged file was replaced by a good one, which the next call reads
    with np.load(path, allow_pickle=False) as z:
        assert np.array_equal(z["cols"], first[1].numpy())
    assert [p.name for p in tmp_path.iterdir()] == [path.name]  # no temp file left behind


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


# --- learned graphs (LATTICE) ---------------------------------------------------------------------


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


def test_items_without_a_modality_neither_get_nor_give_knn_neighbours(tmp_path):
    """Missing rows are filled with one vector (the mean), so unmasked they would all be each
    other's nearest neighbours; with ``present`` they keep their self-loop only."""
    torch.manual_seed(0)
    f = torch.randn(30, 6)
    present = torch.ones(30, dtype=torch.bool)
    present[[2, 5, 9, 17]] = False
    f[~present] = f[present].mean(0)  # the fill, as the loader does
    rows, cols, sims = knn_neighbours(f, 4, present=present, cache_dir=tmp_path)
    absent = set(torch.nonzero(~present).flatten().tolist())
    for i in absent:
        assert cols[rows == i].tolist() == [i]  # self only
    assert not any(c in absent for r, c in zip(rows.tolist(), cols.tolist()) if r != c)
    assert all((rows == i).sum() == 4 for i in range(30) if i not in absent)
    # unmasked, the filled rows do link to each other (the defect this guards against)
    r0, c0, _ = knn_neighbours(f, 4)
    assert any(c in absent - {2} for c in c0[r0 == 2].tolist())
    # the mask is part of the cache key: an unmasked graph is not reused for a masked request
    assert knn_cache_key(f, 4, True, present) != knn_cache_key(f, 4, True)
    # fused graph: an item without an image gets its neighbours from its text alone
    text = torch.randn(30, 5)
    fused = fused_knn_adjacency({"image": f, "text": text}, {"image": 0.5, "text": 0.5}, 4,
                                present={"image": present}).to_dense()
    only_text = fused_knn_adjacency({"text": text}, None, 4).to_dense()
    assert torch.count_nonzero(fused[2]) == torch.count_nonzero(only_text[2])
    # learned graphs (LATTICE): dense and sparse paths agree under the mask
    x = torch.randn(30, 6)
    dense = learned_knn_dense(x, 4, present=present)
    r, c, v = learned_knn_edges(x, 4, present=present, chunk=8)
    torch.testing.assert_close(sparse_from_edges(r, c, v, 30).to_dense(), dense)
    assert dense[5].nonzero().flatten().tolist() == [5] and dense[:, 9].nonzero().flatten().tolist() == [9]


def test_model_context_takes_the_missing_masks_of_the_dataset(tiny):
    from dataclasses import replace

    ds, split = tiny
    name = next(iter(ds.modalities))
    m = ds.modalities[name]
    missing = np.zeros(m.features.shape[0], bool)
    missing[:3] = True
    ds2 = replace(ds, modalities={**ds.modalities, name: replace(m, missing=missing)})
    ctx = model_context(ds2, split)
    assert ctx.present[name].tolist() == (~missing).tolist()
    assert all(k == name for k in ctx.present)  # complete modalities carry no mask
    assert model_context(ds, split).present == {}


# --- degree-sensitive pruning (FREEDOM) -----------------------------------------------------------


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


# --- cold and low-degree items ------------------------------------------------------------------


def test_cold_path_takes_isolated_items_and_scales_their_own_vector():
    degree = torch.tensor([3, 0, 1, 0])
    assert cold_item_mask(degree).tolist() == [False, True, False, True]
    assert cold_item_mask(degree, dropout=0.5, training=False).tolist() == [False, True, False, True]
    torch.manual_seed(0)
    drawn = torch.stack([cold_item_mask(degree, 0.5, training=True) for _ in range(400)]).float().mean(0)
    assert drawn[1] == drawn[3] == 1.0 and 0.4 < drawn[0] < 0.6 and 0.4 < drawn[2] < 0.6
    combined, ego = torch.full((4, 2), 5.0), torch.arange(8.0).reshape(4, 2)
    out = cold_item_combine(combined, ego, cold_item_mask(degree), 3.0)
    torch.testing.assert_close(out, torch.tensor([[5.0, 5.0], [6.0, 9.0], [5.0, 5.0], [18.0, 21.0]]))
    assert cold_item_combine(combined, ego, torch.zeros(4, dtype=torch.bool)) is combined


def test_score_scale_matches_the_propagated_scores_on_training_interactions():
    users = torch.tensor([[1.0, 0.0], [0.0, 2.0]])
    propagated = torch.tensor([[3.0, 0.0], [0.0, 1.0], [9.0, 9.0]])
    own = torch.tensor([[1.0, 0.0], [0.0, 1.0], [9.0, 9.0]])
    edge_user, edge_item = torch.tensor([0, 1]), torch.tensor([0, 1])
    # propagated: 3 + 2 = 5, own: 1 + 2 = 3 on the two interactions
    torch.testing.assert_close(score_scale(users, propagated, own, edge_user, edge_item), torch.tensor(5 / 3))
    # own vectors that do not score positively leave the scale at 1
    assert score_scale(users, propagated, -own, edge_user, edge_item).item() == 1.0
