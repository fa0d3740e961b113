"""Http and BlockingHttp: httplib2's API over the core pool, on the background loop.

The caller's thread does only what needs no I/O: it checks the arguments the way
httplib2 would (so a relative URI or a CR in a header raises at the call), builds a
small job (the job IS the request's Future), appends it to the ``Http``'s queue and
wakes the loop, once per batch: a flag says a drain is already scheduled, so a tight
loop of N submissions costs one wake-up, not N.

On the loop, each ``Http`` has a ``_Client``: its core pool and a bounded set of
long-lived runner coroutines (at most ``max_connections``) that pop jobs in
submission order and run the request pipeline on them (httplib2's policies,
``_semantics.run_httplib2_request``, over ``send_once``). No Task per request, no
thread per request: any number of jobs may wait in the queue.

``_Client.send_once`` is the seam with the httplib2-semantics layer: one HTTP request
over the pool, no policy, answered as ``(httplib2.Response, bytes)`` or httplib2's
exception (``_errors.to_httplib2_error``).
"""

from __future__ import annotations

import asyncio
import collections
import concurrent.futures
import contextvars
import functools
import itertools
import logging
import re
import socket
import ssl
import sys
import threading
import traceback
import weakref
from typing import Any, Callable, Iterable, Mapping, Optional

import httplib2

import asynchttp_lowhaio
from asynchttp_lowhaio import HttpConnectError, HttpConnectTimeoutError, HttpDnsError, HttpError
from asynchttp_lowhaio._rules import DEFAULT_PORTS as _DEFAULT_PORTS
from asynchttp_lowhaio._rules import without_userinfo

from . import _httplib2, _loop, _proxy, _uri
from ._errors import PHASE_BODY, PHASE_HEAD, ShutdownError, describe, to_httplib2_error
from ._promise import (
    CANCELLED_AND_NOTIFIED,
    PENDING,
    ContentPromise,
    Promise,
    RequestFuture,
    ResponsePromise,
    run_done_callbacks,
)

# The request pipeline: httplib2's policies (cache, auth, redirects, decoding,
# retries) over send_once; any coroutine with run_httplib2_request's signature fits.
from ._semantics import (
    FILE_BLOCK,
    ChunkedBody,
    _send_with_retries,  # httplib2's _conn_request over send_once
    body_bytes,
    default_user_agent,
    exception_to_response,
)
from ._semantics import run_httplib2_request as _run_request

__all__ = ["Http", "BlockingHttp", "ShutdownError", "split_uri", "build_response"]

logger = logging.getLogger("asynchttp")
_DEBUG = logging.DEBUG

DEFAULT_MAX_REDIRECTS = httplib2.DEFAULT_MAX_REDIRECTS

# httplib2's own class, taken once at import: users swap ``httplib2.Http`` for ours
# (``httplib2.Http = asynchttp.BlockingHttp``), so looking it up at call time would
# find this module's class and call itself forever.
_HTTPLIB2_HTTP = httplib2.Http

# The core's keyword options an Http passes through (see asynchttp_lowhaio.Pool).
CORE_OPTIONS = frozenset(
    {
        "get_dns_resolver", "get_sock", "get_ssl_context", "http_version",
        "keep_alive_timeout", "recv_bufsize", "max_header_length", "max_header_count",
        "socket_timeout", "connect_timeout", "response_head_timeout",
        "max_wait_connection_seconds", "max_requests_per_connection",
        "max_idle_connections", "get_logger_adapter", "get_resolver_logger_adapter",
        "get_tunnel",
    }
)

# http.client's own checks, applied at the call (it raises ValueError there too).
_BAD_HEADER_NAME = re.compile(r"[\x00-\x20\x7f:]|^$")
_BAD_HEADER_VALUE = re.compile(r"[\r\n\x00]")
# obs-fold (a line break followed by whitespace): http.client sends it as is, the core
# refuses it; RFC 9112 5.2 lets a sender replace it by one space, as httplib2 meant to.
_OBS_FOLD = re.compile(r"\r?\n[ \t]+")
_BAD_METHOD = re.compile(r"[\x00-\x20\x7f]|^$")
# http.client sends Content-Length: 0 for these methods when there is no body.
_METHODS_EXPECTING_BODY = frozenset({"PATCH", "POST", "PUT"})

_LOGGED_URI_MAX = 300

_request_ids = itertools.count(1)
_http_ids = itertools.count(1)


# ---------------------------------------------------------------------------
# URI handling (pure, cached: the same few URIs are requested again and again)

def split_uri(uri: str) -> tuple[str, str, str, str]:
    """httplib2's reading of ``uri``: ``(scheme, authority, request_uri, defrag_uri)``.

    IRIs are percent-encoded, spaces/CR/LF escaped (as httplib2 does against header
    injection), then normalised; a relative URI raises ``httplib2.RelativeURIError``.
    The work and its bounded cache are the semantics layer's (``_uri.split_uri``).
    """
    if not isinstance(uri, str):
        raise TypeError("uri must be str, not %s" % type(uri).__name__)
    target = _uri.split_uri(uri)
    return target.scheme, target.authority, target.request_uri, target.defrag_uri


def _host_of(authority: str) -> str:
    """The host of an authority, as http.client would connect to it."""
    hostport = authority.rpartition("@")[2]
    if hostport.startswith("["):
        return hostport[1 : hostport.find("]")]
    host, sep, port = hostport.rpartition(":")
    if sep and port.isdigit():
        return host
    return hostport


def _safe_uri(uri: str) -> str:
    """``uri`` without user:password, for logs."""
    try:
        scheme, authority, request_uri, _ = split_uri(uri)
    except Exception:
        return "<unparsable uri>"
    text = without_userinfo("%s://%s%s" % (scheme, authority, request_uri))
    return text if len(text) <= _LOGGED_URI_MAX else text[:_LOGGED_URI_MAX] + "..."


# ---------------------------------------------------------------------------
# Argument checks done at the call, as httplib2 + http.client would raise them


def _check_headers(headers: Any) -> Optional[dict[str, str]]:
    """A caller's headers as httplib2's ``request()`` takes them: normalised (names
    lower-cased), each field checked as http.client checks it."""
    if headers is None:
        return None
    return _check_fields(_httplib2.normalize_headers(headers))


def _check_fields(fields: dict[str, str]) -> dict[str, str]:
    """Refuse what http.client refuses (a bad name, CR/LF/NUL in a value); an obs-fold
    becomes one space (RFC 9112 5.2), as httplib2 meant its folding to do."""
    for name, value in fields.items():
        if _BAD_HEADER_NAME.search(name):
            raise ValueError("Invalid header name %r" % (name.encode("latin-1", "replace"),))
        if _BAD_HEADER_VALUE.search(value):
            folded = _OBS_FOLD.sub(" ", value)
            if _BAD_HEADER_VALUE.search(folded):
                raise ValueError("Invalid header value %r" % (value.encode("latin-1", "replace"),))
            fields[name] = folded
    return fields


def _as_sent(headers: Mapping[Any, Any]) -> dict[str, str]:
    """Headers as httplib2's ``_conn_request`` hands them to http.client: every key as
    given, so two keys that differ only in case are two fields on the wire (a
    subclass's ``Authorization`` beside httplib2's own ``authorization``), checked
    field by field."""
    fields = {
        (k.decode("utf-8") if isinstance(k, bytes) else str(k)): (v.decode("utf-8") if isinstance(v, bytes) else str(v))
        for k, v in headers.items()
    }
    return _check_fields(fields)


# Chunks framed per write: a big file goes out in bounded pieces, never copied whole.
_CHUNKS_PER_WRITE = 64


def _chunk_sizes(body: "ChunkedBody") -> Iterable[int]:
    if body.sizes is not None:
        return body.sizes
    full, rest = divmod(len(body), FILE_BLOCK)
    return itertools.chain(itertools.repeat(FILE_BLOCK, full), (rest,) if rest else ())


