"""Both readers on tiny fixtures, and every validation error names the file, the place and the fix."""

import numpy as np
import pandas as pd
import pytest

from motor.data.load import DataConfig, load_dataset
from motor.errors import MotorError
from tests.conftest import write_simple


def test_simple_reader_aligns_features_by_item_id(simple_dir):
    ds = load_dataset(str(simple_dir))
    assert ds.n_users == 20 and ds.n_interactions == 160
    assert set(ds.modalities) == {"image", "text"}
    with np.load(simple_dir / "image.npz") as z:
        lookup = dict(zip(z["item_id"], z["feat"]))
    for i, item_id in enumerate(ds.item_ids):
        assert np.allclose(ds.modalities["image"].features[i], lookup[item_id])
    assert ds.title(0).startswith("Movie ")
    for bad, says in ((ds.n_items, "out of range"), (-1, "out of range"), ("m3", "item_index")):
        with pytest.raises(MotorError, match=says):  # was a pyarrow IndexError; -1 the last item's title
            ds.title(bad)
    assert ds.interactions.timestamp is not None and ds.interactions.rating is not None


def test_simple_reader_accepts_npy_aligned_with_items_csv(simple_dir):
    items = pd.read_csv(simple_dir / "items.csv")
    feats = np.arange(len(items) * 3, dtype=np.float32).reshape(len(items), 3)
    (simple_dir / "text.npz").unlink()
    np.save(simple_dir / "text_feat.npy", feats)
    ds = load_dataset(str(simple_dir))
    row = list(items["item"]).index(ds.item_ids[5])
    assert np.array_equal(ds.modalities["text"].features[5], feats[row])


def test_mmrec_reader(mmrec_dir):
    ds = load_dataset(str(mmrec_dir))
    assert ds.n_items == len(np.load(mmrec_dir / "image_feat.npy"))
    assert ds.interactions.label is not None
    assert ds.modalities["text"].dim == 4 and ds.modalities["image"].dim == 6


def test_demo_dataset(demo):
    s = demo.stats()
    assert 550 < s["users"] < 650 and 1700 < s["items"] < 2000 and 50_000 < s["interactions"] < 60_000
    assert s["modalities"] == {"image": {"dim": 1280, "missing_rows": 0}, "text": {"dim": 384, "missing_rows": 0}}
    assert demo.title(list(demo.item_ids).index("1")) == "Toy Story (1995)"
    assert {"genres", "imdb_id", "tmdb_id"} <= set(demo.items.columns)


def err(path, **kw):
    with pytest.raises(MotorError) as e:
        load_dataset(DataConfig(data=str(path), **kw))
    return str(e.value)


def test_missing_user_column_suggests_the_fix(simple_dir):
    df = pd.read_csv(simple_dir / "interactions.csv").rename(columns={"user": "usr"})
    df.to_csv(simple_dir / "interactions.csv", index=False)
    msg = err(simple_dir)
    assert "interactions.csv" in msg and "user id" in msg and "'usr'" in msg and "Rename it" in msg


def test_feature_files_an_mmrec_folder_does_not_read_are_named(mmrec_dir):
    assert load_dataset(str(mmrec_dir)).warnings == []
    np.save(mmrec_dir / "audio.npy", np.ones((3, 2), np.float32))  # not <modality>_feat.npy: left out silently
    (mmrec_dir / "items.csv").write_text("item,title\n0,a\n")
    ds = load_dataset(str(mmrec_dir))
    assert "audio" not in ds.modalities
    assert ds.warnings == ["audio.npy, items.csv: not read (an MMRec folder is read from tiny.inter and its "
                           "<modality>_feat.npy files only); rename a feature matrix to <modality>_feat.npy (row i = "
                           "item i) to use it, or leave these files out"]


def test_mmrec_missing_item_column(mmrec_dir):
    df = pd.read_csv(mmrec_dir / "tiny.inter", sep="\t").rename(columns={"itemID": "item_id"})
    df.to_csv(mmrec_dir / "tiny.inter", sep="\t", index=False)
    msg = err(mmrec_dir)
    assert "tiny.inter" in msg and "itemID" in msg


def test_mmrec_bad_value_names_the_line(mmrec_dir):
    lines = (mmrec_dir / "tiny.inter").read_text().splitlines()
    parts = lines[3].split("\t")
    parts[1] = "abc"
    lines[3] = "\t".join(parts)
    (mmrec_dir / "tiny.inter").write_text("\n".join(lines) + "\n")
    assert "tiny.inter line 4" in err(mmrec_dir)


