"""Suite ``backbones``: every backbone x {ID, MOTOR}: accuracy, cold items, size, time, memory; several seeds.

Each finished run is appended to ``benchmarks/backbones_runs.jsonl`` (``motor.bench.runlog``),
so an interrupted benchmark resumes with ``--resume``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import numpy as np

from motor.bench.harness import BENCH_MOTOR, BENCH_TRAIN, OUT, QUICK_TRAIN, TrainingSuiteOptions, cores, dataset_sources
from motor.bench.report import Section, fmt, write_csv
from motor.bench.runlog import Run, run_all
from motor.bench.tuning import TuneCell, settings_label, tune_missing, tuned_settings
from motor.config import check_ranges, doc
from motor.errors import MotorError
from motor.explore.backbone_table import cold_ratio
from motor.explore.seed_spread import spread, welch_p


@dataclass
class BackbonesOptions(TrainingSuiteOptions):
    datasets: list[str] = doc(["demo", "ml100k"], "comma-separated: demo, ml100k or dataset folders")
    cold_items: float = doc(0.1, "fraction of items held out as cold", low=0.0, high=1.0, high_open=True)
    tune_on: str = doc("demo", "dataset whose validation split chooses each backbone x items cell's settings "
                               "(at the table's cold hold-out); they are applied unchanged to every dataset")

    def __post_init__(self):
        check_ranges(self, "bench")  # the values given, before --quick replaces them
        if self.quick:
            self.seeds, self.datasets = 1, ["demo"]
        super().__post_init__()
        if not self.datasets:
            raise MotorError("--datasets is empty: name at least one, for example --datasets demo,ml100k")
        if not self.from_log:  # a log-only report names its datasets as the log does
            self.datasets = dataset_sources(self.datasets)


def backbone_names(requested: list[str]) -> list[str]:
    """The requested backbones (``all``: every registered one); an unknown name is a MotorError."""
    from motor.models import BACKBONES

    names = sorted(BACKBONES) if requested == ["all"] else [b.strip().lower() for b in requested]
    unknown = [n for n in names if n not in BACKBONES]
    if unknown:
        raise MotorError(f"unknown backbone(s) {', '.join(unknown)}; choose from {', '.join(sorted(BACKBONES))}")
    return names


def train_settings(quick: bool) -> dict:
    return {**BENCH_TRAIN, **(QUICK_TRAIN if quick else {})}


def run_split(settings: dict) -> dict:
    """The split section a run's ``settings`` imply: its cold-item hold-out (and the share of it that validates),
    and, below 1, its training fraction."""
    fraction = settings.get("train_fraction", 1.0)
    return {**({"cold_items": settings["cold_items"]} if "cold_items" in settings else {}),
            **({"cold_valid": settings["cold_valid"]} if settings.get("cold_valid") else {}),
            **({"train_fraction": fraction} if fraction != 1.0 else {})}


def make_run(data: str, name: str, items: str, seed: int, settings: dict, device: str | None = None,
             **columns) -> Run:
    """One run of the table: ``settings`` ({"train", "motor", "tuned", "cold_items", "train_fraction", ...}) is
    logged as its identity, and the split follows from it (``run_split``); ``device`` (train.device) is not part
    of it: where a run trains changes its figures only by rounding."""
    head = {"dataset": data, "backbone": name, "items": items, **columns, "seed": seed,
            "settings": json.dumps(settings, sort_keys=True)}
    cfg = {"data": {"data": data}, "backbone": name, "items": items, "split": run_split(settings),
           "train": {**settings["train"], "seed": seed}}
    if items == "motor":
        cfg.update(json.loads(json.dumps(settings.get("motor") or {})))
    for section, values in (settings.get("tuned") or {}).items():
        cfg[section] = {**cfg.get(section, {}), **values}
    if device is not None:
        cfg["train"]["device"] = device
    return Run(head, cfg)


def logged_config(row: dict) -> dict:
    """The RunConfig dict ``make_run`` gives for a run-log row, for ``runlog.stamp``: the backbone, regimes and
    personalisation suites all build their runs this way."""
    return make_run(row["dataset"], row["backbone"], row["items"], row["seed"], json.loads(row["settings"])).config


def cell_settings(opts: BackbonesOptions, name: str, items: str) -> dict:
    """A cell's logged identity: the training settings, MOTOR's defaults, the cold hold-out and the settings
    tuned on ``opts.tune_on``'s validation split (when ``opts.tuned_dir`` holds them)."""
    tuned = tuned_settings(opts.tuned_dir, TuneCell(opts.tune_on, name, items, 1.0, opts.cold_items))
    return {"train": train_settings(opts.quick), "motor": BENCH_MOTOR, "cold_items": opts.cold_items,
            **({"tuned": tuned} if tuned else {})}


