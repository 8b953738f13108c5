"""The store package's modules import one another without a circle: a part built on
another (an observability mixin on its backend's base) imports it, never the other way
round, whether at module level, inside a function or only for type checking."""

from __future__ import annotations

import ast
from pathlib import Path

import queuectl.store

PACKAGE = "queuectl.store"
FOLDER = Path(queuectl.store.__file__).parent


def _modules() -> dict[str, Path]:
    found = {PACKAGE: FOLDER / "__init__.py"}
    for path in sorted(FOLDER.glob("*.py")):
        if path.name != "__init__.py":
            found[f"{PACKAGE}.{path.stem}"] = path
    return found


def _imports(path: Path, modules: dict[str, Path]) -> set[str]:
    """The package's modules this file imports, anywhere in it."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            for alias in node.names:
                child = f"{node.module}.{alias.name}"
                found.add(child if child in modules else node.module)
    return found & modules.keys()


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import circle of the graph, as the modules along it, or None."""
    done: set[str] = set()

    def visit(module: str, path: list[str]) -> list[str] | None:
        if module in path:
            return [*path[path.index(module) :], module]
        if module in done:
            return None
        for imported in sorted(graph[module]):
            if circle := visit(imported, [*path, module]):
                return circle
        done.add(module)
        return None

    for module in sorted(graph):
        if circle := visit(module, []):
            return circle
    return None


def test_no_module_of_the_store_package_imports_itself_through_others() -> None:
    modules = _modules()
    graph = {name: _imports(path, modules) - {name} for name, path in modules.items()}
    assert len(graph) > 20  # the whole package was read
    assert _cycle(graph) is None, " -> ".join(_cycle(graph) or [])