def _chunked_stream(body: "ChunkedBody") -> Callable[..., Any]:
    """``body`` in chunked framing, byte for byte as http.client writes it (upper-case
    hex sizes, one chunk per block it read), as the core's body callable."""

    async def stream(*_: Any, **__: Any) -> Any:
        view = memoryview(body)
        start = 0
        pieces: list[Any] = []
        for size in _chunk_sizes(body):
            pieces += (b"%X\r\n" % size, view[start : start + size], b"\r\n")
            start += size
            if len(pieces) >= 3 * _CHUNKS_PER_WRITE:
                yield b"".join(pieces)
                pieces = []
        pieces.append(b"0\r\n\r\n")
        yield b"".join(pieces)

    return stream


def _capture_stack() -> traceback.StackSummary:
    """Where request() was called from (for a failing callback's log), cheaply."""
    frame = sys._getframe(3)
    return traceback.StackSummary.extract(traceback.walk_stack(frame), limit=30, lookup_lines=False)


# ---------------------------------------------------------------------------
# The job: one request, and its Future


class _Job(RequestFuture):
    """A queued request. Small on purpose: any number of them may wait."""

    __slots__ = (
        "http", "client", "uri", "method", "body", "headers", "redirections",
        "connection_type", "callback", "request_id", "task", "stack", "flow",
    )

    def __init__(
        self,
        http: "Http",
        client: "_Client",
        uri: str,
        method: str,
        body: Optional[bytes],
        headers: Optional[dict[str, str]],
        redirections: int,
        connection_type: Any,
        callback: Optional[Callable[[Promise], Any]],
        flow: Optional["_Flow"] = None,
    ) -> None:
        RequestFuture.__init__(self)
        self.http = http
        self.client = client
        self.uri = uri
        self.method = method
        self.body = body
        self.headers = headers
        self.redirections = redirections
        self.connection_type = connection_type
        self.callback = callback
        self.request_id = next(_request_ids)
        self.task: Optional[asyncio.Task[Any]] = None
        self.stack: Optional[traceback.StackSummary] = None
        self.flow = flow

    def _drop_request(self) -> None:
        """The request went out and came back: forget what only sending needed, so a
        kept promise holds its answer, not the upload body or the Http."""
        self.http = None  # type: ignore[assignment]
        self.body = None
        self.headers = None
        self.connection_type = None

    def _after_cancel(self) -> None:
        if logger.isEnabledFor(_DEBUG):
            logger.debug("request %d cancelled: %s %s", self.request_id, self.method, _safe_uri(self.uri))
        self.client.cancel_in_flight(self)

    def _dispatch_callbacks(self, callbacks: list[Callable[[Any], Any]]) -> None:
        self.client.workers.submit(run_done_callbacks, self, callbacks)

    def _log_wait(self) -> None:
        if logger.isEnabledFor(_DEBUG):
            logger.debug("request %d waited on: %s %s", self.request_id, self.method, _safe_uri(self.uri))

    def __repr__(self) -> str:
        return "<request %d %s %s state=%s>" % (
            self.request_id, self.method, _safe_uri(self.uri), self._state,
        )


def _run_callback(job: _Job, result: Optional[tuple[Any, Any]], error: Optional[BaseException]) -> None:
    """On a worker thread: the user's callback, then release the readers."""
    if not job._begin_running():
        return  # cancelled while its callback was queued
    response, content = result if result is not None else (None, None)
    promise = Promise(job, response, content, error, job.request_id, job.uri, job.method)
    debug = logger.isEnabledFor(_DEBUG)
    if debug:
        logger.debug("request %d callback start: %s %s", job.request_id, job.method, _safe_uri(job.uri))
    try:
        job.callback(promise)  # type: ignore[misc]
    except BaseException as exc:  # even SystemExit must not leave the readers hanging
        stack = "".join(job.stack.format()) if job.stack is not None else "(unknown)\n"
        logger.error(
            "request %d: callback %r failed; the request was made at:\n%s",
            job.request_id, job.callback, stack, exc_info=True,
        )
        # delivered to the readers, like any other error of the callback
        final_error: Optional[BaseException] = promise.exception if promise.exception is not None else exc
    else:
        final_error = promise.exception
    if debug:
        logger.debug("request %d callback end", job.request_id)
    job.callback = job.stack = None
    if debug:  # before the readers wake (one of them may read the log at once)
        logger.debug("request %d resolved", job.request_id)
    if final_error is None:
        job._settle((promise.response, promise.content), None)
    else:
        job._settle(None, final_error)


# ---------------------------------------------------------------------------
# Response building


# Header names seen so far, decoded once and shared by every Response that has them
# (a kept response then holds one "content-type", not one per response). Bounded.
_header_names: dict[bytes, str] = {}
_HEADER_NAMES_MAX = 1024


def _header_name(name: bytes) -> str:
    text = sys.intern(name.decode("latin-1").lower())
    if len(_header_names) < _HEADER_NAMES_MAX:
        _header_names[name] = text
    return text


def build_response(code: bytes, headers: Iterable[tuple[bytes, bytes]], reason: bytes, version: bytes) -> httplib2.Response:
    """An ``httplib2.Response`` as httplib2 builds it from http.client: lower-cased
    keys, values decoded as Latin-1, repeated headers joined with ", ",
    ``["status"]`` a str."""
    names = _header_names
    pairs = [
        (names.get(name) or _header_name(name), value.decode("latin-1")) for name, value in headers
    ]
    response = httplib2.Response.__new__(httplib2.Response)
    dict.update(response, pairs)
    if len(response) != len(pairs):  # a repeated header: join its values in order
        dict.clear(response)
        get = response.get
        for key, text in pairs:
            previous = get(key)
            response[key] = text if previous is None else previous + ", " + text
    status = int(code)
    response.status = status
    response["status"] = str(status)
    response.reason = reason.decode("latin-1") if isinstance(reason, bytes) else str(reason)
    response.version = 10 if version in (b"1.0", "1.0", b"HTTP/1.0") else 11
    return response


# ---------------------------------------------------------------------------
# The loop side of one Http


class _PoolGeneration:
    """One core pool. ``close()`` on the Http retires it: idle connections go now,
    requests in flight finish on it, and it is closed when the last one is done."""

    __slots__ = ("request", "close", "inflight", "retired", "closing")

    def __init__(self, request: Any, close: Any) -> None:
        self.request = request
        self.close = close
        self.inflight = 0
        self.retired = False
        self.closing: Optional[asyncio.Task[Any]] = None


