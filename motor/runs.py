"""Saved runs, rebuilt for scoring and recommending without retraining.

The folder layout and its writer live in ``motor.run_folder`` (``save_run``); this module reads
a folder back into a ``LoadedRun``: the same dataset (checked by fingerprint), split, tokenizer
and weights.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from safetensors.torch import load_file

from motor.data.dataset import Dataset
from motor.data.load import BUILT_IN, load_dataset
from motor.data.split import Split
from motor.errors import MotorError, check_index, check_k
from motor.experiment import RunConfig, build_model, model_context
from motor.models.base import Recommender
from motor.retrieval import VectorIndex
from motor.run_folder import dataset_fingerprint, is_run_folder, save_run
from motor.tokenizer import Tokenizer

__all__ = ["LoadedRun", "dataset_fingerprint", "save_run"]


@dataclass(frozen=True)
class RunHints:
    """How a message about a damaged run says to mend it, written once with the hint filled in (as
    ``motor.features.hints``): the CLI's command by default; the app, whose users have no command line, passes its
    own (``LoadedRun.load(..., hints=...)``)."""

    damaged: str  # what to do about a run folder with a missing or damaged file; "{run}" is its folder


CLI_RUN_HINTS = RunHints(damaged="train the run again (python -m motor train ... --out {run}) or restore the folder "
                                 "from a copy")


@dataclass
class LoadedRun:
    """A saved run, rebuilt for scoring and recommending."""

    path: Path
    config: RunConfig
    metrics: dict
    history: list
    dataset: Dataset
    split: Split
    model: Recommender
    tokenizer: Tokenizer | None
    _state: tuple | None = None
    _index: VectorIndex | None = None

    @classmethod
    def load(cls, path: Path | str, dataset: Dataset | None = None, hints: RunHints = CLI_RUN_HINTS) -> LoadedRun:
        """Rebuild the run in ``path`` (``dataset``: the already loaded data, checked by fingerprint). A missing,
        damaged or mismatched file is a MotorError that names it and ``hints``' fix, never a reader's traceback."""
        if not isinstance(path, (str, os.PathLike)):
            raise MotorError(f"a run is loaded from its folder (a path such as 'runs/my-run'), got "
                             f"{type(path).__name__}")
        path = Path(path).expanduser()  # '~/runs/x', as run_experiment and load_dataset take it
        if not is_run_folder(path):
            raise MotorError(_not_a_run(path))
        config = _read(path, "config.json", lambda f: RunConfig.from_dict(_json_object(f)), hints)
        info = _read(path, "dataset.json", _json_object, hints)
        fingerprint = _read(path, "dataset.json", lambda f: str(info["fingerprint"]), hints)
        ds = dataset if dataset is not None else _run_dataset(path, config)
        if dataset_fingerprint(ds) != fingerprint and dataset is None and info.get("name") != ds.name:
            # run_experiment(cfg, out, dataset=ds) records the default data setting ('demo'), which is not its data
            raise MotorError(f"run {path.name} was trained on the dataset {info.get('name')!r}, given in Python "
                             f"(run_experiment(..., dataset=ds)); its data setting {config.data.data!r} reads "
                             f"{ds.name!r}, another one. Give that dataset again: LoadedRun.load({str(path)!r}, "
                             f"dataset=ds)")
        if dataset_fingerprint(ds) != fingerprint:
            raise MotorError(f"the dataset {info.get('data')!r} changed since run {path.name} was trained "
                             f"(fingerprint mismatch); retrain, or restore the original files")
        split = _read(path, "split.npz", lambda f: _split(f, ds), hints)
        needs_tokens = (path / "tokenizer").exists() or config.items == "motor"  # a MOTOR run without one: named
        tokenizer = _read(path, "tokenizer", Tokenizer.load, hints) if needs_tokens else None
        model = build_model(config, model_context(ds, split), tokenizer)
        _read(path, "model.safetensors", lambda f: model.load_state_dict(load_file(str(f)), strict=True), hints)
        model.eval()
        metrics = _read(path, "metrics.json", _json_object, hints)
        history = _read(path, "history.json", lambda f: json.loads(f.read_text()), hints)
        return cls(path, config, metrics, history, ds, split, model, tokenizer)

    def vectors(self) -> tuple[np.ndarray, np.ndarray]:
        """Final user and item vectors (score = inner product)."""
        if self._state is None:
            self._state = self.model.vectors()
        return self._state

    def index(self) -> VectorIndex:
        """The run's search index (built once): the saved IVF-PQ one for large catalogues, else exact."""
        if self._index is None:
            users, items = self.vectors()
            if (self.path / "index" / "index.json").exists():
                self._index = VectorIndex.load(self.path / "index", items)
            else:
                self._index = VectorIndex(items, queries=users, seed=self.config.train.seed)
        return self._index

    def similar_items(self, item: int, k: int = 10, measure: str = "centred"):
        """(similarities, items) nearest to the item index ``item`` through the run's index (see VectorIndex)."""
        item = check_index(item, self.dataset.n_items, "item", "run.dataset.item_index(...)")
        check_k(k)
        return self.index().similar_items(item, k, measure)

    def seen_items(self, user: int) -> np.ndarray:
        """Training items of a user index (what the models learned from)."""
        user = check_index(user, self.split.n_users, "user", "run.dataset.user_index(...)")
        return self.split.train.item[self.split.train.user == user]

    def excluded_items(self, user: int) -> np.ndarray:
        """Items kept out of a user's recommendations, as the test ranking keeps them out of its candidates
        (``Evaluator.masked_sets``): training items, and under the strict protocol the validation items too;
        a list that kept them would spend places on items the test figures never count."""
        return self.excluded_lists([user])[0]

    def excluded_lists(self, users=None) -> list[np.ndarray]:
        """``excluded_items`` of each user index in ``users`` (all users when None), sorted."""
        from motor.evaluate import Evaluator

        names = Evaluator.masked_sets_for(self.split, self.config.train.protocol, "test")
        csrs = [getattr(self.split, n).csr(self.split.n_users) for n in names]
        users = (range(self.split.n_users) if users is None else
                 [check_index(u, self.split.n_users, "user", "run.dataset.user_index(...)") for u in users])
        return [np.unique(np.concatenate([items[ptr[u]:ptr[u + 1]] for ptr, items in csrs])) for u in users]

    def recommend(self, user_id, k: int = 10, exclude_seen: bool = True) -> list[dict]:
        """Top-k items for an original user id, the items the test ranking excludes excluded (``excluded_items``)."""
        check_k(k)
        u = self.dataset.user_index(user_id)
        users = self.vectors()[0]
        exclude = [self.excluded_items(u)] if exclude_seen else None
        scores, items = self.index().search(users[u], k, exclude)
        return [{"rank": r + 1, "item": int(i), "item_id": str(self.dataset.item_ids[i]),
                 "title": self.dataset.title(int(i)), "score": float(s),
                 "cold": bool(self.split.cold_items[i])}
                for r, (s, i) in enumerate(zip(scores[0], items[0])) if i >= 0]


