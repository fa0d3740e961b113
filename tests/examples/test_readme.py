"""README.rst and the pages in docs/, tried as a new user would.

Every ``.. code-block:: python`` in the README and in ``docs/*.rst`` that brings its
own local server (it uses ``DemoServer``) runs here, as written, in a fresh
interpreter (the blocks of docs/bulk.rst and docs/retries.rst read the reader's
own URLs: tests/examples/test_job_pages.py runs them against a local server).
The README's first shell block must be the demo and the tests, the two commands
for a fresh machine, and .ci/run must run exactly those. Other claims are checked
against the code they describe: the command line's options and default timeout,
the examples' extras, the pages the README points to.
"""

from __future__ import annotations

import importlib.util
import inspect
import re
import textwrap
from pathlib import Path
from types import ModuleType

import pytest

import asynchttp_lowhaio
from asynchttp import _cli
from asynchttp_lowhaio import _pool
from tests.examples.pages import REPO, code_blocks, run_python

README = REPO / "README.rst"
DOCS = REPO / "docs"
PAGES = [README] + sorted(DOCS.glob("*.rst"))
README_MAX_LINES = 250


def _name(page: Path) -> str:
    return str(page.relative_to(REPO))


RUNNABLE = [
    (_name(page), line, code)
    for page in PAGES
    for line, code in code_blocks(page.read_text(encoding="utf-8"), "python")
    if "DemoServer" in code
]


def _ci_helper() -> ModuleType:
    spec = importlib.util.spec_from_file_location("readme_commands", REPO / ".ci" / "readme_commands.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_first_commands_are_the_demo_and_the_tests() -> None:
    first = code_blocks(README.read_text(encoding="utf-8"), "sh")[0][1]
    assert "asynchttp demo" in first
    assert "coverage.sh" in first or "pytest" in first


def test_ci_runs_the_readme_commands_as_written() -> None:
    text = README.read_text(encoding="utf-8")
    commands = _ci_helper().commands(text)
    assert commands == ["pip install . && asynchttp demo", "./coverage.sh"]
    first = code_blocks(text, "sh")[0][1]
    for command in commands:  # as written: each is the start of a line of the block
        assert any(line.startswith(command) for line in first.splitlines()), command
    ci = (REPO / ".ci" / "run").read_text(encoding="utf-8")
    assert "readme_commands.py" in ci


def test_readme_is_a_front_door() -> None:
    text = README.read_text(encoding="utf-8")
    assert len(text.splitlines()) <= README_MAX_LINES
    # every page it points to exists, and every page is pointed to
    named = set(re.findall(r"``docs/([a-z0-9-]+\.rst)``", text))
    assert named and all((DOCS / name).exists() for name in named), named
    ours = {"library", "httplib2", "cli", "scale-out", "errors", "core", "logging", "security"}
    ours |= {"performance", "examples", "testing", "api", "changelog"}
    assert {name + ".rst" for name in ours} <= named


def test_docs_index_picks_up_every_page() -> None:
    index = (DOCS / "index.rst").read_text(encoding="utf-8")
    assert ":glob:" in index and re.search(r"^   \*$", index, re.M)


@pytest.mark.parametrize(
    "page,line,code",
    [pytest.param(page, line, code, id="%s:%d" % (page, line)) for page, line, code in RUNNABLE]
    or [
        pytest.param(
            "", 0, "", marks=pytest.mark.skip(reason="no self-contained python block (one using DemoServer) yet")
        )
    ],
)
def test_python_block_runs_as_written(page: str, line: int, code: str, tmp_path: Path) -> None:
    proc = run_python(["-c", code], tmp_path)
    assert proc.returncode == 0, "%s line %d:\n%s\n%s" % (page, line, code, proc.stderr)
    assert proc.stdout.strip(), "%s line %d printed nothing" % (page, line)
    assert not re.search(r"^Traceback", proc.stderr, re.M), proc.stderr


def _cli_pages() -> str:
    return "\n".join(page.read_text(encoding="utf-8") for page in sorted(DOCS.glob("cli*.rst")))


@pytest.mark.parametrize("build", [_cli.build_parser, _cli.build_demo_parser], ids=["main", "demo"])
def test_every_cli_option_is_documented(build: object) -> None:
    text = _cli_pages()
    parser = build()  # type: ignore[operator]
    for action in parser._actions:
        if not action.option_strings or "-h" in action.option_strings:
            continue
        assert any(re.search(r"(?<![\w-])%s(?![\w-])" % re.escape(o), text) for o in action.option_strings), (
            action.option_strings
        )


def test_help_states_the_default_timeout() -> None:
    (action,) = [a for a in _cli.build_parser()._actions if "--timeout" in a.option_strings]
    default = inspect.signature(asynchttp_lowhaio.Pool).parameters["socket_timeout"].default
    assert action.default is None  # then the core's default applies, which the help names
    assert "default %g;" % default in (action.help or "")
    assert "%g times" % _pool.HEAD_TIMEOUT_FACTOR in (action.help or "")
    assert "at most %g" % _pool.HEAD_TIMEOUT_CAP in (action.help or "")


# The scripts tests/examples/test_examples.py runs as they are, after `pip install .`.
RUN_AFTER_INSTALL = {
    "simple",
    "callback",
    "many",
    "client",
    "logging_setup",
    "from_httplib2",
    "asyncio_interop",
    "core_streaming",
}


@pytest.mark.parametrize("script", sorted(p.stem for p in (REPO / "examples").glob("*.py")))
def test_every_example_runs_after_install_or_names_its_extra(script: str) -> None:
    first = (REPO / "examples" / (script + ".py")).read_text(encoding="utf-8").splitlines()[0]
    if script in RUN_AFTER_INSTALL:
        return
    match = re.match(r"# Needs the (\w+) extra: pip install '\.\[(\w+)\]'", first)
    assert match and match.group(1) == match.group(2), first
    pyproject = (REPO / "pyproject.toml").read_text(encoding="utf-8")
    assert re.search(r"^%s = \[" % match.group(1), pyproject, re.M)


def test_dask_example_without_dask_says_which_extra(tmp_path: Path) -> None:
    blocker = textwrap.dedent(
        """
        import runpy, sys

        class Block:
            def find_spec(self, name, path=None, target=None):
                if name.split(".")[0] in ("dask", "distributed"):
                    raise ImportError("No module named %r" % name)

        sys.meta_path.insert(0, Block())
        sys.argv = [sys.argv[1]]
        runpy.run_path(sys.argv[0], run_name="__main__")
        """
    )
    proc = run_python(["-c", blocker, str(REPO / "examples" / "dask_fetch.py")], tmp_path)
    assert proc.returncode == 1
    assert "Traceback" not in proc.stderr
    (line,) = proc.stderr.strip().splitlines()
    assert "needs the dask extra: pip install '.[dask]'" in line
