"""Product-quantization tokenizer: item content -> discrete token ids (MOTOR step 1).

Each modality's feature vector is L2-normalised (optional), brought to a dimension divisible by
M (zero padding or PCA), optionally rotated by OPQ, split into M sub-vectors, and each sub-vector
is replaced by the index of its nearest of K codewords (faiss ``ProductQuantizer``). Every
(modality, sub-space, codeword) is its own token: ``tid = offset(modality, sub-space) + code``,
so one embedding table of ``V = sum_m M_m * K_m`` rows holds them all, and items with similar
content share tokens. Fitting uses all items, interacted with or not (the cold-start point);
above ``fit_per_codeword x K`` items (16,384 at the defaults) the codebooks learn from a seeded sample
of them, as faiss would, and every item is still tokenized; ``Tokenizer.encode`` turns the content
of new items into token ids with the same codebooks.

Missing content (an item without a poster, marked by ``Modality.present``): the codebooks of
that modality are fitted on the present rows only, and each of its slots gets one reserved
"missing" token (code ``K``, so the slot has ``K + 1`` ids); items without the content get it in
every slot of the modality instead of the token of a filled-in vector. Modalities with every row
present keep ``K`` ids per slot, so nothing changes for complete data.

OPQ cost: faiss ``OPQMatrix`` does a D x D SVD per iteration. Measured on 2 cores with 2,000
rows, M=8, K=64: about 0.35 s per iteration at D=384 and 7 s at D=1280 (faiss default 50
iterations: 17 s and about 6 minutes). Its objective is flat after about 5 iterations, so we run
``OPQ_ITERS`` and, above ``OPQ_MAX_DIM``, first reduce by PCA: about 1.5 s per modality (demo,
1,850 items with 1280-d posters and 384-d texts: 5 to 7 s on a busy 2-core machine, plain PQ 1 s),
and on the demo posters PCA-256 + OPQ reconstructs better than plain PQ on all 1280 dims.
"""

from __future__ import annotations

import json
import numbers
import time
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Literal

import faiss
import numpy as np
import torch

from motor.config import checked, doc, from_dict, to_dict
from motor.errors import MotorError, check_index, check_k
from motor.paths import file_above

OPQ_MAX_DIM = 256  # OPQ runs on at most this many dims (PCA first): its cost grows like D^3
OPQ_ITERS = 10  # OPQ rotation updates (faiss default 50; the objective is flat after ~5)
FORMAT = 1  # version of the files written by Tokenizer.save
CHUNK = 8192  # rows per step where a whole-catalogue temporary would cost another copy of the features


def _powers_of_two_near(k: int) -> str:
    if k <= 2 or k >= 65536:
        return "2" if k <= 2 else "65536"
    lo = 1 << (k.bit_length() - 1)
    return f"{lo} or {2 * lo}"


@dataclass
class ModalityPQConfig:
    """PQ settings of one modality; a field left at None takes the tokenizer-wide value."""

    m: int | None = doc(None, "sub-vectors per item (tokens this modality contributes), at most its dimension")
    k: int | None = doc(None, "codewords per sub-space, a power of two (faiss: K = 2**nbits), at most n_items; "
                              "fewer codewords means more items per token")
    normalize: Literal["l2", "none"] | None = doc(None, "'l2' scales every feature vector to unit length first")
    opq: bool | None = doc(None, f"learn an OPQ rotation before PQ (lower error, slower; PCA to {OPQ_MAX_DIM} "
                                 "dims first when larger)")
    dim_fix: Literal["pad", "pca"] | None = doc(None, "when D is not divisible by m: 'pad' with zeros to the next "
                                                      "multiple, or 'pca' down to the largest multiple not above D")

    def validate(self):
        if self.m is not None and self.m < 1:
            raise MotorError(f"m={self.m}: the number of sub-vectors must be at least 1 (typical: 4 or 8)")
        if self.k is not None and (not 2 <= self.k <= 65536 or self.k & (self.k - 1)):
            raise MotorError(f"k={self.k}: codewords per sub-space must be a power of two between 2 and 65536 "
                             f"(faiss PQ uses K = 2**nbits); try {_powers_of_two_near(self.k)}")


