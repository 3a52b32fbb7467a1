"""The app's workspace on disk: run folders, per-session uploads, and a SQLite run registry.

    $MOTOR_LAB_HOME (default ~/.motor-lab)
      registry.sqlite          one row per finished run (settings, headline metrics, owner, shared)
                               and one per uploaded dataset (owner, shared)
      runs/<run_id>/           one run = the variants trained together on the same split
        run.json               the registry row, so the registry can be rebuilt from the folders
        id/, motor/            run folders written by motor.runs.save_run (LoadedRun.load reads them)
      runs/<name>/             a run folder of `python -m motor train --out <home>/runs/<name>`: adopted
                               on the next listing (run.json added), owned by no session
      uploads/<session>/<name>/ datasets uploaded in one browser session (validated before kept)

Ownership: every run and upload belongs to the session that made it (``owner``: a hash of the
session's secret token, never the token itself). A viewer lists and opens its own and those
their owner shared; only the owner may share, unshare or delete. Runs registered outside the
app (no owner) are visible to every session and deletable by none. ``viewer=None`` (tests, the
benchmark, ``rebuild``) sees everything.

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
from motor.run_folder import RUN_FILES

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
    message    TEXT,
    shared     INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS uploads (
    folder     TEXT PRIMARY KEY,
    owner      TEXT NOT NULL,
    name       TEXT NOT NULL,
    created    REAL NOT NULL,
    shared     INTEGER NOT NULL DEFAULT 0
);
"""
RUN_COLUMNS = ("run_id, created, status, label, dataset, data, backbone, variants, settings, headline, seconds, "
               "session, message, shared")


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
    session: str = ""  # the owner (see the module docstring); '' = registered outside the app
    message: str = ""
    shared: bool = False  # the owner shared it with every session
    path: Path | None = field(default=None, compare=False)

    def visible_to(self, viewer: str | None) -> bool:
        return viewer is None or not self.session or self.session == viewer or self.shared

    def owned_by(self, viewer: str | None) -> bool:
        return viewer is not None and bool(self.session) and self.session == viewer

    def folder(self, variant: str) -> Path:
        """The variant's run folder: ``<run>/<variant>`` for the app's runs; the run folder itself for a
        run trained outside the app (``python -m motor train --out``: one variant, config.json at its top)."""
        if (Path(self.path) / "config.json").exists():
            return Path(self.path)
        return Path(self.path) / variant

    def title(self) -> str:
        when = time.strftime("%Y-%m-%d %H:%M", time.localtime(self.created))
        return f"{self.label} · {when}"

    def to_json(self) -> dict:
        d = asdict(self)
        d.pop("path")
        return d


@dataclass
class UploadRecord:
    """One uploaded dataset folder and who may see it."""

    folder: Path
    owner: str
    name: str
    created: float
    shared: bool = False

    def owned_by(self, viewer: str | None) -> bool:
        return viewer is not None and self.owner == viewer


def headline(metrics: dict) -> dict:
    """The figures the run list shows for one variant."""
    t, p = metrics.get("test", {}), metrics.get("params", {})
    out = {k: t.get(k) for k in ("recall@10", "recall@20", "ndcg@10", "ndcg@20")}
    out["item_side"] = p.get("item_side")
    out["best_epoch"] = metrics.get("best_epoch")
    if metrics.get("cold"):
        out["cold recall@20"] = metrics["cold"].get("recall@20")
    return out


# RunConfig paths listed for a run trained outside the app (as the Train form names them)
OUTSIDE_SETTINGS = ("backbone", "train.epochs", "train.lr", "train.seed", "train.batch_size", "split.cold_items",
                    "split.train_fraction")


