# Needs the dask extra: pip install '.[dask]' (it brings dask[distributed]).
"""Spread a list of URLs over a Dask cluster: one Http per worker process.

When one machine's CPU, not the network, limits how fast a list of URLs is
fetched, the list can be split into batches and fetched by the worker
processes of a ``dask.distributed`` cluster. Each worker process keeps ONE
``asynchttp.Http`` for its whole life (a worker plugin makes it at start-up
and closes it at shut-down), so its connections stay open from one batch to
the next; a batch queues all its requests at once and collects them as they
complete. Results stream back to the client with ``as_completed``, which
prints progress as batches finish.

Without arguments it starts a local demo server and a 2-process cluster on
127.0.0.1, fetches 2,000 URLs, and prints what it got:

    python examples/dask_fetch.py
    python examples/dask_fetch.py --urls 20000 --compare   # and time one plain process too
    python examples/dask_fetch.py --scheduler tcp://host:8786 --base-url http://...

Needs the ``dask`` extra: ``pip install '.[dask]'`` (it brings
``dask[distributed]``). ``--base-url URL`` asks that server for the demo server's
paths (``/json?id=N``; ``/status/404?n=N`` for every tenth N) instead of a local
demo server: to fetch your own list, replace ``make_urls``.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import sys
import time
from collections import Counter
from typing import Any, List, Optional, Sequence, Tuple

try:
    from dask.distributed import Client, LocalCluster, WorkerPlugin, as_completed, get_worker
except ImportError as missing:  # the one extra this example needs
    sys.exit(
        "examples/dask_fetch.py needs the dask extra: pip install '.[dask]' "
        "(or pip install 'dask[distributed]'): %s" % missing
    )

import asynchttp
from asynchttp._demo import DemoServer

PLUGIN_NAME = "asynchttp-http"

# (path and query, status or 0 for an error, sha256 of the body or the error's class name)
Result = Tuple[str, int, str]
# (worker process id, id of the Http that fetched it, results)
Batch = Tuple[int, int, List[Result]]


class HttpPerWorker(WorkerPlugin):
    """Gives each worker process one ``asynchttp.Http``, made at start-up and closed at shut-down."""

    name = PLUGIN_NAME

    def __init__(self, **options: Any) -> None:
        self.options = options
        self.http: Optional[asynchttp.Http] = None

    def setup(self, worker: Any) -> None:
        self.http = asynchttp.Http(**self.options)

    def teardown(self, worker: Any) -> None:
        if self.http is not None:
            self.http.close()
            self.http = None


def fetch_all(http: asynchttp.Http, urls: Sequence[str]) -> List[Result]:
    """Queue every URL on ``http`` at once, then collect the answers (an error is a result too)."""
    futures = [http.request(url)[0].future for url in urls]
    results: List[Result] = []
    for url, future in zip(urls, futures, strict=True):
        path = url.split("/", 3)[-1]
        try:
            response, content = future.result()
        except Exception as exc:  # one bad URL must not lose the rest of its batch
            results.append((path, 0, type(exc).__name__))
        else:
            results.append((path, response.status, hashlib.sha256(content).hexdigest()))
    return results


def fetch_batch(urls: Sequence[str]) -> Batch:
    """A Dask task: fetch one batch with this worker process's Http."""
    http = get_worker().plugins[PLUGIN_NAME].http
    return os.getpid(), id(http), fetch_all(http, urls)


