"""What the per-request ``Http()`` pattern of httplib2 code costs, with the loop
thread that stops when idle (issue 11).

    python benchmarks/restart.py [--requests N] [--reps R]

Against the local nginx of bench.py (its 100-byte file), one request at a time,
touching each answer before the next, it times:

- ``long-lived``: one ``Http`` for every request (the reference: ratio 1.00);
- ``with Http()``: ``with asynchttp.Http() as h: h.request(url)`` per request, the
  loop kept between them by the idle grace (``asynchttp.IDLE_GRACE``, 0.5 s);
- ``Http() + close()``: httplib2's idiom, one Http per request closed after use;
- ``with Http(), restart``: as ``with Http()`` with ``IDLE_GRACE = 0``, so the loop
  thread stops whenever no Http is open and the next request starts a new one
  (epoll, socket pair, thread): the worst case of the rule;
- the same two patterns with ``httplib2.Http``, for scale;
- ``loop start + stop`` alone, without a request: what one restart costs.

Prints microseconds per request (median of the repetitions), the ratio to the
long-lived Http, and how many loop threads were started. Not a test: speed
depends on the machine and on what else runs.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from typing import Callable

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
sys.path.insert(0, HERE)

import httplib2  # noqa: E402

import _nginx  # noqa: E402
import asynchttp  # noqa: E402
from asynchttp import _loop  # noqa: E402


def long_lived(url: str, count: int) -> None:
    http = asynchttp.Http(proxy_info=None)
    for _ in range(count):
        assert len(http.request(url)[1]) == 100
    http.shutdown()


def with_http(url: str, count: int) -> None:
    for _ in range(count):
        with asynchttp.Http(proxy_info=None) as http:
            assert len(http.request(url)[1]) == 100


def http_and_close(url: str, count: int) -> None:
    for _ in range(count):
        http = asynchttp.Http(proxy_info=None)
        assert len(http.request(url)[1]) == 100
        http.close()


def httplib2_long_lived(url: str, count: int) -> None:
    http = httplib2.Http(proxy_info=None)
    for _ in range(count):
        assert len(http.request(url)[1]) == 100
    http.close()


def httplib2_per_request(url: str, count: int) -> None:
    for _ in range(count):
        http = httplib2.Http(proxy_info=None)
        assert len(http.request(url)[1]) == 100
        http.close()


def bare_restart(url: str, count: int) -> None:
    """The restart alone, no request: start the loop thread (selector, socket pair,
    thread), let it go, and join the thread once it has closed everything."""
    for _ in range(count):
        loop = _loop.attach()
        state = _loop._state
        assert state is not None
        loop.call_soon_threadsafe(_loop.detach, loop)
        state.thread.join()


# (label, function, IDLE_GRACE while it runs)
SCENARIOS: list[tuple[str, Callable[[str, int], None], float]] = [
    ("long-lived Http", long_lived, _loop.DEFAULT_IDLE_GRACE),
    ("with Http() per request", with_http, _loop.DEFAULT_IDLE_GRACE),
    ("Http() + close() per request", http_and_close, _loop.DEFAULT_IDLE_GRACE),
    ("with Http(), restart each time", with_http, 0.0),
    ("httplib2, long-lived", httplib2_long_lived, _loop.DEFAULT_IDLE_GRACE),
    ("httplib2, per request", httplib2_per_request, _loop.DEFAULT_IDLE_GRACE),
    ("loop start + stop alone", bare_restart, 0.0),
]


def wait_for_idle_stop(timeout: float = 10.0) -> None:
    """Until no loop thread runs (each scenario starts from the same state)."""
    deadline = time.monotonic() + timeout
    while _loop._state is not None and time.monotonic() < deadline:
        time.sleep(0.01)


def measure(url: str, count: int, reps: int) -> list[tuple[str, float, float]]:
    """Each repetition runs every scenario in turn (interleaved, so that a burst of
    load elsewhere on the machine spreads over all of them)."""
    samples: dict[str, list[float]] = {label: [] for label, _, _ in SCENARIOS}
    starts: dict[str, int] = {label: 0 for label, _, _ in SCENARIOS}
    for _ in range(reps):
        for label, function, grace in SCENARIOS:
            asynchttp.IDLE_GRACE = _loop.DEFAULT_IDLE_GRACE
            wait_for_idle_stop()
            asynchttp.IDLE_GRACE = grace
            before = _loop.loop_starts
            started = time.perf_counter()
            function(url, count)
            samples[label].append((time.perf_counter() - started) / count * 1e6)
            starts[label] += _loop.loop_starts - before
    asynchttp.IDLE_GRACE = _loop.DEFAULT_IDLE_GRACE
    return [(label, statistics.median(samples[label]), starts[label] / reps) for label, _, _ in SCENARIOS]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=2000, help="requests per repetition")
    parser.add_argument("--reps", type=int, default=5, help="repetitions (the median is shown)")
    args = parser.parse_args()
    try:
        with _nginx.Nginx() as server:
            rows = measure(server.small_url, args.requests, args.reps)
    except _nginx.NginxMissing as exc:
        print(exc, file=sys.stderr)
        return 2
    reference = rows[0][1]
    print("%d requests x %d repetitions, one at a time, 100-byte answer from local nginx" % (args.requests, args.reps))
    print("%-32s %10s %9s %14s" % ("pattern", "us/request", "ratio", "loop starts"))
    for label, micros, starts in rows:
        print("%-32s %10.0f %9.2f %14.1f" % (label, micros, micros / reference, starts))
    return 0


if __name__ == "__main__":
    sys.exit(main())
