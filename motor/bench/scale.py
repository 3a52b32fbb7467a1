"""Suite ``scale``: what grows with the catalogue, from 10^4 to 10^6 items, and on paper beyond.

Measured on synthetic catalogues (``python -m motor data synth``: clustered image:512 and
text:384 features, long-tailed popularity; users = items / 20, interactions = 5 x items), each
measurement in a fresh process so its peak memory is its own:

- training throughput (training pairs per second) with 1 and 2 processes (the probe under
  ``torchrun --standalone --nproc_per_node=2``: DDP, the same code path as ``motor train``), BPR
  and LightGCN with ID items;
- peak memory and epoch time of BPR and LightGCN, ID vs MOTOR, at every size;
- tokenizer fit and encode time against the number of items;
- IVF-PQ recall@20 and query latency against exact search (``scale_probe.ann``);
- on paper, 10^7 and 10^8 items per mode, extrapolated from the measured per-item memory.

A full epoch at 10^6 items takes hours on a CPU, so every training measurement is ``motor
train``'s own loop stopped after ``steps`` steps or ``max_seconds`` (``scale_probe.train``): the
epoch time is the measured time per step x the epoch's steps, and the validation time is
estimated from ranking all items for ``eval_users`` users. Parts that fail (memory cap, timeout)
are reported as such, never faked.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from motor.bench.harness import ROOT, BenchOptions, child_env, last_line, run_module
from motor.bench.report import Section, table, write_csv
from motor.config import doc
from motor.errors import MotorError

MEMORY_GB = 24  # the machine size the issue asks about ("how far each mode gets in 24 GB")
PAPER_SIZES = (10 ** 7, 10 ** 8)
ID_BYTES_PER_ITEM = 64 * 4 * 4  # weights, gradient and two Adam moments of a 64-d float32 row
MOTOR_BYTES_PER_ITEM = 8 * 4  # 8 token ids (2 modalities x M=4), int32


@dataclass
class ScaleOptions(BenchOptions):
    sizes: list[int] = doc([10 ** 4, 10 ** 5, 10 ** 6], "catalogue sizes (items) to train and tokenize at")
    backbones: list[str] = doc(["bpr", "lightgcn"], "backbones for the memory and epoch-time table")
    items: list[str] = doc(["id", "motor"], "item representations to compare")
    processes: list[int] = doc([1, 2], "process counts for the throughput rows (2 and more: torchrun)")
    throughput_items: int = doc(10 ** 5, "catalogue size of the throughput rows")
    steps: int = doc(100, "most training steps timed per measurement (the first is a warm-up, not timed)")
    max_seconds: float = doc(60.0, "stop timing a measurement's steps after this many seconds (at least 3 steps)")
    eval_users: int = doc(512, "validation users ranked against all items to estimate the validation time")
    memory_gb: float = doc(14.0, "address-space cap of each measurement process (0 = none): a run too big for "
                                 "the machine fails with an allocation error instead of swapping")
    ann_items: int = doc(10 ** 6, "vectors in the IVF-PQ vs exact search measurement")
    timeout: float = doc(900.0, "seconds one measurement may take before it is reported as timed out")
    work: str = doc("benchmarks/_work/scale", "folder for the synthetic catalogues (reused between runs)")
    extra: list[str] = doc([], "more `train` options for every training run, e.g. --set=train.device=cuda")

    def __post_init__(self):
        super().__post_init__()
        if self.quick:
            self.sizes, self.throughput_items, self.ann_items, self.timeout = [1000, 2000], 1000, 5000, 600.0
            self.steps, self.max_seconds = 5, 10.0
        if min(self.sizes, default=1) < 100 or min(self.processes, default=1) < 1:
            raise MotorError("scale: sizes must be at least 100 items, processes at least 1")
        if self.steps < 3 or self.max_seconds <= 0 or self.eval_users < 1 or self.memory_gb < 0:
            raise MotorError("scale: steps must be at least 3, max_seconds and eval_users positive, memory_gb 0 "
                             "(no cap) or positive")


def have(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except ModuleNotFoundError:
        return False


def catalogue_shape(items: int) -> dict:
    return {"users": max(200, items // 20), "items": items, "interactions": 5 * items}


def catalogue(opts: ScaleOptions, items: int) -> tuple[Path | None, str]:
    """The synthetic catalogue with ``items`` items (made once, then reused), or None and why not."""
    if not have("motor.data.synth"):
        return None, "no synthetic catalogue generator in this checkout (motor/data/synth.py, issue 14 item 2)"
    folder = (ROOT / opts.work / f"synth-{items}").resolve()
    m = run_module("motor.bench.scale_probe", ["synth", json.dumps({**catalogue_shape(items), "out": str(folder)})],
                   timeout=opts.timeout, threads=opts.threads)
    if "error" in m:
        return None, f"synth failed: {m['error'][:100]}"
    return folder, ""


def train(opts: ScaleOptions, data: Path, backbone: str, items: str, processes: int) -> dict:
    """``scale_probe.train`` (through torchrun for more than one process): its JSON line or an error.

    A data-parallel launch that fails is launched once more (a rendezvous or a rank can fail for reasons of
    the machine, not of the code); the first failure's cause travels in ``"relaunched"``, so the report says
    so. A second failure is the row's error.
    """
    extra = [*opts.extra, *(["--threads", str(opts.threads)] if opts.threads else [])]
    spec = json.dumps({"data": str(data), "backbone": backbone, "items": items, "steps": opts.steps,
                       "max_seconds": opts.max_seconds, "eval_users": opts.eval_users, "memory_gb": opts.memory_gb,
                       "extra": extra})
    args = ["-m", "motor.bench.scale_probe", "train", spec]
    if processes > 1:
        args = ["-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={processes}", *args]
    first = launch(opts, args)
    if "error" not in first or processes == 1 or first["error"].startswith("timed out"):
        return first
    print(f"scale: {backbone} with {processes} processes failed ({first['error']}); launching it once more",
          file=sys.stderr, flush=True)
    second = launch(opts, args)
    return {**second, "relaunched": first["error"]}


def launch(opts: ScaleOptions, args: list[str]) -> dict:
    try:
        r = subprocess.run([sys.executable, *args], capture_output=True, text=True, timeout=opts.timeout,
                           env=child_env(opts.threads), cwd=ROOT)
    except subprocess.TimeoutExpired:
        return {"error": f"timed out after {opts.timeout:.0f} s"}
    if r.returncode != 0:
        print(r.stderr[-4000:], file=sys.stderr, flush=True)  # the whole story, for whoever reads the log
        return {"error": failure_cause(r.stderr)}
    try:
        return json.loads(last_line(r.stdout, "{}"))
    except json.JSONDecodeError:
        return {"error": f"no JSON result: {last_line(r.stdout)[:80]}"}


LAUNCHER_LINES = ("torch.distributed.elastic", "torch.distributed.run", "ChildFailedError")


def failure_cause(stderr: str) -> str:
    """The first error a rank reported, not torchrun's summary of it (``ChildFailedError``, printed last).

    A rank's own message (``error: ...``) or exception line comes first; failing both (a rank killed by a
    signal prints nothing), torchrun's root-cause exit code and traceback line; else the last line.
    """
    lines = [line.strip() for line in stderr.splitlines()]
    own = [line for line in lines if (line.startswith("error:") or re.match(r"[\w.]*(Error|Exception)\b.*:", line))
           and not any(s in line for s in LAUNCHER_LINES)]
    own.sort(key=lambda line: "another rank failed" in line)  # a rank stopped because of another comes last
    if own:
        return own[0]
    if "Root Cause (first observed failure):" in lines:
        cause = lines[lines.index("Root Cause (first observed failure):"):]
        fields = dict(re.match(r"(\w+)\s*: (.*)", line).groups() for line in cause if re.match(r"\w+\s*: ", line))
        if "exitcode" in fields:
            return f"rank {fields.get('rank', '?')} exited with {fields['exitcode']}; {fields.get('traceback', '')}"
    return last_line(stderr)


def short_error(text: str) -> str:
    """The error's gist: an allocation failure as the bytes it asked for, anything else cut to 120 characters."""
    if "can't allocate memory" in text or "DefaultCPUAllocator" in text:
        asked = re.search(r"allocate (\d+) bytes", text)
        return "out of memory" + (f" (asked for {int(asked.group(1)) / 2 ** 30:.1f} GiB more)" if asked else "")
    return text[:120]


