"""Backbones built around an item-item content graph: LATTICE (learned + frozen kNN), FREEDOM
(frozen kNN, pruned user-item graph) and MGCN (per-modality kNN views)."""

import torch

from motor.train import TrainConfig, Trainer
from tests.backbone_helpers import build, first_batch, scores


def seeded(fn, *args):
    """``fn(*args)`` with torch's global generator reset first (it draws the cold-path items in training)."""
    torch.manual_seed(0)
    return fn(*args)


# --- LATTICE --------------------------------------------------------------------------------------


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
    # the same draw of cold-path items (cold_dropout) for both
    ld = sum(seeded(dense.loss, batch).values())
    ls = sum(seeded(sparse.loss, batch).values())
    torch.testing.assert_close(ld, ls, rtol=1e-5, atol=1e-6)
    ld.backward()
    ls.backward()
    for (n, pd), (_, ps) in zip(dense.named_parameters(), sparse.named_parameters()):
        if pd.grad is not None:
            torch.testing.assert_close(pd.grad, ps.grad, rtol=1e-4, atol=1e-6, msg=n)
    assert dense.modal_weight.grad is not None and dense.modal_weight.grad.abs().sum() > 0


def test_lattice_user_item_graph_is_lightgcns_by_default_and_mmrecs_on_request(tiny):
    ds, split = tiny
    default = build(ds, split, "lattice").ui_adj.to_dense()
    lightgcn = build(ds, split, "lightgcn").adj.to_dense()
    torch.testing.assert_close(default, lightgcn)  # D^-1/2 A D^-1/2, no self loops
    assert torch.count_nonzero(default.diagonal()) == 0
    published = build(ds, split, "lattice", model={"ui_norm": "row", "ui_self_loops": True}).ui_adj.to_dense()
    torch.testing.assert_close(published.sum(1), torch.ones(len(published)))  # D^-1 (A + I): rows sum to 1
    assert bool((published.diagonal() > 0).all())


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


# --- FREEDOM --------------------------------------------------------------------------------------


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
    loss_a = sum(seeded(model.loss, batch).values()).item()  # one draw of cold-path items for every call
    model.pre_epoch(1, torch.Generator().manual_seed(5))
    assert torch.equal(model.kept_edges, kept)
    assert sum(seeded(model.loss, batch).values()).item() == loss_a
    model.pre_epoch(1, torch.Generator().manual_seed(6))
    assert not torch.equal(model.kept_edges, kept)
    assert sum(seeded(model.loss, batch).values()).item() != loss_a  # training sees the pruned graph
    torch.testing.assert_close(scores(model, split), full_scores)  # inference: every edge


def test_freedom_trainer_runs_are_reproducible(tiny):
    ds, split = tiny
    results = []
    for _ in range(2):
        model = build(ds, split, "freedom")
        res = Trainer(TrainConfig(epochs=2, batch_size=64, lr=0.01, seed=3)).fit(model, split)
        results.append([h["loss"] for h in res.history])
    assert results[0] == results[1]


# --- FREEDOM, MGCN: hash-keyed kNN caches ---------------------------------------------------------


def test_models_write_hash_keyed_graph_caches(tiny, tmp_path):
    ds, split = tiny
    build(ds, split, "freedom", cache_dir=tmp_path)
    files = sorted(p.name for p in tmp_path.glob("knnw_*.npz"))
    assert len(files) == 2  # one per modality
    build(ds, split, "mgcn", cache_dir=tmp_path)  # same features and k: cache hits
    assert sorted(p.name for p in tmp_path.glob("knnw_*.npz")) == files
