"""One entry point for every dataset source: ``demo``, ``demo-longtail``, ``ml100k``, an MMRec
folder, or a simple folder."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from motor.config import doc, from_dict, to_dict
from motor.data.dataset import Dataset
from motor.data.files import miscased_files
from motor.data.filters import kcore_filter
from motor.data.hints import CLI_DATA_HINTS, DataHints
from motor.data.mmrec import read_mmrec
from motor.data.simple import INTERACTION_FILES, ITEM_FILES, find_interactions_file, read_simple
from motor.errors import MotorError

ASSETS = Path(__file__).resolve().parents[2] / "assets"
DEMO_DIR = ASSETS / "demo"
LONGTAIL_DIR = ASSETS / "demo-longtail"
BUILT_IN = ("demo", "demo-longtail", "ml100k")  # sources named rather than given as a folder
DATA_SUFFIXES = (".csv", ".tsv", ".gz", ".inter", ".npy", ".npz")  # the files a dataset folder is read from
SOURCES_HINT = "pass one of " + ", ".join(repr(b) for b in BUILT_IN) + " or a dataset folder"


@dataclass
class DataConfig:
    """How a dataset is read and cleaned before it is split."""

    data: str = doc("demo", "'demo' (bundled MovieLens sample), 'demo-longtail' (all of MovieLens latest-small, "
                            "posters for a third of the movies, the rest marked missing), 'ml100k' (MovieLens-100K, "
                            "fetched at run time) or a folder: MMRec (<name>.inter + *_feat.npy) or simple (interactions.csv, "
                            "items.csv, <modality>.npz)")
    kcore: int = doc(0, "iterative k-core: drop users and items with fewer than k interactions until none "
                        "remain (0 = off)")
    duplicates: Literal["error", "keep_last"] = doc("error", "repeated user-item pairs: refuse, or keep the "
                                                               "latest (by timestamp when present)")
    missing_features: Literal["error", "fill_mean", "fill_zero"] = doc(
        "error", "items with interactions but no feature row: refuse, or fill with the modality mean or zeros; "
                 "filled rows are marked missing (Modality.present), and MOTOR gives them a 'missing' token")

    def validate(self):
        """A source is named and kcore is 0 (off) or a positive count."""
        if not self.data.strip():
            raise MotorError(f"data must name a source: {SOURCES_HINT}")
        if self.kcore < 0:
            raise MotorError(f"kcore must be 0 (off) or a positive count, got {self.kcore}")


def load_dataset(cfg: DataConfig | str | os.PathLike, hints: DataHints = CLI_DATA_HINTS) -> Dataset:
    """Read, validate and (optionally) k-core filter a dataset: a source name, a folder (str or Path) or a DataConfig.
    ``hints``: how a message that asks for another ``duplicates`` or ``missing_features`` names it (the app's
    controls are not the CLI's flags)."""
    if isinstance(cfg, (str, os.PathLike)):
        cfg = DataConfig(data=os.fspath(cfg))
    elif not isinstance(cfg, DataConfig):
        raise MotorError(f"load_dataset takes a source name or folder (text or a Path) or a DataConfig, got "
                         f"{type(cfg).__name__}; {SOURCES_HINT}")
    cfg = from_dict(DataConfig, to_dict(cfg))  # checked as a config file's would be (DataConfig(kcore=-1) from Python)
    if cfg.data == "demo":
        ds = read_simple(DEMO_DIR, name="demo")
    elif cfg.data == "demo-longtail":
        # Two thirds of the movies have no poster: zeros plus the missing mask, never a made-up mean poster.
        ds = read_simple(LONGTAIL_DIR, name="demo-longtail", duplicates=cfg.duplicates, missing_features="fill_zero")
    elif cfg.data == "ml100k":
        from motor.data.ml100k import ensure_ml100k

        ds = read_simple(ensure_ml100k(), name="ml100k")
    else:
        path = Path(cfg.data).expanduser()
        if not path.exists():
            raise MotorError(f"{cfg.data}: no such file or folder; {SOURCES_HINT}")
        miscased = miscased_files(path, INTERACTION_FILES + ITEM_FILES, DATA_SUFFIXES) if path.is_dir() else None
        if miscased:
            raise MotorError(f"{cfg.data}: {miscased}")
        if path.is_dir() and find_interactions_file(path) is None and any(path.glob("*.inter")):
            ds = read_mmrec(path)
        elif path.suffix == ".inter":
            ds = read_mmrec(path)
        elif path.is_dir():
            ds = read_simple(path, duplicates=cfg.duplicates, missing_features=cfg.missing_features, hints=hints)
        else:
            raise MotorError(f"{cfg.data}: expected a dataset folder (or an MMRec .inter file), got a file")
    if cfg.kcore:
        ds = kcore_filter(ds, cfg.kcore)
    return ds
