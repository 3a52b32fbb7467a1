"""Item encoders: how an item becomes a vector. ``id`` (a table) or ``motor`` (shared tokens).

``registry`` maps ``RunConfig.items`` to a representation's prepare step and factory;
``tcn`` holds the Token Cross Network variants MOTOR's encoder chooses from.
"""

from motor.encoders.base import ItemEncoder
from motor.encoders.id_table import IdEmbedding, IdEncoderConfig
from motor.encoders.registry import ITEM_ENCODERS, get_item_encoder
from motor.encoders.tcn import TCN_VARIANTS, get_tcn
from motor.encoders.token_encoder import MotorEncoder, MotorEncoderConfig, item_side_parameters

__all__ = [
           "ITEM_ENCODERS",
           "TCN_VARIANTS",
           "IdEmbedding",
           "IdEncoderConfig",
           "ItemEncoder",
           "MotorEncoder",
           "MotorEncoderConfig",
           "get_item_encoder",
           "get_tcn",
           "item_side_parameters",
]
