"""The Markdown writer: each suite owns a section of benchmarks/RESULTS.md, plus a CSV beside it.

A section sits between ``<!-- suite:NAME -->`` markers and ends with the machine, the date and
the command that made it; rewriting one suite's section keeps every other section as it was.
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import numpy as np

from motor.bench.harness import OUT, machine


def write_section(suite: str, body: str, command: str, note: str = "", out: Path = OUT) -> Path:
    """Replace this suite's section of RESULTS.md (other suites' sections are kept)."""
    out.mkdir(exist_ok=True)
    path = out / "RESULTS.md"
    text = path.read_text() if path.exists() else "# Benchmark results\n\nWritten by `python -m motor bench`.\n"
    block = (f"<!-- suite:{suite} -->\n{body.rstrip()}\n\n_Machine: {machine()}. Date: {date.today()}. "
             f"Command: `{command}`{note}_\n<!-- /suite:{suite} -->")
    pattern = re.compile(rf"<!-- suite:{re.escape(suite)} -->.*?<!-- /suite:{re.escape(suite)} -->", re.S)
    text = pattern.sub(lambda _: block, text) if pattern.search(text) else text.rstrip() + "\n\n" + block + "\n"
    path.write_text(text)
    return path


def write_csv(name: str, rows: list[dict], out: Path = OUT) -> Path:
    """Rows as ``benchmarks/<name>.csv``, columns in first-seen order."""
    out.mkdir(exist_ok=True)
    path = out / f"{name}.csv"
    keys = list(dict.fromkeys(k for r in rows for k in r))
    with path.open("w", newline="") as f:
        w = csv.DictWriter(f, keys)
        w.writeheader()
        w.writerows(rows)
    return path


def fmt(values: list[float], digits: int = 4) -> str:
    """One cell: a value, or mean ± std over several (the sample std, n - 1, as the app's spreads); '-' when there
    is none."""
    values = [v for v in values if v is not None and np.isfinite(v)]
    if not values:
        return "-"
    if len(values) == 1:
        return f"{values[0]:.{digits}f}"
    return f"{np.mean(values):.{digits}f} ± {np.std(values, ddof=1):.{digits}f}"


def table(header: list[str], rows: list[list]) -> list[str]:
    """A Markdown table as lines."""
    return ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)] + [
        "| " + " | ".join(str(c) for c in r) + " |" for r in rows]


@dataclass
class Section:
    """What a suite returns: its Markdown body, a note appended to the machine/command line, and how many of its
    training runs failed (the command then ends with status 1, after reporting them)."""

    body: str
    note: str = ""
    failed: int = 0
