"""Fair hyperparameter search: validation Recall@20 only, the same budget for ID and MOTOR.

    python -m motor tune --data D --backbone B --items {id,motor} --budget N [--train-fraction F] [--out DIR]

Without ``--out`` the search writes to ``tuned/D-B-ITEMS-fF[-cC]/`` (``cell_folder``), the naming the
benchmarks use under ``benchmarks/tuned/``, so the same cell tuned twice resumes one study.

Each trial trains one configuration with the usual early stopping and is scored by its best
validation Recall@20; trials never compute a test or cold figure (``Trainer.fit(...,
evaluate_test=False)``). When the budget is spent, the chosen configuration is trained once more
and evaluated on test: that final run is the only place a test figure is computed, and it is
written with the chosen settings (``best_config.json``, which ``python -m motor train --config``
reads) and a summary (``tune.json``).

Search space (``search_space``): learning rate (log-uniform 1e-4 .. 5e-2) and the backbone's
regularisation weight (log-uniform 1e-6 .. 1; ``REG_FIELD`` names it where it is not
``reg_weight``), the backbone's own ``tuned_fields`` (BM3: its uniformity weight); for MOTOR also
the tokenizer's m and k and the token dimension. ID and MOTOR get the same number of trials, so
MOTOR's larger space is searched less densely: the budget, not the space, is what is equal.
``--only`` (``TuneConfig.only``) searches some of these settings alone from the starting config
(for a setting added after a search chose the rest); choices that fit the budget run as a grid.

Search: Optuna (TPE sampler, median pruning on the per-epoch validation curve, a SQLite study in
``DIR/study.db`` so an interrupted search resumes where it stopped). Optuna is chosen over a
grid because the space mixes log-scaled continuous and categorical settings and a grid of
useful resolution would need far more runs than the budget. When Optuna is not installed the
same loop runs a seeded random search over the same space (no pruning), resumable from
``DIR/trials.jsonl``; the summary says which search ran.
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import math
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from motor.config import check_ranges, doc, to_dict
from motor.errors import MotorError
from motor.run_folder import is_run_folder

METRIC = "recall@20"  # validation metric that is maximised
LR_RANGE = (1e-4, 5e-2)
REG_RANGE = (1e-6, 1.0)  # 1.0 was best for VBPR at train_fraction 0.1 on ML-100K (see issue 12 notes)
REG_FIELD = {"freedom": "modality_loss_weight", "slmrec": None}  # others: "reg_weight"; None = no such weight
PQ_M = (2, 4, 8)
PQ_K = (16, 32, 64, 128)
TOKEN_DIM = (32, 64, 128)


@dataclass
class TuneConfig:
    """How the search runs; what is searched is in ``search_space``."""

    budget: int = doc(20, "trials (configurations trained), the same for ID and MOTOR; typical 10 to 50", low=1)
    seed: int = doc(0, "seed of the sampler (TPE or random)")
    startup_trials: int = doc(5, "random trials before TPE models the results, and before pruning starts", low=0)
    prune_warmup: int = doc(5, "epochs a trial always runs before it can be pruned", low=0)
    defaults_first: bool = doc(True, "trial 0 trains the starting configuration's own values (the documented "
                                     "defaults), so the chosen settings are never worse on validation than them")
    confirm_top: int = doc(0, "after the search, train the N best trials again with confirm_seeds more training "
                              "seeds each and choose by their mean validation figure (one seed's best is partly "
                              "luck, the winner's curse); 0 = choose by the search's one seed", low=0)
    confirm_seeds: int = doc(2, "extra training seeds per confirmed trial (seeds base + 1, base + 2, ...)", low=1)
    only: list[str] = doc([], "search only these settings of the space, the rest staying at the starting "
                              "configuration's values (e.g. the config an earlier search chose, when a setting is "
                              "added); when they are all choices whose grid fits the budget, each grid point is "
                              "trained once, in order, instead of sampled")

    def validate(self):
        check_ranges(self, "tune")  # the fields' declared ranges, also when built without from_dict
        if not 0 <= self.seed < 2**32:  # the samplers' numpy seeds are 32-bit
            raise MotorError(f"tune.seed must be between 0 and 2**32 - 1 = 4294967295, got {self.seed}; try 0")


# --- search space ---------------------------------------------------------------------------------


def reg_field(backbone: str) -> str | None:
    """The backbone's regularisation weight in its Config (None when it has none)."""
    from motor.models.registry import get_backbone

    name = REG_FIELD.get(backbone.lower(), "reg_weight")
    fields = {f.name for f in dataclasses.fields(get_backbone(backbone).Config)}
    return name if name in fields else None


