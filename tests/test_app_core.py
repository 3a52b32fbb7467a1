"""The app's non-Streamlit layers: workspace and registry, uploads, settings and jobs (motor.explore: test_explore)."""

from __future__ import annotations

import io
import threading
import time
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from app import settings as app_settings
from app.jobs import TrainJob
from app.layouts import LayoutWorker
from app.uploads import build_raw_dataset, save_upload
from app.workspace import RunRecord, Workspace
from motor.errors import MotorError
from motor.explore import layouts
from motor.runs import LoadedRun
from tests.conftest import write_simple
from tests.test_explore import make_tiny_runs


def files_of(folder: Path):
    return [(p.name, p.read_bytes()) for p in sorted(folder.iterdir())]


@pytest.fixture(scope="module")
def tiny_runs(tmp_path_factory):
    """A tiny dataset with an ID run and a MOTOR run on the same split (for the layout worker)."""
    return make_tiny_runs(tmp_path_factory.mktemp("tiny"))


def test_a_damaged_run_in_the_app_names_the_app_s_way_out_not_a_command(tiny_runs, tmp_path):
    """A run whose metrics.json is damaged said 'python -m motor train ... --out <this server's folder>'."""
    import shutil

    from app import state

    run = shutil.copytree(tiny_runs["id"].path, tmp_path / "run")
    (run / "metrics.json").write_text("{not json")
    with pytest.raises(MotorError) as cli:
        LoadedRun.load(run)
    assert str(cli.value).endswith(f"; train the run again (python -m motor train ... --out {run}) or restore the "
                                   f"folder from a copy")  # the CLI's wording, unchanged
    with pytest.raises(MotorError, match=r"metrics\.json is damaged .*; pick another run \(sidebar\), or train one "
                                         r"again on the Train page$") as app:
        state.loaded_run(run)
    assert "--" not in str(app.value) and "python -m" not in str(app.value)


# --- workspace ------------------------------------------------------------------------------


def record(ws: Workspace, run_id: str, **over) -> RunRecord:
    d = dict(run_id=run_id, created=time.time(), label="x", dataset="demo", data="demo", backbone="bpr",
             variants=["id"], settings={"epochs": 1}, headline={"id": {"recall@20": 0.1}})
    d.update(over)
    return ws.register(RunRecord(**d))


def test_registry_persists_lists_newest_first_and_rebuilds(tmp_path):
    ws = Workspace(tmp_path)
    a_id, _ = ws.new_run_folder()
    b_id, _ = ws.new_run_folder()
    record(ws, a_id, created=1.0)
    record(ws, b_id, created=2.0, headline={"id": {"recall@20": 0.2}})
    again = Workspace(tmp_path)  # a restart
    assert [r.run_id for r in again.runs()] == [b_id, a_id]
    assert again.get(b_id).headline["id"]["recall@20"] == 0.2
    (tmp_path / "registry.sqlite").unlink()  # the database is lost: run.json files rebuild it
    for extra in ("registry.sqlite-wal", "registry.sqlite-shm"):
        (tmp_path / extra).unlink(missing_ok=True)
    fresh = Workspace(tmp_path)
    assert fresh.runs() == [] and fresh.rebuild() == 2
    assert {r.run_id for r in fresh.runs()} == {a_id, b_id}
    fresh.delete(a_id)
    assert [r.run_id for r in fresh.runs()] == [b_id] and not (tmp_path / "runs" / a_id).exists()
    with pytest.raises(MotorError, match="not in the workspace"):
        fresh.get(a_id)


