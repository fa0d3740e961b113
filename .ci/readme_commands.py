"""Print the README's two commands (its first ``.. code-block:: sh``), one per line,
each exactly as written without its trailing ``# comment``: what .ci/run runs in a
fresh venv, so the README and CI cannot drift apart. tests/examples/test_readme.py
checks this against the README."""

from __future__ import annotations

import re
import sys
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.rst"


def first_sh_block(text: str) -> list[str]:
    lines = text.splitlines()
    start = next(n for n, line in enumerate(lines) if line.strip() == ".. code-block:: sh")
    body: list[str] = []
    for line in lines[start + 1 :]:
        if line.strip() and not line.startswith((" ", "\t")):
            break
        body.append(line)
    return [line.strip() for line in body if line.strip()]


def commands(text: str) -> list[str]:
    # a comment starts at " #" (no command here has a '#' of its own)
    return [re.sub(r"\s+#.*$", "", line) for line in first_sh_block(text)]


if __name__ == "__main__":
    found = commands(README.read_text(encoding="utf-8"))
    if len(found) != 2:
        sys.exit("README.rst: the first sh block should hold the two commands, found %r" % found)
    print("\n".join(found))
