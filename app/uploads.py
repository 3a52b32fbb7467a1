"""Uploaded datasets: validate in a staging folder first, keep only what loads.

Two ways in:

- ``save_upload``: ready-made files, either the MMRec format (``<name>.inter`` + ``*_feat.npy``)
  or the simple format (``interactions.csv``, optional ``items.csv``, ``<modality>.npz`` /
  ``.npy``), given as separate files or as one ``.zip`` of them.
- ``build_raw_dataset``: raw content (interactions.csv + items.csv with text columns + a zip of
  pictures named ``<item_id>.jpg``), encoded by ``motor.features.pipeline.build_features``
  (MiniLM text, EfficientNet-Lite0 images) into ``text.npz`` / ``image.npz``.

Both write into a staging folder inside the session's upload area, call ``load_dataset`` on it,
and only then rename it to its final name: a failed upload leaves nothing behind and never
touches earlier uploads or runs. No Streamlit here.
"""

from __future__ import annotations

import io
import json
import re
import shutil
import tempfile
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from motor.data.dataset import Dataset
from motor.data.hints import DataHints
from motor.data.load import DataConfig, load_dataset
from motor.data.simple import read_interactions
from motor.errors import MotorError
from motor.features.hints import Hints

MAX_UPLOAD_MB = 500  # keep equal to .streamlit/config.toml [server] maxUploadSize
DATA_EXTENSIONS = (".csv", ".tsv", ".inter", ".npy", ".npz")
MAX_ZIP_FILES = 64
MAX_ZIP_BYTES = MAX_UPLOAD_MB * 4 * 1024**2  # declared uncompressed size of a dataset zip
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._ -]{0,120}$")
# the reading options an upload was accepted with, kept in its folder: opening it again must read it the same way
# (an upload accepted with duplicates='keep_last' is refused by the default 'error')
OPTIONS_FILE = ".upload_options.json"
OPTION_KEYS = ("duplicates", "missing_features")
# The Data page's upload checkboxes for those options, as its form labels them and the loader's messages name them
# (not the CLI's --duplicates / --missing-features). The raw-content form has neither: it refuses repeated rows and
# fills missing pictures, so its hints say what to change in the file.
KEEP_LAST_LABEL = "Keep the last of repeated user-item rows"
FILL_MEAN_LABEL = "Fill missing feature rows with the mean"
UPLOAD_HINTS = DataHints(duplicates=f", or tick '{KEEP_LAST_LABEL}'",
                         missing_features=f", or tick '{FILL_MEAN_LABEL}' to fill and mark them")
RAW_DATA_HINTS = DataHints(duplicates=" and choose the file again", missing_features="")


@dataclass
class UploadResult:
    ok: bool
    message: str
    path: Path | None = None
    dataset: Dataset | None = None
    files: list[str] = field(default_factory=list)
    data_config: dict | None = None


def safe_dataset_name(name: str) -> str:
    """A folder name from user text: letters, digits, '-', '_' only."""
    clean = re.sub(r"[^A-Za-z0-9_-]+", "-", (name or "").strip()).strip("-_")[:60]
    return clean or "dataset"


def _check_name(name: str) -> str:
    base = PurePosixPath(name.replace("\\", "/")).name
    if not _NAME.match(base) or base in (".", ".."):
        raise MotorError(f"{name!r}: file names may only use letters, digits, '.', '_', '-' and spaces")
    if not base.lower().endswith(DATA_EXTENSIONS):
        raise MotorError(f"{base}: not a dataset file; expected {', '.join(DATA_EXTENSIONS)} "
                         f"(pictures go into the raw-content builder below)")
    return base


def _unzip(name: str, data: bytes) -> list[tuple[str, bytes]]:
    """Dataset files from a zip, flattened (one folder level allowed), with size limits; no extraction."""
    try:
        zf = zipfile.ZipFile(io.BytesIO(data))
    except zipfile.BadZipFile:
        raise MotorError(f"{name} is not a readable zip file") from None
    with zf:
        infos = [i for i in zf.infolist() if not i.is_dir() and not PurePosixPath(i.filename).name.startswith(".")
                 and "__MACOSX" not in i.filename]
        if len(infos) > MAX_ZIP_FILES:
            raise MotorError(f"{name} holds {len(infos)} files; a dataset zip holds at most {MAX_ZIP_FILES} "
                             "(interactions, items and feature files)")
        if sum(i.file_size for i in infos) > MAX_ZIP_BYTES:
            raise MotorError(f"{name} unpacks to more than {MAX_ZIP_BYTES // 1024**2} MB; upload a smaller dataset")
        out = []
        for i in infos:
            parts = PurePosixPath(i.filename.replace("\\", "/")).parts
            if i.filename.startswith("/") or ".." in parts or len(parts) > 2:
                raise MotorError(f"{name}: entry {i.filename!r} is outside the dataset folder; zip the dataset "
                                 "files themselves (or one folder holding them)")
            if not parts[-1].lower().endswith(DATA_EXTENSIONS):
                continue
            out.append((_check_name(parts[-1]), zf.read(i)))
    if not out:
        raise MotorError(f"{name} holds no dataset files ({', '.join(DATA_EXTENSIONS)})")
    return out


