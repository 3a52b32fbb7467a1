"""LGMRec's cold items with one score scale on the whole item vector instead of one per part.

    python benchmarks/lgmrec_cold_scale.py RUN [RUN ...] [--factors 1,1.05,1.1,1.15,1.2]

Ranking-time only: the trained weights are the run's. An LGMRec item vector is ``CGE + sum_m normalize(MGE_m) +
alpha * normalize(GHE)`` (docs/BACKBONES.md); today each part's cold path is set on its own (the CGE's own vector
times ``score_scale``, the MGE's own projection, normalised). Here a cold item's whole vector, as it is today, is
multiplied by one more factor, chosen three ways from the run's own weights: ``train`` makes cold-path scores
unbiased on the training interactions for the whole vector (``motor.graph.score_scale`` on the vectors ranking
uses, each warm item's vector as it would be if it were cold), ``valid`` the same on the validation interactions
of warm items, and ``centred`` sets the common part of a cold vector to the warm items' mean vector and scales
its own part so that centred scores are unbiased on the training interactions. For each, and for the factors of
``--factors`` (the sensitivity), it prints cold Recall@20 (the hold-out's items, ranked among all items), warm
test Recall@20 ranked among all items, and the share of all top-20 slots of test users that go to items without
training interactions, beside their share of the catalogue.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # this checkout's motor, not another one installed
sys.path.insert(0, str(Path(__file__).resolve().parent))
from lgmrec_cold_parts import parts  # noqa: E402

from motor.evaluate import Evaluator  # noqa: E402
from motor.graph import layer_mean, score_scale  # noqa: E402
from motor.runs import LoadedRun  # noqa: E402


def scaled_variants(model, split, factors=()) -> dict[str, tuple[torch.Tensor, torch.Tensor, float]]:
    """name -> (user vectors, item vectors with the cold rows rescaled, the factor); ``factors`` adds fixed ones."""
    cfg, n_u = model.cfg, model.n_users
    vectors = parts(model)
    users, items = vectors["all"][:n_u], vectors["all"][n_u:]
    own = model.items()
    out = layer_mean(model.propagate("adj", torch.cat([model.user_embedding, own]), cfg.n_ui_layers))
    cge_scale = score_scale(out[:n_u], out[n_u:], own, model.edge_user, model.edge_item)
    mge = sum(F.normalize(model.item_trs[m](f), dim=1) for m, f in model.features.items())
    as_cold = own * cge_scale + mge + vectors["GHE"][n_u:]  # every item's vector as if it were cold
    cold = model.item_degree == 0
    gap = float((as_cold[cold] - items[cold]).abs().max()) if bool(cold.any()) else 0.0
    assert gap < 1e-4, f"the cold rows differ from the model's own (max difference {gap})"
    warm = ~cold
    valid_user = torch.as_tensor(split.valid.user).long()
    valid_item = torch.as_tensor(split.valid.item).long()
    keep = warm[valid_item]

    def times(factor) -> torch.Tensor:
        return torch.where(cold.unsqueeze(1), items * factor, items)

    train_s = score_scale(users, items, as_cold, model.edge_user, model.edge_item)
    valid_s = score_scale(users, items, as_cold, valid_user[keep], valid_item[keep])
    mean_warm, mean_cold = items[warm].mean(0), as_cold[warm].mean(0)
    num = (users[model.edge_user] * (items[model.edge_item] - mean_warm)).sum()
    den = (users[model.edge_user] * (as_cold[model.edge_item] - mean_cold)).sum()
    centred_s = num / den if bool(den > 0) and bool(num > 0) else torch.ones(())
    centred = torch.where(cold.unsqueeze(1), mean_warm + centred_s * (as_cold - mean_cold), items)
    return {"per part (today)": (users, items, 1.0), "whole, train": (users, times(train_s), float(train_s)),
            "whole, valid": (users, times(valid_s), float(valid_s)), "centred": (users, centred, float(centred_s)),
            **{f"x {f:g}": (users, times(f), f) for f in factors}}


def cold_slot_share(split, users: torch.Tensor, items: torch.Tensor, k: int = 20) -> float:
    """Share of the test users' top-k slots (training and validation items masked) held by items without
    training interactions."""
    scores = users @ items.T
    for pairs in (split.train, split.valid, split.cold_valid):
        if len(pairs):
            scores[torch.as_tensor(pairs.user).long(), torch.as_tensor(pairs.item).long()] = -np.inf
    top = scores[torch.as_tensor(np.unique(split.test.user)).long()].topk(k, dim=1).indices
    return float((torch.as_tensor(np.bincount(split.train.item, minlength=split.n_items)) == 0)[top].float().mean())


def report(path: str, factors=()) -> None:
    run = LoadedRun.load(path)
    model, split = run.model, run.split
    if model.name != "lgmrec":
        raise SystemExit(f"{path}: an LGMRec run is needed")
    model.eval()
    evaluator, every_item = Evaluator(split), np.ones(split.n_items, bool)
    share = float((np.bincount(split.train.item, minlength=split.n_items) == 0).mean())
    print(f"{path} ({run.config.items}; items without training interactions: {share:.1%} of the catalogue)")
    with torch.no_grad():
        for name, (users, items, factor) in scaled_variants(model, split, factors).items():
            state = (users, items)
            cold = evaluator.evaluate(model, "cold", state=state)["recall@20"] if split.cold_items.any() else None
            test = evaluator.evaluate(model, "test", state=state, among=every_item)["recall@20"]
            print(f"  {name:18s} factor {factor:5.3f}  cold R@20 {'-' if cold is None else f'{cold:.4f}':6s}  "
                  f"test R@20 among all items {test:.4f}  their share of top-20 slots "
                  f"{cold_slot_share(split, users, items):.1%}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("runs", nargs="+")
    parser.add_argument("--factors", default="", help="comma-separated factors on the cold rows, for the sensitivity")
    args = parser.parse_args()
    for p in args.runs:
        report(p, [float(f) for f in args.factors.split(",") if f])
