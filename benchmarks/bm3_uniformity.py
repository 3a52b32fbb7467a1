"""BM3's collapse and its uniformity term, on the demo: the runs behind docs/BACKBONES.md's two BM3 tables.

    python benchmarks/bm3_uniformity.py [--threads 1] [--fresh]

1. The collapse (defaults, no hold-out, seed 999): ``python -m motor train --data demo --backbone bm3 --items
   id|motor``; test Recall@20 and ``metrics.json["personalisation"]`` (two users' top-20 overlap, the item vectors'
   mean cosine to their mean, their effective rank), beside a popularity ranking's overlap.
2. The weight (``model.uniformity_weight`` in 0, 0.05, 0.1, 0.2, 0.5, 2.0; ``--cold-items 0.1``, seeds 999 and
   1000, defaults otherwise): validation Recall@20, the figure a choice may read.

Each finished run is one line of ``benchmarks/bm3_uniformity_runs.jsonl`` (a rerun skips the runs it holds unless
``--fresh``); the tables are printed from it and its rows written to ``benchmarks/bm3_uniformity.csv``.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # this checkout's motor, not another one installed
from motor.bench.report import write_csv  # noqa: E402
from motor.bench.runlog import resolved_settings  # noqa: E402
from motor.experiment import RunConfig, run_experiment  # noqa: E402

OUT = Path(__file__).resolve().parent
LOG = OUT / "bm3_uniformity_runs.jsonl"
WEIGHTS = (0.0, 0.05, 0.1, 0.2, 0.5, 2.0)


def planned() -> list[dict]:
    """Every run of both tables, as (table, items, seed, cold items, uniformity weight)."""
    runs = [{"table": "collapse", "items": items, "seed": 999, "cold_items": 0.0, "uniformity_weight": 0.0}
            for items in ("id", "motor")]
    runs += [{"table": "weight", "items": items, "seed": seed, "cold_items": 0.1, "uniformity_weight": w}
             for w in WEIGHTS for items in ("id", "motor") for seed in (999, 1000)]
    return runs


def key(run: dict) -> str:
    return json.dumps({k: run[k] for k in ("table", "items", "seed", "cold_items", "uniformity_weight")}, sort_keys=True)


def config(run: dict, threads: int = 1) -> RunConfig:
    """The run's settings: BM3 on the demo at the defaults but for the hold-out, seed and uniformity weight."""
    return RunConfig().with_overrides({"backbone": "bm3", "items": run["items"], "split.cold_items": run["cold_items"],
                                       "train.seed": run["seed"], "train.threads": threads,
                                       "model.uniformity_weight": run["uniformity_weight"]})


def train(run: dict, threads: int) -> dict:
    """One BM3 run on the demo; its figures, and the hash of every setting it trained with (as the suites log)."""
    cfg = config(run, threads)
    m = run_experiment(cfg).metrics
    p = m.get("personalisation", {})
    return {**run, "resolved": resolved_settings(cfg.to_dict()),
            "valid_recall@20": m["valid"]["recall@20"], "test_recall@20": m["test"]["recall@20"],
            "best_epoch": m.get("best_epoch"), **{k: p.get(k) for k in (
                "top_overlap", "popularity_top_overlap", "item_direction_share", "item_effective_rank")}}


def cell(rows: list[dict], figure: str, digits: int = 3) -> str:
    return " / ".join(f"{r[figure]:.{digits}f}" if isinstance(r.get(figure), float) else "-" for r in rows) or "-"


def tables(rows: list[dict]) -> str:
    lines = ["| items | test R@20 | top-20 overlap (popularity's) | item vectors' mean cosine to their mean | "
             "effective rank |", "|---|---|---|---|---|"]
    for items in ("id", "motor"):
        r = [x for x in rows if x["table"] == "collapse" and x["items"] == items]
        lines.append(f"| {items} | {cell(r, 'test_recall@20', 4)} | {cell(r, 'top_overlap')} "
                     f"({cell(r, 'popularity_top_overlap')}) | {cell(r, 'item_direction_share')} | "
                     f"{cell(r, 'item_effective_rank', 1)} |")
    lines += ["", "| weight | ID valid R@20 (seeds 999 / 1000) | MOTOR valid R@20 | MOTOR's item vectors' mean cosine "
                  "to their mean |", "|---|---|---|---|"]
    for w in WEIGHTS:
        by = {items: sorted((x for x in rows if x["table"] == "weight" and x["items"] == items
                             and x["uniformity_weight"] == w), key=lambda x: x["seed"]) for items in ("id", "motor")}
        lines.append(f"| {w:g} | {cell(by['id'], 'valid_recall@20')} | {cell(by['motor'], 'valid_recall@20')} | "
                     f"{cell(by['motor'], 'item_direction_share')} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=1, help="torch threads per run (default 1)")
    ap.add_argument("--fresh", action="store_true", help="train every run again instead of reusing the log's")
    args = ap.parse_args(argv)
    done = {} if args.fresh or not LOG.exists() else {key(r): r for r in map(json.loads, LOG.read_text().splitlines())}
    if args.fresh:
        LOG.unlink(missing_ok=True)
    for run in planned():
        if key(run) not in done:
            done[key(run)] = train(run, args.threads)
            with LOG.open("a") as f:
                f.write(json.dumps(done[key(run)]) + "\n")
            print(json.dumps(done[key(run)]), flush=True)
    rows = [done[key(r)] for r in planned()]
    print(tables(rows))
    print(write_csv("bm3_uniformity", rows, OUT))


if __name__ == "__main__":
    main()
