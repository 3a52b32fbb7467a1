"""How one modality becomes ``<modality>.npz``: a text builder, an image builder and the input limits.

A builder holds what the user chose for its modality (columns or pictures, batch size, an
optional encoder that replaces the packaged model); ``check`` validates it against the items
before anything slow starts, and ``build`` encodes, fills and writes. ``build_features`` in
``motor.features.pipeline`` runs the builders it is given.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from motor.errors import MotorError
from motor.features import safe_zip
from motor.features.cache import FeatureCache, item_key
from motor.features.hints import CLI_HINTS, Hints
from motor.features.items import Items, check_columns, item_texts
from motor.features.matching import check_some_matched, match_images
from motor.features.modality import StageProgress, encode_with_cache, fill_and_write
from motor.features.report import ModalityReport


@dataclass(frozen=True)
class Limits:
    """Bounds on untrusted picture input: entries, uncompressed bytes (total, per file) and pixels per picture."""

    max_files: int = safe_zip.MAX_FILES
    max_total_bytes: int = safe_zip.MAX_TOTAL_BYTES
    max_file_bytes: int = safe_zip.MAX_FILE_BYTES
    max_pixels: int | None = None  # None: motor.features.image.MAX_PIXELS

    def __post_init__(self):
        for name in ("max_files", "max_total_bytes", "max_file_bytes", "max_pixels"):
            value = getattr(self, name)
            if value is not None and value < 1:
                raise MotorError(f"{name} must be at least 1, got {value}")


@dataclass(frozen=True)
class CacheSettings:
    """The content-addressed feature cache: on by default, in $MOTOR_CACHE_DIR/features or ~/.cache."""

    enabled: bool = True
    folder: str | os.PathLike | None = None

    def open(self, model_id: str) -> FeatureCache | None:
        return FeatureCache(model_id, self.folder) if self.enabled else None


@dataclass
class TextFeatures:
    """Text of an item: the chosen columns' values joined with ". " (``text_labels``: "title: ...")."""

    columns: list[str]
    labels: bool = False
    batch_size: int = 64
    encoder: object | None = None  # an object with model_id, dim and encode(texts, progress); None: MiniLM

    def __post_init__(self):
        self.columns = [c.strip() for c in (self.columns or []) if c.strip()]
        if self.batch_size < 1:
            raise MotorError(f"text batch size must be at least 1, got {self.batch_size}.")

    def check(self, items: Items) -> list[str]:
        """The items' texts; a missing column or all-empty texts is a MotorError."""
        check_columns(items, self.columns, "text column(s)")
        texts = item_texts(items, self.columns, self.labels)
        if not any(texts):
            raise MotorError(f"every item's text is empty in column(s) {self.columns}; choose columns that hold text.")
        return texts

    def build(self, items: Items, texts: list[str], out: Path, cache: CacheSettings,
              progress: StageProgress | None) -> ModalityReport:
        encoder = self.encoder
        if encoder is None:
            from motor.features.text import TextEncoder

            encoder = TextEncoder(self.batch_size)
        reasons = {i: f"empty text in {self.columns}" for i, t in enumerate(texts) if not t}
        keys = [item_key(encoder.model_id, t) if t else None for t in texts]

        def compute(idx, step):
            feat = encoder.encode([texts[i] for i in idx], progress=step)
            return feat, np.ones(len(idx), dtype=bool), {}

        feat, ok, errs, n_cached, n_computed = encode_with_cache(
            "text", keys, compute, encoder.dim, cache.open(encoder.model_id), progress)
        reasons.update(errs)
        return fill_and_write("text", items, feat, ok, reasons, out, encoder.model_id, n_cached, n_computed)


@dataclass
class ImageFeatures:
    """Pictures in a folder or .zip, matched by file stem == item id or through ``column`` (file names)."""

    pictures: str | os.PathLike | None
    column: str | None = None
    batch_size: int = 32
    encoder: object | None = None  # an object with model_id, dim and encode(loaders, progress); None: EfficientNet

    def __post_init__(self):
        if self.batch_size < 1:
            raise MotorError(f"image batch size must be at least 1, got {self.batch_size}.")

    def check_arguments(self, hints: Hints = CLI_HINTS) -> None:
        if self.pictures is None:
            raise MotorError(f"an image column ({self.column!r}) was given without pictures; give the {hints.images}.")

    def open(self, items: Items, limits: Limits, hints: Hints = CLI_HINTS) -> tuple[safe_zip.ImageSource, tuple]:
        """Open the pictures and match them to items (the caller closes the source)."""
        if self.column is not None:
            check_columns(items, [self.column], "image column")
        source = safe_zip.open_images(self.pictures, limits.max_files, limits.max_total_bytes, limits.max_file_bytes,
                                      hints)
        try:
            matched = match_images(items, source, self.column, hints)
            check_some_matched(items, source, self.column, matched[0], hints)
        except BaseException:
            source.close()
            raise
        return source, matched

    def build(self, items: Items, source: safe_zip.ImageSource, matched: tuple, out: Path, cache: CacheSettings,
              limits: Limits, progress: StageProgress | None) -> ModalityReport:
        encoder = self.encoder
        if encoder is None:
            from motor.features import image as image_mod

            encoder = image_mod.ImageEncoder(self.batch_size, limits.max_pixels or image_mod.MAX_PIXELS)
        names, reasons, _unused = matched
        reasons = dict(reasons)
        # Pass 1: hash every picture (reads one at a time; keeps no bytes).
        keys: list[str | None] = [None] * len(items)
        key_of_name: dict[str, str | None] = {}
        for i, name in enumerate(names):
            if name is None:
                continue
            if name not in key_of_name:
                try:
                    key_of_name[name] = item_key(encoder.model_id, source.read(name))
                except Exception as e:  # size limit, CRC error, unreadable file
                    key_of_name[name] = None
                    reasons[i] = f"{name} could not be read ({e})"
            keys[i] = key_of_name[name]
            if keys[i] is None and i not in reasons:
                reasons[i] = f"{name} could not be read"

        def compute(idx, step):
            # Pass 2: read again lazily, so only one batch of pictures is in memory.
            loaders = [(lambda n=names[i]: source.read(n)) for i in idx]
            enc = encoder.encode(loaders, progress=step)
            return enc.feat, enc.ok, enc.errors

        feat, ok, errs, n_cached, n_computed = encode_with_cache(
            "image", keys, compute, encoder.dim, cache.open(encoder.model_id), progress)
        for i, why in errs.items():
            reasons[i] = f"{names[i]}: {why}"
        return fill_and_write("image", items, feat, ok, reasons, out, encoder.model_id, n_cached, n_computed)