def search_space(backbone: str, items: str, n_items: int, min_dim: int | None = None) -> dict[str, tuple]:
    """Setting path -> ('float', low, high) on a log scale, or ('choice', options). Token settings
    the data cannot take (k above the items with content, m above a modality's dimension) are left out."""
    from motor.models.registry import get_backbone

    space: dict[str, tuple] = {"train.lr": ("float", *LR_RANGE)}
    reg = reg_field(backbone)
    if reg is not None:
        space[f"model.{reg}"] = ("float", *REG_RANGE)
    for name, values in get_backbone(backbone).tuned_fields.items():
        space[f"model.{name}"] = ("choice", values)
    if items == "motor":
        space["tokenizer.m"] = ("choice", tuple(m for m in PQ_M if min_dim is None or m <= min_dim) or (1,))
        space["tokenizer.k"] = ("choice", tuple(k for k in PQ_K if k <= n_items) or (2,))
        space["motor.token_dim"] = ("choice", TOKEN_DIM)
    return space


def suggest(trial, space: dict[str, tuple]) -> dict:
    """Draw one value per setting from an Optuna-style trial."""
    params = {}
    for name, spec in space.items():
        if spec[0] == "float":
            params[name] = trial.suggest_float(name, spec[1], spec[2], log=True)
        else:
            params[name] = trial.suggest_categorical(name, list(spec[1]))
    return params


def apply_params(base, params: dict):
    """``base`` (a RunConfig) with the dotted settings of ``params`` applied, validated like any config."""
    return base.with_overrides(params)


# --- the two search backends share ask / tell ----------------------------------------------------


class _RandomTrial:
    """The part of ``optuna.Trial`` the objective uses, drawing uniformly (log-uniform for floats)."""

    def __init__(self, number: int, seed: int, fixed: dict | None = None):
        self.number, self.params = number, {}
        self._rng = np.random.default_rng([seed, number])
        self._fixed = fixed or {}

    def suggest_float(self, name, low, high, log=False):
        if name in self._fixed:
            self.params[name] = self._fixed[name]
            return self.params[name]
        u = self._rng.random()
        value = math.exp(math.log(low) + u * (math.log(high) - math.log(low))) if log else low + u * (high - low)
        self.params[name] = value
        return value

    def suggest_categorical(self, name, choices):
        if name in self._fixed:
            self.params[name] = self._fixed[name]
            return self.params[name]
        self.params[name] = choices[int(self._rng.integers(len(choices)))]
        return self.params[name]

    def report(self, value, step):
        pass

    def should_prune(self):
        return False


class _RandomStudy:
    """Seeded random search with Optuna's ask/tell shape; finished trials are kept in a JSONL file."""

    kind = "random search (optuna not installed)"

    def __init__(self, path: Path, seed: int, name: str = ""):
        self.path, self.seed, self.name = path, seed, name
        rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()] if path.exists() else []
        # one file, several studies (another seed or split in the same folder): resume only this one's trials
        # (rows written before studies were named belong to whichever study reads them)
        self.records = [r for r in rows if r.get("study", name) == name]
        self._queued: list[dict] = []

    def enqueue(self, params: dict) -> None:
        self._queued.append(params)

    def ask(self):
        return _RandomTrial(len(self.records), self.seed, self._queued.pop(0) if self._queued else None)

    def tell(self, trial, value=None, state="COMPLETE"):
        rec = {"number": trial.number, "state": state, "params": trial.params, "value": value}
        self.records.append(rec)
        rec = {**rec, "study": self.name}
        with self.path.open("a") as f:
            f.write(json.dumps(rec) + "\n")

    def finished(self) -> list[dict]:
        return list(self.records)