class _Client:
    """Everything of one Http that lives on the loop: queue, runners, pool, workers."""

    def __init__(self, name: str, runner_limit: int, max_workers: int) -> None:
        self.name = name
        self.runner_limit = runner_limit
        self.workers = _loop.WorkerPool(max_workers, "asynchttp-%s-worker" % name)
        # httplib2's own request flow, for subclasses overriding its seams and for
        # connection_type: one thread per request at most, and no more threads than
        # runners (each flow occupies one runner while it works). Started lazily.
        self.flow_workers = _loop.WorkerPool(runner_limit, "asynchttp-%s-flow" % name)
        # Connections of a caller's connection_type are http.client objects: one
        # request at a time on them, as in httplib2's single-threaded use.
        self.connection_lock = threading.Lock()
        # Threads now inside httplib2's flow for this Http: request() looks at the
        # thread-local state only when there is one (the common path skips it).
        self.flow_threads = 0
        self.flow_lock = threading.Lock()
        self.pool_options: Optional[_PoolOptions] = None
        self.closed = False
        self.wakeups = 0  # loop wake-ups asked for by submitters (one per batch, not per request)
        self._init_loop_state()

    def _init_loop_state(self) -> None:
        self.pending: collections.deque[_Job] = collections.deque()
        self.wake_scheduled = False
        self.loop: Optional[asyncio.AbstractEventLoop] = None
        # One pool per TLS client identity: None (no client certificate), or the
        # (key, cert, password) that add_certificate gave for an authority.
        self.gens: dict[Any, _PoolGeneration] = {}
        self.retired: list[_PoolGeneration] = []
        self.runners = 0
        self.runner_tasks: set[asyncio.Task[Any]] = set()
        self.idle: list[asyncio.Future[None]] = []
        self.running: set[_Job] = set()
        self.drain_waiters: list[asyncio.Future[None]] = []
        self.stopping = False
        self.finished = False
        # The loop is held (_loop.attach) from the first submission until this client
        # has nothing left on it: no job, no pool (close() or shutdown), no call from
        # another thread under way (holds). The lock serialises a submitter attaching
        # and waking the loop with the loop thread letting it go (_maybe_detach). An
        # RLock: a finalizer (an Http collected on the loop thread) may re-enter.
        self.lock = threading.RLock()
        self.holds = 0
        # Bumped when the loop is let go: the runners of before end, new ones start.
        self.runner_epoch = 0

    # -- any thread ------------------------------------------------------------

    def submit(self, job: _Job) -> None:
        if self.closed:
            raise ShutdownError("this Http was shut down; it takes no new requests")
        self.pending.append(job)
        if not self.wake_scheduled:
            self._wake()
        if self.closed:
            # shutdown() raced with this call: take the job back unless the loop has it
            try:
                self.pending.remove(job)
            except ValueError:
                return
            raise ShutdownError("this Http was shut down; it takes no new requests")

    def _wake(self) -> None:
        """Schedule one drain of the queue (one per batch of submissions), holding the
        loop first if this client had let it go (the loop may be a fresh one then).

        Under ``lock``, as ``_maybe_detach`` is: a job appended before the loop thread
        looked at the queue keeps the loop held; one appended after finds the client
        detached here and attaches again. No job waits on a loop that is stopping.
        """
        with self.lock:
            if self.wake_scheduled or self.closed:
                return
            try:
                loop = self._hold_loop()
            except RuntimeError:  # no new thread at interpreter exit
                self.closed = True
                return
            self.wake_scheduled = True
            self.wakeups += 1
            try:
                loop.call_soon_threadsafe(self._drain)
            except RuntimeError:  # the loop is gone: interpreter exit in progress
                self.closed = True

    def _hold_loop(self) -> asyncio.AbstractEventLoop:
        """This client's loop, holding one (starting it if needed) if it had let go.
        Under ``lock``."""
        loop = self.loop
        if loop is None:
            loop = self.loop = _loop.attach()
            _loop.register_client(self)
        return loop

    def run_holding(self, make: Callable[[], Any]) -> "concurrent.futures.Future[Any]":
        """From a thread other than the loop's (httplib2's flow sending through the
        pool): run the coroutine ``make()`` on this client's loop, which it holds
        (attaching again if it had let go) until the coroutine is done."""
        with self.lock:
            try:
                loop = self._hold_loop()
            except RuntimeError as exc:  # no new thread at interpreter exit
                raise ShutdownError("asynchttp is shutting down: interpreter exit in progress") from exc
            self.holds += 1
        try:
            return asyncio.run_coroutine_threadsafe(self._held(make), loop)
        except RuntimeError as exc:  # the loop is closed: interpreter exit
            with self.lock:
                self.holds -= 1
            raise ShutdownError("asynchttp is shutting down: interpreter exit in progress") from exc

    def _run_held(self, make: Callable[[], Any]) -> Optional["concurrent.futures.Future[Any]"]:
        """From any thread: run the coroutine ``make()`` on the loop this client holds,
        which cannot be let go until it is done; None when nothing is held."""
        with self.lock:
            loop = self.loop
            if loop is None:
                return None
            self.holds += 1
        try:
            return asyncio.run_coroutine_threadsafe(self._held(make), loop)
        except RuntimeError:  # the loop is closed: interpreter exit
            with self.lock:
                self.holds -= 1
            return None

    async def _held(self, make: Callable[[], Any]) -> Any:
        try:
            return await make()
        finally:
            with self.lock:
                self.holds -= 1
            self._maybe_detach()

    def cancel_in_flight(self, job: _Job) -> None:
        loop = self.loop
        if loop is None:
            return
        if _loop.on_loop_thread():
            self._cancel_task_of(job)
            return
        try:
            loop.call_soon_threadsafe(self._cancel_task_of, job)
        except RuntimeError:
            pass  # loop closed: nothing runs any more

    def retire_pool(self, options: "_PoolOptions") -> None:
        """Http.close(): new connections from now on, with the current options. Once
        the requests in flight are done, the client lets the loop go (it may stop); a
        later request holds it (or a fresh one) again."""
        self.pool_options = options
        loop = self.loop
        if loop is None or self.finished:
            return
        if _loop.on_loop_thread():
            self._retire_current()
            loop.call_soon(self._maybe_detach)
            return
        done = self._run_held(self._retire_and_wait)
        if done is None:
            return
        with _loop.blocking_section():
            try:
                done.result(_loop.EXIT_TIMEOUT)
            except Exception:
                logger.debug("closing idle connections did not finish", exc_info=True)

    def shutdown(self, wait: bool, cancel_pending: bool) -> None:
        self._refuse_new_work()
        future = None
        if not self.finished:
            future = self._run_held(lambda: self._aclose(cancel_pending))
        if future is None:
            self._stop_workers(wait, None)
            return
        if wait and not _loop.on_loop_thread():
            with _loop.blocking_section():
                try:
                    future.result()
                except Exception:
                    logger.debug("shutdown of %s failed", self.name, exc_info=True)
            self._stop_workers(True, None)
        else:
            future.add_done_callback(lambda _: self._stop_workers(False, None))

    # -- LoopClient protocol (exit and fork) -------------------------------------

    def _refuse_new_work(self) -> None:
        self.closed = True

    def _stop_workers(self, wait: bool, timeout: Optional[float]) -> None:
        self.flow_workers.stop(wait=wait, timeout=timeout)
        self.workers.stop(wait=wait, timeout=timeout)

    def _abandon(self) -> None:
        """The loop is gone: cancel every request it did not finish."""
        for job in list(self.pending) + list(self.running):
            job.cancel()
        self.pending.clear()

    def _reset_after_fork(self) -> None:
        lost = RuntimeError("asynchttp: this request was pending when the process forked")
        for job in list(self.pending) + list(self.running):
            job._fail_after_fork(lost)
        for workers in (self.workers, self.flow_workers):
            while True:  # callbacks and flows queued for the parent's workers
                try:
                    item = workers._queue.get_nowait()
                except Exception:
                    break
                if isinstance(item, tuple) and item[1] and isinstance(item[1][0], RequestFuture):
                    item[1][0]._fail_after_fork(lost)
        # Objects of the parent's loop (pools, sockets, tasks) must not be touched here.
        _loop._orphaned.append((self.gens, self.retired, self.runner_tasks, self.idle))
        self.workers._reset_after_fork()
        self.flow_workers._reset_after_fork()
        self.connection_lock = threading.Lock()
        self.flow_lock = threading.Lock()
        self.flow_threads = 0
        self._init_loop_state()

    # -- loop thread -------------------------------------------------------------

    def _maybe_detach(self) -> None:
        """On the loop thread: let the loop go once nothing of this client is on it (no
        job queued or running, no pool, no call from another thread under way), so that
        it can stop when every client has done so. The idle runners end with it."""
        if self.loop is None or self.running or self.pending or self.gens or self.retired:
            return
        if self.closed and not self.finished:
            return  # _aclose is under way: it lets go at its end
        with self.lock:
            loop = self.loop
            if loop is None or self.pending or self.wake_scheduled or self.holds:
                return
            self.loop = None
            self.runner_epoch += 1
            self.runners = 0
            idle, self.idle = self.idle, []
            self.runner_tasks = set()
        for waiter in idle:
            if not waiter.done():
                waiter.set_result(None)
        logger.debug("%s idle: lets the loop go", self.name)
        _loop.detach(loop)

    def _drain(self) -> None:
        self.wake_scheduled = False
        waiting = len(self.pending)
        idle = self.idle
        while waiting and idle:
            waiter = idle.pop()
            if not waiter.done():
                waiter.set_result(None)
                waiting -= 1
        while waiting and self.runners < self.runner_limit and not self.stopping:
            self.runners += 1
            task = self.loop.create_task(self._runner(self.runner_epoch))  # type: ignore[union-attr]
            self.runner_tasks.add(task)
            task.add_done_callback(self.runner_tasks.discard)
            waiting -= 1

    async def _runner(self, epoch: int) -> None:
        task = asyncio.current_task()
        pending = self.pending
        loop = self.loop
        try:
            while epoch == self.runner_epoch:  # else the loop was let go: end
                job = pending.popleft() if pending else None  # only this thread pops
                if job is None:
                    if self.stopping:
                        return
                    if not self.running:
                        if self.drain_waiters:
                            self._signal_drained()
                        self._maybe_detach()
                        if epoch != self.runner_epoch:
                            return
                    waiter = loop.create_future()  # type: ignore[union-attr]
                    self.idle.append(waiter)
                    await waiter
                    if self.stopping and not pending:
                        return
                    continue
                if job._state == PENDING:  # else cancelled while queued
                    await self._run_job(job, task)  # type: ignore[arg-type]
                job = None  # an idle runner must not keep the last job (and its Http) alive
        finally:
            if epoch == self.runner_epoch:
                self.runners -= 1

    async def _run_job(self, job: _Job, task: asyncio.Task[Any]) -> None:
        debug = logger.isEnabledFor(_DEBUG)
        if debug:
            logger.debug("request %d started: %s %s", job.request_id, job.method, _safe_uri(job.uri))
        job.task = task
        self.running.add(job)
        if debug:
            _current_request_id.set(job.request_id)
        try:
            if job.flow is None:
                result = await _run_request(
                    job.http, self.send_once, job.uri, job.method, job.body, job.headers,
                    job.redirections, job.connection_type,
                )
            else:
                result = await self._run_flow(job)
        except asyncio.CancelledError:
            job.task = None
            self.running.discard(job)
            if job._state == CANCELLED_AND_NOTIFIED and not self.stopping:
                uncancel = getattr(task, "uncancel", None)
                if uncancel is not None:
                    uncancel()
                return
            job.cancel()
            raise
        except Exception as exc:
            job.task = None
            self.running.discard(job)
            job._drop_request()
            error = exc
            if isinstance(exc, HttpError):  # a core error the pipeline let through
                error = to_httplib2_error(exc, _host_of(split_uri(job.uri)[1]))
            self._finish(job, None, error)
            return
        job.task = None
        self.running.discard(job)
        job._drop_request()
        self._finish(job, result, None)

    async def _run_flow(self, job: _Job) -> tuple[Any, Any]:
        """httplib2's own ``request()`` for ``job`` on a flow thread; this runner waits
        for it without blocking the loop. Cancelling the job cancels the flow's send
        in progress, which ends the flow."""
        loop = self.loop
        done: asyncio.Future[tuple[Any, Any]] = loop.create_future()  # type: ignore[union-attr]
        self.flow_workers.submit(_run_flow_job, job, job.http, done, loop)
        try:
            return await done
        except asyncio.CancelledError:
            job.flow.cancel_sends()  # type: ignore[union-attr]
            raise

    def _finish(self, job: _Job, result: Optional[tuple[Any, Any]], error: Optional[BaseException]) -> None:
        if error is not None:
            logger.warning(
                "request %d failed: %s %s: %s", job.request_id, job.method, _safe_uri(job.uri), describe(error)
            )
        if job.callback is None:
            # logged before the readers wake (one of them may read the log at once)
            if job._state == PENDING and logger.isEnabledFor(_DEBUG):
                logger.debug("request %d resolved", job.request_id)
            job._settle(result, error)
        else:
            self.workers.submit(_run_callback, job, result, error)

    def _cancel_task_of(self, job: _Job) -> None:
        task = job.task
        if task is not None and not task.done():
            task.cancel()

    def _signal_drained(self) -> None:
        waiters, self.drain_waiters = self.drain_waiters, []
        for waiter in waiters:
            if not waiter.done():
                waiter.set_result(None)

    def _new_generation(self, identity: Any) -> _PoolGeneration:
        config = self.pool_options if self.pool_options is not None else _PoolOptions({}, None, None)
        options = dict(config.options)
        if "get_ssl_context" not in options and config.tls is not None:
            options["get_ssl_context"] = _lazy_ssl_context(config.tls, identity)
        if "get_tunnel" not in options and config.proxies is not None:
            options["get_tunnel"] = config.proxies
        request, close = asynchttp_lowhaio.Pool(**options)
        gen = self.gens[identity] = _PoolGeneration(request, close)
        return gen

    def _mapped(self, exc: HttpError, scheme: str, authority: str, phase: str) -> BaseException:
        """The exception httplib2 raises for core error ``exc``: through a proxy, a
        failure to reach the proxy is PySocks' ProxyConnectionError."""
        config = self.pool_options
        if (
            config is not None
            and config.proxies is not None
            and isinstance(exc, (HttpDnsError, HttpConnectError, HttpConnectTimeoutError))
            and not isinstance(exc.__cause__, _proxy.ProxyError)
        ):
            host, port = _origin(scheme, authority)
            plan = config.proxies.known_plan(scheme, host, port)
            if plan is not None:
                cause = to_httplib2_error(exc, host, phase)
                mapped = _proxy.proxy_connection_error(plan, cause)
                mapped.__cause__ = exc
                return mapped
        return to_httplib2_error(exc, _host_of(authority), phase)

    def _tls_identity(self, scheme: str, authority: str) -> Any:
        """The client certificate httplib2 would use for ``authority``: the first match."""
        config = self.pool_options
        if scheme != "https" or config is None or config.certificates is None:
            return None
        if not config.certificates.credentials:
            return None
        return next(iter(config.certificates.iter(authority)), None)

    def _retire_current(self) -> None:
        gens, self.gens = self.gens, {}
        for gen in gens.values():
            gen.retired = True
            self.retired.append(gen)
            self._close_when_idle(gen)

    def _close_when_idle(self, gen: _PoolGeneration) -> None:
        if gen.inflight == 0 and gen.closing is None:
            gen.closing = self.loop.create_task(self._close_generation(gen))  # type: ignore[union-attr]

    async def _close_generation(self, gen: _PoolGeneration) -> None:
        try:
            await gen.close()
        except Exception:
            logger.debug("closing a pool failed", exc_info=True)
        finally:
            if gen in self.retired:
                self.retired.remove(gen)
            self._maybe_detach()

    async def _retire_and_wait(self) -> None:
        self._retire_current()
        closing = [g.closing for g in self.retired if g.closing is not None]
        if closing:
            await asyncio.wait(closing)

    async def _aclose(self, cancel_pending: bool) -> None:
        """Finish or cancel everything, stop the runners, close the pools."""
        if self.finished:
            return
        self.closed = True
        if cancel_pending:
            while self.pending:
                self.pending.popleft().cancel()
            for job in list(self.running):
                job.cancel()
        while self.pending or self.running:
            waiter = self.loop.create_future()  # type: ignore[union-attr]
            self.drain_waiters.append(waiter)
            if self.pending and not self.running:
                self._drain()  # make sure some runner takes what is queued
            await waiter
        self.stopping = True
        for waiter in self.idle:
            if not waiter.done():
                waiter.set_result(None)
        self.idle = []
        if self.runner_tasks:
            await asyncio.wait(list(self.runner_tasks))
        self._retire_current()
        closing = [g.closing for g in self.retired if g.closing is not None]
        for gen in list(self.retired):
            if gen.closing is None:  # requests still on it cannot be: force it
                gen.closing = self.loop.create_task(self._close_generation(gen))  # type: ignore[union-attr]
                closing.append(gen.closing)
        if closing:
            await asyncio.wait(closing)
        self.finished = True
        _loop._clients.discard(self)
        logger.debug("%s shut down", self.name)
        self._maybe_detach()

    def _http10(self) -> bool:
        """Whether the core was told to speak HTTP/1.0 (no chunked requests: a length)."""
        config = self.pool_options
        return config is not None and config.options.get("http_version") == b"HTTP/1.0"

    # -- the seam with the semantics layer ------------------------------------------

    async def send_once(
        self,
        scheme: str,
        authority: str,
        request_uri: str,
        method: str,
        body: Optional[bytes],
        headers: dict[str, str],
    ) -> tuple[httplib2.Response, bytes]:
        """Send one request over the pool, as http.client would write it, and read the
        whole answer. No redirects, cache, auth or decoding. Failures raise httplib2's
        exception with the core error as ``__cause__``."""
        identity = self._tls_identity(scheme, authority) if scheme == "https" else None
        gen = self.gens.get(identity)
        if gen is None:
            if self.stopping:
                raise ShutdownError("this Http was shut down")
            gen = self._new_generation(identity)
        # What http.client adds, spelled and ordered as it writes them: Host, then
        # Accept-Encoding, then the framing header, then the caller's headers. Giving
        # Host ourselves keeps the core from adding its own lower-case one.
        head: list[tuple[bytes, bytes]] = []
        stream = None  # the body as the core's callable, when it is sent chunked
        if "host" not in headers:
            head.append((b"Host", _host_header(scheme, authority)))
        if "accept-encoding" not in headers:
            head.append((b"Accept-Encoding", b"identity"))
        if "content-length" not in headers and "transfer-encoding" not in headers:
            if type(body) is ChunkedBody and not self._http10():
                head.append((b"Transfer-Encoding", b"chunked"))
                stream = _chunked_stream(body)
            elif body is not None:
                head.append((b"Content-Length", b"%d" % len(body)))
            elif method in _METHODS_EXPECTING_BODY:
                head.append((b"Content-Length", b"0"))
        for name, value in headers.items():
            head.append((name.encode("latin-1"), value.encode("latin-1")))
        url = scheme + "://" + authority + request_uri
        debug = logger.isEnabledFor(_DEBUG)
        if debug:
            logger.debug(
                "request %d: sending %s %s", _current_request_id.get(), method, without_userinfo(url),
            )
        gen.inflight += 1
        phase = PHASE_HEAD
        try:
            code, response_headers, response_body = await gen.request(
                method.encode("latin-1"),
                url,
                headers=tuple(head),
                body=stream if stream is not None else (
                    asynchttp_lowhaio.streamed(body) if body else asynchttp_lowhaio.empty_async_iterator
                ),
                get_logger_adapter=_core_log_adapter if debug else None,
            )
            phase = PHASE_BODY
            content = await asynchttp_lowhaio.buffered(response_body)
        except HttpError as exc:
            raise self._mapped(exc, scheme, authority, phase) from exc
        finally:
            gen.inflight -= 1
            if gen.retired:
                self._close_when_idle(gen)
        return (
            build_response(code, response_headers, _reason(response_body), getattr(response_body, "version", b"1.1")),
            content,
        )