def training_row(m: dict) -> dict:
    if "error" in m:
        return {"error": short_error(m["error"])}
    return {"train_pairs": m["train_pairs"], "batch_size": m["batch_size"], "steps": m["timed_steps"], "s_per_step": round(m["s_per_step"], 3),
            "s_per_epoch": round(m["epoch_s_est"], 1), "pairs_per_s": round(m["pairs_per_s"]),
            "eval_s": None if m["eval_s_est"] is None else round(m["eval_s_est"], 1), "prep_s": round(m["prep_s"], 1),
            "peak_mb": round(m["peak_rss_mb"]), "item_params": m["item_params"], "world_size": m["world_size"]}


def throughput(opts: ScaleOptions) -> tuple[list[dict], list[str]]:
    data, why = catalogue(opts, opts.throughput_items)
    if data is None:
        return [], [f"Throughput: skipped, {why}."]
    rows, notes = [], []
    for backbone in opts.backbones:
        for n in opts.processes:
            m = train(opts, data, backbone, "id", n)
            row = {"backbone": backbone, "items": "id", "processes": n, "catalogue": opts.throughput_items,
                   **training_row(m)}
            if "error" not in row and row["world_size"] != n:
                row = {**row, "error": f"ran, but world_size={row['world_size']}, not {n}: not data-parallel"}
            if "relaunched" in m:
                notes.append(f"{backbone} with {n} processes: the first launch failed ({short_error(m['relaunched'])}) "
                             f"and was launched once more; its row is the second launch.")
            rows.append(row)
            print(json.dumps(row), flush=True)
    return rows, notes


