"""The command line: every command works, and bad input gives exit status 2 and one line on stderr."""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]


def motor(*args, cwd=ROOT):
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-m", "motor", *map(str, args)], capture_output=True, text=True,
                          cwd=cwd, env=env, timeout=300, check=False)


def test_help_for_every_command():
    for cmd in ([], ["data"], ["tokenize"], ["train"], ["recommend"], ["similar"], ["features"], ["bench"], ["tune"]):
        r = motor(*cmd, "--help")
        assert r.returncode == 0 and "usage" in r.stdout.lower(), cmd
    listed = motor("--help").stdout
    for cmd in ("data", "tokenize", "train", "recommend", "similar", "features", "bench", "tune"):
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


def test_similar_shows_an_items_tokens_the_items_sharing_them_and_its_nearest(simple_dir, tmp_path):
    """Which items MOTOR treats alike, and why, from the command line (it took the app or Python)."""
    out = tmp_path / "run"
    r = motor("train", "--data", simple_dir, "--backbone", "bpr", "--items", "motor", "--epochs", "1",
              "--pq-m", "2", "--pq-k", "8", "--set", "train.batch_size=64", "--out", out)
    assert r.returncode == 0, r.stderr
    r = motor("similar", "--run", out, "--item", "m3", "-k", "3")
    assert r.returncode == 0, r.stderr
    assert "its tokens:" in r.stdout and "the 3 items sharing most of them:" in r.stdout and "nearest 3" in r.stdout
    j = json.loads(motor("similar", "--run", out, "--item", "m3", "-k", "3", "--json").stdout)
    assert j["item_id"] == "m3" and len(j["nearest"]) == len(j["sharing"]) == 3
    assert "m3" not in {n["item_id"] for n in j["nearest"]} | {s["item_id"] for s in j["sharing"]}
    assert all(0 < s["shared tokens"] <= s["of"] == len(j["tokens"]) for s in j["sharing"])
    r = motor("similar", "--run", out, "--item", "no-such-item")
    assert r.returncode == 2 and "no-such-item" in r.stderr and "Traceback" not in r.stderr, r.stderr
    r = motor("similar", "--run", out, "--item", "m3", "-k", "0")
    assert r.returncode == 2 and "k must be a whole number of at least 1" in r.stderr, r.stderr
    ids = tmp_path / "id-run"
    assert motor("train", "--data", simple_dir, "--backbone", "bpr", "--items", "id", "--epochs", "1",
                 "--set", "train.batch_size=64", "--out", ids).returncode == 0
    r = motor("similar", "--run", ids, "--item", "m3", "-k", "2")
    assert r.returncode == 0 and "an ID run: items have no tokens" in r.stdout and "nearest 2" in r.stdout, r.stderr


def test_out_never_replaces_a_folder_that_holds_other_files_and_is_checked_before_training(simple_dir, tmp_path):
    """--out ~/Documents once trained, then deleted the whole folder to write the run in its place."""
    train = ("train", "--data", simple_dir, "--backbone", "bpr", "--items", "id", "--epochs", "1",
             "--set", "train.batch_size=64")
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "thesis.txt").write_text("years of work")
    r = motor(*train, "--out", docs)
    assert r.returncode == 2 and "thesis.txt" in r.stderr and "nothing was written" in r.stderr, r.stderr
    assert "epoch" not in r.stderr  # refused before training, not after it
    assert sorted(p.name for p in docs.iterdir()) == ["thesis.txt"]
    r = motor(*train, "--out", docs / "thesis.txt")
    assert r.returncode == 2 and "is a file, not a folder" in r.stderr, r.stderr
    run = tmp_path / "run"
    assert motor(*train, "--out", run).returncode == 0
    (run / "layouts.npz").write_bytes(b"")  # what the app derives from a run lives in its folder
    r = motor(*train, "--out", run)  # a run folder is replaced by the next run, and the user is told
    assert r.returncode == 0 and "holds a run; this one replaces it" in r.stderr, r.stderr
    assert not (run / "layouts.npz").exists() and (run / "model.safetensors").exists()


