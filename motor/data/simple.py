"""Reader for motor-lab's own folder format, the one the bundled demo uses.

    interactions.csv   user, item [, rating] [, timestamp]   (ids may be any text)
    items.csv          item, title [, any display or text columns]          (optional)
    <modality>.npz     item_id (string array) + feat [n, dim]  (keyed by item id), or
    <modality>.npy     feat [n, dim], row r = row r of items.csv            (needs items.csv)

Items are indexed in order of first appearance in the interactions file, users likewise.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from motor.data.dataset import Dataset, Interactions, Modality
from motor.data.files import (
    TIMESTAMP_FIX,
    as_feature_matrix,
    check_2d,
    find_column,
    line_of,
    load_array,
    load_npz,
    modality_name,
    parse_numbers,
    read_table,
    separator_of,
    unread_note,
)
from motor.data.hints import CLI_DATA_HINTS, DataHints
from motor.errors import MotorError

USER_COLUMNS = ("user", "user_id", "userId", "userID", "uid")
ITEM_COLUMNS = ("item", "item_id", "itemId", "itemID", "movieId", "iid", "asin", "id")
RATING_COLUMNS = ("rating", "score")
TIME_COLUMNS = ("timestamp", "time", "ts")
INTERACTION_FILES = ("interactions.csv", "interactions.csv.gz", "interactions.tsv")
ITEM_FILES = ("items.csv", "items.tsv")


def find_interactions_file(folder: Path) -> Path | None:
    for n in INTERACTION_FILES:
        if (folder / n).exists():
            return folder / n
    return None


def _sep(path: Path) -> str:
    return separator_of(path, "\t" if ".tsv" in path.name else ",")


def _index(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Contiguous codes in order of first appearance, and the original values."""
    codes, uniques = pd.factorize(values, sort=False)
    return codes.astype(np.int64), np.asarray(uniques, dtype=str)


def _dedupe(df: pd.DataFrame, file: str, policy: str, has_time: bool,
            hints: DataHints = CLI_DATA_HINTS) -> pd.DataFrame:
    dup = df.duplicated(["user", "item"], keep=False).to_numpy()
    if not dup.any():
        return df
    if policy == "error":
        rows = np.flatnonzero(dup)[:2]
        n = int(df.duplicated(["user", "item"]).sum())
        raise MotorError(f"{file}: {n} duplicate user-item interactions (first: lines "
                         f"{', '.join(str(line_of(r)) for r in rows)}, user {df['user'].iat[rows[0]]!r}, item "
                         f"{df['item'].iat[rows[0]]!r}); remove them{hints.duplicates}")
    if has_time:
        df = df.sort_values("timestamp", kind="stable")
    return df.drop_duplicates(["user", "item"], keep="last").sort_index()


def read_interactions(path: Path, duplicates: str = "error", hints: DataHints = CLI_DATA_HINTS) -> pd.DataFrame:
    file = path.name
    raw = read_table(path, sep=_sep(path))
    cols = {"user": find_column(raw, USER_COLUMNS, file, "user id"),
            "item": find_column(raw, ITEM_COLUMNS, file, "item id")}
    df = pd.DataFrame({k: raw[c].astype(str).str.strip() for k, c in cols.items()})
    for key in ("user", "item"):
        empty = (df[key] == "") | raw[cols[key]].isna()
        if empty.any():
            row = int(np.flatnonzero(empty.to_numpy())[0])
            raise MotorError(f"{file} line {line_of(row)}: empty {cols[key]!r}; every row needs a user and an item")
    rcol = find_column(raw, RATING_COLUMNS, file, "rating", required=False)
    tcol = find_column(raw, TIME_COLUMNS, file, "timestamp", required=False)
    if rcol:
        df["rating"] = parse_numbers(raw[rcol], file, rcol).astype(np.float32)
    if tcol:
        df["timestamp"] = parse_numbers(raw[tcol], file, tcol, kind=int, fix=TIMESTAMP_FIX)
    return _dedupe(df, file, duplicates, tcol is not None, hints)


