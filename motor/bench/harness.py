"""What every suite shares: where results go, the machine line, timing, and training in a fresh process.

Training runs execute in fresh subprocesses (``python -m motor train``), so peak memory is the
run's own and one run cannot warm caches for another.
"""

from __future__ import annotations

import json
import math
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from motor.config import check_ranges, doc

ROOT = Path(__file__).resolve().parents[2]
OUT = ROOT / "benchmarks"

# Settings every benchmark training run shares; hyperparameters were chosen on validation Recall@20 only.
BENCH_TRAIN = {"epochs": 100, "patience": 10}
QUICK_TRAIN = {"epochs": 2, "patience": 2}
BENCH_MOTOR: dict = {}  # the documented defaults (tokenizer M=4, K=64; TCN attention, 1 layer, width 32)


@dataclass
class BenchOptions:
    """Options every suite takes."""

    quick: bool = doc(False, "tiny sizes, few epochs, one seed: a smoke run for CI (it sets the datasets, "
                             "fractions and seeds itself; its CSV and RESULTS section are <suite>_quick)")
    write: bool = doc(True, "write the CSV and this suite's section of benchmarks/RESULTS.md (--no-write: print "
                            "only; a full run still adds its finished training runs to its run log, so --resume "
                            "reuses them)")
    threads: int | None = doc(None, "torch threads per run (default: cores / jobs)", low=1)

    def __post_init__(self):
        check_ranges(self, "bench")  # the values given, before a suite's --quick replaces any

    def logs_runs(self) -> bool:
        """Whether finished training runs go to the suite's run log: always for a full run (hours of training
        must not be lost to a --no-write), only with --write for a --quick smoke run."""
        return self.write or not self.quick


@dataclass
class TrainingSuiteOptions(BenchOptions):
    """Options of the suites that train every backbone x items x seed (``backbones``, ``regimes``)."""

    backbones: list[str] = doc(["all"], "comma-separated backbone names, or all")
    items: list[str] = doc(["id", "motor"], "item representations to compare")
    seeds: int = doc(3, "training seeds per cell (999, 1000, ...)", low=1)
    jobs: int = doc(1, "training runs at a time (each its own subprocess)", low=1)
    resume: bool = doc(False, "reuse finished runs with the same settings from the run log")
    from_log: bool = doc(False, "run nothing; report the finished runs in the run log (a dataset or training "
                         "fraction it has no run for is an error, not an empty table)")
    tuned_dir: str | None = doc(None, "folder of `python -m motor tune` results, one sub-folder with best_config.json "
                                      "per tuned cell (motor.bench.tuning; default benchmarks/tuned, benchmarks/"
                                      "tuned_quick with --quick); a cell without one runs the documented defaults "
                                      "(an empty folder: defaults everywhere)")
    tune_budget: int = doc(0, "first tune the suite's tuned cells (see its --tune-* options): trials per cell, "
                              "validation Recall@20 only, the same for ID and MOTOR, the defaults as trial 0; "
                              "0 = no tuning", low=0)
    device: str = doc("auto", "where each run trains (auto: a GPU when torch sees one, else cpu; cpu; cuda); not "
                              "part of a run's identity, so a run log resumes across machines, and each row "
                              "records where it ran")

    def __post_init__(self):
        from motor.encoders.registry import ITEM_ENCODERS
        from motor.errors import MotorError

        if self.tuned_dir is None:  # what the committed tables used, also for --from-log and --resume
            self.tuned_dir = str(OUT / ("tuned_quick" if self.quick else "tuned"))
        else:
            self.tuned_dir = tuned_folder(self.tuned_dir, self.tune_budget, "--tuned-dir")
        super().__post_init__()
        if self.device not in ("auto", "cpu", "cuda"):  # refused before any run, not once per failed run
            raise MotorError(f"--device {self.device}: choose auto, cpu or cuda")
        if self.device == "cuda":
            import torch

            if not torch.cuda.is_available():
                raise MotorError("--device cuda: torch sees no CUDA device here; use --device cpu (or auto)")
        unknown = [i for i in self.items if i not in ITEM_ENCODERS]
        if unknown or not self.items:
            raise MotorError(f"--items {','.join(self.items) or '(empty)'}: choose from {', '.join(ITEM_ENCODERS)} "
                             f"(comma-separated, for example id,motor)")


