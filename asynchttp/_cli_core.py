"""The CLI's fast engine: the job sent through the core pool directly, on this thread.

``asynchttp.Http`` costs each request two thread hand-offs and httplib2's per-request
policies (cache, authentication, proxies, content decoding); for a plain bulk job
that is most of the CPU (about 0.25x curl's rate on small answers). This engine runs
the same job on an asyncio loop in the calling thread over ``asynchttp_lowhaio.Pool``:
``concurrency`` workers pull entries from the input and each carries one request
through the same policies as the facade's (``_retry.after_answer``/``after_failure``
for retries, ``_ratelimit.Buckets`` for the per-host rate, taken once the request
holds its connection, redirects as httplib2 follows them), and errors are reported
as the facade would raise them (``_errors.to_httplib2_error``).

It is used (``--engine auto``) when the job needs nothing only the facade has: no
``--cache``, no ``-o``, no proxy in the environment, no ``-v``, and input from arguments or
regular files (a pipe is read on the facade's engine, whose reads do not hold up the
requests in flight). Bodies are not decoded: no Accept-Encoding is sent.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import os
import signal
import ssl
from typing import Any, Callable, Iterator, Optional
from urllib.parse import urljoin, urlsplit

import asynchttp_lowhaio as core

from . import _errors, _ratelimit, _retry
from ._cli_input import DoneSet, Inputs, Item, Malformed
from ._cli_job import Job, JobConfig, Record, Stats, Stopper, error_phase, outcome_of_status
from ._loop import import_uvloop, loop_kind

__all__ = ["eligible", "run_core_job"]

logger = logging.getLogger("asynchttp.cli")

_REDIRECTS = frozenset({300, 301, 302, 303, 307, 308})
_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})  # httplib2's SAFE_METHODS
_PROXY_VARIABLES = ("http_proxy", "https_proxy", "all_proxy")
MAX_REDIRECTS = 5  # httplib2's DEFAULT_MAX_REDIRECTS


def eligible(config: JobConfig, inputs: Optional[Inputs], verbose: bool = False) -> Optional[str]:
    """Why this job needs the facade's engine, or None when the core engine can run it."""
    if verbose:
        return "-v"
    if config.cache is not None:
        return "--cache"
    if config.output_dir is not None:
        return "-o"
    if any(os.environ.get(name) or os.environ.get(name.upper()) for name in _PROXY_VARIABLES):
        return "a proxy in the environment"
    if inputs is not None and any(source.size is None for source, _ in inputs.opened):
        return "input from a pipe"
    return None


def _ssl_context(config: JobConfig) -> ssl.SSLContext:
    if config.insecure:
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        return context
    cafile = config.ca_certs
    if cafile is None:
        import asynchttp

        cafile = asynchttp.CA_CERTS  # httplib2's bundle, as the facade uses it
    return ssl.create_default_context(cafile=cafile)