def read_items(path: Path) -> pd.DataFrame:
    """Display metadata; rows for items without interactions are dropped by the caller."""
    raw = read_table(path, sep=_sep(path))
    idcol = find_column(raw, ITEM_COLUMNS, path.name, "item id")
    ids = raw[idcol].astype(str).str.strip()
    dup = ids.duplicated().to_numpy()
    if dup.any():
        row = int(np.flatnonzero(dup)[0])
        raise MotorError(f"{path.name} line {line_of(row)}: item {ids.iat[row]!r} is listed twice; one row per item")
    out = raw.drop(columns=[idcol]).copy()
    out.insert(0, "item_id", ids)
    return out.reset_index(drop=True)


def read_feature_file(path: Path, items_table: pd.DataFrame | None) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """(ids, features, missing-flags) of one modality file."""
    if path.suffix == ".npz":
        arrays = load_npz(path)
        if "feat" not in arrays or "item_id" not in arrays:
            raise MotorError(f"{path.name} must hold two arrays, 'item_id' and 'feat' (found "
                             f"{', '.join(arrays) or 'none'}); write it with np.savez(path, item_id=ids, feat=features)")
        ids = np.asarray(arrays["item_id"]).astype(str)
        feats = arrays["feat"]
        check_2d(feats, path.name)  # a 0-d 'feat' or 'item_id' was a TypeError from len()
        if ids.ndim != 1:
            raise MotorError(f"{path.name}: 'item_id' must be a 1-D array with one id per row of 'feat', got shape "
                             f"{ids.shape}; write it with np.savez(path, item_id=np.array(ids, dtype=str), "
                             f"feat=features)")
        if len(ids) != len(feats):
            raise MotorError(f"{path.name}: 'item_id' has {len(ids)} entries but 'feat' has {len(feats)} rows")
        missing = arrays.get("missing")
        if missing is not None:
            missing = _missing_flags(missing, len(feats), path.name)
    else:
        feats = load_array(path)
        check_2d(feats, path.name)
        if items_table is None:
            raise MotorError(f"{path.name} has no item ids; add items.csv (row r of the .npy = row r of items.csv) "
                             f"or save the features as {path.stem}.npz with arrays item_id and feat")
        if len(feats) != len(items_table):
            raise MotorError(f"{path.name} has {len(feats)} rows but items.csv has {len(items_table)}; "
                             f"row r of the .npy must describe row r of items.csv")
        ids, missing = items_table["item_id"].to_numpy(dtype=str), None
    dup = pd.Index(ids).duplicated()
    if dup.any():
        raise MotorError(f"{path.name}: item {ids[np.flatnonzero(dup)[0]]!r} has two feature rows; keep one")
    return ids, as_feature_matrix(feats, path.name, ids), missing


def _missing_flags(missing: np.ndarray, n: int, file: str) -> np.ndarray:
    """The optional 'missing' array of a .npz: one flag per row of 'feat', bool (or integer 0/1)."""
    flags = missing.dtype == bool or (missing.dtype.kind in "iu" and np.isin(missing, (0, 1)).all())
    if missing.shape != (n,) or not flags:
        raise MotorError(f"{file}: 'missing' must hold one True/False flag per row of 'feat' ({n} rows), got "
                         f"shape {missing.shape} of {missing.dtype}; save it as a bool array of length {n} "
                         f"(True = the item has no content), or leave it out")
    return missing.astype(bool)


