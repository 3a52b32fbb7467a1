"""Full-ranking evaluation: every user against every item, in user batches, in torch.

Protocols: ``strict`` (default) masks the user's training items, and at test time also their
validation items; ``mmrec`` masks training items only, as MMRec does (validation items then
stay in the test candidate pool as non-relevant). Only users with at least one item in the
evaluated set are scored. Ties: the top list is ordered by score, then by item index.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import torch

from motor.data.split import Pairs, Split
from motor.metrics import DEFAULT_KS, topk_metrics
from motor.models.base import Recommender

Protocol = Literal["strict", "mmrec"]
MASKED = -float("inf")


class _UserSets:
    """Per-user item lists (CSR) of one set of pairs."""

    def __init__(self, pairs: Pairs, n_users: int):
        self.indptr, self.items = pairs.csr(n_users)
        self.counts = np.diff(self.indptr)

    def rows_cols(self, users: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
        """(batch row, item) coordinates of these users' items, for masking or ground truth."""
        starts, counts = self.indptr[users], self.counts[users]
        rows = np.repeat(np.arange(len(users)), counts)
        offsets = np.arange(counts.sum()) - np.repeat(np.cumsum(counts) - counts, counts)
        return torch.from_numpy(rows), torch.from_numpy(self.items[np.repeat(starts, counts) + offsets])


def ranked_topk(scores: torch.Tensor, k: int) -> torch.Tensor:
    """Indices of the top-k scores per row, ties ordered by item index."""
    values, idx = scores.topk(min(k, scores.shape[1]), dim=1)
    order = np.lexsort((idx.numpy(), -values.numpy()), axis=1)
    return idx.gather(1, torch.from_numpy(order))


class Evaluator:
    """Full-ranking metrics of a model on one split, under a masking protocol."""

    def __init__(self, split: Split, protocol: Protocol = "strict", ks=DEFAULT_KS, batch_users: int = 4096):
        self.split, self.protocol, self.ks = split, protocol, tuple(ks)
        n = split.n_users
        self.sets = {name: _UserSets(getattr(split, name), n) for name in ("train", "valid", "test", "cold")}
        # Bound the score matrix to ~64M floats whatever the catalogue size.
        self.batch_users = max(1, min(batch_users, (1 << 26) // max(1, split.n_items)))

    def masked_sets(self, which: str) -> list[str]:
        """The sets whose items are removed from the candidates when evaluating ``which``."""
        if which == "valid" or self.protocol == "mmrec":
            return ["train"]
        return ["train", "valid"]

    @torch.no_grad()
    def state(self, model: Recommender):
        """The model's ranking state (final user and item vectors, computed once per evaluation)."""
        model.eval()
        return model.ranking_state()

    @torch.no_grad()
    def evaluate(self, model: Recommender, which: str = "valid", state=None, among: np.ndarray | None = None,
                 per_user: bool = False) -> dict[str, float]:
        """Mean metrics over users with items in ``which`` (valid, test or cold).

        ``among`` (bool per item) restricts the candidates to those items, for example to
        rank cold items among cold items only.
        """
        state = self.state(model) if state is None else state
        truth = self.sets[which]
        users = np.flatnonzero(truth.counts > 0)
        if len(users) == 0:
            return {}
        if among is None and which != "cold" and self.split.cold_items.any():
            among = ~self.split.cold_items
        excluded = None if among is None else torch.from_numpy(~np.asarray(among, bool))
        sums: dict[str, torch.Tensor] = {}
        per_user_values: dict[str, list] = {}
        max_k = max(self.ks)
        for start in range(0, len(users), self.batch_users):
            batch = users[start:start + self.batch_users]
            scores = model.score(state, torch.from_numpy(batch)).float().clone()
            for name in self.masked_sets(which):
                scores.index_put_(self.sets[name].rows_cols(batch), torch.tensor(MASKED))
            if excluded is not None:
                scores[:, excluded] = MASKED
            top = ranked_topk(scores, max_k)
            relevant = torch.zeros_like(scores, dtype=torch.bool)
            relevant.index_put_(truth.rows_cols(batch), torch.tensor(True))
            hits = relevant.gather(1, top) & torch.isfinite(scores.gather(1, top))
            values = topk_metrics(hits, torch.from_numpy(truth.counts[batch]), self.ks)
            for key, v in values.items():
                sums[key] = sums.get(key, 0.0) + v.sum()
                if per_user:
                    per_user_values.setdefault(key, []).append(v)
        out = {k: float(v) / len(users) for k, v in sums.items()}
        if per_user:
            out["_per_user"] = {k: torch.cat(v).numpy() for k, v in per_user_values.items()}
            out["_users"] = users
        return out

    def evaluate_all(self, model: Recommender) -> dict[str, dict[str, float]]:
        """Test metrics, and cold-item metrics (among all items and among cold items) when present."""
        state = self.state(model)
        out = {"test": self.evaluate(model, "test", state)}
        if len(self.split.cold):
            cold = self.evaluate(model, "cold", state)
            among = self.evaluate(model, "cold", state, among=self.split.cold_items)
            cold.update({f"{k}_among_cold": v for k, v in among.items()})
            out["cold"] = cold
        return out
