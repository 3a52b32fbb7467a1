"""Named starting points for a run, shared by the CLI, the app and the benchmarks.

``quick`` trains the demo (LightGCN, ID and MOTOR) fast enough for a live demo on 2 CPU cores
while still giving results worth showing; every value is an ordinary RunConfig setting.
"""

from __future__ import annotations

from motor.config import from_dict
from motor.errors import MotorError
from motor.experiment import RunConfig

PRESETS: dict[str, dict] = {
    "default": {},
    "quick": {
        "backbone": "lightgcn",
        "train": {"epochs": 25, "patience": 8},
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
