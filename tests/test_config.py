"""One configuration path: dotted overrides merged into a RunConfig, typed and validated."""

import json

import pytest

from motor.config import apply_overrides, parse_assignment
from motor.errors import MotorError
from motor.experiment import RunConfig
from motor.models.lightgcn import LightGCNConfig
from motor.presets import preset
from motor.train import TrainConfig


def test_dotted_paths_and_section_mappings_are_the_same_override():
    base = RunConfig()
    a = base.with_overrides({"train.lr": 0.01, "model.n_layers": 3, "split.cold_items": 0.1})
    b = apply_overrides(base, {"train": {"lr": 0.01}, "model": {"n_layers": 3}, "split": {"cold_items": 0.1}})
    assert a == b and a.train.lr == 0.01 and a.model.n_layers == 3 and a.split.cold_items == 0.1
    assert a.train.epochs == base.train.epochs  # merged, not replaced
    assert base.train.lr != 0.01 and base.model.n_layers != 3  # the original is unchanged


def test_model_is_the_backbones_typed_config_and_round_trips_through_json():
    cfg = RunConfig().with_overrides({"model.n_layers": 3})
    assert isinstance(cfg.model, LightGCNConfig)
    saved = json.loads(json.dumps(cfg.to_dict()))
    assert saved["model"] == {"cold_dropout": 0.1, "embedding_dim": 64, "n_layers": 3, "reg_weight": 0.0001}
    assert RunConfig.from_dict(saved) == cfg


def test_a_new_backbone_starts_from_its_own_defaults():
    cfg = RunConfig().with_overrides({"model.n_layers": 3}).with_overrides({"backbone": "bpr", "model.reg_weight": 0.5})
    assert cfg.backbone == "bpr" and type(cfg.model).__name__ == "BPRConfig" and cfg.model.reg_weight == 0.5
    same = RunConfig().with_overrides({"model.n_layers": 3}).with_overrides({"backbone": "lightgcn"})
    assert same.model.n_layers == 3  # unchanged backbone: settings kept


@pytest.mark.parametrize("overrides, message", [
    ({"train.lrr": 0.1}, "unknown setting 'train.lrr' (did you mean 'lr'?)"),
    ({"trian.lr": 0.1}, "did you mean 'train'"),
    ({"train": {"epoch": 3}}, "unknown setting 'train.epoch' (did you mean 'epochs'?)"),
    ({"model.layers": 3}, "did you mean 'n_layers'"),
    ({"tokenizer.per_modality.text.mm": 2}, "did you mean 'm'"),
    ({"train.lr.x": 1}, "'train.lr' is a single setting"),
    ({"train.lr": "fast"}, "must be a number"),
    ({"train.epochs": 0}, "train.epochs must be at least 1"),
    ({"train..lr": 1}, "dotted path"),
])
def test_bad_overrides_are_clear_errors(overrides, message):
    with pytest.raises(MotorError) as e:
        RunConfig().with_overrides(overrides)
    assert message in str(e.value)


def test_per_modality_entries_are_typed():
    cfg = RunConfig().with_overrides({"tokenizer.per_modality.text.m": 2, "tokenizer.per_modality.image": {"k": 8}})
    assert cfg.tokenizer.per_modality["text"].m == 2 and cfg.tokenizer.per_modality["image"].k == 8
    assert cfg.tokenizer.for_modality("image").m == cfg.tokenizer.m


def test_assignments_parse_json_values_else_text():
    assert parse_assignment("train.lr=0.01") == ("train.lr", 0.01)
    assert parse_assignment("train.topk=[5, 10]") == ("train.topk", [5, 10])
    assert parse_assignment("motor.tcn=cross") == ("motor.tcn", "cross")
    with pytest.raises(MotorError, match="KEY=VALUE"):
        parse_assignment("nonsense")


