"""Data-parallel training under torchrun (gloo, CPU): ranks stay in sync, one run folder, clean failure."""

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from motor import distributed
from motor.errors import MotorError

ROOT = Path(__file__).resolve().parents[1]


def torchrun(*args, timeout=240):
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1", "MOTOR_LAB_THREADS": "1"}
    for k in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT"):
        env.pop(k, None)
    return subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
                           *map(str, args)], capture_output=True, text=True, cwd=ROOT, env=env, timeout=timeout,
                          check=False)


@pytest.mark.parametrize("backbone, items", [("lightgcn", "motor")])
def test_two_gloo_ranks_keep_identical_weights_and_write_one_run(simple_dir, tmp_path, backbone, items):
    out = tmp_path / "out"
    r = torchrun(ROOT / "tests" / "dist_worker.py", simple_dir, out, backbone, items)
    assert r.returncode == 0, r.stderr[-3000:]
    ranks = [load_file(str(out / f"rank{i}.safetensors")) for i in (0, 1)]
    saved = load_file(str(out / "run" / "model.safetensors"))
    assert ranks[0].keys() == ranks[1].keys() == saved.keys()
    for k in saved:
        assert torch.equal(ranks[0][k], ranks[1][k]), k  # gradients averaged: the ranks never drift apart
        assert torch.equal(ranks[0][k], saved[k]), k
    assert sorted(p.name for p in out.iterdir()) == ["rank0.json", "rank0.safetensors", "rank1.json",
                                                     "rank1.safetensors", "run"]
    # the logged loss is the mean over both ranks' halves of the data (it was rank 0's half alone)
    losses = [json.loads((out / f"rank{i}.json").read_text()) for i in (0, 1)]
    history = [h["loss"] for h in json.loads((out / "run" / "history.json").read_text())]
    assert len(history) == 2 and losses[0] == losses[1] == history
    m = json.loads((out / "run" / "metrics.json").read_text())
    assert m["world_size"] == 2 and m["device"] == "cpu" and m["epochs_run"] == 2
    history = json.loads((out / "run" / "history.json").read_text())
    assert len(history) == 2 and history[0]["loss"] > 0
    # ... and they did step: the trained weights are not the (seeded, identical) initial ones.
    initial = untrained_state(simple_dir, backbone, items)
    assert initial.keys() == saved.keys()
    assert any(not torch.equal(initial[k], saved[k]) for k in saved if saved[k].is_floating_point())


def untrained_state(data, backbone, items) -> dict:
    """The model dist_worker.py trains, as built before its first step (same settings and seed)."""
    from motor.data.load import load_dataset
    from motor.data.split import make_split
    from motor.encoders.registry import get_item_encoder
    from motor.experiment import build_model, model_context

    sys.path.insert(0, str(ROOT / "tests"))
    from dist_worker import settings

    cfg = settings(str(data), backbone, items)
    ds = load_dataset(cfg.data)
    split = make_split(ds, cfg.split)
    tokenizer = get_item_encoder(cfg.items).prepare(ds, cfg, lambda msg: None, None)
    return build_model(cfg, model_context(ds, split), tokenizer).state_dict()


def test_a_failing_rank_stops_every_rank_with_a_clear_message(simple_dir, tmp_path):
    r = torchrun(ROOT / "tests" / "dist_worker.py", simple_dir, tmp_path / "out", "bpr", "id", 1, timeout=120)
    assert r.returncode != 0
    assert "error: rank 1 of 2: this rank was told to fail" in r.stderr
    assert re.search(r"error: rank 0( of 2)? stopped: another rank failed", r.stderr), r.stderr[-2000:]
    assert not (tmp_path / "out" / "run").exists()


def test_ranks_started_with_different_settings_are_refused_before_training(simple_dir, tmp_path):
    # another epoch count made the ranks wait for each other for ever; another lr or seed trained replicas
    # that drift apart, of which rank 0's was saved as the run. --threads may differ (machines do).
    r = torchrun(ROOT / "tests" / "dist_worker.py", simple_dir, tmp_path / "out", "bpr", "id", -1, 1, timeout=120)
    assert r.returncode != 0
    assert ("error: rank 1 of 2: settings differ from rank 0's: train.epochs 3 (rank 0: 2), train.lr 0.05 "
            "(rank 0: 0.005); start every rank with the same command") in r.stderr, r.stderr[-2000:]
    assert "error: rank 0 of 2: another rank was started with other settings than rank 0" in r.stderr
    assert "train.threads" not in r.stderr
    assert not (tmp_path / "out").exists()


