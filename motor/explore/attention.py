"""One item's token-cross attention and pooling, with readable token and slot labels.

The averages over all items are the encoder's own methods (``MotorEncoder.attention_average``,
``MotorEncoder.pooling_average``); this module only adds the tokenizer's labels.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from motor.encoders.token_encoder import MotorEncoder
    from motor.tokenizer import Tokenizer


def slot_labels(tok: "Tokenizer") -> list[str]:
    """'image s0', 'image s1', ... one per token slot."""
    return [f"{tok.modalities[m]} s{s}" for m, s in zip(tok.slot_modality, tok.slot_subspace)]


def attention_view(encoder: "MotorEncoder", tok: "Tokenizer", item: int) -> dict:
    """One item's token-cross attention [L, heads, T, T], pooling weights [T] and token labels.

    ``labels`` name each token 'image s0 c12' (modality, sub-space, codeword); ``attention`` is
    None for TCN variants without attention ('cross', 'mean'); ``pooling`` is None for 'cross'.
    """
    ex = encoder.explain(item)  # checks the index: int("100") made the id "100" the item at index 100
    tids = [int(t) for t in ex["token_ids"]]
    return {"labels": [tok.token_label(t) for t in tids], "slots": slot_labels(tok), "token_ids": tids,
            "attention": ex["attention"], "pooling": ex["pooling"], "tcn": encoder.tcn.name}
