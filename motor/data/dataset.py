"""The dataset object: users, items, interactions and item content, all aligned by index.

Internal ids are contiguous integers: user ``u`` is ``user_ids[u]`` in the source files, item
``i`` is ``item_ids[i]``. Every modality is a feature matrix whose row ``i`` belongs to item
``i`` (as in Cornac), so models never need to know how the source files were keyed.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd


@dataclass
class Modality:
    """Item features of one kind (image, text, ...): row i describes item i.

    Rows of items without this content (no poster, say) are marked in ``missing`` and filled as
    ``fill`` says ('mean' of the present rows or 'zeros'), so backbones that read raw features
    always get a full matrix; ``present`` is the mask of real rows, which MOTOR's tokenizer uses
    (missing items get a reserved "missing" token instead of the token of a made-up vector).
    """

    name: str
    features: np.ndarray  # float32 [n_items, dim]
    missing: np.ndarray | None = None  # bool [n_items]: rows without real content (filled, see ``fill``)
    source: str = ""  # file it was read from, for messages
    fill: str = "mean"  # how missing rows were filled: 'mean' (of the present rows) or 'zeros'

    @property
    def dim(self) -> int:
        return int(self.features.shape[1])

    @property
    def n_missing(self) -> int:
        return 0 if self.missing is None else int(self.missing.sum())

    @property
    def present(self) -> np.ndarray:
        """bool [n_items]: rows that hold real content (all True when nothing is missing)."""
        n = self.features.shape[0]
        return np.ones(n, bool) if self.missing is None else ~np.asarray(self.missing, bool)


@dataclass
class Interactions:
    """Implicit feedback as parallel arrays; ``label`` is a given split (0/1/2), if any."""

    user: np.ndarray  # int64
    item: np.ndarray  # int64
    rating: np.ndarray | None = None  # float32
    timestamp: np.ndarray | None = None  # int64
    label: np.ndarray | None = None  # int8: 0 train, 1 valid, 2 test (MMRec x_label)

    def __len__(self) -> int:
        return int(self.user.shape[0])

    def subset(self, mask_or_index) -> "Interactions":
        pick = lambda a: None if a is None else a[mask_or_index]  # noqa: E731
        return Interactions(self.user[mask_or_index], self.item[mask_or_index], pick(self.rating),
                            pick(self.timestamp), pick(self.label))


@dataclass
class Dataset:
    """One recommendation dataset: the only thing models, splits and the app read."""

    name: str
    user_ids: np.ndarray  # original user ids (str), index = internal id
    item_ids: np.ndarray  # original item ids (str), index = internal id
    interactions: Interactions
    modalities: dict[str, Modality] = field(default_factory=dict)
    items: pd.DataFrame | None = None  # display metadata aligned to item index: title, genres, links
    source: str = ""
    warnings: list[str] = field(default_factory=list)

    @property
    def n_users(self) -> int:
        return int(len(self.user_ids))

    @property
    def n_items(self) -> int:
        return int(len(self.item_ids))

    @property
    def n_interactions(self) -> int:
        return len(self.interactions)

    def title(self, item: int) -> str:
        """A display name for an internal item index (its title, else its id)."""
        from motor.errors import check_index

        item = check_index(item, self.n_items, "item", "dataset.item_index(...)")  # -1 was the last item's title
        if self.items is not None and "title" in self.items.columns:
            t = self.items["title"].iat[item]
            if isinstance(t, str) and t:
                return t
        return str(self.item_ids[item])

    def titles(self) -> list[str]:
        return [self.title(i) for i in range(self.n_items)]

    def user_index(self, user_id) -> int:
        """Internal index of an original user id; raises MotorError with examples if unknown."""
        return self._index_of("user", self.user_ids, user_id)

    def item_index(self, item_id) -> int:
        """Internal index of an original item id (``"2571"``); raises MotorError with examples if unknown."""
        return self._index_of("item", self.item_ids, item_id)

    def _index_of(self, what: str, ids: np.ndarray, value) -> int:
        """``value``'s position in ``ids`` (compared as text), through a lookup built once per kind."""
        from motor.errors import MotorError

        lookups = self.__dict__.setdefault("_id_lookups", {})
        if what not in lookups:
            lookups[what] = {str(v): i for i, v in enumerate(ids)}
        key = str(value)
        if key not in lookups[what]:
            examples = ", ".join(map(str, ids[:5]))
            raise MotorError(f"unknown {what} {value!r}; {what}s are identified by their id in the interactions "
                             f"file, for example {examples}")
        return lookups[what][key]

    def stats(self) -> dict:
        """Headline statistics, as printed by ``python -m motor data``."""
        n = self.n_interactions
        per_user = np.bincount(self.interactions.user, minlength=self.n_users)
        per_item = np.bincount(self.interactions.item, minlength=self.n_items)
        return {
            "name": self.name,
            "users": self.n_users,
            "items": self.n_items,
            "interactions": n,
            "density": n / max(1, self.n_users * self.n_items),
            "interactions_per_user": {"min": int(per_user.min()), "median": float(np.median(per_user)),
                                      "max": int(per_user.max())},
            "interactions_per_item": {"min": int(per_item.min()), "median": float(np.median(per_item)),
                                      "max": int(per_item.max())},
            "has_timestamps": self.interactions.timestamp is not None,
            "has_given_split": self.interactions.label is not None,
            "modalities": {m.name: {"dim": m.dim, "missing_rows": m.n_missing,
                                    **({"fill": m.fill} if m.n_missing else {})}
                           for m in self.modalities.values()},
            "metadata_columns": [] if self.items is None else [str(c) for c in self.items.columns],
        }