# The request id of the job a runner is working on, for the core's log lines.
_current_request_id: contextvars.ContextVar[int] = contextvars.ContextVar("asynchttp_request_id", default=0)


class _CoreLogAdapter(logging.LoggerAdapter):  # type: ignore[type-arg]
    """Puts the core's per-request debug lines (connection new or reused, sent,
    response head, body done) on the "asynchttp" logger, tagged with our request id."""

    def process(self, msg: Any, kwargs: Any) -> tuple[Any, Any]:
        return "request %d: %s" % (_current_request_id.get(), msg), kwargs


def _core_log_adapter(extra: dict[str, Any]) -> logging.LoggerAdapter:  # type: ignore[type-arg]
    return _CoreLogAdapter(logger, {})


def _origin(scheme: str, authority: str) -> tuple[str, int]:
    """Host and port of an authority, as the core names an origin."""
    host = _host_of(authority).rstrip(".")
    hostport = authority.rpartition("@")[2]
    _, sep, port = hostport.rpartition(":")
    if sep and port.isdigit() and not hostport.endswith("]"):
        return host, int(port)
    return host, _DEFAULT_PORTS.get(scheme, 80)


@functools.lru_cache(maxsize=1024)
def _host_header(scheme: str, authority: str) -> bytes:
    """The Host value http.client writes for a connection to ``authority``: the port
    only when it is not the scheme's default, an IPv6 address in brackets without its
    zone, the name as given (IDNA-encoded if not ASCII; httplib2 has already done that)."""
    hostport = authority.rpartition("@")[2]
    default = _DEFAULT_PORTS.get(scheme, 80)
    port = default
    colon, bracket = hostport.rfind(":"), hostport.rfind("]")
    host = hostport
    if colon > bracket:
        digits = hostport[colon + 1 :]
        if digits:
            try:
                port = int(digits)
            except ValueError:
                return hostport.encode("ascii", "replace")  # the core refuses such a URL anyway
        host = hostport[:colon]
    if host[:1] == "[" and host[-1:] == "]":
        host = host[1:-1]
    try:
        host_bytes = host.encode("ascii")
    except UnicodeEncodeError:
        host_bytes = host.encode("idna")
    if ":" in host:
        # http.client leaves an IPv6 zone (``%eth0``) out of Host: it means nothing to the server
        host_bytes = b"[" + host_bytes.partition(b"%")[0] + b"]"
    return host_bytes if port == default else b"%s:%d" % (host_bytes, port)


