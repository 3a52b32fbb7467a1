"""MOTOR token encoder: shapes, chunking, attention maps, permutation symmetry, gradients, size
formula, determinism, codebook init, config errors, save/load, and plugging into backbones."""

import copy

import numpy as np
import pytest
import torch

from motor.config import from_dict
from motor.encoders.base import ItemEncoder
from motor.encoders.id_table import IdEmbedding
from motor.encoders.registry import ITEM_ENCODERS, get_item_encoder
from motor.encoders.tcn import TCN_VARIANTS, get_tcn
from motor.encoders.token_encoder import MotorEncoder, MotorEncoderConfig, item_side_parameters
from motor.errors import MotorError
from motor.models.base import Batch, ModelContext
from motor.models.bpr import BPR
from motor.models.lightgcn import LightGCN

TCNS = ["attention", "factored", "cross", "mean"]
N_ITEMS, DIM = 37, 12
# two modalities: 3 sub-spaces of K=4, 2 sub-spaces of K=8 -> T=5, V=28
M_K = [(3, 4), (2, 8)]
T = sum(m for m, _ in M_K)
V = sum(m * k for m, k in M_K)


def make_tokens(n=N_ITEMS, seed=0):
    """Token ids laid out as the tokenizer does: tid = offset(modality, subspace) + code."""
    g = np.random.default_rng(seed)
    k_per_slot = np.repeat([k for _, k in M_K], [m for m, _ in M_K])
    offsets = np.concatenate([[0], np.cumsum(k_per_slot)[:-1]])
    return g.integers(0, k_per_slot, size=(n, T)) + offsets


def make_encoder(tcn="attention", seed=0, tokens=None, codebooks=None, **kw):
    torch.manual_seed(seed)
    cfg = MotorEncoderConfig(**{"tcn": tcn, "token_dim": 8, "heads": 2, "layers": 1 if tcn == "factored" else 2, **kw})
    tokens = make_tokens() if tokens is None else tokens
    return MotorEncoder(len(tokens), DIM, tokens, V, cfg, slot_modality=[0, 0, 0, 1, 1], codebooks=codebooks)


@pytest.mark.parametrize("tcn", TCNS)
def test_shapes_and_chunked_all_items_equals_batches(tcn):
    enc = make_encoder(tcn).eval()
    assert isinstance(enc, ItemEncoder) and enc.kind == "motor"
    assert enc(torch.tensor([3, 0, 3])).shape == (3, DIM)
    full = enc.encode(None)
    assert full.shape == (N_ITEMS, DIM)
    enc.chunk = 5  # 37 items -> 8 chunks, the last one partial
    chunked = enc.encode(None)
    batches = torch.cat([enc(torch.arange(s, min(s + 9, N_ITEMS))) for s in range(0, N_ITEMS, 9)])
    torch.testing.assert_close(chunked, full)
    torch.testing.assert_close(batches, full)


@pytest.mark.parametrize("tcn", TCNS)
def test_training_over_many_chunks_recomputes_them_and_gets_the_same_gradients(tcn):
    """In training, encode(None) over more items than ``chunk`` keeps only the vectors and recomputes each
    chunk's activations in backward (bounded memory for a graph backbone on a large catalogue): the loss and
    every gradient equal the one-piece computation, and backward runs the TCN again once per chunk."""
    whole = make_encoder(tcn).train()
    pieces = copy.deepcopy(whole)
    pieces.chunk = 5  # 37 items -> 8 chunks
    target = torch.randn(N_ITEMS, DIM, generator=torch.Generator().manual_seed(0))
    calls, forward = [], pieces.tcn.forward
    pieces.tcn.forward = lambda *a, **k: calls.append(1) or forward(*a, **k)
    losses = []
    for enc in (whole, pieces):
        loss = ((enc.encode(None) - target) ** 2).sum()
        forwards = len(calls)
        loss.backward()
        losses.append(loss.detach())
    assert forwards == 8 and len(calls) == 16  # one forward per chunk, then one recomputation per chunk
    torch.testing.assert_close(losses[1], losses[0])
    for (name, a), (_, b) in zip(whole.named_parameters(), pieces.named_parameters()):
        if a.grad is not None:
            torch.testing.assert_close(b.grad, a.grad, rtol=1e-4, atol=1e-6, msg=name)


