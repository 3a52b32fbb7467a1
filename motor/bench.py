"""Benchmarks people can rerun: ``python -m motor bench {core,size,backbones}``.

Each suite writes a CSV next to ``benchmarks/RESULTS.md`` and replaces its own section of that
file (between ``<!-- suite:NAME -->`` markers), with the machine and the command that made it.
Training runs execute in fresh subprocesses (``python -m motor train``), so peak memory is the
run's own and one run cannot warm caches for another.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import platform
import re
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

import numpy as np

from motor.errors import MotorError

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "benchmarks"

# Settings every benchmark run shares; hyperparameters were chosen on validation Recall@20 only.
BENCH_TRAIN = {"epochs": 100, "patience": 10}
BENCH_MOTOR: dict = {}  # the documented defaults (tokenizer M=4, K=64; TCN attention, 1 layer, width 32)
# Per (backbone, items) settings chosen on demo validation Recall@20 by benchmarks/motor_sweep.py
# (one seed; ID and MOTOR each given the same learning-rate choices; within 0.001 the cheaper
# setting wins). Backbones not listed run the documented defaults on both sides: not tuned.
BENCH_TUNED: dict[tuple[str, str], dict] = {
    ("bpr", "id"): {"train": {"lr": 0.001}},                           # .2862 vs .2802 at lr 5e-3
    ("bpr", "motor"): {"tokenizer": {"m": 8}},                          # .2649 vs .2414 default
    ("lightgcn", "motor"): {"train": {"lr": 0.02}, "tokenizer": {"k": 256}},  # .3160 vs .2470 default
    ("vbpr", "id"): {"train": {"lr": 0.001}},                          # .2484 vs .2319
    ("vbpr", "motor"): {"train": {"lr": 0.001}},                       # .2390 vs .2094
}


def machine() -> str:
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    import torch

    return f"{platform.machine()}, {cpus} CPU cores, Python {platform.python_version()}, torch {torch.__version__}"


def write_section(suite: str, body: str, command: str, note: str = "") -> Path:
    """Replace this suite's section of RESULTS.md (other suites' sections are kept)."""
    OUT.mkdir(exist_ok=True)
    path = OUT / "RESULTS.md"
    text = path.read_text() if path.exists() else "# Benchmark results\n\nWritten by `python -m motor bench`.\n"
    block = (f"<!-- suite:{suite} -->\n{body.rstrip()}\n\n_Machine: {machine()}. Date: {date.today()}. "
             f"Command: `{command}`{note}_\n<!-- /suite:{suite} -->")
    pattern = re.compile(rf"<!-- suite:{suite} -->.*?<!-- /suite:{suite} -->", re.S)
    text = pattern.sub(lambda _: block, text) if pattern.search(text) else text.rstrip() + "\n\n" + block + "\n"
    path.write_text(text)
    return path


def write_csv(name: str, rows: list[dict], args) -> Path | None:
    if args.no_write:
        return None
    OUT.mkdir(exist_ok=True)
    path = OUT / f"{name}.csv"
    keys = list(dict.fromkeys(k for r in rows for k in r))
    with path.open("w", newline="") as f:
        w = csv.DictWriter(f, keys)
        w.writeheader()
        w.writerows(rows)
    return path


def median_time(fn, repeat: int = 5) -> float:
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def child_env() -> dict:
    """The environment for benchmark subprocesses: this checkout first on PYTHONPATH, the rest kept."""
    path = os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH", "")) if p)
    return {**os.environ, "PYTHONPATH": path}


def train_subprocess(cfg: dict, timeout: float = 3600, threads: int | None = None,
                     flags: list[str] = ()) -> dict:
    """Run ``python -m motor train --config`` in a fresh process (``flags``: more command-line
    options, which override the config); its metrics.json, or ``{"error": last stderr line}``."""
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "cfg.json").write_text(json.dumps(cfg))
        cmd = [sys.executable, "-m", "motor", "train", "--config", str(Path(tmp) / "cfg.json"),
               "--data", cfg["data"]["data"], "--out", str(Path(tmp) / "run"), "--quiet"]
        if threads:
            cmd += ["--threads", str(threads)]
        cmd += list(flags)
        env = child_env()
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env, cwd=ROOT)
        if r.returncode != 0:
            return {"error": (r.stderr.strip().splitlines() or ["failed"])[-1]}
        return json.loads((Path(tmp) / "run" / "metrics.json").read_text())


def fmt(values: list[float], digits: int = 4) -> str:
    values = [v for v in values if v is not None and np.isfinite(v)]
    if not values:
        return "-"
    if len(values) == 1:
        return f"{values[0]:.{digits}f}"
    return f"{np.mean(values):.{digits}f} ± {np.std(values):.{digits}f}"


# --- suite: core ------------------------------------------------------------------------------

def suite_core(args) -> str:
    """Sampler, full-ranking evaluation and LightGCN epoch targets; BPR and LightGCN (ID) per dataset."""

    from motor.data.load import load_dataset
    from motor.data.split import make_split
    from motor.evaluate import Evaluator
    from motor.experiment import RunConfig, build_model, model_context
    from motor.sampling import NegativeSampler
    from motor.threads import set_threads
    from motor.train import Trainer, TrainConfig

    set_threads()
    ml = load_dataset("ml100k")
    split = make_split(ml)
    inter = ml.interactions
    from motor.data.split import Pairs

    all_pairs = Pairs(inter.user, inter.item)
    sampler = NegativeSampler(all_pairs, ml.n_items)
    rng = np.random.default_rng(0)
    t_sample = median_time(lambda: sampler.sample(all_pairs.user, rng))

    model = build_model(RunConfig.from_dict({"backbone": "lightgcn"}), model_context(ml, split))
    ev = Evaluator(split)
    n_eval_users = len(split.test.users())
    t_eval = median_time(lambda: ev.evaluate(model, "test"), 3)
    trainer = Trainer(TrainConfig(epochs=1, batch_size=2048, patience=1))
    epoch_times = []
    for _ in range(3):
        res = trainer.fit(model, split)
        epoch_times.append(res.history[0]["train_seconds"])
    t_epoch = statistics.median(epoch_times)
    lines = ["## Core targets (MovieLens-100K)", "",
             "| measurement | target | measured |", "|---|---|---|",
             f"| negative sampling, one epoch of {len(all_pairs):,} interactions | < 0.1 s | {t_sample:.3f} s |",
             f"| full-ranking evaluation of all {n_eval_users} test users x {ml.n_items:,} items | < 1 s | "
             f"{t_eval:.3f} s |",
             f"| LightGCN epoch (64-d, 2 layers, batch 2048, {len(split.train):,} rows) | < 2 s | {t_epoch:.2f} s |",
             ""]
    rows = []
    for data in args.datasets:
        for backbone in ("bpr", "lightgcn"):
            cfg = {"data": {"data": data}, "backbone": backbone, "items": "id", "train": dict(BENCH_TRAIN)}
            if args.quick:
                cfg["train"]["epochs"] = 3
            m = train_subprocess(cfg)
            row = {"dataset": data, "backbone": backbone, **_row(m)}
            rows.append(row)
            print(json.dumps(row), flush=True)
    write_csv("core", rows, args)
    lines += ["## BPR and LightGCN with ID embeddings", "",
              f"Training settings: {json.dumps(BENCH_TRAIN)}, early stopping on validation Recall@20, "
              "strict protocol, seed 999, split seed 2024.", "",
              "| dataset | backbone | test R@10 | test R@20 | test N@10 | test N@20 | best epoch | s/epoch | "
              "s/eval | peak MB |", "|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['dataset']} | {r['backbone']} | {r.get('recall@10', '-')} | {r.get('recall@20', '-')} | "
                     f"{r.get('ndcg@10', '-')} | {r.get('ndcg@20', '-')} | {r.get('best_epoch', '-')} | "
                     f"{r.get('s_per_epoch', '-')} | {r.get('s_per_eval', '-')} | {r.get('peak_mb', '-')} |")
    return "\n".join(lines)


def _row(m: dict) -> dict:
    if "error" in m:
        return {"error": m["error"]}
    r = {k: round(m["test"][k], 4) for k in ("recall@10", "recall@20", "ndcg@10", "ndcg@20")}
    r.update(best_epoch=m["best_epoch"], epochs_run=m["epochs_run"], s_per_epoch=round(m["seconds_per_epoch"], 3),
             s_per_eval=round(m["eval_seconds_per_epoch"], 3), peak_mb=round(m["peak_rss_mb"]),
             item_params=m["params"]["item_side"], total_params=m["params"]["trainable_total"])
    if "cold" in m:
        r["cold_recall@20"] = round(m["cold"]["recall@20"], 4)
        r["cold_recall@20_among_cold"] = round(m["cold"]["recall@20_among_cold"], 4)
    if "tokenizer" in m:
        r["tokenize_s"] = round(m["tokenizer"].get("fit_seconds", float("nan")), 3)
    return r


# --- suite: size ------------------------------------------------------------------------------

SIZE_PROBE = """
import json, sys, resource, time, numpy as np, torch
import motor
from motor.encoders import IdEmbedding, MotorEncoder, MotorEncoderConfig
kind, n, T, K, dim = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
cfg = MotorEncoderConfig(**json.loads(sys.argv[6]))
def rss():
    return int(open('/proc/self/statm').read().split()[1]) * 4096
