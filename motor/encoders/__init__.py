"""Item encoders: how an item becomes a vector. ``id`` (a table) or ``motor`` (shared tokens)."""

from motor.encoders.base import ItemEncoder
from motor.encoders.id_table import IdEmbedding, IdEncoderConfig
from motor.encoders.token_encoder import MotorEncoder, MotorEncoderConfig, item_side_parameters

__all__ = ["ItemEncoder", "IdEmbedding", "IdEncoderConfig", "MotorEncoder", "MotorEncoderConfig",
           "item_side_parameters"]
