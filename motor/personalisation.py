"""Does a model rank differently for different users? Overlap of top-k lists and the shape of the vectors.

A model whose item vectors all point (nearly) one way gives every user (nearly) the same ranking,
by the items' norms: a popularity ranking in disguise, whatever its Recall. Negative-free losses are
prone to it (BYOL-style alignment is minimised by one shared direction; nothing pushes items apart),
and a shared item encoder reaches it more easily than a free ID table: on the demo, BM3's scored
item vectors have a mean cosine of 0.95 to their mean with ID embeddings and 1.000 with MOTOR's
tokens (docs/BACKBONES.md). Three figures, all from plain tensors so that they can be checked on
hand-made cases:

- ``list_overlap``: the mean share of two users' top-k lists that they have in common (0: no two
  users share an item; 1: one list for everyone). A popularity ranking gives every user the same
  list less their own seen items, so on dense data its overlap is well below 1 (0.54 on the demo):
  a run is read against the popularity ranking's overlap on the same split;
- ``direction_share``: the mean cosine of the vectors to their mean vector (0 for vectors spread
  around the origin, 1 when they all point one way);
- ``effective_rank``: ``exp`` of the entropy of the normalised singular values (RankMe, Garrido et
  al. 2023), between 1 (one direction) and the vectors' dimension; also reported after removing the
  vectors' mean (``item_effective_rank_centred``), since an offset shared by every item adds the same
  amount to each of a user's scores and so cannot change a ranking: the centred figure counts the
  directions in which items really differ.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from motor.data.split import Split
from motor.evaluate import Evaluator, Protocol, inner_product_scorer
from motor.models.base import Recommender

SAME_DIRECTION_LIMIT = 0.95  # mean cosine of the item vectors to their mean beyond which a run is flagged
SAME_LISTS_SHARE = 0.8  # flagged when users' lists overlap at least this share of what a popularity ranking's do


def list_overlap(top: torch.Tensor | np.ndarray) -> float:
    """Mean over pairs of users of ``|A & B| / k`` for the rows of ``top`` ``[users, k]`` (distinct items per
    row). Exact over all pairs in O(users x k): an item in c of the lists is shared by c (c - 1) / 2 pairs."""
    top = np.asarray(top)
    n, k = top.shape
    if n < 2 or k == 0:
        return float("nan")
    c = np.bincount(top.reshape(-1)).astype(np.float64)
    return float((c * (c - 1)).sum() / (n * (n - 1) * k))


def direction_share(x: torch.Tensor) -> float:
    """Mean cosine of the rows of ``x`` to their mean row (nan when the mean is the zero vector)."""
    x = x.detach().double()
    mean = x.mean(0)
    if float(mean.norm()) == 0.0:
        return float("nan")
    return float(torch.nn.functional.cosine_similarity(x, mean.unsqueeze(0), dim=1).mean())


def effective_rank(x: torch.Tensor) -> float:
    """RankMe: ``exp(-sum p log p)`` with ``p`` the singular values of ``x`` divided by their sum."""
    s = torch.linalg.svdvals(x.detach().double())
    if float(s.sum()) == 0.0:
        return 0.0
    p = s / s.sum()
    p = p[p > 0]
    return float(torch.exp(-(p * p.log()).sum()))


@torch.no_grad()
def personalisation(model: Recommender, split: Split, protocol: Protocol = "strict", k: int = 20) -> dict:
    """What ``metrics.json["personalisation"]`` holds: the top-``k`` overlap of the test users' lists (and
    of a popularity ranking's on the same split, for reference, with that ranking's test Recall@k and
    NDCG@k: on the demo at 10% of its data it is 0.143, above ID's 0.111 with the quick preset), the
    direction share and effective rank of the scored item and user vectors (models that score by inner
    product), and ``warning`` (None, or a sentence) when the lists or the item vectors say the model
    ranks (nearly) every user alike. Figures that cannot be computed (no test user) are None."""
    from motor.baselines import Popularity

    evaluator = Evaluator(split, protocol, ks=(k,))
    state = evaluator.state(model)
    popularity = Popularity(split)
    reference = evaluator.evaluate(popularity, "test")  # the Recall a run ranking like popularity would get
    out = {"k": k, "top_overlap": list_overlap(evaluator.top_lists(model, "test", k, state)),
           "popularity_top_overlap": list_overlap(evaluator.top_lists(popularity, "test", k)),
           f"popularity_recall@{k}": reference.get(f"recall@{k}"), f"popularity_ndcg@{k}": reference.get(f"ndcg@{k}")}
    if inner_product_scorer(model, state) is not None:  # state = (user vectors, item vectors)
        users, items = state
        warm = torch.from_numpy(~split.cold_items) if split.cold_items.any() else slice(None)
        out.update({"item_direction_share": direction_share(items[warm]), "user_direction_share": direction_share(users),
                    "item_effective_rank": effective_rank(items[warm]),
                    "item_effective_rank_centred": effective_rank(items[warm] - items[warm].mean(0)),
                    "dim": int(items.shape[1])})
    out = {key: None if isinstance(v, float) and not math.isfinite(v) else v for key, v in out.items()}
    out["warning"] = _warning(out, model.collapse_remedy())
    return out


def _warning(p: dict, remedy: str | None = None) -> str | None:
    if p["top_overlap"] is None or p["popularity_top_overlap"] is None:
        return None
    same_lists = p["top_overlap"] >= SAME_LISTS_SHARE * p["popularity_top_overlap"]
    same_direction = (p.get("item_direction_share") or 0.0) >= SAME_DIRECTION_LIMIT
    if not (same_lists or same_direction):
        return None
    figures = [f"two users' top-{p['k']} lists share {p['top_overlap']:.0%} of their items (a popularity ranking: "
               f"{p['popularity_top_overlap']:.0%})"]
    if p.get("item_direction_share") is not None:
        figures.append(f"the item vectors' mean cosine to their mean is {p['item_direction_share']:.3f} "
                       f"(effective rank {p['item_effective_rank']:.1f} of {p['dim']})")
    reference = p.get(f"popularity_recall@{p['k']}")
    against = (f"the popularity ranking's test Recall@{p['k']} on this split ({reference:.4f})" if reference is not None
               else "the popularity ranking")
    return ("The model ranks nearly every user's items alike: " + "; ".join(figures) + ". Its Recall then says little about "
            f"personalisation; compare it with {against} before reading it as personalised."
            + (f" {remedy[0].upper()}{remedy[1:]}." if remedy else ""))
