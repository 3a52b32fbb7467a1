"""Reading user files safely, with messages that name the file, the line or column, and the fix.

Arrays are read with ``allow_pickle=False``: a pickled .npy can run code when loaded, and
uploads are untrusted.
"""

from __future__ import annotations

import difflib
import gzip
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd

from motor.errors import MotorError

SEPARATORS = (",", ";", "\t", "|")


def separator_of(path: Path, default: str) -> str:
    """The column separator of a CSV-like file: ``default`` unless its header line lacks it and holds another
    of ``SEPARATORS`` (a spreadsheet saved in a European locale writes ``user;item;rating``, which read with
    commas is one column named 'user;item;rating')."""
    opener = gzip.open if Path(path).suffix == ".gz" else open
    try:
        with opener(path, "rt", encoding="utf-8-sig", errors="replace") as f:
            header = f.readline()
    except (OSError, EOFError):
        return default
    return separator_in(header, default)


def separator_in(header: str, default: str) -> str:
    """``separator_of`` for a header line already read."""
    if default in header:
        return default
    return next((s for s in SEPARATORS if s in header), default)


def read_table(path: Path, sep: str, dtype=str) -> pd.DataFrame:
    """A CSV/TSV with a header row, every column read as text (ids may be strings)."""
    try:
        df = pd.read_csv(path, sep=sep, dtype=dtype, keep_default_na=False, na_values=[""])
    except pd.errors.EmptyDataError:
        raise MotorError(f"{path.name} is empty: it needs a header row and at least one data row") from None
    except UnicodeDecodeError:
        raise MotorError(not_utf8(path)) from None
    except pd.errors.ParserError as e:
        raise MotorError(f"{path.name} could not be parsed as a {'TSV' if sep == chr(9) else 'CSV'} "
                         f"file ({str(e).splitlines()[0]}); check the separator and quoting") from None
    df.columns = [str(c).strip() for c in df.columns]
    if len(df) == 0:
        raise MotorError(f"{path.name} has a header but no data rows")
    return df


def not_utf8(path: Path) -> str:
    """Where a text file stops being UTF-8, and how to fix it (pandas names a position inside its own buffer)."""
    data = Path(path).read_bytes() if Path(path).suffix != ".gz" else gzip.decompress(Path(path).read_bytes())
    try:
        data.decode("utf-8")
        where = ""
    except UnicodeDecodeError as e:
        line = data[:e.start].count(b"\n") + 1
        where = f" (byte 0x{data[e.start]:02x} on line {line})"
    return (f"{Path(path).name} is not UTF-8 text{where}; save it as UTF-8 (in a spreadsheet: 'CSV UTF-8'; "
            f"with pandas: to_csv(..., encoding='utf-8'))")


def find_column(df: pd.DataFrame, names: tuple[str, ...], file: str, what: str, required: bool = True) -> str | None:
    """The first of ``names`` present in ``df`` (exact, then case-insensitive)."""
    for n in names:
        if n in df.columns:
            return n
    lower = {c.lower(): c for c in df.columns}
    for n in names:
        if n.lower() in lower:
            return lower[n.lower()]
    if not required:
        return None
    close = difflib.get_close_matches(names[0], list(df.columns), n=1, cutoff=0.5)
    hint = f"; did you mean {close[0]!r}? Rename it to {names[0]!r}" if close else f"; add a column named {names[0]!r}"
    raise MotorError(f"{file}: no {what} column (expected one of {', '.join(names)}; found "
                     f"{', '.join(map(repr, df.columns))}){hint}")


def line_of(row: int) -> int:
    """File line of a 0-based data row (line 1 is the header)."""
    return int(row) + 2


TIMESTAMP_FIX = ("a timestamp is a whole number that orders the rows in time, such as seconds since 1970 (Unix "
                 "time); convert dates with pandas: df['timestamp'] = (pd.to_datetime(df['timestamp']) - pd.Timestamp(0)) "
                 "// pd.Timedelta('1s'), or leave the column out")


def parse_numbers(series: pd.Series, file: str, column: str, kind=float, fix: str = "") -> np.ndarray:
    """Convert a text column to numbers, naming the first bad line on failure (``fix``: what the column must
    hold, said instead of the generic advice; ``TIMESTAMP_FIX`` for a timestamp column)."""
    values = pd.to_numeric(series, errors="coerce")
    bad = values.isna().to_numpy()
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        raise MotorError(f"{file} line {line_of(row)}: column {column!r} has {series.iat[row]!r}, "
                         f"which is not a number; {fix or 'fix or remove that row'}")
    arr = values.to_numpy()
    if kind is int:
        if not np.all(np.mod(arr, 1) == 0):
            row = int(np.flatnonzero(np.mod(arr, 1) != 0)[0])
            raise MotorError(f"{file} line {line_of(row)}: column {column!r} must hold whole numbers, "
                             f"got {series.iat[row]!r}")
        huge = np.abs(arr.astype(np.float64)) >= 2.0 ** 63  # astype(int64) would wrap it to another number
        if huge.any():
            row = int(np.flatnonzero(huge)[0])
            raise MotorError(f"{file} line {line_of(row)}: column {column!r} has {series.iat[row]!r}, too large "
                             f"for a 64-bit whole number; {fix or 'renumber the ids 0..N-1'}")
        return arr.astype(np.int64)
    return arr.astype(np.float64)