def outside_record(folder: Path) -> RunRecord | None:
    """A registry record for a finished run folder written by ``python -m motor train --out`` (one item
    representation, no owner: every session may open it, none may delete it); None if it is not one."""
    if folder.name.endswith(".partial") or not all((folder / f).is_file() for f in RUN_FILES):
        return None
    try:
        cfg = json.loads((folder / "config.json").read_text())
        metrics = json.loads((folder / "metrics.json").read_text())
        info = json.loads((folder / "dataset.json").read_text())
    except (OSError, ValueError):
        return None
    items = str(cfg.get("items", metrics.get("items", "id")))
    if items not in VARIANT_LABELS:
        return None

    def get(path: str):
        node = cfg
        for part in path.split("."):
            node = node.get(part) if isinstance(node, dict) else None
        return node

    dataset = str(info.get("name") or metrics.get("dataset") or "?")
    return RunRecord(folder.name, (folder / "model.safetensors").stat().st_mtime,
                     f"{cfg.get('backbone', '?')} · {VARIANT_LABELS[items]} · {dataset} (command line)", dataset,
                     str((cfg.get("data") or {}).get("data", info.get("data", ""))), str(cfg.get("backbone", "?")),
                     [items], {"variants": items, **{p: get(p) for p in OUTSIDE_SETTINGS}},
                     {items: headline(metrics)}, "done", metrics.get("seconds"), "",
                     "trained outside the app (python -m motor train)")


