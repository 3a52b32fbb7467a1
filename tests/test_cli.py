"""The command line: every command works, and bad input gives exit status 2 and one line on stderr."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def motor(*args, cwd=ROOT):
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-m", "motor", *map(str, args)], capture_output=True, text=True,
                          cwd=cwd, env=env, timeout=300)


def test_help_for_every_command():
    for cmd in ([], ["data"], ["tokenize"], ["train"], ["recommend"], ["features"], ["bench"]):
        r = motor(*cmd, "--help")
        assert r.returncode == 0 and "usage" in r.stdout.lower(), cmd
    listed = motor("--help").stdout
    for cmd in ("data", "tokenize", "train", "recommend", "features", "bench"):
        assert f"    {cmd} " in listed, cmd


def test_data_prints_statistics():
    r = motor("data", "--data", "demo")
    assert r.returncode == 0, r.stderr
    assert "users        597" in r.stdout and "image (1280-d)" in r.stdout and "text (384-d)" in r.stdout
    j = json.loads(motor("data", "--data", "demo", "--json").stdout)
    assert j["interactions"] == 56166


def test_train_then_recommend(simple_dir, tmp_path):
    out = tmp_path / "run"
    r = motor("train", "--data", simple_dir, "--backbone", "bpr", "--items", "id", "--epochs", "2", "--seed", "3",
              "--set", "train.batch_size=64", "--out", out)
    assert r.returncode == 0, r.stderr
    m = json.loads((out / "metrics.json").read_text())
    assert isinstance(m["best_epoch"], int) and {"recall@10", "recall@20", "ndcg@10", "ndcg@20"} <= set(m["test"])
    assert "recall@20" in m["valid"]
    r = motor("recommend", "--run", out, "--user", "u1", "-k", "4")
    assert r.returncode == 0, r.stderr
    lines = [l for l in r.stdout.splitlines() if l.strip()[:1].isdigit()]
    assert len(lines) == 4 and "Movie" in lines[0]


def test_tokenize_prints_a_report(simple_dir):
    r = motor("tokenize", "--data", simple_dir, "--pq-m", "2", "--pq-k", "8")
    assert r.returncode == 0, r.stderr
    assert "codewords used" in r.stdout and "recon err" in r.stdout


@pytest.mark.parametrize("args, expected", [
    (["data", "--data", "/no/such/folder"], "no such file or folder"),
    (["train", "--backbone", "gpt"], "unknown backbone"),
    (["train", "--epochs", "zero"], "invalid int value"),
    (["train", "--items", "motor", "--pq-k", "100"], "power of two"),
    (["train", "--items", "motor", "--pq-k", "4096"], "exceed the 1849 items"),
    (["train", "--set", "train.epoch=3"], "did you mean 'epochs'"),
    (["train", "--set", "nonsense"], "KEY=VALUE"),
    (["recommend", "--run", "/tmp", "--user", "1"], "not a finished run"),
    (["frobnicate"], "invalid choice"),
    ([], "no command"),
])
def test_bad_input_exits_2_with_one_line(args, expected):
    r = motor(*args)
    assert r.returncode == 2, (r.returncode, r.stdout, r.stderr)
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), r.stderr
    assert "Traceback" not in r.stderr and expected in lines[0]


def test_bad_dataset_file_exits_2(tmp_path):
    (tmp_path / "interactions.csv").write_text("person,thing\n1,2\n")
    r = motor("data", "--data", tmp_path)
    assert r.returncode == 2 and "interactions.csv: no user id column" in r.stderr
