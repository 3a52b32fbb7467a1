"""The TCN's speed paths compute what the plain computation does: head-major attention against a
per-item reference, torch.compile (and its fallback when compiling fails), and the FLOP count."""

import copy
import math
import warnings

import pytest
import torch
import torch.nn.functional as F

from motor.encoders.compiled import CompiledTCN
from motor.encoders.token_encoder import MotorEncoder, MotorEncoderConfig

N, DIM, T, V = 23, 12, 5, 20


def encoder(**kw) -> MotorEncoder:
    torch.manual_seed(0)
    tokens = torch.stack([torch.randint(0, 4, (N,)) + 4 * s for s in range(T)], 1)
    return MotorEncoder(N, DIM, tokens, V, MotorEncoderConfig(token_dim=8, heads=2, **kw))


def reference_attention(enc: MotorEncoder) -> torch.Tensor:
    """Item vectors computed item by item and head by head, straight from the definitions (one block)."""
    tcn, blk = enc.tcn, enc.tcn.blocks[0]
    att, hd = blk.attn, enc.cfg.token_dim // enc.cfg.heads
    out = []
    for tids in enc.token_ids.long():
        x = enc._token_states()[tids]  # [T, d]
        q, k, v = att.qkv(blk.ln1(x)).split(enc.cfg.token_dim, dim=-1)
        heads = []
        for h in range(enc.cfg.heads):
            qh, kh, vh = (t[:, h * hd:(h + 1) * hd] for t in (q, k, v))
            logits = att.scale[h, 0, 0] * F.normalize(qh, dim=-1) @ F.normalize(kh, dim=-1).T
            heads.append(torch.softmax(logits, dim=-1) @ vh)
        x = x + att.proj(torch.cat(heads, dim=-1))
        x = tcn.ln_f(x + blk.ffn(blk.ln2(x)))
        alpha = torch.softmax(tcn.pool_scale * (x @ F.normalize(tcn.query, dim=0)) + tcn.pool_bias, dim=0)
        out.append(tcn.out(alpha @ x))
    return torch.stack(out)


@pytest.mark.parametrize("pair_ratio", [0.0, 1e9])  # q, k, v gathered per item token; logits from the [V, V] table
def test_head_major_attention_matches_the_per_item_definition(pair_ratio, monkeypatch):
    from motor.encoders.tcn import attention

    monkeypatch.setattr(attention, "PAIR_LOGITS_RATIO", pair_ratio)
    enc = encoder(layers=1)
    with torch.no_grad():  # non-trivial temperatures and pooling prior, so every term counts
        enc.tcn.blocks[0].attn.scale.copy_(torch.tensor([3.0, 0.5]).view(2, 1, 1))
        enc.tcn.pool_bias.copy_(torch.linspace(-1, 1, T))
    for mode in (enc.eval, enc.train):  # eval: vocabulary-level q, k, v; training without dropout: the same path
        mode()
        torch.testing.assert_close(enc.encode(None), reference_attention(enc), rtol=1e-5, atol=1e-6)
    maps = enc.inspect_tokens(enc.token_ids[:3].long()).attention  # [L, B, h, T, T], rows sum to 1
    assert maps.shape == (1, 3, 2, T, T)
    torch.testing.assert_close(maps.sum(-1), torch.ones(1, 3, 2, T))


def test_both_block0_paths_give_the_same_gradients(monkeypatch):
    from motor.encoders.tcn import attention

    grads = []
    for ratio in (0.0, 1e9):
        monkeypatch.setattr(attention, "PAIR_LOGITS_RATIO", ratio)
        enc = encoder(layers=2).train()
        enc.encode(None).square().sum().backward()
        grads.append({n: p.grad for n, p in enc.named_parameters()})
    for name, g in grads[0].items():
        torch.testing.assert_close(grads[1][name], g, rtol=1e-4, atol=1e-6, msg=name)


def test_compile_failure_falls_back_to_eager_once_with_a_warning():
    enc = encoder(compile=True).train()
    expected = copy.deepcopy(enc)
    expected.compiled = None

    def broken(_module):
        raise RuntimeError("no C++ compiler found\nsecond line")

    enc.compiled = CompiledTCN(broken)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        first, second = enc.encode(None), enc.encode(None)
    messages = [str(w.message) for w in caught if issubclass(w.category, RuntimeWarning)]
    assert len(messages) == 1 and "no C++ compiler found" in messages[0] and "eager" in messages[0]
    assert enc.compiled.failed.startswith("RuntimeError")
    torch.testing.assert_close(first, expected.encode(None), rtol=0, atol=0)
    torch.testing.assert_close(second, first, rtol=0, atol=0)


def test_compiled_model_keeps_the_eager_state_dict_and_copies():
    enc = encoder(compile=True)
    assert set(enc.state_dict()) == set(encoder().state_dict())
    clone = copy.deepcopy(enc)
    assert clone.compiled is not enc.compiled and clone.compiled.failed is None


@pytest.mark.slow
def test_compiled_training_pass_matches_eager():
    enc = encoder(compile=True).train()
    eager = copy.deepcopy(enc)
    eager.compiled = None
    got = enc.encode(None)
    if enc.compiled.failed is not None:
        pytest.skip(f"torch.compile unavailable here: {enc.compiled.failed}")
    assert enc.compiled.first_call_seconds > 0
    torch.testing.assert_close(got, eager.encode(None), rtol=1e-5, atol=1e-6)
    got.square().sum().backward()
    eager.encode(None).square().sum().backward()
    for (name, a), b in zip(enc.named_parameters(), eager.parameters()):
        torch.testing.assert_close(a.grad, b.grad, rtol=1e-4, atol=1e-6, msg=name)
    assert math.isfinite(float(got.detach().sum()))


@pytest.mark.parametrize("tcn,layers", [("attention", 1), ("attention", 2), ("factored", 1), ("mean", 1), ("cross", 2)])
def test_tcn_flop_count_matches_torch_flop_counter(tcn, layers):
    from torch.utils.flop_counter import FlopCounterMode

    from motor.bench.speed import tcn_flops

    enc = encoder(tcn=tcn, layers=layers).train()
    # every item, as a batch: the whole catalogue would send 'factored' through its RowPlan, whose sparse products
    # the counter takes for dense ones
    with FlopCounterMode(display=False) as fwd:
        out = enc(torch.arange(N))
    with FlopCounterMode(display=False) as both:
        enc(torch.arange(N)).sum().backward()
    n = tcn_flops(N, T, V, DIM, enc.cfg, backward=False)
    # the counter sees matrix products only; the formula also counts the attention pooling (logits and weighted
    # sum, 2 T d multiply-adds per item), the mean's average (an embedding_bag, T d per item) and the factored
    # TCN's keys' shares and two weighted sums (heads T^2 + 2 T d per item)
    d, h = enc.cfg.token_dim, enc.cfg.heads
    slack = {"attention": 2 * N * 2 * T * d, "mean": 2 * N * T * d,
             "factored": 2 * N * (h * T * T + 2 * T * d) + 2 * V * d}.get(tcn, 0)
    assert fwd.get_total_flops() <= n <= fwd.get_total_flops() + slack
    total = tcn_flops(N, T, V, DIM, enc.cfg)
    assert abs(both.get_total_flops() - total) <= 0.1 * total + 3 * slack  # backward ~ 2x forward (no input grad of the tables)
    assert out.shape == (N, DIM)
