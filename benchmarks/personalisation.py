"""Does each backbone give different users different lists, with ID embeddings and with MOTOR?

    python benchmarks/personalisation.py [--datasets demo] [--backbones all] [--seeds 1] [--jobs 2]
                                         [--threads 1] [--resume] [--from-log]

Trains the backbone table's cells (``python -m motor bench backbones``: the same settings tuned
on demo validation, the same 10% cold-item hold-out, the same seeds) and reports what
``metrics.json["personalisation"]`` measures (``motor.personalisation``): the share of items two
test users' top-20 lists have in common, beside a popularity ranking's on the same split; the
scored item and user vectors' mean cosine to their mean (1 = one direction); and the item
vectors' effective rank (RankMe) out of their width, as they are and around their mean. Test Recall@20 is shown only beside them,
as the backbone table reports it (no setting is chosen here). Runs are logged to
``benchmarks/personalisation_runs.jsonl`` (``--resume`` reuses them); the table is printed and
written as the ``personalisation`` section of ``benchmarks/RESULTS.md``, the rows to
``benchmarks/personalisation.csv``, which the app's How MOTOR works page draws.
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # this checkout's motor, not another one installed
from motor.bench.backbones import BackbonesOptions, backbone_names, cell_settings, make_run  # noqa: E402
from motor.bench.harness import cores  # noqa: E402
from motor.bench.report import write_csv, write_section  # noqa: E402
from motor.bench.runlog import run_all  # noqa: E402

OUT = Path(__file__).resolve().parent
FIGURES = ("recall@20", "top_overlap", "popularity_top_overlap", "item_direction_share", "user_direction_share",
           "item_effective_rank", "item_effective_rank_centred", "item_dim")


def mean(rows: list[dict], k: str) -> float | None:
    values = [r[k] for r in rows if isinstance(r.get(k), (int, float))]
    return statistics.fmean(values) if values else None


def cell(value: float | None, digits: int = 3) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def table(rows: list[dict]) -> str:
    """One line per dataset x backbone: ID and MOTOR side by side, means over the seeds."""
    lines = ["| dataset | backbone | seeds (ID/MOTOR) | R@20 ID / MOTOR | top-20 overlap ID / MOTOR (popularity) | "
             "item direction share ID / MOTOR | user direction share ID / MOTOR | item effective rank ID / MOTOR | "
             "the same around the items' mean | width |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for data in dict.fromkeys(r["dataset"] for r in rows):
        for name in dict.fromkeys(r["backbone"] for r in rows if r["dataset"] == data):
            by = {items: [r for r in rows if (r["dataset"], r["backbone"], r["items"]) == (data, name, items)]
                  for items in ("id", "motor")}

            def pair(k: str, digits: int = 3) -> str:
                return f"{cell(mean(by['id'], k), digits)} / {cell(mean(by['motor'], k), digits)}"

            pop = mean(by["id"] + by["motor"], "popularity_top_overlap")
            lines.append(f"| {data} | {name} | {len(by['id'])}/{len(by['motor'])} | {pair('recall@20', 4)} | "
                         f"{pair('top_overlap')} ({cell(pop)}) | {pair('item_direction_share')} | "
                         f"{pair('user_direction_share')} | {pair('item_effective_rank', 1)} | "
                         f"{pair('item_effective_rank_centred', 1)} | {pair('item_dim', 0)} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0], allow_abbrev=False)
    ap.add_argument("--datasets", default="demo")
    ap.add_argument("--backbones", default="all")
    ap.add_argument("--seeds", type=int, default=1)
    ap.add_argument("--jobs", type=int, default=1)
    ap.add_argument("--threads", type=int, default=0, help="torch threads per run (0: cores / jobs)")
    ap.add_argument("--resume", action="store_true", help="reuse finished runs from the run log")
    ap.add_argument("--from-log", action="store_true", help="train nothing; report the logged runs")
    ap.add_argument("--log", type=Path, default=OUT / "personalisation_runs.jsonl")
    args = ap.parse_args(argv)

    opts = BackbonesOptions(datasets=args.datasets.split(","), backbones=args.backbones.split(","), seeds=args.seeds,
                            jobs=args.jobs)
    runs = [make_run(data, name, items, 999 + seed, cell_settings(opts, name, items))
            for data in opts.datasets for seed in range(opts.seeds) for name in backbone_names(opts.backbones)
            for items in opts.items]
    threads = args.threads or max(1, cores() // args.jobs)
    rows = run_all(runs, args.log, args.jobs, threads, reuse=args.resume or args.from_log, only_logged=args.from_log)
    if not rows:
        sys.exit("no finished runs to report; run without --from-log first")
    text = table(rows)
    command = " ".join(["python benchmarks/personalisation.py", *(sys.argv[1:] if argv is None else argv)])
    write_csv("personalisation", [{k: r.get(k) for k in ("dataset", "backbone", "items", "seed", *FIGURES)}
                                  for r in rows])
    write_section("personalisation", "## Do users get different lists? ID vs MOTOR per backbone\n\n" + text, command)
    print(text)


if __name__ == "__main__":
    main()
