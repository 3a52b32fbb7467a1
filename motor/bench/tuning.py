"""Validation-only tuning for the benchmark suites: ``python -m motor tune`` once per cell, then reused.

A cell is a dataset, backbone, item representation, training fraction F and cold hold-out; the
tuner's output for it lives in ``ROOT/DATASET-BACKBONE-ITEMS-fF[-cC]/`` (``best_config.json``,
``tune.json``, ``study.db``). ``tune_missing`` tunes the cells that have no ``best_config.json``
yet (the same budget for ID and MOTOR, the defaults as trial 0, seed 0), so an interrupted
benchmark resumes its tuning too; ``tuned_settings`` gives a suite the sections the tuner chose,
without the training length and seed, which stay the benchmark's.
"""

from __future__ import annotations

import json
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from motor.bench.harness import ROOT, child_env, last_line
from motor.tune import cell_folder

TUNED_TRAIN_KEPT = ("epochs", "patience", "seed", "threads")  # the benchmark's own, not the tuner's
PROGRESS = ("resuming ", "trial ", "confirm", "best:")  # the tuner's lines worth showing while a cell tunes


@dataclass(frozen=True)
class TuneCell:
    """One tuned setting: where its search ran (dataset, F, cold hold-out) and for which model."""

    data: str
    backbone: str
    items: str
    fraction: float = 1.0
    cold_items: float = 0.0

    def folder(self, root: str | Path) -> Path:
        return cell_folder(root, self.data, self.backbone, self.items, self.fraction, self.cold_items)


def tune_missing(cells: list[TuneCell], root: str, budget: int, train: dict, threads: int, jobs: int = 1,
                 confirm_top: int = 0, start: str | None = None) -> list[str]:
    """Run the tuner for every cell without a ``best_config.json`` under ``root``, ``jobs`` at a time;
    ``train`` gives each trial's epochs and patience; ``start``: a RunConfig JSON file every search starts
    from (``motor tune --config``; e.g. another TCN), else the documented defaults. Returns a note per
    failed tuning."""
    todo = [c for c in cells if not (c.folder(root) / "best_config.json").exists()]

    def one(cell: TuneCell) -> str:
        out = cell.folder(root)
        cmd = [sys.executable, "-m", "motor", "tune", "--data", cell.data, "--backbone", cell.backbone,
               "--items", cell.items, "--budget", str(budget), "--train-fraction", str(cell.fraction),
               "--cold-items", str(cell.cold_items), "--seed", "0", "--epochs", str(train["epochs"]),
               "--patience", str(train["patience"]), "--threads", str(threads), "--confirm-top", str(confirm_top),
               "--out", str(out), *(["--config", str(start)] if start else [])]
        # one stream (stderr merged: a full stderr pipe would block the child), each trial shown as it ends
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                env=child_env(threads), cwd=ROOT)
        lines = []
        for text in proc.stdout:
            lines.append(text)
            if text.startswith(PROGRESS):
                print(f"[tune {out.name}] {text.rstrip()}", flush=True)
        ok = proc.wait() == 0
        line = last_line("".join(lines))
        print(json.dumps({"tuned": out.name, "ok": ok, "result": line}), flush=True)
        return "" if ok else f"Tuning {out.name} failed ({line}): that cell ran with defaults."

    with ThreadPoolExecutor(max_workers=jobs) as pool:
        return [n for n in pool.map(one, todo) if n]


def tuned_settings(root: str | None, cell: TuneCell) -> dict | None:
    """The tuner's chosen sections for one cell (training length and seed stay the benchmark's), or None."""
    if root is None:
        return None
    path = cell.folder(root) / "best_config.json"
    if not path.exists():
        return None
    cfg = json.loads(path.read_text())
    out = {k: v for k, v in cfg.items() if isinstance(v, dict) and k not in ("data", "split")}
    if "train" in out:
        out["train"] = {k: v for k, v in out["train"].items() if k not in TUNED_TRAIN_KEPT}
    return out


ITEM_SECTIONS = {"id": ("tokenizer", "motor"), "motor": ("id_encoder",)}  # sections the other representation reads


def settings_label(backbone: str, items: str, tuned: dict | None) -> str:
    """What the tuner changed for one cell, e.g. ``lr=0.00303, reg_weight=0.0195, k=32, m=2``: only the values that
    differ from the documented defaults of this backbone and representation ('defaults' when none does)."""
    from motor.experiment import RunConfig

    defaults = RunConfig(backbone=backbone, items=items).to_dict()
    shown = []
    for section, values in (tuned or {}).items():
        if section in ITEM_SECTIONS.get(items, ()):
            continue
        for key, value in values.items():
            if defaults.get(section, {}).get(key) != value:
                shown.append(f"{key}={value:.3g}" if isinstance(value, float) else f"{key}={value}")
    return ", ".join(shown) or "defaults"
