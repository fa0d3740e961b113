"""The client room: one request as a job, and the loop side of an Http.

A request is a small ``_Job`` (the job IS the request's Future), appended to its
Http's ``_Client`` queue; the caller wakes the loop once per batch (a flag says a
drain is already scheduled, so a tight loop of N submissions costs one wake-up).

On the loop, each ``Http`` has a ``_Client``: its core pools (one generation per TLS
client identity, retired by ``close()``) and a bounded set of long-lived runner
coroutines (at most ``max_connections``) that pop jobs in submission order and run
the request pipeline on them (httplib2's policies, ``_semantics.run_httplib2_request``,
over ``send_once``). No Task per request, no thread per request: any number of jobs
may wait in the queue. A job that must run httplib2's own flow carries a ``Flow``
(``_flow._Flow``) that runs it on a flow thread while its runner waits. The client
also holds the loop (``_loop.attach``) while it has work there, lets it go when
idle, and carries fork and shutdown.

``_Client.send_once`` is the seam with the httplib2-semantics layer: one request over
the pool ``generation()`` gives. The client room owns the pools; the wire work (head,
body, response building, error mapping) is the wire room's (``_wire.send_once``,
which this class takes as its method).
"""

from __future__ import annotations

import asyncio
import collections
import concurrent.futures
import functools
import itertools
import logging
import threading
import traceback
from typing import Any, Callable, Optional, Protocol

from asynchttp_lowhaio import HttpError, Pool, Request

from . import _facts, _loop, _retry, _sink
from ._errors import ShutdownError, describe, mark_request, to_httplib2_error
from ._promise import CANCELLED_AND_NOTIFIED, PENDING, Promise, RequestFuture, run_done_callbacks
from ._protocols import FlowHttp

# The request pipeline: httplib2's policies (cache, auth, redirects, decoding,
# retries) over send_once; any coroutine with run_httplib2_request's signature fits.
from ._semantics import run_httplib2_request as _run_request
from ._tunnels import _lazy_ssl_context, _PoolOptions, _Tunnels
from ._uri import host_of, safe_uri, uri_parts
from ._wire import current_request_id, send_once

logger = logging.getLogger("asynchttp")
_DEBUG = logging.DEBUG

_request_ids = itertools.count(1)


class Flow(Protocol):
    """What a job that takes httplib2's own flow carries (``_flow._Flow``): it runs the
    job on a flow thread, and cancels its sends in progress when the job is cancelled."""

    def run(self, job: "_Job", done: "asyncio.Future[Any]", loop: asyncio.AbstractEventLoop) -> None: ...

    def cancel_sends(self) -> None: ...


# ---------------------------------------------------------------------------
# The job: one request, and its Future


class _Job(RequestFuture, _facts.FactsMixin):
    """A queued request. Small on purpose: any number of them may wait. Its
    ``attempts`` and ``timings`` are the request's facts (``_facts``)."""

    # Set on the instance for a sink request only (see _sink): where its body goes,
    # and how many body bytes it wrote.
    sink: Optional[_sink.Sink] = None
    body_bytes: Optional[int] = None

    __slots__ = (
        "http",
        "client",
        "uri",
        "method",
        "body",
        "headers",
        "redirections",
        "connection_type",
        "callback",
        "request_id",
        "task",
        "stack",
        "flow",
        "_queued",
        "_record",
        "_retry",
    )

    def __init__(
        self,
        http: FlowHttp,
        client: "_Client",
        uri: str,
        method: str,
        body: Optional[bytes],
        headers: Optional[dict[str, str]],
        redirections: int,
        connection_type: Any,
        callback: Optional[Callable[[Promise], Any]],
        flow: Optional[Flow] = None,
        retry: Any = None,
    ) -> None:
        RequestFuture.__init__(self)
        self._queued = _facts.monotonic()
        self._record: Optional[_facts.RequestRecord] = None
        self._retry = retry  # the request's own Retry, False (none) or None (the Http's)
        self.http: Optional[FlowHttp] = http
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
        self.http = None
        self.body = None
        self.headers = None
        self.connection_type = None

    def _after_cancel(self) -> None:
        if logger.isEnabledFor(_DEBUG):
            logger.debug("request %d cancelled: %s %s", self.request_id, self.method, safe_uri(self.uri))
        self.client.cancel_in_flight(self)

    def _dispatch_callbacks(self, callbacks: list[Callable[[Any], Any]]) -> None:
        self.client.workers.submit(run_done_callbacks, self, callbacks)

    def _log_wait(self) -> None:
        if logger.isEnabledFor(_DEBUG):
            logger.debug("request %d waited on: %s %s", self.request_id, self.method, safe_uri(self.uri))

    def __repr__(self) -> str:
        return "<request %d %s %s state=%s>" % (
            self.request_id,
            self.method,
            safe_uri(self.uri),
            self._state,
        )