class CoreJob(Job):
    """The job of ``Job``, its requests carried by the core on this thread's loop."""

    def __init__(
        self,
        entries: Iterator[Item | Malformed],
        config: JobConfig,
        on_record: Callable[[Record], None],
        done: Optional[DoneSet] = None,
        stopper: Optional[Stopper] = None,
    ) -> None:
        super().__init__(entries, config, on_record, done, stopper)
        self.loop: Optional[asyncio.AbstractEventLoop] = None
        self.tasks: list[asyncio.Task[None]] = []
        self.grace_timer: Optional[asyncio.TimerHandle] = None
        self.buckets: Optional[_ratelimit.Buckets] = None
        self.request: Any = None
        method = config.method
        self.method = method.encode("ascii")
        headers = []
        if not any(name.lower() == "user-agent" for name in config.headers):
            headers.append((b"user-agent", b"asynchttp-cli"))
        for name, value in config.headers.items():
            headers.append((name.encode("latin-1"), value.encode("latin-1")))
        if config.body is not None and not any(name.lower() == "content-length" for name in config.headers):
            headers.append((b"content-length", str(len(config.body)).encode("ascii")))
        self.headers = tuple(headers)
        # after a 302/303 the body is dropped, and with it its framing
        self.headers_without_body = tuple(pair for pair in headers if pair[0].lower() != b"content-length")

    # the loop side ------------------------------------------------------------

    def _on_signal(self, name: str) -> None:
        stopper = self.stopper
        if stopper.requested is not None:
            self._abort()
            return
        stopper.requested = name
        if stopper.on_stop is not None:
            stopper.on_stop(name)
        assert self.loop is not None
        self.grace_timer = self.loop.call_later(stopper.grace, self._abort)

    def _abort(self) -> None:
        for task in self.tasks:
            task.cancel()

    async def _worker(self) -> None:
        try:
            await self._work()
        except asyncio.CancelledError:
            raise
        except BaseException:
            # not a request's failure (those are records): a closed stdout, a bug.
            # The other workers stop too, and the job ends with this exception.
            self._abort()
            raise

    async def _work(self) -> None:
        loop = self.loop
        assert loop is not None
        # the entries to fetch, shared by the workers (Job.items deals with malformed
        # lines and lines done before); None at the end of the input or after a stop
        items = self._items
        while True:
            item = next(items, None)
            if item is None:
                return
            n = self.n
            queued = loop.time()
            try:
                record = await self._fetch(n, item, queued)
            except asyncio.CancelledError:
                self._emit(Record(item.source, item.line, item.url, "cancelled", n=n, seconds=loop.time() - queued))
                raise
            self._emit(record)

    async def _body(self) -> Any:
        yield self.config.body

    async def _fetch(self, n: int, item: Item, queued: float) -> Record:
        # The hot path of a bulk job: one record built at the end, the clock read once
        # per event, nothing allocated for what did not happen (a retry, a redirect).
        loop = self.loop
        assert loop is not None
        now = loop.time
        config = self.config
        retry = config.retry
        retry_statuses = retry.statuses if retry is not None else ()
        request = self.request
        buckets = self.buckets
        url = item.url
        method, method_text = self.method, config.method
        has_body = config.body is not None
        reasons: list[str] = []
        tries = 0  # sends of this URL (reset by a redirect), for the retry policy
        sends = 0
        hops = 0
        first_try = queued
        connected = tls_done = first_byte = None
        while True:
            tries += 1
            sends += 1
            before_send = None
            if buckets is not None:
                # the token is taken once the request holds its connection (as the facade does)
                parts = urlsplit(url)
                before_send = functools.partial(buckets.take, parts.scheme.lower(), parts.netloc)
            try:
                code, headers, body = await request(
                    method,
                    url,
                    headers=self.headers if has_body else self.headers_without_body,
                    body=self._body if has_body else core.empty_async_iterator,
                    before_send=before_send,
                )
                first_byte = now()
                opened = body.opened
                if opened is not None:
                    connected, tls_done = opened
                nbytes = 0
                async for chunk in body:
                    nbytes += len(chunk)
            except core.HttpError as exc:
                decision = (
                    _retry.after_failure(retry, exc, method_text, tries, now() - first_try)
                    if retry is not None
                    else None
                )
                if decision is not None and decision.retry:
                    reasons.append(decision.reason)
                    await asyncio.sleep(decision.delay)
                    continue
                parts = urlsplit(url)  # the message names host and port, as the facade's does
                port = parts.port or (443 if parts.scheme == "https" else 80)
                done = now()
                return Record(
                    item.source,
                    item.line,
                    item.url,
                    "error",
                    n=n,
                    error=_errors.to_httplib2_error(exc, parts.hostname or "", port=port),
                    phase=error_phase(exc),
                    seconds=done - queued,
                    attempts=sends,
                    retries=reasons,
                    raw_times=(queued, connected, tls_done, first_byte, done),
                )
            status = int(code)
            if status in retry_statuses:
                retry_after = _header(headers, b"retry-after")
                decision = _retry.after_answer(retry, method_text, status, retry_after, tries, now() - first_try)
                if decision is not None and decision.retry:
                    reasons.append(decision.reason)
                    await asyncio.sleep(decision.delay)
                    continue
            if status in _REDIRECTS and config.follow_redirects and hops < MAX_REDIRECTS:
                location = _header(headers, b"location")
                # httplib2's rule: a safe method follows every redirect, any method a 303 or 308
                if location and (method_text in _SAFE_METHODS or status in (303, 308)):
                    hops += 1
                    reasons.append("redirect (%d)" % status)
                    url = urljoin(url, location)
                    if status in (302, 303):
                        # and follows 302 and 303 with GET, without the body
                        method, method_text, has_body = b"GET", "GET", False
                    tries = 0
                    first_try = now()
                    continue
            done = now()
            return Record(
                item.source,
                item.line,
                item.url,
                outcome_of_status(status),
                n=n,
                status=status,
                final_url=url,
                nbytes=nbytes,
                seconds=done - queued,
                attempts=sends,
                retries=reasons,
                raw_times=(queued, connected, tls_done, first_byte, done),
            )

    async def _main(self) -> None:
        loop = self.loop = asyncio.get_running_loop()
        config = self.config
        logger.debug("core engine: %d workers on %s.%s", config.concurrency, type(loop).__module__, type(loop).__name__)
        if config.rate_limit is not None:
            self.buckets = _ratelimit.Buckets(config.rate_limit)
        per_host = config.per_host or config.concurrency
        # no --timeout: the core's defaults, as the facade's Http(timeout=None) has them
        timeouts: dict[str, Any] = {}
        if config.timeout is not None:
            timeouts = {"socket_timeout": config.timeout, "connect_timeout": config.timeout}
        self.request, close = core.Pool(
            # made by the core on the first https request (loading the CA bundle costs
            # as much as a thousand small requests; a job of http:// URLs never needs it)
            get_ssl_context=functools.partial(_ssl_context, config),
            **timeouts,
            max_connections=max(config.concurrency, 1),
            max_connections_per_host=per_host,
            max_idle_connections=max(config.concurrency, 1),
        )
        installed = []
        try:
            for signum in (signal.SIGINT, signal.SIGTERM):
                try:
                    loop.add_signal_handler(signum, self._on_signal, signal.Signals(signum).name)
                    installed.append(signum)
                except (ValueError, RuntimeError):  # not the main thread
                    pass
            self.tasks = [loop.create_task(self._worker()) for _ in range(config.concurrency)]
            await asyncio.gather(*self.tasks, return_exceptions=True)
            for task in self.tasks:
                if not task.cancelled() and task.exception() is not None:
                    raise task.exception()  # type: ignore[misc]  # not a request's failure
        finally:
            if self.grace_timer is not None:
                self.grace_timer.cancel()
            for signum in installed:
                loop.remove_signal_handler(signum)
            await close()

    def run(self) -> Stats:
        stats = self.stats
        import gc
        import time

        started = time.perf_counter()
        self._items = self.items()
        threshold = gc.get_threshold()
        if os.environ.get("ASYNCHTTP_CLI_GC") != "default":
            # Everything alive now (modules, the job's state) is kept out of the
            # collector's scans, and the youngest generation is collected every 20,000
            # allocations instead of 700: the requests allocate a lot and leave few
            # cycles, so the default spends a large share of the job's CPU scanning.
            gc.freeze()
            gc.set_threshold(20_000, threshold[1], threshold[2])
        try:
            if loop_kind() == "uvloop":
                # ASYNCHTTP_LOOP=uvloop, as the facade's loop thread honours it
                import_uvloop().run(self._main())
            else:
                asyncio.run(self._main())
        finally:
            gc.set_threshold(*threshold)
            gc.unfreeze()
            stats.stopped_by = self.stopper.requested
            stats.elapsed = time.perf_counter() - started
        return stats


def _header(headers: Any, name: bytes) -> Optional[str]:
    for key, value in headers:
        if key.lower() == name:
            return str(value.decode("latin-1"))
    return None


def run_core_job(
    entries: Iterator[Item | Malformed],
    config: JobConfig,
    on_record: Callable[[Record], None],
    done: Optional[DoneSet] = None,
    stopper: Optional[Stopper] = None,
) -> Stats:
    return CoreJob(entries, config, on_record, done, stopper).run()
