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
    assert "asynchttp_lowhaio._transport" in graph["asynchttp_lowhaio._pool"]
    assert "asynchttp._wire" in graph["asynchttp._client"]
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


# ---------------------------------------------------------------------------
# The walls between rooms (docs/architecture.rst draws the house)

CORE_PUBLIC = set(asynchttp_lowhaio.__all__)


def core_names_used(source: str) -> Set[str]:
    """Every way ``source`` reaches into asynchttp_lowhaio, as dotted names: modules it
    imports (``asynchttp_lowhaio._pool``), names it imports from the package
    (``asynchttp_lowhaio.Pool``) and attributes it reads off the package."""
    used: Set[str] = set()
    aliases: Set[str] = set()  # local names bound to the package itself
    tree = ast.parse(source)
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] == "asynchttp_lowhaio":
                    used.add(alias.name)
                    aliases.add(alias.asname or "asynchttp_lowhaio")
        elif isinstance(node, ast.ImportFrom) and not node.level and node.module:
            if node.module == "asynchttp_lowhaio":
                used.update(f"asynchttp_lowhaio.{alias.name}" for alias in node.names)
            elif node.module.split(".")[0] == "asynchttp_lowhaio":
                used.add(node.module)
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id in aliases:
            used.add(f"asynchttp_lowhaio.{node.attr}")
    return used


def private_core_names(source: str) -> Set[str]:
    """The names of ``source``'s uses of the core that are not its public API."""
    return {
        name
        for name in core_names_used(source)
        if name != "asynchttp_lowhaio" and name.split(".", 1)[1] not in CORE_PUBLIC
    }


def test_the_private_core_name_finder_finds_each_way_in() -> None:
    # the checker itself, on sources with each kind of reach into a private module
    assert private_core_names("from asynchttp_lowhaio import _rules") == {"asynchttp_lowhaio._rules"}
    assert private_core_names("from asynchttp_lowhaio._rules import TOKEN") == {"asynchttp_lowhaio._rules"}
    assert private_core_names("import asynchttp_lowhaio._pool as p") == {"asynchttp_lowhaio._pool"}
    assert private_core_names("import asynchttp_lowhaio as c\nc._writer.parse_url('x')") == {
        "asynchttp_lowhaio._writer"
    }
    assert private_core_names("from asynchttp_lowhaio import Pool, without_userinfo\nimport asynchttp_lowhaio") == set()


def test_the_facade_uses_only_the_cores_public_names() -> None:
    """shared/ARCHITECTURE.md: the facade builds on the core's API (``__all__``), so the
    core's private modules can be rearranged without breaking it."""
    for path in sorted(PACKAGES["asynchttp"].glob("*.py")):
        private = private_core_names(path.read_text(encoding="utf-8"))
        assert not private, f"{module_name('asynchttp', path)} uses {sorted(private)}"


def reached_from(start: str) -> Set[str]:
    """``start`` and every module of both packages it imports, directly or not."""
    graph = build_graph()
    reached: Set[str] = set()
    todo = [start]
    while todo:
        module = todo.pop()
        if module not in reached:
            reached.add(module)
            todo.extend(graph[module])
    return reached


def test_the_wire_room_knows_no_threads_no_queue_and_no_client() -> None:
    """asynchttp._wire writes and reads one request on the loop: it starts and waits
    for no thread, and knows nothing of the jobs, the Http or httplib2's flow."""
    raw = all_imports("asynchttp")
    facade = {m for m in reached_from("asynchttp._wire") if m.split(".")[0] == "asynchttp"}
    assert not facade & {"asynchttp._client", "asynchttp._http", "asynchttp._flow", "asynchttp._loop"}, facade
    assert not facade & {"asynchttp._semantics", "asynchttp._cache", "asynchttp._auth"}, facade  # policies: above it
    for module in facade:
        threads = {dep for dep in raw[module] if dep.split(".")[0] in ("threading", "queue")}
        threads |= {dep for dep in raw[module] if dep == "concurrent.futures"}
        assert not threads, f"asynchttp._wire reaches {module}, which imports {threads}"


def test_the_policies_do_not_reach_the_engine_room() -> None:
    """httplib2's semantics (and its policies) run over ``send_once`` and read the Http
    through ``_protocols``: they import none of the rooms that run them."""
    engine = {"asynchttp._client", "asynchttp._http", "asynchttp._flow", "asynchttp._wire"}
    for start in ("asynchttp._semantics", "asynchttp._body", "asynchttp._uri", "asynchttp._protocols"):
        assert not reached_from(start) & engine, start


