"""Runs: every finished run in the workspace, with its settings and headline figures; open or delete."""

from __future__ import annotations

import json
import time

import pandas as pd
import streamlit as st

from app import state, ui
from app.workspace import VARIANT_LABELS
from motor.run_notes import stop_note, training_end

CAPTION = ("Every finished run is kept in the workspace (run folders plus a SQLite registry), across app restarts. "
           "Open one to look at it on every explore page without retraining.")


def _metrics(r) -> dict:
    """variant -> metrics.json of a run (variants whose file is unreadable are left out)."""
    out = {}
    for v in r.variants:
        try:
            out[v] = json.loads((r.folder(v) / "metrics.json").read_text())
        except (OSError, ValueError):
            continue
    return out


def _owner(r, me: str) -> str:
    if r.owned_by(me):
        return "you, shared" if r.shared else "you"
    return "shared with you" if r.session else "made outside the app"


def _share(run_id: str, key: str) -> None:
    state.workspace().share(run_id, state.session_id(), bool(st.session_state[key]))


def body():
    ws = state.workspace()
    me = state.session_id()
    runs = state.runs()
    st.caption(f"Workspace: `{ws.home}` (set MOTOR_LAB_HOME to use another folder). You see your own runs, "
               "those other sessions shared, and runs trained on the command line into its runs folder "
               f"(`python -m motor train --out {ws.runs_dir}/NAME`, read-only here); keep this page's address to "
               "come back to yours.")
    if not runs:
        ui.no_run_yet()
    rows = []
    for r in runs:
        row = {"run": r.run_id, "owner": _owner(r, me),
               "trained": time.strftime("%m-%d %H:%M", time.localtime(r.created)),
               "dataset": r.dataset, "backbone": r.backbone,
               "epochs": r.settings.get("train.epochs", r.settings.get("epochs")),  # older registries: flat names
               "cold items": r.settings.get("split.cold_items", r.settings.get("cold_items")),
               "train fraction": r.settings.get("split.train_fraction", 1.0),
               "seconds": round(r.seconds or 0)}
        for v in r.variants:
            h = r.headline.get(v, {})
            row[f"{VARIANT_LABELS[v]} Recall@20"] = h.get("recall@20")
            row[f"{VARIANT_LABELS[v]} NDCG@20"] = h.get("ndcg@20")
            row[f"{VARIANT_LABELS[v]} item params"] = h.get("item_side")
        rows.append(row)
    df = pd.DataFrame(rows)
    active = state.active_run()
    # short headers and narrow columns: the whole table fits a laptop screen (the run id stays pinned)
    config = {c: st.column_config.NumberColumn(c.replace("Recall", "R").replace("NDCG", "N"), format="%.4f",
                                               width="small", help=f"test {c.split()[1]} of the {c.split()[0]} model")
              for c in df.columns if "Recall" in c or "NDCG" in c}
    config.update({c: st.column_config.NumberColumn(c.replace("item params", "params"), width="small",
                                                    help="item-side parameters") for c in df.columns
                   if c.endswith("item params")})
    config.update({"run": st.column_config.TextColumn("run", pinned=True),
                   "owner": st.column_config.TextColumn("owner", width="small"),
                   "dataset": st.column_config.TextColumn("dataset", width="small"),
                   "backbone": st.column_config.TextColumn("backbone", width="small"),
                   "trained": st.column_config.TextColumn("trained", width="small"),
                   "epochs": st.column_config.NumberColumn("epochs", width="small"),
                   "cold items": st.column_config.NumberColumn("cold", width="small"),
                   "train fraction": st.column_config.NumberColumn("train F", width="small",
                                                                   help="training fraction (split.train_fraction)"),
                   "seconds": st.column_config.NumberColumn("s", width="small", help="training seconds")})
    st.dataframe(df, hide_index=True, width="stretch", column_config=config)
    by_id = {r.run_id: r for r in runs}
    ids = list(by_id)
    if st.session_state.get("w:runs_pick") not in ids:
        st.session_state["w:runs_pick"] = active.run_id if active else ids[0]
    pick = st.selectbox("Run", ids, key="w:runs_pick",
                        format_func=lambda i: f"{ui.run_name(by_id[i])} ({i})")
    r = by_id[pick]
    c1, c2, c3 = st.columns([1, 1, 2])
    if c1.button("Open on every page", type="primary", icon=":material/open_in_new:",
                 disabled=active is not None and active.run_id == pick):
        state.set_active_run(pick)
        st.rerun()
    mine = r.owned_by(me)
    # one permission per run (its id in the key): another pick, or the run left after a delete, is a new widget
    # and starts unticked in the browser too (clearing a drawn checkbox's state leaves its tick on screen)
    confirm = c2.checkbox("Allow deleting", key=f"w:runs_confirm:{pick}", disabled=not mine)
    if c2.button("Delete this run", icon=":material/delete:", disabled=not (confirm and mine), key="w:runs_delete"):
        ws.delete(pick, me)  # MotorError if not ours: shown by the page frame
        if st.session_state.get("run_id") == pick:
            st.session_state.pop("run_id", None)
        st.rerun()
    if mine:
        c3.toggle("Share with everyone", value=r.shared, key=f"w:runs_share:{pick}", on_change=_share,
                  args=(pick, f"w:runs_share:{pick}"),
                  help="Every session on this server can then list and open this run (a teacher sharing a run "
                       "with the room); only you can delete it or take the share back.")
    elif not r.session:
        c3.caption("Trained outside the app (python -m motor train): every session can open it; it cannot be "
                   "deleted from the app.")
    else:
        c3.caption("Shared by another session: you can open it; only its owner can delete it or stop sharing.")
    if active is not None and active.run_id == pick:
        st.success("This run is open on the explore pages.", icon=":material/check_circle:")
    metrics = _metrics(r)
    ends = {VARIANT_LABELS[v]: training_end(m) for v, m in metrics.items()}
    if ends:
        st.markdown("**How training ended**: " + "; ".join(f"{n} {e}" for n, e in ends.items()))
    with st.expander("Settings of this run"):
        st.code(json.dumps(r.settings, indent=2), language="json")
        # from metrics.json: runs registered before the models were named in the registry's message say so too
        note = stop_note({VARIANT_LABELS[v]: m.get("message") for v, m in metrics.items()}) or r.message
        if note:
            st.caption(note)


ui.page("Runs", CAPTION, body)
