"""Tokens: which items share MOTOR tokens, where they land in vector space, and how the codebooks are used."""

from __future__ import annotations

import functools

import numpy as np
import pandas as pd
import streamlit as st

from app import charts, state, ui
from app.layouts import umap_enabled
from motor.explore import catalogue, clusters, layouts, tokens

CAPTION = ("Items that share tokens share parameters: that is how MOTOR lets related items (and items nobody has "
           "interacted with yet) learn from each other. The maps place every item by its learned vector, MOTOR beside "
           "the ID baseline; pick an item or a token to see who shares what.")

NEAR_COLUMNS = {"title": st.column_config.TextColumn(width="medium"),
                "cosine": st.column_config.NumberColumn(format="%.4f", width="small"),
                "shared tokens": st.column_config.NumberColumn("shared tokens", width="small")}
COLOR_OPTIONS = {"cluster": "Cluster (k-means of MOTOR vectors)", "genre": "Genre", "token": "Items carrying a token",
                 "shared": "Tokens shared with the picked item"}


@st.cache_data(show_spinner=False, max_entries=16)
def _clusters(folder: str, key: str, k: int) -> np.ndarray:
    run = state.loaded_run(folder)
    return clusters.clusters(run.vectors()[1], k)


def map_for(folder, run) -> tuple[np.ndarray, str]:
    """UMAP from the run folder's cache when ready, else PCA now and UMAP requested in the background."""
    vectors = run.vectors()[1]
    key = layouts.model_key(folder)
    if umap_enabled():
        hit = layouts.cached_layout(folder, vectors, "umap", key)
        if hit is not None:
            return hit, "umap"
        state.layout_worker().request(folder, lambda: run.vectors()[1], key)
    return layouts.layout(folder, vectors, "pca", key=key), "pca"


@st.fragment(run_every=2.0)
def wait_for_umap(folders: list[str]) -> None:
    worker = state.layout_worker()
    states = [worker.state(f) for f in folders]
    if all(s == "done" for s in states):
        st.rerun(scope="app")
    failed = [s for s in states if s and s.startswith("failed")]
    if failed:
        st.warning(f"The UMAP map could not be computed ({failed[0]}); the PCA map stays.", icon=":material/warning:")
        return
    note = "" if worker.warm else " The first map in a server process also compiles UMAP (about 30 s)."
    st.info("Showing an instant PCA map; the UMAP map is being computed in the background and replaces it "
            f"by itself.{note}", icon=":material/hourglass_top:")


def pick_from_map(key: str, ds) -> None:
    """Map click callback (runs before the page is drawn, so it may set the item picker's value)."""
    item = charts.picked_item(st.session_state.get(key))
    if item is not None and 0 <= item < ds.n_items:
        st.session_state.setdefault("picked", {})["item"] = item
        st.session_state[ui.picker_key(ds, "item")] = item


def search(run) -> str:
    """How the run's similar items are found: exact search, or its approximate index and measured recall."""
    index = run.index()
    if index.kind == "exact":
        return "exact search"
    recall = index.info.get("centred", {}).get("recall@20_vs_exact")
    return "approximate IVF-PQ index" + (f", recall@20 {recall:.2f} against exact search" if recall else "")


def colouring(choice: str, ds, tok, item: int, token: int, motor_run, rec) -> dict:
    n = ds.n_items
    if choice == "cluster":
        labels = _clusters(str(rec.folder("motor")), layouts.model_key(rec.folder("motor")), 12)
        return {"kind": "category", "values": [f"cluster {c + 1}" for c in labels],
                "order": [f"cluster {c + 1}" for c in range(labels.max() + 1)]}
    if choice == "genre":
        genres = catalogue.genres_of(ds)
        counts = catalogue.genre_counts(ds)
        g = st.session_state.setdefault("picked", {})
        opts = counts.index.tolist()
        chosen = ui.bound(st.selectbox, g, "genre", "Genre to highlight", options=opts,
                          format_func=lambda x: f"{x} ({counts[x]} items)")
        return {"kind": "mask", "values": np.array([chosen in gs for gs in genres]), "name": chosen}
    if choice == "token":
        return {"kind": "mask", "values": np.isin(np.arange(n), tok.items_with_token(token)),
                "name": tok.token_label(token)}
    shared = tok.shared_token_counts(item).astype(float)
    shared[item] = np.nan  # the picked item (its star) would stretch the scale to all T of its own tokens
    return {"kind": "scale", "values": shared, "name": "shared tokens", "muted_zero": True}


