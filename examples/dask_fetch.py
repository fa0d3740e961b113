"""Fetch YOUR list of URLs on a Dask cluster (needs ``pip install "asynchttp[dask]"``).

When one machine's CPU, not the network, limits how fast a long list of URLs is
fetched, the list can be fetched by the worker processes of a ``dask.distributed``
cluster. This script:

* reads the URL list as a stream (``-i FILE``, ``-i -`` for stdin; blank lines and
  ``#`` comments skipped; a line that is not an http(s) URL is reported with its line
  number and skipped), in batches of ``--batch`` lines, keeping at most two batches
  per worker queued, so a list of any length costs the client constant memory;
* gives each worker process ONE ``asynchttp.Http`` for its life (a worker plugin),
  which fetches each batch with the same bounded submission as the CLI (at most
  ``--window`` requests queued or in flight per worker), retries (``--retry``) and
  per-host politeness;
* shares the per-host rate across the workers: each worker's Http gets
  ``--rate / W`` requests per second per host (W workers; burst divided the same
  way, at least 1), and ``--per-host / W`` connections per host (at least 1). A host
  that every worker fetches from therefore sees at most ``--rate`` per second in all;
  a host only some workers happen to reach gets less than its share (the safe side);
* writes one JSONL (``-o FILE``, default stdout): per input line, its ``line``,
  ``url``, ``outcome`` (ok, redirect, client_error, server_error, error, malformed),
  ``status``, ``bytes``, ``attempts``, ``error``, and the ``worker`` that fetched it;
* prints a summary on stderr and exits 0 when every URL was answered 2xx/3xx, 1 when
  any request failed, was answered 4xx/5xx or a line was malformed, 2 on a usage error.

    python examples/dask_fetch.py -i urls.txt -o results.jsonl --workers 4 --rate 20
    python examples/dask_fetch.py -i - --scheduler tcp://host:8786 < urls.txt
    python examples/dask_fetch.py --demo 2000     # a local demo server and its URLs
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import sys
from collections import Counter
from typing import IO, Any, Iterable, Iterator, List, Optional, Sequence, Tuple
from urllib.parse import urlsplit

try:
    from dask.distributed import Client, LocalCluster, WorkerPlugin, get_worker, wait
except ImportError:  # pragma: no cover - the one-line message the README promises
    sys.exit('examples/dask_fetch.py needs Dask: pip install "asynchttp[dask]"')

import asynchttp

PLUGIN_NAME = "asynchttp-http"
QUEUED_BATCHES_PER_WORKER = 2

# (line number, URL) pairs: one batch of work
Batch = List[Tuple[int, str]]


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


def _outcome(status: int) -> str:
    return {2: "ok", 3: "redirect", 4: "client_error", 5: "server_error"}.get(status // 100, "informational")


def _windowed(http: asynchttp.Http, batch: Batch, window: int) -> Iterator[Tuple[Tuple[int, str], Any, Any]]:
    """(entry, (response, content) or None, error or None) for each entry, at most
    ``window`` requests outstanding: ``Http.imap`` where the library has it."""
    imap = getattr(http, "imap", None)
    if imap is not None:
        items = ({"uri": url, "tag": (line, url)} for line, url in batch)
        for outcome in imap(items, window=window):
            answer = None if outcome.error is not None else (outcome.response, outcome.content)
            yield outcome.tag, answer, outcome.error
        return
    from concurrent.futures import FIRST_COMPLETED
    from concurrent.futures import wait as wait_futures

    pending: dict[Any, Tuple[int, str]] = {}
    entries = iter(batch)
    while True:
        for line, url in itertools.islice(entries, window - len(pending)):
            pending[http.request(url)[0].future] = (line, url)
        if not pending:
            return
        finished, _ = wait_futures(pending, return_when=FIRST_COMPLETED)
        for future in finished:
            entry = pending.pop(future)
            error = future.exception()
            yield entry, (None if error is not None else future.result()), error


def fetch_batch(batch: Batch, window: int) -> List[dict]:
    """A Dask task: fetch one batch with this worker process's Http; one record per URL."""
    return fetch_with(get_worker().plugins[PLUGIN_NAME].http, batch, window)


