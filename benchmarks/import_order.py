"""Issue 11 item 4: the same epoch whatever the import order, with 1 and with 2 threads.

    python benchmarks/import_order.py [--rounds 3] [--epochs 4] [--items id,motor]

Each measurement is a fresh process that either imports torch first (a notebook's first line) or
imports ``motor`` first, then trains the demo's quick preset (LightGCN) for a few epochs with the
given thread count; the first epoch is dropped and the median of the rest kept. The two orders
alternate within each round, so load drift hits both alike. Prints a Markdown table with the
ratio torch-first / motor-first per model and thread count (target: within 20%) and writes
``benchmarks/import_order.csv``. Run it on idle cores: a competing process is what makes libgomp's
spin-wait show, and the test ``tests/test_threads.py`` covers that case.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # this checkout's motor, not another one installed
from motor.bench.report import write_csv  # noqa: E402
from motor.threads import WAIT_VARIABLES  # noqa: E402

CHILD = """
import json, sys, time
if sys.argv[1] == "torch_first":
    import torch  # noqa: F401  (a notebook's first line)
import motor.threads
from motor.presets import preset
from motor.experiment import run_experiment

items, threads, epochs = sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
cfg = preset("quick", items, {"train": {"epochs": epochs, "threads": threads, "patience": 100}})
history = run_experiment(cfg, None).result.history
seconds = sorted(r["train_seconds"] for r in history[1:])
print(json.dumps({"epoch_s": seconds[len(seconds) // 2], "parked": motor.threads.status()["parked"]}))
"""


def measure(order: str, items: str, threads: int, epochs: int) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in WAIT_VARIABLES}  # as a fresh shell has it
    out = subprocess.run([sys.executable, "-c", CHILD, order, items, str(threads), str(epochs)], cwd=ROOT, env=env,
                         capture_output=True, text=True, timeout=900, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=3, help="alternations of the two orders (default 3)")
    ap.add_argument("--epochs", type=int, default=4, help="epochs per process, the first dropped (default 4)")
    ap.add_argument("--items", default="id,motor", help="item representations, comma-separated (default id,motor)")
    args = ap.parse_args(argv)
    rows = []
    for items in args.items.split(","):
        for threads in (1, 2):
            for r in range(args.rounds):
                for order in (("motor_first", "torch_first") if r % 2 == 0 else ("torch_first", "motor_first")):
                    m = measure(order, items, threads, args.epochs)
                    rows.append({"items": items, "threads": threads, "round": r, "order": order,
                                 "epoch_s": m["epoch_s"], "parked_runtimes": len(m["parked"]),
                                 "load_1min": os.getloadavg()[0]})
                    print(rows[-1], flush=True)
    print("\n| items | threads | motor first s | torch first s | torch first / motor first |")
    print("|---|---|---|---|---|")
    for items in args.items.split(","):
        for threads in (1, 2):
            med = {o: statistics.median(r["epoch_s"] for r in rows if (r["items"], r["threads"], r["order"]) ==
                                        (items, threads, o)) for o in ("motor_first", "torch_first")}
            print(f"| {items} | {threads} | {med['motor_first']:.3f} | {med['torch_first']:.3f} | "
                  f"{med['torch_first'] / med['motor_first']:.2f} |")
    print(write_csv("import_order", rows, Path(__file__).resolve().parent))


if __name__ == "__main__":
    main()
