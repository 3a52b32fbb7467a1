"""MOTOR's item encoder: an item is its T shared tokens, crossed and pooled into one vector.

``token_ids [n_items, T]`` (from the PQ tokenizer) is frozen content, kept as a buffer: it is
saved in the state_dict, so a reloaded model needs nothing else. The only learnable item-side
tables are the token table ``E [V, token_dim]`` (one row per (modality, sub-space, codeword)) and
the slot embeddings ``S [T, token_dim]`` (one per (modality, sub-space)); nothing grows with
the number of items. ``H0 = E[tid] + S`` goes through a Token Cross Network (TCN):

- ``attention``: L pre-norm transformer blocks over the item's T tokens, final LayerNorm,
  attention pooling ``alpha = softmax(H q / sqrt(token_dim))``, ``Linear(token_dim -> dim)``.
- ``cross``: DCN-v2 cross layers ``x_{l+1} = x0 * (W_l x_l + b_l) + x_l`` on the flattened
  tokens ``x0 = flatten(H0)`` (``T * token_dim`` wide), LayerNorm, ``Linear(T * token_dim -> dim)``.
  W is low rank, ``U V^T`` with rank token_dim, whenever that has fewer weights than a full
  ``D x D`` matrix (T > 2): at T=16, token_dim=64 that is 131k instead of 1M weights per layer.
- ``mean``: mean of H0 over tokens, LayerNorm, ``Linear(token_dim -> dim)`` (the no-crossing
  ablation).

All three end in a LayerNorm before the output projection, so their item vectors start at the
same scale and an ablation compares the crossing, not the initial magnitudes (without it the
'mean' and 'cross' outputs start about 100 times smaller than the 'attention' ones).

Item vectors are recomputed from the tokens in every forward pass: only the batch's items for
``encode(items)``, all items (in chunks) for ``encode(None)``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from motor.config import doc
from motor.encoders.base import ItemEncoder
from motor.errors import MotorError


def _divisors(n: int) -> list[int]:
    return [d for d in range(1, n + 1) if n % d == 0]


@dataclass
class MotorEncoderConfig:
    token_dim: int = doc(32, "width of the token embeddings inside the Token Cross Network (32: the TCN runs "
                             "on every item at every step, so its width sets MOTOR's CPU cost)")
    tcn: Literal["attention", "cross", "mean"] = doc(
        "attention", "how an item's tokens interact: 'attention' (self-attention blocks + attention pooling), "
                     "'cross' (DCN-v2 cross layers on the concatenated tokens), 'mean' (no crossing: average)")
    layers: int = doc(1, "attention blocks ('attention') or cross layers ('cross'); ignored by 'mean'")
    heads: int = doc(2, "attention heads per block; must divide token_dim ('attention' only)")
    ffn_mult: int = doc(2, "hidden width of each block's feed-forward layer, as a multiple of token_dim")
    dropout: float = doc(0.0, "dropout on token embeddings, attention weights and residual branches "
                              "(training only; evaluation is deterministic)")
    init: Literal["normal", "codebook"] = doc(
        "normal", "token table init: 'normal' (N(0, init_std)) or 'codebook' (each token starts as its PQ codeword, "
                  "mapped to token_dim by a fixed random orthogonal projection per modality, centred per "
                  "sub-space and scaled to std init_std)")
    slot_embeddings: bool = doc(True, "add a learnable embedding per token slot (modality, sub-space), so the "
                                      "TCN knows where each token comes from")
    init_std: float = doc(0.02, "std of the normal init of token table, slot embeddings and linear weights "
                                "(nanoGPT style; residual output projections use init_std / sqrt(2 * layers))")

    def validate(self):
        if self.token_dim < 1:
            raise MotorError(f"token_dim={self.token_dim}: the token width must be at least 1 (typical: 32, 64)")
        if self.tcn in ("attention", "cross") and self.layers < 1:
            raise MotorError(f"layers={self.layers}: tcn={self.tcn!r} needs at least 1 layer (typical: 1 to 3); "
                             f"use tcn='mean' for no crossing")
        if self.layers < 0:
            raise MotorError(f"layers={self.layers}: must be 0 or more")
        if self.tcn == "attention":
            if self.heads < 1 or self.token_dim % self.heads:
                raise MotorError(f"heads={self.heads} must divide token_dim={self.token_dim}; valid values: "
                                 f"{', '.join(map(str, _divisors(self.token_dim)))}")
        if self.ffn_mult < 1:
            raise MotorError(f"ffn_mult={self.ffn_mult}: the feed-forward width multiple must be at least 1 "
                             f"(typical: 2 or 4)")
        if not 0.0 <= self.dropout < 1.0:
            raise MotorError(f"dropout={self.dropout}: must be in [0, 1) (typical: 0 to 0.2)")
        if not self.init_std > 0:
            raise MotorError(f"init_std={self.init_std}: must be positive (typical: 0.02)")


# --- Token Cross Network pieces ---------------------------------------------------------------


class SelfAttention(nn.Module):
    """Multi-head self-attention among one item's tokens; returns the weights for inspection."""

    def __init__(self, d: int, heads: int, dropout: float):
        super().__init__()
        self.heads = heads
        self.qkv = nn.Linear(d, 3 * d)
        self.proj = nn.Linear(d, d)
        self.attn_drop, self.resid_drop = nn.Dropout(dropout), nn.Dropout(dropout)

    def forward(self, x: torch.Tensor, keep: bool = False, qkv: torch.Tensor | None = None):
        """``qkv`` may be given precomputed ([B, T, 3d]); ``keep`` returns the weights [B, h, T, T]."""
        B, T, d = x.shape
        qkv = self.qkv(x) if qkv is None else qkv
        q, k, v = qkv.view(B, T, 3, self.heads, d // self.heads).permute(2, 0, 3, 1, 4)  # 3 x [B, h, T, hd]
        # Explicit softmax (not the fused kernel): on CPU at T=16 it is faster, and the weights are the
        # token-cross attention maps the app shows.
        att = torch.softmax(q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1]), dim=-1)  # [B, h, T, T]
        y = self.attn_drop(att) @ v
        return self.resid_drop(self.proj(y.transpose(1, 2).reshape(B, T, d))), (att if keep else None)


