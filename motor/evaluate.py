"""Full-ranking evaluation: every user against every item, in user batches, in torch.

Protocols: ``strict`` (default) masks the user's training items, and at test time also their
validation items; ``mmrec`` masks training items only, as MMRec does (validation items then
stay in the test candidate pool as non-relevant). Only users with at least one item in the
evaluated set are scored. Ties earn nothing: a relevant item whose score equals another candidate's
ranks below it (its score is lowered to the next float below), so a model that gives many items
one score (BM3's untrained cold rows all shrink to the same vector) is not credited by the order of
item indices; otherwise the top list is ordered by score, then by item index.

``evaluate_by_popularity`` adds test figures per popularity bucket (head / mid / tail / cold by
training degree) for ``metrics.json["by_popularity"]``.
"""

from __future__ import annotations

import numbers
from typing import Literal, get_args

import numpy as np
import torch

from motor.data.split import Pairs, Split
from motor.errors import MotorError, check_k
from motor.metrics import (
    BUCKET_RULE,
    BUCKETS,
    DEFAULT_KS,
    HEAD_SHARE,
    TAIL_MAX,
    popularity_buckets,
    topk_metrics,
)
from motor.models.base import Recommender

Protocol = Literal["strict", "mmrec"]
MASKED = -float("inf")
SCORE_BLOCK = 1 << 26  # most scores held at once (256 MB of float32), whatever the catalogue size
ITEM_CHUNKS_FROM = 1 << 18  # from this many items (262,144) scores are computed in item chunks too
CHUNK_USERS = 256  # users per block when chunking items (a block is then 256 x 262,144 scores)


