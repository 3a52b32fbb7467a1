"""The Streamlit app through AppTest: every page's main flow, on the demo and on uploads.

One short training (2 epochs of ID and MOTOR on the demo, set through MOTOR_LAB_TEST_SETTINGS)
is shared by the explore-page tests. UMAP is switched off (MOTOR_LAB_UMAP=0): the maps are the
instant PCA layouts; the UMAP path is covered by tests/test_app_core.py (slow).
"""

from __future__ import annotations

import io
import json
import os
import re
import time
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tests.conftest import write_mmrec, write_simple

ROOT = Path(__file__).resolve().parents[1]
APP = str(ROOT / "streamlit_app.py")
TIMEOUT = 120
TRAIN_EPOCHS = 2


@pytest.fixture(scope="module", autouse=True)
def app_env(tmp_path_factory):
    """Environment every AppTest here runs under (restored afterwards)."""
    keep = {k: os.environ.get(k) for k in ("MOTOR_LAB_UMAP", "MOTOR_LAB_UMAP_WARMUP", "MOTOR_LAB_TEST_SETTINGS",
                                          "MOTOR_LAB_HOME")}
    os.environ.update(MOTOR_LAB_UMAP="0", MOTOR_LAB_UMAP_WARMUP="0",
                      MOTOR_LAB_TEST_SETTINGS=json.dumps({"train.epochs": TRAIN_EPOCHS}))
    yield
    for k, v in keep.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v


OWNER = "teacher-token-0000000001"  # the session token (?session=...) most tests browse with
OTHER = "student-token-0000000002"


def new_app(home: Path, page: str | None = None, session: str | None = OWNER):
    """The app as one browser session: ``session`` is the token in its address (None: a first visit)."""
    from streamlit.testing.v1 import AppTest

    os.environ["MOTOR_LAB_HOME"] = str(home)
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    if session is not None:
        at.query_params["session"] = session
    at.run()
    if page:
        at.switch_page(f"app/pages/{page}.py")
        at.run()
    return at


def no_problems(at) -> None:
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]


def figures(at) -> list[dict]:
    return [json.loads(c.proto.spec) for c in at.get("plotly_chart")]


def texts(at) -> str:
    parts = [m.value for m in at.markdown] + [c.value for c in at.caption] + [s.value for s in at.success]
    parts += [i.value for i in at.info] + [w.value for w in at.warning] + [e.value for e in at.error]
    return "\n".join(parts)


def wait_for_job(at, limit: float = 600) -> None:
    """Rerun the page (as the fragments would) until the training job has ended."""
    t0 = time.time()
    while time.time() - t0 < limit:
        time.sleep(1.0)
        at.run()
        if at.success and "Training finished" in at.success[0].value:
            return
        if any("Training failed" in e.value for e in at.error) or any("cancelled" in w.value for w in at.warning):
            return
    raise AssertionError("the training job did not finish in time")


def train(at, check: bool = True, **widgets) -> None:
    for key, value in widgets.items():
        at.get_by_key(f"w:{key}").set_value(value)
    at.button(key="w:train").click()
    at.run()
    if check:  # a job that fails at once may already show its error on this rerun
        no_problems(at)


@pytest.fixture(scope="module")
def trained_home(tmp_path_factory) -> Path:
    """A workspace holding one finished demo run (ID and MOTOR, 2 epochs), trained through the Train page."""
    home = tmp_path_factory.mktemp("lab")
    at = new_app(home, "train")
    no_problems(at)
    train(at)
    wait_for_job(at)
    no_problems(at)
    assert "Training finished" in at.success[0].value
    # the figures beside what a popularity ranking gets on the same split (a model worth showing beats it)
    from app.workspace import Workspace

    reference = json.loads((Workspace(home).runs()[0].folder("id") / "metrics.json").read_text())
    assert (f"a popularity ranking on the same split {reference['personalisation']['popularity_recall@20']:.4f}"
            in at.success[0].value)
    # how alike users' lists are, both models beside the popularity ranking (metrics.json "personalisation")
    assert re.search(r"Do users get different lists\?.*ID \d+%, MOTOR \d+% \(a popularity ranking", texts(at))
    return home


# --- Data -----------------------------------------------------------------------------------


def test_data_page_opens_the_demo_by_default(tmp_path):
    at = new_app(tmp_path)
    no_problems(at)
    assert at.title[0].value == "Data"
    assert at.caption[0].value.startswith("MOTOR describes every item")
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Users"] == "597" and metrics["Items"] == "1,849"
    frames = at.dataframe
    assert any(set(f.value.columns) >= {"modality", "dimension"} for f in frames)
    preview = next(f.value for f in frames if "title" in f.value.columns)
    assert len(preview) == 50 and preview["title"].iloc[0] == "Forrest Gump (1994)"  # most interacted first
    assert preview["interactions"].is_monotonic_decreasing
    assert "500 MB" in texts(at)  # the stated upload limit
    kinds = {b.label: b.proto.type for b in at.button if b.label.startswith("Open the")}
    assert kinds == {"Open the demo dataset": "primary", "Open the long-tail demo": "secondary"}  # the open one
    at.button[0].click()  # "Open the demo dataset"
    at.run()
    no_problems(at)


@pytest.mark.slow  # trains on 9,724 items (about a minute at 2 epochs)
def test_data_page_opens_the_long_tail_demo_and_the_app_trains_and_explores_it(tmp_path):
    """The second bundled dataset, one button away: its counts, its story (why it is there, what happens to the
    missing posters), its name in the sidebar; then a short training and every explore page without a problem."""
    at = new_app(tmp_path)
    next(b for b in at.button if b.label == "Open the long-tail demo").click()
    at.run()
    no_problems(at)
    metrics = {m.label: m.value for m in at.metric}
    assert (metrics["Users"], metrics["Items"], metrics["Interactions"]) == ("610", "9,724", "100,836")
    assert metrics["Per item (median)"] == "3"  # most movies rarely rated
    assert at.subheader[0].value.startswith("Bundled long-tail demo")
    assert any("reserved 'missing' token" in c.value for c in at.caption)
    mods = next(d.value for d in at.dataframe if "modality" in d.value.columns).set_index("modality")
    assert mods.loc["image", "with content"] == 2943 and mods.loc["image", "missing (marked, not made up)"] == 6781
    assert mods.loc["text", "with content"] == 9724 and mods.loc["text", "missing (marked, not made up)"] == 0
    assert "Dataset: **demo-longtail (all of MovieLens latest-small)**" in [c.value for c in at.sidebar.caption]
    assert next(b for b in at.button if b.label == "Open the long-tail demo").proto.type == "primary"
    at.switch_page("app/pages/train.py")
    at.run()
    train(at)
    wait_for_job(at)
    no_problems(at)
    assert "Training finished" in at.success[0].value
    for page in ("tokens", "attention", "compare", "recommend", "new_item", "runs", "how"):
        at.switch_page(f"app/pages/{page}.py")
        at.run()
        no_problems(at)
    # a movie without a poster: its four image tokens are 'missing', shown but never counted as shared
    at.switch_page("app/pages/tokens.py").run()
    from motor.data.load import load_dataset
    pick = next(s for s in at.selectbox if (s.key or "").startswith("w:pick:item:"))
    pick.set_value(load_dataset("demo-longtail").item_index("4006")).run()
    no_problems(at)
    assert "4 image tokens are 'missing': the item has no image; not counted as shared." in texts(at)
    assert "Shared out of its 4 content tokens" in texts(at)
    assert "6781 items carry **image s0 missing**: they lack this content" in texts(at)  # its first token, picked
    mine = next(d.value for d in at.dataframe if "items with this token" in d.value.columns)
    assert (mine["label"].str.endswith("missing").sum(), mine["items with this token"].max()) == (4, 6781)
    sharing = next(d.value for d in at.dataframe if "which" in d.value.columns)
    assert len(sharing) and (sharing["shared tokens"] <= 4).all() and not sharing["which"].str.contains("missing").any()
    at.switch_page("app/pages/new_item.py").run()
    at.text_area(key="w:new_item_text").set_value("Token Trouble (2026). Genres: Comedy.")
    at.button(key="w:new_item_go").click()
    at.run()
    no_problems(at)
    assert "image: marked missing, like the catalogue's 6,781 items without it" in texts(at)  # no made-up poster
    assert "the bundled datasets are read-only" in texts(at)
    next(b for b in at.switch_page("app/pages/data.py").run().button if b.label == "Open the demo dataset").click()
    at.run()
    assert {m.label: m.value for m in at.metric}["Items"] == "1,849"  # back on the demo


def uploader(at):
    return next(u for u in at.get("file_uploader") if u.label == "Dataset files")


def _upload(at, files, name="mine"):
    uploader(at).set_value(files)
    at.get_by_key("w:upload_name").set_value(name)
    at.button(key="w:upload_submit").click()
    at.run()


def _files(folder: Path):
    return [(p.name, p.read_bytes(), "application/octet-stream") for p in sorted(folder.iterdir())]


def test_upload_valid_simple_and_mmrec_datasets(tmp_path):
    at = new_app(tmp_path / "home")
    simple = write_simple(tmp_path / "simple")
    (simple / "other.tsv").write_text("user\titem\nu0\tm1\n")  # kept and ignored without a word
    _upload(at, _files(simple), "my simple")
    no_problems(at)
    assert "Dataset added and opened" in at.success[0].value
    assert [w.value for w in at.warning if w.value.startswith("other.tsv: not read")]
    assert {m.label: m.value for m in at.metric}["Items"] == "30"
    assert at.session_state["data_config"]["data"].endswith("my-simple")
    # MMRec format, as one zip
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for name, data, _ in _files(write_mmrec(tmp_path / "mm")):
            z.writestr(f"tiny/{name}", data)
    _upload(at, [("tiny.zip", buf.getvalue(), "application/zip")], "tiny mmrec")
    no_problems(at)
    assert {m.label: m.value for m in at.metric}["Users"] == "20"
    kept = sorted(p.name for p in (tmp_path / "home" / "uploads").glob("*/*"))
    assert kept == ["my-simple", "tiny-mmrec"]


def test_after_an_upload_every_place_shows_the_new_dataset_and_the_box_is_empty(tmp_path):
    at = new_app(tmp_path / "home", "train")
    train(at, variants="id")
    wait_for_job(at)
    assert "Training finished" in texts(at)
    at.switch_page("app/pages/data.py")
    at.run()
    folder = write_simple(tmp_path / "bad")
    (folder / "interactions.csv").write_text("user,item\nu1,m1\nu1,m1\n")
    _upload(at, _files(folder), "bad")
    assert "not added" in at.error[0].value
    assert uploader(at).value  # a refused upload keeps its files: tick an option and try again
    _upload(at, _files(write_simple(tmp_path / "simple")), "fresh")
    no_problems(at)  # the old error banner is gone
    assert "Dataset added and opened" in at.success[0].value and "passed every check" in texts(at)
    assert "Dataset: **fresh**" in [c.value for c in at.sidebar.caption]  # the sidebar of this very rerun
    assert not uploader(at).value  # the box is empty: the next upload cannot give a file twice
    _upload(at, _files(write_simple(tmp_path / "simple2", seed=3)), "second")
    no_problems(at)
    assert "Dataset: **second**" in [c.value for c in at.sidebar.caption]
    at.switch_page("app/pages/train.py")
    at.run()
    no_problems(at)
    assert "Training finished" not in texts(at)  # that run was on the demo, not on this dataset
    assert "was on another dataset" in texts(at)
    at.switch_page("app/pages/data.py")
    at.run()
    next(b for b in at.button if b.key == "open:" + at.session_state["sid"] + ":fresh").click()
    at.run()
    no_problems(at)
    assert "Dataset: **fresh**" in [c.value for c in at.sidebar.caption]
    at.button[0].click()  # "Open the demo dataset"
    at.run()
    assert "Dataset: **demo (MovieLens sample)**" in [c.value for c in at.sidebar.caption]
    at.switch_page("app/pages/train.py")
    at.run()
    assert "Training finished" in texts(at)  # back on the demo: its results again


