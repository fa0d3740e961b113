"""A minimal, fast HTTP/1.1 keep-alive server for the load tests, run as its own process.

    python -m tests.servers.fast_server [--close-every N] [--lifetime S] [--no-answer] [--body-size N]

Prints ``PORT <n>`` on stdout once listening.  Every GET gets the same small
answer (or ``--body-size`` bytes of ``x``); with ``--close-every N`` every N-th answer on a connection says
``Connection: close`` and the connection is closed (keep-alive churn).  With
``--no-answer`` requests are read and never answered.  It stops by itself
when its stdin closes (the test ended or died) or after ``--lifetime``
seconds, whichever comes first.  A separate process, so the server does not
share the GIL with the client being measured.
"""

from __future__ import annotations

import argparse
import asyncio
import subprocess
import sys
from pathlib import Path
from typing import Optional

MAX_BUFFER = 1 << 20
ROOT = Path(__file__).resolve().parents[2]


def answers(body: bytes) -> tuple[bytes, bytes]:
    """The keep-alive answer and the closing one, for ``body``."""
    return (
        b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body),
        b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s" % (len(body), body),
    )


BODY = b"hello, load"
ANSWER, CLOSING = answers(BODY)


class Answerer(asyncio.Protocol):
    def __init__(self, close_every: int, answer: bool, replies: tuple[bytes, bytes] = (ANSWER, CLOSING)) -> None:
        self.close_every = close_every
        self.answer = answer
        self.replies = replies
        self.served = 0
        self.buffer = b""
        self.transport: Optional[asyncio.Transport] = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        buffer = self.buffer + data
        if not self.answer:
            self.buffer = buffer[-4:]
            return
        out = []
        start = 0
        closing = False
        while True:
            end = buffer.find(b"\r\n\r\n", start)
            if end < 0:
                break
            start = end + 4
            self.served += 1
            if self.close_every and self.served % self.close_every == 0:
                out.append(self.replies[1])
                closing = True
                break
            out.append(self.replies[0])
        self.buffer = buffer[start:]
        if len(self.buffer) > MAX_BUFFER:
            closing = True
        assert self.transport is not None
        if out:
            self.transport.write(b"".join(out))
        if closing:
            self.transport.close()


async def main(close_every: int, lifetime: float, answer: bool, body_size: Optional[int] = None) -> None:
    loop = asyncio.get_running_loop()
    replies = answers(BODY if body_size is None else b"x" * body_size)
    server = await loop.create_server(lambda: Answerer(close_every, answer, replies), "127.0.0.1", 0, backlog=1024)
    port = server.sockets[0].getsockname()[1]
    sys.stdout.write(f"PORT {port}\n")
    sys.stdout.flush()
    stdin_closed = loop.create_future()

    def on_stdin() -> None:
        if not sys.stdin.buffer.read1(4096) and not stdin_closed.done():
            stdin_closed.set_result(None)

    loop.add_reader(sys.stdin.fileno(), on_stdin)
    try:
        await asyncio.wait_for(stdin_closed, lifetime)
    except asyncio.TimeoutError:
        pass
    finally:
        loop.remove_reader(sys.stdin.fileno())
        server.close()


class FastServer:
    """This server in a process of its own, for a test: ``FastServer(*options)``, then ``stop()``."""

    def __init__(self, *args: str) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "tests.servers.fast_server", *args],
            cwd=ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        assert line.startswith("PORT "), line
        self.port = int(line.split()[1])

    def url(self, path: str = "/") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def stop(self) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        try:
            self.proc.wait(5)
        except subprocess.TimeoutExpired:  # pragma: no cover - the server ends on stdin EOF
            self.proc.kill()
            self.proc.wait(5)
        if self.proc.stdout is not None:
            self.proc.stdout.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--close-every", type=int, default=0)
    parser.add_argument("--lifetime", type=float, default=180.0)
    parser.add_argument("--no-answer", action="store_true")
    parser.add_argument("--body-size", type=int, default=None)
    args = parser.parse_args()
    asyncio.run(main(args.close_every, args.lifetime, not args.no_answer, args.body_size))