class _OptunaStudy:
    """An Optuna study (TPE, median pruner, SQLite) behind the same small interface."""

    kind = "optuna TPE + median pruning"

    def __init__(self, optuna, path: Path, name: str, cfg: TuneConfig):
        from optuna.pruners import MedianPruner
        from optuna.samplers import TPESampler

        self.optuna = optuna
        optuna.logging.set_verbosity(optuna.logging.WARNING)
        self.study = optuna.create_study(
            storage=f"sqlite:///{path}", study_name=name, load_if_exists=True, direction="maximize",
            sampler=TPESampler(seed=cfg.seed, n_startup_trials=cfg.startup_trials),
            pruner=MedianPruner(n_startup_trials=cfg.startup_trials, n_warmup_steps=cfg.prune_warmup))
        n = len(self.study.get_trials(deepcopy=False))
        if n:  # resumed: a sampler seeded as the first session's would replay its random draws (repeated trials)
            self.study.sampler = TPESampler(seed=(cfg.seed + n) % 2**32, n_startup_trials=cfg.startup_trials)
        # trials a stopped session left running (Ctrl-C, a killed process) are closed as failed and run again:
        # they do not count against the budget, and the defaults trial among them is queued anew
        states = optuna.trial.TrialState
        stale = [t.number for t in self.study.get_trials(deepcopy=False, states=(states.RUNNING,))]
        for number in stale:
            self.study.tell(number, state=states.FAIL)
        self.interrupted = set(self.study.user_attrs.get("interrupted", [])) | set(stale)
        if stale:
            self.study.set_user_attr("interrupted", sorted(self.interrupted))
        self.n_stale = len(stale)

    def check_base(self, base: dict) -> None:
        """The search's starting settings are the ones it began with: a resumed study whose trials were trained
        under others (another preset, other epochs) would mix them into one choice."""
        before = self.study.user_attrs.get("base")
        if before is None:
            self.study.set_user_attr("base", base)
            return
        differ = sorted(k for k in set(before) & set(base) if before[k] != base[k])
        if differ:
            raise MotorError(f"the search {self.study.study_name} in this folder began with other settings "
                             f"({', '.join(differ[:6])} differ); its trials would be mixed with these. Give another "
                             f"--out, or the settings it began with")

    def enqueue(self, params: dict) -> None:
        """Queue ``params`` unless a trial of them exists (a resumed grid re-enqueues its unfinished points); an
        interrupted trial does not count."""
        for t in self.study.get_trials(deepcopy=False):
            if t.number not in self.interrupted and t.system_attrs.get("fixed_params", t.params) == params:
                return
        self.study.enqueue_trial(params)

    def ask(self):
        return self.study.ask()

    def tell(self, trial, value=None, state="COMPLETE"):
        states = self.optuna.trial.TrialState
        if state == "COMPLETE":
            self.study.tell(trial, value)
        else:
            self.study.tell(trial, state=states.PRUNED if state == "PRUNED" else states.FAIL)

    def finished(self) -> list[dict]:
        return [{"number": t.number, "state": t.state.name, "params": t.params, "value": t.value}
                for t in self.study.get_trials(deepcopy=False)
                if t.state.is_finished() and t.number not in self.interrupted]


def open_study(out: Path, name: str, cfg: TuneConfig, use_optuna: bool | None = None):
    """Optuna when importable (or when ``use_optuna`` is True), else the random-search fallback."""
    if use_optuna is not False:
        try:
            import optuna
        except ImportError:
            if use_optuna:
                raise MotorError("tune with Optuna needs the optuna package (pip install optuna)") from None
        else:
            return _OptunaStudy(optuna, out / "study.db", name, cfg)
    return _RandomStudy(out / "trials.jsonl", cfg.seed, name)


# --- the search -------------------------------------------------------------------------------------


def only(space: dict[str, tuple], names: list[str]) -> dict[str, tuple]:
    """``space`` restricted to ``names`` (all of it when empty); a name outside it is an error."""
    unknown = [n for n in names if n not in space]
    if unknown:
        raise MotorError(f"--only {','.join(unknown)}: not searched for this backbone and item representation; "
                         f"the space holds {', '.join(space)}")
    return {n: space[n] for n in names} if names else space


def grid_points(space: dict[str, tuple], budget: int) -> list[dict] | None:
    """Every combination of the space's choices, in order, when the space holds choices only and they fit the
    budget (a grid then beats sampling: nothing repeats, nothing is missed); else None."""
    if not space or any(spec[0] != "choice" for spec in space.values()):
        return None
    points = [dict(zip(space, values)) for values in itertools.product(*(spec[1] for spec in space.values()))]
    return points if len(points) <= budget else None


