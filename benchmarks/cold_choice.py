"""The cold path's item dropout chosen per backbone on validation, for ID and MOTOR alike, then tested.

    python benchmarks/cold_choice.py [--datasets demo] [--backbones all] [--items motor,id] [--seeds 3]
                                     [--values 0.1,0] [--jobs 2] [--threads 1] [--resume] [--from-log]

``model.cold_dropout`` (docs/BACKBONES.md) trades warm items against new ones, and the cold-path section of
RESULTS.md shows the best value differs by backbone; but those were test figures of the cold hold-out, so they
could not choose. Here half of the held-out items (``split.cold_valid = 0.5``, drawn with a seed of its own)
validate instead: every backbone table cell (its demo settings, 10% of the items held out, seeds 999, ...) is
trained at each value, and for each backbone and item representation the rule below picks one value from
validation figures alone. Only then are the chosen runs' test figures read: warm test Recall@20, and the
other half of the held-out items (the 'cold' test set) ranked among all items. BPR, VBPR and MMGCN have no such
setting (no cold path) and run once per seed on the same split, so the count covers every backbone.

Rule, the same for ID and MOTOR: keep the values whose mean warm validation Recall@20 is within 2% of the best
value's (issue 11's bound on what the cold path may cost warm items), then take the one with the highest mean
cold-validation Recall@20 among all items; ties go to the documented default.

Held-out items never train, so a run here trains exactly as the run with the same settings and no cold
validation set (the backbone table's, and cold_ablation.py's for 0): the section checks that their warm test
figures agree.
"""

from __future__ import annotations

import copy
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # this checkout's motor, not another one installed
from motor.bench.backbones import BackbonesOptions, backbone_names, cell_settings, make_run  # noqa: E402
from motor.bench.harness import cores  # noqa: E402
from motor.bench.report import fmt, table, write_csv, write_section  # noqa: E402
from motor.bench.runlog import read_log, run_all  # noqa: E402
from motor.models.base import PropagationConfig  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from cold_ablation import ablation_table, cell_options, with_cold_path  # noqa: E402  (the same cells and options)

OUT = Path(__file__).resolve().parent
DEFAULT = PropagationConfig.cold_dropout
HEAD = ("dataset", "backbone", "items", "seed", "settings")  # what identifies a run in the log
COLD_VALID = 0.5  # share of the held-out items that validates
WARM_TOLERANCE = 0.02  # a value may cost warm validation Recall@20 at most this much against the best value
KEPT = ("dataset", "backbone", "items", "seed", "cold_dropout", "valid_recall@20", "cold_valid_recall@20",
        "recall@20", "ndcg@20", "cold_recall@20", "cold_recall@20_among_cold", "epochs_run")


def settings_at(settings: dict, value: float) -> dict:
    """A cell's settings with the cold validation share, and ``model.cold_dropout`` when it is not the default."""
    out = {**copy.deepcopy(settings), "cold_valid": COLD_VALID}
    if value != DEFAULT:
        tuned = out.setdefault("tuned", {})
        tuned["model"] = {**tuned.get("model", {}), "cold_dropout": value}
    return out


def choose(by_value: dict[float, list[dict]]) -> float | None:
    """The rule of the module docstring, on validation figures only (``valid_recall@20``, ``cold_valid_recall@20``);
    None when no value has a finished run."""
    def mean(rows: list[dict], k: str) -> float:
        return float(np.mean([r[k] for r in rows])) if rows else float("nan")

    warm = {v: mean(rows, "valid_recall@20") for v, rows in by_value.items() if rows}
    if not warm:
        return None
    best = max(warm.values())
    allowed = [v for v, w in warm.items() if w >= (1 - WARM_TOLERANCE) * best]
    cold = {v: mean(by_value[v], "cold_valid_recall@20") for v in allowed}
    top = max(cold.values())
    return DEFAULT if DEFAULT in allowed and cold[DEFAULT] == top else max(allowed, key=lambda v: cold[v])