def _reason(body: Any) -> bytes:
    reason = getattr(body, "reason", b"")
    return reason if isinstance(reason, bytes) else str(reason).encode("latin-1")


# ---------------------------------------------------------------------------
# httplib2's own request flow, for subclasses and connection_type
#
# A subclass that overrides ``request``, ``_request`` or ``_conn_request`` expects
# httplib2's calls: ``request`` -> ``_request`` -> ``_conn_request`` per hop, and
# ``self.request`` again for a redirect. asynchttp's pipeline runs on the loop and
# calls none of them, and user code must never run on the loop. So such requests run
# httplib2's ``Http.request`` itself, on a flow thread of the Http, with
# ``_conn_request`` sending through the pool (``_PoolConnection``) or, for a caller's
# ``connection_type``, through that class with httplib2's own ``_conn_request``.


class _FlowState(threading.local):
    """This thread's flow: the Http whose httplib2 flow runs here (so a redirect's
    ``self.request()`` stays in it) and the sends to cancel with it."""

    http: Any = None
    flow: Optional["_Flow"] = None


_flow_state = _FlowState()


class _Flow:
    """What one request in httplib2's flow carries: the caller's context (contextvars
    set where ``request()`` was called are seen by the overrides) and its sends in
    progress, cancelled with the request."""

    __slots__ = ("context", "sends", "cancelled")

    def __init__(self) -> None:
        self.context = contextvars.copy_context()
        self.sends: set[Any] = set()
        self.cancelled = False

    def cancel_sends(self) -> None:
        self.cancelled = True
        for send in list(self.sends):
            send.cancel()


class _PoolConnection:
    """What httplib2's flow holds as ``conn`` when no ``connection_type`` was given:
    a stand-in naming the origin; ``Http._conn_request`` sends through the pool for it.
    It opens nothing (the pool owns the sockets), so ``close()`` does nothing."""

    scheme = "http"
    sock = None

    def __init__(self, host: str, port: Optional[int] = None, timeout: Any = None, proxy_info: Any = None, **_: Any) -> None:
        self.authority = host  # httplib2 passes the URI's authority here
        self.host, self.port = _origin(self.scheme, host)
        self.timeout = timeout
        self.proxy_info = proxy_info

    def set_debuglevel(self, level: int) -> None:
        pass

    def close(self) -> None:
        pass

    def __repr__(self) -> str:
        return "<asynchttp pool connection %s://%s:%d>" % (self.scheme, self.host, self.port)


