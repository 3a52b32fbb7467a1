"""The tuner: its search space, and that it never computes a test figure before its last step."""

import json
from pathlib import Path

import pytest

from motor.errors import MotorError
from motor.evaluate import Evaluator
from motor.experiment import RunConfig
from motor.tune import TuneConfig, search_space, starting_values, tune
from tests.conftest import write_simple


def test_search_space_per_backbone_and_items():
    assert set(search_space("lightgcn", "id", 1000)) == {"train.lr", "model.reg_weight"}
    assert set(search_space("freedom", "id", 1000)) == {"train.lr", "model.modality_loss_weight"}
    assert set(search_space("slmrec", "id", 1000)) == {"train.lr"}
    motor = search_space("lightgcn", "motor", 40, min_dim=6)
    assert set(motor) == {"train.lr", "model.reg_weight", "tokenizer.m", "tokenizer.k", "motor.token_dim"}
    assert motor["tokenizer.k"][1] == (16, 32) and motor["tokenizer.m"][1] == (2, 4)
    bm3 = search_space("bm3", "id", 1000)  # its own tuned field, a choice that includes 'off', the default
    assert set(bm3) == {"train.lr", "model.reg_weight", "model.uniformity_weight"} and 0.0 in bm3["model.uniformity_weight"][1]
    assert starting_values(RunConfig.from_dict({"backbone": "bm3"}), bm3)["model.uniformity_weight"] == 0.0


def base_config(data, items="id", **train):
    return RunConfig.from_dict({"data": {"data": str(data)}, "backbone": "bpr", "items": items,
                                "train": {"epochs": 3, "patience": 3, "threads": 1, **train}})


def instrumented(monkeypatch):
    """A log of evaluator calls (which set) and tuner events, in order."""
    log = []
    original = Evaluator.evaluate

    def evaluate(self, model, which="valid", *args, **kw):
        log.append(("evaluate", which))
        return original(self, model, which, *args, **kw)

    monkeypatch.setattr(Evaluator, "evaluate", evaluate)
    return log, (lambda kind, info: log.append((kind, info.get("number"))))


def check_order(log, n_trials):
    test_reads = [i for i, (kind, which) in enumerate(log) if kind == "evaluate" and which != "valid"]
    final = [i for i, (kind, _) in enumerate(log) if kind == "final"]
    trials = [i for i, (kind, _) in enumerate(log) if kind == "trial"]
    assert len(trials) == n_trials and len(final) == 1
    assert test_reads, "the final run must report test figures"
    assert max(trials) < final[0] < min(test_reads)  # every test read comes after the last trial


@pytest.mark.parametrize("items", ["id", "motor"])
def test_random_search_never_reads_test_before_the_end(tmp_path, monkeypatch, items):
    data = write_simple(tmp_path / "d", n_users=30, n_items=40, per_user=10)
    log, event = instrumented(monkeypatch)
    s = tune(base_config(data, items), TuneConfig(budget=3, seed=1), tmp_path / "out", log=lambda m: None,
             event=event, use_optuna=False)
    check_order(log, 3)
    assert len(s["trials"]) == 3 and all("test" not in t for t in s["trials"])
    assert s["search"].startswith("random") and "recall@20" in s["final"]["test"]
    # trial 0 is the starting configuration itself (the defaults), the others are drawn
    base = base_config(data, items)
    first = s["trials"][0]["params"]
    assert first["train.lr"] == base.train.lr and first["model.reg_weight"] == base.model.reg_weight
    if items == "motor":
        assert first["tokenizer.m"] == base.tokenizer.m  # k=64 is above this catalogue's 40 items: drawn
        assert base.tokenizer.k == 64 and first["tokenizer.k"] in (16, 32)
    assert s["trials"][1]["params"]["train.lr"] != base.train.lr
    assert set(s["final"]["by_popularity"]["buckets"]) == {"head", "mid", "tail", "cold"}
    # the chosen settings are a config that train --config reads, with the best trial's values
    from motor.cli import build_run_config, make_parser

    best = tmp_path / "out" / "best_config.json"
    cfg = build_run_config(make_parser().parse_args(["train", "--config", str(best), "--data", str(data)]))
    assert cfg.train.lr == pytest.approx(s["best"]["params"]["train.lr"])
    assert cfg.model.reg_weight == pytest.approx(s["best"]["params"]["model.reg_weight"])
    if items == "motor":
        assert cfg.tokenizer.k == s["best"]["params"]["tokenizer.k"]
    # resuming: a larger budget runs only the missing trials
    log.clear()
    s2 = tune(base_config(data, items), TuneConfig(budget=4, seed=1), tmp_path / "out", log=lambda m: None,
              event=event, use_optuna=False)
    check_order(log, 1)
    assert [t["params"] for t in s2["trials"][:3]] == [t["params"] for t in s["trials"]]


