"""Saved runs: the folder layout, no pickles, and a reload that scores exactly like the trained model."""

import json

import numpy as np
import pytest
import torch

from motor.errors import MotorError
from motor.evaluate import Evaluator
from motor.runs import LoadedRun
from tests.test_train import run_experiment, tiny_cfg


@pytest.mark.parametrize("items", ["id", "motor"])
def test_saved_run_round_trip(simple_dir, tmp_path, items):
    out = run_experiment(tiny_cfg(simple_dir, items=items, tokenizer={"m": 2, "k": 4}), tmp_path / "run")
    folder = tmp_path / "run"
    assert {"config.json", "metrics.json", "history.json", "model.safetensors", "split.npz", "dataset.json"} <= {
        p.name for p in folder.iterdir()}
    assert (folder / "tokenizer").exists() == (items == "motor")
    metrics = json.loads((folder / "metrics.json").read_text())
    assert isinstance(metrics["best_epoch"], int) and "recall@20" in metrics["valid"]
    assert {"recall@10", "recall@20", "ndcg@10", "ndcg@20"} <= set(metrics["test"])

    run = LoadedRun.load(folder)
    again = Evaluator(run.split).evaluate(run.model, "test")
    assert again == pytest.approx(out.metrics["test"], abs=1e-9)

    user = run.dataset.user_ids[3]
    recs = run.recommend(user, k=5)
    assert len(recs) == 5
    u = run.dataset.user_index(user)
    seen = set(run.excluded_items(u).tolist())  # training and validation items, as the strict test ranking
    assert not seen & {r["item"] for r in recs} and set(run.seen_items(u).tolist()) <= seen
    with torch.no_grad():
        scores = run.model.score(run.model.ranking_state(), torch.tensor([u]))[0].numpy()
    scores[list(seen)] = -np.inf
    assert [r["item"] for r in recs] == list(np.argsort(-scores, kind="stable")[:5])  # faiss == full ranking
    for bad in (2.5, 0, True, "5"):
        with pytest.raises(MotorError, match="k must be a whole number"):
            run.recommend(user, k=bad)


def test_loading_refuses_changed_data_and_non_runs(simple_dir, tmp_path):
    run_experiment(tiny_cfg(simple_dir), tmp_path / "run")
    with pytest.raises(MotorError, match="is not a run but holds 1: .*run; pass it"):
        LoadedRun.load(tmp_path)
    with np.load(simple_dir / "image.npz") as z:
        np.savez(simple_dir / "image.npz", item_id=z["item_id"], feat=z["feat"] + 1)
    with pytest.raises(MotorError, match="changed since run"):
        LoadedRun.load(tmp_path / "run")


def test_a_run_trained_on_a_dataset_given_in_python_asks_for_it_again(simple_dir, tmp_path):
    # its data setting still names the folder (or 'demo'), whose data this is not: loading it said that dataset
    # 'changed since the run was trained' and to restore the original files
    import dataclasses

    from motor.data.load import load_dataset

    ds = load_dataset(simple_dir)
    mine = dataclasses.replace(ds, name="mine", interactions=ds.interactions.subset(slice(5, None)))
    run_experiment(tiny_cfg(simple_dir), tmp_path / "run", dataset=mine)
    with pytest.raises(MotorError, match=r"trained on the dataset 'mine', given in Python .*its data setting .* reads "
                                         r"'simple', another one.*LoadedRun.load\(.*, dataset=ds\)"):
        LoadedRun.load(tmp_path / "run")
    assert LoadedRun.load(tmp_path / "run", dataset=mine).dataset is mine
    with pytest.raises(MotorError, match="changed since run"):  # the data given is not the run's
        LoadedRun.load(tmp_path / "run", dataset=ds)


def test_a_run_folder_under_home_is_written_and_loaded_there(simple_dir, tmp_path, monkeypatch):
    # no shell expands '~' in Python: run_experiment made a folder named '~' in the working folder, and
    # LoadedRun.load('~/...') found no run, where load_dataset('~/...') reads the home folder
    home, work = tmp_path / "home", tmp_path / "work"
    work.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.chdir(work)
    out = run_experiment(tiny_cfg(simple_dir), "~/runs/x")
    assert out.out_dir == home / "runs" / "x" and (home / "runs" / "x" / "model.safetensors").is_file()
    assert not (work / "~").exists()
    assert LoadedRun.load("~/runs/x").path == home / "runs" / "x"


