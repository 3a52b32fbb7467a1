"""The app's workspace on disk: run folders, per-session uploads, and a SQLite run registry.

    $MOTOR_LAB_HOME (default ~/.motor-lab)
      registry.sqlite          one row per finished run (settings, headline metrics, path)
      runs/<run_id>/           one run = the variants trained together on the same split
        run.json               the registry row, so the registry can be rebuilt from the folders
        id/, motor/            run folders written by motor.runs.save_run (LoadedRun.load reads them)
      uploads/<session>/<name>/ datasets uploaded in one browser session (validated before kept)

No Streamlit here: tests and the benchmark use it directly. Run ids are unique (time + random
suffix) and folders are created with ``exist_ok=False``, so two sessions never overwrite each
other's runs; a run is registered only after all its folders are complete.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import sqlite3
import time
from contextlib import closing
from dataclasses import asdict, dataclass, field
from pathlib import Path

from motor.errors import MotorError

VARIANT_LABELS = {"id": "ID", "motor": "MOTOR"}

SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    run_id     TEXT PRIMARY KEY,
    created    REAL NOT NULL,
    status     TEXT NOT NULL,
    label      TEXT NOT NULL,
    dataset    TEXT NOT NULL,
    data       TEXT NOT NULL,
    backbone   TEXT NOT NULL,
    variants   TEXT NOT NULL,
    settings   TEXT NOT NULL,
    headline   TEXT NOT NULL,
    seconds    REAL,
    session    TEXT,
    message    TEXT
)
"""


def default_home() -> Path:
    return Path(os.environ.get("MOTOR_LAB_HOME") or Path.home() / ".motor-lab").expanduser()


@dataclass
class RunRecord:
    """One finished run as the registry lists it."""

    run_id: str
    created: float
    label: str
    dataset: str
    data: str  # DataConfig.data: 'demo' or the dataset folder
    backbone: str
    variants: list[str]  # 'id', 'motor' in training order
    settings: dict  # the app settings the run was started with (plus the full configs in the folders)
    headline: dict  # variant -> {'recall@20': .., 'ndcg@20': .., ...}
    status: str = "done"  # 'done' (all variants trained to the end or early-stopped)
    seconds: float | None = None
    session: str = ""
    message: str = ""
    path: Path | None = field(default=None, compare=False)

    def folder(self, variant: str) -> Path:
        return Path(self.path) / variant

    def title(self) -> str:
        when = time.strftime("%Y-%m-%d %H:%M", time.localtime(self.created))
        return f"{self.label} · {when}"

    def to_json(self) -> dict:
        d = asdict(self)
        d.pop("path")
        return d


def new_run_id() -> str:
    return time.strftime("%Y%m%d-%H%M%S") + "-" + secrets.token_hex(3)


