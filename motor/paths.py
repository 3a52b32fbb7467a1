"""Where motor-lab keeps its disk caches: one root, one folder per kind.

``$MOTOR_CACHE_DIR/<kind>`` when the variable is set, else ``~/.cache/motor-lab/<kind>``. Kinds in
use: ``features`` (encoded item content), ``graphs`` (kNN and user-user graphs), ``ml100k`` and
``wheels`` (the fetched MovieLens-100K). Read at call time, so tests can point it elsewhere.
"""

from __future__ import annotations

import os
from pathlib import Path

ENV_VAR = "MOTOR_CACHE_DIR"


def cache_root() -> Path:
    """``$MOTOR_CACHE_DIR`` if set, else ``~/.cache/motor-lab``."""
    env = os.environ.get(ENV_VAR)
    return Path(env).expanduser() if env else Path.home() / ".cache" / "motor-lab"


def cache_dir(kind: str) -> Path:
    """The cache folder of one kind of artefact (not created here)."""
    return cache_root() / kind
