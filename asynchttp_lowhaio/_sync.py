"""BlockingPool(): the core's rules driven from the caller's own thread, over blocking sockets.

The second driver of one protocol core (httpcore keeps a sync and an async pool the
same way): the request is checked and its head composed by the writer
(``prepare_request``: ``parse_url`` and ``compose_head``; or a ``Request`` the caller
prepared), the answer is parsed by the
same ``ResponseParser``, the connections are kept by the same ``PoolPolicy`` (limits
in total and per origin, one FIFO queue of waiters that are *granted* a connection or
a slot, LIFO reuse, keep-alive expiry, DNS-aware reuse), an idle connection is peeked
at before it is handed out, a reused connection found closed before any answer byte
is tried once more for an idempotent method, and the timeouts are the async pool's
(``connect_timeout`` for TCP and TLS together, ``socket_timeout`` per read and write,
the response head's own deadline). The sockets and TLS come from the transport room's
blocking backend; ``ssl.SSLSocket`` sends the TLS alert before a refused certificate
fails the handshake.

Any number of threads may share one pool: the policy's books are kept under one lock,
held only for decisions (never across I/O); a thread waiting for a connection waits
on its own lock, which the thread that frees a connection releases once it has
granted it.

DNS goes through aiodnsresolver, with the core's rules (``resolve_host``), on connect
only: the answer is kept until its TTL has passed (at least ``DNS_MIN_SECONDS``), and
reusing an idle connection checks its peer against those addresses. The resolution
runs on a small event loop owned by the pool, on the calling thread, one at a time
(IP literals never touch it); it is made at the first name and closed with the pool.
There is no timer: idle connections past ``keep_alive_timeout`` are closed when the
pool next looks at them (a request, a release).
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections import deque
from typing import Any, Callable, Dict, Iterable, Iterator, List, Optional, Tuple

from aiodnsresolver import Resolver

from . import _connection
from ._connection import ACTIVE, BULK_FIRST, CLOSED, HEAD_READ_SIZE, IDLE, READ_SIZE, _sized_buffer
from ._dns import resolve_host
from ._errors import (
    HttpConnectError,
    HttpConnectionClosedError,
    HttpConnectTimeoutError,
    HttpError,
    HttpPoolClosedError,
    HttpPoolTimeoutError,
    HttpReadTimeoutError,
    HttpResponseHeadTimeoutError,
    HttpTlsError,
    HttpWriteTimeoutError,
)
from ._parser import ResponseEnd, ResponseHead, ResponseParser
from ._policy import SLOT, PoolPolicy
from ._pool import (
    LazySSLContext,
    PoolOptions,
    Request,
    _may_retry,
    body_done,
    get_logger_adapter_default,
    get_resolver_logger_adapter_default,
    is_reusable,
    log_closing,
    policy_for,
    pool_repr,
    pool_stats,
    request_loggers,
    request_of_call,
)
from ._transport import (
    TIMEOUT_ERRORS,
    Socket,
    SSLContext,
    blocking_connect,
    blocking_tls,
    default_ssl_context,
    get_blocking_sock,
    idle_watch,
    is_tls_error,
    new_sock,
    set_kernel_timeout,
    shut_down,
    use_kernel_timeouts,
)
from ._writer import LAST_CHUNK, Target, encode_chunk

__all__ = ["BlockingPool", "BlockingPoolState", "BlockingResponseBody", "DNS_MIN_SECONDS", "empty_iterator"]

logger = logging.getLogger("asynchttp_lowhaio")

Key = Tuple[Any, ...]

# A resolved name is kept at least this long, even when its answer says less (an
# /etc/hosts answer carries no TTL at all): the price of a lookup is paid on connect,
# never on every request.
DNS_MIN_SECONDS = 1.0


def empty_iterator(*_: Any, **__: Any) -> Iterator[bytes]:
    """The default request body: nothing (compared by identity: no body, no framing)."""
    return iter(())


def _in_phase(error: HttpError, phase: str) -> HttpError:
    """``error`` naming the phase of the request it ended (as the async connection
    names it: "send", "head", "body", "tls")."""
    error.phase = phase
    return error


class _Waiter:
    """A thread waiting for a connection: it sleeps on ``_lock`` until granted one."""

    __slots__ = ("key", "addresses", "granted", "error", "gave_up", "_lock")

    def __init__(self, key: Key, addresses: Tuple[str, ...]) -> None:
        self.key = key
        self.addresses = addresses
        self.granted: Any = None  # a connection, or SLOT
        self.error: Optional[BaseException] = None
        self.gave_up = False
        self._lock = threading.Lock()
        self._lock.acquire()

    def done(self) -> bool:
        return self.gave_up or self.granted is not None or self.error is not None

    def grant(self, granted: Any) -> None:
        self.granted = granted
        self._lock.release()

    def fail(self, error: BaseException) -> None:
        self.error = error
        self._lock.release()

    def wait(self, timeout: Optional[float]) -> bool:
        return self._lock.acquire(timeout=-1 if timeout is None else timeout)


class BlockingConnection:
    """One HTTP/1.1 connection over a blocking socket; its state is the async one's."""

    __slots__ = (
        "key",
        "sock",
        "peer",
        "state",
        "requests",
        "idle_since",
        "counted",
        "parser",
        "kernel",
        "timeout",
        "opened",
        "nothing_waiting",
    )

    def __init__(self, key: Key, sock: Socket, peer: str, socket_timeout: float) -> None:
        self.key = key
        self.sock = sock
        self.nothing_waiting = idle_watch(sock)  # the look before reuse
        # plain: blocking, with kernel timeouts (one system call per read or write);
        # TLS: Python's timeout mode. ``timeout``: the read timeout in force.
        self.kernel = use_kernel_timeouts(sock, socket_timeout)
        self.timeout = socket_timeout
        # (connected, tls_done): time.monotonic() when TCP connected and TLS was done
        self.opened: Optional[Tuple[float, Optional[float]]] = None
        self.peer: Optional[str] = peer
        self.state = ACTIVE
        self.requests = 0
        self.idle_since = 0.0
        self.counted = True
        self.parser: Optional[ResponseParser] = None

    def __repr__(self) -> str:
        return (
            f"<BlockingConnection {self.key[0]}://{self.key[1]}:{self.key[2]} peer={self.peer} "
            f"state={self.state} requests={self.requests}>"
        )

    @property
    def usable(self) -> bool:
        """Idle, open and with nothing unread: safe to hand to a new request."""
        return self.state is IDLE and self.nothing_waiting()

    def read_timeout(self, seconds: float) -> None:
        """The timeout of the next reads (0: none); a system call only when it changes."""
        if seconds != self.timeout:
            self.timeout = seconds
            if self.kernel:
                set_kernel_timeout(self.sock, seconds)
            else:
                self.sock.settimeout(seconds or None)

    def close(self) -> None:
        # (the parser stays: whether any answer byte came decides a resend)
        self.state = CLOSED
        self.sock.close()


