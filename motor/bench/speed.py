"""Suite ``speed``: MOTOR's training epoch against ID's, per backbone, side by side in one process.

For each backbone the variants (ID, MOTOR with the attention TCN, MOTOR with the ``mean`` TCN, the
attention TCN with its last FFN on the pooled vector (``last_ffn='item'``), the ``factored`` TCN (the attention
block pooled before any per-token work), and optionally the attention
TCN compiled) are built on the same data and tokens, each with its own
Adam, and their epochs are timed interleaved step by step (every batch through every variant in
turn, ``repeats`` rounds, the first a warm-up), so the machine's load falls on all of them alike;
the ratio is of the medians.
An epoch here is the trainer's training loop without validation (``epoch_seconds``). The ID epochs
are also broken down by region (sampling, ``pre_epoch``, loss forward, backward, optimiser step)
and by kind of operation (profiler: dense matmuls, sparse graph products, gathers, the rest).

The arithmetic floor: ``tcn_flops`` counts the TCN's floating-point operations per epoch, set
beside the machine's measured single-thread matmul rate (``matmul_gflops``), i.e. the time the
TCN would take if it ran at matmul speed. Every measurement is appended to
``benchmarks/speed_runs.jsonl`` with the load average, so the log says how busy the machine was.
"""

from __future__ import annotations

import json
import os
import statistics
import time
from dataclasses import dataclass
from datetime import datetime, timezone

import numpy as np
import torch

from motor.bench.harness import OUT, BenchOptions
from motor.bench.report import Section, table, write_csv
from motor.config import doc

VARIANTS = {  # name -> (items, motor settings)
    "id": ("id", {}),
    "attention": ("motor", {}),
    "mean": ("motor", {"tcn": "mean"}),
    "attention, item FFN": ("motor", {"last_ffn": "item"}),
    "factored": ("motor", {"tcn": "factored"}),
    "attention+compile": ("motor", {"compile": True}),
}


@dataclass
class SpeedOptions(BenchOptions):
    data: str = doc("ml100k", "dataset: demo, ml100k or a dataset folder")
    backbones: list[str] = doc(["lightgcn", "vbpr", "freedom"], "comma-separated backbones")
    repeats: int = doc(5, "interleaved rounds of one epoch per variant; the first is a warm-up, the ratio is of the "
                          "medians of the others", low=1)
    batch_size: int = doc(2048, "training rows per step (the trainer's default)", low=1)
    compile: bool = doc(True, "also time the attention TCN with motor.compile (reports its compile time)")
    profile: bool = doc(True, "break the ID epochs down by region and by kind of operation")

    def __post_init__(self):
        super().__post_init__()
        if self.quick:
            self.data, self.repeats, self.compile = "demo", 2, False


# --- the arithmetic floor -----------------------------------------------------------------------

def tcn_flops(n_items: int, n_tokens: int, vocab: int, dim: int, cfg, backward: bool = True) -> int:
    """Floating-point operations (2 per multiply-add) of one TCN pass over ``n_items`` items: the matrix products
    the variant counts (``TokenCrossNetwork.forward_macs``); ``backward`` adds twice the forward (gradients for
    inputs and for weights)."""
    from motor.encoders.tcn import get_tcn

    return int(2 * get_tcn(cfg.tcn).forward_macs(n_items, n_tokens, vocab, dim, cfg) * (3 if backward else 1))


def matmul_gflops(n: int = 1024, repeat: int = 5) -> float:
    """The machine's measured float32 matmul rate (GFLOP/s) on an ``n x n x n`` product, current threads."""
    a, b = torch.randn(n, n), torch.randn(n, n)
    a @ b
    best = min(_timed(lambda: a @ b) for _ in range(repeat))
    return 2 * n ** 3 / best / 1e9


def _timed(fn) -> float:
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


# --- epochs -------------------------------------------------------------------------------------

def train_step(model, opt, batch, regions: dict | None = None) -> float:
    """One step as ``Trainer.fit`` runs it (loss, finiteness check, backward, Adam step, loss readout);
    its seconds; ``regions`` accumulates seconds of loss forward, backward and optimiser."""
    a = time.perf_counter()
    terms = model.loss(batch)
    loss = sum(terms.values())
    bool(torch.isfinite(loss))
    b = time.perf_counter()
    opt.zero_grad(set_to_none=True)
    loss.backward()
    c = time.perf_counter()
    opt.step()
    loss.item()
    for v in terms.values():
        v.item()
    d = time.perf_counter()
    if regions is not None:
        for k, v in (("loss forward", b - a), ("backward", c - b), ("optimizer", d - c)):
            regions[k] = regions.get(k, 0.0) + v
    return d - a