def report(rows: list[dict], values: list[float], tunable: set[str]) -> tuple[str, str, dict]:
    """The choice table (validation), the test table of the chosen runs, and the counts per dataset; backbones
    not in ``tunable`` (no cold path: BPR, VBPR, MMGCN) have the default's runs only and no choice."""
    cells = dict.fromkeys((r["dataset"], r["backbone"]) for r in rows)
    choice_rows, test_rows, counts = [], [], {}
    for data, name in cells:
        chosen, per = {}, {}
        for items in ("id", "motor"):
            by_value = {v: [r for r in rows if (r["dataset"], r["backbone"], r["items"], r["cold_dropout"]) ==
                            (data, name, items, v)] for v in values}
            per[items], chosen[items] = by_value, choose(by_value)
            if chosen[items] is None:
                continue
            choice_rows.append([data, name, items, " / ".join(str(len(by_value[v])) for v in values),
                                *[fmt([r["valid_recall@20"] for r in by_value[v]]) for v in values],
                                *[fmt([r["cold_valid_recall@20"] for r in by_value[v]]) for v in values],
                                f"{chosen[items]:g}" if name in tunable else "- (no setting)"])
        if chosen.get("id") is None or chosen.get("motor") is None:
            continue

        def col(items: str, value: float, k: str) -> list[float]:
            return [r[k] for r in per[items][value] if k in r]

        cold_id, cold_motor = (np.mean(col(i, chosen[i], "cold_recall@20")) for i in ("id", "motor"))
        at_default = [np.mean(col(i, DEFAULT, "cold_recall@20")) if per[i][DEFAULT] else float("nan")
                      for i in ("id", "motor")]
        meets = bool(cold_motor >= 0.01 and cold_motor >= 3 * cold_id)
        meets_default = bool(at_default[1] >= 0.01 and at_default[1] >= 3 * at_default[0])  # NaN: False
        ok, ok_default, total = counts.get(data, (0, 0, 0))
        counts[data] = (ok + meets, ok_default + meets_default, total + 1)

        def ratio(m: float, i: float) -> str:
            return "inf (ID = 0)" if i == 0 and m > 0 else ("-" if i == 0 else f"{m / i:.1f}x")

        test_rows.append([data, name, f"{chosen['id']:g} / {chosen['motor']:g}" if name in tunable else "-",
                          fmt(col("id", chosen["id"], "recall@20")), fmt(col("motor", chosen["motor"], "recall@20")),
                          fmt(col("id", chosen["id"], "cold_recall@20")),
                          fmt(col("motor", chosen["motor"], "cold_recall@20")), ratio(cold_motor, cold_id),
                          "yes" if meets else "no", ratio(at_default[1], at_default[0])])
    choice = table(["dataset", "backbone", "items", "seeds (" + " / ".join(f"{v:g}" for v in values) + ")",
                    *[f"warm valid R@20, {v:g}" for v in values], *[f"cold valid R@20, {v:g}" for v in values],
                    "chosen"], choice_rows)
    test = table(["dataset", "backbone", "chosen (ID / MOTOR)", "ID warm test R@20", "MOTOR warm test R@20",
                  "ID cold test R@20", "MOTOR cold test R@20", "MOTOR / ID cold", "3x ID and >= 0.01",
                  f"MOTOR / ID cold, both at {DEFAULT:g}"], test_rows)
    return "\n".join(choice), "\n".join(test), counts


def agreement(rows: list[dict]) -> str:
    """How many runs have the warm test Recall@20 of the same run without a cold validation set (it trains alike)."""
    earlier = {**read_log(OUT / "backbones_runs.jsonl"), **read_log(OUT / "cold_ablation_runs.jsonl")}
    by_run = {}
    for r in earlier.values():
        settings = json.loads(r.get("settings") or "{}")
        value = (settings.get("tuned") or {}).get("model", {}).get("cold_dropout", DEFAULT)
        by_run[(r["dataset"], r["backbone"], r["items"], r["seed"], value)] = r["recall@20"]
    pairs = [(r["recall@20"], by_run.get((r["dataset"], r["backbone"], r["items"], r["seed"], r["cold_dropout"])))
             for r in rows]
    found = [(a, b) for a, b in pairs if b is not None]
    same = sum(abs(a - b) < 1e-4 for a, b in found)
    return (f"{same} of {len(found)} runs have the warm test Recall@20 (4 decimals) of the logged run with the same "
            f"settings and no cold validation set (backbones_runs.jsonl, cold_ablation_runs.jsonl)")