@dataclass
class TokenizerConfig:
    m: int = doc(4, "sub-vectors per item and modality (tokens per modality); 4 beat 8 on demo validation Recall@20 "
                    "(LightGCN .310 vs .269) at half the TCN cost")
    k: int = doc(64, "codewords per sub-space, a power of two (faiss: K = 2**nbits), at most n_items")
    normalize: Literal["l2", "none"] = doc("l2", "'l2' scales every feature vector to unit length first (cosine)")
    opq: bool = doc(False, f"learn an OPQ rotation before PQ (lower error, slower; PCA to {OPQ_MAX_DIM} dims "
                           "first when larger)")
    dim_fix: Literal["pad", "pca"] = doc("pad", "when D is not divisible by m: 'pad' with zeros to the next "
                                                "multiple, or 'pca' down to the largest multiple not above D")
    seed: int = doc(0, "seed of the k-means runs: same features and settings give the same tokens")
    fit_per_codeword: int = doc(256, "k-means (and PCA/OPQ) learn from at most this many items per codeword: a "
                                     "seeded sample above 256 x K items (16,384 at K = 64), as faiss does by "
                                     "default; every item is still tokenized. 0 = learn from every item", low=0)
    per_modality: dict[str, ModalityPQConfig] = doc({}, "overrides for named modalities, e.g. {'text': {'m': 4}}; "
                                                        "settings not named there keep the values above")

    def validate(self):
        """m at least 1, k a power of two in [2, 65536], seed in [0, 2**31), for every modality's settings."""
        if not 0 <= self.seed < 2**31:  # faiss k-means takes a signed 32-bit seed
            raise MotorError(f"tokenizer.seed must be between 0 and 2**31 - 1 = 2147483647 (faiss k-means takes a "
                             f"signed 32-bit seed), got {self.seed}; try 0")
        ModalityPQConfig(self.m, self.k, self.normalize, self.opq, self.dim_fix).validate()
        for name in self.per_modality:
            try:
                self.for_modality(name).validate()
            except MotorError as e:
                raise MotorError(f"per_modality[{name!r}]: {e}") from None

    def for_modality(self, name: str) -> ModalityPQConfig:
        """The settings of one modality, all fields set: its overrides, else the values above."""
        over = self.per_modality.get(name, ModalityPQConfig())
        return ModalityPQConfig(*(getattr(self, f) if getattr(over, f) is None else getattr(over, f)
                                  for f in ("m", "k", "normalize", "opq", "dim_fix")))


@dataclass
class ModalityCodec:
    """What turns one modality's raw features into codes, plus what the fit measured."""

    name: str
    m: int
    k: int
    normalize: bool  # L2-normalise raw features first
    opq: bool  # whether ``projection`` includes an OPQ rotation
    projection: np.ndarray | None  # [d_in, d_used] after normalisation (pad, PCA, OPQ in one); None = identity
    codebook: np.ndarray  # [m, k, d_used // m] float32, in the projected space
    d_in: int
    dim_note: str  # the dimension handling in words
    recon_error: float  # mean ||z - decode(code(z))||^2 / ||z||^2 over the items fitted (present rows)
    missing_token: bool = False  # code k of every slot means "no content" (items not present at fit time)
    n_missing: int = 0  # items given the missing token at fit time
    learnt_from: int = 0  # items the codebooks learnt from when a sample (``fit_per_codeword``); 0 = every one

    @property
    def slot_size(self) -> int:
        """Token ids per slot: k codewords, plus the missing token when there is one."""
        return self.k + int(self.missing_token)

    @property
    def d_used(self) -> int:
        return self.codebook.shape[0] * self.codebook.shape[2]

    def transform(self, x: np.ndarray) -> np.ndarray:
        """Raw features [n, d_in] -> the space the codebooks live in [n, d_used]."""
        x = _l2(x) if self.normalize else np.asarray(x, dtype=np.float32)
        return np.ascontiguousarray(x if self.projection is None else x @ self.projection)

    def codes(self, x: np.ndarray) -> np.ndarray:
        """Raw features [n, d_in] -> nearest codes [n, m], ``CHUNK`` rows at a time (bounded memory)."""
        out = np.empty((len(x), self.m), dtype=np.int64)
        for s in range(0, len(x), CHUNK):
            out[s:s + CHUNK] = self.assign(self.transform(x[s:s + CHUNK]))
        return out

    def assign(self, z: np.ndarray, chunk: int = 4096) -> np.ndarray:
        """Nearest codeword per sub-space, [n, m] int64; in chunks so n*m*k distances fit in memory."""
        cb = self.codebook
        half_sq = 0.5 * (cb**2).sum(-1)[:, None, :]  # [m, 1, k]
        out = np.empty((len(z), self.m), dtype=np.int64)
        for s in range(0, len(z), chunk):
            sub = z[s:s + chunk].reshape(-1, self.m, cb.shape[2]).transpose(1, 0, 2)  # [m, n, dsub]
            out[s:s + chunk] = np.argmin(half_sq - sub @ cb.transpose(0, 2, 1), axis=2).T
        return out

    def decode(self, codes: np.ndarray) -> np.ndarray:
        """Codes [n, m] -> vectors [n, d_used]; the missing code decodes to zeros."""
        codes = np.asarray(codes)
        missing = codes >= self.k
        out = self.codebook[np.arange(self.m), np.where(missing, 0, codes)]
        out[missing] = 0.0
        return out.reshape(len(codes), -1)

    def codebook_with_missing(self) -> np.ndarray:
        """[m, slot_size, dsub]: the codebook, plus (with a missing token) a row per sub-space at the mean
        of its codewords, so codebook-initialised token tables start the missing token at the centre."""
        if not self.missing_token:
            return self.codebook
        return np.concatenate([self.codebook, self.codebook.mean(1, keepdims=True)], axis=1)


