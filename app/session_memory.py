"""What a session had open, kept on disk: a reload (the same ``?session=`` address) or a restarted server
comes back to it.

Uploads and runs already live in the workspace. This keeps the rest a person expects to find again: the
open dataset, the Train settings, the active run and which jobs' ends it has seen (presentation mode stays with its tab: a presenter's screen
and a laptop on the same address differ). One small JSON file per session,
named by the session's hash (never its token), written only when something changed. What is read back is
checked: a dataset the session may no longer open (deleted, or no longer shared with it) is not reopened,
and settings are merged into today's defaults by the Train page (``state.settings``), so a file from an
older version cannot break the form. A training job lives in the server process; ``state.current_job``
finds a session's job again after a reload without this file.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import MutableMapping
from pathlib import Path

from app.workspace import Workspace

KEYS = ("data_config", "settings", "run_id", "jobs_seen")
SAVED = "session_memory:saved"  # what the file holds now (session-state key), to skip writes that change nothing
SETTINGS = "settings_saved"  # restored Train settings, merged into the defaults when the Train form first needs them


def memory_file(ws: Workspace, owner: str) -> Path:
    return ws.home / "sessions" / f"{owner}.json"


def restore(ws: Workspace, owner: str, session: MutableMapping, bundled) -> None:
    """Once per browser session: what the saved file holds and the session has not set itself."""
    if SAVED in session:
        return
    session[SAVED] = {}
    try:
        saved = json.loads(memory_file(ws, owner).read_text())
    except (OSError, ValueError):
        return
    if not isinstance(saved, dict):
        return
    session[SAVED] = {k: saved[k] for k in KEYS if k in saved}
    data = saved.get("data_config")
    if "data_config" not in session and isinstance(data, dict):
        if _may_open(ws, owner, data.get("data"), bundled):
            session["data_config"] = data
        elif isinstance(data.get("data"), str):  # said once in the sidebar: the demo is open instead
            session["data_gone"] = Path(data["data"]).name
    if "settings" not in session and isinstance(saved.get("settings"), dict):
        session[SETTINGS] = saved["settings"]
    if "run_id" not in session and isinstance(saved.get("run_id"), str):
        session["run_id"] = saved["run_id"]  # checked by state.active_run (a deleted run is reported as such)
    if "jobs_seen" not in session and isinstance(saved.get("jobs_seen"), list):
        # jobs whose end the session saw: a job that ended while the page was away is opened, these are not
        session["jobs_seen"] = {j for j in saved["jobs_seen"] if isinstance(j, str)}


def _may_open(ws: Workspace, owner: str, data, bundled) -> bool:
    """A bundled dataset, or an upload this session may still open (its own, or one still shared)."""
    if data in bundled:
        return True
    if not isinstance(data, str):
        return False
    return any(str(r.folder) == data for r in ws.uploads(owner))


def save(ws: Workspace, owner: str, session: MutableMapping) -> None:
    """Write what the session has open now, if it changed (atomically: a reader never sees half a file). Only
    what this tab changed since it last read or wrote the file is written over it, so two tabs of one session
    do not undo each other's changes (each Train setting counts on its own)."""
    now = {k: sorted(session[k]) if isinstance(session[k], set) else session[k]
           for k in KEYS if session.get(k) is not None}
    if "settings" not in now and isinstance(session.get(SETTINGS), dict):
        # restored but not yet merged into the Train form (a reload that lands on another page): still this
        # session's settings, not settings it dropped
        now["settings"] = session[SETTINGS]
    last = session.get(SAVED) or {}
    if now == last:
        return
    target = memory_file(ws, owner)
    try:
        on_disk = json.loads(target.read_text())
    except (OSError, ValueError):
        on_disk = {}
    merged = _merge(on_disk if isinstance(on_disk, dict) else {}, last, now)
    try:
        text = json.dumps(merged)
    except (TypeError, ValueError):  # something not JSON in the settings: keep the last good file
        return
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".session-", dir=target.parent)
        with os.fdopen(fd, "w") as f:
            f.write(text)
        os.replace(tmp, target)
    except OSError:  # a read-only workspace: the session still works, it is just not remembered
        return
    session[SAVED] = now


def _merge(on_disk: dict, last: dict, now: dict) -> dict:
    """The file's content with this tab's changes (``now`` against ``last``, what the tab saw) written over it."""
    out = {k: v for k, v in on_disk.items() if k in KEYS}
    for k in KEYS:
        mine, seen, theirs = now.get(k), last.get(k), on_disk.get(k)
        if mine == seen and k in out:
            continue  # unchanged here: another tab's value (if it changed it) stays
        if k == "settings" and isinstance(mine, dict) and isinstance(theirs, dict):
            base = seen if isinstance(seen, dict) else {}
            out[k] = {**theirs, **{sk: v for sk, v in mine.items() if v != base.get(sk) or sk not in theirs}}
        elif k == "jobs_seen" and isinstance(mine, list) and isinstance(theirs, list):
            out[k] = sorted(set(mine) | {j for j in theirs if isinstance(j, str)})
        elif mine is None:
            out.pop(k, None)
        else:
            out[k] = mine
    return out
