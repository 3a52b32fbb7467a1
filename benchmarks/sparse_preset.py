"""The Train page's "Sparse: 10% of interactions" regime, per seed: the figures README and WORKSHOP quote.

    python benchmarks/sparse_preset.py [--seeds 1,2,3] [--threads 1]

Each seed trains the app's default run (the ``quick`` preset: LightGCN, 30 epochs, lr 0.02, batch 4096) with ID
and with MOTOR on the demo, keeping 10% of each user's training interactions and holding no item out, as the
regime sets it (``app/regimes.py``); the same as ``python -m motor train --preset quick --data demo --backbone
lightgcn --items {id,motor} --train-fraction 0.1 --seed S --threads 1``. Nothing is tuned: the preset was chosen
on full-data validation. Writes ``benchmarks/sparse_preset.csv``, one row per seed and model: validation and test
Recall@20, test Recall@20 per popularity bucket (the buckets of ``metrics.json["by_popularity"]``), a popularity
ranking's test Recall@20 on the same split (the reference every learned model should beat) and how much users' top-20
lists overlap (``metrics.json["personalisation"]``).
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # this checkout's motor, not another one installed
from motor.bench.report import write_csv  # noqa: E402
from motor.experiment import run_experiment  # noqa: E402
from motor.presets import preset  # noqa: E402

OUT = Path(__file__).resolve().parent
REGIME = {"split.train_fraction": 0.1, "split.cold_items": 0.0}


def one_run(items: str, seed: int, threads: int) -> dict:
    """Train one model of the regime; its figures as a CSV row."""
    cfg = preset("quick", items, {**REGIME, "train.seed": seed, "train.threads": threads})
    m = run_experiment(cfg).metrics
    row = {"seed": seed, "items": items, "best_epoch": m.get("best_epoch"),
           "valid_recall@20": m["valid"]["recall@20"], "test_recall@20": m["test"]["recall@20"]}
    for name, b in m["by_popularity"]["buckets"].items():
        row[f"{name}_recall@20"] = b["recall@20"]
    pers = m["personalisation"]
    row.update({"popularity_recall@20": pers["popularity_recall@20"], "top_overlap": pers["top_overlap"],
                "popularity_top_overlap": pers["popularity_top_overlap"]})
    return row


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", default="1,2,3", help="training seeds, comma-separated (default 1,2,3)")
    ap.add_argument("--threads", type=int, default=1, help="torch threads per run (default 1)")
    args = ap.parse_args(argv)
    rows = [one_run(items, int(s), args.threads) for s in args.seeds.split(",") for items in ("id", "motor")]
    for r in rows:
        print({k: round(v, 4) if isinstance(v, float) else v for k, v in r.items()})
    for items in ("id", "motor"):
        test = [r["test_recall@20"] for r in rows if r["items"] == items]
        print(f"{items}: test Recall@20 mean {statistics.fmean(test):.4f} over {len(test)} seeds")
    print(f"popularity ranking on the same split: test Recall@20 {rows[0]['popularity_recall@20']:.4f}")
    print(write_csv("sparse_preset", rows, OUT))


if __name__ == "__main__":
    main()
