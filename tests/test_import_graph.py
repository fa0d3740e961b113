"""The import directions of both packages, read from their source with ``ast``.

Imports point one way: asynchttp -> asynchttp_lowhaio -> stdlib and aiodnsresolver.
The core's parser, writer and pool policy are sans-I/O, and no module of either package takes part
in an import cycle, not even one hidden under ``if TYPE_CHECKING:`` or inside a
function (a cycle there is still two modules that cannot be understood apart).
"""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Dict, List, Set

import asynchttp
import asynchttp_lowhaio

PACKAGES = {
    "asynchttp": Path(asynchttp.__file__).parent,
    "asynchttp_lowhaio": Path(asynchttp_lowhaio.__file__).parent,
}
IO_MODULES = {"asyncio", "socket", "ssl", "selectors", "select"}


def module_name(package: str, path: Path) -> str:
    return package if path.stem == "__init__" else f"{package}.{path.stem}"


def imports_of(package: str, path: Path) -> Set[str]:
    """Every module ``path`` imports, as absolute dotted names (relative ones resolved)."""
    found: Set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level and node.module is None:
            # "from . import _x": sibling modules (the package itself is already loaded)
            found.update(f"{package}.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            # modules sit one level deep in each package, so a relative import is a sibling
            module = f"{package}.{node.module}" if node.level else str(node.module)
            found.add(module)
            if module in PACKAGES:  # "from asynchttp_lowhaio import _x" may name a module
                found.update(f"{module}.{alias.name}" for alias in node.names)
    return found


def build_graph() -> Dict[str, Set[str]]:
    """Each module of both packages -> the modules of both packages it imports."""
    raw = {
        module_name(pkg, path): imports_of(pkg, path)
        for pkg, folder in PACKAGES.items()
        for path in sorted(folder.glob("*.py"))
    }
    return {name: {dep for dep in deps if dep in raw and dep != name} for name, deps in raw.items()}


def find_cycle(graph: Dict[str, Set[str]]) -> List[str]:
    """One import cycle as a path of module names, or [] (depth-first, three colours)."""
    state: Dict[str, int] = {}  # 1: on the current path, 2: done
    path: List[str] = []

    def visit(node: str) -> List[str]:
        state[node] = 1
        path.append(node)
        for dep in sorted(graph[node]):
            if state.get(dep) == 1:
                return path[path.index(dep) :] + [dep]
            if dep not in state:
                cycle = visit(dep)
                if cycle:
                    return cycle
        path.pop()
        state[node] = 2
        return []

    for node in sorted(graph):
        if node not in state:
            cycle = visit(node)
            if cycle:
                return cycle
    return []


def all_imports(package: str) -> Dict[str, Set[str]]:
    folder = PACKAGES[package]
    return {module_name(package, p): imports_of(package, p) for p in sorted(folder.glob("*.py"))}


def test_the_graph_sees_both_packages_and_their_edges() -> None:
    graph = build_graph()
    # a few edges known to exist, so an empty or broken graph cannot pass the other tests
    assert "asynchttp_lowhaio._pool" in graph["asynchttp_lowhaio"]
    assert "asynchttp_lowhaio._connection" in graph["asynchttp_lowhaio._pool"]
    assert "asynchttp_lowhaio._parser" in graph["asynchttp_lowhaio._connection"]
    assert "asynchttp_lowhaio" in graph["asynchttp._errors"]
    assert len([name for name in graph if name.startswith("asynchttp_lowhaio")]) >= 8


def test_the_core_never_imports_the_facade() -> None:
    for module, deps in all_imports("asynchttp_lowhaio").items():
        facade = {dep for dep in deps if dep.split(".")[0] == "asynchttp"}
        assert not facade, f"{module} imports {facade}"


def test_parser_writer_and_pool_policy_import_no_io_even_indirectly() -> None:
    graph = build_graph()
    raw = all_imports("asynchttp_lowhaio")
    for start in ("asynchttp_lowhaio._parser", "asynchttp_lowhaio._writer", "asynchttp_lowhaio._policy"):
        reached, todo = set(), [start]
        while todo:
            module = todo.pop()
            if module not in reached:
                reached.add(module)
                todo.extend(graph[module])
        for module in reached:
            io = {dep.split(".")[0] for dep in raw[module]} & IO_MODULES
            assert not io, f"{start} reaches {module}, which imports {io}"


def test_no_module_of_either_package_is_in_an_import_cycle() -> None:
    cycle = find_cycle(build_graph())
    assert not cycle, " -> ".join(cycle)


def test_the_cycle_finder_finds_a_cycle() -> None:
    # the checker itself, on a graph with a known cycle and one without
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b", "c"}, "b": {"c"}, "c": set()}) == []


def test_connection_reports_to_its_owner_through_an_interface() -> None:
    assert "asynchttp_lowhaio._pool" not in build_graph()["asynchttp_lowhaio._connection"]
    assert "asynchttp_lowhaio._policy" not in build_graph()["asynchttp_lowhaio._connection"]
