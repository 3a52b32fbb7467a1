"""Data-parallel training across processes with torch's own engine (torchrun + DistributedDataParallel).

``torchrun --nproc_per_node=N -m motor train ...`` starts N copies of the command with ``RANK``,
``WORLD_SIZE``, ``LOCAL_RANK``, ``MASTER_ADDR`` and ``MASTER_PORT`` set; ``setup`` reads them and
joins the process group (gloo on CPU, nccl on CUDA, one GPU per local rank). Across nodes the
same command runs on every node with torchrun's rendezvous options, for example
``torchrun --nnodes=2 --nproc_per_node=4 --rdzv_backend=c10d --rdzv_endpoint=HOST:29400 --rdzv_id=job1 -m motor train ...``.
Without those variables nothing is initialised and every helper here answers for a single
process, so a plain ``python -m motor train`` is unchanged.

Only small JSON-able values travel between ranks outside DDP's gradient averaging (metrics,
decisions), as UTF-8 bytes in a tensor: no pickles.
"""

from __future__ import annotations

import json
import os
import signal
import sys
from contextlib import contextmanager
from dataclasses import dataclass

import torch
import torch.distributed as dist

from motor.errors import MotorError


@dataclass(frozen=True)
class World:
    """This process's place among the ranks (a single process: rank 0 of 1)."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    local_world_size: int = 1
    backend: str | None = None

    @property
    def distributed(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def _env_int(name: str, default: int) -> int:
    value = os.environ.get(name)
    if value is None:
        return default
    try:
        return int(value)
    except ValueError:
        raise MotorError(f"environment variable {name}={value!r} is not an integer (set by torchrun)") from None


def launched() -> bool:
    """Whether this process was started by torchrun with more than one rank."""
    return _env_int("WORLD_SIZE", 1) > 1


def world() -> World:
    """The current process group's view (rank 0 of 1 when not distributed)."""
    if not (dist.is_available() and dist.is_initialized()):
        return World()
    return World(dist.get_rank(), dist.get_world_size(), _env_int("LOCAL_RANK", 0),
                 _env_int("LOCAL_WORLD_SIZE", dist.get_world_size()), dist.get_backend())


def resolve_device(name: str, local_rank: int = 0) -> torch.device:
    """``auto`` -> CUDA when available, else CPU; ``cuda`` -> this local rank's GPU (an error if none)."""
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if name == "cpu":
        return torch.device("cpu")
    if name == "cuda":
        if not torch.cuda.is_available():
            raise MotorError("train.device is 'cuda' but torch sees no CUDA device (this torch build or machine "
                             "has none); use --device cpu, or auto to take a GPU only when present")
        if local_rank >= torch.cuda.device_count():
            raise MotorError(f"local rank {local_rank} has no GPU: {torch.cuda.device_count()} visible; start at "
                             f"most that many processes per node (torchrun --nproc_per_node)")
        return torch.device("cuda", local_rank)
    raise MotorError(f"train.device must be one of 'auto', 'cpu', 'cuda', got {name!r}")


def _stop_on_sigterm(signum, frame):  # torchrun's answer to another rank failing
    sys.stderr.write(f"error: rank {_env_int('RANK', 0)} stopped: another rank failed or the run was interrupted "
                     f"(see that rank's error above)\n")  # one write: ranks stopping at once keep their own lines
    sys.stderr.flush()
    os._exit(143)


def setup(device: str = "auto") -> World:
    """Join the process group when launched by torchrun (idempotent); return this process's ``World``.

    The backend follows the device: nccl when training on CUDA, gloo on CPU.
    """
    if not launched() or (dist.is_available() and dist.is_initialized()):
        return world()
    if not dist.is_available():
        raise MotorError("this torch build has no torch.distributed; run a single process instead")
    for name in ("RANK", "MASTER_ADDR", "MASTER_PORT"):
        if name not in os.environ:
            raise MotorError(f"WORLD_SIZE is set but {name} is not: start data-parallel runs with torchrun "
                             f"(torchrun --nproc_per_node=N -m motor train ...)")
    local_rank = _env_int("LOCAL_RANK", 0)
    on_cuda = resolve_device(device, local_rank).type == "cuda"
    if on_cuda:
        torch.cuda.set_device(local_rank)
    if "TORCHELASTIC_RUN_ID" not in os.environ:  # set by hand: nothing may ever start the other ranks
        print(f"note: rank {os.environ['RANK']} of {os.environ['WORLD_SIZE']} waits for the other ranks at "
              f"{os.environ['MASTER_ADDR']}:{os.environ['MASTER_PORT']} (WORLD_SIZE, RANK, MASTER_ADDR and "
              f"MASTER_PORT were set without torchrun); Ctrl-C stops it, and without WORLD_SIZE it trains as "
              f"one process", file=sys.stderr, flush=True)
    with _default_signals():
        dist.init_process_group("nccl" if on_cuda else "gloo")
    signal.signal(signal.SIGTERM, _stop_on_sigterm)
    return world()