def load_array(path: Path) -> np.ndarray:
    """A numeric .npy array, refusing pickles and non-numeric content."""
    with open(path, "rb") as f:
        if f.read(6) != b"\x93NUMPY":
            raise MotorError(f"{path.name} is not a readable .npy file (no NumPy header); save it with np.save")
    try:
        arr = np.load(path, allow_pickle=False)
    except ValueError as e:
        if "pickle" in str(e).lower():
            raise MotorError(f"{path.name} contains pickled Python objects, which are refused for safety; "
                             f"save a plain numeric array with np.save(path, features.astype(np.float32))") from None
        raise MotorError(f"{path.name} is not a readable .npy array ({e}); save it with np.save") from None
    except (OSError, EOFError) as e:
        raise MotorError(f"{path.name} is not a readable .npy file ({e}); save it with np.save") from None
    return arr


def load_npz(path: Path) -> dict[str, np.ndarray]:
    """All arrays of a .npz archive, refusing pickles."""
    try:
        with np.load(path, allow_pickle=False) as z:
            return {k: z[k] for k in z.files}
    except ValueError as e:
        if "pickle" in str(e).lower():
            raise MotorError(f"{path.name} contains pickled Python objects (for example an object array of "
                             f"ids), which are refused for safety; store ids as a string array: "
                             f"np.savez(path, item_id=np.array(ids, dtype=str), feat=features)") from None
        raise MotorError(f"{path.name} is not a readable .npz archive ({e}); write it with np.savez") from None
    except (OSError, EOFError, zipfile.BadZipFile) as e:
        raise MotorError(f"{path.name} is not a readable .npz archive ({e}); write it with np.savez") from None


def check_2d(arr: np.ndarray, file: str) -> None:
    """Refuse features that are not a 2-D array, before their rows are counted (a 0-d array has no length)."""
    if arr.ndim != 2:
        raise MotorError(f"{file}: features must be a 2-D array [items, dimensions], got shape {arr.shape}")


def as_feature_matrix(arr: np.ndarray, file: str, row_names=None) -> np.ndarray:
    """Check a feature array is a finite 2-D numeric matrix and return it as float32."""
    check_2d(arr, file)
    if arr.shape[1] == 0:
        raise MotorError(f"{file}: features have zero columns")
    if not (np.issubdtype(arr.dtype, np.floating) or np.issubdtype(arr.dtype, np.integer)):
        raise MotorError(f"{file}: features must be numbers, got dtype {arr.dtype}")
    bad = ~np.isfinite(arr)
    too_large = np.issubdtype(arr.dtype, np.floating) and arr.dtype.itemsize > 4
    if too_large:  # checked before the cast, which would turn them into inf with a numpy overflow warning
        bad |= np.abs(arr) > np.finfo(np.float32).max
    if bad.any():
        r, c = map(int, np.argwhere(bad)[0])
        n_rows = int(bad.any(axis=1).sum())
        name = f"row {r}" if row_names is None else f"row {r} (item {row_names[r]})"
        what = "NaN, infinite or too large values (beyond float32's ±3.4e38)" if too_large else \
            "NaN or infinite values"
        raise MotorError(f"{file}: {n_rows} rows contain {what}, first at {name}, column {c} "
                         f"(value {arr[r, c]}); replace them, for example with the column mean")
    return np.ascontiguousarray(arr, dtype=np.float32)


def miscased_files(folder: Path, names: tuple[str, ...], suffixes: tuple[str, ...]) -> str | None:
    """Why files the readers would pass over for their case are refused (None: there are none). The readers look for
    lower-case names and extensions (interactions.csv, image.npz, x.inter): an INTERACTIONS.CSV or IMAGE.NPZ was
    left out without a word, and the message then said there was no interactions file or no feature file."""
    files = sorted(p.name for p in Path(folder).iterdir() if p.is_file() and not p.name.startswith("."))
    # Image.npz is read (as the modality 'Image'); Items.csv and IMAGE.NPZ are not
    odd = [n for n in files if n.lower() in names and n != n.lower()
           or Path(n).suffix.lower() in suffixes and Path(n).suffix != Path(n).suffix.lower()]
    if not odd:
        return None
    twins = [n for n in odd if n.lower() in files]
    if twins:  # on a case-insensitive disk the two would be one file: which one is meant cannot be guessed
        return (f"{', '.join(f'{n} and {n.lower()}' for n in twins)} differ only in case; keep one of them, named in "
                f"lower case")
    return (f"{', '.join(odd)}: dataset file names are read in lower case, so {'these files' if len(odd) > 1 else 'it'} "
            f"would be left out; rename {'them' if len(odd) > 1 else 'it'} to {', '.join(n.lower() for n in odd)}")


def unread_note(folder: Path, suffixes: tuple[str, ...], is_read, read_from: str, fix: str,
                kind: str = "a dataset folder") -> list[str]:
    """A warning naming the data-like files (``suffixes``, not hidden) in ``folder`` that a reader does not read
    (``is_read(name)`` False), so data left out is said, not silent; ``fix`` ends with 'it' or 'these files'."""
    unread = sorted(p.name for p in folder.iterdir()
                    if p.is_file() and not p.name.startswith(".") and p.name.endswith(suffixes) and not is_read(p.name))
    if not unread:
        return []
    return [f"{', '.join(unread)}: not read ({kind} is read from {read_from} only); {fix} "
            f"{'these files' if len(unread) > 1 else 'it'} out"]


def modality_name(path: Path) -> str:
    """``image_feat.npy`` and ``image.npz`` both give the modality ``image``."""
    stem = path.name.split(".")[0]
    return stem[: -len("_feat")] if stem.endswith("_feat") else stem
