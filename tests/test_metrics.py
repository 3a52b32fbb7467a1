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


def make_split(n_users, n_items, train, valid, test, cold=(), cold_valid=()):
    def pairs(rows):
        rows = list(rows)
        return Pairs(np.array([r[0] for r in rows], np.int64), np.array([r[1] for r in rows], np.int64))

    return Split(n_users, n_items, pairs(train), pairs(valid), pairs(test), pairs(cold),
                 np.zeros(n_items, bool), "test", [], cold_valid=pairs(cold_valid))


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


@pytest.mark.parametrize("relevant", [0, 1])
def test_ties_earn_nothing_and_masked_items_lose(relevant):
    # Items 0 and 1 tie: the relevant one ranks below the other, whichever index it has (rank 2).
    split = make_split(1, 4, train=[(0, 3)], valid=[], test=[(0, relevant)])
    scores = [[0.5, 0.5, 0.1, 9.0]]  # item 3 is a training item: masked despite its top score
    m = Evaluator(split, ks=(1, 2)).evaluate(FixedScores(scores), "test")
    assert m["recall@1"] == 0.0
    assert m["recall@2"] == 1.0
    assert m["ndcg@2"] == pytest.approx(1 / math.log2(3))


def test_a_model_that_scores_every_item_alike_finds_nothing():
    # BM3's untrained cold rows shrink to one vector: with every score equal, item indices must not decide hits
    split = make_split(2, 10, train=[(0, 9), (1, 9)], valid=[], test=[(0, 0), (0, 1), (1, 8)])
    m = Evaluator(split, ks=(2, 5, 8, 9)).evaluate(FixedScores(np.zeros((2, 10))), "test")
    assert m["recall@2"] == 0.0 and m["recall@5"] == 0.0  # the 9 candidates tie: both users' items rank last
    assert m["recall@8"] == pytest.approx((0.5 + 0.0) / 2)  # user 0's two items take ranks 8-9; user 1's rank 9
    assert m["recall@9"] == 1.0
    strict = np.zeros((2, 10))
    strict[0, 0] = strict[1, 8] = 1e-6  # a real (tiny) difference still counts in full
    m = Evaluator(split, ks=(1, 2)).evaluate(FixedScores(strict), "test")
    assert m["recall@1"] == pytest.approx((0.5 + 1.0) / 2)


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


def test_an_unknown_protocol_or_set_is_named_not_ranked_as_strict():
    # Evaluator(split, "MMRec") ranked as 'strict' (the validation items masked at test time), silently; a typo in
    # the set was KeyError: 'tset'
    from motor.errors import MotorError

    split = make_split(1, 4, train=[(0, 0)], valid=[(0, 1)], test=[(0, 2)])
    for protocol in ("MMRec", "loose"):
        with pytest.raises(MotorError, match=f"protocol must be one of 'strict', 'mmrec', got '{protocol}'"):
            Evaluator(split, protocol)
    with pytest.raises(MotorError, match="which must be one of 'valid', 'test', 'cold', 'cold_valid', got 'tset'"):
        Evaluator(split).evaluate(FixedScores([[0.0, 1.0, 0.5, 0.1]]), "tset")


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


def test_cold_validation_items_are_masked_when_the_cold_test_is_ranked_as_warm_validation_items_are():
    # items 2 and 3 are held out: 3 validates (cold_valid), 2 is the cold test item; item 3 scores highest
    split = make_split(1, 4, train=[(0, 0)], valid=[], test=[], cold=[(0, 2)], cold_valid=[(0, 3)])
    split.cold_items[[2, 3]] = True
    model = FixedScores([[0.0, 0.1, 0.5, 0.9]])
    strict, mmrec = Evaluator(split, ks=(1,)), Evaluator(split, protocol="mmrec", ks=(1,))
    assert strict.evaluate(model, "cold_valid")["recall@1"] == 1.0  # validation: only training items masked
    assert strict.evaluate(model, "cold")["recall@1"] == 1.0  # test (strict): the validating item is masked
    assert mmrec.evaluate(model, "cold")["recall@1"] == 0.0  # as MMRec: it is not, and outranks the test item
    both = strict.evaluate_cold(model, "cold_valid")
    assert both["recall@1"] == 1.0 and both["recall@1_among_cold"] == 1.0
    assert strict.evaluate_cold(model, "cold")["recall@1_among_cold"] == 1.0
    assert Evaluator(make_split(1, 4, [(0, 0)], [], [(0, 1)]), ks=(1,)).evaluate_cold(model, "cold_valid") == {}


# --- popularity buckets ------------------------------------------------------------------------------


