"""2-D maps of item vectors (PCA instantly, UMAP in the background), cached per run folder.

Layouts are saved once per run folder in ``layouts.npz`` (``allow_pickle=False``, written
atomically under a process-wide lock, so the app's background worker and a page never write at
once), keyed by a hash of the model's weights (or of the vectors), so a retrained folder never
shows a stale map.
"""

from __future__ import annotations

import hashlib
import threading
import time
from pathlib import Path

import numpy as np

from motor.errors import MotorError
from motor.paths import save_npz
from motor.retrieval import centred_unit

LAYOUT_FILE = "layouts.npz"  # one of the run folder's entries (motor.run_folder.RUN_ENTRIES)
LAYOUT_METHODS = ("pca", "umap")
UMAP_SETTINGS = {"n_neighbors": 15, "min_dist": 0.1, "metric": "cosine"}
_layout_lock = threading.Lock()  # one writer of layouts.npz at a time within a process


def vectors_key(vectors: np.ndarray) -> str:
    """A short hash of a vector matrix: a cached layout belongs to exactly these vectors."""
    v = np.ascontiguousarray(vectors, dtype=np.float32)
    h = hashlib.sha256(str(v.shape).encode())
    h.update(v.tobytes())
    return h.hexdigest()[:16]


def layout_pca(vectors: np.ndarray) -> np.ndarray:
    """Instant 2-D layout: the two leading principal components of the centred, unit-length vectors."""
    x = centred_unit(vectors).astype(np.float64)
    x = x - x.mean(0)
    if x.shape[0] < 2:
        return np.zeros((x.shape[0], 2), np.float32)
    _, _, vt = np.linalg.svd(x, full_matrices=False)
    y = x @ vt[:2].T
    if y.shape[1] < 2:
        y = np.pad(y, ((0, 0), (0, 2 - y.shape[1])))
    y *= np.sign(y[np.abs(y).argmax(0), range(2)])  # fixed signs: the same vectors give the same picture
    return y.astype(np.float32)


def layout_umap(vectors: np.ndarray, seed: int = 0, **settings) -> np.ndarray:
    """2-D UMAP of the centred item vectors (cosine). The first fit in a process pays ~20-35 s of numba JIT."""
    import warnings

    import umap

    n = len(vectors)
    if n < 4:
        return layout_pca(vectors)
    kw = {**UMAP_SETTINGS, **settings}
    kw["n_neighbors"] = int(min(kw["n_neighbors"], n - 1))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "n_jobs overridden by random_state", spectral init notes
        y = umap.UMAP(n_components=2, random_state=seed, n_jobs=1, **kw).fit_transform(
            np.ascontiguousarray(centred_unit(vectors)))
    return np.asarray(y, dtype=np.float32)


def umap_warmup(n: int = 600) -> float:
    """Fit UMAP once on random points so numba compiles before a real layout is asked for; seconds taken."""
    t = time.perf_counter()
    layout_umap(np.random.default_rng(0).normal(size=(n, 16)).astype(np.float32))
    return time.perf_counter() - t


def _layout_path(folder: Path | str) -> Path:
    return Path(folder) / LAYOUT_FILE


def model_key(folder: Path | str) -> str:
    """A short hash of a run folder's weights: a layout cached under it belongs to exactly that model."""
    h = hashlib.sha256()
    with open(Path(folder) / "model.safetensors", "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()[:16]


def cached_layout(folder: Path | str, vectors: np.ndarray, method: str, key: str | None = None) -> np.ndarray | None:
    """The layout saved in ``folder`` for these vectors (or ``key``), or None (absent, stale, unreadable)."""
    path = _layout_path(folder)
    if not path.exists():
        return None
    key = key or vectors_key(vectors)
    try:
        with np.load(path, allow_pickle=False) as z:
            if f"{method}_key" not in z.files or str(z[f"{method}_key"]) != key:
                return None
            y = z[method]
    except (OSError, ValueError, EOFError):
        return None
    return y if y.shape == (len(vectors), 2) else None


def save_layout(folder: Path | str, vectors: np.ndarray, method: str, layout: np.ndarray,
                key: str | None = None) -> Path:
    """Add one layout to ``folder/layouts.npz`` (atomic replace; other layouts kept)."""
    path = _layout_path(folder)
    with _layout_lock:
        arrays = {}
        if path.exists():
            try:
                with np.load(path, allow_pickle=False) as z:
                    arrays = {k: z[k] for k in z.files}
            except (OSError, ValueError, EOFError):
                arrays = {}
        arrays[method] = np.asarray(layout, np.float32)
        arrays[f"{method}_key"] = np.array(key or vectors_key(vectors))
        save_npz(path, **arrays)
    return path


def layout(folder: Path | str | None, vectors: np.ndarray, method: str = "umap", seed: int = 0,
           key: str | None = None) -> np.ndarray:
    """The ``method`` layout of ``vectors``: from ``folder``'s cache, else computed (and cached when a folder is given).

    ``key`` names what the layout belongs to (default: a hash of ``vectors``; the app passes
    ``model_key(folder)``, which does not depend on floating-point details of recomputing vectors).
    """
    if method not in LAYOUT_METHODS:
        raise MotorError(f"unknown layout {method!r}; choose one of {', '.join(LAYOUT_METHODS)}")
    if folder is not None:
        hit = cached_layout(folder, vectors, method, key)
        if hit is not None:
            return hit
    y = layout_pca(vectors) if method == "pca" else layout_umap(vectors, seed)
    if folder is not None:
        save_layout(folder, vectors, method, y, key)
    return y