class _Exchange:
    """What reading one answer keeps between calls: body chunks parsed with the head,
    and the end once seen."""

    __slots__ = ("chunks", "end")

    def __init__(self) -> None:
        self.chunks: List[bytes] = []
        self.end: Optional[ResponseEnd] = None


class BlockingPoolState:
    """The blocking pool: ``request`` and ``close`` are its public face (see the module)."""

    def __init__(
        self,
        options: PoolOptions,
        *,
        get_dns_resolver: Callable[..., Any],
        get_sock: Callable[..., Socket],
        get_ssl_context: Callable[[], SSLContext],
        get_logger_adapter: Callable[[dict[str, Any]], logging.LoggerAdapter[Any]],
        get_resolver_logger_adapter: Callable[[dict[str, Any]], Callable[[dict[str, Any]], logging.LoggerAdapter[Any]]],
    ) -> None:
        self.options = options
        self._get_dns_resolver = get_dns_resolver
        self._get_sock = get_sock
        self._ssl_context = LazySSLContext(get_ssl_context)
        self._get_logger_adapter = get_logger_adapter
        self._get_resolver_logger_adapter = get_resolver_logger_adapter
        self._policy: PoolPolicy[BlockingConnection, _Waiter] = policy_for(options)
        self._lock = threading.Lock()  # the policy's books, _active, _closed
        self._active: set[BlockingConnection] = set()
        self._closed = False
        self._retired = False  # close(abort=False): no reuse, no DNS loop kept; waiters still served
        self._next_sweep = 0.0
        # DNS: a loop of our own, run on the calling thread under _dns_lock
        self._dns_lock = threading.Lock()
        self._dns_loop: Optional[asyncio.AbstractEventLoop] = None
        self._resolve: Any = None
        self._clear_dns_cache: Any = None
        self._dns: Dict[str, Tuple[Tuple[str, ...], float]] = {}
        self._no_a_record: Dict[str, float] = {}

    def __repr__(self) -> str:
        return pool_repr("BlockingPool", self._policy, len(self._active), self._closed)

    def stats(self) -> Dict[str, int]:
        """Counts, for tests and debugging."""
        return pool_stats(self._policy, len(self._active))

    # ---------------------------------------------------------- request()
    def request(
        self,
        method: bytes | Request,
        url: Optional[str] = None,
        params: Iterable[Any] = (),
        headers: Iterable[Any] = (),
        body: Callable[..., Iterable[bytes]] = empty_iterator,
        body_args: Iterable[Any] = (),
        body_kwargs: Iterable[Any] = (),
        get_logger_adapter: Optional[Callable[[dict[str, Any]], logging.LoggerAdapter[Any]]] = None,
        get_resolver_logger_adapter: Optional[Callable[[dict[str, Any]], Callable[..., Any]]] = None,
        before_send: Optional[Callable[[], Any]] = None,
    ) -> Tuple[bytes, Tuple[Tuple[bytes, bytes], ...], "BlockingResponseBody"]:
        """Send the request and read the response head, on this thread; the body is read
        from the returned ``BlockingResponseBody`` (``read_all()`` or iteration).
        ``method`` may be a ``Request`` from ``prepare_request``, as for ``Pool``.

        ``before_send``, when given, is called once the request holds its connection
        and before any byte of it is written (a rate limit's wait); if it raises,
        nothing is sent and the connection goes back to the pool."""
        if self._closed:
            raise HttpPoolClosedError("the pool is closed")
        req = request_of_call(method, url, params, headers, body is not empty_iterator, self.options.http_version)
        log, resolver_adapter = request_loggers(
            req,
            get_logger_adapter,
            get_resolver_logger_adapter,
            self._get_logger_adapter,
            self._get_resolver_logger_adapter,
        )
        target = req.target
        key = (target.scheme, target.host, target.port)
        addresses = self._addresses(target, resolver_adapter)
        conn, head, exchange = self._exchange(
            req, key, addresses, log, lambda: body(*body_args, **dict(body_kwargs)), before_send
        )
        if log is not None:
            log.debug("response head: %s %s", head.code.decode(), head.reason.decode("latin-1"))
        return head.code, head.headers, BlockingResponseBody(self, conn, head, exchange, req.wants_close, log)

    def _exchange(
        self,
        req: Request,
        key: Key,
        addresses: Tuple[str, ...],
        log: Optional[logging.LoggerAdapter[Any]],
        make_body: Callable[[], Iterable[bytes]],
        before_send: Optional[Callable[[], Any]] = None,
    ) -> Tuple[BlockingConnection, ResponseHead, _Exchange]:
        """Send on a reused or new connection and read the head; retry once if a reused one was stale."""
        retried = False
        while True:
            conn = self._acquire(key, addresses, log)
            reused = conn is not None
            if conn is None:
                conn = self._connect_counted(req.target, key, addresses, log)
            if before_send is not None:
                try:
                    before_send()
                except BaseException:
                    self.release(conn)  # unused: back to the pool
                    raise
                before_send = None  # once per request
            try:
                head, exchange = self._send(conn, req, log, make_body)
                return conn, head, exchange
            except HttpConnectionClosedError as exc:
                if not reused or retried or not _may_retry(req.method, conn):  # type: ignore[arg-type]
                    raise
                retried = True
                if log is not None:
                    log.debug("reused connection was closed by the server (%r): retrying once", exc)

    # ------------------------------------------------------- send and read
    def _send(
        self,
        conn: BlockingConnection,
        req: Request,
        log: Optional[logging.LoggerAdapter[Any]],
        make_body: Callable[[], Iterable[bytes]],
    ) -> Tuple[ResponseHead, _Exchange]:
        """Write the request on ``conn`` and read the response head; on failure ``conn`` is discarded."""
        options = self.options
        try:
            if self._closed:
                raise HttpPoolClosedError("the pool was closed while connecting")
            conn.state = ACTIVE
            conn.requests += 1
            parser = conn.parser = ResponseParser(
                req.method, max_header_length=options.max_header_length, max_header_count=options.max_header_count
            )
            exchange = _Exchange()
            try:
                self._write(conn, req, make_body)
            except HttpConnectionClosedError as exc:
                # The server may have answered early and closed (a 413): hand that answer
                # over if it is there, else the failure to send.
                try:
                    head = self._read_head(conn, parser, exchange, time.monotonic() + options.head_timeout)
                except HttpError:
                    raise exc from exc.__cause__
                return head, exchange
            if log is not None:
                log.debug("request sent on %s", conn.peer)
            return self._read_head(conn, parser, exchange, time.monotonic() + options.head_timeout), exchange
        except BaseException:
            self.discard(conn, "failed while sending or awaiting the head", log)
            raise

    def _write(self, conn: BlockingConnection, req: Request, make_body: Callable[[], Iterable[bytes]]) -> None:
        sock = conn.sock
        timeout = self.options.socket_timeout
        if not conn.kernel:  # one timeout for both directions
            conn.read_timeout(timeout)
        try:
            if not req.has_body:
                sock.sendall(req.head)
                return
            pending: Optional[bytes] = req.head
            chunked = req.chunked
            for chunk in make_body():
                if not chunk:
                    continue
                data = encode_chunk(chunk) if chunked else bytes(chunk)
                if pending is not None:
                    # Head and first chunk in one write: one segment, like TCP_CORK.
                    data = pending + data
                    pending = None
                sock.sendall(data)
            tail = (pending or b"") + (LAST_CHUNK if chunked else b"")
            if tail:
                sock.sendall(tail)
        except TIMEOUT_ERRORS as exc:
            raise _in_phase(HttpWriteTimeoutError(f"could not write for {timeout} seconds"), "send") from exc
        except OSError as exc:
            raise self._lost(exc, "send") from exc

    def _lost(self, exc: BaseException, phase: str) -> HttpError:
        if self._closed:
            return _in_phase(HttpConnectionClosedError("the pool was closed during the request"), phase)
        return _in_phase(HttpConnectionClosedError(f"connection lost: {exc!r}"), phase)

    def _read_head(
        self, conn: BlockingConnection, parser: ResponseParser, exchange: _Exchange, deadline: float
    ) -> ResponseHead:
        sock = conn.sock
        socket_timeout = self.options.socket_timeout
        head: Optional[ResponseHead] = None
        while head is None:
            left = deadline - time.monotonic()
            if left <= 0:
                raise HttpResponseHeadTimeoutError(
                    f"response head not complete after {self.options.head_timeout} seconds"
                )
            conn.read_timeout(min(socket_timeout, left) if socket_timeout else left)
            try:
                data = sock.recv(HEAD_READ_SIZE)
            except TIMEOUT_ERRORS as exc:
                if time.monotonic() >= deadline - 0.001:
                    raise _in_phase(
                        HttpResponseHeadTimeoutError(
                            f"response head not complete after {self.options.head_timeout} seconds"
                        ),
                        "head",
                    ) from exc
                raise _in_phase(HttpReadTimeoutError(f"nothing received for {socket_timeout} seconds"), "head") from exc
            except OSError as exc:
                raise self._lost(exc, "head") from exc
            if not data:
                if self._closed:
                    raise _in_phase(HttpConnectionClosedError("the pool was closed during the request"), "head")
                events = parser.feed_eof()
            else:
                events = parser.feed(data)
            for event in events:
                kind = type(event)
                if kind is bytes:
                    exchange.chunks.append(event)  # type: ignore[arg-type]
                elif kind is ResponseHead:
                    head = event  # type: ignore[assignment]
                else:
                    exchange.end = event  # type: ignore[assignment]
            if head is None and not data:  # pragma: no cover - feed_eof raises before a head
                raise HttpConnectionClosedError("connection closed")
        return head

    def read_more(self, conn: BlockingConnection, exchange: _Exchange) -> None:
        """Read once more from ``conn`` into ``exchange`` (chunks, or the end)."""
        parser = conn.parser
        assert parser is not None  # an active connection has its parser
        sock = conn.sock
        timeout = self.options.socket_timeout
        conn.read_timeout(timeout)
        try:
            data = sock.recv(READ_SIZE)
        except TIMEOUT_ERRORS as exc:
            raise _in_phase(HttpReadTimeoutError(f"nothing received for {timeout} seconds"), "body") from exc
        except OSError as exc:
            raise self._lost(exc, "body") from exc
        if data:
            events = parser.feed(data)
        elif self._closed:
            raise _in_phase(HttpConnectionClosedError("the pool was closed during the request"), "body")
        else:
            events = parser.feed_eof()
        for event in events:
            if type(event) is bytes:
                exchange.chunks.append(event)
            else:
                exchange.end = event  # type: ignore[assignment]

    def read_rest_into(self, conn: BlockingConnection, exchange: _Exchange, remaining: int) -> bytes:
        """The rest of a Content-Length body read straight into one buffer (no chunk
        list, no join), starting with the chunks parsed so far."""
        parser = conn.parser
        assert parser is not None
        queued = sum(len(chunk) for chunk in exchange.chunks)
        total = queued + remaining
        if total >= _connection.ALLOCATOR_HINT_FROM and not _connection.allocator_hints:
            _connection._hint_allocator()
        bulk = _sized_buffer(min(total, max(BULK_FIRST, 2 * queued)))
        for chunk in exchange.chunks:
            bulk.write(chunk)
        exchange.chunks.clear()
        view = bulk.getbuffer()
        filled = queued
        sock = conn.sock
        timeout = self.options.socket_timeout
        conn.read_timeout(timeout)
        try:
            while exchange.end is None:
                if filled == len(view):  # full and more due: move to a buffer twice its size
                    grown = _sized_buffer(min(total, 2 * filled))
                    grown.write(view[:filled])
                    view.release()
                    bulk = grown
                    view = bulk.getbuffer()
                try:
                    count = sock.recv_into(view[filled:], min(len(view) - filled, READ_SIZE))
                except TIMEOUT_ERRORS as exc:
                    raise _in_phase(HttpReadTimeoutError(f"nothing received for {timeout} seconds"), "body") from exc
                except OSError as exc:
                    raise self._lost(exc, "body") from exc
                if not count:
                    if self._closed:
                        raise _in_phase(HttpConnectionClosedError("the pool was closed during the request"), "body")
                    parser.feed_eof()  # raises: bytes still expected
                filled += count
                for event in parser.body_received(count):
                    exchange.end = event  # type: ignore[assignment]
        finally:
            view.release()
        return bulk.getvalue()

    # ------------------------------------------------------------ acquire
    def _acquire(
        self, key: Key, addresses: Tuple[str, ...], log: Optional[logging.LoggerAdapter[Any]]
    ) -> Optional[BlockingConnection]:
        """An idle connection to reuse, or None once a slot to connect is reserved."""
        now = time.monotonic()
        waiter = None
        with self._lock:
            if self._closed:
                raise HttpPoolClosedError("the pool is closed")
            conn, unfit = self._policy.take_idle(key, addresses, now)
            if conn is not None:
                self._active.add(conn)
            elif not self._policy.try_reserve(key):
                waiter = _Waiter(key, addresses)
                self._policy.enqueue(waiter)
                granted, more_unfit = self._policy.grant(now)
                unfit += more_unfit
            else:
                granted = []
        self._close_all(unfit)
        if conn is not None:
            if log is not None:
                log.debug("reusing connection to %s (request %d on it)", conn.peer, conn.requests + 1)
            return conn
        if waiter is None:
            return None
        self._hand_over(granted)
        if log is not None:
            log.debug("waiting for a connection (%d waiting)", len(self._policy.waiters))
        return self._wait_for_grant(waiter)

    def _wait_for_grant(self, waiter: _Waiter) -> Optional[BlockingConnection]:
        max_wait = self.options.max_wait_connection_seconds
        try:
            granted_in_time = waiter.wait(max_wait)
        except BaseException:  # an interrupt (Ctrl-C) while waiting: leave the queue
            self._give_up(waiter)
            raise
        if not granted_in_time:
            with self._lock:
                if waiter.granted is None and waiter.error is None:
                    waiter.gave_up = True
                    self._policy.forget(waiter)
                    raise HttpPoolTimeoutError(f"no connection became free within {max_wait} seconds")
            waiter.wait(None)  # granted meanwhile: its release is on the way
        if waiter.error is not None:
            raise waiter.error
        granted = waiter.granted
        if granted is SLOT:
            return None
        with self._lock:
            self._active.add(granted)
        return granted  # type: ignore[no-any-return]

    def _give_up(self, waiter: _Waiter) -> None:
        """A waiter that stops waiting: out of the queue, and what it was granted meanwhile given back."""
        closures: List[Tuple[BlockingConnection, str]] = []
        with self._lock:
            waiter.gave_up = True
            self._policy.forget(waiter)
            granted = waiter.granted
            if granted is SLOT:
                self._policy.unreserve(waiter.key)
                handed = self._grant_locked(time.monotonic(), closures)
            else:
                handed = []
        self._close_all(closures)
        self._hand_over(handed)
        if granted is not None and granted is not SLOT:
            with self._lock:
                self._active.add(granted)
            self.release(granted)

    def _hand_over(self, granted: List[Tuple[_Waiter, Any]]) -> None:
        for waiter, what in granted:
            waiter.grant(what)

    def _grant_locked(self, now: float, closures: List[Tuple[BlockingConnection, str]]) -> List[Tuple[_Waiter, Any]]:
        if not self._policy.waiters:
            return []
        granted, unfit = self._policy.grant(now)
        closures += unfit
        return granted

    # ------------------------------------------------------------ connect
    def _addresses(self, target: Target, resolver_adapter: Callable[..., Any]) -> Tuple[str, ...]:
        if target.is_ip:
            return (target.host,)
        host = target.host
        known = self._dns.get(host)
        if known is not None and known[1] > time.monotonic():
            return known[0]
        with self._dns_lock:
            known = self._dns.get(host)
            now = time.monotonic()
            if known is not None and known[1] > now:
                return known[0]
            if self._closed:
                raise HttpPoolClosedError("the pool is closed")
            loop = self._dns_loop
            if loop is None:
                loop = asyncio.new_event_loop()
                self._resolve, self._clear_dns_cache = loop.run_until_complete(self._make_resolver())
                if self._retired:  # a request that began before close(): one lookup, no loop kept
                    try:
                        return loop.run_until_complete(self._resolve_noting_ttl(host, resolver_adapter, [], now))
                    finally:
                        loop.close()
                self._dns_loop = loop
            expiries: List[float] = []
            addresses = loop.run_until_complete(self._resolve_noting_ttl(host, resolver_adapter, expiries, now))
            until = max(min(expiries, default=0.0), now + DNS_MIN_SECONDS)
            if len(self._dns) >= 1024:
                self._dns.clear()
            self._dns[host] = (addresses, until)
            return addresses

    async def _make_resolver(self) -> Tuple[Any, Any]:
        made: Tuple[Any, Any] = self._get_dns_resolver(get_logger_adapter=self._get_resolver_logger_adapter({}))
        return made

    async def _resolve_noting_ttl(
        self, host: str, resolver_adapter: Callable[..., Any], expiries: List[float], now: float
    ) -> Tuple[str, ...]:
        resolve = self._resolve

        async def noting(*args: Any, **kwargs: Any) -> Any:
            answers = await resolve(*args, **kwargs)
            expiries.extend(getattr(answer, "expires_at", 0.0) for answer in answers)
            return answers

        return await resolve_host(noting, host, resolver_adapter, self._no_a_record, now)

    def _connect_counted(
        self, target: Target, key: Key, addresses: Tuple[str, ...], log: Optional[logging.LoggerAdapter[Any]]
    ) -> BlockingConnection:
        """``_connect`` on the slot reserved for it: a failure gives the slot back."""
        try:
            conn = self._connect(target, key, addresses, log)
        except BaseException:
            closures: List[Tuple[BlockingConnection, str]] = []
            with self._lock:
                self._policy.unreserve(key)
                granted = self._grant_locked(time.monotonic(), closures)
            self._close_all(closures)
            self._hand_over(granted)
            raise
        with self._lock:
            self._active.add(conn)
        return conn

    def _connect(
        self, target: Target, key: Key, addresses: Tuple[str, ...], log: Optional[logging.LoggerAdapter[Any]]
    ) -> BlockingConnection:
        """A connection to the first of ``addresses`` that answers, within ``connect_timeout``."""
        limit = self.options.connect_timeout
        deadline = time.monotonic() + limit
        ssl_context = self._ssl_context.for_scheme(target.scheme)
        last_error: Optional[BaseException] = None
        for address in addresses:
            sock = new_sock(self._get_sock, address)
            if log is not None:
                log.debug("connecting to %s port %d", address, target.port)
            tls_done = None
            try:
                blocking_connect(sock, (address, target.port), deadline - time.monotonic(), limit)
                connected = time.monotonic()
                if ssl_context is not None:
                    if log is not None:
                        log.debug("TLS handshake with %s as %s", address, target.host)
                    sock = blocking_tls(sock, ssl_context, target.host, deadline - time.monotonic())
                    tls_done = time.monotonic()
            except BaseException as exc:
                sock.close()
                if not self._worth_next_address(exc, address, target, ssl_context, deadline, log):
                    raise
                last_error = exc
                continue
            if self._closed:
                sock.close()
                raise HttpPoolClosedError("the pool was closed while connecting")
            if log is not None:
                log.debug("connected to %s", address)
            conn = BlockingConnection(key, sock, address, self.options.socket_timeout)
            conn.opened = (connected, tls_done)
            return conn
        raise HttpConnectError(
            f"could not connect to {target.host} port {target.port} ({', '.join(addresses)}): {last_error}"
        ) from last_error

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
        if isinstance(exc, HttpConnectTimeoutError) or not isinstance(exc, OSError):
            return False
        if isinstance(exc, TimeoutError):  # the TLS handshake outlived connect_timeout
            raise _in_phase(
                HttpConnectTimeoutError(
                    f"TLS handshake with {target.host} not done within {self.options.connect_timeout} seconds"
                ),
                "tls",
            ) from exc
        if is_tls_error(exc):
            raise HttpTlsError(f"TLS handshake with {target.host} ({address}) failed: {exc}") from exc
        if self._closed:
            raise HttpPoolClosedError("the pool was closed while connecting") from exc
        if log is not None:
            log.debug("connect to %s failed: %r", address, exc)
        return True

    # --------------------------------------------- release, discard, close
    def release(self, conn: BlockingConnection) -> None:
        """A connection whose response was read to the end, and may be reused."""
        closures: List[Tuple[BlockingConnection, str]] = []
        now = time.monotonic()
        with self._lock:
            self._active.discard(conn)
            if self._reusable(conn):
                conn.state = IDLE
                conn.idle_since = now
                conn.parser = None
                closures += self._policy.put_idle(conn)
                if now >= self._next_sweep:
                    expired, _ = self._policy.expire(now)
                    closures += expired
                    self._next_sweep = now + min(self.options.keep_alive_timeout, 1.0)
            else:
                self._policy.uncount(conn)
                closures.append((conn, "not reusable"))
            granted = self._grant_locked(now, closures)
        self._close_all(closures)
        self._hand_over(granted)

    def _reusable(self, conn: BlockingConnection) -> bool:
        return is_reusable(self.options, conn, self._closed or self._retired)

    def discard(self, conn: BlockingConnection, reason: str, log: Optional[logging.LoggerAdapter[Any]] = None) -> None:
        """A connection that must not be reused."""
        closures: List[Tuple[BlockingConnection, str]] = []
        with self._lock:
            self._active.discard(conn)
            if conn.state is IDLE:
                self._policy.remove_idle(conn)
            self._policy.uncount(conn)
            granted = self._grant_locked(time.monotonic(), closures)
        self._close_one(conn, reason, log)
        self._close_all(closures)
        self._hand_over(granted)

    def _close_all(self, closures: List[Tuple[BlockingConnection, str]]) -> None:
        for conn, reason in closures:
            self._close_one(conn, reason)

    def _close_one(
        self, conn: BlockingConnection, reason: str, log: Optional[logging.LoggerAdapter[Any]] = None
    ) -> None:
        log_closing(conn, reason, log)
        conn.close()

    def close(self, *_: Any, abort: bool = True, **__: Any) -> None:
        """Close every idle connection. With ``abort`` (the default, as the async pool's
        close), refuse new requests: threads waiting for a connection fail with
        ``HttpPoolClosedError`` and requests in flight on other threads fail at once with
        an HttpError. Without (retiring the pool), requests in flight and waiting finish,
        and every connection is closed when its request is done."""
        with self._lock:
            self._retired = True
            closures = self._policy.drop_all_idle("pool closed")
            waiters: Any = ()
            if abort:
                self._closed = True
                waiters, self._policy.waiters = self._policy.waiters, deque()
            active = list(self._active)
        for waiter in waiters:
            if not waiter.done():
                waiter.fail(HttpPoolClosedError("the pool was closed while waiting"))
        self._close_all(closures)
        if abort:
            for conn in active:
                shut_down(conn.sock)  # the thread reading it fails at once, and discards it
        with self._dns_lock:
            loop, self._dns_loop = self._dns_loop, None
            if loop is not None:
                try:
                    loop.run_until_complete(self._clear_dns_cache())
                except Exception:  # pragma: no cover - clearing a cache is best effort
                    logger.debug("clearing the DNS cache failed", exc_info=True)
                finally:
                    loop.close()


