"""Build the bundled demo dataset (assets/demo) from MovieLens latest-small and shipped features.

The demo is MovieLens latest-small restricted to movies that have both a poster feature
(EfficientNet-Lite0) and a text feature (MiniLM), then 5-core filtered. It is written in
motor-lab's simple folder format, so loading it exercises the same reader as user data.
Posters themselves are never copied: only derived feature vectors (fp16) are stored.

    python scripts/build_demo.py --movielens ../shared/data/ml-latest-small \
        --image-features ../shared/data/features/ml1m_posters_effnetlite0_1280.npz \
        --text-features ../shared/data/features/mlls_text_minilm384.npz --out assets/demo

With ``--posters DIR`` the features are also rebuilt from the raw inputs (the posters and the
``text`` column of items.csv) through motor-lab's own pipeline (``motor.features``, the same
code as ``python -m motor features``), timed, and compared with the shipped vectors (cosine
similarity per item). ``--use-rebuilt`` then ships the rebuilt vectors instead.

``--longtail`` builds ``assets/demo-longtail`` instead: the *whole* MovieLens latest-small (610
users, 9,724 rated movies, 100,836 ratings, no filtering; two thirds of the movies have at most
5 ratings), MiniLM text for every movie and poster features for the 2,943 movies that have a
poster. ``image.npz`` holds rows for those movies only; the loader marks the others as missing
(``Modality.present``) and fills them with zeros. To fit the 12 MB budget the 1280-d poster
features are projected on their top ``--image-dims`` right singular vectors (uncentred, so
cosines are kept: ``x -> x V``) and stored as float16; the interactions are gzipped.

    python scripts/build_demo.py --longtail --movielens ../shared/data/ml-latest-small \
        --image-features ../shared/data/features/ml1m_posters_effnetlite0_1280.npz \
        --text-features ../shared/data/features/mlls_text_minilm384.npz --out assets/demo-longtail
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import motor  # noqa: E402,F401  (OpenMP policy before torch/faiss)
from motor.data.filters import kcore_mask  # noqa: E402

NOTICE = """# Notice: motor-lab demo dataset

Built by `scripts/build_demo.py` from:

* **MovieLens latest-small** (September 2018 release), F. Maxwell Harper and Joseph A. Konstan.
  2015. The MovieLens Datasets: History and Context. ACM Transactions on Interactive Intelligent
  Systems (TiiS) 5, 4: 19:1-19:19. https://doi.org/10.1145/2827872. Redistributed, transformed
  (filtered to movies with features, 5-core), under the GroupLens terms in `LICENSE-MovieLens.txt`:
  research use only, no endorsement by the University of Minnesota or GroupLens, non-commercial.
* **image.npz**: EfficientNet-Lite0 (ImageNet) global-average-pooled 1280-d features of movie
  posters. **The posters are not included** and are not redistributed: they are the studios'
  copyrighted artwork. Only these derived feature vectors (float16) are shipped.
* **text.npz**: all-MiniLM-L6-v2 384-d sentence embeddings (L2-normalised, float16) of the
  `text` column of `items.csv` (title, year, genres and up to 20 user tags).