class _UserSets:
    """Per-user item lists (CSR) of one set of pairs, each (user, item) pair once: a pair listed twice in a
    hand-built ``Split`` would otherwise count as two relevant items and two hits."""

    def __init__(self, pairs: Pairs, n_users: int):
        self.indptr, self.items = _distinct(pairs).csr(n_users)
        self.counts = np.diff(self.indptr)

    def rows_cols(self, users: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
        """(batch row, item) coordinates of these users' items, for masking or ground truth."""
        starts, counts = self.indptr[users], self.counts[users]
        rows = np.repeat(np.arange(len(users)), counts)
        offsets = np.arange(counts.sum()) - np.repeat(np.cumsum(counts) - counts, counts)
        return torch.from_numpy(rows), torch.from_numpy(self.items[np.repeat(starts, counts) + offsets])


def _distinct(pairs: Pairs) -> Pairs:
    """``pairs`` without repeats (the same pairs when there are none, as ``make_split`` guarantees)."""
    if len(pairs) == 0:
        return pairs
    width = int(pairs.item.max()) + 1
    keys = np.unique(pairs.user.astype(np.int64) * width + pairs.item)
    if len(keys) == len(pairs):
        return pairs
    return Pairs(keys // width, keys % width)


def lower_ties(scores: torch.Tensor, rows: torch.Tensor, cols: torch.Tensor) -> None:
    """Move the scores at (``rows``, ``cols``) (the relevant items) to the next float below, in place: a relevant
    item then ranks below any candidate with an equal score and keeps its place against every other."""
    at = (rows, cols)
    scores.index_put_(at, torch.nextafter(scores[at], torch.tensor(MASKED, device=scores.device)))


def ranked_topk(scores: torch.Tensor, k: int) -> torch.Tensor:
    """Indices of the top-k scores per row, ties ordered by item index (on the scores' device)."""
    values, idx = scores.topk(min(k, scores.shape[1]), dim=1)
    order = np.lexsort((idx.cpu().numpy(), -values.cpu().numpy()), axis=1)
    return idx.gather(1, torch.from_numpy(order).to(idx.device))


class _Totals:
    """Per-user metric values summed over user batches (and kept per user when asked): one place for both
    the dense and the chunked evaluation."""

    def __init__(self, per_user: bool):
        self.per_user, self.sums, self.values = per_user, {}, {}

    def add(self, values: dict[str, torch.Tensor]) -> None:
        for key, v in values.items():
            self.sums[key] = self.sums.get(key, 0.0) + v.sum()
            if self.per_user:
                self.values.setdefault(key, []).append(v)

    def result(self, users: np.ndarray) -> dict:
        out = {k: float(v) / len(users) for k, v in self.sums.items()}
        if self.per_user:
            out["_per_user"] = {k: torch.cat(v).numpy() for k, v in self.values.items()}
            out["_users"] = users
        return out


VALIDATION_SETS = ("valid", "cold_valid")
COLD_SETS = ("cold", "cold_valid")  # ranked among all items (warm sets: among the warm ones)


class Evaluator:
    """Full-ranking metrics of a model on one split, under a masking protocol."""

    def __init__(self, split: Split, protocol: Protocol = "strict", ks=DEFAULT_KS, batch_users: int = 4096,
                 device: torch.device | str | None = None):
        if protocol not in get_args(Protocol):  # any other name ranked as 'strict', silently ('MMRec', 'loose')
            raise MotorError(f"protocol must be one of {', '.join(map(repr, get_args(Protocol)))}, got {protocol!r}")
        self.split, self.protocol, self.ks = split, protocol, tuple(ks)
        if not self.ks or any(isinstance(k, bool) or not isinstance(k, numbers.Integral) or k < 1 for k in self.ks):
            # was an IndexError (K=0), a max() of nothing, or silently negative precision@-1
            raise MotorError(f"ks, the cut-offs K of the metrics, must be whole numbers of at least 1, got {list(ks)}")
        self.device = torch.device(device or "cpu")  # where scores, masks and top-k are computed
        n = split.n_users
        self.sets = {name: _UserSets(getattr(split, name), n) for name in ("train", "valid", "test", "cold", "cold_valid")}
        # Bound the score matrix to ~64M floats whatever the catalogue size.
        self.batch_users = max(1, min(batch_users, (1 << 26) // max(1, split.n_items)))

    def masked_sets(self, which: str) -> list[str]:
        """The sets whose items are removed from the candidates when evaluating ``which``: training items, and
        at test time (``strict``) the validation items too, warm and cold."""
        return self.masked_sets_for(self.split, self.protocol, which)

    @staticmethod
    def masked_sets_for(split: Split, protocol: Protocol, which: str) -> list[str]:
        """``masked_sets`` without an evaluator (the recommendations a saved run shows follow the same rule)."""
        if which in VALIDATION_SETS or protocol == "mmrec":
            return ["train"]
        return ["train", "valid", "cold_valid"] if len(split.cold_valid) else ["train", "valid"]

    def candidates(self, which: str) -> tuple[list[tuple[np.ndarray, np.ndarray]], np.ndarray | None]:
        """How ``which`` is ranked, for code that ranks outside ``evaluate`` (motor.explore.tail): the per-user
        items removed from the candidates, as CSR ``(indptr, items)`` per masked set, and the bool mask of the
        candidate items (None: all)."""
        masked = [(self.sets[n].indptr, self.sets[n].items) for n in self.masked_sets(which)]
        return masked, self._targets(which, None)[2]

    @torch.no_grad()
    def state(self, model: Recommender):
        """The model's ranking state (final user and item vectors, computed once per evaluation)."""
        model.eval()
        return model.ranking_state()

    def _targets(self, which: str, among: np.ndarray | None):
        """(ground truth of ``which``, users that have some, candidate mask): warm sets rank among the
        warm items when a cold hold-out exists, unless ``among`` says otherwise."""
        if which not in self.sets or which == "train":  # was a KeyError: 'tset'
            raise MotorError(f"which must be one of {', '.join(repr(n) for n in self.sets if n != 'train')}, "
                             f"got {which!r}")
        truth = self.sets[which]
        if among is None and which not in COLD_SETS and self.split.cold_items.any():
            among = ~self.split.cold_items
        return truth, np.flatnonzero(truth.counts > 0), among

    def _candidate_scores(self, model: Recommender, state, batch: np.ndarray, which: str,
                          excluded: torch.Tensor | None) -> torch.Tensor:
        """Scores of the users ``batch`` against every item, the masked sets of ``which`` and the
        ``excluded`` items at -inf: what ranking ``which`` sees."""
        dev = self.device
        scores = model.score(state, torch.from_numpy(batch).to(dev)).float().clone()
        for name in self.masked_sets(which):
            rows, cols = self.sets[name].rows_cols(batch)
            scores.index_put_((rows.to(dev), cols.to(dev)), torch.tensor(MASKED, device=dev))
        if excluded is not None:
            scores[:, excluded] = MASKED
        return scores

    @torch.no_grad()
    def top_lists(self, model: Recommender, which: str = "test", k: int = 20, state=None) -> torch.Tensor:
        """Top-``k`` item lists ``[users, k]`` of the users with items in ``which``, in their order, ranked as
        ``evaluate`` ranks them (same masking and candidates; ties by item index, as no item is relevant here)."""
        state = self.state(model) if state is None else state
        _, users, among = self._targets(which, None)
        excluded = None if among is None else torch.from_numpy(~np.asarray(among, bool)).to(self.device)
        k = min(k, self.split.n_items)
        scorer = inner_product_scorer(model, state)
        lists = []
        if self.split.n_items >= ITEM_CHUNKS_FROM and scorer is not None:
            for start in range(0, len(users), CHUNK_USERS):
                batch = users[start:start + CHUNK_USERS]
                masked = [self.sets[name].rows_cols(batch) for name in self.masked_sets(which)]
                lists.append(chunked_topk(scorer, torch.from_numpy(batch), self.split.n_items, k, masked,
                                          None if excluded is None else excluded.cpu(),
                                          max(1, SCORE_BLOCK // CHUNK_USERS))[1])
        else:
            for start in range(0, len(users), self.batch_users):
                batch = users[start:start + self.batch_users]
                lists.append(ranked_topk(self._candidate_scores(model, state, batch, which, excluded), k).cpu())
        return torch.cat(lists) if lists else torch.empty(0, k, dtype=torch.long)

    @torch.no_grad()
    def evaluate(self, model: Recommender, which: str = "valid", state=None, among: np.ndarray | None = None,
                 per_user: bool = False) -> dict[str, float]:
        """Mean metrics over users with items in ``which`` (valid, test or cold).

        ``among`` (bool per item) restricts the candidates to those items, for example to
        rank cold items among cold items only.
        """
        state = self.state(model) if state is None else state
        if self.split.n_items >= ITEM_CHUNKS_FROM and inner_product_scorer(model, state) is not None:
            return self.evaluate_chunked(model, which, state, among, per_user)
        truth, users, among = self._targets(which, among)
        if len(users) == 0:
            return {}
        dev = self.device
        excluded = None if among is None else torch.from_numpy(~np.asarray(among, bool)).to(dev)
        totals = _Totals(per_user)
        max_k = max(self.ks)
        for start in range(0, len(users), self.batch_users):
            batch = users[start:start + self.batch_users]
            scores = self._candidate_scores(model, state, batch, which, excluded)
            rows, cols = (t.to(dev) for t in truth.rows_cols(batch))
            lower_ties(scores, rows, cols)
            top = ranked_topk(scores, max_k)
            relevant = torch.zeros_like(scores, dtype=torch.bool)
            relevant.index_put_((rows, cols), torch.tensor(True, device=dev))
            hits = (relevant.gather(1, top) & torch.isfinite(scores.gather(1, top))).cpu()  # [users, K]: small
            totals.add(topk_metrics(hits, torch.from_numpy(truth.counts[batch]), self.ks))
        return totals.result(users)

    @torch.no_grad()
    def evaluate_chunked(self, model: Recommender, which: str = "valid", state=None, among: np.ndarray | None = None,
                         per_user: bool = False, batch_users: int | None = None,
                         item_chunk: int | None = None) -> dict[str, float]:
        """``evaluate`` with the score matrix cut over users and over items, for large catalogues.

        Same metrics as ``evaluate`` (a test checks they are equal); needs a model that scores by
        inner product (``inner_product_scorer``). Memory: one block of ``batch_users x item_chunk``
        scores plus each user's running top-K.
        """
        state = self.state(model) if state is None else state
        scorer = inner_product_scorer(model, state)
        if scorer is None:
            raise ValueError(f"{type(model).__name__} does not score by inner product; use evaluate()")
        truth, users, among = self._targets(which, among)
        if len(users) == 0:
            return {}
        excluded = None if among is None else torch.from_numpy(~np.asarray(among, bool))
        n_items = self.split.n_items
        batch_users = batch_users or CHUNK_USERS
        item_chunk = item_chunk or max(1, SCORE_BLOCK // batch_users)
        max_k = max(self.ks)
        totals = _Totals(per_user)
        for start in range(0, len(users), batch_users):
            batch = users[start:start + batch_users]
            masked = [self.sets[name].rows_cols(batch) for name in self.masked_sets(which)]
            rows, items = truth.rows_cols(batch)
            values, top = chunked_topk(scorer, torch.from_numpy(batch), n_items, max_k, masked, excluded, item_chunk,
                                       lowered=(rows, items))
            relevant = np.sort(rows.numpy() * n_items + items.numpy())
            keys = (torch.arange(len(batch))[:, None] * n_items + top).numpy()
            pos = np.minimum(np.searchsorted(relevant, keys), len(relevant) - 1)
            hits = torch.from_numpy(relevant[pos] == keys) & torch.isfinite(values)
            totals.add(topk_metrics(hits, torch.from_numpy(truth.counts[batch]), self.ks))
        return totals.result(users)

    def evaluate_cold(self, model: Recommender, which: str = "cold", state=None) -> dict[str, float]:
        """Metrics of a cold set (``cold`` or ``cold_valid``) ranked among all items, and with ``_among_cold``
        among the cold items only; empty when the set is."""
        if not len(getattr(self.split, which)):
            return {}
        state = self.state(model) if state is None else state
        out = self.evaluate(model, which, state)
        among = self.evaluate(model, which, state, among=self.split.cold_items)
        out.update({f"{k}_among_cold": v for k, v in among.items()})
        return out

    def evaluate_all(self, model: Recommender) -> dict[str, dict[str, float]]:
        """Test metrics, and cold-item metrics (among all items and among cold items) when present."""
        state = self.state(model)
        out = {"test": self.evaluate(model, "test", state)}
        if len(self.split.cold):
            out["cold"] = self.evaluate_cold(model, "cold", state)
        return out


def evaluate_by_popularity(evaluator: Evaluator, model: Recommender, state=None, k: int = 20,
                           head_share: float = HEAD_SHARE, tail_max: int = TAIL_MAX) -> dict:
    """Test Recall@k and NDCG@k restricted to the test interactions of each popularity bucket.

    For bucket B a user's relevant set is their test items in B (users with none are skipped);
    every item is still a candidate (test items of other buckets count as misses), with the test
    masking of the evaluator's protocol, so the four figures are comparable with the overall test
    figure. Buckets come from the training degree (``motor.metrics.BUCKET_RULE``). JSON-ready:
    ``{"k", "rule", "buckets": {name: {"items", "test_interactions", "users", "recall@k",
    "ndcg@k"}}}``, the value of ``metrics.json["by_popularity"]``.
    """
    check_k(k)
    if k not in evaluator.ks:
        raise MotorError(f"popularity buckets at K={k} need K among the evaluated cut-offs {list(evaluator.ks)}")
    split = evaluator.split
    state = evaluator.state(model) if state is None else state
    bucket = popularity_buckets(split.train_degree(), split.cold_items, head_share, tail_max)
    test_bucket = bucket[split.test.item]
    out = {}
    for b, name in enumerate(BUCKETS):
        rows = test_bucket == b
        pairs = Pairs(split.test.user[rows], split.test.item[rows])
        key = f"test:{name}"  # a temporary ground-truth set, masked and ranked exactly like "test"
        evaluator.sets[key] = _UserSets(pairs, split.n_users)
        try:
            values = evaluator.evaluate(model, key, state) if len(pairs) else {}
        finally:
            del evaluator.sets[key]
        out[name] = {"items": int((bucket == b).sum()), "test_interactions": int(rows.sum()),
                     "users": len(np.unique(pairs.user)),
                     f"recall@{k}": values.get(f"recall@{k}"), f"ndcg@{k}": values.get(f"ndcg@{k}")}
    return {"k": k, "rule": BUCKET_RULE.format(head=head_share, tail=tail_max), "buckets": out}


def by_popularity(model: Recommender, split: Split, protocol: Protocol = "strict", k: int = 20) -> dict:
    """``evaluate_by_popularity`` with a fresh evaluator: what a finished run adds to metrics.json."""
    check_k(k)  # k=0 was an IndexError from inside the ranking
    return evaluate_by_popularity(Evaluator(split, protocol, ks=(k,)), model, k=k)


def inner_product_scorer(model, state):
    """``scores(users, lo, hi)`` against items ``lo:hi`` for models that rank by user . item vector
    (those that keep ``Recommender.score``); None for any other scoring."""
    if type(model).score is not Recommender.score or not (isinstance(state, tuple) and len(state) == 2):
        return None
    user_vecs, item_vecs = state
    return lambda users, lo, hi: user_vecs[users] @ item_vecs[lo:hi].T


def chunked_topk(scorer, users: torch.Tensor, n_items: int, k: int, masked: list[tuple[torch.Tensor, torch.Tensor]],
                 excluded: torch.Tensor | None, item_chunk: int,
                 lowered: tuple[torch.Tensor, torch.Tensor] | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """(scores, items) of each user's top-k over all items, scoring ``item_chunk`` items at a time.

    ``scorer(users, lo, hi)`` must return a new tensor (it is masked in place); ``masked``: (row,
    item) coordinates set to -inf (seen items); ``excluded``: bool per item; ``lowered``: (row, item)
    coordinates moved below equal scores (``lower_ties``: the relevant items).
    Ordered by score, then by item index, as ``ranked_topk``.
    """
    best_v = torch.empty(len(users), 0)
    best_i = torch.empty(len(users), 0, dtype=torch.long)
    for lo in range(0, n_items, item_chunk):
        hi = min(lo + item_chunk, n_items)
        scores = scorer(users, lo, hi).float()  # a fresh block (matmul output): masked in place
        for rows, cols in masked:
            inside = (cols >= lo) & (cols < hi)
            scores[rows[inside], cols[inside] - lo] = MASKED
        if excluded is not None:
            scores[:, excluded[lo:hi]] = MASKED
        if lowered is not None:
            inside = (lowered[1] >= lo) & (lowered[1] < hi)
            lower_ties(scores, lowered[0][inside], lowered[1][inside] - lo)
        v, i = scores.topk(min(k, hi - lo), dim=1)
        best_v, best_i = torch.cat([best_v, v], 1), torch.cat([best_i, i + lo], 1)
        if best_v.shape[1] > k:
            best_v, keep = best_v.topk(k, dim=1)
            best_i = best_i.gather(1, keep)
    order = np.lexsort((best_i.numpy(), -best_v.numpy()), axis=1)
    order = torch.from_numpy(order)
    return best_v.gather(1, order), best_i.gather(1, order)
