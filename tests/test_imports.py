"""The import graph of ``motor/``: no cycles, counting lazy imports inside functions too.

A cycle hides as a function-local import (``run_experiment`` once imported ``motor.runs`` inside
itself because ``motor.runs`` imports ``motor.experiment``). Imports under ``if TYPE_CHECKING:``
never run and do not count; importing one's own parent package is not a cycle (it is already
initialised when a submodule runs).
"""

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def module_files(root: Path) -> dict[str, Path]:
    out = {}
    for f in (root / "motor").rglob("*.py"):
        parts = f.relative_to(root).with_suffix("").parts
        out[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = f
    return out


def imports_of(name: str, path: Path, modules: dict[str, Path]) -> set[str]:
    """The modules of ``motor`` that ``name`` imports, at module level or inside functions."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()

    def visit(node):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            return
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([base] if base else []))
            subs = [f"{base}.{a.name}" for a in node.names if f"{base}.{a.name}" in modules]
            found.update(subs)
            if len(subs) < len(node.names):
                found.add(base)
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(ast.parse(path.read_text()))
    deps = set()
    for d in found:
        parts = d.split(".")
        for i in range(1, len(parts) + 1):  # importing a.b.c runs a and a.b first
            m = ".".join(parts[:i])
            if m in modules and m != name and not name.startswith(m + "."):
                deps.add(m)
    return deps


def import_cycles(root: Path = ROOT) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    modules = module_files(root)
    graph = {m: imports_of(m, f, modules) for m, f in modules.items()}
    index, low, stack, on_stack, cycles = {}, {}, [], set(), []

    def connect(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph[v]:
            if w not in index:
                connect(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                cycles.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            connect(v)
    return cycles


def test_the_checker_sees_a_cycle(tmp_path):
    pkg = tmp_path / "motor"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "a.py").write_text("from motor.b import x\n")
    (pkg / "b.py").write_text("x = 1\n\ndef f():\n    from motor import a\n")
    assert import_cycles(tmp_path) == [["motor.a", "motor.b"]]
    (pkg / "b.py").write_text("x = 1\n\nif TYPE_CHECKING:\n    from motor import a\n")
    assert import_cycles(tmp_path) == []


def test_no_import_cycle_inside_motor():
    assert import_cycles() == []


def test_experiment_and_runs_import_in_either_order():
    import subprocess
    import sys

    for first, second in (("motor.runs", "motor.experiment"), ("motor.experiment", "motor.runs")):
        r = subprocess.run([sys.executable, "-c", f"import {first}, {second}"], check=False, cwd=ROOT, capture_output=True,
                           text=True, timeout=120)
        assert r.returncode == 0, r.stderr
