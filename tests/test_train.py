"""Training: reproducible, stops on NaN keeping the best model, can be cancelled, beats popularity."""

import numpy as np
import pytest
import torch

from motor.baselines import Popularity, RandomScores
from motor.errors import MotorError
from motor.evaluate import Evaluator
from motor.experiment import RunConfig, run_experiment
from motor.train import Progress


def tiny_cfg(folder, **over):
    base = {"data.data": str(folder), "backbone": "lightgcn", "train.epochs": 3, "train.batch_size": 64}
    return RunConfig().with_overrides({**base, **over})


@pytest.mark.parametrize("items", ["id", "motor"])
def test_same_seed_reproduces_a_run_exactly(simple_dir, items):
    over = {"items": items, "tokenizer": {"m": 2, "k": 4}}
    a = run_experiment(tiny_cfg(simple_dir, **over))
    b = run_experiment(tiny_cfg(simple_dir, **over))
    c = run_experiment(tiny_cfg(simple_dir, train={"seed": 7}, **over))
    assert a.metrics["test"] == b.metrics["test"]
    assert [h["loss"] for h in a.result.history] == [h["loss"] for h in b.result.history]
    assert [h["loss"] for h in a.result.history] != [h["loss"] for h in c.result.history]


def test_progress_callback_sees_every_epoch(simple_dir):
    events: list[Progress] = []
    run_experiment(tiny_cfg(simple_dir), progress=events.append)
    stages = [e.stage for e in events]
    assert stages[0] == "start" and stages[-1] == "done"
    assert [e.epoch for e in events if e.stage == "epoch"] == [1, 2, 3]
    assert all("recall@20" in e.valid for e in events if e.stage == "epoch")


def test_a_user_with_every_training_item_is_named_by_id(tmp_path):
    # bob is user index 0 and alice index 1; the message said "user index 1", which names no one the user knows
    (tmp_path / "interactions.csv").write_text("user,item\nbob,m0\nalice,m0\nalice,m1\n")
    np.savez(tmp_path / "image.npz", item_id=np.array(["m0", "m1"]), feat=np.eye(2, dtype=np.float32))
    with pytest.raises(MotorError, match="^user 'alice' has interacted with .*every training item"):
        run_experiment(tiny_cfg(tmp_path, items="id", train={"epochs": 1}))


def test_nan_loss_stops_and_keeps_the_best_model(simple_dir, monkeypatch):
    from motor.models.lightgcn import LightGCN

    real = LightGCN.loss
    epoch = {"now": 0}

    def poisoned(self, batch):
        out = real(self, batch)
        if epoch["now"] >= 3:
            out["bpr"] = out["bpr"] * torch.tensor(float("nan"))
        return out

    monkeypatch.setattr(LightGCN, "loss", poisoned)
    monkeypatch.setattr(LightGCN, "pre_epoch", lambda self, e, g: epoch.update(now=e))
    out = run_experiment(tiny_cfg(simple_dir, train={"epochs": 10}))
    assert out.result.stopped == "nan_loss"
    assert "nan" in out.result.message.lower() and "best model" in out.result.message
    assert out.result.best_epoch in (1, 2) and len(out.result.history) == 2
    assert np.isfinite(out.metrics["test"]["recall@20"])


def test_nan_in_first_epoch_is_a_clear_error(simple_dir, monkeypatch):
    from motor.models.lightgcn import LightGCN

    monkeypatch.setattr(LightGCN, "loss", lambda self, b: {"bpr": torch.tensor(float("inf"), requires_grad=True)})
    with pytest.raises(MotorError, match="no model to keep"):
        run_experiment(tiny_cfg(simple_dir))


def test_cancel_stops_after_the_current_epoch(simple_dir):
    seen = []

    def progress(p):
        if p.stage == "epoch":
            seen.append(p.epoch)

    out = run_experiment(tiny_cfg(simple_dir, train={"epochs": 50}), progress=progress,
                         should_stop=lambda: len(seen) >= 2)
    assert out.result.stopped == "cancelled" and len(out.result.history) == 2


def test_early_stopping_uses_patience(simple_dir):
    out = run_experiment(tiny_cfg(simple_dir, train={"epochs": 200, "patience": 2, "lr": 1e-6}))
    assert out.result.stopped == "early_stop"
    assert len(out.result.history) == out.result.best_epoch + 2


