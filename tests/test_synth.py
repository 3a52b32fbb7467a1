"""Synthetic catalogues (motor.data.synth): exact counts, same seed same files, long tail, learnable."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from motor.config import from_dict
from motor.data.load import load_dataset
from motor.data.synth import SynthConfig, parse_modalities, synthesize
from motor.errors import MotorError

ROOT = Path(__file__).resolve().parents[1]
SMALL = {"users": 300, "items": 600, "interactions": 9000, "modalities": {"image": 16, "text": 8}, "seed": 4}


def _cfg(**kw) -> SynthConfig:
    return from_dict(SynthConfig, {**SMALL, **kw})


def test_exact_counts_and_loads_with_load_dataset(tmp_path):
    summary = synthesize(_cfg(), tmp_path / "d")
    ds = load_dataset(str(tmp_path / "d"))
    s = ds.stats()
    assert (s["users"], s["items"], s["interactions"]) == (300, 600, 9000)
    assert (summary["users"], summary["items"], summary["interactions"]) == (300, 600, 9000)
    assert {n: m["dim"] for n, m in s["modalities"].items()} == {"image": 16, "text": 8}
    assert ds.modalities["image"].features.dtype == np.float32 and not ds.warnings
    assert s["interactions_per_user"]["min"] >= 1 and s["interactions_per_item"]["min"] >= 1
    assert ds.title(0).startswith("item ")


def test_same_seed_same_files_other_seed_other_files(tmp_path):
    for name, seed in (("a", 4), ("b", 4), ("c", 5)):
        synthesize(_cfg(seed=seed), tmp_path / name)
    for f in ("interactions.csv", "items.csv", "image.npy", "text.npy"):
        assert (tmp_path / "a" / f).read_bytes() == (tmp_path / "b" / f).read_bytes(), f
        assert (tmp_path / "a" / f).read_bytes() != (tmp_path / "c" / f).read_bytes(), f


def test_long_tailed_popularity_and_clustered_features(tmp_path):
    synthesize(_cfg(users=1000, items=2000, interactions=40_000), tmp_path / "d")
    inter = pd.read_csv(tmp_path / "d" / "interactions.csv")
    counts = np.sort(np.bincount(inter["item"], minlength=2000))[::-1]
    assert counts[:400].sum() / counts.sum() > 0.5  # top 20% of items hold most interactions
    assert counts[-1] >= 1
    cluster = pd.read_csv(tmp_path / "d" / "items.csv")["cluster"].to_numpy()
    x = np.load(tmp_path / "d" / "image.npy", allow_pickle=False).astype(np.float32)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    cos, same = x @ x.T, cluster[:, None] == cluster[None, :]
    assert cos[same].mean() > 0.5
    assert abs(cos[~same].mean()) < 0.1


def test_users_prefer_clusters(tmp_path):
    """A user's interactions concentrate on few clusters (what makes the data learnable)."""
    synthesize(_cfg(users=500, items=2000, interactions=20_000), tmp_path / "d")
    inter = pd.read_csv(tmp_path / "d" / "interactions.csv")
    cluster = pd.read_csv(tmp_path / "d" / "items.csv")["cluster"].to_numpy()
    inter["cluster"] = cluster[inter["item"]]
    top2 = inter.groupby("user")["cluster"].agg(lambda c: c.value_counts().iloc[:2].sum() / len(c))
    assert top2.mean() > 0.6  # with 10 clusters, no preference would give about 0.2 to 0.3


def test_bad_settings_are_clear_errors(tmp_path):
    with pytest.raises(MotorError, match="at least items \\+ users x min_per_user"):
        _cfg(interactions=100)
    with pytest.raises(MotorError, match="at most 0.5 x users x items"):
        _cfg(users=10, items=20, interactions=150, min_per_user=1)
    with pytest.raises(MotorError, match="NAME:DIM"):
        parse_modalities("image=512")
    with pytest.raises(MotorError, match="must start with a letter"):
        _cfg(modalities={"../x": 4})
    with pytest.raises(MotorError, match="affinity"):
        _cfg(affinity=1.5)
    with pytest.raises(MotorError, match="zipf and noise must be finite"):  # NaN passed a `< 0` check once
        _cfg(noise=float("nan"))
    bad_seed = SynthConfig(**{**SMALL, "seed": -1})  # built without from_dict: synthesize checks it
    with pytest.raises(MotorError, match="seed must be between 0 and 2\\*\\*32 - 1"):
        synthesize(bad_seed, tmp_path / "bad-seed")
    assert not (tmp_path / "bad-seed").exists()  # refused before the folder is made
    # every setting of one built in Python, as a config file's: int8 features were written, mostly zeros
    for bad, match in (({"dtype": "int8"}, "synth.dtype must be one of 'float16', 'float32'"),
                       ({"users": "300"}, "synth.users must be an integer"),
                       ({"items": 600.5}, "synth.items must be an integer")):
        with pytest.raises(MotorError, match=match):
            synthesize(SynthConfig(**{**SMALL, **bad}), tmp_path / "typed")
    assert not (tmp_path / "typed").exists()
    assert synthesize({**SMALL, "users": 40, "items": 60, "interactions": 400}, tmp_path / "mapping")["users"] == 40
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "x.txt").write_text("x")
    with pytest.raises(MotorError, match="not empty"):
        synthesize(_cfg(), tmp_path / "full")
    for overwrite in (False, True):  # was NotADirectoryError
        with pytest.raises(MotorError, match="x.txt is a file, not a folder"):
            synthesize(_cfg(), tmp_path / "full" / "x.txt", overwrite=overwrite)
    assert (tmp_path / "full" / "x.txt").read_text() == "x"