def _run_callback(job: _Job, result: Optional[tuple[Any, Any]], error: Optional[BaseException]) -> None:
    """On a worker thread: the user's callback, then release the readers."""
    if not job._begin_running():
        return  # cancelled while its callback was queued
    response, content = result if result is not None else (None, None)
    promise = Promise(job, response, content, error, job.request_id, job.uri, job.method)
    debug = logger.isEnabledFor(_DEBUG)
    if debug:
        logger.debug("request %d callback start: %s %s", job.request_id, job.method, safe_uri(job.uri))
    try:
        job.callback(promise)  # type: ignore[misc]
    except BaseException as exc:  # even SystemExit must not leave the readers hanging
        stack = "".join(job.stack.format()) if job.stack is not None else "(unknown)\n"
        logger.error(
            "request %d: callback %r failed; the request was made at:\n%s",
            job.request_id,
            job.callback,
            stack,
            exc_info=True,
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
        if getattr(final_error, "request_id", None) is None:  # the callback's own exception
            mark_request(final_error, job.request_id)
        job._settle(None, final_error)


# ---------------------------------------------------------------------------
# The loop side of one Http


class _PoolGeneration:
    """One core pool. ``close()`` on the Http retires it: idle connections go now,
    requests in flight finish on it, and it is closed when the last one is done.
    ``http_version`` and ``proxies`` are what the wire room needs to know of the options
    it was made with (what the pool speaks; whose proxy plans name a failure's proxy)."""

    __slots__ = ("request", "close", "inflight", "retired", "closing", "http_version", "proxies", "prepared")

    def __init__(self, request: Any, close: Any, http_version: bytes, proxies: Optional[_Tunnels]) -> None:
        self.request = request
        self.close = close
        self.inflight = 0
        self.retired = False
        self.closing: Optional[asyncio.Task[Any]] = None
        self.http_version = http_version
        self.proxies = proxies
        self.prepared: dict[Any, Request] = {}  # the wire room's prepared requests for this pool


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
        # BlockingHttp's pools on its callers' threads (_caller.CallerPools), made at
        # its first request there; None until then, and for Http.
        self.caller: Any = None
        self.closed = False
        self.wakeups = 0  # loop wake-ups asked for by submitters (one per batch, not per request)
        self.resilience = _retry.Resilience(None, None)  # the Http sets its retry and rate limit
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
        closed = self.closed  # a local: the check below must read the attribute again
        if closed:
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
        if self.finished:  # shut down and closed: no new pool may be made for it
            raise ShutdownError("this Http was shut down; it takes no new requests")
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
        if self.caller is not None:
            self.caller.retire()
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
        if self.caller is not None:
            self.caller.close(abort=cancel_pending)
        future = None
        if not self.finished:
            future = self._run_held(lambda: self._aclose(cancel_pending))
        if future is None:
            # nothing of this client was on a loop: it is finished as it stands
            self.finished = True
            self._stop_workers(wait, None)
            return
        if wait and self.flow_workers.is_current():
            # Called from inside httplib2's flow of one of this client's requests (an
            # override closing its Http): that request cannot finish while its own
            # thread waits for it, so the shutdown goes on without waiting.
            wait = False
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
        if self.caller is not None:
            self.caller.forget_after_fork()
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
                    stopping = self.stopping  # a local: the attribute is read again after the wait
                    if stopping:
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
            logger.debug("request %d started: %s %s", job.request_id, job.method, safe_uri(job.uri))
        job.task = task
        self.running.add(job)
        _facts.begin(job, self.resilience)
        if debug:
            current_request_id.set(job.request_id)
        try:
            if job.flow is None:
                http = job.http
                assert http is not None  # dropped only once the request is over
                # a sink request: the same pipeline, its final 2xx body to the sink
                run = _run_request if job.sink is None else functools.partial(_sink.run, job.sink, _run_request)
                result = await run(
                    http,
                    self.send_once,
                    job.uri,
                    job.method,
                    job.body,
                    job.headers,
                    job.redirections,
                    job.connection_type,
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
            error: BaseException = exc
            if isinstance(exc, HttpError):  # a core error the pipeline let through
                error = to_httplib2_error(exc, host_of(uri_parts(job.uri)[1]))
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
        flow = job.flow
        assert flow is not None  # only a job with a flow comes here
        self.flow_workers.submit(flow.run, job, done, loop)
        try:
            return await done
        except asyncio.CancelledError:
            flow.cancel_sends()
            raise

    def _finish(self, job: _Job, result: Optional[tuple[Any, Any]], error: Optional[BaseException]) -> None:
        record = job._record  # the outcome is known: when (inline: every request passes here)
        if record is not None and record.done is None:
            record.done = _facts.monotonic()
        if error is not None:
            mark_request(error, job.request_id)  # .request_id and .phase on what the caller sees
            logger.warning(
                "request %d failed: %s %s: %s", job.request_id, job.method, safe_uri(job.uri), describe(error)
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
        request, close = Pool(**options)
        http_version = options.get("http_version", b"HTTP/1.1")
        gen = self.gens[identity] = _PoolGeneration(request, close, http_version, config.proxies)
        return gen

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
            self.close_when_idle(gen)

    def close_when_idle(self, gen: _PoolGeneration) -> None:
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

    # -- the seam with the semantics layer ------------------------------------------

    def generation(self, scheme: str, authority: str) -> _PoolGeneration:
        """The pool a request to ``authority`` goes through: this Http's current one for
        the TLS client identity httplib2 would present there, made on first use."""
        identity = self._tls_identity(scheme, authority) if scheme == "https" else None
        gen = self.gens.get(identity)
        if gen is None:
            if self.stopping:
                raise ShutdownError("this Http was shut down")
            gen = self._new_generation(identity)
        return gen

    # Where the body of the request being sent goes, when it is a sink request (None:
    # into memory); read on the loop, in the request's context.
    current_sink = staticmethod(_sink.current)

    # One request over generation(), as http.client would write it, the whole answer
    # read: the wire room's function, as a method (no second coroutine per request).
    send_once = send_once
