"""Feature cache keyed by content hash, so a rerun on the same inputs is instant.

Each item's key is sha256(model id + its content: the text's UTF-8 bytes or the image's
file bytes), so renaming files or reordering the CSV still hits, and changing the model or
its preprocessing (part of the model id) misses. One run's vectors are stored as one
``.npz`` (arrays ``key`` and ``feat``) named by the hash of all its keys: an identical rerun
opens exactly one file. After a partial change (items added or edited) the unchanged items
are found in the most recent earlier files of the same model, and only new content is
encoded. Files are read with ``allow_pickle=False`` and written atomically; an unreadable
cache file counts as a miss. Nothing is ever evicted: delete the folder to reclaim space.
"""

from __future__ import annotations

import hashlib
import os
import re
from pathlib import Path

import numpy as np

from motor.paths import cache_dir, save_npz

# How many earlier files of the same model a partial lookup opens (newest first).
SCAN_FILES = 32


def item_key(model_id: str, content: bytes | str) -> str:
    """sha256 hex of the model id and one item's content."""
    if isinstance(content, str):
        content = content.encode("utf-8")
    h = hashlib.sha256()
    h.update(model_id.encode("utf-8"))
    h.update(b"\0")
    h.update(content)
    return h.hexdigest()


def _set_key(keys: list[str]) -> str:
    h = hashlib.sha256()
    for k in keys:
        h.update(k.encode("ascii"))
    return h.hexdigest()


class FeatureCache:
    """Vectors of one model, stored under ``root/<model slug>/`` (default root: ``$MOTOR_CACHE_DIR/features``,
    else ``~/.cache/motor-lab/features``)."""

    def __init__(self, model_id: str, root: str | os.PathLike | None = None):
        self.model_id = model_id
        self.root = Path(root) if root is not None else cache_dir("features")  # motor.paths
        slug = re.sub(r"[^A-Za-z0-9]+", "-", model_id).strip("-")[:40]
        self.dir = self.root / f"{slug}-{hashlib.sha256(model_id.encode()).hexdigest()[:12]}"

    @staticmethod
    def _read(path: Path, want: set[str] | None = None) -> dict[str, np.ndarray]:
        """{key: vector} from one file (only the keys in ``want`` if given); {} if unreadable."""
        try:
            with np.load(path, allow_pickle=False) as z:
                keys = z["key"]
                if want is not None:
                    rows = [i for i, k in enumerate(keys.tolist()) if k in want]
                    if not rows:
                        return {}
                    feat = z["feat"][rows]
                    keys = keys[rows]
                else:
                    feat = z["feat"]
            if feat.ndim != 2 or len(feat) != len(keys) or feat.dtype != np.float32:
                return {}
            return dict(zip(keys.tolist(), feat))
        except Exception:  # a truncated or foreign file is just a miss
            return {}

    def lookup(self, keys: list[str]) -> dict[str, np.ndarray]:
        """The cached vectors of as many of ``keys`` as are stored."""
        if not keys or not self.dir.is_dir():
            return {}
        want = set(keys)
        exact = self.dir / f"{_set_key(keys)}.npz"
        if exact.is_file():
            found = self._read(exact, None)
            if want <= found.keys():
                return {k: found[k] for k in want}
        found = {}
        try:
            files = sorted(self.dir.glob("*.npz"), key=lambda p: p.stat().st_mtime, reverse=True)
        except OSError:
            return {}
        for p in files[:SCAN_FILES]:
            found.update(self._read(p, want - found.keys()))
            if len(found) == len(want):
                break
        return found

    def store(self, keys: list[str], feat: np.ndarray) -> Path | None:
        """Save one run's vectors (float32 [n, D]); returns the file, or None if not writable."""
        if not keys:
            return None
        feat = np.ascontiguousarray(feat, dtype=np.float32)
        path = self.dir / f"{_set_key(keys)}.npz"
        try:
            save_npz(path, key=np.array(keys, dtype="<U64"), feat=feat)
        except OSError:
            return None
        return path
