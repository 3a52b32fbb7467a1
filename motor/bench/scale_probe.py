"""One measurement of the scale suite, in its own process (so its peak memory is its own).

    python -m motor.bench.scale_probe synth     '{"users": ..., "items": ..., "interactions": ..., "out": DIR}'
    python -m motor.bench.scale_probe train     '{"data": DIR, "backbone": "bpr", "items": "id", "steps": 100, "max_seconds": 120}'
    torchrun --standalone --nproc_per_node=2 -m motor.bench.scale_probe train '{...}'   (data-parallel)
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


SEARCH = ((8, 4), (16, 4), (16, 16), (16, 64), (64, 64))  # (nprobe, k_factor) rows of the ann probe


def ann(items: int, dim: int = 64, queries: int = 1000, k: int = 20, search: tuple = SEARCH, seed: int = 0) -> dict:
    """IVF-PQ recall@k and query latency against exact inner-product search on clustered vectors.

    Queries are noisy copies of random items, searched in one batch; latency is per query (batch
    time / queries). Each row of ``search`` sets the IVF lists visited (nprobe) and, for the
    project's index (PQ candidates re-ranked exactly), the candidates re-ranked per result (k_factor).
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
    for p, k_factor in search:
        ivf.nprobe = p
        if hasattr(index, "k_factor"):
            index.k_factor = k_factor
        elif k_factor != search[0][1]:
            continue  # a plain IVF-PQ has no re-ranking depth to vary
        t = time.perf_counter()
        _, got = index.search(q, k)
        ms = (time.perf_counter() - t) * 1000 / queries
        recall = float(np.mean([len(set(a) & set(b)) / k for a, b in zip(got.tolist(), truth.tolist())]))
        rows.append({"nprobe": p, "k_factor": k_factor if hasattr(index, "k_factor") else None, "recall": recall,
                     "ms_per_query": ms})
    return {"items": items, "dim": dim, "nlist": ivf.nlist, "index": source, "build_s": build_s,
            "exact_ms_per_query": exact_ms, "ivfpq": rows, "index_mb": faiss.serialize_index(index).nbytes / 1e6,
            "peak_rss_mb": peak_rss_mb()}


def train(data: str, backbone: str, items: str, steps: int = 100, max_seconds: float = 120.0, eval_users: int = 512,
          memory_gb: float = 0.0, extra: list[str] | tuple = ()) -> dict | None:
    """``motor train`` cut to a few training steps: time per step, the epoch it implies, peak memory.

    The run is set up exactly as ``python -m motor train --data DATA --backbone B --items I [extra]``
    (same parser, presets and code path; under torchrun data-parallel with DDP) and stopped through
    the trainer's ``should_stop`` after ``steps`` steps, after ``max_seconds`` of training (at least
    3 steps), or at the epoch's end. The trainer calls ``should_stop`` once per step, so the time
    between its first and last call is whole steps; the first step (warm-up) is not timed. Then
    rank 0 computes the ranking state (all user and item vectors) and ranks all items for
    ``eval_users`` validation users (chunked full ranking), from which the full validation pass is
    estimated. ``memory_gb`` > 0 caps the address space, so a run too big for the machine fails
    with an allocation error instead of pushing it into swap. None on ranks other than 0.
    """
    import torch

    from motor import distributed
    from motor.cli import build_run_config, make_parser
    from motor.data.load import load_dataset
    from motor.data.split import make_split
    from motor.encoders.registry import get_item_encoder
    from motor.evaluate import CHUNK_USERS, SCORE_BLOCK, Evaluator, chunked_topk, inner_product_scorer
    from motor.experiment import build_model, model_context
    from motor.train import Trainer

    if steps < 3:
        raise MotorError(f"steps must be at least 3 (one warm-up step, then at least two timed), got {steps}")
    if memory_gb > 0:
        cap = int(memory_gb * 2 ** 30)
        resource.setrlimit(resource.RLIMIT_AS, (cap, cap))
    cfg = build_run_config(make_parser().parse_args(
        ["train", "--data", data, "--backbone", backbone, "--items", items, "--epochs", "1", *extra]))
    with distributed.session(cfg.train.device) as w:
        t0 = time.perf_counter()
        ds = load_dataset(cfg.data)
        split = make_split(ds, cfg.split)
        tokenizer = get_item_encoder(cfg.items).prepare(ds, cfg, lambda msg: None, None)
        model = build_model(cfg, model_context(ds, split), tokenizer)
        prep_s = time.perf_counter() - t0
        marks: list[float] = []
        batches = 0

        def progress(p):
            nonlocal batches
            if p.stage == "start":
                batches = p.batches

        def should_stop() -> bool:  # once per step (after its forward pass), on every rank
            marks.append(time.perf_counter())
            out_of_time = len(marks) >= 3 and marks[-1] - marks[0] > max_seconds
            return distributed.all_true(len(marks) >= min(steps, batches) or out_of_time)

        try:
            Trainer(cfg.train).fit(model, split, progress, should_stop, evaluate_test=False)
        except MotorError as e:
            if "cancelled" not in str(e):
                raise
        if len(marks) < 2:
            raise MotorError(f"only {len(marks)} step(s) ran (an epoch of {batches}); use a larger catalogue")
        s_per_step = (marks[-1] - marks[0]) / (len(marks) - 1)
        if not w.is_main:
            return None
        t = time.perf_counter()
        model.eval()
        with torch.no_grad():
            state = model.ranking_state()
            state_s = time.perf_counter() - t
            scorer = inner_product_scorer(model, state)
            valid_users = np.flatnonzero(Evaluator(split, cfg.train.protocol, cfg.train.topk).sets["valid"].counts)
            sample = torch.from_numpy(valid_users[:eval_users])
            t = time.perf_counter()
            if scorer is not None:
                chunked_topk(scorer, sample, split.n_items, max(cfg.train.topk), [], None, SCORE_BLOCK // CHUNK_USERS)
            rank_s = time.perf_counter() - t
        batch = cfg.train.batch_size
        return {"backbone": backbone, "items": items, "n_items": split.n_items, "n_users": split.n_users,
                "train_pairs": len(split.train.user), "batch_size": batch, "world_size": w.world_size,
                "batches_per_epoch": batches, "timed_steps": len(marks) - 1, "s_per_step": s_per_step,
                "pairs_per_s": batch / s_per_step, "epoch_s_est": batches * s_per_step, "prep_s": prep_s,
                "state_s": state_s, "eval_users_timed": len(sample), "valid_users": len(valid_users),
                "eval_s_est": (state_s + rank_s * len(valid_users) / max(1, len(sample))) if scorer else None,
                "item_params": model.param_counts()["item_side"], "peak_rss_mb": peak_rss_mb()}


PROBES = {"synth": synth, "tokenizer": tokenizer, "ann": ann, "train": train}


def main(argv: list[str]) -> int:
    if len(argv) != 2 or argv[0] not in PROBES:
        print(f"usage: python -m motor.bench.scale_probe {{{','.join(PROBES)}}} JSON", file=sys.stderr)
        return 2
    try:
        result = PROBES[argv[0]](**json.loads(argv[1]))
    except MotorError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    if result is not None:  # ranks other than 0 of a data-parallel probe print nothing
        print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