class Block(nn.Module):
    """Pre-norm transformer block: x + attn(LN(x)), then x + FFN(LN(x))."""

    def __init__(self, d: int, heads: int, ffn_mult: int, dropout: float):
        super().__init__()
        self.ln1, self.ln2 = nn.LayerNorm(d), nn.LayerNorm(d)
        self.attn = SelfAttention(d, heads, dropout)
        self.ffn = nn.Sequential(nn.Linear(d, ffn_mult * d), nn.GELU(), nn.Linear(ffn_mult * d, d), nn.Dropout(dropout))

    def forward(self, x: torch.Tensor, keep: bool = False, qkv: torch.Tensor | None = None):
        a, att = self.attn(self.ln1(x) if qkv is None else x, keep, qkv)
        x = x + a
        return x + self.ffn(self.ln2(x)), att


class CrossLayer(nn.Module):
    """DCN-v2 cross layer ``x0 * (W x + b) + x``; ``W = U V^T`` (rank r) when that is smaller than D x D."""

    def __init__(self, width: int, rank: int | None, dropout: float):
        super().__init__()
        self.low_rank = rank is not None
        if not self.low_rank:
            self.w = nn.Linear(width, width)
        else:
            self.v = nn.Linear(width, rank, bias=False)  # V^T x
            self.u = nn.Linear(rank, width)  # U (V^T x) + b
        self.drop = nn.Dropout(dropout)

    def forward(self, x0: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        wx = self.u(self.v(x)) if self.low_rank else self.w(x)
        return x0 * self.drop(wx) + x


def cross_rank(T: int, token_dim: int) -> int | None:
    """Rank of the cross layers' W: token_dim when low rank has fewer weights (T > 2), else None (full)."""
    width = T * token_dim
    return token_dim if 2 * width * token_dim < width * width else None


# --- the encoder --------------------------------------------------------------------------------


class MotorEncoder(ItemEncoder):
    """Item vectors from shared multimodal tokens: ``V x token_dim`` + TCN parameters, none per item.

    ``token_ids`` [n_items, T] in ``0..vocab_size-1`` (the tokenizer's ``token_ids``);
    ``slot_modality`` [T] (optional) is the modality index of each slot; ``codebooks`` (list or
    dict of [M, K, dsub] in modality order) is needed only for ``init='codebook'``.
    """

    kind = "motor"
    chunk = 65536  # items per forward in encode(None) / attention_summary (bounds peak memory; settable per instance)

    def __init__(self, n_items: int, dim: int, token_ids, vocab_size: int, cfg: MotorEncoderConfig | None = None,
                 slot_modality: Sequence[int] | None = None, codebooks=None):
        super().__init__(n_items, dim)
        cfg = cfg or MotorEncoderConfig()
        cfg.validate()
        self.cfg = cfg
        tids = (token_ids if torch.is_tensor(token_ids) else torch.as_tensor(np.asarray(token_ids))).long()
        if tids.dim() != 2 or tids.shape[0] != n_items or tids.shape[1] < 1:
            raise MotorError(f"token_ids must be an [n_items={n_items}, T] integer matrix, "
                             f"got shape {tuple(tids.shape)}")
        if tids.numel() and (int(tids.min()) < 0 or int(tids.max()) >= vocab_size):
            raise MotorError(f"token ids must lie in 0..{vocab_size - 1} (vocab_size={vocab_size}); got "
                             f"{int(tids.min())}..{int(tids.max())}: pass the vocab_size of the tokenizer that "
                             f"made these token ids")
        # Frozen content, saved with the model; int32 halves its memory (4 bytes per item token).
        self.register_buffer("token_ids", tids.to(torch.int32).contiguous())
        vocab_slot = torch.zeros(vocab_size, dtype=torch.long)  # the slot each token id belongs to
        vocab_slot[tids] = torch.arange(tids.shape[1]).expand_as(tids)
        self.register_buffer("vocab_slot", vocab_slot, persistent=False)
        self.vocab_size, self.n_tokens = int(vocab_size), int(tids.shape[1])
        self.slot_modality = None if slot_modality is None else [int(m) for m in slot_modality]
        if self.slot_modality is not None and len(self.slot_modality) != self.n_tokens:
            raise MotorError(f"slot_modality has {len(self.slot_modality)} entries but items have "
                             f"T={self.n_tokens} tokens; pass one modality index per token slot")
        T, d, std = self.n_tokens, cfg.token_dim, cfg.init_std

        self.token_table = nn.Embedding(vocab_size, d)
        self.slot = nn.Parameter(torch.zeros(T, d)) if cfg.slot_embeddings else None  # S [T, token_dim]
        self.drop = nn.Dropout(cfg.dropout)
        if cfg.tcn == "attention":
            self.blocks = nn.ModuleList(Block(d, cfg.heads, cfg.ffn_mult, cfg.dropout) for _ in range(cfg.layers))
            self.ln_f = nn.LayerNorm(d)
            self.query = nn.Parameter(torch.zeros(d))
            self.out = nn.Linear(d, dim)
        elif cfg.tcn == "cross":
            rank = cross_rank(T, d)
            self.cross = nn.ModuleList(CrossLayer(T * d, rank, cfg.dropout) for _ in range(cfg.layers))
            self.ln_f = nn.LayerNorm(T * d)
            self.out = nn.Linear(T * d, dim)
        else:
            self.ln_f = nn.LayerNorm(d)
            self.out = nn.Linear(d, dim)

        # nanoGPT init: N(0, std) for tables and linear weights, zero biases, LayerNorm at identity,
        # residual output projections shrunk by depth so the residual stream keeps its scale
        for m in self.modules():
            if isinstance(m, (nn.Linear, nn.Embedding)):
                nn.init.normal_(m.weight, std=std)
            if isinstance(m, nn.Linear) and m.bias is not None:
                nn.init.zeros_(m.bias)
        for p in (self.slot, getattr(self, "query", None)):
            if p is not None:
                nn.init.normal_(p, std=std)
        for blk in getattr(self, "blocks", []):
            for w in (blk.attn.proj.weight, blk.ffn[2].weight):
                nn.init.normal_(w, std=std / math.sqrt(2 * cfg.layers))
        if cfg.init == "codebook":
            if codebooks is None:
                raise MotorError("init='codebook' needs the tokenizer's PQ codebooks; pass codebooks= "
                                 "or use init='normal'")
            books = list(codebooks.values()) if isinstance(codebooks, dict) else list(codebooks)
            if self.slot_modality is not None:
                per_mod = np.bincount(self.slot_modality, minlength=len(books))
                if len(per_mod) != len(books) or any(int(n) != len(b) for n, b in zip(per_mod, books)):
                    raise MotorError(f"slot_modality gives {per_mod.tolist()} slots per modality but the "
                                     f"codebooks have {[len(b) for b in books]} sub-spaces; pass both from the "
                                     f"same tokenizer")
            with torch.no_grad():
                self.token_table.weight.copy_(codebook_init(books, vocab_size, d, std))

    # --- forward ----------------------------------------------------------------------------

    def _token_states(self) -> torch.Tensor:
        """H0 of every vocabulary entry, ``E + S[slot(tid)]`` [V, token_dim].

        A token id belongs to exactly one slot (the id layout is per (modality, sub-space)), so
        H0 depends on the token id alone and everything computed from H0 token by token can be
        computed once per vocabulary entry (V rows) instead of once per item token (n x T rows).
        """
        h = self.token_table.weight
        return h if self.slot is None else h + self.slot[self.vocab_slot]

    def _tcn(self, tids: torch.Tensor, keep: bool = False):
        """[B, T] token ids -> ([B, dim], attention [L, B, h, T, T] | None, pooling [B, T] | None)."""
        cfg = self.cfg
        h0 = self._token_states()
        if cfg.tcn == "mean" and not (self.training and cfg.dropout > 0):
            return self.out(self.ln_f(F.embedding_bag(tids, h0, mode="mean"))), None, None
        h = self.drop(F.embedding(tids, h0))
        if cfg.tcn == "mean":
            return self.out(self.ln_f(h.mean(1))), None, None
        if cfg.tcn == "cross":
            x0 = x = h.flatten(1)
            for layer in self.cross:
                x = layer(x0, x)
            return self.out(self.ln_f(x)), None, None
        maps = []
        qkv = None
        if not (self.training and cfg.dropout > 0):  # block 0's LayerNorm + q,k,v once per vocabulary entry
            first = self.blocks[0]
            qkv = F.embedding(tids, first.attn.qkv(first.ln1(h0)))
        for i, blk in enumerate(self.blocks):
            h, att = blk(h, keep, qkv if i == 0 else None)
            maps.append(att)
        h = self.ln_f(h)
        alpha = torch.softmax(h @ self.query / math.sqrt(cfg.token_dim), dim=1)  # [B, T]
        pooled = (alpha.unsqueeze(-1) * h).sum(1)
        return self.out(pooled), (torch.stack(maps) if keep else None), alpha

    def encode_tokens(self, token_ids: torch.Tensor) -> torch.Tensor:
        """Vectors [B, dim] of items given by their token ids [B, T] (e.g. new items, never in the catalogue)."""
        token_ids = torch.as_tensor(token_ids, device=self.token_ids.device).long()
        if token_ids.dim() != 2 or token_ids.shape[1] != self.n_tokens:
            raise MotorError(f"token ids must be [n, T={self.n_tokens}], got shape {tuple(token_ids.shape)}")
        return self._tcn(token_ids)[0]

    def encode(self, items: torch.Tensor | None) -> torch.Tensor:
        if items is not None:
            unique, inverse = torch.unique(items, return_inverse=True)  # a batch repeats items: encode each once
            return self._tcn(self.token_ids[unique])[0][inverse]
        if self.n_items <= self.chunk:
            return self._tcn(self.token_ids)[0]
        return torch.cat([self._tcn(self.token_ids[s:s + self.chunk])[0] for s in range(0, self.n_items, self.chunk)])

    # --- inspection -------------------------------------------------------------------------

    @torch.no_grad()
    def _inspect(self, tids: torch.Tensor):
        was = self.training
        self.eval()
        try:
            return self._tcn(tids, keep=True)
        finally:
            self.train(was)

    def explain(self, item: int) -> dict:
        """Attention maps [L, heads, T, T], pooling weights [T] and token ids [T] of one item (eval mode).

        ``attention`` is None unless tcn='attention'; ``pooling`` is uniform for 'mean', None for 'cross'.
        """
        if not 0 <= int(item) < self.n_items:
            raise MotorError(f"item {item} is out of range; valid items are 0..{self.n_items - 1}")
        tids = self.token_ids[int(item)]
        _, att, alpha = self._inspect(tids[None])
        if self.cfg.tcn == "mean":
            alpha = torch.full((1, self.n_tokens), 1.0 / self.n_tokens, device=tids.device)  # mean: uniform pooling
        return {"attention": None if att is None else att[:, 0].cpu().numpy(),
                "pooling": None if alpha is None else alpha[0].cpu().numpy(),
                "token_ids": tids.cpu().numpy()}

    def attention_summary(self, items: torch.Tensor | None = None) -> np.ndarray | None:
        """Mean attention map [L, heads, T, T] over all items (or ``items``), in eval mode; None without attention."""
        if self.cfg.tcn != "attention":
            return None
        tids = self.token_ids if items is None else self.token_ids[torch.as_tensor(items, device=self.token_ids.device)]
        if len(tids) == 0:
            raise MotorError("attention_summary needs at least one item")
        total = None
        for s in range(0, len(tids), self.chunk):
            att = self._inspect(tids[s:s + self.chunk])[1].double().sum(1)  # [L, h, T, T]
            total = att if total is None else total + att
        return (total / len(tids)).float().cpu().numpy()

    # --- size -------------------------------------------------------------------------------

    @staticmethod
    def item_side_parameters(n_items: int, T: int, V: int, dim: int, cfg: MotorEncoderConfig) -> int:
        """Trainable item-side parameters, by formula (no allocation). ``n_items`` does not enter: that is the point."""
        return item_side_parameters(n_items, T, V, dim, cfg)


def item_side_parameters(n_items: int, T: int, V: int, dim: int, cfg: MotorEncoderConfig) -> int:
    """``MotorEncoder(...).n_parameters()`` without building it (the ID table has ``n_items * dim``)."""
    d = cfg.token_dim
    n = V * d + (T * d if cfg.slot_embeddings else 0)
    if cfg.tcn == "attention":
        f = cfg.ffn_mult * d
        per_block = 2 * 2 * d + (3 * d * d + 3 * d) + (d * d + d) + (d * f + f) + (f * d + d)
        return n + cfg.layers * per_block + 2 * d + d + d * dim + dim
    if cfg.tcn == "cross":
        w, r = T * d, cross_rank(T, d)
        per_layer = w * w + w if r is None else w * r + r * w + w
        return n + cfg.layers * per_layer + 2 * w + w * dim + dim
    return n + 2 * d + d * dim + dim


def codebook_init(codebooks, vocab_size: int, token_dim: int, std: float) -> torch.Tensor:
    """Token table [V, token_dim] from PQ codebooks (list or dict of [M, K, dsub], modality order).

    Codeword (m, s, c) is row ``offset(m, s) + c``. Each modality gets a fixed (not learned: no
    extra parameters; drawn from torch's RNG) random orthogonal projection dsub -> token_dim: an
    isometry when dsub <= token_dim, so similar codewords start as similar tokens. Each
    sub-space's K projected codewords are centred (the slot embedding carries what a sub-space
    has in common), and each modality's block is scaled to std ``std``, the scale of the normal
    init, so no modality dominates and the rest of the network sees the usual magnitudes.
    """
    books = list(codebooks.values()) if isinstance(codebooks, dict) else list(codebooks)
    rows = []
    for i, cb in enumerate(books):
        cb = torch.as_tensor(np.asarray(cb), dtype=torch.float32)
        if cb.dim() != 3:
            raise MotorError(f"codebook {i} must be [M, K, dsub], got shape {tuple(cb.shape)}")
        M, K, dsub = cb.shape
        q, _ = torch.linalg.qr(torch.randn(max(dsub, token_dim), min(dsub, token_dim)))  # orthonormal columns
        proj = q if dsub >= token_dim else q.T  # [dsub, token_dim]
        y = cb @ proj  # [M, K, token_dim]
        y = (y - y.mean(1, keepdim=True)).reshape(M * K, token_dim)
        rows.append(y / y.std().clamp_min(1e-12) * std)
    table = torch.cat(rows) if rows else torch.zeros(0, token_dim)
    if table.shape[0] != vocab_size:
        raise MotorError(f"the codebooks have {table.shape[0]} codewords in all (sum of M*K) but "
                         f"vocab_size={vocab_size}; pass the codebooks of the tokenizer that made the token ids")
    return table
