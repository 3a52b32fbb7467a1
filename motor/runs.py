"""Saved runs, rebuilt for scoring and recommending without retraining.

The folder layout and its writer live in ``motor.run_folder`` (``save_run``); this module reads
a folder back into a ``LoadedRun``: the same dataset (checked by fingerprint), split, tokenizer
and weights.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from safetensors.torch import load_file

from motor.data.dataset import Dataset
from motor.data.load import load_dataset
from motor.data.split import Split
from motor.errors import MotorError
from motor.experiment import RunConfig, build_model, model_context
from motor.models.base import Recommender
from motor.retrieval import VectorIndex
from motor.run_folder import dataset_fingerprint, save_run
from motor.tokenizer import Tokenizer

__all__ = ["LoadedRun", "dataset_fingerprint", "save_run"]


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
    def load(cls, path: Path | str, dataset: Dataset | None = None) -> LoadedRun:
        """Rebuild the run in ``path`` (``dataset``: the already loaded data, checked by fingerprint)."""
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
        """The exact inner-product index over the item vectors (built once)."""
        if self._index is None:
            self._index = VectorIndex(self.vectors()[1])
        return self._index

    def seen_items(self, user: int) -> np.ndarray:
        """Training items of a user index (excluded from recommendations)."""
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
