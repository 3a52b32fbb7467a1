"""OpenMP settings that must be in place before torch or faiss is imported.

torch, faiss and numba share GNU libgomp. Its default active spin-wait makes faiss PQ training
go from 0.6 s to 30 s on a 2-core machine when a training thread keeps the other core busy
(measured, see STACK.md). A passive wait policy costs nothing on a quiet machine.
"""

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def set_threads(n: int | None = None) -> int:
    """Set the process-wide thread count for torch (and with it faiss/OpenMP).

    ``None`` keeps one thread per available core. Returns the count in use.
    """
    import torch

    if n is None:
        n = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    n = max(1, int(n))
    if torch.get_num_threads() != n:
        torch.set_num_threads(n)
    try:
        import faiss

        faiss.omp_set_num_threads(n)
    except ImportError:  # faiss is only needed for tokenizing and retrieval
        pass
    return n