def test_out_values_that_would_lose_the_run_are_refused_before_training(simple_dir, tmp_path):
    """--out '' , --out . (the folder one works in) and --out a symbolic link each crashed after training."""
    train = ("train", "--data", simple_dir, "--backbone", "bpr", "--items", "id", "--epochs", "1",
             "--set", "train.batch_size=64")
    work = tmp_path / "work"
    work.mkdir()
    for out, says in (("", "--out is empty"), (".", "the folder you are working in"), ("..", "holds it")):
        r = motor(*train, "--out", out, cwd=work)
        assert r.returncode == 2 and says in r.stderr and "Traceback" not in r.stderr, (out, r.stderr)
        assert "epoch" not in r.stderr
    run = tmp_path / "run"
    assert motor(*train, "--out", run).returncode == 0
    (tmp_path / "link").symlink_to(run)
    r = motor(*train, "--out", tmp_path / "link")
    assert r.returncode == 2 and "symbolic link" in r.stderr, r.stderr
    assert (tmp_path / "link").is_symlink() and not (tmp_path / "link.partial").exists()
    (tmp_path / "afile").write_text("x")
    r = motor(*train, "--out", tmp_path / "afile" / "sub")
    assert r.returncode == 2 and "afile is a file, so no folder can be made inside it" in r.stderr, r.stderr
    r = motor("tokenize", "--data", simple_dir, "--pq-m", "2", "--pq-k", "8", "--out", tmp_path / "afile" / "sub")
    assert r.returncode == 2 and "Traceback" not in r.stderr and "afile" in r.stderr, r.stderr


def test_train_prints_the_figures_the_run_has(simple_dir, tmp_path):
    """Cut-offs without 10, or a split without test interactions, printed a KeyError after training."""
    r = motor("train", "--data", simple_dir, "--backbone", "bpr", "--items", "id", "--epochs", "1",
              "--set", "train.batch_size=64", "--set", "train.topk=[5,50]", "--set", "train.valid_metric=recall@50")
    assert r.returncode == 0, r.stderr
    assert "test  recall@5 " in r.stdout and "ndcg@50 " in r.stdout
    data = tmp_path / "tiny"
    data.mkdir()
    (data / "interactions.csv").write_text("user,item\na,0\na,1\nb,2\n")
    np.savez(data / "text.npz", item_id=np.array(["0", "1", "2"]), feat=np.eye(3, dtype=np.float32))
    r = motor("train", "--data", data, "--backbone", "bpr", "--items", "id", "--epochs", "1", "--threads", "1")
    assert r.returncode == 0 and "Traceback" not in r.stderr, r.stderr
    assert "test  none (no test interactions in this split)" in r.stdout


def test_train_warns_when_the_token_cross_network_collapsed_and_says_which_part(simple_dir, tmp_path, monkeypatch, capsys):
    """The app warned of a collapsed TCN, the command line printed nothing (issue 11: "the run warns")."""
    from motor import cli
    from motor.encoders.diagnostics import collapse_warnings
    from motor.encoders.token_encoder import MotorEncoder

    att = {"entropy": 1.5, "max_weight": 0.41, "same_key": 0.0, "tv_from_average": 0.3}
    pool = {"max_weight": 0.19, "uniform": 0.125, "T": 4, "entropy": 1.3, "tv_from_average": 0.1}
    for attention, expected in ((att, "pooling weighs an item's tokens almost equally"),
                                ({**att, "max_weight": 0.97}, "may have collapsed: its tokens hardly cross")):
        warnings = collapse_warnings(attention, pool)
        given = {"tcn": "attention", "items": 1, "attention": {"layers": [], "mean": attention}, "pooling": pool,
                 "collapsed": True, "warnings": warnings}
        monkeypatch.setattr(MotorEncoder, "diagnostics", lambda self, given=given: given)
        status = cli.main(["train", "--data", str(simple_dir), "--backbone", "bpr", "--items", "motor", "--epochs", "1",
                           "--threads", "1", "--pq-k", "4", "--set", "train.batch_size=64"])
        err = capsys.readouterr().err
        assert status == 0 and "warning: " in err and expected in err, err
    monkeypatch.setattr(MotorEncoder, "diagnostics", lambda self: {**given, "collapsed": False, "warnings": []})
    assert cli.main(["train", "--data", str(simple_dir), "--backbone", "bpr", "--items", "motor", "--epochs", "1",
                     "--threads", "1", "--pq-k", "4", "--set", "train.batch_size=64"]) == 0
    err = capsys.readouterr().err
    assert "collapsed" not in err and "pooling weighs" not in err, err


