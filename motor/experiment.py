"""One run, end to end: data -> split -> (tokens) -> backbone + item encoder -> train -> metrics.

``RunConfig`` is the complete, typed description of a run; it is saved with the run, so a
run folder says exactly how its numbers were produced. ``build_model`` is shared by training
and by reloading a saved run.
"""

from __future__ import annotations

import dataclasses
import json
import resource
import time
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Literal

import numpy as np

from motor import distributed, paths
from motor.config import apply_overrides, check_field, checked, doc, from_dict, to_dict
from motor.data.dataset import Dataset
from motor.data.filters import kcore_mask
from motor.data.load import DataConfig, load_dataset
from motor.data.split import Split, SplitConfig, make_split
from motor.encoders.id_table import IdEncoderConfig
from motor.encoders.registry import (
    get_item_encoder,
    tokenize,  # noqa: F401  (re-exported: callers import it from here)
)
from motor.encoders.token_encoder import MotorEncoderConfig
from motor.errors import MotorError
from motor.models.base import ModelContext, Recommender
from motor.models.registry import get_backbone
from motor.run_folder import check_out_dir, save_run
from motor.tokenizer import Tokenizer, TokenizerConfig
from motor.train import Progress, TrainConfig, Trainer, TrainResult, seed_everything


@dataclass
class RunConfig:
    """Everything that defines a run. ``model`` holds the backbone's own ``Config`` (typed, validated)."""

    RESETS: ClassVar[dict[str, str]] = {"backbone": "model"}  # a new backbone starts from its own defaults

    data: DataConfig = doc(DataConfig(), "dataset source and cleaning")
    split: SplitConfig = doc(SplitConfig(), "train/valid/test split and cold-item hold-out")
    backbone: str = doc("lightgcn", "recommender architecture, e.g. bpr, lightgcn, vbpr")
    items: Literal["id", "motor"] = doc("id", "item representation: 'id' (one embedding per item) or 'motor' "
                                              "(shared multimodal tokens + Token Cross Network)")
    model: Any = doc({}, "backbone hyperparameters: an instance of the backbone's Config (a mapping is checked "
                         "against it; unknown keys are errors)")
    id_encoder: IdEncoderConfig = doc(IdEncoderConfig(), "ID table settings (items='id')")
    tokenizer: TokenizerConfig = doc(TokenizerConfig(), "product quantization of item features (items='motor')")
    motor: MotorEncoderConfig = doc(MotorEncoderConfig(), "token embeddings and Token Cross Network (items='motor')")
    train: TrainConfig = doc(TrainConfig(), "optimisation, early stopping and evaluation")

    def __post_init__(self):
        sections = {"data": DataConfig, "split": SplitConfig, "id_encoder": IdEncoderConfig,
                    "tokenizer": TokenizerConfig, "motor": MotorEncoderConfig, "train": TrainConfig}
        for name, section in sections.items():  # RunConfig(train={"epochs": 5}) from Python, as in a config file
            if isinstance(getattr(self, name), Mapping):
                setattr(self, name, from_dict(section, dict(getattr(self, name)), where=name))
            elif not isinstance(getattr(self, name), section):
                raise MotorError(f"{name} must be a {section.__name__} or a mapping of its settings, "
                                 f"got {type(getattr(self, name)).__name__}")
        self.items = check_field(self, "items")  # RunConfig(items="MOTOR") from Python, as in a config file
        if not isinstance(self.backbone, str):
            raise MotorError(f"backbone must be a name such as 'lightgcn', got {self.backbone!r}")
        self.backbone = self.backbone.lower()
        config_cls = get_backbone(self.backbone).Config
        if isinstance(self.model, Mapping):
            self.model = from_dict(config_cls, dict(self.model), where=f"model ({self.backbone})")
        elif not isinstance(self.model, config_cls):
            raise MotorError(f"model must hold {config_cls.__name__} settings for backbone {self.backbone!r}, "
                             f"got {type(self.model).__name__}")

    def validate(self):
        """Re-check the backbone settings (the sections check themselves when built)."""
        check = getattr(self.model, "validate", None)
        if callable(check):
            check()

    @classmethod
    def from_dict(cls, d: dict) -> RunConfig:
        """A checked RunConfig from a mapping (as saved in config.json)."""
        return from_dict(cls, d)

    def to_dict(self) -> dict:
        """The JSON-ready form written to config.json."""
        return to_dict(self)

    def with_overrides(self, overrides: Mapping[str, Any]) -> RunConfig:
        """A validated copy with dotted-path overrides merged in (``{"train.lr": 0.01}``); see ``apply_overrides``."""
        return apply_overrides(self, overrides)


