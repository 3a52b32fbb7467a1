"""Analyses behind motor-lab's explore pages, usable without Streamlit (plain data in, tables out).

Everything here reads a trained run (``motor.runs.LoadedRun``), its tokenizer or its MOTOR
encoder and returns pandas DataFrames, numpy arrays or dicts, so the app stays a thin layer
and the same figures can be reproduced in a notebook:

- item metadata for display (titles, genres) and genre lists;
- 2-D layouts of item vectors (PCA instantly, UMAP in the background), cached once per run
  folder in ``layouts.npz`` (``allow_pickle=False``, written atomically, keyed by a hash of
  the vectors so a retrained folder never shows a stale map);
- k-means clusters of item vectors (faiss);
- token views: an item's tokens, the items carrying a token, the items sharing most tokens,
  nearest items by vector, codebook usage per sub-space;
- token-cross attention of one item and on average, with readable token labels;
- side-by-side recommendations of several runs for one user, with hits, overlap and cold flags;
- metric tables, training curves and all-user recommendation exports.
"""

from __future__ import annotations

import hashlib
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from motor.errors import MotorError
from motor.retrieval import centred_unit, unit
from motor.paths import save_npz

if TYPE_CHECKING:  # imported lazily: torch/faiss only when a run is inspected
    from motor.data.dataset import Dataset
    from motor.runs import LoadedRun
    from motor.tokenizer import Tokenizer

LAYOUT_FILE = "layouts.npz"
LAYOUT_METHODS = ("pca", "umap")
UMAP_SETTINGS = {"n_neighbors": 15, "min_dist": 0.1, "metric": "cosine"}
_layout_lock = threading.Lock()  # one writer of layouts.npz at a time within a process


# --- items ----------------------------------------------------------------------------------


def genres_of(ds: "Dataset") -> list[list[str]] | None:
    """Each item's genres (the items table's ``genres`` column split on ``,`` or ``|``), or None."""
    if ds.items is None or "genres" not in ds.items.columns:
        return None
    out = []
    for g in ds.items["genres"].tolist():
        if not isinstance(g, str) or not g.strip() or g.strip() == "(no genres listed)":
            out.append([])
        else:
            out.append([p.strip() for p in g.replace("|", ",").split(",") if p.strip()])
    return out


def genre_counts(ds: "Dataset") -> pd.Series:
    """Items per genre, most common first (empty when the dataset has no genres)."""
    genres = genres_of(ds)
    if not genres:
        return pd.Series(dtype=int)
    return pd.Series([g for gs in genres for g in gs]).value_counts()


def item_frame(ds: "Dataset", cold_items: np.ndarray | None = None) -> pd.DataFrame:
    """One row per item: index, original id, title, genres (text), interactions, cold flag."""
    df = pd.DataFrame({"item": np.arange(ds.n_items), "item_id": ds.item_ids.astype(str), "title": ds.titles()})
    genres = genres_of(ds)
    if genres is not None:
        df["genres"] = [", ".join(g) for g in genres]
    if ds.items is not None and "year" in ds.items.columns:
        df["year"] = ds.items["year"].astype(str).to_numpy()
    df["interactions"] = np.bincount(ds.interactions.item, minlength=ds.n_items)
    if cold_items is not None:
        df["cold"] = np.asarray(cold_items, bool)
    return df


def item_label(ds: "Dataset", item: int) -> str:
    """A display name: the item's title, or 'item <id>' when the dataset has no titles."""
    title, iid = ds.title(item), str(ds.item_ids[item])
    return f"item {iid}" if title == iid else title


def preview(ds: "Dataset", n: int = 50) -> pd.DataFrame:
    """The ``n`` most interacted-with items with their metadata columns (long text shortened)."""
    df = item_frame(ds).sort_values("interactions", ascending=False, kind="stable").head(n)
    if ds.items is not None:
        extra = [c for c in ds.items.columns if c not in ("item_id", "title", "genres", "year")]
        for c in extra:
            col = ds.items[c].iloc[df["item"].to_numpy()].astype(str)
            df[c] = [v if len(v) <= 80 else v[:77] + "..." for v in col]
    return df.reset_index(drop=True)