def memory_and_time(opts: ScaleOptions) -> tuple[list[dict], list[dict], list[str]]:
    rows, tok_rows, notes = [], [], []
    for n in opts.sizes:
        data, why = catalogue(opts, n)
        if data is None:
            notes.append(f"Training and tokenizer at {n:,} items: skipped, {why}.")
            continue
        t = run_module("motor.bench.scale_probe", ["tokenizer", json.dumps({"data": str(data)})],
                       timeout=opts.timeout, threads=opts.threads)
        tok = {"items": n, **({"error": t["error"][:120]} if "error" in t else
                              {"fit_s": round(t["fit_s"], 2), "encode_s": round(t["encode_s"], 2),
                               "peak_mb": round(t["peak_rss_mb"])})}
        tok_rows.append(tok)
        print(json.dumps(tok), flush=True)
        for backbone in opts.backbones:
            for items in opts.items:
                row = {"catalogue": n, "backbone": backbone, "items": items,
                       **training_row(train(opts, data, backbone, items, 1))}
                rows.append(row)
                print(json.dumps(row), flush=True)
    return rows, tok_rows, notes


def paper_estimate(rows: list[dict]) -> list[list]:
    """Peak memory at 10^7 and 10^8 items, linear in items from the two largest measured sizes."""
    out = []
    for backbone in dict.fromkeys(r["backbone"] for r in rows):
        for items in dict.fromkeys(r["items"] for r in rows):
            ok = sorted((r["catalogue"], r["peak_mb"]) for r in rows
                        if (r["backbone"], r["items"]) == (backbone, items) and "error" not in r)
            if len(ok) < 2:
                out.append([backbone, items, "-", *["-"] * len(PAPER_SIZES), "needs two measured sizes"])
                continue
            (n0, m0), (n1, m1) = ok[-2], ok[-1]
            per_item = (m1 - m0) / (n1 - n0)  # MiB per item (peak_mb is ru_maxrss in MiB)
            base = m1 - per_item * n1
            fits = (MEMORY_GB * 1024 - base) / per_item if per_item > 0 else float("inf")
            out.append([backbone, items, f"{per_item * 1024:.2f} KiB"] +
                       [f"{(base + per_item * n) / 1024:,.1f} GiB" for n in PAPER_SIZES] +
                       [f"{fits:,.0f}" if fits != float("inf") else "no growth measured"])
    return out