def starting_values(base, space: dict[str, tuple]) -> dict:
    """The starting configuration's own value of every searched setting that the space can hold."""
    out = {}
    for path, spec in space.items():
        value = base.to_dict()
        for part in path.split("."):
            value = value.get(part) if isinstance(value, dict) else None
        if value is None:
            continue
        if (spec[0] == "float" and spec[1] <= value <= spec[2]) or (spec[0] == "choice" and value in spec[1]):
            out[path] = value
    return out


def _params_for_space(params: dict, space: dict) -> dict:
    """Optuna stores suggested values under their names; keep only this space's settings."""
    return {k: params[k] for k in space if k in params}


def tune(base, cfg: TuneConfig, out_dir: Path | str, log: Callable[[str], None] = print,
         event: Callable[[str, dict], None] | None = None, use_optuna: bool | None = None,
         on_epoch: Callable[[str, int, int], None] | None = None) -> dict:
    """Search ``cfg.budget`` configurations around ``base`` (a RunConfig) on validation, then train
    the best once and evaluate it on test. Writes best_config.json and tune.json to ``out_dir``.

    ``event(kind, info)`` is called after each trial ("trial") and before the final run ("final"),
    so a caller (or a test) can see the order of events. Returns the summary written to tune.json.
    """
    from motor.data.load import load_dataset
    from motor.data.split import make_split
    from motor.evaluate import by_popularity
    from motor.experiment import build_model, model_context, run_experiment, tokenize
    from motor.train import Trainer

    cfg.validate()
    last_seed = base.train.seed + (cfg.confirm_seeds if cfg.confirm_top else 0)
    if last_seed >= 2**32:  # found now, not after the whole search
        raise MotorError(f"--confirm-top trains seeds {base.train.seed + 1}..{last_seed}, past the largest seed "
                         f"(2**32 - 1 = 4294967295); use a seed of at most {2**32 - 1 - cfg.confirm_seeds}")
    emit = event or (lambda kind, info: None)
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise MotorError(f"{out} is a file; --out names the folder for the search's study.db, best_config.json, "
                         f"tune.json and final_run/, e.g. --out {out.with_suffix('')}-tuned")
    if is_run_folder(out):  # its files would sit beside the run's, and the run folder could no longer be replaced
        raise MotorError(f"{out} is a run folder; give the search a folder of its own, e.g. --out {out}-tuned")
    ds = load_dataset(base.data)
    split = make_split(ds, base.split)
    out.mkdir(parents=True, exist_ok=True)  # after the data is read: a misspelt --data leaves no empty folder
    ctx = model_context(ds, split)
    n_content = min((int(m.present.sum()) for m in ds.modalities.values()), default=ds.n_items)
    space = only(search_space(base.backbone, base.items, n_content, min((m.dim for m in ds.modalities.values()),
                                                                        default=None)), cfg.only)
    name = (f"{ds.name}-{base.backbone}-{base.items}-f{base.split.train_fraction:g}-split{base.split.seed}"
            f"-seed{base.train.seed}" + (f"-cold{base.split.cold_items:g}" if base.split.cold_items else "")
            + (f"-only-{','.join(cfg.only)}" if cfg.only else ""))
    earlier = _earlier_search(out)
    if earlier and earlier != name:
        log(f"note: {out} holds the results of another search ({earlier}); this one replaces its best_config.json, "
            f"tune.json and final_run/ when it ends (its trials stay in study.db). Stop now (Ctrl-C) and give "
            f"another --out to keep them")
    study = open_study(out, name, cfg, use_optuna)
    if hasattr(study, "check_base"):
        study.check_base(_identity(base))
    done = len(study.finished())
    grid = grid_points(space, cfg.budget)
    if done or getattr(study, "n_stale", 0):
        log(f"resuming {name}: {done} of {cfg.budget} trials already finished"
            + (f"; {study.n_stale} left running by a stopped session run again" if getattr(study, "n_stale", 0)
               else ""))
    if grid is not None:  # every point not trained yet, in order (the starting values are one of them)
        tried = [t["params"] for t in study.finished()]
        for point in grid:
            if point not in tried:
                study.enqueue(point)
    elif not done and cfg.defaults_first:
        study.enqueue(starting_values(base, space))
    tokenizers: dict = {}

    def fit_valid(run_cfg, progress=None, should_stop=None):
        """Train one configuration on the split; validation figures only (``evaluate_test=False``)."""
        tok = None
        if run_cfg.items == "motor":  # tokenizers depend on (m, k) only: fit each once
            key = (run_cfg.tokenizer.m, run_cfg.tokenizer.k)
            if key not in tokenizers:
                tokenizers[key] = tokenize(ds, run_cfg.tokenizer)
            tok = tokenizers[key]
        model = build_model(run_cfg, ctx, tok)
        return Trainer(run_cfg.train).fit(model, split, progress, should_stop, evaluate_test=False)

    for _ in range(max(0, cfg.budget - done)):
        trial = study.ask()
        params = suggest(trial, space)
        run_cfg = apply_params(base, params)
        t0 = time.perf_counter()
        flag = {"pruned": False}  # set from the per-epoch report, read by the trainer's should_stop

        def progress(p, trial=trial, flag=flag):
            if p.stage in ("start", "epoch") and on_epoch is not None:  # what a progress bar draws
                on_epoch(f"trial {trial.number}", p.epoch if p.stage == "epoch" else 0, p.epochs)
            if p.stage == "epoch":
                trial.report(float(p.valid.get(METRIC, 0.0)), p.epoch)
                flag["pruned"] = flag["pruned"] or trial.should_prune()

        try:
            result = fit_valid(run_cfg, progress, lambda flag=flag: flag["pruned"])
        except MotorError as e:  # e.g. a loss that diverged in the first epoch at a large learning rate
            study.tell(trial, state="FAIL")
            log(f"trial {trial.number} failed: {e}")
            emit("trial", {"number": trial.number, "state": "FAIL", "params": params})
            continue
        value = float(result.valid.get(METRIC, 0.0))
        state = "PRUNED" if flag["pruned"] else "COMPLETE"
        study.tell(trial, None if flag["pruned"] else value, state=state)
        log(f"trial {trial.number} {state.lower()}: valid {METRIC} {value:.4f} after {len(result.history)} epochs "
            f"({time.perf_counter() - t0:.0f} s) " + ", ".join(f"{k}={v:.3g}" if isinstance(v, float) else f"{k}={v}"
                                                          for k, v in params.items()))
        emit("trial", {"number": trial.number, "state": state, "valid": value, "params": params})

    finished = study.finished()
    complete = [t for t in finished if t["state"] == "COMPLETE" and t["value"] is not None]
    if not complete:
        raise MotorError(f"none of the {len(finished)} trials finished (all failed or were pruned); try a smaller "
                         f"learning-rate range or more budget")
    best = max(complete, key=lambda t: (t["value"], -t["number"]))
    confirmed = []
    if cfg.confirm_top:
        def valid_at(params: dict, seed: int) -> float:
            run_cfg = apply_params(base, {**_params_for_space(params, space), "train.seed": seed})
            return float(fit_valid(run_cfg).valid.get(METRIC, 0.0))

        confirmed = confirm(complete, cfg, valid_at, base.train.seed, log, emit)
        chosen = max(confirmed, key=lambda c: (c["mean_valid"], -c["number"]))
        best = next(t for t in complete if t["number"] == chosen["number"])
    best_cfg = apply_params(base, _params_for_space(best["params"], space))

    # The last step, and the only one that computes test figures.
    emit("final", {"number": best["number"], "params": best["params"]})
    log(f"best: trial {best['number']} (valid {METRIC} {best['value']:.4f}); training it once more for the test")
    def final_progress(p):
        if p.stage in ("start", "epoch") and on_epoch is not None:
            on_epoch("final run (then test)", p.epoch if p.stage == "epoch" else 0, p.epochs)

    final = run_experiment(best_cfg, out / "final_run", dataset=ds, progress=final_progress)
    summary = {
        "search": study.kind, "study": name, "budget": cfg.budget, "metric": f"valid {METRIC}",
        "tune_config": to_dict(cfg), "space": {k: list(v[1]) if v[0] == "choice" else ["log", v[1], v[2]]
                                               for k, v in space.items()},
        "trials": finished,
        "best": {"number": best["number"], "valid": best["value"], "params": best["params"]},
        "confirm": confirmed,
        "final": {"valid": final.metrics["valid"], "test": final.metrics["test"],
                  "cold": final.metrics.get("cold", {}), "best_epoch": final.metrics["best_epoch"],
                  "by_popularity": by_popularity(final.model, final.split, best_cfg.train.protocol)},
        "split": final.split.summary(),
    }
    (out / "tune.json").write_text(json.dumps(summary, indent=2, default=float))
    # written last: a folder with best_config.json has a finished search and final run (the benchmarks skip such a
    # cell, so a final run that failed must leave none, and the cell is tuned again: its trials resume, done)
    (out / "best_config.json").write_text(json.dumps(best_cfg.to_dict(), indent=2))
    return summary