def _row_norms(x: np.ndarray) -> np.ndarray:
    return np.sqrt(np.einsum("ij,ij->i", x, x))  # no [n, D] temporary, unlike np.linalg.norm


def _l2(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float32)
    return x / np.maximum(_row_norms(x), 1e-12)[:, None]


def _pca(x: np.ndarray, d: int) -> tuple[np.ndarray, float]:
    """Top-``d`` principal directions [D, d] and the fraction of variance they keep.

    Exact (eigh of the covariance) so it needs no random state; signs fixed for reproducibility.
    Projecting without centring keeps the map linear, so ``encode`` is one matrix product.
    """
    xt = torch.from_numpy(x)
    mean = xt.mean(0)
    cov = torch.zeros(x.shape[1], x.shape[1], dtype=xt.dtype)
    for s in range(0, len(xt), CHUNK):  # centred chunk by chunk: no centred copy of the whole matrix
        c = xt[s:s + CHUNK] - mean
        cov += c.T @ c
    evals, evecs = torch.linalg.eigh(cov)
    evals, evecs = evals.flip(0).clamp(min=0), evecs.flip(1)[:, :d]
    evecs *= torch.sign(evecs[evecs.abs().argmax(0), torch.arange(d)])
    return evecs.contiguous().numpy(), float(evals[:d].sum() / evals.sum().clamp(min=1e-30))