def tuned_folder(path: str, budget: int, option: str) -> str:
    """A tuning folder by its absolute path: the tuning processes run in the checkout, so a relative one was tuned
    into there while the runs looked for it here and ran the defaults. One that is not there, with no
    --tune-budget to fill it, is refused: every cell would silently run the defaults."""
    from motor.errors import MotorError

    folder = Path(path).expanduser()
    if not budget and not folder.is_dir():
        raise MotorError(f"{option} {path}: no such folder, so every cell would run the defaults; give the folder "
                         f"`python -m motor tune` wrote (an empty one for defaults everywhere), or add --tune-budget "
                         f"N to tune into it")
    return str(folder.resolve())


def shown(path: str) -> str:
    """``path`` as a report prints it: relative to the checkout when inside it, as the commands there are typed."""
    try:
        return str(Path(path).relative_to(ROOT))
    except ValueError:
        return path


def dataset_sources(names: list[str], option: str = "--datasets") -> list[str]:
    """``names`` as the training subprocesses, which run in the checkout, find them: a folder by its absolute path
    (a relative one given from another folder failed in every run); one that is not there is refused before any
    run (each of its runs failed, and the suite still ended with status 0 and a table of failures)."""
    from motor.data.load import BUILT_IN, SOURCES_HINT
    from motor.errors import MotorError

    missing = [d for d in names if d not in BUILT_IN and not Path(d).expanduser().exists()]
    if missing:
        raise MotorError(f"{option} {','.join(missing)}: no such dataset folder here; {SOURCES_HINT}, so nothing "
                         f"was run")
    return [d if d in BUILT_IN else str(Path(d).expanduser().resolve()) for d in names]


def cores() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def machine() -> str:
    import torch

    return f"{platform.machine()}, {cores()} CPU cores, Python {platform.python_version()}, torch {torch.__version__}"


def median_time(fn: Callable[[], object], repeat: int = 5) -> float:
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def child_env(threads: int | None = None) -> dict:
    """The environment for benchmark subprocesses: this checkout first on PYTHONPATH, the rest kept."""
    path = os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH", "")) if p)
    env = {**os.environ, "PYTHONPATH": path}
    if threads:
        env.update(MOTOR_LAB_THREADS=str(threads), OMP_NUM_THREADS=str(threads))
    return env


def last_line(text: str, default: str = "failed") -> str:
    return (text.strip().splitlines() or [default])[-1]


def run_module(module: str, args: list[str], timeout: float = 3600, threads: int | None = None) -> dict:
    """``python -m module args`` in a fresh process whose last stdout line is JSON; that object,
    or ``{"error": last stderr line}``."""
    try:
        r = subprocess.run([sys.executable, "-m", module, *args], capture_output=True, text=True, timeout=timeout,
                           env=child_env(threads), cwd=ROOT)
    except subprocess.TimeoutExpired:
        return {"error": f"timed out after {timeout:.0f} s"}
    if r.returncode != 0:
        return {"error": last_line(r.stderr)}
    try:
        return json.loads(last_line(r.stdout, "{}"))
    except json.JSONDecodeError:
        return {"error": f"no JSON result: {last_line(r.stdout)[:80]}"}