def test_similar_does_not_count_missing_tokens_as_shared(simple_dir, tmp_path, capsys):
    """Items without a poster carry their image slots' reserved missing token: on the long-tail demo
    'similar' listed other poster-less movies as sharing 6 of 8 tokens, four of them 'image sN missing'. A
    missing token is shown, labelled and noted, but no item shares content through it."""
    from motor import cli

    with np.load(simple_dir / "image.npz") as z:
        ids, feat = z["item_id"], z["feat"].copy()
    missing = np.arange(len(ids)) % 3 != 0  # two thirds without an image, as on the long-tail demo
    feat[missing] = 0.0
    np.savez(simple_dir / "image.npz", item_id=ids, feat=feat, missing=missing)
    out = tmp_path / "run"
    assert cli.main(["train", "--data", str(simple_dir), "--backbone", "bpr", "--items", "motor", "--epochs", "1",
                     "--threads", "1", "--pq-m", "2", "--pq-k", "4", "--set", "train.batch_size=64", "--quiet",
                     "--out", str(out)]) == 0
    capsys.readouterr()
    assert cli.main(["similar", "--run", str(out), "--item", "m1", "-k", "5"]) == 0  # m1: no image
    text = capsys.readouterr().out
    assert "image s0 missing" in text  # its tokens still show the missing ones, with how many items carry them
    assert "(2 image tokens are 'missing': the item has no image; not counted as shared)" in text, text
    assert cli.main(["similar", "--run", str(out), "--item", "m1", "-k", "5", "--json"]) == 0
    j = json.loads(capsys.readouterr().out)
    assert j["missing_note"] and j["sharing"], j
    assert all("missing" not in s["which"] and 0 < s["shared tokens"] <= s["of"] == 2 for s in j["sharing"]), j
    assert all(n["shared tokens"] <= 2 for n in j["nearest"]), j["nearest"]
    assert cli.main(["similar", "--run", str(out), "--item", "m0", "-k", "5", "--json"]) == 0  # m0 has one
    j = json.loads(capsys.readouterr().out)
    assert j["missing_note"] is None and all(s["of"] == 4 for s in j["sharing"])


@pytest.mark.parametrize("damage", ["config.json", "dataset.json", "metrics.json", "history.json",
                                    "model.safetensors", "split.npz", "config-list", "dataset-empty", "missing"])
def test_a_damaged_run_folder_is_named_with_the_fix(simple_dir, tmp_path, damage):
    import shutil

    src = tmp_path / "run"
    r = motor("train", "--data", simple_dir, "--backbone", "bpr", "--items", "id", "--epochs", "1",
              "--set", "train.batch_size=64", "--out", src)
    assert r.returncode == 0, r.stderr
    run = tmp_path / "copy"
    shutil.copytree(src, run)
    name = {"config-list": "config.json", "dataset-empty": "dataset.json", "missing": "history.json"}.get(damage, damage)
    if damage == "missing":
        (run / name).unlink()
    else:
        (run / name).write_text({"config-list": "[1]", "dataset-empty": "{}"}.get(damage, "garbage"))
    r = motor("recommend", "--run", run, "--user", "u1")
    assert r.returncode == 2 and "Traceback" not in r.stderr, r.stderr
    assert name in r.stderr and "train the run again" in r.stderr, r.stderr


def test_cold_valid_reports_validation_figures_of_its_own_cold_items_and_the_run_keeps_them(tmp_path):
    out = tmp_path / "run"
    r = motor("train", "--data", "demo", "--backbone", "bpr", "--items", "id", "--epochs", "1", "--threads", "1",
              "--cold-items", "0.2", "--cold-valid", "0.5", "--out", out)
    assert r.returncode == 0, r.stderr
    assert "cold valid  recall@20" in r.stdout and "\ncold  recall@20" in r.stdout
    m = json.loads((out / "metrics.json").read_text())
    assert {"recall@20", "recall@20_among_cold"} <= set(m["cold_valid"]) and m["split"]["cold_valid"] > 0
    assert m["split"]["cold_valid"] + m["split"]["cold"] > m["split"]["cold"] > 0
    from motor.runs import LoadedRun

    assert len(LoadedRun.load(out).split.cold_valid) == m["split"]["cold_valid"]


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
    (["recommend", "--run", "EMPTY_DIR", "--user", "1"], "not a finished run"),  # a folder with no run inside
    (["frobnicate"], "invalid choice"),
    # no abbreviations: '--k' once meant '--kcore' without a word; the typo's nearest options and help are named
    (["tokenize", "--k", "1"], "--k 1; did you mean --pq-k or --kcore? (see: python -m motor tokenize --help)"),
    (["bench", "regimes", "--from-lo"], "did you mean --from-log? (see: python -m motor bench regimes --help)"),
    ([], "no command"),
])
def test_bad_input_exits_2_with_one_line(args, expected, tmp_path):
    # an empty folder of its own: /tmp itself may hold run folders, and then the message names them instead
    r = motor(*(str(tmp_path) if a == "EMPTY_DIR" else a for a in args))
    assert r.returncode == 2, (r.returncode, r.stdout, r.stderr)
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), r.stderr
    assert "Traceback" not in r.stderr and expected in lines[0]


def test_bad_dataset_file_exits_2(tmp_path):
    (tmp_path / "interactions.csv").write_text("person,thing\n1,2\n")
    r = motor("data", "--data", tmp_path)
    assert r.returncode == 2 and "interactions.csv: no user id column" in r.stderr