def model_context(ds: Dataset, split: Split, cache_dir: Path | None = None) -> ModelContext:
    """The backbone's inputs; kNN and user-user graphs are cached on disk under ``cache_dir``
    (default ``cache_dir("graphs")``, hash-keyed, so training and reloading share them)."""
    return ModelContext.build(split.n_users, split.n_items, split.train.user, split.train.item,
                              {k: m.features for k, m in ds.modalities.items()},
                              cache_dir if cache_dir is not None else paths.cache_dir("graphs"),
                              {k: m.present for k, m in ds.modalities.items() if m.n_missing})


def build_model(cfg: RunConfig, ctx: ModelContext, tokenizer: Tokenizer | None = None) -> Recommender:
    """The backbone with the chosen item encoder; the backbone cannot tell which one it got.

    ``tokenizer`` is what the item representation's prepare step made (None for 'id').
    """
    backbone = get_backbone(cfg.backbone)
    make_items = get_item_encoder(cfg.items).factory(cfg, ctx.n_items, tokenizer)
    if backbone.needs_features and not ctx.features:
        raise MotorError(f"backbone {cfg.backbone!r} needs item features, and this dataset has none")
    seed_everything(cfg.train.seed)
    return backbone(ctx, cfg.model, make_items)


@dataclass
class RunOutput:
    """A finished run in memory: what ``motor.run_folder.save_run`` writes."""

    config: RunConfig
    dataset: Dataset
    split: Split
    model: Recommender
    tokenizer: Tokenizer | None
    result: TrainResult
    metrics: dict
    out_dir: Path | None


def metrics_summary(cfg: RunConfig, ds: Dataset, split: Split, model: Recommender, result: TrainResult,
                    tokenizer: Tokenizer | None) -> dict:
    """The run's metrics.json: best epoch, valid/test (and cold) metrics, parameter counts, timings and the
    item encoder's diagnostics (``item_encoder``: is MOTOR's attention crossing?)."""
    epochs = [h["train_seconds"] for h in result.history]
    out = {
        "backbone": cfg.backbone, "items": cfg.items, "dataset": ds.name,
        "best_epoch": result.best_epoch, "epochs_run": len(result.history),
        "stopped": result.stopped, "message": result.message,
        "valid": result.valid, "test": result.test,
        "params": model.param_counts(),
        "seconds": result.seconds,
        "seconds_per_epoch": float(np.mean(epochs)) if epochs else None,
        "eval_seconds_per_epoch": float(np.mean([h["eval_seconds"] for h in result.history])) if epochs else None,
        "split": split.summary(), "protocol": cfg.train.protocol,
        "train_pairs_per_second": len(split.train.user) / float(np.mean(epochs)) if epochs else None,
        "device": result.device, "world_size": result.world_size,
    }
    if result.cold:
        out["cold"] = result.cold
    if result.cold_valid:
        out["cold_valid"] = result.cold_valid
    if tokenizer is not None:
        out["tokenizer"] = tokenizer.report()
    if result.test:  # tuning trials compute no test figure, so no buckets either
        from motor.evaluate import by_popularity
        from motor.personalisation import personalisation

        out["by_popularity"] = by_popularity(model, split, cfg.train.protocol)
        out["personalisation"] = personalisation(model, split, cfg.train.protocol)  # does it rank users alike?
    diagnostics = model.items.diagnostics()  # e.g. MOTOR's attention: is the TCN crossing? (empty for ID)
    if diagnostics:
        out["item_encoder"] = diagnostics
    return out


# settings a rank may choose for its own machine under torchrun; every other one must be rank 0's
PER_MACHINE_SETTINGS = ("train.threads", "train.device")


