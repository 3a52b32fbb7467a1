"""One measurement of the scale suite, in its own process (so its peak memory is its own).

    python -m motor.bench.scale_probe synth     '{"users": ..., "items": ..., "interactions": ..., "out": DIR}'
    python -m motor.bench.scale_probe tokenizer '{"data": DIR}'
    python -m motor.bench.scale_probe ann       '{"items": 1000000, "dim": 64, "queries": 1000, "k": 20}'

Each prints one JSON line with its timings and ``peak_rss_mb`` (the process's high-water mark).
"""

from __future__ import annotations

import json
import resource
import sys
import time
from pathlib import Path

import numpy as np

from motor.errors import MotorError

MODALITIES = {"image": 512, "text": 384}


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def synth(users: int, items: int, interactions: int, out: str, seed: int = 0) -> dict:
    """A synthetic catalogue (``motor.data.synth``), reused when the folder already holds the same one."""
    from motor.config import to_dict
    from motor.data.synth import SynthConfig, synthesize

    cfg = SynthConfig(users=users, items=items, interactions=interactions, modalities=dict(MODALITIES), seed=seed)
    done = Path(out) / "synth.json"
    if done.exists() and json.loads(done.read_text()).get("config") == to_dict(cfg):
        return {"reused": True, **json.loads(done.read_text()), "peak_rss_mb": peak_rss_mb()}
    t = time.perf_counter()
    summary = synthesize(cfg, out, overwrite=True)
    return {**summary, "seconds": time.perf_counter() - t, "peak_rss_mb": peak_rss_mb()}


def load_features(data: str) -> dict[str, np.ndarray]:
    """The content features of a synthetic catalogue, float32 (the tokenizer's input)."""
    out = {}
    for name in MODALITIES:
        path = Path(data) / f"{name}.npy"
        if path.exists():
            out[name] = np.load(path, allow_pickle=False).astype(np.float32)
    if not out:
        raise MotorError(f"no {'/'.join(MODALITIES)} features (<modality>.npy) in {data}")
    return out


def tokenizer(data: str) -> dict:
    """PQ tokenizer fit (the documented defaults) and encode times on every item of ``data``."""
    from motor.tokenizer import TokenizerConfig, fit_tokenizer

    features = load_features(data)
    n = len(next(iter(features.values())))
    t = time.perf_counter()
    tok = fit_tokenizer(features, TokenizerConfig())
    fit_s = time.perf_counter() - t
    t = time.perf_counter()
    tok.encode(features)
    return {"items": n, "fit_s": fit_s, "encode_s": time.perf_counter() - t, "peak_rss_mb": peak_rss_mb()}


def clustered(n: int, dim: int, rng: np.random.Generator, clusters: int = 1000, noise: float = 0.5) -> np.ndarray:
    """Unit vectors around ``clusters`` random centres: a stand-in for trained item vectors."""
    centres = rng.standard_normal((clusters, dim)).astype(np.float32)
    x = centres[rng.integers(0, clusters, n)]
    x += noise * rng.standard_normal(x.shape, dtype=np.float32)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    return x


def ivfpq(x: np.ndarray, seed: int):
    """The project's IVF-PQ index (``motor.retrieval.build_ivfpq``) when this checkout has one, else
    a plain faiss IndexIVFPQ (about 4 sqrt(n) lists, dim/4 sub-quantizers of 8 bits); and which it is."""
    import faiss

    from motor import retrieval

    if hasattr(retrieval, "build_ivfpq"):
        return retrieval.build_ivfpq(x, seed=seed), "motor.retrieval.build_ivfpq (the project's index)"
    n, dim = x.shape
    nlist = max(16, int(4 * np.sqrt(n)))
    index = faiss.IndexIVFPQ(faiss.IndexFlatIP(dim), dim, nlist, max(1, dim // 4), 8, faiss.METRIC_INNER_PRODUCT)
    rng = np.random.default_rng(seed)
    index.train(x[rng.choice(n, min(n, max(100_000, 40 * nlist)), replace=False)])
    index.add(x)
    return index, f"faiss IndexIVFPQ built here, {max(1, dim // 4)} x 8-bit codes (motor.retrieval has no IVF-PQ yet)"


def ann(items: int, dim: int = 64, queries: int = 1000, k: int = 20, nprobe: tuple[int, ...] = (8, 16, 32),
        seed: int = 0) -> dict:
    """IVF-PQ recall@k and query latency against exact inner-product search on clustered vectors.

    Queries are noisy copies of random items, searched in one batch; latency is per query (batch
    time / queries). ``nprobe`` is set on the index's IVF part for each row.
    """
    import faiss

    rng = np.random.default_rng(seed)
    x = clustered(items, dim, rng)
    q = x[rng.integers(0, items, queries)] + 0.1 * rng.standard_normal((queries, dim), dtype=np.float32)
    exact = faiss.IndexFlatIP(dim)
    exact.add(x)
    t = time.perf_counter()
    _, truth = exact.search(q, k)
    exact_ms = (time.perf_counter() - t) * 1000 / queries
    t = time.perf_counter()
    index, source = ivfpq(x, seed)
    build_s = time.perf_counter() - t
    ivf = faiss.extract_index_ivf(index)
    rows = []
    for p in nprobe:
        ivf.nprobe = p
        t = time.perf_counter()
        _, got = index.search(q, k)
        ms = (time.perf_counter() - t) * 1000 / queries
        recall = float(np.mean([len(set(a) & set(b)) / k for a, b in zip(got.tolist(), truth.tolist())]))
        rows.append({"nprobe": p, "recall": recall, "ms_per_query": ms})
    return {"items": items, "dim": dim, "nlist": ivf.nlist, "index": source, "build_s": build_s,
            "exact_ms_per_query": exact_ms, "ivfpq": rows, "index_mb": faiss.serialize_index(index).nbytes / 1e6,
            "peak_rss_mb": peak_rss_mb()}


PROBES = {"synth": synth, "tokenizer": tokenizer, "ann": ann}


def main(argv: list[str]) -> int:
    if len(argv) != 2 or argv[0] not in PROBES:
        print(f"usage: python -m motor.bench.scale_probe {{{','.join(PROBES)}}} JSON", file=sys.stderr)
        return 2
    print(json.dumps(PROBES[argv[0]](**json.loads(argv[1]))))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
