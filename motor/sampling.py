"""Vectorised BPR negative sampling: one uniform negative per training row, never a positive.

MMRec draws negatives in a per-row Python loop. Here a whole epoch is drawn at once, and
only the rows that hit one of the user's training items are redrawn (a few rounds at most).
Candidates are the items present in training, as in MMRec, so a cold item is never a
negative either: ID models learn nothing about it.
"""

from __future__ import annotations

import itertools

import numpy as np
import torch

from motor.data.split import Pairs
from motor.errors import MotorError
from motor.models.base import Batch


class NegativeSampler:
    """Training rows in shuffled batches, each with a uniformly drawn non-positive item."""

    def __init__(self, train: Pairs, n_items: int, candidates: np.ndarray | None = None,
                 user_ids: np.ndarray | None = None):
        """``user_ids``: the users' ids in the data files, named in messages (the user knows no internal index)."""
        self.n_items = int(n_items)
        self.user_ids = user_ids
        self.user, self.item = train.user.astype(np.int64), train.item.astype(np.int64)
        self.positive_keys = np.unique(self.user * self.n_items + self.item)
        self.candidates = np.unique(self.item) if candidates is None else np.asarray(candidates, np.int64)

    def is_positive(self, users: np.ndarray, items: np.ndarray) -> np.ndarray:
        """Whether each (user, item) pair is a training interaction."""
        keys = users * self.n_items + items
        pos = np.searchsorted(self.positive_keys, keys)
        pos[pos == len(self.positive_keys)] = 0
        return self.positive_keys[pos] == keys

    def sample(self, users: np.ndarray, rng: np.random.Generator, max_rounds: int = 200) -> np.ndarray:
        """One negative item per user, redrawing the rows that hit a positive."""
        neg = self.candidates[rng.integers(0, len(self.candidates), size=len(users))]
        bad = np.flatnonzero(self.is_positive(users, neg))
        for _ in range(max_rounds):
            if len(bad) == 0:
                return neg
            neg[bad] = self.candidates[rng.integers(0, len(self.candidates), size=len(bad))]
            bad = bad[self.is_positive(users[bad], neg[bad])]
        u = int(users[bad[0]])
        who = f"user {str(self.user_ids[u])!r}" if self.user_ids is not None else f"user index {u}"
        raise MotorError(f"{who} has interacted with (almost) every training item, so no negative item can be "
                         f"sampled; remove such users or add items")

    def epoch(self, batch_size: int, rng: np.random.Generator, negatives: bool = True, device=None,
              rank: int = 0, world_size: int = 1, neg_rng: np.random.Generator | None = None):
        """Shuffled training rows in batches, each row with a fresh negative (``negatives=False``: none
        drawn, ``Batch.neg`` is None, for models that never read it), on ``device`` (default: CPU).

        Data-parallel (``world_size > 1``): every rank draws the same permutation from ``rng`` (same seed
        on every rank) and keeps the rows ``rank, rank + world_size, ...``, so each training pair is used
        exactly once per epoch across ranks; negatives come from ``neg_rng`` (seeded per rank). Every
        rank yields ``n_batches(batch_size, world_size)`` batches of ``batch_size // world_size`` rows or
        about that, so the ranks step together and the total batch stays ``batch_size``.
        """
        order = rng.permutation(len(self.user))
        if world_size > 1:
            order = order[rank::world_size]
        users, pos = self.user[order], self.item[order]
        neg = self.sample(users, neg_rng if neg_rng is not None else rng) if negatives else None
        if world_size > 1:
            bounds = np.linspace(0, len(order), self.n_batches(batch_size, world_size) + 1).round().astype(int)
            slices = [slice(a, b) for a, b in itertools.pairwise(bounds)]
        else:
            slices = [slice(start, start + batch_size) for start in range(0, len(order), batch_size)]

        def to(a):
            t = torch.from_numpy(a)
            return t if device is None else t.to(device, non_blocking=True)

        for s in slices:
            yield Batch(to(users[s]), to(pos[s]), to(neg[s]) if negatives else None)

    def n_batches(self, batch_size: int, world_size: int = 1) -> int:
        """Batches per epoch (per rank: the same on every rank, at least one row each)."""
        if world_size == 1:
            return -(-len(self.user) // batch_size)
        per_rank = len(self.user) // world_size  # the smallest shard
        return max(1, min(per_rank, -(-len(self.user) // batch_size)))
