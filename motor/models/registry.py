"""Backbone registry: ``--backbone NAME`` looks models up here."""

from __future__ import annotations

from motor.errors import MotorError

BACKBONES: dict[str, type] = {}


def register(cls):
    BACKBONES[cls.name] = cls
    return cls


def get_backbone(name: str):
    import motor.models  # noqa: F401  (imports every backbone module, filling the registry)

    key = name.lower()
    if key not in BACKBONES:
        raise MotorError(f"unknown backbone {name!r}; choose one of {', '.join(sorted(BACKBONES))}")
    return BACKBONES[key]
