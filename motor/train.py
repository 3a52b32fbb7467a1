"""The training loop: Adam on the backbone's loss, validation every epoch, early stopping.

Reproducible on CPU for a given seed (sampling, shuffling and init all draw from seeded
generators). A NaN/inf loss stops the run with a message and keeps the best model so far.
Test figures are computed once, from the weights of the best validation epoch.
"""

from __future__ import annotations

import copy
import hashlib
import itertools
import math
import random
import sys
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import torch

from motor import distributed
from motor.config import doc
from motor.data.split import Split
from motor.errors import MotorError
from motor.evaluate import Evaluator
from motor.metrics import DEFAULT_KS
from motor.models.base import Batch, Recommender
from motor.sampling import NegativeSampler
from motor.threads import available_cores, set_threads


@dataclass
class TrainConfig:
    """Optimisation and evaluation settings shared by every backbone."""

    epochs: int = doc(100, "maximum number of epochs")
    batch_size: int = doc(2048, "training rows (user, positive, negative) per step")
    lr: float = doc(5e-3, "Adam learning rate (MMRec uses 0.001; 0.005 was chosen on demo validation Recall@20: "
                          "LightGCN 0.323 vs 0.188 with the same patience)")
    weight_decay: float = doc(0.0, "Adam weight decay")
    lr_decay: float = doc(1.0, "multiply the learning rate by this every lr_decay_every epochs (1 = constant)")
    lr_decay_every: int = doc(50, "epochs between learning-rate decays")
    patience: int = doc(20, "stop after this many validations without improvement of valid_metric")
    valid_metric: str = doc("recall@20", "metric for early stopping and model selection (validation only)")
    round_decimals: int = doc(4, "round valid_metric before comparing, as MMRec does (-1 = exact)")
    protocol: Literal["strict", "mmrec"] = doc("strict", "strict: mask train (and valid at test); mmrec: mask "
                                                           "train only")
    topk: list[int] = doc(list(DEFAULT_KS), "cut-offs K of every metric")
    eval_batch_users: int = doc(4096, "users per full-ranking batch")
    clip_grad_norm: float = doc(0.0, "clip the gradient norm to this value (0 = off)")
    seed: int = doc(999, "seed of initialisation, shuffling and negative sampling")
    threads: int = doc(0, "CPU threads for torch and faiss (0 = one per available core; data-parallel: the "
                          "cores shared among the node's processes)")
    device: Literal["auto", "cpu", "cuda"] = doc("auto", "where the model, graphs, batches and evaluation live: "
                                                         "auto = CUDA when available, else CPU")
    amp: bool = doc(False, "mixed precision: bfloat16 autocast of the training loss on CUDA (no effect on CPU)")

    def validate(self):
        """Every value in its valid range (a ``MotorError`` names the setting, the range and a fix)."""
        for name in ("epochs", "batch_size", "patience", "lr_decay_every", "eval_batch_users"):
            if getattr(self, name) < 1:
                raise MotorError(f"train.{name} must be at least 1, got {getattr(self, name)}")
        # NaN fails every comparison, so each check is written to fail for it; math.isfinite refuses inf too
        if not (self.lr > 0 and math.isfinite(self.lr)):
            raise MotorError(f"train.lr must be positive and finite, got {self.lr}; try 0.001")
        if not (self.weight_decay >= 0 and math.isfinite(self.weight_decay)):
            raise MotorError(f"train.weight_decay must be 0 or positive and finite, got {self.weight_decay}")
        if not 0 < self.lr_decay <= 1:
            raise MotorError(f"train.lr_decay must be in (0, 1] (1 = constant learning rate), got {self.lr_decay}")
        if self.round_decimals < -1:
            raise MotorError(f"train.round_decimals must be -1 (exact) or at least 0, got {self.round_decimals}")
        if not self.topk or any(k < 1 for k in self.topk):
            raise MotorError(f"train.topk must list cut-offs K of at least 1, for example [10, 20], got {self.topk}")
        if not (self.clip_grad_norm >= 0 and math.isfinite(self.clip_grad_norm)):
            raise MotorError(f"train.clip_grad_norm must be 0 (off) or positive and finite, got {self.clip_grad_norm}")
        if not 0 <= self.seed < 2**32:  # numpy's seeds are 32-bit
            raise MotorError(f"train.seed must be between 0 and 2**32 - 1 = 4294967295, got {self.seed}; try 999")
        if self.threads < 0:
            raise MotorError(f"train.threads must be 0 (one per core) or positive, got {self.threads}")
        name, _, k = self.valid_metric.partition("@")
        if name not in ("recall", "ndcg", "precision", "map") or not k.isdigit() or int(k) not in self.topk:
            raise MotorError(f"valid_metric must look like recall@20 with K in topk {self.topk}, got {self.valid_metric!r}")