def _new_pq(d: int, cfg: ModalityPQConfig, n: int, seed: int) -> faiss.ProductQuantizer:
    pq = faiss.ProductQuantizer(d, cfg.m, cfg.k.bit_length() - 1)
    pq.cp.seed = seed
    pq.cp.min_points_per_centroid = 1  # small data: silence faiss' "too few points" warnings
    pq.cp.max_points_per_centroid = max(256, -(-n // cfg.k))  # all n rows given (the sample is ours, seeded)
    return pq


def _learning_rows(x: np.ndarray, k: int, per_codeword: int, seed: int) -> np.ndarray:
    """The rows the codebooks learn from: all of ``x``, or a seeded sample of ``per_codeword * k`` rows
    (in row order) when the catalogue is larger; only the sample is normalised and copied."""
    n = len(x)
    if not per_codeword or n <= per_codeword * k:
        return x
    rows = np.sort(np.random.default_rng(seed).choice(n, per_codeword * k, replace=False))
    return x[rows]


def _fit_modality(name: str, x: np.ndarray, cfg: ModalityPQConfig, seed: int,
                  per_codeword: int = 0) -> tuple[ModalityCodec, np.ndarray]:
    d_in = x.shape[1]
    learn = _learning_rows(x, cfg.k, per_codeword, seed)
    n = len(learn)
    z = np.ascontiguousarray(_l2(learn) if cfg.normalize == "l2" else learn, dtype=np.float32)
    d = d_in
    if d_in % cfg.m:
        d = (-(-d_in // cfg.m) if cfg.dim_fix == "pad" else d_in // cfg.m) * cfg.m
    opq_cap = max(cfg.m, OPQ_MAX_DIM // cfg.m * cfg.m)
    for_opq = cfg.opq and d > opq_cap
    d = opq_cap if for_opq else d
    if d < d_in:
        proj, kept = _pca(z, d)
        note = f"PCA {d_in} -> {d}{' for OPQ' if for_opq else ''} (keeps {kept:.0%} of variance)"
    elif d > d_in:
        proj = np.eye(d_in, d, dtype=np.float32)
        note = f"padded {d_in} -> {d}"
    else:
        proj = None
        note = f"{d_in} divisible by {cfg.m}: unchanged"
    if proj is not None:
        z = np.ascontiguousarray(z @ proj)
    if cfg.opq:
        opq = faiss.OPQMatrix(d, cfg.m)
        opq.niter = OPQ_ITERS
        opq.pq = helper = _new_pq(d, cfg, n, seed)  # noqa: F841  (keeps the SWIG object alive while training)
        opq.train(z)
        rot = faiss.vector_to_array(opq.A).reshape(d, d).T.copy()  # faiss applies y = A x
        proj = rot if proj is None else proj @ rot
        z = np.ascontiguousarray(z @ rot)
    pq = _new_pq(d, cfg, n, seed)
    pq.train(z)
    codebook = faiss.vector_to_array(pq.centroids).reshape(cfg.m, cfg.k, d // cfg.m)
    codec = ModalityCodec(name, cfg.m, cfg.k, cfg.normalize == "l2", cfg.opq, proj, codebook, d_in, note, 0.0)
    codec.learnt_from = len(learn) if len(learn) < len(x) else 0
    del z
    # Every item through the same path as encode() (transform, then our own nearest-codeword search, not
    # pq.compute_codes; tests check it agrees with faiss), a chunk at a time, with the reconstruction error.
    codes = np.empty((len(x), cfg.m), dtype=np.int64)
    total = 0.0
    for s in range(0, len(x), CHUNK):
        zs = codec.transform(x[s:s + CHUNK])
        codes[s:s + CHUNK] = c = codec.assign(zs)
        r = zs - codec.decode(c)
        total += float((np.einsum("ij,ij->i", r, r) / np.maximum(np.einsum("ij,ij->i", zs, zs), 1e-12)).sum())
    codec.recon_error = total / len(x)
    return codec, codes


def _check_features(features: dict[str, np.ndarray], where: str) -> dict[str, np.ndarray]:
    if not features:
        raise MotorError(f"{where}: no modalities given; pass a feature matrix per modality, e.g. "
                         "{'image': [n_items, D], 'text': [n_items, D]}")
    out, rows = {}, {}
    for name, x in features.items():
        x = np.asarray(x)
        if x.ndim != 2 or x.shape[0] == 0 or x.shape[1] == 0:
            raise MotorError(f"{where}: modality {name!r} must be a non-empty [n_items, D] matrix, got shape {x.shape}")
        if not np.issubdtype(x.dtype, np.number):
            raise MotorError(f"{where}: modality {name!r} has non-numeric features (dtype {x.dtype})")
        x = x.astype(np.float32, copy=False)
        bad = np.concatenate([~np.isfinite(x[s:s + CHUNK]).all(1) for s in range(0, len(x), CHUNK)])
        if bad.any():
            raise MotorError(f"{where}: modality {name!r} has NaN or infinite values in {int(bad.sum())} rows "
                             f"(first: row {int(np.argmax(bad))}); fill missing content, e.g. with the modality mean")
        out[name], rows[name] = x, x.shape[0]
    if len(set(rows.values())) > 1:
        raise MotorError(f"{where}: modalities have different numbers of rows ({rows}); row i of every matrix "
                         "must describe item i")
    return out


def _check_present(present: dict[str, np.ndarray] | None, features: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Per modality a bool [n_items] mask of rows with real content (all True when not given)."""
    present = present or {}
    unknown = [name for name in present if name not in features]
    if unknown:
        raise MotorError(f"present masks given for {', '.join(map(repr, unknown))}, not among the modalities "
                         f"{', '.join(map(repr, features))}")
    out = {}
    for name, x in features.items():
        mask = present.get(name)
        mask = np.ones(len(x), bool) if mask is None else np.asarray(mask, bool).reshape(-1)
        if len(mask) != len(x):
            raise MotorError(f"present mask of {name!r} has {len(mask)} entries for {len(x)} items; one per item")
        out[name] = mask
    return out


def fit_tokenizer(features: dict[str, np.ndarray], cfg: TokenizerConfig | dict | None,
                  progress: Callable[[float, str], None] | None = None,
                  present: dict[str, np.ndarray] | None = None) -> "Tokenizer":
    """Fit PQ codebooks per modality on all items (a seeded sample of a large catalogue) and tokenize them.

    ``features``: modality name -> [n_items, D] floats, row i = item i; dict order is token order.
    ``present`` (optional): modality name -> bool [n_items], False for items without that content:
    the codebooks are fitted on the present rows and the others get the modality's missing token.
    ``progress(fraction, message)`` is called before each modality and at the end.
    """
    start = time.perf_counter()
    cfg = checked(TokenizerConfig, cfg, "tokenizer")  # TokenizerConfig(k=100) made in Python is not checked yet
    features = _check_features(features, "tokenizer")
    present = _check_present(present, features)
    n = next(iter(features.values())).shape[0]
    missing = [name for name in cfg.per_modality if name not in features]
    if missing:
        raise MotorError(f"per_modality has settings for {', '.join(map(repr, missing))}, not in the data; "
                         f"available modalities: {', '.join(map(repr, features))}")
    cfg.validate()
    settings = {name: cfg.for_modality(name) for name in features}
    for name, mc in settings.items():  # every check before any fitting
        d = features[name].shape[1]
        n_fit = int(present[name].sum())
        if mc.k > n_fit:
            fits = (f"use a power of two at most {n_fit}, e.g. {1 << (n_fit.bit_length() - 1)}" if n_fit >= 2
                    else "add items with this content")
            what = "items" if n_fit == n else f"items with {name} content (of {n})"
            raise MotorError(f"modality {name!r}: k={mc.k} codewords exceed the {n_fit} {what}; {fits} (fewer "
                             "codewords put more items on each token)")
        if mc.m > d:
            divisors = [m for m in range(1, d + 1) if d % m == 0]
            raise MotorError(f"modality {name!r}: m={mc.m} sub-vectors exceed its {d} dims; use m at most {d}, "
                             f"ideally a divisor: {', '.join(map(str, divisors[-6:]))}")
    codecs, codes = [], []
    for i, (name, mc) in enumerate(settings.items()):
        if progress:
            progress(i / len(features), f"tokenizing {name} ({features[name].shape[1]} dims, m={mc.m}, k={mc.k})")
        mask = present[name]
        if mask.all():
            codec, c = _fit_modality(name, features[name], mc, cfg.seed, cfg.fit_per_codeword)
        else:  # fit on the items that have this content; the others get code k, the missing token
            codec, fitted = _fit_modality(name, features[name][mask], mc, cfg.seed, cfg.fit_per_codeword)
            codec.missing_token, codec.n_missing = True, int((~mask).sum())
            c = np.full((n, mc.m), mc.k, np.int64)
            c[mask] = fitted
        codecs.append(codec)
        codes.append(c)
    if progress:
        progress(1.0, "tokenizer fitted")
    return Tokenizer(cfg, codecs, np.concatenate(codes, axis=1), time.perf_counter() - start)


def _collision_rate(codes: np.ndarray) -> float:
    """Fraction of items whose whole code row equals at least one other item's."""
    _, inverse, counts = np.unique(codes, axis=0, return_inverse=True, return_counts=True)
    return float((counts[inverse.ravel()] > 1).mean())


TOKENIZER_FILES = ("tokenizer.json", "tokenizer.npz")


def _is_saved_tokenizer(meta_file: Path) -> bool:
    """Whether ``meta_file`` is a tokenizer.json written by ``Tokenizer.save`` (any format version)."""
    try:
        meta = json.loads(meta_file.read_text())
    except (OSError, UnicodeDecodeError, ValueError):
        return False
    return isinstance(meta, dict) and {"format", "config", "modalities"} <= meta.keys()


def _check_tokenizer_folder(directory: Path) -> None:
    """Refuse a folder ``Tokenizer.save`` would overwrite someone else's file in, or that is a file."""
    if directory.exists() and not directory.is_dir():
        raise MotorError(f"{directory} is a file, not a folder; the tokenizer is saved as two files in a folder, "
                         f"e.g. {directory.with_name(directory.name + '-tokenizer')}")
    blocked = file_above(directory)
    if blocked is not None:  # was NotADirectoryError from mkdir
        raise MotorError(f"{directory} is inside {blocked}, which is a file, not a folder; give a folder path "
                         f"that does not go through a file, e.g. {blocked.with_name(blocked.name + '-tokenizer')}")
    found = [n for n in TOKENIZER_FILES if (directory / n).exists()]
    if found and not _is_saved_tokenizer(directory / "tokenizer.json"):
        raise MotorError(f"{directory} already holds {' and '.join(found)} that a motor-lab tokenizer did not "
                         f"write; saving would overwrite it, so nothing was written. Give a new or empty folder, "
                         f"e.g. {directory / 'motor-tokenizer'}")


class Tokenizer:
    """A fitted tokenizer: the items' token ids, the codebooks, and ``encode`` for new items."""

    def __init__(self, config: TokenizerConfig, codecs: list[ModalityCodec], codes: np.ndarray, fit_seconds: float):
        self.config, self.codecs, self.fit_seconds = config, codecs, float(fit_seconds)
        self.codes = codes.astype(np.int64)  # [n_items, T] raw codes, each in [0, K] (K = missing token)
        self.modalities = [c.name for c in codecs]
        self.m = {c.name: c.m for c in codecs}
        self.k = {c.name: c.k for c in codecs}
        self.slot_modality = np.repeat(np.arange(len(codecs)), [c.m for c in codecs])  # index into modalities
        self.slot_subspace = np.concatenate([np.arange(c.m) for c in codecs])
        slot_k = np.repeat([c.slot_size for c in codecs], [c.m for c in codecs])
        self.slot_offset = np.concatenate([[0], np.cumsum(slot_k)[:-1]]).astype(np.int64)
        self.vocab_size = int(slot_k.sum())
        self.token_ids = self.codes + self.slot_offset  # [n_items, T]

    @property
    def n_items(self) -> int:
        return self.codes.shape[0]

    @property
    def n_tokens(self) -> int:
        """T: tokens per item."""
        return self.codes.shape[1]

    @property
    def codebooks(self) -> dict[str, np.ndarray]:
        """Per modality [M, ids per slot, dsub], aligned with the token ids (with the missing token's row)."""
        return {c.name: c.codebook_with_missing() for c in self.codecs}

    def missing_items(self) -> dict[str, np.ndarray]:
        """Per modality with a missing token: bool [n_items], items that got it."""
        return {c.name: self.codes[:, self.slot_modality == i][:, 0] == c.k
                for i, c in enumerate(self.codecs) if c.missing_token}

    def encode(self, features: dict[str, np.ndarray], present: dict[str, np.ndarray] | None = None) -> np.ndarray:
        """Token ids [n, T] for items described by ``features`` (same modalities and dims as the fit);
        items marked absent in ``present`` get the modality's missing token (it must have one)."""
        features = _check_features(features, "encode")
        present = _check_present(present, features)
        if set(features) != set(self.modalities):
            raise MotorError(f"encode: got modalities {', '.join(map(repr, features))}; the tokenizer was fitted on "
                             f"{', '.join(map(repr, self.modalities))} and needs exactly those")
        for c in self.codecs:
            if features[c.name].shape[1] != c.d_in:
                raise MotorError(f"encode: modality {c.name!r} has {features[c.name].shape[1]} dims, the tokenizer "
                                 f"was fitted on {c.d_in}")
        parts = []
        for c in self.codecs:
            mask = present[c.name]
            if not mask.all() and not c.missing_token:
                raise MotorError(f"encode: {int((~mask).sum())} items lack {c.name!r} content, but the tokenizer was "
                                 f"fitted with every item present and has no missing token for it; refit with "
                                 f"those items marked missing")
            codes = np.full((len(mask), c.m), c.k, np.int64)
            if mask.all():
                codes = c.codes(features[c.name])
            elif mask.any():
                codes[mask] = c.codes(features[c.name][mask])
            parts.append(codes)
        return np.concatenate(parts, axis=1) + self.slot_offset

    # --- inspection ---------------------------------------------------------------------------

    def _slot(self, tid: int) -> int:
        if isinstance(tid, bool) or not isinstance(tid, numbers.Integral):  # "3" was a TypeError from the comparison
            raise MotorError(f"token ids are whole numbers from 0 to {self.vocab_size - 1}, got {tid!r}")
        if not 0 <= tid < self.vocab_size:
            raise MotorError(f"token id {tid} is out of range; valid ids are 0..{self.vocab_size - 1}")
        return int(np.searchsorted(self.slot_offset, tid, side="right") - 1)

    def token_label(self, tid: int) -> str:
        """'text s3 c17': modality, sub-space, codeword of a token id; 'image s0 missing' for the token of the
        items without that content (not a codeword)."""
        s = self._slot(tid)
        code, codec = tid - self.slot_offset[s], self.codecs[self.slot_modality[s]]
        where = f"{self.modalities[self.slot_modality[s]]} s{self.slot_subspace[s]}"
        return f"{where} missing" if codec.missing_token and code == codec.k else f"{where} c{code}"

    def items_with_token(self, tid: int) -> np.ndarray:
        return np.flatnonzero(self.token_ids[:, self._slot(tid)] == tid)

    @property
    def missing_tokens(self) -> np.ndarray:
        """bool [vocab_size]: the reserved missing-token ids ('image s0 missing'). Such a token marks absent
        content, not content: two items without a poster have nothing in common through it."""
        mask = np.zeros(self.vocab_size, bool)
        for s in range(self.n_tokens):
            c = self.codecs[self.slot_modality[s]]
            if c.missing_token:
                mask[self.slot_offset[s] + c.k] = True
        return mask

    def is_missing(self, tid: int) -> bool:
        """Whether token id ``tid`` is a slot's reserved missing token (no content), not a codeword."""
        self._slot(tid)  # validates the id
        return bool(self.missing_tokens[tid])

    def shared_tokens(self, token_ids: np.ndarray) -> np.ndarray:
        """bool [n_items, T]: which of ``token_ids`` (one item's T ids, from the catalogue or a new item) each
        item shares (slots never share ids). A reserved missing token is not content and never counts: items
        without a poster share no image token."""
        token_ids = np.asarray(token_ids)
        return (self.token_ids == token_ids[None]) & ~self.missing_tokens[token_ids][None]

    def shared_token_counts(self, item: int) -> np.ndarray:
        """[n_items]: how many content tokens each item shares with ``item`` (``shared_tokens``)."""
        item = check_index(item, self.n_items, "item", "dataset.item_index(...)")
        return self.shared_tokens(self.token_ids[item]).sum(1)

    def most_sharing(self, item: int, k: int = 10) -> list[tuple[int, int]]:
        """The ``k`` other items sharing most (content) tokens with ``item``, as (item, shared), ties by index."""
        check_k(k)  # k=-1 sliced off only the last item: nearly the whole catalogue
        counts = self.shared_token_counts(item)
        counts[item] = -1
        top = np.argsort(-counts, kind="stable")[:k]
        return [(int(i), int(counts[i])) for i in top if counts[i] >= 0]

    # --- report -------------------------------------------------------------------------------

    def report(self) -> dict:
        """JSON-ready usage and quality figures, per modality and overall."""
        modalities, usage = {}, np.bincount(self.token_ids.ravel(), minlength=self.vocab_size)
        for i, c in enumerate(self.codecs):
            slots = np.flatnonzero(self.slot_modality == i)
            # codeword counts only (without the missing token), slot after slot
            counts = np.concatenate([usage[self.slot_offset[s]:self.slot_offset[s] + c.k] for s in slots])
            used = counts[counts > 0] if (counts > 0).any() else np.zeros(1, np.int64)
            modalities[c.name] = {
                "d_in": c.d_in, "d_used": c.d_used, "dims": c.dim_note,
                "normalize": "l2" if c.normalize else "none", "opq": c.opq, "m": c.m, "k": c.k,
                "codewords_used": [int((counts[j * c.k:(j + 1) * c.k] > 0).sum()) for j in range(c.m)],
                "items_per_token": {"min": int(used.min()), "median": float(np.median(used)),
                                    "mean": float(used.mean()), "max": int(used.max())},
                "unused_tokens": int((counts == 0).sum()),
                "code_collision_rate": _collision_rate(self.codes[:, slots]),
                "recon_error": c.recon_error,
                "missing_items": c.n_missing,
                "learnt_from_items": c.learnt_from or self.n_items - c.n_missing,
            }
        return {"n_items": self.n_items, "tokens_per_item": self.n_tokens, "vocab_size": self.vocab_size,
                "collision_rate": _collision_rate(self.codes), "fit_seconds": self.fit_seconds,
                "modalities": modalities}

    def format_report(self) -> str:
        """The report as a text table for the CLI."""
        r = self.report()
        head = ["modality", "D in", "D used", "dims", "norm", "OPQ", "m x k", "codewords used",
                "items/token min/med/mean/max", "unused", "code collisions", "recon err", "missing items"]
        rows = [[name, str(m["d_in"]), str(m["d_used"]), m["dims"], m["normalize"], "yes" if m["opq"] else "no",
                 f"{m['m']} x {m['k']}", f"{min(m['codewords_used'])}-{max(m['codewords_used'])} of {m['k']}",
                 "{min}/{median:g}/{mean:.1f}/{max}".format(**m["items_per_token"]), str(m["unused_tokens"]),
                 f"{m['code_collision_rate']:.1%}", f"{m['recon_error']:.3f}", str(m["missing_items"])]
                for name, m in r["modalities"].items()]
        widths = [max(len(row[j]) for row in [head] + rows) for j in range(len(head))]
        lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip() for row in [head] + rows]
        lines.append(f"{r['n_items']} items, T = {r['tokens_per_item']} tokens per item, V = {r['vocab_size']} token "
                     f"ids; {r['collision_rate']:.1%} of items share their full token tuple with another item; "
                     f"fitted in {r['fit_seconds']:.2f} s")
        return "\n".join(lines)

    # --- files --------------------------------------------------------------------------------

    def save(self, directory: str | Path) -> Path:
        """Write tokenizer.json (settings, metadata) and tokenizer.npz (arrays; no pickles).

        Other files in ``directory`` are left alone; a tokenizer.json or tokenizer.npz there that a
        Tokenizer did not write (a Hugging Face model folder has a tokenizer.json) is refused, not replaced.
        """
        directory = Path(directory)
        _check_tokenizer_folder(directory)
        directory.mkdir(parents=True, exist_ok=True)
        meta = {"format": FORMAT, "config": to_dict(self.config), "fit_seconds": self.fit_seconds,
                "modalities": [{"name": c.name, "m": c.m, "k": c.k, "normalize": c.normalize, "opq": c.opq,
                                "d_in": c.d_in, "dims": c.dim_note, "recon_error": c.recon_error,
                                "missing_token": c.missing_token, "n_missing": c.n_missing,
                                "learnt_from": c.learnt_from}
                               for c in self.codecs]}
        arrays = {"codes": self.codes}
        for i, c in enumerate(self.codecs):
            arrays[f"codebook_{i}"] = c.codebook
            if c.projection is not None:
                arrays[f"projection_{i}"] = c.projection
        np.savez(directory / "tokenizer.npz", **arrays)
        (directory / "tokenizer.json").write_text(json.dumps(meta, indent=2))
        return directory

    @classmethod
    def load(cls, directory: str | Path) -> "Tokenizer":
        directory = Path(directory)
        if not (directory / "tokenizer.json").exists() or not (directory / "tokenizer.npz").exists():
            raise MotorError(f"{directory} holds no tokenizer: expected tokenizer.json and tokenizer.npz "
                             "(written by Tokenizer.save)")
        again = "fit the tokenizer again, or restore the folder from a copy"
        if not _is_saved_tokenizer(directory / "tokenizer.json"):  # was a JSONDecodeError, AttributeError, KeyError
            raise MotorError(f"{directory}/tokenizer.json was not written by Tokenizer.save (it is damaged, or another "
                             f"tool's, such as a Hugging Face model's); {again}")
        meta = json.loads((directory / "tokenizer.json").read_text())
        if meta.get("format") != FORMAT:
            raise MotorError(f"{directory}/tokenizer.json has format {meta.get('format')!r}; this motor-lab reads "
                             f"format {FORMAT}: fit the tokenizer again")
        try:
            with np.load(directory / "tokenizer.npz", allow_pickle=False) as z:
                codecs = [ModalityCodec(mm["name"], mm["m"], mm["k"], mm["normalize"], mm["opq"],
                                        z[f"projection_{i}"] if f"projection_{i}" in z.files else None,
                                        z[f"codebook_{i}"], mm["d_in"], mm["dims"], mm["recon_error"],
                                        mm.get("missing_token", False), mm.get("n_missing", 0), mm.get("learnt_from", 0))
                          for i, mm in enumerate(meta["modalities"])]
                codes = z["codes"]
        except (OSError, EOFError, ValueError, KeyError, TypeError, zipfile.BadZipFile) as e:
            raise MotorError(f"{directory}: tokenizer.npz does not match tokenizer.json or is damaged "
                             f"({type(e).__name__}: {e}); {again}") from None
        return cls(from_dict(TokenizerConfig, meta["config"]), codecs, codes, meta["fit_seconds"])
