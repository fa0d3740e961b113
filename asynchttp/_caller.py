"""The caller-thread room: a ``BlockingHttp`` request sent and read on its caller's own
thread, over the core's blocking pool (``asynchttp_lowhaio.BlockingPool``).

``BlockingHttp`` waits for its answer anyway, so handing the request to the loop
thread and back is pure cost. Here the same request pipeline runs where it was called:
httplib2's semantics (``_semantics.run_httplib2_request``: headers, auth, redirects,
httplib2's retries, decoding, ``force_exception_to_status_code``) over a ``send_once``
that writes and reads with ``_wire.exchange_blocking`` on a blocking core pool. The
pipeline is a coroutine written for the loop; over this ``send_once`` it never
suspends (``drive`` runs it to its end in one step), because ``BlockingHttp`` sends
here only the requests whose every step is synchronous (``runs_here``):

- no cache (cache I/O runs in the cache threads, with one lock per cache and loop);
- no overridden seam, no ``connection_type``, no ``connection_type`` connection kept
  (httplib2's own flow runs on a flow thread: ``_flow``);
- no callback (callbacks run on the Http's workers);
- no sink or resume (bodies to disk: ``_sink``), no ``Retry`` and no ``RateLimit``
  (their backoff sleeps and token waits are the loop's, woken by ``close()``;
  ``_retry``, ``_ratelimit``); httplib2's own retries (``RETRIES``, the stale
  connection) are decided by ``_retry``'s pure functions on this path too;
- no ``get_tunnel`` of the caller's own, and no running event loop on this thread.

Everything else takes the loop path, unchanged. A hop that goes through a proxy (a
tunnel: CONNECT, SOCKS) is sent by the loop's pool even on this path: its handshake
is async (``_tunnels._Tunnel.negotiate``), so that one exchange is handed to the loop
(``_Client.run_holding``) and waited for here.

Each Http keeps its blocking pools (one per TLS client identity, as the loop keeps its
pool generations) in a ``CallerPools`` on its ``_Client``: ``close()`` retires them
(idle connections go now, requests in flight finish on theirs), shutdown and garbage
collection close them, a fork forgets them.
"""

from __future__ import annotations

import asyncio
import threading
from typing import Any, Callable, Coroutine, Optional

import httplib2

from asynchttp_lowhaio import BlockingPool, HttpError, Request

from . import _facts
from ._client import _DEBUG, _Client, _request_ids, logger
from ._errors import ShutdownError, describe, mark_request, to_httplib2_error
from ._protocols import FlowHttp
from ._semantics import run_httplib2_request
from ._tunnels import _lazy_ssl_context
from ._uri import host_of, origin, safe_uri, uri_parts
from ._wire import current_request_id, exchange_blocking

__all__ = ["CallerPools", "Suspended", "caller_pools", "drive", "loop_running_here", "run_here", "runs_here"]

# Pool() options a blocking pool has no use for (it makes no tunnel of its own).
_LOOP_ONLY_OPTIONS = ("get_tunnel",)


class Suspended(RuntimeError):
    """The pipeline waited for an event loop on the caller's thread: a request that
    ``runs_here`` should have sent to the loop path."""


def drive(coro: Coroutine[Any, Any, Any]) -> Any:
    """Run a coroutine that never suspends to its end, here, in one step."""
    try:
        coro.send(None)
    except StopIteration as done:
        return done.value
    coro.close()
    raise Suspended("asynchttp: a request on the caller's thread waited for an event loop")


def loop_running_here() -> bool:
    """Whether this thread runs an event loop (the pipeline must not block it, and its
    steps would find that loop): such a caller takes the loop path."""
    return asyncio._get_running_loop() is not None


class CallerPools:
    """An Http's blocking core pools, one per TLS client identity, and their retirement."""

    def __init__(self) -> None:
        # identity -> (request, close) of a blocking pool, and its prepared requests
        self.pools: dict[Any, tuple[Callable[..., Any], Callable[..., Any], dict[Any, Request]]] = {}
        self.lock = threading.Lock()
        self.closed = False

    def pool_for(
        self, client: _Client, identity: Any
    ) -> tuple[Callable[..., Any], Callable[..., Any], dict[Any, Request]]:
        made = self.pools.get(identity)
        if made is None:
            with self.lock:
                if self.closed:  # a request still running (say httplib2's resend) after shutdown
                    raise ShutdownError("this Http was shut down; it takes no new requests")
                made = self.pools.get(identity)
                if made is None:
                    made = self.pools[identity] = (*self._new_pool(client, identity), {})
        return made

    def _new_pool(self, client: _Client, identity: Any) -> tuple[Callable[..., Any], Callable[..., Any]]:
        config = client.pool_options
        assert config is not None  # set by the Http before its first request
        options = {name: value for name, value in config.options.items() if name not in _LOOP_ONLY_OPTIONS}
        if "get_ssl_context" not in options and config.tls is not None:
            options["get_ssl_context"] = _lazy_ssl_context(config.tls, identity)
        return BlockingPool(**options)

    def retire(self) -> None:
        """Http.close(): idle connections go now, requests in flight finish on theirs;
        the next request makes new pools (with the Http's options as they are then)."""
        with self.lock:
            pools, self.pools = self.pools, {}
        for _, close, _ in pools.values():
            close(abort=False)

    def close(self, abort: bool) -> None:
        """Shutdown: no new request; with ``abort``, requests in flight fail at once."""
        with self.lock:
            self.closed = True
            pools, self.pools = self.pools, {}
        for _, close, _ in pools.values():
            close(abort=abort)

    def forget_after_fork(self) -> None:
        """In a forked child: drop the parent's connections without touching them (a
        shutdown() would end the parent's; closing our copies of the fds is enough)."""
        self.pools = {}
        self.lock = threading.Lock()