@pytest.mark.parametrize("huge", ["9223372036854775808", "18446744073709551615", "1e30"])
def test_mmrec_an_id_past_64_bits_is_named_not_wrapped(mmrec_dir, huge):
    lines = (mmrec_dir / "tiny.inter").read_text().splitlines()
    parts = lines[3].split("\t")
    parts[1] = huge
    lines[3] = "\t".join(parts)
    (mmrec_dir / "tiny.inter").write_text("\n".join(lines) + "\n")
    msg = err(mmrec_dir)  # was "itemID is negative (-9223372036854775808)"
    assert f"tiny.inter line 4: column 'itemID' has '{huge}', too large for a 64-bit whole number" in msg


def test_mmrec_bad_x_label(mmrec_dir):
    df = pd.read_csv(mmrec_dir / "tiny.inter", sep="\t")
    df.loc[2, "x_label"] = 7
    df.to_csv(mmrec_dir / "tiny.inter", sep="\t", index=False)
    msg = err(mmrec_dir)
    assert "line 4" in msg and "x_label" in msg and "0 (train)" in msg


def test_mmrec_feature_row_count_mismatch(mmrec_dir):
    feats = np.load(mmrec_dir / "image_feat.npy")
    np.save(mmrec_dir / "image_feat.npy", feats[:-3])
    msg = err(mmrec_dir)
    assert "image_feat.npy" in msg and "rows" in msg and "must match" in msg


def test_mmrec_ids_far_from_contiguous_are_refused_before_anything_that_large(tmp_path):
    (tmp_path / "big.inter").write_text("userID\titemID\n3000000000\t3000000000\n")
    np.save(tmp_path / "image_feat.npy", np.zeros((1, 2), np.float32))
    msg = err(tmp_path)  # was a numpy _ArrayMemoryError: arrays sized by the largest id
    assert "big.inter: userID goes up to 3,000,000,000 but only 1 distinct ids are used" in msg
    assert "ids above 10 x the number used + 100,000 are refused" in msg and "Renumber the ids 0..N-1" in msg
    # unused ids within the margin are fine: item 100,009 is the last feature row, 100,008 items have no interactions
    (tmp_path / "big.inter").write_text("userID\titemID\n0\t0\n0\t100009\n")
    np.save(tmp_path / "image_feat.npy", np.ones((100_010, 2), np.float32))
    assert load_dataset(str(tmp_path)).n_items == 100_010


def test_npy_rows_must_match_items_csv(simple_dir):
    (simple_dir / "text.npz").unlink()
    np.save(simple_dir / "text.npy", np.zeros((7, 3), np.float32))
    msg = err(simple_dir)
    assert "text.npy has 7 rows but items.csv has 30" in msg


def test_items_without_features_are_refused_or_filled(simple_dir):
    with np.load(simple_dir / "image.npz") as z:
        ids, feat = z["item_id"], z["feat"]
    np.savez(simple_dir / "image.npz", item_id=ids[3:], feat=feat[3:])
    msg = err(simple_dir)
    assert "image.npz" in msg and "no feature row" in msg and msg.endswith(
        "; add their rows, or set missing_features to 'fill_mean' or 'fill_zero' (CLI: --missing-features fill_mean) "
        "to fill and mark them")  # the config's and the CLI's names by default (the app passes its own hints)
    ds = load_dataset(DataConfig(data=str(simple_dir), missing_features="fill_mean"))
    m = ds.modalities["image"]
    assert m.n_missing >= 1
    assert np.allclose(m.features[m.missing][0], feat[3:].mean(0), atol=1e-6)
    assert any("modality mean" in w for w in ds.warnings)


def test_features_for_unknown_items_are_reported(simple_dir):
    with np.load(simple_dir / "text.npz") as z:
        ids, feat = z["item_id"], z["feat"]
    np.savez(simple_dir / "text.npz", item_id=np.concatenate([ids, ["ghost"]]),
             feat=np.vstack([feat, np.ones((1, feat.shape[1]), np.float32)]))
    ds = load_dataset(str(simple_dir))
    assert any("text.npz" in w and "no interactions" in w for w in ds.warnings)


def test_interaction_files_beside_interactions_csv_are_named_as_not_read(simple_dir):
    (simple_dir / "other.tsv").write_text("user\titem\nu0\tm1\n")
    (simple_dir / "x.inter").write_text("userID\titemID\n0\t1\n")
    (simple_dir / ".upload_options.json").write_text("{}")  # the app's own file: not the user's
    ds = load_dataset(str(simple_dir))  # they were kept and ignored without a word
    assert ds.warnings == ["other.tsv, x.inter: not read (a dataset folder is read from interactions.csv and "
                           "items.csv only); merge the rows that belong to this dataset into interactions.csv, or "
                           "leave these files out"]
    assert load_dataset("demo").warnings == []


