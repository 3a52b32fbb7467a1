"""The layout worker: 2-D maps of item vectors (PCA at once, UMAP in a child process) for the Tokens page.

``LayoutWorker`` is one thread in the app that computes each run folder's ``layouts.npz``;
``UmapProcess`` is its handle on a child process (``python -m app.layouts``) that runs UMAP.
UMAP's first fit in a process compiles numba code for ~20-35 s while holding the GIL; run in a
thread of the app, that stalls the training thread and the page (and ``nice`` cannot help a
thread that holds the GIL). The child runs at nice 19, stays alive (and warm) for the life of
the app, and warms UMAP's JIT up when the app starts, so the first real map is not the one
paying the compilation.

Child protocol: one JSON line per request on stdin ``{"in": vectors.npy, "out": layout.npy,
"seed": 0}``, one JSON line per answer on stdout ``{"ok": true}`` or ``{"ok": false, "error":
"..."}``; the first line out is ``{"ready": seconds}``. The child ends when stdin closes.
"""

from __future__ import annotations

import atexit
import json
import logging
import os
import queue
import subprocess
import sys
import tempfile
import threading
import time
import traceback
from pathlib import Path
from typing import Callable

import numpy as np

log = logging.getLogger("motor_lab")
ROOT = Path(__file__).resolve().parents[1]


def lower_priority() -> None:
    """Run the calling thread at nice 19 (Linux: nice is per thread).

    UMAP at normal priority next to a training thread slowed training from 1.5 to 2.5 s per epoch
    on 2 cores (torch's two OpenMP threads wait for each other at every barrier); at nice 19 the
    training kept its speed and the layout used the idle time. Elsewhere this is a no-op.
    """
    try:
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), 19)
    except (AttributeError, OSError):
        pass


def umap_enabled() -> bool:
    """UMAP maps are on unless MOTOR_LAB_UMAP=0 (then the Tokens page shows PCA only)."""
    return os.environ.get("MOTOR_LAB_UMAP", "1") != "0"


class LayoutWorker:
    """One thread computing 2-D maps in the background: ``request(folder, vectors_fn)``, then poll ``state``.

    PCA is computed at once (milliseconds); UMAP runs in a child process at nice 19
    (``UmapProcess`` below): its first fit compiles numba code for ~20-35 s while holding the
    GIL, which in a thread of the app stalled training and pages alike. The child is started
    (and warmed up) with the app, so the first real map does not pay the compilation. Both maps
    end up in ``folder/layouts.npz`` (``motor.explore.layouts``), so a later visit, another session or a
    restarted server reads them from disk.
    """

    def __init__(self, warmup: bool = True):
        self._queue: queue.Queue = queue.Queue()
        self._state: dict[str, str] = {}  # folder -> queued | running | done | failed: ...
        self._lock = threading.Lock()
        self._umap = UmapProcess(warmup=warmup) if umap_enabled() else None
        self.warm = False
        self._thread = threading.Thread(target=self._loop, name="layout-worker", daemon=True)
        self._thread.start()
        atexit.register(self.close)

    @property
    def warmup_seconds(self) -> float | None:
        return None if self._umap is None else self._umap.ready_seconds

    def state(self, folder: Path | str) -> str | None:
        return self._state.get(str(folder))

    def request(self, folder: Path | str, vectors_fn: Callable[[], np.ndarray], key: str | None = None) -> str:
        """Queue the layouts of ``folder`` unless they are queued, running or done; returns the state."""
        k = str(folder)
        with self._lock:
            st = self._state.get(k)
            if st in ("queued", "running", "done"):
                return st
            self._state[k] = "queued"
        self._queue.put((k, vectors_fn, key))
        return "queued"

    def close(self, timeout: float = 10.0) -> None:
        """Stop the thread (after the current task) and the UMAP process. Registered with atexit: a thread
        that ran torch code and is still alive when the interpreter finalises can abort the process."""
        if self._thread.is_alive():
            self._queue.put(None)
            self._thread.join(timeout)
        if self._umap is not None:
            self._umap.close()

    def _loop(self) -> None:
        from motor.explore import layouts

        lower_priority()
        if self._umap is not None:
            try:
                t = time.perf_counter()
                self._umap.start()
                log.info("UMAP process ready in %.1f s", time.perf_counter() - t)
            except Exception:
                log.error("UMAP process failed to start:\n%s", traceback.format_exc())
        self.warm = True
        while True:
            task = self._queue.get()
            if task is None:
                self._queue.task_done()
                return
            folder, vectors_fn, key = task
            try:
                self._state[folder] = "running"
                vectors = vectors_fn()
                layouts.layout(folder, vectors, "pca", key=key)
                if self._umap is not None and layouts.cached_layout(folder, vectors, "umap", key) is None:
                    t = time.perf_counter()
                    layouts.save_layout(folder, vectors, "umap", self._umap.fit(vectors), key)
                    log.info("UMAP layout of %s in %.1f s", folder, time.perf_counter() - t)
                self._state[folder] = "done"
            except Exception as e:
                log.error("layout of %s failed:\n%s", folder, traceback.format_exc())
                self._state[folder] = f"failed: {type(e).__name__}: {e}"
            finally:
                self._queue.task_done()


