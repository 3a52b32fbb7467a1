"""Approximate retrieval (motor.retrieval): the threshold picks the kind, IVF-PQ recall, saved with runs."""

from __future__ import annotations

import json
import os

import faiss
import numpy as np
import pytest

from motor import retrieval
from motor.retrieval import VectorIndex

RECALL_FLOOR = 0.9  # the build aims for RECALL_TARGET (0.95); measured 0.96 (dot) and 0.98 (centred) here


def clustered(n: int, d: int = 64, clusters: int = 200, seed: int = 0):
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((clusters, d)).astype(np.float32)
    items = centres[rng.integers(0, clusters, n)] + 0.7 * rng.standard_normal((n, d)).astype(np.float32)
    users = centres[rng.integers(0, clusters, 1000)] + 0.7 * rng.standard_normal((1000, d)).astype(np.float32)
    return items, users


def test_threshold_switches_the_kind():
    items, users = clustered(3000, d=16)
    assert VectorIndex(items).kind == "exact"  # far below APPROX_FROM_ITEMS
    assert VectorIndex(items, approx_from=3001).kind == "exact"
    approx = VectorIndex(items, approx_from=3000, queries=users)
    assert approx.kind == "ivfpq" and approx.info["kind"] == "ivfpq"
    assert 0 < approx.recall <= 1 and approx.info["centred"]["recall_queries"] == 500
    assert VectorIndex(items).recall is None
    assert retrieval.APPROX_FROM_ITEMS == 200_000 or "MOTOR_APPROX_FROM_ITEMS" in os.environ


@pytest.mark.slow
def test_ivfpq_recall_above_floor_and_round_trip(tmp_path):
    items, users = clustered(50_000)
    index = VectorIndex(items, kind="ivfpq", queries=users)
    assert index.info["dot"]["recall@20_vs_exact"] >= RECALL_FLOOR
    assert index.info["centred"]["recall@20_vs_exact"] >= RECALL_FLOOR
    # Measured again here on other queries, against exact search.
    exact = VectorIndex(items, kind="exact")
    _, truth = exact.search(users[:200], 20)
    _, got = index.search(users[:200], 20)
    assert np.mean([len(np.intersect1d(a, b)) / 20 for a, b in zip(truth, got)]) >= RECALL_FLOOR

    index.save(tmp_path / "index")
    assert {p.name for p in (tmp_path / "index").iterdir()} == {"dot.faiss", "centred.faiss", "index.json"}
    again = VectorIndex.load(tmp_path / "index", items)
    assert again.kind == "ivfpq" and again.info == index.info
    assert faiss.downcast_index(again.index.base_index).nprobe == index.info["dot"]["nprobe"]
    assert again.index.k_factor == index.info["dot"]["k_factor"]
    exclude = [np.array([int(got[q, 0])]) for q in range(20)]
    for a, b in zip(index.search(users[:20], 10, exclude), again.search(users[:20], 10, exclude)):
        np.testing.assert_array_equal(a, b)
    assert not np.isin(again.search(users[:20], 10, exclude)[1][:, 0], got[:20, 0]).all()
    _, i1 = again.similar_items(7, 10)
    _, i2 = exact.similar_items(7, 10)
    assert 7 not in i1 and len(np.intersect1d(i1, i2)) >= 7
    with pytest.raises(ValueError, match="covers 50000"):
        VectorIndex.load(tmp_path / "index", items[:10])


def test_exact_similar_items_unchanged():
    items, _ = clustered(2000, d=16)
    v = retrieval.centred_unit(items)
    s, i = VectorIndex(items).similar_items(5, 5)
    expect = np.argsort(-(v @ v[5]), kind="stable")
    assert list(i) == [j for j in expect if j != 5][:5]
    np.testing.assert_allclose(s, (v @ v[5])[i], rtol=1e-5)


