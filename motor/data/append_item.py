"""Add a new item's content to a dataset folder in motor-lab's own format (nothing is retrained).

The item gets one row in ``items.csv`` (its id and title) and one row in every modality's
feature file (``<modality>.npz``: ``item_id`` and ``feat``, plus ``missing`` when a modality
was filled rather than computed; ``<modality>.npy``: the row after the last, aligned with
``items.csv``). Items are indexed from the interactions file, so until the item has
interactions the loader leaves it out (with a warning): the files already hold its content for
the next training, and the existing runs still load (their dataset fingerprint is unchanged).

MMRec folders cannot take an item this way: their item ids are the rows of the ``.inter`` file
and the feature rows must match them one to one.

All files are prepared first and then replaced one by one (``os.replace``), so a refused item
changes nothing.
"""

from __future__ import annotations

import io
import os
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from motor.data.files import load_array, load_npz, modality_name, separator_of
from motor.data.simple import ITEM_COLUMNS, find_interactions_file, read_interactions, read_items
from motor.errors import MotorError

TITLE_COLUMNS = ("title", "name")


@dataclass
class Appended:
    item_id: str
    files: list[str]  # the files that gained a row
    notes: list[str]  # what a user should know (filled modalities, no items.csv, ...)


def title_of(text: str) -> str:
    """The first sentence of a description ('Token Trouble (2026). Genres: ...' -> 'Token Trouble (2026)')."""
    first = re.split(r"(?<=[^.])\.\s", (text or "").strip(), maxsplit=1)[0].strip()
    return first.rstrip(".") or "new item"


def existing_ids(folder: Path) -> set[str]:
    """Every item id the folder's files name (interactions, items.csv, .npz ids)."""
    ids = set(read_interactions(find_interactions_file(folder), "keep_last")["item"].tolist())
    items = _items_path(folder)
    if items is not None:
        ids |= set(read_items(items)["item_id"].tolist())
    for p in sorted(folder.glob("*.npz")):
        arrays = load_npz(p)
        if "item_id" in arrays:
            ids |= set(np.asarray(arrays["item_id"]).astype(str).tolist())
    return ids


def free_id(folder: Path, stem: str = "new-item") -> str:
    """An item id no file of the folder uses yet: new-item-1, new-item-2, ..."""
    taken = existing_ids(folder)
    n = 1
    while f"{stem}-{n}" in taken:
        n += 1
    return f"{stem}-{n}"


def _items_path(folder: Path) -> Path | None:
    return next((folder / n for n in ("items.csv", "items.tsv") if (folder / n).exists()), None)


def _npz_bytes(arrays: dict[str, np.ndarray]) -> bytes:
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    return buf.getvalue()


def _npy_bytes(a: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.save(buf, a)
    return buf.getvalue()


def append_item(folder: Path | str, item_id: str, text: str, features: dict[str, np.ndarray],
                filled: dict[str, bool] | None = None) -> Appended:
    """Append one item to the dataset folder: ``features`` (modality -> [1, dim] or [dim]) for every
    modality file of the folder, ``filled`` marks modalities that were not computed from the item's
    content (for example no picture: the catalogue's average), ``text`` gives its title."""
    folder = Path(folder)
    if find_interactions_file(folder) is None:
        raise MotorError(f"{folder.name} is not in motor-lab's own format (interactions.csv, items.csv, <modality>.npz); "
                         "items can be added only there. In an MMRec folder an item's id is its row in the .inter "
                         "file and the feature rows must match, so a new item needs interactions first")
    item_id = str(item_id).strip()
    if not item_id or "," in item_id or "\n" in item_id:
        raise MotorError(f"the new item's id {item_id!r} must be non-empty text without commas or line breaks")
    if item_id in existing_ids(folder):
        raise MotorError(f"the item id {item_id!r} is already used in {folder.name}; pick another")
    filled = filled or {}
    items_path = _items_path(folder)
    items = read_items(items_path) if items_path is not None else None
    writes: dict[Path, bytes] = {}
    notes: list[str] = []
    feature_files = sorted(p for p in folder.iterdir() if p.suffix in (".npy", ".npz") and p.is_file())
    for p in feature_files:
        name = modality_name(p)
        if name not in features:
            raise MotorError(f"the new item has no {name!r} features, which {p.name} needs")
        row = np.asarray(features[name], np.float32).reshape(1, -1)
        if p.suffix == ".npz":
            arrays = load_npz(p)
            feat = arrays["feat"]
            if feat.shape[1] != row.shape[1]:
                raise MotorError(f"{p.name} holds {feat.shape[1]}-d features; the new item's {name} is {row.shape[1]}-d")
            n = len(feat)
            arrays["item_id"] = np.append(np.asarray(arrays["item_id"]).astype(str), item_id)
            arrays["feat"] = np.concatenate([feat, row.astype(feat.dtype)])
            if filled.get(name) or "missing" in arrays:
                missing = np.asarray(arrays.get("missing", np.zeros(n, bool)), bool)
                arrays["missing"] = np.append(missing, bool(filled.get(name)))
            if filled.get(name):
                notes.append(f"{name}: filled, not computed from the item (marked missing in {p.name})")
            writes[p] = _npz_bytes(arrays)
        else:
            if items is None:
                raise MotorError(f"{p.name} is aligned with items.csv, which this folder lacks")
            feat = load_array(p)
            if feat.ndim != 2 or feat.shape[1] != row.shape[1] or len(feat) != len(items):
                raise MotorError(f"{p.name} ({feat.shape}) does not match items.csv ({len(items)} rows) and the "
                                 f"new item's {row.shape[1]}-d {name} features")
            writes[p] = _npy_bytes(np.concatenate([feat, row.astype(feat.dtype)]))
            if filled.get(name):
                notes.append(f"{name}: filled, not computed from the item ({p.name} cannot mark it missing)")
    if items_path is not None:
        sep = separator_of(items_path, "\t" if items_path.suffix == ".tsv" else ",")
        raw = pd.read_csv(items_path, sep=sep, dtype=str, keep_default_na=False)
        idcol = next(c for c in raw.columns if c.strip() in ITEM_COLUMNS or c.strip().lower() in
                     {n.lower() for n in ITEM_COLUMNS})
        new = {c: "" for c in raw.columns}
        new[idcol] = item_id
        tcol = next((c for c in raw.columns if c.strip().lower() in TITLE_COLUMNS), None)
        if tcol is not None:
            new[tcol] = title_of(text)
        out = pd.concat([raw, pd.DataFrame([new])], ignore_index=True)
        writes[items_path] = out.to_csv(index=False, sep=sep).encode()
    elif any(p.suffix == ".npz" for p in feature_files):
        notes.append("no items.csv: the item has no title in the catalogue")
    for path, data in writes.items():  # everything was prepared: now replace the files
        tmp = path.with_name(f".{path.name}.adding")
        tmp.write_bytes(data)
        os.replace(tmp, path)
    return Appended(item_id, sorted(p.name for p in writes), notes)