@pytest.mark.parametrize("table", ["interactions", "items"])
def test_a_feature_file_named_after_a_table_is_refused(simple_dir, table):
    (simple_dir / "image.npz").rename(simple_dir / f"{table}.npz")  # it became a modality called {table!r}
    assert f"{table}.npz: a feature file is named after the modality its vectors describe" in err(simple_dir)
    assert f"the {table} are read from {table}.csv" in err(simple_dir)


def test_a_missing_mask_needs_one_flag_per_feature_row(simple_dir):
    with np.load(simple_dir / "image.npz") as z:
        ids, feat = z["item_id"], z["feat"]
    for missing, shape in ((np.zeros(3, bool), "(3,)"), (np.full(30, 0.5), "(30,) of float64")):
        np.savez(simple_dir / "image.npz", item_id=ids, feat=feat, missing=missing)
        msg = err(simple_dir)  # was an IndexError from align_features
        assert "image.npz: 'missing' must hold one True/False flag per row of 'feat' (30 rows)" in msg
        assert f"got shape {shape}" in msg and "bool array of length 30" in msg
    np.savez(simple_dir / "image.npz", item_id=ids, feat=feat, missing=(np.arange(30) == 4).astype(np.int8))
    ds = load_dataset(str(simple_dir))  # 0/1 integers are flags too
    assert ds.item_ids[ds.modalities["image"].missing].tolist() == ["m4"]


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_non_finite_features(simple_dir, bad):
    with np.load(simple_dir / "image.npz") as z:
        ids, feat = z["item_id"], z["feat"].copy()
    feat[4, 2] = bad
    np.savez(simple_dir / "image.npz", item_id=ids, feat=feat)
    msg = err(simple_dir)
    assert "image.npz" in msg and "NaN or infinite" in msg and "item m4" in msg and "column 2" in msg


def test_features_beyond_float32_fail_cleanly_without_a_numpy_warning(simple_dir):
    import warnings

    with np.load(simple_dir / "image.npz") as z:
        ids, feat = z["item_id"], z["feat"].astype(np.float64)
    feat[4, 2] = 1e300  # finite in float64, inf once cast to float32
    feat[6, 0] = -1e39
    np.savez(simple_dir / "image.npz", item_id=ids, feat=feat)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the overflow RuntimeWarning of the cast would fail here
        msg = err(simple_dir)
    assert "image.npz: 2 rows contain NaN, infinite or too large values" in msg
    assert "item m4" in msg and "column 2" in msg and "1e+300" in msg


def test_duplicate_interactions(simple_dir):
    df = pd.read_csv(simple_dir / "interactions.csv")
    df = pd.concat([df, df.iloc[[5]]], ignore_index=True)
    df.to_csv(simple_dir / "interactions.csv", index=False)
    msg = err(simple_dir)
    assert "duplicate" in msg and "lines 7, 162" in msg and msg.endswith(
        "; remove them, or set duplicates to 'keep_last' (CLI: --duplicates keep_last)")
    ds = load_dataset(DataConfig(data=str(simple_dir), duplicates="keep_last"))
    assert ds.n_interactions == 160


def test_mmrec_duplicates(mmrec_dir):
    df = pd.read_csv(mmrec_dir / "tiny.inter", sep="\t")
    pd.concat([df, df.iloc[[0]]]).to_csv(mmrec_dir / "tiny.inter", sep="\t", index=False)
    assert "duplicate" in err(mmrec_dir)


def test_pickled_npy_is_refused(mmrec_dir):
    obj = np.empty(2, dtype=object)
    obj[0], obj[1] = [1.0], [2.0]
    np.save(mmrec_dir / "image_feat.npy", obj, allow_pickle=True)
    msg = err(mmrec_dir)
    assert "image_feat.npy" in msg and "pickled" in msg


def test_unreadable_npy(mmrec_dir):
    (mmrec_dir / "text_feat.npy").write_bytes(b"this is not numpy")
    assert "text_feat.npy is not a readable .npy" in err(mmrec_dir)


def test_npz_with_object_ids_is_refused(simple_dir):
    with np.load(simple_dir / "image.npz") as z:
        feat = z["feat"]
    np.savez(simple_dir / "image.npz", item_id=np.array([f"m{i}" for i in range(30)], dtype=object), feat=feat)
    assert "pickled" in err(simple_dir)