class _PoolHTTPSConnection(_PoolConnection):
    # Not a subclass of httplib2's HTTPSConnectionWithTimeout: httplib2 then builds no
    # TLS context for it (the pool has its own, from the same attributes).
    scheme = "https"


_POOL_CONNECTIONS: dict[str, type] = {"http": _PoolConnection, "https": _PoolHTTPSConnection}


def _holds_real_connection(connections: dict[str, Any]) -> bool:
    """True if a ``connection_type`` connection is kept (httplib2 reuses it for its
    origin until ``close()``, so requests to any origin then take httplib2's flow)."""
    for conn in list(connections.values()):
        if not isinstance(conn, _PoolConnection):
            return True
    return False


def _run_flow_job(job: _Job, http: "Http", done: "asyncio.Future[Any]", loop: asyncio.AbstractEventLoop) -> None:
    """On a flow thread: httplib2's ``request()`` for ``job``; the outcome goes back to
    the runner waiting on the loop."""
    flow = job.flow
    if flow is None or flow.cancelled or job.cancelled():
        return  # cancelled while queued: its runner has stopped waiting
    outcome: tuple[Any, Optional[BaseException]]
    try:
        result = flow.context.run(
            _flow_request, http, flow, job.request_id, job.uri, job.method, job.body, job.headers,
            job.redirections, job.connection_type,
        )
        outcome = (result, None)
    except StopIteration as exc:  # an asyncio future refuses it
        error = RuntimeError("the request's httplib2 flow raised StopIteration")
        error.__cause__ = exc
        outcome = (None, error)
    except Exception as exc:
        outcome = (None, exc)
    except BaseException as exc:  # KeyboardInterrupt, SystemExit raised by an override
        error = RuntimeError("the request's httplib2 flow raised %r" % (exc,))
        error.__cause__ = exc
        outcome = (None, error)
    try:
        loop.call_soon_threadsafe(_deliver_flow_outcome, done, outcome)
    except RuntimeError:
        pass  # the loop is gone (interpreter exit): the job was abandoned with it


def _deliver_flow_outcome(done: "asyncio.Future[Any]", outcome: tuple[Any, Optional[BaseException]]) -> None:
    if done.done():
        return  # the runner was cancelled
    result, error = outcome
    if error is None:
        done.set_result(result)
    else:
        done.set_exception(error)


def _flow_request(
    http: "Http", flow: _Flow, request_id: int, uri: str, method: str, body: Any,
    headers: Optional[dict[str, str]], redirections: int, connection_type: Any,
) -> tuple[Any, Any]:
    if logger.isEnabledFor(_DEBUG):
        _current_request_id.set(request_id)  # the sends' log lines name the request
    state = _flow_state
    previous = state.flow
    state.flow = flow
    try:
        if headers is None:
            headers = {}
        if "user-agent" not in headers:
            headers["user-agent"] = default_user_agent()  # the one asynchttp sends elsewhere
        return http._httplib2_request(uri, method, body, headers, redirections, connection_type)
    finally:
        state.flow = previous


# ---------------------------------------------------------------------------
# The facade


def _shutdown_collected(client: _Client) -> None:
    """An Http was garbage-collected: let its requests finish, then free its pool."""
    try:
        client.shutdown(wait=False, cancel_pending=False)
    except Exception:  # a finalizer must not raise
        logger.debug("freeing a collected Http failed", exc_info=True)


