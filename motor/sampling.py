"""Vectorised BPR negative sampling: one uniform negative per training row, never a positive.

MMRec draws negatives in a per-row Python loop. Here a whole epoch is drawn at once, and
only the rows that hit one of the user's training items are redrawn (a few rounds at most).
Candidates are the items present in training, as in MMRec, so a cold item is never a
negative either: ID models learn nothing about it.
"""

from __future__ import annotations

import numpy as np
import torch

from motor.data.split import Pairs
from motor.errors import MotorError
from motor.models.base import Batch


class NegativeSampler:
    """Training rows in shuffled batches, each with a uniformly drawn non-positive item."""

    def __init__(self, train: Pairs, n_items: int, candidates: np.ndarray | None = None):
        self.n_items = int(n_items)
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
        raise MotorError(f"user index {int(users[bad[0]])} has interacted with (almost) every training item, so no "
                         f"negative item can be sampled; remove such users or add items")

    def epoch(self, batch_size: int, rng: np.random.Generator, negatives: bool = True):
        """Shuffled training rows in batches, each row with a fresh negative (``negatives=False``: none
        drawn, ``Batch.neg`` is None, for models that never read it)."""
        order = rng.permutation(len(self.user))
        users, pos = self.user[order], self.item[order]
        neg = self.sample(users, rng) if negatives else None
        for start in range(0, len(order), batch_size):
            s = slice(start, start + batch_size)
            yield Batch(torch.from_numpy(users[s]), torch.from_numpy(pos[s]),
                        torch.from_numpy(neg[s]) if negatives else None)

    def n_batches(self, batch_size: int) -> int:
        """Batches per epoch."""
        return -(-len(self.user) // batch_size)
