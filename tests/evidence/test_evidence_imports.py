"""The evidence stage's modules import each other in one direction only.

`store.py` writes the chain and `verify.py` checks it; what both need lives below them
(`records.py`, `layout.py`, `documents.py`, `backend.py`). Every import counts, including those
inside functions and under `TYPE_CHECKING`, so a circle cannot be hidden by deferring it.
"""

from __future__ import annotations

import ast
from pathlib import Path

import auditor.evidence

PACKAGE = "auditor.evidence"
FOLDER = Path(auditor.evidence.__file__).parent


def module_name(path: Path, root: Path, package: str) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join([package, *parts])


def import_graph(root: Path, package: str) -> dict[str, dict[str, list[tuple[int, bool]]]]:
    """module -> {imported module of the same package -> [(line, inside a function)]}."""
    modules = {module_name(p, root, package): p for p in sorted(root.rglob("*.py"))}
    graph: dict[str, dict[str, list[tuple[int, bool]]]] = {name: {} for name in modules}
    for name, path in modules.items():
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        nested = {
            id(node)
            for function in ast.walk(tree)
            if isinstance(function, ast.FunctionDef | ast.AsyncFunctionDef)
            for node in ast.walk(function)
        }
        this_package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        for node in ast.walk(tree):
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    anchor = this_package.split(".")
                    anchor = anchor[: len(anchor) - (node.level - 1)]
                    base = ".".join([*anchor, *([base] if base else [])])
                # `from pkg import module` imports the module; `from pkg import name`, pkg.
                targets = [
                    f"{base}.{alias.name}" if f"{base}.{alias.name}" in modules else base
                    for alias in node.names
                ]
            for target in targets:
                if target in modules and target != name:
                    graph[name].setdefault(target, []).append((node.lineno, id(node) in nested))
    return graph


def find_cycle(graph: dict[str, dict[str, list[tuple[int, bool]]]]) -> list[str] | None:
    """One import circle as [a, b, ..., a], or None."""
    state: dict[str, int] = {}  # 1 on the current path, 2 done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for target in sorted(graph[node]):
            if state.get(target) == 1:
                return [*path[path.index(target) :], target]
            if target not in state and (found := visit(target)):
                return found
        path.pop()
        state[node] = 2
        return None

    for start in sorted(graph):
        if start not in state and (found := visit(start)):
            return found
    return None


def test_the_evidence_stage_has_no_import_circle() -> None:
    graph = import_graph(FOLDER, PACKAGE)
    assert f"{PACKAGE}.store" in graph and f"{PACKAGE}.verify" in graph
    assert f"{PACKAGE}.verify" in graph[f"{PACKAGE}.store"]  # store calls verify, not back
    assert find_cycle(graph) is None, " -> ".join(find_cycle(graph) or [])


def test_no_evidence_module_defers_an_import_of_another() -> None:
    """A function-level import of a sibling is how a circle hides; none is needed."""
    deferred = [
        f"{source} imports {target} inside a function (line {line})"
        for source, targets in import_graph(FOLDER, PACKAGE).items()
        for target, places in targets.items()
        for line, inside in places
        if inside
    ]
    assert deferred == []


def test_the_check_sees_a_circle_and_a_deferred_import(tmp_path: Path) -> None:
    """The checks above would fail on the shape this stage used to have."""
    root = tmp_path / "pkg"
    root.mkdir()
    (root / "__init__.py").write_text("from pkg.store import Store\n")
    (root / "store.py").write_text(
        "class Store:\n    def verify(self):\n        from pkg.verify import walk\n"
        "        return walk(self)\n"
    )
    (root / "verify.py").write_text(
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from pkg.store import Store\n"
        "from . import layout\n"
    )
    (root / "layout.py").write_text("X = 1\n")
    graph = import_graph(root, "pkg")
    assert graph["pkg.verify"] == {"pkg.store": [(3, False)], "pkg.layout": [(4, False)]}
    assert graph["pkg.store"] == {"pkg.verify": [(3, True)]}
    assert find_cycle(graph) == ["pkg.store", "pkg.verify", "pkg.store"]