def test_an_upload_accepted_with_options_opens_again_with_them(tmp_path):
    """Kept with 'keep the last of repeated rows' or 'fill missing feature rows': its Open button reads it the same
    way (it used to read it with the defaults, which refuse it, and nothing in the app could change that)."""
    dups = write_simple(tmp_path / "dups")
    (dups / "interactions.csv").write_text((dups / "interactions.csv").read_text() + "u0,m1,4.0,999\n" * 2)
    holes = write_simple(tmp_path / "holes")
    with np.load(holes / "text.npz") as z:
        np.savez(holes / "text.npz", item_id=z["item_id"][:-3], feat=z["feat"][:-3])
    at = new_app(tmp_path / "home")
    for folder, box in ((dups, "w:upload_dup"), (holes, "w:upload_fill")):
        _upload(at, _files(folder), folder.name)
        refused = at.error[0].value
        assert "not added" in refused  # refused with the defaults
        # the fix named is the box on this page (it said "CLI: --duplicates keep_last", a flag the app has not)
        assert f"tick '{at.get_by_key(box).label}'" in refused and "CLI" not in refused and "--" not in refused
        at.get_by_key(box).check()
        _upload(at, _files(folder), folder.name)
        no_problems(at)
        at.get_by_key(box).uncheck()
        at.run()
    kept = tmp_path / "home" / "uploads" / at.session_state["sid"]
    assert "upload_options" not in texts(at)  # the listing shows the user's files only
    for name, option in (("dups", {"duplicates": "keep_last"}), ("holes", {"missing_features": "fill_mean"})):
        at.button[0].click()  # "Open the demo dataset"
        at.run()
        next(b for b in at.button if b.key == f"open:{at.session_state['sid']}:{name}").click()
        at.run()
        no_problems(at)
        assert at.session_state["data_config"]["data"] == str(kept / name)
        assert option.items() <= at.session_state["data_config"].items()
        assert f"Dataset: **{name}**" in [c.value for c in at.sidebar.caption]


def test_invalid_upload_is_refused_with_the_loader_message_and_nothing_kept(tmp_path):
    folder = write_simple(tmp_path / "bad")
    (folder / "interactions.csv").write_text("user,item\nu1,m1\nu1,m1\n")  # a duplicate pair
    at = new_app(tmp_path / "home")
    _upload(at, _files(folder), "bad")
    assert not at.exception
    msg = at.error[0].value
    assert "not added" in msg and "interactions.csv" in msg and "duplicate" in msg and "Keep the last" in msg
    assert at.session_state["data_config"] == {"data": "demo"}  # what the user had is kept
    assert {m.label: m.value for m in at.metric}["Items"] == "1,849"
    area = list((tmp_path / "home" / "uploads").glob("*/*")) + list((tmp_path / "home" / "uploads").glob("*/.*"))
    assert area == []  # no staging leftovers, nothing kept
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("notes.txt", "hello")
    _upload(at, [("notes.zip", buf.getvalue(), "application/zip")], "bad")
    assert "notes.zip holds no dataset files" in at.error[0].value
    upper = write_simple(tmp_path / "upper")  # the box takes IMAGE.NPZ; the reader said "no feature files"
    for name in ("image.npz", "text.npz"):
        (upper / name).rename(upper / name.upper())
    _upload(at, _files(upper), "upper")
    assert "rename them to image.npz, text.npz" in at.error[0].value and uploader(at).value  # the files stay


def test_uploads_are_private_to_their_session_until_shared(tmp_path):
    home = tmp_path / "home"
    a = new_app(home)
    _upload(a, _files(write_simple(tmp_path / "simple")), "alpha")
    no_problems(a)
    b = new_app(home, session=OTHER)
    assert a.session_state["sid"] != b.session_state["sid"]
    assert "alpha" in texts(a) and "alpha" not in texts(b)
    assert b.session_state["data_config"] == {"data": "demo"}
    assert not [x for x in b.button if x.key and x.key.startswith("open:")]
    # the owner shares it: the other session can open it, but gets no share toggle
    a.toggle(key="w:share_upload:alpha").set_value(True)
    a.run()
    no_problems(a)
    b = new_app(home, session=OTHER)
    assert "alpha" in texts(b) and "shared by another session" in texts(b)
    assert not [t for t in b.toggle if t.key and t.key.startswith("w:share_upload")]
    next(x for x in b.button if x.key and x.key.startswith("open:")).click()
    b.run()
    no_problems(b)
    assert {m.label: m.value for m in b.metric}["Items"] == "30"


def test_session_survives_a_reload_and_a_restart_without_empty_folders(tmp_path):
    import streamlit as st

    home = tmp_path / "home"
    first = new_app(home, session=None)  # a first visit: the app puts a fresh token in the address
    token = first.query_params["session"]
    token = token[0] if isinstance(token, list) else token
    assert len(token) >= 16 and token not in (OWNER, OTHER)
    assert not (home / "uploads").exists() or list((home / "uploads").iterdir()) == []  # no folder per visit
    _upload(first, _files(write_simple(tmp_path / "simple")), "zebra")
    no_problems(first)
    for other in (new_app(home, session=None), new_app(home, session="bad token!")):
        no_problems(other)
        assert "zebra" not in texts(other)  # a new visitor (or a malformed token) is a new session
    st.cache_resource.clear()  # a restarted server
    again = new_app(home, session=token)  # the reload: same address
    no_problems(again)
    assert "zebra" in texts(again) and [b for b in again.button if b.key and b.key.startswith("open:")]
    assert len(list((home / "uploads").iterdir())) == 1  # only the area that holds the upload
    assert token not in str(list((home / "uploads").rglob("*")))  # folders name a hash, never the token


def test_a_reload_comes_back_to_the_open_dataset_the_settings_and_the_running_job(tmp_path):
    """The same address is the same session: after a reload (and a restarted server) its open upload, its Train
    settings and its training job are there again; another session starts from the defaults; a dataset the
    session may no longer open is not reopened."""
    import streamlit as st

    home = tmp_path / "home"
    a = new_app(home)
    _upload(a, _files(write_simple(tmp_path / "simple", n_users=40, n_items=30, per_user=10)), "alpha")
    no_problems(a)
    a.switch_page("app/pages/train.py")
    a.run()
    train(a, variants="id", **{"train.seed": 5})
    job = a.session_state["job_id"]
    again = new_app(home, "train")  # the reload, while the job may still run
    no_problems(again)
    assert again.session_state["data_config"]["data"].endswith("alpha")
    assert again.get_by_key("w:train.seed").value == 5 and again.get_by_key("w:variants").value == "id"
    assert again.session_state["job_id"] == job  # its job, found again
    wait_for_job(again)
    assert "Training finished" in texts(again)
    links = [p.proto.label for p in again.get("page_link")]
    assert "Metrics" in links and "Compare ID vs MOTOR" not in links  # one model (ID alone): nothing to compare
    st.cache_resource.clear()  # a restarted server: the job is gone, the rest comes back
    again = new_app(home, "train")
    no_problems(again)
    assert again.session_state["data_config"]["data"].endswith("alpha") and again.get_by_key("w:train.seed").value == 5
    for page in ("data", "compare"):  # a reload that lands elsewhere (a bookmark, the start page) keeps them too
        elsewhere = new_app(home, page)
        no_problems(elsewhere)
        elsewhere.run()  # a second script run saves the session again without ever drawing the Train form
    again = new_app(home, "train")
    assert again.get_by_key("w:train.seed").value == 5 and again.get_by_key("w:variants").value == "id"
    other = new_app(home, "train", session=OTHER)
    no_problems(other)
    assert other.session_state["data_config"] == {"data": "demo"} and other.get_by_key("w:train.seed").value != 5
    # OTHER opens alpha while it is shared; once it is not, OTHER's next visit opens the demo instead
    from app.workspace import Workspace

    folder = Path(a.session_state["data_config"]["data"])
    Workspace(home).share_upload(folder, a.session_state["sid"], True)
    other = new_app(home, session=OTHER)
    next(x for x in other.button if x.key and x.key.startswith("open:")).click()
    other.run()
    assert other.session_state["data_config"]["data"] == str(folder)
    Workspace(home).share_upload(folder, a.session_state["sid"], False)
    other = new_app(home, session=OTHER)
    no_problems(other)
    assert other.session_state["data_config"] == {"data": "demo"}
    assert any("alpha) was deleted or is no longer shared" in c.value for c in other.sidebar.caption)  # said so
    saved = list((home / "sessions").iterdir())
    assert len(saved) == 2 and all(OWNER not in p.name and OTHER not in p.name for p in saved)  # hashes, not tokens


def test_a_job_that_ends_while_the_page_is_away_opens_its_run_at_the_reload(tmp_path):
    """The Train page says a finished run is open on the explore pages: after a reload it must be, unless the
    session saw that job end before (then the run it chose since stays open)."""
    home = tmp_path / "home"
    a = new_app(home, "train")
    train(a, variants="id")
    wait_for_job(a)
    first = a.session_state["run_id"]
    train(a, variants="id")  # a second job; the page is reloaded before it reports its end
    job = a.session_state["job_id"]
    import app.state

    app.state.jobs().get(job).join(300)
    again = new_app(home, "train")
    no_problems(again)
    assert again.session_state["run_id"] == job != first and "Training finished" in texts(again)
    again.sidebar.selectbox(key="w:active_run").set_value(first)  # the user goes back to the first run
    again.run()
    later = new_app(home, "recommend")  # another reload: the job's end was seen, its run is not forced open
    assert later.session_state["run_id"] == first


def test_an_unusable_workspace_is_reported_on_every_page_after_training_was_opened(tmp_path):
    (tmp_path / "afile").write_text("x")
    at = new_app(tmp_path / "afile" / "home", "train")  # MOTOR_LAB_HOME under a file
    for page in ("data", "train", "data", "runs"):
        at.switch_page(f"app/pages/{page}.py")
        at.run()
        assert not at.exception, (page, at.exception)
        assert "cannot use the workspace folder" in texts(at) + " ".join(e.value for e in at.error), page


@pytest.mark.parametrize("saved", [
    {"settings": {"tokenizer.per_modality": {"image": {"m": 4, "k": 64}, "text": {"m": 4, "k": 64}}}},
    {"settings": {"tokenizer.per_modality": {"image": "junk"}, "train.epochs": 7}},
    {"settings": {"backbone": "no-such-backbone"}},
    {"settings": "junk", "data_config": {"data": 5}, "run_id": 3, "jobs_seen": "x"},
    "not json"], ids=["older-entries", "junk-entry", "bad-value", "wrong-types", "not-json"])
def test_a_saved_session_from_another_version_or_damaged_never_breaks_the_pages(tmp_path, saved):
    home = tmp_path / "home"
    new_app(home)  # creates the workspace
    folder = home / "sessions"
    folder.mkdir(exist_ok=True)
    (folder / f"{owner_hash(OWNER)}.json").write_text(saved if isinstance(saved, str) else json.dumps(saved))
    at = new_app(home, "train")
    no_problems(at)
    assert at.button(key="w:train") and at.button(key="w:reset")
    if saved != "not json" and isinstance(saved.get("settings"), dict) and "train.epochs" in saved["settings"]:
        assert at.get_by_key("w:train.epochs").value == 7  # what is usable is kept
    at.switch_page("app/pages/data.py")
    at.run()
    no_problems(at)


def test_two_tabs_of_one_session_keep_each_others_changes(tmp_path):
    a = new_app(tmp_path, "train")
    b = new_app(tmp_path, "train")  # a second tab on the same address
    a.get_by_key("w:train.epochs").set_value(5)
    a.run()
    b.get_by_key("w:train.lr").set_value(0.0105)
    b.run()
    again = new_app(tmp_path, "train")
    assert again.get_by_key("w:train.epochs").value == 5 and again.get_by_key("w:train.lr").value == 0.0105


