"""Why does a run rank rare (tail) items low? Figures for docs/BACKBONES.md, from saved run folders.

    python benchmarks/tail_analysis.py RUN [RUN ...]

For each run: where the user's tail test item (1 to 5 training interactions) ranks among the items
the user has not trained on; for MOTOR runs, whether the 10 items sharing most tokens with it (with
every item tied with the 10th) are more popular and ranked above it (the "popular look-alike" explanation); how the scores follow the
training degree; and the item vectors' norms, tail against the 20% most popular items.
"""

from __future__ import annotations

import argparse
import json

import numpy as np

from motor.runs import LoadedRun

TAIL_MAX = 5  # as metrics.json's by_popularity tail bucket
NEIGHBOURS = 10


def analyse(path: str) -> dict:
    run = LoadedRun.load(path)
    users, items = run.vectors()
    train, test = run.split.train, run.split.test
    degree = np.bincount(train.item, minlength=len(items))
    tail = (degree > 0) & (degree <= TAIL_MAX)
    rows = np.flatnonzero(tail[test.item])
    tids = getattr(run.model.items, "token_ids", None)
    tids = None if tids is None else tids.cpu().numpy()
    ranks, more_popular, ranked_above = [], [], []
    for u, i in zip(test.user[rows], test.item[rows]):
        s = items @ users[u]
        s[train.item[train.user == u]] = -np.inf  # trained items are never recommended
        ranks.append(int((s > s[i]).sum()))
        if tids is not None:
            shared = (tids == tids[i]).sum(1)
            shared[i] = -1
            cut = np.partition(shared, -NEIGHBOURS)[-NEIGHBOURS]  # the 10 sharing most, with every tie at the cut
            nb = np.flatnonzero(shared >= max(cut, 1))
            more_popular.append(float(np.mean(degree[nb] > degree[i])))
            ranked_above.append(float(np.mean(s[nb] > s[i])))
    ranks = np.array(ranks)
    head = degree >= np.quantile(degree, 0.8)
    out = {"run": path, "items": run.config.items, "tail_test_interactions": len(rows), "catalogue": len(items),
           "median_rank": float(np.median(ranks)), "share_in_top20": float(np.mean(ranks < 20)),
           "corr_log_degree_mean_score": float(np.corrcoef(np.log1p(degree), (users @ items.T).mean(0))[0, 1]),
           "norm_tail": float(np.linalg.norm(items[tail], axis=1).mean()),
           "norm_head": float(np.linalg.norm(items[head], axis=1).mean())}
    if tids is not None:
        out.update(neighbours_more_popular=float(np.mean(more_popular)), neighbours_ranked_above=float(np.mean(ranked_above)))
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("runs", nargs="+", help="run folders (python -m motor train --out RUN)")
    for path in p.parse_args().runs:
        print(json.dumps({k: round(v, 4) if isinstance(v, float) else v for k, v in analyse(path).items()}))


if __name__ == "__main__":
    main()