def test_device_option_reaches_the_config_and_cuda_without_a_gpu_is_one_line(simple_dir):
    from motor.cli import build_run_config, make_parser

    cfg = build_run_config(make_parser().parse_args(["train", "--device", "cpu", "--amp"]))
    assert cfg.train.device == "cpu" and cfg.train.amp is True
    assert build_run_config(make_parser().parse_args(["train"])).train.device == "auto"
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    r = motor("train", "--data", simple_dir, "--device", "cuda", "--epochs", "1")
    assert r.returncode == 2 and r.stderr.startswith("error: ") and "no CUDA device" in r.stderr, r.stderr


def test_a_config_file_keeps_its_dataset_unless_the_command_line_names_one(tmp_path):
    """`train --config FILE` trains on the FILE's dataset (a tuned best_config.json names it); only an explicit
    --data (or another data option) overrides it, and with neither the default is the demo."""
    from motor.cli import build_run_config, make_parser

    cfg_file = tmp_path / "best_config.json"
    cfg_file.write_text(json.dumps({"data": {"data": "ml100k", "kcore": 2}, "backbone": "lightgcn",
                                    "train": {"lr": 0.0123}}))
    parse = make_parser().parse_args
    cfg = build_run_config(parse(["train", "--config", str(cfg_file), "--seed", "999"]))
    assert (cfg.data.data, cfg.data.kcore, cfg.train.lr, cfg.train.seed) == ("ml100k", 2, 0.0123, 999)
    cfg = build_run_config(parse(["train", "--config", str(cfg_file), "--data", "demo"]))
    assert (cfg.data.data, cfg.data.kcore) == ("demo", 2)  # only the named option changes
    assert build_run_config(parse(["train"])).data.data == "demo"
    a = parse(["tune", "--backbone", "bpr", "--items", "id", "--config", str(cfg_file), "--out", str(tmp_path)])
    from motor.tune import base_config

    assert base_config(a).data.data == "ml100k"


def test_train_shorthand_help_names_its_setting_and_current_default():
    """The help of ``--lr`` and its kind repeats TrainConfig's default: this keeps the two from drifting apart."""
    import argparse

    from motor.cli import TRAIN_OPTIONS, make_parser
    from motor.train import TrainConfig

    subs = next(a for a in make_parser()._actions if isinstance(a, argparse._SubParsersAction))
    actions = {a.dest: a for a in subs.choices["train"]._actions}
    for dest in ("epochs", "lr", "batch_size", "patience", "threads"):
        path = TRAIN_OPTIONS[dest]
        help_text = actions[dest].help
        assert help_text.startswith(path + ":"), dest
        assert f"default {getattr(TrainConfig(), path.split('.')[1])}" in help_text, (dest, help_text)


def _cli_options(parser=None, name="motor"):
    """(command, argparse action) for every option of every command, sub-commands included."""
    import argparse

    from motor.cli import make_parser

    for action in (parser or make_parser())._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub, p in action.choices.items():
                yield from _cli_options(p, f"{name} {sub}")
        elif action.option_strings and action.dest not in ("help", "version"):
            yield name, action


def test_the_shorthands_of_a_setting_name_it_with_its_current_default():
    """README and WORKSHOP use ``--tcn-layers``, ``--token-dim`` and ``recommend -k``, which once showed a bare
    ``-k K``; a shorthand's help names the setting it sets, with that setting's current default."""
    from motor.data.split import SplitConfig
    from motor.encoders.token_encoder import MotorEncoderConfig
    from motor.tokenizer import TokenizerConfig

    helps = {(name, a.option_strings[-1]): a.help or "" for name, a in _cli_options()}
    motor_cfg, tok, split = MotorEncoderConfig(), TokenizerConfig(), SplitConfig()
    for option, path, default in (("--tcn-layers", "motor.layers", motor_cfg.layers),
                                  ("--tcn-heads", "motor.heads", motor_cfg.heads),
                                  ("--token-dim", "motor.token_dim", motor_cfg.token_dim),
                                  ("--token-init", "motor.init", motor_cfg.init),
                                  ("--pq-normalize", "tokenizer.normalize", tok.normalize),
                                  ("--pq-seed", "tokenizer.seed", tok.seed),
                                  ("--split", "split.method", split.method),
                                  ("--split-seed", "split.seed", split.seed)):
        text = helps[("motor train", option)]
        assert text.startswith(path + ":") and f"(default {default})" in text, (option, text)


