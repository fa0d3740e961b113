"""Helpers of the CLI suite: run ``python -m asynchttp`` as a real subprocess.

Every test talks to a local server only; the child gets no proxy settings from the
environment (a proxy would send loopback traffic elsewhere) and imports this
checkout. ``cli`` runs it to the end; ``cli_process`` starts it, for a test that
acts on it while it runs; ``run_in_pty`` gives the child a terminal for stderr, to
see the bar.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import pty
import re
import select
import struct
import subprocess
import sys
import termios
import time
from pathlib import Path
from typing import Any, Callable, Iterator, Optional, Sequence

import pytest

REPO = Path(__file__).resolve().parents[2]
# A hang guard for each child, not a timing assertion: every run takes well under a second.
CHILD_TIMEOUT = 30.0


def child_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if "proxy" not in k.lower()}
    env["PYTHONPATH"] = str(REPO) + os.pathsep + env.get("PYTHONPATH", "")
    env["PYTHONUNBUFFERED"] = "1"
    env.update(extra)
    return env


def cli_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "asynchttp", *args]


@pytest.fixture
def cli() -> Callable[..., subprocess.CompletedProcess]:
    """``cli(*args, input=None)``: run the command, return the finished process (text)."""

    def run(*args: str, input: Optional[str] = None, **env: str) -> subprocess.CompletedProcess:
        proc = subprocess.run(
            cli_command(*args),
            capture_output=True,
            timeout=CHILD_TIMEOUT,
            input=None if input is None else input.encode("utf-8"),
            cwd=str(REPO),
            env=child_env(**env),
        )
        # decoded by hand: text mode would turn the bar's carriage returns into newlines
        proc.stdout = proc.stdout.decode("utf-8")
        proc.stderr = proc.stderr.decode("utf-8")
        return proc

    return run


@contextlib.contextmanager
def cli_process(*args: str, text: bool = True, **env: str) -> Iterator[subprocess.Popen[Any]]:
    """``with cli_process(*args) as proc:`` the command started, stdout and stderr piped
    (decoded unless ``text=False``); a command still running at the end of the block
    (a failed assertion, a hang) is killed and reaped, so no test leaves one behind."""
    proc = subprocess.Popen(
        cli_command(*args),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=text,
        cwd=str(REPO),
        env=child_env(**env),
    )
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()


def run_in_pty(args: Sequence[str], **env: str) -> tuple[int, str]:
    """Run the command with stdout and stderr on a pseudo-terminal; (exit status, output)."""
    pid, fd = pty.fork()
    if pid == 0:  # the child: only exec, nothing that could run pytest's code twice
        try:
            # a terminal of a real size (a fresh pty is 0x0, which tqdm would draw as nothing)
            fcntl.ioctl(0, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 120, 0, 0))
            os.chdir(str(REPO))
            os.execve(sys.executable, cli_command(*args), child_env(**env))
        finally:
            os._exit(127)
    output = bytearray()
    deadline = time.monotonic() + CHILD_TIMEOUT
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([fd], [], [], 1.0)
            if not ready:
                continue
            try:
                data = os.read(fd, 65536)
            except OSError:  # EIO: the child closed the terminal
                break
            if not data:
                break
            output += data
    finally:
        os.close(fd)
    waited_pid, status = 0, 0
    for _ in range(500):  # up to ~5 s for the child to exit after closing its terminal
        waited_pid, status = os.waitpid(pid, os.WNOHANG)
        if waited_pid:
            break
        time.sleep(0.01)
    if waited_pid == 0:
        os.kill(pid, 9)
        os.waitpid(pid, 0)
        raise AssertionError("the command did not finish: %r" % output.decode("utf-8", "replace"))
    return os.waitstatus_to_exitcode(status), output.decode("utf-8", "replace")


def one_line(text: str) -> str:
    """The single line of ``text``, failing if there are more or none."""
    lines = text.splitlines()
    assert len(lines) == 1, lines
    return lines[0]


def summary_of(stderr: str) -> dict[str, Any]:
    """The summary's lines by label ("status", "errors", ...) plus its first line as "head"."""
    lines = stderr.splitlines()
    starts = [
        i
        for i, line in enumerate(lines)
        if line.startswith("asynchttp: ") and re.search(r" requests? in [\d.]+ s: \d+ ok \(2xx\)", line)
    ]
    assert starts, stderr
    head = lines[starts[-1]]
    parts: dict[str, Any] = {"head": head}
    for line in lines[starts[-1] + 1 :]:
        if not line.startswith("  "):
            break
        label, _, rest = line.strip().partition(" ")
        parts[label] = rest.strip()
    return parts
