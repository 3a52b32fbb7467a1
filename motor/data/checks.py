"""The checks ``python -m motor data`` shares with training, plus warnings about useless content.

``train`` refuses a dataset when the split leaves nothing to learn from (for example every row
has x_label 2), so ``data`` runs the same split (``make_split``) and reports the same error
instead of calling the dataset fine. Warnings (not errors) name what would make a run
meaningless without breaking it: no validation or test interactions, a modality whose rows are
all identical or all zero, too few items for the default tokenizer.
"""

from __future__ import annotations

import numpy as np

from motor.data.dataset import Dataset
from motor.data.split import Split, SplitConfig, make_split


def uninformative_modalities(ds: Dataset) -> list[str]:
    """A warning per modality whose present rows carry no information (all zero, or all identical)."""
    out = []
    for name, m in ds.modalities.items():
        x = m.features[m.present]
        if len(x) == 0:
            out.append(f"modality {name!r} has no item with content (every row is missing)")
        elif not np.any(x):
            out.append(f"modality {name!r} is all zeros: it carries no information (check how {m.source or name} "
                       f"was written)")
        elif len(x) > 1 and np.array_equal(x.min(0), x.max(0)):
            out.append(f"modality {name!r} has the same row for every item: it carries no information and cannot "
                       f"tell items apart (check how {m.source or name} was written)")
    return out


def users_without_negatives(s: Split, ds: Dataset, share: float = 0.95) -> list[str]:
    """A warning when users have interacted with (almost) every training item: the negative sampler redraws until it
    finds an item they have not, and gives up (training stops with an error) when nearly none is left. ``data``
    said nothing of it, so a user learnt of it only once training had begun."""
    n_items = len(np.unique(s.train.item))
    if n_items == 0:
        return []
    degree = np.bincount(s.train.user, minlength=s.n_users)
    full = np.flatnonzero(degree >= share * n_items)
    if not len(full):
        return []
    names = ", ".join(repr(str(ds.user_ids[u])) for u in full[:3]) + (f" and {len(full) - 3} more" if len(full) > 3 else "")
    return [f"{len(full)} user(s) ({names}) have interacted with at least {share:.0%} of the {n_items} training items, "
            f"so few or no negative items are left to sample for them and training may stop with an error; remove "
            f"such users, or add items"]


def check_dataset(ds: Dataset, split: SplitConfig | None = None) -> tuple[Split, list[str]]:
    """Split ``ds`` as training would (raising the same ``MotorError``) and list the warnings."""
    from motor.tokenizer import TokenizerConfig

    s = make_split(ds, split or SplitConfig())
    warnings = list(s.notes)
    if len(s.valid) == 0:
        warnings.append("the split has no validation interactions: early stopping and model selection would have "
                        "nothing to measure; give users at least 3 interactions or validation rows (x_label 1)")
    if len(s.test) == 0 and len(s.cold) == 0:
        warnings.append("the split has no test interactions: a run would report no test figures")
    warnings += uninformative_modalities(ds)
    warnings += users_without_negatives(s, ds)
    k = TokenizerConfig().k
    for name, m in ds.modalities.items():
        n = int(m.present.sum())
        if 0 < n < k:
            warnings.append(f"modality {name!r}: {n} items with content, fewer than the tokenizer's default k={k}; "
                            f"MOTOR runs need a smaller k (e.g. --pq-k {1 << max(1, n.bit_length() - 1)})")
    return s, warnings
