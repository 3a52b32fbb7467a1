"""Which part of a trained LGMRec's item vector ranks its cold items: CGE, MGE or GHE.

    python benchmarks/lgmrec_cold_parts.py RUN [RUN ...]

LGMRec's item vector is ``CGE + sum_m normalize(MGE_m) + alpha * normalize(GHE)`` (docs/BACKBONES.md). For each
run (an LGMRec run trained with ``--cold-items``), the cold test items are ranked among all items (training
items masked) with the full user vectors against item vectors made of one part alone, and of all of them; it
prints Recall@20 (hits / min(20, the user's cold items)), the median rank of a cold test item, and the mean
score of cold and of warm items. Written to find out why the one-mask cold path (992802a) lowered
LGMRec-MOTOR's cold Recall@20 on the demo (docs/BACKBONES.md, LGMRec); the runs it was read on:

    python -m motor train --config benchmarks/tuned/demo-lgmrec-motor-f1-c0.1/best_config.json --seed 999 \
        --epochs 100 --patience 10 --cold-items 0.1 --threads 1 --out runs/lgmrec-after
    (the same at commit 992802a^, in a git worktree, --out runs/lgmrec-before)
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # this checkout's motor, not another one installed
from motor.runs import LoadedRun  # noqa: E402


def parts(model) -> dict[str, torch.Tensor]:
    """[users; items] of each part of ``model._forward`` in eval mode (no Gumbel noise, no dropout)."""
    cfg, n_u = model.cfg, model.n_users
    cold = model.cold_items()
    cge = torch.cat(model.propagate_ui(model.items(), cfg.n_ui_layers, cold=cold))
    mge, hyper = torch.zeros_like(cge), []
    for name, f in model.features.items():
        own = model.item_trs[name](f)
        x = torch.cat([model.mm("r_mean", own), own])
        for _ in range(cfg.n_mm_layers):
            x = model.mm("adj", x)
        if cfg.n_mm_layers > 0:
            x = torch.cat([x[:n_u], model.cold_path(x[:n_u], x[n_u:], own, cold)])
        mge = mge + F.normalize(x, dim=1)
        logits = model.hyper[name](f)
        h_i, h_u = model._assign(logits), model._assign(model.mm("r_bin", logits))
        x_i, x_u = cge[n_u:], torch.zeros(n_u, cge.shape[1])
        for _ in range(cfg.n_hyper_layers):
            lat = h_i.T @ x_i
            x_i, x_u = h_i @ lat, h_u @ lat
        hyper.append((x_u, x_i))
    ghe = cfg.alpha * F.normalize(torch.cat([sum(u for u, _ in hyper), sum(i for _, i in hyper)]), dim=1)
    return {"all": cge + mge + ghe, "CGE": cge, "MGE": mge, "GHE": ghe}


def report(path: str) -> None:
    run = LoadedRun.load(path)
    model, split = run.model, run.split
    if model.name != "lgmrec" or not split.cold_items.any():
        raise SystemExit(f"{path}: an LGMRec run trained with --cold-items is needed")
    model.eval()
    with torch.no_grad():
        vectors = parts(model)
        users_ref, items_ref = model.embeddings()
    n_u = model.n_users
    gap = float((torch.cat([users_ref, items_ref]) - vectors["all"]).abs().max())
    assert gap < 1e-4, f"the parts do not add up to the model's vectors (max difference {gap})"
    users = vectors["all"][:n_u].numpy()
    seen = np.zeros((split.n_users, split.n_items), bool)
    seen[split.train.user, split.train.item] = True
    truth: dict[int, set] = {}
    for u, i in zip(split.cold.user.tolist(), split.cold.item.tolist()):
        truth.setdefault(u, set()).add(i)
    cold = split.cold_items
    print(f"{path} ({run.config.items}; metrics.json cold Recall@20 {run.metrics['cold']['recall@20']:.4f})")
    for name, v in vectors.items():
        scores = users @ v[n_u:].numpy().T
        mean_cold, mean_warm = scores[:, cold].mean(), scores[:, ~cold][~seen[:, ~cold]].mean()
        scores[seen] = -np.inf
        order = np.argsort(-scores, 1)
        rank = np.empty_like(order)
        np.put_along_axis(rank, order, np.arange(order.shape[1])[None].repeat(len(order), 0), 1)
        recall = np.mean([len(its & set(order[u, :20].tolist())) / min(20, len(its)) for u, its in truth.items()])
        median = np.median([rank[u, i] for u, its in truth.items() for i in its])
        print(f"  {name:4s} cold Recall@20 {recall:.4f}   median rank of a cold test item {median:6.0f} of "
              f"{split.n_items}   mean score: cold items {mean_cold:+.3f}, warm {mean_warm:+.3f}")


if __name__ == "__main__":
    if len(sys.argv) < 2:
        raise SystemExit(__doc__)
    for p in sys.argv[1:]:
        report(p)
