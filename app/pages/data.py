"""Data: open the bundled demo or upload a dataset; see what the models will learn from."""

from __future__ import annotations

import time
from pathlib import Path

import pandas as pd
import streamlit as st

from app import state, ui
from app.uploads import (
    FILL_MEAN_LABEL,
    KEEP_LAST_LABEL,
    MAX_UPLOAD_MB,
    PICTURES_LABEL,
    TEXT_COLUMNS_LABEL,
    build_raw_dataset,
    save_upload,
    upload_data_config,
    upload_files,
)
from motor.data.files import separator_in
from motor.explore.catalogue import modalities_frame, preview

CAPTION = ("MOTOR describes every item by its content (here: a poster image and a text), not by an ID. This page "
           "opens the data the models learn from: who interacted with what, and which feature vectors each item "
           "has. Every modality becomes a set of shared tokens on the Train page.")


TITLES = {"demo": "Bundled demo: a MovieLens sample with poster and text features",
          "demo-longtail": "Bundled long-tail demo: every movie of MovieLens latest-small"}
LONGTAIL_STORY = ("The regime MOTOR's claims are about: two thirds of these movies have at most 5 ratings, where an ID "
                  "embedding has little to learn from and shared tokens can carry what related movies taught them. "
                  "Every movie has a text vector; only 2,943 have a poster. The others are marked as missing, never "
                  "given a made-up poster: MOTOR gives each of their image slots a reserved 'missing' token, and the "
                  "backbones that read raw features get zeros with a mask. With 5 times the demo's items, the quick "
                  "preset takes about 2 minutes to train both models on 2 CPU cores (the demo: about half a "
                  "minute).")


def open_dataset(cfg: dict, message: tuple[bool, str] | None = None) -> None:
    """Open a dataset; messages about the one before (an old upload error, a finished build) go."""
    state.set_data_config(cfg)
    st.session_state.pop("upload_result", None)
    job = st.session_state.get("raw_job")
    if job is not None and job.get("result") is not None:
        st.session_state.pop("raw_job", None)
    if message is not None:
        st.session_state["upload_result"] = message


def open_demo():
    open_dataset(state.DEMO)


def open_longtail():
    open_dataset(state.LONGTAIL)


def uploader_key() -> str:
    """The file box's key: a new one after each kept upload empties the box (no file is given twice)."""
    return f"w:upload_files:{st.session_state.get('uploads_kept', 0)}"


def submit_upload() -> None:
    """Form callback: runs before the page (and the sidebar) is drawn, so both show the new dataset."""
    files = st.session_state.get(uploader_key())
    if not files:
        st.session_state["upload_result"] = (False, "Choose the dataset files first.")
        return
    ws = state.workspace()
    area = ws.session_uploads(state.session_id())
    res = save_upload(area, st.session_state.get("w:upload_name") or "my-dataset",
                      [(f.name, f.getvalue()) for f in files],
                      "keep_last" if st.session_state.get("w:upload_dup") else "error",
                      "fill_mean" if st.session_state.get("w:upload_fill") else "error")
    if not res.ok:
        st.session_state["upload_result"] = (False, res.message)  # the files stay: fix an option, try again
        return
    ws.register_upload(res.path, state.session_id())
    open_dataset(res.data_config, (True, res.message))
    st.session_state["uploads_kept"] = st.session_state.get("uploads_kept", 0) + 1


def upload_section():
    ws = state.workspace()
    st.markdown(
        f"Upload at most **{MAX_UPLOAD_MB} MB** per file. Two formats are read:\n"
        "- **Simple**: `interactions.csv` (columns `user,item[,rating,timestamp]`), optional `items.csv` "
        "(`item,title,...`), and one feature file per modality: `image.npz` / `text.npz` with arrays "
        "`item_id` and `feat`, or `image.npy` / `text.npy` row-aligned with `items.csv`.\n"
        "- **MMRec**: `<name>.inter` (tab-separated `userID, itemID[, x_label]`) with `image_feat.npy` / "
        "`text_feat.npy` (row *i* = item *i*).\n\n"
        "Select the files together, or one `.zip` holding them. They are checked before anything is kept, "
        "and only you see your uploads until you share them. Your session lives in this page's address "
        "(`?session=...`): keep or bookmark it to come back to your uploads, runs, open dataset and settings, and do not hand it out.")
    with st.form("upload", clear_on_submit=False, border=True):
        st.file_uploader("Dataset files", accept_multiple_files=True,
                         type=["csv", "tsv", "inter", "npy", "npz", "zip"], key=uploader_key())
        form = st.session_state.setdefault("upload_form", {})  # the choices outlive page switches
        ui.bound(st.text_input, form, "name", "Name for this dataset", key="w:upload_name", default="my-dataset")
        c2, c3 = st.columns(2)  # half the width each: the labels are never cut
        with c2:
            ui.bound(st.checkbox, form, "dup", KEEP_LAST_LABEL, key="w:upload_dup",
                     default=False, help="Otherwise repeated user-item pairs are an error.")
        with c3:
            ui.bound(st.checkbox, form, "fill", FILL_MEAN_LABEL, key="w:upload_fill",
                     default=False, help="Otherwise items with interactions but no feature row are an error.")
        st.form_submit_button("Check and add dataset", type="primary", icon=":material/upload:",
                              key="w:upload_submit", on_click=submit_upload)
    result = st.session_state.get("upload_result")
    if result:
        ok, msg = result
        if ok:
            st.success(f"Dataset added and opened: {msg}", icon=":material/check_circle:")
        else:
            st.error(f"The upload was not added: {msg}", icon=":material/error:")
    uploads_list(ws)