def valid_owner(owner: str) -> str:
    if not owner or len(owner) > 64 or not all(c.isalnum() or c in "-_" for c in owner):
        raise MotorError(f"invalid session id {owner!r}")
    return owner


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
                db.executescript(SCHEMA)
                columns = {r[1] for r in db.execute("PRAGMA table_info(runs)")}
                if "shared" not in columns:  # a registry from before sharing existed
                    db.execute("ALTER TABLE runs ADD COLUMN shared INTEGER NOT NULL DEFAULT 0")
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
        self._write_json(rec)
        self._insert(rec)
        return rec

    def _write_json(self, rec: RunRecord) -> None:
        tmp = rec.path / f"run.json.{secrets.token_hex(4)}.tmp"  # two sessions may adopt one folder at once
        tmp.write_text(json.dumps(rec.to_json(), indent=2))
        os.replace(tmp, rec.path / "run.json")

    def _insert(self, rec: RunRecord) -> None:
        with closing(self._connect()) as db, db:
            db.execute(
                f"INSERT OR REPLACE INTO runs ({RUN_COLUMNS}) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                (rec.run_id, rec.created, rec.status, rec.label, rec.dataset, rec.data, rec.backbone,
                 json.dumps(rec.variants), json.dumps(rec.settings), json.dumps(rec.headline), rec.seconds,
                 rec.session, rec.message, int(bool(rec.shared))))

    def _row(self, row) -> RunRecord:
        (run_id, created, status, label, dataset, data, backbone, variants, settings, headline, seconds,
         session, message, shared) = row
        return RunRecord(run_id, created, label, dataset, data, backbone, json.loads(variants), json.loads(settings),
                         json.loads(headline), status, seconds, session or "", message or "", bool(shared),
                         self.runs_dir / run_id)

    def runs(self, viewer: str | None = None) -> list[RunRecord]:
        """The registered runs ``viewer`` may see (all when None) whose folder still exists, newest first."""
        self.adopt_outside_runs()
        with closing(self._connect()) as db:
            rows = db.execute(f"SELECT {RUN_COLUMNS} FROM runs ORDER BY created DESC").fetchall()
        return [r for r in map(self._row, rows) if r.visible_to(viewer) and (r.path / "run.json").exists()]

    def get(self, run_id: str, viewer: str | None = None) -> RunRecord:
        with closing(self._connect()) as db:
            row = db.execute(f"SELECT {RUN_COLUMNS} FROM runs WHERE run_id = ?", (run_id,)).fetchone()
        rec = None if row is None else self._row(row)
        # a run another session did not share reads exactly like a missing one: nothing about it leaks
        if rec is None or not rec.visible_to(viewer) or not (self.runs_dir / run_id / "run.json").exists():
            raise MotorError(f"run {run_id} is not in the workspace {self.home} (deleted?); pick another run")
        return rec

    def _owned(self, run_id: str, viewer: str | None, what: str) -> RunRecord:
        rec = self.get(run_id, viewer)
        if viewer is not None and not rec.owned_by(viewer):
            raise MotorError(f"only the session that trained run {run_id} can {what} it")
        return rec

    def delete(self, run_id: str, viewer: str | None = None) -> None:
        """Delete a run (its folder and row); a viewer may delete only its own runs (so no session deletes a
        run trained outside the app)."""
        self._owned(run_id, viewer, "delete")
        with closing(self._connect()) as db, db:
            db.execute("DELETE FROM runs WHERE run_id = ?", (run_id,))
        folder = self.runs_dir / run_id
        if folder.parent == self.runs_dir and folder.exists():
            shutil.rmtree(folder, ignore_errors=True)

    def share(self, run_id: str, viewer: str | None, shared: bool) -> RunRecord:
        """Share a run with every session (or take the share back); only its owner may."""
        rec = self._owned(run_id, viewer, "share")
        rec.shared = bool(shared)
        self._write_json(rec)  # so a rebuilt registry keeps the choice
        with closing(self._connect()) as db, db:
            db.execute("UPDATE runs SET shared = ? WHERE run_id = ?", (int(rec.shared), run_id))
        return rec

    def adopt_outside_runs(self) -> int:
        """Register the run folders that ``python -m motor train --out <home>/runs/NAME`` wrote (no run.json
        yet): listed and opened by every session, deleted by none (no owner). Cheap: a look at each folder."""
        added = 0
        try:
            folders = [f for f in self.runs_dir.iterdir() if f.is_dir() and not (f / "run.json").exists()]
        except OSError:
            return 0
        for f in folders:
            rec = outside_record(f)
            if rec is not None:
                self.register(rec)
                added += 1
        return added

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

    def session_uploads(self, owner: str) -> Path:
        """The owner's upload area (not created here: only a kept upload creates it)."""
        return self.uploads_dir / valid_owner(owner)

    def register_upload(self, folder: Path, owner: str, shared: bool = False,
                        created: float | None = None) -> UploadRecord:
        """Record a kept upload (its folder lies in the owner's area)."""
        folder = Path(folder)
        if folder.parent != self.session_uploads(owner):
            raise MotorError(f"{folder} is not in the upload area of session {owner}")
        rec = UploadRecord(folder, owner, folder.name, time.time() if created is None else created, bool(shared))
        with closing(self._connect()) as db, db:
            db.execute("INSERT OR REPLACE INTO uploads (folder, owner, name, created, shared) VALUES (?,?,?,?,?)",
                       (str(folder), owner, rec.name, rec.created, int(rec.shared)))
        return rec

    def uploads(self, viewer: str | None = None) -> list[UploadRecord]:
        """Uploads ``viewer`` may open (its own, then those shared by others; all when None), newest first."""
        self._register_upload_folders()
        with closing(self._connect()) as db:
            rows = db.execute("SELECT folder, owner, name, created, shared FROM uploads ORDER BY created DESC"
                              ).fetchall()
        recs = [UploadRecord(Path(f), o, n, c, bool(s)) for f, o, n, c, s in rows]
        recs = [r for r in recs if r.folder.is_dir() and (viewer is None or r.owner == viewer or r.shared)]
        return sorted(recs, key=lambda r: not r.owned_by(viewer))  # stable: newest first within each group

    def share_upload(self, folder: Path, viewer: str, shared: bool) -> None:
        with closing(self._connect()) as db, db:
            n = db.execute("UPDATE uploads SET shared = ? WHERE folder = ? AND owner = ?",
                           (int(bool(shared)), str(folder), viewer)).rowcount
        if n != 1:
            raise MotorError(f"only the session that uploaded {Path(folder).name} can share it")

    def _register_upload_folders(self) -> None:
        """Upload folders on disk without a row (e.g. a lost database) belong to the area they lie in."""
        with closing(self._connect()) as db:
            known = {r[0] for r in db.execute("SELECT folder FROM uploads")}
        for area in self.uploads_dir.iterdir() if self.uploads_dir.exists() else []:
            if not area.is_dir():
                continue
            for p in area.iterdir():
                if p.is_dir() and not p.name.startswith(".") and str(p) not in known:
                    try:
                        self.register_upload(p, area.name, created=p.stat().st_mtime)
                    except MotorError:
                        continue

    def uploaded_datasets(self, owner: str) -> list[Path]:
        """The owner's own upload folders, newest first."""
        return [r.folder for r in self.uploads(owner) if r.owned_by(owner)]
