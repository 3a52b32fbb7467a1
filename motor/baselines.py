"""Non-learned reference rankers: popularity and random. A model worth showing beats both."""

from __future__ import annotations

import numpy as np
import torch

from motor.data.split import Split


class Popularity:
    """Scores every item by its number of training interactions (same for every user)."""

    def __init__(self, split: Split):
        self.counts = torch.from_numpy(np.bincount(split.train.item, minlength=split.n_items).astype(np.float32))

    def eval(self):
        return self

    def ranking_state(self):
        return self.counts

    def score(self, state, users: torch.Tensor) -> torch.Tensor:
        return state.expand(len(users), -1)


class RandomScores:
    """Seeded random scores: the chance level of every metric."""

    def __init__(self, split: Split, seed: int = 0):
        g = torch.Generator().manual_seed(seed)
        self.scores = torch.rand(split.n_users, split.n_items, generator=g)

    def eval(self):
        return self

    def ranking_state(self):
        return self.scores

    def score(self, state, users: torch.Tensor) -> torch.Tensor:
        return state[users]
