"""Named starting points for a run, shared by the CLI, the app and the benchmarks.

``quick`` trains the demo (LightGCN, ID and MOTOR) fast enough for a live demo on 2 CPU cores
while still giving results worth showing; every value is an ordinary RunConfig setting.
Chosen on demo validation Recall@20 within a 30-epoch budget: batch 4096 and lr 0.02 reach
ID 0.305 / MOTOR 0.302 valid (test 0.322 / 0.311) in about 7 s + 28 s with one thread, where
batch 2048 and lr 0.005 stopped at 0.284 / 0.254 after 25 epochs.
"""

from __future__ import annotations

from motor.config import from_dict
from motor.errors import MotorError
from motor.experiment import RunConfig

PRESETS: dict[str, dict] = {
    "default": {},
    "quick": {
        "backbone": "lightgcn",
        "train": {"epochs": 30, "lr": 0.02, "batch_size": 4096, "patience": 8},
    },
}


def preset(name: str, items: str = "id", **overrides) -> RunConfig:
    """A RunConfig from a named preset, with ``items`` and any top-level overrides applied."""
    if name not in PRESETS:
        raise MotorError(f"unknown preset {name!r}; choose one of {', '.join(PRESETS)}")
    d = {**PRESETS[name], "items": items}
    for key, value in overrides.items():
        if isinstance(value, dict) and isinstance(d.get(key), dict):
            d[key] = {**d[key], **value}
        else:
            d[key] = value
    return from_dict(RunConfig, d)
