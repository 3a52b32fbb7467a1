"""A child process that computes UMAP layouts, so they never compete with training for the GIL.

UMAP's first fit in a process compiles numba code for ~20-35 s while holding the GIL; run in a
thread of the app, that stalls the training thread and the page (and ``nice`` cannot help a
thread that holds the GIL). Here it runs at nice 19 in its own process, which stays alive (and
warm) for the life of the app. Protocol: one JSON line per request on stdin
``{"in": vectors.npy, "out": layout.npy, "seed": 0}``, one JSON line per answer on stdout
``{"ok": true}`` or ``{"ok": false, "error": "..."}``; the first line out is ``{"ready": seconds}``.
The process ends when stdin closes (the app exited).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]


def main() -> int:
    try:
        os.nice(19)
    except (AttributeError, OSError):
        pass
    sys.path.insert(0, str(ROOT))
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
            args = [sys.executable, "-m", "app.layout_proc"] + (["--warmup"] if self._warmup else [])
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


if __name__ == "__main__":
    sys.exit(main())
