"""The run folder's layout and its atomic writer (``LoadedRun`` in ``motor.runs`` reads it back).

    config.json       the full RunConfig
    metrics.json      best epoch, valid/test (and cold) metrics, parameter counts, timings
    history.json      per-epoch loss and validation metrics
    model.safetensors weights (no pickle)
    split.npz         the exact split and the user/item id maps (allow_pickle=False)
    tokenizer/        PQ codebooks and token ids (MOTOR runs)
    dataset.json      where the data came from and a fingerprint to detect changed files

This module knows nothing of how a run is trained, so ``motor.experiment`` can write runs and
``motor.runs`` can rebuild them without importing each other in a circle.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from safetensors.torch import save_file

from motor.data.dataset import Dataset

if TYPE_CHECKING:
    from motor.experiment import RunOutput


def dataset_fingerprint(ds: Dataset) -> str:
    """A short hash of the interactions and features: loading a run refuses data that changed since."""
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
    """Write ``out`` to ``out.out_dir`` atomically: a failed save never leaves a half-written run behind."""
    final = out.out_dir
    tmp = final.with_name(final.name + ".partial")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    _json(tmp / "config.json", out.config.to_dict())
    _json(tmp / "metrics.json", out.metrics)
    _json(tmp / "history.json", out.result.history)
    state = {k: v.detach().cpu().contiguous().clone() for k, v in out.model.state_dict().items()}
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