def epoch_seconds(model, opt, sampler, rng: np.random.Generator, gen: torch.Generator, batch_size: int,
                  regions: dict | None = None) -> float:
    """One training epoch of one model as ``Trainer.fit`` runs it (pre_epoch, sampling, steps), without
    validation; ``regions`` accumulates seconds per part."""
    acc = regions if regions is not None else {}
    model.train()
    t0 = time.perf_counter()
    model.pre_epoch(1, gen)
    t1 = time.perf_counter()
    batches = list(sampler.epoch(batch_size, rng, model.uses_negatives))
    acc["pre_epoch"] = acc.get("pre_epoch", 0.0) + t1 - t0
    acc["sampling"] = acc.get("sampling", 0.0) + time.perf_counter() - t1
    for batch in batches:
        train_step(model, opt, batch, acc)
    return time.perf_counter() - t0


def interleaved_epochs(runs: dict[str, tuple], sampler, batch_size: int, repeats: int,
                       regions: dict | None = None, seed: int = 0) -> dict[str, list[float]]:
    """Epoch seconds of every variant (``runs``: name -> (model, optimiser, generator)), ``repeats`` rounds.

    Every batch of a round goes through every variant in turn, the order reversed every other round,
    so a change in the machine's load falls on all of them alike (epochs timed one after the other
    were measured to swing by 1.5x on the shared machine). A variant's epoch is its ``pre_epoch``, its
    steps and the round's sampling. ``regions``: the ``"id"`` variant's parts, rounds after the first.
    """
    rng = np.random.default_rng(seed)
    names = list(runs)
    times: dict[str, list[float]] = {n: [] for n in names}
    for r in range(repeats):
        order = names if r % 2 == 0 else names[::-1]
        t = time.perf_counter()
        batches = list(sampler.epoch(batch_size, rng))
        sampling = time.perf_counter() - t
        epoch = dict.fromkeys(names, sampling)
        for n in order:
            model, _, gen = runs[n]
            model.train()
            t = time.perf_counter()
            model.pre_epoch(r + 1, gen)
            epoch[n] += time.perf_counter() - t
        acc = regions if (regions is not None and r > 0 and "id" in runs) else None
        if acc is not None:
            acc["sampling"] = acc.get("sampling", 0.0) + sampling
            acc["pre_epoch"] = acc.get("pre_epoch", 0.0) + epoch["id"] - sampling
        for batch in batches:
            for n in order:
                model, opt, _ = runs[n]
                epoch[n] += train_step(model, opt, batch, acc if n == "id" else None)
        for n in names:
            times[n].append(epoch[n])
    return times


def op_kind(name: str, shapes: list, graph_sizes: set[int]) -> str:
    """The kind of a profiled operation: dense matmul, sparse graph product, gather/scatter or other."""
    square = any(isinstance(s, list) and len(s) == 2 and s[0] == s[1] and s[0] in graph_sizes for s in shapes)
    if "sparse" in name or (name in ("aten::mm", "aten::addmm") and square):
        return "sparse graph products"
    if name in ("aten::mm", "aten::addmm", "aten::bmm", "aten::baddbmm", "aten::matmul", "aten::linear"):
        return "dense matmuls"
    if any(k in name for k in ("index", "embedding", "gather", "scatter")):
        return "gathers/scatters"
    if "Optimizer" in name or "_foreach" in name or name in ("aten::addcdiv_", "aten::addcmul_", "aten::lerp_",
                                                             "aten::sqrt"):
        return "optimizer maths"
    return "other element-wise and reductions"


def profile_kinds(run_epoch, graph_sizes: set[int]) -> dict[str, float]:
    """Self CPU seconds per kind of operation over one epoch (torch.profiler)."""
    from torch.profiler import ProfilerActivity, profile

    with profile(activities=[ProfilerActivity.CPU], record_shapes=True) as prof:
        run_epoch()
    kinds: dict[str, float] = {}
    for ev in prof.key_averages(group_by_input_shape=True):
        if ev.key.startswith(("aten::", "Optimizer")) or "sparse" in ev.key:
            k = op_kind(ev.key, ev.input_shapes or [], graph_sizes)
            kinds[k] = kinds.get(k, 0.0) + ev.self_cpu_time_total / 1e6
    return kinds


def log(row: dict) -> None:
    """Append one measurement to benchmarks/speed_runs.jsonl with the time and the load average."""
    OUT.mkdir(exist_ok=True)
    row = {"time": datetime.now(timezone.utc).isoformat(timespec="seconds"),
           "loadavg": [round(x, 2) for x in os.getloadavg()], **row}
    with (OUT / "speed_runs.jsonl").open("a") as f:
        f.write(json.dumps(row) + "\n")


