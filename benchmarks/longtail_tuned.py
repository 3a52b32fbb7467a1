"""The long-tail cells trained with another dataset's tuned settings, as a table the app can draw.

``python -m motor bench regimes --datasets "" --longtail demo-longtail --longtail-tuned-from ml100k ...``
logs its runs to ``regimes_runs.jsonl`` (each run's settings name where they were chosen, ``"tuned_on":
"ml100k F=1"``) but writes no CSV of its own: its ``--from-log --no-write`` report is the RESULTS.md
subsection 'demo-longtail with ML-100K's F = 1 settings'. This writes the same cells, aggregated as
``regimes.csv`` is (``motor.bench.regimes.aggregate``), to ``benchmarks/regimes_longtail_tuned.csv``. A cell
whose settings changed since (BM3's uniformity weight, 2026-12-07) keeps only the runs of its newest
settings, as the report does. ``python benchmarks/longtail_tuned.py``.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # this checkout's motor, not another one installed
from motor.bench.regimes import aggregate, rounded  # noqa: E402
from motor.bench.report import write_csv  # noqa: E402
from motor.bench.runlog import read_log  # noqa: E402


def borrowed_runs(log: Path) -> list[dict]:
    """The logged runs whose settings were chosen on another dataset, each cell's newest settings only."""
    rows = [r for r in read_log(log).values() if json.loads(r.get("settings") or "{}").get("tuned_on")]
    newest = {(r["dataset"], r["train_fraction"], r["backbone"], r["items"]): r["settings"] for r in rows}
    return [r for r in rows if r["settings"] == newest[r["dataset"], r["train_fraction"], r["backbone"], r["items"]]]


if __name__ == "__main__":
    here = Path(__file__).resolve().parent
    runs = borrowed_runs(here / "regimes_runs.jsonl")
    print(f"{len(runs)} runs -> {write_csv('regimes_longtail_tuned', rounded(aggregate(runs)), here)}")