def test_runs_are_private_until_shared_and_only_the_owner_deletes(trained_home):
    from app.workspace import Workspace

    rid = Workspace(trained_home).runs()[0].run_id
    b = new_app(trained_home, "runs", session=OTHER)
    no_problems(b)
    assert "No trained run yet" in b.info[0].value  # the owner's run is neither listed nor opened
    for page in ("tokens", "recommend", "compare"):
        b.switch_page(f"app/pages/{page}.py")
        b.run()
        no_problems(b)
        assert "No trained run yet" in b.info[0].value, page
    b.session_state["run_id"] = rid  # even a session that knows the id cannot open it
    b.switch_page("app/pages/recommend.py")
    b.run()
    assert "No trained run yet" in b.info[0].value
    a = new_app(trained_home, "runs")
    assert a.dataframe[0].value["owner"].tolist() == ["you"]
    a.toggle(key=f"w:runs_share:{rid}").set_value(True)
    a.run()
    no_problems(a)
    assert Workspace(trained_home).get(rid).shared
    try:
        b = new_app(trained_home, "runs", session=OTHER)
        no_problems(b)
        assert b.dataframe[0].value["owner"].tolist() == ["shared with you"]
        assert b.checkbox(key=f"w:runs_confirm:{rid}").disabled and b.button(key="w:runs_delete").disabled
        assert not [t for t in b.toggle if t.key and t.key.startswith("w:runs_share")]
        b.switch_page("app/pages/recommend.py")
        b.run()
        no_problems(b)
        assert any("rank" in d.value.columns for d in b.dataframe)  # a shared run opens
        with pytest.raises(Exception, match="only the session that trained"):
            Workspace(trained_home).delete(rid, b.session_state["sid"])
    finally:
        Workspace(trained_home).share(rid, a.session_state["sid"], False)
    assert not Workspace(trained_home).get(rid).shared


# --- Train ----------------------------------------------------------------------------------