def measure_backbone(backbone: str, ds, split, ctx, tokenizer, opts: SpeedOptions) -> dict:
    """Interleaved epochs of every variant of one backbone: medians, ratios to ID, compile time, breakdown."""
    from motor.encoders.token_encoder import MotorEncoder
    from motor.experiment import RunConfig, build_model
    from motor.sampling import NegativeSampler
    from motor.train import make_adam

    names = [n for n in VARIANTS if opts.compile or n != "attention+compile"]
    runs = {}
    for name in names:
        items, motor = VARIANTS[name]
        model = build_model(RunConfig.from_dict({"backbone": backbone, "items": items, "motor": motor}), ctx,
                            tokenizer if items == "motor" else None)
        opt = make_adam([p for p in model.parameters() if p.requires_grad], 1e-3)
        runs[name] = (model, opt, torch.Generator().manual_seed(0))
    sampler = NegativeSampler(split.train, split.n_items)
    regions: dict[str, float] = {}
    times = interleaved_epochs(runs, sampler, opts.batch_size, opts.repeats, regions)
    med = {n: statistics.median(t[1:] if len(t) > 1 else t) for n, t in times.items()}
    out = {"backbone": backbone, "epoch_s": med, "ratio": {n: med[n] / med["id"] for n in names},
           "all_epochs_s": times, "id_regions_s": {k: v / max(1, opts.repeats - 1) for k, v in regions.items()}}
    enc = runs["attention"][0].items
    if isinstance(enc, MotorEncoder):
        out["tcn"] = {"n_items": enc.n_items, "T": enc.n_tokens, "V": enc.vocab_size, "dim": enc.dim}
    id_model = runs["id"][0]
    if getattr(id_model, "needs_features", False):  # the frozen-feature projection every step (VBPR, FREEDOM)
        out["features"] = {"n_items": split.n_items, "D": sum(id_model.features.dims().values()),
                           "dim": id_model.cfg.embedding_dim}
    if "attention+compile" in runs:
        compiled = runs["attention+compile"][0].items.compiled
        out["compile"] = {"first_call_s": compiled.first_call_seconds, "failed": compiled.failed}
    if opts.profile:
        model, opt, gen = runs["id"]
        sizes = {split.n_items, split.n_users, split.n_users + split.n_items}
        rng = np.random.default_rng(1)
        out["id_kinds_s"] = profile_kinds(lambda: epoch_seconds(model, opt, sampler, rng, gen, opts.batch_size),
                                          sizes)
    return out


FLOOR_VARIANTS = ("attention", "factored")  # the TCNs whose arithmetic floor the report sets beside their time


def floor_row(res: dict, steps: int, variant: str, gflops: float) -> dict:
    """TCN FLOPs per epoch of one variant (every step encodes every item in these backbones), the time at matmul
    speed, and the measured TCN share (the variant's epoch minus ID's)."""
    from motor.encoders.token_encoder import MotorEncoderConfig

    t = res["tcn"]
    flops = steps * tcn_flops(t["n_items"], t["T"], t["V"], t["dim"], MotorEncoderConfig(**VARIANTS[variant][1]))
    tcn_s = res["epoch_s"][variant] - res["epoch_s"]["id"]
    return {"variant": variant, "gflop_per_epoch": flops / 1e9, "floor_s": flops / (gflops * 1e9), "tcn_s": tcn_s}


def projection_flops(n_items: int, feature_dim: int, dim: int) -> int:
    """FLOPs of one step's feature projection of every item, ``[n, D] x [D, dim]``, and of its weight gradient
    (the features are frozen: no input gradient)."""
    return 2 * (2 * n_items * feature_dim * dim)


