"""Reading the code blocks of README.rst and docs/*.rst, and running one as a reader would."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
# A hang guard per run, not a timing assertion.
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


def reader_env() -> dict[str, str]:
    """The environment of a fresh interpreter: no proxy settings, this checkout importable."""
    env = {k: v for k, v in os.environ.items() if "proxy" not in k.lower()}
    env["PYTHONPATH"] = str(REPO) + os.pathsep + env.get("PYTHONPATH", "")
    return env


def run_python(args: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    """``python args...`` in a fresh interpreter working in ``cwd``."""
    return subprocess.run(
        [sys.executable, *args], cwd=str(cwd), env=reader_env(), capture_output=True, text=True, timeout=BLOCK_TIMEOUT
    )
