"""OpenMP wait policy and thread counts, whatever the import order.

torch and faiss each ship a GNU libgomp. Its default wait is an active spin of about 3 ms after
every parallel region; on a 2-core machine with anything else running that makes 2-thread work
10 to 20 times slower (a demo LightGCN epoch: 1.1 s passive, 22.4 s spinning; faiss PQ training
0.6 s vs 30 s, see STACK.md). A passive wait costs nothing on a quiet machine.

libgomp reads ``OMP_WAIT_POLICY`` and ``GOMP_SPINCOUNT`` once, when it is loaded, and has no
call to change them afterwards (its ``omp_*`` API has none; ``kmp_set_blocktime`` exists only in
LLVM/Intel runtimes). So importing ``motor`` before torch sets the policy in the environment, and
when torch (or faiss) was imported first, ``motor`` uses the rule libgomp documents for
oversubscription instead: "if there are more OpenMP threads than available CPUs, [spin] 100
[times]" (GOMP_SPINCOUNT in the libgomp manual). One parked thread per such runtime owns an idle
team of (CPUs + 1) OpenMP threads, asleep in the runtime's pool, which keeps the runtime's thread
count above the CPU count; from then on every wait spins 100 times (about a microsecond) and then
sleeps, as a passive policy would. No re-exec, so it works in a notebook. If that cannot be set up
(no /proc, another OpenMP runtime, missing symbols), ``set_threads`` uses one thread and warns
once with what to do.
"""

import ctypes
import os
import threading
import warnings

WAIT_VARIABLES = ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT")


def loaded_libgomp() -> list[str]:
    """Paths of the GNU OpenMP runtimes mapped into this process (Linux; [] elsewhere)."""
    try:
        with open("/proc/self/maps") as f:
            paths = [line.split()[-1] for line in f if "/" in line]
    except OSError:
        return []
    return list(dict.fromkeys(p for p in paths if os.path.basename(p).startswith("libgomp")))


def spinning_runtimes(loaded_before: list[str], env_before: dict) -> list[str]:
    """The runtimes that started with libgomp's default spin-wait.

    Those loaded before ``motor`` set ``OMP_WAIT_POLICY``, unless the user had chosen a wait
    policy or a spin count themselves (their choice is kept).
    """
    if any(env_before.get(k) for k in WAIT_VARIABLES):
        return []
    return list(loaded_before)


# Order matters: what was loaded, and what the user had set, before this module touched anything.
_ENV_BEFORE = {k: os.environ.get(k) for k in WAIT_VARIABLES}
_LOADED_BEFORE = loaded_libgomp()
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

_lock = threading.Lock()
_parked: dict[str, threading.Thread] = {}
_failure: str | None = None
_warned = False


def _park(path: str) -> threading.Thread:
    """Start a daemon thread that runs one empty parallel region of (CPUs + 1) threads in the
    runtime at ``path`` and then waits forever, keeping that team asleep in the runtime's pool."""
    lib = ctypes.CDLL(path)  # the already-loaded copy: dlopen returns the same handle
    lib.GOMP_parallel.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_uint, ctypes.c_uint]
    lib.GOMP_parallel.restype = None
    team = int(lib.omp_get_num_procs()) + 1
    noop = ctypes.cast(ctypes.CDLL(None).free, ctypes.c_void_p)  # free(NULL) does nothing, needs no GIL
    ready, error = threading.Event(), []

    def hold():
        try:
            lib.GOMP_parallel(noop, None, team, 0)
        except (ctypes.ArgumentError, OSError) as e:  # reported by the caller
            error.append(e)
        ready.set()
        threading.Event().wait()  # never set: the team lives as long as this thread

    t = threading.Thread(target=hold, name=f"motor-omp-park-{os.path.basename(path)}", daemon=True)
    t.start()
    ready.wait()
    if error:
        raise error[0]
    return t


def protect_loaded_runtimes() -> list[str]:
    """Apply the oversubscription rule to every runtime that started spinning; returns their paths.

    Idempotent. On failure, records why (see ``protection_failure``) and returns what worked.
    """
    global _failure
    with _lock:
        for path in spinning_runtimes(_LOADED_BEFORE, _ENV_BEFORE):
            if path in _parked:
                continue
            try:
                _parked[path] = _park(path)
            except (OSError, AttributeError, TypeError, ctypes.ArgumentError) as e:
                _failure = f"could not limit the spin-wait of {os.path.basename(path)} ({e})"
        return list(_parked)


def protection_failure() -> str | None:
    """Why the wait policy could not be applied, or None when it is in effect."""
    return _failure


def status() -> dict:
    """What is in place: for the Train page, benchmarks and tests."""
    return {"policy_env": os.environ.get("OMP_WAIT_POLICY"), "user_set": {k: v for k, v in _ENV_BEFORE.items() if v},
            "loaded_before_motor": list(_LOADED_BEFORE), "parked": list(_parked), "failure": _failure}


def limit_for_failure(n: int, failure: str | None) -> tuple[int, str | None]:
    """(threads to use, warning text): one thread when the wait policy could not be applied."""
    if n <= 1 or failure is None:
        return n, None
    return 1, (f"{failure}; using 1 thread instead of {n} (with OpenMP spinning, {n} threads can be 10-20x "
               f"slower on a busy machine). To use {n} threads, import motor before torch and faiss, or set "
               f"OMP_WAIT_POLICY=PASSIVE in the environment before Python starts.")


def available_cores() -> int:
    """The cores this process may run on (its CPU affinity where the OS tells it, else the machine's count)."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def set_threads(n: int | None = None) -> int:
    """Set the process-wide thread count for torch (and with it faiss/OpenMP).

    ``None`` keeps one thread per available core. Returns the count in use.
    """
    global _warned
    import torch

    if n is None:
        n = available_cores()
    n, message = limit_for_failure(max(1, int(n)), _failure)
    if message and not _warned:
        _warned = True
        warnings.warn(message, RuntimeWarning, stacklevel=2)
    if torch.get_num_threads() != n:
        torch.set_num_threads(n)
    try:
        import faiss

        faiss.omp_set_num_threads(n)
    except ImportError:  # faiss is only needed for tokenizing and retrieval
        pass
    return n


protect_loaded_runtimes()