def test_run_folders_are_unique_under_concurrency(tmp_path):
    ws = Workspace(tmp_path)
    ids: list[str] = []
    lock = threading.Lock()

    def make():
        for _ in range(20):
            rid, folder = ws.new_run_folder()
            with lock:
                ids.append(rid)

    threads = [threading.Thread(target=make) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(ids) == len(set(ids)) == 80
    assert len(list((tmp_path / "runs").iterdir())) == 80


def test_unfinished_runs_are_not_listed_and_discard_only_touches_unregistered(tmp_path):
    ws = Workspace(tmp_path)
    rid, folder = ws.new_run_folder()
    assert ws.runs() == []
    done_id, done = ws.new_run_folder()
    record(ws, done_id)
    ws.discard(done)  # registered: kept
    assert done.exists()
    ws.discard(folder)
    assert not folder.exists()


def test_runs_belong_to_their_owner_and_are_seen_by_others_only_when_shared(tmp_path):
    ws = Workspace(tmp_path)
    mine_id, _ = ws.new_run_folder()
    cli_id, _ = ws.new_run_folder()
    record(ws, mine_id, session="alice")
    record(ws, cli_id, session="")  # registered outside the app: everyone sees it, nobody deletes it
    assert {r.run_id for r in ws.runs("alice")} == {mine_id, cli_id}
    assert [r.run_id for r in ws.runs("bob")] == [cli_id]
    with pytest.raises(MotorError, match="not in the workspace"):  # reads exactly like a missing run
        ws.get(mine_id, "bob")
    with pytest.raises(MotorError, match="not in the workspace"):
        ws.delete(mine_id, "bob")
    with pytest.raises(MotorError, match="only the session that trained"):
        ws.delete(cli_id, "bob")
    with pytest.raises(MotorError, match="not in the workspace"):
        ws.share(mine_id, "bob", True)
    ws.share(mine_id, "alice", True)
    assert ws.get(mine_id, "bob").shared and {r.run_id for r in ws.runs("bob")} == {mine_id, cli_id}
    with pytest.raises(MotorError, match="only the session that trained"):
        ws.delete(mine_id, "bob")
    with pytest.raises(MotorError, match="only the session that trained"):
        ws.share(mine_id, "bob", False)
    (tmp_path / "registry.sqlite").unlink()  # the share survives a rebuilt registry (run.json)
    for extra in ("registry.sqlite-wal", "registry.sqlite-shm"):
        (tmp_path / extra).unlink(missing_ok=True)
    fresh = Workspace(tmp_path)
    fresh.rebuild()
    assert fresh.get(mine_id, "bob").shared and fresh.get(mine_id).session == "alice"
    fresh.delete(mine_id, "alice")
    assert not (tmp_path / "runs" / mine_id).exists()


def test_uploads_belong_to_their_owner(tmp_path):
    ws = Workspace(tmp_path)
    res = save_upload(ws.session_uploads("alice"), "a", files_of(write_simple(tmp_path / "s")))
    assert res.ok
    ws.register_upload(res.path, "alice")
    assert [r.name for r in ws.uploads("alice")] == ["a"] and ws.uploads("bob") == []
    assert ws.uploaded_datasets("alice") == [res.path] and ws.uploaded_datasets("bob") == []
    with pytest.raises(MotorError, match="only the session that uploaded"):
        ws.share_upload(res.path, "bob", True)
    with pytest.raises(MotorError, match="not in the upload area"):
        ws.register_upload(res.path, "bob")
    ws.share_upload(res.path, "alice", True)
    assert [(r.name, r.owned_by("bob")) for r in ws.uploads("bob")] == [("a", False)]
    assert ws.uploaded_datasets("bob") == []
    (tmp_path / "registry.sqlite").unlink()  # a lost registry: the folders name their owner
    for extra in ("registry.sqlite-wal", "registry.sqlite-shm"):
        (tmp_path / extra).unlink(missing_ok=True)
    fresh = Workspace(tmp_path)
    assert [r.name for r in fresh.uploads("alice")] == ["a"] and fresh.uploads("bob") == []
    assert not (tmp_path / "uploads" / "bob").exists()  # looking never creates an area


def test_workspace_errors_are_user_messages(tmp_path):
    f = tmp_path / "file"
    f.write_text("x")
    with pytest.raises(MotorError, match="MOTOR_LAB_HOME"):
        Workspace(f)
    with pytest.raises(MotorError, match="invalid session"):
        Workspace(tmp_path / "ok").session_uploads("../x")


# --- uploads --------------------------------------------------------------------------------


def test_upload_validates_in_staging_then_keeps(tmp_path):
    area = tmp_path / "area"
    res = save_upload(area, "My Data!", files_of(write_simple(tmp_path / "s")))
    assert res.ok and res.path == area / "My-Data" and res.dataset.n_items == 30
    assert res.data_config == {"data": str(area / "My-Data"), "duplicates": "error", "missing_features": "error"}
    again = save_upload(area, "My Data!", files_of(write_simple(tmp_path / "s2", seed=1)))
    assert again.ok and again.path.name == "My-Data-2"  # never overwrites an earlier upload
    assert sorted(p.name for p in area.iterdir()) == ["My-Data", "My-Data-2"]


@pytest.mark.parametrize("mutate, expect", [
    (lambda d: (d / "image.npz").unlink() or (d / "text.npz").unlink(), "no feature files"),
    (lambda d: (d / "interactions.csv").write_text("usr,item\nu,m\n"), "no user id column"),
    (lambda d: np.save(d / "extra.npy", np.array([object()], dtype=object), allow_pickle=True), "pickled"),
    # a 0-d array has no length: these were TypeErrors, a traceback on the Data page
    (lambda d: np.savez(d / "image.npz", item_id=np.array(["m0"]), feat=np.float32(1)), "must be a 2-D array"),
    (lambda d: np.savez(d / "image.npz", item_id=np.str_("m0"), feat=np.zeros((1, 4))), "'item_id' must be a 1-D"),
    (lambda d: np.save(d / "image.npy", np.float32(1)), "must be a 2-D array"),
    # accepted by the upload box, then left out by the reader: "no interactions.csv" to a user who gave one
    (lambda d: (d / "interactions.csv").rename(d / "INTERACTIONS.CSV"), "rename it to interactions.csv"),
    # was kept as a modality called 'interactions'
    (lambda d: (d / "interactions.npz").write_bytes((d / "image.npz").read_bytes()), "'interactions' is not one"),
])
def test_bad_uploads_keep_nothing_and_name_the_problem(tmp_path, mutate, expect):
    folder = write_simple(tmp_path / "s")
    mutate(folder)
    area = tmp_path / "area"
    res = save_upload(area, "bad", files_of(folder))
    assert not res.ok and expect in res.message
    assert not area.exists()  # nothing kept, not even an empty upload area


def test_dataset_zip_is_read_safely(tmp_path):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("../evil.csv", "user,item\n")
    res = save_upload(tmp_path / "area", "z", [("a.zip", buf.getvalue())])
    assert not res.ok and "outside the dataset folder" in res.message
    res = save_upload(tmp_path / "area", "z", [("a.zip", b"not a zip")])
    assert not res.ok and "not a readable zip" in res.message
    res = save_upload(tmp_path / "area", "z", [("x;rm -rf.csv", b"user,item\n")])
    assert not res.ok and "file names may only use" in res.message
    res = save_upload(tmp_path / "area", "z", [("../../interactions.csv", b"user,item\nu,m\n")])
    assert not res.ok and res.message.startswith("the upload: no feature files")  # written as its base name only
    assert not (tmp_path / "area").exists() and not (tmp_path / "interactions.csv").exists()


def test_raw_content_with_repeated_rows_says_what_to_change_in_the_file(tmp_path):
    """The raw-content form has no 'keep the last' box (it refuses repeated rows): the message asks for the file
    again, not for '--duplicates keep_last', a flag the app has not."""
    from tests.test_features import FakeText

    res = build_raw_dataset(tmp_path / "area", "content", ("interactions.csv", b"user,item\nu1,m1\nu1,m1\nu2,m2\n"),
                            ("items.csv", b"item,title\nm1,A\nm2,B\n"), ["title"], encoders={"text": FakeText()})
    assert not res.ok and res.message.endswith("item 'm1'); remove them and choose the file again"), res.message


def test_raw_content_checks_the_interactions_before_encoding(tmp_path):
    """A repeated or empty interaction row was found only after every text and picture had been encoded (minutes
    on a real catalogue); the interactions file is now read first."""
    from tests.test_features import FakeText

    class NoEncoding(FakeText):
        def encode(self, *args, **kwargs):
            raise AssertionError("encoded before the interactions were checked")

    for rows, said in ((b"user,item\nu1,m1\nu1,m1\nu2,m2\n", "remove them and choose the file again"),
                       (b"user,item\nu1,\nu2,m2\n", "every row needs a user and an item")):
        res = build_raw_dataset(tmp_path / "area", "content", ("interactions.csv", rows),
                                ("items.csv", b"item,title\nm1,A\nm2,B\n"), ["title"], encoders={"text": NoEncoding()})
        assert not res.ok and said in res.message, res.message


def test_raw_content_with_an_unreadable_zip_asks_for_a_new_zip_not_a_folder(tmp_path):
    """The pictures box takes a .zip only: a damaged one said 'pass a .zip of pictures or a folder'."""
    from tests.test_features import FakeImage, FakeText, damaged_zip

    src = write_simple(tmp_path / "s", n_items=12, n_users=10, per_user=5)
    res = build_raw_dataset(tmp_path / "area", "content", ("interactions.csv", (src / "interactions.csv").read_bytes()),
                            ("items.csv", (src / "items.csv").read_bytes()), ["title"], ("pics.zip", damaged_zip()),
                            encoders={"text": FakeText(), "image": FakeImage()})
    assert not res.ok and res.message.startswith("'pics.zip' is not a readable zip file (Bad magic number"), res.message
    assert res.message.endswith("; make a new zip of the pictures and choose it again.") and "folder" not in res.message
    assert not (tmp_path / "area").exists()  # nothing kept, not even the copy of the zip


def test_raw_content_builds_features_and_a_dataset(tmp_path):
    from tests.test_features import FakeImage, FakeText, picture

    src = write_simple(tmp_path / "s", n_items=12, n_users=10, per_user=5)
    items = pd.read_csv(src / "items.csv")
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for i, iid in enumerate(items["item"][:10]):
            z.writestr(f"posters/{iid}.png", picture((40 * i % 255, 90, 160)))
    seen = []
    res = build_raw_dataset(tmp_path / "area", "content", ("interactions.csv", (src / "interactions.csv").read_bytes()),
                            ("items.csv", (src / "items.csv").read_bytes()), ["title", "genres"],
                            ("pics.zip", buf.getvalue()), progress=lambda m, d, t: seen.append(m),
                            encoders={"text": FakeText(), "image": FakeImage()})
    assert res.ok, res.message
    assert set(res.dataset.modalities) == {"image", "text"} and res.dataset.modalities["text"].dim == 8
    assert {"text", "image"} <= set(seen) and "filled with the mean" in res.message
    bad = build_raw_dataset(tmp_path / "area", "content", ("interactions.csv", b"user,item\nu1,m1\n"),
                            ("items.csv", b"item,title\nm1,A\n"), ["nope"], encoders={"text": FakeText()})
    assert not bad.ok and "nope" in bad.message
    assert sorted(p.name for p in (tmp_path / "area").iterdir()) == ["content"]
    # messages speak of the user's own files, never of this server's folders
    assert str(tmp_path) not in res.message and "items.csv" in res.message
    # the user's zip by its own name, not the server's copy of it ('pictures.zip')
    assert "in zip 'pics.zip'" in res.message and "pictures.zip" not in res.message
    broken = build_raw_dataset(tmp_path / "area", "more", ("interactions.csv", (src / "interactions.csv").read_bytes()),
                               ("items.csv", (src / "items.csv").read_bytes()), ["title"], ("pics.zip", b"not a zip"),
                               encoders={"text": FakeText(), "image": FakeImage()})
    assert not broken.ok and "pics.zip is not a readable .zip file" in broken.message, broken.message
    assert str(tmp_path) not in broken.message
    doubled = io.BytesIO()
    with zipfile.ZipFile(doubled, "w") as z:
        for folder in ("a", "b"):
            z.writestr(f"{folder}/{items['item'][0]}.png", picture((10, 90, 160)))
    twice = build_raw_dataset(tmp_path / "area", "more", ("interactions.csv", (src / "interactions.csv").read_bytes()),
                              ("items.csv", (src / "items.csv").read_bytes()), ["title"], ("posters.zip", doubled.getvalue()),
                              encoders={"text": FakeText(), "image": FakeImage()})
    assert not twice.ok and "matches several pictures in zip 'posters.zip'" in twice.message, twice.message


def test_raw_content_messages_name_the_data_pages_controls_not_cli_flags(tmp_path):
    from app.uploads import PICTURES, TEXT_COLUMNS
    from tests.test_features import FakeImage, FakeText, picture

    def build(items: bytes, cols, pictures=None):
        res = build_raw_dataset(tmp_path / "area", "c", ("interactions.csv", b"user,item\nu1,m1\n"), ("items.csv", items),
                                cols, pictures, encoders={"text": FakeText(), "image": FakeImage()})
        assert not res.ok and "--" not in res.message, res.message  # the app has no --id-col, --image-col, ...
        return res.message

    assert build(b"sku,title\nm1,A\n", ["title"]).endswith("Rename the id column of items.csv to one of those and "
                                                            "choose the file again.")
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("zzz.png", picture())
    assert build(b"item,title\nm1,A\n", ["title"], ("p.zip", buf.getvalue())).endswith("Name files <item_id>.jpg.")
    assert f"'{TEXT_COLUMNS}'" in build(b"item,title\nm1,A\n", []) and f"'{PICTURES}'" in build(b"item,title\nm1,A\n", [])


# --- settings -------------------------------------------------------------------------------


def test_settings_follow_the_preset_and_fit_the_dataset():
    from motor.presets import preset

    s = app_settings.default_settings({"image": 6, "text": 3}, n_items=40)
    q = preset("quick", "motor")
    assert s["backbone"] == q.backbone and s["train.epochs"] == q.train.epochs and s["motor.tcn"] == q.motor.tcn
    pq = s["tokenizer.per_modality"]
    assert pq["text"]["m"] == min(q.tokenizer.m, 3) and pq["image"]["k"] <= 32
    configs = app_settings.build_configs(s, {"data": "demo"})
    assert list(configs) == ["id", "motor"]
    assert configs["motor"].items == "motor" and configs["id"].items == "id"
    assert configs["motor"].tokenizer.per_modality["text"].m == pq["text"]["m"]
    assert configs["id"].train.lr == configs["motor"].train.lr == s["train.lr"]


def test_bad_settings_are_motor_errors():
    s = app_settings.default_settings({"image": 8}, 40)
    s["motor.heads"], s["motor.token_dim"] = 3, 32
    with pytest.raises(MotorError, match="heads=3 must divide token_dim=32"):
        app_settings.build_configs(s, {"data": "demo"})
    s = app_settings.default_settings({"image": 8}, 40)
    s["model"] = {"embeding_dim": 3}
    with pytest.raises(MotorError, match="did you mean 'embedding_dim'"):
        app_settings.build_configs(s, {"data": "demo"})


def test_every_registered_backbone_has_drawable_settings():
    from motor.models import BACKBONES

    for name, cls in BACKBONES.items():
        for f in app_settings.backbone_fields(cls):
            assert f.kind in ("int", "float", "bool", "choice") and f.name


# --- jobs -----------------------------------------------------------------------------------


def test_train_job_runs_in_the_background_and_registers(tmp_path):
    from motor.data.load import load_dataset

    data = write_simple(tmp_path / "d", n_users=30, n_items=40, per_user=10)
    ds = load_dataset(str(data))
    s = app_settings.default_settings({m: x.dim for m, x in ((k, v) for k, v in ds.modalities.items())}, ds.n_items)
    s.update({"train.epochs": 2, "train.batch_size": 64})
    ws = Workspace(tmp_path / "home")
    done = []
    job = TrainJob(ws, app_settings.build_configs(s, {"data": str(data)}), ds, s, "tiny", "sess",
                   on_done=lambda j, outs: done.append(sorted(outs))).start()
    job.join(120)
    assert job.status == "done", job.error
    assert done == [["id", "motor"]]
    assert [len(v.losses) for v in job.variants.values()] == [2, 2] and job.fraction() == 1.0
    rec = ws.runs()[0]
    assert rec.run_id == job.run_id and rec.session == "sess" and set(rec.headline) == {"id", "motor"}
    assert LoadedRun.load(rec.folder("motor")).tokenizer is not None


def test_second_job_waits_for_the_first(tmp_path):
    from app import jobs
    from motor.data.load import load_dataset

    data = write_simple(tmp_path / "d")
    ds = load_dataset(str(data))
    s = app_settings.default_settings({"image": 6, "text": 4}, ds.n_items)
    s.update({"train.epochs": 1, "train.batch_size": 64, "variants": "id"})
    ws = Workspace(tmp_path / "home")
    configs = app_settings.build_configs(s, {"data": str(data)})
    jobs.TRAIN_LOCK.acquire()
    try:
        job = TrainJob(ws, configs, ds, s, "t").start()
        time.sleep(1.0)
        assert job.status == "waiting" and "waiting for another training" in job.message
    finally:
        jobs.TRAIN_LOCK.release()
    job.join(60)
    assert job.status == "done"


# --- UMAP (slow: numba compiles on the first fit in a process) --------------------------------


@pytest.mark.slow
def test_layout_worker_computes_umap_into_the_run_folder(tiny_runs, monkeypatch):
    monkeypatch.setenv("MOTOR_LAB_UMAP", "1")
    run = tiny_runs["motor"]
    worker = LayoutWorker(warmup=False)
    key = layouts.model_key(run.path)
    assert worker.request(run.path, lambda: run.vectors()[1], key) == "queued"
    for _ in range(1200):  # UMAP's first fit JITs for ~20 s on a quiet machine; far longer under load
        if worker.state(run.path) in ("done",) or str(worker.state(run.path)).startswith("failed"):
            break
        time.sleep(0.5)
    assert worker.state(run.path) == "done"
    y = layouts.cached_layout(run.path, run.vectors()[1], "umap", key)
    assert y is not None and y.shape == (40, 2) and np.isfinite(y).all()
    assert worker.request(run.path, lambda: run.vectors()[1], key) == "done"  # computed once per run
    worker.close()


def test_stated_upload_limit_matches_the_server_setting():
    import tomllib

    from app.uploads import MAX_UPLOAD_MB

    cfg = tomllib.loads((Path(__file__).resolve().parents[1] / ".streamlit" / "config.toml").read_text())
    assert cfg["server"]["maxUploadSize"] == MAX_UPLOAD_MB
    assert cfg["server"]["fileWatcherType"] == "none" and cfg["client"]["showErrorDetails"] == "none"


# --- app pieces -----------------------------------------------------------------------------


def test_plural_and_shared_token_scale():
    from app import charts
    from app.ui import plural

    assert plural(1, "group") == "1 group" and plural(3, "group") == "3 groups" and plural(0, "item") == "0 items"
    xy = np.arange(12, dtype=float).reshape(6, 2)
    shared = np.array([0, 0, 1, 2, 3, np.nan])  # item 5 is the picked one
    fig = charts.item_map(xy, [f"i{i}" for i in range(6)], {"kind": "scale", "values": shared,
                                                             "name": "shared tokens", "muted_zero": True}, "t", 5)
    zero, scale, star = fig.data
    assert zero.name == "no shared tokens" and len(zero.x) == 2 and zero.marker.color == charts.MUTED
    assert list(scale.marker.color) == [1, 2, 3] and (scale.marker.cmin, scale.marker.cmax) == (1, 3)
    assert scale.marker.colorscale[0][1] != "#fff7ec"  # the scale's low end is not near-white
    assert star.name == "picked item" and star.x[0] == xy[5, 0]


def test_presentation_mode_wraps_metric_values_instead_of_cutting_them():
    """At 2.6rem a value like '512 of 512' does not fit a column of four at 1400px: Streamlit cuts it to
    '512 of…' (nowrap, hidden overflow, ellipsis) unless presentation mode lets it wrap."""
    import re

    from app.ui import PRESENT_CSS

    rules = re.findall(r"([^{}]*stMetricValue[^{}]*)\{([^}]*)\}", PRESENT_CSS)
    inner = " ".join(body for sel, body in rules if "stMetricValue\"] *" in sel)
    assert "white-space: normal" in inner and "overflow: visible" in inner and "text-overflow: clip" in inner


def test_grouped_bars_leave_zero_bars_unlabelled_so_labels_do_not_run_together():
    from app import charts

    table = pd.DataFrame({"ID": [0.0, 0.0], "MOTOR": [0.0, 0.0123]}, index=["cold recall@20", "cold ndcg@20"])
    fig = charts.grouped_bars(table, list(table.index), "Cold items")
    ids, motor = fig.data
    assert list(ids.text) == ["", ""] and list(motor.text) == ["", "0.0123"]  # was '0.0000' beside '0.0000'
    assert list(ids.y) == [0.0, 0.0] and fig.layout.bargroupgap > 0  # the bars and their hover are still there


def test_bucket_rule_reads_as_a_sentence_after_the_bucket_sizes():
    from motor.explore.popularity import bucket_rule
    from motor.metrics import BUCKET_RULE

    rule = bucket_rule({"by_popularity": {"rule": BUCKET_RULE.format(head=0.2, tail=5)}})
    assert rule.startswith("By training degree d") and rule.endswith(".") and not rule.endswith("..")
    assert bucket_rule({"by_popularity": {"rule": "done."}}) == "Done." and bucket_rule({}) is None


def test_bucket_bars_take_the_colours_given_and_hatch_names_that_share_one():
    from app import charts

    spread = pd.DataFrame({"name": ["a · ID", "b · ID", "a · MOTOR"], "bucket": ["head"] * 3, "runs": [1] * 3,
                           "mean": [0.1, 0.2, 0.3], "std": [np.nan] * 3, "items": [5] * 3})
    colors = {"a · ID": charts.COLORS["ID"], "b · ID": charts.COLORS["ID"], "a · MOTOR": charts.COLORS["MOTOR"]}
    a_id, b_id, a_motor = charts.bucket_bars(spread, "t", colors=colors).data
    assert (a_id.marker.color, b_id.marker.color, a_motor.marker.color) == (charts.COLORS["ID"], charts.COLORS["ID"],
                                                                            charts.COLORS["MOTOR"])
    assert a_id.marker.pattern.shape != b_id.marker.pattern.shape


def test_popularity_chart_leaves_out_buckets_without_items():
    """A run with held-out new items (or none never trained) has an empty 'cold' bucket: it drew an empty slot
    on the Compare and Compare runs pages, beside a caption that lists only the buckets with items."""
    from app import charts
    from motor.explore import popularity

    def metrics(head, cold_items):
        return {"by_popularity": {"k": 20, "buckets": {
            "head": {"items": 3, "test_interactions": 9, "users": 2, "recall@20": head, "ndcg@20": head},
            "mid": {"items": 4, "test_interactions": 5, "users": 2, "recall@20": 0.1, "ndcg@20": 0.1},
            "tail": {"items": 5, "test_interactions": 2, "users": 1, "recall@20": 0.0, "ndcg@20": 0.0},
            "cold": {"items": cold_items, "test_interactions": 0, "users": 0, "recall@20": None, "ndcg@20": None}}}}

    spread = popularity.popularity_spread(popularity.popularity_table({"ID": metrics(0.4, 0), "MOTOR": metrics(0.3, 0)}))
    fig = charts.bucket_bars(spread, "t")
    assert [list(t.x) for t in fig.data] == [["head", "mid", "tail"]] * 2
    assert [list(t.y) for t in fig.data] == [[0.4, 0.1, 0.0], [0.3, 0.1, 0.0]]  # a bucket of zero recall stays
    spread = popularity.popularity_spread(popularity.popularity_table({"ID": metrics(0.4, 7)}))
    assert list(charts.bucket_bars(spread, "t").data[0].x) == ["head", "mid", "tail", "cold"]  # items, no test: kept
    # a first run without a mid bucket (a tiny catalogue) no longer puts mid after cold on the axis
    no_mid = metrics(0.4, 7)
    del no_mid["by_popularity"]["buckets"]["mid"]
    spread = popularity.popularity_spread(popularity.popularity_table([("a", no_mid), ("b", metrics(0.3, 7))]))
    assert list(charts.bucket_bars(spread, "t").layout.xaxis.categoryarray) == ["head", "mid", "tail", "cold"]


def test_item_audience_ranks_agree_with_recommend(tiny_runs):
    from motor.item_story import item_audience

    run = tiny_runs["motor"]
    item = int(np.bincount(run.split.train.item, minlength=run.dataset.n_items).argmax())
    aud = item_audience(run, item, k=3)
    assert len(aud) == 3 and aud["score"].is_monotonic_decreasing
    for user, rank in zip(aud["user"], aud["rank for this user"]):
        recs = [r["item"] for r in run.recommend(user, 10)]
        assert (recs.index(item) + 1 == rank) if rank <= 10 else item not in recs
    with pytest.raises(MotorError, match="out of range"):
        item_audience(run, 10_000)


def test_a_new_item_is_placed_by_its_content_without_retraining(tiny_runs):
    from motor import new_item
    from tests.test_features import FakeText

    run = tiny_runs["motor"]
    ds = run.dataset
    with pytest.raises(MotorError, match="describe the new item"):
        new_item.describe(ds, "  ")
    # the tiny dataset's modalities are not made by the shipped encoders: only with a text encoder of its size
    with pytest.raises(MotorError, match="cannot be described"):
        new_item.describe(ds, "a film")

    class Text6(FakeText):
        def encode(self, texts, progress=None):
            return super().encode(texts, progress)[:, :ds.modalities["text"].dim]

    feats, sources, filled = new_item.describe(ds, "a film about tokens", encoders={"text": Text6()})
    assert "text encoder" in sources["text"] and "average" in sources["image"]
    item = new_item.place(run, feats, sources, filled)
    assert item.token_ids.shape == (run.tokenizer.n_tokens,)
    # an existing item described by its own features gets its own tokens and its own vector
    own = {m: mod.features[[3]] for m, mod in ds.modalities.items()}
    again = new_item.place(run, own)
    assert (again.token_ids == run.tokenizer.token_ids[3]).all()
    near = new_item.nearest_items(run, again.vector, 3)
    assert near["item"].iloc[0] in set(np.flatnonzero((run.tokenizer.token_ids == run.tokenizer.token_ids[3]).all(1)))
    share = new_item.sharing_items(run, again.token_ids, 5)
    assert share["shared tokens"].iloc[0] == run.tokenizer.n_tokens
    final, how = new_item.final_vector(run, again.token_ids)
    assert final is not None, how
    reached = new_item.users_reached(run, final, 5)
    assert reached["position"].between(1, 5).all()
    assert (reached["score"] >= reached["k-th score now"]).all()  # it beats each reached user's k-th item
    everyone = new_item.users_reached(run, final, ds.n_items + 5)  # a k beyond the catalogue: it enters every list
    assert len(everyone) == ds.n_users
    with pytest.raises(MotorError, match="ID run"):
        new_item.place(tiny_runs["id"], own)


def test_a_new_item_without_a_picture_is_marked_missing_where_the_catalogue_marks_items_without_one(tmp_path):
    """On a catalogue whose image modality marks the items without a picture (as the long-tail demo does), a new
    item described without one is one of them: the missing token in every image slot, not the token of an
    average poster; without such marks it gets the average of the real rows, and the app's 'filled' test agrees."""
    from motor import new_item
    from motor.data.load import DataConfig, load_dataset
    from motor.experiment import run_experiment
    from motor.runs import LoadedRun
    from tests.conftest import write_simple
    from tests.test_train import tiny_cfg

    data = write_simple(tmp_path / "data", n_users=30, n_items=40, per_user=10, dims=(8, 6))
    arrays = dict(np.load(data / "image.npz", allow_pickle=False))
    missing = np.arange(40) % 3 == 0
    arrays["feat"][missing] = 0.0
    np.savez(data / "image.npz", **arrays, missing=missing)
    cfg = tiny_cfg(data, items="motor", tokenizer={"m": 2, "k": 4}, motor={"token_dim": 8, "heads": 2},
                   data={"missing_features": "fill_zero"})
    run_experiment(cfg, tmp_path / "run")
    run = LoadedRun.load(tmp_path / "run")
    assert run.dataset.modalities["image"].n_missing == int(missing.sum())
    text_dim = run.dataset.modalities["text"].dim

    class Text:
        def encode(self, texts, progress=None):
            return np.ones((len(texts), text_dim), np.float32)

    feats, sources, filled = new_item.describe(run.dataset, "a film", encoders={"text": Text()})
    assert sources["image"].startswith("marked missing") and "14 items without it" in sources["image"]
    assert filled == {"image": new_item.MISSING}  # the image filled in, the text computed from the item
    item = new_item.place(run, feats, sources, filled)
    tok = run.tokenizer
    image_slots = [t for t, m in enumerate(tok.slot_modality) if tok.modalities[m] == "image"]
    catalogue_missing = tok.token_ids[run.dataset.modalities["image"].missing][:, image_slots]  # item index order
    assert (catalogue_missing == catalogue_missing[0]).all() and (tok.missing_items()["image"]).sum() == 14
    assert (item.token_ids[image_slots] == catalogue_missing[0]).all()  # the catalogue's missing tokens exactly
    plain = load_dataset(DataConfig(data=str(write_simple(tmp_path / "plain", n_items=40, dims=(8, 6)))))
    feats, sources, filled = new_item.describe(plain, "a film", encoders={"text": Text()})
    assert sources["image"].startswith("the catalogue's average") and filled == {"image": new_item.AVERAGE}
    np.testing.assert_allclose(feats["image"][0], plain.modalities["image"].features.mean(0), rtol=1e-5)


def test_item_map_points_carry_their_item_and_cold_items_are_ringed():
    from app import charts

    xy = np.arange(20, dtype=float).reshape(10, 2)
    cold = np.zeros(10, bool)
    cold[[2, 7]] = True
    labels = [f"cluster {i % 9 + 1}" for i in range(10)]
    fig = charts.item_map(xy, [f"i{i}" for i in range(10)], {"kind": "category", "values": labels,
                                                              "order": sorted(set(labels))}, "t", 4, cold=cold)
    by_name = {t.name: t for t in fig.data}
    assert list(by_name["cold items (never in training)"].customdata) == [2, 7]
    for t in fig.data:  # every point's customdata is the item whose coordinates it has
        assert all(xy[int(c), 0] == x for c, x in zip(t.customdata, t.x))
    assert fig.layout.showlegend is not False and fig.layout.legend.orientation == "v"  # 9 clusters: a side legend
    event = {"selection": {"points": [{"curve_number": 0, "point_index": 0, "customdata": 7}]}}
    assert charts.picked_item(event) == 7 and charts.picked_item({"selection": {"points": []}}) is None
    assert charts.picked_item(None) is None and charts.picked_item({"selection": {"points": [{"customdata": [3]}]}}) == 3


def test_comparison_report_is_one_offline_html_file():
    import plotly.graph_objects as go

    from app import report

    figs = [go.Figure(go.Bar(x=["a"], y=[1])), go.Figure(go.Bar(x=["b"], y=[2]))]
    page = report.comparison_html("Runs <compared>", "intro", {"t": pd.DataFrame({"x": [0.5]})}, figs)
    assert page.startswith("<!doctype html>") and "Runs &lt;compared&gt;" in page and "<table" in page
    assert page.count("Plotly.newPlot") == 2 and "<script src=" not in page  # plotly.js inlined once, no CDN
    assert len(page) > 1_000_000  # the inlined plotly.js


def test_a_new_item_can_bring_a_picture(tiny_runs):
    from motor import new_item
    from motor.features.image import ImageEncoding

    run = tiny_runs["motor"]
    dim = run.dataset.modalities["image"].dim

    class Pictures:
        def encode(self, images, progress=None):
            ok = np.array([img != b"broken" for img in images])
            feat = np.stack([np.full(dim, len(img), np.float32) for img in images])
            return ImageEncoding(feat, ok, {i: "not a picture" for i in np.flatnonzero(~ok)})

    class Text:
        def encode(self, texts, progress=None):
            return np.ones((len(texts), run.dataset.modalities["text"].dim), np.float32)

    feats, sources, filled = new_item.describe(run.dataset, "x", b"jpegbytes",
                                               encoders={"image": Pictures(), "text": Text()})
    assert sources["image"].startswith("your picture") and feats["image"].shape == (1, dim)
    assert new_item.place(run, feats, sources, filled).token_ids.shape == (run.tokenizer.n_tokens,)
    with pytest.raises(MotorError, match="picture could not be used: not a picture"):
        new_item.describe(run.dataset, "x", b"broken", encoders={"image": Pictures(), "text": Text()})


def test_collapse_report_flags_each_figure_against_its_threshold():
    from motor.encoders.diagnostics import collapse_warnings
    from motor.explore.collapse import collapse_report

    assert collapse_report({"test": {}}) is None and collapse_report({"item_encoder": {}}) is None
    att = {"entropy": 0.1, "max_weight": 0.95, "same_key": 0.1, "tv_from_average": 0.5}
    pool = {"max_weight": 0.2, "uniform": 0.125, "T": 8, "entropy": 2.0, "tv_from_average": 0.1}
    warnings = collapse_warnings(att, pool)
    rep = collapse_report({"item_encoder": {"tcn": "attention", "items": 10, "attention": {"mean": att},
                                            "pooling": pool, "collapsed": bool(warnings), "warnings": warnings}})
    ok = {f["name"]: f["ok"] for f in rep["figures"]}
    assert ok == {"mean largest attention weight": False, "share of same-key items": True,
                  "TV distance from the average map": True, "pooling: mean largest weight": False}
    assert rep["collapsed"] and len(rep["warnings"]) == 2  # the report agrees with the training's own verdict
    assert next(f for f in rep["figures"] if f["name"].startswith("pooling"))["limit"] == pytest.approx(0.25)
    mean_only = collapse_report({"item_encoder": {"tcn": "mean", "attention": None, "pooling": None,
                                                  "collapsed": False, "warnings": []}})
    assert mean_only["figures"] == [] and not mean_only["collapsed"]


def test_collapse_warning_says_which_part_failed_and_never_that_crossing_tokens_do_not_cross():
    """Only the pooling flagged (the demo at 10% of its data, seed 999: attention healthy, pooling 0.19) used to be
    told as "its tokens hardly cross"; the warning now names the pooling, and the attention only when it failed."""
    from motor.encoders.diagnostics import collapse_warnings
    from motor.explore.collapse import collapse_report, collapse_warning

    def metrics(att, pool, **more):
        warnings = collapse_warnings(att, pool)
        return {"item_encoder": {"tcn": "attention", "items": 10, "attention": {"mean": att}, "pooling": pool,
                                 "collapsed": bool(warnings), "warnings": warnings}, **more}

    crossing = {"entropy": 1.5, "max_weight": 0.41, "same_key": 0.03, "tv_from_average": 0.31}
    one_hot = {**crossing, "max_weight": 0.97}
    flat = {"max_weight": 0.191, "uniform": 0.125, "T": 8, "entropy": 2.0, "tv_from_average": 0.12}
    peaked = {**flat, "max_weight": 0.4}
    assert collapse_warning(metrics(crossing, peaked)) is None and collapse_report(metrics(crossing, peaked))["failed"] is None
    pooling = metrics(crossing, flat, best_epoch=8, epochs_run=16)
    assert collapse_report(pooling)["failed"] == "pooling"
    head, text = collapse_warning(pooling)
    assert "pooling" in head and "collapsed" not in head
    assert "tokens do cross" in text and "0.191" in text and "epoch 8 of 16" in text and "hardly cross" not in text
    for pool in (flat, peaked):  # a failed attention is the headline, whatever the pooling
        head, text = collapse_warning(metrics(one_hot, pool))
        assert head == "The Token Cross Network may have collapsed" and "hardly cross" in text and "0.970" in text
    # a collapsed run written before the figures existed is read as the attention, never as healthy
    old = {"item_encoder": {"tcn": "attention", "collapsed": True, "warnings": ["attention is nearly one-hot"]}}
    assert collapse_warning(old)[0] == "The Token Cross Network may have collapsed"


def test_cold_sentence_and_the_note_where_nothing_was_held_out():
    from motor.explore.popularity import no_held_out_note, popularity_table
    from motor.explore.tables import cold_sentence

    both = {"ID": {"test": {}, "cold": {"recall@20": 0.0, "recall@20_among_cold": 0.0481}},
            "MOTOR": {"test": {}, "cold": {"recall@20": 0.0354, "recall@20_among_cold": 0.1235}}}
    assert cold_sentence(both) == ("**New items held out of training**: Recall@20 ranked among all items ID 0.0000 / "
                                   "MOTOR 0.0354; among the new items only ID 0.0481 / MOTOR 0.1235.")
    assert cold_sentence({"ID": {"test": {}}, "MOTOR": {"test": {}, "cold": {}}}) == ""  # nothing held out
    sparse = {"by_popularity": {"k": 20, "buckets": {
        "head": {"items": 10, "test_interactions": 50, "users": 5, "recall@20": 0.2, "ndcg@20": 0.1},
        "cold": {"items": 545, "test_interactions": 60, "users": 30, "recall@20": 0.0, "ndcg@20": 0.0}}}}
    note = no_held_out_note(popularity_table({"ID": sparse}))
    assert "545 items lost every training interaction to the training fraction" in note
    assert no_held_out_note(popularity_table({"ID": {"test": {}}})).startswith("Train with a cold-item fraction")
    full = {"by_popularity": {"k": 20, "buckets": {"cold": {"items": 0, "test_interactions": 0, "users": 0}}}}
    assert "lost every" not in no_held_out_note(popularity_table({"ID": full}))


def test_popularity_tables_follow_the_bucket_order_and_average_repeats():
    from motor.explore.popularity import bucket_rows, gap_sentence, popularity_spread, popularity_table

    def metrics(head, tail):
        return {"by_popularity": {"k": 20, "rule": "r", "buckets": {
            "tail": {"items": 5, "test_interactions": 30, "users": 2, "recall@20": tail, "ndcg@20": 0.1},
            "head": {"items": 2, "test_interactions": 90, "users": 4, "recall@20": head, "ndcg@20": 0.2},
            "cold": {"items": 0, "test_interactions": 0, "users": 0, "recall@20": None, "ndcg@20": None}}}}

    assert bucket_rows({"test": {}}) == [] and popularity_table({"x": {}}).empty
    assert [r["bucket"] for r in bucket_rows(metrics(0.5, 0.1))] == ["head", "tail", "cold"]
    table = popularity_table([("A", metrics(0.5, 0.1)), ("A", metrics(0.7, 0.3)), ("B", metrics(0.2, 0.0))])
    spread = popularity_spread(table).set_index(["name", "bucket"])
    assert spread.loc[("A", "head"), "mean"] == pytest.approx(0.6) and spread.loc[("A", "head"), "runs"] == 2
    assert spread.loc[("A", "tail"), "std"] == pytest.approx(np.std([0.1, 0.3], ddof=1))
    assert np.isnan(spread.loc[("B", "head"), "std"]) and np.isnan(spread.loc[("A", "cold"), "mean"])
    # where B gains or loses against A: per bucket with both figures (cold has none), the largest named
    assert gap_sentence(popularity_spread(table), "A", "B") == ("B minus A, test Recall@20: head -0.4000, "
                                                                "tail -0.2000; its largest difference is on head items.")
    assert gap_sentence(popularity_spread(table), "A", "C") == "" and gap_sentence(popularity_spread(table.iloc[:0])) == ""
    same = popularity_table([("ID", metrics(0.5, 0.1)), ("MOTOR", metrics(0.5, 0.1))])
    assert gap_sentence(popularity_spread(same)).endswith("tail +0.0000; no difference in any bucket.")
    # a bucket of a few test interactions (one cold item of a tiny upload) is marked, never "the largest"
    def with_cold(head, cold):
        m = metrics(head, 0.1)
        m["by_popularity"]["buckets"]["cold"] = {"items": 1, "test_interactions": 2, "users": 2, "recall@20": cold,
                                                 "ndcg@20": cold}
        return m

    few = gap_sentence(popularity_spread(popularity_table([("ID", with_cold(0.5, 0.0)), ("MOTOR", with_cold(0.52, 1.0))])))
    assert "cold +1.0000 (2 test interactions: too few to tell)" in few and few.endswith("largest difference is on head items.")


def test_regimes_gaps_pair_motor_with_id_per_cell(tmp_path):
    from motor.explore.regimes import gaps, load_regimes, median_gap, sweeps, tuned_note, win_summary

    path = tmp_path / "regimes.csv"
    pd.DataFrame([
        {"dataset": "d", "train_fraction": 1.0, "backbone": "b", "items": "id", "seeds": 3, "test_recall@20_mean": 0.3},
        {"dataset": "d", "train_fraction": 1.0, "backbone": "b", "items": "motor", "seeds": 3,
         "test_recall@20_mean": 0.25},
        {"dataset": "d", "train_fraction": 0.1, "backbone": "b", "items": "ID", "seeds": 2, "test_recall@20_mean": 0.1},
        {"dataset": "d", "train_fraction": 0.1, "backbone": "b", "items": "motor", "seeds": 3,
         "test_recall@20_mean": 0.15},
        {"dataset": "d", "train_fraction": 0.1, "backbone": "c", "items": "motor", "seeds": 3,  # no ID cell: left out
         "test_recall@20_mean": 0.15},
        {"dataset": "l", "train_fraction": 1.0, "backbone": "b", "items": "id", "seeds": 3, "test_recall@20_mean": 0.1},
        {"dataset": "l", "train_fraction": 1.0, "backbone": "b", "items": "motor", "seeds": 3,
         "test_recall@20_mean": 0.2},
    ]).to_csv(path, index=False)
    g = gaps(load_regimes(path))
    assert g[["dataset", "train_fraction"]].values.tolist() == [["d", 0.1], ["d", 1.0], ["l", 1.0]]
    assert np.allclose(g["gap"], [0.05, -0.05, 0.1]) and g["gap_std"].isna().all()  # no std columns
    assert g["seeds"].tolist() == [2, 3, 3] and sweeps(g) == ["d"]
    assert not g["tuned"].any() and tuned_note(g, "d") == ""  # no tuned column: nothing claimed
    df = pd.read_csv(path)
    df["tuned"] = (df["train_fraction"] == 0.1) & (df["backbone"] == "b")
    df.to_csv(tmp_path / "tuned.csv", index=False)
    g = gaps(load_regimes(tmp_path / "tuned.csv"))
    assert g["tuned"].tolist() == [True, False, False]
    assert g["settings"].tolist() == ["tuned on validation", "defaults", "defaults"]
    df["tuned"] = df["tuned"] | (df["dataset"] == "l")  # the long-tail cell with another dataset's choice
    df["tuned_on"] = df["dataset"].map({"l": "d F=1"})  # the others NaN, as empty CSV cells read back
    df.to_csv(tmp_path / "borrowed.csv", index=False)
    borrowed = gaps(load_regimes(tmp_path / "borrowed.csv"))
    assert borrowed["settings"].tolist() == ["tuned on validation", "defaults", "chosen on d F=1 validation"]
    assert tuned_note(g, "d").startswith("settings tuned on validation at F = 0.1 (") and tuned_note(g, "l") == ""
    assert win_summary(g, "d") == "MOTOR ahead of ID on 0 of 1 at F = 1, 1 of 1 at F = 0.1 (tuned)"
    mixed = pd.DataFrame({"dataset": "d", "train_fraction": [0.1, 0.1, 1.0, 1.0], "backbone": list("abab"),
                          "tuned": [True, True, True, False]})  # one cell's tuning failed at F = 1: not 'every F'
    assert tuned_note(mixed, "d") == ("settings tuned on validation at F = 0.1 (the same budget for ID and MOTOR); "
                                      "partly tuned at F = 1 (1 of 2 backbones), the documented defaults elsewhere")
    assert tuned_note(mixed.assign(tuned=True), "d") == "settings tuned on validation at every F"
    three = pd.DataFrame({"dataset": "d", "train_fraction": [0.1, 0.1, 0.1, 1.0], "backbone": list("abcd"),
                          "gap": [0.05, -0.2, 0.01, 0.0]})  # the median, not the mean (-0.047), at F = 0.1
    med = median_gap(three, "d")
    assert med["train_fraction"].tolist() == [0.1, 1.0] and np.allclose(med["gap"], [0.01, 0.0])
    assert med["backbones"].tolist() == [3, 1] and median_gap(three, "other").empty
    (tmp_path / "bad.csv").write_text("dataset,items\nd,id\n")
    with pytest.raises(MotorError, match="python -m motor bench regimes"):
        load_regimes(tmp_path / "bad.csv")
    with pytest.raises(MotorError, match="cannot read"):
        load_regimes(tmp_path / "missing.csv")


def test_committed_longtail_table_with_borrowed_settings_is_the_run_log_aggregated():
    """benchmarks/regimes_longtail_tuned.csv, which How MOTOR works counts, is what benchmarks/longtail_tuned.py
    makes of the committed regimes_runs.jsonl (RESULTS.md: 'it beats ID on 6 of 13')."""
    import runpy

    from motor.bench.regimes import aggregate, rounded
    from motor.explore.regimes import gaps, load_regimes, win_summary

    bench = Path(__file__).resolve().parents[1] / "benchmarks"
    runs = runpy.run_path(str(bench / "longtail_tuned.py"))["borrowed_runs"](bench / "regimes_runs.jsonl")
    made = pd.DataFrame(rounded(aggregate(runs)))
    table = load_regimes(bench / "regimes_longtail_tuned.csv")
    assert len(table) == len(made) == 26 and (table["seeds"].to_numpy() == made["seeds"].to_numpy()).all()
    assert np.allclose(table["test_recall@20_mean"], made["test_recall@20_mean"])
    assert win_summary(gaps(table), "demo-longtail") == (
        "MOTOR ahead of ID on 6 of 13 at F = 1 (clearly on 2, ID clearly ahead on 5)")


def write_backbones_csv(path) -> None:
    """A hand-made per-run backbone table: two backbones x {ID, MOTOR} x two seeds on one dataset, plus a
    MOTOR run without its ID partner (left out of the pairing)."""
    rows = []
    for seed, (a, b) in ((999, (0.30, 0.32)), (1000, (0.32, 0.36))):
        rows += [{"dataset": "d", "backbone": "lightgcn", "items": "id", "seed": seed, "recall@20": a,
                  "cold_recall@20": 0.0},
                 {"dataset": "d", "backbone": "lightgcn", "items": "MOTOR", "seed": seed, "recall@20": b,
                  "cold_recall@20": 0.05 if seed == 999 else 0.07},
                 {"dataset": "d", "backbone": "vbpr", "items": "id", "seed": seed, "recall@20": 0.3,
                  "cold_recall@20": 0.04},
                 {"dataset": "d", "backbone": "vbpr", "items": "motor", "seed": seed, "recall@20": 0.25,
                  "cold_recall@20": 0.08},
                 {"dataset": "d", "backbone": "bm3", "items": "id", "seed": seed, "recall@20": 0.2,
                  "cold_recall@20": 0.0},
                 {"dataset": "d", "backbone": "bm3", "items": "motor", "seed": seed, "recall@20": 0.1,
                  "cold_recall@20": 0.0}]
    rows.append({"dataset": "d", "backbone": "mgcn", "items": "motor", "seed": 999, "recall@20": 0.4,
                 "cold_recall@20": 0.1})
    pd.DataFrame(rows).to_csv(path, index=False)


def test_backbone_table_pairs_motor_with_id_over_seeds(tmp_path):
    from scipy.stats import ttest_ind

    from motor.explore.backbone_table import cold_ratio, held_out, load_backbones, summary, win_summary

    write_backbones_csv(tmp_path / "backbones.csv")
    t = summary(load_backbones(tmp_path / "backbones.csv")).set_index("backbone")
    assert list(t.index) == ["bm3", "lightgcn", "vbpr"]  # sorted; mgcn has no ID runs
    assert t.loc["lightgcn", "id"] == pytest.approx(0.31) and t.loc["lightgcn", "motor"] == pytest.approx(0.34)
    assert t.loc["lightgcn", "gap"] == pytest.approx(0.03)
    assert t.loc["lightgcn", "gap_std"] == pytest.approx(np.hypot(np.std([0.30, 0.32], ddof=1),
                                                                 np.std([0.32, 0.36], ddof=1)))
    assert t.loc["lightgcn", "cold_motor"] == pytest.approx(0.06) and t.loc["lightgcn", "cold_ratio"] == np.inf
    assert t.loc["vbpr", "cold_ratio"] == pytest.approx(2.0) and np.isnan(t.loc["bm3", "cold_ratio"])
    assert (t["seeds"] == 2).all()
    # Welch's test over the two seeds: lightgcn's +0.03 is within its seeds' spread; vbpr's -0.05 with no spread
    # on either side is clear
    assert t.loc["lightgcn", "p"] == pytest.approx(ttest_ind([0.32, 0.36], [0.30, 0.32], equal_var=False).pvalue)
    assert t.loc["lightgcn", "p"] > 0.05 and t.loc["vbpr", "p"] == 0.0
    assert win_summary(t.reset_index(), "d") == ("MOTOR ahead of ID on 1 of 3 backbones on items with training "
                                                  "interactions (clearly on 0, ID clearly ahead on 2); on new items "
                                                  "at least 3x ID's cold Recall@20 (and 0.01) on 1 of 3")
    tiny = t.reset_index().assign(cold_motor=0.005)  # 'inf x' of almost nothing is not finding new items
    assert win_summary(tiny, "d").endswith("on 0 of 3")
    assert win_summary(t.reset_index(), "other") == ""
    assert held_out(t.reset_index(), "d").startswith("some of the items")  # an older table: no cold_fraction
    runs = load_backbones(tmp_path / "backbones.csv")
    assert held_out(summary(runs.assign(cold_fraction=0.2)), "d") == "20% of the items"
    mixed = runs.assign(cold_fraction=np.where(runs["seed"] == 999, 0.1, 0.2))  # runs that differ: no one share
    assert held_out(summary(mixed), "d").startswith("some of the items")
    assert cold_ratio(0.0, 0.0) != cold_ratio(0.0, 0.0) and cold_ratio(0.3, 0.1) == pytest.approx(3.0)
    assert np.isnan(cold_ratio(0.05, float("nan")))  # a side with no figure: no ratio, certainly not inf
    # failed runs (logged with an error and no figures) are neither figures nor seeds; one seed has no spread
    df = pd.read_csv(tmp_path / "backbones.csv")
    failed = pd.DataFrame([{"dataset": "d", "backbone": "mgcn", "items": "id", "seed": 999, "error": "boom"},
                           {"dataset": "d", "backbone": "vbpr", "items": "id", "seed": 1001, "error": "boom"}])
    pd.concat([df, failed]).to_csv(tmp_path / "failed.csv", index=False)
    f = summary(load_backbones(tmp_path / "failed.csv")).set_index("backbone")
    assert list(f.index) == ["bm3", "lightgcn", "vbpr"] and f.loc["vbpr", "seeds"] == 2
    assert win_summary(f.reset_index(), "d").endswith("on 1 of 3")
    one = summary(load_backbones(tmp_path / "backbones.csv").query("seed == 999"))
    assert one["gap_std"].isna().all()
    (tmp_path / "bad.csv").write_text("dataset,items\nd,id\n")
    with pytest.raises(MotorError, match="cold_recall@20"):
        load_backbones(tmp_path / "bad.csv")
    with pytest.raises(MotorError, match="python -m motor bench backbones"):
        load_backbones(tmp_path / "missing.csv")


def test_results_file_dates_a_suite_by_its_section_footer(tmp_path):
    from motor.explore.bench_tables import section_date

    path = tmp_path / "RESULTS.md"
    path.write_text("# Benchmark results\n\n<!-- suite:core -->\nx\n\n_Machine: m. Date: 2026-11-28. Command: c_\n"
                    "<!-- /suite:core -->\n\n<!-- suite:regimes -->\n| a |\n\n_Date: 2026-12-05._\n"
                    "<!-- /suite:regimes -->\n\nDate: 2027-01-01 (outside any section)\n")
    assert section_date(path, "core") == "2026-11-28" and section_date(path, "regimes") == "2026-12-05"
    assert section_date(path, "backbones") is None  # no such section: no date (not the stray one outside)
    assert section_date(tmp_path / "missing.md", "core") is None


def test_append_item_adds_one_row_per_file_and_old_runs_still_load(tmp_path):
    from motor.data.append_item import append_item, free_id, title_of
    from motor.data.load import load_dataset
    from motor.run_folder import dataset_fingerprint
    from tests.conftest import write_mmrec

    folder = write_simple(tmp_path / "up")
    before = load_dataset(str(folder))
    new_id = free_id(folder)
    assert new_id == "new-item-1"
    feats = {"image": np.full((1, 6), 0.5, np.float32), "text": np.arange(4, dtype=np.float32)}
    done = append_item(folder, new_id, "Token Trouble (2026). Genres: Comedy.", feats, {"image": True})
    assert done.files == ["image.npz", "items.csv", "text.npz"] and "image" in done.notes[0]
    items = pd.read_csv(folder / "items.csv")
    assert items.iloc[-1]["item"] == new_id and items.iloc[-1]["title"] == "Token Trouble (2026)"
    with np.load(folder / "text.npz", allow_pickle=False) as z:
        assert z["item_id"][-1] == new_id and np.allclose(z["feat"][-1], np.arange(4)) and "missing" not in z.files
    with np.load(folder / "image.npz", allow_pickle=False) as z:
        assert z["missing"].tolist() == [False] * 30 + [True] and len(z["feat"]) == 31
    after = load_dataset(str(folder))  # no interactions yet: left out, so runs on the folder still load
    assert after.n_items == before.n_items and dataset_fingerprint(after) == dataset_fingerprint(before)
    assert any("no interactions" in w for w in after.warnings)
    with pytest.raises(MotorError, match="already used"):
        append_item(folder, new_id, "again", feats)
    assert free_id(folder) == "new-item-2"
    with pytest.raises(MotorError, match="4-d"):
        append_item(folder, "x", "t", {"image": np.zeros(6), "text": np.zeros(5)})
    with np.load(folder / "text.npz", allow_pickle=False) as z:
        assert len(z["feat"]) == 31  # the refused item changed no file
    with pytest.raises(MotorError, match="MMRec"):
        append_item(write_mmrec(tmp_path / "mm"), "x", "t", feats)
    assert title_of("Heat (1995)") == "Heat (1995)" and title_of("") == "new item"


def test_append_item_keeps_npy_features_aligned_with_items_csv(tmp_path):
    from motor.data.append_item import append_item
    from motor.data.load import load_dataset

    folder = write_simple(tmp_path / "up")
    for name in ("image", "text"):  # the .npy variant: row r = row r of items.csv
        with np.load(folder / f"{name}.npz", allow_pickle=False) as z:
            np.save(folder / f"{name}.npy", z["feat"])
        (folder / f"{name}.npz").unlink()
    append_item(folder, "fresh", "Fresh", {"image": np.ones(6), "text": np.ones(4)})
    assert np.load(folder / "text.npy").shape == (31, 4) and len(pd.read_csv(folder / "items.csv")) == 31
    assert load_dataset(str(folder)).n_items == 30


def test_rare_item_ranks_on_a_hand_made_run():
    from dataclasses import replace
    from types import SimpleNamespace

    import torch

    from motor.data.split import Pairs, Split
    from motor.explore.tail import rare_item_ranks, rare_item_story, rare_item_table

    # 3 users, 6 items; item 5 is the tail item users 0 and 1 test on (user 2 trained on it). User scores: item
    # index order (item 4 best).
    users = np.array([[1.0, 0.0], [1.0, 0.0], [1.0, 0.0]])
    items = np.array([[0.0, 0], [1, 0], [2, 0], [3, 0], [4, 0], [2.5, 0]])
    deg = [7, 7, 7, 7, 7, 1]  # every item popular but item 5 (one training interaction)
    tr_items = np.concatenate([np.full(d, i) for i, d in enumerate(deg)])
    train = Pairs(np.arange(len(tr_items)) % 2, tr_items)
    train.user[tr_items == 4] = 1  # user 0 never trained on item 4, user 1 did (item 4 is masked for user 1)
    train.user[tr_items == 5] = 2  # a test item is never its own user's training item
    test = Pairs(np.array([0, 1]), np.array([5, 5]))
    tids = torch.tensor([[0, 1], [0, 2], [3, 4], [3, 5], [6, 7], [3, 4]])  # item 2 shares both tokens with item 5
    valid = Pairs(np.array([1]), np.array([1]))  # user 1 validated on item 1 (a low score: never above item 5)
    run = SimpleNamespace(vectors=lambda: (users, items),
                          config=SimpleNamespace(items="motor", train=SimpleNamespace(protocol="strict")),
                          split=Split(3, 6, train, valid, test, Pairs(np.zeros(0, int), np.zeros(0, int)),
                                      np.zeros(6, bool), "given", []),
                          model=SimpleNamespace(items=SimpleNamespace(token_ids=tids)))
    got = rare_item_ranks(run)
    assert got["tail_items"] == 1 and got["tail_test_interactions"] == 2
    # user 0 sees items 4 and 3 above item 5 (2.5) except its own trained ones (0, 2) -> 2 above; user 1 has 4 masked
    u0_trained = set(train.item[train.user == 0])
    expected0 = sum(1 for i in (3, 4) if i not in u0_trained)
    expected1 = sum(1 for i in (3, 4) if i not in set(train.item[train.user == 1]))
    assert got["median_rank"] == np.median([expected0, expected1])
    tied = SimpleNamespace(**{**vars(run), "vectors": lambda: (users, np.vstack([items[:4], [[2.5, 0]], items[5:]]))})
    assert rare_item_ranks(tied)["median_rank"] == np.median([1, 0])  # item 4 ties item 5 for user 0: below it
    # masked as the evaluator masks: a validation item above the tail item is not a candidate under 'strict'
    above = SimpleNamespace(**{**vars(run), "split": replace(run.split, valid=Pairs(np.array([0]), np.array([3])))})
    assert rare_item_ranks(above)["median_rank"] == np.median([expected0 - (3 not in u0_trained), expected1])
    mmrec = SimpleNamespace(**{**vars(above), "config": SimpleNamespace(items="motor",
                                                                        train=SimpleNamespace(protocol="mmrec"))})
    assert rare_item_ranks(mmrec)["median_rank"] == got["median_rank"]  # MMRec masks training items only
    held = SimpleNamespace(**{**vars(run), "split": replace(run.split, cold_items=np.eye(6, dtype=bool)[4])})
    assert rare_item_ranks(held)["median_rank"] == np.median([expected0 - (4 not in u0_trained), expected1])
    assert got["neighbours_more_popular"] == 1.0  # its look-alikes (items 2, 3 and the ties) are all more popular
    assert got["corr_log_degree_mean_score"] < 0  # the tail item scores above the weakest popular ones only
    id_run = SimpleNamespace(**{**vars(run), "model": SimpleNamespace(items=SimpleNamespace())})
    assert "neighbours_more_popular" not in rare_item_ranks(id_run)  # no tokens, no look-alikes
    reports = {"ID": {**rare_item_ranks(id_run), "median_rank": 0.0}, "MOTOR": got}
    story = rare_item_story(reports)
    # ranked among the candidates the masks leave: 6 items minus each user's training (and validation) items
    left = [6 - len(set(train.item[train.user == u]) | ({1} if u == 1 else set())) for u in (0, 1)]
    assert got["median_candidates"] == np.median(left) < 6
    assert story.startswith(f"A user's rare test item ranks at a median of {got['median_rank']:.0f} of "
                            f"{np.median(left):,.0f} candidates with MOTOR")
    assert "popular look-alikes may push it down" in story  # every look-alike is more popular here
    table = rare_item_table(reports)
    assert table["model"].tolist() == ["ID", "MOTOR"] and table["token look-alikes more popular"].isna().tolist() == [
        True, False]
    assert rare_item_story({"MOTOR": got}) == ""  # needs both models
    lonely = {**reports, "MOTOR": {**got, "neighbours_more_popular": float("nan")}}  # no item shares a token
    assert "look-alike" not in rare_item_story(lonely) and "nan" not in rare_item_story(lonely)


def write_personalisation_csv(path) -> None:
    """A hand-made personalisation table: three backbones x {ID, MOTOR} x two seeds, plus a run from before the
    figures existed (left out). MOTOR loses most where it keeps the fewest directions."""
    rows = []
    for seed, shift in ((999, 0.0), (1000, 2.0)):
        for backbone, (rid, rmo, oid, omo, gap) in (("lightgcn", (50.0, 14.0, 0.14, 0.19, -0.03)),
                                                    ("bm3", (14.0, 1.2, 0.40, 0.54, -0.07)),
                                                    ("slmrec", (30.0, 27.0, 0.09, 0.08, 0.02))):
            rows += [{"dataset": "d", "backbone": backbone, "items": "id", "seed": seed, "recall@20": 0.3,
                      "top_overlap": oid, "popularity_top_overlap": 0.54, "item_effective_rank": rid + shift,
                      "item_effective_rank_centred": rid + 1, "item_dim": 64},
                     {"dataset": "d", "backbone": backbone, "items": "motor", "seed": seed, "recall@20": 0.3 + gap,
                      "top_overlap": omo, "popularity_top_overlap": 0.54, "item_effective_rank": rmo + shift,
                      "item_effective_rank_centred": rmo + 4, "item_dim": 64}]
    rows.append({"dataset": "d", "backbone": "vbpr", "items": "motor", "seed": 999, "recall@20": 0.3})
    pd.DataFrame(rows).to_csv(path, index=False)


def test_personalisation_table_pairs_motor_with_id_over_seeds(tmp_path):
    from motor.explore.personalisation_table import (
        load_personalisation,
        rank_gap_correlation,
        rank_ratio,
        sentence,
        summary,
    )

    write_personalisation_csv(tmp_path / "p.csv")
    t = summary(load_personalisation(tmp_path / "p.csv"))
    assert list(t["backbone"]) == ["bm3", "lightgcn", "slmrec"]  # vbpr: no figures, no ID side
    row = t.set_index("backbone").loc["lightgcn"]
    assert (row["rank_id"], row["rank_motor"], row["seeds"], row["dim_motor"]) == (51.0, 15.0, 2, 64)
    assert row["overlap_motor"] == pytest.approx(0.19) and row["popularity"] == pytest.approx(0.54)
    assert row["gap"] == pytest.approx(-0.03)
    assert sentence(t, "d") == ("MOTOR's item vectors span fewer directions than ID's on 2 of 3 backbones (median "
                                "effective rank 15.0 against 31.0; around the items' mean 18.0 against 31.0); its "
                                "users' top-20 lists are more alike than ID's "
                                "on 2 of 3 (median share in common 19% against 14%; a popularity ranking: 54%)")
    assert sentence(t, "other") == ""  # slmrec: as many directions as ID around the mean (31 / 31), so not counted
    assert sentence(t.assign(centred_id=np.nan), "d").startswith(  # an older table: the plain ranks (27 < 31)
        "MOTOR's item vectors span fewer directions than ID's on 3 of 3")
    assert rank_ratio(t).round(3).tolist() == [round(5.2 / 15, 3), round(18 / 51, 3), round(31 / 31, 3)]
    assert rank_gap_correlation(t, "d") == pytest.approx(1.0)  # the fewer directions, the larger the loss
    flipped = t.assign(gap=-t["gap"])
    assert rank_gap_correlation(flipped, "d") == pytest.approx(-1.0)
    assert np.isnan(rank_gap_correlation(t[t["backbone"] != "slmrec"], "d"))  # two backbones: no correlation
    (tmp_path / "bad.csv").write_text("dataset,backbone,items,seed\nd,bpr,id,999\n")
    with pytest.raises(MotorError, match="top_overlap"):
        load_personalisation(tmp_path / "bad.csv")
    older = pd.read_csv(tmp_path / "p.csv").drop(columns=["item_dim", "popularity_top_overlap",
                                                          "item_effective_rank_centred"])
    older.to_csv(tmp_path / "older.csv", index=False)  # a table without the optional columns still pairs
    o = summary(load_personalisation(tmp_path / "older.csv"))
    assert o["dim_id"].isna().all() and "around the items' mean" not in sentence(o, "d")