def check_same_settings(cfg: RunConfig) -> None:
    """Refuse, on every rank at once, a data-parallel run whose ranks were given different settings (another
    seed, lr or epoch count on one node): their replicas would drift apart or wait for each other for ever."""
    def flat(node: dict, prefix: str = "") -> dict:
        out = {}
        for k, v in node.items():
            out.update(flat(v, f"{prefix}{k}.") if isinstance(v, dict) else {f"{prefix}{k}": v})
        return out

    own = {k: v for k, v in flat(cfg.to_dict()).items() if k not in PER_MACHINE_SETTINGS}
    diff, same = distributed.differences(own)
    if same:
        return
    fix = ("start every rank with the same command and files (only --out, --threads and --device may differ "
           "between machines)")
    if not diff:
        raise MotorError(f"another rank was started with other settings than rank 0 (see its error); {fix}")
    shown = ", ".join(f"{k} {json.dumps(mine)} (rank 0: {json.dumps(theirs)})" for k, (mine, theirs) in diff.items())
    raise MotorError(f"settings differ from rank 0's: {shown}; {fix}")


def _warn_unapplied_kcore(data: DataConfig, ds: Dataset) -> None:
    """Warn when ``cfg.data.kcore`` asks for a k-core that the dataset given to ``run_experiment`` is not (it was
    recorded in config.json as if applied); data read by ``load_dataset(cfg.data)``, as ``tune`` does, passes."""
    inter = ds.interactions
    if data.kcore and len(inter) and not kcore_mask(inter.user, inter.item, data.kcore).all():
        warnings.warn(f"cfg.data.kcore = {data.kcore}, but the dataset given to run_experiment is not a "
                      f"{data.kcore}-core and is trained on as given (config.json still records kcore = "
                      f"{data.kcore}); give load_dataset(cfg.data) or kcore_filter(ds, {data.kcore}) instead, or set "
                      f"cfg.data.kcore to 0", UserWarning, stacklevel=3)


def run_experiment(cfg: RunConfig, out_dir: Path | str | None = None,
                   progress: Callable[[Progress], None] | None = None,
                   should_stop: Callable[[], bool] | None = None,
                   dataset: Dataset | None = None, cache_dir: Path | None = None) -> RunOutput:
    """Train and evaluate one run; write it to ``out_dir`` when given.

    ``dataset``: data already in memory (the app's upload, a search's data read once for all its
    trials, a dataset built in Python), trained on exactly as given. ``cfg.data`` is then only
    recorded in config.json, not applied: load the data with ``load_dataset(cfg.data)`` so that
    its k-core and reader settings hold (a ``cfg.data.kcore`` the data does not satisfy warns).
    ``LoadedRun.load`` of such a run needs the same dataset given again.

    Launched by torchrun, every rank runs this; training is data-parallel (``motor.distributed``)
    and only rank 0 writes the run folder.
    """
    t0 = time.perf_counter()
    # every setting checked as a config file's would be: a section built in Python (TrainConfig(epochs=0)) is not
    if isinstance(cfg, RunConfig) and isinstance(cfg.backbone, str) and dataclasses.is_dataclass(cfg.model) and \
            not isinstance(cfg.model, get_backbone(cfg.backbone).Config):  # cfg.backbone = "vbpr" once it was made
        raise MotorError(f"the config's model settings are {type(cfg.model).__name__}, not those of backbone "
                         f"{cfg.backbone!r}: the backbone was changed after the config was made; change it with "
                         f"cfg = cfg.with_overrides({{'backbone': {cfg.backbone!r}}}), which starts the model "
                         f"settings from that backbone's defaults")
    cfg = checked(RunConfig, cfg, "RunConfig")
    w = distributed.setup(cfg.train.device)
    if w.distributed:
        check_same_settings(cfg)
    if out_dir is not None and w.is_main:
        out_dir = check_out_dir(out_dir)  # before the training it would otherwise lose
    ds = dataset if dataset is not None else load_dataset(cfg.data)
    if dataset is not None:
        _warn_unapplied_kcore(cfg.data, ds)
    split = make_split(ds, cfg.split)
    emit = progress or (lambda p: None)
    tokenizer = get_item_encoder(cfg.items).prepare(ds, cfg, lambda msg: emit(Progress("tokenize", message=msg)),
                                                    should_stop)
    ctx = model_context(ds, split, cache_dir)
    model = build_model(cfg, ctx, tokenizer)
    result = Trainer(cfg.train).fit(model, split, progress, should_stop)
    metrics = metrics_summary(cfg, ds, split, model, result, tokenizer)
    metrics["total_seconds"] = time.perf_counter() - t0
    metrics["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # whole process
    out = RunOutput(cfg, ds, split, model, tokenizer, result, metrics, Path(out_dir) if out_dir else None)
    if out_dir is not None and w.is_main:
        save_run(out)
    distributed.barrier()  # the run folder exists on every rank's return
    return out
