"""Does encoding a large catalogue in pieces make the attention TCN's training step shorter?

    python benchmarks/tcn_pieces.py --items 1682,9724,30000,100000 --rounds 5 [--piece 4096]
    python benchmarks/tcn_pieces.py --items 30000,100000 --memory

A graph backbone needs every item's vector at every step, so MOTOR's encoder runs the TCN on the
whole catalogue (``MotorEncoder.encode(None)``) and back-propagates through it. This times one such
step (forward, a squared-norm loss, backward; one thread, the default encoder: attention TCN,
token_dim 32, T = 8 tokens from a 512-token vocabulary) with the whole catalogue in one TCN call
(``piece = 0``) against ``--piece`` items per call, interleaved round by round on the same
encoder, and prints the median milliseconds per step and per item. Past ``MotorEncoder.chunk``
(65,536) items the encoder runs one checkpointed call per chunk whatever ``piece`` says, so both
variants time the same code there (pieces fragmented the C heap at 10^6 items: speed_log.md).
``--memory``: instead, each variant in its own process (two steps), and its peak resident memory.
"""

from __future__ import annotations

import argparse
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # this checkout's motor, not another one installed
import torch  # noqa: E402

from motor.encoders.tcn.attention import AttentionTCN  # noqa: E402
from motor.encoders.token_encoder import MotorEncoder, MotorEncoderConfig  # noqa: E402

VOCAB, T = 512, 8


def encoder(n_items: int) -> MotorEncoder:
    tids = torch.randint(0, VOCAB // T, (n_items, T)) + torch.arange(T) * (VOCAB // T)
    return MotorEncoder(n_items, 64, tids, VOCAB, MotorEncoderConfig()).train()


def step(enc: MotorEncoder) -> float:
    enc.zero_grad(set_to_none=True)
    t = time.perf_counter()
    enc.encode(None).square().sum().backward()
    return time.perf_counter() - t


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0], allow_abbrev=False)
    ap.add_argument("--items", default="1682,9724,30000,100000", help="catalogue sizes, comma-separated")
    ap.add_argument("--rounds", type=int, default=5, help="timed steps per variant (after one warm-up)")
    ap.add_argument("--piece", type=int, default=AttentionTCN.piece, help="items per TCN call against 0 (all)")
    ap.add_argument("--memory", action="store_true", help="peak memory per variant (one process each) instead")
    ap.add_argument("--one", default="", help=argparse.SUPPRESS)  # "ITEMS,PIECE": the child of --memory
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    if args.one:
        n, piece = (int(x) for x in args.one.split(","))
        AttentionTCN.piece = piece
        enc = encoder(n)
        for _ in range(2):
            step(enc)
        print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024)
        return
    if args.memory:
        for n in (int(x) for x in args.items.split(",")):
            for piece in (0, args.piece):
                out = subprocess.run([sys.executable, __file__, "--one", f"{n},{piece}"], capture_output=True,
                                     text=True, check=True).stdout.split()[-1]
                print(f"items {n:>7,}  piece {piece or 'all':>5}: peak {int(out):,} MB", flush=True)
        return
    torch.manual_seed(0)
    default = AttentionTCN.piece
    try:
        for n in (int(x) for x in args.items.split(",")):
            enc, times = encoder(n), {0: [], args.piece: []}
            for r in range(args.rounds + 1):
                for piece in times:
                    AttentionTCN.piece = piece
                    dt = step(enc)
                    if r:
                        times[piece].append(dt)
            for piece, ts in times.items():
                m = statistics.median(ts)
                print(f"items {n:>7,}  piece {piece or 'all':>5}: {1e3 * m:8.1f} ms/step  {1e6 * m / n:6.2f} us/item",
                      flush=True)
    finally:
        AttentionTCN.piece = default


if __name__ == "__main__":
    main()
