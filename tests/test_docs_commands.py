"""Every command in the README's and docs' code blocks parses with today's command line (docs that rot mislead
the newcomers who copy them first)."""

import re
import shlex
from pathlib import Path

import pytest

from motor.cli import make_parser
from motor.errors import MotorError

ROOT = Path(__file__).resolve().parents[1]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


def code_block_commands(path: Path) -> list[str]:
    """The arguments after ``python -m motor`` (or ``torchrun ... -m motor``) in fenced code blocks, with
    backslash continuations joined and comments dropped."""
    commands, inside, block = [], False, []
    for line in path.read_text().splitlines():
        if line.startswith("```"):
            if inside:
                for cmd in "\n".join(block).replace("\\\n", " ").splitlines():
                    cmd = cmd.split(" #")[0].strip()
                    m = re.search(r"(?:python|torchrun) .*?-m motor (.*)", cmd)
                    if m:
                        commands.append(m.group(1))
                block = []
            inside = not inside
        elif inside:
            block.append(line)
    return commands


def test_the_readme_has_commands_to_check():
    assert len(code_block_commands(ROOT / "README.md")) >= 10


@pytest.mark.parametrize("path", DOCS, ids=lambda p: p.name)
def test_documented_commands_parse(path):
    parser = make_parser()
    for cmd in code_block_commands(path):
        try:
            parser.parse_args(shlex.split(cmd))
        except (SystemExit, MotorError) as e:  # the CLI's parser raises MotorError with the reason
            pytest.fail(f"{path.name}: `python -m motor {cmd}` no longer parses: {e}")


def test_the_workshop_python_block_runs_against_a_motor_run(tmp_path, capsys):
    """docs/WORKSHOP.md's Python step, on a tiny MOTOR run in place of the demo's (its run folder and item id
    swapped in): the API calls it teaches still exist and return what it prints."""
    from tests.test_explore import make_tiny_runs

    make_tiny_runs(tmp_path)
    text = (ROOT / "docs" / "WORKSHOP.md").read_text()
    code = re.search(r"```python\n(.*?)```", text, re.S).group(1)
    assert '"runs/full-motor"' in code and '"2571"' in code
    exec(code.replace('"runs/full-motor"', repr(str(tmp_path / "motor"))).replace('"2571"', '"m3"'), {})
    printed = capsys.readouterr().out
    assert "shared tokens" in printed and "max_weight" in printed


def test_the_sparse_preset_figures_quoted_are_those_of_its_committed_runs():
    """README and WORKSHOP quote MOTOR's and ID's mean test Recall@20 in the Sparse regime over three seeds;
    ``benchmarks/sparse_preset.csv`` (``python benchmarks/sparse_preset.py``) holds the runs behind them."""
    import csv

    rows = list(csv.DictReader((ROOT / "benchmarks" / "sparse_preset.csv").open()))
    means = {items: sum(float(r["test_recall@20"]) for r in rows if r["items"] == items) /
             sum(r["items"] == items for r in rows) for items in ("id", "motor")}
    quoted = f"{means['motor']:.3f} against ID's {means['id']:.3f} over three seeds"
    assert quoted in (ROOT / "README.md").read_text().replace("\n", " ")
    workshop = (ROOT / "docs" / "WORKSHOP.md").read_text().replace("\n", " ")
    assert f"{means['motor']:.3f} against {means['id']:.3f} over seeds 1, 2, 3" in workshop
    # and the popularity ranking of the same split, which both are read against
    popularity = {round(float(r["popularity_recall@20"]), 4) for r in rows}
    assert len(popularity) == 1  # one split for every seed
    assert f"popularity ranking gets **{popularity.pop():.4f}** on this split" in workshop


def test_the_bm3_uniformity_table_is_that_of_its_committed_runs():
    """docs/BACKBONES.md's uniformity-weight table (validation Recall@20, seeds 999 / 1000) is what
    ``benchmarks/bm3_uniformity.csv`` (``python benchmarks/bm3_uniformity.py``) holds."""
    import csv

    rows = [r for r in csv.DictReader((ROOT / "benchmarks" / "bm3_uniformity.csv").open()) if r["table"] == "weight"]
    text = (ROOT / "docs" / "BACKBONES.md").read_text()
    weights = sorted({float(r["uniformity_weight"]) for r in rows})
    assert len(weights) == 6
    for w in weights:
        cells = []
        for items in ("id", "motor"):
            seeds = sorted((r for r in rows if float(r["uniformity_weight"]) == w and r["items"] == items),
                           key=lambda r: int(r["seed"]))
            cells.append(" / ".join(f"{float(r['valid_recall@20']):.3f}" for r in seeds))
        label = "0 (published)" if w == 0 else f"{w:g}" if w != 2 else "2.0"
        assert f"| {label} | {cells[0]} | {cells[1]} |" in text, (w, cells)
