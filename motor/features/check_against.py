"""Compare feature vectors with reference ones, item by item (cosine similarity).

Used to verify rebuilt demo features against the shipped ones, and to check that the
encoders here reproduce them (``--reencode-text`` / ``--reencode-images``). Ids are compared
as strings, so an int32 ``movie_id`` matches the unicode ``item_id`` of ``build_features``.
Rows flagged ``missing`` (mean fill-ins) are left out. Exit status 1 if the minimum cosine
is below ``--min-cos``.

    python -m motor.features.check_against OURS.npz REF.npz [--min-cos 0.999]
    python -m motor.features.check_against --reencode-text REF.npz [--limit 1000]
    python -m motor.features.check_against --reencode-images DIR REF.npz [--limit 50]
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from motor.errors import MotorError

ID_KEYS = ("item_id", "movie_id", "item", "id")


@dataclass
class Comparison:
    n_common: int
    n_only_ours: int
    n_only_ref: int
    cos_min: float
    cos_mean: float
    worst: list[tuple[str, float]]  # the lowest few (id, cosine)

    def __str__(self) -> str:
        worst = ", ".join(f"{i}:{c:.4f}" for i, c in self.worst)
        return (
            f"{self.n_common} items compared (only ours {self.n_only_ours}, only reference {self.n_only_ref}): "
            f"cosine min {self.cos_min:.5f} mean {self.cos_mean:.5f}; lowest {worst}"
        )


def load_features(path: str | Path, feat_key: str = "feat") -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """(ids as str array, feat float32, missing or None) from a .npz with an id array and ``feat``."""
    try:
        z = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as e:
        raise MotorError(f"cannot read features {str(path)!r}: {e}") from None
    with z:
        key = next((k for k in ID_KEYS if k in z.files), None)
        if key is None or feat_key not in z.files:
            raise MotorError(f"{str(path)!r} needs an id array ({' or '.join(ID_KEYS)}) and {feat_key!r}; it has {z.files}.")
        ids = z[key].astype(str)
        feat = z[feat_key].astype(np.float32)
        missing = z["missing"].astype(bool) if "missing" in z.files else None
    if feat.ndim != 2 or len(feat) != len(ids):
        raise MotorError(f"{str(path)!r}: {feat_key!r} has shape {feat.shape} for {len(ids)} ids.")
    return ids, feat, missing


def cosine_rows(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Cosine similarity of each row of ``a`` with the same row of ``b``."""
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    na = np.linalg.norm(a, axis=1)
    nb = np.linalg.norm(b, axis=1)
    return (a * b).sum(1) / np.maximum(na * nb, 1e-12)


def compare(ours_ids, ours_feat, ref_ids, ref_feat, ours_missing=None, n_worst: int = 5) -> Comparison:
    """Per-item cosine between two id-keyed feature sets (same dimension)."""
    ours_ids = np.asarray(ours_ids).astype(str)
    ref_ids = np.asarray(ref_ids).astype(str)
    if ours_feat.shape[1] != ref_feat.shape[1]:
        raise MotorError(f"dimensions differ: ours {ours_feat.shape[1]}, reference {ref_feat.shape[1]}.")
    keep = np.ones(len(ours_ids), dtype=bool) if ours_missing is None else ~np.asarray(ours_missing, dtype=bool)
    ref_row = {k: i for i, k in enumerate(ref_ids.tolist())}
    pairs = [(i, ref_row[k]) for i, k in enumerate(ours_ids.tolist()) if keep[i] and k in ref_row]
    if not pairs:
        raise MotorError(f"no item id in common (ours like {ours_ids[:3].tolist()}, reference like {ref_ids[:3].tolist()}).")
    oi, ri = map(list, zip(*pairs))
    cos = cosine_rows(ours_feat[oi], ref_feat[ri])
    order = np.argsort(cos)[:n_worst]
    common = {ours_ids[i] for i in oi}
    return Comparison(
        n_common=len(pairs),
        n_only_ours=int(keep.sum()) - len(pairs),
        n_only_ref=len(ref_ids) - len(common),
        cos_min=float(cos.min()),
        cos_mean=float(cos.mean()),
        worst=[(ours_ids[oi[j]], float(cos[j])) for j in order],
    )