def test_empty_and_missing_files(tmp_path):
    (tmp_path / "interactions.csv").write_text("")
    assert "interactions.csv is empty" in err(tmp_path)
    assert "no such file or folder" in err(tmp_path / "nope")
    assert "'demo-longtail'" in err(tmp_path / "nope") and "'ml100k'" in err(tmp_path / "nope")  # every named source
    (tmp_path / "interactions.csv").write_text("user,item\nu1,i1\n")
    assert "no feature files" in err(tmp_path)


def test_upper_case_file_names_are_named_with_the_rename_not_passed_over(simple_dir, mmrec_dir):
    # they were left out, and the message said there was no interactions.csv or no feature file
    (simple_dir / "interactions.csv").rename(simple_dir / "INTERACTIONS.CSV")
    assert err(simple_dir).endswith("INTERACTIONS.CSV: dataset file names are read in lower case, so it would be "
                                    "left out; rename it to interactions.csv")
    (simple_dir / "INTERACTIONS.CSV").rename(simple_dir / "interactions.csv")
    (simple_dir / "text.npz").rename(simple_dir / "TEXT.NPZ")  # read, it was a dataset without its text modality
    (simple_dir / "items.csv").rename(simple_dir / "Items.csv")
    assert "rename them to items.csv, text.npz" in err(simple_dir)
    (simple_dir / "Items.csv").rename(simple_dir / "items.csv")
    (simple_dir / "image.npz").rename(simple_dir / "Image.npz")  # a capitalised modality name is read, as before
    (simple_dir / "TEXT.NPZ").write_bytes((simple_dir / "Image.npz").read_bytes())
    (simple_dir / "text.npz").write_bytes(b"")
    assert "TEXT.NPZ and text.npz differ only in case; keep one of them" in err(simple_dir)
    (simple_dir / "TEXT.NPZ").unlink()
    (simple_dir / "text.npz").unlink()
    assert set(load_dataset(str(simple_dir)).modalities) == {"Image"}
    inter = next(mmrec_dir.glob("*.inter"))
    inter.rename(mmrec_dir / "TINY.INTER")
    assert "TINY.INTER" in err(mmrec_dir) and "rename it to tiny.inter" in err(mmrec_dir)


def test_semicolon_separated_files_from_a_spreadsheet_read_like_comma_separated_ones(tmp_path):
    from motor.data.append_item import append_item
    from motor.features.items import read_items

    folder = write_simple(tmp_path / "s")
    want = load_dataset(str(folder))
    for name in ("interactions.csv", "items.csv"):  # as a spreadsheet in a European locale saves them
        df = pd.read_csv(folder / name, dtype=str)
        df.to_csv(folder / name, sep=";", index=False, encoding="utf-8-sig")  # with the byte-order mark
    got = load_dataset(str(folder))
    assert got.n_users == want.n_users and got.n_items == want.n_items
    assert np.array_equal(got.interactions.item, want.interactions.item)
    assert sorted(read_items(folder / "items.csv").ids) == sorted(want.item_ids)
    append_item(folder, "fresh", "Fresh, a film", {"image": np.ones(6), "text": np.ones(4)})
    assert (folder / "items.csv").read_text(encoding="utf-8-sig").splitlines()[0] == "item;title;genres"  # kept
    assert read_items(folder / "items.csv").ids[-1] == "fresh"


def test_a_file_that_is_not_utf8_names_the_line_and_the_fix(tmp_path):
    folder = write_simple(tmp_path / "s")
    lines = (folder / "items.csv").read_text().splitlines()
    lines[3] = lines[3].replace("Movie", "Am\u00e9lie")
    (folder / "items.csv").write_bytes("\n".join(lines).encode("latin-1"))  # a Windows spreadsheet's default
    assert "items.csv is not UTF-8 text (byte 0xe9 on line 4); save it as UTF-8" in err(folder)


def test_string_ids_are_remapped_to_contiguous_indices(tmp_path):
    ds = load_dataset(str(write_simple(tmp_path / "s", string_ids=True)))
    assert ds.interactions.user.max() == ds.n_users - 1 and ds.interactions.item.max() == ds.n_items - 1
    assert ds.user_ids[0] == "u0"


def test_fill_zero_marks_missing_rows_and_leaves_them_zero(simple_dir):
    with np.load(simple_dir / "image.npz") as z:
        ids, feat = z["item_id"], z["feat"]
    np.savez(simple_dir / "image.npz", item_id=ids[3:], feat=feat[3:])
    ds = load_dataset(DataConfig(data=str(simple_dir), missing_features="fill_zero"))
    m = ds.modalities["image"]
    assert m.fill == "zeros" and m.n_missing >= 1
    assert (m.features[~m.present] == 0).all() and (m.present == ~m.missing).all()
    assert ds.modalities["text"].present.all()
    assert any("filled with zeros" in w for w in ds.warnings)