class Workspace:
    """Run folders and the registry under one home directory (created on first use)."""

    def __init__(self, home: Path | str | None = None):
        self.home = Path(home).expanduser() if home else default_home()
        self.runs_dir = self.home / "runs"
        self.uploads_dir = self.home / "uploads"
        self.db_path = self.home / "registry.sqlite"
        try:
            self.runs_dir.mkdir(parents=True, exist_ok=True)
            self.uploads_dir.mkdir(parents=True, exist_ok=True)
            with closing(self._connect()) as db, db:
                db.execute(SCHEMA)
        except (OSError, sqlite3.Error) as e:
            raise MotorError(f"cannot use the workspace folder {self.home} ({e}); set MOTOR_LAB_HOME to a "
                             "writable folder") from None

    def _connect(self) -> sqlite3.Connection:
        db = sqlite3.connect(self.db_path, timeout=30)
        db.execute("PRAGMA journal_mode=WAL")
        return db

    # --- run folders ----------------------------------------------------------------------

    def new_run_folder(self) -> tuple[str, Path]:
        """A fresh, unique run id and its (empty) folder."""
        for _ in range(20):
            run_id = new_run_id()
            folder = self.runs_dir / run_id
            try:
                folder.mkdir(parents=True, exist_ok=False)
                return run_id, folder
            except FileExistsError:
                continue
        raise MotorError(f"could not create a new run folder in {self.runs_dir}")

    def discard(self, folder: Path) -> None:
        """Remove an unfinished run folder (only ever one this workspace created and did not register)."""
        folder = Path(folder)
        if folder.parent == self.runs_dir and not (folder / "run.json").exists():
            shutil.rmtree(folder, ignore_errors=True)

    # --- registry -------------------------------------------------------------------------

    def register(self, rec: RunRecord) -> RunRecord:
        """Record a finished run: run.json in its folder first, then the registry row."""
        rec.path = self.runs_dir / rec.run_id
        tmp = rec.path / "run.json.tmp"
        tmp.write_text(json.dumps(rec.to_json(), indent=2))
        os.replace(tmp, rec.path / "run.json")
        self._insert(rec)
        return rec

    def _insert(self, rec: RunRecord) -> None:
        with closing(self._connect()) as db, db:
            db.execute(
                "INSERT OR REPLACE INTO runs (run_id, created, status, label, dataset, data, backbone, variants, "
                "settings, headline, seconds, session, message) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
                (rec.run_id, rec.created, rec.status, rec.label, rec.dataset, rec.data, rec.backbone,
                 json.dumps(rec.variants), json.dumps(rec.settings), json.dumps(rec.headline), rec.seconds,
                 rec.session, rec.message))

    def _row(self, row) -> RunRecord:
        (run_id, created, status, label, dataset, data, backbone, variants, settings, headline, seconds,
         session, message) = row
        return RunRecord(run_id, created, label, dataset, data, backbone, json.loads(variants), json.loads(settings),
                         json.loads(headline), status, seconds, session or "", message or "",
                         self.runs_dir / run_id)

    def runs(self) -> list[RunRecord]:
        """Every registered run whose folder still exists, newest first."""
        with closing(self._connect()) as db:
            rows = db.execute("SELECT run_id, created, status, label, dataset, data, backbone, variants, settings, "
                              "headline, seconds, session, message FROM runs ORDER BY created DESC").fetchall()
        return [r for r in map(self._row, rows) if (r.path / "run.json").exists()]

    def get(self, run_id: str) -> RunRecord:
        with closing(self._connect()) as db:
            row = db.execute("SELECT run_id, created, status, label, dataset, data, backbone, variants, settings, "
                             "headline, seconds, session, message FROM runs WHERE run_id = ?", (run_id,)).fetchone()
        if row is None or not (self.runs_dir / run_id / "run.json").exists():
            raise MotorError(f"run {run_id} is not in the workspace {self.home} (deleted?); pick another run")
        return self._row(row)

    def delete(self, run_id: str) -> None:
        with closing(self._connect()) as db, db:
            db.execute("DELETE FROM runs WHERE run_id = ?", (run_id,))
        folder = self.runs_dir / run_id
        if folder.parent == self.runs_dir and folder.exists():
            shutil.rmtree(folder, ignore_errors=True)

    def rebuild(self) -> int:
        """Register run folders that have run.json but no registry row (e.g. after the database was lost)."""
        known = {r.run_id for r in self.runs()}
        added = 0
        for f in sorted(self.runs_dir.glob("*/run.json")):
            if f.parent.name in known:
                continue
            try:
                d = json.loads(f.read_text())
                self._insert(RunRecord(**d))
                added += 1
            except (ValueError, TypeError):
                continue
        return added

    # --- uploads --------------------------------------------------------------------------

    def session_uploads(self, session: str) -> Path:
        """This browser session's upload area (other sessions never see it)."""
        if not session or not all(c.isalnum() or c in "-_" for c in session):
            raise MotorError(f"invalid session id {session!r}")
        folder = self.uploads_dir / session
        folder.mkdir(parents=True, exist_ok=True)
        return folder

    def uploaded_datasets(self, session: str) -> list[Path]:
        folder = self.uploads_dir / session
        if not folder.exists():
            return []
        return sorted((p for p in folder.iterdir() if p.is_dir() and not p.name.startswith(".")),
                      key=lambda p: p.stat().st_mtime, reverse=True)