def test_unknown_user_is_a_clear_error(simple_dir, tmp_path):
    run_experiment(tiny_cfg(simple_dir), tmp_path / "run")
    with pytest.raises(MotorError, match="unknown user 'nobody'"):
        LoadedRun.load(tmp_path / "run").recommend("nobody")


def test_weights_file_is_not_a_pickle(simple_dir, tmp_path):
    run_experiment(tiny_cfg(simple_dir), tmp_path / "run")
    head = (tmp_path / "run" / "model.safetensors").read_bytes()[:16]
    assert not head.startswith(b"\x80")  # pickle protocol marker
    assert head[8:9] == b"{"  # safetensors: 8-byte header length, then a JSON header
    from safetensors import safe_open

    with safe_open(str(tmp_path / "run" / "model.safetensors"), "pt") as f:
        assert "user_embedding" in set(f.keys())


def test_an_item_or_user_id_where_an_index_goes_is_an_error_not_a_silent_answer(simple_dir, tmp_path):
    """run.seen_items("u1") compared a string with the indexes and returned no items, explain("5") explained
    item index 5, similar_items("i3") raised numpy's TypeError, excluded_items(10**6) an IndexError."""
    run_experiment(tiny_cfg(simple_dir, items="motor", tokenizer={"m": 2, "k": 4}), tmp_path / "run")
    run = LoadedRun.load(tmp_path / "run")
    ds = run.dataset
    item_id, user_id = str(ds.item_ids[4]), str(ds.user_ids[3])
    assert ds.item_index(item_id) == 4 and ds.user_index(user_id) == 3
    for k in (0, -1, 2.5, True):  # as recommend refuses them; similar_items(k=0) returned empty arrays
        with pytest.raises(MotorError, match="k must be a whole number of at least 1"):
            run.similar_items(4, k=k)
    with pytest.raises(MotorError, match="measure must be centred, cosine or dot, got 'bogus'"):
        run.similar_items(4, measure="bogus")
    assert run.model.items.explain(np.int64(4))["token_ids"].tolist() == run.model.items.explain(4)["token_ids"].tolist()
    assert len(run.similar_items(np.int64(4), k=3)[1]) == 3
    for call, says in ((lambda: run.seen_items(user_id), "for the user with id .* use run.dataset.user_index"),
                       (lambda: run.excluded_items(10**6), "user index 1000000 is out of range"),
                       (lambda: run.model.items.explain(item_id), "for the item with id .* use run.dataset.item_index"),
                       (lambda: run.model.items.explain(4.0), "whole numbers"),
                       (lambda: run.similar_items(item_id), "item indexes are whole numbers"),
                       (lambda: run.similar_items(-1), "item index -1 is out of range"),
                       (lambda: run.tokenizer.shared_token_counts(item_id), "item indexes are whole numbers"),
                       (lambda: ds.item_index("no-such-item"), "unknown item 'no-such-item'")):
        with pytest.raises(MotorError, match=says):
            call()


def test_a_split_or_tokenizer_that_does_not_fit_the_run_is_named(simple_dir, tmp_path):
    """A split.npz for other data loaded and failed later with IndexError inside recommend; a MOTOR run without
    tokenizer/ said only "items='motor' needs a fitted tokenizer", naming neither the run nor the fix."""
    import shutil

    run_experiment(tiny_cfg(simple_dir, items="motor", tokenizer={"m": 2, "k": 4}), tmp_path / "run")
    folder = tmp_path / "run"
    with np.load(folder / "split.npz") as z:
        arrays = {k: z[k] for k in z.files}
    np.savez(folder / "split.npz", **{**arrays, "cold_items": arrays["cold_items"][:5]})
    with pytest.raises(MotorError, match="split.npz is damaged or does not belong to this run .*do not match"):
        LoadedRun.load(folder)
    np.savez(folder / "split.npz", **{**arrays, "test_item": arrays["test_item"] + 10**6})
    with pytest.raises(MotorError, match="split.npz is damaged"):
        LoadedRun.load(folder)
    np.savez(folder / "split.npz", **arrays)
    shutil.rmtree(folder / "tokenizer")
    with pytest.raises(MotorError, match=f"run {folder}: tokenizer: .*holds no tokenizer.*; train the run again"):
        LoadedRun.load(folder)


@pytest.mark.parametrize("path", [None, 5])
def test_a_run_is_loaded_from_a_folder_and_anything_else_is_named(path):
    with pytest.raises(MotorError, match="a run is loaded from its folder .* got " + type(path).__name__):
        LoadedRun.load(path)