@contextmanager
def _default_signals():
    """Ctrl-C and SIGTERM end the process while it waits inside torch (C++) for the other ranks: Python's own
    handlers would only run once that wait returns, up to 30 minutes later."""
    saved = {s: signal.signal(s, signal.SIG_DFL) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for s, handler in saved.items():
            signal.signal(s, handler)


def shutdown() -> None:
    """Leave the process group (no-op when none): every rank calls this once its work is done."""
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def barrier() -> None:
    """Wait for every rank (no-op for a single process)."""
    if world().distributed:
        dist.barrier()


def _device() -> torch.device:
    return torch.device("cuda", torch.cuda.current_device()) if world().backend == "nccl" else torch.device("cpu")


def broadcast_json(value=None, src: int = 0):
    """``value`` from rank ``src`` on every rank (any JSON-able value; sent as UTF-8 bytes, no pickle)."""
    if not world().distributed:
        return value
    payload = json.dumps(value).encode() if world().rank == src else b""
    size = torch.tensor([len(payload)], dtype=torch.long, device=_device())
    dist.broadcast(size, src)
    data = torch.zeros(int(size.item()), dtype=torch.uint8, device=_device())
    if world().rank == src:
        data.copy_(torch.frombuffer(bytearray(payload), dtype=torch.uint8))
    dist.broadcast(data, src)
    return json.loads(bytes(data.cpu().tolist()).decode())


def all_true(flag: bool) -> bool:
    """Whether ``flag`` holds on every rank (one tiny all-reduce; a single process returns ``flag``)."""
    if not world().distributed:
        return bool(flag)
    t = torch.tensor([1 if flag else 0], dtype=torch.long, device=_device())
    dist.all_reduce(t, op=dist.ReduceOp.MIN)
    return bool(t.item())


def mean_over_ranks(values: list[float]) -> list[float]:
    """Each value averaged over the ranks (one all-reduce; a single process returns them unchanged): an epoch's
    loss over every rank's shard of the data, not rank 0's alone."""
    if not world().distributed:
        return list(values)
    t = torch.tensor(values, dtype=torch.float64, device=_device())
    dist.all_reduce(t, op=dist.ReduceOp.SUM)
    return (t / world().world_size).tolist()


def all_equal(value) -> bool:
    """Whether a JSON-able ``value`` is the same on every rank (compared with rank 0's)."""
    return all_true(broadcast_json(value) == value)


def differences(settings: dict) -> tuple[dict, bool]:
    """Where this rank's flat JSON-able ``settings`` differ from rank 0's (``{key: (this rank's value,
    rank 0's)}``), and whether they agree on every rank. Every rank calls it (two collectives)."""
    own = json.loads(json.dumps(settings))  # as rank 0's arrive: tuples as lists
    main = broadcast_json(own)
    diff = {k: (own.get(k), main.get(k)) for k in sorted(own.keys() | main.keys()) if own.get(k) != main.get(k)}
    return diff, all_true(not diff)


@contextmanager
def session(device: str = "auto"):
    """``setup`` on entry, ``shutdown`` on exit; an error on one rank is reported with its rank number."""
    w = setup(device)
    try:
        yield w
    except MotorError as e:
        if w.distributed:
            raise MotorError(f"rank {w.rank} of {w.world_size}: {e}") from None
        raise
    except RuntimeError as e:
        if w.distributed and _peer_lost(e):
            raise MotorError(f"rank {w.rank} of {w.world_size} stopped: another rank failed or left (see its "
                             f"error); {str(e).splitlines()[0][:200]}") from None
        raise
    finally:
        shutdown()


def _peer_lost(e: BaseException) -> bool:
    """Whether a collective failed because another rank went away (not a bug on this rank)."""
    text = str(e).lower()
    return isinstance(e, getattr(dist, "DistError", ())) or any(
        s in text for s in ("connection closed by peer", "connection reset", "broken pipe", "socket timeout"))