def load_average() -> str:
    return " / ".join(f"{x:.1f}" for x in os.getloadavg())


def fewer_sizes_note(rows: list[dict], sizes: list[int]) -> list[str]:
    """Which on-paper rows rest on smaller sizes than the largest two (a larger run failed)."""
    largest = sorted(sizes)[-2:]
    out = []
    for backbone in dict.fromkeys(r["backbone"] for r in rows):
        for items in dict.fromkeys(r["items"] for r in rows):
            ok = sorted(r["catalogue"] for r in rows if (r["backbone"], r["items"]) == (backbone, items)
                        and "error" not in r)[-2:]
            if len(ok) == 2 and ok != largest:
                out.append(f"{backbone}/{items} from {ok[0]:,} and {ok[1]:,} items (a larger size failed: see above)")
    return [f"On-paper rows from smaller sizes: {'; '.join(out)}.", ""] if out else []


def paper_time(rows: list[dict]) -> list[list]:
    """Epoch time at 10^7 and 10^8 items on the measured machine, from the two largest measured sizes:
    seconds per step linear in items, steps per epoch = training pairs per item x items / batch."""
    out = []
    for backbone in dict.fromkeys(r["backbone"] for r in rows):
        for items in dict.fromkeys(r["items"] for r in rows):
            ok = sorted((r["catalogue"], r["s_per_step"], r["train_pairs"], r.get("batch_size", 2048)) for r in rows
                        if (r["backbone"], r["items"]) == (backbone, items) and "error" not in r)
            if len(ok) < 2:
                out.append([backbone, items, "-", *["-"] * len(PAPER_SIZES)])
                continue
            (n0, s0, _, _), (n1, s1, pairs, batch) = ok[-2], ok[-1]
            slope = max(0.0, (s1 - s0) / (n1 - n0))  # seconds per step per item
            per_step = [s1 + slope * (n - n1) for n in PAPER_SIZES]
            epochs = [p * (pairs / n1 * n / batch) for p, n in zip(per_step, PAPER_SIZES)]
            out.append([backbone, items, f"{slope * 1e6:.2f} s"] +
                       [f"{p:,.1f} s/step, {e / 3600:,.0f} h/epoch" for p, e in zip(per_step, epochs)])
    return out


