"""motor.explore: item, token, layout, cluster, attention, recommendation and table views of trained runs."""

from __future__ import annotations

import numpy as np
import pytest

from motor.errors import MotorError
from motor.explore import attention, catalogue, clusters, layouts, recommendations, tables, tokens
from motor.retrieval import centred_unit
from motor.runs import LoadedRun
from tests.conftest import write_simple
from tests.test_train import run_experiment, tiny_cfg


def make_tiny_runs(base) -> dict[str, LoadedRun]:
    """A tiny dataset with an ID run and a MOTOR run on the same split, trained under ``base``."""
    data = write_simple(base / "data", n_users=30, n_items=40, per_user=10, dims=(8, 6))
    out = {}
    for kind in ("id", "motor"):
        cfg = tiny_cfg(data, items=kind, tokenizer={"m": 2, "k": 4}, motor={"token_dim": 8, "heads": 2, "layers": 2},
                       split={"cold_items": 0.1})
        run_experiment(cfg, base / kind)
        out[kind] = LoadedRun.load(base / kind)
    return out


@pytest.fixture(scope="module")
def tiny_runs(tmp_path_factory):
    """A tiny dataset with an ID run and a MOTOR run on the same split."""
    return make_tiny_runs(tmp_path_factory.mktemp("tiny"))



def test_item_and_token_views(tiny_runs):
    run = tiny_runs["motor"]
    ds, tok = run.dataset, run.tokenizer
    frame = catalogue.item_frame(ds, run.split.cold_items)
    assert len(frame) == ds.n_items and frame["cold"].sum() == 4 and "genres" in frame
    assert catalogue.genre_counts(ds).to_dict() == {"Comedy": 20, "Drama": 20}
    mine = tokens.item_tokens(tok, 0)
    assert len(mine) == tok.n_tokens and mine["label"].iloc[0] == tok.token_label(int(tok.token_ids[0, 0]))
    counts = tokens.token_counts(tok)
    assert counts.sum() == ds.n_items * tok.n_tokens
    assert (mine["items with this token"].to_numpy() == counts[tok.token_ids[0]]).all()
    carriers = tokens.token_items(tok, ds, int(tok.token_ids[0, 0]))
    assert 0 in carriers["item"].tolist() and carriers["interactions"].is_monotonic_decreasing
    share = tokens.sharing_items(tok, ds, 0, 5)
    assert len(share) == 5 and share["shared tokens"].is_monotonic_decreasing
    usage = tokens.codebook_usage(tok)
    assert len(usage) == tok.n_tokens and (usage["codewords used"] <= usage["K"]).all()
    summary = tokens.collision_summary(tok)
    assert 0 <= summary["collision_rate"] <= 1 and set(summary["per_modality"]) == {"image", "text"}
    assert set(tokens.token_groups(tok, ds, min_items=1)["items"]) >= {1}


def test_nearest_items_use_centred_cosine(tiny_runs):
    run = tiny_runs["motor"]
    v = run.vectors()[1]
    near = tokens.nearest_items(v, run.dataset, 3, 5, run.tokenizer)
    c = centred_unit(v)
    sims = c @ c[3]
    sims[3] = -np.inf
    assert near["item"].tolist() == np.argsort(-sims, kind="stable")[:5].tolist()
    assert "shared tokens" in near
    plain = tokens.nearest_items(v, run.dataset, 3, 5, centre=False)
    assert 3 not in plain["item"].tolist()


def test_layouts_are_cached_in_the_run_folder(tiny_runs, tmp_path):
    run = tiny_runs["id"]
    v = run.vectors()[1]
    y = layouts.layout(run.path, v, "pca", key=layouts.model_key(run.path))
    assert y.shape == (run.dataset.n_items, 2) and np.isfinite(y).all()
    assert layouts.cached_layout(run.path, v, "pca", layouts.model_key(run.path)) is not None
    assert layouts.cached_layout(run.path, v, "pca", "other-model") is None  # stale keys are ignored
    with np.load(run.path / "layouts.npz", allow_pickle=False) as z:
        assert {"pca", "pca_key"} <= set(z.files)
    assert np.array_equal(layouts.layout(run.path, v, "pca", key=layouts.model_key(run.path)), y)
    with pytest.raises(MotorError, match="unknown layout"):
        layouts.layout(None, v, "tsne")


def test_clusters_are_numbered_by_size(tiny_runs):
    lab = clusters.clusters(tiny_runs["motor"].vectors()[1], 4)
    sizes = np.bincount(lab)
    assert len(lab) == 40 and (np.diff(sizes) <= 0).all()


def test_attention_views(tiny_runs):
    run = tiny_runs["motor"]
    view = attention.attention_view(run.model.items, run.tokenizer, 5)
    T = run.tokenizer.n_tokens
    assert view["attention"].shape == (2, 2, T, T) and np.allclose(view["attention"].sum(-1), 1, atol=1e-5)
    assert np.isclose(view["pooling"].sum(), 1) and view["labels"][0].startswith("image s0 c")
    assert run.model.items.attention_average().shape == (2, 2, T, T)
    avg = run.model.items.pooling_average()
    assert avg.shape == (T,) and np.isclose(avg.sum(), 1, atol=1e-5)