@pytest.mark.parametrize("tcn", TCNS)
def test_pieces_of_the_catalogue_give_the_vectors_and_gradients_of_one_call(tcn):
    """``tcn.piece`` (items per TCN call, for CPU caches on large catalogues) changes no figure: the vectors, the
    loss and every gradient equal one call's, in training and evaluation; the TCN runs once per piece up to
    ``chunk`` items, and once per chunk (checkpointed) past it."""
    whole = make_encoder(tcn).train()
    assert whole.tcn.piece == (4096 if tcn == "attention" else 0)
    target = torch.randn(N_ITEMS, DIM, generator=torch.Generator().manual_seed(1))
    copies = [copy.deepcopy(whole) for _ in range(2)]  # before any pass (a factored TCN then keeps sparse plans)
    whole.tcn.piece = 0
    ref = ((whole.encode(None) - target) ** 2).sum()
    ref.backward()
    for pieces, (chunk, calls_expected) in zip(copies, ((64, 10), (12, 4 + 4))):  # 37 items: 10 pieces of 4; past
        pieces.tcn.piece, pieces.chunk = 4, chunk  # a chunk (12), one call per chunk (4), recomputed in backward
        calls, forward = [], pieces.tcn.forward
        pieces.tcn.forward = lambda *a, **k: calls.append(1) or forward(*a, **k)
        loss = ((pieces.encode(None) - target) ** 2).sum()
        loss.backward()
        assert len(calls) == calls_expected
        torch.testing.assert_close(loss.detach(), ref.detach())
        for (name, a), (_, b) in zip(whole.named_parameters(), pieces.named_parameters()):
            if a.grad is not None:  # summation order only: near-zero entries within 1e-6 of the largest gradient
                scale = float(a.grad.abs().max())
                torch.testing.assert_close(b.grad, a.grad, rtol=1e-4, atol=1e-6 * max(1.0, scale), msg=name)
        pieces.eval()
        whole.eval()
        torch.testing.assert_close(pieces.encode(None), whole.encode(None))
        ids = torch.tensor([5, 30, 5, 0, 36, 11, 2])  # a batch's items, repeated ones too, past one piece
        torch.testing.assert_close(pieces(ids), whole(ids))
        whole.train()


def test_last_ffn_on_the_pooled_item_vector_uses_the_same_parameters():
    """last_ffn='item' runs the last block's FFN once on the pooled vector: the same parameters and attention
    maps; with that FFN's output layer at zero (it adds nothing) both placements give the same vectors, and
    otherwise they differ and the FFN still gets gradients."""
    tokens, item = make_encoder("attention").eval(), make_encoder("attention", last_ffn="item").eval()
    assert sum(p.numel() for p in item.parameters()) == sum(p.numel() for p in tokens.parameters())
    ids = torch.arange(N_ITEMS)
    torch.testing.assert_close(item.inspect_tokens(item.token_ids).attention,
                               tokens.inspect_tokens(tokens.token_ids).attention)
    assert not torch.allclose(item(ids), tokens(ids))
    for enc in (tokens, item):
        with torch.no_grad():
            enc.tcn.blocks[-1].ffn[2].weight.zero_()
            enc.tcn.blocks[-1].ffn[2].bias.zero_()
    torch.testing.assert_close(item(ids), tokens(ids))
    item.train()
    with torch.no_grad():
        item.tcn.blocks[-1].ffn[2].weight.normal_(std=0.1)
    item(ids).pow(2).sum().backward()
    assert item.tcn.blocks[-1].ffn[0].weight.grad.abs().sum() > 0


def test_attention_and_pooling_are_distributions():
    enc = make_encoder("attention")
    enc.train()
    out = enc.explain(4)
    assert enc.training  # explain restores the mode
    att, pool = out["attention"], out["pooling"]
    assert att.shape == (2, 2, T, T) and pool.shape == (T,)
    assert np.isfinite(att).all() and np.isfinite(pool).all()
    np.testing.assert_allclose(att.sum(-1), 1.0, atol=1e-5)
    np.testing.assert_allclose(pool.sum(), 1.0, atol=1e-5)
    np.testing.assert_array_equal(out["token_ids"], make_tokens()[4])
    summary = enc.attention_average()
    assert summary.shape == (2, 2, T, T)
    np.testing.assert_allclose(summary.sum(-1), 1.0, atol=1e-5)
    enc.chunk = 4
    np.testing.assert_allclose(enc.attention_average(), summary, atol=1e-6)
    one = enc.attention_average(torch.tensor([4]))
    np.testing.assert_allclose(one, att, atol=1e-6)