def confirm(complete: list[dict], cfg: TuneConfig, valid_at: Callable[[dict, int], float], seed: int,
            log: Callable[[str], None], emit: Callable[[str, dict], None]) -> list[dict]:
    """The ``cfg.confirm_top`` best trials, each trained again at seeds ``seed + 1 .. seed + confirm_seeds``
    (``valid_at(params, seed)`` -> validation figure): per trial its figures by seed and their mean."""
    top = sorted(complete, key=lambda t: (-t["value"], t["number"]))[:cfg.confirm_top]
    out = []
    for t in top:
        values = [t["value"]] + [valid_at(t["params"], seed + i) for i in range(1, cfg.confirm_seeds + 1)]
        out.append({"number": t["number"], "valid_by_seed": values, "mean_valid": float(np.mean(values))})
        log(f"confirm trial {t['number']}: valid {METRIC} " + " / ".join(f"{v:.4f}" for v in values)
            + f" over seeds {seed}..{seed + cfg.confirm_seeds}, mean {out[-1]['mean_valid']:.4f}")
        emit("confirm", {"number": t["number"], "mean_valid": out[-1]["mean_valid"]})
    return out


# --- command line -------------------------------------------------------------------------------------


def _identity(base) -> dict:
    """A search's starting settings by section (JSON text each), without what does not change a trial's outcome."""
    d = base.to_dict()
    d["train"] = {k: v for k, v in d["train"].items() if k not in ("threads", "device")}
    return {k: json.dumps(v, sort_keys=True, default=str) for k, v in d.items()}


