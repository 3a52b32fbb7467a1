"""``python -m motor bench SUITE [options]``: the suites' registry and their command line.

Each suite is a module with an options dataclass (typed fields documented with
``motor.config.doc``) and ``run(options) -> Section``; the command-line options of a suite are
made from its dataclass's fields, so a suite never sees an argparse Namespace.
"""

from __future__ import annotations

import argparse
import dataclasses
import shlex
import sys
import typing
from collections.abc import Callable
from dataclasses import dataclass

from motor.bench import backbones, core, features, regimes, scale, size, speed
from motor.bench.harness import BenchOptions
from motor.bench.report import Section, write_section


@dataclass(frozen=True)
class Suite:
    help: str
    options: type[BenchOptions]
    run: Callable[[BenchOptions], Section]


SUITES: dict[str, Suite] = {
    "core": Suite("sampler/eval/epoch targets and ID baselines", core.CoreOptions, core.run),
    "size": Suite("ID vs MOTOR item-side size", size.SizeOptions, size.run),
    "backbones": Suite("every backbone x {id, motor}", backbones.BackbonesOptions, backbones.run),
    "features": Suite("text and image encoder throughput", features.FeaturesOptions, features.run),
    "scale": Suite("throughput, memory, tokenizer and IVF-PQ retrieval from 10^4 to 10^6 items",
                   scale.ScaleOptions, scale.run),
    "speed": Suite("ID vs MOTOR epoch-time ratios per backbone, side by side; TCN FLOP floor; where the ID epoch goes",
                   speed.SpeedOptions, speed.run),
    "regimes": Suite("ID vs MOTOR against training-data sparsity and on a long-tail dataset",
                     regimes.RegimesOptions, regimes.run),
}


def _comma_list(inner: type) -> Callable[[str], list]:
    def parse(text: str) -> list:
        return [inner(x.strip()) for x in text.split(",") if x.strip()]
    return parse


def add_options(p: argparse.ArgumentParser, cls: type) -> None:
    """One command-line option per dataclass field: --field-name, typed, with the field's help."""
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        tp, flag = hints[f.name], "--" + f.name.replace("_", "-")
        default = f.default if f.default is not dataclasses.MISSING else f.default_factory()
        help_text = f.metadata.get("help", "")
        if tp is bool:
            action = argparse.BooleanOptionalAction if default else "store_true"
            p.add_argument(flag, action=action, default=default, help=help_text)
            continue
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        if typing.get_origin(tp) is list:
            p.add_argument(flag, type=_comma_list(args[0]), default=default, metavar="A,B",
                           help=f"{help_text} (default {','.join(map(str, default))})")
        else:
            p.add_argument(flag, type=args[0] if args else tp, default=default,
                           help=help_text + ("" if default is None else f" (default {default})"))


def add_parser(sub) -> None:
    """Register ``bench`` on the main command line's subparsers."""
    p = sub.add_parser("bench", help="run a benchmark suite and update benchmarks/RESULTS.md")
    suites = p.add_subparsers(dest="suite", required=True, metavar="SUITE", parser_class=type(p))
    for name, suite in SUITES.items():
        s = suites.add_parser(name, help=suite.help, description=suite.help)
        add_options(s, suite.options)
    p.set_defaults(func=run)


def command_line() -> str:
    argv = sys.argv
    return "python -m motor bench " + " ".join(shlex.quote(a) for a in argv[argv.index("bench") + 1:])


def run(args: argparse.Namespace) -> int:
    """Run the chosen suite with options built from the parsed arguments; print and write its section."""
    suite = SUITES[args.suite]
    opts = suite.options(**{f.name: getattr(args, f.name) for f in dataclasses.fields(suite.options)})
    section = suite.run(opts)
    print(section.body)
    if opts.write:
        name = args.suite + ("_quick" if opts.quick else "")
        command = command_line() if "bench" in sys.argv else f"python -m motor bench {args.suite}"
        print(f"updated {write_section(name, section.body, command, section.note)}")
    if section.failed:  # reported in the table; the status says so to a script or CI (it was 0)
        print(f"error: {section.failed} training run(s) failed; their rows above say why", file=sys.stderr)
        return 1
    return 0
