"""The allocator settings made before the first large body (``ALLOCATOR_SETTINGS``).

Large Content-Length bodies read a few at a time made glibc give each freed body's
memory back to the kernel and fault the next body's pages in again; a script that
held more than 64 MiB of bodies at once had a thread arena's heap unmapped when it
let them go. The core sets glibc's mmap threshold, top pad and trim threshold once,
when it first reads a large body. These tests check it happens once, only for large
bodies, on both drivers (the async pool and BlockingPool), never over the user's own
glibc settings nor with ``ASYNCHTTP_ALLOCATOR_HINT=0``, and that it cuts the page
faults of each shape (counted, not timed).
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from typing import Any, Callable, Dict

import pytest

from asynchttp_lowhaio import _connection, buffered
from tests.core.helpers import open_pool
from tests.servers import run
from tests.servers.fast_server import ROOT, FastServer
from tests.servers.scripted import recv_head, send

glibc_only = pytest.mark.skipif(not _connection._on_glibc(), reason="glibc's malloc settings")


def _answer(size: int) -> bytes:
    return b"HTTP/1.1 200 OK\r\ncontent-length: %d\r\n\r\n" % size + b"x" * size


def _plain_environment(**extra: str) -> Dict[str, str]:
    """This environment with glibc's allocator as it ships (no threshold settings, no
    preloaded allocator, the hint's switch unset), plus ``extra``."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("MALLOC_") and k not in ("GLIBC_TUNABLES", "LD_PRELOAD", "ASYNCHTTP_ALLOCATOR_HINT")
    }
    env.update(extra)
    return env