class BlockingResponseBody:
    """The response body, read on the caller's thread: ``read_all()`` or iteration.

    Reading it to the end returns the connection to the pool; ``close()`` or dropping
    it before the end closes the connection instead. ``trailers``, ``reason``,
    ``version`` and ``opened`` as on the async ``ResponseBody``.
    """

    __slots__ = (
        "_pool",
        "_conn",
        "_exchange",
        "_wants_close",
        "_log",
        "reason",
        "version",
        "trailers",
        "opened",
        "__weakref__",
    )

    def __init__(
        self,
        pool: BlockingPoolState,
        conn: BlockingConnection,
        head: ResponseHead,
        exchange: _Exchange,
        wants_close: bool,
        log: Optional[logging.LoggerAdapter[Any]],
    ) -> None:
        self._pool = pool
        self._conn: Optional[BlockingConnection] = conn
        self._exchange = exchange
        self._wants_close = wants_close
        self._log = log
        self.reason = head.reason
        self.version = head.version
        self.trailers: Tuple[Tuple[bytes, bytes], ...] = ()
        # The connection's (connected, tls_done) when this request opened it, else None.
        self.opened = conn.opened if conn.requests == 1 else None
        if exchange.end is not None and not exchange.chunks:
            self._finish(conn)

    def __iter__(self) -> "BlockingResponseBody":
        return self

    def __next__(self) -> bytes:
        conn = self._conn
        exchange = self._exchange
        if conn is None:
            if exchange.chunks:
                return exchange.chunks.pop(0)
            raise StopIteration
        try:
            while not exchange.chunks and exchange.end is None:
                self._pool.read_more(conn, exchange)
        except BaseException:
            self._conn = None
            self._pool.discard(conn, "failed while reading the body", self._log)
            raise
        data = exchange.chunks.pop(0) if exchange.chunks else None
        if exchange.end is not None and not exchange.chunks:
            self._finish(conn)
        if data is None:
            raise StopIteration
        return data

    def read_all(self) -> bytes:
        """The rest of the body in one bytes object."""
        conn = self._conn
        exchange = self._exchange
        if conn is None:
            data = b"".join(exchange.chunks)
            exchange.chunks.clear()
            return data
        try:
            parser = conn.parser
            remaining = parser.length_remaining if parser is not None else 0
            if remaining:
                data = self._pool.read_rest_into(conn, exchange, remaining)
            else:
                while exchange.end is None:
                    self._pool.read_more(conn, exchange)
                data = b"".join(exchange.chunks)
                exchange.chunks.clear()
        except BaseException:
            self._conn = None
            self._pool.discard(conn, "failed while reading the body", self._log)
            raise
        self._finish(conn)
        return data

    def _finish(self, conn: BlockingConnection) -> None:
        self._conn = None
        end = self._exchange.end
        assert end is not None
        self.trailers = end.trailers
        body_done(self._pool, conn, end.keep_alive, self._wants_close, self._log)

    def close(self) -> None:
        conn = self._conn
        if conn is not None:
            self._conn = None
            self._pool.discard(conn, "body abandoned before its end", self._log)

    def __del__(self) -> None:
        self.close()


def BlockingPool(
    get_dns_resolver: Callable[..., Any] = Resolver,
    get_sock: Callable[..., Socket] = get_blocking_sock,
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
) -> Tuple[Callable[..., Any], Callable[..., Any]]:
    """A connection pool driven from the calling thread; returns ``(request, close)``.

    ``Pool``'s options and defaults (less ``get_tunnel``: a proxy's handshake is the
    async pool's), its checks and its errors; no running loop is needed, and any
    number of threads may call ``request`` at once::

        request, close = BlockingPool()
        code, headers, body = request(b"GET", "https://example.com/")
        data = body.read_all()       # or: for chunk in body: ...
        close()

    ``body`` (the request's) is a callable returning an iterable of bytes, called
    again if a stale connection makes the pool resend the request.
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
    state = BlockingPoolState(
        options,
        get_dns_resolver=get_dns_resolver,
        get_sock=get_sock,
        get_ssl_context=get_ssl_context,
        get_logger_adapter=get_logger_adapter,
        get_resolver_logger_adapter=get_resolver_logger_adapter,
    )
    return state.request, state.close
