"""motor-lab: the interactive MOTOR demo. Start it with ``bash scripts/start.sh``
(or ``streamlit run streamlit_app.py``).

This file only sets up the page frame: navigation, the sidebar (dataset, active run, a running
job) and the background layout worker. Each page lives in ``app/pages/``; the analyses they
show live in ``motor/`` (``motor.explore`` above all), so the app stays a thin layer.
"""

from __future__ import annotations

import logging
from pathlib import Path

import motor  # noqa: F401  (OpenMP policy before torch/faiss are imported)

# isort: split
import streamlit as st

from app import state, ui

ROOT = Path(__file__).resolve().parent

logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")

# a local file: a ':material/...:' icon makes the browser fetch the favicon from fonts.gstatic.com,
# and the app must make no outside request
st.set_page_config(page_title="motor-lab · MOTOR demo", page_icon=str(ROOT / "assets" / "favicon.png"),
                   layout="wide")

PAGES = {
    "Set up": [
        st.Page("app/pages/data.py", title="Data", icon=":material/database:", url_path="data", default=True),
        st.Page("app/pages/train.py", title="Train", icon=":material/model_training:", url_path="train"),
    ],
    "Learn": [
        st.Page("app/pages/how.py", title="How MOTOR works", icon=":material/school:", url_path="how"),
        st.Page("app/pages/new_item.py", title="New item", icon=":material/add_circle:", url_path="new-item"),
    ],
    "Explore a run": [
        st.Page("app/pages/tokens.py", title="Tokens", icon=":material/scatter_plot:", url_path="tokens"),
        st.Page("app/pages/attention.py", title="Attention", icon=":material/grid_on:", url_path="attention"),
        st.Page("app/pages/recommend.py", title="Recommend", icon=":material/recommend:", url_path="recommend"),
        st.Page("app/pages/compare.py", title="Compare", icon=":material/compare_arrows:", url_path="compare"),
        st.Page("app/pages/compare_runs.py", title="Compare runs", icon=":material/stacked_bar_chart:",
                url_path="compare-runs"),
        st.Page("app/pages/runs.py", title="Runs", icon=":material/history:", url_path="runs"),
    ],
}

nav = st.navigation(PAGES)
state.session_id()
state.restore_session()
state.sync_finished_job()


def sidebar() -> None:
    with st.sidebar:
        st.markdown("**MOTOR** · items as shared multimodal tokens instead of one ID embedding each")
        cfg = state.data_config()
        name = state.BUNDLED.get(cfg.get("data"), Path(cfg["data"]).name)
        st.caption(f"Dataset: **{name}**")
        try:
            runs = state.runs()
        except Exception as e:  # an unusable workspace is reported by the pages; keep the sidebar drawable
            st.caption(f"Workspace unavailable: {e}")
            return
        current = state.active_run()  # also notes a run deleted since the last rerun (run_gone), runs left or not
        if runs:
            ids = [r.run_id for r in runs]
            names = ui.run_names(runs)
            if st.session_state.get("w:active_run") not in ids or (
                    current is not None and st.session_state.get("w:active_run") != current.run_id):
                st.session_state["w:active_run"] = current.run_id if current else ids[0]

            def changed():
                state.set_active_run(st.session_state["w:active_run"])

            st.selectbox("Active run (explore pages)", ids, key="w:active_run", on_change=changed,
                         format_func=names.get,
                         help="backbone · models · dataset · regime when not all data ('train 10%': the training "
                              "fraction, 'cold 20%': items held out as new) · trained")
        else:
            st.caption("No trained runs yet: train one on the Train page.")
        gone = st.session_state.pop("run_gone", None)
        if gone:
            st.caption(f":material/info: The run you had open ({gone}) was deleted or is no longer shared with you; " +
                       ("the newest run you can see is open now." if current else "no run is left to open."))
        data_gone = st.session_state.pop("data_gone", None)
        if data_gone:
            st.caption(f":material/info: The dataset you had open ({data_gone}) was deleted or is no longer shared "
                       "with you; the demo is open instead.")
        st.toggle("Presentation mode", key="present",
                  help="For teaching: larger type, taller figures (about one per screen), no captions.")
        job = state.current_job()
        if job is not None and not job.done:
            st.progress(job.fraction(), text=f"Training {job.label}: {job.fraction():.0%}")


sidebar()
ui.presentation_mode()
try:
    nav.run()
finally:
    state.remember_session()
    # once per server process: UMAP warm-up, then maps on request. After the page, because it imports torch
    # (seconds) that the first page does not need
    state.layout_worker()
