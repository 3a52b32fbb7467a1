"""Where motor-lab keeps its disk caches: one root, one folder per kind.

``$MOTOR_CACHE_DIR/<kind>`` when the variable is set, else ``~/.cache/motor-lab/<kind>``. Kinds in
use: ``features`` (encoded item content), ``graphs`` (kNN and user-user graphs), ``ml100k`` and
``wheels`` (the fetched MovieLens-100K). Read at call time, so tests can point it elsewhere.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import numpy as np

ENV_VAR = "MOTOR_CACHE_DIR"


def cache_root() -> Path:
    """``$MOTOR_CACHE_DIR`` if set, else ``~/.cache/motor-lab``."""
    env = os.environ.get(ENV_VAR)
    return Path(env).expanduser() if env else Path.home() / ".cache" / "motor-lab"


def cache_dir(kind: str) -> Path:
    """The cache folder of one kind of artefact (not created here)."""
    return cache_root() / kind


_UMASK = os.umask(0)  # read once (setting it is the only way to read it), then put back
os.umask(_UMASK)


def save_npz(path: Path | str, **arrays) -> Path:
    """Write a .npz atomically (a unique temp file in the same folder, then a rename).

    Readers never see a half-written cache file, and two processes filling the same cache do
    not overwrite each other's temp files.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}-", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            np.savez(f, **arrays)
        os.chmod(tmp, 0o666 & ~_UMASK)  # mkstemp makes it private (0600); the file gets the usual permissions
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return path
