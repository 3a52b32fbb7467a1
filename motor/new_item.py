"""A new item that no model has seen, placed by its content alone (nothing is retrained).

The path is the one every catalogue item took: its content is encoded by the shipped encoders
(MiniLM for text, EfficientNet-Lite0 for a picture), the run's tokenizer turns the features into
token ids (``Tokenizer.encode``), and the run's Token Cross Network turns those into a vector
(``MotorEncoder.encode_tokens``). An ID model cannot do any of this: a new item has no learned
row until it is retrained with interactions.

Where the backbone transforms item vectors further (graph backbones propagate them over the
interaction graph), the new item is scored the way the backbone scores an item without any
interaction: on a copy of the model, a cold item's tokens are replaced by the new ones and the
backbone's final vectors are read back. Without cold items in the run there is no such item, and
``final_vector`` says so instead of guessing.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import torch

from motor.errors import MotorError
from motor.retrieval import unit

TEXT, IMAGE = "text", "image"
# how a modality's vector was filled in when the item's own content could not give it (``describe``'s ``filled``)
AVERAGE, MISSING = "average", "missing"


@dataclass
class NewItem:
    """A described and tokenized new item."""

    features: dict[str, np.ndarray]  # modality -> float32 [1, dim]
    sources: dict[str, str]  # modality -> where its vector came from, in words
    filled: dict[str, str]  # modality -> AVERAGE or MISSING, for the modalities not computed from the item
    token_ids: np.ndarray  # int64 [T]
    vector: np.ndarray  # float32 [dim]: the Token Cross Network's output
    notes: list[str] = field(default_factory=list)


def _encoder_dims():
    from motor.features.image import IMAGE_DIM
    from motor.features.text import TEXT_DIM

    return {TEXT: TEXT_DIM, IMAGE: IMAGE_DIM}


def describe(ds, text: str, picture: bytes | None = None, encoders: dict | None = None
             ) -> tuple[dict[str, np.ndarray], dict[str, str], dict[str, str]]:
    """Feature vectors [1, dim] for every modality of ``ds`` from a text (and optionally a picture).

    Returns ``(features, sources, filled)``. A modality the shipped encoders cannot produce (other dimensions,
    or no picture given) is filled in, ``filled`` says how and ``sources`` says so in words: where the catalogue
    marks items without that content (the long-tail demo's movies without a poster), the new item is marked
    missing like them (``MISSING``; ``place`` gives it the tokenizer's missing token), else it gets the mean of
    the catalogue's real rows (``AVERAGE``). ``encoders`` replaces the default encoders
    (``{'text': obj with encode(texts) -> [n, d]}``, ``{'image': obj with encode([bytes]) -> ImageEncoding}``).
    """
    text = (text or "").strip()
    if not text:
        raise MotorError("describe the new item first: a title or a sentence about it")
    enc = encoders or {}
    dims = _encoder_dims()
    features, sources, filled = {}, {}, {}
    for name, mod in ds.modalities.items():
        real = mod.features[mod.present] if mod.present.any() else mod.features  # not the filled rows
        mean = real.mean(0, keepdims=True).astype(np.float32)
        if name == TEXT and (mod.dim == dims[TEXT] or TEXT in enc):
            if TEXT in enc:
                v = np.asarray(enc[TEXT].encode([text]), np.float32)
            else:
                from motor.features.text import TextEncoder

                v = TextEncoder().encode([text])
            if v.shape[1] != mod.dim:
                raise MotorError(f"the text encoder gives {v.shape[1]}-d vectors; this dataset's text is {mod.dim}-d")
            features[name], sources[name] = v, "your text, encoded by the text encoder"
        elif name == IMAGE and picture is not None and (mod.dim == dims[IMAGE] or IMAGE in enc):
            from motor.features.image import ImageEncoder

            res = (enc[IMAGE] if IMAGE in enc else ImageEncoder()).encode([picture])
            if not res.ok[0]:
                raise MotorError(f"the picture could not be used: {res.errors.get(0, 'unreadable')}")
            features[name], sources[name] = res.feat[:1].astype(np.float32), "your picture, encoded by the image encoder"
        else:
            why = "no picture given" if name == IMAGE and mod.dim == dims[IMAGE] else \
                f"the shipped encoders do not make this dataset's {mod.dim}-d {name} features"
            if mod.n_missing:  # the catalogue marks items without this content: this one is one of them
                features[name] = np.zeros_like(mean) if mod.fill == "zeros" else mean
                sources[name] = f"marked missing, like the catalogue's {mod.n_missing:,} items without it ({why})"
                filled[name] = MISSING
            else:
                features[name], sources[name], filled[name] = mean, f"the catalogue's average ({why})", AVERAGE
    if len(filled) == len(sources):
        raise MotorError("none of this dataset's modalities can be computed from a text or a picture (they were not "
                         "made by the shipped MiniLM / EfficientNet-Lite0 encoders); a new item cannot be described")
    return features, sources, filled


def place(run, features: dict[str, np.ndarray], sources: dict[str, str] | None = None,
          filled: dict[str, str] | None = None) -> NewItem:
    """Tokens and Token Cross Network vector of a new item in a MOTOR run (``sources`` and ``filled`` as
    ``describe`` gives them; a modality ``filled`` as MISSING gets the tokenizer's missing token)."""
    if run.tokenizer is None or not hasattr(run.model.items, "encode_tokens"):
        raise MotorError("this is an ID run: an ID model has no way to place an item it has not learned a row for; "
                         "pick a run with a MOTOR model")
    features, sources, filled = dict(features), dict(sources or {}), dict(filled or {})
    has_token = run.tokenizer.missing_items()
    present = {}
    for name in [m for m, how in filled.items() if how == MISSING]:
        if name in has_token:
            present[name] = np.zeros(1, bool)
        else:  # this run's tokenizer saw every item with this content: no missing token, the real rows' mean
            mod = run.dataset.modalities[name]
            features[name] = mod.features[mod.present].mean(0, keepdims=True).astype(np.float32)
            sources[name] = f"the catalogue's average (this run's tokenizer has no missing token for {name})"
            filled[name] = AVERAGE
    tids = run.tokenizer.encode(features, present or None)[0].astype(np.int64)
    with torch.no_grad():
        vec = run.model.items.encode_tokens(torch.as_tensor(tids[None])).cpu().numpy()[0]
    return NewItem(features, sources, filled, tids, vec.astype(np.float32))


def sharing_items(run, token_ids: np.ndarray, k: int = 10) -> pd.DataFrame:
    """Catalogue items sharing most tokens with the new item, and which: content tokens only (a new item
    without a poster carries the missing image tokens of every such item, which is no content in common)."""
    tok, ds = run.tokenizer, run.dataset
    same = tok.shared_tokens(token_ids)
    counts = same.sum(1)
    order = np.argsort(-counts, kind="stable")[:k]
    order = order[counts[order] > 0]
    return pd.DataFrame({"item": order.astype(int), "title": [ds.title(int(i)) for i in order],
                         "shared tokens": counts[order].astype(int),
                         "which": [", ".join(tok.token_label(int(t)) for t in token_ids[same[i]]) for i in order]},
                        columns=["item", "title", "shared tokens", "which"])


def nearest_items(run, vector: np.ndarray, k: int = 10) -> pd.DataFrame:
    """Catalogue items whose Token Cross Network vectors are closest to the new item's (cosine after
    removing the catalogue's mean vector, as on the Tokens page)."""
    with torch.no_grad():
        catalogue = run.model.items.encode(None).cpu().numpy().astype(np.float32)
    mean = catalogue.mean(0, keepdims=True)
    sims = unit(catalogue - mean) @ unit(vector[None] - mean)[0]
    order = np.argsort(-sims, kind="stable")[:k]
    return pd.DataFrame({"item": order.astype(int), "title": [run.dataset.title(int(i)) for i in order],
                         "cosine": np.round(sims[order].astype(float), 4)})


def final_vector(run, token_ids: np.ndarray) -> tuple[np.ndarray | None, str]:
    """The backbone's final (scoring) vector of the new item and how it was obtained, or (None, why)."""
    with torch.no_grad():
        raw = run.model.items.encode(None).cpu().numpy()
    final = run.vectors()[1]
    if raw.shape == final.shape and np.allclose(raw, final, atol=1e-5):
        with torch.no_grad():
            v = run.model.items.encode_tokens(torch.as_tensor(token_ids[None])).cpu().numpy()[0]
        return v, f"{run.config.backbone} scores the Token Cross Network's vector directly"
    name = run.config.backbone
    cold = np.flatnonzero(run.split.cold_items)
    if len(cold) < 2:
        return None, (f"{name} passes item vectors through the interaction graph, and a new item has no "
                      "interactions; this run has no cold items to show how it treats such an item. Train with a "
                      "cold-item fraction above 0 to see who the new item would reach.")
    # the loaded run is shared by every session: work on a copy (sparse graphs are constant: shared, not copied)
    model = copy.deepcopy(run.model, {id(b): b for b in run.model.buffers() if b.layout != torch.strided})
    a, b = int(cold[0]), int(cold[1])
    ids = model.items.token_ids
    with torch.no_grad():
        before = model.vectors()[1]
        ids[[a, b]] = ids[[b, a]].clone()
        swapped = model.vectors()[1]
        # items without interactions must differ by their tokens only: swapping two cold items' tokens swaps
        # their vectors. A backbone that also reads each item's own raw features (or a feature graph) fails this.
        if not (np.allclose(swapped[a], before[b], atol=1e-4) and np.allclose(swapped[b], before[a], atol=1e-4)):
            return None, (f"{name} also uses each item's own raw features (or a graph built from them) besides its "
                          "tokens, so a new item's place needs those in the backbone's own form: it cannot be scored "
                          "without retraining. Its tokens and nearest items above need no retraining.")
        ids[a] = torch.as_tensor(token_ids, dtype=ids.dtype)
        v = model.vectors()[1][a]
    return np.asarray(v, np.float32), (f"{name} passes item vectors through the interaction graph; the new item is "
                                       "scored the way it scores an item without interactions (checked on two cold "
                                       "items of this run)")


def users_reached(run, final: np.ndarray, k: int = 10) -> pd.DataFrame:
    """Users whose top-``k`` (the items the test ranking leaves out left out) the new item would enter, best
    position first."""
    users = run.vectors()[0]
    exclude = run.excluded_lists()  # as the lists the Recommend page shows
    top, _ = run.index().search(users, k, exclude)  # at most the catalogue's width: the index clamps k
    score = users @ final
    rank = (top > score[:, None]).sum(1) + 1  # the position it would take among the current top-k
    hit = np.flatnonzero(rank <= k)
    hit = hit[np.lexsort((-score[hit], rank[hit]))]
    return pd.DataFrame({"user": [str(run.dataset.user_ids[u]) for u in hit], "position": rank[hit].astype(int),
                         "score": score[hit].astype(float), "k-th score now": top[hit, -1].astype(float)},
                        columns=["user", "position", "score", "k-th score now"])
