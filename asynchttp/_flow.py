"""httplib2's own request flow, run on a flow thread of the Http.

A subclass that overrides ``request``, ``_request`` or ``_conn_request`` expects
httplib2's calls: ``request`` -> ``_request`` -> ``_conn_request`` per hop, and
``self.request`` again for a redirect. asynchttp's pipeline runs on the loop and
calls none of them, and user code must never run on the loop. So such requests (and
those given a ``connection_type``) run httplib2's ``Http.request`` itself, on a flow
thread of the Http, with ``_conn_request`` sending through the pool (for the
``_PoolConnection`` stand-in) or, for a caller's ``connection_type``, through that
class with httplib2's own ``_conn_request``. Which classes take this flow is decided
in ``_http`` (``_learn_seams``), where the public classes are.
"""

from __future__ import annotations

import asyncio
import contextvars
import threading
from typing import Any, Optional

from . import _facts
from ._client import _DEBUG, _current_request_id, _Job, _origin, logger
from ._semantics import default_user_agent


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


def _deliver_flow_outcome(done: "asyncio.Future[Any]", outcome: tuple[Any, Optional[BaseException]]) -> None:
    if done.done():
        return  # the runner was cancelled
    result, error = outcome
    if error is None:
        done.set_result(result)
    else:
        done.set_exception(error)


def _flow_request(
    http: Any,
    flow: _Flow,
    request_id: int,
    uri: str,
    method: str,
    body: Any,
    headers: Optional[dict[str, str]],
    redirections: int,
    connection_type: Any,
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
        answer: tuple[Any, Any] = http._httplib2_request(uri, method, body, headers, redirections, connection_type)
        return answer
    finally:
        state.flow = previous
