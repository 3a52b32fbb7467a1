"""Full-ranking evaluation cut over users and items gives exactly the unchunked metrics."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from motor import evaluate as ev
from motor.data.split import Pairs, Split
from motor.evaluate import Evaluator, chunked_topk, inner_product_scorer, ranked_topk
from motor.models.base import Recommender
from tests.test_metrics import FixedScores


class Dot(Recommender):
    """Fixed user and item vectors, scored by the base class's inner product."""

    def __init__(self, users: torch.Tensor, items: torch.Tensor):
        nn.Module.__init__(self)
        self.u, self.i = users, items

    def embeddings(self):
        return self.u, self.i


def random_split(n_users=40, n_items=97, seed=0) -> Split:
    rng = np.random.default_rng(seed)
    cold = np.zeros(n_items, bool)
    cold[rng.choice(n_items, 9, replace=False)] = True
    parts = {"train": [], "valid": [], "test": [], "cold": []}
    for u in range(n_users):
        items = rng.choice(n_items, 12, replace=False)
        for j, i in enumerate(items):
            name = "cold" if cold[i] else ("train", "train", "train", "valid", "test")[j % 5]
            parts[name].append((u, i))
    parts["test"] = [p for p in parts["test"] if p[0] % 7]  # some users without test items

    def pairs(rows):
        return Pairs(np.array([r[0] for r in rows], np.int64), np.array([r[1] for r in rows], np.int64))

    return Split(n_users, n_items, *(pairs(parts[k]) for k in ("train", "valid", "test", "cold")), cold, "random", [])


@pytest.mark.parametrize("protocol", ["strict", "mmrec"])
def test_chunked_equals_unchunked(protocol):
    split = random_split()
    g = torch.Generator().manual_seed(1)
    model = Dot(torch.randn(split.n_users, 8, generator=g), torch.randn(split.n_items, 8, generator=g))
    e = Evaluator(split, protocol, ks=(1, 5, 20, 50))  # K=50 with 97 items: masked items reach the list
    for which, among in (("valid", None), ("test", None), ("cold", None), ("cold", split.cold_items)):
        full = e.evaluate(model, which, among=among, per_user=True)
        for users, chunk in ((7, 10), (1, 97), (40, 1), (3, 33)):
            cut = e.evaluate_chunked(model, which, among=among, per_user=True, batch_users=users, item_chunk=chunk)
            assert {k: v for k, v in cut.items() if not k.startswith("_")} == pytest.approx(
                {k: v for k, v in full.items() if not k.startswith("_")}, abs=1e-6), (which, users, chunk)
            np.testing.assert_array_equal(cut["_users"], full["_users"])
            for k in full["_per_user"]:
                np.testing.assert_allclose(cut["_per_user"][k], full["_per_user"][k], atol=1e-6)
        assert full["recall@50"] > 0


def test_chunked_and_unchunked_agree_when_scores_tie():
    split = random_split(seed=3)
    g = torch.Generator().manual_seed(2)
    items = torch.randint(0, 3, (split.n_items, 2), generator=g).float()  # 9 distinct item vectors: many ties
    model = Dot(torch.randint(0, 3, (split.n_users, 2), generator=g).float(), items)
    e = Evaluator(split, ks=(1, 5, 20))
    for which, among in (("test", None), ("cold", split.cold_items)):
        full = e.evaluate(model, which, among=among)
        for users, chunk in ((7, 10), (40, 1), (3, 33)):
            assert e.evaluate_chunked(model, which, among=among, batch_users=users, item_chunk=chunk) == \
                pytest.approx(full, abs=1e-6), (which, users, chunk)
    tied = Dot(torch.ones(split.n_users, 2), torch.ones(split.n_items, 2))  # one score for all: nothing is found
    assert e.evaluate(tied, "test")["recall@20"] == 0.0 == e.evaluate_chunked(tied, "test", item_chunk=10)["recall@20"]


def test_chunked_topk_matches_ranked_topk_with_ties():
    scores = torch.tensor([[0.5, 0.9, 0.5, 0.1, 0.9, 0.5, 0.0]])
    scorer = lambda users, lo, hi: scores[users][:, lo:hi]
    masked = [(torch.tensor([0]), torch.tensor([1]))]  # item 1 masked
    v, i = chunked_topk(scorer, torch.tensor([0]), 7, 4, masked, None, item_chunk=2)
    assert i.tolist() == [[4, 0, 2, 5]] and v[0].tolist() == pytest.approx([0.9, 0.5, 0.5, 0.5])
    s = scores.clone()
    s[0, 1] = ev.MASKED
    assert ranked_topk(s, 4).tolist() == i.tolist()


def test_large_catalogues_take_the_chunked_path(monkeypatch):
    split = random_split()
    model = Dot(torch.randn(split.n_users, 4), torch.randn(split.n_items, 4))
    e = Evaluator(split)
    expected = e.evaluate(model, "test")
    calls = []
    original = Evaluator.evaluate_chunked
    monkeypatch.setattr(Evaluator, "evaluate_chunked", lambda self, *a, **kw: calls.append(1) or original(self, *a, **kw))
    monkeypatch.setattr(ev, "ITEM_CHUNKS_FROM", split.n_items)
    assert e.evaluate(model, "test") == pytest.approx(expected, abs=1e-6) and calls == [1]
    # Models with their own scoring keep the dense path.
    fixed = FixedScores(np.random.default_rng(0).normal(size=(split.n_users, split.n_items)))
    assert inner_product_scorer(fixed, fixed.ranking_state()) is None
    assert e.evaluate(fixed, "test") and calls == [1]
    with pytest.raises(ValueError, match="inner product"):
        e.evaluate_chunked(fixed, "test")


def test_a_pair_listed_twice_counts_once():
    """A hand-built Split may repeat a (user, item) pair: it is one relevant item, found or not, never two."""
    split = random_split(seed=5)
    g = torch.Generator().manual_seed(4)
    model = Dot(torch.randn(split.n_users, 8, generator=g), torch.randn(split.n_items, 8, generator=g))
    expected = Evaluator(split).evaluate(model, "test", per_user=True)
    twice = Pairs(np.concatenate([split.test.user, split.test.user[::3]]),
                  np.concatenate([split.test.item, split.test.item[::3]]))
    repeated = Split(split.n_users, split.n_items, split.train, split.valid, twice, split.cold, split.cold_items,
                     "random", [])
    e = Evaluator(repeated)
    got = e.evaluate(model, "test", per_user=True)
    assert {k: v for k, v in got.items() if not k.startswith("_")} == pytest.approx(
        {k: v for k, v in expected.items() if not k.startswith("_")}, abs=1e-6)
    assert e.evaluate_chunked(model, "test", item_chunk=10)["recall@20"] == pytest.approx(expected["recall@20"])
