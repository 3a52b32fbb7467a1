"""Many training runs, some at a time, each logged as it finishes so a stopped benchmark resumes.

Each finished run is appended to a JSON-lines log; with ``reuse`` a run is taken from the log
instead of trained again when its dataset, backbone, items, seed and settings (a JSON string
that holds everything else that changes results) all match, and, for rows that record it, the
hash of every setting the run trained with, defaults included (``resolved_settings``): the
settings string names only what differs from the defaults, so without the hash a changed
default would pass an old run off as a new one. A row without the hash is not reused:
``stamp`` gives the rows logged before it existed the hash of their settings under the defaults
of the day it ran (2026-12-06; what their reuse had assumed all along). Rows record the threads and
parallel jobs they ran with, which change timings only, and the code's git commit (a log resumed
across sessions can then say which runs came from which code). Used by the backbones and regimes suites.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from motor.bench.harness import ROOT, run_row, train_subprocess


@dataclass
class Run:
    """One training run: the columns that identify it (``head``) and the RunConfig dict to train."""

    head: dict  # dataset, backbone, items, seed, settings (+ any further columns, e.g. train_fraction)
    config: dict


def code_commit() -> str:
    """The checkout's short git commit, '+' when it has uncommitted changes; '' outside git."""
    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=ROOT,
                              timeout=10).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], capture_output=True,
                               text=True, cwd=ROOT, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return ""
    return head + ("+" if head and dirty else "")


# settings that change where or how fast a run trains, not what it learns
_NOT_RESULTS = (("train", "threads"), ("train", "device"), ("train", "eval_batch_users"))


# settings added after runs were logged, at the value that reproduces what those runs computed: left out of the
# hash at that value, so adding a setting to a backbone does not orphan every logged run of it (at any other
# value the setting is in the hash like every other)
NEUTRAL_ADDITIONS = {("model", "uniformity_weight"): 0.0, ("split", "cold_valid"): 0.0}


def resolved_settings(config: dict) -> str | None:
    """A short hash of every setting ``config`` trains with, the defaults filled in (the sections of the item
    representation it does not use left out, and threads, device and evaluation batch size, which change timing
    only); None when ``config`` is not a valid RunConfig (the run then fails on its own)."""
    from motor.errors import MotorError
    from motor.experiment import RunConfig

    try:
        full = RunConfig.from_dict(config).to_dict()
    except (MotorError, TypeError, ValueError):
        return None
    for section in (("motor", "tokenizer") if full.get("items") != "motor" else ("id_encoder",)):
        full.pop(section, None)
    for section, name in _NOT_RESULTS:
        full.get(section, {}).pop(name, None)
    for (section, name), value in NEUTRAL_ADDITIONS.items():
        if full.get(section, {}).get(name, object()) == value:
            full[section].pop(name)
    return hashlib.sha1(json.dumps(full, sort_keys=True, default=str).encode()).hexdigest()[:12]


def stamp(log: Path, config_of: Callable[[dict], dict]) -> int:
    """Give every row of ``log`` that has no ``resolved`` hash the hash of ``config_of(row)`` (the RunConfig
    dict the suite would train for that row, under the defaults of the code at hand); returns how many rows
    were stamped. A row whose hash would be None (settings no longer valid) is left as it is."""
    lines = log.read_text().splitlines()
    out, stamped = [], 0
    for line in lines:
        row = json.loads(line) if line.strip() else None
        if row is not None and "resolved" not in row and "error" not in row:
            resolved = resolved_settings(config_of(row))
            if resolved is not None:
                row, stamped = {**row, "resolved": resolved}, stamped + 1
                line = json.dumps(row)
        out.append(line)
    if stamped:
        log.write_text("".join(line + "\n" for line in out))
    return stamped


def key(row: dict) -> tuple:
    return row["dataset"], row["backbone"], row["items"], row["seed"], row.get("settings")


def read_log(path: Path) -> dict[tuple, dict]:
    """The finished runs in a log, by key (failed runs are not logged, so they are retried)."""
    done = {}
    if path.exists():
        for n, line in enumerate(path.read_text().splitlines(), 1):
            if not line.strip():
                continue
            try:
                r = json.loads(line)
                k = key(r)
            except (ValueError, KeyError, TypeError) as e:  # a run killed while appending leaves half a line
                print(f"note: {path} line {n} is damaged ({type(e).__name__}) and was skipped: its run counts as not "
                      "run (--resume trains it again)", file=sys.stderr)
                continue
            if "error" not in r:
                done[k] = r
    return done


def run_all(runs: list[Run], log: Path, jobs: int, threads: int, reuse: bool, only_logged: bool = False,
            append: bool = True) -> list[dict]:
    """Train (or take from the log) every run, ``jobs`` subprocesses at a time; rows in the order given.

    ``only_logged``: train nothing, report what the log holds. ``append``: log finished runs
    (one short line per write, so appends from parallel jobs do not interleave).
    """
    done = read_log(log) if (reuse or only_logged) else {}
    commit = code_commit()

    def one(run: Run) -> dict | None:
        resolved = resolved_settings(run.config)
        logged = done.get(key(run.head))
        if logged is not None and logged.get("resolved") == resolved:
            return {**logged, **run.head, "reused": True}
        if only_logged:
            return None
        t = time.perf_counter()
        m = train_subprocess(run.config, threads=threads)
        row = {**run.head, **run_row(m), "threads": threads, "jobs": jobs, "wall_s": round(time.perf_counter() - t, 1),
               "commit": commit, **({"resolved": resolved} if resolved else {})}
        if append and "error" not in row:
            log.parent.mkdir(parents=True, exist_ok=True)
            with log.open("a") as f:
                f.write(json.dumps(row) + "\n")
        print(json.dumps({k: v for k, v in row.items() if k != "settings"}), flush=True)
        return row

    with ThreadPoolExecutor(max_workers=jobs) as pool:  # each job is its own subprocess
        rows = [r for r in pool.map(one, runs) if r is not None]
    if only_logged:
        check_logged_cells(runs, rows, done.values(), log)
    return rows


def cell_label(row: dict) -> str:
    """A run's dataset, and its training fraction where the suite varies it ('ml100k at F = 0.1')."""
    fraction = row.get("train_fraction")
    return row["dataset"] + (f" at F = {fraction:g}" if fraction is not None else "")


def check_logged_cells(runs: list[Run], rows: list[dict], logged: Iterable[dict], log: Path) -> None:
    """Raise ``MotorError`` when a dataset (x training fraction) asked of a log-only report has no logged run at all:
    the report would silently leave it out and overwrite the committed table with one that lacks it (a cell
    with fewer seeds, or a backbone not run yet, is reported as it is)."""
    from motor.errors import MotorError

    found = {cell_label(r) for r in rows}
    missing = [c for c in dict.fromkeys(cell_label(r.head) for r in runs) if c not in found]
    if not missing:
        return
    have = sorted({cell_label(r) for r in logged})
    raise MotorError(f"--from-log: {log.name} has no finished run with these settings for {', '.join(missing)} "
                     f"(it holds runs for: {', '.join(have) or 'nothing yet'}); run those cells without --from-log "
                     f"first, or leave them out of the datasets and fractions asked for. Nothing was written.")
