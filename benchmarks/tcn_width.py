"""Does a wider Token Cross Network give MOTOR's item vectors more directions? Validation figures only.

    python benchmarks/tcn_width.py --backbones lightgcn,bpr --widths 32,64,128 [--jobs 1]

Each run is a backbone table cell (``python -m motor bench backbones``: demo, settings tuned on demo
validation, 10% of the items held out, seed 999) with MOTOR's ``motor.token_dim`` set to each width
after the tuned settings. Prints one JSON line per run: validation Recall@20, the item vectors'
effective rank around their mean (``metrics.json["personalisation"]``), seconds per epoch and best
epoch. Test figures are not read.
"""

from __future__ import annotations

import argparse
import json
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # this checkout's motor, not another one installed
from motor.bench.backbones import BackbonesOptions, cell_settings, make_run  # noqa: E402
from motor.bench.harness import train_subprocess  # noqa: E402


def run_width(name: str, width: int) -> dict:
    opts = BackbonesOptions(datasets=["demo"], backbones=[name], seeds=1)
    run = make_run("demo", name, "motor", 999, cell_settings(opts, name, "motor"))
    run.config.setdefault("motor", {})["token_dim"] = width  # after the tuned settings, which name a width too
    m = train_subprocess(run.config, threads=1)
    if "error" in m:
        return {"backbone": name, "width": width, "error": m["error"]}
    centred = (m.get("personalisation") or {}).get("item_effective_rank_centred")
    return {"backbone": name, "width": width, "valid_recall@20": round(m["valid"]["recall@20"], 4),
            "item_effective_rank_centred": None if centred is None else round(centred, 1),
            "s_per_epoch": round(m["seconds_per_epoch"], 2), "best_epoch": m["best_epoch"]}


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0], allow_abbrev=False)
    ap.add_argument("--backbones", default="lightgcn,bpr")
    ap.add_argument("--widths", default="32,64,128")
    ap.add_argument("--jobs", type=int, default=1)
    args = ap.parse_args(argv)
    cells = [(b, int(w)) for b in args.backbones.split(",") for w in args.widths.split(",")]
    with ThreadPoolExecutor(args.jobs) as pool:
        for row in pool.map(lambda c: run_width(*c), cells):
            print(json.dumps(row), flush=True)


if __name__ == "__main__":
    main()
