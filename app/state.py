"""Process-wide resources (workspace, datasets, loaded runs, jobs, layout worker) and session state.

``st.cache_resource`` keeps one object per server process, shared by all sessions: datasets
and loaded runs are read-only after loading; the job registry and the layout worker are
thread-safe. Everything a session owns (its id, chosen dataset, settings, active run) lives in
``st.session_state``, and is written to the workspace after each page (``session_memory``) so that a
reload finds it again.

A session's identity survives a reload: on the first visit it gets a random token that is put
in the address (``?session=...``); a reload, a bookmark or a restarted server with that address
is the same session, with its uploads and runs, the dataset it had open, its Train settings, its active
run and (same server process) its training job. The workspace stores only a hash of the token
(``session_id``), so folder names and run records never reveal it.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import secrets
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import streamlit as st

if TYPE_CHECKING:  # app.jobs and app.settings import torch (seconds): only pages that train or map need them
    from app.jobs import JobRegistry, TrainJob
    from app.layouts import LayoutWorker

from app import session_memory
from app.workspace import RunRecord, Workspace, default_home
from motor.errors import MotorError

DEMO = {"data": "demo"}
LONGTAIL = {"data": "demo-longtail"}
# the datasets shipped with motor-lab (read-only, the same for every session), by name, with their sidebar label
BUNDLED = {"demo": "demo (MovieLens sample)", "demo-longtail": "demo-longtail (all of MovieLens latest-small)"}
TOKEN_PARAM = "session"
_TOKEN = re.compile(r"^[A-Za-z0-9_-]{16,64}$")


# --- process-wide ---------------------------------------------------------------------------


@st.cache_resource(show_spinner=False)
def _workspace(home: str) -> Workspace:
    ws = Workspace(home)
    ws.rebuild()
    return ws


def workspace() -> Workspace:
    return _workspace(str(default_home()))


@st.cache_resource(show_spinner=False)
def jobs() -> JobRegistry:
    from app.jobs import JobRegistry

    return JobRegistry()


@st.cache_resource(show_spinner=False, on_release=lambda w: w.close())
def layout_worker() -> LayoutWorker:
    from app.layouts import LayoutWorker

    return LayoutWorker(warmup=os.environ.get("MOTOR_LAB_UMAP_WARMUP", "1") != "0")


def _stamp(data: str) -> str:
    """Changes when a dataset folder's files change (so an edited folder is read again)."""
    if data in BUNDLED:
        return data
    p = Path(data)
    if not p.exists():
        return "missing"
    files = [p] if p.is_file() else sorted(x for x in p.iterdir() if x.is_file())
    return ";".join(f"{f.name}:{f.stat().st_size}:{f.stat().st_mtime_ns}" for f in files)


@st.cache_resource(show_spinner="Reading the dataset...", max_entries=6)
def _dataset(config_json: str, stamp: str):
    from motor.config import from_dict
    from motor.data.load import DataConfig, load_dataset

    return load_dataset(from_dict(DataConfig, json.loads(config_json)))  # stamp: part of the cache key only


def normalise_data_config(data_config: dict) -> dict:
    """Every DataConfig field spelled out, so equal settings share one cache entry."""
    from motor.config import from_dict, to_dict
    from motor.data.load import DataConfig

    return to_dict(from_dict(DataConfig, data_config))


def dataset(data_config: dict):
    """The dataset described by a DataConfig dict (cached; MotorError if it cannot be read)."""
    cfg = normalise_data_config(data_config)
    return _dataset(json.dumps(cfg, sort_keys=True), _stamp(cfg["data"]))


@st.cache_resource(show_spinner="Loading the trained models...", max_entries=8)
def _loaded_run(folder: str, mtime: int):
    from motor.runs import LoadedRun, RunHints

    cfg = json.loads((Path(folder) / "config.json").read_text())
    data = cfg.get("data", DEMO)
    # a damaged run's message said "python -m motor train ... --out <this server's folder>"
    hints = RunHints(damaged="pick another run (sidebar), or train one again on the Train page")
    return LoadedRun.load(folder, dataset=dataset(data), hints=hints)


def loaded_run(folder: Path):
    """A saved run folder, loaded once per process (``LoadedRun``)."""
    f = Path(folder)
    if not (f / "model.safetensors").exists():
        raise MotorError(f"the run folder {f} is incomplete or was deleted; pick another run")
    return _loaded_run(str(f), (f / "model.safetensors").stat().st_mtime_ns)