def compare_files(ours: str | Path, ref: str | Path) -> Comparison:
    """Compare two feature .npz files (e.g. a rebuilt ``text.npz`` with a shipped one)."""
    oi, of, om = load_features(ours)
    ri, rf, _ = load_features(ref)
    return compare(oi, of, ri, rf, om)


def reencode_text(ref: str | Path, limit: int | None = 1000, batch_size: int = 64) -> tuple[Comparison, float]:
    """Encode the reference's ``text`` strings again; (comparison, texts per second)."""
    from motor.features.text import TextEncoder, load_text_model

    with np.load(ref, allow_pickle=False) as z:
        if "text" not in z.files:
            raise MotorError(f"{str(ref)!r} has no 'text' array to re-encode; it has {z.files}.")
        texts = z["text"][:limit].tolist()
    ids, feat, _ = load_features(ref)
    load_text_model()  # time the encoding, not the import
    t = time.perf_counter()
    ours = TextEncoder(batch_size).encode(texts)
    rate = len(texts) / (time.perf_counter() - t)
    return compare(ids[: len(texts)], ours, ids, feat), rate


def reencode_images(folder: str | Path, ref: str | Path, limit: int | None = 50, batch_size: int = 32) -> tuple[Comparison, float]:
    """Encode ``<folder>/<id>.<ext>`` for the reference's first ids; (comparison, pictures per second)."""
    from motor.features.image import ImageEncoder, load_image_model

    ids, feat, _ = load_features(ref)
    folder = Path(folder)
    files = {p.stem: p for p in folder.iterdir() if p.is_file()}
    use = [i for i in ids.tolist() if i in files][:limit]
    if not use:
        raise MotorError(f"no file in {str(folder)!r} is named after a reference id (ids like {ids[:3].tolist()}).")
    load_image_model()
    t = time.perf_counter()
    enc = ImageEncoder(batch_size).encode([(lambda p=files[i]: p.read_bytes()) for i in use])
    rate = len(use) / (time.perf_counter() - t)
    if not enc.ok.all():
        raise MotorError(f"{int((~enc.ok).sum())} picture(s) could not be read: {list(enc.errors.items())[:3]}")
    return compare(np.array(use), enc.feat, ids, feat), rate


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m motor.features.check_against", description=__doc__.split("\n\n")[0])
    p.add_argument("files", nargs="*", help="OURS.npz REF.npz, or REF.npz with --reencode-*")
    p.add_argument("--reencode-text", action="store_true", help="encode REF's 'text' strings and compare")
    p.add_argument("--reencode-images", metavar="DIR", help="encode DIR/<id>.jpg for REF's ids and compare")
    p.add_argument("--limit", type=int, help="items to re-encode (default 1000 texts, 50 pictures)")
    p.add_argument("--min-cos", type=float, default=0.999, help="exit 1 if the minimum cosine is below this (default 0.999)")
    args = p.parse_args(argv)
    try:
        if args.reencode_text or args.reencode_images:
            if len(args.files) != 1:
                raise MotorError("give exactly one REF.npz with --reencode-text / --reencode-images.")
            if args.reencode_text:
                cmp, rate = reencode_text(args.files[0], args.limit or 1000)
                print(f"text: {cmp}; {rate:.0f} texts/s")
            else:
                cmp, rate = reencode_images(args.reencode_images, args.files[0], args.limit or 50)
                print(f"image: {cmp}; {rate:.1f} pictures/s")
        else:
            if len(args.files) != 2:
                raise MotorError("give OURS.npz and REF.npz.")
            cmp = compare_files(*args.files)
            print(cmp)
    except MotorError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    return 0 if cmp.cos_min >= args.min_cos else 1


if __name__ == "__main__":
    sys.exit(main())
