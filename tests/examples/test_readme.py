"""README.rst, tried as a new user would.

Every ``.. code-block:: python`` in the README that brings its own local server
(it uses ``DemoServer``) runs here, as written, in a fresh interpreter; blocks that
need a real host on the internet cannot run offline and are left alone. The first
shell block must be the demo and the tests, the two commands for a fresh machine.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
README = REPO / "README.rst"
# A hang guard per block, not a timing assertion.
BLOCK_TIMEOUT = 60.0


def code_blocks(text: str, language: str) -> list[tuple[int, str]]:
    """(line number, dedented code) of each ``.. code-block:: language`` in ``text``."""
    lines = text.splitlines()
    blocks = []
    for number, line in enumerate(lines):
        if line.strip() != ".. code-block:: %s" % language:
            continue
        body = []
        for following in lines[number + 1 :]:
            if following.strip() and not following.startswith((" ", "\t")):
                break
            body.append(following)
        blocks.append((number + 1, textwrap.dedent("\n".join(body)).strip() + "\n"))
    return blocks


RUNNABLE = [
    (line, code) for line, code in code_blocks(README.read_text(encoding="utf-8"), "python") if "DemoServer" in code
]


def test_first_commands_are_the_demo_and_the_tests() -> None:
    first = code_blocks(README.read_text(encoding="utf-8"), "sh")[0][1]
    assert "asynchttp demo" in first
    assert "coverage.sh" in first or "pytest" in first


@pytest.mark.parametrize(
    "line,code",
    RUNNABLE
    or [
        pytest.param(
            0,
            "",
            marks=pytest.mark.skip(reason="README.rst has no self-contained python block (one using DemoServer) yet"),
        )
    ],
    ids=lambda value: "line%s" % value if isinstance(value, int) else "",
)
def test_python_block_runs_as_written(line: int, code: str, tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if "proxy" not in k.lower()}
    env["PYTHONPATH"] = str(REPO) + os.pathsep + env.get("PYTHONPATH", "")
    proc = subprocess.run(
        [sys.executable, "-c", code], cwd=str(tmp_path), env=env, capture_output=True, text=True, timeout=BLOCK_TIMEOUT
    )
    assert proc.returncode == 0, "README.rst line %d:\n%s\n%s" % (line, code, proc.stderr)
    assert proc.stdout.strip(), "README.rst line %d printed nothing" % line
    assert not re.search(r"^Traceback", proc.stderr, re.M), proc.stderr