def test_bucket_rule_on_degrees():
    from motor.metrics import BUCKETS, popularity_buckets

    # 10 seen items (degrees 50, 40, 30, 12, 9, 6, 5, 3, 1, 1) + 2 unseen + 1 held out (degree 0)
    degree = np.array([50, 40, 30, 12, 9, 6, 5, 3, 1, 1, 0, 0, 0])
    held = np.zeros(13, bool)
    held[12] = True
    names = [BUCKETS[b] if b >= 0 else "held_out" for b in popularity_buckets(degree, held)]
    assert names == ["head", "head"] + ["mid"] * 4 + ["tail"] * 4 + ["cold", "cold", "held_out"]
    # ties at the head boundary: by item index; head wins over tail when the head is sparse
    assert [BUCKETS[b] for b in popularity_buckets(np.array([2, 3, 3, 1, 1]))] == ["tail", "head", "tail", "tail",
                                                                                   "tail"]


def test_bucket_metrics_hand_computed():
    from motor.evaluate import evaluate_by_popularity

    # Training degrees: item0 3, item1 2, item2 2, item3 1, items 4 and 5 none. Seen: 4 items, head = ceil(0.8) = 1.
    # With tail_max = 1: head {0}, mid {1, 2}, tail {3}, cold {4, 5}.
    train = [(0, 0), (0, 1), (0, 2), (1, 0), (1, 1), (1, 3), (2, 0), (3, 2)]
    test = [(3, 0), (3, 4), (2, 1), (2, 5), (0, 3), (0, 4), (1, 2)]
    split = make_split(4, 6, train, [], test)
    scores = np.array([[9, 9, 9, 5, 1, 6],   # u0: train {0,1,2} masked -> top2 [5, 3]
                       [9, 9, 6, 9, 5, 1],   # u1: train {0,1,3} masked -> top2 [2, 4]
                       [9, 3, 5, 1, 1, 6],   # u2: train {0} masked     -> top2 [5, 2]
                       [5, 6, 9, 1, 4, 0]])  # u3: train {2} masked     -> top2 [1, 0]
    out = evaluate_by_popularity(Evaluator(split, ks=(2,)), FixedScores(scores), k=2, tail_max=1)
    b = out["buckets"]
    d2 = 1 / math.log2(3)  # NDCG of a single relevant item found at rank 2
    # head: u3 finds item0 at rank 2
    assert b["head"] == {"items": 1, "test_interactions": 1, "users": 1, "recall@2": pytest.approx(1.0),
                         "ndcg@2": pytest.approx(d2)}
    # mid: u2 misses item1; u1 finds item2 at rank 1
    assert b["mid"] == {"items": 2, "test_interactions": 2, "users": 2, "recall@2": pytest.approx(0.5),
                        "ndcg@2": pytest.approx(0.5)}
    # tail: u0 finds item3 at rank 2
    assert b["tail"] == {"items": 1, "test_interactions": 1, "users": 1, "recall@2": pytest.approx(1.0),
                         "ndcg@2": pytest.approx(d2)}
    # cold: u3 misses item4, u2 finds item5 at rank 1, u0 misses item4
    assert b["cold"] == {"items": 2, "test_interactions": 3, "users": 3, "recall@2": pytest.approx(1 / 3),
                         "ndcg@2": pytest.approx(1 / 3)}
    assert "head" in out["rule"] and out["k"] == 2
    assert sum(v["test_interactions"] for v in b.values()) == len(test)
    assert sum(v["items"] for v in b.values()) == 6
    import json

    json.dumps(out)  # JSON-ready


def test_bucket_metrics_need_k_among_cutoffs():
    from motor.errors import MotorError
    from motor.evaluate import evaluate_by_popularity

    split = make_split(1, 3, [(0, 0)], [], [(0, 1)])
    with pytest.raises(MotorError, match="K=20"):
        evaluate_by_popularity(Evaluator(split, ks=(5,)), FixedScores(np.zeros((1, 3))), k=20)
    from motor.evaluate import by_popularity

    for k in (0, -1, 2.5):  # k=0 was an IndexError, -1 a RuntimeError, 2.5 a TypeError from torch
        with pytest.raises(MotorError, match="k must be a whole number of at least 1"):
            by_popularity(FixedScores(np.zeros((1, 3))), split, k=k)
    for ks in ((0,), (), (5, -1)):  # (5, -1) gave precision@-1 = -1.0, silently
        with pytest.raises(MotorError, match="cut-offs K of the metrics, must be whole numbers of at least 1"):
            Evaluator(split, ks=ks)


def test_buckets_after_train_fraction_report_unseen_items_as_cold(demo):
    from motor.baselines import Popularity
    from motor.data.split import SplitConfig
    from motor.data.split import make_split as split_dataset
    from motor.evaluate import by_popularity

    split = split_dataset(demo, SplitConfig(seed=3, train_fraction=0.05))
    out = by_popularity(Popularity(split), split)["buckets"]
    assert out["cold"]["items"] == int(split.unseen_items().sum()) == split.summary()["unseen_items"] > 0
    assert out["cold"]["test_interactions"] == split.summary()["unseen_items_test"] > 0
    assert sum(b["test_interactions"] for b in out.values()) == len(split.test)
    # popularity never ranks an item it has not seen in training above one it has
    assert out["cold"]["recall@20"] == 0.0 and out["tail"]["recall@20"] == 0.0 and out["head"]["recall@20"] > 0.1