def fetch_on_cluster(
    client: Client, urls: Sequence[str], batch_size: int, progress: bool = True
) -> Tuple[List[Result], dict]:
    """Fetch ``urls`` in batches on the cluster's workers; returns the results and who fetched them."""
    batches = [urls[i : i + batch_size] for i in range(0, len(urls), batch_size)]
    futures = client.map(fetch_batch, batches, pure=False)
    results: List[Result] = []
    https_per_process: dict = {}
    step = max(len(urls) // 10, 1)
    for _future, (pid, http_id, batch) in as_completed(futures, with_results=True):
        results.extend(batch)
        https_per_process.setdefault(pid, set()).add(http_id)
        if progress and (len(results) // step != (len(results) - len(batch)) // step or len(results) == len(urls)):
            print("progress: %d/%d URLs" % (len(results), len(urls)), file=sys.stderr, flush=True)
    return results, https_per_process


def digest(results: Sequence[Result]) -> str:
    """One fingerprint of all the results, whatever order they arrived in."""
    return hashlib.sha256(repr(sorted(results)).encode()).hexdigest()


def make_urls(base_url: str, count: int) -> List[str]:
    # Every tenth a 404 (a result like any other); the others JSON documents.
    return [base_url + ("/status/404?n=%d" % n if n % 10 == 9 else "/json?id=%d" % n) for n in range(count)]


def summary(label: str, results: Sequence[Result], seconds: float) -> None:
    statuses = Counter(status for _, status, _ in results)
    print("%s: %d URLs in %.2f s (%.0f URLs/s)" % (label, len(results), seconds, len(results) / seconds))
    print("%s statuses: %s" % (label, ", ".join("%d x %d" % pair for pair in sorted(statuses.items()))))


def run_cluster(args: argparse.Namespace, urls: List[str]) -> str:
    """The cluster run: start (or join) the cluster, give each worker an Http, fetch, report."""
    started = time.perf_counter()
    if args.scheduler:
        cluster = None
        client = Client(args.scheduler)
    else:
        cluster = LocalCluster(
            n_workers=args.workers, threads_per_worker=1, processes=True, host="127.0.0.1", dashboard_address=None
        )
        client = Client(cluster)
    try:
        client.register_plugin(HttpPerWorker(max_connections=args.max_connections))
        ready = time.perf_counter()
        print("cluster ready in %.2f s" % (ready - started))
        results, https = fetch_on_cluster(client, urls, args.batch, progress=not args.quiet)
        summary("cluster", results, time.perf_counter() - ready)
        print(
            "cluster: %d worker processes, Http objects per process: %s"
            % (len(https), sorted({len(ids) for ids in https.values()}))
        )
        print("worker pids: %s" % " ".join(str(pid) for pid in sorted(https)))
    finally:
        client.close()
        if cluster is not None:
            cluster.close()
    print("cluster digest: %s" % digest(results))
    return digest(results)


def run_one_process(args: argparse.Namespace, urls: List[str]) -> str:
    """The same URLs with one Http in this process, for comparison."""
    with asynchttp.Http(max_connections=args.max_connections) as http:
        started = time.perf_counter()
        results = fetch_all(http, urls)
        summary("one process", results, time.perf_counter() - started)
    print("one process digest: %s" % digest(results))
    return digest(results)


def parse_args(argv: Optional[Sequence[str]]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--urls", type=int, default=2000, help="how many URLs (default 2000)")
    parser.add_argument("--workers", type=int, default=2, help="local worker processes (default 2)")
    parser.add_argument(
        "--batch", type=int, default=500, help="URLs per Dask task (default 500: a task costs milliseconds of overhead)"
    )
    parser.add_argument("--max-connections", type=int, default=20, help="connections of each Http (default 20)")
    parser.add_argument("--compare", action="store_true", help="also fetch them all with one Http here")
    parser.add_argument("--scheduler", help="address of a running scheduler instead of a local cluster")
    parser.add_argument(
        "--base-url",
        help="a server answering the demo server's paths (/json?id=N, /status/404?n=N), asked instead of a local one",
    )
    parser.add_argument("--quiet", action="store_true", help="no progress lines")
    args = parser.parse_args(argv)
    for name in ("urls", "workers", "batch", "max_connections"):
        if getattr(args, name) < 1:
            parser.error("--%s must be at least 1" % name.replace("_", "-"))
    return args


def main(argv: Optional[Sequence[str]] = None) -> None:
    args = parse_args(argv)
    if args.base_url:
        urls = make_urls(args.base_url.rstrip("/"), args.urls)
        same = run_cluster(args, urls) == (run_one_process(args, urls) if args.compare else None)
    else:
        with DemoServer(lifetime=600) as server:
            urls = make_urls(server.url("").rstrip("/"), args.urls)
            same = run_cluster(args, urls) == (run_one_process(args, urls) if args.compare else None)
    if args.compare:
        print("same results both ways: %s" % ("yes" if same else "NO"))


if __name__ == "__main__":
    main()