def run(opts: SpeedOptions) -> Section:
    from motor.data.load import load_dataset
    from motor.data.split import make_split
    from motor.encoders.registry import get_item_encoder
    from motor.experiment import RunConfig, model_context
    from motor.models.registry import get_backbone
    from motor.threads import set_threads

    for backbone in opts.backbones:  # an unknown name fails here, before anything is measured or logged
        get_backbone(backbone)
    threads = set_threads(opts.threads or 1)
    ds = load_dataset(opts.data)
    split = make_split(ds)
    ctx = model_context(ds, split)
    tokenizer = get_item_encoder("motor").prepare(ds, RunConfig.from_dict({"items": "motor"}), lambda m: None, None)
    gflops = matmul_gflops()
    steps = -(-len(split.train.user) // opts.batch_size)
    log({"kind": "matmul", "gflops": gflops, "threads": threads})
    results = []
    for backbone in opts.backbones:
        res = measure_backbone(backbone, ds, split, ctx, tokenizer, opts)
        if "tcn" in res:
            res["floors"] = [floor_row(res, steps, v, gflops) for v in FLOOR_VARIANTS if v in res["epoch_s"]]
        log({"kind": "epochs", "data": opts.data, "threads": threads, "batch_size": opts.batch_size, **res})
        results.append(res)
        print(json.dumps({"backbone": backbone, "epoch_s": res["epoch_s"], "ratio": res["ratio"]}), flush=True)
    names = list(results[0]["epoch_s"]) if results else []
    rows = [[r["backbone"], *(f"{r['epoch_s'][n]:.3f}" for n in names),
             *(f"{r['ratio'][n]:.2f}x" for n in names if n != "id")] for r in results]
    load = os.getloadavg()
    lines = [f"## Epoch time, ID vs MOTOR ({opts.data}, {threads} thread, batch {opts.batch_size}, {steps} steps)", "",
             f"Median of {max(1, opts.repeats - 1)} epoch(s) per variant after one warm-up, in one process, the variants "
             f"interleaved step by step on the same batches (training loop only, no validation). Load average at the end: {load[0]:.2f} / {load[1]:.2f} / "
             f"{load[2]:.2f} on {os.cpu_count()} cores. Targets: attention <= 2x ID (LightGCN, VBPR), mean <= 1.3x.",
             "", *table(["backbone", *(f"{n} s" for n in names), *(f"{n} / id" for n in names if n != "id")], rows)]
    compiled = [r for r in results if r.get("compile")]
    if compiled:
        lines += ["", "torch.compile of the TCN (motor.compile): first training step including compilation "
                  + ", ".join(f"{r['backbone']} {r['compile']['first_call_s']:.2f} s" if not r["compile"]["failed"]
                              else f"{r['backbone']} failed ({r['compile']['failed']})" for r in compiled) + "."]
    floors = [(r["backbone"], f) for r in results for f in r.get("floors", [])]
    if floors:
        lines += ["", f"## Arithmetic floor of the TCN (matmul rate {gflops:.1f} GFLOP/s measured on "
                      f"1024^3 float32, {threads} thread)", "",
                  *table(["backbone", "TCN", "TCN GFLOP / epoch (fwd+bwd)", "at matmul rate", "measured TCN share "
                          "(variant - id)"],
                         [[b, f["variant"], f"{f['gflop_per_epoch']:.1f}", f"{f['floor_s']:.3f} s", f"{f['tcn_s']:.3f} s"]
                          for b, f in floors])]
    projected = [r for r in results if "features" in r]
    if projected:
        lines += ["", "## Floor of the ID epochs of the feature backbones", "",
                  "Every step projects every item's frozen features (all modalities, D columns) to the backbone's "
                  "width and computes that weight's gradient: two dense matmuls no exact rewrite avoids.", "",
                  *table(["backbone", "n x D x dim", "projection GFLOP / epoch", "at matmul rate", "measured ID epoch"],
                         [[r["backbone"], f"{r['features']['n_items']} x {r['features']['D']} x {r['features']['dim']}",
                           f"{steps * projection_flops(**_fd(r)) / 1e9:.1f}",
                           f"{steps * projection_flops(**_fd(r)) / (gflops * 1e9):.3f} s",
                           f"{r['epoch_s']['id']:.3f} s"] for r in projected])]
    if results and opts.profile:
        regions = sorted({k for r in results for k in r["id_regions_s"]})
        kinds = sorted({k for r in results for k in r.get("id_kinds_s", {})})
        lines += ["", "## Where the ID epoch goes", "", "By region (seconds per epoch):", "",
                  *table(["backbone", *regions], [[r["backbone"], *(f"{r['id_regions_s'].get(k, 0):.3f}"
                                                                    for k in regions)] for r in results]),
                  "", "By kind of operation (profiler self time, seconds per epoch; the profiler adds overhead):", "",
                  *table(["backbone", *kinds], [[r["backbone"], *(f"{r.get('id_kinds_s', {}).get(k, 0):.3f}"
                                                                  for k in kinds)] for r in results])]
    if opts.write:
        write_csv("speed_quick" if opts.quick else "speed", [{"backbone": r["backbone"], **{f"{n}_s": round(r["epoch_s"][n], 4) for n in names},
                             **{f"{n}_ratio": round(r["ratio"][n], 3) for n in names if n != "id"}} for r in results])
    return Section("\n".join(lines), note=" Log: benchmarks/speed_runs.jsonl.")


def _fd(r: dict) -> dict:
    f = r["features"]
    return {"n_items": f["n_items"], "feature_dim": f["D"], "dim": f["dim"]}