def caller_pools(client: _Client) -> CallerPools:
    pools = client.caller
    if pools is None:
        with client.lock:
            pools = client.caller
            if pools is None:
                pools = client.caller = CallerPools()
    return pools  # type: ignore[no-any-return]


def runs_here(http: FlowHttp, client: _Client) -> bool:
    """Whether ``http``'s request can run on this thread (see the module)."""
    config = client.pool_options
    return http.cache is None and not loop_running_here() and (config is None or "get_tunnel" not in config.options)


def run_here(
    http: FlowHttp,
    client: _Client,
    uri: str,
    method: str,
    body: Optional[bytes],
    headers: Optional[dict[str, str]],
    redirections: int,
) -> tuple[httplib2.Response, bytes]:
    """One ``BlockingHttp.request()`` on this thread: httplib2's pipeline over the
    blocking pool. Errors are httplib2's, as on the loop path."""
    request_id = next(_request_ids)
    debug = logger.isEnabledFor(_DEBUG)
    token = None
    if debug:
        logger.debug("request %d started on the caller's thread: %s %s", request_id, method, safe_uri(uri))
        token = current_request_id.set(request_id)
    pools = caller_pools(client)
    # Not another request's facts (a callback of an Http's request may call us): this
    # request has none on this path (its Retry, RateLimit and facts are the loop's).
    facts_token = _facts.CURRENT.set(None)

    async def send_once(
        scheme: str, authority: str, request_uri: str, method: str, body: Optional[bytes], headers: dict[str, str]
    ) -> tuple[httplib2.Response, bytes]:
        return send_blocking(client, pools, scheme, authority, request_uri, method, body, headers)

    try:
        answer: tuple[httplib2.Response, bytes] = drive(
            run_httplib2_request(http, send_once, uri, method, body, headers, redirections, None)
        )
    except Exception as exc:
        error: BaseException = exc
        if isinstance(exc, HttpError):  # a core error the pipeline let through
            error = to_httplib2_error(exc, host_of(uri_parts(uri)[1]))
        mark_request(error, request_id)  # .request_id and .phase, as on the loop path
        logger.warning("request %d failed: %s %s: %s", request_id, method, safe_uri(uri), describe(error))
        if error is exc:
            raise
        raise error from exc
    finally:
        _facts.CURRENT.reset(facts_token)
        if token is not None:
            current_request_id.reset(token)
    if debug:
        logger.debug("request %d resolved", request_id)
    return answer


def send_blocking(
    client: _Client,
    pools: CallerPools,
    scheme: str,
    authority: str,
    request_uri: str,
    method: str,
    body: Optional[bytes],
    headers: dict[str, str],
) -> tuple[httplib2.Response, bytes]:
    """``send_once`` of the caller's path: one exchange on the blocking pool of the
    request's TLS identity; through a proxy, on the loop's pool (see the module)."""
    config = client.pool_options
    assert config is not None
    proxies = config.proxies
    if proxies is not None:
        host, port = origin(scheme, authority)
        if proxies.plan(scheme, host, port) is not None:
            return _send_on_loop(client, scheme, authority, request_uri, method, body, headers)
    identity = client._tls_identity(scheme, authority) if scheme == "https" else None
    request, _, memo = pools.pool_for(client, identity)
    return exchange_blocking(
        request,
        memo,
        scheme,
        authority,
        request_uri,
        method,
        body,
        headers,
        config.options.get("http_version", b"HTTP/1.1"),
        proxies,
    )


def _send_on_loop(
    client: _Client,
    scheme: str,
    authority: str,
    request_uri: str,
    method: str,
    body: Optional[bytes],
    headers: dict[str, str],
) -> tuple[httplib2.Response, bytes]:
    if logger.isEnabledFor(_DEBUG):
        logger.debug("request %d: through a proxy: this exchange goes to the loop", current_request_id.get())
    send = client.run_holding(lambda: client.send_once(scheme, authority, request_uri, method, body, headers))
    try:
        answer: tuple[httplib2.Response, bytes] = send.result()
        return answer
    except BaseException:
        send.cancel()  # an interrupt while waiting: the send must not go on alone
        raise