def test_optuna_search_never_reads_test_before_the_end_and_resumes(tmp_path, monkeypatch):
    pytest.importorskip("optuna")
    data = write_simple(tmp_path / "d", n_users=30, n_items=40, per_user=10)
    log, event = instrumented(monkeypatch)
    cfg = TuneConfig(budget=3, seed=1, startup_trials=1, prune_warmup=1)
    s = tune(base_config(data), cfg, tmp_path / "out", log=lambda m: None, event=event, use_optuna=True)
    check_order(log, 3)
    assert s["search"].startswith("optuna") and (tmp_path / "out" / "study.db").exists()
    assert s["trials"][0]["params"]["train.lr"] == base_config(data).train.lr  # the defaults come first
    log.clear()
    s2 = tune(base_config(data), TuneConfig(budget=4, seed=1, startup_trials=1, prune_warmup=1), tmp_path / "out",
              log=lambda m: None, event=event, use_optuna=True)
    check_order(log, 1)
    assert len(s2["trials"]) == 4
    json.dumps(s2)


def test_a_resumed_optuna_search_draws_new_trials_instead_of_replaying_the_first_session(tmp_path):
    pytest.importorskip("optuna")
    data = write_simple(tmp_path / "d", n_users=30, n_items=40, per_user=10)
    cfg = dict(seed=1, startup_trials=20, prune_warmup=50, defaults_first=False)  # every draw random, no pruning
    first = tune(base_config(data), TuneConfig(budget=2, **cfg), tmp_path / "out", log=lambda m: None,
                 use_optuna=True)
    again = tune(base_config(data), TuneConfig(budget=4, **cfg), tmp_path / "out", log=lambda m: None,
                 use_optuna=True)
    earlier = [t["params"] for t in first["trials"]]
    assert [t["params"] for t in again["trials"][:2]] == earlier
    assert all(t["params"] not in earlier for t in again["trials"][2:])  # the seed moved on with the study


