"""Ranking metrics against hand-computed values and a plain-Python reference."""

import math

import numpy as np
import pytest
import torch

from motor.data.split import Pairs, Split
from motor.evaluate import Evaluator
from motor.metrics import topk_metrics


class FixedScores:
    def __init__(self, scores):
        self.scores = torch.as_tensor(scores, dtype=torch.float32)

    def eval(self):
        return self

    def ranking_state(self):
        return self.scores

    def score(self, state, users):
        return state[users]


def make_split(n_users, n_items, train, valid, test, cold=()):
    def pairs(rows):
        rows = list(rows)
        return Pairs(np.array([r[0] for r in rows], np.int64), np.array([r[1] for r in rows], np.int64))

    return Split(n_users, n_items, pairs(train), pairs(valid), pairs(test), pairs(cold),
                 np.zeros(n_items, bool), "test", [])


def test_hand_computed_two_relevant_items_and_k_beyond_list():
    # Ranking: item1 (hit), item0, item3 (hit), item2. Only 4 items, so K=5 and K=10 exceed the list.
    hits = torch.tensor([[1, 0, 1, 0]])
    m = topk_metrics(hits, torch.tensor([2]), ks=(1, 3, 5, 10))
    assert m["recall@1"].item() == pytest.approx(0.5)
    assert m["recall@5"].item() == pytest.approx(1.0)
    assert m["precision@5"].item() == pytest.approx(2 / 5)
    assert m["precision@10"].item() == pytest.approx(2 / 10)
    assert m["ndcg@3"].item() == pytest.approx((1 + 1 / math.log2(4)) / (1 + 1 / math.log2(3)))
    assert m["map@3"].item() == pytest.approx((1 + 2 / 3) / 2)
    assert m["map@1"].item() == pytest.approx(1.0)  # min(|T|, K) = 1


def test_single_relevant_item_at_rank_three():
    m = topk_metrics(torch.tensor([[0, 0, 1, 0, 0]]), torch.tensor([1]), ks=(2, 5))
    assert m["recall@2"].item() == 0 and m["ndcg@2"].item() == 0
    assert m["recall@5"].item() == 1
    assert m["ndcg@5"].item() == pytest.approx(1 / math.log2(4))
    assert m["map@5"].item() == pytest.approx(1 / 3)


def test_ties_are_ordered_by_item_index_and_masked_items_lose():
    # Items 0 and 1 tie; the lower index ranks first, so relevant item 1 is at rank 2.
    split = make_split(1, 4, train=[(0, 3)], valid=[], test=[(0, 1)])
    scores = [[0.5, 0.5, 0.1, 9.0]]  # item 3 is a training item: masked despite its top score
    m = Evaluator(split, ks=(1, 2)).evaluate(FixedScores(scores), "test")
    assert m["recall@1"] == 0.0
    assert m["recall@2"] == 1.0
    assert m["ndcg@2"] == pytest.approx(1 / math.log2(3))


def test_users_without_items_in_the_split_are_skipped():
    split = make_split(3, 5, train=[(0, 0), (1, 1), (2, 2)], valid=[], test=[(0, 4), (2, 3)])
    scores = np.zeros((3, 5))
    scores[0, 4] = 1.0  # user 0: hit at rank 1; user 1 has no test items; user 2: miss
    scores[2, 4] = 1.0
    m = Evaluator(split, ks=(1,)).evaluate(FixedScores(scores), "test")
    assert m["recall@1"] == pytest.approx(0.5)  # (1 + 0) / 2 users, not / 3


def test_protocols_differ_only_in_masking_validation_items_at_test_time():
    split = make_split(1, 4, train=[(0, 0)], valid=[(0, 1)], test=[(0, 2)])
    scores = [[0.0, 1.0, 0.5, 0.1]]  # the validation item outranks the test item
    strict = Evaluator(split, "strict", ks=(1,)).evaluate(FixedScores(scores), "test")
    mmrec = Evaluator(split, "mmrec", ks=(1,)).evaluate(FixedScores(scores), "test")
    assert strict["recall@1"] == 1.0
    assert mmrec["recall@1"] == 0.0
    valid = Evaluator(split, "strict", ks=(1,)).evaluate(FixedScores(scores), "valid")
    assert valid["recall@1"] == 1.0  # validation never masks itself


def reference_metrics(scores, train, truth, ks):
    """Plain-Python MMRec definitions, one user at a time."""
    out = {f"{m}@{k}": [] for m in ("recall", "ndcg", "precision", "map") for k in ks}
    for u, rel in truth.items():
        s = scores[u].astype(np.float64).copy()
        s[list(train.get(u, ()))] = -np.inf
        order = sorted(range(len(s)), key=lambda i: (-s[i], i))
        hits = [1 if i in rel else 0 for i in order]
        for k in ks:
            h = hits[:k]
            out[f"recall@{k}"].append(sum(h) / len(rel))
            out[f"precision@{k}"].append(sum(h) / k)
            dcg = sum(x / math.log2(i + 2) for i, x in enumerate(h))
            idcg = sum(1 / math.log2(i + 2) for i in range(min(len(rel), k)))
            out[f"ndcg@{k}"].append(dcg / idcg)
            ap = sum((sum(h[:i + 1]) / (i + 1)) * x for i, x in enumerate(h))
            out[f"map@{k}"].append(ap / min(len(rel), k))
    return {k: float(np.mean(v)) for k, v in out.items()}


@pytest.mark.parametrize("seed", [0, 1])
def test_evaluator_matches_plain_python_reference(seed):
    rng = np.random.default_rng(seed)
    n_users, n_items = 37, 60
    train, test = [], []
    for u in range(n_users):
        items = rng.choice(n_items, 12, replace=False)
        train += [(u, int(i)) for i in items[:9]]
        if u % 5:  # some users have no test items
            test += [(u, int(i)) for i in items[9:9 + 1 + u % 3]]
    split = make_split(n_users, n_items, train, [], test)
    scores = rng.normal(size=(n_users, n_items)).astype(np.float32)
    ks = (5, 10, 20, 50)
    got = Evaluator(split, ks=ks, batch_users=8).evaluate(FixedScores(scores), "test")
    tr, tru = {}, {}
    for u, i in train:
        tr.setdefault(u, set()).add(i)
    for u, i in test:
        tru.setdefault(u, set()).add(i)
    want = reference_metrics(scores, tr, tru, ks)
    for k, v in want.items():
        assert got[k] == pytest.approx(v, abs=1e-6), k


def test_cold_items_are_not_candidates_for_warm_sets_but_are_for_cold():
    split = make_split(1, 4, train=[(0, 0)], valid=[], test=[(0, 2)], cold=[(0, 3)])
    split.cold_items[3] = True
    scores = [[0.0, 0.1, 0.5, 0.9]]  # the cold item outscores the warm test item
    ev = Evaluator(split, ks=(1,))
    assert ev.evaluate(FixedScores(scores), "test")["recall@1"] == 1.0
    assert ev.evaluate(FixedScores(scores), "cold")["recall@1"] == 1.0
    warm_only = ev.evaluate(FixedScores([[0.0, 0.1, 0.95, 0.9]]), "cold")
    assert warm_only["recall@1"] == 0.0  # among all items a warm item can beat it