def modalities_frame(ds: "Dataset") -> pd.DataFrame:
    """Modality, dimension, source file and filled-in (missing) rows."""
    return pd.DataFrame([{"modality": m.name, "dimension": m.dim, "items": int(m.features.shape[0]),
                          "filled rows": m.n_missing, "file": m.source} for m in ds.modalities.values()])


# --- layouts --------------------------------------------------------------------------------


def vectors_key(vectors: np.ndarray) -> str:
    """A short hash of a vector matrix: a cached layout belongs to exactly these vectors."""
    v = np.ascontiguousarray(vectors, dtype=np.float32)
    h = hashlib.sha256(str(v.shape).encode())
    h.update(v.tobytes())
    return h.hexdigest()[:16]


def layout_pca(vectors: np.ndarray) -> np.ndarray:
    """Instant 2-D layout: the two leading principal components of the centred, unit-length vectors."""
    x = centred_unit(vectors).astype(np.float64)
    x = x - x.mean(0)
    if x.shape[0] < 2:
        return np.zeros((x.shape[0], 2), np.float32)
    _, _, vt = np.linalg.svd(x, full_matrices=False)
    y = x @ vt[:2].T
    if y.shape[1] < 2:
        y = np.pad(y, ((0, 0), (0, 2 - y.shape[1])))
    y *= np.sign(y[np.abs(y).argmax(0), range(2)])  # fixed signs: the same vectors give the same picture
    return y.astype(np.float32)


def layout_umap(vectors: np.ndarray, seed: int = 0, **settings) -> np.ndarray:
    """2-D UMAP of the centred item vectors (cosine). The first fit in a process pays ~20-35 s of numba JIT."""
    import warnings

    import umap

    n = len(vectors)
    if n < 4:
        return layout_pca(vectors)
    kw = {**UMAP_SETTINGS, **settings}
    kw["n_neighbors"] = int(min(kw["n_neighbors"], n - 1))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "n_jobs overridden by random_state", spectral init notes
        y = umap.UMAP(n_components=2, random_state=seed, n_jobs=1, **kw).fit_transform(
            np.ascontiguousarray(centred_unit(vectors)))
    return np.asarray(y, dtype=np.float32)


def umap_warmup(n: int = 600) -> float:
    """Fit UMAP once on random points so numba compiles before a real layout is asked for; seconds taken."""
    t = time.perf_counter()
    layout_umap(np.random.default_rng(0).normal(size=(n, 16)).astype(np.float32))
    return time.perf_counter() - t


def _layout_path(folder: Path | str) -> Path:
    return Path(folder) / LAYOUT_FILE


