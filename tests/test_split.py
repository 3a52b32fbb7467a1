"""Split invariants: disjoint sets, MMRec counts, seeds, time order, cold items, k-core."""

import numpy as np
import pytest

from motor.data.filters import kcore_mask
from motor.data.load import DataConfig, load_dataset
from motor.data.split import SplitConfig, make_split
from motor.errors import MotorError
from tests.conftest import write_mmrec, write_simple


def keys(p, n_items):
    return set((p.user * n_items + p.item).tolist())


@pytest.mark.parametrize("method", ["random", "time"])
def test_sets_are_disjoint_and_cover_every_interaction(demo, method):
    s = make_split(demo, SplitConfig(method=method, seed=3))
    n = demo.n_items
    tr, va, te = keys(s.train, n), keys(s.valid, n), keys(s.test, n)
    assert not (tr & va) and not (tr & te) and not (va & te)
    assert len(tr) + len(va) + len(te) == demo.n_interactions
    evaluated = np.union1d(s.valid.users(), s.test.users())
    assert np.isin(evaluated, s.train.users()).all()


def test_mmrec_per_user_counts(demo):
    s = make_split(demo, SplitConfig(method="random", seed=0))
    n = np.bincount(demo.interactions.user, minlength=demo.n_users)
    nv = np.bincount(s.valid.user, minlength=demo.n_users)
    nt = np.bincount(s.test.user, minlength=demo.n_users)
    vt = np.where(n < 10, 2, (0.2 * n).astype(int))
    assert (nv == np.where(n < 10, 1, vt // 2)).all()
    assert (nt == vt - nv).all()


def test_same_seed_same_split_other_seed_differs(demo):
    a = make_split(demo, SplitConfig(method="random", seed=5))
    b = make_split(demo, SplitConfig(method="random", seed=5))
    c = make_split(demo, SplitConfig(method="random", seed=6))
    assert np.array_equal(a.test.item, b.test.item) and np.array_equal(a.test.user, b.test.user)
    assert keys(a.test, demo.n_items) != keys(c.test, demo.n_items)


def test_time_split_puts_each_users_latest_interactions_in_test(demo):
    s = make_split(demo, SplitConfig(method="time"))
    inter = demo.interactions
    ts = {(int(u), int(i)): int(t) for u, i, t in zip(inter.user, inter.item, inter.timestamp)}
    for u in s.test.users()[:50]:
        test_t = min(ts[(u, i)] for i in s.test.item[s.test.user == u])
        train_t = max(ts[(u, i)] for i in s.train.item[s.train.user == u])
        assert test_t >= train_t


def test_given_split_uses_x_label(tmp_path):
    ds = load_dataset(str(write_mmrec(tmp_path / "m")))
    s = make_split(ds)
    assert s.method == "given"
    lab = ds.interactions.label
    assert len(s.train) == (lab == 0).sum() and len(s.valid) == (lab == 1).sum() and len(s.test) == (lab == 2).sum()


def test_given_split_rejects_users_without_training_rows(tmp_path):
    folder = write_mmrec(tmp_path / "m")
    inter = (folder / "tiny.inter").read_text().splitlines()
    # User 0 keeps only its validation and test rows.
    kept = [inter[0]] + [l for l in inter[1:] if not (l.split("\t")[0] == "0" and l.endswith("\t0"))]
    (folder / "tiny.inter").write_text("\n".join(kept) + "\n")
    with pytest.raises(MotorError, match="none with x_label 0"):
        make_split(load_dataset(str(folder)))


def test_cold_items_never_appear_in_train_or_valid(demo):
    s = make_split(demo, SplitConfig(cold_items=0.1, seed=1))
    cold = np.flatnonzero(s.cold_items)
    assert len(cold) == round(0.1 * demo.n_items)
    assert not np.isin(s.train.item, cold).any() and not np.isin(s.valid.item, cold).any()
    assert not np.isin(s.test.item, cold).any()
    assert np.isin(s.cold.item, cold).all() and len(s.cold) > 0
    assert np.isin(s.cold.users(), s.train.users()).all()
    again = make_split(demo, SplitConfig(cold_items=0.1, seed=1))
    assert np.array_equal(again.cold_items, s.cold_items)


def test_cold_valid_takes_a_seeded_share_of_the_cold_items_and_changes_nothing_else(demo):
    plain = make_split(demo, SplitConfig(cold_items=0.2, seed=1))
    s = make_split(demo, SplitConfig(cold_items=0.2, seed=1, cold_valid=0.5))
    for name in ("train", "valid", "test"):  # training (and so the model) is the same as without it
        assert keys(getattr(s, name), demo.n_items) == keys(getattr(plain, name), demo.n_items)
    assert np.array_equal(s.cold_items, plain.cold_items)
    valid_items, test_items = np.unique(s.cold_valid.item), np.unique(s.cold.item)
    assert len(np.intersect1d(valid_items, test_items)) == 0  # whole items, not interactions, are split
    assert s.cold_items[valid_items].all() and s.cold_items[test_items].all()
    n_cold = int(plain.cold_items.sum())
    assert abs(len(valid_items) - n_cold / 2) <= 0.1 * n_cold  # half of the cold items (those with interactions)
    assert keys(s.cold, demo.n_items) | keys(s.cold_valid, demo.n_items) == keys(plain.cold, demo.n_items)
    again = make_split(demo, SplitConfig(cold_items=0.2, seed=1, cold_valid=0.5))
    assert keys(again.cold_valid, demo.n_items) == keys(s.cold_valid, demo.n_items)
    assert len(plain.cold_valid) == 0 and plain.summary()["cold_valid"] == 0
    with pytest.raises(MotorError, match="cold_items is 0"):
        make_split(demo, SplitConfig(cold_valid=0.5))
    with pytest.raises(MotorError, match=r"\[0, 1\)"):
        make_split(demo, SplitConfig(cold_items=0.1, cold_valid=1.0))


def test_cold_fraction_must_be_sensible(demo):
    with pytest.raises(MotorError, match="fraction"):
        make_split(demo, SplitConfig(cold_items=1.5))


def test_kcore_reaches_a_fixpoint():
    rng = np.random.default_rng(0)
    u, i = rng.integers(0, 50, 400), rng.integers(0, 80, 400)
    keep = kcore_mask(u, i, 3)
    assert (np.bincount(u[keep])[np.unique(u[keep])] >= 3).all()
    assert (np.bincount(i[keep])[np.unique(i[keep])] >= 3).all()


def test_kcore_filter_keeps_features_aligned(tmp_path):
    folder = write_simple(tmp_path / "s", per_user=6)
    full = load_dataset(str(folder))
    ds = load_dataset(DataConfig(data=str(folder), kcore=3))
    assert ds.n_items < full.n_items
    for new, old_id in enumerate(ds.item_ids[:10]):
        old = list(full.item_ids).index(old_id)
        assert np.array_equal(ds.modalities["image"].features[new], full.modalities["image"].features[old])


def test_kcore_filter_keeps_how_missing_rows_were_filled():
    from motor.data.dataset import Dataset, Interactions, Modality
    from motor.data.filters import kcore_filter

    users, items = np.repeat(np.arange(4), 3), np.tile([0, 1, 2], 4)
    missing = np.array([True, False, False, False])
    feats = np.where(missing[:, None], 0.0, 1.0).astype(np.float32)
    ds = Dataset("d", np.array(list("abcd")), np.array(list("wxyz")), Interactions(users, items),
                 {"image": Modality("image", feats, missing, "image.npz", fill="zeros")})
    kept = kcore_filter(ds, 2).modalities["image"]
    assert kept.fill == "zeros" and kept.missing.tolist() == [True, False, False]
    assert kcore_filter(ds, 2).stats()["modalities"]["image"]["fill"] == "zeros"


def test_empty_kcore_is_a_clear_error(tmp_path):
    with pytest.raises(MotorError, match="core .* is empty"):
        load_dataset(DataConfig(data=str(write_simple(tmp_path / "s")), kcore=500))


# --- train_fraction (sparsity control) ----------------------------------------------------------------


def train_keys(s, n_items):
    return keys(s.train, n_items)


def test_train_fraction_is_nested_seeded_and_keeps_valid_test(demo):
    n = demo.n_items
    full = make_split(demo, SplitConfig(method="random", seed=4))
    parts = {f: make_split(demo, SplitConfig(method="random", seed=4, train_fraction=f)) for f in (0.1, 0.25, 0.5)}
    # nested: smaller fractions keep subsets of larger ones, all inside the full training set
    assert train_keys(parts[0.1], n) < train_keys(parts[0.25], n) < train_keys(parts[0.5], n) < train_keys(full, n)
    for s in parts.values():  # validation, test and cold untouched, row for row
        for name in ("valid", "test", "cold"):
            assert np.array_equal(getattr(s, name).user, getattr(full, name).user)
            assert np.array_equal(getattr(s, name).item, getattr(full, name).item)
    # per user: ceil(F * n_u) rows, at least one
    n_full = np.bincount(full.train.user, minlength=demo.n_users)
    for f, s in parts.items():
        n_kept = np.bincount(s.train.user, minlength=demo.n_users)
        users = n_full > 0
        assert (n_kept[users] >= 1).all()
        assert (n_kept[users] == np.maximum(np.ceil(f * n_full[users] - 1e-9), 1)).all()
        assert (n_kept[~users] == 0).all()
    # seeded: same seed same rows, another seed other rows
    again = make_split(demo, SplitConfig(method="random", seed=4, train_fraction=0.25))
    other = make_split(demo, SplitConfig(method="random", seed=5, train_fraction=0.25))
    assert np.array_equal(again.train.user, parts[0.25].train.user)
    assert np.array_equal(again.train.item, parts[0.25].train.item)
    assert train_keys(other, n) != train_keys(parts[0.25], n)


def test_train_fraction_one_is_the_plain_split(demo):
    a = make_split(demo, SplitConfig(method="random", seed=1))
    b = make_split(demo, SplitConfig(method="random", seed=1, train_fraction=1.0))
    assert np.array_equal(a.train.item, b.train.item) and np.array_equal(a.train.user, b.train.user)
    assert a.summary()["unseen_items"] == b.summary()["unseen_items"]


def test_items_losing_all_training_rows_stay_and_are_reported_unseen(demo):
    s = make_split(demo, SplitConfig(method="random", seed=2, train_fraction=0.05))
    assert s.n_items == demo.n_items  # nothing dropped from the catalogue
    unseen = s.unseen_items()
    assert unseen.sum() > 0
    assert not np.isin(np.flatnonzero(unseen), s.train.item).any()
    summary = s.summary()
    assert summary["unseen_items"] == int(unseen.sum()) and summary["train_fraction"] == 0.05
    assert summary["unseen_items_test"] == int(unseen[s.test.item].sum()) > 0
    assert any("train_fraction" in note for note in s.notes)
    back = type(s).from_arrays(s.to_arrays())
    assert back.train_fraction == 0.05 and back.unseen_items().sum() == unseen.sum()


@pytest.mark.parametrize("bad", [0.0, -0.1, 1.5])
def test_train_fraction_out_of_range_is_refused_with_the_range(demo, bad):
    with pytest.raises(MotorError, match=r"\(0, 1\]"):
        make_split(demo, SplitConfig(train_fraction=bad))


def test_cli_train_fraction_flag_reaches_the_split_config():
    from motor.cli import build_run_config, make_parser

    cfg = build_run_config(make_parser().parse_args(["train", "--train-fraction", "0.1"]))
    assert cfg.split.train_fraction == 0.1
    with pytest.raises(MotorError, match="train_fraction"):
        build_run_config(make_parser().parse_args(["train", "--train-fraction", "0"]))


def test_split_settings_from_python_are_checked_and_a_mapping_is_taken(simple_dir):
    """make_split(ds, {"cold_items": 0.1}) raised AttributeError ('dict' has no 'validate'),
    SplitConfig(method="RANDOM") silently split at random, make_split("demo") raised AttributeError."""
    ds = load_dataset(str(simple_dir))
    assert make_split(ds, {"cold_items": 0.1, "seed": 3}).summary() == \
        make_split(ds, SplitConfig(cold_items=0.1, seed=3)).summary()
    # a choice is read in any case (as backbone names are): 'RANDOM' is the random split, not an unchecked value
    assert make_split(ds, SplitConfig(method="RANDOM")).summary() == make_split(ds, SplitConfig()).summary()
    for cfg, says in ((SplitConfig(method="shuffle"), "split.method must be one of"),
                      ({"cold": 0.1}, "unknown setting 'cold' for split"), ([0.1], "must be a SplitConfig or a mapping")):
        with pytest.raises(MotorError, match=says):
            make_split(ds, cfg)
    with pytest.raises(MotorError, match="make_split takes a Dataset"):
        make_split(str(simple_dir))


def test_repeated_user_item_pairs_are_refused_not_split_into_train_and_test():
    # A pair split into training and test is masked at test time (it is a training item) and can never be a hit;
    # the file readers refuse repeats, and so does a Dataset built in Python.
    from motor.data.dataset import Dataset, Interactions

    users, items = np.repeat(np.arange(5), 6), np.tile([0, 1, 2, 3, 3, 3], 5)
    ds = Dataset("repeats", np.array(list("abcde")), np.array(list("pqrstu")), Interactions(users, items))
    with pytest.raises(MotorError, match=r"10 repeated user-item pairs \(first: user 'a', item 's'\)"):
        make_split(ds, SplitConfig(seed=1))


def test_a_dataset_built_in_python_is_checked_like_a_files():
    # Unchecked, these were a numpy IndexError in the split, a torch error or size mismatch in the backbone, or
    # (NaN features with VBPR and ID items) 'loss became nan ... try a lower lr'; duplicated ids made
    # recommend('u1') answer for one of them.
    import dataclasses

    import pandas as pd

    from motor.data.dataset import Dataset, Interactions, Modality

    rng = np.random.default_rng(0)
    users, items = np.repeat(np.arange(6), 5), np.tile(np.arange(5), 6)
    feats = rng.normal(size=(8, 4)).astype(np.float32)

    def ds(user=users, item=items, features=feats, user_ids=None):
        return Dataset("mine", np.array(list("abcdef")) if user_ids is None else user_ids,
                       np.array(list("pqrstuvw")), Interactions(user, item), {"image": Modality("image", features)})

    assert len(make_split(ds()).train)
    for bad, match in [
        (ds(item=np.where(np.arange(30) == 4, 8, items)), r"interactions.item holds 1 indexes outside 0..7 .*first 8 at "
                                                          r"row 4"),
        (ds(item=np.where(np.arange(30) == 4, -1, items)), r"interactions.item holds 1 indexes outside 0..7"),
        (ds(user=users.astype(float)), r"interactions.user must be a 1-d numpy array of whole-number indexes.*float64"),
        (ds(item=list(items)), r"interactions.item must be .* got list"),
        (ds(user=users[:-2]), r"interactions.item has 30 entries and interactions.user 28"),
        (ds(features=feats[:6]), r"modality 'image': features must be a numeric numpy array \[n_items=8, dim\].*"
                                 r"\(6, 4\)"),
        (ds(features=np.where(np.arange(8)[:, None] == 5, np.nan, feats)), r"NaN or infinite values \(first in row 5\)"),
        (ds(user_ids=np.array(list("abcdea"))), r"user_ids repeats 'a'"),
        (dataclasses.replace(ds(), items=pd.DataFrame({"title": list("pqrst")})), r"the items table has 5 rows for 8 "
                                                                                 r"item_ids"),
    ]:
        with pytest.raises(MotorError, match=match):
            make_split(bad)