def train_subprocess(cfg: dict, timeout: float = 3600, threads: int | None = None,
                     flags: list[str] = ()) -> dict:
    """Run ``python -m motor train --config`` in a fresh process (``flags``: more command-line
    options, which override the config); its metrics.json, or ``{"error": last stderr line}``."""
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "cfg.json").write_text(json.dumps(cfg))
        cmd = [sys.executable, "-m", "motor", "train", "--config", str(Path(tmp) / "cfg.json"),
               "--data", cfg["data"]["data"], "--out", str(Path(tmp) / "run"), "--quiet"]
        if threads:
            cmd += ["--threads", str(threads)]
        cmd += list(flags)
        try:
            r = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=child_env(), cwd=ROOT)
        except subprocess.TimeoutExpired:
            return {"error": f"timed out after {timeout:.0f} s"}
        if r.returncode != 0:
            return {"error": last_line(r.stderr)}
        return json.loads((Path(tmp) / "run" / "metrics.json").read_text())


def run_row(m: dict) -> dict:
    """The figures a results row keeps from one run's metrics.json."""
    if "error" in m:
        return {"error": m["error"]}
    r = {k: round(m["test"][k], 4) for k in ("recall@10", "recall@20", "ndcg@10", "ndcg@20")}
    r.update(best_epoch=m["best_epoch"], epochs_run=m["epochs_run"], s_per_epoch=round(m["seconds_per_epoch"], 3),
             s_per_eval=round(m["eval_seconds_per_epoch"], 3), peak_mb=round(m["peak_rss_mb"]),
             item_params=m["params"]["item_side"], total_params=m["params"]["trainable_total"],
             device=m.get("device", "cpu"))
    if "recall@20" in m.get("valid", {}):  # what settings are chosen on (the best epoch's)
        r["valid_recall@20"] = round(m["valid"]["recall@20"], 4)
    for part in ("cold", "cold_valid"):  # a cold-item hold-out: test, and validation when split.cold_valid > 0
        if part in m:
            r[f"{part}_recall@20"] = round(m[part]["recall@20"], 4)
            r[f"{part}_recall@20_among_cold"] = round(m[part]["recall@20_among_cold"], 4)
    if "tokenizer" in m:
        r["tokenize_s"] = round(m["tokenizer"].get("fit_seconds", float("nan")), 3)
    enc = m.get("item_encoder") or {}  # MOTOR's TCN diagnostics (motor.encoders.diagnostics), means over layers/heads
    att = (enc.get("attention") or {}).get("mean") or {}
    for k in ("max_weight", "same_key", "tv_from_average"):
        if k in att:
            r[f"att_{k}"] = round(att[k], 4)
    if (enc.get("pooling") or {}).get("max_weight") is not None:
        r["pool_max_weight"] = round(enc["pooling"]["max_weight"], 4)
        r["pool_uniform"] = round(enc["pooling"]["uniform"], 4)
    if "collapsed" in enc:
        r["tcn_collapsed"] = bool(enc["collapsed"])
    pers = m.get("personalisation") or {}  # does the model rank every user alike? (motor.personalisation)
    for k in ("top_overlap", "popularity_top_overlap", "item_direction_share", "user_direction_share",
              "item_effective_rank", "item_effective_rank_centred"):
        if isinstance(pers.get(k), float) and math.isfinite(pers[k]):
            r[k] = round(pers[k], 4)
    if isinstance(pers.get("dim"), int):  # the scored vectors' width, which the effective rank is out of
        r["item_dim"] = pers["dim"]
    # Popularity buckets (metrics.json "by_popularity": {"k", "rule", "buckets": {name: {"recall@20", ...}}}),
    # flattened as "tail_recall@20", ...; a cold-item hold-out's own figures (above) keep their names, and
    # the cold bucket's are then "bucket_cold_recall@20".
    pop = m.get("by_popularity") or {}
    for bucket, values in (pop.get("buckets") or {}).items():
        for k, v in values.items():
            if isinstance(v, (int, float)) and not isinstance(v, bool):
                name = f"{bucket}_{k}" if f"{bucket}_{k}" not in r else f"bucket_{bucket}_{k}"
                r[name] = round(v, 4) if isinstance(v, float) else v
    return r
