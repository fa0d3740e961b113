#!/usr/bin/env python3
"""examples/dask_fetch.py's throughput: a local Dask cluster against one plain process.

Starts nginx on a loopback port (as bench.py does, so the server is never the
bottleneck), then fetches the same URL list (nginx's 100-byte file, ``?n=i``
to make each URL distinct) repeatedly: on a ``LocalCluster`` of N worker
processes with one ``asynchttp.Http`` each, and with one ``Http`` in this
process. Cluster start-up is timed apart from the fetch. Prints medians.
Not a test; never run in CI.

    python benchmarks/dask_scale.py                       # 20,000 URLs, 2 workers, 3 repetitions
    python benchmarks/dask_scale.py --urls 50000 --workers 2 --batch 500 --reps 5
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
sys.path[:0] = [REPO, os.path.join(REPO, "examples"), HERE]

import _nginx  # noqa: E402
import cloudpickle  # noqa: E402
import dask_fetch  # noqa: E402
from dask.distributed import Client, LocalCluster  # noqa: E402

import asynchttp  # noqa: E402

# The workers cannot import examples/dask_fetch.py by name: ship its code with the tasks.
cloudpickle.register_pickle_by_value(dask_fetch)


def rate(count: int, seconds: float) -> float:
    return count / seconds


def cpu_seconds() -> float:
    """User + system CPU time of the calling process so far, all its threads."""
    times = os.times()
    return times.user + times.system


def cluster_cpu(client: Client) -> float:
    """CPU seconds of every worker process, plus this process (the scheduler and the client live here)."""
    return sum(client.run(cpu_seconds).values()) + cpu_seconds()


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--urls", type=int, default=20_000)
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--batch", type=int, default=500)
    p.add_argument("--max-connections", type=int, default=32)
    p.add_argument("--reps", type=int, default=3)
    args = p.parse_args()

    with _nginx.Nginx() as nginx:
        urls = ["%s?n=%d" % (nginx.small_url, n) for n in range(args.urls)]
        one, cluster_rates, starts, one_cpu, cluster_cpus = [], [], [], [], []
        for _ in range(args.reps):
            with asynchttp.Http(max_connections=args.max_connections) as http:
                started, cpu = time.perf_counter(), cpu_seconds()
                records = dask_fetch.fetch_with(http, list(enumerate(urls, 1)), args.max_connections)
                one.append(rate(len(records), time.perf_counter() - started))
                one_cpu.append((cpu_seconds() - cpu) / len(urls) * 1e6)
            assert all(record["status"] == 200 for record in records)

            started = time.perf_counter()
            with (
                LocalCluster(
                    n_workers=args.workers,
                    threads_per_worker=1,
                    processes=True,
                    host="127.0.0.1",
                    dashboard_address=None,
                ) as cluster,
                Client(cluster) as client,
            ):
                client.register_plugin(dask_fetch.HttpPerWorker(max_connections=args.max_connections))
                ready, cpu = time.perf_counter(), cluster_cpu(client)
                starts.append(ready - started)
                with open(os.devnull, "w") as devnull:
                    counts = dask_fetch.run(
                        client, iter(enumerate(urls, 1)), [], args.batch, args.max_connections, devnull
                    )
                cluster_rates.append(rate(sum(counts.values()), time.perf_counter() - ready))
                cluster_cpus.append((cluster_cpu(client) - cpu) / len(urls) * 1e6)
            assert counts == {"ok": len(urls)}

    cpus = os.cpu_count()
    print(
        f"{args.urls:,} URLs x 100 B from nginx on 127.0.0.1, {args.reps} repetitions, "
        f"{cpus} CPUs, Python {platform.python_version()}, max_connections={args.max_connections} per Http"
    )
    print(
        f"one process, one Http:        {statistics.median(one):8,.0f} URLs/s, "
        f"CPU {statistics.median(one_cpu):5,.0f} us/URL  (runs: " + ", ".join(f"{r:,.0f}" for r in one) + ")"
    )
    print(
        f"{args.workers} Dask workers, batch {args.batch}: {statistics.median(cluster_rates):8,.0f} URLs/s, "
        f"CPU {statistics.median(cluster_cpus):5,.0f} us/URL  (runs: "
        + ", ".join(f"{r:,.0f}" for r in cluster_rates)
        + ")"
    )
    print(
        "CPU: all processes of the run together (workers, scheduler and client), per URL; "
        f"load average at the end: {os.getloadavg()[0]:.1f}"
    )
    print(f"cluster start-up (not in the rate): {statistics.median(starts):.2f} s")


if __name__ == "__main__":
    main()
