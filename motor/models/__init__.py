"""Backbone recommenders. Each module here registers one model; all share ``models.base``."""

import importlib
import pkgutil

from motor.models.base import Batch, ModelContext, Recommender
from motor.models.registry import BACKBONES, get_backbone

for _m in pkgutil.iter_modules(__path__):
    if _m.name not in ("base", "registry"):
        importlib.import_module(f"{__name__}.{_m.name}")

__all__ = ["BACKBONES", "Batch", "ModelContext", "Recommender", "get_backbone"]