def _not_a_run(path: Path) -> str:
    """Why ``path`` is not a run, and the run folders it points at: a file in a run, a folder of runs and a tune's
    folder were each told 'config.json and model.safetensors missing; train one with --out PATH'."""
    if path.is_file():
        where = path.parent if is_run_folder(path.parent) else None
        return f"{path} is a file; --run names a run's folder" + (f", here {where}" if where else
                                                                   " (the folder train --out wrote)")
    inside = sorted(str(p) for p in path.glob("*") if p.is_dir() and is_run_folder(p)) if path.is_dir() else []
    if inside:
        shown = ", ".join(inside[:5]) + (f" and {len(inside) - 5} more" if len(inside) > 5 else "")
        return f"{path} is not a run but holds {len(inside)}: {shown}; pass {'it' if len(inside) == 1 else 'one of them'}"
    return (f"{path} is not a finished run folder (config.json and model.safetensors missing); train one with: "
            f"python -m motor train --out {path}")


def _read(run: Path, name: str, read, hints: RunHints = CLI_RUN_HINTS):
    """``read(run / name)``, or a MotorError naming the run's file that is missing or cannot be read, and the fix."""
    again = hints.damaged.format(run=run)
    try:
        return read(run / name)
    except MotorError as e:
        raise MotorError(f"run {run}: {name}: {e}; {again}") from None
    except FileNotFoundError:
        raise MotorError(f"run {run}: {name} is missing, so the folder is incomplete; {again}") from None
    except Exception as e:  # noqa: BLE001 - any reader's failure here means the file is damaged or from elsewhere
        what = str(e).splitlines()[0][:200] if str(e) else type(e).__name__
        raise MotorError(f"run {run}: {name} is damaged or does not belong to this run ({what}); {again}") from None


def _json_object(f: Path) -> dict:
    d = json.loads(f.read_text())
    if not isinstance(d, dict):
        raise ValueError(f"expected a JSON object, found {type(d).__name__}")
    return d


def _split(f: Path, ds: Dataset) -> Split:
    """The saved split, checked against the dataset (a split.npz copied from another run indexed past its end)."""
    with np.load(f, allow_pickle=False) as z:
        split = Split.from_arrays({k: z[k] for k in z.files})
    pairs = [split.train, split.valid, split.test, split.cold, split.cold_valid]
    fits = (split.n_users, split.n_items, len(split.cold_items)) == (ds.n_users, ds.n_items, ds.n_items) and all(
        len(p.user) == len(p.item) and (not len(p.user) or (p.user.min() >= 0 and p.user.max() < ds.n_users
                                                           and p.item.min() >= 0 and p.item.max() < ds.n_items))
        for p in pairs)
    if not fits:
        raise ValueError(f"its users and items do not match the dataset's {ds.n_users} users and {ds.n_items} items")
    return split


def _run_dataset(run: Path, config: RunConfig) -> Dataset:
    """The run's dataset; a folder that is not found is named as the run's, with the fix: the error of ``--data``
    asked for an option that recommend and similar do not have."""
    data = config.data.data
    try:
        return load_dataset(config.data)
    except MotorError:
        if Path(data).exists() or data in BUILT_IN:
            raise
        if Path(data).is_absolute():
            raise MotorError(f"run {run} was trained on the dataset folder {data}, which is not there any more; put "
                             f"the dataset back there, or write its new place as data.data in {run / 'config.json'} "
                             f"(the run checks that it is the same data)") from None
        raise MotorError(f"run {run} was trained on the dataset folder {data!r}, a path relative to the folder it was "
                         f"trained from, and there is no {data!r} here: run this command from that folder") from None
