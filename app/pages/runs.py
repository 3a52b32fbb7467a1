"""Runs: every finished run in the workspace, with its settings and headline figures; open or delete."""

from __future__ import annotations

import json
import time

import pandas as pd
import streamlit as st

from app import state, ui
from app.workspace import VARIANT_LABELS

CAPTION = ("Every finished run is kept in the workspace (run folders plus a SQLite registry), across app restarts. "
           "Open one to look at it on every explore page without retraining.")


def body():
    ws = state.workspace()
    runs = ws.runs()
    st.caption(f"Workspace: `{ws.home}` (set MOTOR_LAB_HOME to use another folder)")
    if not runs:
        ui.no_run_yet()
    rows = []
    for r in runs:
        row = {"run": r.run_id, "trained": time.strftime("%Y-%m-%d %H:%M", time.localtime(r.created)),
               "dataset": r.dataset, "backbone": r.backbone,
               "models": " + ".join(VARIANT_LABELS[v] for v in r.variants),
               "epochs": r.settings.get("train.epochs", r.settings.get("epochs")),  # older registries: flat names
               "cold items": r.settings.get("split.cold_items", r.settings.get("cold_items")),
               "seconds": round(r.seconds or 0)}
        for v in r.variants:
            h = r.headline.get(v, {})
            row[f"{VARIANT_LABELS[v]} Recall@20"] = h.get("recall@20")
            row[f"{VARIANT_LABELS[v]} NDCG@20"] = h.get("ndcg@20")
            row[f"{VARIANT_LABELS[v]} item params"] = h.get("item_side")
        rows.append(row)
    df = pd.DataFrame(rows)
    active = state.active_run()
    st.dataframe(df, hide_index=True, width="stretch",
                 column_config={c: st.column_config.NumberColumn(c, format="%.4f") for c in df.columns
                                if "Recall" in c or "NDCG" in c})
    by_id = {r.run_id: r for r in runs}
    ids = list(by_id)
    if st.session_state.get("w:runs_pick") not in ids:
        st.session_state["w:runs_pick"] = active.run_id if active else ids[0]
    pick = st.selectbox("Run", ids, key="w:runs_pick",
                        format_func=lambda i: f"{by_id[i].title()} ({i})")
    r = by_id[pick]
    c1, c2, _ = st.columns([1, 1, 3])
    if c1.button("Open on every page", type="primary", icon=":material/open_in_new:",
                 disabled=active is not None and active.run_id == pick):
        state.set_active_run(pick)
        st.rerun()
    confirm = c2.checkbox("Allow deleting", key="w:runs_confirm")
    if c2.button("Delete this run", icon=":material/delete:", disabled=not confirm):
        ws.delete(pick)
        if st.session_state.get("run_id") == pick:
            st.session_state.pop("run_id", None)
        st.session_state.pop("w:runs_confirm", None)
        st.rerun()
    if active is not None and active.run_id == pick:
        st.success("This run is open on the explore pages.", icon=":material/check_circle:")
    with st.expander("Settings of this run"):
        st.code(json.dumps(r.settings, indent=2), language="json")
        if r.message:
            st.caption(r.message)


ui.page("Runs", CAPTION, body)
