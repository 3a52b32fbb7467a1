"""Train / validation / test splits, and the cold-item hold-out.

``random_split`` is MMRec's per-user random split (n < 10: n-2 / 1 / 1; otherwise
vt = int(0.2 n), validation vt // 2, test the rest of vt), but seeded. ``time_split`` uses the
same counts with each user's latest interactions as test. ``given`` keeps a file's x_label.

With ``cold_items > 0`` a seeded fraction of items is removed before splitting; all their
interactions (for users that still have training items) form the separate ``cold`` set, so
the regular test figures stay comparable with a run without cold items. With ``cold_valid > 0`` a
seeded share of those cold items gives a ``cold_valid`` set instead: validation for settings that
only cold items show (the cold path's ``cold_dropout``), so they are chosen without reading the
``cold`` test figures. Training is the same either way (cold items never train).

With ``train_fraction < 1`` the training set is thinned after the split, to study sparse
regimes: every training row gets one seeded random key (independent of the fraction), and each
user keeps the ``ceil(F * n_u)`` rows with the smallest keys, so at least one row per user, and
the rows kept at F = 0.1 are a subset of those kept at F = 0.25 for the same seed. Validation
and test are not touched. Items that lose all their training rows stay in the catalogue: they
become *unseen* items (``Split.unseen_items()``), reported in ``summary()``. Their validation
and test interactions stay where they were, so the ordinary test figures include them (ranked
among all items, as any test item), and the popularity buckets of ``motor.evaluate`` report
them separately as the ``cold`` bucket (zero training interactions).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd

from motor.config import checked, doc
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
    train_fraction: float = doc(1.0, "after the split, keep this seeded fraction of each user's training "
                                     "interactions (at least one per user; nested across fractions for one seed); "
                                     "validation and test are unchanged (1 = all)")
    cold_valid: float = doc(0.0, "share of the cold items whose interactions validate cold-item settings ('cold_valid' "
                                 "in metrics.json) instead of testing them; the rest stay the 'cold' test set (0 = "
                                 "off; needs cold_items)")

    def validate(self):
        if not 0 <= self.seed < 2**32:  # numpy's seeds are 32-bit
            raise MotorError(f"split.seed must be between 0 and 2**32 - 1 = 4294967295, got {self.seed}; try 2024")
        if not 0.0 <= self.cold_items < 1.0:
            raise MotorError(f"cold_items is a fraction of items in [0, 1), got {self.cold_items}; try 0.1")
        if not 0.0 <= self.cold_valid < 1.0:
            raise MotorError(f"cold_valid is a share of the cold items in [0, 1), got {self.cold_valid}; try 0.5")
        if self.cold_valid > 0 and self.cold_items == 0:
            raise MotorError("cold_valid splits the cold items into validation and test, but cold_items is 0; "
                             "hold items out too, e.g. cold_items=0.1 cold_valid=0.5")
        if not 0.0 < self.train_fraction <= 1.0:
            raise MotorError(f"train_fraction is a fraction of each user's training interactions in (0, 1], "
                             f"got {self.train_fraction}; try 0.25")


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
    train_fraction: float = 1.0
    cold_valid: Pairs | None = None  # interactions with the cold items that validate (None: no such set)
    user_ids: np.ndarray | None = None  # the dataset's user ids, for messages (None: a saved split, not stored)

    def __post_init__(self):
        if self.cold_valid is None:
            self.cold_valid = Pairs(np.zeros(0, np.int64), np.zeros(0, np.int64))

    def train_items(self) -> np.ndarray:
        """Items that occur in training: the only ones BPR negatives are drawn from (as MMRec)."""
        return np.unique(self.train.item)

    def train_degree(self) -> np.ndarray:
        """Training interactions per item, [n_items]."""
        return np.bincount(self.train.item, minlength=self.n_items)

    def unseen_items(self) -> np.ndarray:
        """bool [n_items]: items in the catalogue with no training interaction that are not held out as
        cold (for example after ``train_fraction``); they are still candidates and may be in valid/test."""
        return (self.train_degree() == 0) & ~self.cold_items

    def summary(self) -> dict:
        unseen = self.unseen_items()
        return {"method": self.method, "train": len(self.train), "valid": len(self.valid), "test": len(self.test),
                "cold": len(self.cold), "cold_items": int(self.cold_items.sum()), "cold_valid": len(self.cold_valid),
                "train_fraction": self.train_fraction,
                "unseen_items": int(unseen.sum()),
                "unseen_items_valid": int(unseen[self.valid.item].sum()),
                "unseen_items_test": int(unseen[self.test.item].sum()),
                "notes": list(self.notes)}

    def to_arrays(self) -> dict[str, np.ndarray]:
        out = {"cold_items": self.cold_items, "shape": np.array([self.n_users, self.n_items]),
               "train_fraction": np.array(self.train_fraction)}
        for name in ("train", "valid", "test", "cold", "cold_valid"):
            p = getattr(self, name)
            out[f"{name}_user"], out[f"{name}_item"] = p.user, p.item
        return out

    @classmethod
    def from_arrays(cls, a: dict[str, np.ndarray], method: str = "saved") -> Split:
        n_users, n_items = map(int, a["shape"])
        pairs = {n: Pairs(a[f"{n}_user"].astype(np.int64), a[f"{n}_item"].astype(np.int64))
                 for n in ("train", "valid", "test", "cold", "cold_valid") if f"{n}_user" in a}  # older runs: no cold_valid
        fraction = float(a["train_fraction"]) if "train_fraction" in a else 1.0
        return cls(n_users, n_items, **pairs, cold_items=a["cold_items"].astype(bool), method=method, notes=[],
                   train_fraction=fraction)


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


def subsample_train(train: Pairs, n_users: int, fraction: float, seed: int) -> np.ndarray:
    """Row indices of ``train`` kept at ``fraction``: per user the ceil(F * n_u) rows with the smallest
    seeded keys. The keys do not depend on F, so smaller fractions keep subsets of larger ones."""
    keys = np.random.default_rng([seed, 7]).random(len(train))
    order = np.lexsort((keys, train.user))  # by user, then by key
    counts = np.bincount(train.user, minlength=n_users)
    start = np.zeros(n_users + 1, np.int64)
    np.cumsum(counts, out=start[1:])
    rank = np.arange(len(order)) - start[train.user[order]]
    # a tiny margin keeps ceil(0.1 * 30) == 3 despite floating-point rounding of F * n_u
    quota = np.array([math.ceil(fraction * c - 1e-9) for c in range(int(counts.max(initial=0)) + 1)], np.int64)
    keep = order[rank < np.maximum(quota[counts[train.user[order]]], 1)]
    return np.sort(keep)


def _refuse_misaligned_arrays(ds: Dataset) -> None:
    """A Dataset built in Python, checked as the file readers check theirs: the interactions are whole-number indexes
    into ``user_ids`` and ``item_ids``, and row i of every modality is item i, with finite values. Unchecked, an index
    past the end was a numpy IndexError here, a negative one a torch error in the backbone, a modality short of rows
    a size mismatch in the middle of training, and NaN features (VBPR with ID items) 'loss became nan, try a lower
    lr'. A modality read from a file (``source``) was checked as it was read (``as_feature_matrix``), and a reader's
    ids are unique (``pd.factorize``): those costly checks are for data built in Python."""
    def shown(a) -> str:
        return f"{a.dtype} array of shape {a.shape}" if isinstance(a, np.ndarray) else type(a).__name__

    inter = ds.interactions
    for what, a, n in (("user", inter.user, ds.n_users), ("item", inter.item, ds.n_items)):
        if not isinstance(a, np.ndarray) or a.ndim != 1 or not np.issubdtype(a.dtype, np.integer):
            raise MotorError(f"interactions.{what} must be a 1-d numpy array of whole-number indexes into "
                             f"{what}_ids, got {shown(a)}; turn ids into indexes with pd.factorize(ids)")
        ids = pd.Index(getattr(ds, f"{what}_ids"))
        if not ds.source and not ids.is_unique:  # recommend('u1') found one of them; readers' ids are factorized
            raise MotorError(f"{what}_ids repeats {ids[ids.duplicated()][0]!r}; give every {what} its own id")
        out = np.flatnonzero((a < 0) | (a >= n))
        if len(out):
            raise MotorError(f"interactions.{what} holds {len(out)} indexes outside 0..{n - 1} (the {n} "
                             f"{what}_ids), first {a[out[0]]} at row {out[0]}; give one {what} id per index")
    for name in ("item", "rating", "timestamp", "label"):
        a = getattr(inter, name)
        if a is not None and len(a) != len(inter.user):
            raise MotorError(f"interactions.{name} has {len(a)} entries and interactions.user {len(inter.user)}; "
                             f"give one per interaction")
    if ds.items is not None and len(ds.items) != ds.n_items:  # title(i) was pyarrow's 'index out of bounds'
        raise MotorError(f"the items table has {len(ds.items)} rows for {ds.n_items} item_ids; row i describes item i")
    for name, m in ds.modalities.items():
        x = m.features
        if not isinstance(x, np.ndarray) or x.ndim != 2 or len(x) != ds.n_items or not (
                np.issubdtype(x.dtype, np.floating) or np.issubdtype(x.dtype, np.integer)):
            raise MotorError(f"modality {name!r}: features must be a numeric numpy array [n_items={ds.n_items}, dim], "
                             f"row i for item i, got {shown(x)}")
        if m.missing is not None and np.shape(m.missing) != (ds.n_items,):
            raise MotorError(f"modality {name!r}: missing must be a bool mask with one entry per item "
                             f"({ds.n_items}), got shape {np.shape(m.missing)}")
        if not m.source:
            bad = [s + int(np.argmax(r)) for s in range(0, len(x), 65536)
                   if (r := ~np.isfinite(x[s:s + 65536]).all(1)).any()]
            if bad:
                raise MotorError(f"modality {name!r} has NaN or infinite values (first in row {bad[0]}); fill "
                                 f"missing content, e.g. with the modality mean, and mark those rows in missing")


def _refuse_repeated_pairs(ds: Dataset) -> None:
    """The split assumes one row per (user, item), as the file readers guarantee: a repeated pair could land in
    training and in test, where it is masked as a training item and never counted as a hit (and twice in test it
    would count twice in |T|). A Dataset built in Python is checked here (by sorting; np.unique is slow on 10^6+)."""
    inter = ds.interactions
    key = np.sort(inter.user.astype(np.int64) * ds.n_items + inter.item.astype(np.int64))
    repeated = key[1:][key[1:] == key[:-1]]
    if len(repeated):
        user, item = divmod(int(repeated[0]), ds.n_items)
        first = f"user {str(ds.user_ids[user])!r}, item {str(ds.item_ids[item])!r}"
        raise MotorError(f"the interactions hold {len(repeated)} repeated user-item pairs (first: {first}); keep one "
                         f"row per pair, as load_dataset does with data.duplicates='keep_last'")


def make_split(ds: Dataset, cfg: SplitConfig | Mapping | None = None) -> Split:
    """The train/valid/test (and cold) pairs of ``ds``; ``cfg`` a SplitConfig, a mapping of its settings or None."""
    if not isinstance(ds, Dataset):
        raise MotorError(f"make_split takes a Dataset (e.g. load_dataset('demo')), got {type(ds).__name__}")
    cfg = checked(SplitConfig, cfg, "split")
    inter = ds.interactions
    _refuse_misaligned_arrays(ds)
    _refuse_repeated_pairs(ds)
    method = cfg.method
    if method == "auto":
        method = "given" if inter.label is not None else "random"
    notes: list[str] = []

    cold_items = np.zeros(ds.n_items, bool)
    if cfg.cold_items > 0:
        rng = np.random.default_rng(cfg.seed + 1)
        n_cold = round(cfg.cold_items * ds.n_items)
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
    validating = np.zeros(ds.n_items, bool)
    if cfg.cold_valid > 0:  # a share of the cold items, drawn apart so the cold draw itself does not change
        cold_ids = np.flatnonzero(cold_items)
        n_valid = round(cfg.cold_valid * len(cold_ids))
        if not 1 <= n_valid < len(cold_ids):
            raise MotorError(f"cold_valid={cfg.cold_valid} of {len(cold_ids)} cold items leaves no cold validation or "
                             f"no cold test item; hold out more items (cold_items) or use a share nearer 0.5")
        validating[np.random.default_rng([cfg.seed, 11]).choice(cold_ids, n_valid, replace=False)] = True
    rows_valid = cold_rows[validating[inter.item[cold_rows]]]
    cold_rows = cold_rows[~validating[inter.item[cold_rows]]]
    cold = Pairs(inter.user[cold_rows].astype(np.int64), inter.item[cold_rows].astype(np.int64))
    cold_valid = Pairs(inter.user[rows_valid].astype(np.int64), inter.item[rows_valid].astype(np.int64))
    if len(train) == 0:
        raise MotorError("the split left no training interactions; check the x_label column or use more data")
    if cfg.cold_items > 0:
        notes.append(f"{int(cold_items.sum())} cold items ({cfg.cold_items:.0%}) with {len(cold) + len(cold_valid)} "
                     f"interactions held out")
    if cfg.cold_valid > 0:
        notes.append(f"{int(validating.sum())} of them ({cfg.cold_valid:.0%}) validate cold-item settings "
                     f"({len(cold_valid)} interactions, 'cold_valid'); {len(cold)} interactions of the others are the "
                     f"cold test set")
    few = int((np.bincount(inter.user[warm], minlength=ds.n_users)[np.unique(users)] < 3).sum())
    if method in ("random", "time") and few:
        notes.append(f"{few} users with fewer than 3 interactions keep them all in training (not evaluated)")
    if cfg.train_fraction < 1.0:
        n_before, seen_before = len(train), np.unique(train.item)
        rows = subsample_train(train, ds.n_users, cfg.train_fraction, cfg.seed)
        train = Pairs(train.user[rows], train.item[rows])
        lost = len(seen_before) - len(np.unique(train.item))
        notes.append(f"train_fraction {cfg.train_fraction:g}: kept {len(train)} of {n_before} training interactions "
                     f"(at least one per user); {lost} items lost all their training rows and are now unseen "
                     f"(still candidates; their test interactions form the 'cold' popularity bucket)")
    return Split(ds.n_users, ds.n_items, train, valid, test, cold, cold_items, method, notes, cfg.train_fraction,
                 cold_valid, ds.user_ids)