def fetch_with(http: asynchttp.Http, batch: Batch, window: int) -> List[dict]:
    """One record per (line, URL) of ``batch``, fetched by ``http``, ``window`` at a time."""
    records = []
    for (line, url), answer, error in _windowed(http, batch, window):
        record: dict[str, Any] = {"line": line, "url": url, "worker": os.getpid()}
        if error is not None:
            record.update(outcome="error", status=None, bytes=0, error="%s: %s" % (type(error).__name__, error))
        else:
            response, content = answer
            record.update(outcome=_outcome(response.status), status=response.status, bytes=len(content), error=None)
        attempts = getattr(getattr(answer[0], "future", None), "attempts", None) if answer else None
        record["attempts"] = len(attempts) if attempts else 1
        records.append(record)
    return records


def _url_problem(url: str) -> Optional[str]:
    if any(ch.isspace() or ord(ch) < 32 for ch in url):
        return "whitespace or a control character in the URL"
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError as exc:
        return "not a valid URL (%s)" % exc
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        return "not an absolute http:// or https:// URL"
    return None


def read_entries(streams: Iterable[Tuple[str, IO[str]]], malformed: List[dict]) -> Iterator[Tuple[int, str]]:
    """(line, URL) of each fetchable line, lazily; malformed lines go to ``malformed``."""
    for name, stream in streams:
        for number, raw in enumerate(stream, 1):
            text = raw.strip()
            if not text or text.startswith("#"):
                continue
            problem = _url_problem(text)
            if problem is None:
                yield number, text
            else:
                print("dask_fetch: %s:%d: skipped: %s: %r" % (name, number, problem, text), file=sys.stderr)
                malformed.append({"line": number, "url": None, "text": text, "outcome": "malformed", "error": problem})


def run(
    client: Client,
    entries: Iterator[Tuple[int, str]],
    malformed: List[dict],
    batch_size: int,
    window: int,
    out: IO[str],
) -> Counter:
    """Feed the batches to the cluster, at most two queued per worker; write records as they come."""
    workers = max(1, len(client.scheduler_info()["workers"]))
    counts: Counter = Counter()

    def write(records: List[dict]) -> None:
        for record in records:
            counts[record["outcome"]] += 1
            out.write(json.dumps(record) + "\n")
        out.flush()

    batches = iter(lambda: list(itertools.islice(entries, batch_size)), [])
    outstanding: set = set()
    for batch in batches:
        outstanding.add(client.submit(fetch_batch, batch, window, pure=False))
        write(malformed)
        malformed.clear()
        while len(outstanding) >= QUEUED_BATCHES_PER_WORKER * workers:
            finished, not_done = wait(list(outstanding), return_when="FIRST_COMPLETED")
            outstanding = set(not_done)
            for future in finished:
                write(future.result())
    for future in outstanding:
        write(future.result())
    write(malformed)
    return counts


