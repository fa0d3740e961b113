"""Import hygiene of asynchttp_lowhaio, read from the source and checked in a fresh interpreter.

The core must stand alone (it never imports the asynchttp facade); the parser and the
writer are sans-I/O (no asyncio, socket or ssl), so they can be tested and reused
without a loop; ``__all__`` names exactly the public API, a superset of lowhaio's.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

import asynchttp_lowhaio
from asynchttp_lowhaio import _errors

PACKAGE = Path(asynchttp_lowhaio.__file__).parent
MODULES = sorted(PACKAGE.glob("*.py"))
IO_MODULES = {"asyncio", "socket", "ssl", "selectors", "select"}

# lowhaio 0.0.89's public names that are its API (not its imports or internals)
LOWHAIO_API = {
    "Pool",
    "streamed",
    "buffered",
    "empty_async_iterator",
    "get_nonblocking_sock",
    "HttpLoggerAdapter",
    "get_logger_adapter_default",
    "get_resolver_logger_adapter_default",
    "HttpError",
    "HttpConnectionError",
    "HttpDataError",
    "HttpDnsError",
    "HttpTlsError",
    "HttpConnectionClosedError",
    "HttpHeaderTooLong",
}


def imported_modules(path: Path) -> set[str]:
    """Top-level names of every module ``path`` imports (relative imports as '.name')."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                names.add("." + (node.module or ""))
            else:
                names.add((node.module or "").split(".")[0])
    return names


def test_the_package_has_the_expected_modules() -> None:
    assert {p.stem for p in MODULES} >= {
        "__init__",
        "_pool",
        "_connection",
        "_dns",
        "_errors",
        "_parser",
        "_writer",
        "_transport",
    }


@pytest.mark.parametrize("path", MODULES, ids=[p.stem for p in MODULES])
def test_the_core_never_imports_the_facade(path: Path) -> None:
    assert "asynchttp" not in imported_modules(path)


@pytest.mark.parametrize("name", ["_parser", "_writer", "_errors", "_rules"])
def test_sans_io_modules_import_no_io(name: str) -> None:
    imports = imported_modules(PACKAGE / f"{name}.py")
    assert not imports & IO_MODULES, imports & IO_MODULES
    # and of the package only what is sans-I/O too
    assert {i for i in imports if i.startswith(".")} <= {"._errors", "._parser", "._writer", "._rules"}


def test_importing_the_core_loads_neither_the_facade_nor_httplib2() -> None:
    code = (
        "import sys, asynchttp_lowhaio; "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('asynchttp', 'httplib2')))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, cwd=str(PACKAGE.parent), check=True
    )
    assert out.stdout.strip() == "[]"


def test_all_is_complete_and_exact() -> None:
    exported = set(asynchttp_lowhaio.__all__)
    assert len(exported) == len(asynchttp_lowhaio.__all__)  # no duplicates
    public = {
        name
        for name in vars(asynchttp_lowhaio)
        if not name.startswith("_") and not isinstance(getattr(asynchttp_lowhaio, name), type(asynchttp_lowhaio))
    }
    assert public == exported
    for name in exported:
        assert getattr(asynchttp_lowhaio, name) is not None


def test_every_error_is_exported() -> None:
    assert set(_errors.__all__) <= set(asynchttp_lowhaio.__all__)
    defined = {
        name for name, value in vars(_errors).items() if isinstance(value, type) and issubclass(value, BaseException)
    }
    assert defined == set(_errors.__all__)


def test_lowhaio_api_names_are_all_there() -> None:
    missing = LOWHAIO_API - set(asynchttp_lowhaio.__all__)
    assert not missing


def test_lowhaio_api_list_matches_the_installed_lowhaio() -> None:
    lowhaio = pytest.importorskip("lowhaio")
    assert LOWHAIO_API <= set(dir(lowhaio))


def test_each_module_documents_its_role() -> None:
    for path in MODULES:
        doc = ast.get_docstring(ast.parse(path.read_text(encoding="utf-8")))
        assert doc and len(doc.split()) >= 5, path.name