def test_overwrite_replaces_an_earlier_runs_files_and_keeps_the_users(tmp_path):
    out = tmp_path / "ow"
    synthesize(_cfg(modalities={"image": 4, "audio": 2}), out)
    (out / "notes.npy").write_bytes(b"the user's own file")
    synthesize(_cfg(modalities={"text": 4}), out, overwrite=True)
    assert sorted(p.name for p in out.iterdir()) == ["interactions.csv", "items.csv", "notes.npy", "synth.json",
                                                     "text.npy"]  # image.npy and audio.npy were the earlier run's
    assert (out / "notes.npy").read_bytes() == b"the user's own file"
    (out / "notes.npy").unlink()
    assert list(load_dataset(str(out)).modalities) == ["text"]  # was image and text: the old file was still read


def test_cli_data_synth_and_data_stats(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    out = tmp_path / "cli"
    run = subprocess.run([sys.executable, "-m", "motor", "data", "synth", "--users", "200", "--items", "400",
                          "--interactions", "5000", "--modalities", "image:8,text:4", "--seed", "1", "--user-clusters", "1",
                          "--min-per-user", "3", "--out", str(out)],
                         check=False, capture_output=True, text=True, cwd=ROOT, env=env, timeout=120)
    assert run.returncode == 0, run.stderr
    assert "5,000 interactions" in run.stdout
    config = json.loads((out / "synth.json").read_text())["config"]
    assert (config["user_clusters"], config["min_per_user"], config["seed"]) == (1, 3, 1)  # every option arrives
    stats = subprocess.run([sys.executable, "-m", "motor", "data", "--data", str(out)], check=False,
                           capture_output=True, text=True, cwd=ROOT, env=env, timeout=120)
    assert stats.returncode == 0 and "interactions 5,000" in stats.stdout, stats.stderr
    bad = subprocess.run([sys.executable, "-m", "motor", "data", "synth", "--out", str(out)], check=False,
                         capture_output=True, text=True, cwd=ROOT, env=env, timeout=120)
    assert bad.returncode == 2 and bad.stderr.startswith("error:") and "not empty" in bad.stderr


@pytest.mark.slow
def test_a_model_beats_popularity_on_it(tmp_path):
    from motor.baselines import Popularity
    from motor.evaluate import Evaluator
    from motor.experiment import run_experiment
    from motor.presets import preset

    synthesize(_cfg(users=800, items=1500, interactions=24_000), tmp_path / "d")
    cfg = preset("quick", "id", {"data": {"data": str(tmp_path / "d")}, "train": {"epochs": 10, "threads": 1}})
    out = run_experiment(cfg, None)
    popularity = Evaluator(out.split).evaluate(Popularity(out.split), "test")["recall@20"]
    assert out.metrics["test"]["recall@20"] > 1.2 * popularity


def test_an_interrupted_synth_leaves_no_half_written_dataset(tmp_path, monkeypatch):
    """Ctrl-C while the features were written left interactions.csv, items.csv and a zero-filled image.npy, which
    `data --data` then read as a whole dataset (one all-zero modality, the others missing)."""
    from motor.data import synth

    real = synth._features

    def interrupted(path, *args):
        real(path, *args)
        if path.name == "text.npy":
            raise KeyboardInterrupt

    monkeypatch.setattr(synth, "_features", interrupted)
    (tmp_path / "mine.txt").write_text("kept")
    with pytest.raises(KeyboardInterrupt):
        synthesize(_cfg(), tmp_path / "new")
    with pytest.raises(KeyboardInterrupt):
        synthesize(_cfg(), tmp_path, overwrite=True)
    assert list((tmp_path / "new").iterdir()) == []
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mine.txt", "new"]


def test_synth_shows_which_part_it_is_writing(tmp_path):
    """10^6 items take minutes, and data synth printed nothing until it had finished."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    run = subprocess.run([sys.executable, "-m", "motor", "data", "synth", "--users", "200", "--items", "400",
                          "--interactions", "5000", "--modalities", "image:8,text:4", "--out", str(tmp_path / "d")],
                         check=False, capture_output=True, text=True, cwd=ROOT, env=env, timeout=120)
    assert run.returncode == 0, run.stderr
    assert all(f"{part}:" in run.stderr for part in ("pairs", "csv", "image.npy", "text.npy")), run.stderr
    assert "/4 [" in run.stderr and "part" in run.stderr and "error" not in run.stderr  # a tqdm bar of 4 parts
    parts = []
    synthesize(_cfg(), tmp_path / "api", step=parts.append)
    assert parts == ["pairs", "csv", "image.npy", "text.npy"]


def test_clusters_help_states_the_range_the_check_accepts():
    """--clusters' help said 'between 2 and 1000' (the automatic value's bounds) while 1 to items is accepted."""
    from motor.config import field_docs

    help_text = field_docs(SynthConfig)["clusters"]
    assert "1 to items" in help_text and "0 = automatic" in help_text, help_text
    _cfg(clusters=1).validate()
    _cfg(clusters=600).validate()  # = items: more than 1000 would be accepted as well, at more items
    with pytest.raises(MotorError, match="between 0 .automatic. and items"):
        _cfg(clusters=601).validate()