def test_a_huge_k_is_clamped_to_the_items_and_a_bad_item_fails_clearly():
    from motor.errors import MotorError

    items, users = clustered(300, d=16)
    index = VectorIndex(items)
    exclude = [np.array([0, 1, 2]), np.array([], dtype=np.int64)]
    for k in (10**8, 10**11):  # 10**11 asked numpy for 373 GiB before the clamp
        for ex in (None, exclude):
            s, i = index.search(users[:2], k, ex)
            assert s.shape == i.shape == (2, 300)
            want_s, want_i = index.search(users[:2], 300, ex)
            np.testing.assert_array_equal(i, want_i)
            np.testing.assert_array_equal(s, want_s)
    s, i = index.search(users[:2], 10**11, exclude)
    assert sorted(i[1].tolist()) == list(range(300))
    assert sorted(i[0][:297].tolist()) == list(range(3, 300)) and (i[0][297:] == -1).all()
    s, i = index.similar_items(5, 10**11)
    assert len(i) == 299 and 5 not in i and len(set(i.tolist())) == 299
    for bad in (-1, 300, 10**6):
        with pytest.raises(MotorError, match=rf"item index {bad} is out of range.*from 0 to 299"):
            index.similar_items(bad, 5)


@pytest.mark.slow
def test_large_run_saves_and_reloads_its_index(tmp_path, monkeypatch):
    """A run above the (here lowered) threshold writes index/ and metrics['retrieval']; reloading uses it."""
    from motor.data.synth import SynthConfig, synthesize
    from motor.experiment import run_experiment
    from motor.presets import preset
    from motor.runs import LoadedRun

    synthesize(SynthConfig(users=300, items=1200, interactions=9000, modalities={"image": 16}), tmp_path / "d")
    monkeypatch.setattr(retrieval, "APPROX_FROM_ITEMS", 1000)
    cfg = preset("quick", "id", {"backbone": "bpr", "data": {"data": str(tmp_path / "d")},
                                   "train": {"epochs": 2, "threads": 1}})
    run_experiment(cfg, tmp_path / "run")
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert metrics["retrieval"]["kind"] == "ivfpq" and 0 < metrics["retrieval"]["dot"]["recall@20_vs_exact"] <= 1
    assert (tmp_path / "run" / "index" / "dot.faiss").exists()
    run = LoadedRun.load(tmp_path / "run")
    assert run.index().kind == "ivfpq" and run.index().info == metrics["retrieval"]
    # The reloaded index (trained vectors, clustered synthetic items) against exact search over the same
    # vectors, on the run's user vectors: above the floor, and as measured when the run was saved.
    users, items = run.vectors()
    _, truth = VectorIndex(items, kind="exact").search(users[:200], 20)
    _, got = run.index().search(users[:200], 20)
    assert np.mean([len(np.intersect1d(a, b)) / 20 for a, b in zip(truth, got)]) >= RECALL_FLOOR
    assert metrics["retrieval"]["dot"]["recall@20_vs_exact"] >= RECALL_FLOOR
    recs = run.recommend(run.dataset.user_ids[0], k=10)
    assert len(recs) == 10 and not set(run.seen_items(0).tolist()) & {r["item"] for r in recs}
    _, near = run.similar_items(3, 5)
    assert len(near) == 5 and 3 not in near
    # The app's similar items (explore.tokens.nearest_items) answer from the run's saved index, building none.
    from motor.explore.tokens import nearest_items

    monkeypatch.setattr(retrieval, "build_ivfpq", lambda *a, **k: pytest.fail("built a new index"))
    table = nearest_items(items, run.dataset, 3, 5, index=run.index())
    assert table["item"].tolist() == near.tolist()


def test_the_threshold_comes_from_the_environment_or_fails_clearly(monkeypatch):
    from motor.errors import MotorError

    monkeypatch.setenv("MOTOR_APPROX_FROM_ITEMS", "5000")
    assert retrieval.approx_from_env() == 5000
    monkeypatch.setenv("MOTOR_APPROX_FROM_ITEMS", "")
    assert retrieval.approx_from_env() == 200_000
    for bad in ("0", "-3", "2e5", "many"):
        monkeypatch.setenv("MOTOR_APPROX_FROM_ITEMS", bad)
        with pytest.raises(MotorError, match="MOTOR_APPROX_FROM_ITEMS"):
            retrieval.approx_from_env()
    # VectorIndex reads the module's threshold when it is built, so a changed threshold applies.
    items, _ = clustered(1200, d=16)
    monkeypatch.setattr(retrieval, "APPROX_FROM_ITEMS", 1000)
    assert VectorIndex(items).kind == "ivfpq"
