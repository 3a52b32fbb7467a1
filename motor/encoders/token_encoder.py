"""MOTOR's item encoder: an item is its T shared tokens, crossed and pooled into one vector.

``token_ids [n_items, T]`` (from the PQ tokenizer) is frozen content, kept as a buffer: it is
saved in the state_dict, so a reloaded model needs nothing else. The only learnable item-side
tables are the token table ``E [V, token_dim]`` (one row per (modality, sub-space, codeword)) and
the slot embeddings ``S [T, token_dim]`` (one per (modality, sub-space)); nothing grows with
the number of items. ``H0 = E[tid] + S`` goes through a Token Cross Network (TCN), one of the
variants registered in ``motor.encoders.tcn`` (``attention``, ``cross``, ``mean``).

All variants end in a LayerNorm before the output projection, so their item vectors start at the
same scale and an ablation compares the crossing, not the initial magnitudes (without it the
'mean' and 'cross' outputs start about 100 times smaller than the 'attention' ones).

Item vectors are recomputed from the tokens in every forward pass: only the batch's items for
``encode(items)``, all items (in chunks) for ``encode(None)``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Literal, Sequence

import numpy as np
import torch
from torch import nn
from torch.utils.checkpoint import checkpoint

from motor.config import doc
from motor.encoders.base import ItemEncoder
from motor.encoders.compiled import CompiledTCN
from motor.encoders.diagnostics import attention_stats, collapse_warnings, pooling_stats, summarise_attention
from motor.encoders.tcn import TCNOutput, get_tcn
from motor.errors import MotorError, check_index


@dataclass
class MotorEncoderConfig:
    """Token embeddings and Token Cross Network of MOTOR's item encoder."""

    token_dim: int = doc(32, "width of the token embeddings inside the Token Cross Network (32: the TCN runs "
                             "on every item at every step, so its width sets MOTOR's CPU cost)")
    tcn: Literal["attention", "factored", "cross", "mean"] = doc(
        "attention", "how an item's tokens interact: 'attention' (self-attention blocks + attention pooling), "
                     "'factored' (one attention block pooled before any per-token work, so each token's share is "
                     "computed once per vocabulary entry: a shorter epoch on CPU, see docs/METHOD.md), "
                     "'cross' (DCN-v2 cross layers on the concatenated tokens), 'mean' (no crossing: average)")
    layers: int = doc(1, "attention blocks ('attention'; exactly 1 for 'factored') or cross layers ('cross'); "
                         "ignored by 'mean'")
    heads: int = doc(2, "attention heads per block; must divide token_dim ('attention' and 'factored' only)")
    ffn_mult: int = doc(2, "hidden width of each block's feed-forward layer, as a multiple of token_dim")
    last_ffn: Literal["tokens", "item"] = doc(
        "tokens", "'attention': the last block's feed-forward layer runs on every token ('tokens', the transformer "
                  "block) or once on the pooled item vector ('item': the same parameters, after pooling; about a "
                  "third less TCN time, demo validation Recall@20 equal within seed noise, see docs/METHOD.md)")
    dropout: float = doc(0.0, "dropout on token embeddings, attention weights and residual branches "
                              "(training only; evaluation is deterministic)")
    init: Literal["normal", "codebook"] = doc(
        "normal", "token table init: 'normal' (N(0, init_std)) or 'codebook' (each token starts as its PQ codeword, "
                  "mapped to token_dim by a fixed random orthogonal projection per modality, centred per "
                  "sub-space and scaled to std init_std)")
    qk_norm: bool = doc(True, "'attention', 'factored': cosine attention, q and k unit-normalised per head with "
                              "a learned temperature per head (False: plain q.k / sqrt(head_dim), which saturates "
                              "to one-hot maps at high learning rates)")
    pool_scale: bool = doc(True, "'attention', 'factored': pooling logits are a learned temperature times the "
                                 "projection of each token on the unit pooling query")
    pool_slot_bias: bool = doc(True, "'attention', 'factored': add a learned bias per token slot to the pooling "
                                     "logits (a prior on which modality and sub-space counts more)")
    slot_embeddings: bool = doc(True, "add a learnable embedding per token slot (modality, sub-space), so the "
                                      "TCN knows where each token comes from")
    compile: bool = doc(False, "torch.compile the TCN's training pass (motor.encoders.compiled): MOTOR's epoch "
                               "10-13% shorter on CPU after 12-42 s of compilation, so off by default; falls back "
                               "to eager with a warning where no compiler is available")
    init_std: float = doc(0.02, "std of the normal init of token table, slot embeddings and linear weights "
                                "(nanoGPT style; residual output projections use init_std / sqrt(2 * layers))")

    def validate(self) -> None:
        """Raise ``MotorError`` naming the valid range for any value out of it (the TCN variant adds its own)."""
        if self.token_dim < 1:
            raise MotorError(f"token_dim={self.token_dim}: the token width must be at least 1 (typical: 32, 64)")
        get_tcn(self.tcn).check(self)
        if self.layers < 0:
            raise MotorError(f"layers={self.layers}: must be 0 or more")
        if self.ffn_mult < 1:
            raise MotorError(f"ffn_mult={self.ffn_mult}: the feed-forward width multiple must be at least 1 "
                             f"(typical: 2 or 4)")
        if not 0.0 <= self.dropout < 1.0:
            raise MotorError(f"dropout={self.dropout}: must be in [0, 1) (typical: 0 to 0.2)")
        if not (self.init_std > 0 and math.isfinite(self.init_std)):
            raise MotorError(f"init_std={self.init_std}: must be positive and finite (typical: 0.02)")