def test_runs_trained_on_the_command_line_are_open_to_every_session_and_deletable_by_none(tmp_path):
    """A run folder that ``python -m motor train --out <home>/runs/NAME`` wrote (no owner) is listed and opened by
    every session, read-only; the app's own runs stay private."""
    import subprocess
    import sys

    from app.workspace import Workspace

    home = tmp_path / "home"
    out = home / "runs" / "cli-lightgcn"
    env = dict(os.environ, MOTOR_LAB_THREADS="1", OMP_NUM_THREADS="1")
    done = subprocess.run([sys.executable, "-m", "motor", "train", "--data", "demo", "--preset", "quick", "--items",
                           "motor", "--epochs", "1", "--train-fraction", "0.5", "--out", str(out), "--quiet"],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    for session in (OWNER, OTHER):
        at = new_app(home, "runs", session=session)
        no_problems(at)
        listed = at.dataframe[0].value
        assert listed["run"].tolist() == ["cli-lightgcn"] and listed["owner"].tolist() == ["made outside the app"]
        assert listed["train fraction"].tolist() == [0.5]
        assert "Trained outside the app" in texts(at)
        assert at.checkbox(key="w:runs_confirm:cli-lightgcn").disabled and at.button(key="w:runs_delete").disabled
        assert not [t for t in at.toggle if str(t.key).startswith("w:runs_share")]
        assert at.session_state["run_id"] == "cli-lightgcn"  # open on the explore pages
        for page in ("tokens", "compare"):
            at.switch_page(f"app/pages/{page}.py")
            at.run()
            no_problems(at)
            assert figures(at)
    rec = Workspace(home).get("cli-lightgcn", OWNER)
    assert rec.variants == ["motor"] and rec.folder("motor") == out and not rec.session
    with pytest.raises(Exception, match="only the session that trained"):
        Workspace(home).delete("cli-lightgcn", owner_hash(OTHER))
    assert (out / "model.safetensors").exists()
    at = new_app(home, "train", session=OWNER)  # a run of the app's own stays private beside it
    train(at, variants="id")
    wait_for_job(at)
    assert [r.run_id for r in Workspace(home).runs(owner_hash(OTHER))] == ["cli-lightgcn"]
    assert len(Workspace(home).runs(owner_hash(OWNER))) == 2


def owner_hash(token: str) -> str:
    from app.state import owner_of

    return owner_of(token)


def test_train_page_defaults_come_from_the_quick_preset(tmp_path):
    from motor.models import BACKBONES
    from motor.presets import preset

    at = new_app(tmp_path, "train")
    no_problems(at)
    cfg = preset("quick", "motor")
    assert at.selectbox(key="w:backbone").value == cfg.backbone
    assert set(at.selectbox(key="w:backbone").options) == set(BACKBONES)
    assert at.radio(key="w:variants").value == "both"
    assert at.number_input(key="w:train.lr").value == pytest.approx(cfg.train.lr)
    assert at.number_input(key="w:train.epochs").value == TRAIN_EPOCHS  # the test override
    assert at.number_input(key="w:pq:image:m").value == cfg.tokenizer.m
    assert at.selectbox(key="w:motor.tcn").value == cfg.motor.tcn


def test_training_both_models_saves_and_registers_a_run(trained_home):
    from app.workspace import Workspace

    runs = Workspace(trained_home).runs()
    assert len(runs) == 1
    rec = runs[0]
    assert rec.variants == ["id", "motor"] and rec.backbone == "lightgcn"
    assert rec.settings["train.epochs"] == TRAIN_EPOCHS
    for v in ("id", "motor"):
        m = json.loads((rec.folder(v) / "metrics.json").read_text())
        assert m["epochs_run"] == TRAIN_EPOCHS and 0 <= rec.headline[v]["recall@20"] <= 1
    assert (rec.folder("motor") / "tokenizer").exists() and not (rec.folder("id") / "tokenizer").exists()


def test_a_run_without_test_interactions_says_so_and_the_compare_page_draws(tmp_path):
    # no user has 3 interactions, so the split holds none out for test: the Train page said 'Training finished in
    # 1 s: . The run is saved', and the Compare page failed with KeyError: 'test recall@20'
    at = new_app(tmp_path / "home")
    _upload(at, _files(write_simple(tmp_path / "few", n_users=3, n_items=5, per_user=2)), "few")
    at.switch_page("app/pages/train.py")
    at.run()
    train(at)
    wait_for_job(at)
    no_problems(at)
    assert "Training finished" in at.success[0].value and "no test figures, as this split has no test interactions" in \
        at.success[0].value
    at.switch_page("app/pages/compare.py")
    at.run()
    no_problems(at)


def test_settings_survive_page_switches(tmp_path):
    at = new_app(tmp_path, "train")
    at.number_input(key="w:train.lr").set_value(0.0123)
    at.radio(key="w:variants").set_value("motor")
    at.run()
    at.switch_page("app/pages/data.py")
    at.run()
    at.switch_page("app/pages/train.py")
    at.run()
    assert at.number_input(key="w:train.lr").value == pytest.approx(0.0123)
    assert at.radio(key="w:variants").value == "motor"
    # the Data page's upload choices too
    at.switch_page("app/pages/data.py")
    at.run()
    at.get_by_key("w:upload_name").set_value("custom name")
    at.get_by_key("w:upload_dup").check()
    at.get_by_key("w:upload_fill").check()
    at.get_by_key("w:raw_name").set_value("my pictures")
    at.button(key="w:upload_submit").click()  # a form sends its values when pressed (here: no files, refused)
    at.run()
    assert "Choose the dataset files first" in at.error[0].value
    at.switch_page("app/pages/train.py")
    at.run()
    at.switch_page("app/pages/data.py")
    at.run()
    assert at.get_by_key("w:upload_name").value == "custom name" and at.get_by_key("w:raw_name").value == "my pictures"
    assert at.get_by_key("w:upload_dup").value and at.get_by_key("w:upload_fill").value


def test_codebook_choices_survive_a_dataset_of_another_shape(tmp_path):
    """M=8 on the demo, then a 6-d upload (whose widgets cannot take 8), then the demo again: the demo's choice
    comes back, and the small dataset gets its own defaults, never the widgets' minimum (M=1, K=4)."""
    at = new_app(tmp_path, "train")
    at.number_input(key="w:pq:image:m").set_value(8)
    at.run()
    at.switch_page("app/pages/data.py")
    at.run()
    _upload(at, _files(write_simple(tmp_path / "small", dims=(6, 3), n_items=30)), "small")
    no_problems(at)
    at.switch_page("app/pages/train.py")
    at.run()
    no_problems(at)
    assert at.number_input(key="w:pq:image:m").value == 4 and at.selectbox(key="w:pq:image:k").value == 16
    at.switch_page("app/pages/data.py")
    at.run()
    at.button[0].click()  # "Open the demo dataset"
    at.run()
    at.switch_page("app/pages/train.py")
    at.run()
    assert at.number_input(key="w:pq:image:m").value == 8


def test_a_failed_run_shows_the_message_keeps_settings_and_earlier_runs(trained_home, monkeypatch):
    import motor.experiment
    from app.workspace import Workspace
    from motor.errors import MotorError

    def boom(*a, **k):
        raise MotorError("modality 'image': k=64 codewords exceed the 30 items; use a power of two at most 30")

    before = [r.run_id for r in Workspace(trained_home).runs()]
    at = new_app(trained_home, "train")
    at.number_input(key="w:train.lr").set_value(0.0077)
    at.run()
    monkeypatch.setattr(motor.experiment, "run_experiment", boom)
    train(at, check=False)
    wait_for_job(at)
    assert not at.exception
    assert "Training failed: modality 'image': k=64" in at.error[0].value
    assert at.number_input(key="w:train.lr").value == pytest.approx(0.0077)
    assert [r.run_id for r in Workspace(trained_home).runs()] == before
    assert sorted(p.name for p in (trained_home / "runs").iterdir()) == sorted(before)


def test_cancel_stops_training_and_keeps_nothing(tmp_path):
    from app.workspace import Workspace

    at = new_app(tmp_path, "train")
    train(at, **{"variants": "id", "train.epochs": 200})
    at.button(key="w:cancel").click()
    at.run()
    wait_for_job(at, limit=120)
    assert "cancelled" in at.warning[0].value, texts(at)
    assert Workspace(tmp_path).runs() == [] and list((tmp_path / "runs").iterdir()) == []


# --- explore pages --------------------------------------------------------------------------


def arr(v) -> np.ndarray:
    """A plotly JSON array: a list, or plotly's typed array {'dtype', 'bdata'[, 'shape']}."""
    if isinstance(v, dict) and "bdata" in v:
        import base64

        a = np.frombuffer(base64.b64decode(v["bdata"]), dtype=np.dtype(v["dtype"]))
        return a.reshape([int(x) for x in str(v["shape"]).split(",")]) if "shape" in v else a
    return np.asarray(v if v is not None else [])


def points(fig) -> int:
    return sum(len(arr(t.get("x"))) for t in fig["data"] if t.get("name") != "picked item"
               and not t.get("name", "").startswith("cold items") and t.get("type") in ("scatter", "scattergl"))


def test_tokens_page_draws_both_maps_tables_and_codebooks(trained_home):
    at = new_app(trained_home, "tokens")
    no_problems(at)
    figs = figures(at)
    maps = [f for f in figs if "item vectors" in f["layout"].get("title", {}).get("text", "")]
    assert len(maps) == 2 and all(points(f) == 1849 for f in maps)
    assert "MOTOR item vectors (PCA)" in maps[0]["layout"]["title"]["text"]
    assert "ID item vectors (PCA)" in maps[1]["layout"]["title"]["text"]
    hover = [t for t in maps[0]["data"] if t.get("text")][0]["text"]
    assert any("(19" in h for h in hover)  # titles with years
    assert any(t.get("name") == "K (codewords available)" for f in figs for t in f["data"])
    frames = [d.value for d in at.dataframe]
    tokens = next(f for f in frames if "items with this token" in f.columns)
    assert len(tokens) == 8 and tokens["label"].str.match(r"^(image|text) s\d c\d+$").all()
    assert any("shared tokens" in f.columns for f in frames)
    assert {m.label for m in at.metric} >= {"Collision rate", "Token vocabulary (V)"}
    # colour by a token: the map highlights exactly the items that carry it
    at.radio(key="w:colour").set_value("token")
    at.run()
    no_problems(at)
    carriers = next(d.value for d in at.dataframe if "interactions" in d.value.columns and "cold" in d.value.columns)
    assert len(carriers) == int(tokens["items with this token"].iloc[0])
    hi = [t for t in figures(at)[0]["data"] if t.get("name", "").startswith(("image", "text"))]
    assert len(hi) == 1 and len(arr(hi[0]["x"])) == len(carriers)


def test_similar_items_come_from_the_runs_search_index(trained_home, monkeypatch):
    """The Tokens and How pages ask the run for its index (IVF-PQ above the catalogue threshold) instead of
    building an exact one: with the run's index made approximate, the tables are what that index returns."""
    from motor.explore.catalogue import item_label
    from motor.retrieval import VectorIndex
    from motor.runs import LoadedRun

    built, asked = {}, []

    def approximate_index(self):
        asked.append(self.path.name)
        if self.path.name not in built:  # as for a catalogue above APPROX_FROM_ITEMS: IVF-PQ, recall measured
            users, items = self.vectors()
            built[self.path.name] = (self, VectorIndex(items, kind="ivfpq", queries=users, seed=0))
        return built[self.path.name][1]

    monkeypatch.setattr(LoadedRun, "index", approximate_index)
    at = new_app(trained_home, "tokens")
    no_problems(at)
    assert {"id", "motor"} <= set(asked)
    assert "approximate IVF-PQ index, recall@20" in texts(at)
    item = at.session_state["picked"]["item"]
    near = [d.value for d in at.dataframe if "cosine" in d.value.columns]
    for table, variant in zip(near, ("motor", "id")):
        run, index = built[variant]
        _, want = index.similar_items(item, 10, "centred")
        assert table["title"].tolist() == [item_label(run.dataset, int(i)) for i in want]
    asked.clear()
    at.switch_page("app/pages/how.py")
    at.run()
    no_problems(at)
    assert "motor" in asked


def test_attention_page_draws_maps_and_pooling(trained_home):
    at = new_app(trained_home, "attention")
    no_problems(at)
    figs = figures(at)
    heat = [t for f in figs for t in f["data"] if t["type"] == "heatmap"]
    assert len(heat) == 3  # the item and the average on one scale, and their difference (one layer, one head pick)
    z = arr(heat[0]["z"])
    assert z.shape == (8, 8) and np.allclose(z.sum(1), 1, atol=1e-4)  # mean of heads: rows still sum to 1
    assert heat[0]["x"][0].startswith("image s0 c") and heat[1]["x"][0] == "image s0"
    assert heat[0]["zmax"] == heat[1]["zmax"] and heat[0]["zmin"] == heat[1]["zmin"] == 0  # one colour scale
    diff = arr(heat[2]["z"])
    assert np.allclose(diff, z - arr(heat[1]["z"]), atol=1e-6) and heat[2]["zmin"] == -heat[2]["zmax"]
    bars = [t for f in figs for t in f["data"] if t["type"] == "bar"]
    assert abs(arr(bars[0]["x"]).sum() - 1) < 1e-4
    head = at.selectbox(key="w:att_head")
    assert head.options[0].startswith("mean of the 2 heads") and len(head.options) == 3
    head.set_value(1)
    at.run()
    no_problems(at)
    one = [t for f in figures(at) for t in f["data"] if t["type"] == "heatmap"]
    assert "head 2" in json.dumps(figures(at)[0]["layout"]["annotations"])
    assert np.allclose(arr(one[0]["z"]).sum(1), 1, atol=1e-4) and not np.allclose(arr(one[0]["z"]), z)
    assert at.selectbox(key="w:att_layer").options == ["layer 1 of 1"]


def test_recommend_page_shows_both_lists_with_hits_and_overlap(trained_home):
    at = new_app(trained_home, "recommend")
    no_problems(at)
    frames = [d.value for d in at.dataframe]
    lists = [f for f in frames if "rank" in f.columns]
    assert len(lists) == 2 and all(len(f) == 10 for f in lists)
    assert {"hit", "cold", "in other list"} <= set(lists[0].columns)
    labels = {m.label: m.value for m in at.metric}
    both = int(labels["In both lists"].split()[0])
    assert both == len(set(lists[0]["title"]) & set(lists[1]["title"])) == int(lists[0]["in other list"].sum())
    assert any("title" in f.columns and "genres" in f.columns for f in frames)  # history
    at.slider(key="w:k").set_value(20)
    at.run()
    assert all(len(d.value) == 20 for d in at.dataframe if "rank" in d.value.columns)


def test_random_user_button_picks_a_user_without_crashing(trained_home):
    at = new_app(trained_home, "recommend")
    no_problems(at)
    users = at.selectbox(key="w:user:demo").options
    assert len(users) > 1
    seen = set()
    for _ in range(4):
        next(b for b in at.button if b.label == "Random user").click()
        at.run()
        no_problems(at)
        seen.add(at.selectbox(key="w:user:demo").value)
        assert any(o.startswith(f"user {at.selectbox(key='w:user:demo').value} ·") for o in users)
    assert len(seen) > 1  # it really picks (4 draws among hundreds of users)
    lists = [d.value for d in at.dataframe if "rank" in d.value.columns]
    assert len(lists) == 2


def test_compare_page_has_metrics_curves_and_downloads(trained_home):
    at = new_app(trained_home, "compare")
    no_problems(at)
    table = next(d.value for d in at.dataframe if "MOTOR vs ID" in d.value.columns)
    assert {"test recall@20", "test ndcg@10", "item-side parameters", "item-side bytes"} <= set(table.index)
    figs = figures(at)
    names = {t.get("name") for f in figs for t in f["data"]}
    assert {"ID", "MOTOR"} <= names
    curves = [f for f in figs if f["layout"].get("xaxis", {}).get("title", {}).get("text") == "epoch"]
    assert len(curves) == 2 and all(len(arr(t["x"])) == TRAIN_EPOCHS for t in curves[0]["data"])
    assert len(at.get("download_button")) == 4
    # the Recall a popularity ranking gets on the same split, read from the run's own metrics
    from app.workspace import Workspace

    rec = Workspace(trained_home).runs()[0]
    reference = json.loads((rec.folder("motor") / "metrics.json").read_text())["personalisation"]
    assert any(f"gets test Recall@20 {reference['popularity_recall@20']:.4f} on this split" in c.value
               for c in at.caption)


def popularity_figure(at) -> dict:
    return next(f for f in figures(at) if "popularity" in f["layout"].get("title", {}).get("text", ""))


def test_compare_page_charts_the_popularity_buckets_of_both_models(trained_home):
    from app.workspace import Workspace

    rec = Workspace(trained_home).runs()[0]
    at = new_app(trained_home, "compare")
    no_problems(at)
    fig = popularity_figure(at)
    assert [t["name"] for t in fig["data"]] == ["ID", "MOTOR"]
    for t, v in zip(fig["data"], ("id", "motor")):
        buckets = json.loads((rec.folder(v) / "metrics.json").read_text())["by_popularity"]["buckets"]
        assert list(t["x"]) == [b for b in ("head", "mid", "tail", "cold") if buckets[b]["items"]]  # no empty slot
        want = [np.nan if buckets[b]["recall@20"] is None else buckets[b]["recall@20"] for b in t["x"]]
        assert np.allclose(arr(t["y"]).astype(float), want, equal_nan=True)
    assert "Buckets: head" in texts(at) and "training degree" in texts(at)
    head = [json.loads((rec.folder(v) / "metrics.json").read_text())["by_popularity"]["buckets"]["head"]["recall@20"]
            for v in ("id", "motor")]
    assert f"MOTOR minus ID, test Recall@20: head {head[1] - head[0]:+.4f}, mid " in texts(at)  # where they differ
    rare = next(d.value for d in at.dataframe if "median rank of the user's rare item" in d.value.columns)
    assert rare["model"].tolist() == ["ID", "MOTOR"]  # the "why rare items rank where they do" table
    assert rare["token look-alikes more popular"].isna().tolist() == [True, False]  # tokens only for MOTOR
    assert rare["tail test interactions"].iloc[0] > 0 and "A user's rare test item ranks at a median of" in texts(at)


def test_runs_are_listed_and_reopened_after_a_restart(trained_home):
    import streamlit as st

    st.cache_resource.clear()  # a restarted server: nothing in memory, only the workspace on disk
    st.cache_data.clear()
    at = new_app(trained_home, "runs")
    no_problems(at)
    listed = at.dataframe[0].value
    assert len(listed) == 1 and listed["MOTOR Recall@20"].iloc[0] >= 0
    assert at.selectbox(key="w:active_run").value == listed["run"].iloc[0]
    at.switch_page("app/pages/compare.py")
    at.run()
    no_problems(at)
    assert len(figures(at)) >= 3


EARLY = "no improvement of valid recall@20 for 8 epochs"


def test_runs_and_compare_say_how_training_ended(trained_home):
    from app.workspace import Workspace
    from motor.run_notes import training_end

    rec = Workspace(trained_home).runs()[0]
    metrics = {v: json.loads((rec.folder(v) / "metrics.json").read_text()) for v in rec.variants}
    at = new_app(trained_home, "runs")
    no_problems(at)
    line = next(m.value for m in at.markdown if m.value.startswith("**How training ended**"))
    for v, m in metrics.items():
        assert training_end(m) in line
        if m["best_epoch"] == m["epochs_run"] and m["stopped"] != "early_stop":
            assert "still improving at the epoch cap" in line and "stopped early" not in line
    at.switch_page("app/pages/compare.py")
    at.run()
    assert any(c.value.startswith("How training ended: ID ") for c in at.caption)


@pytest.mark.parametrize("messages, note", [
    ({"id": EARLY, "motor": EARLY}, f"both: {EARLY}"),
    ({"id": EARLY, "motor": ""}, f"ID: {EARLY}"),
    ({"id": "cancelled after epoch 1", "motor": EARLY}, f"ID: cancelled after epoch 1; MOTOR: {EARLY}"),
], ids=["both", "id-only", "each"])
def test_runs_settings_caption_names_the_model_of_each_stop_message(trained_home, tmp_path, messages, note):
    """The caption under a run's settings said one unnamed clause per model ('...; ...'): each names its model, or
    one clause says both; read from the models' metrics.json, so runs registered before say so too."""
    import shutil

    from app.workspace import Workspace

    src = Workspace(trained_home).runs()[0]
    shutil.copytree(src.path, tmp_path / "runs" / src.run_id)
    for v, message in messages.items():
        path = tmp_path / "runs" / src.run_id / v / "metrics.json"
        path.write_text(json.dumps(dict(json.loads(path.read_text()), message=message)))
    meta = tmp_path / "runs" / src.run_id / "run.json"  # the registry's text as the app wrote it until now
    old = "; ".join(m for m in messages.values() if m)
    meta.write_text(json.dumps(dict(json.loads(meta.read_text()), message=old)))
    assert Workspace(tmp_path).rebuild() == 1
    at = new_app(tmp_path, "runs")
    no_problems(at)
    settings = next(e for e in at.expander if e.label == "Settings of this run")
    assert [c.value for c in settings.caption] == [note]


def test_backbone_picker_shows_the_first_line_of_its_docstring(tmp_path, monkeypatch):
    from motor.models import BACKBONES

    monkeypatch.setattr(BACKBONES["bpr"], "__doc__", "\n    BPR-MF: a user and an item vector per id.\n\n    Longer text.")
    at = new_app(tmp_path, "train")
    at.selectbox(key="w:backbone").set_value("bpr")
    at.run()
    no_problems(at)
    assert "BPR-MF: a user and an item vector per id." in [c.value for c in at.caption]
    assert "Longer text." not in texts(at)


def test_run_line_and_active_run_name_the_models_once(trained_home):
    at = new_app(trained_home, "recommend")
    no_problems(at)
    line = next(m.value for m in at.markdown if m.value.startswith(":material/folder_open: Run"))
    assert line.count("ID") == 1 and line.count("MOTOR") == 1 and "lightgcn" in line and "demo" in line
    box = at.sidebar.selectbox(key="w:active_run")
    assert box.options[0].count("MOTOR") == 1 and len(box.options[0]) <= 32  # fits the sidebar uncut


def test_run_names_tell_the_regimes_apart():
    """A sparse run and a cold-start run of the same backbone, a minute apart, read differently wherever a run is
    picked (the sidebar, the Runs page, each page's run line): the split settings that set them apart."""
    from app.ui import run_name, split_words
    from app.workspace import RunRecord

    def rec(**settings):
        return RunRecord("r", 0.0, "l", "demo", "demo", "lightgcn", ["id", "motor"], settings, {})

    assert split_words({"split.train_fraction": 0.1, "split.cold_items": 0.0}) == ["train 10%"]
    assert split_words({"split": {"train_fraction": 1.0, "cold_items": 0.2}}) == ["cold 20%"]  # a nested config
    assert split_words({}) == [] and split_words({"split.train_fraction": 1.0}) == []
    sparse, cold = run_name(rec(**{"split.train_fraction": 0.1})), run_name(rec(**{"split.cold_items": 0.2}))
    assert "· demo · train 10% ·" in sparse and "· demo · cold 20% ·" in cold and sparse != cold
    assert " · demo · " in run_name(rec()) and "%" not in run_name(rec())


def two_copies_of_the_run(trained_home: Path, home: Path) -> list[str]:
    """The trained demo run twice in a fresh workspace, under two ids (same settings, same time): the ids."""
    import shutil

    from app.workspace import Workspace

    src = Workspace(trained_home).runs()[0]
    ids = [src.run_id, src.run_id[:-6] + "abcdef"]
    for rid in ids:
        shutil.copytree(src.path, home / "runs" / rid)
        meta = home / "runs" / rid / "run.json"
        meta.write_text(json.dumps(dict(json.loads(meta.read_text()), run_id=rid)))
    assert Workspace(home).rebuild() == 2
    return ids


def test_runs_with_alike_labels_each_open_their_own_run(trained_home, tmp_path):
    """Two runs of the same settings in the same minute read alike in few words: the sidebar tells them apart,
    and picking either opens that run (a selectbox sends back the text shown, so equal labels opened one run)."""
    ids = two_copies_of_the_run(trained_home, tmp_path)
    at = new_app(tmp_path, "recommend")
    no_problems(at)
    box = at.sidebar.selectbox(key="w:active_run")
    assert len(set(box.options)) == 2, box.options
    for rid in ids + ids[::-1]:
        at.sidebar.selectbox(key="w:active_run").set_value(rid)
        at.run()
        assert at.session_state["run_id"] == rid
        assert at.sidebar.selectbox(key="w:active_run").value == rid
        no_problems(at)


def test_a_run_deleted_elsewhere_is_reported_at_the_next_rerun_with_what_is_open_now(trained_home, tmp_path):
    from app.workspace import Workspace

    ids = two_copies_of_the_run(trained_home, tmp_path)
    at = new_app(tmp_path, "recommend")
    for gone, now in ((ids[0], "the newest run you can see is open now"), (ids[1], "no run is left to open")):
        at.sidebar.selectbox(key="w:active_run").set_value(gone)
        at.run()
        Workspace(tmp_path).delete(gone)  # by someone else (here: the command line's owner)
        at.run()  # the very next rerun says so, and says what is open now
        no_problems(at)
        notes = [c.value for c in at.sidebar.caption if "was deleted" in c.value]
        assert len(notes) == 1 and gone in notes[0] and now in notes[0], notes
    assert "No trained run yet" in at.info[0].value


def allow_deleting(at):
    return next(c for c in at.checkbox if c.label == "Allow deleting")


def browser_shows_unticked(box, ticked_id: str) -> bool:
    """What a browser shows, which AppTest does not model: a checkbox drawn again under the id it was ticked
    with keeps its tick on screen unless the page sets its value (clearing its session state does not)."""
    return not box.value and (box.id != ticked_id or (box.proto.set_value and not box.proto.value))


def test_allow_deleting_is_per_chosen_run_and_resets_after_a_delete(trained_home, tmp_path):
    """The permission checkbox belongs to the run it was ticked for: picking another run shows it unticked with
    Delete disabled, and after a delete the remaining run's checkbox is unticked too (not left looking ticked)."""
    from app.workspace import Workspace

    ids = two_copies_of_the_run(trained_home, tmp_path)
    at = new_app(tmp_path, "runs")
    no_problems(at)
    at.selectbox(key="w:runs_pick").set_value(ids[0])
    at.run()
    assert not allow_deleting(at).value and at.button(key="w:runs_delete").disabled
    allow_deleting(at).check()
    at.run()
    assert allow_deleting(at).value and not at.button(key="w:runs_delete").disabled
    ticked = allow_deleting(at).id
    at.selectbox(key="w:runs_pick").set_value(ids[1])  # another run: its own, unticked permission
    at.run()
    no_problems(at)
    assert browser_shows_unticked(allow_deleting(at), ticked) and at.button(key="w:runs_delete").disabled
    allow_deleting(at).check()
    at.run()
    ticked = allow_deleting(at).id
    at.button(key="w:runs_delete").click()
    at.run()
    no_problems(at)
    assert [r.run_id for r in Workspace(tmp_path).runs()] == [ids[0]]
    assert at.selectbox(key="w:runs_pick").value == ids[0]
    assert browser_shows_unticked(allow_deleting(at), ticked) and at.button(key="w:runs_delete").disabled
    at.run()  # and it stays so on the next rerun
    assert not allow_deleting(at).value and at.button(key="w:runs_delete").disabled


def test_waiting_training_counts_the_seconds_it_waits(tmp_path):
    import app.jobs

    at = new_app(tmp_path, "train")
    assert app.jobs.TRAIN_LOCK.acquire(timeout=60)  # another training holds the 2 cores
    try:
        train(at, variants="id")
        t0 = time.time()
        while time.time() - t0 < 30:
            time.sleep(0.5)
            at.run()
            bar = [p for p in at.get("progress")]
            text = bar[0].proto.text if bar else ""
            if "waiting" in text and not text.endswith(" 0 s"):
                break
        assert "waiting for another training" in text and not text.endswith(" 0 s"), text
        at.button(key="w:cancel").click()
        at.run()
    finally:
        app.jobs.TRAIN_LOCK.release()
    wait_for_job(at, limit=60)


def test_how_motor_works_walks_one_item_through_the_pipeline(trained_home, tmp_path, monkeypatch):
    from app.workspace import Workspace

    monkeypatch.setenv("MOTOR_LAB_REGIMES_CSV", str(tmp_path / "not-run-yet.csv"))
    monkeypatch.setenv("MOTOR_LAB_BACKBONES_CSV", str(tmp_path / "not-run-either.csv"))
    monkeypatch.setenv("MOTOR_LAB_PERSONALISATION_CSV", str(tmp_path / "nor-this.csv"))
    rec = Workspace(trained_home).runs()[0]
    motor = json.loads((rec.folder("motor") / "metrics.json").read_text())
    at = new_app(trained_home, "how")
    no_problems(at)
    assert at.title[0].value == "How MOTOR works"
    heads = [h.value for h in at.subheader]
    assert heads[0].startswith("1 · Item features") and heads[-4] == "Beside the ID table it replaces"
    assert heads[-3].startswith("When does MOTOR pay off") and heads[-2].startswith("Items with interactions")
    assert heads[-1].startswith("Do the item vectors spread")
    assert "`python -m motor bench regimes`" in texts(at)  # no table yet: how to make it
    assert "`python -m motor bench backbones`" in texts(at)
    assert "`python benchmarks/personalisation.py --jobs 2`" in texts(at)
    tokens = next(d.value for d in at.dataframe if "items with this token" in d.value.columns)
    assert len(tokens) == motor["tokenizer"]["tokens_per_item"]
    audience = next(d.value for d in at.dataframe if "rank for this user" in d.value.columns)
    assert len(audience) == 5 and audience["score"].is_monotonic_decreasing
    growth = next(d.value for d in at.dataframe if "catalogue (items)" in d.value.columns)
    assert growth["MOTOR"].nunique() == 1 and growth["MOTOR"].iloc[0] == motor["params"]["item_side"]
    assert growth["ID"].is_monotonic_increasing
    assert any(t["type"] == "heatmap" for f in figures(at) for t in f["data"])
    first = tokens["label"].tolist()
    picker = next(b for b in at.selectbox if b.label == "Follow this item")
    picker.select_index(5)
    at.run()
    no_problems(at)
    again = next(d.value for d in at.dataframe if "items with this token" in d.value.columns)["label"].tolist()
    assert again != first  # another item, other tokens (the demo's 5th most popular item)


def write_regimes_csv(path: Path) -> None:
    """A hand-made regimes table: ml100k at three fractions x two backbones, demo-longtail at F = 1."""
    import csv

    rows = []
    for data, fractions in (("ml100k", (1.0, 0.25, 0.1)), ("demo-longtail", (1.0,))):
        for f in fractions:
            for backbone, gain in (("lightgcn", 0.3), ("vbpr", -0.1)):
                base = 0.2 * f + 0.05
                for items, value in (("id", base), ("motor", base + gain * (1 - f) / 10)):
                    rows.append({"dataset": data, "train_fraction": f, "backbone": backbone, "items": items,
                                 "seeds": 3, "test_recall@20_mean": round(value, 4), "test_recall@20_std": 0.003,
                                 "tail_recall@20_mean": 0.01, "cold_recall@20_mean": ""})
    with path.open("w", newline="") as fh:
        w = csv.DictWriter(fh, list(rows[0]))
        w.writeheader()
        w.writerows(rows)


def test_how_page_draws_motor_minus_id_against_the_training_fraction(trained_home, tmp_path, monkeypatch):
    path = tmp_path / "regimes.csv"
    write_regimes_csv(path)
    monkeypatch.setenv("MOTOR_LAB_REGIMES_CSV", str(path))
    at = new_app(trained_home, "how")
    no_problems(at)
    fig = next(f for f in figures(at) if "training fraction" in f["layout"].get("title", {}).get("text", ""))
    assert fig["layout"]["title"]["text"].startswith("ml100k")  # the sweep; demo-longtail (F = 1 only) is a table
    lines = {t["name"]: t for t in fig["data"]}
    assert set(lines) == {"lightgcn", "vbpr", "median backbone"}
    assert np.allclose(arr(lines["median backbone"]["y"]), [(0.027 - 0.009) / 2, (0.0225 - 0.0075) / 2, 0.0],
                       atol=2e-4)  # two backbones: their midpoint at each F
    assert arr(lines["lightgcn"]["x"]).tolist() == [0.1, 0.25, 1.0]
    assert np.allclose(arr(lines["lightgcn"]["y"]), [0.3 * 0.9 / 10, 0.3 * 0.75 / 10, 0.0], atol=2e-4)
    assert (arr(lines["vbpr"]["y"])[:2] < 0).all()
    assert arr(lines["vbpr"]["error_y"]["array"])[0] == pytest.approx(0.003 * 2 ** 0.5, abs=1e-6)
    # filled where the gap is clear of the seeds' spread (vbpr at F = 0.1 and 0.25), hollow at F = 1's zero gap
    assert list(lines["vbpr"]["marker"]["symbol"]) == ["circle", "circle", "circle-open"]
    colour = lines["vbpr"]["line"]["color"]
    at.multiselect(key="how_regimes_focus:0").select("lightgcn").run()  # highlight one: the other turns grey
    no_problems(at)
    fig = next(f for f in figures(at) if "training fraction" in f["layout"].get("title", {}).get("text", ""))
    lines = {t["name"]: t for t in fig["data"]}
    assert lines["vbpr"]["line"]["color"] != colour and lines["vbpr"]["error_y"]["visible"] is False
    assert lines["lightgcn"]["error_y"]["visible"] is True and lines["lightgcn"]["line"]["width"] == 2
    single = next(d.value for d in at.dataframe if "gap" in d.value.columns)
    assert set(single["dataset"]) == {"demo-longtail"} and len(single) == 2
    assert set(single["settings"]) == {"defaults"}  # no tuned column: no claim of a search
    assert any("Open the long-tail demo" in c.value for c in at.caption)  # where to try it
    captions = [c.value for c in at.caption]  # the count the chart shows, in words (no tuned column: no claim)
    # and how many of those gaps stand out from the seeds' spread (3 seeds of std 0.003 a side: vbpr's -0.0075 and
    # -0.009 do, the zero gaps at F = 1 do not)
    assert ("ml100k: MOTOR ahead of ID on 0 of 2 at F = 1 (clearly on 0, ID clearly ahead on 0), 1 of 2 at F = 0.25 "
            "(clearly on 1, ID clearly ahead on 1), 1 of 2 at F = 0.1 (clearly on 1, ID clearly ahead on 1).") in captions
    assert any("Welch's t-test over the seeds, p < 0.05" in c for c in captions)  # what 'clearly' means
    assert single["p"].tolist() == [1.0, 1.0]  # demo-longtail's gaps of 0
    empty = new_app(tmp_path / "no-runs", "how")  # no run yet: the hint, and still the benchmark's figure
    no_problems(empty)
    assert "No trained run yet" in empty.info[0].value
    assert any("training fraction" in f["layout"].get("title", {}).get("text", "") for f in figures(empty))
    path.write_text("dataset,backbone\nml100k,lightgcn\n")  # not a regimes table: says so, the page stays
    at.run()
    assert any("not a regimes table" in e.value and "train_fraction" in e.value for e in at.error)


def test_how_page_counts_the_single_fraction_wins_and_those_with_settings_from_another_dataset(
        trained_home, tmp_path, monkeypatch):
    """demo-longtail is measured at F = 1 only (a table, no line): its count is said in words, and so is the
    rerun with each backbone's settings chosen on ML-100K (benchmarks/regimes_longtail_tuned.csv)."""
    path, borrowed = tmp_path / "regimes.csv", tmp_path / "regimes_longtail_tuned.csv"
    write_regimes_csv(path)
    rows = [f"demo-longtail,1.0,{b},{items},{seeds},True,ml100k F=1,{value}"
            for b, seeds, (i, m) in (("lightgcn", 3, (0.20, 0.21)), ("vbpr", 2, (0.20, 0.15)))
            for items, value in (("id", i), ("motor", m))]
    borrowed.write_text("dataset,train_fraction,backbone,items,seeds,tuned,tuned_on,test_recall@20_mean\n"
                        + "\n".join(rows) + "\n")
    monkeypatch.setenv("MOTOR_LAB_REGIMES_CSV", str(path))
    monkeypatch.setenv("MOTOR_LAB_REGIMES_LONGTAIL_TUNED_CSV", str(borrowed))
    at = new_app(trained_home, "how")
    no_problems(at)
    said = texts(at)
    assert ("demo-longtail with the documented defaults, 3 seeds: MOTOR ahead of ID on 0 of 2 at F = 1 (clearly on 0, "
            "ID clearly ahead on 0).") in said
    assert ("demo-longtail with settings chosen on ml100k F=1 validation, 2-3 seeds: MOTOR ahead of ID on 1 of 2 at "
            "F = 1 (each backbone's settings from another dataset's search") in said  # not '(tuned)': not tuned here
    borrowed.unlink()  # no such table: nothing claimed
    at.run()
    no_problems(at)
    assert "ml100k F=1" not in texts(at)


def test_how_page_keeps_the_highlighted_backbones_across_page_switches(trained_home, tmp_path, monkeypatch):
    """A presenter highlights a backbone on the regimes chart, shows another page, comes back: the highlight is
    still there (it was an unbound widget, which Streamlit forgets when its page is not drawn)."""
    path = tmp_path / "regimes.csv"
    write_regimes_csv(path)
    monkeypatch.setenv("MOTOR_LAB_REGIMES_CSV", str(path))
    at = new_app(trained_home, "how")
    at.multiselect(key="how_regimes_focus:0").select("lightgcn").run()
    no_problems(at)
    for page in ("tokens", "how"):
        at.switch_page(f"app/pages/{page}.py")
        at.run()
        no_problems(at)
    assert at.multiselect(key="how_regimes_focus:0").value == ["lightgcn"]
    fig = next(f for f in figures(at) if "training fraction" in f["layout"].get("title", {}).get("text", ""))
    lines = {t["name"]: t for t in fig["data"]}
    assert lines["vbpr"]["error_y"]["visible"] is False and lines["lightgcn"]["error_y"]["visible"] is True


def test_how_page_shows_the_backbone_table_on_warm_and_new_items(trained_home, tmp_path, monkeypatch):
    from tests.test_app_core import write_backbones_csv

    regimes_path, path = tmp_path / "regimes.csv", tmp_path / "backbones.csv"
    write_regimes_csv(regimes_path)
    write_backbones_csv(path)
    (tmp_path / "RESULTS.md").write_text("<!-- suite:backbones -->\n| t |\n\n_Date: 2026-12-05._\n"
                                         "<!-- /suite:backbones -->\n")
    monkeypatch.setenv("MOTOR_LAB_REGIMES_CSV", str(regimes_path))
    monkeypatch.setenv("MOTOR_LAB_BACKBONES_CSV", str(path))
    at = new_app(trained_home, "how")
    no_problems(at)
    title = lambda f: f["layout"].get("title", {}).get("text", "")  # noqa: E731
    warm = next(f for f in figures(at) if title(f) == "d: items with interactions")
    bars = warm["data"][0]
    assert list(bars["x"]) == ["bm3", "vbpr", "lightgcn"]  # by gap, MOTOR's losses first
    assert np.allclose(arr(bars["y"]), [-0.1, -0.05, 0.03], atol=1e-9)
    assert list(bars["marker"]["color"])[-1] != list(bars["marker"]["color"])[0]  # who is ahead, by colour
    # solid where the gap is clear of the seeds' spread (vbpr: no spread on either side), hatched within it
    assert list(bars["marker"]["pattern"]["shape"])[1:] == ["", "/"]
    cold = next(f for f in figures(at) if title(f) == "d: new items, cold Recall@20")
    series = {t["name"]: np.asarray(arr(t["y"]), dtype=float) for t in cold["data"]}
    assert set(series) == {"ID", "MOTOR"} and np.allclose(series["MOTOR"], [0.0, 0.06, 0.08])
    captions = [c.value for c in at.caption]
    head = "d, some of the items (the benchmark's --cold-items) held out as new: MOTOR ahead of ID on 1 of 3 backbones"
    assert any(c.startswith(head) and "on 1 of 3." in c for c in captions)  # the test table has no cold_fraction
    assert any("backbones.csv` (written 2026-12-05)" in c for c in captions)  # the date of the section, not the file
    path.write_text("dataset,backbone\nd,lightgcn\n")  # an unreadable table: said where it would be, and the
    at.run()  # regimes figure above it is still drawn
    assert any("not a backbone table" in e.value for e in at.error)
    assert any("training fraction" in title(f) for f in figures(at))


def test_how_page_shows_how_many_directions_the_item_vectors_use(trained_home, tmp_path, monkeypatch):
    from tests.test_app_core import write_personalisation_csv

    path = tmp_path / "personalisation.csv"
    write_personalisation_csv(path)
    monkeypatch.setenv("MOTOR_LAB_PERSONALISATION_CSV", str(path))
    at = new_app(trained_home, "how")
    no_problems(at)
    title = lambda f: f["layout"].get("title", {}).get("text", "")  # noqa: E731
    ranks = next(f for f in figures(at) if title(f) == "d: effective rank of the item vectors around their mean")
    series = {t["name"]: np.asarray(arr(t["y"]), dtype=float) for t in ranks["data"]}
    assert set(series) == {"ID", "MOTOR"} and np.allclose(series["MOTOR"], [5.2, 18.0, 31.0])  # bm3, lightgcn, slmrec
    overlap = next(f for f in figures(at) if title(f) == "d: share of two users' top-20 in common")
    assert np.allclose(np.asarray(arr(overlap["data"][0]["y"]), dtype=float), [0.40, 0.14, 0.09])  # ID
    points = next(f for f in figures(at) if title(f) == "d: fewer directions, larger loss?")["data"][0]
    assert list(points["text"]) == ["bm3", "lightgcn", "slmrec"]
    assert np.allclose(np.asarray(arr(points["y"]), dtype=float), [-0.07, -0.03, 0.02])
    assert any("rank correlation between the two, over 3 backbones: +1.00" in c.value for c in at.caption)
    assert any(c.value.startswith("d: MOTOR's item vectors span fewer directions than ID's on 2 of 3") for c in at.caption)
    path.write_text("dataset,backbone\nd,bm3\n")  # not the table: said in its place, the other sections stay
    at.run()
    assert any("not a personalisation table" in e.value for e in at.error)
    assert any(h.value.startswith("When does MOTOR pay off") for h in at.subheader)


def test_new_item_page_places_an_unseen_item_by_its_text(trained_home):
    at = new_app(trained_home, "new_item")
    no_problems(at)
    assert not any("rank" in d.value.columns for d in at.dataframe)  # nothing until the button is pressed
    at.text_area(key="w:new_item_text").set_value("Toy Story (1995). Genres: Adventure, Animation, Children, "
                                                  "Comedy, Fantasy. Tags: pixar, fun.")
    at.button(key="w:new_item_go").click()
    at.run()
    no_problems(at)
    assert "text: your text, encoded by the text encoder" in texts(at) and "image: the catalogue's average" in texts(at)
    tokens = next(d.value for d in at.dataframe if "items with this token" in d.value.columns)
    assert len(tokens) == 8 and tokens["label"].str.match(r"^(image|text) s\d c\d+$").all()
    near = next(d.value for d in at.dataframe if "cosine" in d.value.columns)
    assert len(near) == 10
    sharing = next(d.value for d in at.dataframe if "which" in d.value.columns)
    assert sharing["shared tokens"].is_monotonic_decreasing
    # the demo run (LightGCN, no cold items) cannot score it without a cold item: the page says why
    assert "cannot place it" in texts(at)
    assert any("Users whose top-10" in h.value for h in at.subheader)
    assert "cold-item fraction" in texts(at) or any("position" in d.value.columns for d in at.dataframe)
    assert len(at.get("download_button")) == 1
    at.slider(key="w:new_k").set_value(20)
    at.run()
    no_problems(at)
    assert any("Users whose top-20" in h.value for h in at.subheader)  # the placed item stays
    at.switch_page("app/pages/tokens.py")
    at.run()
    at.switch_page("app/pages/new_item.py")
    at.run()  # back: the box still holds the text of the item shown, not the example
    assert at.text_area(key="w:new_item_text").value.startswith("Toy Story (1995)")
    assert any("Users whose top-20" in h.value for h in at.subheader)
    # with a picture: encoded by the shipped image encoder instead of the catalogue's average
    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (64, 96), (200, 30, 30)).save(buf, "PNG")
    at.get_by_key("w:new_item_picture").set_value(("poster.png", buf.getvalue(), "image/png"))
    at.button(key="w:new_item_go").click()
    at.run()
    no_problems(at)
    assert "image: your picture, encoded by the image encoder" in texts(at)