def test_explain_other_variants():
    mean = make_encoder("mean").explain(0)
    assert mean["attention"] is None
    np.testing.assert_allclose(mean["pooling"], np.full(T, 1.0 / T))
    cross = make_encoder("cross")
    assert cross.explain(0)["attention"] is None and cross.explain(0)["pooling"] is None
    assert cross.attention_average() is None
    with pytest.raises(MotorError, match="out of range"):
        cross.explain(N_ITEMS)


def test_pooling_average_per_variant():
    np.testing.assert_allclose(make_encoder("mean").pooling_average(), np.full(T, 1.0 / T), atol=1e-7)
    assert make_encoder("cross").pooling_average() is None
    enc = make_encoder("attention")
    avg = enc.pooling_average()
    assert avg.shape == (T,) and np.isclose(avg.sum(), 1, atol=1e-5)
    np.testing.assert_allclose(enc.pooling_average([4]), enc.explain(4)["pooling"], atol=1e-6)
    with pytest.raises(MotorError, match="at least one item"):
        enc.pooling_average([])


def test_averages_over_a_mask_or_checked_indexes():
    """A bool mask over the items (split.cold_items) averages the items it marks: cast to indexes it averaged
    items 0 and 1 only, silently; an index past the catalogue is named, not a torch IndexError."""
    enc = make_encoder("attention")
    mask = np.zeros(N_ITEMS, bool)
    mask[[3, 7, 20]] = True
    np.testing.assert_allclose(enc.pooling_average(mask), enc.pooling_average([3, 7, 20]), atol=1e-6)
    np.testing.assert_allclose(enc.attention_average(torch.from_numpy(mask)), enc.attention_average([3, 7, 20]),
                               atol=1e-6)
    with pytest.raises(MotorError, match="one entry per item"):
        enc.pooling_average(mask[:5])
    for bad in ([N_ITEMS], [-1], ["3"], [1.5]):
        with pytest.raises(MotorError, match=f"item indexes from 0 to {N_ITEMS - 1}"):
            enc.attention_average(bad)


def test_registries_match_the_config_choices():
    from typing import get_args, get_type_hints

    from motor.experiment import RunConfig

    assert set(TCN_VARIANTS) == set(get_args(get_type_hints(MotorEncoderConfig)["tcn"]))
    assert set(ITEM_ENCODERS) == set(get_args(get_type_hints(RunConfig)["items"]))
    for name, cls in TCN_VARIANTS.items():
        assert cls.name == name and isinstance(make_encoder(name).tcn, cls)
    with pytest.raises(MotorError, match="choose one of attention, factored, cross, mean"):
        get_tcn("transformer")
    with pytest.raises(MotorError, match="choose one of id, motor"):
        get_item_encoder("graph")
    with pytest.raises(MotorError, match="needs a fitted tokenizer"):
        get_item_encoder("motor").factory(RunConfig(), 3, None)
    assert get_item_encoder("id").factory(RunConfig(), 3, None)(4).weight.shape == (3, 4)


@pytest.mark.parametrize("tcn", ["attention", "cross", "mean"])  # 'factored' came after the TCN module
def test_state_dicts_saved_before_the_tcn_module_still_load(tcn):
    # the design before: no TCN submodule, plain q.k / sqrt(head_dim) attention, pooling without temperature
    enc = make_encoder(tcn, seed=1, qk_norm=False, pool_scale=False, pool_slot_bias=False).eval()
    old = {k.removeprefix("tcn."): v for k, v in enc.state_dict().items()}  # the names runs were saved with
    assert not any(k.startswith("tcn.") or k.endswith(("scale", "bias_pool")) or "pool_" in k for k in old)
    fresh = make_encoder(tcn, seed=2).eval()  # today's defaults
    fresh.load_state_dict(old, strict=True)
    torch.testing.assert_close(fresh(), enc(), rtol=0, atol=0)
    assert not fresh.cfg.qk_norm if tcn == "attention" else fresh.cfg.qk_norm  # the config says what it computes
    assert fresh.n_parameters() == item_side_parameters(N_ITEMS, T, V, DIM, fresh.cfg)


