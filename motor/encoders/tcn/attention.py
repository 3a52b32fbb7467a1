"""Self-attention among an item's tokens, then attention pooling: MOTOR's default Token Cross Network."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F
from torch import nn

from motor.encoders.tcn.base import TCNOutput, TokenCrossNetwork
from motor.errors import MotorError

if TYPE_CHECKING:
    from motor.encoders.token_encoder import MotorEncoderConfig


def _divisors(n: int) -> list[int]:
    return [d for d in range(1, n + 1) if n % d == 0]


# Block 0 reads its logits from a [V, V] table per head when V^2 <= PAIR_LOGITS_RATIO * B * T^2 (see
# vocabulary_attention_inputs); 4 covers the default tokenizer (V=512) on MovieLens-100K's 1682 items (ratio 2.4)
PAIR_LOGITS_RATIO = 4.0


def uses_pair_table(V: int, B: int, T: int) -> bool:
    """Whether block 0's logits come from the [V, V] table (``vocabulary_logits``) for B items of T tokens."""
    return V * V <= PAIR_LOGITS_RATIO * B * T * T


class _GatherColumns(torch.autograd.Function):
    """``table[:, idx]`` for a 2-D table; the backward sums the gradient per column with one ``index_add_``
    along the columns (autograd's scatter of single numbers, one index at a time, was the slow part of this
    gather; a float ``bincount`` over flat indices, which sums in float64, took 1.8x as long: 2.0-3.1 ms
    against 1.1-1.8 ms for the [2, 512^2] table of 1682 items, interleaved, one thread)."""

    @staticmethod
    def forward(ctx, table: torch.Tensor, idx: torch.Tensor) -> torch.Tensor:
        ctx.save_for_backward(idx)
        ctx.columns = table.shape[1]
        return table.index_select(1, idx)

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        (idx,) = ctx.saved_tensors
        rows, n = grad.shape[0], ctx.columns
        return grad.new_zeros(rows, n).index_add_(1, idx, grad), None


def vocabulary_logits(q: torch.Tensor, k: torch.Tensor, tids: torch.Tensor) -> torch.Tensor:
    """Attention logits ``[h, B, T_key, T_query]`` of items ``tids [B, T]`` from q and k per vocabulary entry
    (``[h, V, hd]`` each).

    Block 0's q and k depend on the token id alone, so its logit for a (key, query) pair of tokens depends on
    the pair of ids alone. When the vocabulary is small beside the batch (``V^2 <= PAIR_LOGITS_RATIO B T^2``),
    one [V, V] product per head gives every pair's logit and each item reads its T x T block: measured 29% less
    time for the attention (forward and backward, 1682 items, V=512) than the per-item products of [T, hd]
    matrices, which are the fallback.
    """
    h, V, _ = q.shape
    B, T = tids.shape
    if not uses_pair_table(V, B, T):
        flat = tids.reshape(-1)
        qi, ki = (t.index_select(1, flat).unflatten(1, (B, T)) for t in (q, k))  # [h, B, T, hd]
        return ki @ qi.transpose(-2, -1)
    ids = tids.long()
    pairs = (ids.unsqueeze(2) * V + ids.unsqueeze(1)).reshape(-1)  # [B, T_key, T_query] -> key id * V + query id
    return _GatherColumns.apply((k @ q.transpose(-2, -1)).reshape(h, V * V), pairs).view(h, B, T, T)