def test_new_item_is_added_only_to_the_sessions_own_upload_when_asked(trained_home, tmp_path):
    """On the bundled demo nothing can be added; on one's own upload an explicit choice appends the item's rows to
    the files, retrains nothing, and says that the ID model needs a retrain."""
    at = new_app(trained_home, "new_item")
    at.button(key="w:new_item_go").click()
    at.run()
    no_problems(at)
    assert "the bundled datasets are read-only" in texts(at)
    assert not [b for b in at.button if b.key == "w:new_item_add"]

    home = tmp_path / "home"
    at = new_app(home)
    _upload(at, _files(write_simple(tmp_path / "mine", n_users=40, n_items=40, per_user=10, dims=(6, 384))), "mine")
    no_problems(at)
    folder = Path(at.session_state["data_config"]["data"])
    at.switch_page("app/pages/train.py")
    at.run()
    train(at, variants="motor")
    wait_for_job(at, limit=120)
    runs_before = sorted(p.name for p in (home / "runs").iterdir())
    at.switch_page("app/pages/new_item.py")
    at.run()
    at.text_area(key="w:new_item_text").set_value("Token Trouble (2026). Genres: Comedy.")
    at.button(key="w:new_item_go").click()
    at.run()
    no_problems(at)
    add = at.button(key="w:new_item_add")
    assert add.disabled  # an explicit choice first
    assert at.text_input(key="w:new_item_id").value == "new-item-1"
    at.checkbox(key="w:new_item_add_confirm").check()
    at.run()
    at.button(key="w:new_item_add").click()
    at.run()
    no_problems(at)
    done = next(s.value for s in at.success if "Added" in s.value)
    assert "new-item-1" in done and "ID model cannot use it until it is retrained" in done
    import pandas as pd

    items = pd.read_csv(folder / "items.csv")
    assert items.iloc[-1]["item"] == "new-item-1" and items.iloc[-1]["title"] == "Token Trouble (2026)"
    with np.load(folder / "text.npz", allow_pickle=False) as z:
        assert z["item_id"][-1] == "new-item-1" and len(z["feat"]) == 41
    with np.load(folder / "image.npz", allow_pickle=False) as z:  # no picture: the average, marked missing
        assert z["missing"][-1] and not z["missing"][:-1].any()
    assert sorted(p.name for p in (home / "runs").iterdir()) == runs_before  # nothing retrained
    at.switch_page("app/pages/tokens.py")  # the run still opens on the changed folder
    at.run()
    no_problems(at)
    from app.workspace import Workspace

    ws, owner = Workspace(home), owner_hash(OWNER)
    ws.share(ws.runs(owner)[0].run_id, owner, True)  # shared with the room: others may open, not add to it
    ws.share_upload(folder, owner, True)
    other = new_app(home, "new_item", session=OTHER)
    other.button(key="w:new_item_go").click()
    other.run()
    no_problems(other)
    assert "only the session that uploaded this dataset can add items" in texts(other)
    assert not [b for b in other.button if b.key == "w:new_item_add"]