def _earlier_search(out: Path) -> str | None:
    """The study whose results ``out`` holds (its tune.json), if any."""
    try:
        return json.loads((out / "tune.json").read_text()).get("study")
    except (OSError, ValueError, AttributeError):
        return None


def cell_folder(root: str | Path, data: str, backbone: str, items: str, fraction: float = 1.0,
                cold_items: float = 0.0) -> Path:
    """Where one cell's search lives: ``ROOT/DATASET-BACKBONE-ITEMS-fF[-cC]`` (dataset by its folder name)."""
    name = f"{Path(data).name}-{backbone}-{items}-f{fraction:g}"
    return Path(root) / (name + (f"-c{cold_items:g}" if cold_items else ""))


def add_parser(sub) -> None:
    """``python -m motor tune``: registered by motor.cli like the features and bench commands."""
    p = sub.add_parser("tune", help="search learning rate, regularisation (and MOTOR token settings) on validation "
                                    "Recall@20; write the chosen config and its test figures")
    p.add_argument("--data", help="'demo' (the default, unless --config names one), 'demo-longtail', 'ml100k' or a "
                                  "dataset folder")
    p.add_argument("--backbone", required=True, help="bpr, lightgcn, vbpr, ...")
    p.add_argument("--items", choices=["id", "motor"], required=True, help="item representation to tune")
    p.add_argument("--budget", type=int, default=20, help="trials; use the same for ID and MOTOR (default 20)")
    p.add_argument("--train-fraction", type=float, help="keep this fraction of each user's training interactions")
    p.add_argument("--cold-items", type=float, help="fraction of items held out as cold (e.g. 0.1); never read by "
                                                     "the search, which scores warm validation only")
    p.add_argument("--seed", type=int, default=0, help="seed of the sampler and of every trial's training (default 0)")
    p.add_argument("--split-seed", type=int, help="split.seed: seed of the random split (default 2024)")
    p.add_argument("--epochs", type=int, help="maximum epochs per trial (default: the preset's)")
    p.add_argument("--patience", type=int, help="early-stopping patience per trial")
    p.add_argument("--preset", default="default", help="starting settings (default or quick)")
    p.add_argument("--config", help="a RunConfig JSON to start from (the searched settings are overridden)")
    p.add_argument("--threads", type=int, help="train.threads: CPU threads per trial (default 0: one per available "
                                               "core)")
    p.add_argument("--random-search", action="store_true", help="seeded random search even if optuna is installed")
    p.add_argument("--confirm-top", type=int, default=0,
                   help="train the N best trials again on --confirm-seeds more seeds and choose by the mean "
                        "validation figure (default 0: the search's one seed decides)")
    p.add_argument("--confirm-seeds", type=int, default=2, help="extra seeds per confirmed trial (default 2)")
    p.add_argument("--startup-trials", type=int, default=TuneConfig.startup_trials,
                   help=f"random trials before TPE models the results and before pruning starts (default "
                        f"{TuneConfig.startup_trials})")
    p.add_argument("--prune-warmup", type=int, default=TuneConfig.prune_warmup,
                   help=f"epochs every trial runs before it can be pruned (default {TuneConfig.prune_warmup}); "
                        f"median pruning stops slow starters, so low learning rates rarely survive a short "
                        f"warm-up (benchmarks/RESULTS.md, regimes reading): raise it to give them a chance")
    p.add_argument("--only", default="", metavar="A,B",
                   help="search only these settings (e.g. model.uniformity_weight), the rest staying at the starting "
                        "values (--config); choices whose grid fits the budget are tried one by one")
    p.add_argument("--out", help="folder for study.db, best_config.json, tune.json, final_run/ (default: "
                                 "tuned/DATA-BACKBONE-ITEMS-fF[-cC]; an existing study there resumes)")
    p.set_defaults(func=cmd_tune)


