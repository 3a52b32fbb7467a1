"""Do users get different lists? Overlap of top-k lists, direction share and effective rank on hand-made cases."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from motor import evaluate as ev
from motor.evaluate import Evaluator, ranked_topk
from motor.explore.personalisation import personalisation_sentence, personalisation_warnings
from motor.personalisation import direction_share, effective_rank, list_overlap, personalisation
from tests.test_evaluate_chunked import Dot, random_split
from tests.test_metrics import make_split


def test_list_overlap_on_hand_made_lists():
    assert list_overlap([[0, 1, 2], [0, 1, 2], [2, 1, 0]]) == 1.0  # one list for everyone, in any order
    assert list_overlap([[0, 1], [2, 3], [4, 5]]) == 0.0
    # pairs (a, b) share {0}: 1/2; (a, c) and (b, c) share nothing: mean 1/6
    assert list_overlap([[0, 1], [0, 2], [3, 4]]) == pytest.approx(1 / 6)
    assert math.isnan(list_overlap([[0, 1]]))  # one user: no pair


def test_list_overlap_equals_the_pairwise_mean():
    rng = np.random.default_rng(0)
    top = np.stack([rng.choice(30, 5, replace=False) for _ in range(12)])
    pairs = [len(set(a) & set(b)) / 5 for i, a in enumerate(top) for b in top[i + 1:]]
    assert list_overlap(top) == pytest.approx(np.mean(pairs))


def test_direction_share_and_effective_rank():
    same = torch.tensor([[1.0, 2.0], [2.0, 4.0], [0.5, 1.0]])  # one direction, different norms
    assert direction_share(same) == pytest.approx(1.0)
    assert effective_rank(same) == pytest.approx(1.0)
    assert math.isnan(direction_share(torch.tensor([[1.0, 0.0], [-1.0, 0.0]])))  # mean is zero
    spread = torch.randn(4000, 16, generator=torch.Generator().manual_seed(0))
    assert abs(direction_share(spread)) < 0.2
    assert effective_rank(torch.eye(16)) == pytest.approx(16.0)
    assert 14.0 < effective_rank(spread) <= 16.0
    assert effective_rank(torch.zeros(3, 4)) == 0.0


@pytest.mark.parametrize("chunked", [False, True])
def test_top_lists_rank_as_the_evaluator(monkeypatch, chunked):
    split = random_split()
    g = torch.Generator().manual_seed(1)
    model = Dot(torch.randn(split.n_users, 8, generator=g), torch.randn(split.n_items, 8, generator=g))
    if chunked:
        monkeypatch.setattr(ev, "ITEM_CHUNKS_FROM", 1)
    e = Evaluator(split, ks=(5,))
    top = e.top_lists(model, "test", k=5)
    _, users, _ = e._targets("test", None)
    assert top.shape == (len(users), 5)
    scores = model.u[torch.from_numpy(users)] @ model.i.T
    for name in ("train", "valid"):  # strict protocol at test time
        rows, cols = e.sets[name].rows_cols(users)
        scores[rows, cols] = ev.MASKED
    scores[:, torch.from_numpy(split.cold_items)] = ev.MASKED  # warm sets rank among warm items
    assert top.tolist() == ranked_topk(scores, 5).tolist()


def test_personalisation_flags_a_model_that_ranks_everyone_alike():
    split = random_split(n_users=60, n_items=120)
    g = torch.Generator().manual_seed(0)
    personal = Dot(torch.randn(split.n_users, 16, generator=g), torch.randn(split.n_items, 16, generator=g))
    p = personalisation(personal, split, k=5)
    assert p["warning"] is None and p["top_overlap"] < 0.5 * p["popularity_top_overlap"]
    assert p["dim"] == 16 and p["item_effective_rank"] > 10
    # every item vector along one direction, users all positive on it: one ranking (by norm) for everyone
    norms = torch.rand(split.n_items, 1, generator=g) + 0.5
    alike = Dot(torch.rand(split.n_users, 16, generator=g) + 1.0, norms * torch.ones(1, 16))
    q = personalisation(alike, split, k=5)
    assert q["item_direction_share"] == pytest.approx(1.0) and q["item_effective_rank"] == pytest.approx(1.0)
    assert q["top_overlap"] > 0.8 * q["popularity_top_overlap"]
    assert q["warning"] and "alike" in q["warning"]
    alike.collapse_remedy = lambda: "train with the remedy"  # a backbone that knows its own remedy names it
    assert personalisation(alike, split, k=5)["warning"].endswith("personalised. Train with the remedy.")
    # a large offset shared by every item hides how the items differ: the centred rank still sees 16 directions
    shifted = Dot(personal.u, personal.i + 20.0)
    r = personalisation(shifted, split, k=5)
    assert r["item_effective_rank"] < 3.0 and r["item_effective_rank_centred"] > 10
    assert r["item_effective_rank_centred"] == pytest.approx(p["item_effective_rank_centred"])


def test_personalisation_sentence_and_warnings():
    runs = {"ID": {"personalisation": {"k": 20, "top_overlap": 0.13, "popularity_top_overlap": 0.54,
                                       "item_effective_rank": 52.3, "dim": 64, "warning": None}},
            "MOTOR": {"personalisation": {"k": 20, "top_overlap": 0.53, "popularity_top_overlap": 0.54,
                                          "item_effective_rank": 1.1, "dim": 64, "warning": "ranks alike"}},
            "old run": {"test": {}}}
    text = personalisation_sentence(runs)
    assert "ID 13%, MOTOR 53%" in text and "54%" in text and "52.3 (ID), 1.1 (MOTOR) of 64" in text
    assert "old run" not in text
    assert personalisation_warnings(runs) == ["MOTOR: ranks alike"]
    runs["MOTOR"]["personalisation"]["warning"] = "The model ranks alike"
    assert personalisation_warnings(runs) == ["MOTOR: the model ranks alike"]  # one sentence after the colon
    assert personalisation_sentence({"old run": {"test": {}}}) == ""


def test_personalisation_without_test_users_writes_none_not_nan():
    split = make_split(3, 4, train=[(0, 0), (1, 1), (2, 2)], valid=[(0, 1)], test=[])
    model = Dot(torch.randn(3, 2), torch.randn(4, 2))
    p = personalisation(model, split, k=2)
    assert p["top_overlap"] is None and p["popularity_top_overlap"] is None and p["warning"] is None
    assert personalisation_sentence({"ID": {"personalisation": p}}) == ""


def test_the_popularity_rankings_recall_is_written_beside_the_runs_and_named_in_the_warning():
    """The warning said "compare it with the popularity ranking" without its Recall: on the demo at 10% of its data
    a popularity ranking gets 0.143, above ID's 0.111 and close to MOTOR's 0.145 (quick preset)."""
    from motor.explore.personalisation import popularity_recall

    # training counts: item 0 x3, item 1 x2, item 2 x1, item 3 x0; strict protocol hides each user's own items.
    # Popularity's top-1: user 0 -> item 2 (tests 2: hit), user 1 -> item 2 (tests 3: miss), user 2 -> item 1 (hit)
    split = make_split(3, 4, train=[(0, 0), (1, 0), (2, 0), (0, 1), (1, 1), (2, 2)], valid=[],
                       test=[(0, 2), (1, 3), (2, 1)])
    model = Dot(torch.ones(3, 1), torch.tensor([[3.0], [2.0], [1.0], [0.0]]))  # ranks like popularity
    p = personalisation(model, split, k=1)
    assert p["popularity_recall@1"] == pytest.approx(2 / 3) and p["popularity_ndcg@1"] == pytest.approx(2 / 3)
    assert "popularity ranking's test Recall@1 on this split (0.6667)" in p["warning"]
    runs = {"old run": {"personalisation": {"k": 1, "top_overlap": 0.5, "popularity_top_overlap": 0.5}},
            "MOTOR": {"personalisation": p}}
    assert popularity_recall(runs) == (1, pytest.approx(2 / 3))  # the first run that has it
    assert popularity_recall({"old run": runs["old run"]}) is None
    from motor.explore.personalisation import popularity_sentence

    runs = {"ID": {"test": {"recall@1": 0.5}, "personalisation": p}, "MOTOR": {"test": {"recall@1": 0.7}}}
    assert popularity_sentence(runs).endswith("gets test Recall@1 0.6667 on this split; ID is below it.")
    runs["MOTOR"]["test"]["recall@1"] = 0.6
    assert popularity_sentence(runs).endswith("; ID, MOTOR are below it.")
    runs["ID"]["test"]["recall@1"] = runs["MOTOR"]["test"]["recall@1"] = 0.9
    assert popularity_sentence(runs).endswith("; every model here is above it.")
    assert popularity_sentence({"old run": {"test": {"recall@1": 0.5}}}) == ""