def _thread_local_uses(source: str) -> Set[str]:
    """What in ``source`` makes or names a thread-local: ``threading.local`` (as an
    attribute or imported by name) and the flow's ``_flow_state``."""
    found: Set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Attribute) and node.attr == "local":
            if isinstance(node.value, ast.Name) and node.value.id == "threading":
                found.add("threading.local")
        elif isinstance(node, ast.ImportFrom) and node.module == "threading":
            found.update(f"threading.{a.name}" for a in node.names if a.name == "local")
        elif isinstance(node, ast.Name) and node.id == "_flow_state":
            found.add("_flow_state")
        elif isinstance(node, ast.Attribute) and node.attr == "_flow_state":
            found.add("_flow_state")
        elif isinstance(node, ast.alias) and node.name == "_flow_state":
            found.add("_flow_state")
    return found


def test_the_thread_local_finder_finds_each_spelling() -> None:
    assert _thread_local_uses("import threading\nclass S(threading.local): pass") == {"threading.local"}
    assert _thread_local_uses("from threading import local") == {"threading.local"}
    assert _thread_local_uses("from ._flow import _flow_state") == {"_flow_state"}
    assert _thread_local_uses("from . import _flow\n_flow._flow_state.http") == {"_flow_state"}
    assert _thread_local_uses("import threading\nthreading.Lock()") == set()


def test_only_the_flow_room_keeps_the_flows_thread_local() -> None:
    """httplib2's override flow and its thread-local live in asynchttp._flow alone: the
    rest of the facade asks it (``in_flow_of``, ``run_in_flow``, ``send_through_pool``).
    The only other thread-locals are the loop thread's own, in asynchttp._loop."""
    uses = {
        module_name("asynchttp", path): _thread_local_uses(path.read_text(encoding="utf-8"))
        for path in sorted(PACKAGES["asynchttp"].glob("*.py"))
    }
    assert {module for module, found in uses.items() if "_flow_state" in found} == {"asynchttp._flow"}
    makers = {module for module, found in uses.items() if "threading.local" in found}
    assert makers == {"asynchttp._flow", "asynchttp._loop"}


def test_only_the_transport_room_of_the_core_imports_socket_or_ssl() -> None:
    """The core's sockets and TLS are set up in asynchttp_lowhaio._transport; the pool
    decides when to connect, the connection drives the protocol over a transport."""
    raw = all_imports("asynchttp_lowhaio")
    users = {
        module
        for module, deps in raw.items()
        if {dep for dep in deps if dep.split(".")[0] in ("socket", "ssl") or dep == "asyncio.sslproto"}
    }
    assert users == {"asynchttp_lowhaio._transport"}


def _chunk_size_formats(source: str) -> Set[bytes]:
    """The bytes literals in ``source`` that format a chunk-size line (``b"%x\\r\\n"``)."""
    return {
        node.value
        for node in ast.walk(ast.parse(source))
        if isinstance(node, ast.Constant)
        and isinstance(node.value, bytes)
        and (b"%x\r\n" in node.value or b"%X\r\n" in node.value)
    }


def test_one_chunked_encoder() -> None:
    """Chunk framing is written once, in the core's writer (``encode_chunk``); the
    facade frames http.client's chunks with it."""
    assert _chunk_size_formats('x = b"%X\\r\\n%b\\r\\n" % (1, b"a")') == {b"%X\r\n%b\r\n"}
    writers = {
        module_name(pkg, path)
        for pkg, folder in PACKAGES.items()
        for path in sorted(folder.glob("*.py"))
        if _chunk_size_formats(path.read_text(encoding="utf-8"))
    }
    assert writers == {"asynchttp_lowhaio._writer"}


def test_the_blocking_driver_uses_the_same_protocol_core() -> None:
    """asynchttp_lowhaio._sync (BlockingPool) drives the async pool's rules, not copies:
    the parser, the pool policy, the request preparation (writer) and the resend rule
    come from their modules; its sockets and TLS from the transport room; and the
    facade's caller-thread room sends through the wire room's exchange."""
    graph = build_graph()
    assert {
        "asynchttp_lowhaio._parser",
        "asynchttp_lowhaio._policy",
        "asynchttp_lowhaio._pool",
        "asynchttp_lowhaio._writer",
        "asynchttp_lowhaio._transport",
        "asynchttp_lowhaio._dns",
    } <= graph["asynchttp_lowhaio._sync"]
    assert {"asynchttp._wire", "asynchttp._semantics"} <= graph["asynchttp._caller"]