def body():
    rec, models = ui.require_run(need="motor")
    mrun = models["motor"]
    idrun = models.get("id")
    ds, tok = mrun.dataset, mrun.tokenizer
    cold = mrun.split.cold_items

    st.subheader("Item maps")
    c1, c2 = st.columns([2, 3])
    with c1:
        item = ui.item_picker(ds, "Picked item (marked with a star)",
                              help="The same pick is used on the Attention page.")
    opts = list(COLOR_OPTIONS)
    if catalogue.genres_of(ds) is None:
        opts.remove("genre")
    picked = st.session_state.setdefault("picked", {})
    with c2:
        choice = ui.bound(st.radio, picked, "colour", "Colour the maps by", options=opts,
                          format_func=COLOR_OPTIONS.get, horizontal=True)
    item_tids = tok.token_ids[item]
    token_df = tokens.token_options(tok)
    if picked.get("token_item") != (rec.run_id, item):  # a new item (or run): start from its first token
        picked["token_item"] = (rec.run_id, item)
        picked["token"] = int(item_tids[0])
        st.session_state["w:token"] = picked["token"]
    token = st.session_state.get("w:token", picked.get("token"))
    if token not in set(token_df["token"].tolist()):
        token = picked["token"] = int(item_tids[0])
        st.session_state["w:token"] = token
    token = int(token)
    color = colouring(choice, ds, tok, item, token, mrun, rec)

    hover = [f"{catalogue.item_label(ds, i)}{' (cold)' if cold[i] else ''}" for i in range(ds.n_items)]
    waiting = []
    cols = st.columns(2 if idrun is not None else 1)
    for col, (name, run, variant) in zip(cols, [("MOTOR", mrun, "motor"), ("ID", idrun, "id")]):
        if run is None:
            continue
        xy, method = map_for(rec.folder(variant), run)
        if method != "umap" and umap_enabled():
            waiting.append(str(rec.folder(variant)))
        col.plotly_chart(charts.item_map(xy, hover, color, f"{name} item vectors ({method.upper()})", item,
                                         cold=cold if cold.any() else None),
                         key=f"map:{variant}", config={"displayModeBar": False}, selection_mode="points",
                         on_select=functools.partial(pick_from_map, f"map:{variant}", ds))
    if waiting:
        wait_for_umap(waiting)
    elif not umap_enabled():
        st.caption("UMAP is switched off (MOTOR_LAB_UMAP=0): the maps are PCA projections.")
    st.caption("Hover a point for its title, click it to pick it. Ringed: cold items (held out of training); "
               "their ID vector stays random, MOTOR builds theirs from content." if cold.any() else
               "Hover a point for its title, click it to pick it.")

    st.subheader(f"Tokens of {catalogue.item_label(ds, item)}")
    mine = tokens.item_tokens(tok, item)
    note = tokens.missing_token_note(tok, item_tids)  # no poster: its image tokens are no shared content
    a, b = st.columns([1, 1])
    with a:
        st.markdown("**Its tokens** (modality, sub-space, codeword) and how many items carry each")
        st.dataframe(mine[["label", "modality", "sub-space", "codeword", "items with this token"]],
                     hide_index=True, width="stretch")
        if note:
            st.caption(f"{note}.")
    with b:
        st.markdown("**Items sharing the most tokens with it**")
        sharing = tokens.sharing_items(tok, ds, item, 10)
        st.dataframe(sharing[["title", "shared tokens", "which"]],
                     hide_index=True, width="stretch",
                     column_config={"title": st.column_config.TextColumn(width="medium"),
                                    "shared tokens": st.column_config.NumberColumn("shared", width="small"),
                                    "which": st.column_config.TextColumn("which tokens", width="large")})
        if note and len(sharing):
            st.caption(f"Shared out of its {int(sharing['of'].iloc[0])} content tokens; "
                       "a 'missing' token is not content and never counts as shared.")
    a, b = st.columns(2)
    with a:
        st.markdown(f"**Nearest items by MOTOR vector** (cosine after removing the mean vector; {search(mrun)})")
        st.dataframe(tokens.nearest_items(mrun.vectors()[1], ds, item, 10, tok, index=mrun.index())[
                         ["title", "cosine", "shared tokens"]], hide_index=True, width="stretch",
                         column_config=NEAR_COLUMNS)
    if idrun is not None:
        with b:
            st.markdown(f"**Nearest items by ID vector** (same measure; {search(idrun)})")
            st.dataframe(tokens.nearest_items(idrun.vectors()[1], ds, item, 10, tok, index=idrun.index())[
                             ["title", "cosine", "shared tokens"]], hide_index=True, width="stretch",
                         column_config=NEAR_COLUMNS)

    st.subheader("Items carrying a token")
    labels = dict(zip(token_df["token"].tolist(), token_df["label"].tolist()))
    counts = dict(zip(token_df["token"].tolist(), token_df["items"].tolist()))
    order = [int(t) for t in item_tids] + [t for t in token_df["token"].tolist() if t not in set(item_tids.tolist())]
    token = ui.bound(st.selectbox, picked, "token", "Token (the picked item's tokens first)", options=order,
                     format_func=lambda t: f"{labels[t]} · {counts[t]} items" +
                                           (" · of the picked item" if t in set(item_tids.tolist()) else ""))
    carriers = tokens.token_items(tok, ds, int(token), cold)
    if tok.is_missing(int(token)):
        st.caption(f"{len(carriers)} items carry **{labels[int(token)]}**: they lack this content, and the "
                   "reserved token marks it as missing (not a codeword); it is not counted as a token they share. "
                   "Choose 'Items carrying a token' above to see them on the maps.")
    else:
        st.caption(f"{len(carriers)} items carry **{labels[int(token)]}**; they all share its embedding. "
                   "Choose 'Items carrying a token' above to see them on the maps.")
    st.dataframe(carriers.drop(columns=["item"]), hide_index=True, width="stretch", height=280)

    st.subheader("Codebooks")
    summ = tokens.collision_summary(tok)
    usage = tokens.codebook_usage(tok)
    ui.metric_row([
        ("Tokens per item (T)", str(summ["tokens_per_item"]), "sum of M over modalities"),
        ("Token vocabulary (V)", ui.fmt_int(summ["vocab_size"]), "rows of the shared token table: sum of M x K"),
        ("Codewords in use", f"{usage['codewords used'].sum():,} of {usage['K'].sum():,}", None),
        ("Collision rate", f"{summ['collision_rate']:.1%}",
         "share of items whose full token tuple equals another item's: MOTOR cannot tell them apart"),
    ])
    st.plotly_chart(charts.usage_bars(usage), key="usage", config={"displayModeBar": False})
    per = pd.DataFrame([{"modality": m, "M x K": f"{v['m']} x {v['k']}", "dimensions": v["dims"],
                         "reconstruction error": round(v["recon_error"], 4),
                         "collision rate (this modality)": f"{v['collision_rate']:.1%}",
                         "unused tokens": v["unused_tokens"]} for m, v in summ["per_modality"].items()])
    st.dataframe(per, hide_index=True, width="stretch")
    groups = tokens.token_groups(tok, ds)
    if len(groups):
        with st.expander(f"Items with identical token tuples ({ui.plural(len(groups), 'group')} shown)"):
            st.dataframe(groups, hide_index=True, width="stretch")


ui.page("Tokens", CAPTION, body)
