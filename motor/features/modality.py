"""The steps every modality shares: encode distinct contents once (cache first), then fill and write.

An item without usable content gets the mean vector of the items that have it, so downstream
code never sees a hole; the ``missing`` array in the written ``<modality>.npz`` says which rows
are such fill-ins.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np

from motor.errors import MotorError
from motor.features.cache import FeatureCache
from motor.features.items import Items
from motor.features.report import ModalityReport
from motor.paths import save_npz

# progress(modality, done, total): modality is "text" or "image"; cache hits count as done.
StageProgress = Callable[[str, int, int], None]


def _unicode_ids(ids: list[str]) -> np.ndarray:
    width = max(1, max((len(i) for i in ids), default=1))
    return np.array(ids, dtype=f"<U{width}")


def encode_with_cache(
    modality: str,
    keys: list[str | None],
    compute: Callable[[list[int], Callable[[int, int], None]], tuple[np.ndarray, np.ndarray, dict[int, str]]],
    dim: int,
    cache: FeatureCache | None,
    progress: StageProgress | None,
) -> tuple[np.ndarray, np.ndarray, dict[int, str], int, int]:
    """Vectors for every item with a key: distinct contents once, cache first.

    ``compute(item_indices, progress)`` encodes the given items and returns (feat, ok,
    errors by position). Returns feat [n, D], ok [n], errors {item index: reason}, and the
    counts of distinct contents taken from the cache and computed.
    """
    n = len(keys)
    first: dict[str, int] = {}
    for i, k in enumerate(keys):
        if k is not None and k not in first:
            first[k] = i
    ukeys = list(first)
    found = cache.lookup(ukeys) if cache is not None else {}
    todo = [k for k in ukeys if k not in found]
    total = len(ukeys)
    if progress is not None:
        progress(modality, len(found), total)
    vec: dict[str, np.ndarray] = dict(found)
    bad: dict[str, str] = {}
    if todo:
        idx = [first[k] for k in todo]
        base = len(found)

        def step(done: int, _total: int) -> None:
            if progress is not None:
                progress(modality, base + done, total)

        feat, ok, errors = compute(idx, step)
        feat = np.asarray(feat, dtype=np.float32)
        if feat.shape != (len(idx), dim):
            raise RuntimeError(f"{modality} encoder returned shape {feat.shape}, expected {(len(idx), dim)}")
        for j, k in enumerate(todo):
            if ok[j]:
                vec[k] = feat[j]
            else:
                bad[k] = errors.get(j, "could not be encoded")
        if cache is not None:
            good = [k for k in ukeys if k in vec]
            if good:
                cache.store(good, np.stack([vec[k] for k in good]))
    out = np.zeros((n, dim), dtype=np.float32)
    ok_all = np.zeros(n, dtype=bool)
    errs: dict[int, str] = {}
    for i, k in enumerate(keys):
        if k is None:
            continue
        if k in vec:
            out[i] = vec[k]
            ok_all[i] = True
        else:
            errs[i] = bad.get(k, "could not be encoded")
    return out, ok_all, errs, len(found), len(todo)


def fill_and_write(
    modality: str,
    items: Items,
    feat: np.ndarray,
    ok: np.ndarray,
    reasons: dict[int, str],
    out_dir: Path,
    model_id: str,
    n_cached: int,
    n_computed: int,
) -> ModalityReport:
    if not ok.any():
        raise MotorError(f"no item has usable {modality} content, so there is nothing to average for the missing ones; check the inputs (see the reasons: {sorted(reasons.values(), key=lambda r: r.startswith('no picture named'))[:3]}).")
    mean = feat[ok].mean(axis=0).astype(np.float32)
    feat = feat.copy()
    feat[~ok] = mean
    path = out_dir / f"{modality}.npz"
    save_npz(path, item_id=_unicode_ids(items.ids), feat=feat, missing=~ok)
    missing = [{"item_id": items.ids[i], "reason": reasons.get(i, "missing")} for i in np.flatnonzero(~ok).tolist()]
    return ModalityReport(
        modality=modality,
        file=str(path),
        model_id=model_id,
        dim=int(feat.shape[1]),
        n_items=len(items),
        n_present=int(ok.sum()),
        n_missing=len(missing),
        n_cached=n_cached,
        n_computed=n_computed,
        missing=missing,
    )