def run(opts: ScaleOptions) -> Section:
    load_start = load_average()
    thr, notes = throughput(opts)
    mem, tok, more = memory_and_time(opts)
    notes += more
    a = run_module("motor.bench.scale_probe", ["ann", json.dumps({"items": opts.ann_items})],
                   timeout=opts.timeout, threads=opts.threads)
    print(json.dumps({"table": "ann", **a}), flush=True)
    if opts.write:
        write_csv("scale_quick" if opts.quick else "scale", [{"table": "throughput", **r} for r in thr] +
                  [{"table": "memory", **r} for r in mem] + [{"table": "tokenizer", **r} for r in tok] +
                  [{"table": "ann", "items": a.get("items"), **r} for r in a.get("ivfpq", [])])
    title = "## Scale: 10^4 to 10^6 items" + (" (quick smoke run: tiny sizes, not comparable)" if opts.quick else "")
    lines = [title, "", "Synthetic catalogues (`python -m motor data synth`, image:512 + text:384, users = items "
             "/ 20, interactions = 5 x items), each measurement its own process. Every training measurement is "
             f"`motor train`'s own loop (batch 2048, defaults otherwise) stopped after {opts.steps} steps or "
             f"{opts.max_seconds:g} s of steps (at least 3): s/epoch is the measured s/step x the epoch's steps, "
             f"not a timed epoch; eval s estimates one validation pass (all user and item vectors, then every "
             f"item ranked for {opts.eval_users} validation users, scaled to all of them). Peak MB is the "
             f"process's high-water mark (rank 0's with 2 processes), with the address space capped at "
             f"{opts.memory_gb:g} GB; prep s is loading, split, tokenizer (MOTOR) and model build.", ""]
    if thr:
        lines += ["### Training throughput", ""] + table(
            ["backbone", "items", "catalogue", "processes", "training pairs", "steps timed", "pairs/s", "s/epoch",
             "peak MB"],
            [[r["backbone"], r["items"], f"{r['catalogue']:,}", r["processes"], f"{r.get('train_pairs', 0):,}",
              r.get("steps", "-"), r.get("pairs_per_s", r.get("error", "-")), r.get("s_per_epoch", "-"),
              r.get("peak_mb", "-")] for r in thr]) + [""]
        lines += ["One process uses one core, two processes two (1 thread each), with the same total batch. Each "
                  "rank computes its half of the batch, but a graph backbone (LightGCN) propagates the whole graph "
                  "on every rank, so only the per-batch part of a step is divided.", ""]
    if mem:
        lines += ["### Peak memory and epoch time, ID vs MOTOR", ""] + table(
            ["items", "backbone", "item repr.", "item params", "steps timed", "s/step", "s/epoch", "eval s",
             "pairs/s", "peak MB", "prep s"],
            [[f"{r['catalogue']:,}", r["backbone"], r["items"], r.get("item_params", "-"), r.get("steps", "-"),
              r.get("s_per_step", r.get("error", "-")), r.get("s_per_epoch", "-"), r.get("eval_s", "-"),
              r.get("pairs_per_s", "-"), r.get("peak_mb", "-"), r.get("prep_s", "-")] for r in mem]) + [""]
        lines += [f"On paper (linear in items from the two largest measured sizes; {MEMORY_GB} GB machine). For "
                  f"scale, the ID table alone at 64-d float32 with its gradient and Adam's two moments is "
                  f"{ID_BYTES_PER_ITEM} bytes per item: {ID_BYTES_PER_ITEM * PAPER_SIZES[0] / 1e9:,.0f} GB at "
                  f"10^7 items and {ID_BYTES_PER_ITEM * PAPER_SIZES[1] / 1e9:,.0f} GB at 10^8, where MOTOR keeps "
                  f"{MOTOR_BYTES_PER_ITEM} bytes of token ids per item (8 int32) and a fixed-size token table:", ""]
        lines += table(["backbone", "item repr.", "memory per item"] + [f"peak at {n:.0e} items" for n in PAPER_SIZES]
                       + [f"items that fit in {MEMORY_GB} GiB"], paper_estimate(mem)) + [""]
        lines += fewer_sizes_note(mem, opts.sizes)
        lines += ["Epoch time on paper, on this machine's measured speed (1 thread per process): seconds per step "
                  "linear in items from the two largest measured sizes, and steps per epoch growing with the "
                  "interactions (5 per item here):", ""]
        lines += table(["backbone", "item repr.", "s/step per 10^6 items"] + [f"at {n:.0e} items" for n in PAPER_SIZES],
                       paper_time(mem)) + [""]
    if tok:
        lines += ["### Tokenizer (documented defaults) against catalogue size", ""] + table(
            ["items", "fit s", "encode s", "peak MB"],
            [[f"{r['items']:,}", r.get("fit_s", r.get("error", "-")), r.get("encode_s", "-"), r.get("peak_mb", "-")]
             for r in tok]) + [""]
    if "error" in a:
        lines += [f"IVF-PQ: failed ({a['error'][:100]})", ""]
    else:
        lines += [f"### IVF-PQ vs exact search, {a['items']:,} clustered {a['dim']}-d vectors", "",
                  f"{a['index']}: nlist {a['nlist']}, {a['index_mb']:.0f} MB, built in {a['build_s']:.1f} s; "
                  f"exact search (IndexFlatIP) {a['exact_ms_per_query']:.2f} ms per query; 1,000 queries (noisy "
                  "copies of random items) in one batch.", ""]
        lines += table(["nprobe", "k_factor (re-ranked per result)", "recall@20", "ms per query"],
                       [[r["nprobe"], r.get("k_factor") or "-", f"{r['recall']:.3f}", f"{r['ms_per_query']:.3f}"]
                        for r in a["ivfpq"]]) + [""]
    lines += notes
    return Section("\n".join(lines).rstrip(), f". Load average (1/5/15 min) {load_start} at the start, "
                   f"{load_average()} at the end; the cores are shared with other work, so timings are noisy")