# state_dict names from before the TCN became its own module (``blocks.0...`` is now ``tcn.blocks.0...``)
_OLD_TCN_KEYS = ("blocks.", "cross.", "ln_f.", "out.", "query")


class MotorEncoder(ItemEncoder):
    """Item vectors from shared multimodal tokens: ``V x token_dim`` + TCN parameters, none per item.

    ``token_ids`` [n_items, T] in ``0..vocab_size-1`` (the tokenizer's ``token_ids``);
    ``slot_modality`` [T] (optional) is the modality index of each slot; ``codebooks`` (list or
    dict of [M, K, dsub] in modality order) is needed only for ``init='codebook'``.
    """

    kind = "motor"
    chunk = 65536  # items per forward in encode(None) / averages, and per recomputed piece in training (bounds
    # peak memory; settable per instance)

    def __init__(self, n_items: int, dim: int, token_ids: Any, vocab_size: int, cfg: MotorEncoderConfig | None = None,
                 slot_modality: Sequence[int] | None = None, codebooks: Any = None):
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
        self.tcn = get_tcn(cfg.tcn)(T, dim, cfg)
        self.compiled = CompiledTCN() if cfg.compile else None  # not a submodule: state dicts stay the eager ones

        # nanoGPT init: N(0, std) for tables and linear weights, zero biases, LayerNorm at identity,
        # residual output projections shrunk by depth so the residual stream keeps its scale
        for m in self.modules():
            if isinstance(m, (nn.Linear, nn.Embedding)):
                nn.init.normal_(m.weight, std=std)
            if isinstance(m, nn.Linear) and m.bias is not None:
                nn.init.zeros_(m.bias)
        if self.slot is not None:
            nn.init.normal_(self.slot, std=std)
        self.tcn.init_weights(std)
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
        self.register_load_state_dict_pre_hook(_rename_old_tcn_keys)

    # --- forward ----------------------------------------------------------------------------

    def _token_states(self) -> torch.Tensor:
        """H0 of every vocabulary entry, ``E + S[slot(tid)]`` [V, token_dim].

        A token id belongs to exactly one slot (the id layout is per (modality, sub-space)), so
        H0 depends on the token id alone and everything computed from H0 token by token can be
        computed once per vocabulary entry (V rows) instead of once per item token (n x T rows).
        """
        h = self.token_table.weight
        return h if self.slot is None else h + self.slot[self.vocab_slot]

    def _run(self, tids: torch.Tensor, keep: bool = False, recurring: bool = False) -> TCNOutput:
        """[B, T] token ids through the TCN (``keep``: attention maps and pooling weights too; ``recurring``: the
        whole catalogue, which comes back at every step); training steps through the compiled TCN when
        ``cfg.compile`` (evaluation and inspection stay eager)."""
        if self.compiled is not None and self.training and torch.is_grad_enabled() and not keep:
            return self.compiled(self.tcn, self._token_states(), tids, keep)
        return self.tcn(self._token_states(), tids, keep, recurring)

    def __getstate__(self) -> dict:
        state = self.__dict__.copy()  # a compiled function neither pickles nor deep-copies: a copy compiles anew
        if state.get("compiled") is not None:
            state["compiled"] = CompiledTCN()
        return state

    def encode_tokens(self, token_ids: torch.Tensor) -> torch.Tensor:
        """Vectors [B, dim] of items given by their token ids [B, T] (e.g. new items, never in the catalogue)."""
        token_ids = torch.as_tensor(token_ids, device=self.token_ids.device).long()
        if token_ids.dim() != 2 or token_ids.shape[1] != self.n_tokens:
            raise MotorError(f"token ids must be [n, T={self.n_tokens}], got shape {tuple(token_ids.shape)}")
        return self._run(token_ids).vectors

    def encode(self, items: torch.Tensor | None) -> torch.Tensor:
        """Vectors of ``items`` (each distinct item encoded once), or of all items: up to ``chunk`` items in
        pieces of the TCN's ``piece`` items per call (``TokenCrossNetwork.piece``), past it one call per chunk
        (checkpointed in training)."""
        if items is not None:
            unique, inverse = torch.unique(items, return_inverse=True)  # a batch repeats items: encode each once
            return self._in_pieces(self.token_ids[unique])[inverse]
        if self.n_items <= min(self.tcn.piece or self.n_items, self.chunk):
            return self._run(self.token_ids, recurring=True).vectors
        if self.n_items <= self.chunk:
            return self._in_pieces(self.token_ids)
        # Past ``chunk`` items, one TCN call per chunk and no pieces: many pieces' outputs, kept while the freed
        # activations of the next pieces come and go, fragment the C heap, and the process grew with the number of
        # pieces (10^6 items: 8.4 GB peak in pieces against 2.1 GB by chunk, benchmarks/speed_log.md).
        if not (self.training and torch.is_grad_enabled()):
            return torch.cat([self._vectors(self.token_ids[s:s + self.chunk]) for s in range(0, self.n_items, self.chunk)])
        # Training over a large catalogue (a graph backbone needs every item's vector each step): keep only the
        # vectors and recompute one chunk's TCN activations at a time in backward, so memory stays bounded by the
        # chunk, not the catalogue (LightGCN with MOTOR ran out of 14 GB at 10^6 items without this).
        return torch.cat([checkpoint(self._vectors, self.token_ids[s:s + self.chunk], use_reentrant=False)
                          for s in range(0, self.n_items, self.chunk)])

    def _vectors(self, tids: torch.Tensor) -> torch.Tensor:
        return self._run(tids).vectors

    def _in_pieces(self, tids: torch.Tensor) -> torch.Tensor:
        """Vectors of the items with token ids ``tids``, ``tcn.piece`` items per TCN call (all at once when 0):
        past about 10^4 items a TCN's activations outgrow the CPU caches (``AttentionTCN.piece``)."""
        piece = self.tcn.piece or len(tids)
        if len(tids) <= piece:
            return self._vectors(tids)
        return torch.cat([self._vectors(tids[s:s + piece]) for s in range(0, len(tids), piece)])

    # --- inspection -------------------------------------------------------------------------

    @torch.no_grad()
    def inspect_tokens(self, tids: torch.Tensor) -> TCNOutput:
        """The TCN on token ids [B, T] in eval mode, with attention maps and pooling weights kept."""
        was = self.training
        self.eval()
        try:
            return self._run(tids, keep=True)
        finally:
            self.train(was)

    def explain(self, item: int) -> dict:
        """Attention maps [L, heads, T, T], pooling weights [T] and token ids [T] of one item (eval mode).

        ``attention`` is None for 'cross' and 'mean' ('attention' and 'factored' have maps); ``pooling`` is uniform
        for 'mean', None for 'cross'.
        """
        item = check_index(item, self.n_items, "item", "run.dataset.item_index(...)")  # "5" is not item 5
        tids = self.token_ids[item]
        out = self.inspect_tokens(tids[None])
        return {"attention": None if out.attention is None else out.attention[:, 0].cpu().numpy(),
                "pooling": None if out.pooling is None else out.pooling[0].cpu().numpy(),
                "token_ids": tids.cpu().numpy()}

    def _item_tokens(self, items: Any = None) -> torch.Tensor:
        """Token ids [n, T] of ``items`` (all items when None): item indexes, or a bool mask over the items such as
        ``split.cold_items`` (once cast to the indexes 0 and 1, a silently wrong average); at least one item."""
        if items is None:
            return self.token_ids
        idx = np.asarray(items.cpu() if isinstance(items, torch.Tensor) else items)
        if idx.dtype == bool:
            if idx.shape != (self.n_items,):
                raise MotorError(f"a mask of items has one entry per item ({self.n_items}), got shape {idx.shape}")
            idx = np.flatnonzero(idx)
        if idx.size == 0:
            raise MotorError("an average over items needs at least one item")
        if not np.issubdtype(idx.dtype, np.integer) or idx.ndim != 1 or idx.min() < 0 or idx.max() >= self.n_items:
            raise MotorError(f"items must be item indexes from 0 to {self.n_items - 1} (run.dataset.item_index(...) "
                             f"gives one from an id) or a bool mask over the {self.n_items} items, got {items!r}")
        return self.token_ids[torch.as_tensor(idx, dtype=torch.long, device=self.token_ids.device)]

    def attention_average(self, items: Any = None) -> np.ndarray | None:
        """Mean attention map [L, heads, T, T] over all items (or ``items``), in eval mode; None without attention."""
        if not self.tcn.has_attention:
            return None
        tids = self._item_tokens(items)
        total = None
        for s in range(0, len(tids), self.chunk):
            att = self.inspect_tokens(tids[s:s + self.chunk]).attention.double().sum(1)  # [L, h, T, T]
            total = att if total is None else total + att
        return (total / len(tids)).float().cpu().numpy()

    def pooling_average(self, items: Any = None) -> np.ndarray | None:
        """Mean pooling weight per token slot [T] over all items (or ``items``).

        Uniform for 'mean', None for 'cross' (no pooling).
        """
        if not self.tcn.has_pooling:
            return None
        tids = self._item_tokens(items)
        total = torch.zeros(self.n_tokens, dtype=torch.float64)
        for s in range(0, len(tids), self.chunk):
            total += self.inspect_tokens(tids[s:s + self.chunk]).pooling.double().sum(0).cpu()
        return (total / len(tids)).float().numpy()

    def attention_diagnostics(self, max_items: int = 20000) -> dict:
        """Is the TCN crossing? Attention and pooling figures over the items, in eval mode (JSON-ready).

        ``attention``: per layer the per-head figures of ``motor.encoders.diagnostics.attention_stats``
        (mean row entropy and largest weight, share of items whose rows all pick the same key, mean
        total-variation distance from the average map) and ``mean`` over layers and heads; None
        without attention. ``pooling``: mean largest pooling weight against ``1/T`` and more; None
        unless the variant learns its pooling. ``warnings`` name each collapse symptom beyond its
        threshold and ``collapsed`` is True when there is any. At most ``max_items`` items, evenly
        spaced over the catalogue, are read (a bound on the cost for large catalogues).
        """
        n = min(self.n_items, int(max_items))
        items = torch.linspace(0, self.n_items - 1, n).round().long() if n < self.n_items else None
        tids = self._item_tokens(items)
        att_avg = torch.as_tensor(self.attention_average(items)) if self.tcn.has_attention else None
        learns_pooling = self.tcn.learns_pooling
        pool_avg = torch.as_tensor(self.pooling_average(items)) if learns_pooling else None
        att_sums: list[dict] | None = None
        pool_sum: dict | None = None
        for s in range(0, len(tids), self.chunk):
            out = self.inspect_tokens(tids[s:s + self.chunk])
            w = float(len(out.vectors))
            if att_avg is not None:
                stats = [attention_stats(out.attention[layer], att_avg[layer]) for layer in range(len(out.attention))]
                if att_sums is None:
                    att_sums = [{k: [0.0] * len(v) for k, v in st.items()} for st in stats]
                for acc, st in zip(att_sums, stats):
                    for k, v in st.items():
                        acc[k] = [a + w * x for a, x in zip(acc[k], v)]
            if pool_avg is not None:
                st = pooling_stats(out.pooling, pool_avg)
                pool_sum = {k: (pool_sum or {}).get(k, 0.0) + w * v for k, v in st.items()
                            if k in ("max_weight", "entropy", "tv_from_average")}
        attention = pooling = None
        if att_sums is not None:
            layers = [{k: [a / len(tids) for a in v] for k, v in acc.items()} for acc in att_sums]
            attention = {"layers": layers, "mean": summarise_attention(layers)}
        if pool_sum is not None:
            pooling = {**{k: v / len(tids) for k, v in pool_sum.items()}, "uniform": 1.0 / self.n_tokens,
                       "T": self.n_tokens}
        warnings = collapse_warnings(None if attention is None else attention["mean"], pooling)
        return {"tcn": self.tcn.name, "items": len(tids), "attention": attention, "pooling": pooling,
                "collapsed": bool(warnings), "warnings": warnings}

    def diagnostics(self) -> dict:
        """The ``attention_diagnostics`` of the TCN (what ``metrics.json`` reports as ``item_encoder``)."""
        return self.attention_diagnostics()

    # --- size -------------------------------------------------------------------------------

    @staticmethod
    def item_side_parameters(n_items: int, T: int, V: int, dim: int, cfg: MotorEncoderConfig) -> int:
        """Trainable item-side parameters, by formula (no allocation). ``n_items`` does not enter: that is the point."""
        return item_side_parameters(n_items, T, V, dim, cfg)


def _rename_old_tcn_keys(module: nn.Module, state_dict: dict, prefix: str, *args: Any) -> None:
    """Load run folders saved before the TCN was a submodule (``blocks.0...`` is now ``tcn.blocks.0...``) or
    before the TCN had its temperatures (see ``AttentionTCN.adopt_legacy``)."""
    for key in list(state_dict):
        rest = key[len(prefix):] if key.startswith(prefix) else None
        if rest is not None and rest.startswith(_OLD_TCN_KEYS):
            state_dict[prefix + "tcn." + rest] = state_dict.pop(key)
    module.tcn.adopt_legacy(state_dict, prefix + "tcn.")


def item_side_parameters(n_items: int, T: int, V: int, dim: int, cfg: MotorEncoderConfig) -> int:
    """``MotorEncoder(...).n_parameters()`` without building it (the ID table has ``n_items * dim``)."""
    d = cfg.token_dim
    return V * d + (T * d if cfg.slot_embeddings else 0) + get_tcn(cfg.tcn).n_parameters_for(T, dim, cfg)


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
