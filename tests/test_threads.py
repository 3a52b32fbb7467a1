"""OpenMP wait policy whatever the import order (motor.threads)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import warnings
from pathlib import Path

import pytest

from motor import threads

ROOT = Path(__file__).resolve().parents[1]
GOMP = "/site-packages/torch/lib/libgomp.so.1"


def test_spinning_runtimes_are_those_loaded_before_motor_without_a_user_choice():
    loaded = ["/x/torch/lib/libgomp.so.1", "/x/faiss_cpu.libs/libgomp-e985bcbb.so.1.0.0"]
    assert threads.spinning_runtimes(loaded, {}) == loaded
    assert threads.spinning_runtimes(loaded, {"OMP_WAIT_POLICY": None, "GOMP_SPINCOUNT": ""}) == loaded
    assert threads.spinning_runtimes([], {}) == []
    # The user's own choice, made before Python started, is kept (ACTIVE included).
    assert threads.spinning_runtimes(loaded, {"OMP_WAIT_POLICY": "ACTIVE"}) == []
    assert threads.spinning_runtimes(loaded, {"GOMP_SPINCOUNT": "0"}) == []


def test_loaded_libgomp_lists_only_openmp_runtimes():
    import torch  # noqa: F401

    found = threads.loaded_libgomp()
    assert all(os.path.basename(p).startswith("libgomp") for p in found)
    if sys.platform == "linux":
        assert any(p.endswith(GOMP) for p in found), found


def test_one_thread_and_one_warning_when_the_policy_cannot_be_applied(monkeypatch):
    import torch

    assert threads.limit_for_failure(2, None) == (2, None)
    assert threads.limit_for_failure(1, "x") == (1, None)
    n, message = threads.limit_for_failure(4, "could not limit the spin-wait of libgomp.so.1 (boom)")
    assert n == 1 and "boom" in message and "import motor before torch" in message and "OMP_WAIT_POLICY=PASSIVE" in message

    before = torch.get_num_threads()
    monkeypatch.setattr(threads, "_failure", "could not limit the spin-wait of libgomp.so.1 (test)")
    monkeypatch.setattr(threads, "_warned", False)
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            assert threads.set_threads(2) == 1
            assert threads.set_threads(2) == 1
        assert torch.get_num_threads() == 1
        assert [str(w.message) for w in caught if issubclass(w.category, RuntimeWarning)] == [
            threads.limit_for_failure(2, threads._failure)[1]]
        monkeypatch.setattr(threads, "_failure", None)
        assert threads.set_threads(2) == 2
    finally:
        torch.set_num_threads(before)


TRAIN = """
import json, sys, time
if sys.argv[1] == "torch_first":
    import torch  # noqa: F401  (a notebook's first line)
import motor.threads
from motor.presets import preset
from motor.experiment import run_experiment

cfg = preset("quick", "id", {"train": {"epochs": 4, "threads": 2, "patience": 100}})
history = run_experiment(cfg, None).result.history
seconds = sorted(r["train_seconds"] for r in history[1:])
print(json.dumps({"epoch_s": seconds[len(seconds) // 2], "status": motor.threads.status()}))
"""


def _train(order: str) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in threads.WAIT_VARIABLES}  # as a fresh shell has it
    out = subprocess.run([sys.executable, "-c", TRAIN, order], check=False, cwd=ROOT, env=env, capture_output=True, text=True,
                         timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


@pytest.mark.slow
@pytest.mark.skipif(sys.platform != "linux", reason="the spin-wait protection targets GNU libgomp on Linux")
def test_torch_imported_first_trains_about_as_fast_with_two_threads():
    """Measured on 2 busy cores without the protection: 5-11x slower epochs. A busy process on
    one core makes the spin-wait visible on any machine; the generous ratio absorbs load noise."""
    busy = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        motor_first, torch_first = _train("motor_first"), _train("torch_first")
    finally:
        busy.kill()
        busy.wait()
    assert motor_first["status"]["parked"] == []  # the environment did it
    assert any(p.endswith(GOMP) for p in torch_first["status"]["parked"]), torch_first["status"]
    assert torch_first["status"]["failure"] is None
    ratio = torch_first["epoch_s"] / motor_first["epoch_s"]
    assert ratio < 3, (motor_first, torch_first)
