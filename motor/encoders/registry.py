"""Item representations by name (``RunConfig.items``): what each prepares from the data, and how it is built.

A run asks the registry once (``get_item_encoder(cfg.items)``) and never tests the name again:

- ``prepare`` fits whatever content the representation needs from the whole dataset before
  training (MOTOR: the PQ tokenizer, cold items included; ID: nothing) and returns it; it is
  saved with the run (``tokenizer/``) and handed back when the run is reloaded;
- ``factory`` turns the run's settings and that prepared content into ``make_items(dim)``,
  the callable a backbone calls to build its item encoder (``Backbone(ctx, cfg, make_items)``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable

from motor.encoders.base import ItemEncoder
from motor.encoders.id_table import IdEmbedding
from motor.encoders.token_encoder import MotorEncoder
from motor.errors import MotorError

if TYPE_CHECKING:
    from motor.data.dataset import Dataset
    from motor.experiment import RunConfig
    from motor.tokenizer import Tokenizer, TokenizerConfig

MakeItems = Callable[[int], ItemEncoder]
Note = Callable[[str], None]  # a progress message
ShouldStop = Callable[[], bool]


def tokenize(ds: "Dataset", cfg: "TokenizerConfig | dict | None",
             progress: Callable[[float, str], None] | None = None) -> "Tokenizer":
    """PQ tokens from every item's content: cold items included (content exists without interactions);
    items without a modality's content (``Modality.present``) get its missing token. ``cfg``: a TokenizerConfig,
    a mapping of its settings, or None for the defaults."""
    from motor.data.dataset import Dataset
    from motor.tokenizer import fit_tokenizer

    if not isinstance(ds, Dataset):
        raise MotorError(f"tokenize takes a Dataset (e.g. load_dataset('demo')), got {type(ds).__name__}")
    return fit_tokenizer({k: m.features for k, m in ds.modalities.items()}, cfg, progress=progress,
                         present={k: m.present for k, m in ds.modalities.items()})


@dataclass(frozen=True)
class ItemEncoderKind:
    """One registered item representation: its name, a one-line description, its prepare step and factory."""

    name: str
    description: str
    prepare: Callable[["Dataset", "RunConfig", Note, ShouldStop | None], "Tokenizer | None"]
    factory: Callable[["RunConfig", int, "Tokenizer | None"], MakeItems]


def _prepare_nothing(ds: "Dataset", cfg: "RunConfig", note: Note, should_stop: ShouldStop | None) -> None:
    return None


def _id_factory(cfg: "RunConfig", n_items: int, prepared: "Tokenizer | None") -> MakeItems:
    def make_items(dim: int) -> ItemEncoder:
        return IdEmbedding(n_items, dim, cfg.id_encoder)
    return make_items


def _prepare_tokens(ds: "Dataset", cfg: "RunConfig", note: Note, should_stop: ShouldStop | None) -> "Tokenizer":
    tokenizer = tokenize(ds, cfg.tokenizer, lambda fraction, message: note(message))
    if should_stop is not None and should_stop():
        raise MotorError("cancelled while tokenizing; nothing was trained")
    return tokenizer


def _motor_factory(cfg: "RunConfig", n_items: int, tokenizer: "Tokenizer | None") -> MakeItems:
    if tokenizer is None:
        raise MotorError("items='motor' needs a fitted tokenizer")
    codebooks = [tokenizer.codebooks[m] for m in tokenizer.modalities]

    def make_items(dim: int) -> ItemEncoder:
        return MotorEncoder(n_items, dim, tokenizer.token_ids, tokenizer.vocab_size, cfg.motor,
                            slot_modality=list(tokenizer.slot_modality), codebooks=codebooks)
    return make_items


ITEM_ENCODERS: dict[str, ItemEncoderKind] = {k.name: k for k in (
    ItemEncoderKind("id", "one learned embedding per item", _prepare_nothing, _id_factory),
    ItemEncoderKind("motor", "shared multimodal tokens crossed by a Token Cross Network", _prepare_tokens,
                    _motor_factory),
)}


def get_item_encoder(name: str) -> ItemEncoderKind:
    """The item representation registered as ``name``; a ``MotorError`` naming the choices otherwise."""
    if name not in ITEM_ENCODERS:
        raise MotorError(f"unknown item representation {name!r}; choose one of {', '.join(ITEM_ENCODERS)}")
    return ITEM_ENCODERS[name]
