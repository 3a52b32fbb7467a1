"""New item: place an item no model has seen, by its content alone; nothing is retrained."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pandas as pd
import streamlit as st

from app import state, ui
from motor import new_item as ni
from motor.data import append_item
from motor.explore import tokens

CAPTION = ("Describe an item that is not in the catalogue (a new film, say) by its text and, optionally, a picture. "
           "MOTOR encodes the content with the same encoders, cuts it into tokens with this run's codebooks and "
           "builds its vector with the trained network: it can be recommended at once. The ID model cannot place "
           "it at all. Nothing is retrained, and the item is added to the dataset only if you ask (your own uploads).")
EXAMPLE = "Token Trouble (2026). Genres: Animation, Comedy, Sci-Fi. Tags: robots, friendship, pixar."


def body():
    rec, models = ui.require_run(need="motor")
    run = models["motor"]
    ds = run.dataset
    store = st.session_state.setdefault("new_item", {})
    c1, c2 = st.columns([3, 2])
    with c1:
        # the draft outlives page switches (a plain widget went back to the example while the item placed from
        # the user's own text was still shown below it)
        text = ui.bound(st.text_area, st.session_state.setdefault("new_item_draft", {}), "text",
                        "Its text (title, year, genres, tags: written like the catalogue's)", key="w:new_item_text",
                        default=EXAMPLE, height=100)
    with c2:
        has_image = "image" in ds.modalities
        picture = st.file_uploader("A picture (optional)", type=["jpg", "jpeg", "png", "webp"],
                                   key="w:new_item_picture", disabled=not has_image,
                                   help="Without one, the item's image is marked missing where the catalogue marks items without a "
                                        "picture (the long-tail demo), else the catalogue's average.")
        k = int(ui.bound(st.slider, st.session_state.setdefault("picked", {}), "new_k",
                         "Top-K to enter", default=10, min_value=5, max_value=50, step=5))
    if st.button("Place this item", type="primary", icon=":material/add_circle:", key="w:new_item_go"):
        with st.spinner("Encoding the content (the text model loads once, a few seconds)..."):
            feats, sources, filled = ni.describe(ds, text, picture.getvalue() if picture is not None else None)
            store.clear()
            store.update(run=rec.run_id, text=text, item=ni.place(run, feats, sources, filled))
    item = store.get("item") if store.get("run") == rec.run_id else None
    if item is None:
        st.caption("Press **Place this item** to see its tokens, the items that share them, its nearest items and "
                   "the users it would reach.")
        return
    show(rec, run, models, item, k)


def show(rec, run, models, item, k: int) -> None:
    tok, ds = run.tokenizer, run.dataset
    st.markdown("**Where its features came from**: " +
                "; ".join(f"{m}: {s}" for m, s in item.sources.items()))
    counts = tokens.token_counts(tok)
    st.subheader("Its tokens")
    st.dataframe(pd.DataFrame({"label": [tok.token_label(int(t)) for t in item.token_ids],
                               "items with this token": counts[item.token_ids].astype(int)}),
                 hide_index=True, width="stretch")
    a, b = st.columns(2)
    with a:
        st.markdown("**Catalogue items sharing its tokens**")
        st.dataframe(ni.sharing_items(run, item.token_ids, 10)[["title", "shared tokens", "which"]],
                     hide_index=True, width="stretch",
                     column_config={"title": st.column_config.TextColumn(width="medium"),
                                    "shared tokens": st.column_config.NumberColumn("shared", width="small"),
                                    "which": st.column_config.TextColumn("which tokens", width="medium")})
        note = tokens.missing_token_note(tok, item.token_ids)
        if note:
            st.caption(f"{note}.")
    with b:
        st.markdown("**Nearest items by MOTOR vector** (cosine after removing the average)")
        st.dataframe(ni.nearest_items(run, item.vector, 10)[["title", "cosine"]], hide_index=True, width="stretch")

    st.subheader(f"Users whose top-{k} it would enter with MOTOR")
    final, how = ni.final_vector(run, item.token_ids)
    if final is None:
        st.info(how, icon=":material/info:")
    else:
        reached = ni.users_reached(run, final, k)
        st.caption(f"{how}. {ui.plural(len(reached), 'user')} of {ds.n_users:,} would see it in their top-{k}.")
        st.dataframe(reached, hide_index=True, width="stretch",
                     column_config={"score": st.column_config.NumberColumn(format="%.3f"),
                                    "k-th score now": st.column_config.NumberColumn(format="%.3f")})
    st.info("**The ID model cannot place it.** An ID model knows an item only through the row it learned from that "
            "item's interactions; a new item has no row (and no interactions) until the model is retrained. "
            + ("This run's ID model is no exception." if "id" in models else ""), icon=":material/block:")
    buf = io.BytesIO()
    np.savez(buf, **{f"{m}_feat": v for m, v in item.features.items()}, token_ids=item.token_ids)
    st.download_button("Its features and tokens (.npz)", buf.getvalue(), "new-item.npz",
                       "application/octet-stream", icon=":material/download:", key="w:new_item_download",
                       help="The item is not added to the dataset unless you add it below (your own upload only).")
    keep_section(run, item)


def own_upload(run) -> Path | None:
    """The run's dataset folder when it is an upload of this session (the only data the app may change)."""
    data = run.config.data.data
    if data in state.BUNDLED:
        return None
    folder = Path(data).resolve()
    me = state.session_id()
    mine = [r.folder.resolve() for r in state.workspace().uploads(me) if r.owned_by(me)]
    return folder if folder in mine else None


def keep_section(run, item) -> None:
    """An explicit choice to add the item's content rows to the session's own upload; nothing retrained."""
    st.subheader("Keep it in the dataset")
    folder = own_upload(run)
    if folder is None:
        why = ("the bundled datasets are read-only" if run.config.data.data in state.BUNDLED else
               "only the session that uploaded this dataset can add items to it")
        st.caption(f"Adding the item to the dataset is offered on your own uploads; here {why}. Nothing was "
                   "changed.")
        return
    store = st.session_state.setdefault("new_item", {})
    if store.get("added"):
        st.success(store["added"], icon=":material/check_circle:")
        return
    c1, c2 = st.columns([2, 3])
    item_id = c1.text_input("Its item id in your files", value=append_item.free_id(folder), key="w:new_item_id")
    confirm = c2.checkbox(f"Add this item to the dataset **{folder.name}** (appends its rows to your files)",
                          key="w:new_item_add_confirm")
    if st.button("Add to the dataset", icon=":material/playlist_add:", disabled=not confirm, key="w:new_item_add"):
        filled = {m: m in item.filled for m in item.features}
        done = append_item.append_item(folder, item_id, store.get("text", ""), item.features, filled)
        store["added"] = (f"Added **{done.item_id}** to {folder.name} ({', '.join(done.files)}). Nothing was retrained: "
                          "MOTOR already places it by its content (above). **The ID model cannot use it until it is "
                          "retrained**, and every model learns from it only once it has interactions: add its rows to "
                          "interactions.csv (until then the loader leaves it out) and train again."
                          + (" Note: " + "; ".join(done.notes) + "." if done.notes else ""))
        st.rerun()


ui.page("New item", CAPTION, body)