def test_demo_longtail_loads_with_expected_counts_and_marks_missing_posters():
    ds = load_dataset(DataConfig(data="demo-longtail"))
    assert (ds.n_users, ds.n_items, ds.n_interactions) == (610, 9724, 100836)
    degree = np.bincount(ds.interactions.item, minlength=ds.n_items)
    assert (degree <= 5).mean() > 0.6  # the long tail it is named for
    image, text = ds.modalities["image"], ds.modalities["text"]
    assert text.present.all() and text.dim == 384
    assert int(image.present.sum()) == 2943 and image.n_missing == 9724 - 2943
    assert (image.features[~image.present] == 0).all() and (np.abs(image.features[image.present]).sum(1) > 0).all()
    # the mask agrees with the has_poster column of items.csv, item by item
    assert (ds.items["has_poster"].to_numpy().astype(int) == image.present.astype(int)).all()
    assert ds.stats()["modalities"]["image"] == {"dim": image.dim, "missing_rows": 6781, "fill": "zeros"}


def test_bundled_longtail_fits_the_size_budget():
    from motor.data.load import LONGTAIL_DIR

    assert sum(f.stat().st_size for f in LONGTAIL_DIR.iterdir()) <= 12e6
    assert (LONGTAIL_DIR / "NOTICE.md").exists() and (LONGTAIL_DIR / "LICENSE-MovieLens.txt").exists()


def test_a_folder_given_as_a_path_reads_like_text_and_other_types_are_named(simple_dir):
    assert load_dataset(simple_dir).n_interactions == load_dataset(str(simple_dir)).n_interactions == 160
    with pytest.raises(MotorError, match="source name or folder .* got int"):
        load_dataset(5)


def test_ml100k_built_by_two_ranks_at_once_keeps_the_first_finished_copy(tmp_path, monkeypatch):
    # torchrun --nproc_per_node=N ... --data ml100k: every rank builds the cache folder on a first run. A
    # rank that finished second deleted the first one's folder while that rank was reading it
    # (FileNotFoundError: .../ml100k/interactions.csv, about one first run in eight with two ranks).
    import hashlib
    import zipfile

    from motor.data import ml100k

    (tmp_path / "wheels").mkdir()
    wheel = tmp_path / "wheels" / ml100k.WHEEL
    with zipfile.ZipFile(wheel, "w") as z:
        z.writestr(f"{ml100k.MEMBER}.inter", "user_id:token\titem_id:token\trating:float\ttimestamp:float\n1\t1\t4\t5\n")
        z.writestr(f"{ml100k.MEMBER}.item", "item_id:token\ttitle:token\tyear:token\tgenre:token_seq\n1\tA\t1995\tx\n")
    monkeypatch.setattr(ml100k, "WHEEL_SHA256", hashlib.sha256(wheel.read_bytes()).hexdigest())
    out = tmp_path / "ml100k"
    copy = ml100k.shutil.copyfile

    def other_rank_finishes_meanwhile(src, dst):
        if not out.exists():
            out.mkdir()
            (out / "interactions.csv").write_text("the other rank's copy, being read\n")
        return copy(src, dst)

    monkeypatch.setattr(ml100k.shutil, "copyfile", other_rank_finishes_meanwhile)
    assert ml100k.ensure_ml100k(tmp_path) == out
    assert (out / "interactions.csv").read_text() == "the other rank's copy, being read\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ml100k", "wheels"]  # this rank's copy removed
    monkeypatch.setattr(ml100k.shutil, "copyfile", copy)
    (out / "interactions.csv").unlink()  # an incomplete leftover is still replaced
    assert len(pd.read_csv(ml100k.ensure_ml100k(tmp_path) / "interactions.csv")) == 1


@pytest.mark.parametrize("stamp, says", [("2021-03-04 10:00:00", "which is not a number"),
                                         ("99999999999999999999999", "too large for a 64-bit whole number")])
def test_a_bad_timestamp_says_what_a_timestamp_is(simple_dir, stamp, says):
    # dates were told to 'fix or remove that row' (every row), a huge timestamp to 'renumber the ids 0..N-1'
    df = pd.read_csv(simple_dir / "interactions.csv", dtype=str)
    df["timestamp"] = stamp
    df.to_csv(simple_dir / "interactions.csv", index=False)
    msg = err(simple_dir)
    assert f"interactions.csv line 2: column 'timestamp' has '{stamp}', {says}" in msg
    assert "seconds since 1970 (Unix time)" in msg and "pd.to_datetime" in msg and "renumber the ids" not in msg
