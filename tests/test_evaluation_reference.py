"""Evaluation against a brute-force reference written apart from motor.evaluate: plain Python, one user at a time.

The protocol (docs: MOTOR.md, MMREC_NOTES.md): full ranking; the user's training items are masked, and at test time
under 'strict' their validation items too (warm and cold); warm sets rank among the warm items, cold sets among all
items (and among the cold ones); only users with items in the set count; a relevant item ranks below any candidate
with an equal score. Popularity buckets follow motor.metrics.BUCKET_RULE, restated here from its text.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch

from motor.evaluate import Evaluator
from motor.experiment import RunConfig, run_experiment
from tests.conftest import write_simple
from tests.test_metrics import FixedScores

KS = (1, 5, 20, 50)  # K=1 < |T| for users with two test items; 40 items: K=50 exceeds every candidate list


def as_sets(pairs) -> dict[int, set[int]]:
    out: dict[int, set[int]] = {}
    for u, i in zip(pairs.user.tolist(), pairs.item.tolist()):
        out.setdefault(u, set()).add(i)
    return out


def union(*sets: dict[int, set[int]]) -> dict[int, set[int]]:
    out: dict[int, set[int]] = {}
    for d in sets:
        for u, items in d.items():
            out.setdefault(u, set()).update(items)
    return out


def reference(scores, truth, masked, candidates, ks=KS) -> dict[str, float]:
    values = {f"{m}@{k}": [] for m in ("recall", "ndcg", "precision", "map") for k in ks}
    for u, rel in sorted(truth.items()):
        pool = [i for i in sorted(candidates) if i not in masked.get(u, set())]
        ranked = sorted(pool, key=lambda i: (-float(scores[u][i]), i in rel, i))  # ties: relevant items last
        hits = [int(i in rel) for i in ranked]
        for k in ks:
            h = hits[:k]
            values[f"recall@{k}"].append(sum(h) / len(rel))
            values[f"precision@{k}"].append(sum(h) / k)
            idcg = sum(1 / math.log2(r + 2) for r in range(min(len(rel), k)))
            values[f"ndcg@{k}"].append(sum(x / math.log2(r + 2) for r, x in enumerate(h)) / idcg)
            values[f"map@{k}"].append(sum(sum(h[:r + 1]) / (r + 1) * x for r, x in enumerate(h)) / min(len(rel), k))
    return {k: float(np.mean(v)) for k, v in values.items()} if truth else {}


def buckets(split, head_share=0.2, tail_max=5) -> dict[int, str]:
    degree = np.bincount(split.train.item, minlength=split.n_items).tolist()
    warm = [i for i in range(split.n_items) if not split.cold_items[i]]
    seen = [i for i in warm if degree[i] > 0]
    head = set(sorted(seen, key=lambda i: (-degree[i], i))[:math.ceil(head_share * len(seen) - 1e-9)])
    return {i: "head" if i in head else "cold" if degree[i] == 0 else "tail" if degree[i] <= tail_max else "mid"
            for i in warm}


def expected(scores, split, protocol) -> dict:
    n, cold_items = split.n_items, split.cold_items
    train, valid = as_sets(split.train), as_sets(split.valid)
    at_test = train if protocol == "mmrec" else union(train, valid, as_sets(split.cold_valid))
    everything, warm = set(range(n)), {i for i in range(n) if not cold_items[i]}
    out = {"valid": reference(scores, valid, train, warm), "test": reference(scores, as_sets(split.test), at_test, warm)}
    for name, masked in (("cold", at_test), ("cold_valid", train)):
        truth = as_sets(getattr(split, name))
        if truth:
            among = reference(scores, truth, masked, set(np.flatnonzero(cold_items).tolist()))
            out[name] = {**reference(scores, truth, masked, everything),
                         **{f"{k}_among_cold": v for k, v in among.items()}}
    bucket, pop = buckets(split), {}
    for name in ("head", "mid", "tail", "cold"):
        rows = [(u, i) for u, i in zip(split.test.user.tolist(), split.test.item.tolist()) if bucket[i] == name]
        truth = union(*({u: {i}} for u, i in rows))
        m = reference(scores, truth, at_test, warm, (20,))
        pop[name] = {"items": sum(b == name for b in bucket.values()), "test_interactions": len(rows),
                     "users": len(truth), "recall@20": m.get("recall@20"), "ndcg@20": m.get("ndcg@20")}
    out["by_popularity"] = pop
    return out


def assert_close(got: dict, want: dict, where: str):
    for key, value in want.items():
        if isinstance(value, dict):
            assert_close(got[key], value, f"{where}/{key}")
        elif value is None or isinstance(value, int):
            assert got[key] == value, f"{where}/{key}"
        else:
            assert got[key] == pytest.approx(value, abs=1e-5), f"{where}/{key}"


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    return write_simple(tmp_path_factory.mktemp("reference") / "data", n_users=60, n_items=40, per_user=10)


@pytest.mark.parametrize("backbone,items,held_out,protocol", [
    ("bpr", "id", False, "strict"), ("bpr", "motor", True, "mmrec"),
    ("lightgcn", "id", True, "strict"), ("lightgcn", "motor", False, "mmrec"),
    ("vbpr", "id", True, "mmrec"), ("vbpr", "motor", False, "strict"),
    ("freedom", "id", False, "mmrec"), ("freedom", "motor", True, "strict"),
])
def test_metrics_json_matches_the_brute_force_reference(data, tmp_path, backbone, items, held_out, protocol):
    over = {"data.data": str(data), "backbone": backbone, "items": items, "train.epochs": 2, "train.batch_size": 64,
            "tokenizer": {"m": 2, "k": 4}, "train.protocol": protocol, "train.topk": list(KS), "split.train_fraction": 0.3}
    if held_out:
        over.update({"split.cold_items": 0.15, "split.cold_valid": 0.5})
    run = run_experiment(RunConfig().with_overrides(over), out_dir=tmp_path / "run")
    split, model = run.split, run.model
    assert split.unseen_items().any() and (not held_out or len(split.cold) and len(split.cold_valid))
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    with torch.no_grad():
        model.eval()
        scores = model.score(model.ranking_state(), torch.arange(split.n_users)).float().numpy()
    want = expected(scores, split, protocol)
    pop = want.pop("by_popularity")
    assert_close(metrics, want, "metrics.json")
    assert_close(metrics["by_popularity"]["buckets"], pop, "by_popularity")
    # the Evaluator API on the same scores rounded to one decimal: many ties, relevant items must rank last
    rounded = np.round(scores, 1).astype(np.float32)
    want = expected(rounded, split, protocol)
    ev = Evaluator(split, protocol, KS, batch_users=7)
    for which in ("valid", "test"):
        assert_close(ev.evaluate(FixedScores(rounded), which), want[which], f"ties/{which}")
    for which in ("cold", "cold_valid") if held_out else ():
        assert_close(ev.evaluate_cold(FixedScores(rounded), which), want[which], f"ties/{which}")