Statistics: {users} users, {items} movies, {inter} ratings (every rating counts as an implicit
interaction), each user and movie with at least {k} interactions.
"""


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter,
                                allow_abbrev=False)
    p.add_argument("--movielens", type=Path, required=True, help="folder with ratings.csv, movies.csv, links.csv, README.txt")
    p.add_argument("--image-features", type=Path, required=True, help="npz with movie_id and feat (posters)")
    p.add_argument("--text-features", type=Path, required=True, help="npz with movie_id, feat and text")
    p.add_argument("--out", type=Path, default=Path("assets/demo"))
    p.add_argument("--kcore", type=int, default=5)
    p.add_argument("--posters", type=Path, help="folder of <movieId>.jpg posters: rebuild the features from raw "
                                                "content and compare them with the shipped ones")
    p.add_argument("--use-rebuilt", action="store_true", help="with --posters: ship the rebuilt features")
    p.add_argument("--longtail", action="store_true", help="build demo-longtail: every rated movie, posters where "
                                                           "available (see the module docstring)")
    p.add_argument("--image-dims", type=int, default=256, help="--longtail: poster feature dimensions kept (uncentred "
                                                               "SVD of the 1280-d features; 0 = all)")
    a = p.parse_args(argv)
    if a.longtail:
        return build_longtail(a)

    ratings = pd.read_csv(a.movielens / "ratings.csv")
    movies = pd.read_csv(a.movielens / "movies.csv")
    links = pd.read_csv(a.movielens / "links.csv", dtype={"imdbId": str, "tmdbId": "Int64"})
    with np.load(a.image_features, allow_pickle=False) as z:
        img_ids, img = z["movie_id"].astype(np.int64), z["feat"]
    with np.load(a.text_features, allow_pickle=False) as z:
        txt_ids, txt, txt_text = z["movie_id"].astype(np.int64), z["feat"], z["text"]

    have = np.intersect1d(img_ids, txt_ids)
    r = ratings[ratings["movieId"].isin(have)].reset_index(drop=True)
    u = pd.factorize(r["userId"])[0]
    i = pd.factorize(r["movieId"])[0]
    r = r[kcore_mask(u, i, a.kcore)].sort_values(["userId", "timestamp"], kind="stable")
    keep_items = np.sort(r["movieId"].unique())

    a.out.mkdir(parents=True, exist_ok=True)
    r.rename(columns={"userId": "user", "movieId": "item"}).to_csv(a.out / "interactions.csv", index=False)

    meta = movies[movies["movieId"].isin(keep_items)].merge(links, on="movieId", how="left")
    meta["year"] = meta["title"].str.extract(r"\((\d{4})\)\s*$")[0]
    text_of = dict(zip(txt_ids.tolist(), txt_text.tolist()))
    meta["text"] = meta["movieId"].map(text_of)
    meta = meta.rename(columns={"movieId": "item", "imdbId": "imdb_id", "tmdbId": "tmdb_id"})
    meta["genres"] = meta["genres"].str.replace("|", ", ", regex=False)
    meta = meta[["item", "title", "year", "genres", "imdb_id", "tmdb_id", "text"]].sort_values("item")
    meta.to_csv(a.out / "items.csv", index=False)

    for name, ids, feat in (("image", img_ids, img), ("text", txt_ids, txt)):
        pos = pd.Index(ids).get_indexer(keep_items)
        np.savez_compressed(a.out / f"{name}.npz", item_id=keep_items.astype(str),
                            feat=feat[pos].astype(np.float16))

    if a.posters is not None:
        rebuild_from_raw(a.out, a.posters, a.use_rebuilt)

    shutil.copyfile(a.movielens / "README.txt", a.out / "LICENSE-MovieLens.txt")
    (a.out / "NOTICE.md").write_text(NOTICE.format(users=r["userId"].nunique(), items=len(keep_items),
                                                  inter=len(r), k=a.kcore))
    size = sum(f.stat().st_size for f in a.out.iterdir()) / 1e6
    print(f"wrote {a.out}: {r['userId'].nunique()} users, {len(keep_items)} items, {len(r)} interactions, {size:.1f} MB")
    return 0


NOTICE_LONGTAIL = """# Notice: motor-lab long-tail demo dataset (demo-longtail)

Built by `scripts/build_demo.py --longtail` from:

* **MovieLens latest-small** (September 2018 release), F. Maxwell Harper and Joseph A. Konstan.
  2015. The MovieLens Datasets: History and Context. ACM Transactions on Interactive Intelligent
  Systems (TiiS) 5, 4: 19:1-19:19. https://doi.org/10.1145/2827872. Redistributed, transformed
  (ratings as implicit interactions, gzipped; movie metadata), under the GroupLens terms in
  `LICENSE-MovieLens.txt`: research use only, no endorsement by the University of Minnesota or
  GroupLens, non-commercial.
* **image.npz**: EfficientNet-Lite0 (ImageNet) global-average-pooled 1280-d features of movie
  posters, projected on their top {image_dims} right singular vectors (uncentred; {energy:.1%} of the
  squared norm kept) and stored as float16, for the {n_posters} movies that have a poster in the
  source collection. **The posters are not included** and are not redistributed: they are the studios'
  copyrighted artwork. The other {n_missing} movies have no image row: the loader marks them as
  missing (`Modality.present`), never as an average poster.
* **text.npz**: all-MiniLM-L6-v2 384-d sentence embeddings (L2-normalised, float16) of the
  `text` column of `items.csv` (title, year, genres and up to 20 user tags), for every movie.