def base_config(a):
    """The RunConfig every trial starts from: the preset, then --config, then the options."""
    from motor.config import read_config_file
    from motor.presets import preset

    overrides = {"backbone": a.backbone, "items": a.items, "train.seed": a.seed}
    for path, val in (("data.data", a.data), ("split.train_fraction", a.train_fraction),
                      ("split.cold_items", a.cold_items), ("split.seed", a.split_seed),
                      ("train.epochs", a.epochs), ("train.patience", a.patience), ("train.threads", a.threads)):
        if val is not None:
            overrides[path] = val
    return preset(a.preset, overrides=read_config_file(a.config), source=f"--config {a.config}").with_overrides(
        overrides)


def cmd_tune(a) -> int:
    base = base_config(a)
    cfg = TuneConfig(budget=a.budget, seed=a.seed, confirm_top=a.confirm_top, confirm_seeds=a.confirm_seeds,
                     startup_trials=a.startup_trials, prune_warmup=a.prune_warmup,
                     only=[n.strip() for n in a.only.split(",") if n.strip()])
    cfg.validate()  # a bad budget is refused before the command says where it writes
    if a.out is None:
        a.out = str(cell_folder("tuned", base.data.data, base.backbone, base.items, base.split.train_fraction,
                                base.split.cold_items))
        print(f"writing to {a.out} (--out DIR to choose)", flush=True)
    from tqdm import tqdm

    bar = None

    def on_epoch(what: str, epoch: int, total: int) -> None:
        nonlocal bar
        if bar is None or bar.desc != what:
            if bar is not None:
                bar.close()
            bar = tqdm(total=total, desc=what, unit="epoch", file=sys.stderr, leave=False)
        bar.n = epoch
        bar.refresh()

    try:
        s = tune(base, cfg, a.out, use_optuna=False if a.random_search else None, on_epoch=on_epoch)
    finally:
        if bar is not None:
            bar.close()
    t = s["final"]["test"]
    print(f"{s['search']}: {len(s['trials'])} trials, best valid {METRIC} {s['best']['valid']:.4f} "
          f"(trial {s['best']['number']})")
    print("test  " + "  ".join(f"{k} {t[k]:.4f}" for k in ("recall@20", "ndcg@20") if k in t))
    print(f"chosen settings: {Path(a.out) / 'best_config.json'} (python -m motor train --config FILE; it names "
          f"its dataset); summary: {Path(a.out) / 'tune.json'}")
    return 0