def model_key(folder: Path | str) -> str:
    """A short hash of a run folder's weights: a layout cached under it belongs to exactly that model."""
    h = hashlib.sha256()
    with open(Path(folder) / "model.safetensors", "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()[:16]


def cached_layout(folder: Path | str, vectors: np.ndarray, method: str, key: str | None = None) -> np.ndarray | None:
    """The layout saved in ``folder`` for these vectors (or ``key``), or None (absent, stale, unreadable)."""
    path = _layout_path(folder)
    if not path.exists():
        return None
    key = key or vectors_key(vectors)
    try:
        with np.load(path, allow_pickle=False) as z:
            if f"{method}_key" not in z.files or str(z[f"{method}_key"]) != key:
                return None
            y = z[method]
    except (OSError, ValueError, EOFError):
        return None
    return y if y.shape == (len(vectors), 2) else None


def save_layout(folder: Path | str, vectors: np.ndarray, method: str, layout: np.ndarray,
                key: str | None = None) -> Path:
    """Add one layout to ``folder/layouts.npz`` (atomic replace; other layouts kept)."""
    path = _layout_path(folder)
    with _layout_lock:
        arrays = {}
        if path.exists():
            try:
                with np.load(path, allow_pickle=False) as z:
                    arrays = {k: z[k] for k in z.files}
            except (OSError, ValueError, EOFError):
                arrays = {}
        arrays[method] = np.asarray(layout, np.float32)
        arrays[f"{method}_key"] = np.array(key or vectors_key(vectors))
        save_npz(path, **arrays)
    return path


def layout(folder: Path | str | None, vectors: np.ndarray, method: str = "umap", seed: int = 0,
           key: str | None = None) -> np.ndarray:
    """The ``method`` layout of ``vectors``: from ``folder``'s cache, else computed (and cached when a folder is given).

    ``key`` names what the layout belongs to (default: a hash of ``vectors``; the app passes
    ``model_key(folder)``, which does not depend on floating-point details of recomputing vectors).
    """
    if method not in LAYOUT_METHODS:
        raise MotorError(f"unknown layout {method!r}; choose one of {', '.join(LAYOUT_METHODS)}")
    if folder is not None:
        hit = cached_layout(folder, vectors, method, key)
        if hit is not None:
            return hit
    y = layout_pca(vectors) if method == "pca" else layout_umap(vectors, seed)
    if folder is not None:
        save_layout(folder, vectors, method, y, key)
    return y


# --- clusters -------------------------------------------------------------------------------


def clusters(vectors: np.ndarray, k: int = 12, seed: int = 0) -> np.ndarray:
    """k-means (faiss, spherical) labels of the item vectors, clusters numbered largest first."""
    import faiss

    x = np.ascontiguousarray(unit(vectors))
    k = int(max(1, min(k, len(x))))
    km = faiss.Kmeans(x.shape[1], k, niter=25, seed=seed, spherical=True, verbose=False, min_points_per_centroid=1)
    km.train(x)
    _, lab = km.index.search(x, 1)
    lab = lab[:, 0]
    order = np.argsort(-np.bincount(lab, minlength=k), kind="stable")
    rank = np.empty(k, np.int64)
    rank[order] = np.arange(k)
    return rank[lab]


# --- tokens ---------------------------------------------------------------------------------


def token_counts(tok: "Tokenizer") -> np.ndarray:
    """[V]: how many items carry each token id."""
    return np.bincount(tok.token_ids.ravel(), minlength=tok.vocab_size)


def item_tokens(tok: "Tokenizer", item: int) -> pd.DataFrame:
    """An item's T tokens: slot, modality, sub-space, codeword, label and how many items carry each."""
    if not 0 <= item < tok.n_items:
        raise MotorError(f"item {item} is out of range; valid items are 0..{tok.n_items - 1}")
    counts = token_counts(tok)
    tids = tok.token_ids[item]
    return pd.DataFrame({
        "slot": np.arange(tok.n_tokens),
        "modality": [tok.modalities[m] for m in tok.slot_modality],
        "sub-space": tok.slot_subspace.astype(int),
        "codeword": (tids - tok.slot_offset).astype(int),
        "token": tids.astype(int),
        "label": [tok.token_label(int(t)) for t in tids],
        "items with this token": counts[tids].astype(int),
    })


def token_options(tok: "Tokenizer", min_items: int = 1) -> pd.DataFrame:
    """All tokens carried by at least ``min_items`` items, with labels, slot order."""
    counts = token_counts(tok)
    tids = np.flatnonzero(counts >= min_items)
    return pd.DataFrame({"token": tids, "label": [tok.token_label(int(t)) for t in tids], "items": counts[tids]})


def token_items(tok: "Tokenizer", ds: "Dataset", tid: int, cold_items: np.ndarray | None = None) -> pd.DataFrame:
    """Every item carrying token ``tid``, with its metadata, most interacted first."""
    items = tok.items_with_token(int(tid))
    df = item_frame(ds, cold_items).iloc[items]
    return df.sort_values("interactions", ascending=False, kind="stable").reset_index(drop=True)


def sharing_items(tok: "Tokenizer", ds: "Dataset", item: int, k: int = 10) -> pd.DataFrame:
    """The ``k`` items sharing most tokens with ``item``: shared count and which tokens."""
    rows = []
    mine = tok.token_ids[item]
    for other, shared in tok.most_sharing(item, k):
        common = mine[tok.token_ids[other] == mine]
        rows.append({"item": other, "title": item_label(ds, other), "shared tokens": shared,
                     "of": tok.n_tokens, "which": ", ".join(tok.token_label(int(t)) for t in common)})
    return pd.DataFrame(rows, columns=["item", "title", "shared tokens", "of", "which"])


def nearest_items(vectors: np.ndarray, ds: "Dataset", item: int, k: int = 10,
                  tok: "Tokenizer | None" = None, centre: bool = True) -> pd.DataFrame:
    """The ``k`` items whose vectors are most cosine-similar to ``item``'s (faiss), with shared tokens when known.

    ``centre`` compares vectors after removing the mean item vector, ``centre=False`` is plain
    cosine (``motor.retrieval.VectorIndex.similar_items``).
    """
    from motor.retrieval import VectorIndex

    index = vectors if isinstance(vectors, VectorIndex) else VectorIndex(vectors)  # a run's index(): IVF-PQ when large
    sims, items = index.similar_items(int(item), k, "centred" if centre else "cosine")
    df = pd.DataFrame({"item": items.astype(int), "title": [item_label(ds, int(i)) for i in items],
                       "cosine": np.round(sims.astype(float), 4)})
    if tok is not None:
        df["shared tokens"] = tok.shared_token_counts(int(item))[items].astype(int)
    return df


def codebook_usage(tok: "Tokenizer") -> pd.DataFrame:
    """Per (modality, sub-space): codewords used out of K, items on the fullest token, usage perplexity."""
    rows = []
    for s in range(tok.n_tokens):
        m = tok.modalities[tok.slot_modality[s]]
        k = tok.k[m]
        codes = tok.codes[:, s]
        counts = np.bincount(codes, minlength=k)
        p = counts[counts > 0] / counts.sum()
        rows.append({"slot": s, "modality": m, "sub-space": int(tok.slot_subspace[s]), "K": k,
                     "codewords used": int((counts > 0).sum()), "usage": float((counts > 0).mean()),
                     "largest token (items)": int(counts.max()),
                     "perplexity": float(np.exp(-(p * np.log(p)).sum()))})
    return pd.DataFrame(rows)


def collision_summary(tok: "Tokenizer") -> dict:
    """Headline tokenizer figures: collision rate overall and per modality, vocabulary, tokens per item."""
    r = tok.report()
    return {"collision_rate": r["collision_rate"], "vocab_size": r["vocab_size"],
            "tokens_per_item": r["tokens_per_item"], "n_items": r["n_items"],
            "per_modality": {m: {"collision_rate": v["code_collision_rate"], "recon_error": v["recon_error"],
                                 "m": v["m"], "k": v["k"], "dims": v["dims"], "unused_tokens": v["unused_tokens"]}
                             for m, v in r["modalities"].items()}}


def token_groups(tok: "Tokenizer", ds: "Dataset", min_items: int = 2, limit: int = 50) -> pd.DataFrame:
    """Items whose full token tuple is identical (PQ collisions), largest groups first."""
    _, inverse, counts = np.unique(tok.token_ids, axis=0, return_inverse=True, return_counts=True)
    inverse = inverse.ravel()
    rows = []
    for g in np.argsort(-counts, kind="stable"):
        if counts[g] < min_items or len(rows) >= limit:
            break
        members = np.flatnonzero(inverse == g)
        rows.append({"items": int(counts[g]), "titles": "; ".join(item_label(ds, int(i)) for i in members[:8])
                     + (" ..." if len(members) > 8 else "")})
    return pd.DataFrame(rows, columns=["items", "titles"])


# --- attention ------------------------------------------------------------------------------


def slot_labels(tok: "Tokenizer") -> list[str]:
    """'image s0', 'image s1', ... one per token slot."""
    return [f"{tok.modalities[m]} s{s}" for m, s in zip(tok.slot_modality, tok.slot_subspace)]


def attention_view(encoder, tok: "Tokenizer", item: int) -> dict:
    """One item's token-cross attention [L, heads, T, T], pooling weights [T] and token labels.

    ``labels`` name each token 'image s0 c12' (modality, sub-space, codeword); ``attention`` is
    None for TCN variants without attention ('cross', 'mean'); ``pooling`` is None for 'cross'.
    """
    ex = encoder.explain(int(item))
    tids = [int(t) for t in ex["token_ids"]]
    return {"labels": [tok.token_label(t) for t in tids], "slots": slot_labels(tok), "token_ids": tids,
            "attention": ex["attention"], "pooling": ex["pooling"], "tcn": encoder.cfg.tcn}


def attention_average(encoder) -> np.ndarray | None:
    """Mean attention [L, heads, T, T] over all items (None without attention)."""
    return encoder.attention_summary()


def pooling_average(encoder, chunk: int = 4096) -> np.ndarray | None:
    """Mean pooling weight per token slot over all items [T] (None for 'cross')."""
    import torch

    if encoder.cfg.tcn == "cross":
        return None
    if encoder.cfg.tcn == "mean":
        return np.full(encoder.n_tokens, 1.0 / encoder.n_tokens, np.float32)
    total = torch.zeros(encoder.n_tokens, dtype=torch.float64)
    for s in range(0, encoder.n_items, chunk):
        total += encoder._inspect(encoder.token_ids[s:s + chunk])[2].double().sum(0)
    return (total / encoder.n_items).float().numpy()


# --- recommendations ------------------------------------------------------------------------


def user_items(run: "LoadedRun", user: int, which: str) -> np.ndarray:
    """A user's items in one part of the split: 'train', 'valid', 'test' or 'cold'."""
    pairs = getattr(run.split, which)
    return pairs.item[pairs.user == user]


def user_options(run: "LoadedRun", min_test: int = 1) -> pd.DataFrame:
    """Users with at least ``min_test`` held-out test (or cold) items: id, training and test counts."""
    sp = run.split
    n_train = np.bincount(sp.train.user, minlength=sp.n_users)
    n_test = np.bincount(sp.test.user, minlength=sp.n_users) + np.bincount(sp.cold.user, minlength=sp.n_users)
    users = np.flatnonzero((n_test >= min_test) & (n_train > 0))
    return pd.DataFrame({"user": users, "user_id": run.dataset.user_ids[users].astype(str),
                         "train": n_train[users], "test": n_test[users]})


def user_history(run: "LoadedRun", user_id) -> pd.DataFrame:
    """The user's training items (what the models learned from), with titles and genres."""
    u = run.dataset.user_index(user_id)
    items = run.seen_items(u)
    df = item_frame(run.dataset).iloc[items][["item", "item_id", "title"] +
                                            (["genres"] if genres_of(run.dataset) is not None else [])]
    return df.reset_index(drop=True)


def held_out(run: "LoadedRun", user_id) -> pd.DataFrame:
    """The user's held-out items: test (and cold, when items were held out)."""
    u = run.dataset.user_index(user_id)
    rows = [{"item": int(i), "title": item_label(run.dataset, int(i)), "part": part}
            for part in ("test", "cold") for i in user_items(run, u, part)]
    return pd.DataFrame(rows, columns=["item", "title", "part"])


def compare_recommendations(runs: dict[str, "LoadedRun"], user_id, k: int = 10) -> dict:
    """Top-``k`` of each run for one user, side by side.

    Returns ``lists`` (name -> DataFrame rank, item, title, score, hit, cold, in_others),
    ``overlap`` (items in every list), ``jaccard``, ``hits`` (name -> count) and ``held_out``.
    A hit is a held-out test or cold item of the user. Runs must share the dataset and split.
    """
    if not runs:
        raise MotorError("no runs to compare; train or open a run first")
    first = next(iter(runs.values()))
    u = first.dataset.user_index(user_id)
    truth = set(user_items(first, u, "test").tolist()) | set(user_items(first, u, "cold").tolist())
    lists, sets = {}, {}
    for name, run in runs.items():
        recs = run.recommend(user_id, k)
        df = pd.DataFrame(recs, columns=["rank", "item", "item_id", "title", "score", "cold"])
        df["hit"] = df["item"].isin(truth)
        lists[name], sets[name] = df, set(df["item"].tolist())
    overlap = set.intersection(*sets.values()) if sets else set()
    union = set.union(*sets.values()) if sets else set()
    for name, df in lists.items():
        others = set().union(*(s for n, s in sets.items() if n != name)) if len(sets) > 1 else set()
        df["in other list"] = df["item"].isin(others)
    return {"lists": lists, "overlap": sorted(overlap), "jaccard": len(overlap) / len(union) if union else 0.0,
            "hits": {n: int(df["hit"].sum()) for n, df in lists.items()}, "held_out": held_out(first, user_id),
            "n_truth": len(truth)}


def all_recommendations(run: "LoadedRun", k: int = 20, users: np.ndarray | None = None) -> pd.DataFrame:
    """Top-``k`` for every user (training items excluded) as a long table, hits and cold flags included."""
    from motor.data.split import Pairs

    uvec, _ = run.vectors()
    sp = run.split
    users = np.arange(sp.n_users) if users is None else np.asarray(users)
    indptr, train_items = sp.train.csr(sp.n_users)
    exclude = [train_items[indptr[u]:indptr[u + 1]] for u in users]
    scores, items = run.index().search(uvec[users], k, exclude)
    truth = set()
    for part in ("test", "cold"):
        p: Pairs = getattr(sp, part)
        truth |= set(zip(p.user.tolist(), p.item.tolist()))
    rows_u = np.repeat(users, k)
    flat_i, flat_s = items.ravel(), scores.ravel()
    keep = flat_i >= 0
    rows_u, flat_i, flat_s = rows_u[keep], flat_i[keep], flat_s[keep]
    ranks = np.tile(np.arange(1, k + 1), len(users))[keep]
    ds = run.dataset
    titles = np.asarray(ds.titles(), dtype=object)
    return pd.DataFrame({"user_id": ds.user_ids[rows_u].astype(str), "rank": ranks,
                         "item_id": ds.item_ids[flat_i].astype(str), "title": titles[flat_i],
                         "score": flat_s.astype(float), "cold": sp.cold_items[flat_i],
                         "hit": [(int(u), int(i)) in truth for u, i in zip(rows_u, flat_i)]})


# --- metrics --------------------------------------------------------------------------------

HEADLINE = ("recall@10", "recall@20", "ndcg@10", "ndcg@20")


def metrics_table(metrics: dict[str, dict]) -> pd.DataFrame:
    """Rows = figures (test Recall/NDCG@10/20, cold figures, sizes, timings), one column per run."""
    rows: dict[str, dict] = {}
    for name, m in metrics.items():
        col = {}
        for key in HEADLINE:
            col[f"test {key}"] = m.get("test", {}).get(key)
        for key in HEADLINE:
            col[f"valid {key}"] = m.get("valid", {}).get(key)
        cold = m.get("cold") or {}
        for key in ("recall@20", "ndcg@20", "recall@20_among_cold", "ndcg@20_among_cold"):
            if key in cold:
                col[f"cold {key.replace('_among_cold', ' (among cold)')}"] = cold[key]
        p = m.get("params", {})
        col["item-side parameters"] = p.get("item_side")
        col["item-side bytes"] = p.get("item_side_bytes")
        col["user-side parameters"] = p.get("user_side")
        col["trainable parameters"] = p.get("trainable_total")
        col["best epoch"] = m.get("best_epoch")
        col["epochs run"] = m.get("epochs_run")
        col["seconds per epoch"] = m.get("seconds_per_epoch")
        col["total seconds"] = m.get("total_seconds")
        rows[name] = col
    df = pd.DataFrame(rows)
    return df.dropna(how="all")


def relative_change(table: pd.DataFrame, base: str, other: str) -> pd.Series:
    """``other`` relative to ``base`` per figure row (+0.12 = 12 % higher); NaN where undefined or not a figure
    (epoch counts)."""
    a = pd.to_numeric(table[base], errors="coerce")
    b = pd.to_numeric(table[other], errors="coerce")
    out = (b - a) / a.where(a != 0)
    return out.where(~table.index.isin(["best epoch", "epochs run"]))


def history_frame(histories: dict[str, list[dict]], metric: str = "recall@20") -> pd.DataFrame:
    """Long table of training curves: run, epoch, loss, valid ``metric``."""
    rows = []
    for name, hist in histories.items():
        for h in hist:
            rows.append({"run": name, "epoch": int(h["epoch"]), "loss": float(h["loss"]),
                         f"valid {metric}": float(h.get("valid", {}).get(metric, np.nan))})
    return pd.DataFrame(rows, columns=["run", "epoch", "loss", f"valid {metric}"])
