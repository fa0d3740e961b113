"""The one-time allocator hint before the first large body (``ALLOCATOR_HINT_SIZE``).

Large Content-Length bodies read a few at a time made glibc give each freed body's
memory back to the kernel and fault the next body's pages in again. The core frees
one large calloc'd block when it first reads a large body, which raises glibc's
dynamic thresholds; these tests check it happens once, only for large bodies, and
that it cuts the page faults of a bulk download (counted, not timed).
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from typing import Any, Callable

import pytest

from asynchttp_lowhaio import _connection, buffered
from tests.core.helpers import open_pool
from tests.servers import run
from tests.servers.fast_server import ROOT, FastServer
from tests.servers.scripted import recv_head, send


def _answer(size: int) -> bytes:
    return b"HTTP/1.1 200 OK\r\ncontent-length: %d\r\n\r\n" % size + b"x" * size


def test_hint_is_given_once_and_only_for_large_bodies(
    scripted: Callable[..., Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_connection, "allocator_hints", 0)
    small = 4096
    large = _connection.ALLOCATOR_HINT_FROM + 1
    server = scripted([[recv_head(), send(_answer(small)), recv_head(), send(_answer(large))]])
    server_again = scripted([[recv_head(), send(_answer(large))]])

    async def main() -> list[int]:
        hints = []
        async with open_pool() as request:
            for url in (server.url("/"), server.url("/")):
                _, _, body = await request(b"GET", url)
                assert len(await buffered(body)) in (small, large)
                hints.append(_connection.allocator_hints)
            _, _, body = await request(b"GET", server_again.url("/"))
            assert len(await buffered(body)) == large
            hints.append(_connection.allocator_hints)
        return hints

    # the small body gives none; the first large one gives it; the next does not again
    assert run(main()) == [0, 1, 1]


_BULK_CLIENT = textwrap.dedent(
    """
    import asyncio, resource, sys
    from asynchttp_lowhaio import Pool, buffered, _connection
    _connection.ALLOCATOR_HINT_SIZE = int(sys.argv[2])
    url = f"http://127.0.0.1:{sys.argv[1]}/"

    async def main():
        request, close = Pool(max_connections=8)
        async def fetch(count):
            for _ in range(count):
                _, _, body = await request(b"GET", url)
                assert len(await buffered(body)) == 1 << 20
        await asyncio.gather(*[fetch(1) for _ in range(8)])  # connections open, warm
        before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
        await asyncio.gather(*[fetch(6) for _ in range(8)])
        print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
        await close()

    asyncio.run(main())
    """
)


def _faults_per_mib(port: int, hint_size: int) -> float:
    out = subprocess.run(
        [sys.executable, "-c", _BULK_CLIENT, str(port), str(hint_size)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        # the allocator as glibc ships it: no threshold settings, no preloaded allocator
        env={
            k: v
            for k, v in os.environ.items()
            if not k.startswith("MALLOC_") and k not in ("GLIBC_TUNABLES", "LD_PRELOAD", "ASYNCHTTP_ALLOCATOR_HINT")
        },
    )
    assert out.returncode == 0, out.stderr
    return int(out.stdout) / 48


@pytest.mark.skipif(not _connection._on_glibc(), reason="glibc's dynamic mmap threshold")
def test_hint_cuts_the_page_faults_of_concurrent_large_bodies() -> None:
    server = FastServer("--body-size", str(1 << 20))
    try:
        without = _faults_per_mib(server.port, 0)
        with_hint = _faults_per_mib(server.port, _connection.ALLOCATOR_HINT_SIZE)
    finally:
        server.stop()
    # 48 bodies of 1 MiB, 8 at a time: a fresh page for most of every body without
    # the hint (256 pages in a MiB), next to none with it
    assert without > 64, without
    assert with_hint < without / 3, (with_hint, without)


def test_no_memory_for_the_hint_never_fails_the_read(
    scripted: Callable[..., Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    # an address-space limit the hint's block does not fit in: the body is read all the same
    monkeypatch.setattr(_connection, "allocator_hints", 0)
    monkeypatch.setattr(_connection, "_on_glibc", lambda: True)
    monkeypatch.setattr(_connection, "ALLOCATOR_HINT_SIZE", 1 << 62)
    large = _connection.ALLOCATOR_HINT_FROM
    server = scripted([[recv_head(), send(_answer(large))]])

    async def main() -> int:
        async with open_pool() as request:
            _, _, body = await request(b"GET", server.url("/"))
            return len(await buffered(body))

    assert run(main()) == large
    assert _connection.allocator_hints == 1


def test_the_environment_switch_turns_the_hint_off() -> None:
    script = "from asynchttp_lowhaio import _connection as c; print(c.ALLOCATOR_HINT_SIZE)"
    env = dict(os.environ, ASYNCHTTP_ALLOCATOR_HINT="0")
    off = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, env=env)
    env["ASYNCHTTP_ALLOCATOR_HINT"] = "1"
    on = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, env=env)
    assert (off.stdout.strip(), on.stdout.strip()) == ("0", str((32 << 20) - (64 << 10)))


_HOLDING_CLIENT = textwrap.dedent(
    """
    import asyncio, resource, sys
    from asynchttp_lowhaio import Pool, buffered, _connection
    _connection.ALLOCATOR_HINT_SIZE = int(sys.argv[2])
    url = f"http://127.0.0.1:{sys.argv[1]}/"

    async def main():
        request, close = Pool(max_connections=8)
        eight = asyncio.Semaphore(8)

        async def fetch():
            async with eight:
                _, _, body = await request(b"GET", url)
                return await buffered(body)

        faults = []
        for _ in range(3):  # the first batch grows the heap; the later ones may reuse it
            before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
            kept = await asyncio.gather(*[fetch() for _ in range(40)])
            assert all(len(body) == 1 << 20 for body in kept)
            del kept  # all let go at once, as a script that is done with a batch
            faults.append(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
        print(faults[1] + faults[2])
        await close()

    asyncio.run(main())
    """
)


@pytest.mark.skipif(not _connection._on_glibc(), reason="glibc's dynamic mmap threshold")
def test_batches_held_whole_reuse_the_heap() -> None:
    """A script that keeps a batch's 40 bodies of 1 MiB, then lets them all go, then
    fetches the next batch: with a hint of 16 MiB (glibc's trim threshold then 32 MiB)
    the heap was trimmed at each let-go and every page of the next batch faulted in
    again; with ALLOCATOR_HINT_SIZE (trim threshold about 64 MiB) the next batches
    reuse the same pages."""
    server = FastServer("--body-size", str(1 << 20))
    try:
        env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith("MALLOC_") and k not in ("GLIBC_TUNABLES", "LD_PRELOAD", "ASYNCHTTP_ALLOCATOR_HINT")
        }
        counts = {}
        for size in (16 << 20, _connection.ALLOCATOR_HINT_SIZE):
            out = subprocess.run(
                [sys.executable, "-c", _HOLDING_CLIENT, str(server.port), str(size)],
                cwd=ROOT,
                capture_output=True,
                text=True,
                timeout=120,
                env=env,
            )
            assert out.returncode == 0, out.stderr
            counts[size] = int(out.stdout) / 80  # per MiB of the two later batches
    finally:
        server.stop()
    old, new = counts[16 << 20], counts[_connection.ALLOCATOR_HINT_SIZE]
    # 256 pages in a MiB: most of them again with the old size, next to none now
    assert old > 64, counts
    assert new < 10, counts
