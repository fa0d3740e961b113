"""One measurement in a fresh process: bench.py runs this once per client,
scenario and repetition, so no client inherits another's heap, imports or
warmed caches.

    python benchmarks/_runner.py CLIENT SCENARIO URL N CONCURRENCY SIZE

Prints one JSON object on its last stdout line. Exit status 3 with
{"na": reason} means the client cannot be measured here (not written yet).
Any wrong answer (status other than 200, wrong body length) fails the run.
"""

from __future__ import annotations

import asyncio
import collections
import json
import math
import os
import resource
import statistics
import sys
import threading
import time
from typing import Any

ASYNC_CLIENTS = ("asynchttp_lowhaio", "lowhaio", "aiohttp", "raw")


def peak_rss_mib() -> float:
    """This process's peak RSS (every thread), from VmHWM: the high-water mark of its
    own memory. Not ru_maxrss, which Linux carries over from the parent across
    fork/vfork and exec, so every client showed at least bench.py's own RSS (37 MiB
    for every client in the README's run, 43 once bench.py ran the delay proxy)."""
    with open("/proc/self/status", encoding="ascii") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # not Linux


def current_rss_kib() -> int:
    with open("/proc/self/status", encoding="ascii") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError("no VmRSS in /proc/self/status")


def check(status: int, body: bytes, size: int) -> None:
    if status != 200 or len(body) != size:
        raise AssertionError(f"bad answer: status {status}, {len(body)} bytes, wanted {size}")


def percentile(sorted_values: list[float], fraction: float) -> float:
    return sorted_values[max(0, math.ceil(fraction * len(sorted_values)) - 1)]


def sequential_result(timings_ns: list[int]) -> dict[str, Any]:
    timings_ns.sort()
    return {
        "median_us": statistics.median(timings_ns) / 1000,
        "p99_us": percentile([float(t) for t in timings_ns], 0.99) / 1000,
    }


