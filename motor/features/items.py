"""Reading the items CSV: one row per item, an id column, and text columns.

Ids are kept as the exact (stripped) strings of the CSV, never parsed as numbers, so
``"007"`` stays ``"007"`` and matches a picture named ``007.jpg``.
"""

from __future__ import annotations

import csv
import os
from dataclasses import dataclass
from pathlib import Path

from motor.data.files import not_utf8, separator_of
from motor.errors import MotorError
from motor.features.hints import CLI_HINTS, Hints

# Tried in this order, first exactly, then ignoring case.
ID_COLUMNS = ("item", "item_id", "itemID", "id", "movieId")

# Descriptions can be long; the csv module's default cap is 128 KiB per field.
_FIELD_LIMIT = 16 * 1024 * 1024


@dataclass
class Items:
    """The parsed CSV: ``ids`` in file order and every column as a list of strings."""

    path: Path
    id_col: str
    ids: list[str]
    columns: dict[str, list[str]]

    def __len__(self) -> int:
        return len(self.ids)


def _delimiter(path: Path) -> str:
    return separator_of(path, "\t" if path.suffix.lower() in (".tsv", ".tab") else ",")


def find_id_column(header: list[str], id_col: str | None, hints: Hints = CLI_HINTS) -> str:
    """The id column: ``id_col`` if given (must exist), else the first of ``ID_COLUMNS`` found."""
    if id_col:
        if id_col not in header:
            raise MotorError(
                f"id column {id_col!r} is not in the items CSV; its columns are {header}. "
                "Pass one of those as the id column."
            )
        return id_col
    for name in ID_COLUMNS:
        if name in header:
            return name
    lower = {h.lower(): h for h in header}
    for name in ID_COLUMNS:
        if name.lower() in lower:
            return lower[name.lower()]
    raise MotorError(
        f"the items CSV has no id column: found columns {header}, expected one of "
        f"{list(ID_COLUMNS)}. {hints.id_col}"
    )


def _check_quotes_close(path: Path) -> None:
    """A quote that opens a value and never closes makes the lenient reader take the rest of the file as that one
    value (every later item silently lost): the strict reader sees it as the end of data inside a quote."""
    with open(path, newline="", encoding="utf-8-sig") as f:
        reader = csv.reader(f, delimiter=_delimiter(path), strict=True)
        start = 1
        try:
            for _ in reader:
                start = reader.line_num + 1
        except csv.Error as e:
            if "unexpected end of data" in str(e):
                raise MotorError(f"items CSV {str(path)!r} line {start}: a quote opens a value and never closes, so "
                                 "the rest of the file would be read as one value; close the quote (a quote inside a "
                                 'quoted value is written twice: "")') from None
            # other strictness (a quote inside an unquoted value) is read leniently, as before


def read_items(path: str | os.PathLike, id_col: str | None = None, hints: Hints = CLI_HINTS) -> Items:
    """Read and check the items CSV (UTF-8, comma-separated; ``.tsv`` is tab-separated).

    Raises MotorError for a missing or empty file, no header, an unknown id column, empty or
    duplicate ids, or rows with more fields than the header.
    """
    path = Path(path)
    if not path.is_file():
        raise MotorError(f"items CSV {str(path)!r} does not exist or is not a file; pass the path of a CSV with one row per item.")
    csv.field_size_limit(max(csv.field_size_limit(), _FIELD_LIMIT))
    try:
        with open(path, newline="", encoding="utf-8-sig") as f:
            reader = csv.reader(f, delimiter=_delimiter(path))
            header = next(reader, None)
            if not header or not any(h.strip() for h in header):
                raise MotorError(f"items CSV {str(path)!r} is empty; its first line must be a header naming the columns.")
            header = [h.strip() for h in header]
            dup = sorted({h for h in header if header.count(h) > 1})
            if dup:
                raise MotorError(f"items CSV {str(path)!r} repeats the column name(s) {dup}; give every column a distinct name.")
            key = find_id_column(header, id_col, hints)
            columns: dict[str, list[str]] = {h: [] for h in header}
            for row in reader:
                if not row or all(not c.strip() for c in row):
                    continue  # blank line
                if len(row) > len(header):
                    raise MotorError(
                        f"items CSV {str(path)!r} line {reader.line_num} has {len(row)} fields but the header has "
                        f"{len(header)}; quote values that contain the delimiter."
                    )
                row = row + [""] * (len(header) - len(row))
                for h, v in zip(header, row):
                    columns[h].append(v)
    except UnicodeDecodeError:
        raise MotorError(f"items CSV: {not_utf8(path)}") from None
    except csv.Error as e:
        raise MotorError(f"items CSV {str(path)!r} could not be parsed: {e}.") from None
    _check_quotes_close(path)

    ids = [v.strip() for v in columns[key]]
    if not ids:
        raise MotorError(f"items CSV {str(path)!r} has a header but no rows; add one row per item.")
    empty = [i + 2 for i, v in enumerate(ids) if not v]
    if empty:
        raise MotorError(f"items CSV {str(path)!r}: the id column {key!r} is empty on line(s) {empty[:10]}; every item needs an id.")
    seen: set[str] = set()
    dups: list[str] = []
    for v in ids:
        if v in seen and v not in dups:
            dups.append(v)
        seen.add(v)
    if dups:
        raise MotorError(
            f"items CSV {str(path)!r}: {len(dups)} id(s) appear more than once in column {key!r} "
            f"(e.g. {dups[:5]}); keep one row per item."
        )
    return Items(path=path, id_col=key, ids=ids, columns=columns)


def check_columns(items: Items, cols: list[str], what: str) -> None:
    """Raise MotorError naming any of ``cols`` that the CSV lacks."""
    header = list(items.columns)
    missing = [c for c in cols if c not in items.columns]
    if missing:
        raise MotorError(f"{what} {missing} not in the items CSV; its columns are {header}.")


def join_text(values: list[str], cols: list[str], labels: bool = False) -> str:
    """One item's text from its text columns.

    Without labels the non-empty values are joined with ". " (a value that already ends in
    ".", "!" or "?" gets only a space), so a single column is used as written (runs of whitespace and
    newlines become one space): a prepared text column encodes exactly as it did before. With
    ``labels=True`` each value is prefixed by its column name ("title: Heat. genres: Crime"),
    which helps when values are bare words whose role is unclear.
    """
    parts = []
    for col, v in zip(cols, values):
        v = " ".join(v.split())  # collapse newlines and runs of spaces
        if v:
            parts.append(f"{col}: {v}" if labels else v)
    out = ""
    for i, p in enumerate(parts):
        if i:
            out += " " if out.endswith((".", "!", "?")) else ". "
        out += p
    return out


def item_texts(items: Items, text_cols: list[str], labels: bool = False) -> list[str]:
    """The joined text of every item, in CSV order ("" where all chosen columns are empty)."""
    check_columns(items, text_cols, "text column(s)")
    cols = [items.columns[c] for c in text_cols]
    return [join_text([c[i] for c in cols], text_cols, labels) for i in range(len(items))]
