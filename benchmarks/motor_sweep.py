"""What we tried for MOTOR: a sweep of its settings, judged on validation Recall@20 only.

    python benchmarks/motor_sweep.py [--data demo] [--backbones bpr,lightgcn,vbpr] [--seeds 1]
                                     [--jobs 2] [--threads 1] [--out benchmarks/motor_sweep]

Each run is ``python -m motor train`` in its own process with the benchmark's training settings
(``motor.bench.harness.BENCH_TRAIN``) and the cold-item hold-out the backbone benchmark uses, one
MOTOR setting changed from the documented defaults at a time, beside the ID baseline. Test
metrics are never read: the table shows validation figures, which is what a setting may be
chosen on. Writes ``<out>.csv`` and ``<out>.md`` (a markdown table for benchmarks/RESULTS.md).
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # this checkout's motor, not another one installed
from motor.bench.harness import BENCH_TRAIN, train_subprocess  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]

# One change at a time from the defaults (M=4, K=64, attention TCN, 1 layer, 2 heads, width 32,
# normal init, lr 5e-3).
VARIANTS: dict[str, list[str]] = {
    "default (attention)": [],
    "tcn mean (no crossing)": ["--tcn", "mean"],
    "tcn cross (DCN-v2)": ["--tcn", "cross"],
    "2 TCN layers": ["--tcn-layers", "2"],
    "M=8": ["--pq-m", "8"],
    "M=2": ["--pq-m", "2"],
    "K=256": ["--pq-k", "256"],
    "OPQ": ["--opq"],
    "codebook init": ["--token-init", "codebook"],
    "token width 64": ["--token-dim", "64"],
    "lr 1e-3": ["--lr", "0.001"],
    "lr 2e-2": ["--lr", "0.02"],
    "M=8, lr 2e-2": ["--pq-m", "8", "--lr", "0.02"],
    "K=256, lr 2e-2": ["--pq-k", "256", "--lr", "0.02"],
}
# The ID baseline gets the same learning-rate choices, so a tuned MOTOR is not compared with an untuned ID.
ID_VARIANTS: dict[str, list[str]] = {
    "ID baseline": [],
    "ID lr 1e-3": ["--lr", "0.001"],
    "ID lr 2e-2": ["--lr", "0.02"],
}


def train(data: str, backbone: str, items: str, flags: list[str], seed: int, threads: int,
          cold: float, epochs: int) -> dict:
    cfg = {"data": {"data": data}, "backbone": backbone, "items": items, "split": {"cold_items": cold},
           "train": {**BENCH_TRAIN, "epochs": epochs, "seed": seed}}
    t = time.perf_counter()
    m = train_subprocess(cfg, threads=threads, flags=flags)
    if "error" in m:
        return {"error": m["error"][:200]}
    return {"valid_recall@20": round(m["valid"]["recall@20"], 4), "valid_ndcg@20": round(m["valid"]["ndcg@20"], 4),
            "best_epoch": m["best_epoch"], "s_per_epoch": round(m["seconds_per_epoch"], 3),
            "item_params": m["params"]["item_side"], "wall_s": round(time.perf_counter() - t, 1)}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0], allow_abbrev=False)
    ap.add_argument("--data", default="demo")
    ap.add_argument("--backbones", default="bpr,lightgcn,vbpr")
    ap.add_argument("--variants", default="all", help="semicolon-separated variant names, or all")
    ap.add_argument("--id-variants", default="ID baseline", help="semicolon-separated ID variants, or all")
    ap.add_argument("--seeds", type=int, default=1)
    ap.add_argument("--jobs", type=int, default=1, help="runs at a time")
    ap.add_argument("--threads", type=int, default=1, help="torch threads per run")
    ap.add_argument("--cold-items", type=float, default=0.1)
    ap.add_argument("--epochs", type=int, default=BENCH_TRAIN["epochs"], help="lower only for a smoke run")
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "motor_sweep"))
    a = ap.parse_args()
    variants = VARIANTS if a.variants == "all" else {k: VARIANTS[k] for k in a.variants.split(";")}
    id_variants = ID_VARIANTS if a.id_variants == "all" else {k: ID_VARIANTS[k] for k in a.id_variants.split(";")}
    id_variants.setdefault("ID baseline", [])
    jobs = [(b, "id", name, flags, 999 + s) for b in a.backbones.split(",") for name, flags in id_variants.items()
            for s in range(a.seeds)]
    jobs += [(b, "motor", name, flags, 999 + s) for b in a.backbones.split(",") for name, flags in variants.items()
             for s in range(a.seeds)]

    def one(job):
        backbone, items, name, flags, seed = job
        row = {"backbone": backbone, "items": items, "variant": name, "seed": seed,
               **train(a.data, backbone, items, flags, seed, a.threads, a.cold_items, a.epochs)}
        print(json.dumps(row), flush=True)
        return row

    with ThreadPoolExecutor(a.jobs) as pool:
        rows = list(pool.map(one, jobs))
    out = Path(a.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    with out.with_suffix(".csv").open("w", newline="") as f:
        w = csv.DictWriter(f, list(dict.fromkeys(k for r in rows for k in r)))
        w.writeheader()
        w.writerows(rows)

    lines = ["| backbone | variant | valid R@20 | valid N@20 | vs ID valid R@20 | best epoch | s/epoch |",
             "|---|---|---|---|---|---|---|"]
    for backbone in a.backbones.split(","):
        groups: dict[str, list[dict]] = {}
        for r in rows:
            if r["backbone"] == backbone:
                groups.setdefault(r["variant"], []).append(r)
        base = np.mean([r["valid_recall@20"] for r in groups["ID baseline"] if "error" not in r])
        for name, rs in groups.items():
            ok = [r for r in rs if "error" not in r]
            if not ok:
                lines.append(f"| {backbone} | {name} | failed: {rs[0]['error'][:80]} | | | | |")
                continue
            mean = lambda k: np.mean([r[k] for r in ok])  # noqa: E731
            delta = "" if name == "ID baseline" else f"{mean('valid_recall@20') - base:+.4f}"
            lines.append(f"| {backbone} | {name} | {mean('valid_recall@20'):.4f} | {mean('valid_ndcg@20'):.4f} | "
                         f"{delta} | {mean('best_epoch'):.0f} | {mean('s_per_epoch'):.2f} |")
    out.with_suffix(".md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
