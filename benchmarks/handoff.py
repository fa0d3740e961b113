#!/usr/bin/env python3
"""What one blocking call costs when another thread's event loop does its work.

The facade's sequential request (scenario (b) of bench.py) is a round trip:
the caller hands the request to the loop thread, then sleeps until the loop
hands the answer back.  This measures that round trip alone, with no I/O,
for each way of doing it:

- lock:      the caller does ``loop.call_soon_threadsafe(lock.release)`` and
             waits on a plain ``threading.Lock`` the loop releases;
- future:    the loop sets a ``concurrent.futures.Future`` the caller waits on;
- coroutine: ``asyncio.run_coroutine_threadsafe(...).result()``;
- asynchttp: what ``asynchttp.Http`` does today: the request is queued, one
             ``call_soon_threadsafe`` wakes an idle runner task, which settles a
             ``RequestFuture`` the caller waits on (the settle goes out at the
             end of the loop iteration), all on asynchttp's own loop thread.

Each runs with both threads pinned to one CPU (as bench.py pins (b)) and with
the two threads on two CPUs.  Figures are medians of per-call times, in
microseconds, over several interleaved rounds.

    python benchmarks/handoff.py              # 20,000 calls a round, 5 rounds
    python benchmarks/handoff.py --calls 5000 --rounds 3
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import os
import statistics
import sys
import threading
import time
from concurrent.futures import Future
from typing import Callable

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))  # the working tree's asynchttp

Call = Callable[[], None]


def lock_call(loop: asyncio.AbstractEventLoop) -> Call:
    lock = threading.Lock()
    lock.acquire()
    release = lock.release
    soon = loop.call_soon_threadsafe

    def call() -> None:
        soon(release)
        lock.acquire()

    return call


def future_call(loop: asyncio.AbstractEventLoop) -> Call:
    soon = loop.call_soon_threadsafe

    def call() -> None:
        future: Future[None] = Future()
        soon(future.set_result, None)
        future.result()

    return call


def coroutine_call(loop: asyncio.AbstractEventLoop) -> Call:
    async def nothing() -> None:
        return None

    def call() -> None:
        asyncio.run_coroutine_threadsafe(nothing(), loop).result()

    return call


class _FacadeShape:
    """The facade's hand-off, as _http._Client does it: a queue, one wake-up per
    batch, an idle runner task woken through an asyncio future, a RequestFuture."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.pending: collections.deque = collections.deque()
        self.idle: list[asyncio.Future[None]] = []
        self.wake_scheduled = False
        asyncio.run_coroutine_threadsafe(self._start(), loop).result()

    async def _start(self) -> None:
        self.task = asyncio.get_running_loop().create_task(self._runner())
        await asyncio.sleep(0)

    def _drain(self) -> None:
        self.wake_scheduled = False
        if self.idle:
            waiter = self.idle.pop()
            if not waiter.done():
                waiter.set_result(None)

    async def _runner(self) -> None:
        pending = self.pending
        while True:
            if not pending:
                waiter = self.loop.create_future()
                self.idle.append(waiter)
                await waiter
                continue
            future = pending.popleft()
            future._settle(None, None)

    def call(self) -> None:
        from asynchttp._promise import RequestFuture

        future = RequestFuture()
        self.pending.append(future)
        if not self.wake_scheduled:
            self.wake_scheduled = True
            self.loop.call_soon_threadsafe(self._drain)
        future.result()


def time_calls(call: Call, n: int) -> list[float]:
    clock = time.perf_counter_ns
    for _ in range(200):  # warm-up
        call()
    out = []
    for _ in range(n):
        start = clock()
        call()
        out.append((clock() - start) / 1000)
    return out


def pin_loop_thread(loop: asyncio.AbstractEventLoop, cpus: set[int]) -> None:
    """Pin the thread running ``loop`` (sched_setaffinity(0) pins the calling thread)."""

    async def pin() -> None:
        os.sched_setaffinity(0, cpus)

    asyncio.run_coroutine_threadsafe(pin(), loop).result()


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--calls", type=int, default=20000, help="calls per mechanism and round")
    p.add_argument("--rounds", type=int, default=5, help="interleaved rounds")
    args = p.parse_args(argv)

    cpus = sorted(os.sched_getaffinity(0))
    layouts = [("one CPU", cpus[0], cpus[0])]
    if len(cpus) > 1:
        layouts.append(("two CPUs", cpus[0], cpus[1]))
    else:
        print("only one CPU available: the split layout is not measured", file=sys.stderr)

    # A plain loop in a thread of ours, and asynchttp's own loop thread.
    plain = asyncio.new_event_loop()
    thread = threading.Thread(target=plain.run_forever, name="handoff-loop", daemon=True)
    thread.start()
    from asynchttp import _loop

    facade_loop = _loop.attach()  # held for the run: an unheld loop stops when idle
    mechanisms: dict[str, tuple[asyncio.AbstractEventLoop, Call]] = {
        "lock": (plain, lock_call(plain)),
        "future": (plain, future_call(plain)),
        "coroutine": (plain, coroutine_call(plain)),
        "asynchttp": (facade_loop, _FacadeShape(facade_loop).call),
    }
    results: dict[tuple[str, str], list[float]] = collections.defaultdict(list)
    for round_ in range(args.rounds):
        for layout, caller_cpu, loop_cpu in layouts:
            os.sched_setaffinity(0, {caller_cpu})
            for name, (loop, call) in mechanisms.items():
                pin_loop_thread(loop, {loop_cpu})
                results[(layout, name)].append(statistics.median(time_calls(call, args.calls)))
        print(f"round {round_ + 1}/{args.rounds} done", file=sys.stderr)

    print(
        f"Python {sys.version.split()[0]}; {args.calls:,} calls x {args.rounds} rounds; "
        f"median of the per-round medians, microseconds per round trip (min-max of rounds)"
    )
    print(f"{'mechanism':<12}" + "".join(f"{layout:>24}" for layout, _, _ in layouts))
    for name in mechanisms:
        cells = []
        for layout, _, _ in layouts:
            values = results[(layout, name)]
            cells.append(f"{statistics.median(values):8.1f} ({min(values):.1f}-{max(values):.1f})")
        print(f"{name:<12}" + "".join(f"{c:>24}" for c in cells))
    plain.call_soon_threadsafe(plain.stop)
    thread.join(5)
    _loop.detach(facade_loop)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