class Http(_HTTPLIB2_HTTP):  # type: ignore[misc,valid-type]
    """httplib2.Http whose ``request()`` returns ``(response, content)`` promises at once.

    Positional arguments are httplib2's. Keyword-only extras: ``max_workers`` (callback
    threads), ``max_connections`` and ``max_connections_per_host`` (the pool's limits)
    and any option of ``asynchttp_lowhaio.Pool``. One instance may be shared by any
    number of threads.

    It is a subclass of httplib2's own ``Http`` (the class taken at import), so
    ``isinstance(http, httplib2.Http)`` holds for libraries that check it, and the
    methods asynchttp does not replace are httplib2's. ``request`` (and ``close``) are
    replaced; ``_request`` is httplib2's and ``_conn_request`` sends through the pool:
    a subclass overriding any of the three gets httplib2's own request flow on a
    worker thread (see ``_needs_httplib2_flow``).
    """

    # Private state lives in slots, so __dict__ holds exactly httplib2's attributes
    # (__dict__ and __weakref__ come from httplib2's class, which has no slots).
    __slots__ = ("_client", "_config", "_finalizer", "_id")
    connections: dict[str, Any]  # httplib2's instance attribute, in __dict__

    # Whether the class overrides a seam (request, _request, _conn_request): learnt
    # once per class, at its first request (None until then; see _learn_seams).
    _seamed: Optional[bool] = False

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls._seamed = None

    def __init__(
        self,
        cache: Any = None,
        timeout: Optional[float] = None,
        proxy_info: Any = httplib2.proxy_info_from_environment,
        ca_certs: Optional[str] = None,
        disable_ssl_certificate_validation: bool = False,
        tls_maximum_version: Any = None,
        tls_minimum_version: Any = None,
        decode_limit_hard: Optional[int] = None,
        decode_limit_safe: Optional[int] = None,
        decode_limit_ratio: Optional[float] = None,
        decode_limit_chunk: Optional[int] = None,
        *,
        max_workers: int = 5,
        max_connections: int = 100,
        max_connections_per_host: int = 100,
        **core_options: Any,
    ) -> None:
        unknown = set(core_options) - CORE_OPTIONS
        if unknown:
            raise TypeError("unknown Http option(s): %s" % ", ".join(sorted(unknown)))
        if max_workers < 1:
            raise ValueError("max_workers must be at least 1")
        if max_connections < 1 or max_connections_per_host < 1:
            raise ValueError("connection limits must be at least 1")
        # httplib2's own constructor sets its attributes: same names, defaults, types.
        _HTTPLIB2_HTTP.__init__(
            self, cache, timeout, proxy_info, ca_certs, disable_ssl_certificate_validation,
            tls_maximum_version, tls_minimum_version, decode_limit_hard, decode_limit_safe,
            decode_limit_ratio, decode_limit_chunk,
        )
        self._config = {
            "max_workers": max_workers,
            "max_connections": max_connections,
            "max_connections_per_host": max_connections_per_host,
            "core_options": dict(core_options),
        }
        self._start_client()

    def _start_client(self) -> None:
        self._id = next(_http_ids)
        config = self._config
        client = _Client("http%d" % self._id, config["max_connections"], config["max_workers"])
        self._client = client
        self._finalizer = weakref.finalize(self, _shutdown_collected, client)
        self._finalizer.atexit = False  # exit has its own, ordered, shutdown

    # -- httplib2's methods ---------------------------------------------------------

    add_credentials = _HTTPLIB2_HTTP.add_credentials
    add_certificate = _HTTPLIB2_HTTP.add_certificate
    clear_credentials = _HTTPLIB2_HTTP.clear_credentials
    _normalize_headers = _HTTPLIB2_HTTP._normalize_headers

    # -- httplib2's seams -------------------------------------------------------------

    def _conn_request(
        self, conn: Any, request_uri: str, method: str, body: Any, headers: dict[str, Any]
    ) -> tuple[httplib2.Response, Any]:
        """httplib2's ``_conn_request``: one request (with httplib2's retries and
        decoding) over ``conn``, returning ``(httplib2.Response, bytes)``.

        Called by httplib2's ``_request`` when a subclass overrides a seam or a
        ``connection_type`` is given, on the request's flow thread (or the caller's,
        if called directly; never the loop's). ``conn`` is a stand-in for the pool,
        and the request is sent through the pool; or a connection of the caller's
        ``connection_type``, and httplib2's own ``_conn_request`` runs on it.
        """
        if not isinstance(conn, _PoolConnection):
            with self._client.connection_lock:
                return _HTTPLIB2_HTTP._conn_request(self, conn, request_uri, method, body, headers)
        if _loop.on_loop_thread():
            raise RuntimeError("Http._conn_request waits for the network: it cannot run on asynchttp's loop thread")
        checked = _as_sent(headers or {})  # a subclass may have added any header
        client = self._client
        if client.pool_options is None:
            client.pool_options = self._pool_options()
        flow = _flow_state.flow
        send = client.run_holding(
            lambda: _send_with_retries(
                self, client.send_once, conn.scheme, conn.authority, request_uri, method, body, checked
            )
        )
        if flow is not None:
            flow.sends.add(send)
            if flow.cancelled:
                send.cancel()
        try:
            return send.result()
        except BaseException:
            send.cancel()  # an interrupt while waiting: the send must not go on alone
            raise
        finally:
            if flow is not None:
                flow.sends.discard(send)

    def _httplib2_request(
        self, uri: str, method: str, body: Any, headers: Any, redirections: int, connection_type: Any
    ) -> tuple[httplib2.Response, Any]:
        """httplib2's ``request()`` itself, on this thread, with this Http's seams."""
        scheme: Optional[str]
        authority: Optional[str]
        try:
            scheme, authority = split_uri(uri)[:2]
        except Exception:
            scheme = authority = None  # httplib2 raises it, inside its own try
        if not connection_type:
            # None for a scheme httplib2 has no connection class for: its KeyError
            connection_type = _POOL_CONNECTIONS.get(scheme)  # type: ignore[arg-type]
        elif scheme is not None:
            key = "%s:%s" % (scheme, authority)
            if isinstance(self.connections.get(key), _PoolConnection):
                # a stand-in must not take the place of the class the caller asked for
                self.connections.pop(key, None)
        state = _flow_state
        previous = state.http
        state.http = self
        client = self._client
        with client.flow_lock:
            client.flow_threads += 1
        try:
            return _HTTPLIB2_HTTP.request(self, uri, method, body, headers, redirections, connection_type)
        finally:
            state.http = previous
            with client.flow_lock:
                client.flow_threads -= 1

    def request(
        self,
        uri: str,
        method: str = "GET",
        body: Any = None,
        headers: Optional[Any] = None,
        redirections: int = DEFAULT_MAX_REDIRECTS,
        connection_type: Any = None,
        callback: Optional[Callable[[Promise], Any]] = None,
    ) -> tuple[ResponsePromise, ContentPromise]:
        """Queue the request; return ``(response, content)`` promises at once.

        Arguments are checked here as httplib2 checks them (a relative URI, a bad
        header or method, an unknown scheme raise now). Network errors surface when a
        promise is touched, as the exception httplib2 raises for them.

        A subclass overriding ``request``, ``_request`` or ``_conn_request``, or a
        ``connection_type``, makes the request run httplib2's own flow on a worker
        thread of this Http (never on the loop); see ``_conn_request``.
        """
        try:
            client = self._client
        except AttributeError:
            return _foreign_request(Http, self, uri, method, body, headers, redirections, connection_type)
        if client.flow_threads and callback is None and _flow_state.http is self:
            # httplib2's flow calling request() again (a redirect): stay in it, here
            return self._httplib2_request(uri, method, body, headers, redirections, connection_type)
        job = self._submit(uri, method, body, headers, redirections, connection_type, callback)
        return ResponsePromise(job), ContentPromise(job)

    def _submit(
        self,
        uri: str,
        method: str,
        body: Any,
        headers: Any,
        redirections: int,
        connection_type: Any,
        callback: Optional[Callable[[Promise], Any]],
        created: Optional[list[_Job]] = None,
    ) -> _Job:
        client = self._client
        if client.closed:
            raise ShutdownError("this Http was shut down; it takes no new requests")
        if callback is not None and not callable(callback):
            raise TypeError("callback must be callable")
        try:
            scheme = split_uri(uri)[0]
            if scheme not in _DEFAULT_PORTS and not connection_type:
                raise KeyError(scheme)
            if not isinstance(method, str) or _BAD_METHOD.search(method):
                raise ValueError("method can't contain control characters. %r" % (method,))
            if headers is not None:
                headers = _check_headers(headers)
            if body is not None and not isinstance(body, bytes):
                body = body_bytes(body)  # at the call: a file is read here, never on the loop
        except Exception as exc:
            if not self.force_exception_to_status_code:
                raise
            # httplib2 turns these into its synthetic 400 response too: a promise of it
            return self._answered(uri, method, callback, exception_to_response(exc), created)
        if client.pool_options is None:
            client.pool_options = self._pool_options()
        flow = None
        seamed = type(self)._seamed
        if seamed is None:
            seamed = _learn_seams(type(self))
        if seamed or connection_type or (self.connections and _holds_real_connection(self.connections)):
            flow = _Flow()
        job = _Job(self, client, uri, method, body, headers, redirections, connection_type, callback, flow)
        if callback is not None:
            job.stack = _capture_stack()
        if logger.isEnabledFor(_DEBUG):
            logger.debug("request %d queued: %s %s", job.request_id, method, _safe_uri(uri))
        if created is not None:
            created.append(job)  # before it is queued: an interrupt from here on can cancel it
        client.submit(job)
        return job

    def _answered(
        self,
        uri: str,
        method: str,
        callback: Optional[Callable[[Promise], Any]],
        result: tuple[Any, Any],
        created: Optional[list[_Job]],
    ) -> _Job:
        """A job already answered without I/O (force_exception_to_status_code)."""
        client = self._client
        job = _Job(self, client, uri if isinstance(uri, str) else repr(uri), str(method), None, None, 0, None, callback)
        job._drop_request()
        if created is not None:
            created.append(job)
        if callback is None:
            job._settle(result, None)
        else:
            job.stack = _capture_stack()
            client.workers.submit(_run_callback, job, result, None)
        return job

    def close(self) -> None:
        """httplib2's close(): drop pooled connections (requests in flight finish on
        theirs), and clear certificates and credentials."""
        existing, self.connections = self.connections, {}
        for conn in existing.values():
            conn.close()  # connection_type connections, as httplib2 closes them
        self.certificates.clear()
        self.clear_credentials()
        self._client.retire_pool(self._pool_options())

    # -- lifecycle ------------------------------------------------------------------

    def shutdown(self, wait: bool = True, cancel_pending: bool = False) -> None:
        """Refuse new requests; finish (or cancel) the pending ones; free the pool and
        the callback workers. With ``wait``, return once all of that is done."""
        self._finalizer.detach()
        self._client.shutdown(wait, cancel_pending)
        if wait and self.connections:
            # connection_type connections (http.client objects) hold their sockets
            # until closed; every request that could use them is over
            existing, self.connections = self.connections, {}
            for conn in existing.values():
                conn.close()

    def __enter__(self) -> "Http":
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.shutdown(wait=True)

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state.pop("request", None)
        state.pop("connections", None)
        state["_asynchttp_config"] = self._config
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        state = dict(state)
        self._config = state.pop("_asynchttp_config")
        self.__dict__.update(state)
        self.connections = {}
        self._start_client()

    def __repr__(self) -> str:
        client = self._client
        return "<%s %s queued=%d running=%d%s>" % (
            type(self).__name__, client.name, len(client.pending), len(client.running),
            " shut down" if client.closed else "",
        )

    # -- pool options -------------------------------------------------------------

    def _pool_options(self) -> "_PoolOptions":
        """The core pools' options, from httplib2's attributes as they are now (read, as
        httplib2 reads them, when connections are made: at the first request and after
        close())."""
        config = self._config
        options: dict[str, Any] = {
            "max_connections": config["max_connections"],
            "max_connections_per_host": config["max_connections_per_host"],
        }
        timeout = self.timeout if self.timeout is not None else socket.getdefaulttimeout()
        if timeout is not None:
            options["connect_timeout"] = timeout
            options["socket_timeout"] = timeout
        options.update(config["core_options"])
        tls = (
            self.ca_certs or _default_ca_certs(), self.disable_ssl_certificate_validation,
            self.tls_maximum_version, self.tls_minimum_version,
        )
        return _PoolOptions(options, tls, self.certificates, _Tunnels(self))