def test_a_config_files_model_settings_go_with_the_backbone_they_were_given_for(tmp_path, capsys):
    """--config with model settings and --backbone on the command line dropped them without a word."""
    from motor.cli import build_run_config, make_parser

    def cfg(config: dict, *args):
        (tmp_path / "c.json").write_text(json.dumps(config))
        a, _ = make_parser().parse_known_args(["train", "--config", str(tmp_path / "c.json"), *args])
        return build_run_config(a)

    assert cfg({"model": {"reg_weight": 0.5}}, "--backbone", "bpr").model.reg_weight == 0.5
    assert cfg({"backbone": "bpr", "model": {"reg_weight": 0.5}}, "--backbone", "BPR").model.reg_weight == 0.5
    capsys.readouterr()
    other = cfg({"backbone": "lightgcn", "model": {"reg_weight": 0.5}}, "--backbone", "bpr")
    assert other.model.reg_weight != 0.5  # another backbone's settings do not carry over...
    assert "holds model settings for lightgcn" in capsys.readouterr().err  # ...and the user is told
    assert cfg({"backbone": "bpr", "model": {"reg_weight": 0.5}}, "--set", "model.reg_weight=0.25").model.reg_weight == 0.25


def test_a_run_on_a_relative_data_folder_is_readable_from_any_folder(simple_dir, tmp_path):
    import shutil

    work = tmp_path / "work"
    shutil.copytree(simple_dir, work / "data")
    r = motor("train", "--data", "data", "--backbone", "bpr", "--items", "id", "--epochs", "1",
              "--set", "train.batch_size=64", "--out", "run", cwd=work)
    assert r.returncode == 0, r.stderr
    assert json.loads((work / "run" / "config.json").read_text())["data"]["data"] == str((work / "data").resolve())
    r = motor("recommend", "--run", work / "run", "--user", "u1", "-k", "3", cwd=tmp_path)  # from elsewhere
    assert r.returncode == 0, r.stderr


def test_output_read_by_a_pipe_that_closes_early_is_no_traceback(simple_dir):
    """``python -m motor recommend ... | head -1`` ended in a BrokenPipeError traceback once head had its line."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    p = subprocess.Popen([sys.executable, "-m", "motor", "data", "--data", str(simple_dir), "--json"], cwd=ROOT,
                         env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    p.stdout.close()  # the reader is gone before the command writes anything
    err = p.stderr.read().decode()
    assert p.wait(timeout=120) == 141 and "Traceback" not in err and "BrokenPipe" not in err, err


def test_an_error_line_is_written_whole_so_ranks_stopping_at_once_keep_their_own_lines(monkeypatch):
    """Under torchrun Python runs unbuffered: print() wrote 'error: interrupted (rank 1 of 2)' and its newline
    apart, and two ranks' messages ran together on one line."""
    from motor import cli
    from motor.errors import MotorError

    writes = []

    class Stderr:
        def write(self, text):
            writes.append(text)

        def flush(self):
            pass

    monkeypatch.setattr(sys, "stderr", Stderr())
    monkeypatch.setenv("RANK", "1")
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setattr(cli, "make_parser", lambda: (_ for _ in ()).throw(KeyboardInterrupt()))
    assert cli.main(["train"]) == 130
    assert writes == ["error: interrupted (rank 1 of 2)\n"]
    writes.clear()
    assert cli.main([]) == 2  # found before the ranks join: each rank says which it is, as later errors do
    assert len(writes) == 1 and writes[0].startswith("error: rank 1 of 2: no command given") and writes[0].endswith("\n")
    monkeypatch.delenv("RANK")
    writes.clear()
    assert cli.main([]) == 2
    assert writes[0].startswith("error: no command given")
    monkeypatch.setenv("RANK", "1")
    monkeypatch.setattr(cli, "make_parser", lambda: (_ for _ in ()).throw(MotorError("rank 1 of 2: no data")))
    writes.clear()
    assert cli.main(["train"]) == 2 and writes == ["error: rank 1 of 2: no data\n"]  # named once, not twice


@pytest.mark.parametrize("command", ["train", "tune"])
def test_a_config_file_that_is_not_utf8_text_is_one_line_and_utf16_or_a_bom_is_read(tmp_path, command):
    """--config model.safetensors (or a file in a legacy encoding) ended in a UnicodeDecodeError traceback, and a
    config.json saved by an editor with a byte-order mark was refused as bad JSON."""
    binary = tmp_path / "model.safetensors"
    binary.write_bytes(b"\xa0\x00\xff\xfe\x80binary")
    r = motor(command, "--backbone", "bpr", "--items", "id", "--config", binary)
    assert r.returncode == 2 and "Traceback" not in r.stderr, r.stderr
    assert r.stderr.startswith("error: --config") and "not a JSON text file" in r.stderr, r.stderr
    for name, data in (("bom.json", b"\xef\xbb\xbf"), ("utf16.json", "\ufeff".encode("utf-16-le"))):
        text = '{"train": {"epochs": 0}}'
        (tmp_path / name).write_bytes(data + text.encode("utf-16-le" if "16" in name else "utf-8"))
        r = motor(command, "--backbone", "bpr", "--items", "id", "--config", tmp_path / name)
        assert r.returncode == 2 and "epochs must be at least 1, got 0" in r.stderr, (name, r.stderr)