def run_models(rec: RunRecord) -> dict:
    """variant -> LoadedRun for every variant of a registered run, 'motor' first."""
    order = sorted(rec.variants, key=lambda v: v != "motor")
    return {v: loaded_run(rec.folder(v)) for v in order}


# --- per session ----------------------------------------------------------------------------


def session_token() -> str:
    """This session's secret token, kept in the address so that a reload is the same session."""
    tok = st.session_state.get("token")
    if tok is None:
        given = st.query_params.get(TOKEN_PARAM)
        tok = given if given and _TOKEN.match(given) else secrets.token_urlsafe(18)
        st.session_state["token"] = tok
    if st.query_params.get(TOKEN_PARAM) != tok:  # first visit, or a page switch dropped it
        st.query_params[TOKEN_PARAM] = tok
    return tok


def owner_of(token: str) -> str:
    """The id the workspace stores for a token (uploads folder, run owner): a hash, not the secret."""
    return hashlib.sha256(token.encode()).hexdigest()[:20]


def session_id() -> str:
    if "sid" not in st.session_state:
        st.session_state["sid"] = owner_of(session_token())
    session_token()
    return st.session_state["sid"]


def restore_session() -> None:
    """Once per browser session: what this session had open before a reload or a restart (session_memory)."""
    try:
        session_memory.restore(workspace(), session_id(), st.session_state, BUNDLED)
    except MotorError:  # an unusable workspace is reported by the pages
        pass


def remember_session() -> None:
    """After each page: keep what this session has open now, for its next reload."""
    try:
        session_memory.save(workspace(), session_id(), st.session_state)
    except MotorError:
        pass


def data_config() -> dict:
    return st.session_state.setdefault("data_config", dict(DEMO))


def set_data_config(cfg: dict) -> None:
    st.session_state["data_config"] = dict(cfg)


def settings(ds=None) -> dict:
    """This session's Train settings, fitted to the dataset's modalities when one is given."""
    from app.settings import adopt_saved, default_settings, fit_settings

    s = st.session_state.get("settings")
    if s is None:
        s = default_settings()
        saved = st.session_state.pop(session_memory.SETTINGS, None)  # from before a reload
        if saved is not None:
            adopted = adopt_saved(s, saved, ds, data_config())
            if adopted is None:
                st.session_state["settings_dropped"] = True
            else:
                s = adopted
    if ds is not None:
        s = fit_settings(s, {m.name: m.dim for m in ds.modalities.values()}, ds.n_items)
    st.session_state["settings"] = s
    return s


def runs() -> list[RunRecord]:
    """The runs this session may see: its own and those shared with everyone, newest first."""
    return workspace().runs(session_id())


def active_run() -> RunRecord | None:
    """The run the explore pages show: the session's choice, else its newest visible run."""
    ws = workspace()
    rid = st.session_state.get("run_id")
    if rid:
        try:
            return ws.get(rid, session_id())
        except MotorError:
            st.session_state.pop("run_id", None)
            st.session_state["run_gone"] = rid
    visible = runs()
    if visible:
        st.session_state["run_id"] = visible[0].run_id
        return visible[0]
    return None


def set_active_run(run_id: str) -> None:
    st.session_state["run_id"] = run_id


def current_job() -> TrainJob | None:
    """This session's job; after a reload (the page forgot its id) the newest job the session started."""
    if st.session_state.get("job_id"):
        return jobs().get(st.session_state["job_id"])
    if "app.jobs" not in sys.modules:  # no job ever started in this process (and no torch import for the 1st page)
        return None
    try:
        home = workspace().home
    except MotorError:  # an unusable workspace holds no job; the pages say what is wrong with it
        return None
    job = jobs().latest(session_id(), home)
    if job is not None:  # a job whose end the session saw before the reload is in its restored jobs_seen
        st.session_state["job_id"] = job.run_id
    return job


def sync_finished_job() -> None:
    """Once per finished job of this session: open its run on every page (called in full runs only)."""
    job = current_job()
    seen = st.session_state.setdefault("jobs_seen", set())
    if job is not None and job.done and job.run_id not in seen:
        seen.add(job.run_id)
        if job.status == "done":
            set_active_run(job.run_id)
