"""The layering of ``statespace/`` (docs/dev/architecture.rst), read from the imports with ``ast``.

* topic modules (the mathematics) import neither the Dask plug-in, the application face, nor an
  optional library (numba, cupy, torch, jax, dask);
* optional libraries are imported only under ``statespace/_engines/`` (dask: only by the plug-in
  ``statespace/_dask.py``; the array libraries a check runs on are asked from ``_engines`` too);
* no module imports an underscore name from a sibling module;
* the import graph (function-level imports included) has no cycle.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1] / "statespace"
OPTIONAL = {"numba", "cupy", "torch", "jax", "dask", "llvmlite"}
#: Modules that are not mathematics: dispatch, engines, backend/validation helpers, plug-in, face, testing.
INFRASTRUCTURE = {"__init__", "__main__", "_backend", "_validation", "_dispatch", "_dask", "testing"}


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _resolve(module: str, is_package: bool, node: ast.ImportFrom) -> str:
    if not node.level:
        return node.module or ""
    base = module.split(".") if is_package else module.split(".")[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def imports(path: Path):
    """``(imported module, imported name or None, line)`` for every import in ``path``, nested ones too."""
    module, is_package = _module_name(path), path.name == "__init__.py"
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, None, node.lineno
        elif isinstance(node, ast.ImportFrom):
            target = _resolve(module, is_package, node)
            for alias in node.names:
                submodule = f"{target}.{alias.name}"
                if _is_module(submodule):
                    yield submodule, None, node.lineno
                else:
                    yield target, alias.name, node.lineno


def _is_module(name: str) -> bool:
    if not name.startswith("statespace"):
        return False
    relative = Path(*name.split(".")[1:])
    return (ROOT / relative).with_suffix(".py").exists() or (ROOT / relative / "__init__.py").exists()


FILES = sorted(ROOT.rglob("*.py"))
MODULES = {_module_name(p): p for p in FILES}


def _topic(module: str) -> bool:
    parts = module.split(".")
    return len(parts) == 2 and parts[1] not in INFRASTRUCTURE


def _own(module: str, target: str) -> bool:
    """``target`` is ``module`` itself or its own package / subpackage (not a sibling)."""
    return target == module or target.startswith(module + ".") or module.startswith(target + ".")


def violations(files=FILES):
    found = []
    for path in files:
        module = _module_name(path)
        for target, name, line in imports(path):
            where = f"{path.relative_to(ROOT.parent)}:{line}"
            top = target.split(".")[0]
            if top in OPTIONAL:
                allowed = module.startswith("statespace._engines") or (top == "dask" and module == "statespace._dask")
                if not allowed:
                    found.append(f"{where}: {module} imports the optional library {target}")
            if _topic(module) and (target in ("statespace._dask",) or target.startswith("statespace._app")):
                found.append(f"{where}: topic module {module} imports {target}")
            if (
                name is not None
                and name.startswith("_")
                and not name.startswith("__")
                and target.startswith("statespace")
                and not _own(module, target)
            ):
                found.append(f"{where}: {module} imports the private name {name} from {target}")
    return found


def import_graph(files=FILES) -> dict[str, set[str]]:
    graph = {}
    for path in files:
        module = _module_name(path)
        edges = set()
        for target, _, _ in imports(path):
            if target.startswith("statespace") and target != module and target in MODULES:
                edges.add(target)
        graph[module] = edges
    return graph


def find_cycle(graph: dict[str, set[str]]):
    """One cycle of ``graph`` as a list of modules, or ``None``."""
    state, stack = {}, []

    def visit(node):
        state[node] = "open"
        stack.append(node)
        for succ in sorted(graph.get(node, ())):
            if state.get(succ) == "open":
                return stack[stack.index(succ) :] + [succ]
            if succ not in state:
                cycle = visit(succ)
                if cycle:
                    return cycle
        state[node] = "done"
        stack.pop()
        return None

    for node in sorted(graph):
        if node not in state:
            cycle = visit(node)
            if cycle:
                return cycle
    return None


def test_no_forbidden_import():
    found = violations()
    assert not found, "layering broken:\n" + "\n".join(found)


def test_no_import_cycle():
    cycle = find_cycle(import_graph())
    assert cycle is None, "import cycle: " + " -> ".join(cycle)


def test_every_topic_module_is_checked():
    topics = [m for m in MODULES if _topic(m)]
    assert {"statespace._kernels", "statespace._selective", "statespace._scan"} <= set(topics)
    assert "statespace._dask" not in topics


@pytest.mark.parametrize(
    "line, message",
    [
        ("from . import _dask", "topic module statespace._scan imports statespace._dask"),
        ("import numba", "imports the optional library numba"),
        ("from ._recurrence import _diag_prepare", "imports the private name _diag_prepare"),
    ],
)
def test_the_check_catches_a_forbidden_import(tmp_path, line, message):
    """The same check on a copy of ``_scan.py`` with one forbidden import added."""
    fake_root = tmp_path / "statespace"
    fake_root.mkdir()
    source = (ROOT / "_scan.py").read_text()
    (fake_root / "_scan.py").write_text(line + "\n" + source)
    for sibling in ("__init__.py", "_dask.py", "_recurrence.py"):
        (fake_root / sibling).write_text("")
    module = sys.modules[__name__]
    original = module.ROOT
    module.ROOT = fake_root
    try:
        found = violations([fake_root / "_scan.py"])
    finally:
        module.ROOT = original
    assert any(message in f for f in found), found