Statistics: {users} users, {items} movies, {inter} ratings (every rating counts as an implicit
interaction); no k-core filter, so {tail:.0%} of the movies have at most 5 ratings.
"""


def uncentred_projection(x: np.ndarray, d: int) -> tuple[np.ndarray, float]:
    """Top-``d`` right singular vectors [D, d] of ``x`` (not centred: ``x V`` keeps norms and cosines
    as well as a rank-d map can) and the share of the squared norm they keep."""
    x = x.astype(np.float64)
    evals, evecs = np.linalg.eigh(x.T @ x)
    evals, evecs = evals[::-1], evecs[:, ::-1][:, :d]
    evecs = evecs * np.sign(evecs[np.abs(evecs).argmax(0), np.arange(d)])  # fixed signs: reproducible
    return evecs.astype(np.float32), float(evals[:d].sum() / evals.sum())


def build_longtail(a) -> int:
    ratings = pd.read_csv(a.movielens / "ratings.csv")
    movies = pd.read_csv(a.movielens / "movies.csv")
    links = pd.read_csv(a.movielens / "links.csv", dtype={"imdbId": str, "tmdbId": "Int64"})
    with np.load(a.image_features, allow_pickle=False) as z:
        img_ids, img = z["movie_id"].astype(np.int64), z["feat"].astype(np.float32)
    with np.load(a.text_features, allow_pickle=False) as z:
        txt_ids, txt, txt_text = z["movie_id"].astype(np.int64), z["feat"], z["text"]

    r = ratings.sort_values(["userId", "timestamp"], kind="stable").reset_index(drop=True)
    items = np.sort(r["movieId"].unique())
    no_text = items[~np.isin(items, txt_ids)]
    if len(no_text):
        raise SystemExit(f"{len(no_text)} rated movies have no text feature (e.g. {no_text[:5]}); "
                         f"the long-tail demo needs text for every movie")
    a.out.mkdir(parents=True, exist_ok=True)
    r.rename(columns={"userId": "user", "movieId": "item"}).to_csv(a.out / "interactions.csv.gz", index=False,
                                                                   compression={"method": "gzip", "mtime": 0})

    meta = movies[movies["movieId"].isin(items)].merge(links, on="movieId", how="left")
    meta["year"] = meta["title"].str.extract(r"\((\d{4})\)\s*$")[0]
    meta["text"] = meta["movieId"].map(dict(zip(txt_ids.tolist(), txt_text.tolist())))
    meta["has_poster"] = meta["movieId"].isin(img_ids).astype(int)
    meta = meta.rename(columns={"movieId": "item", "imdbId": "imdb_id", "tmdbId": "tmdb_id"})
    meta["genres"] = meta["genres"].str.replace("|", ", ", regex=False)
    meta = meta[["item", "title", "year", "genres", "imdb_id", "tmdb_id", "has_poster", "text"]].sort_values("item")
    meta.to_csv(a.out / "items.csv", index=False)

    pos = pd.Index(txt_ids).get_indexer(items)
    np.savez_compressed(a.out / "text.npz", item_id=items.astype(str), feat=txt[pos].astype(np.float16))
    with_poster = items[np.isin(items, img_ids)]
    feat = img[pd.Index(img_ids).get_indexer(with_poster)]
    dims, energy = feat.shape[1], 1.0
    if a.image_dims and a.image_dims < feat.shape[1]:
        proj, energy = uncentred_projection(feat, a.image_dims)
        feat, dims = feat @ proj, a.image_dims
    np.savez_compressed(a.out / "image.npz", item_id=with_poster.astype(str), feat=feat.astype(np.float16))

    shutil.copyfile(a.movielens / "README.txt", a.out / "LICENSE-MovieLens.txt")
    degree = r["movieId"].value_counts()
    (a.out / "NOTICE.md").write_text(NOTICE_LONGTAIL.format(
        users=r["userId"].nunique(), items=len(items), inter=len(r), tail=float((degree <= 5).mean()),
        image_dims=dims, energy=energy, n_posters=len(with_poster), n_missing=len(items) - len(with_poster)))
    size = sum(f.stat().st_size for f in a.out.iterdir()) / 1e6
    print(f"wrote {a.out}: {r['userId'].nunique()} users, {len(items)} items ({len(with_poster)} with a poster, "
          f"image {dims}-d keeping {energy:.1%} of the squared norm), {len(r)} interactions, {size:.1f} MB")
    return 0


def rebuild_from_raw(out: Path, posters: Path, use_rebuilt: bool) -> None:
    """Encode items.csv's text and the posters with motor.features; report time and cosine agreement."""
    import tempfile
    import time

    from motor.features.check_against import compare_files
    from motor.features.pipeline import CacheSettings, ImageFeatures, TextFeatures, build_features

    with tempfile.TemporaryDirectory() as tmp:
        t = time.perf_counter()
        report = build_features(out / "items.csv", tmp, TextFeatures(["text"]), ImageFeatures(posters), id_col="item",
                                cache=CacheSettings(enabled=False))
        seconds = time.perf_counter() - t
        print(f"rebuilt features from raw content in {seconds:.0f} s\n{report.summary()}")
        for name in ("text", "image"):
            c = compare_files(Path(tmp) / f"{name}.npz", out / f"{name}.npz")
            print(f"{name}: {c}")
            if use_rebuilt:
                with np.load(Path(tmp) / f"{name}.npz", allow_pickle=False) as z:
                    np.savez_compressed(out / f"{name}.npz", item_id=z["item_id"], feat=z["feat"].astype(np.float16))


if __name__ == "__main__":
    raise SystemExit(main())