def test_tokenize_out_never_replaces_the_tokenizer_of_a_run(simple_dir, tmp_path):
    """tokenize --out RUN/tokenizer replaced the tokenizer a run's model was trained with, without a word, and the
    run no longer loaded ('model.safetensors is damaged'); an earlier tokenizer elsewhere is replaced with a note."""
    run = tmp_path / "run"
    r = motor("train", "--data", simple_dir, "--backbone", "bpr", "--items", "motor", "--epochs", "1",
              "--pq-m", "2", "--pq-k", "8", "--set", "train.batch_size=64", "--out", run)
    assert r.returncode == 0, r.stderr
    before = {p.name: p.read_bytes() for p in (run / "tokenizer").iterdir()}
    for out in (run / "tokenizer", run):
        r = motor("tokenize", "--data", simple_dir, "--pq-m", "1", "--pq-k", "4", "--out", out)
        assert r.returncode == 2 and "Traceback" not in r.stderr and "run folder" in r.stderr, r.stderr
        assert "--out tokenizers/my-tokenizer" in r.stderr and "codewords used" not in r.stdout  # before fitting
    assert {p.name: p.read_bytes() for p in (run / "tokenizer").iterdir()} == before
    assert not (run / "tokenizer.json").exists()
    assert motor("recommend", "--run", run, "--user", "u1", "-k", "2").returncode == 0
    mine = tmp_path / "tok"
    assert motor("tokenize", "--data", simple_dir, "--pq-m", "2", "--pq-k", "8", "--out", mine).returncode == 0
    r = motor("tokenize", "--data", simple_dir, "--pq-m", "1", "--pq-k", "4", "--out", mine)
    assert r.returncode == 0 and f"note: {mine} holds a tokenizer; this one replaces it" in r.stderr, r.stderr


def test_tokenize_out_that_cannot_be_written_is_refused_before_fitting(simple_dir, tmp_path):
    """tokenize --out /proc/tok fitted the whole tokenizer, printed its report, then failed on saving: on a large
    catalogue minutes lost. The folder is now tried first."""
    r = motor("tokenize", "--data", simple_dir, "--pq-m", "1", "--pq-k", "4", "--out", "/proc/motor-tok")
    assert r.returncode == 2 and "Traceback" not in r.stderr, r.stderr
    assert "cannot write the tokenizer folder /proc/motor-tok" in r.stderr and "codewords used" not in r.stdout, r.stdout


def test_a_run_whose_dataset_folder_moved_says_where_it_was_and_how_to_point_it_at_the_new_place(simple_dir, tmp_path):
    """recommend on a run whose data had moved said '...: no such file or folder; pass ... a dataset folder', asking
    for a --data option that recommend does not have."""
    import shutil

    data, run = tmp_path / "data", tmp_path / "run"
    shutil.copytree(simple_dir, data)
    r = motor("train", "--data", data, "--backbone", "bpr", "--items", "id", "--epochs", "1",
              "--set", "train.batch_size=64", "--out", run)
    assert r.returncode == 0, r.stderr
    data.rename(tmp_path / "moved")
    for cmd in (("recommend", "--user", "u1"), ("similar", "--item", "m3")):
        r = motor(cmd[0], "--run", run, *cmd[1:])
        assert r.returncode == 2 and "Traceback" not in r.stderr and len(r.stderr.strip().splitlines()) == 1, r.stderr
        assert f"trained on the dataset folder {data}, which is not there any more" in r.stderr, r.stderr
        assert f"data.data in {run / 'config.json'}" in r.stderr and "--data" not in r.stderr, r.stderr
    cfg = json.loads((run / "config.json").read_text())
    cfg["data"]["data"] = str(tmp_path / "moved")
    (run / "config.json").write_text(json.dumps(cfg))
    assert motor("recommend", "--run", run, "--user", "u1", "-k", "2").returncode == 0  # the fix it names works


def test_motor_options_on_an_id_run_are_named_with_the_missing_items_motor(simple_dir):
    """train --pq-m 4 --tcn attention without --items motor trained the default ID model without a word."""
    train = ("train", "--data", simple_dir, "--backbone", "bpr", "--epochs", "1", "--set", "train.batch_size=64")
    r = motor(*train, "--pq-m", "2", "--tcn", "mean", "--set", "motor.dropout=0.1")
    assert r.returncode == 0, r.stderr
    note = next((line for line in r.stderr.splitlines() if line.startswith("note: --pq-m")), "")
    assert "--pq-m, --tcn, --set motor.dropout=0.1 set MOTOR's" in note and "add --items motor" in note, r.stderr
    for args in (("--items", "motor", "--pq-m", "2", "--pq-k", "8"), ("--set", "train.lr=0.01")):
        r = motor(*train, *args)
        assert r.returncode == 0 and "add --items motor" not in r.stderr, (args, r.stderr)


