"""One offline step from an items CSV (+ pictures) to ``text.npz`` / ``image.npz``.

Output, in ``out_dir`` (nothing else is written or copied there):

* ``<modality>.npz`` with ``item_id`` (fixed-width unicode '<U..', CSV order, the CSV's id
  strings), ``feat`` (float32 [n, D]) and ``missing`` (bool [n]). Every CSV item has a row:
  an item without usable content (empty text, no picture, unreadable picture) gets the mean
  vector of the items that have it, so downstream code never sees a hole, and ``missing``
  says which rows are such fill-ins.
* ``feature_report.json``: counts, each missing item with the reason, skipped files,
  pictures that matched no item, cache hits.

Text of an item: the chosen columns' values joined with ". " (see ``items.join_text``).
Pictures are matched to items by file stem == item id (``12.jpg`` is item ``12``, in any
sub-folder), or through a CSV column naming each item's file (``image_col``).
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path, PurePosixPath

import numpy as np

from motor.errors import MotorError
from motor.features import safe_zip
from motor.features.cache import FeatureCache, item_key
from motor.features.items import Items, check_columns, item_texts, read_items
from motor.paths import save_npz

REPORT_NAME = "feature_report.json"
# progress(modality, done, total): modality is "text" or "image"; cache hits count as done.
StageProgress = Callable[[str, int, int], None]
# Lists in the report are complete; the CLI prints only this many examples.
EXAMPLES = 10


@dataclass
class ModalityReport:
    """What happened to one modality."""

    modality: str
    file: str
    model_id: str
    dim: int
    n_items: int
    n_present: int  # items with content that encoded fine
    n_missing: int  # rows filled with the modality mean
    n_cached: int  # distinct contents taken from the cache
    n_computed: int  # distinct contents run through the model
    missing: list[dict] = field(default_factory=list)  # [{"item_id", "reason"}]

    @property
    def missing_ids(self) -> list[str]:
        return [m["item_id"] for m in self.missing]


@dataclass
class FeatureReport:
    """Returned by ``build_features`` and written as ``feature_report.json``."""

    items_csv: str
    id_col: str
    n_items: int
    out_dir: str
    text: ModalityReport | None = None
    image: ModalityReport | None = None
    text_cols: list[str] | None = None
    images: str | None = None
    image_col: str | None = None
    skipped_files: list[dict] = field(default_factory=list)  # [{"name", "reason"}] not pictures etc.
    unused_images: list[str] = field(default_factory=list)  # pictures that matched no item
    warnings: list[str] = field(default_factory=list)
    seconds: float = 0.0

    def to_dict(self) -> dict:
        return asdict(self)

    def summary(self) -> str:
        """A few human-readable lines for a terminal or a log."""
        lines = [f"{self.n_items} items from {self.items_csv} (id column {self.id_col!r})"]
        for m in (self.text, self.image):
            if m is None:
                continue
            line = (
                f"{m.modality}: {m.n_present} encoded, {m.n_missing} filled with the mean "
                f"({m.n_cached} from cache, {m.n_computed} computed) -> {m.file}"
            )
            lines.append(line)
            for x in m.missing[:EXAMPLES]:
                lines.append(f"  missing {x['item_id']}: {x['reason']}")
            if m.n_missing > EXAMPLES:
                lines.append(f"  ... {m.n_missing - EXAMPLES} more in {REPORT_NAME}")
        if self.skipped_files:
            lines.append(f"skipped {len(self.skipped_files)} file(s), e.g. " + "; ".join(
                f"{s['name']} ({s['reason']})" for s in self.skipped_files[:3]))
        if self.unused_images:
            lines.append(f"{len(self.unused_images)} picture(s) matched no item, e.g. {self.unused_images[:3]}")
        lines.extend(f"warning: {w}" for w in self.warnings)
        lines.append(f"done in {self.seconds:.1f} s")
        return "\n".join(lines)


def _unicode_ids(ids: list[str]) -> np.ndarray:
    width = max(1, max((len(i) for i in ids), default=1))
    return np.array(ids, dtype=f"<U{width}")


def _encode_with_cache(
    modality: str,
    keys: list[str | None],
    compute: Callable[[list[int], Callable[[int, int], None]], tuple[np.ndarray, np.ndarray, dict[int, str]]],
    dim: int,
    cache: FeatureCache | None,
    progress: StageProgress | None,
) -> tuple[np.ndarray, np.ndarray, dict[int, str], int, int]:
    """Vectors for every item with a key: distinct contents once, cache first.

    ``compute(item_indices, progress)`` encodes the given items and returns (feat, ok,
    errors by position). Returns feat [n, D], ok [n], errors {item index: reason}, and the
    counts of distinct contents taken from the cache and computed.
    """
    n = len(keys)
    first: dict[str, int] = {}
    for i, k in enumerate(keys):
        if k is not None and k not in first:
            first[k] = i
    ukeys = list(first)
    found = cache.lookup(ukeys) if cache is not None else {}
    todo = [k for k in ukeys if k not in found]
    total = len(ukeys)
    if progress is not None:
        progress(modality, len(found), total)
    vec: dict[str, np.ndarray] = dict(found)
    bad: dict[str, str] = {}
    if todo:
        idx = [first[k] for k in todo]
        base = len(found)

        def step(done: int, _total: int) -> None:
            if progress is not None:
                progress(modality, base + done, total)

        feat, ok, errors = compute(idx, step)
        feat = np.asarray(feat, dtype=np.float32)
        if feat.shape != (len(idx), dim):
            raise RuntimeError(f"{modality} encoder returned shape {feat.shape}, expected {(len(idx), dim)}")
        for j, k in enumerate(todo):
            if ok[j]:
                vec[k] = feat[j]
            else:
                bad[k] = errors.get(j, "could not be encoded")
        if cache is not None:
            good = [k for k in ukeys if k in vec]
            if good:
                cache.store(good, np.stack([vec[k] for k in good]))
    out = np.zeros((n, dim), dtype=np.float32)
    ok_all = np.zeros(n, dtype=bool)
    errs: dict[int, str] = {}
    for i, k in enumerate(keys):
        if k is None:
            continue
        if k in vec:
            out[i] = vec[k]
            ok_all[i] = True
        else:
            errs[i] = bad.get(k, "could not be encoded")
    return out, ok_all, errs, len(found), len(todo)


def _fill_and_write(
    modality: str,
    items: Items,
    feat: np.ndarray,
    ok: np.ndarray,
    reasons: dict[int, str],
    out_dir: Path,
    model_id: str,
    n_cached: int,
    n_computed: int,
) -> ModalityReport:
    if not ok.any():
        raise MotorError(f"no item has usable {modality} content, so there is nothing to average for the missing ones; check the inputs (see the reasons: {list(reasons.values())[:3]}).")
    mean = feat[ok].mean(axis=0).astype(np.float32)
    feat = feat.copy()
    feat[~ok] = mean
    path = out_dir / f"{modality}.npz"
    save_npz(path, item_id=_unicode_ids(items.ids), feat=feat, missing=~ok)
    missing = [{"item_id": items.ids[i], "reason": reasons.get(i, "missing")} for i in np.flatnonzero(~ok).tolist()]
    return ModalityReport(
        modality=modality,
        file=str(path),
        model_id=model_id,
        dim=int(feat.shape[1]),
        n_items=len(items),
        n_present=int(ok.sum()),
        n_missing=len(missing),
        n_cached=n_cached,
        n_computed=n_computed,
        missing=missing,
    )


def match_images(items: Items, source: safe_zip.ImageSource, image_col: str | None) -> tuple[list[str | None], dict[int, str], list[str]]:
    """Each item's picture name (or None with a reason), and the pictures no item uses."""
    n = len(items)
    names: list[str | None] = [None] * n
    reasons: dict[int, str] = {}
    where = f"{source.kind} {source.path.name!r}"
    skipped = dict(source.skipped)
    if image_col is None:
        by_stem: dict[str, list[str]] = {}
        for name in source.names:
            by_stem.setdefault(PurePosixPath(name).stem, []).append(name)
        for i, item_id in enumerate(items.ids):
            cands = by_stem.get(item_id, [])
            if len(cands) > 1:
                raise MotorError(
                    f"item {item_id!r} matches several pictures in {where}: {cands[:5]}; keep one picture per "
                    "item or name each item's file in a CSV column (--image-col)."
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


def build_features(
    items_csv: str | os.PathLike,
    text_cols: list[str] | None,
    images: str | os.PathLike | None,
    out_dir: str | os.PathLike,
    image_col: str | None = None,
    id_col: str | None = None,
    progress: StageProgress | None = None,
    *,
    text_labels: bool = False,
    text_batch_size: int = 64,
    image_batch_size: int = 32,
    cache: bool = True,
    cache_dir: str | os.PathLike | None = None,
    max_files: int = safe_zip.MAX_FILES,
    max_total_bytes: int = safe_zip.MAX_TOTAL_BYTES,
    max_file_bytes: int = safe_zip.MAX_FILE_BYTES,
    max_pixels: int | None = None,
    text_encoder=None,
    image_encoder=None,
) -> FeatureReport:
    """Encode the items' texts and/or pictures and write them to ``out_dir``.

    ``text_cols``: CSV columns whose values make an item's text (None: no text features).
    ``images``: a folder or .zip of pictures (None: no image features). ``id_col``: None
    picks the first of item, item_id, itemID, id, movieId. ``progress(modality, done,
    total)`` is called as batches finish. ``cache_dir`` defaults to $MOTOR_CACHE_DIR/features or
    ~/.cache/motor-lab/features. ``text_encoder`` / ``image_encoder`` replace the default
    models (objects with ``model_id``, ``dim`` and ``encode``, as in ``text.TextEncoder`` and
    ``image.ImageEncoder``). Bad input raises MotorError.
    """
    t0 = time.perf_counter()
    text_cols = [c.strip() for c in text_cols if c.strip()] if text_cols else None
    if not text_cols and images is None:
        raise MotorError("nothing to build: give text columns (--text-cols), pictures (--images), or both.")
    if image_col is not None and images is None:
        raise MotorError(f"an image column ({image_col!r}) was given without pictures; pass the folder or zip with --images.")
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise MotorError(f"output path {str(out)!r} is a file; pass a folder (it is created if missing).")

    items = read_items(items_csv, id_col)
    if text_cols:
        check_columns(items, text_cols, "text column(s)")
    if image_col is not None:
        check_columns(items, [image_col], "image column")

    report = FeatureReport(
        items_csv=str(items_csv), id_col=items.id_col, n_items=len(items), out_dir=str(out),
        text_cols=text_cols, images=None if images is None else str(images), image_col=image_col,
    )
    # Check everything that can be checked before the (slow) encoding starts.
    texts = None
    if text_cols:
        texts = item_texts(items, text_cols, text_labels)
        if not any(texts):
            raise MotorError(f"every item's text is empty in column(s) {text_cols}; choose columns that hold text.")
    source = None
    if images is not None:
        source = safe_zip.open_images(images, max_files, max_total_bytes, max_file_bytes)
    try:
        matched = None
        if source is not None:
            matched = match_images(items, source, image_col)
            _check_some_matched(items, source, image_col, matched[0])
            report.skipped_files = [{"name": n, "reason": r} for n, r in source.skipped]
            report.unused_images = matched[2]
        out.mkdir(parents=True, exist_ok=True)
        if texts is not None:
            report.text = _build_text(items, texts, text_cols, out, text_batch_size, cache, cache_dir, text_encoder, progress)
        if source is not None:
            report.image = _build_image(
                items, source, matched, out, image_batch_size, max_pixels, cache, cache_dir, image_encoder, progress
            )
    finally:
        if source is not None:
            source.close()
    for modality, built in (("text", report.text), ("image", report.image)):
        if built is None and (out / f"{modality}.npz").exists():
            report.warnings.append(
                f"{out / f'{modality}.npz'} is left from an earlier run and was not rebuilt; delete it if it does not belong to these items"
            )
    report.seconds = round(time.perf_counter() - t0, 3)
    with open(out / REPORT_NAME, "w", encoding="utf-8") as f:
        json.dump(report.to_dict(), f, indent=1, ensure_ascii=False)
    return report


def _cache_for(enabled: bool, model_id: str, cache_dir) -> FeatureCache | None:
    return FeatureCache(model_id, cache_dir) if enabled else None


def _build_text(items, texts, text_cols, out, batch_size, cache, cache_dir, encoder, progress) -> ModalityReport:
    if encoder is None:
        from motor.features.text import TextEncoder

        encoder = TextEncoder(batch_size)
    reasons = {i: f"empty text in {text_cols}" for i, t in enumerate(texts) if not t}
    keys = [item_key(encoder.model_id, t) if t else None for t in texts]

    def compute(idx, step):
        feat = encoder.encode([texts[i] for i in idx], progress=step)
        return feat, np.ones(len(idx), dtype=bool), {}

    feat, ok, errs, n_cached, n_computed = _encode_with_cache(
        "text", keys, compute, encoder.dim, _cache_for(cache, encoder.model_id, cache_dir), progress
    )
    reasons.update(errs)
    return _fill_and_write("text", items, feat, ok, reasons, out, encoder.model_id, n_cached, n_computed)


def _check_some_matched(items, source, image_col, names) -> None:
    if any(n is not None for n in names):
        return
    ids = items.ids[:3]
    stems = [PurePosixPath(n).stem for n in source.names[:3]]
    how = (
        f"column {image_col!r} names no picture found there"
        if image_col
        else f"no file stem equals an item id (item ids like {ids}, file stems like {stems})"
    )
    raise MotorError(
        f"none of the {len(source.names)} pictures in {str(source.path)!r} matches an item: {how}. "
        "Name files <item_id>.jpg or name each item's file in a CSV column (--image-col)."
    )


def _build_image(items, source, matched, out, batch_size, max_pixels, cache, cache_dir, encoder, progress) -> ModalityReport:
    if encoder is None:
        from motor.features import image as image_mod

        encoder = image_mod.ImageEncoder(batch_size, max_pixels or image_mod.MAX_PIXELS)
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

    feat, ok, errs, n_cached, n_computed = _encode_with_cache(
        "image", keys, compute, encoder.dim, _cache_for(cache, encoder.model_id, cache_dir), progress
    )
    for i, why in errs.items():
        reasons[i] = f"{names[i]}: {why}"
    return _fill_and_write("image", items, feat, ok, reasons, out, encoder.model_id, n_cached, n_computed)
