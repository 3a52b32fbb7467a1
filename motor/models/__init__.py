"""Backbone recommenders. Each module registers one model; all share ``models.base``."""

from motor.models import bpr, lightgcn  # noqa: F401
from motor.models.base import Batch, ModelContext, Recommender
from motor.models.registry import BACKBONES, get_backbone

__all__ = ["BACKBONES", "Batch", "ModelContext", "Recommender", "get_backbone"]
