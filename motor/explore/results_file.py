"""What ``benchmarks/RESULTS.md`` says about one benchmark suite: the date its section was written.

A table's file date is not its measurement date (a fresh clone stamps every file with the clone's
time), but each suite's section of RESULTS.md ends with the date the benchmark wrote it
(``motor.bench.report.write_section``), together with the CSV beside it.
"""

from __future__ import annotations

import re
from pathlib import Path


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
