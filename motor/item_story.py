"""The numbers the "How MOTOR works" page walks through, for one run and one item.

Pure functions of a loaded run: who would be shown the item (the backbone's scores), and how the
item side grows with the catalogue for ID and for MOTOR. No Streamlit here.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from motor.errors import MotorError, check_index


def item_audience(run, item: int, k: int = 5) -> pd.DataFrame:
    """The ``k`` users with the highest score for ``item`` (user vector . item vector) and the item's
    rank among each user's items not seen in training (1 = it would be recommended first)."""
    users, items = run.vectors()
    item = check_index(item, len(items), "item", "run.dataset.item_index(...)")
    scores = users @ items[int(item)]
    seen = np.zeros(len(users), bool)
    tr = run.split.train
    seen[tr.user[tr.item == int(item)]] = True
    cand = np.flatnonzero(~seen)
    top = cand[np.argsort(-scores[cand], kind="stable")[:k]]
    rows = []
    for u in top:
        all_scores = items @ users[u]
        unseen = np.ones(len(items), bool)
        unseen[run.seen_items(int(u))] = False
        rank = int((all_scores[unseen] > all_scores[int(item)]).sum()) + 1
        rows.append({"user": str(run.dataset.user_ids[u]), "score": float(scores[u]), "rank for this user": rank})
    return pd.DataFrame(rows, columns=["user", "score", "rank for this user"])


def item_side_growth(id_item_side: int, motor_item_side: int, n_items: int,
                     factors=(0.25, 0.5, 1, 2, 5, 10, 100, 1000)) -> pd.DataFrame:
    """Item-side parameters of ID and MOTOR at catalogue sizes ``factors x n_items``.

    ID grows by its embedding row per item; MOTOR's token table and Token Cross Network do not
    grow with items (a new item adds its T token ids, which are not parameters).
    """
    if n_items < 1:
        raise MotorError("the catalogue has no items")
    per_item = id_item_side / n_items
    sizes = sorted({max(1, round(f * n_items)) for f in factors})
    return pd.DataFrame({"items": sizes, "ID": [round(per_item * s) for s in sizes],
                         "MOTOR": [int(motor_item_side)] * len(sizes)})
