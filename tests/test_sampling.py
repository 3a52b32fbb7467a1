"""The negative sampler never returns a user's training positive and is seeded."""

import time

import numpy as np

from motor.data.split import Pairs
from motor.sampling import NegativeSampler


def dense_pairs(seed=0, n_users=200, n_items=50, per_user=45):
    rng = np.random.default_rng(seed)
    users = np.repeat(np.arange(n_users), per_user)
    items = np.concatenate([rng.choice(n_items, per_user, replace=False) for _ in range(n_users)])
    return Pairs(users, items)


def test_negatives_are_never_positives_even_when_users_saw_90_percent():
    pairs = dense_pairs()
    s = NegativeSampler(pairs, 50)
    rng = np.random.default_rng(1)
    for _ in range(5):
        neg = s.sample(pairs.user, rng)
        positives = set(zip(pairs.user.tolist(), pairs.item.tolist()))
        assert not any((u, n) in positives for u, n in zip(pairs.user.tolist(), neg.tolist()))


def test_negatives_come_from_training_items_only():
    pairs = Pairs(np.array([0, 0, 1, 1]), np.array([0, 1, 1, 2]))
    s = NegativeSampler(pairs, n_items=10)  # items 3..9 never occur in training
    neg = s.sample(np.zeros(1000, np.int64), np.random.default_rng(0))
    assert set(neg.tolist()) == {2}


def test_epoch_batches_cover_every_row_once_and_are_seeded():
    pairs = dense_pairs(n_users=30)
    s = NegativeSampler(pairs, 50)
    a = list(s.epoch(128, np.random.default_rng(7)))
    b = list(s.epoch(128, np.random.default_rng(7)))
    assert sum(len(x.user) for x in a) == len(pairs)
    got = sorted(zip(np.concatenate([x.user for x in a]).tolist(), np.concatenate([x.pos for x in a]).tolist()))
    assert got == sorted(zip(pairs.user.tolist(), pairs.item.tolist()))
    assert all((x.neg == y.neg).all() for x, y in zip(a, b))


def test_one_epoch_of_100k_rows_is_vectorised():
    # A smoke guard against a per-row Python loop (which takes seconds); the target lives in benchmarks/.
    rng = np.random.default_rng(0)
    pairs = Pairs(rng.integers(0, 943, 100_000), rng.integers(0, 1682, 100_000))
    s = NegativeSampler(pairs, 1682)
    t = time.perf_counter()
    s.sample(pairs.user, rng)
    assert time.perf_counter() - t < 2.0


def test_epoch_without_negatives_draws_none_and_shuffles_alike():
    pairs = dense_pairs(n_users=30)
    s = NegativeSampler(pairs, 50)
    with_neg = list(s.epoch(128, np.random.default_rng(7)))
    without = list(s.epoch(128, np.random.default_rng(7), negatives=False))
    assert all(x.neg is None for x in without)
    assert all((x.user == y.user).all() and (x.pos == y.pos).all() for x, y in zip(with_neg, without))


def test_sharded_epochs_cover_every_training_pair_once_across_ranks():
    pairs = dense_pairs(n_users=37, per_user=11)  # 407 rows: not a multiple of 2 or 3 ranks
    s = NegativeSampler(pairs, 50)
    truth = sorted(zip(pairs.user.tolist(), pairs.item.tolist()))
    for world in (2, 3):
        for epoch_seed in (0, 1):  # every epoch, not only the first
            seen, negs, counts = [], [], []
            for rank in range(world):
                batches = list(s.epoch(64, np.random.default_rng(epoch_seed), device="cpu", rank=rank,
                                       world_size=world, neg_rng=np.random.default_rng([7, rank])))
                counts.append(len(batches))
                assert all(len(b.user) > 0 for b in batches)
                seen += [(u, p) for b in batches for u, p in zip(b.user.tolist(), b.pos.tolist())]
                negs.append(np.concatenate([b.neg.numpy() for b in batches]))
                users = np.concatenate([b.user.numpy() for b in batches])
                assert not s.is_positive(users, negs[-1]).any()
            assert sorted(seen) == truth  # each pair exactly once across the ranks
            assert len(set(counts)) == 1 and counts[0] == s.n_batches(64, world) == -(-len(truth) // 64)
            assert not np.array_equal(negs[0][:50], negs[1][:50])  # per-rank negative seeds


def test_batches_land_on_the_requested_device():
    s = NegativeSampler(dense_pairs(n_users=5), 50)
    b = next(s.epoch(8, np.random.default_rng(0), device="cpu"))
    assert b.user.device.type == b.pos.device.type == b.neg.device.type == "cpu"