def _collect(files: list[tuple[str, bytes]]) -> list[tuple[str, bytes]]:
    out: dict[str, bytes] = {}
    for name, data in files:
        if name.lower().endswith(".zip"):
            items = _unzip(name, data)
        else:
            items = [(_check_name(name), data)]
        for base, content in items:
            if base in out:
                raise MotorError(f"{base} was given twice; upload each file once")
            out[base] = content
    if not out:
        raise MotorError("no files uploaded; add interactions.csv with feature files, or an MMRec .inter file "
                         "with *_feat.npy files")
    return list(out.items())


def _final_folder(area: Path, name: str) -> Path:
    base = safe_dataset_name(name)
    final = area / base
    n = 2
    while final.exists():
        final = area / f"{base}-{n}"
        n += 1
    return final


def _validate_and_keep(staging: Path, area: Path, name: str, options: dict, hints: DataHints) -> UploadResult:
    cfg = DataConfig(data=str(staging), **options)
    try:
        load_dataset(cfg, hints)
    except MotorError as e:
        shutil.rmtree(staging, ignore_errors=True)
        # the loader names the folder it read; the user knows it as "the upload", not our staging path
        msg = str(e).replace(str(staging), "the upload").replace(staging.name, "the upload")
        return UploadResult(False, msg)
    (staging / OPTIONS_FILE).write_text(json.dumps({k: options[k] for k in OPTION_KEYS if k in options}))
    final = _final_folder(area, name)
    staging.rename(final)
    data_config = {"data": str(final), **options}
    ds = load_dataset(DataConfig(**data_config))  # read again at its final place: runs refer to this path
    ds.name = final.name
    return UploadResult(True, f"{final.name}: {ds.n_users:,} users, {ds.n_items:,} items, "
                              f"{ds.n_interactions:,} interactions, modalities "
                              f"{', '.join(f'{m.name} ({m.dim}-d)' for m in ds.modalities.values())}",
                        final, ds, upload_files(final), data_config)


def upload_files(folder: Path) -> list[str]:
    """The files of a kept upload as the user knows them (not the options file kept beside them)."""
    return sorted(p.name for p in folder.iterdir() if not p.name.startswith("."))


def upload_data_config(folder: Path) -> dict:
    """The data config that opens a kept upload: its folder and the options it was accepted with. An upload
    kept before the options were stored: a feature build's report means rows filled with the mean."""
    from motor.features.report import REPORT_NAME

    try:
        kept = json.loads((folder / OPTIONS_FILE).read_text())
        options = {k: kept[k] for k in OPTION_KEYS if isinstance(kept.get(k), str)}
    except (OSError, ValueError, AttributeError):
        options = {"missing_features": "fill_mean" if (folder / REPORT_NAME).exists() else "error"}
    return {"data": str(folder), **options}


def save_upload(area: Path, name: str, files: list[tuple[str, bytes]], duplicates: str = "error",
                missing_features: str = "error") -> UploadResult:
    """Write ``files`` (name, bytes) to a staging folder in ``area``, validate, keep on success.

    On failure nothing is kept and ``message`` is the loader's text (it names the file and the fix).
    """
    try:
        files = _collect(files)
    except MotorError as e:
        return UploadResult(False, str(e))
    area.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".staging-", dir=area))
    try:
        for base, data in files:
            (staging / base).write_bytes(data)
        result = _validate_and_keep(staging, area, name, {"duplicates": duplicates,
                                                          "missing_features": missing_features}, UPLOAD_HINTS)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        _drop_if_empty(area)
        raise
    if not result.ok:
        _drop_if_empty(area)
    return result


def _drop_if_empty(area: Path) -> None:
    """A session's upload area exists only while it holds an upload (no empty folder per failed try)."""
    try:
        area.rmdir()
    except OSError:
        pass


