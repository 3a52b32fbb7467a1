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


def file_above(path: Path) -> Path | None:
    """The first of ``path``'s parents that is a file (no folder can be made inside it), or None."""
    return next((p for p in Path(path).parents if p.exists() and not p.is_dir()), None)


def write_error(folder: Path) -> OSError | None:
    """Make ``folder`` and write (then remove) a probe file in it: the error that stopped it, or None. Work whose
    result goes there is then refused before it runs, not after (a fit or a training lost to /proc)."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(dir=folder, prefix=".motor-write-check-")
        os.close(fd)
        os.unlink(probe)
    except OSError as e:
        return e
    return None


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