def test_presentation_mode_enlarges_figures_and_type(trained_home):
    at = new_app(trained_home, "compare")
    normal = max(f["layout"].get("height", 0) for f in figures(at))
    assert normal < 640 and not at.get("html")
    at.sidebar.toggle(key="present").set_value(True)
    at.run()
    no_problems(at)
    figs = figures(at)
    assert all(f["layout"]["height"] >= 640 and f["layout"]["font"]["size"] == 18 for f in figs)
    assert any("presentation mode" in h.proto.body for h in at.get("html"))
    at.switch_page("app/pages/attention.py")  # stays on across pages
    at.run()
    assert all(f["layout"]["height"] >= 640 for f in figures(at))
    other = new_app(trained_home, "compare")  # another browser session (tab) is not affected
    assert max(f["layout"].get("height", 0) for f in figures(other)) < 640
    at.sidebar.toggle(key="present").set_value(False)
    at.run()
    assert not at.get("html") and all(f["layout"]["height"] < 640 for f in figures(at))


def test_compare_runs_summarises_seeds_with_spread_and_exports_html(tmp_path):
    from app.workspace import Workspace

    at = new_app(tmp_path, "train")
    for seed in (0, 1):
        train(at, **{"variants": "both", "train.seed": seed})
        wait_for_job(at)
        no_problems(at)
    assert len(Workspace(tmp_path).runs()) == 2
    at.switch_page("app/pages/compare_runs.py")
    at.run()
    no_problems(at)
    summary = at.dataframe[0].value
    assert len(summary) == 2 and summary["runs"].tolist() == [2, 2]  # ID and MOTOR, two seeds each
    assert summary["seeds"].tolist() == ["0, 1", "0, 1"]
    assert summary["recall@20 std"].notna().all()  # a spread from two seeds
    gap = [m.value for m in at.markdown if "MOTOR minus ID" in m.value]  # is the gap more than seed noise?
    assert len(gap) == 1 and "2 and 2 seeds" in gap[0] and "p = " in gap[0]
    every = at.dataframe[1].value
    assert len(every) == 4 and set(every["model"]) == {"id", "motor"}
    bars = figures(at)[0]
    assert all(t["error_y"]["visible"] for t in bars["data"])
    pop = popularity_figure(at)  # one bar group per bucket, one bar per setting: mean over the two seeds
    assert len(pop["data"]) == 2 and all(t["error_y"]["visible"] for t in pop["data"])
    from app.charts import COLORS  # the app's colours: ID grey, MOTOR its own (was the palette's blue and orange)
    assert [t["marker"]["color"] for t in pop["data"]] == [COLORS["ID"], COLORS["MOTOR"]]
    runs = Workspace(tmp_path).runs()
    for t, v in zip(pop["data"], ("id", "motor")):
        assert t["name"].startswith("lightgcn · " + {"id": "ID", "motor": "MOTOR"}[v])
        head = [json.loads((r.folder(v) / "metrics.json").read_text())["by_popularity"]["buckets"]["head"]["recall@20"]
                for r in runs]
        assert arr(t["y"])[0] == pytest.approx(np.mean(head))
    html = at.get("download_button")[0].proto
    assert html.label == "Export as HTML report"
    from app import report
    page = report.comparison_html("t", "i", {"x": summary}, [])
    assert page.startswith("<!doctype html>") and "<table" in page
    at.multiselect(key="w:compare_runs").set_value([every["run"].iloc[0]])  # one run: no spread
    at.run()
    no_problems(at)
    one = at.dataframe[0].value
    assert one["runs"].tolist() == [1, 1] and "recall@20 std" not in one.columns
    assert any("train at least two seeds" in m.value for m in at.markdown)  # one seed a side: no test claimed
    for page in ("compare", "compare_runs"):  # the pick outlives showing another page
        at.switch_page(f"app/pages/{page}.py")
        at.run()
    assert at.multiselect(key="w:compare_runs").value == [every["run"].iloc[0]]
    bars = figures(at)[0]  # no error bar drawn where there is no spread, and the title does not claim one
    assert not any(t["error_y"]["visible"] for t in bars["data"])
    assert "no spread" in bars["layout"]["title"]["text"] and "standard deviation" not in bars["layout"]["title"]["text"]


