#!/usr/bin/env python3
"""Memory of a body streamed to disk: peak RSS growth of ``request(..., sink=path)``
while downloading a 1 GiB body from a local server in another process.

    python benchmarks/download.py                  # 1 GiB, Content-Length
    python benchmarks/download.py --chunked        # 1 GiB, chunked
    python benchmarks/download.py --size 268435456 --dir /var/tmp

The client runs in a fresh process: one small sink request warms it up (loop
thread, I/O threads, pool), then the big one runs while a timer on asynchttp's
loop records how late it fires (the loop's worst stall: what a disk write on the
loop would cost every other request). Reported: peak RSS growth (ru_maxrss after
minus before; issue 19's target is < 32 MiB), throughput, the loop's worst delay,
and whether the file is byte-exact (SHA-256 against the server's). Not a test.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import os
import subprocess
import sys
import tempfile
import time
from typing import Any

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
sys.path.insert(0, REPO)  # this tree's asynchttp
TARGET_MIB = 32.0
PIECE = 256 * 1024


def body_piece() -> bytes:
    """The repeated piece the server sends (not all one byte, so a shifted or repeated
    piece changes the hash)."""
    return bytes(range(256)) * (PIECE // 256)


def expected_sha256(size: int) -> str:
    piece = body_piece()
    digest = hashlib.sha256()
    full, rest = divmod(size, PIECE)
    for _ in range(full):
        digest.update(piece)
    digest.update(piece[:rest])
    return digest.hexdigest()


# -- the server (its own process) -------------------------------------------------------


async def serve(size: int, chunked: bool) -> None:
    piece = body_piece()

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                if not head:
                    return
                length = 1000 if head.startswith(b"GET /warm") else size  # the client's warm-up: small
                framing = b"Transfer-Encoding: chunked" if chunked else b"Content-Length: %d" % length
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\n%s\r\n\r\n" % framing)
                sent = 0
                while sent < length:
                    data = piece[: min(PIECE, length - sent)]
                    writer.write(b"%x\r\n%s\r\n" % (len(data), data) if chunked else data)
                    sent += len(data)
                    await writer.drain()
                if chunked:
                    writer.write(b"0\r\n\r\n")
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(answer, "127.0.0.1", 0)
    print("PORT %d" % server.sockets[0].getsockname()[1], flush=True)
    loop = asyncio.get_running_loop()
    stdin_closed = loop.create_future()
    loop.add_reader(sys.stdin.fileno(), lambda: stdin_closed.done() or stdin_closed.set_result(None))
    await stdin_closed
    server.close()


# -- the client (a fresh process) ----------------------------------------------------------


def client(url: str, directory: str, direct: bool, idle: bool, size_hint: int) -> None:
    import resource

    import asynchttp
    from asynchttp import _loop, _sink

    if direct:
        # A/B only: write each batch on the loop thread instead of the I/O executor
        def write_here(loop: Any, target: Any, fn: Any, *args: Any) -> Any:
            done = loop.create_future()
            fn(*args)
            done.set_result(None)
            return done

        _sink._schedule = write_here  # type: ignore[assignment]

    path = os.path.join(directory, "asynchttp-download.bin")
    http = asynchttp.BlockingHttp()
    http.request(url.replace("/big", "/warm"), sink=path + ".warm")  # warm-up: threads, pool
    os.unlink(path + ".warm")
    loop = _loop.get_loop()
    delays: list[float] = []
    running = [True]

    def tick(planned: float) -> None:
        delays.append(loop.time() - planned)
        if running[0]:
            loop.call_at(loop.time() + 0.01, tick, loop.time() + 0.01)

    loop.call_soon_threadsafe(lambda: tick(loop.time()))
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    started = time.monotonic()
    if idle:  # the baseline: the same timer with nothing to do (the machine's own noise)
        time.sleep(5)
        with open(path, "wb") as file:
            file.truncate(size_hint)
        response, content = None, b""
    else:
        response, content = http.request(url, sink=path)
    elapsed = time.monotonic() - started
    after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    running[0] = False
    size = os.path.getsize(path)
    digest = hashlib.sha256()
    with open(path, "rb") as file:
        for block in iter(lambda: file.read(1 << 20), b""):
            digest.update(block)
    os.unlink(path)
    http.shutdown()
    print(
        json.dumps(
            {
                "status": response.status if response is not None else None,
                "content": len(content),
                "size": size,
                "sha256": digest.hexdigest(),
                "seconds": elapsed,
                "rss_before_kib": before,
                "rss_after_kib": after,
                "worst_loop_delay": max(delays),
                "p99_loop_delay": sorted(delays)[int(len(delays) * 0.99)],
                "module": asynchttp.__file__,
            }
        )
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", type=int, default=1 << 30)
    parser.add_argument("--chunked", action="store_true")
    parser.add_argument("--dir", default=tempfile.gettempdir())
    parser.add_argument("--direct-writes", action="store_true", help="A/B: write on the loop thread")
    parser.add_argument("--idle", action="store_true", help="measure the loop's worst delay with no download")
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--client", metavar="URL", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        asyncio.run(serve(args.size, args.chunked))
        return 0
    if args.client:
        client(args.client, args.dir, args.direct_writes, args.idle, args.size)
        return 0
    me = os.path.abspath(__file__)
    serve_cmd = [sys.executable, me, "--serve", "--size", str(args.size)] + (["--chunked"] if args.chunked else [])
    server = subprocess.Popen(serve_cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert server.stdout is not None
        port = int(server.stdout.readline().split()[1])
        out = subprocess.run(
            [sys.executable, me, "--client", "http://127.0.0.1:%d/big" % port, "--dir", args.dir]
            + (["--direct-writes"] if args.direct_writes else [])
            + (["--idle", "--size", str(args.size)] if args.idle else []),
            check=True,
            capture_output=True,
            text=True,
        )
    finally:
        assert server.stdin is not None
        server.stdin.close()
        server.wait(10)
    figures = json.loads(out.stdout.strip().splitlines()[-1])
    growth = (figures["rss_after_kib"] - figures["rss_before_kib"]) / 1024
    if args.idle:
        print(
            "idle baseline: loop delay p99 %.1f ms, worst %.1f ms"
            % (figures["p99_loop_delay"] * 1000, figures["worst_loop_delay"] * 1000)
        )
        return 0
    exact = figures["size"] == args.size and figures["sha256"] == expected_sha256(args.size)
    print(
        "%d bytes (%s): %.1f s, %.0f MiB/s; peak RSS %.1f -> %.1f MiB, growth %.1f MiB (target < %.0f MiB: %s); "
        "loop delay p99 %.1f ms, worst %.1f ms; file byte-exact: %s; content promise %d bytes; writes %s"
        % (
            args.size,
            "chunked" if args.chunked else "Content-Length",
            figures["seconds"],
            args.size / figures["seconds"] / (1 << 20),
            figures["rss_before_kib"] / 1024,
            figures["rss_after_kib"] / 1024,
            growth,
            TARGET_MIB,
            "met" if growth < TARGET_MIB else "NOT met",
            figures["p99_loop_delay"] * 1000,
            figures["worst_loop_delay"] * 1000,
            exact,
            figures["content"],
            "on the loop thread (A/B)" if args.direct_writes else "in the I/O executor",
        )
    )
    return 0 if exact else 1


if __name__ == "__main__":
    sys.exit(main())