def minor_faults() -> int:
    """Page faults so far (every thread): touching fresh memory, which the allocator
    handed back to the kernel, costs one each; on a VM that is a large share of the
    CPU per MiB."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt


def throughput_result(n: int, size: int, seconds: float, cpu: float, faults: int = 0) -> dict[str, Any]:
    return {
        "faults_per_req": faults / n,
        "seconds": seconds,
        "rps": n / seconds,
        "mbps": n * size / 1e6 / seconds,
        "cpu_us_per_req": cpu / n * 1e6,
        "peak_rss_mib": peak_rss_mib(),
    }


# ----- asyncio clients -------------------------------------------------------


async def run_async(name: str, scenario: str, url: str, n: int, concurrency: int, size: int) -> dict[str, Any]:
    import _core_clients

    client = _core_clients.make(name)
    await client.open(concurrency)
    get = client.get

    async def batch(count: int) -> None:
        # A fixed set of workers pulling from one counter: the concurrency is
        # exact and no client pays for creating `count` tasks.
        left = count

        async def worker() -> None:
            nonlocal left
            while left > 0:
                left -= 1
                status, body = await get(url)
                check(status, body, size)

        await asyncio.gather(*(worker() for _ in range(min(concurrency, count))))

    try:
        if scenario == "b":
            for _ in range(20):
                status, body = await get(url)
                check(status, body, size)
            timings: list[int] = []
            clock = time.perf_counter_ns
            for _ in range(n):
                start = clock()
                status, body = await get(url)
                timings.append(clock() - start)
                check(status, body, size)
            result = sequential_result(timings)
        else:
            # Warm-up opens the connections, so the timed part is steady state; not in
            # (h), which measures a cold client through the delay proxy.
            if scenario != "h":
                await batch(concurrency * 2)
            faults0, cpu0, t0 = minor_faults(), time.process_time(), time.perf_counter()
            await batch(n)
            t1, cpu1, faults1 = time.perf_counter(), time.process_time(), minor_faults()
            result = throughput_result(n, size, t1 - t0, cpu1 - cpu0, faults1 - faults0)
        result["client"] = client.describe()
        return result
    finally:
        await client.close()


# ----- blocking clients ------------------------------------------------------


def run_sync(name: str, scenario: str, url: str, n: int, concurrency: int, size: int) -> dict[str, Any]:
    import _facade_clients

    client = _facade_clients.make(name)
    client.open(concurrency)
    try:
        if scenario == "b":
            one = client.one
            for _ in range(20):
                status, body = one(url)
                check(status, body, size)
            timings: list[int] = []
            clock = time.perf_counter_ns
            for _ in range(n):
                start = clock()
                status, body = one(url)
                timings.append(clock() - start)
                check(status, body, size)
            result = sequential_result(timings)
        elif scenario == "e":
            result = queue_everything(client, url, n, size)
        else:
            if scenario != "h":
                client.batch(url, concurrency * 2, size)
            faults0, cpu0, t0 = minor_faults(), time.process_time(), time.perf_counter()
            client.batch(url, n, size)
            t1, cpu1, faults1 = time.perf_counter(), time.process_time(), minor_faults()
            result = throughput_result(n, size, t1 - t0, cpu1 - cpu0, faults1 - faults0)
        result["client"] = client.describe()
        return result
    finally:
        client.close()


def queue_everything(client: Any, url: str, n: int, size: int) -> dict[str, Any]:
    """(e): n requests queued at once on one asynchttp.Http, then each touched.

    Memory per queued request: the RSS growth from just before queuing to
    just after, over n. The loop thread serves requests meanwhile, so the
    growth to the peak, over n, is reported too. Each answer is dropped once
    touched, so the peak measures the queue, not answers kept by the caller."""
    request = client.http.request
    # Start the loop thread and the pool first: their one-time cost is not
    # a per-request cost.
    response, content = request(url)
    check(response.status, bytes(content), size)
    del response, content
    threads_before = threading.active_count()
    rss_before = current_rss_kib()
    t0 = time.perf_counter()
    pending = collections.deque(request(url) for _ in range(n))
    t_queued = time.perf_counter()
    rss_queued = current_rss_kib()
    threads_queued = threading.active_count()
    threads_max = threads_queued
    done = 0
    while pending:
        response, content = pending.popleft()
        check(response.status, bytes(content), size)
        done += 1
        if done % 1000 == 0:
            threads_max = max(threads_max, threading.active_count())
    del response, content
    t1 = time.perf_counter()
    return {
        "completed": done,
        "seconds": t1 - t0,
        "queue_seconds": t_queued - t0,
        "rps": n / (t1 - t0),
        "threads_before": threads_before,
        "threads_queued": threads_queued,
        "threads_max": threads_max,
        "threads_after": threading.active_count(),
        "queue_us_per_request": (t_queued - t0) / n * 1e6,
        "peak_rss_mib": peak_rss_mib(),
        "kib_per_request": (rss_queued - rss_before) / n,
        "peak_kib_per_request": (peak_rss_mib() * 1024 - rss_before) / n,
    }


def main(argv: list[str]) -> int:
    name, scenario, url, n_s, concurrency_s, size_s = argv
    n, concurrency, size = int(n_s), int(concurrency_s), int(size_s)
    from _core_clients import Unavailable

    profile_path = os.environ.get("BENCH_PROFILE")
    profiler = None
    if profile_path:
        import cProfile

        # Profiles the calling thread only: for asyncio clients that is the
        # event loop; for the facade, the loop thread is not in the profile.
        profiler = cProfile.Profile()
        profiler.enable()
    try:
        if name.startswith("shape:"):
            import _shapes

            ca = os.environ.get("BENCH_CA") or None
            result = _shapes.run_shape(name.split(":", 1)[1], url, n, concurrency, size, ca)
            result["client"] = f"{name} on {os.environ.get('BENCH_LOOP') or 'asyncio'}"
        elif name in ASYNC_CLIENTS:
            from _core_clients import run_on_chosen_loop

            result = run_on_chosen_loop(run_async(name, scenario, url, n, concurrency, size))
        else:
            result = run_sync(name, scenario, url, n, concurrency, size)
    except Unavailable as exc:
        print(json.dumps({"na": str(exc)}))
        return 3
    if profiler is not None and profile_path:
        import io
        import pstats

        profiler.disable()
        out = io.StringIO()
        stats = pstats.Stats(profiler, stream=out)
        stats.sort_stats("tottime").print_stats(40)
        stats.sort_stats("cumulative").print_stats(25)
        with open(profile_path, "w", encoding="utf-8") as f:
            f.write(f"{name} scenario {scenario}: {n} requests, concurrency {concurrency}\n")
            f.write(out.getvalue())
    result["pid"] = os.getpid()
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