def uploads_list(ws) -> None:
    """This session's uploads (open, share) and those other sessions shared (open)."""
    me = state.session_id()
    recs = ws.uploads(me)
    if not recs:
        return
    st.markdown("**Uploads you can open** (yours first; keep this page's address to come back to them)")
    for r in recs:
        c1, c2, c3 = st.columns([4, 1, 1])
        whose = "" if r.owned_by(me) else " · shared by another session"
        c1.markdown(f"`{r.name}`{whose} · {', '.join(upload_files(r.folder))}")
        c2.button("Open", key=f"open:{r.owner}:{r.name}", on_click=open_dataset, args=(upload_data_config(r.folder),))
        if r.owned_by(me):
            key = f"w:share_upload:{r.name}"
            c3.toggle("Share", value=r.shared, key=key, on_change=_share_upload, args=(r.folder, key),
                      help="Let every session on this server open this dataset (and the runs you share on it).")


def _share_upload(folder, key: str) -> None:
    state.workspace().share_upload(folder, state.session_id(), bool(st.session_state[key]))


def raw_content_section():
    """Raw content -> features -> dataset (MiniLM text, EfficientNet-Lite0 pictures), in a background thread."""
    st.markdown("Start from raw content: `interactions.csv`, an `items.csv` with text columns (title, plot, tags, "
                "...) and optionally a `.zip` of pictures named `<item id>.jpg`. Text is encoded with MiniLM "
                "(384-d), pictures with EfficientNet-Lite0 (1280-d), both offline. Pictures take about 0.1 s each "
                "on 2 cores; missing ones get the mean vector and are listed.")
    c1, c2, c3 = st.columns(3)
    inter = c1.file_uploader("interactions.csv", type=["csv", "tsv"], key="w:raw_inter")
    items = c2.file_uploader("items.csv", type=["csv"], key="w:raw_items")
    pics = c3.file_uploader(PICTURES_LABEL, type=["zip"], key="w:raw_pics")
    columns = []
    if items is not None:
        try:
            header = items.getvalue().split(b"\n", 1)[0].decode("utf-8-sig", errors="replace")
            columns = [c.strip() for c in pd.read_csv(items, nrows=5, dtype=str, sep=separator_in(header, ",")).columns]
            items.seek(0)
        except UnicodeDecodeError:
            st.error("items.csv is not UTF-8 text; save it as UTF-8 (in a spreadsheet: 'CSV UTF-8') and upload it "
                     "again.")
        except Exception:
            st.error("items.csv could not be read as a CSV file; check its separator and header row.")
    text_cols = st.multiselect(TEXT_COLUMNS_LABEL,
                               [c for c in columns if c.lower() not in ("item", "item_id", "id")],
                               default=[c for c in columns if c.lower() in ("title", "text", "genres", "overview")][:3],
                               key=f"w:raw_text_cols:{getattr(items, 'name', '')}:{','.join(columns)}")
    name = ui.bound(st.text_input, st.session_state.setdefault("raw_form", {}), "name", "Name for this dataset",
                    key="w:raw_name", default="my-content")
    chosen = tuple(getattr(f, "file_id", None) for f in (inter, items, pics))
    job = st.session_state.get("raw_job")
    if job is not None and job.get("result") is not None and job.get("inputs") != chosen:
        st.session_state.pop("raw_job", None)  # a finished build's message is about files no longer chosen
        job = None
    busy = job is not None and job.get("thread") is not None and job["thread"].is_alive()
    ready = inter is not None and items is not None and (bool(text_cols) or pics is not None)
    if st.button("Encode content and add dataset", disabled=busy or not ready, icon=":material/auto_awesome:",
                 key="w:raw_go", help="Needs interactions.csv, items.csv and text columns or pictures."):
        import threading

        area = state.workspace().session_uploads(state.session_id())
        box = {"progress": {}, "result": None, "started": time.time(), "inputs": chosen}

        def progress(modality, done, total):
            box["progress"][modality] = (done, total)

        def work(args=(inter.name, inter.getvalue()), its=(items.name, items.getvalue()),
                 pz=(pics.name, pics.getvalue()) if pics is not None else None, cols=list(text_cols)):
            try:
                box["result"] = build_raw_dataset(area, name, args, its, cols, pz, progress=progress)
            except Exception as e:  # reported on the page; the thread must not die silently
                from app.uploads import UploadResult

                box["result"] = UploadResult(False, f"internal error while encoding ({type(e).__name__}: {e})")

        box["thread"] = threading.Thread(target=work, daemon=True, name="raw-features")
        box["thread"].start()
        st.session_state["raw_job"] = box
        job, busy = box, True
    if job is not None:
        raw_progress(job)


