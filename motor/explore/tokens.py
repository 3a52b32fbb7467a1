"""Token views: an item's tokens, the items carrying a token, the items sharing most tokens,
nearest items by vector, codebook usage per sub-space, PQ collisions."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from motor.errors import check_index
from motor.explore.catalogue import item_frame, item_label

if TYPE_CHECKING:
    from motor.data.dataset import Dataset
    from motor.tokenizer import Tokenizer


def token_counts(tok: "Tokenizer") -> np.ndarray:
    """[V]: how many items carry each token id."""
    return np.bincount(tok.token_ids.ravel(), minlength=tok.vocab_size)


def item_tokens(tok: "Tokenizer", item: int) -> pd.DataFrame:
    """An item's T tokens: slot, modality, sub-space, codeword, label and how many items carry each."""
    item = check_index(item, tok.n_items, "item", "dataset.item_index(...)")
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


def missing_token_note(tok: "Tokenizer", token_ids: np.ndarray) -> str | None:
    """A note on an item's reserved missing tokens (``token_ids``: its T ids), or None when it has none:
    "4 image tokens are 'missing': the item has no image; not counted as shared". Every item without that
    content carries the same missing token, so it is shown (with how many items carry it) but never counted
    as a token two items share."""
    tids = np.asarray(token_ids, dtype=np.int64)
    missing = tok.missing_tokens[tids]
    if not missing.any():
        return None
    mods = [tok.modalities[m] for m in tok.slot_modality[missing]]
    names = list(dict.fromkeys(mods))
    parts = [f"{mods.count(m)} {m} token{'s' if mods.count(m) > 1 else ''}" for m in names]
    verb = "are" if missing.sum() > 1 else "is"
    return f"{' and '.join(parts)} {verb} 'missing': the item has no {' or '.join(names)}; not counted as shared"


def sharing_items(tok: "Tokenizer", ds: "Dataset", item: int, k: int = 10) -> pd.DataFrame:
    """The ``k`` items sharing most content tokens with ``item``: shared count, ``of`` (the item's content
    tokens: its T less its reserved missing ones, which are no content and never count as shared) and which
    tokens. Items sharing none are left out."""
    item = check_index(item, tok.n_items, "item", "dataset.item_index(...)")  # an id such as "2571" is not one
    rows = []
    mine = tok.token_ids[item]
    content = ~tok.missing_tokens[mine]
    same = tok.shared_tokens(mine)
    for other, shared in tok.most_sharing(item, k):
        if shared <= 0:
            break
        common = mine[same[other]]
        rows.append({"item": other, "title": item_label(ds, other), "shared tokens": shared,
                     "of": int(content.sum()), "which": ", ".join(tok.token_label(int(t)) for t in common)})
    return pd.DataFrame(rows, columns=["item", "title", "shared tokens", "of", "which"])


def nearest_items(vectors: np.ndarray, ds: "Dataset", item: int, k: int = 10,
                  tok: "Tokenizer | None" = None, centre: bool = True, index=None) -> pd.DataFrame:
    """The ``k`` items whose vectors are most cosine-similar to ``item``'s (faiss), with shared tokens when known
    (content tokens: reserved missing tokens are not counted, as in ``sharing_items``).

    ``centre`` compares vectors after removing the mean item vector, ``centre=False`` is plain
    cosine (``motor.retrieval.VectorIndex.similar_items``). ``index``: the run's search index
    (``LoadedRun.index()``: IVF-PQ for large catalogues) over these vectors; default an exact one.
    """
    from motor.retrieval import VectorIndex

    item = check_index(item, len(vectors), "item", "dataset.item_index(...)")  # int("100") was index 100, silently
    index = VectorIndex(vectors) if index is None else index
    sims, items = index.similar_items(item, k, "centred" if centre else "cosine")
    df = pd.DataFrame({"item": items.astype(int), "title": [item_label(ds, int(i)) for i in items],
                       "cosine": np.round(sims.astype(float), 4)})
    if tok is not None:
        df["shared tokens"] = tok.shared_token_counts(item)[items].astype(int)
    return df


def codebook_usage(tok: "Tokenizer") -> pd.DataFrame:
    """Per (modality, sub-space): codewords used out of K, items on the fullest token, usage perplexity, and
    the items without this content ('missing items'). The reserved missing token (code K) is no codeword: it
    counts in none of the others, so a modality with missing items still reads 'K of K' at most, like the
    tokenizer's report (metrics.json ``codewords_used``)."""
    rows = []
    for s in range(tok.n_tokens):
        m = tok.modalities[tok.slot_modality[s]]
        k = tok.k[m]
        codes = tok.codes[:, s]
        counts = np.bincount(codes[codes < k], minlength=k)
        p = counts[counts > 0] / max(counts.sum(), 1)
        rows.append({"slot": s, "modality": m, "sub-space": int(tok.slot_subspace[s]), "K": k,
                     "codewords used": int((counts > 0).sum()), "usage": float((counts > 0).mean()),
                     "largest token (items)": int(counts.max()),
                     "perplexity": float(np.exp(-(p * np.log(p)).sum())),
                     "missing items": int((codes >= k).sum())})
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
