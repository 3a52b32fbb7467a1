"""GPU check: LightGCN with ID and MOTOR items on the demo, trained on CUDA (fp32 and bf16 autocast).

    PYTHONPATH=. python benchmarks/gpu_check.py [--epochs 5] [--smoke] [--json OUT.json]

(from the repository root; on the lent H200 its python3 has torch with CUDA, and faiss-cpu must be
carried as a wheel, see the device tool's README).

Prints, per run, the device it trained on, seconds per training epoch, training pairs per second,
the GPU's peak memory and test Recall@20 / NDCG@20 (quick preset otherwise). ``--smoke`` also runs
every registered backbone for one epoch with ID and MOTOR items on CUDA, to catch any tensor
created on the wrong device. Exits 1 when any run fails; needs a CUDA device.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import traceback

import torch

from motor.experiment import run_experiment
from motor.models import BACKBONES
from motor.presets import preset


def one_run(backbone: str, items: str, epochs: int, amp: bool) -> dict:
    """Train one configuration on CUDA; the figures worth printing."""
    cfg = preset("quick", items, {"backbone": backbone, "train.epochs": epochs, "train.patience": epochs,
                                  "train.device": "cuda", "train.amp": amp})
    torch.cuda.reset_peak_memory_stats()
    t0 = time.perf_counter()
    m = run_experiment(cfg).metrics
    return {"backbone": backbone, "items": items, "amp": amp, "device": m["device"], "epochs": m["epochs_run"],
            "seconds_per_epoch": m["seconds_per_epoch"], "eval_seconds_per_epoch": m["eval_seconds_per_epoch"],
            "train_pairs_per_second": m["train_pairs_per_second"], "total_seconds": time.perf_counter() - t0,
            "peak_gpu_mb": torch.cuda.max_memory_allocated() / 2**20,
            "recall@20": m["test"]["recall@20"], "ndcg@20": m["test"]["ndcg@20"]}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0], allow_abbrev=False)
    ap.add_argument("--epochs", type=int, default=5)
    ap.add_argument("--smoke", action="store_true", help="also every backbone x {id, motor}, one epoch")
    ap.add_argument("--json", help="write every row to this JSON file")
    a = ap.parse_args()
    if not torch.cuda.is_available():
        print("error: no CUDA device visible to torch", file=sys.stderr)
        return 1
    print(f"torch {torch.__version__}, {torch.cuda.get_device_name(0)}", flush=True)
    plan = [("lightgcn", items, a.epochs, amp) for amp in (False, True) for items in ("id", "motor")]
    if a.smoke:
        plan += [(b, items, 1, False) for b in sorted(BACKBONES) for items in ("id", "motor")]
    rows, failed = [], 0
    for backbone, items, epochs, amp in plan:
        try:
            r = one_run(backbone, items, epochs, amp)
            rows.append(r)
            print(f"{backbone:>9}/{items:<5} amp={amp!s:<5} on {r['device']}: {r['epochs']} epochs, "
                  f"{r['seconds_per_epoch']:.3f} s/epoch ({r['train_pairs_per_second']:,.0f} pairs/s), eval "
                  f"{r['eval_seconds_per_epoch']:.3f} s, peak {r['peak_gpu_mb']:.0f} MB, test recall@20 "
                  f"{r['recall@20']:.4f} ndcg@20 {r['ndcg@20']:.4f}", flush=True)
        except Exception as e:  # noqa: BLE001  (report and go on: one broken backbone must not hide the others)
            failed += 1
            rows.append({"backbone": backbone, "items": items, "amp": amp, "error": f"{type(e).__name__}: {e}"})
            print(f"{backbone:>9}/{items:<5} amp={amp!s:<5} FAILED: {type(e).__name__}: {e}", flush=True)
            traceback.print_exc(limit=-3)
    if a.json:
        with open(a.json, "w") as f:
            json.dump(rows, f, indent=2)
    print(f"{len(rows) - failed} runs ok, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