@st.fragment(run_every=1.0)
def raw_progress(job):
    res = job.get("result")
    if res is None:
        parts = [f"{m}: {d}/{t}" for m, (d, t) in job["progress"].items()] or ["loading the encoders..."]
        st.info(f"Encoding content ({time.time() - job['started']:.0f} s): " + ", ".join(parts),
                icon=":material/hourglass_top:")
        return
    if not job.get("applied"):
        job["applied"] = True
        if res.ok:
            state.workspace().register_upload(res.path, state.session_id())
            state.set_data_config(res.data_config)
            st.session_state.pop("upload_result", None)
        st.rerun(scope="app")
    if res.ok:
        st.success(f"Dataset built and opened: {res.message}", icon=":material/check_circle:")
    else:
        st.error(f"The content was not added: {res.message}", icon=":material/error:")


def show_dataset():
    cfg = state.data_config()
    ds = state.dataset(cfg)
    s = ds.stats()
    st.subheader(TITLES.get(cfg["data"], f"Uploaded dataset `{Path(cfg['data']).name}`"))
    if cfg["data"] == "demo-longtail":
        st.caption(LONGTAIL_STORY)
    ui.metric_row([("Users", ui.fmt_int(s["users"]), None), ("Items", ui.fmt_int(s["items"]), None),
                   ("Interactions", ui.fmt_int(s["interactions"]), None),
                   ("Density", f"{s['density']:.2%}", "interactions / (users x items)"),
                   ("Per user (median)", f"{s['interactions_per_user']['median']:g}",
                    f"min {s['interactions_per_user']['min']}, max {s['interactions_per_user']['max']}"),
                   ("Per item (median)", f"{s['interactions_per_item']['median']:g}",
                    f"min {s['interactions_per_item']['min']}, max {s['interactions_per_item']['max']}")])
    c1, c2 = st.columns([3, 2])
    with c1:
        st.markdown("**Modalities** (one feature vector per item each; MOTOR turns each into tokens)")
        st.dataframe(modalities_frame(ds), hide_index=True, width="stretch")
    with c2:
        st.markdown("**Protocol details**")
        st.markdown(f"- timestamps: {'yes' if s['has_timestamps'] else 'no'}\n"
                    f"- given split (x_label): {'yes' if s['has_given_split'] else 'no, a seeded random split'}\n"
                    f"- item metadata: {', '.join(s['metadata_columns'][1:]) or 'none (ids only)'}")
    if ds.warnings:
        for w in ds.warnings:
            st.warning(w, icon=":material/warning:")
    else:
        st.success("The dataset passed every check.", icon=":material/check_circle:")
    st.markdown("**Items** (the 50 most interacted with)")
    st.dataframe(preview(ds, 50).drop(columns=["item"]), hide_index=True, width="stretch", height=320)
    st.page_link("app/pages/train.py", label="Next: train ID and MOTOR on this dataset",
                 icon=":material/arrow_forward:")


def body():
    c1, c2, c3 = st.columns([1, 1, 2])
    open_now = state.data_config().get("data")  # the bundled dataset that is open is the highlighted button

    def kind(name: str) -> str:
        return "primary" if open_now == name else "secondary"

    c1.button("Open the demo dataset", type=kind("demo"), on_click=open_demo, icon=":material/movie:",
              help="A MovieLens sample shipped with motor-lab: movies with a poster (image) and a text feature vector each")
    c2.button("Open the long-tail demo", type=kind("demo-longtail"), on_click=open_longtail,
              icon=":material/stacked_line_chart:",
              help="All 9,724 rated movies of MovieLens latest-small, most of them rarely rated: where MOTOR is meant "
                   "to help (posters for 2,943 of them, text for all)")
    c3.caption(("A new session opens the demo. " if open_now != "demo" else "The demo is open (a new session's "
                "first dataset). ") + "Upload your own data below.")
    with st.expander("Upload a dataset (prepared features)", icon=":material/upload_file:"):
        upload_section()
    with st.expander("Build a dataset from raw content (text and pictures)", icon=":material/image:"):
        raw_content_section()
    show_dataset()


ui.page("Data", CAPTION, body)
