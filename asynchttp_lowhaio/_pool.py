"""Pool(): connections per origin, limits, waiting, keep-alive, request().

``Pool(**options)`` returns ``(request, close)`` like lowhaio.  The pool keeps
idle connections per origin ``(scheme, host, port)`` and hands the most
recently used one to the next request, but only if it is still open, has
not outlived ``keep_alive_timeout``, and its peer is still one of the host's
current DNS addresses.  Limits (total, per host) are enforced with one FIFO
queue: when a connection is released or a slot frees, the oldest waiter that
can use it is *granted* it directly, so nobody can jump the queue between the
wake-up and the waiter running.

A request that finds its reused connection closed before any response byte
arrived is retried once on a fresh connection, if its method is idempotent.

The decisions (which idle connection, grant or queue, what expires, the
limits) are made by ``PoolPolicy`` in ``_policy.py``, which does no I/O;
this module carries them out: it resolves, connects, sends, and runs the
timers.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import time
from collections import deque
from dataclasses import dataclass
from typing import (
    TYPE_CHECKING,
    Any,
    AsyncIterator,
    Awaitable,
    Callable,
    Dict,
    Iterable,
    List,
    NamedTuple,
    Optional,
    Set,
    Tuple,
)

from aiodnsresolver import Resolver

from ._connection import ACTIVE, CLOSED, IDLE, Connection
from ._dns import resolve_host
from ._errors import (
    HttpConnectError,
    HttpConnectionClosedError,
    HttpConnectTimeoutError,
    HttpLocalError,
    HttpPoolClosedError,
    HttpPoolTimeoutError,
    HttpTlsError,
)
from ._parser import ResponseHead
from ._policy import SLOT, PoolPolicy
from ._rules import IDEMPOTENT_METHODS
from ._transport import (
    Socket,
    SSLContext,
    abort_handshake,
    default_ssl_context,
    get_nonblocking_sock,
    is_tls_error,
    new_sock,
    sock_connect,
    start_transport,
)
from ._writer import Target, _is_ip, compose_head, parse_url

__all__ = [
    "Pool",
    "Request",
    "prepare_request",
    "PoolOptions",
    "PoolState",
    "ResponseBody",
    "streamed",
    "buffered",
    "empty_async_iterator",
    "HttpLoggerAdapter",
    "get_logger_adapter_default",
    "get_resolver_logger_adapter_default",
]

logger = logging.getLogger("asynchttp_lowhaio")

Key = Tuple[str, str, int]

# logging.LoggerAdapter is generic to type checkers, but subscriptable at run time only
# from Python 3.11 on.
if TYPE_CHECKING:
    _LoggerAdapter = logging.LoggerAdapter[Any]
else:
    _LoggerAdapter = logging.LoggerAdapter


# ------------------------------------------------------------------ helpers
async def empty_async_iterator(*_: Any, **__: Any) -> AsyncIterator[bytes]:
    """The default request body: nothing."""
    nothing: tuple[bytes, ...] = ()
    for chunk in nothing:
        yield chunk  # pragma: no cover


def streamed(data: bytes) -> Callable[..., AsyncIterator[bytes]]:
    """A body callable that yields ``data`` once (and again on each call, for retries)."""

    async def _streamed(*_: Any, **__: Any) -> AsyncIterator[bytes]:
        yield data

    return _streamed


async def buffered(data: AsyncIterator[bytes]) -> bytes:
    """All the chunks of an async iterator, joined.

    A response body of this pool is read whole instead (``ResponseBody.read_all``):
    a Content-Length body goes straight into one buffer, with no join.
    """
    if type(data) is ResponseBody:
        return await data.read_all()
    return b"".join([chunk async for chunk in data])


class HttpLoggerAdapter(_LoggerAdapter):
    """Prefixes messages with the request's method and URL.

    The values are %-escaped, so a URL containing ``%`` never breaks the
    logging call (lowhaio's PR #26).  Messages always carry arguments.
    """

    def process(self, msg: Any, kwargs: Any) -> Tuple[Any, Any]:
        context = self.extra or {}
        if not context:
            return f"[http] {msg}", kwargs
        prefix = ",".join(str(value).replace("%", "%%") for value in context.values())
        return f"[http:{prefix}] {msg}", kwargs


def get_logger_adapter_default(extra: dict[str, Any]) -> logging.LoggerAdapter[Any]:
    return HttpLoggerAdapter(logger, extra)


def get_resolver_logger_adapter_default(
    http_extra: dict[str, Any],
) -> Callable[[dict[str, Any]], logging.LoggerAdapter[Any]]:
    # aiodnsresolver's adapter puts the values into the format string unescaped:
    # a "%" in the URL would break every DNS log line, so escape them here.
    escaped = {key: str(value).replace("%", "%%") for key, value in http_extra.items()}

    def _get_resolver_logger_adapter(dns_extra: dict[str, Any]) -> logging.LoggerAdapter[Any]:
        from aiodnsresolver import ResolverLoggerAdapter

        adapter: logging.LoggerAdapter[Any] = ResolverLoggerAdapter(
            logging.getLogger("aiodnsresolver"), {**escaped, **dns_extra}
        )
        return adapter

    return _get_resolver_logger_adapter


def _quiet_adapter(_: dict[str, Any]) -> logging.LoggerAdapter[Any]:
    # One shared adapter while debug logging is off: nothing to build per request.
    return _DNS_ADAPTER


_DNS_ADAPTER: logging.LoggerAdapter[Any] = logging.LoggerAdapter(logging.getLogger("aiodnsresolver"), {})


# ------------------------------------------------------------- the waiters
class _Waiter:
    __slots__ = ("key", "future", "addresses")

    def __init__(self, key: Key, future: asyncio.Future[Any], addresses: Tuple[str, ...]) -> None:
        self.key = key
        self.future = future
        self.addresses = addresses

    def done(self) -> bool:
        return self.future.done()


# ------------------------------------------------------------ the options
@dataclass(frozen=True)
class PoolOptions:
    """The pool's numbers, checked once: timeouts in seconds, limits, sizes in bytes."""

    http_version: bytes
    keep_alive_timeout: float
    recv_bufsize: int
    max_header_length: int
    max_header_count: int
    socket_timeout: float
    connect_timeout: float
    response_head_timeout: Optional[float]  # None: default_head_timeout(socket_timeout)
    max_connections: int
    max_connections_per_host: int
    max_wait_connection_seconds: Optional[float]
    max_requests_per_connection: Optional[int]
    max_idle_connections: int

    def __post_init__(self) -> None:
        if self.response_head_timeout is None and isinstance(self.socket_timeout, (int, float)):
            # frozen: the default is set once, here, from the socket timeout it goes with
            object.__setattr__(self, "response_head_timeout", default_head_timeout(self.socket_timeout))
        _check_options(**{name: value for name, value in vars(self).items() if name in _NUMBERS})
        if self.max_wait_connection_seconds is not None and self.max_wait_connection_seconds < 0:
            raise ValueError("max_wait_connection_seconds must be >= 0 or None")
        if self.max_requests_per_connection is not None and self.max_requests_per_connection < 1:
            raise ValueError("max_requests_per_connection must be >= 1 or None")

    @property
    def head_timeout(self) -> float:
        """The response head deadline: as given, or the one that goes with socket_timeout."""
        given = self.response_head_timeout
        return given if given is not None else default_head_timeout(self.socket_timeout)


_NUMBERS = (
    "keep_alive_timeout",
    "recv_bufsize",
    "max_header_length",
    "max_header_count",
    "socket_timeout",
    "connect_timeout",
    "response_head_timeout",
    "max_connections",
    "max_connections_per_host",
    "max_idle_connections",
)


class Request(NamedTuple):
    """A request checked and serialised once (``prepare_request``), ready for any
    connection to its origin on either driver: ``request(prepared)`` sends it as it is,
    without parsing or checking it again."""

    method: bytes
    target: Target  # the URL split: scheme, host, port, request target, Host value
    head: bytes  # the request line and header block, as they go on the wire
    chunked: bool  # the body goes with chunked framing
    has_body: bool  # a body callable goes with the request
    wants_close: bool  # the caller's headers say Connection: close
    http_version: bytes  # b"HTTP/1.1" or b"HTTP/1.0": a pool sends only its own


def prepare_request(
    method: bytes,
    url: str,
    params: Iterable[Any] = (),
    headers: Iterable[Any] = (),
    has_body: bool = False,
    http_version: bytes = b"HTTP/1.1",
) -> Request:
    """Check a request and build its head once, for either driver: every local error
    (``HttpLocalError``: a bad method, URL, port, header name or value, a chunked body
    to HTTP/1.0) is raised here, before any I/O. ``has_body``: a body will be given
    (without a framing header it then goes chunked)."""
    if type(method) is not bytes:
        raise HttpLocalError(f"method must be bytes, not {type(method).__name__}")
    headers = tuple(headers)
    target = parse_url(url, params)
    head, chunked, wants_close = compose_head(method, target, headers, http_version, has_body)
    if chunked and http_version == b"HTTP/1.0":
        # RFC 9112 6.1: no chunked request to an HTTP/1.0 peer; the caller must frame it.
        raise HttpLocalError("an HTTP/1.0 request body needs a content-length header")
    return Request(method, target, head, chunked, has_body, wants_close, http_version)


def checked_request(
    prepared: Request,
    url: Optional[str],
    params: Iterable[Any],
    headers: Iterable[Any],
    has_body: bool,
    http_version: bytes,
) -> Request:
    """A prepared request handed to a driver's ``request()``, taken as it is (trusted:
    only whether it fits the call and the pool is looked at)."""
    if url is not None or params or headers:
        raise HttpLocalError("a prepared request carries its URL, params and headers: pass none beside it")
    if prepared.has_body is not has_body:
        raise HttpLocalError(
            "the request was prepared with%s a body, and is sent with%s one"
            % ("" if prepared.has_body else "out", "" if has_body else "out")
        )
    if prepared.http_version != http_version:
        raise HttpLocalError(
            f"the request was prepared for {prepared.http_version!r}; this pool speaks {http_version!r}"
        )
    return prepared


def request_of_call(
    method: "bytes | Request",
    url: Optional[str],
    params: Iterable[Any],
    headers: Iterable[Any],
    has_body: bool,
    http_version: bytes,
) -> Request:
    """What a driver's ``request()`` sends, for either driver: a prepared request taken
    as it is (only checked against the call), else the request prepared here."""
    if type(method) is Request:  # prepared by the caller: not parsed or checked again
        return checked_request(method, url, params, headers, has_body, http_version)
    if url is None:  # as when the argument was required (lowhaio's signature)
        raise TypeError("request() missing 1 required positional argument: 'url'")
    return prepare_request(method, url, params, headers, has_body, http_version)  # type: ignore[arg-type]


# Without an explicit response_head_timeout, the whole response head must arrive within
# this multiple of socket_timeout, never more than the cap. Three: the inactivity limit
# already lets an honest server think for up to one socket_timeout before its first
# byte; two more leave room for a head (at most max_header_length bytes, usually one
# segment) crossing a slow or lossy link in several pieces. A server dripping its head
# a byte at a time is cut off at a few times the timeout the caller asked for, never
# at the cap of 60 s that a short socket_timeout would otherwise leave.
HEAD_TIMEOUT_FACTOR = 3
HEAD_TIMEOUT_CAP = 60.0


def default_head_timeout(socket_timeout: float) -> float:
    """The response head deadline that goes with ``socket_timeout``."""
    return min(HEAD_TIMEOUT_CAP, round(HEAD_TIMEOUT_FACTOR * socket_timeout, 6))


# ------------------------------------- shared by both drivers (no I/O here)
def policy_for(options: PoolOptions) -> PoolPolicy[Any, Any]:
    """The ``PoolPolicy`` that keeps a pool's books, with the limits of ``options``."""
    return PoolPolicy(
        max_connections=options.max_connections,
        max_connections_per_host=options.max_connections_per_host,
        max_idle_connections=options.max_idle_connections,
        keep_alive_timeout=options.keep_alive_timeout,
    )


def pool_repr(name: str, policy: PoolPolicy[Any, Any], active: int, closed: bool) -> str:
    return (
        f"<{name} connections={policy.total} active={active} idle={policy.idle_count} "
        f"waiting={len(policy.waiters)} closed={closed}>"
    )


def pool_stats(policy: PoolPolicy[Any, Any], active: int) -> Dict[str, int]:
    """Counts, for tests and debugging."""
    return {
        "connections": policy.total,
        "active": active,
        "idle": policy.idle_count,
        "waiting": len(policy.waiters),
    }


def request_loggers(
    req: Request,
    get_logger_adapter: Optional[Callable[[dict[str, Any]], logging.LoggerAdapter[Any]]],
    get_resolver_logger_adapter: Optional[Callable[[dict[str, Any]], Callable[..., Any]]],
    pool_logger_adapter: Callable[[dict[str, Any]], logging.LoggerAdapter[Any]],
    pool_resolver_logger_adapter: Callable[[dict[str, Any]], Callable[..., Any]],
) -> Tuple[Optional[logging.LoggerAdapter[Any]], Callable[..., Any]]:
    """The request's log adapter (None while debug logging is off) and its DNS one:
    the request's own adapters if given, else the pool's."""
    if not logger.isEnabledFor(logging.DEBUG) and get_logger_adapter is None:
        return None, _quiet_adapter
    extra = {"method": req.method.decode("latin-1"), "url": req.target.log_url}
    log = (get_logger_adapter or pool_logger_adapter)(extra)
    return log, (get_resolver_logger_adapter or pool_resolver_logger_adapter)(extra)


def is_reusable(options: PoolOptions, conn: Any, refused: bool) -> bool:
    """Whether a connection whose response was read may go back to the idle ones
    (``refused``: the pool takes none back, being closed or retired)."""
    max_requests = options.max_requests_per_connection
    return not (
        refused
        or not options.keep_alive_timeout
        # IDLE too: a connection granted to a waiter that was cancelled (or gave up) comes back unused
        or (conn.state is not ACTIVE and conn.state is not IDLE)
        or (max_requests is not None and conn.requests >= max_requests)
    )


class LazySSLContext:
    """A pool's ``SSLContext``, made once, on the first https request."""

    __slots__ = ("_make", "_context")

    def __init__(self, make: Callable[[], SSLContext]) -> None:
        self._make = make
        self._context: Optional[SSLContext] = None

    def for_scheme(self, scheme: str) -> Optional[SSLContext]:
        if scheme != "https":
            return None
        if self._context is None:
            self._context = self._make()
        return self._context


def body_done(
    pool: Any, conn: Any, keep_alive: bool, wants_close: bool, log: Optional[logging.LoggerAdapter[Any]]
) -> None:
    """A response body read to its end: its connection goes back to ``pool`` if the
    response and the request both allow reuse, else it is discarded."""
    if log is not None:
        log.debug("body done on %s", conn.peer)
    if keep_alive and not wants_close:
        pool.release(conn)
    else:
        pool.discard(conn, "the response does not allow reuse", log)


def log_closing(conn: Any, reason: str, log: Optional[logging.LoggerAdapter[Any]]) -> None:
    """The debug line for closing ``conn``: on the request's adapter during a request
    (it carries its method and URL), else on the module logger."""
    if log is not None:
        log.debug("closing %r: %s", conn, reason)
    elif logger.isEnabledFor(logging.DEBUG):
        logger.debug("closing %r: %s", conn, reason)


# ---------------------------------------------------------- the pool state
class PoolState:
    """The pool's I/O: connecting, sending, timers; ``request`` and ``close`` are its public face.

    What to reuse, whom to serve and what to expire is decided by its
    ``PoolPolicy`` (``_policy.py``), which does no I/O; this class carries out
    the decisions.  It is also each connection's owner (``ConnectionOwner``).
    """

    def __init__(
        self,
        options: PoolOptions,
        *,
        get_dns_resolver: Callable[..., Any],
        get_sock: Callable[..., Socket],
        get_ssl_context: Callable[[], SSLContext],
        get_logger_adapter: Callable[[dict[str, Any]], logging.LoggerAdapter[Any]],
        get_resolver_logger_adapter: Callable[[dict[str, Any]], Callable[[dict[str, Any]], logging.LoggerAdapter[Any]]],
        get_tunnel: Optional[Callable[[str, str, int], Any]] = None,
    ) -> None:
        self.loop = asyncio.get_running_loop()
        self.options = options
        self._get_sock = get_sock
        self._ssl_context = LazySSLContext(get_ssl_context)
        self._get_logger_adapter = get_logger_adapter
        self._get_resolver_logger_adapter = get_resolver_logger_adapter
        self._get_tunnel = get_tunnel
        self._resolve, self._clear_dns_cache = get_dns_resolver(get_logger_adapter=get_resolver_logger_adapter({}))
        self._no_a_record: Dict[str, float] = {}
        self._policy: PoolPolicy[Connection, _Waiter] = policy_for(options)
        self._active: Set[Connection] = set()
        self._sweep: Optional[asyncio.TimerHandle] = None
        self._closed = False
        self._connecting: Set[asyncio.Future[Any]] = set()  # TCP connects under way: close() fails them at once
        self._handshaking: Set[Socket] = set()  # sockets in a TLS handshake: close() shuts them down

    def __repr__(self) -> str:
        return pool_repr("Pool", self._policy, len(self._active), self._closed)

    def stats(self) -> Dict[str, int]:
        """Counts, for tests and debugging."""
        return pool_stats(self._policy, len(self._active))

    # ---------------------------------------------------------- request()
    async def request(
        self,
        method: bytes | Request,
        url: Optional[str] = None,
        params: Iterable[Any] = (),
        headers: Iterable[Any] = (),
        body: Callable[..., AsyncIterator[bytes]] = empty_async_iterator,
        body_args: Iterable[Any] = (),
        body_kwargs: Iterable[Any] = (),
        get_logger_adapter: Optional[Callable[[dict[str, Any]], logging.LoggerAdapter[Any]]] = None,
        get_resolver_logger_adapter: Optional[Callable[[dict[str, Any]], Callable[..., Any]]] = None,
        before_send: Optional[Callable[[], Awaitable[Any]]] = None,
    ) -> Tuple[bytes, Tuple[Tuple[bytes, bytes], ...], "ResponseBody"]:
        """Send one request and read its response head; ``(code, headers, body)``.

        ``method`` may be a ``Request`` from ``prepare_request`` (then with no ``url``,
        ``params`` or ``headers``): it is sent as prepared, not parsed or checked again.

        ``before_send``, when given, is awaited once the request holds its connection
        and before any byte of it is written (a rate limit's wait: it counts against
        no timeout). If it raises, nothing is sent and the connection goes back to
        the pool; if the connection is lost meanwhile, another is taken without
        calling it again.
        """
        if self._closed:
            raise HttpPoolClosedError("the pool is closed")
        has_body = body is not empty_async_iterator
        req = request_of_call(method, url, params, headers, has_body, self.options.http_version)
        log, resolver_adapter = request_loggers(
            req,
            get_logger_adapter,
            get_resolver_logger_adapter,
            self._get_logger_adapter,
            self._get_resolver_logger_adapter,
        )
        key, addresses, tunnel = await self._route(req.target, resolver_adapter)
        conn, head = await self._exchange(
            req, key, addresses, tunnel, log, lambda: body(*body_args, **dict(body_kwargs)), before_send
        )
        if log is not None:
            log.debug("response head: %s %s", head.code.decode(), head.reason.decode("latin-1"))
        return head.code, head.headers, ResponseBody(self, conn, head, req.wants_close, log)

    async def _route(self, target: Target, resolver_adapter: Callable[..., Any]) -> Tuple[Key, Tuple[str, ...], Any]:
        """The pool key, the addresses to connect to, and the tunnel (or None)."""
        tunnel = None if self._get_tunnel is None else self._get_tunnel(target.scheme, target.host, target.port)
        if tunnel is None:
            addresses = await self._addresses(target.host, target.is_ip, resolver_adapter)
            return (target.scheme, target.host, target.port), addresses, None
        # Through a proxy: connect to (and check pooled peers against) the
        # proxy's addresses; the pool keeps tunnels apart by their key.
        addresses = await self._addresses(tunnel.host, _is_ip(tunnel.host), resolver_adapter)
        return (target.scheme, target.host, target.port, tunnel.key), addresses, tunnel  # type: ignore[return-value]

    async def _exchange(
        self,
        req: Request,
        key: Key,
        addresses: Tuple[str, ...],
        tunnel: Any,
        log: Optional[logging.LoggerAdapter[Any]],
        make_body: Callable[[], AsyncIterator[bytes]],
        before_send: Optional[Callable[[], Awaitable[Any]]] = None,
    ) -> Tuple[Connection, ResponseHead]:
        """Send on a reused or new connection and read the head; retry once if a reused one was stale."""
        retried = False
        while True:
            conn = await self._acquire(key, addresses, log)
            reused = conn is not None
            if conn is None:
                conn = await self._connect_counted(req.target, key, addresses, log, tunnel)
            if before_send is not None:
                await self._wait_before_send(conn, before_send)
                before_send = None  # once per request
                if conn.state is CLOSED:  # lost while it waited (its slot is already back)
                    continue
            try:
                return conn, await self._send(conn, req, log, make_body)
            except HttpConnectionClosedError as exc:
                if not reused or retried or not _may_retry(req.method, conn):
                    raise
                retried = True
                if log is not None:
                    log.debug("reused connection was closed by the server (%r): retrying once", exc)

    async def _wait_before_send(self, conn: Connection, before_send: Callable[[], Awaitable[Any]]) -> None:
        try:
            await before_send()
        except BaseException:
            if conn.state is not CLOSED:
                self.release(conn)  # unused: back to the pool (or closed, if never used)
            raise

    async def _send(
        self,
        conn: Connection,
        req: Request,
        log: Optional[logging.LoggerAdapter[Any]],
        make_body: Callable[[], AsyncIterator[bytes]],
    ) -> ResponseHead:
        """Write the request on ``conn`` and wait for the response head; on failure ``conn`` is discarded."""
        self._active.add(conn)
        try:
            if self._closed:
                raise HttpPoolClosedError("the pool was closed while connecting")
            conn.start(req.method)
            await conn.send(req.head, make_body() if req.has_body else None, req.chunked)
            if log is not None:
                log.debug("request sent on %s", conn.peer)
            return await conn.read_head()
        except BaseException:
            self.discard(conn, "failed while sending or awaiting the head", log)
            raise

    # ------------------------------------------------------------ acquire
    async def _acquire(
        self, key: Key, addresses: Tuple[str, ...], log: Optional[logging.LoggerAdapter[Any]]
    ) -> Optional[Connection]:
        """An idle connection to reuse, or None once a slot to connect is reserved."""
        if self._closed:
            raise HttpPoolClosedError("the pool is closed")
        conn = self._take_idle(key, addresses)
        if conn is not None:
            if log is not None:
                log.debug("reusing connection to %s (request %d on it)", conn.peer, conn.requests + 1)
            return conn
        if self._policy.try_reserve(key):
            return None
        return await self._wait_for_grant(key, addresses, log)

    async def _wait_for_grant(
        self, key: Key, addresses: Tuple[str, ...], log: Optional[logging.LoggerAdapter[Any]]
    ) -> Optional[Connection]:
        future = self.loop.create_future()
        waiter = _Waiter(key, future, addresses)
        self._policy.enqueue(waiter)
        if log is not None:
            log.debug("waiting for a connection (%d waiting)", len(self._policy.waiters))
        max_wait = self.options.max_wait_connection_seconds
        timer = None if max_wait is None else self.loop.call_later(max_wait, _expire_waiter, future, max_wait)
        self._grant()
        try:
            grant = await future
        except BaseException:
            if future.done() and not future.cancelled() and future.exception() is None:
                self._give_back(key, future.result())
            self._policy.forget(waiter)
            raise
        finally:
            if timer is not None:
                timer.cancel()
        return None if grant is SLOT else grant

    def _give_back(self, key: Key, grant: Any) -> None:
        if grant is SLOT:
            self._release_slot(key)
        else:
            self.release(grant)

    def _take_idle(self, key: Key, addresses: Tuple[str, ...]) -> Optional[Connection]:
        conn, unfit = self._policy.take_idle(key, addresses, self.loop.time())
        if unfit:
            self._close_all(unfit)
        return conn

    def _release_slot(self, key: Key) -> None:
        self._policy.unreserve(key)
        self._grant()

    def _grant(self) -> None:
        """Carry out the policy's grants: each waiter gets a connection or a slot, oldest first."""
        if not self._policy.waiters:
            return
        grants, unfit = self._policy.grant(self.loop.time())
        self._close_all(unfit)
        for waiter, granted in grants:
            waiter.future.set_result(granted)

    # ------------------------------------------------------------ connect
    async def _addresses(self, host: str, is_ip: bool, resolver_adapter: Callable[..., Any]) -> Tuple[str, ...]:
        if is_ip:
            return (host,)
        return await resolve_host(self._resolve, host, resolver_adapter, self._no_a_record, self.loop.time())

    async def _negotiate(self, tunnel: Any, sock: Socket, target: Target, deadline: float) -> None:
        """Run the tunnel's handshake (CONNECT, SOCKS) on the raw socket, before any TLS."""
        resolved_ip = None
        if getattr(tunnel, "resolve_target", False):
            resolved_ip = (await self._addresses(target.host, target.is_ip, _quiet_adapter))[0]
        try:
            leftover = await asyncio.wait_for(
                tunnel.negotiate(self.loop, sock, target.host, target.port, resolved_ip),
                max(deadline - self.loop.time(), 0.001),
            )
        except asyncio.TimeoutError as exc:
            raise HttpConnectTimeoutError(
                errno.ETIMEDOUT,
                f"proxy handshake for {target.host} took more than {self.options.connect_timeout} seconds",
            ) from exc
        if leftover:
            raise HttpConnectError(f"the proxy sent {len(leftover)} unexpected bytes after its handshake")

    async def _connect_counted(
        self,
        target: Target,
        key: Key,
        addresses: Tuple[str, ...],
        log: Optional[logging.LoggerAdapter[Any]],
        tunnel: Any,
    ) -> Connection:
        """``_connect`` on the slot reserved for it: a failure gives the slot back."""
        try:
            return await self._connect(target, key, addresses, log, tunnel)
        except BaseException:
            self._release_slot(key)
            raise

    async def _connect(
        self,
        target: Target,
        key: Key,
        addresses: Tuple[str, ...],
        log: Optional[logging.LoggerAdapter[Any]],
        tunnel: Any = None,
    ) -> Connection:
        """A connection to the first of ``addresses`` that answers, within ``connect_timeout``."""
        deadline = self.loop.time() + self.options.connect_timeout
        ssl_context = self._ssl_context.for_scheme(target.scheme)
        last_error: Optional[BaseException] = None
        for address in addresses:
            conn = self._new_connection(key)
            sock = self._new_sock(address)
            try:
                await self._open(conn, sock, address, target, deadline, ssl_context, log, tunnel)
            except BaseException as exc:
                sock.close()
                if not self._worth_next_address(exc, address, target, ssl_context, deadline, log):
                    raise
                last_error = exc
                continue
            conn.counted = True
            conn.sock = sock
            if log is not None:
                log.debug("connected to %s", conn.peer)
            return conn
        raise HttpConnectError(
            f"could not connect to {target.host} port {target.port} ({', '.join(addresses)}): {last_error}"
        ) from last_error

    def _new_connection(self, key: Key) -> Connection:
        options = self.options
        conn = Connection(
            self,
            key,
            socket_timeout=options.socket_timeout,
            response_head_timeout=options.head_timeout,
            high_water=options.recv_bufsize,
            max_header_length=options.max_header_length,
            max_header_count=options.max_header_count,
        )
        conn.counted = False  # the slot stays reserved until this connection exists
        return conn

    def _new_sock(self, address: str) -> Socket:
        return new_sock(self._get_sock, address)

    async def _open(
        self,
        conn: Connection,
        sock: Socket,
        address: str,
        target: Target,
        deadline: float,
        ssl_context: Optional[SSLContext],
        log: Optional[logging.LoggerAdapter[Any]],
        tunnel: Any,
    ) -> None:
        """TCP connect to ``address``, then the tunnel's handshake if any, then TLS if https."""
        port = target.port if tunnel is None else tunnel.port
        if log is not None:
            log.debug("connecting to %s port %d", address, target.port)
        await sock_connect(self.loop, sock, (address, port), deadline, self.options.connect_timeout, self._connecting)
        connected = time.monotonic()
        if tunnel is not None:
            if log is not None:
                log.debug("proxy handshake with %s port %d for %s", address, port, target.host)
            await self._negotiate(tunnel, sock, target, deadline)
        if ssl_context is not None and log is not None:
            log.debug("TLS handshake with %s as %s", address, target.host)
        await self._start_transport(conn, sock, target.host, ssl_context, deadline)
        conn.opened = (connected, time.monotonic() if ssl_context is not None else None)

    async def _start_transport(
        self, conn: Connection, sock: Socket, host: str, ssl_context: Optional[SSLContext], deadline: float
    ) -> None:
        remaining = max(deadline - self.loop.time(), 0.001)
        self._handshaking.add(sock)
        try:
            await start_transport(self.loop, conn, sock, ssl_context, host, remaining)
        except Exception as exc:
            if self._closed:
                raise HttpPoolClosedError("the pool was closed during the TLS handshake") from exc
            raise
        finally:
            self._handshaking.discard(sock)

    def _worth_next_address(
        self,
        exc: BaseException,
        address: str,
        target: Target,
        ssl_context: Optional[SSLContext],
        deadline: float,
        log: Optional[logging.LoggerAdapter[Any]],
    ) -> bool:
        """After a failed connect: True to try the next address, False to raise ``exc``; or raise a clearer error."""
        if isinstance(exc, (HttpConnectTimeoutError, HttpPoolClosedError)) or not isinstance(exc, OSError):
            return False
        if is_tls_error(exc):
            raise HttpTlsError(f"TLS handshake with {target.host} ({address}) failed: {exc}") from exc
        if isinstance(exc, ConnectionAbortedError):
            # asyncio aborts a TLS handshake that outlives ssl_handshake_timeout
            if ssl_context is not None and self.loop.time() >= deadline - 0.01:
                slow = HttpConnectTimeoutError(
                    f"TLS handshake with {target.host} port {target.port} not done within"
                    f" {self.options.connect_timeout} seconds"
                )
                slow.phase = "tls"
                raise slow from exc
            return True
        if log is not None:
            log.debug("connect to %s failed: %r", address, exc)
        return True

    # --------------------------------------------- release, discard, close
    def release(self, conn: Connection) -> None:
        """A connection whose response was read to the end, and may be reused."""
        self._active.discard(conn)
        if not self._reusable(conn):
            self._close(conn, "not reusable")
            self._grant()
            return
        conn.idle(self.loop.time())
        over = self._policy.put_idle(conn)
        if over:
            self._close_all(over)
        if self._sweep is None:
            self._sweep = self.loop.call_later(self.options.keep_alive_timeout, self._sweep_idle)
        self._grant()

    def _reusable(self, conn: Connection) -> bool:
        return is_reusable(self.options, conn, self._closed)

    def discard(self, conn: Connection, reason: str, log: Optional[logging.LoggerAdapter[Any]] = None) -> None:
        """A connection that must not be reused."""
        self._active.discard(conn)
        if conn.state is IDLE:
            self._policy.remove_idle(conn)
        self._close(conn, reason, log)
        self._grant()

    def _close(self, conn: Connection, reason: str, log: Optional[logging.LoggerAdapter[Any]] = None) -> None:
        """Close ``conn`` and give back its slot at once (no grant: callers decide)."""
        self._policy.uncount(conn)
        self._close_uncounted(conn, reason, log)

    def _close_all(self, closures: List[Tuple[Connection, str]]) -> None:
        """Close the connections the policy retired (their slots are already given back)."""
        for conn, reason in closures:
            self._close_uncounted(conn, reason)

    def _close_uncounted(self, conn: Connection, reason: str, log: Optional[logging.LoggerAdapter[Any]] = None) -> None:
        log_closing(conn, reason, log)
        conn.close()

    def on_connection_lost(self, conn: Connection, previous_state: str) -> None:
        """Called once when a connection is closed, whoever closed it."""
        self._active.discard(conn)
        if previous_state is IDLE:
            self._policy.remove_idle(conn)
        if conn.counted:
            self._policy.uncount(conn)
            self._grant()

    def _sweep_idle(self) -> None:
        self._sweep = None
        expired, next_expiry = self._policy.expire(self.loop.time())
        self._close_all(expired)
        if next_expiry is not None and not self._closed:
            self._sweep = self.loop.call_at(next_expiry, self._sweep_idle)
        self._grant()

    async def close(self, *_: Any, **__: Any) -> None:
        """Close every connection; requests in flight or waiting fail with an HttpError."""
        self._closed = True
        if self._sweep is not None:
            self._sweep.cancel()
            self._sweep = None
        self._stop_connecting()
        self._fail_waiters()
        self._close_all(self._policy.drop_all_idle("pool closed"))
        for conn in list(self._active):
            conn.fail(HttpConnectionClosedError("the pool was closed during the request"))
        try:
            await self._clear_dns_cache()
        except Exception:  # pragma: no cover - clearing a cache is best effort
            logger.debug("clearing the DNS cache failed", exc_info=True)
        # Let the transports' connection_lost callbacks run, so the sockets
        # are really closed when close() returns.
        await asyncio.sleep(0)

    def _stop_connecting(self) -> None:
        for connecting in list(self._connecting):
            if not connecting.done():
                connecting.set_exception(HttpPoolClosedError("the pool was closed while connecting"))
        for sock in list(self._handshaking):
            abort_handshake(sock)  # the handshake then fails at once

    def _fail_waiters(self) -> None:
        waiters, self._policy.waiters = self._policy.waiters, deque()
        for waiter in waiters:
            if not waiter.future.done():
                waiter.future.set_exception(HttpPoolClosedError("the pool was closed while waiting"))


def _may_retry(method: bytes, conn: Connection) -> bool:
    """A request that met a stale reused connection may be sent again: idempotent, and no answer began."""
    parser = conn.parser
    return method in IDEMPOTENT_METHODS and not (parser and parser.received_any)


def _expire_waiter(future: asyncio.Future[Any], seconds: float) -> None:
    if not future.done():
        future.set_exception(HttpPoolTimeoutError(f"no connection became free within {seconds} seconds"))


def _check_options(**options: Any) -> None:
    for name, value in options.items():
        if not isinstance(value, (int, float)) or isinstance(value, bool) or value < 0:
            raise ValueError(f"{name} must be a non-negative number, not {value!r}")
    for name in (
        "max_connections",
        "max_connections_per_host",
        "recv_bufsize",
        "max_header_length",
        "max_header_count",
    ):
        if options[name] < 1:
            raise ValueError(f"{name} must be at least 1")


# ------------------------------------------------------------ the body
class ResponseBody:
    """The response body: an async iterator of bytes chunks.

    Reading it to the end returns the connection to the pool; ``aclose()``
    or dropping it closes the connection instead.  After the end,
    ``trailers`` holds the chunked trailers.  ``reason`` and ``version``
    are the status line's, for layers that need them.  ``opened`` is
    ``(connected, tls_done)`` (``time.monotonic()`` times; ``tls_done`` None
    without TLS) when this request opened a new connection, None when it
    reused one.
    """

    __slots__ = ("_pool", "_conn", "_wants_close", "_log", "reason", "version", "trailers", "opened", "__weakref__")

    def __init__(
        self,
        pool: PoolState,
        conn: Connection,
        head: ResponseHead,
        wants_close: bool,
        log: Optional[logging.LoggerAdapter[Any]],
    ) -> None:
        self._pool = pool
        self._conn: Optional[Connection] = conn
        self._wants_close = wants_close
        self._log = log
        self.reason = head.reason
        self.version = head.version
        self.trailers: Tuple[Tuple[bytes, bytes], ...] = ()
        # The connection's (connected, tls_done) when this request opened it, else None.
        self.opened = conn.opened if conn.requests == 1 else None
        if conn.body_complete:
            self._finish(conn)

    def __aiter__(self) -> "ResponseBody":
        return self

    async def __anext__(self) -> bytes:
        conn = self._conn
        if conn is None:
            raise StopAsyncIteration
        data = conn.read_nowait()
        if data is None:
            try:
                data = await conn.read()
            except BaseException:
                self._conn = None
                self._pool.discard(conn, "failed while reading the body", self._log)
                raise
        if conn.body_complete:
            self._finish(conn)
        if data is None:
            raise StopAsyncIteration
        return data

    def _finish(self, conn: Connection) -> None:
        self._conn = None
        end = conn.end
        self.trailers = end.trailers  # type: ignore[union-attr]
        body_done(self._pool, conn, end.keep_alive, self._wants_close, self._log)  # type: ignore[union-attr]

    async def read_all(self) -> bytes:
        """The rest of the body in one bytes object (what ``buffered()`` returns)."""
        conn = self._conn
        if conn is None:
            return b""
        try:
            data = await conn.read_all()
        except BaseException:
            self._conn = None
            self._pool.discard(conn, "failed while reading the body", self._log)
            raise
        self._finish(conn)
        return data

    async def aclose(self) -> None:
        conn = self._conn
        if conn is not None:
            self._conn = None
            self._pool.discard(conn, "body abandoned before its end", self._log)

    def __del__(self) -> None:
        conn = self._conn
        if conn is not None:
            self._conn = None
            try:
                self._pool.discard(conn, "body dropped before its end")
            except RuntimeError:  # pragma: no cover - the loop is already closed
                pass


# ---------------------------------------------------------------- Pool()
def Pool(
    get_dns_resolver: Callable[..., Any] = Resolver,
    get_sock: Callable[..., Socket] = get_nonblocking_sock,
    get_ssl_context: Callable[[], SSLContext] = default_ssl_context,
    sock_pre_message: Optional[Callable[[Socket], None]] = None,
    sock_post_message: Optional[Callable[[Socket], None]] = None,
    http_version: bytes = b"HTTP/1.1",
    keep_alive_timeout: float = 15,
    recv_bufsize: int = 16384,
    max_header_length: int = 16384,
    socket_timeout: float = 10,
    get_logger_adapter: Callable[[dict[str, Any]], logging.LoggerAdapter[Any]] = get_logger_adapter_default,
    get_resolver_logger_adapter: Callable[[dict[str, Any]], Callable[..., Any]] = get_resolver_logger_adapter_default,
    *,
    connect_timeout: float = 10,
    response_head_timeout: Optional[float] = None,
    max_connections: int = 100,
    max_connections_per_host: int = 100,
    max_wait_connection_seconds: Optional[float] = None,
    max_requests_per_connection: Optional[int] = None,
    max_idle_connections: int = 100,
    max_header_count: int = 100,
    get_tunnel: Optional[Callable[[str, str, int], Any]] = None,
) -> Tuple[Callable[..., Any], Callable[..., Any]]:
    """Make a connection pool inside the running loop; returns ``(request, close)``.

    ``sock_pre_message``/``sock_post_message`` are accepted for lowhaio
    compatibility and unused: the head and the first body chunk already go
    out in one write.

    ``response_head_timeout`` bounds the whole wait for a response head (from
    the end of the request); None (the default) means ``HEAD_TIMEOUT_FACTOR``
    times ``socket_timeout``, at most ``HEAD_TIMEOUT_CAP`` (60 s).

    ``get_tunnel(scheme, host, port)``, when given, returns None (connect
    directly) or a tunnel through a proxy: an object with ``host`` and
    ``port`` (where to connect), ``key`` (hashable: connections through
    different tunnels are never shared) and ``async negotiate(loop, sock,
    host, port, resolved_ip)``, which runs the proxy's handshake on the
    connected raw socket and returns any bytes read past it; with a true
    ``resolve_target`` attribute the origin is resolved locally first and
    its first address passed as ``resolved_ip``.  Failures of ``negotiate``
    (OSErrors) become ``HttpConnectError`` with the failure as cause.
    """
    options = PoolOptions(
        http_version=http_version,
        keep_alive_timeout=keep_alive_timeout,
        recv_bufsize=recv_bufsize,
        max_header_length=max_header_length,
        max_header_count=max_header_count,
        socket_timeout=socket_timeout,
        connect_timeout=connect_timeout,
        response_head_timeout=response_head_timeout,
        max_connections=max_connections,
        max_connections_per_host=max_connections_per_host,
        max_wait_connection_seconds=max_wait_connection_seconds,
        max_requests_per_connection=max_requests_per_connection,
        max_idle_connections=max_idle_connections,
    )
    state = PoolState(
        options,
        get_dns_resolver=get_dns_resolver,
        get_sock=get_sock,
        get_ssl_context=get_ssl_context,
        get_logger_adapter=get_logger_adapter,
        get_resolver_logger_adapter=get_resolver_logger_adapter,
        get_tunnel=get_tunnel,
    )
    return state.request, state.close