@dataclass
class Progress:
    """What the progress callback receives; the CLI (tqdm) and the app both draw from it."""

    stage: Literal["tokenize", "start", "batch", "epoch", "done"]
    epoch: int = 0
    epochs: int = 0
    batch: int = 0
    batches: int = 0
    loss: float = float("nan")
    valid: dict = field(default_factory=dict)
    best_epoch: int = 0
    best_valid: float = float("nan")
    message: str = ""


@dataclass
class TrainResult:
    """What a training run produced: best epoch, its valid/test/cold metrics and the history."""

    best_epoch: int
    valid: dict[str, float]
    test: dict[str, float]
    cold: dict[str, float]
    history: list[dict]
    stopped: str  # "max_epochs", "early_stop", "nan_loss", "cancelled"
    message: str
    seconds: float
    device: str = "cpu"  # where it trained
    world_size: int = 1  # data-parallel processes
    cold_valid: dict[str, float] = field(default_factory=dict)  # the best model on the cold validation items


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and torch (initialisation draws from these)."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def _fingerprint(model: Recommender) -> str:
    """A hash of the model's dense buffers (item tokens, features) and of every tensor's shape."""
    h = hashlib.sha256()
    for name, t in [*model.named_parameters(), *model.named_buffers()]:
        h.update(f"{name}{tuple(t.shape)}".encode())
        if t.layout == torch.strided and not t.requires_grad:
            h.update(t.detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()


def _unused_parameters(step_module: torch.nn.Module, batches: list[Batch]) -> list[str]:
    """Parameters some loss step leaves without a gradient, over a few probe steps (no update is made;
    the RNG state is restored). Several steps, because a backbone may use a parameter only in an
    epoch's first step (LATTICE builds its item graph with gradients there, then reuses it detached)."""
    names = [n for n, p in step_module.named_parameters() if p.requires_grad]
    params = [p for p in step_module.parameters() if p.requires_grad]
    unused: set[str] = set()
    devices = [batches[0].user.device] if batches[0].user.is_cuda else []
    with torch.random.fork_rng(devices=devices):
        for batch in batches:
            grads = torch.autograd.grad(sum(step_module(batch).values()), params, allow_unused=True)
            unused.update(n for n, g in zip(names, grads) if g is None)
    return sorted(unused)


def _data_parallel(step_module: torch.nn.Module, device: torch.device, sampler: NegativeSampler,
                   batch_size: int) -> torch.nn.Module:
    """``step_module`` wrapped in DistributedDataParallel (gradients averaged over the ranks).

    Buffers are constant graphs and item tokens built identically on every rank (checked before) and
    partly sparse, so they are not broadcast. ``find_unused_parameters`` (an extra graph traversal per
    step) is on only for backbones whose loss leaves some parameters out, found by probe steps.
    """
    from torch.nn.parallel import DistributedDataParallel

    probes = list(itertools.islice(sampler.epoch(min(batch_size, 64), np.random.default_rng(0), device=device), 2))
    unused = distributed.broadcast_json(_unused_parameters(step_module, probes))
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*broadcast_buffers.*", category=FutureWarning)
        return DistributedDataParallel(step_module, device_ids=[device.index] if device.type == "cuda" else None,
                                       broadcast_buffers=False, find_unused_parameters=bool(unused))


def make_adam(params: list[torch.nn.Parameter], lr: float, weight_decay: float = 0.0) -> torch.optim.Adam:
    """Adam with its fused kernel where torch has one for these parameters (CPU and CUDA floats): one pass per
    tensor instead of about ten, measured 0.67 -> 0.23 ms per step for LightGCN-sized tables on one thread
    (5 to 7% of an ID epoch on MovieLens-100K); the same update up to float rounding. Plain Adam otherwise."""
    if params and all(p.device.type in ("cpu", "cuda") and p.is_floating_point() for p in params):
        try:
            return torch.optim.Adam(params, lr=lr, weight_decay=weight_decay, fused=True)
        except (RuntimeError, ValueError):
            pass
    return torch.optim.Adam(params, lr=lr, weight_decay=weight_decay)


class _LossModule(torch.nn.Module):
    """``forward`` = the backbone's ``loss``: DistributedDataParallel averages gradients of what runs
    through ``forward``, and backbones train through ``loss(batch)``."""

    def __init__(self, model: Recommender):
        super().__init__()
        self.model = model

    def forward(self, batch: Batch) -> dict[str, torch.Tensor]:
        return self.model.loss(batch)


class Trainer:
    """Adam on the backbone's loss with per-epoch validation and early stopping.

    On ``cfg.device`` (model, graphs, batches and evaluation); data-parallel when launched by
    torchrun (``motor.distributed``): each rank trains on its shard of the training pairs, DDP
    averages the gradients, rank 0 evaluates and every rank follows its decisions. The trained
    model is returned on the CPU, at its best validation epoch.
    """

    def __init__(self, cfg: TrainConfig | None = None):
        self.cfg = cfg or TrainConfig()

    def fit(self, model: Recommender, split: Split, progress: Callable[[Progress], None] | None = None,
            should_stop: Callable[[], bool] | None = None, evaluate_test: bool = True) -> TrainResult:
        """Train ``model`` on ``split.train``, keep the best validation epoch, then test it once;
        ``evaluate_test=False`` (tuning trials) computes no test or cold figure at all."""
        cfg = self.cfg
        w = distributed.world()
        cores = available_cores()
        threads = cfg.threads or (None if not w.distributed else max(1, cores // w.local_world_size))
        set_threads(threads)
        device = distributed.resolve_device(cfg.device, w.local_rank)
        if device.type == "cpu" and w.local_rank == 0 and w.local_world_size > cores:
            print(f"note: {w.local_world_size} processes share {cores} core{'s' * (cores > 1)} on this machine, so each waits for "
                  f"a core and the run is slower than with fewer; use torchrun --nproc_per_node={cores}",
                  file=sys.stderr, flush=True)
        amp = cfg.amp and device.type == "cuda"
        emit = progress or (lambda p: None)
        rng = np.random.default_rng(cfg.seed)  # shuffling: the same on every rank
        neg_rng = rng if not w.distributed else np.random.default_rng([cfg.seed, w.rank])  # negatives: per rank
        gen = torch.Generator().manual_seed(cfg.seed)
        sampler = NegativeSampler(split.train, split.n_items, user_ids=split.user_ids)
        evaluator = Evaluator(split, cfg.protocol, cfg.topk, cfg.eval_batch_users, device=device)
        if w.distributed and not distributed.all_equal(_fingerprint(model)):
            raise MotorError("the ranks built different models (item tokens, graphs or shapes differ); the data or "
                             "the settings are not the same on every rank")
        model.to(device)
        step_module: torch.nn.Module = _LossModule(model)
        if w.distributed:
            step_module = _data_parallel(step_module, device, sampler, cfg.batch_size)  # before pre_epoch(1)
        params = [p for p in model.parameters() if p.requires_grad]
        opt = make_adam(params, cfg.lr, cfg.weight_decay)
        sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda e: cfg.lr_decay ** (e / cfg.lr_decay_every))
        n_batches = sampler.n_batches(cfg.batch_size, w.world_size)
        decimals = cfg.round_decimals

        def evaluate(fn):  # rank 0 evaluates, every rank gets the same figures
            return distributed.broadcast_json(fn() if w.is_main else None)

        best_score, best_epoch, best_state, best_valid = -math.inf, 0, None, {}
        history: list[dict] = []
        stopped, message, bad_epochs = "max_epochs", "", 0
        t_start = time.perf_counter()
        emit(Progress("start", epochs=cfg.epochs, batches=n_batches))
        for epoch in range(1, cfg.epochs + 1):
            t0 = time.perf_counter()
            model.train()
            model.pre_epoch(epoch, gen)
            total, parts = 0.0, {}
            batches = sampler.epoch(cfg.batch_size, rng, model.uses_negatives, device, w.rank, w.world_size, neg_rng)
            for b, batch in enumerate(batches, start=1):
                try:
                    with torch.autocast(device.type, dtype=torch.bfloat16, enabled=amp):
                        terms = step_module(batch)
                except RuntimeError as e:
                    if not amp or "dtype" not in str(e).lower():
                        raise
                    raise MotorError(f"mixed precision (train.amp) is not supported by backbone {model.name!r} "
                                     f"({str(e).splitlines()[0][:120]}); train without --amp") from None
                loss = sum(terms.values())
                finite = distributed.all_true(bool(torch.isfinite(loss)))  # every rank leaves the loop together
                cancel = should_stop is not None and not distributed.all_true(not should_stop())
                if not finite:
                    stopped = "nan_loss"
                    message = (f"loss became {loss.item()} at epoch {epoch}, batch {b} "
                               f"({', '.join(f'{k}={v.item():.4g}' for k, v in terms.items())}); the run stopped and "
                               f"keeps the best model so far (epoch {best_epoch}); try a lower lr or reg_weight")
                    break
                opt.zero_grad(set_to_none=True)
                loss.backward()
                if cfg.clip_grad_norm > 0:
                    torch.nn.utils.clip_grad_norm_(params, cfg.clip_grad_norm)
                opt.step()
                total += loss.item()
                for k, v in terms.items():
                    parts[k] = parts.get(k, 0.0) + v.item()
                if b % 5 == 0 or b == n_batches:
                    emit(Progress("batch", epoch, cfg.epochs, b, n_batches, total / b, best_epoch=best_epoch))
                if cancel:
                    stopped, message = "cancelled", f"cancelled during epoch {epoch}"
                    break
            if stopped in ("nan_loss", "cancelled"):
                break
            sched.step()
            total, *sums = distributed.mean_over_ranks([total, *parts.values()])  # the loss over all the data
            parts = dict(zip(parts, sums))
            if device.type == "cuda":
                torch.cuda.synchronize(device)
            train_s = time.perf_counter() - t0
            t1 = time.perf_counter()
            valid = evaluate(lambda: evaluator.evaluate(model, "valid"))
            eval_s = time.perf_counter() - t1
            score = valid.get(cfg.valid_metric, 0.0)
            score_cmp = round(score, decimals) if decimals >= 0 else score
            row = {"epoch": epoch, "loss": total / n_batches, **{f"loss_{k}": v / n_batches for k, v in parts.items()},
                   "valid": valid, "train_seconds": train_s, "eval_seconds": eval_s}
            history.append(row)
            if score_cmp > best_score:
                best_score, best_epoch, best_valid = score_cmp, epoch, valid
                best_state = copy.deepcopy(model.state_dict())
                bad_epochs = 0
            else:
                bad_epochs += 1
            emit(Progress("epoch", epoch, cfg.epochs, n_batches, n_batches, row["loss"], valid, best_epoch,
                          best_valid.get(cfg.valid_metric, float("nan"))))
            if bad_epochs >= cfg.patience:
                stopped = "early_stop"
                message = f"no improvement of valid {cfg.valid_metric} for {cfg.patience} epochs"
                break
            cancel = should_stop is not None and should_stop()
            if not distributed.all_true(not cancel):
                stopped, message = "cancelled", f"cancelled after epoch {epoch}"
                break

        if best_state is None:
            model.to("cpu")
            if stopped == "nan_loss":
                raise MotorError(message.replace("keeps the best model so far (epoch 0)", "has no model to keep"))
            raise MotorError("training was cancelled before the first validation; no model to keep")
        model.load_state_dict(best_state)
        cold_valid = evaluate(lambda: evaluator.evaluate_cold(model, "cold_valid"))  # validation: also when tuning
        final = evaluate(lambda: evaluator.evaluate_all(model)) if evaluate_test else {"test": {}}
        model.to("cpu")
        result = TrainResult(best_epoch, best_valid, final["test"], final.get("cold", {}), history, stopped,
                             message, time.perf_counter() - t_start, str(device), w.world_size, cold_valid)
        emit(Progress("done", best_epoch, cfg.epochs, loss=history[-1]["loss"] if history else float("nan"),
                      valid=best_valid, best_epoch=best_epoch, best_valid=best_score, message=message))
        return result