def test_unknown_settings_are_errors():
    with pytest.raises(MotorError, match="did you mean 'epochs'"):
        RunConfig.from_dict({"train": {"epoch": 3}})
    with pytest.raises(MotorError, match="unknown setting 'layers' for model \\(lightgcn\\)"):
        RunConfig.from_dict({"model": {"layers": 3}})
    with pytest.raises(MotorError, match="unknown backbone"):
        RunConfig.from_dict({"backbone": "gpt"})
    with pytest.raises(MotorError, match="must be one of"):
        RunConfig.from_dict({"items": "both"})


def test_a_backbone_changed_on_a_made_config_says_how_to_change_it(simple_dir):
    # the LightGCN settings still in cfg.model were checked against VBPR: "unknown setting 'cold_dropout' for
    # model (vbpr)", a setting the user never gave
    cfg = tiny_cfg(simple_dir)
    cfg.backbone = "vbpr"
    with pytest.raises(MotorError, match=r"model settings are LightGCNConfig, not those of backbone 'vbpr'.*"
                                         r"cfg.with_overrides\(\{'backbone': 'vbpr'\}\)"):
        run_experiment(cfg)
    assert type(tiny_cfg(simple_dir).with_overrides({"backbone": "vbpr"}).model).__name__ == "VBPRConfig"


@pytest.mark.slow
def test_lightgcn_on_the_demo_clearly_beats_popularity(demo):
    cfg = RunConfig.from_dict({"backbone": "lightgcn", "train": {"epochs": 40, "lr": 0.005, "patience": 5}})
    out = run_experiment(cfg, dataset=demo)
    ev = Evaluator(out.split)
    pop = ev.evaluate(Popularity(out.split), "test")["recall@20"]
    rand = ev.evaluate(RandomScores(out.split), "test")["recall@20"]
    got = out.metrics["test"]["recall@20"]
    assert got > pop + 0.03, (got, pop)
    assert pop > 5 * rand


def test_an_explicit_cpu_device_trains_there_and_is_recorded(simple_dir):
    cpu = run_experiment(tiny_cfg(simple_dir, train={"device": "cpu", "epochs": 2}))
    assert cpu.metrics["device"] == "cpu" and cpu.metrics["world_size"] == 1
    assert cpu.metrics["train_pairs_per_second"] > 0
    assert all(t.device.type == "cpu" for t in [*cpu.model.parameters(), *cpu.model.buffers()])
    amp = run_experiment(tiny_cfg(simple_dir, train={"device": "cpu", "epochs": 2, "amp": True}))
    assert amp.metrics["test"] == cpu.metrics["test"]  # bf16 autocast is for CUDA only: the CPU run is unchanged
    if not torch.cuda.is_available():  # 'auto' without a GPU is the CPU run
        auto = run_experiment(tiny_cfg(simple_dir, train={"epochs": 2}))
        assert auto.metrics["test"] == cpu.metrics["test"] and auto.metrics["device"] == "cpu"


def test_cuda_without_a_gpu_is_a_clear_error(simple_dir):
    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    with pytest.raises(MotorError, match="no CUDA device"):
        run_experiment(tiny_cfg(simple_dir, train={"device": "cuda"}))


def test_a_dataset_given_with_a_kcore_setting_it_does_not_meet_warns(simple_dir, recwarn):
    # run_experiment(cfg, dataset=ds) trained on ds as given and wrote kcore = 4 to config.json without a word
    from motor.data.load import load_dataset

    cfg = tiny_cfg(simple_dir, **{"data.kcore": 4, "train.epochs": 1})
    raw = load_dataset(simple_dir)
    with pytest.warns(UserWarning, match=r"cfg.data.kcore = 4, but the dataset given to run_experiment is not a "
                                         r"4-core.*load_dataset\(cfg.data\)"):
        out = run_experiment(cfg, dataset=raw)
    assert out.dataset is raw
    recwarn.clear()
    run_experiment(cfg, dataset=load_dataset(cfg.data))  # as tune gives it: filtered, so no warning
    assert not [w for w in recwarn if "kcore" in str(w.message)]