def permuted(enc, perm):
    """The same encoder with every item's tokens (and the slot embeddings) in another order."""
    out = copy.deepcopy(enc)
    with torch.no_grad():
        out.token_ids.copy_(enc.token_ids[:, perm])
        out.slot.copy_(enc.slot[perm])
        if getattr(out.tcn, "pool_bias", None) is not None:
            out.tcn.pool_bias.copy_(enc.tcn.pool_bias[perm])
        out.vocab_slot[out.token_ids] = torch.arange(T).expand_as(out.token_ids)
    return out


@pytest.mark.parametrize("tcn", ["attention", "factored", "mean"])
def test_permuting_tokens_with_their_slots_leaves_output_unchanged(tcn):
    enc = make_encoder(tcn).eval()
    if getattr(enc.tcn, "pool_bias", None) is not None:
        with torch.no_grad():
            enc.tcn.pool_bias.normal_()  # a trained-looking slot prior must move with its slot
    perm = torch.tensor([3, 0, 4, 2, 1])
    torch.testing.assert_close(permuted(enc, perm)(), enc(), rtol=1e-5, atol=1e-6)


def test_slot_embeddings_carry_where_a_token_comes_from():
    enc = make_encoder("attention").eval()
    without = copy.deepcopy(enc)
    with torch.no_grad():
        without.slot.zero_()
    assert not torch.allclose(without(), enc(), atol=1e-5)


def test_fast_path_matches_the_per_token_computation():
    # Training and scoring compute block 0's LayerNorm and q, k, v once per vocabulary entry;
    # the dropout path computes them per item token. With dropout inactive both must agree.
    enc = make_encoder("attention", dropout=0.1).eval()
    fast = enc()
    enc.train()
    for m in enc.modules():
        if isinstance(m, torch.nn.Dropout):
            m.p = 0.0
    torch.testing.assert_close(enc(), fast, rtol=1e-5, atol=1e-6)


def factored_by_definition(enc, tids):
    """The factored TCN written token by token, as the docstring defines it: per item token its state h = E + S,
    q, k, v from LN1(h), the attention y_q = sum_k A_kq v_k; pooling weights from LN1(h); then
    out(FFN_res(LN_f(sum_q alpha_q (h_q + W_o y_q + b_o))))."""
    tcn, blk = enc.tcn, enc.tcn.blocks[0]
    h = enc.token_table.weight[tids] + enc.slot[torch.arange(tids.shape[1])]  # [B, T, d]
    B, T, d = h.shape
    heads, hd = blk.attn.heads, d // blk.attn.heads
    x = blk.ln1(h)
    q, k, v = blk.attn.qkv(x).view(B, T, 3, heads, hd).unbind(2)  # [B, T, h, hd]
    q = torch.nn.functional.normalize(q, dim=-1) * blk.attn.scale.view(heads, 1)
    k = torch.nn.functional.normalize(k, dim=-1)
    att = torch.softmax(torch.einsum("bqhe,bkhe->bhqk", q, k), dim=-1)  # rows: queries
    y = torch.einsum("bhqk,bkhe->bqhe", att, v).reshape(B, T, d)
    alpha = torch.softmax(tcn.pool_scale * (x @ torch.nn.functional.normalize(tcn.query, dim=0)) + tcn.pool_bias, 1)
    pooled = (alpha.unsqueeze(-1) * (h + blk.attn.proj(y))).sum(1)
    return tcn.out(blk.feed_forward(tcn.ln_f(pooled))), att, alpha


