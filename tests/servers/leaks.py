"""Leak accounting for tests: file descriptors and threads left behind by the code under test.

A ``LeakChecker`` takes a snapshot of ``/proc/self/fd`` (each fd with what it points
to, so a number reused for another socket still counts as new) and of the live
threads; ``check()`` later fails if new ones remain after a short grace period.

The test servers' own sockets and threads are not the client's leaks: servers
register here while running, and the checker ignores sockets bound to their ports
(listeners and the server side of connections, read from /proc/net), the fds a server
opened when it started (its loop's selector and wake-up pipe) and threads whose name
starts with ``asynchttp-test-``. A connection the client leaked still shows: its
client-side socket has an ephemeral local port.

On uvloop (``ASYNCHTTP_LOOP=uvloop``) the first loop of a process opens descriptors
that stay for the life of the process, whoever closes the loop: libuv's signal-lock
pipe (two fds, the first loop on any thread) and, for a loop made on the main
thread, that thread's loop state (an epoll, an io_uring, an eventfd and two more
pipes with uvloop 0.23). They are not the client's leaks: ``warm_uvloop`` opens them
before a snapshot (``open_fds`` calls it, so every snapshot comes after; scripts that
read /proc/self/fd themselves call it first), so only what a loop or a client keeps after being closed counts.
"""

from __future__ import annotations

import gc
import os
import threading
import time
import weakref
from typing import Any, Iterable, Protocol

__all__ = ["LeakChecker", "register", "unregister", "open_fds", "warm_uvloop"]

IGNORED_THREAD_PREFIXES = ["asynchttp-test-"]


class _Server(Protocol):
    def leak_ignore_ports(self) -> Iterable[int]: ...
    def leak_ignore_fds(self) -> Iterable[int]: ...


_live: "weakref.WeakSet[Any]" = weakref.WeakSet()
_live_lock = threading.Lock()


def register(server: _Server) -> None:
    with _live_lock:
        _live.add(server)


def unregister(server: _Server) -> None:
    with _live_lock:
        _live.discard(server)


_uvloop_warm = False


def warm_uvloop() -> None:
    """On uvloop runs: open uvloop's process-wide descriptors now, with one loop on
    the main thread and one on another (as asynchttp's loop thread runs), each run
    and closed. Once per process; nothing on asyncio's loop."""
    global _uvloop_warm
    if _uvloop_warm or os.environ.get("ASYNCHTTP_LOOP", "").strip().lower() != "uvloop":
        return
    _uvloop_warm = True
    import asyncio

    import uvloop

    def one_loop() -> None:
        loop = uvloop.new_event_loop()
        try:
            loop.run_until_complete(asyncio.sleep(0))
        finally:
            loop.close()

    try:
        asyncio.get_running_loop()
        in_a_loop = True
    except RuntimeError:
        in_a_loop = False
    # (tests/conftest.py calls this once at the start of the session, outside any loop)
    if threading.current_thread() is threading.main_thread() and not in_a_loop:
        one_loop()
    thread = threading.Thread(target=one_loop, name="asynchttp-test-uvloop-warm-up")
    thread.start()
    thread.join()


def open_fds() -> dict[int, str]:
    """fd -> readlink target (e.g. 'socket:[12345]') for this process (on uvloop runs,
    uvloop's process-wide fds opened first: see ``warm_uvloop``)."""
    warm_uvloop()
    out: dict[int, str] = {}
    for name in os.listdir("/proc/self/fd"):
        try:
            out[int(name)] = os.readlink(f"/proc/self/fd/{name}")
        except OSError:
            pass  # closed meanwhile (listdir's own fd among them)
    return out


def _socket_local_ports() -> dict[str, int]:
    """'socket:[inode]' -> local port, for TCP/UDP sockets over IPv4 and IPv6."""
    out: dict[str, int] = {}
    for table in ("tcp", "tcp6", "udp", "udp6"):
        try:
            with open(f"/proc/self/net/{table}") as file:
                lines = file.readlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            if len(fields) < 10:
                continue
            try:
                port = int(fields[1].rsplit(":", 1)[1], 16)
            except (IndexError, ValueError):
                continue
            out[f"socket:[{fields[9]}]"] = port
    return out


class LeakChecker:
    """Snapshot at creation (or ``snapshot()``); ``check()`` asserts nothing new is left."""

    def __init__(self) -> None:
        self.ignored_thread_prefixes = list(IGNORED_THREAD_PREFIXES)
        self.fds: dict[int, str] = {}
        self.threads: set[threading.Thread] = set()
        self.snapshot()

    def snapshot(self) -> None:
        self.fds = open_fds()
        self.threads = set(threading.enumerate())

    def ignore_threads(self, prefix: str) -> None:
        """Do not count threads whose name starts with ``prefix`` (e.g. a process-wide
        loop thread that legitimately outlives one test)."""
        self.ignored_thread_prefixes.append(prefix)

    def leaks(self) -> tuple[dict[int, str], list[threading.Thread]]:
        with _live_lock:
            servers = list(_live)
        ignore_ports: set[int] = set()
        ignore_fds: set[int] = set()
        for server in servers:
            ignore_ports.update(server.leak_ignore_ports())
            ignore_fds.update(server.leak_ignore_fds())
        now = open_fds()
        new = {fd: target for fd, target in now.items() if self.fds.get(fd) != target and fd not in ignore_fds}
        if any(t.startswith("socket:") for t in new.values()):
            ports = _socket_local_ports()
            new = {fd: target for fd, target in new.items() if ports.get(target) not in ignore_ports}
        threads = [
            t
            for t in threading.enumerate()
            if t not in self.threads
            and t.is_alive()
            and not any(t.name.startswith(p) for p in self.ignored_thread_prefixes)
        ]
        return new, threads

    def check(self, grace: float = 2.0) -> None:
        """Fail if fds or threads opened since the snapshot are still there after
        ``grace`` seconds (closing and joining take a moment in other threads)."""
        deadline = time.monotonic() + grace
        while True:
            fds, threads = self.leaks()
            if not fds and not threads:
                return
            if time.monotonic() >= deadline:
                break
            gc.collect()
            time.sleep(0.02)
        raise AssertionError(
            f"leaked {len(fds)} fd(s) {sorted(fds.items())} and {len(threads)} thread(s) {[t.name for t in threads]}"
        )