before = rss()
if kind == 'id':
    enc = IdEmbedding(n, dim)
else:
    rng = np.random.default_rng(0)
    tids = (rng.integers(0, K, size=(n, T), dtype=np.int64) + np.arange(T) * K).astype(np.int32)
    enc = MotorEncoder(n, dim, torch.from_numpy(tids), T * K, cfg)
    del tids
after = rss()
batch = torch.randint(0, n, (2048,))
with torch.no_grad():
    enc.eval(); enc(batch); t = time.perf_counter(); enc(batch); ms = (time.perf_counter() - t) * 1000
print(json.dumps({"params": enc.n_parameters(), "bytes": enc.n_bytes(), "rss_delta": after - before, "batch_ms": ms}))
"""


def suite_size(args) -> str:
    """Item-side parameters and memory, ID table vs MOTOR, computed and measured by building both."""
    from motor.encoders import MotorEncoderConfig, item_side_parameters

    T, K, dim = 8, 64, 64  # the benchmark MOTOR setting: 2 modalities x M=4, K=64
    cfg = MotorEncoderConfig()
    motor_cfg = {"tcn": cfg.tcn, "token_dim": cfg.token_dim, "layers": cfg.layers, "heads": cfg.heads}
    sizes = [10 ** e for e in range(3, 8)]
    rows = []
    for n in sizes:
        row = {"items": n, "id_params": n * dim, "motor_params": item_side_parameters(n, T, T * K, dim, cfg),
               "id_bytes": n * dim * 4}
        row["motor_bytes"] = row["motor_params"] * 4 + n * T * 4  # parameters + int32 token ids (frozen content)
        for kind in ("id", "motor"):
            if n > args.max_items:
                continue
            r = subprocess.run([sys.executable, "-c", SIZE_PROBE, kind, str(n), str(T), str(K), str(dim),
                                json.dumps(motor_cfg)], capture_output=True, text=True, cwd=ROOT,
                               env=child_env(), timeout=1800)
            if r.returncode == 0:
                m = json.loads(r.stdout.strip().splitlines()[-1])
                row.update({f"{kind}_measured_params": m["params"], f"{kind}_measured_mb": round(m["rss_delta"] / 1e6, 1),
                            f"{kind}_batch_ms": round(m["batch_ms"], 2)})
            else:
                row[f"{kind}_measured_mb"] = "failed: " + (r.stderr.strip().splitlines() or ["?"])[-1][:60]
        rows.append(row)
        print(json.dumps(row), flush=True)
    write_csv("size", rows, args)
    lines = ["## Item-side model size: ID table vs MOTOR", "",
             f"ID: one {dim}-d row per item. MOTOR: token table (V = {T} slots x {K} codewords = {T * K} tokens) "
             f"+ slot embeddings + TCN ({json.dumps(motor_cfg)}), plus the frozen token ids (int32, {T} per item, "
             "not trainable). Computed from the formulas; measured by building each encoder in a fresh process "
             "(resident memory growth) and timing the encoding of a batch of 2,048 items.", "",
             "| items | ID params | MOTOR params | ID MB | MOTOR MB (params + token ids) | measured ID MB | "
             "measured MOTOR MB | ID batch ms | MOTOR batch ms |", "|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['items']:,} | {r['id_params']:,} | {r['motor_params']:,} | {r['id_bytes'] / 1e6:.1f} | "
                     f"{r['motor_bytes'] / 1e6:.1f} | {r.get('id_measured_mb', 'not built')} | "
                     f"{r.get('motor_measured_mb', 'not built')} | {r.get('id_batch_ms', '-')} | "
                     f"{r.get('motor_batch_ms', '-')} |")
    return "\n".join(lines)


# --- suite: backbones -------------------------------------------------------------------------

def suite_backbones(args) -> str:
    """Every backbone x {ID, MOTOR}: accuracy, cold items, size, time, memory; several seeds.

    Each finished run is appended to a JSON-lines log (``benchmarks/backbones_runs.jsonl``), so an
    interrupted benchmark resumes with ``--resume``: a run is reused only when its dataset, backbone,
    items, seed and settings (training, MOTOR, cold fraction) all match; each row records the
    threads and parallel jobs it ran with, which affect its timings only.
    """
    from concurrent.futures import ThreadPoolExecutor

    from motor.models import BACKBONES

    names = sorted(BACKBONES) if args.backbones == ["all"] else args.backbones
    unknown = [n for n in names if n not in BACKBONES]
    if unknown:
        raise MotorError(f"unknown backbone(s) {', '.join(unknown)}; choose from {', '.join(sorted(BACKBONES))}")
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    threads = args.threads or max(1, cores // args.jobs)
    train = {**BENCH_TRAIN, **({"epochs": 2, "patience": 2} if args.quick else {})}

    def settings(name: str, items: str) -> str:
        tuned = BENCH_TUNED.get((name, items)) if args.tuned else None
        return json.dumps({"train": train, "motor": BENCH_MOTOR, "cold_items": args.cold_items,
                           **({"tuned": tuned} if tuned else {})}, sort_keys=True)
    key = lambda r: (r["dataset"], r["backbone"], r["items"], r["seed"], r.get("settings"))  # noqa: E731
    log = OUT / ("backbones_runs.jsonl" if not args.quick else "backbones_quick_runs.jsonl")
    done = {}
    if (args.resume or args.from_log) and log.exists():
        for line in log.read_text().splitlines():
            r = json.loads(line)
            if "error" not in r:
                done[key(r)] = r

    # Seed-major order: every backbone gets its first seed before any gets its second, so a
    # benchmark stopped early (and reported with --from-log) is complete for fewer seeds.
    todo = [(data, name, items, 999 + seed) for data in args.datasets for seed in range(args.seeds)
            for name in names for items in args.items]

    def one(job):
        data, name, items, seed = job
        head = {"dataset": data, "backbone": name, "items": items, "seed": seed, "settings": settings(name, items)}
        if key(head) in done:
            return {**done[key(head)], "reused": True}
        if args.from_log:
            return None
        cfg = {"data": {"data": data}, "backbone": name, "items": items, "split": {"cold_items": args.cold_items},
               "train": {**train, "seed": seed}}
        if items == "motor":
            cfg.update(json.loads(json.dumps(BENCH_MOTOR)))
        for section, values in (json.loads(head["settings"]).get("tuned") or {}).items():
            cfg[section] = {**cfg.get(section, {}), **values}
        t = time.perf_counter()
        m = train_subprocess(cfg, threads=threads)
        row = {**head, **_row(m), "threads": threads, "jobs": args.jobs, "wall_s": round(time.perf_counter() - t, 1)}
        if not args.no_write and "error" not in row:
            with log.open("a") as f:  # one short line per write: appends from parallel jobs do not interleave
                f.write(json.dumps(row) + "\n")
        print(json.dumps({k: v for k, v in row.items() if k != "settings"}), flush=True)
        return row

    with ThreadPoolExecutor(max_workers=args.jobs) as pool:  # each job is its own subprocess
        rows = [r for r in pool.map(one, todo) if r is not None]
    if not rows:
        raise MotorError("no finished runs to report; run the benchmark without --from-log first")
    write_csv("backbones" if not args.quick else "backbones_quick",
              [{k: v for k, v in r.items() if k != "settings"} for r in rows], args)
    return backbone_table(rows, args)


def timing_note(rows: list[dict]) -> str:
    """Threads per run and runs at a time, per dataset (they change s/epoch, not results)."""
    parts = []
    for data in dict.fromkeys(r["dataset"] for r in rows):
        combos = sorted({(r.get("threads", "?"), r.get("jobs", 1)) for r in rows if r["dataset"] == data}, key=str)
        parts.append(f"{data}: " + ", ".join(f"{t} torch thread(s) per run, {j} run(s) at a time" for t, j in combos))
    reused = sum(bool(r.get("reused")) for r in rows)
    return "; ".join(parts) + (f"; {reused} finished runs reused from the run log" if reused else "")


def backbone_table(rows: list[dict], args) -> str:
    title = "## Backbones: ID vs MOTOR" + (" (quick smoke run: 2 epochs, not comparable)" if args.quick else "")
    lines = [title, "",
             f"Every run: cold-item hold-out {args.cold_items:.0%} (test figures are on the warm test set; "
             "cold R@20 ranks the held-out items' test interactions among all items, 'among cold' among the "
             "held-out items only), training "
             f"{json.dumps(json.loads(rows[0]['settings'])['train']) if rows else BENCH_TRAIN}, MOTOR defaults "
             f"(M=4, K=64, attention TCN) unless the settings column says otherwise (chosen on demo validation "
             f"by benchmarks/motor_sweep.py), seeds 999, 1000, ... (the seeds column counts them): mean ± std. "
             f"Timings: {timing_note(rows)}.", "",
             "| dataset | backbone | items | settings | seeds | test R@10 | test R@20 | test N@10 | test N@20 | cold R@20 | "
             "cold R@20 among cold | item params | s/epoch | peak MB | epochs to stop | MOTOR vs ID R@20 | "
             "MOTOR vs ID cold R@20 (among all; among cold) |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    groups: dict[tuple, list[dict]] = {}
    for r in rows:
        groups.setdefault((r["dataset"], r["backbone"], r["items"]), []).append(r)
    for (data, name, items), rs in groups.items():
        ok = [r for r in rs if "error" not in r]
        if not ok:
            lines.append(f"| {data} | {name} | {items} | | 0 | failed: {rs[0]['error'][:80]} |" + " |" * 10)
            continue
        col = lambda k: [r[k] for r in ok if k in r]  # noqa: E731
        verdict = verdict_cold = ""
        if items == "motor" and (data, name, "id") in groups:
            base = [r for r in groups[(data, name, "id")] if "error" not in r]
            if base:
                delta = np.mean(col("recall@20")) - np.mean([r["recall@20"] for r in base])
                verdict = f"{delta:+.4f} ({'wins' if delta > 0 else 'loses'})"
                ratios = []
                for k in ("cold_recall@20", "cold_recall@20_among_cold"):
                    cold_id = np.mean([r.get(k, 0) for r in base])
                    cold_m = np.mean(col(k)) if col(k) else float("nan")
                    ratios.append(f"{cold_m / cold_id:.1f}x" if cold_id > 0 else ("inf (ID = 0)" if cold_m > 0 else "-"))
                verdict_cold = "; ".join(ratios)
        tuned = json.loads(ok[0].get("settings", "{}")).get("tuned")
        shown = ", ".join(f"{k}={v}" for sec in (tuned or {}).values() for k, v in sec.items()) or "defaults"
        lines.append(f"| {data} | {name} | {items} | {shown} | {len(ok)} | {fmt(col('recall@10'))} | {fmt(col('recall@20'))} | "
                     f"{fmt(col('ndcg@10'))} | {fmt(col('ndcg@20'))} | {fmt(col('cold_recall@20'))} | "
                     f"{fmt(col('cold_recall@20_among_cold'))} | "
                     f"{ok[0]['item_params']:,} | {fmt(col('s_per_epoch'), 2)} | {fmt(col('peak_mb'), 0)} | "
                     f"{fmt(col('epochs_run'), 0)} | {verdict} | {verdict_cold} |")
    return "\n".join(lines)


# --- suite: features --------------------------------------------------------------------------

def suite_features(args) -> str:
    """Texts/s and images/s of the packaged encoders on this machine (model load timed apart).

    Texts: the demo's item texts (title, year, genres, tags). Images: poster-sized (300 x 450)
    JPEGs generated here (the posters themselves are not redistributed). Encoding uses
    ``motor.features`` as the CLI and the app do; the feature cache is not involved.
    """
    import io

    from PIL import Image

    from motor.features.image import ImageEncoder, load_image_model
    from motor.features.text import TextEncoder, load_text_model
    from motor.threads import set_threads

    threads = set_threads(args.threads)
    texts = [r["text"] for r in csv.DictReader((ROOT / "assets" / "demo" / "items.csv").open(encoding="utf-8"))]
    n_images = 16 if args.quick else 128
    rng = np.random.default_rng(0)
    jpegs = []
    for _ in range(n_images):
        buf = io.BytesIO()
        arr = (rng.random((450, 300, 3)) * 255).astype(np.uint8)
        Image.fromarray(arr).save(buf, format="JPEG", quality=85)
        jpegs.append(buf.getvalue())
    if args.quick:
        texts = texts[:64]

    t = time.perf_counter(); load_text_model(); text_load = time.perf_counter() - t
    t = time.perf_counter(); TextEncoder().encode(texts); text_s = time.perf_counter() - t
    t = time.perf_counter(); load_image_model(); image_load = time.perf_counter() - t
    t = time.perf_counter(); ImageEncoder().encode(jpegs); image_s = time.perf_counter() - t
    rows = [{"what": "text (all-MiniLM-L6-v2, 384-d)", "items": len(texts), "load_s": round(text_load, 2),
             "encode_s": round(text_s, 2), "per_s": round(len(texts) / text_s, 1)},
            {"what": "image (EfficientNet-Lite0, 1280-d)", "items": n_images, "load_s": round(image_load, 2),
             "encode_s": round(image_s, 2), "per_s": round(n_images / image_s, 1)}]
    write_csv("features", rows, args)
    n_demo = 1849
    est = n_demo / rows[0]["per_s"] + n_demo / rows[1]["per_s"]
    lines = ["## Content encoders: texts and images per second", "",
             f"{threads} torch thread(s), batch 64 texts / 32 images, model load timed apart (once per process).", "",
             "| encoder | items | model load s | encode s | items per second |", "|---|---|---|---|---|"]
    lines += [f"| {r['what']} | {r['items']:,} | {r['load_s']} | {r['encode_s']} | {r['per_s']} |" for r in rows]
    lines += ["", f"At these rates the demo's {n_demo:,} items need about {est:.0f} s for both modalities "
              "(`scripts/build_demo.py --posters DIR` rebuilds them from the raw posters and texts and reports "
              "its own time and the cosine agreement with the shipped features)."]
    return "\n".join(lines)


SUITES = {"core": suite_core, "size": suite_size, "backbones": suite_backbones, "features": suite_features}


def add_parser(sub) -> None:
    p = sub.add_parser("bench", help="run a benchmark suite and update benchmarks/RESULTS.md")
    p.add_argument("suite", choices=sorted(SUITES), help="core: sampler/eval/epoch targets and ID baselines; "
                   "size: ID vs MOTOR item-side size; backbones: every backbone x {id, motor}; "
                   "features: text and image encoder throughput")
    p.add_argument("--datasets", default="demo,ml100k", help="comma-separated: demo, ml100k or folders")
    p.add_argument("--backbones", default="all", help="comma-separated backbone names, or all")
    p.add_argument("--items", default="id,motor", help="item representations to compare")
    p.add_argument("--seeds", type=int, default=3)
    p.add_argument("--cold-items", type=float, default=0.1)
    p.add_argument("--max-items", type=int, default=10 ** 7, help="size suite: largest catalogue actually built")
    p.add_argument("--jobs", type=int, default=1, help="backbones suite: training runs at a time (subprocesses)")
    p.add_argument("--threads", type=int, help="torch threads per run (default: cores / jobs)")
    p.add_argument("--resume", action="store_true", help="backbones suite: reuse finished runs with the same "
                   "settings from benchmarks/backbones_runs.jsonl")
    p.add_argument("--tuned", action=argparse.BooleanOptionalAction, default=True,
                   help="backbones suite: use the validation-chosen settings in BENCH_TUNED (--no-tuned: defaults)")
    p.add_argument("--from-log", action="store_true", help="backbones suite: run nothing; report the finished "
                   "runs in the run log (rows say how many seeds they hold)")
    p.add_argument("--quick", action="store_true", help="a few epochs, one seed, demo only: a smoke run for CI")
    p.add_argument("--no-write", action="store_true", help="print the table, leave RESULTS.md unchanged")
    p.set_defaults(func=run)


def run(args) -> int:
    args.datasets = [d for d in args.datasets.split(",") if d]
    args.backbones = [b.strip().lower() for b in args.backbones.split(",") if b.strip()]
    args.items = [i for i in args.items.split(",") if i]
    if args.quick:
        args.seeds, args.datasets = 1, ["demo"]
    command = "python -m motor bench " + " ".join(shlex.quote(a) for a in sys.argv[sys.argv.index("bench") + 1:]) \
        if "bench" in sys.argv else f"python -m motor bench {args.suite}"
    body = SUITES[args.suite](args)
    print(body)
    if not args.no_write:
        suite = args.suite + ("_quick" if args.quick else "")
        note = (" (a table of the runs that the same command without `--from-log` logged in "
                "benchmarks/backbones_runs.jsonl)") if getattr(args, "from_log", False) else ""
        print(f"updated {write_section(suite, body, command, note)}")
    return 0