def test_tune_leaves_no_empty_folder_for_a_misspelt_dataset_and_names_a_file_given_as_out(tmp_path):
    """tune --data nope left an empty tuned/nope-bpr-id-f1 behind, and --out FILE said only 'File exists'."""
    r = motor("tune", "--data", "nope", "--backbone", "bpr", "--items", "id", "--budget", "1", cwd=tmp_path)
    assert r.returncode == 2 and "nope: no such file or folder" in r.stderr, r.stderr
    assert not (tmp_path / "tuned").exists()
    (tmp_path / "tune.json").write_text("{}")
    r = motor("tune", "--backbone", "bpr", "--items", "id", "--budget", "1", "--out", "tune.json", cwd=tmp_path)
    assert r.returncode == 2 and "tune.json is a file; --out names the folder" in r.stderr, r.stderr
    assert (tmp_path / "tune.json").read_text() == "{}"


def test_tune_out_refuses_a_run_folder(tmp_path):
    """tune --out RUN put study.db, best_config.json and final_run/ beside a run's files; train could then no
    longer replace that folder ('holds files that are not a run's')."""
    run = tmp_path / "run"
    run.mkdir()
    for name in ("config.json", "model.safetensors"):
        (run / name).write_text("{}")
    r = motor("tune", "--backbone", "bpr", "--items", "id", "--budget", "1", "--out", run)
    assert r.returncode == 2 and f"{run} is a run folder" in r.stderr and f"--out {run}-tuned" in r.stderr, r.stderr
    assert sorted(p.name for p in run.iterdir()) == ["config.json", "model.safetensors"]


def test_run_that_is_a_file_or_a_folder_of_runs_is_named_with_the_runs_to_pass(simple_dir, tmp_path):
    """--run runs (a folder of runs) or --run runs/a/config.json said 'config.json and model.safetensors missing;
    train one with: python -m motor train --out runs', which would not have helped."""
    run = tmp_path / "runs" / "a"
    r = motor("train", "--data", simple_dir, "--backbone", "bpr", "--items", "id", "--epochs", "1",
              "--set", "train.batch_size=64", "--out", run)
    assert r.returncode == 0, r.stderr
    for given, says in ((tmp_path / "runs", f"{tmp_path / 'runs'} is not a run but holds 1: {run}; pass it"),
                        (run / "config.json", f"{run / 'config.json'} is a file; --run names a run's folder, here {run}")):
        for cmd in (("recommend", "--user", "u1"), ("similar", "--item", "m3")):
            r = motor(cmd[0], "--run", given, *cmd[1:])
            assert r.returncode == 2 and r.stderr.strip() == f"error: {says}", r.stderr


def test_version_prints_the_version():
    """python -m motor --version said 'the following arguments are required: command'."""
    from motor import __version__

    r = motor("--version")
    assert r.returncode == 0 and r.stdout.strip() == f"motor-lab {__version__}", (r.stdout, r.stderr)


def test_tokenize_json_with_out_prints_json_only_on_stdout(simple_dir, tmp_path):
    """tokenize --json --out DIR | python -m json.tool failed: 'saved tokenizer to DIR' followed the JSON on stdout."""
    r = motor("tokenize", "--data", simple_dir, "--pq-m", "2", "--pq-k", "8", "--json", "--out", tmp_path / "tok")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["modalities"] and f"saved tokenizer to {tmp_path / 'tok'}" in r.stderr
    r = motor("tokenize", "--data", simple_dir, "--pq-m", "2", "--pq-k", "8", "--out", tmp_path / "tok2")
    assert r.stdout.rstrip().endswith(f"saved tokenizer to {tmp_path / 'tok2'}"), r.stdout


def test_a_bad_approximate_search_threshold_is_refused_before_training(simple_dir, tmp_path, monkeypatch):
    """MOTOR_APPROX_FROM_ITEMS=abc was read when the run was saved: the error came after the whole training."""
    monkeypatch.setenv("MOTOR_APPROX_FROM_ITEMS", "abc")
    r = motor("train", "--data", simple_dir, "--backbone", "bpr", "--items", "id", "--epochs", "1",
              "--set", "train.batch_size=64", "--out", tmp_path / "run")
    assert r.returncode == 2 and "MOTOR_APPROX_FROM_ITEMS='abc' must be a positive whole number" in r.stderr, r.stderr
    assert "epoch" not in r.stderr and not (tmp_path / "run").exists()  # refused before training


