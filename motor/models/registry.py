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



def with_saved_before(config: dict) -> dict:
    """A run folder's saved config with the ``saved_before`` value of every model setting its backbone gained
    after the run was saved (``Recommender.saved_before``), so the run is rebuilt as it was trained; anything
    that is not a known backbone's config is returned unchanged, for the config checks to name."""
    import motor.models  # noqa: F401  (imports every backbone module, filling the registry)

    backbone, model = config.get("backbone"), config.get("model")
    if not isinstance(backbone, str) or not isinstance(model, dict) or backbone.lower() not in BACKBONES:
        return config
    missing = {k: v for k, v in BACKBONES[backbone.lower()].saved_before.items() if k not in model}
    return {**config, "model": {**missing, **model}} if missing else config