def test_compare_runs_says_so_instead_of_an_empty_cold_chart_when_every_cold_recall_is_0(trained_home, tmp_path):
    from app.workspace import Workspace

    two_copies_of_the_run(trained_home, tmp_path)
    for rec in Workspace(tmp_path).runs():
        for v in rec.variants:
            path = rec.folder(v) / "metrics.json"
            path.write_text(json.dumps(dict(json.loads(path.read_text()), cold={"recall@20": 0.0, "ndcg@20": 0.0})))
    at = new_app(tmp_path, "compare_runs")
    no_problems(at)
    titles = [f["layout"]["title"]["text"] for f in figures(at)]
    assert titles and not any("cold" in t for t in titles)  # was an empty plot on a 0-1 axis
    assert "no run ranked any held-out item in its top 20" in texts(at)


def test_regime_presets_set_the_split_settings(tmp_path):
    from app.regimes import REGIMES, available
    from app.settings import FORM_PATHS

    at = new_app(tmp_path, "train")
    no_problems(at)
    radio = at.radio(key="w:regime")
    assert radio.value == "full" and set(radio.options) >= {"Full data", "Cold start: 20% new items"}
    assert ("Sparse: 10% of interactions" in radio.options) == ("split.train_fraction" in FORM_PATHS)
    radio.set_value("cold")
    at.run()
    no_problems(at)
    assert at.slider(key="w:split.cold_items").value == pytest.approx(0.2)
    assert at.session_state["settings"]["split.cold_items"] == pytest.approx(0.2)
    at.slider(key="w:split.cold_items").set_value(0.35)  # a value no regime has: custom
    at.run()
    assert at.radio(key="w:regime").value == "custom"
    at.radio(key="w:regime").set_value("full")
    at.run()
    assert at.slider(key="w:split.cold_items").value == 0.0 and at.radio(key="w:regime").value == "full"
    assert set(available(FORM_PATHS)) <= set(REGIMES)


COLLAPSED = {"tcn": "attention", "items": 100, "collapsed": True,
             "warnings": ["attention is nearly one-hot: mean largest weight 0.970 > 0.9",
                          "in 80% of items every token attends to the same key (> 30%): their tokens do not cross"],
             "attention": {"layers": [], "mean": {"entropy": 0.1, "max_weight": 0.97, "same_key": 0.8,
                                                  "tv_from_average": 0.02}},
             "pooling": {"max_weight": 0.13, "uniform": 0.125, "T": 8, "entropy": 2.07, "tv_from_average": 0.01}}
HEALTHY = {"tcn": "attention", "items": 100, "collapsed": False, "warnings": [],
           "attention": {"layers": [], "mean": {"entropy": 1.5, "max_weight": 0.45, "same_key": 0.0,
                                                "tv_from_average": 0.3}},
           "pooling": {"max_weight": 0.4, "uniform": 0.125, "T": 8, "entropy": 1.6, "tv_from_average": 0.2}}


POOLING_ONLY = {**HEALTHY, "collapsed": True, "warnings": ["pooling is nearly uniform: mean largest weight 0.191 < 2/T = 0.250"],
                "pooling": {"max_weight": 0.191, "uniform": 0.125, "T": 8, "entropy": 2.0, "tv_from_average": 0.12}}


def collapse_warned(at) -> bool:
    return any("may have collapsed" in w.value for w in at.warning)


def test_sparse_preset_trains_on_a_tenth_and_the_train_page_warns_of_a_collapse(tmp_path, monkeypatch):
    """The Sparse regime sets the training fraction the run is trained with; the finished training shows the
    Token Cross Network's collapse warning from its diagnostics (patched: a 2-epoch run's are whatever they are)."""
    import copy

    from app.workspace import Workspace
    from motor.encoders.token_encoder import MotorEncoder

    given = copy.deepcopy(COLLAPSED)
    monkeypatch.setattr(MotorEncoder, "diagnostics", lambda self: given)
    at = new_app(tmp_path, "train")
    at.radio(key="w:regime").set_value("sparse")
    at.run()
    no_problems(at)
    assert at.slider(key="w:split.train_fraction").value == pytest.approx(0.1)
    assert at.slider(key="w:split.cold_items").value == 0.0
    train(at, **{"variants": "both"})
    wait_for_job(at)
    no_problems(at)
    rec = Workspace(tmp_path).runs()[0]
    assert rec.settings["split.train_fraction"] == pytest.approx(0.1)
    for v in ("id", "motor"):
        cfg = json.loads((rec.folder(v) / "config.json").read_text())
        assert cfg["split"]["train_fraction"] == pytest.approx(0.1)
        m = json.loads((rec.folder(v) / "metrics.json").read_text())
        assert m["split"]["train_fraction"] == pytest.approx(0.1)
        assert set(m["by_popularity"]["buckets"]) == {"head", "mid", "tail", "cold"}
    assert at.radio(key="w:regime").value == "sparse"
    line = next(m.value for m in at.markdown if m.value.startswith("**Test Recall@20 by item popularity**"))
    tail = json.loads((rec.folder("motor") / "metrics.json").read_text())["by_popularity"]["buckets"]["tail"]
    assert f"tail ({tail['items']:,} items) ID " in line and f"MOTOR {tail['recall@20']:.4f}" in line
    assert collapse_warned(at) and "mean largest weight 0.970" in texts(at) + "".join(w.value for w in at.warning)
    shown = {m.label: m.value for m in at.metric}
    assert shown["mean largest attention weight"] == "0.970" and shown["share of same-key items"] == "0.800"
    given.clear()
    given.update(copy.deepcopy(HEALTHY))  # the same job's metrics, now healthy: no warning, the figures stay
    at.run()
    no_problems(at)
    assert not collapse_warned(at)
    assert {m.label: m.value for m in at.metric}["TV distance from the average map"] == "0.300"


def copy_run_with(trained_home: Path, home: Path, diagnostics: dict | None) -> str:
    """The trained demo run copied into a fresh workspace, its MOTOR metrics' diagnostics replaced."""
    import shutil

    from app.workspace import Workspace

    src = Workspace(trained_home).runs()[0]
    shutil.copytree(src.path, home / "runs" / src.run_id)
    path = home / "runs" / src.run_id / "motor" / "metrics.json"
    m = json.loads(path.read_text())
    if diagnostics is None:
        m.pop("item_encoder", None)
    else:
        m["item_encoder"] = diagnostics
    path.write_text(json.dumps(m))
    assert Workspace(home).rebuild() == 1
    return src.run_id


