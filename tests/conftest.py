"""Shared fixtures: tiny datasets written by the tests themselves, in both on-disk formats."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from motor import paths  # importing motor first sets the OpenMP policy before torch/faiss

ROOT = Path(__file__).resolve().parents[1]

# Disk caches (features, graphs, ml100k) go to a per-session folder, never to the real ~/.cache:
# set at import, before any test or fixture reads it, and inherited by CLI subprocesses. Once per
# session: tests also import this file again as ``tests.conftest``, which must not start a new folder.
# No test needs MovieLens-100K today; one that does should pass root=USER_CACHE to
# motor.data.ml100k.ensure_ml100k, so the download (PyPI) is reused instead of fetched per session.
if "MOTOR_TEST_CACHE" not in os.environ:
    os.environ["MOTOR_USER_CACHE"] = str(paths.cache_root())
    os.environ["MOTOR_TEST_CACHE"] = os.environ[paths.ENV_VAR] = tempfile.mkdtemp(prefix="motor-test-cache-")
USER_CACHE = Path(os.environ["MOTOR_USER_CACHE"])
TEST_CACHE = os.environ["MOTOR_TEST_CACHE"]


def pytest_configure(config):
    config.addinivalue_line("markers", "slow: takes more than ~10 s; still run in CI")
    config.addinivalue_line("markers", "browser: drives a real chromium through Playwright")


def pytest_unconfigure(config):
    shutil.rmtree(TEST_CACHE, ignore_errors=True)


def write_simple(folder: Path, n_users=20, n_items=30, per_user=8, dims=(6, 4), seed=0, string_ids=True,
                 with_items=True, with_time=True) -> Path:
    """A small dataset in motor-lab's simple format: interactions.csv, items.csv, image.npz, text.npz."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    rows = []
    for u in range(n_users):
        items = rng.choice(n_items, per_user, replace=False)
        for t, i in enumerate(items):
            rows.append((f"u{u}" if string_ids else u, f"m{i}" if string_ids else i, 4.0, 1000 + 10 * u + t))
    df = pd.DataFrame(rows, columns=["user", "item", "rating", "timestamp"])
    if not with_time:
        df = df.drop(columns=["timestamp"])
    df.to_csv(folder / "interactions.csv", index=False)
    ids = np.array([f"m{i}" if string_ids else str(i) for i in range(n_items)])
    if with_items:
        pd.DataFrame({"item": ids, "title": [f"Movie {i}" for i in range(n_items)],
                      "genres": ["Drama" if i % 2 else "Comedy" for i in range(n_items)]}).to_csv(
            folder / "items.csv", index=False)
    for name, d in zip(("image", "text"), dims):
        np.savez(folder / f"{name}.npz", item_id=ids, feat=rng.normal(size=(n_items, d)).astype(np.float32))
    return folder


def write_mmrec(folder: Path, n_users=20, n_items=30, per_user=8, dims=(6, 4), seed=0, with_label=True) -> Path:
    """A small MMRec folder: tiny.inter (TSV with x_label) and image_feat.npy / text_feat.npy."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    rows = []
    for u in range(n_users):
        items = rng.choice(n_items, per_user, replace=False)
        labels = [0] * (per_user - 2) + [1, 2]
        rows += [(u, int(i), 5, 100 + t, lab) for t, (i, lab) in enumerate(zip(items, labels))]
    df = pd.DataFrame(rows, columns=["userID", "itemID", "rating", "timestamp", "x_label"])
    if not with_label:
        df = df.drop(columns=["x_label"])
    df.to_csv(folder / "tiny.inter", sep="\t", index=False)
    n = int(df["itemID"].max()) + 1
    for name, d in zip(("image", "text"), dims):
        np.save(folder / f"{name}_feat.npy", rng.normal(size=(n, d)).astype(np.float32))
    return folder


@pytest.fixture
def simple_dir(tmp_path) -> Path:
    return write_simple(tmp_path / "simple")


@pytest.fixture
def mmrec_dir(tmp_path) -> Path:
    return write_mmrec(tmp_path / "mmrec")


@pytest.fixture(scope="session")
def demo():
    from motor.data.load import load_dataset

    return load_dataset("demo")


# The tiny synthetic datasets of the backbone tests (tests/backbone_helpers.py), one per test module.
@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    from tests.backbone_helpers import tiny_dataset

    return tiny_dataset(tmp_path_factory)


@pytest.fixture(scope="module")
def text_only(tmp_path_factory):
    from tests.backbone_helpers import text_only_dataset

    return text_only_dataset(tmp_path_factory)
