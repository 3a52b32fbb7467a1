"""Give the benchmark run logs' rows that predate the settings hash the hash of what they trained with.

Rows logged before 2026-12-05 name only the settings that differ from the defaults; they were reused
on that string alone, so a changed default would have passed them off as runs of the new one. This
stamps each of them with ``motor.bench.runlog.resolved_settings`` of the configuration the suites
build for it (``motor.bench.backbones.logged_config``) under the defaults of the code that runs it:
run once, on 2026-12-06 (commit of that day), before any default changed. Rows that already have a
hash keep it. ``python benchmarks/stamp_runlogs.py [LOG ...]``.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # this checkout's motor, not another one installed
from motor.bench.backbones import logged_config  # noqa: E402
from motor.bench.runlog import stamp  # noqa: E402

LOGS = ("backbones_runs.jsonl", "regimes_runs.jsonl", "personalisation_runs.jsonl")

if __name__ == "__main__":
    here = Path(__file__).resolve().parent
    for log in [Path(p) for p in sys.argv[1:]] or [here / name for name in LOGS]:
        print(f"{log.name}: {stamp(log, logged_config)} rows stamped")