def test_a_rank_started_by_hand_says_it_waits_and_stops_on_ctrl_c(simple_dir, tmp_path):
    # WORLD_SIZE, RANK, MASTER_ADDR and MASTER_PORT exported by hand, no other rank: it waited silently in
    # init_process_group for 30 minutes, deaf to Ctrl-C and to SIGTERM (Python's handlers never ran).
    import signal
    import socket
    import time

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, "PYTHONPATH": str(ROOT), "WORLD_SIZE": "2", "RANK": "0", "MASTER_ADDR": "127.0.0.1",
           "MASTER_PORT": str(port)}
    env.pop("TORCHELASTIC_RUN_ID", None)
    p = subprocess.Popen([sys.executable, "-m", "motor", "train", "--data", str(simple_dir), "--backbone", "bpr",
                          "--epochs", "1", "--threads", "1", "--quiet", "--out", str(tmp_path / "run")],
                         cwd=ROOT, env=env, stderr=subprocess.PIPE, text=True)
    try:
        import select

        assert select.select([p.stderr], [], [], 60)[0], "no word on stderr while it waits"
        line = p.stderr.readline()
        assert line.startswith("note: rank 0 of 2 waits for the other ranks at 127.0.0.1:"), line
        assert "set without torchrun" in line and "without WORLD_SIZE it trains as one process" in line
        time.sleep(1)
        p.send_signal(signal.SIGINT)
        assert p.wait(timeout=20) != 0
    finally:
        p.kill()
        p.wait()
    assert not (tmp_path / "run").exists()


def test_the_command_line_under_torchrun_speaks_once(simple_dir, tmp_path):
    out = tmp_path / "run"
    out.mkdir()
    (out / "model.safetensors").write_bytes(b"")  # an earlier run's
    r = torchrun("-m", "motor", "train", "--data", simple_dir, "--backbone", "bpr", "--epochs", "1", "--threads", "1",
                 "--set", "train.batch_size=32", "--out", out, timeout=120)
    assert r.returncode == 0, r.stderr[-2000:]
    assert r.stderr.count(f"note: {out} holds a run; this one replaces it") == 1, r.stderr[-2000:]  # was once a rank
    assert r.stdout.count("run saved to") == 1 and "x 2 processes" in r.stdout
    assert json.loads((out / "metrics.json").read_text())["world_size"] == 2


def test_a_single_process_is_rank_0_of_1(monkeypatch):
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    w = distributed.setup("cpu")
    assert (w.rank, w.world_size, w.is_main, w.distributed) == (0, 1, True, False)
    assert distributed.broadcast_json({"a": 1}) == {"a": 1} and distributed.all_true(True)


def test_devices_resolve_or_fail_clearly():
    assert distributed.resolve_device("cpu").type == "cpu"
    assert distributed.resolve_device("auto").type == ("cuda" if torch.cuda.is_available() else "cpu")
    if not torch.cuda.is_available():
        with pytest.raises(MotorError, match="no CUDA device"):
            distributed.resolve_device("cuda")


@pytest.mark.skipif(not hasattr(os, "sched_setaffinity"), reason="needs CPU affinity (Linux)")
def test_more_processes_than_cores_are_named_once(simple_dir, tmp_path):
    """torchrun --nproc_per_node=3 on 2 cores ran without a word, each process waiting for a core."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1", "MOTOR_LAB_THREADS": "1"}
    for k in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT"):
        env.pop(k, None)
    r = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
                        str(ROOT / "tests" / "dist_worker.py"), str(simple_dir), str(tmp_path / "out"), "bpr", "id"],
                       capture_output=True, text=True, cwd=ROOT, env=env, timeout=240, check=False,
                       preexec_fn=lambda: os.sched_setaffinity(0, {min(os.sched_getaffinity(0))}))  # one core
    assert r.returncode == 0, r.stderr[-3000:]
    assert r.stderr.count("note: 2 processes share 1 core on this machine") == 1, r.stderr[-3000:]
    assert "--nproc_per_node=1" in r.stderr