# Raw content -> features ---------------------------------------------------------------------
#
# The place where items with text and pictures become a dataset: the app's "Build from raw
# content" form calls this (in a background thread, it can take minutes: about 10 pictures/s
# on 2 cores). ``encoders`` replaces the default MiniLM / EfficientNet models (tests pass tiny
# fakes); anything else is exactly what ``python -m motor features`` does.

RawProgress = Callable[[str, int, int], None]

# The Data page's raw-content controls, as its form labels them and the build's messages name them (not the CLI's
# flags): the form has no id column or picture column setting, so those hints say what to change in the files.
TEXT_COLUMNS, PICTURES = "Text columns", "Pictures"
TEXT_COLUMNS_LABEL = f"{TEXT_COLUMNS} (joined into one text per item)"
PICTURES_LABEL = f"{PICTURES} (.zip, optional)"
APP_HINTS = Hints(id_col="Rename the id column of items.csv to one of those and choose the file again.", image_col="",
                  text_cols=f"text columns ('{TEXT_COLUMNS}')", images=f"pictures (a .zip under '{PICTURES}')",
                  bad_zip="make a new zip of the pictures and choose it again.", more_files="", more_bytes="")


def build_raw_dataset(area: Path, name: str, interactions: tuple[str, bytes], items_csv: tuple[str, bytes],
                      text_cols: list[str] | None, images_zip: tuple[str, bytes] | None = None,
                      image_col: str | None = None, progress: RawProgress | None = None,
                      encoders: dict | None = None) -> UploadResult:
    """interactions.csv + items.csv (+ pictures zip) -> text.npz / image.npz -> validated dataset folder."""
    from motor.features.pipeline import ImageFeatures, TextFeatures, build_features

    area.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".staging-", dir=area))
    try:
        if not interactions[0].lower().endswith((".csv", ".tsv")):
            raise MotorError(f"{interactions[0]}: the interactions file must be a CSV (user,item[,rating,timestamp])")
        inter = staging / ("interactions.tsv" if interactions[0].lower().endswith(".tsv") else "interactions.csv")
        inter.write_bytes(interactions[1])
        read_interactions(inter, "error", RAW_DATA_HINTS)  # now: a bad row found after the encoding lost minutes
        (staging / "items.csv").write_bytes(items_csv[1])
        pictures = None
        if images_zip is not None:
            if not images_zip[0].lower().endswith(".zip"):
                raise MotorError(f"{images_zip[0]}: pictures must come as one .zip file")
            if not zipfile.is_zipfile(io.BytesIO(images_zip[1])):  # said here: the reader would offer a folder too
                raise MotorError(f"{images_zip[0]} is not a readable .zip file; {APP_HINTS.bad_zip}")
            scratch = Path(tempfile.mkdtemp(prefix=".pictures-", dir=area))
            pictures = scratch / "pictures.zip"
            pictures.write_bytes(images_zip[1])
        try:
            enc = encoders or {}
            text = TextFeatures(text_cols, encoder=enc.get("text")) if text_cols else None
            image = (ImageFeatures(pictures, column=image_col, encoder=enc.get("image"))
                     if pictures is not None or image_col is not None else None)
            report = build_features(staging / "items.csv", staging, text, image, progress=progress,
                                    hints=APP_HINTS)
        except MotorError as e:  # the user knows their own file names, not this server's scratch paths
            msg = str(e)
            if pictures is not None:
                msg = msg.replace(str(pictures), images_zip[0]).replace(repr(pictures.name), repr(images_zip[0]))
            raise MotorError(msg.replace(str(staging) + "/", "").replace(str(staging), "the upload")) from None
        finally:
            if pictures is not None:
                shutil.rmtree(pictures.parent, ignore_errors=True)
        result = _validate_and_keep(staging, area, name, {"duplicates": "error", "missing_features": "fill_mean"},
                                    RAW_DATA_HINTS)
        if result.ok:
            summary = report.summary().replace(str(staging) + "/", "").replace(str(staging), name)
            if pictures is not None:  # "no picture named m10.<ext> in zip 'pictures.zip'": the user's zip has its name
                summary = summary.replace(repr(pictures.name), repr(images_zip[0]))
            result.message += "\n\n" + summary
        else:
            _drop_if_empty(area)
        return result
    except MotorError as e:
        shutil.rmtree(staging, ignore_errors=True)
        _drop_if_empty(area)
        return UploadResult(False, str(e))
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        _drop_if_empty(area)
        raise
