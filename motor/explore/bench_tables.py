"""Benchmark outputs read back for the app: a suite's CSV with the columns it must have, and the date its
section of ``benchmarks/RESULTS.md`` was written.

A table's file date is not its measurement date (a fresh clone stamps every file with the clone's
time), but each suite's section of RESULTS.md ends with the date the benchmark wrote it
(``motor.bench.report.write_section``), together with the CSV beside it.
"""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd

from motor.errors import MotorError


def read_table(path: Path | str, required: tuple[str, ...], what: str, how_to: str) -> pd.DataFrame:
    """The CSV at ``path`` (``items`` lower-cased); MotorError saying what is wrong and ``how_to`` make it if the
    file cannot be read or lacks a ``required`` column (``what``: 'a regimes table', ...)."""
    path = Path(path)
    try:
        df = pd.read_csv(path)
    except (OSError, ValueError) as e:
        raise MotorError(f"cannot read {what} from {path} ({e}); write it with: {how_to}") from None
    missing = [c for c in required if c not in df.columns]
    if missing:
        raise MotorError(f"{path} is not {what}: column(s) {', '.join(missing)} missing; write it with: {how_to}")
    if "items" in df.columns:
        df["items"] = df["items"].astype(str).str.lower()
    return df


def section_date(results: Path | str, suite: str) -> str | None:
    """``YYYY-MM-DD`` from the footer of ``suite``'s section in ``results``; None when the file or section is
    missing or carries no date."""
    try:
        text = Path(results).read_text()
    except (OSError, UnicodeDecodeError):
        return None
    section = re.search(rf"<!-- suite:{re.escape(suite)} -->(.*?)<!-- /suite:{re.escape(suite)} -->", text, re.S)
    found = re.findall(r"Date: (\d{4}-\d{2}-\d{2})", section.group(1)) if section else []
    return found[-1] if found else None
