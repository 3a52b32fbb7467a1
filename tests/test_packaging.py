"""Packaging: pyproject's `motor` console script and `python -m motor` list every command; ruff's settings."""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import tomllib

ROOT = Path(__file__).resolve().parents[1]
# Commands that exist today; a command whose module fails to import must not silently vanish from --help.
COMMANDS = {"data", "tokenize", "train", "recommend", "features", "bench"}


def listed_commands(help_text: str) -> set[str]:
    """The command names in an argparse help's ``{a,b,c}`` choice list."""
    match = re.search(r"\{([a-z,_-]+)\}", help_text)
    assert match, help_text
    return set(match.group(1).split(","))


def registered_commands() -> set[str]:
    from motor.cli import make_parser

    sub = next(a for a in make_parser()._actions if a.__class__.__name__ == "_SubParsersAction")
    return set(sub.choices)


def test_python_m_motor_help_lists_every_command():
    r = subprocess.run([sys.executable, "-m", "motor", "--help"], capture_output=True, text=True, cwd=ROOT,
                       timeout=120)
    assert r.returncode == 0, r.stderr
    listed = listed_commands(r.stdout)
    assert COMMANDS <= listed and listed == registered_commands()


def test_motor_console_script_matches_python_m_motor(tmp_path):
    script = Path(sys.executable).parent / "motor"
    if not script.exists():
        pytest.skip("the project is not installed in this environment (scripts/setup.sh runs pip install -e .)")
    r = subprocess.run([str(script), "--help"], capture_output=True, text=True, cwd=tmp_path, timeout=120,
                       env={k: v for k, v in os.environ.items() if k != "PYTHONPATH"})
    assert r.returncode == 0, r.stderr
    assert COMMANDS <= listed_commands(r.stdout)
    m = subprocess.run([sys.executable, "-m", "motor", "--help"], capture_output=True, text=True, cwd=ROOT,
                       timeout=120)
    assert r.stdout == m.stdout


def test_pyproject_declares_the_console_script_and_keeps_torch_pinned():
    meta = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert meta["project"]["name"] == "motor-lab"
    assert meta["project"]["scripts"]["motor"] == "motor.cli:main"
    assert meta["tool"]["setuptools"]["dynamic"]["dependencies"]["file"] == ["requirements.txt"]
    requirements = (ROOT / "requirements.txt").read_text().splitlines()
    assert "torch==2.13.0" in requirements
    assert any(re.fullmatch(r"ruff==[\d.]+", line) for line in requirements)


def test_no_sys_path_patching_in_entry_points():
    for path in (ROOT / "tests" / "conftest.py", ROOT / "streamlit_app.py"):
        assert "sys.path" not in path.read_text(), path