def http_options(args: argparse.Namespace, workers: int) -> dict:
    """Each worker's Http: the politeness limits divided among the workers."""
    options: dict[str, Any] = {
        "timeout": args.timeout,
        "max_connections": args.window,
        "max_connections_per_host": max(1, args.per_host // workers),
    }
    if args.retry:
        options["retry"] = asynchttp.Retry(attempts=args.retry + 1)
    if args.rate:
        burst = args.rate_burst if args.rate_burst is not None else max(1, int(args.rate))
        options["rate_limit"] = asynchttp.RateLimit(per_second=args.rate / workers, burst=max(1, burst // workers))
    return options


def parse_args(argv: Optional[Sequence[str]]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "-i",
        "--input",
        action="append",
        default=[],
        metavar="FILE",
        help="URLs, one per line ('-' for stdin); repeatable",
    )
    parser.add_argument("-o", "--output", metavar="FILE", help="the JSONL (default: stdout)")
    parser.add_argument("--workers", type=int, default=2, help="local worker processes (default 2)")
    parser.add_argument("--scheduler", help="address of a running scheduler instead of a local cluster")
    parser.add_argument("--batch", type=int, default=500, help="URLs per Dask task (default 500)")
    parser.add_argument(
        "--window", type=int, default=50, help="requests queued or in flight at once per worker (default 50)"
    )
    parser.add_argument("--per-host", type=int, default=8, help="connections per host over all workers (default 8)")
    parser.add_argument("--rate", type=float, help="requests per second per host over all workers (default: off)")
    parser.add_argument("--rate-burst", type=int, help="burst over all workers (default: one second's worth)")
    parser.add_argument("--retry", type=int, default=3, help="retries of a failed request (default 3; 0: none)")
    parser.add_argument("--timeout", type=float, default=30.0, help="seconds per attempt (default 30)")
    parser.add_argument("--demo", type=int, metavar="N", help="fetch N URLs of a local demo server instead")
    args = parser.parse_args(argv)
    for name in ("workers", "batch", "window", "per_host"):
        if getattr(args, name) < 1:
            parser.error("--%s must be at least 1" % name.replace("_", "-"))
    if args.retry < 0 or (args.rate is not None and args.rate <= 0) or args.timeout <= 0:
        parser.error("--retry must be 0 or more, --rate and --timeout above 0")
    if not args.input and not args.demo:
        parser.error("no URLs: give -i FILE (or -i - for stdin), or --demo N")
    if args.input.count("-") > 1:
        parser.error("-i - given twice")
    return args


def _streams(args: argparse.Namespace, demo_base: Optional[str]) -> List[Tuple[str, IO[str]]]:
    if demo_base is not None:
        from io import StringIO

        lines = "".join("%s/json?id=%d\n" % (demo_base, n) for n in range(args.demo))
        return [("<demo>", StringIO(lines))]
    streams = []
    for name in args.input:
        if name == "-":
            streams.append(("<stdin>", sys.stdin))
            continue
        try:
            streams.append((name, open(name, encoding="utf-8", errors="replace")))
        except OSError as exc:
            sys.exit("dask_fetch: cannot read %s: %s" % (name, exc.strerror))
    return streams


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = parse_args(argv)
    demo = None
    if args.demo:
        from asynchttp._demo import DemoServer

        demo = DemoServer(lifetime=600).__enter__()
    out = open(args.output, "a", encoding="utf-8") if args.output else sys.stdout
    cluster = None
    workers = 0
    try:
        if args.scheduler:
            client = Client(args.scheduler)
        else:
            cluster = LocalCluster(
                n_workers=args.workers, threads_per_worker=1, processes=True, host="127.0.0.1", dashboard_address=None
            )
            client = Client(cluster)
        try:
            workers = max(1, len(client.scheduler_info()["workers"]))
            client.register_plugin(HttpPerWorker(**http_options(args, workers)))
            malformed: List[dict] = []
            streams = _streams(args, demo.url("").rstrip("/") if demo is not None else None)
            counts = run(client, read_entries(streams, malformed), malformed, args.batch, args.window, out)
        finally:
            client.close()
    finally:
        if cluster is not None:
            cluster.close()
        if demo is not None:
            demo.__exit__(None, None, None)
        if out is not sys.stdout:
            out.close()
    total = sum(counts.values())
    print(
        "dask_fetch: %d lines on %d workers: %s"
        % (total, workers, ", ".join("%d %s" % (n, name) for name, n in sorted(counts.items()))),
        file=sys.stderr,
    )
    failed = total - counts["ok"] - counts["redirect"]
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
