"""The run folder's layout and its atomic writer (``LoadedRun`` in ``motor.runs`` reads it back).

    config.json       the full RunConfig
    metrics.json      best epoch, valid/test (and cold) metrics, parameter counts, timings
    history.json      per-epoch loss and validation metrics
    model.safetensors weights (no pickle)
    split.npz         the exact split and the user/item id maps (allow_pickle=False)
    tokenizer/        PQ codebooks and token ids (MOTOR runs)
    index/            approximate (IVF-PQ) search index and its recall, for catalogues of at least
                      motor.retrieval.APPROX_FROM_ITEMS items (motor.retrieval.VectorIndex.save)
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

from motor.errors import MotorError
from motor.paths import file_above, write_error

if TYPE_CHECKING:
    from motor.data.dataset import Dataset
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


# the files every finished run has (app.workspace recognises a run written outside the app by them)
RUN_FILES = ("config.json", "metrics.json", "history.json", "model.safetensors", "split.npz", "dataset.json")
# everything a run folder may hold: those, MOTOR's tokenizer, the search index, and the layouts the app derives
# from the run (motor.explore.layouts); a folder holding nothing else may be replaced by a new run
RUN_ENTRIES = frozenset(RUN_FILES) | {"tokenizer", "index", "layouts.npz"}


def is_run_folder(path: Path | str) -> bool:
    """Whether ``path`` holds a finished run: its settings and its weights (what ``LoadedRun.load`` needs first)."""
    return (Path(path) / "config.json").is_file() and (Path(path) / "model.safetensors").is_file()


def check_out_dir(path: Path | str) -> Path:
    """Refuse, before any training, a run folder that cannot be written or whose replacement would delete
    something ``save_run`` did not write (``--out ~/Documents`` once replaced the whole folder); the folder, with
    ``~`` expanded."""
    from motor.retrieval import approx_from_env

    approx_from_env()  # saving reads MOTOR_APPROX_FROM_ITEMS: a bad value is refused now, not after the training
    if not str(path).strip():
        raise MotorError("--out is empty; give the folder the run should be written to, e.g. --out runs/my-run")
    path = Path(path).expanduser()  # from Python no shell expands '~': it made a folder named '~' here
    if path.is_symlink():  # replacing it would replace the link, and the run would be left beside it
        raise MotorError(f"{path} is a symbolic link; give the real folder it points to ({path.resolve()}) or a new "
                         f"folder, e.g. --out runs/my-run")
    here = Path.cwd().resolve()
    if path.resolve() == here or path.resolve() in here.parents:
        raise MotorError(f"{path} is the folder you are working in (or holds it); a run replaces its folder as a "
                         f"whole, so give a new folder inside it, e.g. --out {path / 'run'}")
    if path.exists() and not path.is_dir():
        raise MotorError(f"{path} is a file, not a folder; --out names a folder for the run, e.g. --out runs/my-run")
    blocked = file_above(path)
    if blocked is not None:
        raise MotorError(f"{blocked} is a file, so no folder can be made inside it; choose another --out, "
                         f"e.g. --out runs/my-run")
    if path.is_dir():
        others = sorted(e.name for e in path.iterdir() if e.name not in RUN_ENTRIES)
        if others:
            shown = ", ".join(others[:3]) + (f" and {len(others) - 3} more" if len(others) > 3 else "")
            raise MotorError(f"{path} already holds files that are not a run's ({shown}); a new run replaces its "
                             f"folder as a whole, so nothing was written. Give a new or empty folder, "
                             f"e.g. --out {path / 'run'}")
    check_writable_parent(path, "the run folder", "--out runs/my-run")
    return path


def check_writable_parent(path: Path, what: str, example: str) -> None:
    """Refuse, before the work whose result goes to ``path``, a parent folder that cannot be made or written."""
    e = write_error(path.parent)
    if e is not None:
        raise MotorError(f"cannot write {what} {path} ({e.strerror or e}); choose a folder you can write "
                         f"to, e.g. {example}")


def save_run(out: RunOutput) -> Path:
    """Write ``out`` to ``out.out_dir`` atomically: a failed save never leaves a half-written run behind, and a
    folder that holds anything but a run is never replaced (``check_out_dir``)."""
    from safetensors.torch import save_file  # here, not at the top: the app reads RUN_FILES without torch or faiss

    from motor import retrieval

    final = check_out_dir(out.out_dir)
    tmp = final.with_name(final.name + ".partial")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    if out.split.n_items >= retrieval.APPROX_FROM_ITEMS:  # built once per run, saved with it
        users, items = out.model.vectors()
        index = retrieval.VectorIndex(items, kind="ivfpq", queries=users, seed=out.config.train.seed)
        index.save(tmp / "index")
        out.metrics["retrieval"] = index.info
    config = out.config.to_dict()
    data = config["data"]["data"]
    from motor.data.load import BUILT_IN

    if data not in BUILT_IN and not Path(data).is_absolute() and Path(data).exists():  # readable from any folder
        config["data"]["data"] = str(Path(data).resolve())
    _json(tmp / "config.json", config)
    _json(tmp / "metrics.json", out.metrics)
    _json(tmp / "history.json", out.result.history)
    state = {k: v.detach().cpu().contiguous().clone() for k, v in out.model.state_dict().items()}
    save_file(state, str(tmp / "model.safetensors"))
    np.savez(tmp / "split.npz", **out.split.to_arrays(),
             user_ids=out.dataset.user_ids.astype(str), item_ids=out.dataset.item_ids.astype(str))
    if out.tokenizer is not None:
        out.tokenizer.save(tmp / "tokenizer")
    _json(tmp / "dataset.json", {"data": config["data"]["data"], "name": out.dataset.name,
                                 "fingerprint": dataset_fingerprint(out.dataset), "stats": out.dataset.stats()})
    if final.exists():
        shutil.rmtree(final)
    tmp.rename(final)
    return final