# --- the UMAP child process -------------------------------------------------------------


class UmapProcess:
    """The app's handle on the child: ``fit(vectors)`` blocks the calling thread (not the GIL)."""

    def __init__(self, warmup: bool = True):
        self._lock = threading.Lock()
        self._warmup = warmup
        self._proc: subprocess.Popen | None = None
        self.ready_seconds: float | None = None

    def start(self) -> None:
        with self._lock:
            self._ensure()

    def _ensure(self) -> subprocess.Popen:
        if self._proc is None or self._proc.poll() is not None:
            args = [sys.executable, "-m", "app.layouts"] + (["--warmup"] if self._warmup else [])
            self._proc = subprocess.Popen(args, cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                          text=True, bufsize=1, env={**os.environ, "PYTHONPATH": str(ROOT)})
            first = self._proc.stdout.readline()
            if not first:
                raise RuntimeError("the UMAP process exited while starting")
            self.ready_seconds = json.loads(first).get("ready")
        return self._proc

    def fit(self, vectors: np.ndarray, seed: int = 0) -> np.ndarray:
        with self._lock, tempfile.TemporaryDirectory(prefix="motor-umap-") as d:
            src, dst = Path(d) / "in.npy", Path(d) / "out.npy"
            np.save(src, np.ascontiguousarray(vectors, dtype=np.float32))
            proc = self._ensure()
            proc.stdin.write(json.dumps({"in": str(src), "out": str(dst), "seed": seed}) + "\n")
            proc.stdin.flush()
            line = proc.stdout.readline()
            if not line:
                raise RuntimeError("the UMAP process exited during a fit")
            ans = json.loads(line)
            if not ans.get("ok"):
                raise RuntimeError(ans.get("error", "UMAP failed"))
            return np.load(dst, allow_pickle=False)

    def close(self) -> None:
        with self._lock:
            if self._proc is not None and self._proc.poll() is None:
                self._proc.stdin.close()
                try:
                    self._proc.wait(10)
                except subprocess.TimeoutExpired:
                    self._proc.kill()
            self._proc = None


def main() -> int:
    """The child: ``python -m app.layouts [--warmup]``, serving one fit per stdin line until stdin closes."""
    try:
        os.nice(19)
    except (AttributeError, OSError):
        pass
    from motor.explore import layouts

    t = time.perf_counter()
    if "--warmup" in sys.argv:
        layouts.umap_warmup()
    else:
        import umap  # noqa: F401
    print(json.dumps({"ready": round(time.perf_counter() - t, 2)}), flush=True)
    for line in sys.stdin:
        try:
            req = json.loads(line)
            y = layouts.layout_umap(np.load(req["in"], allow_pickle=False), int(req.get("seed", 0)))
            np.save(req["out"], y)
            print(json.dumps({"ok": True}), flush=True)
        except Exception as e:  # reported to the app, which shows the PCA map and says why
            print(json.dumps({"ok": False, "error": f"{type(e).__name__}: {e}"}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