def test_recommendation_comparison_marks_hits_overlap_and_cold(tiny_runs):
    users = recommendations.user_options(tiny_runs["id"])
    assert len(users) and (users["test"] >= 1).all()
    user = users["user_id"].iloc[0]
    res = recommendations.compare_recommendations(tiny_runs, user, 8)
    u = tiny_runs["id"].dataset.user_index(user)
    truth = (set(recommendations.user_items(tiny_runs["id"], u, "test"))
             | set(recommendations.user_items(tiny_runs["id"], u, "cold")))
    for name, df in res["lists"].items():
        assert len(df) == 8 and (df["hit"] == df["item"].isin(truth)).all()
        assert not set(df["item"]) & set(tiny_runs[name].seen_items(u))
        assert (df["cold"] == tiny_runs[name].split.cold_items[df["item"]]).all()
    both = set(res["lists"]["id"]["item"]) & set(res["lists"]["motor"]["item"])
    assert set(res["overlap"]) == both and res["lists"]["id"]["in other list"].sum() == len(both)
    assert len(res["held_out"]) == res["n_truth"] == len(truth)
    hist = recommendations.user_history(tiny_runs["id"], user)
    assert (hist["part"] == "train").sum() == len(tiny_runs["id"].seen_items(u))


def test_all_recommendations_agree_with_recommend(tiny_runs):
    run = tiny_runs["motor"]
    df = recommendations.all_recommendations(run, 5)
    assert len(df) == run.dataset.n_users * 5
    uid = run.dataset.user_ids[2]
    mine = df[df["user_id"] == str(uid)]
    assert mine["item_id"].tolist() == [r["item_id"] for r in run.recommend(uid, 5)]
    whole = recommendations.all_recommendations(run, run.dataset.n_items + 5)  # more than the catalogue: all of it
    left_out = np.array([len(x) for x in run.excluded_lists()])
    assert len(whole) == (run.dataset.n_items - left_out).sum() and whole.groupby("user_id")["rank"].min().eq(1).all()


def test_recommendations_leave_out_what_the_test_ranking_leaves_out(tiny_runs):
    """Validation items were recommended (and never counted as hits): the strict test ranking masks them."""
    run = tiny_runs["motor"]
    sp = run.split
    u = int(sp.valid.user[0])
    uid = run.dataset.user_ids[u]
    valid = set(sp.valid.item[sp.valid.user == u].tolist())
    shown = {r["item"] for r in run.recommend(uid, run.dataset.n_items)}
    assert valid and not valid & shown and not set(run.seen_items(u).tolist()) & shown
    assert set(run.excluded_items(u).tolist()) == valid | set(run.seen_items(u).tolist())
    table = recommendations.all_recommendations(run, run.dataset.n_items)
    mine = set(table.loc[table["user_id"] == str(uid), "item_id"])
    assert not mine & {str(run.dataset.item_ids[i]) for i in valid}
    hist = recommendations.user_history(run, uid)
    assert set(hist.loc[hist["part"] == "validation", "item"]) == valid


def test_metric_tables_and_curves(tiny_runs):
    metrics = {"ID": tiny_runs["id"].metrics, "MOTOR": tiny_runs["motor"].metrics}
    t = tables.metrics_table(metrics)
    assert list(t.columns) == ["ID", "MOTOR"]
    assert t.loc["item-side parameters", "MOTOR"] == tiny_runs["motor"].metrics["params"]["item_side"]
    assert "cold recall@20" in t.index and "cold valid recall@20" not in t.index
    with_valid = {**metrics["MOTOR"], "cold_valid": {"recall@20": 0.25, "recall@20_among_cold": 0.5}}
    t2 = tables.metrics_table({"MOTOR": with_valid})
    assert t2.loc["cold valid recall@20", "MOTOR"] == 0.25 and t2.loc["cold valid recall@20 (among cold)", "MOTOR"] == 0.5
    rel = tables.relative_change(t, "ID", "MOTOR")
    a, b = t.loc["test recall@20"]
    assert rel["test recall@20"] == pytest.approx((b - a) / a) if a else np.isnan(rel["test recall@20"])
    assert np.isnan(rel["best epoch"])
    h = tables.history_frame({"ID": tiny_runs["id"].history})
    assert list(h["epoch"]) == [1, 2, 3] and "valid recall@20" in h


def test_metrics_report_the_item_encoder_diagnostics(tiny_runs):
    diag = tiny_runs["motor"].metrics["item_encoder"]
    assert diag["tcn"] == "attention" and diag["collapsed"] == bool(diag["warnings"])
    assert 0 < diag["attention"]["mean"]["max_weight"] <= 1
    assert "item_encoder" not in tiny_runs["id"].metrics  # nothing to diagnose in an ID table