def test_factored_tcn_computes_its_definition_and_its_plan_changes_nothing():
    enc = make_encoder("factored", seed=3)
    with torch.no_grad():  # away from the init, so every term counts
        for p in enc.parameters():
            p.add_(0.3 * torch.randn_like(p))
    tids = enc.token_ids.long()
    want, att, alpha = factored_by_definition(enc, tids)
    out = enc.tcn(enc._token_states(), enc.token_ids, keep=True)
    torch.testing.assert_close(out.vectors, want, rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(out.attention[0], att, rtol=1e-4, atol=1e-6)
    torch.testing.assert_close(out.pooling, alpha, rtol=1e-4, atol=1e-6)
    grads = []
    for recurring in (False, True, True):  # the fused gather, then the plan built once and reused
        enc.zero_grad()
        got = enc.tcn(enc._token_states(), enc.token_ids, recurring=recurring).vectors
        torch.testing.assert_close(got, want, rtol=1e-4, atol=1e-5)
        (got * torch.linspace(-1, 1, got.numel()).view_as(got)).sum().backward()
        grads.append({n: p.grad.clone() for n, p in enc.named_parameters()})
    plan = enc.tcn._plans
    assert plan is not None and plan[0].matches(enc.token_ids)
    for g in grads[1:]:
        for n in g:
            torch.testing.assert_close(g[n], grads[0][n], rtol=1e-4, atol=1e-6, msg=n)
    other = enc.token_ids[:5].clone()
    enc.tcn(enc._token_states(), other, recurring=True)  # other ids: a new plan, not the stale one
    assert enc.tcn._plans[0].matches(other) and not enc.tcn._plans[0].matches(enc.token_ids)
    torch.testing.assert_close(enc.encode(None), want, rtol=1e-4, atol=1e-5)  # the encoder passes recurring
    assert enc.tcn._plans[0].matches(enc.token_ids)
    edited = other.clone()
    enc.tcn(enc._token_states(), edited, recurring=True)
    edited[0, 0] = (edited[0, 0] + 1) % enc.vocab_size  # the same tensor changed in place: no longer matches
    assert not enc.tcn._plans[0].matches(edited)


@pytest.mark.parametrize("tcn", ["attention", "factored"])
def test_factored_pooling_reads_each_token_alone(tcn):
    """'factored' scores each token for pooling from its own id (and slot): two items that differ only in their
    last token give their first two tokens the same ratio of weights. 'attention' pools after the tokens have
    crossed, so the ratio moves with the other tokens."""
    enc = make_encoder(tcn, seed=4, layers=1).eval()
    with torch.no_grad():
        for p in enc.parameters():
            p.add_(0.3 * torch.randn_like(p))
    tids = torch.as_tensor(make_tokens(2, seed=5))
    tids[1, :-1] = tids[0, :-1]
    first = V - M_K[1][1]  # the last slot's ids are V - K .. V - 1
    tids[1, -1] = first + (tids[0, -1] - first + 1) % M_K[1][1]  # another code of the same slot
    log_ratio = (enc.inspect_tokens(tids).pooling[:, :2]).log().diff(dim=1).squeeze(1)
    same = torch.allclose(log_ratio[0], log_ratio[1], atol=1e-5)
    assert same if tcn == "factored" else not same


@pytest.mark.parametrize("tcn", TCNS)
def test_gradients_reach_token_table_slots_and_tcn(tcn):
    enc = make_encoder(tcn).train()
    (enc(torch.tensor([0, 5, 9])) ** 2).sum().backward()
    named = dict(enc.named_parameters())
    assert named["token_table.weight"].grad.abs().sum() > 0
    assert named["slot"].grad.abs().sum() > 0
    for name, p in named.items():
        assert p.grad is not None and p.grad.abs().sum() > 0, name
    rows = named["token_table.weight"].grad.abs().sum(1) > 0
    used = torch.zeros(V, dtype=torch.bool)
    used[enc.token_ids[[0, 5, 9]].flatten()] = True
    assert torch.equal(rows, used)  # batch-only: only the batch items' tokens get gradient


@pytest.mark.parametrize("tcn", TCNS)
def test_shared_tokens_give_identical_vectors_and_different_tokens_differ(tcn):
    tokens = make_tokens()
    tokens[7] = tokens[2]
    tokens[8] = tokens[2]
    tokens[8, 4] = tokens[2, 4] + (1 if tokens[2, 4] < V - 1 else -1)  # one token differs
    enc = make_encoder(tcn, tokens=tokens).eval()
    out = enc()
    torch.testing.assert_close(out[7], out[2])
    assert not torch.allclose(out[8], out[2])
    torch.testing.assert_close(enc.encode_tokens(torch.as_tensor(tokens[:9])), out[:9])
    unique = np.unique(tokens, axis=0)
    assert len(torch.unique(enc.encode_tokens(torch.as_tensor(unique)), dim=0)) == len(unique)


@pytest.mark.parametrize("tcn", TCNS)
@pytest.mark.parametrize("slots", [True, False])
@pytest.mark.parametrize("n_tokens", [1, 2, 5])  # cross: full-rank W for T <= 2, low rank above
def test_parameter_count_matches_formula(tcn, slots, n_tokens):
    tokens = make_tokens()[:, :n_tokens]
    torch.manual_seed(0)
    cfg = MotorEncoderConfig(tcn=tcn, token_dim=8, heads=4, layers=1 if tcn == "factored" else 3, ffn_mult=3,
                             slot_embeddings=slots)
    enc = MotorEncoder(N_ITEMS, DIM, tokens, V, cfg)
    assert enc.n_parameters() == item_side_parameters(N_ITEMS, n_tokens, V, DIM, cfg)
    assert enc.n_parameters() == MotorEncoder.item_side_parameters(10**7, n_tokens, V, DIM, cfg)
    assert enc.n_bytes() >= enc.n_parameters() * 4 + tokens.size * 4  # int32 token ids
    assert not any(p.shape[0] == N_ITEMS for p in enc.parameters())  # no item-ID table
    assert "token_ids" in dict(enc.named_buffers()) and "token_ids" not in dict(enc.named_parameters())


def test_size_formula_for_the_benchmark_defaults():
    cfg = MotorEncoderConfig()
    enc = MotorEncoder(1000, 64, np.zeros((1000, 16), dtype=np.int64), 16 * 256, cfg)
    assert enc.n_parameters() == item_side_parameters(1000, 16, 16 * 256, 64, cfg)
    assert item_side_parameters(10**7, 16, 16 * 256, 64, cfg) < 10**7 * 64


@pytest.mark.parametrize("tcn", TCNS)
def test_dropout_only_in_training(tcn):
    enc = make_encoder(tcn, dropout=0.3)
    enc.eval()
    torch.testing.assert_close(enc(), enc(), rtol=0, atol=0)
    enc.train()
    assert not torch.equal(enc(), enc())


def test_codebook_init_changes_table_and_follows_layout():
    g = np.random.default_rng(1)
    books = [g.normal(size=(m, k, 6)).astype(np.float32) for m, k in M_K]
    normal = make_encoder("attention").token_table.weight.detach().clone()
    enc = make_encoder("attention", init="codebook", codebooks=books)
    table = enc.token_table.weight.detach()
    assert table.shape == (V, 8) and torch.isfinite(table).all()
    assert not torch.allclose(table, normal)
    assert abs(table.std().item() - enc.cfg.init_std) < 1e-3
    # dsub=6 <= token_dim=8: the projection is an isometry and centring is a shift, so distances
    # among one modality's codewords survive up to one scale factor
    ratio = torch.pdist(table[12 + 8:12 + 16]) / torch.pdist(torch.as_tensor(books[1][1]))
    torch.testing.assert_close(ratio, ratio[:1].expand_as(ratio), rtol=1e-4, atol=0)
    # same codewords -> same token rows: codeword (m=1, s=1, c=3) is row 3*4 + 1*8 + 3
    books[1][1, 5] = books[1][1, 3]
    table = make_encoder("attention", init="codebook", codebooks=books).token_table.weight.detach()
    torch.testing.assert_close(table[12 + 8 + 3], table[12 + 8 + 5])
    assert not torch.allclose(table[12 + 8 + 3], table[12 + 8 + 4])
    enc()  # runs
    with pytest.raises(MotorError, match="codebooks"):
        make_encoder("attention", init="codebook")
    with pytest.raises(MotorError, match="slots per modality"):
        make_encoder("attention", init="codebook", codebooks=books[:1] + [books[1][:1]])
    with pytest.raises(MotorError, match="vocab_size"):
        make_encoder("attention", init="codebook", codebooks=books[:1] + [books[1][:, :4]])


def test_config_validation():
    with pytest.raises(MotorError, match="valid values: 1, 2, 4, 8, 16, 32, 64"):
        MotorEncoderConfig(token_dim=64, heads=3).validate()
    for tcn in ("attention", "cross"):
        with pytest.raises(MotorError, match="at least 1 layer"):
            MotorEncoderConfig(tcn=tcn, layers=0).validate()
    MotorEncoderConfig(tcn="mean", layers=0).validate()
    with pytest.raises(MotorError, match="exactly one attention block; use tcn='attention' for 2 blocks"):
        MotorEncoderConfig(tcn="factored", layers=2).validate()
    MotorEncoderConfig(tcn="cross", heads=3).validate()  # heads only matter for attention
    with pytest.raises(MotorError, match="dropout"):
        MotorEncoderConfig(dropout=1.0).validate()
    with pytest.raises(MotorError, match="unknown setting 'head'.*'heads'"):
        from_dict(MotorEncoderConfig, {"head": 2})
    with pytest.raises(MotorError, match="must divide token_dim"):
        from_dict(MotorEncoderConfig, {"heads": 5})
    with pytest.raises(MotorError):
        from_dict(MotorEncoderConfig, {"tcn": "transformer"})
    assert from_dict(MotorEncoderConfig, {"tcn": "cross", "layers": 3}).layers == 3
    with pytest.raises(MotorError, match="token ids must lie in"):
        MotorEncoder(3, 4, np.array([[0, V]] * 3), V, MotorEncoderConfig(token_dim=8))
    with pytest.raises(MotorError, match="n_items=4"):
        MotorEncoder(4, 4, np.zeros((3, 2), dtype=np.int64), V, MotorEncoderConfig(token_dim=8))


@pytest.mark.parametrize("tcn", TCNS)
def test_state_dict_round_trip_and_safetensors(tcn, tmp_path):
    from safetensors.torch import load_file, save_file

    enc = make_encoder(tcn, seed=1).eval()
    with torch.no_grad():  # a trained-looking state, different from any fresh init
        for p in enc.parameters():
            p.add_(torch.randn_like(p) * 0.1)
    path = tmp_path / "enc.safetensors"
    save_file(enc.state_dict(), str(path))
    fresh = make_encoder(tcn, seed=2, tokens=make_tokens(seed=5)).eval()  # other weights, other tokens
    assert not torch.allclose(fresh(), enc())
    fresh.load_state_dict(load_file(str(path)))
    torch.testing.assert_close(fresh(), enc(), rtol=0, atol=0)
    assert torch.equal(fresh.token_ids, enc.token_ids)  # the tokens travel with the model
    again = make_encoder(tcn, seed=3).eval()
    again.load_state_dict(enc.state_dict())
    torch.testing.assert_close(again(), enc(), rtol=0, atol=0)


# --- plugging into backbones: the same body for both encoders ----------------------------------


def tiny_context(n_users=30, n_items=40, seed=0):
    g = np.random.default_rng(seed)
    user = np.repeat(np.arange(n_users), 4)
    item = g.integers(0, n_items, size=len(user))
    user, item = np.unique(np.stack([user, item]), axis=1)
    return ModelContext.build(n_users, n_items, user, item, {})


def item_factory(kind, n_items):
    if kind == "id":
        return lambda d: IdEmbedding(n_items, d), "weight"
    tokens = make_tokens(n_items, seed=3)
    cfg = MotorEncoderConfig(token_dim=8, heads=2)
    return lambda d: MotorEncoder(n_items, d, tokens, V, cfg), "token_table.weight"


@pytest.mark.parametrize("kind", ["id", "motor"])
@pytest.mark.parametrize("Backbone", [BPR, LightGCN])
def test_encoder_plugs_into_backbones(kind, Backbone):
    torch.manual_seed(0)
    ctx = tiny_context()
    make_items, table = item_factory(kind, ctx.n_items)
    model = Backbone(ctx, Backbone.Config(), make_items)
    assert model.items.kind == kind
    g = torch.Generator().manual_seed(0)
    batch = Batch(user=torch.randint(0, ctx.n_users, (16,), generator=g),
                  pos=torch.randint(0, ctx.n_items, (16,), generator=g),
                  neg=torch.randint(0, ctx.n_items, (16,), generator=g))
    losses = model.loss(batch)
    total = sum(losses.values())
    assert torch.isfinite(total)
    total.backward()
    grad = dict(model.items.named_parameters())[table].grad
    assert grad is not None and grad.abs().sum() > 0
    users, items = model.embeddings()
    assert items.shape == (ctx.n_items, Backbone.Config().embedding_dim)
    assert model.param_counts()["item_side"] == model.items.n_parameters()


# --- diagnostics: is the TCN crossing? ---------------------------------------------------------


def test_attention_stats_on_hand_made_maps():
    from motor.encoders.diagnostics import attention_stats, collapse_warnings, pooling_stats, summarise_attention

    n, heads, t = 6, 2, 4
    uniform = torch.full((n, heads, t, t), 1.0 / t)
    st = attention_stats(uniform)
    np.testing.assert_allclose(st["entropy"], [np.log(t)] * heads, rtol=1e-9)
    np.testing.assert_allclose(st["max_weight"], [1.0 / t] * heads)
    assert st["same_key"] == [0.0, 0.0]  # ties are no pick
    np.testing.assert_allclose(st["tv_from_average"], [0.0, 0.0], atol=1e-12)

    column = torch.zeros(n, heads, t, t)
    column[..., 2] = 1.0  # every query of every item reads key 2: a single dark column
    st = attention_stats(column)
    np.testing.assert_allclose(st["entropy"], [0.0, 0.0], atol=1e-9)
    assert st["max_weight"] == [1.0, 1.0] and st["same_key"] == [1.0, 1.0]
    np.testing.assert_allclose(st["tv_from_average"], [0.0, 0.0], atol=1e-12)
    warn = collapse_warnings(summarise_attention([st]), None)
    assert len(warn) == 3 and "one-hot" in warn[0] and "same key" in warn[1] and "depends on the item" in warn[2]

    # content-dependent: half the items read the next token, half the previous one (one-hot, no shared column)
    eye = torch.eye(t)
    maps = torch.stack([eye.roll(1 if i % 2 else -1, dims=1) for i in range(n)])[:, None].expand(n, heads, t, t)
    st = attention_stats(maps)
    assert st["same_key"] == [0.0, 0.0] and st["max_weight"] == [1.0, 1.0]
    np.testing.assert_allclose(st["tv_from_average"], [0.5, 0.5])  # the average row is 0.5 / 0.5
    warn = collapse_warnings(summarise_attention([st]), None)
    assert len(warn) == 1 and "one-hot" in warn[0]

    flat = pooling_stats(torch.full((n, 8), 1 / 8))
    assert flat["max_weight"] == pytest.approx(1 / 8) and flat["T"] == 8 and flat["tv_from_average"] == 0
    assert any("uniform" in w for w in collapse_warnings(None, flat))
    peaked = torch.full((n, 8), 0.05)
    peaked[:, 0] = 0.65
    assert pooling_stats(peaked)["max_weight"] == pytest.approx(0.65)
    assert collapse_warnings(None, pooling_stats(peaked)) == []


def test_encoder_diagnostics_per_variant():
    import json

    enc = make_encoder("attention")
    enc.train()
    d = enc.diagnostics()
    assert enc.training  # restores the mode
    json.dumps(d)  # JSON-ready
    assert d["tcn"] == "attention" and d["items"] == N_ITEMS and len(d["attention"]["layers"]) == 2
    for layer in d["attention"]["layers"]:
        assert len(layer["max_weight"]) == 2 and all(1 / T - 1e-9 <= w <= 1 for w in layer["max_weight"])
        assert all(0 <= x <= 1 for x in layer["same_key"] + layer["tv_from_average"])
    assert 1 / T <= d["pooling"]["max_weight"] <= 1 and d["pooling"]["T"] == T
    assert d["collapsed"] == bool(d["warnings"])
    # the chunked, subsampled pass agrees with one pass over the same items
    enc.chunk = 5
    again = enc.attention_diagnostics()
    np.testing.assert_allclose(again["attention"]["mean"]["tv_from_average"], d["attention"]["mean"]["tv_from_average"],
                               rtol=1e-6)
    assert enc.attention_diagnostics(max_items=10)["items"] == 10
    assert make_encoder("cross").diagnostics()["attention"] is None
    mean = make_encoder("mean").diagnostics()
    assert mean["attention"] is None and mean["pooling"] is None and not mean["collapsed"]  # 1/T by design
    assert IdEmbedding(5, 3).diagnostics() == {}


def test_the_cli_and_the_app_offer_every_tcn_variant():
    import argparse
    from pathlib import Path

    from motor.cli import make_parser

    sub = next(a for a in make_parser()._actions if isinstance(a, argparse._SubParsersAction))
    tcn = next(a for a in sub.choices["train"]._actions if "--tcn" in a.option_strings)
    assert list(tcn.choices) == list(TCN_VARIANTS)
    page = (Path(__file__).parents[1] / "app" / "pages" / "train.py").read_text()
    assert "options=list(TCN_VARIANTS)" in page
