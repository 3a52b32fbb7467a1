"""Run folders: everything needed to inspect or reuse a trained model without retraining.

    config.json       the full RunConfig
    metrics.json      best epoch, valid/test (and cold) metrics, parameter counts, timings
    history.json      per-epoch loss and validation metrics
    model.safetensors weights (no pickle)
    split.npz         the exact split and the user/item id maps (allow_pickle=False)
    tokenizer/        PQ codebooks and token ids (MOTOR runs)
    index/            approximate (IVF-PQ) search index and its recall, for catalogues of at least
                      motor.retrieval.APPROX_FROM_ITEMS items
    dataset.json      where the data came from and a fingerprint to detect changed files
"""

from __future__ import annotations

import hashlib
import json
import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from safetensors.torch import load_file, save_file

from motor import retrieval
from motor.data.dataset import Dataset
from motor.data.load import load_dataset
from motor.data.split import Split
from motor.errors import MotorError
from motor.experiment import RunConfig, RunOutput, build_model, model_context
from motor.models.base import Recommender
from motor.retrieval import VectorIndex
from motor.tokenizer import Tokenizer


def dataset_fingerprint(ds: Dataset) -> str:
    h = hashlib.sha256()
    for a in (ds.interactions.user, ds.interactions.item):
        h.update(np.ascontiguousarray(a).tobytes())
    for name, m in ds.modalities.items():
        h.update(name.encode())
        h.update(np.ascontiguousarray(m.features).tobytes())
    return h.hexdigest()[:32]


def _json(path: Path, obj) -> None:
    path.write_text(json.dumps(obj, indent=2, default=_jsonable))


def _jsonable(o):
    if isinstance(o, (np.integer,)):
        return int(o)
    if isinstance(o, (np.floating,)):
        return float(o)
    if isinstance(o, np.ndarray):
        return o.tolist()
    raise TypeError(f"not JSON serialisable: {type(o)}")


def save_run(out: RunOutput) -> Path:
    """Write a run folder atomically: a failed save never leaves a half-written run behind."""
    final = out.out_dir
    tmp = final.with_name(final.name + ".partial")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    if out.split.n_items >= retrieval.APPROX_FROM_ITEMS:  # built once per run, saved with it
        users, items = out.model.vectors()
        index = VectorIndex(items, kind="ivfpq", queries=users, seed=out.config.train.seed)
        index.save(tmp / "index")
        out.metrics["retrieval"] = index.info
    _json(tmp / "config.json", out.config.to_dict())
    _json(tmp / "metrics.json", out.metrics)
    _json(tmp / "history.json", out.result.history)
    state = {k: v.detach().contiguous().clone() for k, v in out.model.state_dict().items()}
    save_file(state, str(tmp / "model.safetensors"))
    np.savez(tmp / "split.npz", **out.split.to_arrays(),
             user_ids=out.dataset.user_ids.astype(str), item_ids=out.dataset.item_ids.astype(str))
    if out.tokenizer is not None:
        out.tokenizer.save(tmp / "tokenizer")
    _json(tmp / "dataset.json", {"data": out.config.data.data, "name": out.dataset.name,
                                 "fingerprint": dataset_fingerprint(out.dataset), "stats": out.dataset.stats()})
    if final.exists():
        shutil.rmtree(final)
    tmp.rename(final)
    return final


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
    def load(cls, path: Path | str, dataset: Dataset | None = None) -> "LoadedRun":
        path = Path(path)
        if not (path / "config.json").exists() or not (path / "model.safetensors").exists():
            raise MotorError(f"{path} is not a finished run folder (config.json and model.safetensors missing); "
                             f"train one with: python -m motor train --out {path}")
        config = RunConfig.from_dict(json.loads((path / "config.json").read_text()))
        info = json.loads((path / "dataset.json").read_text())
        ds = dataset if dataset is not None else load_dataset(config.data)
        if dataset_fingerprint(ds) != info["fingerprint"]:
            raise MotorError(f"the dataset {info['data']!r} changed since run {path.name} was trained "
                             f"(fingerprint mismatch); retrain, or restore the original files")
        with np.load(path / "split.npz", allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}
        split = Split.from_arrays(arrays)
        tokenizer = Tokenizer.load(path / "tokenizer") if (path / "tokenizer").exists() else None
        model = build_model(config, model_context(ds, split), tokenizer)
        model.load_state_dict(load_file(str(path / "model.safetensors")), strict=True)
        model.eval()
        metrics = json.loads((path / "metrics.json").read_text())
        history = json.loads((path / "history.json").read_text())
        return cls(path, config, metrics, history, ds, split, model, tokenizer)

    def vectors(self) -> tuple[np.ndarray, np.ndarray]:
        """Final user and item vectors (score = inner product)."""
        if self._state is None:
            self._state = self.model.vectors()
        return self._state

    def index(self) -> VectorIndex:
        """The run's search index: the saved IVF-PQ one for large catalogues, else exact."""
        if self._index is None:
            users, items = self.vectors()
            if (self.path / "index" / "index.json").exists():
                self._index = VectorIndex.load(self.path / "index", items)
            else:
                self._index = VectorIndex(items, queries=users, seed=self.config.train.seed)
        return self._index

    def similar_items(self, item: int, k: int = 10, measure: str = "centred"):
        """(similarities, items) nearest to ``item`` through the run's index (see VectorIndex)."""
        return self.index().similar_items(item, k, measure)

    def seen_items(self, user: int) -> np.ndarray:
        return self.split.train.item[self.split.train.user == user]

    def recommend(self, user_id, k: int = 10, exclude_seen: bool = True) -> list[dict]:
        """Top-k items for an original user id, training items excluded."""
        if k < 1:
            raise MotorError(f"k must be at least 1, got {k}")
        u = self.dataset.user_index(user_id)
        users = self.vectors()[0]
        exclude = [self.seen_items(u)] if exclude_seen else None
        scores, items = self.index().search(users[u], k, exclude)
        return [{"rank": r + 1, "item": int(i), "item_id": str(self.dataset.item_ids[i]),
                 "title": self.dataset.title(int(i)), "score": float(s),
                 "cold": bool(self.split.cold_items[i])}
                for r, (s, i) in enumerate(zip(scores[0], items[0])) if i >= 0]