def test_cli_tune_writes_config_and_summary(tmp_path):
    from tests.test_cli import motor

    data = write_simple(tmp_path / "d", n_users=30, n_items=40, per_user=10)
    r = motor("tune", "--data", data, "--backbone", "bpr", "--items", "id", "--budget", "2", "--epochs", "2",
              "--threads", "1", "--random-search", "--startup-trials", "3", "--prune-warmup", "7",
              "--out", tmp_path / "out")
    assert r.returncode == 0, r.stderr
    assert "best valid recall@20" in r.stdout and (tmp_path / "out" / "best_config.json").exists()
    assert "trial 0" in r.stderr and "final run (then test)" in r.stderr and "epoch" in r.stderr  # progress bars
    recorded = json.loads((tmp_path / "out" / "tune.json").read_text())["tune_config"]
    assert (recorded["startup_trials"], recorded["prune_warmup"]) == (3, 7)  # recorded with the search
    # without --out: the benchmarks' cell naming under ./tuned, said on the first line
    r = motor("tune", "--data", data, "--backbone", "bpr", "--items", "id", "--budget", "1", "--epochs", "1",
              "--threads", "1", "--random-search", "--train-fraction", "0.5", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    cell = tmp_path / "tuned" / "d-bpr-id-f0.5"
    assert (cell / "best_config.json").exists() and r.stdout.startswith(f"writing to {Path('tuned') / cell.name}")
    bad = motor("tune", "--data", data, "--backbone", "bpr", "--items", "id", "--budget", "0", "--out", tmp_path / "o")
    assert bad.returncode == 2 and "budget" in bad.stderr
    bad = motor("tune", "--data", data, "--backbone", "bpr", "--items", "id", "--prune-warmup", "-1",
                "--out", tmp_path / "o")
    assert bad.returncode == 2 and "prune_warmup" in bad.stderr
    bad = motor("tune", "--data", data, "--backbone", "bpr", "--items", "id", "--only", "model.uniformity_weight",
                "--out", tmp_path / "o")  # BM3's setting: BPR has none
    assert bad.returncode == 2 and "--only model.uniformity_weight: not searched" in bad.stderr, bad.stderr
    assert len(bad.stderr.strip().splitlines()) == 1
    bad = motor("tune", "--data", data, "--backbone", "bpr", "--items", "id", "--budget", "0", cwd=tmp_path)
    assert bad.returncode == 2 and "writing to" not in bad.stdout and not (tmp_path / "tuned" / "d-bpr-id-f1").exists()


def test_confirming_the_top_trials_on_more_seeds_chooses_by_their_mean(tmp_path, monkeypatch):
    """confirm_top: the N best trials are trained again at more seeds (validation only, before the final run's
    test figures), and the chosen trial is the one with the best mean, not the best single seed."""
    data = write_simple(tmp_path / "d", n_users=30, n_items=40, per_user=10)
    log, event = instrumented(monkeypatch)
    cfg = TuneConfig(budget=4, seed=1, confirm_top=2, confirm_seeds=2)
    s = tune(base_config(data), cfg, tmp_path / "out", log=lambda m: None, event=event, use_optuna=False)
    check_order(log, 4)
    confirms = [i for i, (kind, _) in enumerate(log) if kind == "confirm"]
    final = [i for i, (kind, _) in enumerate(log) if kind == "final"][0]
    assert len(confirms) == 2 and max(confirms) < final  # confirmed before any test figure
    by_value = sorted((t for t in s["trials"] if t["state"] == "COMPLETE"), key=lambda t: -t["value"])
    assert [c["number"] for c in s["confirm"]] == [t["number"] for t in by_value[:2]]
    for c, t in zip(s["confirm"], by_value):
        assert len(c["valid_by_seed"]) == 3 and c["valid_by_seed"][0] == t["value"]
        assert c["mean_valid"] == pytest.approx(sum(c["valid_by_seed"]) / 3)
    assert s["best"]["number"] == max(s["confirm"], key=lambda c: (c["mean_valid"], -c["number"]))["number"]
    with pytest.raises(Exception, match=r"tune.budget must be in \[1, inf\), got 0"):
        TuneConfig(budget=0).validate()
    with pytest.raises(Exception, match="tune.confirm_seeds must be in"):
        tune(base_config(data), TuneConfig(budget=1, confirm_top=1, confirm_seeds=0), tmp_path / "o2",
             log=lambda m: None, use_optuna=False)
    with pytest.raises(MotorError, match="use a seed of at most 4294967293"):  # before any trial, not after
        tune(base_config(data, seed=2**32 - 2), TuneConfig(budget=1, confirm_top=1, confirm_seeds=2),
             tmp_path / "o3", log=lambda m: None, use_optuna=False)
    assert not (tmp_path / "o3").exists()


def test_the_confirmed_mean_decides_over_the_single_search_seed(tmp_path, monkeypatch):
    import motor.tune as tune_module

    data = write_simple(tmp_path / "d", n_users=30, n_items=40, per_user=10)
    real = tune_module.confirm

    def upside_down(complete, cfg, valid_at, seed, log, emit):  # the search's runner-up wins on the other seeds
        out = real(complete, cfg, lambda params, s: 0.0, seed, log, emit)
        out[1]["mean_valid"], out[0]["mean_valid"] = 1.0, 0.0
        return out

    monkeypatch.setattr(tune_module, "confirm", upside_down)
    s = tune(base_config(data), TuneConfig(budget=3, seed=1, confirm_top=2, confirm_seeds=1), tmp_path / "out",
             log=lambda m: None, use_optuna=False)
    ranked = sorted((t for t in s["trials"] if t["state"] == "COMPLETE"), key=lambda t: (-t["value"], t["number"]))
    assert s["best"]["number"] == ranked[1]["number"] != ranked[0]["number"]
    best_cfg = json.loads((tmp_path / "out" / "best_config.json").read_text())
    assert best_cfg["train"]["lr"] == pytest.approx(ranked[1]["params"]["train.lr"])


def test_a_random_search_resumes_only_its_own_study_and_a_failed_final_run_leaves_no_chosen_config(tmp_path,
                                                                                                    monkeypatch):
    import motor.experiment

    data = write_simple(tmp_path / "d", n_users=30, n_items=40, per_user=10)
    first = tune(base_config(data), TuneConfig(budget=2, seed=1), tmp_path / "out", log=lambda m: None,
                 use_optuna=False)
    other_split = base_config(data).with_overrides({"split.seed": 7})  # the same folder, another study
    said = []
    again = tune(other_split, TuneConfig(budget=2, seed=1), tmp_path / "out", log=said.append, use_optuna=False)
    assert any(first["study"] in m and "replaces" in m for m in said)  # the user is told before any trial
    assert len(first["trials"]) == 2 and len(again["trials"]) == 2 and again["study"] != first["study"]
    # the same draws (seed 1), trained anew on the other split: other validation figures, not the first study's
    assert [t["params"] for t in again["trials"]] == [t["params"] for t in first["trials"]]
    assert [t["value"] for t in again["trials"]] != [t["value"] for t in first["trials"]]
    (tmp_path / "out" / "best_config.json").unlink()

    def fail(*args, **kw):
        raise MotorError("out of memory in the final run")

    monkeypatch.setattr(motor.experiment, "run_experiment", fail)
    with pytest.raises(MotorError):
        tune(base_config(data), TuneConfig(budget=2, seed=1), tmp_path / "out", log=lambda m: None, use_optuna=False)
    assert not (tmp_path / "out" / "best_config.json").exists()  # so the benchmarks tune this cell again


@pytest.mark.parametrize("use_optuna", [False, True])
def test_only_searches_the_named_settings_as_a_grid_from_the_starting_config_and_resumes(tmp_path, use_optuna):
    """``only``: a setting added after a search is searched alone, the rest kept at the earlier choice; its choices
    are each trained once, in order, not sampled (and a resumed grid trains only the points it lacks)."""
    if use_optuna:
        pytest.importorskip("optuna")
    data = write_simple(tmp_path / "d", n_users=30, n_items=40, per_user=10)
    base = base_config(data, "motor").with_overrides({"train.lr": 0.0123, "tokenizer.m": 2})
    cfg = dict(seed=1, only=["tokenizer.k"], prune_warmup=50)
    s = tune(base, TuneConfig(budget=1, **cfg), tmp_path / "out", log=lambda m: None, use_optuna=use_optuna)
    assert len(s["trials"]) == 1 and s["trials"][0]["params"]["tokenizer.k"] in (16, 32)  # no grid: 2 > budget 1
    s = tune(base, TuneConfig(budget=2, **cfg), tmp_path / "out2", log=lambda m: None, use_optuna=use_optuna)
    assert [t["params"] for t in s["trials"]] == [{"tokenizer.k": 16}, {"tokenizer.k": 32}]
    s = tune(base, TuneConfig(budget=3, **cfg), tmp_path / "out2", log=lambda m: None, use_optuna=use_optuna)
    assert [t["params"] for t in s["trials"]][:2] == [{"tokenizer.k": 16}, {"tokenizer.k": 32}]  # resumed
    chosen = json.loads((tmp_path / "out2" / "best_config.json").read_text())
    assert chosen["train"]["lr"] == 0.0123 and chosen["tokenizer"]["m"] == 2  # the rest as started
    assert chosen["tokenizer"]["k"] == s["best"]["params"]["tokenizer.k"] and list(s["space"]) == ["tokenizer.k"]
    with pytest.raises(MotorError, match="--only model.nope: not searched .* the space holds train.lr"):
        tune(base, TuneConfig(budget=2, seed=1, only=["model.nope"]), tmp_path / "out3", log=lambda m: None,
             use_optuna=use_optuna)


def test_a_search_stopped_in_a_trial_runs_it_again_and_a_changed_start_is_refused(tmp_path, monkeypatch):
    """Ctrl-C in the defaults trial left it RUNNING: the resumed search never ran the defaults (and said nothing)."""
    pytest.importorskip("optuna")
    import motor.train

    data = write_simple(tmp_path / "d", n_users=30, n_items=40, per_user=10)
    cfg = TuneConfig(budget=2, seed=1, startup_trials=1, prune_warmup=1)
    real = motor.train.Trainer.fit

    def stop(*a, **k):
        raise KeyboardInterrupt

    monkeypatch.setattr(motor.train.Trainer, "fit", stop)
    with pytest.raises(KeyboardInterrupt):
        tune(base_config(data), cfg, tmp_path / "out", log=lambda m: None, use_optuna=True)
    monkeypatch.setattr(motor.train.Trainer, "fit", real)
    said = []
    s = tune(base_config(data), cfg, tmp_path / "out", log=said.append, use_optuna=True)
    assert any("1 left running by a stopped session run again" in m for m in said), said
    assert len(s["trials"]) == 2 and s["trials"][0]["params"]["train.lr"] == base_config(data).train.lr
    with pytest.raises(MotorError, match="began with other settings"):
        tune(base_config(data, epochs=2), cfg, tmp_path / "out", log=lambda m: None, use_optuna=True)
