"""``features`` subcommand: items CSV + pictures -> text.npz / image.npz.

``add_parser(subparsers)`` registers it on the main CLI (which turns MotorError into exit
status 2); ``python -m motor.features.cli ...`` runs it on its own with the same options.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from motor.errors import MotorError
from motor.paths import cache_dir, write_error

HELP = "turn an items CSV (texts) and a folder or zip of pictures into text.npz / image.npz"
EPILOG = (
    "Items CSV: one row per item, an id column (item, item_id, itemID, id or movieId, or --id-col) "
    "and text columns. Pictures are matched by file stem == item id (12.jpg is item 12), or by "
    "--image-col naming each item's file. Results are cached by content in "
    "$MOTOR_CACHE_DIR/features (default ~/.cache/motor-lab/features)."
)


def _add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--items", required=True, metavar="CSV", help="items CSV, one row per item")
    p.add_argument("--text-cols", metavar="COLS", help="comma-separated text columns, e.g. title,description")
    p.add_argument("--text-labels", action="store_true", help='prefix each value with its column name ("title: ...")')
    p.add_argument("--images", metavar="DIR_OR_ZIP", help="folder or .zip of pictures")
    p.add_argument("--image-col", metavar="COL", help="CSV column with each item's picture file name")
    p.add_argument("--id-col", metavar="COL", help="id column (default: the first of item, item_id, itemID, id, movieId)")
    p.add_argument("--out", required=True, metavar="DIR", help="output folder (created if missing)")
    p.add_argument("--batch-size", type=int, metavar="N", help="batch size for both encoders (default 64 texts, 32 pictures)")
    p.add_argument("--max-pictures", type=int, metavar="N", help="most files a pictures folder or zip may hold "
                   "(default 200,000; a bound on untrusted input)")
    p.add_argument("--max-pictures-gb", type=float, metavar="GB", help="most bytes the pictures may unpack to in all "
                   "(default 4; a zip bomb stops here)")
    p.add_argument("--no-cache", action="store_true", help="neither read nor write the feature cache")
    p.add_argument("--cache-dir", metavar="DIR", help="cache folder (default $MOTOR_CACHE_DIR/features or ~/.cache/motor-lab/features)")


def add_parser(subparsers) -> argparse.ArgumentParser:
    """Register ``features`` on the main CLI's subparsers; sets ``func=run``."""
    p = subparsers.add_parser("features", help=HELP, description=HELP + ".", epilog=EPILOG)
    _add_arguments(p)
    p.set_defaults(func=run)
    return p


class _Bars:
    """One tqdm bar per modality, fed by the pipeline's progress(modality, done, total)."""

    def __init__(self):
        self.bars = {}

    def __call__(self, modality: str, done: int, total: int) -> None:
        from tqdm import tqdm

        bar = self.bars.get(modality)
        if bar is None:
            unit = "text" if modality == "text" else "img"
            bar = self.bars[modality] = tqdm(total=total, desc=modality, unit=unit, file=sys.stderr, dynamic_ncols=True)
        bar.update(done - bar.n)
        if done >= total:
            bar.close()  # finished: the next modality's bar starts on a clean line

    def close(self) -> None:
        for bar in self.bars.values():
            bar.close()


def _check_cache_dir(folder: Path, chosen: bool) -> None:
    """Before encoding, try the feature cache for writing: an unwritable one cached nothing without a word, and the
    next run encoded everything again. A --cache-dir the user chose is refused; the default one is noted (the
    features are still built, uncached)."""
    e = write_error(folder)
    if e is not None:
        if chosen:
            raise MotorError(f"cannot write the feature cache in {folder} ({e.strerror or e}); choose a folder you "
                             f"can write to with --cache-dir, or pass --no-cache")
        print(f"note: cannot write the feature cache in {folder} ({e.strerror or e}), so these vectors are not "
              f"cached and a rerun encodes them again; set MOTOR_CACHE_DIR or --cache-dir to a folder you can "
              f"write to, or pass --no-cache", file=sys.stderr)


def run(args: argparse.Namespace) -> int:
    """Build the features; returns 0. Raises MotorError on bad input."""
    from motor.features import pipeline

    if args.batch_size is not None and args.batch_size < 1:
        raise MotorError(f"--batch-size must be at least 1, got {args.batch_size}.")
    for flag, value in (("--max-pictures", args.max_pictures), ("--max-pictures-gb", args.max_pictures_gb)):
        if value is not None and not value > 0:
            raise MotorError(f"{flag} must be above 0, got {value}.")
    if not args.no_cache:
        _check_cache_dir(Path(args.cache_dir) if args.cache_dir else cache_dir("features"), bool(args.cache_dir))
    limits = pipeline.Limits(**({"max_files": args.max_pictures} if args.max_pictures is not None else {}),
                             **({"max_total_bytes": max(1, int(args.max_pictures_gb * 1024**3))}
                                if args.max_pictures_gb is not None else {}))
    sizes = {"batch_size": args.batch_size} if args.batch_size else {}
    text = None
    if args.text_cols:
        text = pipeline.TextFeatures(args.text_cols.split(","), labels=args.text_labels, **sizes)
    image = None
    if args.images is not None or args.image_col is not None:
        image = pipeline.ImageFeatures(args.images, column=args.image_col, **sizes)
    bars = _Bars()
    try:
        report = pipeline.build_features(args.items, args.out, text, image, id_col=args.id_col, progress=bars,
                                         cache=pipeline.CacheSettings(not args.no_cache, args.cache_dir),
                                         limits=limits)
    finally:
        bars.close()
    print(report.summary())
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m motor.features.cli", description=HELP + ".", epilog=EPILOG)
    _add_arguments(parser)
    args = parser.parse_args(argv)
    try:
        return run(args)
    except MotorError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