_HTTPLIB2_CA_CERTS = httplib2.CA_CERTS


def _default_ca_certs() -> str:
    """httplib2's ``CA_CERTS`` as the user set it: on httplib2, or on asynchttp (which
    is where ``httplib2.CA_CERTS = path`` lands under ``import asynchttp as httplib2``)."""
    mine = getattr(sys.modules.get("asynchttp"), "CA_CERTS", None)
    if mine and mine != _HTTPLIB2_CA_CERTS:
        return mine  # type: ignore[no-any-return]
    return httplib2.CA_CERTS  # type: ignore[no-any-return]


class _PoolOptions:
    """What a new core pool is made from: the core's options, httplib2's TLS settings
    (ca_certs, disable validation, max and min version), its client certificates and
    its proxy decisions."""

    __slots__ = ("options", "tls", "certificates", "proxies")

    def __init__(
        self,
        options: dict[str, Any],
        tls: Optional[tuple[Any, ...]],
        certificates: Any,
        proxies: Optional["_Tunnels"] = None,
    ) -> None:
        self.options = options
        self.tls = tls
        self.certificates = certificates
        self.proxies = proxies


class _Tunnels:
    """The core's ``get_tunnel`` for one Http: httplib2's proxy decision for each
    scheme://host:port (``_proxy.plan_proxy`` over ``Http.proxy_info``), made once per
    origin as httplib2 makes it once per connection object, until close()."""

    def __init__(self, http: "Http") -> None:
        self._http = weakref.ref(http)
        self._fallback = http.proxy_info  # if the Http is gone while requests still run
        self._plans: dict[tuple[str, str, int], Optional[_proxy.ProxyPlan]] = {}

    def plan(self, scheme: str, host: str, port: int) -> Optional[_proxy.ProxyPlan]:
        key = (scheme, host, port)
        try:
            return self._plans[key]
        except KeyError:
            pass
        http = self._http()
        proxy_info = http.proxy_info if http is not None else self._fallback
        plan = self._plans[key] = _proxy.plan_proxy(proxy_info, scheme, host)
        return plan

    def known_plan(self, scheme: str, host: str, port: int) -> Optional[_proxy.ProxyPlan]:
        return self._plans.get((scheme, host, port))

    def __call__(self, scheme: str, host: str, port: int) -> Optional["_Tunnel"]:
        plan = self.plan(scheme, host, port)
        if plan is None:
            return None
        return _Tunnel(plan, _proxy.needs_local_resolution(plan, host))


class _Tunnel:
    """One way through a proxy, as the core's connect step wants it: where to connect,
    a key keeping its connections apart, and the handshake (CONNECT, SOCKS4, SOCKS5)
    run on the connected raw socket before any TLS."""

    __slots__ = ("plan", "host", "port", "key", "resolve_target")

    def __init__(self, plan: _proxy.ProxyPlan, resolve_target: bool) -> None:
        self.plan = plan
        self.host = plan.proxy_host
        self.port = plan.proxy_port
        self.key = plan
        self.resolve_target = resolve_target

    async def negotiate(
        self, loop: asyncio.AbstractEventLoop, sock: socket.socket, host: str, port: int, resolved_ip: Optional[str]
    ) -> bytes:
        """Run the handshake; failures as PySocks raises them through httplib2:
        ``GeneralProxyError("Socket error", <the specific error>)``."""
        return await _proxy.drive_socket(_proxy.negotiation(self.plan, host, port, resolved_ip), loop, sock)


def _lazy_ssl_context(tls: tuple[Any, ...], identity: Any) -> Callable[[], ssl.SSLContext]:
    """A get_ssl_context for the core: httplib2's own context builder (same defaults,
    same errors), called once, on the first TLS connection (it reads files)."""
    made: list[ssl.SSLContext] = []
    lock = threading.Lock()

    def get_ssl_context() -> ssl.SSLContext:
        if not made:
            with lock:
                if not made:
                    ca_certs, disable_validation, maximum, minimum = tls
                    key_file, cert_file, password = identity if identity is not None else (None, None, None)
                    made.append(_httplib2.build_ssl_context(
                        disable_validation, ca_certs, cert_file, key_file,
                        maximum_version=maximum, minimum_version=minimum, key_password=password,
                    ))
        return made[0]

    return get_ssl_context


class BlockingHttp(Http):
    """Http whose ``request()`` waits and returns a real ``(httplib2.Response, bytes)``,
    raising at the call exactly where httplib2 raises: the zero-difference drop-in for
    code that wants only thread safety and pooling."""

    __slots__ = ()

    def request(  # type: ignore[override]
        self,
        uri: str,
        method: str = "GET",
        body: Any = None,
        headers: Optional[Any] = None,
        redirections: int = DEFAULT_MAX_REDIRECTS,
        connection_type: Any = None,
        callback: Optional[Callable[[Promise], Any]] = None,
    ) -> tuple[httplib2.Response, bytes]:
        try:
            client = self._client
        except AttributeError:
            return _foreign_request(BlockingHttp, self, uri, method, body, headers, redirections, connection_type)
        if client.flow_threads and callback is None and _flow_state.http is self:
            # httplib2's flow calling request() again (a redirect): stay in it, here
            return self._httplib2_request(uri, method, body, headers, redirections, connection_type)
        created: list[_Job] = []
        try:
            return self._submit(uri, method, body, headers, redirections, connection_type, callback, created).result()
        except BaseException:
            # An interrupt (Ctrl-C) wherever it lands, even before the wait began: do
            # not leave the request running with nobody to read it.
            for job in created:
                if not job.done():
                    job.cancel()
            raise


_warned_foreign: set[tuple[type, type]] = set()


def _foreign_request(ours: type, obj: Any, *args: Any) -> tuple[Any, Any]:
    """``httplib2.Http.request(obj, ...)`` reached ours for an object we never built.

    That happens when ``httplib2.Http`` was swapped for our class after a library had
    already subclassed the real one (python-oauth2's ``Client`` calls
    ``httplib2.Http.request(self, ...)`` by name): the instance was made by httplib2
    and holds none of our state. httplib2 serves it, exactly as before the swap, and
    a warning says once per class (and class of ours called) how to move it onto
    asynchttp."""
    if isinstance(obj, Http):
        raise AttributeError(
            "%s was not initialised: its __init__ must call super().__init__()" % type(obj).__name__
        )
    cls = type(obj)
    if (cls, ours) not in _warned_foreign:
        _warned_foreign.add((cls, ours))
        logger.warning(
            "%s.%s subclasses httplib2.Http as it was before httplib2.Http was replaced: "
            "httplib2 itself serves it; replace httplib2.Http before importing %s to use asynchttp",
            cls.__module__, cls.__qualname__, cls.__module__,
        )
    return _HTTPLIB2_HTTP.request(obj, *args)  # type: ignore[no-any-return]


# A class whose seams are these has overridden none of them.
_BASE_REQUESTS = (Http.request, BlockingHttp.request)
_HTTPLIB2_REQUEST = _HTTPLIB2_HTTP._request
_POOL_CONN_REQUEST = Http._conn_request


def _learn_seams(cls: type) -> bool:
    """Does ``cls`` override ``request``, ``_request`` or ``_conn_request``? Asked once
    per class (methods assigned to a class after its first request are not seen)."""
    seamed = (
        cls.request not in _BASE_REQUESTS  # type: ignore[attr-defined]
        or cls._request is not _HTTPLIB2_REQUEST  # type: ignore[attr-defined]
        or cls._conn_request is not _POOL_CONN_REQUEST  # type: ignore[attr-defined]
    )
    cls._seamed = seamed  # type: ignore[attr-defined]
    return seamed
