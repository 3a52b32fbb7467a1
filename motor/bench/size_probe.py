"""One measurement of the size suite, in its own process: build an item encoder, report its size and speed.

    python -m motor.bench.size_probe {id,motor} ITEMS SLOTS CODEWORDS DIM '{"tcn": ...}'

Prints one JSON line: parameters, bytes, resident-memory growth while building, and the time to
encode a batch of 2,048 items. A fresh process per measurement keeps the memory figure its own.
"""

from __future__ import annotations

import json
import sys
import time

import numpy as np
import torch

from motor.encoders import IdEmbedding, MotorEncoder, MotorEncoderConfig


def rss() -> int:
    """Resident set size in bytes (Linux /proc)."""
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * 4096


def probe(kind: str, n: int, slots: int, codewords: int, dim: int, cfg: MotorEncoderConfig) -> dict:
    before = rss()
    if kind == "id":
        enc = IdEmbedding(n, dim)
    else:
        rng = np.random.default_rng(0)
        tids = (rng.integers(0, codewords, size=(n, slots), dtype=np.int64) + np.arange(slots) * codewords)
        tids = tids.astype(np.int32)
        enc = MotorEncoder(n, dim, torch.from_numpy(tids), slots * codewords, cfg)
        del tids
    after = rss()
    batch = torch.randint(0, n, (2048,))
    with torch.no_grad():
        enc.eval()
        enc(batch)
        t = time.perf_counter()
        enc(batch)
        ms = (time.perf_counter() - t) * 1000
    return {"params": enc.n_parameters(), "bytes": enc.n_bytes(), "rss_delta": after - before, "batch_ms": ms}


def main(argv: list[str]) -> int:
    kind, n, slots, codewords, dim = argv[0], int(argv[1]), int(argv[2]), int(argv[3]), int(argv[4])
    cfg = MotorEncoderConfig(**json.loads(argv[5]))
    print(json.dumps(probe(kind, n, slots, codewords, dim, cfg)))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
