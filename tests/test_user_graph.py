"""The user-user co-interaction graph of DualGNN and DRAGON (``motor.user_graph``)."""

import math

import numpy as np
import pytest
import torch

from motor.user_graph import build_user_graph, clear_memory_cache, cooccurrence_topk, graph_key
from tests.backbone_helpers import make_ctx, make_model


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


@pytest.mark.parametrize("damage", ["text", "truncated", "pickled", "wrong_shape", "out_of_range"])
def test_a_damaged_user_graph_cache_file_is_recomputed_and_replaced(tmp_path, damage):
    clear_memory_cache()
    u, i = tiny_edges()
    first = build_user_graph(u, i, 5, 10, k=2, cache_dir=tmp_path, use_memory=False)
    (path,) = tmp_path.glob("user_graph_*.npz")
    if damage == "text":
        path.write_text("x\n")
    elif damage == "truncated":
        path.write_bytes(path.read_bytes()[:100])
    elif damage == "pickled":
        np.savez(path, neighbours=np.array([object()]), counts=np.array([1.0]))
    elif damage == "wrong_shape":
        np.savez(path, neighbours=np.zeros((5, 3), np.int64), counts=np.zeros((5, 3), np.float32))
    else:
        np.savez(path, neighbours=np.full((5, 2), 7, np.int64), counts=np.ones((5, 2), np.float32))
    again = build_user_graph(u, i, 5, 10, k=2, cache_dir=tmp_path, use_memory=False)
    assert not again.from_cache
    assert torch.equal(again.neighbours, first.neighbours) and torch.equal(again.counts, first.counts)
    assert build_user_graph(u, i, 5, 10, k=2, cache_dir=tmp_path, use_memory=False).from_cache  # replaced
    assert [p.name for p in tmp_path.iterdir()] == [path.name]  # no temp file left behind
