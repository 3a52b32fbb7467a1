"""One offline step from an items CSV (+ pictures) to ``text.npz`` / ``image.npz``.

Output, in ``out_dir`` (nothing else is written or copied there):

* ``<modality>.npz`` with ``item_id`` (fixed-width unicode '<U..', CSV order, the CSV's id
  strings), ``feat`` (float32 [n, D]) and ``missing`` (bool [n]). Every CSV item has a row:
  an item without usable content (empty text, no picture, unreadable picture) gets the mean
  vector of the items that have it, so downstream code never sees a hole, and ``missing``
  says which rows are such fill-ins.
* ``feature_report.json``: counts, each missing item with the reason, skipped files,
  pictures that matched no item, cache hits.

What to build is given as builder objects (``TextFeatures``, ``ImageFeatures`` in
``motor.features.builders``); ``Limits`` bounds untrusted picture input and ``CacheSettings``
says where the feature cache lives.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import time
from pathlib import Path

from motor.errors import MotorError
from motor.features.builders import CacheSettings, ImageFeatures, Limits, TextFeatures
from motor.features.hints import CLI_HINTS, Hints
from motor.features.items import read_items
from motor.features.modality import StageProgress
from motor.features.report import REPORT_NAME, FeatureReport, ModalityReport
from motor.run_folder import is_run_folder

__all__ = ["CLI_HINTS", "CacheSettings", "FeatureReport", "Hints", "ImageFeatures", "Limits", "ModalityReport",
           "REPORT_NAME", "StageProgress", "TextFeatures", "build_features"]


def build_features(
    items_csv: str | os.PathLike,
    out_dir: str | os.PathLike,
    text: TextFeatures | None = None,
    image: ImageFeatures | None = None,
    *,
    id_col: str | None = None,
    progress: StageProgress | None = None,
    cache: CacheSettings = CacheSettings(),
    limits: Limits = Limits(),
    hints: Hints = CLI_HINTS,
) -> FeatureReport:
    """Encode the items' texts and/or pictures and write them to ``out_dir``.

    ``id_col``: None picks the first of item, item_id, itemID, id, movieId. ``hints``: how messages name the
    choices to change (the CLI's flags unless the caller has other controls). ``progress(modality,
    done, total)`` is called as batches finish. Everything that can be checked (columns, texts,
    pictures matching items) is checked before the slow encoding starts. Bad input raises MotorError, and an
    error found only while encoding (no picture decodes) leaves ``out_dir``'s files as they were: both
    modalities are built in a staging folder and moved in together.
    """
    t0 = time.perf_counter()
    if text is not None and not text.columns:
        text = None
    if text is None and image is None:
        raise MotorError(f"nothing to build: give {hints.text_cols}, {hints.images}, or both.")
    if image is not None:
        image.check_arguments(hints)
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise MotorError(f"output path {str(out)!r} is a file; pass a folder (it is created if missing).")
    if is_run_folder(out):  # a run is not a dataset: its folder would then hold files no run has, and train would
        # refuse to replace it
        raise MotorError(f"output path {str(out)!r} is a run folder; features go into a dataset folder (beside its "
                         f"interactions.csv) or a new one, e.g. {str(out.parent / 'features')!r}.")

    items = read_items(items_csv, id_col, hints)
    report = FeatureReport(
        items_csv=str(items_csv), id_col=items.id_col, n_items=len(items), out_dir=str(out),
        text_cols=text.columns if text else None, images=None if image is None else str(image.pictures),
        image_col=image.column if image else None,
    )
    texts = text.check(items) if text is not None else None
    source = matched = None
    if image is not None:
        source, matched = image.open(items, limits, hints)
    built_here = [name for name, wanted in (("text", text), ("image", image)) if wanted is not None]
    replaced = [f"{name}.npz" for name in built_here if (out / f"{name}.npz").exists()]
    if replaced:  # said, not silent: these files were someone's before this run
        report.warnings.append(f"replaced the earlier {', '.join(replaced)} in {out}")
    out.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".building-", dir=out))  # all or nothing: a late error keeps the old files
    try:
        if source is not None:
            report.skipped_files = [{"name": n, "reason": r} for n, r in source.skipped]
            report.unused_images = matched[2]
        if text is not None:
            report.text = text.build(items, texts, staging, cache, progress)
        if image is not None:
            report.image = image.build(items, source, matched, staging, cache, limits, progress)
        for built in (report.text, report.image):
            if built is not None:
                final = out / Path(built.file).name
                os.replace(built.file, final)
                built.file = str(final)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
        if source is not None:
            source.close()
    for modality, built in (("text", report.text), ("image", report.image)):
        if built is None and (out / f"{modality}.npz").exists():
            report.warnings.append(
                f"{out / f'{modality}.npz'} is left from an earlier run and was not rebuilt; delete it if it does "
                "not belong to these items"
            )
    report.seconds = round(time.perf_counter() - t0, 3)
    with open(out / REPORT_NAME, "w", encoding="utf-8") as f:
        json.dump(report.to_dict(), f, indent=1, ensure_ascii=False)
    return report