@pytest.mark.parametrize("diagnostics", [COLLAPSED, POOLING_ONLY, HEALTHY, None],
                         ids=["collapsed", "pooling-only", "healthy", "none"])
def test_attention_page_shows_the_collapse_warning_only_for_a_collapsed_run(trained_home, tmp_path, diagnostics):
    copy_run_with(trained_home, tmp_path, diagnostics)
    at = new_app(tmp_path, "attention")
    no_problems(at)
    assert collapse_warned(at) == (diagnostics is COLLAPSED)
    shown = {m.label: m.value for m in at.metric}
    if diagnostics is None:  # a run from before the diagnostics: nothing claimed
        assert "mean largest attention weight" not in shown
    else:
        assert shown["mean largest attention weight"] == f"{diagnostics['attention']['mean']['max_weight']:.3f}"
        assert shown["pooling: mean largest weight"] == f"{diagnostics['pooling']['max_weight']:.3f}"
        # a '≤' limit's arrow points down, a '≥' limit's up; green where healthy, red where it flags a collapse
        # (the arrow followed the text's sign: every limit read '↑', '≤ 0.9' included)
        from streamlit.proto.Metric_pb2 import Metric

        for m in at.metric:
            if m.proto.delta.startswith(("healthy", "collapsed")):
                arrow = Metric.MetricDirection.DOWN if "≤" in m.proto.delta else Metric.MetricDirection.UP
                colour = Metric.MetricColor.GREEN if m.proto.delta.startswith("healthy") else Metric.MetricColor.RED
                assert (m.proto.direction, m.proto.color) == (arrow, colour), m.proto.delta
        assert any("≤" in m.proto.delta for m in at.metric)
    if diagnostics is COLLAPSED:
        assert "every token attends to the same key" in "".join(w.value for w in at.warning)
    pooling_warned = [w.value for w in at.warning if "pooling weighs an item's tokens almost equally" in w.value]
    assert bool(pooling_warned) == (diagnostics is POOLING_ONLY)  # said as what it is, never as "tokens do not cross"
    if pooling_warned:
        assert "tokens do cross" in pooling_warned[0] and "0.191" in pooling_warned[0]


def test_every_remaining_widget_is_pressed(tmp_path):
    """The buttons and boxes no other test touches: reset, colourings, token box, sidebar run box, open, delete."""
    from app.workspace import Workspace

    at = new_app(tmp_path, "train")
    at.get_by_key("w:train.lr").set_value(0.0321)
    at.run()
    at.button(key="w:reset").click()
    at.run()
    no_problems(at)
    assert at.get_by_key("w:train.lr").value != pytest.approx(0.0321)  # back to the preset
    for seed in (3, 4):
        train(at, **{"train.seed": seed})
        wait_for_job(at)
    older, newer = [r.run_id for r in Workspace(tmp_path).runs()][::-1]
    at.switch_page("app/pages/tokens.py")
    at.run()
    for colour in ("cluster", "genre", "shared", "token"):
        at.radio(key="w:colour").set_value(colour)
        at.run()
        no_problems(at)
        if colour == "genre":
            box = at.selectbox(key="w:genre")
            box.set_value(box.options[1].split(" (")[0])
            at.run()
            no_problems(at)
    token_box = at.selectbox(key="w:token")
    token_box.select_index(len(token_box.options) - 1)  # a token the picked item does not carry
    at.run()
    no_problems(at)
    label = token_box.options[-1].split(" · ")[0]
    assert f"carry **{label}**" in texts(at)  # the carriers of the chosen token are listed
    at.sidebar.selectbox(key="w:active_run").set_value(older)  # the sidebar switches the explored run
    at.run()
    no_problems(at)
    assert at.session_state["run_id"] == older
    at.switch_page("app/pages/runs.py")
    at.run()
    at.selectbox(key="w:runs_pick").set_value(newer)
    at.run()
    next(b for b in at.button if b.label == "Open on every page").click()
    at.run()
    no_problems(at)
    assert at.session_state["run_id"] == newer and "This run is open" in texts(at)
    at.checkbox(key=f"w:runs_confirm:{newer}").check()
    at.run()
    at.button(key="w:runs_delete").click()  # the owner deletes their own run
    at.run()
    no_problems(at)
    assert [r.run_id for r in Workspace(tmp_path).runs()] == [older]
    assert at.session_state["run_id"] == older  # the explore pages fall back to the remaining run


def test_the_first_page_does_not_import_torch(tmp_path):
    """The Data page is drawn before the layout worker starts; nothing on it needs torch (seconds to import)."""
    import subprocess
    import sys

    code = ("import sys, app.state\n"
            "app.state.layout_worker = lambda: None  # started after the page; not what is measured here\n"
            "from streamlit.testing.v1 import AppTest\n"
            f"at = AppTest.from_file({APP!r}, default_timeout=120)\n"
            "at.run()\n"
            "assert not at.exception, [e.value for e in at.exception]\n"
            "print('METRICS', len(at.metric), 'TORCH', 'torch' in sys.modules)\n")
    env = dict(os.environ, MOTOR_LAB_HOME=str(tmp_path), MOTOR_LAB_UMAP_WARMUP="0")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert "METRICS 6 TORCH False" in out.stdout, out.stdout[-2000:] + out.stderr[-2000:]


def test_explore_pages_without_a_run_point_to_training(tmp_path):
    for page in ("how", "new_item", "compare_runs", "tokens", "attention", "recommend", "compare", "runs"):
        at = new_app(tmp_path, page)
        no_problems(at)
        assert "No trained run yet" in at.info[0].value
        # no run saved at all: the Runs page has none to pick (it used to send a person on the Runs page to it)
        assert "pick a saved run" not in at.info[0].value


@pytest.mark.parametrize("sep", [",", ";"])  # ';': a spreadsheet saved in a European locale
def test_raw_content_upload_builds_features_in_the_background(tmp_path, monkeypatch, sep):
    import app.uploads
    from tests.test_features import FakeText

    real = app.uploads.build_raw_dataset
    monkeypatch.setattr(app.uploads, "build_raw_dataset",
                        lambda *a, **k: real(*a, **{**k, "encoders": {"text": FakeText()}}))
    src = write_simple(tmp_path / "src", n_items=30)
    for name in ("interactions.csv", "items.csv"):
        pd.read_csv(src / name, dtype=str).to_csv(src / name, sep=sep, index=False)
    at = new_app(tmp_path / "home")
    at.get_by_key("w:raw_inter").set_value(("interactions.csv", (src / "interactions.csv").read_bytes(), "text/csv"))
    at.get_by_key("w:raw_items").set_value(("items.csv", (src / "items.csv").read_bytes(), "text/csv"))
    at.run()
    assert at.multiselect[0].value == ["title", "genres"]
    at.button(key="w:raw_go").click()
    at.run()
    for _ in range(60):
        if any("Dataset built" in s.value for s in at.success):
            break
        time.sleep(0.5)
        at.run()
    no_problems(at)
    assert {m.label: m.value for m in at.metric}["Items"] == "30"
    assert ".staging" not in texts(at)
    assert at.session_state["data_config"]["missing_features"] == "fill_mean"
    at.run()
    assert any("Dataset built" in s.value for s in at.success)  # the message stays while its files are chosen
    at.get_by_key("w:raw_items").set_value(("items.csv", b"item,title\n", "text/csv"))  # other files chosen:
    at.run()
    assert not any("Dataset built" in s.value for s in at.success)  # the old build's message goes


def test_how_page_says_which_items_have_no_content_of_a_modality(tmp_path):
    """On the long-tail demo two thirds of the movies have no poster; step 1 said every item is described by an
    image vector and a text vector. It now says how many have none, and what MOTOR does with them."""
    src = write_simple(tmp_path / "src", n_users=30, n_items=40, per_user=10, dims=(8, 6))
    image = np.load(src / "image.npz")
    np.savez(src / "image.npz", item_id=image["item_id"][:28], feat=image["feat"][:28])  # 12 items without a picture
    at = new_app(tmp_path / "home")
    at.get_by_key("w:upload_fill").set_value(True)
    _upload(at, _files(src), "no-pictures")
    no_problems(at)
    at.switch_page("app/pages/train.py")
    at.run()
    train(at, **{"variants": "motor", "pq:image:k": 8, "pq:text:k": 8})
    wait_for_job(at, limit=180)
    no_problems(at)
    at.switch_page("app/pages/how.py")
    at.run()
    no_problems(at)
    step1 = next(m.value for m in at.markdown if "feature vector" in m.value)
    assert "Every one of" not in step1 and "**image** (8-d; 12 items have none)" in step1, step1
    assert "**text** (6-d)" in step1 and "'missing' tokens" in step1
    used = next(m for m in at.metric if m.label == "Codewords in use").value
    n_used, of = map(int, used.split(" of "))
    assert of == 64 and n_used <= of, used  # the image slots' missing tokens are no codewords


def test_explore_pages_on_an_uploaded_mmrec_dataset_without_titles(tmp_path):
    at = new_app(tmp_path / "home")
    _upload(at, _files(write_mmrec(tmp_path / "mm", n_users=40, n_items=50, per_user=12, dims=(16, 8))), "mm")
    no_problems(at)
    at.switch_page("app/pages/train.py")
    at.run()
    assert at.selectbox(key="w:pq:image:k").value <= 32  # codebooks fitted to 50 items
    train(at, **{"split.cold_items": 0.1})
    wait_for_job(at, limit=120)
    no_problems(at)
    cold = [m.value for m in at.markdown if "New items held out of training" in m.value]  # the run's point
    assert len(cold) == 1 and "ID 0." in cold[0] and "MOTOR 0." in cold[0] and "among the new items only" in cold[0]
    for page in ("tokens", "attention", "recommend", "compare"):
        at.switch_page(f"app/pages/{page}.py")
        at.run()
        no_problems(at)
        assert figures(at) or page == "recommend", page
    table = next(d.value for d in at.dataframe if "MOTOR vs ID" in d.value.columns)
    assert "cold recall@20" in table.index
    sizes = {n: int(str(table.loc["item-side parameters", n]).replace(",", "")) for n in ("ID", "MOTOR")}
    if sizes["MOTOR"] > sizes["ID"]:  # 50 items: the fixed token table and TCN outweigh 50 ID rows
        assert any("50 items MOTOR's item side" in i.value and "From about" in i.value for i in at.info)
    else:
        assert not any("larger than ID's" in i.value for i in at.info)
    at.switch_page("app/pages/tokens.py")
    at.run()
    assert "genre" not in at.radio(key="w:colour").options
    maps = [f for f in figures(at) if "item vectors" in f["layout"].get("title", {}).get("text", "")]
    hover = [t for t in maps[0]["data"] if t.get("text")][0]["text"]
    assert any(h.startswith("item ") for h in hover) and any("(cold)" in h for f in maps for t in f["data"]
                                                            for h in (t.get("text") or []))


def test_an_id_only_run_explains_what_needs_motor(tmp_path):
    at = new_app(tmp_path, "train")
    train(at, variants="id")
    wait_for_job(at)
    for page in ("tokens", "attention"):
        at.switch_page(f"app/pages/{page}.py")
        at.run()
        no_problems(at)
        assert "has no MOTOR model" in at.info[0].value
    at.switch_page("app/pages/how.py")  # no item to follow, but the benchmarks need no run: they stay
    at.run()
    no_problems(at)
    assert "has no MOTOR model" in at.info[0].value
    assert any(h.value.startswith("When does MOTOR pay off?") for h in at.subheader)
    for page in ("recommend", "compare"):
        at.switch_page(f"app/pages/{page}.py")
        at.run()
        no_problems(at)


def test_every_registered_backbone_can_be_chosen_and_configured(tmp_path):
    from app.settings import build_configs
    from motor.models import BACKBONES

    at = new_app(tmp_path, "train")
    for name in sorted(BACKBONES):
        at.selectbox(key="w:backbone").set_value(name)
        at.run()
        no_problems(at)
        assert f"Backbone and optimisation ({name})" in [e.label for e in at.expander]
        s = at.session_state["settings"]
        assert build_configs(s, {"data": "demo"})["motor"].backbone == name  # valid settings for every backbone