@pytest.mark.parametrize("command", ["train", "tune"])
def test_a_config_files_own_errors_name_the_file_and_a_folder_names_the_file_in_it(tmp_path, command):
    """--config tune.json said only "unknown setting 'search'", as if from --set, and --config TUNE_FOLDER
    'cannot read JSON ([Errno 21] Is a directory)' where its best_config.json was meant."""
    (tmp_path / "tune.json").write_text(json.dumps({"search": "optuna", "best": {}}))
    (tmp_path / "bad.json").write_text(json.dumps({"train": {"lr": -1}}))
    (tmp_path / "best_config.json").write_text("{}")
    args = ("--backbone", "bpr", "--items", "id", "--config")
    for given, says in ((tmp_path / "tune.json", f"--config {tmp_path / 'tune.json'}: unknown setting 'search'"),
                        (tmp_path / "bad.json", f"--config {tmp_path / 'bad.json'}: train.lr must be positive"),
                        (tmp_path, f"--config {tmp_path} is a folder; --config takes a file, here "
                                   f"{tmp_path / 'best_config.json'}")):
        r = motor(command, *args, given)
        assert r.returncode == 2 and r.stderr.startswith(f"error: {says}"), r.stderr
    r = motor(command, *args, tmp_path / "best_config.json", "--preset", "quik")
    assert r.returncode == 2 and r.stderr.startswith("error: unknown preset 'quik'"), r.stderr  # not the file's


def test_every_option_with_a_default_states_it_in_its_help():
    """recommend -k (10) and tune --seed (0) gave no default in --help, and --split, --tcn-layers, --token-dim, tune
    --threads and others no help at all; a default a train option states is the one RunConfig has."""
    import argparse
    import re

    from motor.cli import TRAIN_OPTIONS, build_run_config, make_parser
    from motor.config import get_path

    for name, action in _cli_options():
        assert action.help, (name, action.option_strings)
        if action.default not in (None, False, [], "") and not isinstance(action, argparse.BooleanOptionalAction):
            assert "default" in action.help, (name, action.option_strings, action.default)
    defaults = build_run_config(make_parser().parse_args(["train"]))
    train = {a.dest: a for n, a in _cli_options() if n == "motor train"}
    checked = 0
    for dest, path in TRAIN_OPTIONS.items():  # a stated default is the real one
        stated = re.search(r"default:? ([^\s,:)]+)", train[dest].help or "")
        if stated:
            assert stated.group(1) == str(get_path(defaults, path)), (dest, train[dest].help)
            checked += 1
    assert checked >= 12, checked


def test_a_tilde_in_a_path_option_is_the_home_folder_also_after_an_equals_sign(simple_dir, tmp_path, monkeypatch):
    """The shell leaves --out=~/tok alone, and tokenize then wrote into a folder named '~' in the current one."""
    home, work = tmp_path / "home", tmp_path / "work"
    home.mkdir()
    work.mkdir()
    monkeypatch.setenv("HOME", str(home))
    r = motor("tokenize", "--data", simple_dir, "--pq-m", "2", "--pq-k", "8", "--out=~/tok", cwd=work)
    assert r.returncode == 0 and (home / "tok" / "tokenizer.json").exists(), r.stderr
    assert not (work / "~").exists()
    (home / "c.json").write_text(json.dumps({"train": {"epochs": 0}}))
    r = motor("train", "--config=~/c.json", cwd=work)
    assert r.returncode == 2 and f"--config {home / 'c.json'}: train.epochs must be at least 1" in r.stderr, r.stderr


def test_ctrl_c_says_what_was_kept_and_how_to_go_on(monkeypatch, capsys):
    """Ctrl-C printed 'error: interrupted' alone, leaving the user to guess whether an hour of tuning or of a
    benchmark was lost (it was not: both resume) or whether train had written half a run (it had not)."""
    import motor.bench.cli
    import motor.tune
    from motor import cli

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    for module, name in ((cli, "cmd_train"), (motor.tune, "cmd_tune"), (motor.bench.cli, "run"), (cli, "cmd_data")):
        monkeypatch.setattr(module, name, interrupted)
    expected = {("train",): "no run was written",
                ("tune", "--backbone", "bpr", "--items", "id"): "the same command resumes the search",
                ("bench", "regimes"): "the same command with --resume goes on from them",
                ("data",): None}
    for argv, kept in expected.items():
        assert cli.main(list(argv)) == 130
        err = capsys.readouterr().err.strip()
        assert err == "error: interrupted" if kept is None else err.startswith("error: interrupted; ") and kept in err, err