def run(opts: BackbonesOptions) -> Section:
    names = backbone_names(opts.backbones)
    threads = opts.threads or max(1, cores() // opts.jobs)
    train = train_settings(opts.quick)

    failed = []  # a cell whose tuning failed runs with the defaults, and the section says so
    if opts.tune_budget and not opts.from_log:
        failed = tune_missing([TuneCell(opts.tune_on, name, items, 1.0, opts.cold_items)
                               for name in names for items in opts.items],
                              opts.tuned_dir, opts.tune_budget, train, threads, opts.jobs)

    # Seed-major order: every backbone gets its first seed before any gets its second, so a
    # benchmark stopped early (and reported with --from-log) is complete for fewer seeds.
    runs = [make_run(data, name, items, 999 + seed, cell_settings(opts, name, items), device=opts.device)
            for data in opts.datasets for seed in range(opts.seeds) for name in names for items in opts.items]
    log = OUT / ("backbones_quick_runs.jsonl" if opts.quick else "backbones_runs.jsonl")
    rows = run_all(runs, log, opts.jobs, threads, reuse=opts.resume or opts.from_log, only_logged=opts.from_log,
                   append=opts.logs_runs())
    if not rows:
        raise MotorError("no finished runs to report; run the benchmark without --from-log first")
    if opts.write:
        write_csv("backbones_quick" if opts.quick else "backbones",
                  [{**{k: v for k, v in r.items() if k != "settings"},
                    "cold_fraction": json.loads(r.get("settings") or "{}").get("cold_items")} for r in rows])
    note = (" (a table of the runs that the same command without `--from-log` logged in "
            "benchmarks/backbones_runs.jsonl)") if opts.from_log else ""
    return Section("\n\n".join([backbone_table(rows, opts), *failed]), note, sum("error" in r for r in rows))


def timing_note(rows: list[dict]) -> str:
    """Threads per run and runs at a time, per dataset (they change s/epoch, not results)."""
    parts = []
    for data in dict.fromkeys(r["dataset"] for r in rows):
        combos = sorted({(r.get("threads", "?"), r.get("jobs", 1)) for r in rows if r["dataset"] == data}, key=str)
        parts.append(f"{data}: " + ", ".join(f"{t} torch thread(s) per run, {j} run(s) at a time" for t, j in combos))
    reused = sum(bool(r.get("reused")) for r in rows)
    return "; ".join(parts) + (f"; {reused} finished runs reused from the run log" if reused else "")


def group(rows: list[dict], *columns: str) -> dict[tuple, list[dict]]:
    """Rows by the values of ``columns``, in first-seen order."""
    groups: dict[tuple, list[dict]] = {}
    for r in rows:
        groups.setdefault(tuple(r[c] for c in columns), []).append(r)
    return groups


def backbone_table(rows: list[dict], opts: BackbonesOptions) -> str:
    title = "## Backbones: ID vs MOTOR" + (" (quick smoke run: 2 epochs, not comparable)" if opts.quick else "")
    lines = [title, "",
             f"Every run: cold-item hold-out {opts.cold_items:.0%} (test figures are on the warm test set; "
             "cold R@20 ranks the held-out items' test interactions among all items, 'among cold' among the "
             "held-out items only), training "
             f"{json.dumps(json.loads(rows[0]['settings'])['train']) if rows else BENCH_TRAIN}, the documented "
             f"defaults (MOTOR: M=4, K=64, attention TCN) unless the settings column says otherwise (chosen by "
             f"`python -m motor tune` on {opts.tune_on} validation at the same hold-out, the same trial budget "
             f"for ID and MOTOR, and applied unchanged to every dataset), seeds 999, 1000, ... (the seeds column "
             f"counts them): mean ± std; MOTOR vs ID R@20 with p of Welch's t-test over the seeds (below 0.05: the gap "
             f"is more than the spread between training seeds allows by chance). "
             f"Timings: {timing_note(rows)}.", "",
             "| dataset | backbone | items | settings | seeds | test R@10 | test R@20 | test N@10 | test N@20 | cold R@20 | "
             "cold R@20 among cold | item params | s/epoch | peak MB | epochs to stop | MOTOR vs ID R@20 | "
             "MOTOR vs ID cold R@20 (among all; among cold) |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    groups = group(rows, "dataset", "backbone", "items")
    for (data, name, items), rs in groups.items():
        ok = [r for r in rs if "error" not in r]
        if not ok:
            lines.append(f"| {data} | {name} | {items} | | 0 | failed: {rs[0]['error'][:80]} |" + " |" * 10)
            continue

        def col(k: str, rows=ok) -> list:
            return [r[k] for r in rows if k in r]

        verdict = verdict_cold = ""
        if items == "motor" and (data, name, "id") in groups:
            base = [r for r in groups[(data, name, "id")] if "error" not in r]
            if base:
                delta = np.mean(col("recall@20")) - np.mean(col("recall@20", base))
                p = welch_p(*spread(col("recall@20")), *spread(col("recall@20", base)))
                verdict = f"{delta:+.4f} ({'wins' if delta > 0 else 'loses'}" + (f", p {p:.3f})" if p is not None
                                                                                  else ")")
                ratios = []
                for k in ("cold_recall@20", "cold_recall@20_among_cold"):
                    cold_id = np.mean([r.get(k, 0) for r in base])
                    cold_m = np.mean(col(k)) if col(k) else float("nan")
                    ratio = cold_ratio(cold_m, cold_id)
                    ratios.append("-" if np.isnan(ratio) else "inf (ID = 0)" if np.isinf(ratio) else f"{ratio:.1f}x")
                verdict_cold = "; ".join(ratios)
        shown = settings_label(name, items, json.loads(ok[0].get("settings", "{}")).get("tuned"))
        lines.append(f"| {data} | {name} | {items} | {shown} | {len(ok)} | {fmt(col('recall@10'))} | "
                     f"{fmt(col('recall@20'))} | {fmt(col('ndcg@10'))} | {fmt(col('ndcg@20'))} | "
                     f"{fmt(col('cold_recall@20'))} | {fmt(col('cold_recall@20_among_cold'))} | "
                     f"{ok[0]['item_params']:,} | {fmt(col('s_per_epoch'), 2)} | {fmt(col('peak_mb'), 0)} | "
                     f"{fmt(col('epochs_run'), 0)} | {verdict} | {verdict_cold} |")
    return "\n".join(lines + encoder_table(groups))


def encoder_table(groups: dict[tuple, list[dict]]) -> list[str]:
    """MOTOR's Token Cross Network per dataset x backbone: the attention and pooling diagnostics of the
    trained encoders (issue 11's targets) and MOTOR's epoch time as a multiple of ID's, means over seeds."""
    out = []
    for (data, name, items), rs in groups.items():
        ok = [r for r in rs if "error" not in r and "att_max_weight" in r]
        if items != "motor" or not ok:
            continue
        base = [r["s_per_epoch"] for r in groups.get((data, name, "id"), []) if "error" not in r]
        ratio = f"{np.mean([r['s_per_epoch'] for r in ok]) / np.mean(base):.2f}x" if base else "-"
        pool = [r["pool_max_weight"] for r in ok if "pool_max_weight" in r]
        pooling = f"{np.mean(pool):.3f} ({ok[0]['pool_uniform']:.3f})" if pool else "-"
        att_max, same = np.mean([r["att_max_weight"] for r in ok]), np.mean([r["att_same_key"] for r in ok])
        tv = np.mean([r["att_tv_from_average"] for r in ok])
        collapsed = sum(bool(r.get("tcn_collapsed")) for r in ok)
        out.append(f"| {data} | {name} | {att_max:.3f} | {same:.1%} | {tv:.3f} | {pooling} | {collapsed} of {len(ok)} | "
                   f"{ratio} |")
    if not out:
        return []
    return ["", "MOTOR's Token Cross Network after training (attention diagnostics of `metrics.json` `item_encoder`, "
                "means over layers, heads and seeds; targets: largest weight <= 0.9, <= 30% of items whose rows all "
                "pick one key, TV distance >= 0.10, largest pooling weight >= 2/T) and MOTOR's epoch time as a "
                "multiple of ID's (s/epoch above; target <= 2x for LightGCN and VBPR):", "",
            "| dataset | backbone | largest attention weight | items with one key | TV from the average map | "
            "largest pooling weight (1/T) | runs with a collapse warning | epoch MOTOR / ID |",
            "|---|---|---|---|---|---|---|---|", *out]
