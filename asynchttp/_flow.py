"""httplib2's own request flow, run on a flow thread of the Http; the one room that
keeps a thread-local.

A subclass that overrides ``request``, ``_request`` or ``_conn_request`` expects
httplib2's calls: ``request`` -> ``_request`` -> ``_conn_request`` per hop, and
``self.request`` again for a redirect. asynchttp's pipeline runs on the loop and
calls none of them, and user code must never run on the loop. So such requests (and
those given a ``connection_type``) run httplib2's ``Http.request`` itself, on a flow
thread of the Http, with ``_conn_request`` sending through the pool (for the
``_PoolConnection`` stand-in; ``send_through_pool``) or, for a caller's
``connection_type``, through that class with httplib2's own ``_conn_request``. Which
classes take this flow is decided in ``_http`` (``_learn_seams``), where the public
classes are.

The thread-local (``_flow_state``: which Http's flow runs on this thread, and the
sends to cancel with it) is read and written here only: ``_http`` asks through
``in_flow_of``, ``run_in_flow`` and ``send_through_pool``. ``tests/test_import_graph.py``
holds the wall.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextvars
import logging
import threading
from typing import Any, Callable, Optional

import httplib2

from . import _facts
from ._client import _Client, _Job
from ._protocols import FlowHttp
from ._semantics import _send_with_retries, default_user_agent
from ._uri import origin
from ._wire import current_request_id

__all__ = ["in_flow_of", "run_in_flow", "send_through_pool"]

logger = logging.getLogger("asynchttp")
_DEBUG = logging.DEBUG


class _FlowState(threading.local):
    """This thread's flow: the Http whose httplib2 flow runs here (so a redirect's
    ``self.request()`` stays in it) and the sends to cancel with it."""

    http: object = None  # an Http (typed object: `_flow_state.http is self` must not narrow self)
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

    def run(self, job: _Job, done: "asyncio.Future[Any]", loop: asyncio.AbstractEventLoop) -> None:
        """On a flow thread: httplib2's ``request()`` for ``job`` (whose flow this is);
        the outcome goes back to the runner waiting on the loop."""
        flow = self
        if flow.cancelled or job.cancelled():
            return  # cancelled while queued: its runner has stopped waiting
        outcome: tuple[Any, Optional[BaseException]]
        flow.context.run(_facts.adopt, job)  # its sends note their attempts on the job
        try:
            result = flow.context.run(
                _flow_request,
                job.http,
                flow,
                job.request_id,
                job.uri,
                job.method,
                job.body,
                job.headers,
                job.redirections,
                job.connection_type,
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


class _PoolConnection:
    """What httplib2's flow holds as ``conn`` when no ``connection_type`` was given:
    a stand-in naming the origin; ``Http._conn_request`` sends through the pool for it.
    It opens nothing (the pool owns the sockets), so ``close()`` does nothing."""

    scheme = "http"
    sock = None

    def __init__(
        self, host: str, port: Optional[int] = None, timeout: Any = None, proxy_info: Any = None, **_: Any
    ) -> None:
        self.authority = host  # httplib2 passes the URI's authority here
        self.host, self.port = origin(self.scheme, host)
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


def _deliver_flow_outcome(done: "asyncio.Future[Any]", outcome: tuple[Any, Optional[BaseException]]) -> None:
    if done.done():
        return  # the runner was cancelled
    result, error = outcome
    if error is None:
        done.set_result(result)
    else:
        done.set_exception(error)


def _flow_request(
    http: Optional[FlowHttp],
    flow: _Flow,
    request_id: int,
    uri: str,
    method: str,
    body: Any,
    headers: Optional[dict[str, str]],
    redirections: int,
    connection_type: Any,
) -> tuple[Any, Any]:
    assert http is not None  # the job keeps its Http until its request is over
    if logger.isEnabledFor(_DEBUG):
        current_request_id.set(request_id)  # the sends' log lines name the request
    state = _flow_state
    previous = state.flow
    state.flow = flow
    try:
        if headers is None:
            headers = {}
        if "user-agent" not in headers:
            headers["user-agent"] = default_user_agent()  # the one asynchttp sends elsewhere
        answer: tuple[Any, Any] = http._httplib2_request(uri, method, body, headers, redirections, connection_type)
        return answer
    finally:
        state.flow = previous


# ---------------------------------------------------------------------------
# What _http asks of the flow (the thread-local stays in this module)


def in_flow_of(http: object) -> bool:
    """Whether this thread runs ``http``'s httplib2 flow (a redirect's ``request()``
    call then stays in it)."""
    return _flow_state.http is http


def run_in_flow(http: object, client: _Client, request: Callable[..., Any], *args: Any) -> tuple[Any, Any]:
    """``request(*args)`` (httplib2's ``Http.request``) on this thread as ``http``'s
    flow: the thread-local names ``http`` meanwhile, and ``client`` counts the
    threads inside its flow (``request()`` looks at the thread-local only then)."""
    state = _flow_state
    previous = state.http
    state.http = http
    with client.flow_lock:
        client.flow_threads += 1
    try:
        answer: tuple[Any, Any] = request(*args)
        return answer
    finally:
        state.http = previous
        with client.flow_lock:
            client.flow_threads -= 1


def send_through_pool(
    http: FlowHttp,
    client: _Client,
    conn: _PoolConnection,
    request_uri: str,
    method: str,
    body: Any,
    headers: dict[str, str],
) -> tuple[httplib2.Response, Any]:
    """httplib2's ``_conn_request`` for a pool stand-in, from a thread other than the
    loop's: one request (with httplib2's retries and decoding) through ``client``'s
    pool, waited for here. The flow running on this thread, if any, cancels it with
    its request; nothing goes out once it is cancelled."""
    flow = _flow_state.flow
    if flow is not None and flow.cancelled:
        raise concurrent.futures.CancelledError()  # cancelled before this send: nothing goes out

    async def send_unless_cancelled() -> tuple[httplib2.Response, Any]:
        # Checked again on the loop: a cancel that lands between the hand-off and
        # this coroutine's first step must not let the request go out.
        if flow is not None and flow.cancelled:
            raise concurrent.futures.CancelledError()
        return await _send_with_retries(
            http, client.send_once, conn.scheme, conn.authority, request_uri, method, body, headers
        )

    send = client.run_holding(send_unless_cancelled)
    if flow is not None:
        flow.sends.add(send)
        if flow.cancelled:
            send.cancel()
    try:
        sent: tuple[httplib2.Response, Any] = send.result()
        return sent
    except BaseException:
        send.cancel()  # an interrupt while waiting: the send must not go on alone
        raise
    finally:
        if flow is not None:
            flow.sends.discard(send)