def test_cli_presets_and_app_build_the_same_config():
    from app.settings import build_configs, default_settings
    from motor.cli import build_run_config, make_parser

    args = make_parser().parse_args(["train", "--preset", "quick", "--items", "motor", "--lr", "0.03",
                                     "--set", "motor.heads=2", "--set", "train.threads=1"])
    from_cli = build_run_config(args)
    s = default_settings()
    s.update({"train.lr": 0.03, "motor.heads": 2, "train.threads": 1, "variants": "motor"})
    from_app = build_configs(s, {"data": "demo"})["motor"]
    from_preset = preset("quick", "motor", {"train.lr": 0.03, "motor.heads": 2, "train.threads": 1})
    assert from_cli == from_preset == from_app


@pytest.mark.parametrize("field, value, message", [
    ("lr", 0.0, "train.lr must be positive"), ("weight_decay", -1.0, "0 or positive"),
    ("lr_decay", 1.5, "(0, 1]"), ("lr_decay_every", 0, "at least 1"), ("round_decimals", -2, "-1 (exact)"),
    ("topk", [0], "at least 1"), ("clip_grad_norm", -0.1, "0 (off)"), ("threads", -1, "one per core"),
    ("eval_batch_users", 0, "at least 1"), ("valid_metric", "recall@7", "K in topk"),
])
def test_train_settings_are_validated_with_their_range(field, value, message):
    with pytest.raises(MotorError) as e:
        apply_overrides(TrainConfig(), {field: value})
    assert message in str(e.value)


@pytest.mark.parametrize("path, message", [
    ("train.lr", "train.lr must be positive and finite"),
    ("train.weight_decay", "train.weight_decay must be 0 or positive and finite"),
    ("train.clip_grad_norm", "train.clip_grad_norm must be 0 (off) or positive and finite"),
    ("motor.init_std", "must be positive and finite"),
])
def test_nan_and_infinity_are_refused_like_any_value_out_of_range(path, message):
    """NaN fails every comparison, so a ``< 0`` check let it through (torch failed later, or clipping was
    silently off); --set passes NaN and Infinity as numbers."""
    for text in ("NaN", "Infinity"):
        with pytest.raises(MotorError) as e:
            RunConfig().with_overrides(dict([parse_assignment(f"{path}={text}")]))
        assert message in str(e.value)


@pytest.mark.parametrize("path, limit", [("train.seed", 2**32), ("split.seed", 2**32), ("tokenizer.seed", 2**31)])
def test_seeds_are_refused_outside_what_numpy_and_faiss_take(path, limit):
    """numpy seeds are 32-bit unsigned, faiss k-means seeds 32-bit signed: a seed past either end is a clear
    error naming the setting and its range (it was a ValueError or OverflowError once training started)."""
    for bad in (-1, limit, 99999999999999999999):
        with pytest.raises(MotorError, match=f"{path} must be between 0 and 2\\*\\*{limit.bit_length() - 1} - 1"):
            RunConfig().with_overrides({path: bad})
    cfg = RunConfig().with_overrides({path: limit - 1})
    assert getattr(cfg, path.split(".")[0]).seed == limit - 1


def test_every_backbone_setting_with_a_declared_range_rejects_a_value_outside_it():
    """Ranges live on the fields (``doc(..., low=, high=)``); ``from_dict`` checks each one, so a value just
    past either end of every declared interval is a clear error naming the setting and its interval."""
    import dataclasses

    from motor.models import BACKBONES

    checked = 0
    for name, cls in sorted(BACKBONES.items()):
        for f in dataclasses.fields(cls.Config):
            if "range" not in f.metadata:
                continue
            low, high, low_open, high_open = f.metadata["range"]
            step = 1 if f.type in (int, "int") else 1e-3
            bad = [v for v in ((low if low_open else low - step) if low is not None else None,
                               (high if high_open else high + step) if high is not None else None) if v is not None]
            for value in bad:
                with pytest.raises(MotorError, match=f"{f.name} must be in"):
                    apply_overrides(RunConfig(backbone=name), {f"model.{f.name}": value})
                checked += 1
            ok = low if low is not None and not low_open else (high if high is not None and not high_open else None)
            if ok is not None:  # a closed end is itself in range (another setting may still object to it)
                try:
                    apply_overrides(RunConfig(backbone=name), {f"model.{f.name}": ok})
                except MotorError as e:
                    assert "must be in" not in str(e), (name, f.name, e)
    assert checked >= 60  # the embedding sizes, layer counts, weights and rates of the 13 backbones


