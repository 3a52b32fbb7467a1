"""The benchmark command runs end to end (the --quick smoke mode CI can afford)."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_quick_backbone_benchmark_runs_every_requested_backbone_in_both_modes():
    r = subprocess.run([sys.executable, "-m", "motor", "bench", "backbones", "--quick", "--no-write",
                        "--backbones", "bpr,lightgcn,vbpr"], capture_output=True, text=True, cwd=ROOT,
                       env={**os.environ, "PYTHONPATH": str(ROOT)}, timeout=1200)
    assert r.returncode == 0, r.stderr[-2000:]
    table = [l for l in r.stdout.splitlines() if l.startswith("| demo |")]
    assert len(table) == 6, r.stdout
    assert not any("failed" in l for l in table), table
    motor_rows = [l for l in table if "| motor |" in l]
    assert all(("wins" in l or "loses" in l) for l in motor_rows)


def test_unknown_backbone_is_a_clear_error():
    r = subprocess.run([sys.executable, "-m", "motor", "bench", "backbones", "--quick", "--no-write",
                        "--backbones", "nope"], capture_output=True, text=True, cwd=ROOT,
                       env={**os.environ, "PYTHONPATH": str(ROOT)}, timeout=300)
    assert r.returncode == 2 and "unknown backbone" in r.stderr


@pytest.mark.slow
def test_quick_features_benchmark_reports_positive_rates_for_both_encoders():
    r = subprocess.run([sys.executable, "-m", "motor", "bench", "features", "--quick", "--no-write"],
                       capture_output=True, text=True, cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)},
                       timeout=600)
    assert r.returncode == 0, r.stderr[-2000:]
    rows = [l.split("|") for l in r.stdout.splitlines() if l.startswith("| text") or l.startswith("| image")]
    assert len(rows) == 2, r.stdout
    assert all(float(cells[-2]) > 0 for cells in rows)  # items per second
    assert [int(cells[2].replace(",", "")) for cells in rows] == [64, 16]