def main(argv: list[str] | None = None) -> None:
    ap = cell_options(__doc__.splitlines()[0])
    ap.add_argument("--values", default=f"{DEFAULT},0", help="cold_dropout values, the same for every cell")
    args = ap.parse_args(argv)

    values = [float(v) for v in args.values.split(",")]
    if DEFAULT not in values:
        sys.exit(f"--values must include the default {DEFAULT}")
    opts = BackbonesOptions(datasets=args.datasets.split(","), backbones=args.backbones.split(","),
                            items=args.items.split(","), seeds=args.seeds, jobs=args.jobs)
    names = backbone_names(opts.backbones)
    tunable = set(with_cold_path(names))  # the others run at the default alone, for the count over every backbone
    threads = args.threads or max(1, cores() // args.jobs)
    # seed-major: a run stopped early is complete for fewer seeds
    cells = [(data, name, items, 999 + seed, v) for data in opts.datasets for seed in range(opts.seeds)
             for name in names for items in opts.items for v in (values if name in tunable else [DEFAULT])]
    runs = [make_run(data, name, items, seed, settings_at(cell_settings(opts, name, items), v))
            for data, name, items, seed, v in cells]
    logged = run_all(runs, OUT / "cold_choice_runs.jsonl", args.jobs, threads, reuse=args.resume or args.from_log,
                     only_logged=args.from_log)
    by_key = {tuple(r[c] for c in HEAD): r for r in logged if "error" not in r}  # --from-log drops unlogged runs
    rows = [{**by_key[k], "cold_dropout": v} for run, (*_, v) in zip(runs, cells)
            if (k := tuple(run.head[c] for c in HEAD)) in by_key]
    if not rows:
        sys.exit("no finished runs to report; run without --from-log first")
    choice, test, counts = report(rows, values, tunable)
    pairs, met = ablation_table([r for r in rows if r["backbone"] in tunable and r["cold_dropout"] in (DEFAULT, 0.0)])
    summary = "\n".join(f"- {data}: with the values chosen on validation MOTOR's cold test Recall@20 is at least 3x "
                        f"ID's (and at least 0.01) on {ok} of {total} backbones; with the default {DEFAULT:g} for both, "
                        f"on {ok_default} of {total}" for data, (ok, ok_default, total) in counts.items())
    body = ("## Cold path: the item dropout chosen on validation\n\n"
            f"Each backbone table cell (demo settings tuned on validation, 10% of the items held out) trained with "
            f"`model.cold_dropout` in {{{', '.join(f'{v:g}' for v in values)}}}; half of the held-out items validate "
            f"(`split.cold_valid = {COLD_VALID}`), the other half are the cold test set. Per backbone and item "
            f"representation the value is chosen on validation alone: those within {WARM_TOLERANCE:.0%} of the best "
            "mean warm validation Recall@20, then the highest mean cold-validation Recall@20 (ranked among all "
            f"items), the default {DEFAULT:g} on a tie. Mean ± std over seeds.\n\n"
            "Validation (what chose):\n\n" + choice + "\n\nTest, the chosen value's runs (warm test set; cold test "
            "items ranked among all items):\n\n" + test + "\n\n" + summary + "\n- " + agreement(rows) +
            "\n\nWhat the item dropout costs warm items, both values trained here (the cold-path section's comparison, "
            "on one machine; cold figures of the cold test half):\n\n" + pairs + "\n\n" +
            "\n".join(f"- {d}, {i}: the item dropout lowers warm test Recall@20 by at most 2% on {ok} of {n} backbones"
                      for (d, i), (ok, n) in sorted(met.items())))
    command = " ".join(["python benchmarks/cold_choice.py", *(sys.argv[1:] if argv is None else argv)])
    if args.write:
        write_csv("cold_choice", [{k: r.get(k) for k in KEPT} for r in rows])
        write_section("cold_choice", body, command)
    print(body)


if __name__ == "__main__":
    from motor.errors import MotorError

    try:
        main()
    except MotorError as e:
        sys.exit(f"error: {e}")
