"""Reader for MMRec's dataset folder: ``<name>.inter`` plus row-aligned ``*_feat.npy``.

In this format ids are already contiguous integers: ``n_items = max(itemID) + 1`` over all
rows and feature row ``i`` is item ``i``. Items without training interactions keep their row
(MMRec ranks them at evaluation; they are the natural cold items). Ids far from contiguous (a largest
id above 10 x the number of ids used + 100,000) are refused: every array is sized by the largest id.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from motor.data.dataset import Dataset, Interactions, Modality
from motor.data.files import (
    TIMESTAMP_FIX,
    as_feature_matrix,
    find_column,
    line_of,
    load_array,
    modality_name,
    parse_numbers,
    read_table,
    unread_note,
)
from motor.errors import MotorError

SPARSE_FACTOR, SPARSE_MARGIN = 10, 100_000  # ids above 10 x the ids used + 100,000 are refused (see _count)


def find_inter_file(folder: Path) -> Path:
    found = sorted(folder.glob("*.inter"))
    if not found:
        raise MotorError(f"{folder}: no .inter file; an MMRec dataset folder holds <name>.inter "
                         f"(tab-separated: userID, itemID, x_label) and image_feat.npy / text_feat.npy")
    if len(found) > 1:
        raise MotorError(f"{folder}: several .inter files ({', '.join(p.name for p in found)}); keep one per folder")
    return found[0]


def _ids(df, col: str, file: str) -> np.ndarray:
    ids = parse_numbers(df[col], file, col, kind=int)
    if (ids < 0).any():
        row = int(np.flatnonzero(ids < 0)[0])
        raise MotorError(f"{file} line {line_of(row)}: {col} is negative ({ids[row]}); ids must be 0, 1, 2, ...")
    return ids


def _count(ids: np.ndarray, col: str, file: str) -> int:
    """``max(id) + 1``, the size of every array of users or items; refused, before anything that large is
    allocated, when it is above SPARSE_FACTOR x the number of ids used + SPARSE_MARGIN (the ids are not
    0..N-1). Unused ids below that are fine: items without interactions keep their feature rows."""
    n, used = int(ids.max()) + 1, len(np.unique(ids))
    if n > SPARSE_FACTOR * used + SPARSE_MARGIN:
        raise MotorError(f"{file}: {col} goes up to {n - 1:,} but only {used:,} distinct ids are used; MMRec ids "
                         f"must be 0..N-1 (row i of the feature files = item i), and every array is sized by the "
                         f"largest id, so ids above {SPARSE_FACTOR} x the number used + {SPARSE_MARGIN:,} are refused. "
                         f"Renumber the ids 0..N-1, or save the data as interactions.csv (any ids)")
    return n


def read_mmrec(path: Path, name: str | None = None) -> Dataset:
    """Read an MMRec folder (or its .inter file). The x_label split, if present, is kept."""
    path = Path(path)
    inter_path = path if path.suffix == ".inter" else find_inter_file(path)
    folder = inter_path.parent
    file = inter_path.name
    df = read_table(inter_path, sep="\t")
    if len(df.columns) == 1 and "," in df.columns[0]:
        raise MotorError(f"{file} looks comma-separated; MMRec .inter files are tab-separated "
                         f"(save with sep='\\t'), or rename it to interactions.csv for the CSV format")
    ucol = find_column(df, ("userID",), file, "user id")
    icol = find_column(df, ("itemID",), file, "item id")
    users, items = _ids(df, ucol, file), _ids(df, icol, file)
    rating = label = None
    rcol = find_column(df, ("rating",), file, "rating", required=False)
    if rcol:
        rating = parse_numbers(df[rcol], file, rcol).astype(np.float32)
    tcol = find_column(df, ("timestamp",), file, "timestamp", required=False)
    timestamp = parse_numbers(df[tcol], file, tcol, kind=int, fix=TIMESTAMP_FIX) if tcol else None
    lcol = find_column(df, ("x_label",), file, "split label", required=False)
    if lcol:
        label = parse_numbers(df[lcol], file, lcol, kind=int)
        bad = ~np.isin(label, (0, 1, 2))
        if bad.any():
            row = int(np.flatnonzero(bad)[0])
            raise MotorError(f"{file} line {line_of(row)}: x_label is {label[row]}; it must be 0 (train), "
                             f"1 (validation) or 2 (test)")
        label = label.astype(np.int8)

    n_users, n_items = _count(users, ucol, file), _count(items, icol, file)
    if n_users * n_items >= 2**63:  # the int64 pair keys below would overflow
        raise MotorError(f"{file}: {n_users:,} users x {n_items:,} items is too many ids to index; "
                         f"renumber the ids 0..N-1")
    key = users.astype(np.int64) * n_items + items
    dup = np.flatnonzero(np.unique(key, return_counts=True)[1] > 1)
    if len(dup):
        rows = np.flatnonzero(np.isin(key, np.unique(key)[dup[:1]]))
        raise MotorError(f"{file}: {len(key) - len(np.unique(key))} duplicate userID-itemID rows (first at lines "
                         f"{', '.join(str(line_of(r)) for r in rows[:2])}); remove the repeats")
    item_ids = np.arange(n_items).astype(str)
    modalities = {}
    for fpath in sorted(folder.glob("*_feat.npy")):
        feats = as_feature_matrix(load_array(fpath), fpath.name, item_ids)
        if feats.shape[0] != n_items:
            raise MotorError(f"{fpath.name} has {feats.shape[0]} rows but {file} uses item ids 0..{n_items - 1} "
                             f"({n_items} items); row i must hold the features of item i, so the counts must match")
        m = modality_name(fpath)
        modalities[m] = Modality(m, feats, source=fpath.name)
    if not modalities:
        raise MotorError(f"{folder}: no feature files; add image_feat.npy and/or text_feat.npy "
                         f"(row i = features of item i)")
    inter = Interactions(users, items, rating, timestamp, label)
    return Dataset(name or folder.name, np.arange(n_users).astype(str), item_ids, inter, modalities,
                   items=None, source=str(folder), warnings=unread_note(
                       folder, (".npy", ".npz", ".csv", ".tsv", ".gz"), lambda n: n.endswith("_feat.npy"),
                       f"{file} and its <modality>_feat.npy files",
                       "rename a feature matrix to <modality>_feat.npy (row i = item i) to use it, or leave",
                       kind="an MMRec folder"))
