"""Train / validation / test splits, and the cold-item hold-out.

``random_split`` is MMRec's per-user random split (n < 10: n-2 / 1 / 1; otherwise
vt = int(0.2 n), validation vt // 2, test the rest of vt), but seeded. ``time_split`` uses the
same counts with each user's latest interactions as test. ``given`` keeps a file's x_label.

With ``cold_items > 0`` a seeded fraction of items is removed before splitting; all their
interactions (for users that still have training items) form the separate ``cold`` set, so
the regular test figures stay comparable with a run without cold items.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

from motor.config import doc
from motor.data.dataset import Dataset
from motor.errors import MotorError


@dataclass
class SplitConfig:
    """How interactions are divided into train, validation, test (and cold) sets."""

    method: Literal["auto", "random", "time", "given"] = doc(
        "auto", "'random' (MMRec per-user random, seeded), 'time' (per user, latest last), 'given' (the file's "
                "x_label column); 'auto' = given when the data has x_label, else random")
    seed: int = doc(2024, "seed of the random split and of the cold-item draw")
    cold_items: float = doc(0.0, "fraction of items held out of training and validation entirely; their "
                                 "interactions are evaluated separately as 'cold' (0 = off)")

    def validate(self):
        if not 0.0 <= self.cold_items < 1.0:
            raise MotorError(f"cold_items is a fraction of items in [0, 1), got {self.cold_items}; try 0.1")


@dataclass
class Pairs:
    """(user, item) pairs with a per-user CSR index for masking and ground truth."""

    user: np.ndarray
    item: np.ndarray

    def __len__(self) -> int:
        return int(self.user.shape[0])

    def csr(self, n_users: int) -> tuple[np.ndarray, np.ndarray]:
        order = np.argsort(self.user, kind="stable")
        indptr = np.zeros(n_users + 1, np.int64)
        np.cumsum(np.bincount(self.user, minlength=n_users), out=indptr[1:])
        return indptr, self.item[order]

    def users(self) -> np.ndarray:
        return np.unique(self.user)


@dataclass
class Split:
    n_users: int
    n_items: int
    train: Pairs
    valid: Pairs
    test: Pairs
    cold: Pairs  # interactions with cold items (empty unless cold_items > 0)
    cold_items: np.ndarray  # bool [n_items]
    method: str
    notes: list[str]

    def train_items(self) -> np.ndarray:
        """Items that occur in training: the only ones BPR negatives are drawn from (as MMRec)."""
        return np.unique(self.train.item)

    def summary(self) -> dict:
        return {"method": self.method, "train": len(self.train), "valid": len(self.valid), "test": len(self.test),
                "cold": len(self.cold), "cold_items": int(self.cold_items.sum()), "notes": list(self.notes)}

    def to_arrays(self) -> dict[str, np.ndarray]:
        out = {"cold_items": self.cold_items, "shape": np.array([self.n_users, self.n_items])}
        for name in ("train", "valid", "test", "cold"):
            p = getattr(self, name)
            out[f"{name}_user"], out[f"{name}_item"] = p.user, p.item
        return out

    @classmethod
    def from_arrays(cls, a: dict[str, np.ndarray], method: str = "saved") -> "Split":
        n_users, n_items = map(int, a["shape"])
        pairs = {n: Pairs(a[f"{n}_user"].astype(np.int64), a[f"{n}_item"].astype(np.int64))
                 for n in ("train", "valid", "test", "cold")}
        return cls(n_users, n_items, **pairs, cold_items=a["cold_items"].astype(bool), method=method, notes=[])


def _per_user_counts(n: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(valid, test) counts per user with MMRec's rule; users with < 3 interactions keep all in train."""
    vt = np.where(n < 10, 2, (0.2 * n).astype(np.int64))
    valid = np.where(n < 10, 1, vt // 2)
    test = vt - valid
    few = n < 3
    return np.where(few, 0, valid), np.where(few, 0, test)


def _assign(users: np.ndarray, order: np.ndarray, n_users: int) -> np.ndarray:
    """Labels 0/1/2 given an ordering of rows in which each user's test rows come first."""
    users_sorted = users[order]
    counts = np.bincount(users, minlength=n_users)
    start = np.zeros(n_users + 1, np.int64)
    np.cumsum(counts, out=start[1:])
    rank = np.arange(len(order)) - start[users_sorted]  # position within the user's block
    n_valid, n_test = _per_user_counts(counts)
    lab = np.zeros(len(order), np.int8)
    u = users_sorted
    lab[rank < n_test[u] + n_valid[u]] = 1
    lab[rank < n_test[u]] = 2
    labels = np.empty(len(order), np.int8)
    labels[order] = lab
    return labels


def random_labels(users: np.ndarray, n_users: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    shuffled = rng.permutation(len(users))
    order = shuffled[np.argsort(users[shuffled], kind="stable")]
    return _assign(users, order, n_users)


def time_labels(users: np.ndarray, timestamps: np.ndarray, n_users: int) -> np.ndarray:
    # Latest first within each user: sort by (user, -time), ties by file order.
    idx = np.arange(len(users))
    order = np.lexsort((idx, -timestamps, users))
    return _assign(users, order, n_users)


def make_split(ds: Dataset, cfg: SplitConfig | None = None) -> Split:
    cfg = cfg or SplitConfig()
    cfg.validate()
    inter = ds.interactions
    method = cfg.method
    if method == "auto":
        method = "given" if inter.label is not None else "random"
    notes: list[str] = []

    cold_items = np.zeros(ds.n_items, bool)
    if cfg.cold_items > 0:
        rng = np.random.default_rng(cfg.seed + 1)
        n_cold = int(round(cfg.cold_items * ds.n_items))
        if n_cold < 1:
            raise MotorError(f"cold_items={cfg.cold_items} selects no item out of {ds.n_items}; use a larger fraction")
        cold_items[rng.choice(ds.n_items, n_cold, replace=False)] = True
    is_cold = cold_items[inter.item]
    warm = np.flatnonzero(~is_cold)

    users = inter.user[warm]
    if method == "given":
        if inter.label is None:
            raise MotorError("split 'given' needs an x_label column (0 train, 1 valid, 2 test); use 'random' or 'time'")
        labels = inter.label[warm]
    elif method == "time":
        if inter.timestamp is None:
            raise MotorError("split 'time' needs a timestamp column in the interactions; use 'random'")
        labels = time_labels(users, inter.timestamp[warm], ds.n_users)
    else:
        labels = random_labels(users, ds.n_users, cfg.seed)

    has_train = np.zeros(ds.n_users, bool)
    has_train[users[labels == 0]] = True
    orphan_users = np.unique(users[~has_train[users]])
    if len(orphan_users) and method == "given":
        examples = ", ".join(map(str, ds.user_ids[orphan_users[:5]]))
        raise MotorError(f"{len(orphan_users)} users have validation or test interactions but none with x_label 0 "
                         f"(for example users {examples}); give each of them a training row, or drop their rows")
    if len(orphan_users):
        notes.append(f"{len(orphan_users)} users have no training interaction left after the cold-item hold-out; "
                     f"they are not evaluated")
    keep = has_train[users]

    def pairs(mask):
        rows = warm[mask & keep]
        return Pairs(inter.user[rows].astype(np.int64), inter.item[rows].astype(np.int64))

    train, valid, test = pairs(labels == 0), pairs(labels == 1), pairs(labels == 2)
    cold_rows = np.flatnonzero(is_cold & has_train[inter.user])
    cold = Pairs(inter.user[cold_rows].astype(np.int64), inter.item[cold_rows].astype(np.int64))
    if len(train) == 0:
        raise MotorError("the split left no training interactions; check the x_label column or use more data")
    if cfg.cold_items > 0:
        notes.append(f"{int(cold_items.sum())} cold items ({cfg.cold_items:.0%}) with {len(cold)} interactions held out")
    few = int((np.bincount(inter.user[warm], minlength=ds.n_users)[np.unique(users)] < 3).sum())
    if method in ("random", "time") and few:
        notes.append(f"{few} users with fewer than 3 interactions keep them all in training (not evaluated)")
    return Split(ds.n_users, ds.n_items, train, valid, test, cold, cold_items, method, notes)