def test_explaining_an_item_of_an_id_run_says_what_has_tokens(tiny_runs):
    with pytest.raises(MotorError, match="no tokens to explain"):
        tiny_runs["id"].model.items.explain(0)
    assert "token_ids" in tiny_runs["motor"].model.items.explain(0)


def test_token_and_attention_views_take_indexes_not_ids(tiny_runs):
    # an item id given as text was a numpy IndexError in sharing_items, and the int() of attention_view and
    # nearest_items made the id "5" the item at index 5, silently (explain refuses it)
    run = tiny_runs["motor"]
    ds, tok = run.dataset, run.tokenizer
    vectors = run.vectors()[1]
    for view in (lambda i: tokens.sharing_items(tok, ds, i, 5), lambda i: attention.attention_view(run.model.items,
                                                                                                   tok, i),
                 lambda i: tokens.nearest_items(vectors, ds, i, 5, tok)):
        with pytest.raises(MotorError, match=r"got '5'; for the item with id '5' use .*item_index"):
            view("5")
        with pytest.raises(MotorError, match="out of range"):
            view(ds.n_items)
    assert attention.attention_view(run.model.items, tok, np.int64(5))["token_ids"] == tok.token_ids[5].tolist()


# --- reserved missing tokens are no shared content ----------------------------------------------------------


def hand_made_tokenizer():
    """Five items, image (2 slots, K=4, with a missing token) and text (2 slots, K=4): items 0, 1, 2 and 4 have
    no image (code 4 = missing); item 3 has one. Item 0's texts: c1 c2; item 1 shares no text with it; item 2
    shares one text token; item 3 (with an image) shares both texts; item 4 shares both texts too."""
    from motor.tokenizer import ModalityCodec, Tokenizer, TokenizerConfig

    def codec(name, missing):
        return ModalityCodec(name=name, m=2, k=4, normalize=False, opq=False, projection=None,
                             codebook=np.zeros((2, 4, 1), np.float32), d_in=2, dim_note="", recon_error=0.0,
                             missing_token=missing, n_missing=4 if missing else 0)

    codes = np.array([[4, 4, 1, 2],
                      [4, 4, 3, 0],
                      [4, 4, 1, 3],
                      [0, 1, 1, 2],
                      [4, 4, 1, 2]])
    return Tokenizer(TokenizerConfig(m=2, k=4), [codec("image", True), codec("text", False)], codes, 0.0)


class Titles:
    """The bit of a Dataset that item labels read: ids and titles."""
    item_ids = np.array(["i0", "i1", "i2", "i3", "i4"])

    def title(self, i):
        return f"Movie {i}"


def test_missing_tokens_are_not_counted_as_shared_tokens():
    """On the long-tail demo two thirds of the movies have no poster, so each of their image slots carries the
    same reserved missing token: 'items sharing the most tokens' listed any other poster-less movie as sharing
    4 of 8 tokens for nothing. A missing token is no content: shown, labelled, never counted as shared."""
    tok = hand_made_tokenizer()
    assert tok.shared_token_counts(0).tolist() == [2, 0, 1, 2, 2]  # not [4, 2, 3, 2, 4]
    assert tok.most_sharing(0, 2) == [(3, 2), (4, 2)]
    share = tokens.sharing_items(tok, Titles(), 0, 4)
    assert share["item"].tolist() == [3, 4, 2]  # item 1 shares nothing but the missing image: not listed
    assert share["shared tokens"].tolist() == [2, 2, 1] and set(share["of"]) == {2}  # of its 2 content tokens
    assert not share["which"].str.contains("missing").any()
    assert share["which"].tolist()[:2] == ["text s0 c1, text s1 c2"] * 2
    assert tokens.missing_token_note(tok, tok.token_ids[0]) == (
        "2 image tokens are 'missing': the item has no image; not counted as shared")
    assert tokens.missing_token_note(tok, tok.token_ids[3]) is None
    mine = tokens.item_tokens(tok, 0)  # the missing token is still shown, labelled, with its count
    assert mine["label"].tolist()[:2] == ["image s0 missing", "image s1 missing"]
    assert mine["items with this token"].tolist()[:2] == [4, 4]
    # an item with an image shares its image tokens as usual; the poster-less ones share texts only
    assert tok.shared_token_counts(3).tolist() == [2, 0, 1, 4, 2]
    assert tok.missing_tokens.tolist() == [False] * 4 + [True] + [False] * 4 + [True] + [False] * 8
    assert tok.is_missing(4) and tok.is_missing(9) and not tok.is_missing(10)


def test_a_new_item_without_a_poster_shares_no_missing_tokens():
    """The New item page's 'catalogue items sharing its tokens': a new item without a picture carries the
    missing image tokens, which every poster-less item has; only its content tokens count."""
    from types import SimpleNamespace

    from motor import new_item

    tok = hand_made_tokenizer()
    run = SimpleNamespace(tokenizer=tok, dataset=Titles())
    share = new_item.sharing_items(run, tok.token_ids[0], 5)
    assert share["item"].tolist() == [0, 3, 4, 2] and share["shared tokens"].tolist() == [2, 2, 2, 1]
    assert not share["which"].str.contains("missing").any()
