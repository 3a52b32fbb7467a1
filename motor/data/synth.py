"""Synthetic catalogues for scale runs: reproducible from a seed, nothing to download.

    python -m motor data synth --users 100000 --items 1000000 --interactions 10000000 \\
        --modalities image:512,text:384 --seed 0 --out data/synth-1m

Writes the simple format (motor/data/simple.py): ``interactions.csv`` (user, item), ``items.csv``
(item, title, cluster), one ``<modality>.npy`` per modality (row r = row r of items.csv) and
``synth.json`` (the settings, for provenance; readers ignore it).

The data is learnable, so a model can beat popularity on it:

- items fall into clusters; each modality's features are the cluster's centre plus noise
  (``noise`` relative to the centre's norm), with its own centres per modality;
- popularity is long-tailed: Zipf over a random order of the items (exponent ``zipf``);
- each user prefers ``user_clusters`` clusters; an interaction comes from one of them with
  probability ``affinity`` (item drawn by popularity within the cluster), else from the whole
  catalogue by popularity; user activity is log-normal.

Every user gets at least ``min_per_user`` draws and every item at least one (drawn by a user who
prefers its cluster), so the files hold exactly ``users`` users and ``items`` items; user-item
pairs are unique. Everything is vectorised numpy and features are written in chunks to a memory
map: 10^6 items and 10^7 interactions take 1.6 GB of memory (see ``synthesize``).
"""

from __future__ import annotations

import json
import math
import re
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd

from motor.config import checked, doc, field_docs, from_dict, to_dict
from motor.errors import MotorError

FEATURE_CHUNK_ROWS = 65_536  # rows of features generated and written at a time (bounds memory)
NOISE_RANK = 64  # dimensions of the feature noise subspace
MAX_DENSITY = 0.5  # unique pairs become slow to draw (and meaningless) beyond this share of users x items
MODALITY_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_-]*")  # a modality's file is <name>.npy