def test_hint_is_given_once_and_only_for_large_bodies(
    scripted: Callable[..., Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_connection, "allocator_hints", 0)
    monkeypatch.setattr(_connection, "ALLOCATOR_HINT", False)  # counted, glibc left alone
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


def test_the_environment_sets_of_glibc_thresholds_are_recognised() -> None:
    user = _connection._thresholds_set_by_user
    assert not user({})
    assert not user({"MALLOC_ARENA_MAX": "2", "GLIBC_TUNABLES": "glibc.malloc.arena_max=2"})
    assert not user({"GLIBC_TUNABLES": ""})
    for name in ("MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_", "MALLOC_TOP_PAD_", "MALLOC_MMAP_MAX_"):
        assert user({name: "1"}), name
    for tunable in ("mmap_threshold", "trim_threshold", "top_pad", "mmap_max"):
        assert user({"GLIBC_TUNABLES": f"glibc.malloc.arena_max=2:glibc.malloc.{tunable}=65536"}), tunable


def test_no_setting_over_the_user_s_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    # in this process: with glibc's top pad set in the environment, the hint counts
    # itself and leaves glibc's thresholds as they are
    monkeypatch.setattr(_connection, "allocator_hints", 0)
    monkeypatch.setattr(_connection, "allocator_settings_made", 0)
    monkeypatch.setattr(_connection, "ALLOCATOR_HINT", True)
    monkeypatch.setenv("MALLOC_TOP_PAD_", "131072")
    _connection._hint_allocator()
    assert (_connection.allocator_hints, _connection.allocator_settings_made) == (1, 0)


# One client script, one shape per argument; it prints the page faults of the part
# after a warm-up, then the settings glibc took (allocator_settings_made).
_CLIENT = textwrap.dedent(
    """
    import asyncio, resource, sys, threading
    from asynchttp_lowhaio import BlockingPool, Pool, buffered, _connection
    shape, url = sys.argv[1], f"http://127.0.0.1:{sys.argv[2]}/"
    for spec in sys.argv[3:]:  # NAME=python expression: a setting of _connection to try
        name, value = spec.split("=", 1)
        setattr(_connection, name, eval(value, vars(_connection)))

    def faults():
        return resource.getrusage(resource.RUSAGE_SELF).ru_minflt

    async def dropped():
        # 8 workers, each fetching bodies one after the other and dropping each
        request, close = Pool(max_connections=8)
        async def fetch(count):
            for _ in range(count):
                _, _, body = await request(b"GET", url)
                assert len(await buffered(body)) == 1 << 20
        await asyncio.gather(*[fetch(1) for _ in range(8)])  # connections open, warm
        before = faults()
        await asyncio.gather(*[fetch(6) for _ in range(8)])
        await close()
        return (faults() - before) / 48

    async def held():
        # batches of 80 bodies kept whole, then all let go: more than a heap (64 MiB)
        request, close = Pool(max_connections=8)
        eight = asyncio.Semaphore(8)
        async def fetch():
            async with eight:
                _, _, body = await request(b"GET", url)
                return await buffered(body)
        counts = []
        for _ in range(3):  # the first batch grows the heap; the later ones may reuse it
            before = faults()
            kept = await asyncio.gather(*[fetch() for _ in range(80)])
            assert all(len(body) == 1 << 20 for body in kept)
            del kept
            counts.append(faults() - before)
        await close()
        return (counts[1] + counts[2]) / 160

    def threads():
        # one BlockingPool shared by 8 threads; in each of 4 rounds every thread keeps
        # 6 bodies, then lets them go (48 MiB held across 8 arenas)
        request, close = BlockingPool(max_connections=8)
        rounds = threading.Barrier(9)
        def fetch():
            for _ in range(4):
                kept = []
                for _ in range(6):
                    _, _, body = request(b"GET", url)
                    kept.append(body.read_all())
                assert all(len(body) == 1 << 20 for body in kept)
                del kept
                rounds.wait()
        workers = [threading.Thread(target=fetch) for _ in range(8)]
        for worker in workers:
            worker.start()
        rounds.wait()  # the first round grows each thread's arena,
        rounds.wait()  # and the second a little more: the pool's connections, made by
        before = faults()  # these threads, stay in their arenas between the first bodies
        rounds.wait()
        rounds.wait()
        for worker in workers:
            worker.join()
        close()
        return (faults() - before) / 96

    per_mib = asyncio.run(dropped()) if shape == "dropped" else asyncio.run(held()) if shape == "held" else threads()
    print(per_mib, _connection.allocator_settings_made)
    """
)


def _client(port: int, shape: str, *settings: str, **environment: str) -> tuple[float, int]:
    out = subprocess.run(
        [sys.executable, "-c", _CLIENT, shape, str(port), *settings],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        env=_plain_environment(**environment),
    )
    assert out.returncode == 0, out.stderr
    faults, made = out.stdout.split()
    return float(faults), int(made)


@pytest.fixture(scope="module")
def megabytes() -> Any:
    server = FastServer("--body-size", str(1 << 20))
    yield server
    server.stop()


@glibc_only
def test_settings_cut_the_page_faults_of_concurrent_large_bodies(megabytes: FastServer) -> None:
    without, made_without = _client(megabytes.port, "dropped", "ALLOCATOR_HINT=False")
    with_hint, made = _client(megabytes.port, "dropped")
    # 48 bodies of 1 MiB, 8 at a time: a fresh page for most of every body without
    # the settings (256 pages in a MiB), next to none with them
    assert (made_without, made) == (0, len(_connection.ALLOCATOR_SETTINGS))
    assert without > 64, without
    assert with_hint < 10, (with_hint, without)


@pytest.mark.slow  # two clients of 240 MiB each
@glibc_only
def test_batches_held_whole_beyond_a_heap_reuse_it(megabytes: FastServer) -> None:
    """A script that keeps a batch's 80 bodies of 1 MiB, lets them all go, then fetches
    the next batch, on its main thread (asyncio.run): glibc's dynamic thresholds as the
    old hint raised them (one freed block of 32 MiB: trim threshold about 64 MiB) had the
    main arena's heap trimmed at each let-go and every page faulted in again; with the
    settings the heap keeps them. (A thread arena's case, the facade's loop thread, is
    tests/facade/test_allocator_shapes.py's.)"""
    old_hint = (
        "ALLOCATOR_HINT=False",
        "_old=len(bytes((32 << 20) - (64 << 10)))",  # what the hint did before: raise the dynamic thresholds
    )
    dynamic, _ = _client(megabytes.port, "held", *old_hint)
    kept, made = _client(megabytes.port, "held")
    assert made == len(_connection.ALLOCATOR_SETTINGS)
    # 256 pages in a MiB: nearly all of them again at each batch, next to none now
    assert dynamic > 64, (dynamic, kept)
    assert kept < 10, (dynamic, kept)


@glibc_only
def test_blocking_pool_threads_get_the_settings(megabytes: FastServer) -> None:
    """BlockingPool reads on its callers' threads, each with an arena of its own: the
    settings hold for them as for the loop thread."""
    without, made_without = _client(megabytes.port, "threads", "ALLOCATOR_HINT=False")
    with_hint, made = _client(megabytes.port, "threads")
    assert (made_without, made) == (0, len(_connection.ALLOCATOR_SETTINGS))
    assert without > 64, without
    assert with_hint < 10, (with_hint, without)


@glibc_only
@pytest.mark.parametrize(
    "environment",
    [
        {"ASYNCHTTP_ALLOCATOR_HINT": "0"},
        {"MALLOC_TOP_PAD_": "131072"},
        {"GLIBC_TUNABLES": "glibc.malloc.trim_threshold=131072"},
    ],
    ids=["switch", "malloc-variable", "tunable"],
)
def test_the_user_s_settings_stand(megabytes: FastServer, environment: Dict[str, str]) -> None:
    # the switch turns the settings off; glibc's own settings in the environment are the
    # user's choice, and the core sets nothing over them
    _, made = _client(megabytes.port, "dropped", **environment)
    assert made == 0


def test_the_environment_switch_turns_the_hint_off() -> None:
    script = "from asynchttp_lowhaio import _connection as c; print(c.ALLOCATOR_HINT)"
    env = dict(os.environ, ASYNCHTTP_ALLOCATOR_HINT="0")
    off = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, env=env)
    env["ASYNCHTTP_ALLOCATOR_HINT"] = "1"
    on = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, env=env)
    assert (off.stdout.strip(), on.stdout.strip()) == ("False", "True")