def vocabulary_attention_inputs(table: torch.Tensor, tids: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Block 0's attention inputs for items ``tids [B, T]`` from q, k, v per vocabulary entry (``table`` [3, h, V, hd]).

    ``(v [h, B * T, hd], logits [h, B, T_key, T_query])`` when the pair table pays (``vocabulary_logits``), else
    ``(q, k, v [3, h, B * T, hd], None)``: the block then multiplies each item's gathered q and k itself.
    """
    _, _, V, _ = table.shape
    B, T = tids.shape
    flat = tids.reshape(-1)
    if not uses_pair_table(V, B, T):
        return table.index_select(2, flat), None
    q, k, v = table.unbind(0)
    return v.index_select(1, flat), vocabulary_logits(q, k, tids)


class SelfAttention(nn.Module):
    """Multi-head self-attention among one item's tokens; returns the weights for inspection.

    With ``qk_norm`` the logits are ``scale_h * cos(q, k)``: q and k are unit vectors per head and
    each head learns its temperature ``scale_h`` (initialised at ``sqrt(head_dim)``, the size of
    ``q.k / sqrt(head_dim)`` for unit-RMS q and k). Without it, unnormalised ``q.k / sqrt(head_dim)``
    saturates once training grows the q/k weights: at the quick preset's lr the logits of a row
    spread over ~100, every row turns one-hot on the same key and the tokens stop crossing.
    """

    def __init__(self, d: int, heads: int, dropout: float, qk_norm: bool = True):
        super().__init__()
        self.heads = heads
        self.qkv = nn.Linear(d, 3 * d)
        self.proj = nn.Linear(d, d)
        self.attn_drop, self.resid_drop = nn.Dropout(dropout), nn.Dropout(dropout)
        hd = d // heads
        self.scale = nn.Parameter(torch.full((heads, 1, 1), math.sqrt(hd))) if qk_norm else None

    def prepare(self, x: torch.Tensor) -> torch.Tensor:
        """q, k, v of token states ``x [N, d]``, head-major ``[3, heads, N, head_dim]``: q carries the scale
        (``scale_h / |q|`` per head, or ``1 / sqrt(head_dim)``) and k is unit per head. Token by token, so it can
        run once per vocabulary entry; head-major, so gathering the rows of a batch of items gives q, k and v in
        the layout the batched matmuls read (a [B, T, 3d] layout cost a strided copy of every row in backward)."""
        N, d = x.shape
        hd = d // self.heads
        q, k, v = self.qkv(x).view(N, 3, self.heads, hd).unbind(1)  # 3 x [N, h, hd]
        if self.scale is None:
            q = q / math.sqrt(hd)
        else:
            q = F.normalize(q, dim=-1) * self.scale.view(self.heads, 1)
            k = F.normalize(k, dim=-1)
        return torch.stack([q, k, v]).transpose(1, 2).contiguous()

    def forward(self, x: torch.Tensor, keep: bool = False, qkv: torch.Tensor | None = None,
                logits: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor | None]:
        """``x [B, T, d]``; ``qkv`` may be given already prepared (``[3, heads, B * T, head_dim]``, rows in
        ``x``'s order), or v alone (``[heads, B * T, head_dim]``) with the ``logits`` ``[heads, B, T_key,
        T_query]`` (``vocabulary_attention_inputs``); ``keep`` returns the weights [B, h, T, T]."""
        B, T, d = x.shape
        if logits is None:
            qkv = self.prepare(x.reshape(B * T, d)) if qkv is None else qkv
            q, k, v = qkv.unflatten(2, (B, T))  # 3 x [h, B, T, hd]
            logits = k @ q.transpose(-2, -1)
        else:
            v = qkv.unflatten(1, (B, T))
        # Logits transposed (keys on dim -2): ATen's CPU softmax over a last dim of T=8 was 3x slower than over
        # dim -2. Explicit softmax, not the fused kernel: at T=8 on CPU the fused kernel was measured 1.8x slower
        # (forward and backward), and the weights are the token-cross attention maps the app shows.
        att_t = torch.softmax(logits, dim=-2)  # [h, B, T_key, T_query]
        y = (self.attn_drop(att_t).transpose(-2, -1) @ v).permute(1, 2, 0, 3).reshape(B, T, d)
        att = att_t.transpose(-2, -1).transpose(0, 1) if keep else None  # [B, h, T_query, T_key]
        return self.resid_drop(self.proj(y)), att


class Block(nn.Module):
    """Pre-norm transformer block: x + attn(LN(x)), then x + FFN(LN(x))."""

    def __init__(self, d: int, heads: int, ffn_mult: int, dropout: float, qk_norm: bool = True):
        super().__init__()
        self.ln1, self.ln2 = nn.LayerNorm(d), nn.LayerNorm(d)
        self.attn = SelfAttention(d, heads, dropout, qk_norm)
        self.ffn = nn.Sequential(nn.Linear(d, ffn_mult * d), nn.GELU(), nn.Linear(ffn_mult * d, d), nn.Dropout(dropout))

    def forward(self, x: torch.Tensor, keep: bool = False, qkv: torch.Tensor | None = None,
                logits: torch.Tensor | None = None, ffn: bool = True) -> tuple[torch.Tensor, torch.Tensor | None]:
        """One block; ``qkv`` (and ``logits``, precomputed from ``LN1(x)``) skip the first LayerNorm and projection;
        ``ffn=False`` stops after the attention (the caller runs ``feed_forward`` later, on pooled vectors)."""
        a, att = self.attn(self.ln1(x) if qkv is None else x, keep, qkv, logits)
        x = x + a
        return (self.feed_forward(x) if ffn else x), att

    def feed_forward(self, x: torch.Tensor) -> torch.Tensor:
        """``x + FFN(LN2(x))``, on token states [B, T, d] or on pooled item vectors [B, d]."""
        return x + self.ffn(self.ln2(x))


class AttentionTCN(TokenCrossNetwork):
    """L pre-norm transformer blocks over the item's T tokens, final LayerNorm, attention pooling, Linear.

    With ``last_ffn='item'`` the last block's feed-forward layer runs once on the pooled vector instead
    of on each of the T tokens (its attention, and every earlier block, unchanged): the FFN was the
    largest per-token cost of the default one-block TCN.

    Attention is cosine attention with a learned temperature per head (``qk_norm``); pooling is
    ``alpha = softmax(tau * H q / |q| + b_slot)`` with a learned temperature ``tau`` (``pool_scale``)
    and a learned prior per token slot ``b_slot`` (``pool_slot_bias``); without them (all False)
    this is the original design, ``softmax(q k / sqrt(head_dim))`` and
    ``softmax(H q / sqrt(token_dim))``, which collapses at high learning rates (docs/METHOD.md).
    """

    name = "attention"
    has_attention = True
    has_pooling = True
    learns_pooling = True
    # its per-token activations ([items, T, token_dim] several times over) outgrow the CPU caches past about 10^4
    # items: one call on 30,000 items cost 1.5x per item what calls on 4,096 did (benchmarks/speed_log.md)
    piece = 4096

    def __init__(self, n_tokens: int, dim: int, cfg: "MotorEncoderConfig"):
        super().__init__(n_tokens, dim, cfg)
        d = cfg.token_dim
        self.blocks = nn.ModuleList(Block(d, cfg.heads, cfg.ffn_mult, cfg.dropout, cfg.qk_norm)
                                    for _ in range(cfg.layers))
        self.ln_f = nn.LayerNorm(d)
        self.query = nn.Parameter(torch.zeros(d))
        self.out = nn.Linear(d, dim)
        # pooling logits tau * (LN(h_t) . q / |q|): the query gives the direction, the learned temperature tau the
        # sharpness, whatever the query's norm (a free q starts at norm ~0.1 and the pooling stays uniform: Adam
        # moves it too little for its logits to spread). tau starts at sqrt(d): the logits' spread over a
        # LayerNormed token is then that of q.h with unit-variance q, and the pooling starts non-uniform
        # (tau = 1 was measured to end nearer uniform, mean largest weight 0.195 at T=8)
        self.pool_scale = nn.Parameter(torch.full((1,), math.sqrt(d))) if cfg.pool_scale else None
        # a learned prior per token slot (which modality and sub-space counts more), added to the pooling logits
        self.pool_bias = nn.Parameter(torch.zeros(n_tokens)) if cfg.pool_slot_bias else None

    def adopt_legacy(self, state_dict: dict, prefix: str) -> None:
        """A state dict saved before ``qk_norm`` / ``pool_scale`` existed has no temperatures: the model was
        trained without them, so switch them off (here and in ``cfg``) and it computes what it did then."""
        if not any(k.startswith(prefix + "blocks.") for k in state_dict):
            return
        for i, blk in enumerate(self.blocks):
            if blk.attn.scale is not None and f"{prefix}blocks.{i}.attn.scale" not in state_dict:
                blk.attn.scale = None
                self.cfg.qk_norm = False
        if self.pool_scale is not None and prefix + "pool_scale" not in state_dict:
            self.pool_scale = None
            self.cfg.pool_scale = False
        if self.pool_bias is not None and prefix + "pool_bias" not in state_dict:
            self.pool_bias = None
            self.cfg.pool_slot_bias = False

    def init_weights(self, std: float) -> None:
        """Pooling query N(0, std); residual output projections N(0, std / sqrt(2 L)) (nanoGPT)."""
        nn.init.normal_(self.query, std=std)
        for blk in self.blocks:
            for w in (blk.attn.proj.weight, blk.ffn[2].weight):
                nn.init.normal_(w, std=std / math.sqrt(2 * self.cfg.layers))

    def forward(self, h0: torch.Tensor, tids: torch.Tensor, keep: bool = False, recurring: bool = False) -> TCNOutput:
        """Item vectors; with ``keep`` also the attention maps [L, B, h, T, T] (pooling weights always)."""
        h = self.drop(F.embedding(tids, h0))
        maps = []
        qkv = logits = None
        if not (self.training and self.cfg.dropout > 0):  # block 0's LayerNorm, q,k,v (+ norms) once per vocab entry
            first = self.blocks[0]
            qkv, logits = vocabulary_attention_inputs(first.attn.prepare(first.ln1(h0)), tids)
        item_ffn = self.cfg.last_ffn == "item"  # the last block's FFN after pooling, once per item
        last = len(self.blocks) - 1
        for i, blk in enumerate(self.blocks):
            ffn = not (item_ffn and i == last)
            h, att = blk(h, keep, qkv, logits, ffn=ffn) if i == 0 else blk(h, keep, ffn=ffn)
            maps.append(att)
        h = self.ln_f(h)
        if self.pool_scale is None:
            logits = h @ self.query / math.sqrt(self.cfg.token_dim)  # [B, T]
        else:
            logits = self.pool_scale * (h @ F.normalize(self.query, dim=0))
        alpha = torch.softmax(logits if self.pool_bias is None else logits + self.pool_bias, dim=1)
        pooled = (alpha.unsqueeze(-1) * h).sum(1)
        if item_ffn:
            pooled = self.blocks[last].feed_forward(pooled)
        return TCNOutput(self.out(pooled), torch.stack(maps) if keep else None, alpha)

    @classmethod
    def check(cls, cfg: "MotorEncoderConfig") -> None:
        """At least one block, and ``heads`` dividing ``token_dim``."""
        if cfg.layers < 1:
            raise MotorError(f"layers={cfg.layers}: tcn='attention' needs at least 1 layer (typical: 1 to 3); "
                             f"use tcn='mean' for no crossing")
        if cfg.heads < 1 or cfg.token_dim % cfg.heads:
            raise MotorError(f"heads={cfg.heads} must divide token_dim={cfg.token_dim}; valid values: "
                             f"{', '.join(map(str, _divisors(cfg.token_dim)))}")

    @classmethod
    def n_parameters_for(cls, n_tokens: int, dim: int, cfg: "MotorEncoderConfig") -> int:
        """Blocks (two LayerNorms, q/k/v, output projection, FFN), final LayerNorm, query, output projection."""
        d, f = cfg.token_dim, cfg.ffn_mult * cfg.token_dim
        per_block = 2 * 2 * d + (3 * d * d + 3 * d) + (d * d + d) + (d * f + f) + (f * d + d)
        per_block += cfg.heads if cfg.qk_norm else 0  # one learned temperature per head
        pool = (1 if cfg.pool_scale else 0) + (n_tokens if cfg.pool_slot_bias else 0)  # temperature, slot prior
        return cfg.layers * per_block + 2 * d + d + d * dim + dim + pool

    @classmethod
    def forward_macs(cls, n_items: int, n_tokens: int, vocab: int, dim: int, cfg: "MotorEncoderConfig") -> int:
        """Block 0's q, k, v once per vocabulary entry; per item token the logits and weighted values (``2 T d``),
        the output projection and the FFN (on the pooled vector instead with ``last_ffn='item'``), q, k, v in
        later blocks; the pooling and the output projection per item; block 0's logits from the [V, V] table
        instead when the TCN takes that path (``vocabulary_logits``)."""
        d, T, f = cfg.token_dim, n_tokens, cfg.ffn_mult * cfg.token_dim
        ffn_per_token = 2 * d * f * (cfg.layers - (1 if cfg.last_ffn == "item" else 0))
        per_token = cfg.layers * (2 * T * d + d * d) + ffn_per_token + (cfg.layers - 1) * 3 * d * d + d
        macs = vocab * 3 * d * d + n_items * (T * per_token + T * d + d * dim)
        macs += n_items * 2 * d * f if cfg.last_ffn == "item" else 0
        if cfg.dropout == 0 and uses_pair_table(vocab, n_items, T):
            macs += vocab * vocab * d - n_items * T * T * d  # block 0's logits from one [V, V] table per head
        return macs