@pytest.mark.parametrize("value", ["NaN", "Infinity", "-Infinity"])
def test_backbone_settings_refuse_nan_and_infinity(value):
    from motor.config import parse_assignment
    from motor.experiment import RunConfig

    with pytest.raises(MotorError, match="reg_weight must be in"):
        RunConfig().with_overrides(dict([parse_assignment(f"model.reg_weight={value}")]))


def test_a_run_config_built_in_python_is_checked_like_a_config_file():
    """RunConfig(train={...}) failed later with AttributeError; TrainConfig(epochs=0) with a misleading message."""
    from motor.experiment import RunConfig, run_experiment
    from motor.train import TrainConfig

    assert RunConfig(backbone="bpr", train={"epochs": 3}).train == TrainConfig(epochs=3)
    for make, says in ((lambda: RunConfig(train={"epochs": "x"}), "train.epochs must be an integer"),
                       (lambda: RunConfig(train=[1]), "train must be a TrainConfig or a mapping"),
                       (lambda: RunConfig(backbone=3), "backbone must be a name"),
                       (lambda: run_experiment(RunConfig(train=TrainConfig(epochs=0))), "epochs must be at least 1")):
        with pytest.raises(MotorError, match=says):
            make()


def test_a_data_config_and_k_from_python_are_checked():
    from motor.data.load import DataConfig, load_dataset

    with pytest.raises(MotorError, match="kcore must be"):
        load_dataset(DataConfig(kcore=-1))


def test_numpy_scalars_are_numbers_and_are_stored_as_python_ones():
    """A notebook sweep passes np.int64 (np.arange) and np.float32/np.float64 (np.logspace): they were refused
    with 'must be an integer, got np.int64(5)'; they are kept as int and float, so config.json stays plain JSON."""
    import numpy as np

    cfg = RunConfig.from_dict({"train": {"epochs": np.int64(5), "lr": np.float32(0.25), "amp": np.bool_(True)},
                               "tokenizer": {"m": np.int32(2)}, "split": {"cold_items": np.float64(0.1)}})
    assert (cfg.train.epochs, cfg.train.lr, cfg.train.amp, cfg.tokenizer.m) == (5, 0.25, True, 2)
    assert [type(v) for v in (cfg.train.epochs, cfg.train.lr, cfg.train.amp, cfg.tokenizer.m)] == [int, float, bool, int]
    json.dumps(cfg.to_dict())
    assert RunConfig().with_overrides({"train.epochs": np.float64(7.0)}).train.epochs == 7
    for bad, says in (({"train.epochs": np.float32(2.5)}, "must be an integer"),
                      ({"train.lr": np.bool_(True)}, "must be a number"), ({"train.epochs": "5"}, "must be an integer")):
        with pytest.raises(MotorError, match=says):
            RunConfig().with_overrides(bad)


def test_a_choice_is_read_in_any_case_like_a_backbone_name_also_when_built_in_python():
    from motor.experiment import RunConfig

    assert RunConfig.from_dict({"backbone": "LightGCN", "items": "MOTOR"}).items == "motor"
    assert RunConfig(items="Motor").items == "motor"  # built directly: checked too, not failing later in training
    assert RunConfig.from_dict({"train": {"protocol": "STRICT"}}).train.protocol == "strict"
    assert RunConfig().with_overrides({"items": "ID"}).items == "id"
    with pytest.raises(MotorError, match="items must be one of 'id', 'motor', got 'tokens'"):
        RunConfig(items="tokens")
    with pytest.raises(MotorError, match="items must be one of 'id', 'motor', got 5"):
        RunConfig.from_dict({"items": 5})