@dataclass
class SynthConfig:
    """A synthetic dataset: sizes, structure and seed."""

    users: int = doc(1000, "users (each appears at least min_per_user times)")
    items: int = doc(2000, "items (each appears at least once)")
    interactions: int = doc(20_000, "unique user-item pairs; at least items + users x min_per_user")
    modalities: dict[str, int] = doc({"image": 512, "text": 384}, "feature dimension per modality")  # noqa: RUF009
    clusters: int = doc(0, "item clusters, 1 to items (0 = automatic: items // 200, kept between 2 and 1000)")
    zipf: float = doc(1.0, "exponent of the Zipf popularity over items (0 = uniform); with every item drawn at "
                           "least once, 1 puts 56-66% of interactions on the top 20% of items at 5 interactions per "
                           "item (measured, 10^3 to 10^6 items; synth.json: top20_share)")
    user_clusters: int = doc(2, "clusters each user prefers")
    affinity: float = doc(0.8, "probability that an interaction comes from one of the user's clusters")
    noise: float = doc(0.5, "feature noise, relative to the norm of a cluster centre")
    min_per_user: int = doc(5, "draws guaranteed per user (duplicates removed, so a few users get fewer)")
    dtype: Literal["float16", "float32"] = doc("float16", "feature file dtype (float16 halves the disk size; "
                                                          "readers load float32)")
    seed: int = doc(0, "seed of everything: same settings and seed give the same files")

    def validate(self):
        if self.users < 1 or self.items < 2:
            raise MotorError(f"users must be at least 1 and items at least 2, got {self.users} and {self.items}")
        if self.min_per_user < 1:
            raise MotorError(f"min_per_user must be at least 1, got {self.min_per_user}")
        least = self.items + self.users * self.min_per_user
        if self.interactions < least:
            raise MotorError(f"interactions must be at least items + users x min_per_user = {least:,} "
                             f"(got {self.interactions:,}); raise --interactions or lower --users/--items")
        if self.interactions > MAX_DENSITY * self.users * self.items:
            raise MotorError(f"interactions ({self.interactions:,}) must be at most {MAX_DENSITY:g} x users x items "
                             f"= {int(MAX_DENSITY * self.users * self.items):,}; raise --users or --items")
        if not self.modalities:
            raise MotorError("at least one modality is needed, for example image:512")
        for name, dim in self.modalities.items():
            if not MODALITY_NAME.fullmatch(name) or name in ("interactions", "items"):
                raise MotorError(f"modality name {name!r} must start with a letter and hold only letters, digits, "
                                 f"_ and - (it becomes the file {name}.npy)")
            if not 1 <= dim <= 65_536:
                raise MotorError(f"modality {name!r}: dimension must be between 1 and 65536, got {dim}")
        if self.clusters < 0 or self.clusters > self.items:
            raise MotorError(f"clusters must be between 0 (automatic) and items ({self.items}), got {self.clusters}")
        if not all(x >= 0 and math.isfinite(x) for x in (self.zipf, self.noise)):  # NaN fails >= too
            raise MotorError(f"zipf and noise must be finite and at least 0, got {self.zipf} and {self.noise}")
        if not 0 <= self.affinity <= 1:
            raise MotorError(f"affinity must be between 0 and 1, got {self.affinity}")
        if self.user_clusters < 1:
            raise MotorError(f"user_clusters must be at least 1, got {self.user_clusters}")
        if not 0 <= self.seed < 2**32:  # numpy's seeds are 32-bit
            raise MotorError(f"seed must be between 0 and 2**32 - 1 = 4294967295, got {self.seed}; try 0")

    @property
    def n_clusters(self) -> int:
        return self.clusters or int(np.clip(self.items // 200, 2, 1000))


def parse_modalities(text: str) -> dict[str, int]:
    """``image:512,text:384`` -> {"image": 512, "text": 384}."""
    out: dict[str, int] = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        name, _, dim = part.partition(":")
        if not dim.isdigit():
            raise MotorError(f"--modalities {text!r}: expected NAME:DIM[,NAME:DIM...], for example image:512,text:384")
        if name in out:
            raise MotorError(f"--modalities {text!r}: {name!r} is listed twice")
        out[name] = int(dim)
    return out


class _Catalogue:
    """Cluster membership and popularity of items, and sampling of items for users."""

    def __init__(self, cfg: SynthConfig, rng: np.random.Generator):
        n, c = cfg.items, cfg.n_clusters
        self.n_clusters = c
        self.cluster = rng.integers(0, c, n)
        self.cluster[rng.permutation(n)[:c]] = np.arange(c)  # no empty cluster
        rank = rng.permutation(n) + 1
        weight = rank.astype(np.float64) ** -cfg.zipf
        # Items sorted by cluster; cumulative weights let one searchsorted sample within any cluster.
        self.order = np.argsort(self.cluster, kind="stable")
        self.cum = np.cumsum(weight[self.order])
        sizes = np.bincount(self.cluster, minlength=c)
        self.end = np.cumsum(sizes)
        self.start = self.end - sizes

    def sample(self, clusters: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """One item per entry of ``clusters``, by popularity within that cluster."""
        lo = np.where(self.start[clusters] > 0, self.cum[self.start[clusters] - 1], 0.0)
        return self._draw(lo, self.cum[self.end[clusters] - 1], len(clusters), rng)

    def sample_global(self, size: int, rng: np.random.Generator) -> np.ndarray:
        return self._draw(0.0, self.cum[-1], size, rng)

    def _draw(self, lo, hi, size, rng):
        u = lo + (hi - lo) * rng.random(size)
        pos = np.minimum(np.searchsorted(self.cum, u, side="right"), len(self.cum) - 1)
        return self.order[pos]


def _draw_pairs(users: np.ndarray, cat: _Catalogue, prefs: np.ndarray, cfg: SynthConfig,
                rng: np.random.Generator) -> np.ndarray:
    """Items for these users: from one of their clusters with probability ``affinity``."""
    chosen = prefs[users, rng.integers(0, prefs.shape[1], len(users))]
    items = cat.sample(chosen, rng)
    stray = rng.random(len(users)) >= cfg.affinity
    items[stray] = cat.sample_global(int(stray.sum()), rng)
    return users.astype(np.int64) * cfg.items + items


def _sorted_unique(x: np.ndarray) -> np.ndarray:
    """np.unique by sorting (numpy 2's hash-based unique took 20 s on 10^6 keys here)."""
    x = np.sort(x)
    return x[np.concatenate(([True], x[1:] != x[:-1]))]


def interactions(cfg: SynthConfig, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, _Catalogue]:
    """(user, item) index arrays of exactly ``cfg.interactions`` unique pairs, and the catalogue."""
    cat = _Catalogue(cfg, rng)
    prefs = rng.integers(0, cat.n_clusters, (cfg.users, cfg.user_clusters))
    # Every item once, drawn by a user whose first cluster is the item's (any user if none is).
    by_first = np.argsort(prefs[:, 0], kind="stable")
    fans = np.bincount(prefs[:, 0], minlength=cat.n_clusters)
    fans_start = np.cumsum(fans) - fans
    c = cat.cluster
    pick = fans_start[c] + (rng.random(cfg.items) * np.maximum(fans[c], 1)).astype(np.int64)
    item_users = np.where(fans[c] > 0, by_first[np.minimum(pick, cfg.users - 1)], rng.integers(0, cfg.users, cfg.items))
    must = [item_users.astype(np.int64) * cfg.items + np.arange(cfg.items)]
    # Every user min_per_user times.
    must.append(_draw_pairs(np.repeat(np.arange(cfg.users), cfg.min_per_user), cat, prefs, cfg, rng))
    must_keys = _sorted_unique(np.concatenate(must))
    # The rest by user activity (log-normal), until there are enough unique pairs.
    activity_cum = np.cumsum(rng.lognormal(0.0, 1.0, cfg.users))
    need = cfg.interactions - len(must_keys)
    taken, parts, n_extra = must_keys, [], 0
    for _ in range(50):
        if n_extra >= need:
            break
        size = int((need - n_extra) * 1.2) + 64
        users = np.minimum(np.searchsorted(activity_cum, rng.random(size) * activity_cum[-1], side="right"),
                           cfg.users - 1)
        new = _sorted_unique(_draw_pairs(users, cat, prefs, cfg, rng))
        new = new[taken[np.minimum(np.searchsorted(taken, new), len(taken) - 1)] != new]
        parts.append(new)
        n_extra += len(new)
        taken = np.sort(np.concatenate([taken, new]), kind="stable")  # merges two sorted runs
    if n_extra < need:
        raise MotorError(f"could not draw {cfg.interactions:,} unique pairs; the popularity is too concentrated "
                         f"for this density: lower --interactions or --zipf")
    extra = np.concatenate(parts)
    extra = extra[rng.choice(len(extra), need, replace=False)]
    keys = np.concatenate([must_keys, extra])
    keys = keys[rng.permutation(len(keys))]
    return keys // cfg.items, keys % cfg.items, cat


def _features(path: Path, cat: _Catalogue, dim: int, cfg: SynthConfig, rng: np.random.Generator) -> None:
    """Cluster centre + noise, written in chunks to a memory-mapped .npy.

    The noise lies in a random subspace of NOISE_RANK dimensions (real embeddings have a fast
    decaying spectrum too); drawing it there is 8x fewer random numbers at 512 dimensions.
    """
    rank = min(dim, NOISE_RANK)
    centres = rng.standard_normal((cat.n_clusters, dim), dtype=np.float32) / np.float32(np.sqrt(dim))
    basis = rng.standard_normal((rank, dim), dtype=np.float32) * np.float32(cfg.noise / np.sqrt(dim * rank))
    out = np.lib.format.open_memmap(path, mode="w+", dtype=np.dtype(cfg.dtype), shape=(cfg.items, dim))
    for a in range(0, cfg.items, FEATURE_CHUNK_ROWS):
        b = min(a + FEATURE_CHUNK_ROWS, cfg.items)
        chunk = rng.standard_normal((b - a, rank), dtype=np.float32) @ basis
        chunk += centres[cat.cluster[a:b]]
        out[a:b] = chunk
    out.flush()
    del out


def _remove_earlier_output(out: Path) -> None:
    """Delete the files an earlier synth run wrote into ``out``, as its synth.json lists them (the two CSVs,
    one .npy per modality, synth.json itself), so a new run with other modalities leaves none of the old
    ones behind. Without a readable synth.json nothing is known to be ours and nothing is deleted."""
    try:
        modalities = json.loads((out / "synth.json").read_text())["config"]["modalities"]
    except (OSError, ValueError, KeyError, TypeError):
        return
    if not isinstance(modalities, dict):
        return
    features = [f"{m}.npy" for m in modalities if isinstance(m, str) and MODALITY_NAME.fullmatch(m)]
    for name in ("interactions.csv", "items.csv", *features, "synth.json"):
        (out / name).unlink(missing_ok=True)


def synthesize(cfg: SynthConfig | dict, out: Path | str, overwrite: bool = False,
               step: Callable[[str], None] | None = None) -> dict:
    """Write the dataset to ``out``; returns a summary with the seconds each part took. ``step(part)`` is called as
    each of its ``2 + len(cfg.modalities)`` parts begins (pairs, CSV files, one per feature file).

    Measured with image:512,text:384, one thread, on a 2-core machine under load (load average 8):
    10^5 items, 5x10^4 users, 10^6 interactions: 6.8 s, 0.45 GB peak memory; 10^6 items, 2x10^5
    users, 10^7 interactions: 110 s (36 s pairs, 27 s CSV, 48 s features), 1.6 GB peak, 1.9 GB on
    disk (float16).
    """
    # before the folder is made: a bad setting leaves nothing behind. Checked as a config file's (a mapping, or a
    # SynthConfig built in Python: dtype='int8' wrote features cast to int8, mostly zeros, and users='50' was a
    # TypeError)
    cfg = checked(SynthConfig, cfg, "synth")
    out = Path(out).expanduser()
    if out.exists() and not out.is_dir():  # was NotADirectoryError from iterdir
        raise MotorError(f"{out} is a file, not a folder; --out names the folder the dataset is written to, e.g. "
                         f"--out data/synth")
    if out.exists() and any(out.iterdir()) and not overwrite:
        raise MotorError(f"{out} already exists and is not empty; choose a new --out folder or pass --overwrite")
    if overwrite:
        _remove_earlier_output(out)
    out.mkdir(parents=True, exist_ok=True)
    try:
        return _write(cfg, out, step or (lambda part: None))
    except BaseException:  # Ctrl-C, a full disk: no half-written dataset that reads as a whole one is left
        for name in ("interactions.csv", "items.csv", *(f"{m}.npy" for m in cfg.modalities), "synth.json"):
            (out / name).unlink(missing_ok=True)
        raise


def _write(cfg: SynthConfig, out: Path, step: Callable[[str], None]) -> dict:
    """The files of ``synthesize``, synth.json last; returns its summary."""
    seeds = np.random.SeedSequence(cfg.seed).spawn(1 + len(cfg.modalities))
    times = {}
    step("pairs")
    t = time.perf_counter()
    user, item, cat = interactions(cfg, np.random.default_rng(seeds[0]))
    times["interactions_s"] = time.perf_counter() - t
    step("csv")
    t = time.perf_counter()
    pd.DataFrame({"user": user, "item": item}).to_csv(out / "interactions.csv", index=False)
    ids = np.arange(cfg.items)
    pd.DataFrame({"item": ids, "title": [f"item {i} (cluster {c})" for i, c in zip(ids, cat.cluster)],
                  "cluster": cat.cluster}).to_csv(out / "items.csv", index=False)
    times["csv_s"] = time.perf_counter() - t
    t = time.perf_counter()
    for (name, dim), seq in zip(cfg.modalities.items(), seeds[1:]):
        step(f"{name}.npy")
        _features(out / f"{name}.npy", cat, dim, cfg, np.random.default_rng(seq))
    times["features_s"] = time.perf_counter() - t
    counts = np.bincount(item, minlength=cfg.items)
    top = np.sort(counts)[::-1][: max(1, cfg.items // 5)].sum() / len(item)
    summary = {"config": to_dict(cfg), "clusters": cat.n_clusters,
               "users": int((np.bincount(user, minlength=cfg.users) > 0).sum()),
               "items": int((counts > 0).sum()), "interactions": len(item),
               "top20_share": round(float(top), 4), **{k: round(v, 2) for k, v in times.items()}}
    (out / "synth.json").write_text(json.dumps(summary, indent=2))
    return summary


def add_parser(data_parser) -> None:
    """``python -m motor data synth ...`` (called by the CLI on its ``data`` parser)."""
    sub = data_parser.add_subparsers(dest="data_command", parser_class=type(data_parser),
                                     metavar="{synth}", help="synth: write a synthetic dataset")
    s = sub.add_parser("synth", help="write a synthetic dataset (clustered features, long-tailed popularity)",
                       description=__doc__.split("\n\n")[0])
    defaults, helps = SynthConfig(), field_docs(SynthConfig)

    def option(name: str, **kw):
        s.add_argument(f"--{name.replace('_', '-')}", dest=name, default=getattr(defaults, name),
                       help=helps[name].replace("%", "%%") + " (default %(default)s)", **kw)

    for name in ("users", "items", "interactions"):
        option(name, type=int)
    s.add_argument("--modalities", default=",".join(f"{k}:{v}" for k, v in defaults.modalities.items()),
                   help="NAME:DIM[,NAME:DIM...]: one feature file NAME.npy of DIM columns each (default %(default)s)")
    option("clusters", type=int)
    for name in ("zipf", "affinity", "noise"):
        option(name, type=float)
    option("user_clusters", type=int)
    option("min_per_user", type=int)
    option("dtype", choices=["float16", "float32"])
    option("seed", type=int)
    s.add_argument("--out", required=True, help="folder to write (must be new or empty)")
    s.add_argument("--overwrite", action="store_true", help="write into a non-empty folder, first deleting the "
                   "files an earlier synth run wrote there (as its synth.json lists them; other files stay)")
    s.set_defaults(func=cmd_synth)


def cmd_synth(a) -> int:
    cfg = from_dict(SynthConfig, {"users": a.users, "items": a.items, "interactions": a.interactions,
                                  "modalities": parse_modalities(a.modalities), "clusters": a.clusters,
                                  "zipf": a.zipf, "affinity": a.affinity, "noise": a.noise,
                                  "user_clusters": a.user_clusters, "min_per_user": a.min_per_user, "dtype": a.dtype,
                                  "seed": a.seed})
    from tqdm import tqdm

    bars = []

    def step(part: str) -> None:  # 10^6 items take minutes: say which part is being written
        if not bars:  # opened at the first part: a refused --out is its one error line, with no bar above it
            bars.append(tqdm(total=2 + len(cfg.modalities), unit="part", file=sys.stderr, leave=False))
        else:  # the part before it is done
            bars[0].update()
        bars[0].set_description(part)

    try:
        s = synthesize(cfg, a.out, overwrite=a.overwrite, step=step)
    finally:
        for bar in bars:
            bar.close()
    print(f"wrote {a.out}: {s['users']:,} users, {s['items']:,} items, {s['interactions']:,} interactions, "
          f"{s['clusters']} clusters, top 20% of items hold {s['top20_share']:.0%} of interactions "
          f"({s['interactions_s'] + s['csv_s'] + s['features_s']:.1f} s)")
    print(f"train on it: python -m motor train --data {a.out} --items motor")
    return 0
