"""Run by tests/test_distributed.py under torchrun: one data-parallel training, each rank's weights saved.

    torchrun --standalone --nproc_per_node=2 tests/dist_worker.py DATA OUT BACKBONE ITEMS [FAIL_RANK [ODD_RANK]]

Rank r writes OUT/rank{r}.safetensors (its final parameters) and OUT/rank{r}.json (its epochs' losses) so
the test can compare ranks; the run folder OUT/run is written by rank 0 alone. With FAIL_RANK, that rank raises before training,
to check that the other ranks are stopped. With ODD_RANK, that rank trains one epoch more at another
learning rate (as a node started with other options would).
"""

import json
import sys
from pathlib import Path

from safetensors.torch import save_file

from motor import distributed
from motor.errors import MotorError
from motor.experiment import RunConfig, run_experiment


def settings(data: str, backbone: str, items: str) -> RunConfig:
    """The run's settings (the test rebuilds the untrained model from them)."""
    return RunConfig().with_overrides({"data.data": data, "backbone": backbone, "items": items, "train.epochs": 2,
                                       "train.batch_size": 32, "train.device": "cpu", "train.threads": 1,
                                       "tokenizer.m": 2, "tokenizer.k": 8})


def main(data: str, out: str, backbone: str, items: str, fail_rank: int = -1, odd_rank: int = -1) -> int:
    cfg = settings(data, backbone, items)
    with distributed.session("cpu") as w:
        if w.rank == odd_rank:
            cfg = cfg.with_overrides({"train.epochs": 3, "train.lr": 0.05, "train.threads": 2})
        if w.rank == fail_rank:
            raise MotorError("this rank was told to fail")
        res = run_experiment(cfg, Path(out) / "run")
        save_file({k: v.contiguous() for k, v in res.model.state_dict().items()}, str(Path(out) / f"rank{w.rank}.safetensors"))
        (Path(out) / f"rank{w.rank}.json").write_text(json.dumps([h["loss"] for h in res.result.history]))
    return 0


if __name__ == "__main__":
    args = sys.argv[1:]
    try:
        sys.exit(main(*args[:4], *map(int, args[4:])))
    except MotorError as e:  # as the CLI reports it: one line, status 2
        print(f"error: {e}", file=sys.stderr, flush=True)
        sys.exit(2)