def align_features(path: Path, ids: np.ndarray, feats: np.ndarray, missing, item_ids: np.ndarray,
                   on_missing: str, warnings: list[str], hints: DataHints = CLI_DATA_HINTS) -> Modality:
    """Reorder rows to the dataset's item index; handle items with no row."""
    pos = pd.Index(ids).get_indexer(item_ids)
    absent = pos < 0
    extra = len(ids) - int((~absent).sum())
    if extra:
        warnings.append(f"{path.name}: {extra} items have features but no interactions; they were left out")
    out = np.zeros((len(item_ids), feats.shape[1]), np.float32)
    out[~absent] = feats[pos[~absent]]
    flags = np.zeros(len(item_ids), bool)
    if missing is not None:
        flags[~absent] = missing[pos[~absent]]
    if absent.any():
        examples = ", ".join(repr(str(i)) for i in item_ids[absent][:5])
        if on_missing == "error":
            raise MotorError(f"{path.name}: {int(absent.sum())} items that have interactions have no feature row "
                             f"(for example {examples}); add their rows{hints.missing_features}")
        flags[absent] = True
        if on_missing == "fill_zero":
            warnings.append(f"{path.name}: {int(absent.sum())} items have no feature row; they are marked missing "
                            f"and filled with zeros (for example {examples})")
        else:
            out[absent] = feats.mean(axis=0)
            warnings.append(f"{path.name}: {int(absent.sum())} items had no feature row and got the modality mean "
                            f"(for example {examples})")
    fill = "zeros" if on_missing == "fill_zero" else "mean"
    return Modality(modality_name(path), out, flags if flags.any() else None, source=path.name, fill=fill)


def read_simple(folder: Path, name: str | None = None, duplicates: str = "error",
                missing_features: str = "error", hints: DataHints = CLI_DATA_HINTS) -> Dataset:
    """``hints``: how the messages that ask for another reading option name it (``motor.data.hints``)."""
    folder = Path(folder)
    inter_path = find_interactions_file(folder)
    if inter_path is None:
        raise MotorError(f"{folder}: no interactions.csv (columns user, item[, rating, timestamp]) and no MMRec "
                         f".inter file; add one of them")
    df = read_interactions(inter_path, duplicates, hints)
    users, user_ids = _index(df["user"].to_numpy())
    items, item_ids = _index(df["item"].to_numpy())
    inter = Interactions(users, items,
                         df["rating"].to_numpy(np.float32) if "rating" in df else None,
                         df["timestamp"].to_numpy(np.int64) if "timestamp" in df else None)
    warnings: list[str] = []

    items_table = None
    items_path = next((folder / n for n in ITEM_FILES if (folder / n).exists()), None)
    if items_path is not None:
        items_table = read_items(items_path)
    # a second interactions file (other.tsv, x.inter beside interactions.csv) is not read: said, not silent
    read = {inter_path.name, items_path.name if items_path is not None else ""}
    warnings += unread_note(folder, (".csv", ".tsv", ".inter", ".gz"), read.__contains__,
                            inter_path.name + (f" and {items_path.name}" if items_path is not None else ""),
                            f"merge the rows that belong to this dataset into {inter_path.name}, or leave")
    feature_paths = sorted(p for p in folder.iterdir()
                           if p.suffix in (".npy", ".npz") and p.is_file())
    if not feature_paths:
        raise MotorError(f"{folder}: no feature files; add <modality>.npz (arrays item_id, feat) or "
                         f"<modality>.npy aligned with items.csv, for example image.npz and text.npz")
    modalities = {}
    for p in feature_paths:
        table = modality_name(p)
        if table in ("interactions", "items"):  # it would have become a modality called 'interactions'
            raise MotorError(f"{p.name}: a feature file is named after the modality its vectors describe (image.npz, "
                             f"text.npz), and {table!r} is not one: the {table} are read from {table}.csv; rename "
                             f"{p.name} after its content, or leave it out")
        m = align_features(p, *read_feature_file(p, items_table), item_ids, missing_features, warnings, hints)
        if m.name in modalities:
            raise MotorError(f"{folder}: two files for the modality {m.name!r} ({modalities[m.name].source}, {p.name}); keep one")
        modalities[m.name] = m

    meta = pd.DataFrame({"item_id": item_ids})
    if items_table is not None:
        listed = set(items_table["item_id"])
        unknown = int((~pd.Index(item_ids).isin(items_table["item_id"])).sum())
        if unknown:
            warnings.append(f"{items_path.name}: {unknown} items with interactions are not listed; they have no title")
        unused = len(listed - set(item_ids))
        if unused:
            warnings.append(f"{items_path.name}: {unused} listed items have no interactions; they were left out")
        meta = meta.merge(items_table, on="item_id", how="left")
    return Dataset(name or folder.name, user_ids, item_ids, inter, modalities, meta, str(folder), warnings)
