"""Named starting points for a run, shared by the CLI, the app and the benchmarks.

``quick`` trains the demo (LightGCN, ID and MOTOR) fast enough for a live demo on 2 CPU cores
while still giving results worth showing; every value is an ordinary RunConfig setting.
Chosen on demo validation Recall@20 within a 30-epoch budget: batch 4096 and lr 0.02 reached
ID 0.305 / MOTOR 0.302 valid with the attention TCN before issue 11, where batch 2048 and lr 0.005
stopped at 0.284 / 0.254 after 25 epochs. With the current TCN (q/k normalisation; seeds 1 / 2,
one thread, 2026-12-04): ID valid 0.313 / 0.316 (test 0.319 / 0.319), MOTOR valid 0.298 / 0.292
(test 0.314 / 0.306), MOTOR's best epoch 30 / 29: it is still improving at the epoch cap.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from motor.errors import MotorError
from motor.experiment import RunConfig

# preset name -> dotted RunConfig overrides (applied to RunConfig's defaults)
PRESETS: dict[str, dict[str, Any]] = {
    "default": {},
    "quick": {"backbone": "lightgcn", "train.epochs": 30, "train.lr": 0.02, "train.batch_size": 4096,
              "train.patience": 8},
}


def preset(name: str, items: str = "id", overrides: Mapping[str, Any] | None = None, source: str = "") -> RunConfig:
    """A validated RunConfig: the named preset, then ``items``, then ``overrides`` (dotted paths, or
    section mappings that merge: ``{"train.lr": 0.01}`` or ``{"train": {"lr": 0.01}}``). ``source`` (e.g.
    ``--config FILE``) begins an error in ``overrides``: 'unknown setting 'search'' did not say it came from a file."""
    if name not in PRESETS:
        raise MotorError(f"unknown preset {name!r}; choose one of {', '.join(PRESETS)}")
    base = RunConfig().with_overrides({**PRESETS[name], "items": items})
    try:
        return base.with_overrides(overrides or {})
    except MotorError as e:
        if not source:
            raise
        raise MotorError(f"{source}: {e}") from None
