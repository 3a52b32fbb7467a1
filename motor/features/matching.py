"""Which picture belongs to which item: by file stem == item id, or by a CSV column naming each file."""

from __future__ import annotations

import unicodedata
from pathlib import PurePosixPath

from motor.errors import MotorError
from motor.features import safe_zip
from motor.features.hints import CLI_HINTS, Hints
from motor.features.items import Items


def _same_text(name: str) -> str:
    """A name as compared with item ids: Unicode NFC (café is one form whether typed or unzipped), no outer spaces."""
    return unicodedata.normalize("NFC", name).strip()


def match_images(items: Items, source: safe_zip.ImageSource, image_col: str | None,
                 hints: Hints = CLI_HINTS) -> tuple[list[str | None], dict[int, str], list[str]]:
    """Each item's picture name (or None with a reason), and the pictures no item uses."""
    n = len(items)
    names: list[str | None] = [None] * n
    reasons: dict[int, str] = {}
    where = f"{source.kind} {source.path.name!r}"
    skipped = dict(source.skipped)
    if image_col is None:
        by_stem: dict[str, list[str]] = {}
        for name in source.names:  # a macOS zip stores decomposed accents (NFD): compare composed, trimmed
            by_stem.setdefault(_same_text(PurePosixPath(name).stem), []).append(name)
        for i, item_id in enumerate(items.ids):
            cands = by_stem.get(_same_text(item_id), [])
            if len(cands) > 1:
                raise MotorError(
                    f"item {item_id!r} matches several pictures in {where}: {cands[:5]}; keep one picture per "
                    f"item{hints.image_col}."
                )
            if cands:
                names[i] = cands[0]
            else:
                reasons[i] = f"no picture named {item_id}.<ext> in {where}"
    else:
        exact = set(source.names)
        by_base: dict[str, list[str]] = {}
        for name in source.names:
            by_base.setdefault(PurePosixPath(name).name, []).append(name)
        for i, raw in enumerate(items.columns[image_col]):
            v = raw.strip().replace("\\", "/")
            while v.startswith("./"):
                v = v[2:]
            if not v:
                reasons[i] = f"column {image_col!r} is empty"
            elif v in exact:
                names[i] = v
            elif len(by_base.get(PurePosixPath(v).name, [])) == 1:
                names[i] = by_base[PurePosixPath(v).name][0]
            elif v in skipped:
                reasons[i] = f"{v} skipped: {skipped[v]}"
            elif len(by_base.get(PurePosixPath(v).name, [])) > 1:
                reasons[i] = f"{v!r} is ambiguous in {where} ({by_base[PurePosixPath(v).name][:3]}); give the path inside it"
            else:
                reasons[i] = f"{v!r} not found in {where}"
    used = {x for x in names if x is not None}
    unused = [x for x in source.names if x not in used]
    return names, reasons, unused


def check_some_matched(items: Items, source: safe_zip.ImageSource, image_col: str | None,
                       names: list[str | None], hints: Hints = CLI_HINTS) -> None:
    """Refuse a picture set of which no file matches any item (almost always a naming mistake)."""
    if any(n is not None for n in names):
        return
    if not source.names:
        raise MotorError(f"{str(source.path)!r} holds no picture (no file ending in "
                         f"{' '.join(sorted(safe_zip.IMAGE_EXTENSIONS))}); add the "
                         f"pictures, named <item_id>.jpg{hints.image_col}, or leave the pictures out to encode text only.")
    ids = items.ids[:3]
    stems = [PurePosixPath(n).stem for n in source.names[:3]]
    how = (
        f"column {image_col!r} names no picture found there"
        if image_col
        else f"no file stem equals an item id (item ids like {ids}, file stems like {stems})"
    )
    raise MotorError(
        f"none of the {len(source.names)} pictures in {str(source.path)!r} matches an item: {how}. "
        f"Name files <item_id>.jpg{hints.image_col}."
    )
