"""Item encoders: how an item becomes a vector. ``id`` (a table) or ``motor`` (shared tokens)."""

from motor.encoders.base import ItemEncoder
from motor.encoders.id_table import IdEmbedding, IdEncoderConfig

__all__ = ["ItemEncoder", "IdEmbedding", "IdEncoderConfig"]
