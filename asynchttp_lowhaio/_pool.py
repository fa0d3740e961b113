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
"""

from __future__ import annotations

import asyncio
import errno
from asyncio import sslproto as _sslproto  # asyncio's TLS layer, extended to send its alert
import logging
import os
import socket
import ssl
from collections import deque
from typing import Any, AsyncIterator, Callable, Deque, Dict, Iterable, List, Optional, Tuple

from aiodnsresolver import Resolver

from ._connection import ACTIVE, CONNECTING, IDLE, Connection
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
from ._rules import IDEMPOTENT_METHODS
from ._writer import Target, _is_ip, asks_to_close, build_head, parse_url, request_framing

__all__ = [
    "Pool",
    "PoolState",
    "ResponseBody",
    "streamed",
    "buffered",
    "empty_async_iterator",
    "get_nonblocking_sock",
    "HttpLoggerAdapter",
    "get_logger_adapter_default",
    "get_resolver_logger_adapter_default",
]

logger = logging.getLogger("asynchttp_lowhaio")

Key = Tuple[str, str, int]


# ------------------------------------------------------------------ helpers
async def empty_async_iterator(*_: Any, **__: Any) -> AsyncIterator[bytes]:
    """The default request body: nothing."""
    for _chunk in ():
        yield _chunk  # pragma: no cover


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


def get_nonblocking_sock(family: int = socket.AF_INET) -> socket.socket:
    """A non-blocking TCP socket with Nagle off."""
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setblocking(False)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


class HttpLoggerAdapter(logging.LoggerAdapter):
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


def get_logger_adapter_default(extra: dict) -> logging.LoggerAdapter:
    return HttpLoggerAdapter(logger, extra)


def get_resolver_logger_adapter_default(http_extra: dict) -> Callable[[dict], logging.LoggerAdapter]:
    # aiodnsresolver's adapter puts the values into the format string unescaped:
    # a "%" in the URL would break every DNS log line, so escape them here.
    escaped = {key: str(value).replace("%", "%%") for key, value in http_extra.items()}

    def _get_resolver_logger_adapter(dns_extra: dict) -> logging.LoggerAdapter:
        from aiodnsresolver import ResolverLoggerAdapter

        return ResolverLoggerAdapter(logging.getLogger("aiodnsresolver"), {**escaped, **dns_extra})

    return _get_resolver_logger_adapter


def _quiet_adapter(_: dict) -> logging.LoggerAdapter:
    # One shared adapter while debug logging is off: nothing to build per request.
    return _DNS_ADAPTER


_DNS_ADAPTER: logging.LoggerAdapter = logging.LoggerAdapter(logging.getLogger("aiodnsresolver"), {})


# ------------------------------------------------------------- the waiters
class _Waiter:
    __slots__ = ("key", "future", "addresses")

    def __init__(self, key: Key, future: asyncio.Future, addresses: Tuple[str, ...]) -> None:
        self.key = key
        self.future = future
        self.addresses = addresses


_SLOT = object()  # a waiter granted a slot (a reserved right to connect)

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


# ---------------------------------------------------------- the pool state
class PoolState:
    """The pool's state and policy; ``request`` and ``close`` are its public face."""

    def __init__(
        self,
        *,
        get_dns_resolver: Callable[..., Any],
        get_sock: Callable[..., socket.socket],
        get_ssl_context: Callable[[], ssl.SSLContext],
        http_version: bytes,
        keep_alive_timeout: float,
        recv_bufsize: int,
        max_header_length: int,
        max_header_count: int,
        socket_timeout: float,
        connect_timeout: float,
        response_head_timeout: Optional[float],
        max_connections: int,
        max_connections_per_host: int,
        max_wait_connection_seconds: Optional[float],
        max_requests_per_connection: Optional[int],
        max_idle_connections: int,
        get_logger_adapter: Callable[[dict], logging.LoggerAdapter],
        get_resolver_logger_adapter: Callable[[dict], Callable[[dict], logging.LoggerAdapter]],
        get_tunnel: Optional[Callable[[str, str, int], Any]] = None,
    ) -> None:
        _check_options(
            keep_alive_timeout=keep_alive_timeout,
            recv_bufsize=recv_bufsize,
            max_header_length=max_header_length,
            max_header_count=max_header_count,
            socket_timeout=socket_timeout,
            connect_timeout=connect_timeout,
            response_head_timeout=0 if response_head_timeout is None else response_head_timeout,
            max_connections=max_connections,
            max_connections_per_host=max_connections_per_host,
            max_idle_connections=max_idle_connections,
        )
        if response_head_timeout is None:
            response_head_timeout = default_head_timeout(socket_timeout)
        if max_wait_connection_seconds is not None and max_wait_connection_seconds < 0:
            raise ValueError("max_wait_connection_seconds must be >= 0 or None")
        if max_requests_per_connection is not None and max_requests_per_connection < 1:
            raise ValueError("max_requests_per_connection must be >= 1 or None")
        self.loop = asyncio.get_running_loop()
        self._get_sock = get_sock
        self._get_ssl_context = get_ssl_context
        self._ssl_context: Optional[ssl.SSLContext] = None
        self._http_version = http_version
        self._keep_alive_timeout = keep_alive_timeout
        self._recv_bufsize = recv_bufsize
        self._max_header_length = max_header_length
        self._max_header_count = max_header_count
        self._socket_timeout = socket_timeout
        self._connect_timeout = connect_timeout
        self._response_head_timeout = response_head_timeout
        self._max_connections = max_connections
        self._max_per_host = max_connections_per_host
        self._max_wait = max_wait_connection_seconds
        self._max_requests = max_requests_per_connection
        self._max_idle = max_idle_connections
        self._get_logger_adapter = get_logger_adapter
        self._get_resolver_logger_adapter = get_resolver_logger_adapter
        self._get_tunnel = get_tunnel
        self._resolve, self._clear_dns_cache = get_dns_resolver(
            get_logger_adapter=get_resolver_logger_adapter({})
        )
        self._idle: Dict[Key, List[Connection]] = {}
        self._idle_count = 0
        self._active: set = set()
        self._total = 0
        self._per_host: Dict[Key, int] = {}
        self._waiters: Deque[_Waiter] = deque()
        self._sweep: Optional[asyncio.TimerHandle] = None
        self._closed = False
        self._no_a_record: Dict[str, float] = {}
        self._connecting: set = set()  # TCP connects under way: close() fails them at once
        self._handshaking: set = set()  # sockets in a TLS handshake: close() shuts them down

    def __repr__(self) -> str:
        return (
            f"<Pool connections={self._total} active={len(self._active)} idle={self._idle_count} "
            f"waiting={len(self._waiters)} closed={self._closed}>"
        )

    def stats(self) -> Dict[str, int]:
        """Counts, for tests and debugging."""
        return {
            "connections": self._total,
            "active": len(self._active),
            "idle": self._idle_count,
            "waiting": len(self._waiters),
        }

    # ---------------------------------------------------------- request()
    async def request(
        self,
        method: bytes,
        url: str,
        params: Iterable = (),
        headers: Iterable = (),
        body: Callable[..., AsyncIterator[bytes]] = empty_async_iterator,
        body_args: Iterable = (),
        body_kwargs: Iterable = (),
        get_logger_adapter: Optional[Callable[[dict], logging.LoggerAdapter]] = None,
        get_resolver_logger_adapter: Optional[Callable[[dict], Callable]] = None,
    ) -> Tuple[bytes, Tuple[Tuple[bytes, bytes], ...], "ResponseBody"]:
        if self._closed:
            raise HttpPoolClosedError("the pool is closed")
        if type(method) is not bytes:
            raise HttpLocalError(f"method must be bytes, not {type(method).__name__}")
        headers = tuple(headers)
        target = parse_url(url, params)
        has_body = body is not empty_async_iterator
        framing = request_framing(method, headers, has_body)
        head = build_head(method, target, headers, self._http_version, framing)
        chunked = framing is not None and framing[0] == b"transfer-encoding"
        if chunked and self._http_version == b"HTTP/1.0":
            # RFC 9112 6.1: no chunked request to an HTTP/1.0 peer; the caller must frame it.
            raise HttpLocalError("an HTTP/1.0 request body needs a content-length header")
        wants_close = asks_to_close(headers)

        log: Optional[logging.LoggerAdapter] = None
        if logger.isEnabledFor(logging.DEBUG) or get_logger_adapter is not None:
            extra = {"method": method.decode("latin-1"), "url": target.log_url}
            log = (get_logger_adapter or self._get_logger_adapter)(extra)
            resolver_adapter = (get_resolver_logger_adapter or self._get_resolver_logger_adapter)(extra)
        else:
            resolver_adapter = _quiet_adapter

        tunnel = None if self._get_tunnel is None else self._get_tunnel(target.scheme, target.host, target.port)
        if tunnel is None:
            addresses = await self._addresses(target.host, target.is_ip, resolver_adapter)
            key: Key = (target.scheme, target.host, target.port)
        else:
            # Through a proxy: connect to (and check pooled peers against) the
            # proxy's addresses; the pool keeps tunnels apart by their key.
            addresses = await self._addresses(tunnel.host, _is_ip(tunnel.host), resolver_adapter)
            key = (target.scheme, target.host, target.port, tunnel.key)  # type: ignore[assignment]

        retried = False
        while True:
            conn = await self._acquire(key, addresses, log)
            reused = conn is not None
            if conn is None:
                try:
                    conn = await self._connect(target, key, addresses, log, tunnel)
                except BaseException:
                    self._release_slot(key)
                    raise
            self._active.add(conn)
            try:
                if self._closed:
                    raise HttpPoolClosedError("the pool was closed while connecting")
                conn.start(method)
                body_iter = body(*body_args, **dict(body_kwargs)) if has_body else None
                await conn.send(head, body_iter, chunked)
                if log is not None:
                    log.debug("request sent on %s", conn.peer)
                response_head = await conn.read_head()
            except HttpConnectionClosedError as exc:
                self.discard(conn, "failed while sending or awaiting the head", log)
                parser = conn.parser
                if reused and not retried and method in IDEMPOTENT_METHODS and not (parser and parser.received_any):
                    retried = True
                    if log is not None:
                        log.debug("reused connection was closed by the server (%r): retrying once", exc)
                    continue
                raise
            except BaseException:
                self.discard(conn, "failed while sending or awaiting the head", log)
                raise
            if log is not None:
                log.debug("response head: %s %s", response_head.code.decode(), response_head.reason.decode("latin-1"))
            return response_head.code, response_head.headers, ResponseBody(self, conn, response_head, wants_close, log)

    # ------------------------------------------------------------ acquire
    async def _acquire(
        self, key: Key, addresses: Tuple[str, ...], log: Optional[logging.LoggerAdapter]
    ) -> Optional[Connection]:
        """An idle connection to reuse, or None once a slot to connect is reserved."""
        if self._closed:
            raise HttpPoolClosedError("the pool is closed")
        conn = self._take_idle(key, addresses)
        if conn is not None:
            if log is not None:
                log.debug("reusing connection to %s (request %d on it)", conn.peer, conn.requests + 1)
            return conn
        if not self._waiters and self._has_slot(key):
            self._reserve(key)
            return None
        return await self._wait_for_grant(key, addresses, log)

    async def _wait_for_grant(
        self, key: Key, addresses: Tuple[str, ...], log: Optional[logging.LoggerAdapter]
    ) -> Optional[Connection]:
        future = self.loop.create_future()
        waiter = _Waiter(key, future, addresses)
        self._waiters.append(waiter)
        if log is not None:
            log.debug("waiting for a connection (%d waiting)", len(self._waiters))
        timer = None
        if self._max_wait is not None:
            timer = self.loop.call_later(self._max_wait, _expire_waiter, future, self._max_wait)
        self._grant()
        try:
            grant = await future
        except BaseException:
            if future.done() and not future.cancelled() and future.exception() is None:
                self._give_back(key, future.result())
            try:
                self._waiters.remove(waiter)
            except ValueError:
                pass
            raise
        finally:
            if timer is not None:
                timer.cancel()
        if grant is _SLOT:
            return None
        return grant  # type: ignore[no-any-return]

    def _give_back(self, key: Key, grant: Any) -> None:
        if grant is _SLOT:
            self._release_slot(key)
        else:
            self.release(grant)

    def _take_idle(self, key: Key, addresses: Tuple[str, ...]) -> Optional[Connection]:
        stack = self._idle.get(key)
        if not stack:
            return None
        now = self.loop.time()
        while stack:
            conn = stack.pop()
            self._idle_count -= 1
            if not conn.usable:
                self._close(conn, "closed while idle")
            elif now - conn.idle_since >= self._keep_alive_timeout:
                self._close(conn, "keep-alive timeout")
            elif conn.peer not in addresses:
                self._close(conn, "peer is no longer a current address of the host")
            else:
                return conn
        return None

    def _has_slot(self, key: Key) -> bool:
        return self._total < self._max_connections and self._per_host.get(key, 0) < self._max_per_host

    def _reserve(self, key: Key) -> None:
        self._total += 1
        self._per_host[key] = self._per_host.get(key, 0) + 1

    def _unreserve(self, key: Key) -> None:
        self._total -= 1
        count = self._per_host[key] - 1
        if count:
            self._per_host[key] = count
        else:
            del self._per_host[key]

    def _release_slot(self, key: Key) -> None:
        self._unreserve(key)
        self._grant()

    def _grant(self) -> None:
        """Give what is free to the waiters, oldest first."""
        if not self._waiters:
            return
        for waiter in list(self._waiters):
            future = waiter.future
            if future.done():
                self._waiters.remove(waiter)
                continue
            key = waiter.key
            conn = self._take_idle(key, waiter.addresses)
            if conn is not None:
                self._waiters.remove(waiter)
                future.set_result(conn)
                continue
            if self._total >= self._max_connections and self._per_host.get(key, 0) < self._max_per_host:
                self._close_oldest_idle()
            if self._has_slot(key):
                self._reserve(key)
                self._waiters.remove(waiter)
                future.set_result(_SLOT)
            elif self._total >= self._max_connections:
                break  # nothing frees up for anyone behind this waiter either

    def _close_oldest_idle(self) -> None:
        oldest: Optional[Connection] = None
        for stack in self._idle.values():
            if stack and (oldest is None or stack[0].idle_since < oldest.idle_since):
                oldest = stack[0]
        if oldest is not None:
            self._idle[oldest.key].remove(oldest)
            self._idle_count -= 1
            self._close(oldest, "making room for another host")

    # ------------------------------------------------------------ connect
    async def _addresses(self, host: str, is_ip: bool, resolver_adapter: Callable) -> Tuple[str, ...]:
        if is_ip:
            return (host,)
        return await resolve_host(self._resolve, host, resolver_adapter, self._no_a_record, self.loop.time())

    async def _negotiate(self, tunnel: Any, sock: socket.socket, target: Target, deadline: float) -> None:
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
                errno.ETIMEDOUT, f"proxy handshake for {target.host} took more than {self._connect_timeout} seconds"
            ) from exc
        if leftover:
            raise HttpConnectError(f"the proxy sent {len(leftover)} unexpected bytes after its handshake")

    async def _connect(
        self,
        target: Target,
        key: Key,
        addresses: Tuple[str, ...],
        log: Optional[logging.LoggerAdapter],
        tunnel: Any = None,
    ) -> Connection:
        loop = self.loop
        deadline = loop.time() + self._connect_timeout
        ssl_context = None
        if target.scheme == "https":
            ssl_context = self._ssl_context
            if ssl_context is None:
                ssl_context = self._ssl_context = self._get_ssl_context()
        last_error: Optional[BaseException] = None
        for address in addresses:
            conn = Connection(
                self,
                key,
                socket_timeout=self._socket_timeout,
                response_head_timeout=self._response_head_timeout,
                high_water=self._recv_bufsize,
                max_header_length=self._max_header_length,
                max_header_count=self._max_header_count,
            )
            conn.counted = False  # the slot stays reserved until this connection exists
            family = socket.AF_INET6 if ":" in address else socket.AF_INET
            sock = self._get_sock() if family == socket.AF_INET else self._get_sock(family)
            try:
                if log is not None:
                    log.debug("connecting to %s port %d", address, target.port)
                port = target.port if tunnel is None else tunnel.port
                await _sock_connect(loop, sock, (address, port), deadline, self._connect_timeout, self._connecting)
                if tunnel is not None:
                    if log is not None:
                        log.debug("proxy handshake with %s port %d for %s", address, port, target.host)
                    await self._negotiate(tunnel, sock, target, deadline)
                if ssl_context is not None and log is not None:
                    log.debug("TLS handshake with %s as %s", address, target.host)
                remaining = max(deadline - loop.time(), 0.001)
                self._handshaking.add(sock)
                try:
                    if ssl_context is None:
                        await loop.create_connection(lambda: conn, sock=sock)
                    else:
                        await _tls_connect(loop, conn, sock, ssl_context, target.host, remaining)
                except Exception as exc:
                    if self._closed:
                        raise HttpPoolClosedError("the pool was closed during the TLS handshake") from exc
                    raise
                finally:
                    self._handshaking.discard(sock)
            except (HttpConnectTimeoutError, HttpPoolClosedError):
                sock.close()
                raise
            except ssl.SSLError as exc:
                sock.close()
                raise HttpTlsError(f"TLS handshake with {target.host} ({address}) failed: {exc}") from exc
            except ConnectionAbortedError as exc:
                sock.close()
                if ssl_context is not None and loop.time() >= deadline - 0.01:
                    raise HttpConnectTimeoutError(
                        f"TLS handshake with {target.host} not done within {self._connect_timeout} seconds"
                    ) from exc
                last_error = exc
                continue
            except OSError as exc:
                sock.close()
                last_error = exc
                if log is not None:
                    log.debug("connect to %s failed: %r", address, exc)
                continue
            except BaseException:
                sock.close()
                raise
            conn.counted = True
            conn.sock = sock
            if log is not None:
                log.debug("connected to %s", conn.peer)
            return conn
        raise HttpConnectError(
            f"could not connect to {target.host} port {target.port} ({', '.join(addresses)}): {last_error}"
        ) from last_error

    # --------------------------------------------- release, discard, close
    def release(self, conn: Connection) -> None:
        """A connection whose response was read to the end, and may be reused."""
        self._active.discard(conn)
        if (
            self._closed
            or not self._keep_alive_timeout
            # IDLE too: a connection granted to a waiter that was cancelled comes back unused
            or (conn.state is not ACTIVE and conn.state is not IDLE)
            or (self._max_requests is not None and conn.requests >= self._max_requests)
        ):
            self._close(conn, "not reusable")
            self._grant()
            return
        conn.idle(self.loop.time())
        self._idle.setdefault(conn.key, []).append(conn)
        self._idle_count += 1
        if self._idle_count > self._max_idle:
            self._close_oldest_idle()
        if self._sweep is None:
            self._sweep = self.loop.call_later(self._keep_alive_timeout, self._sweep_idle)
        self._grant()

    def discard(self, conn: Connection, reason: str, log: Optional[logging.LoggerAdapter] = None) -> None:
        """A connection that must not be reused."""
        self._active.discard(conn)
        if conn.state is IDLE:
            stack = self._idle.get(conn.key)
            if stack and conn in stack:
                stack.remove(conn)
                self._idle_count -= 1
        self._close(conn, reason, log)
        self._grant()

    def _close(self, conn: Connection, reason: str, log: Optional[logging.LoggerAdapter] = None) -> None:
        """Close ``conn`` and give back its slot at once (no grant: callers decide)."""
        if log is not None:  # during a request: the line carries its method and URL
            log.debug("closing %r: %s", conn, reason)
        elif logger.isEnabledFor(logging.DEBUG):
            logger.debug("closing %r: %s", conn, reason)
        if conn.counted:
            conn.counted = False
            self._unreserve(conn.key)
        conn.close()

    def on_connection_lost(self, conn: Connection, previous_state: str) -> None:
        """Called once when a connection is closed, whoever closed it."""
        self._active.discard(conn)
        if previous_state is IDLE:
            stack = self._idle.get(conn.key)
            if stack and conn in stack:
                stack.remove(conn)
                self._idle_count -= 1
        if conn.counted:
            conn.counted = False
            self._release_slot(conn.key)

    def _sweep_idle(self) -> None:
        self._sweep = None
        now = self.loop.time()
        earliest = None
        for stack in list(self._idle.values()):
            for conn in list(stack):
                if now - conn.idle_since >= self._keep_alive_timeout:
                    stack.remove(conn)
                    self._idle_count -= 1
                    self._close(conn, "keep-alive timeout")
                elif earliest is None or conn.idle_since < earliest:
                    earliest = conn.idle_since
        if earliest is not None and not self._closed:
            self._sweep = self.loop.call_at(earliest + self._keep_alive_timeout, self._sweep_idle)
        self._grant()

    async def close(self, *_: Any, **__: Any) -> None:
        """Close every connection; requests in flight or waiting fail with an HttpError."""
        self._closed = True
        if self._sweep is not None:
            self._sweep.cancel()
            self._sweep = None
        for connecting in list(self._connecting):
            if not connecting.done():
                connecting.set_exception(HttpPoolClosedError("the pool was closed while connecting"))
        for sock in list(self._handshaking):
            try:
                sock.shutdown(socket.SHUT_RDWR)  # the handshake then fails at once
            except OSError:
                pass
        waiters, self._waiters = self._waiters, deque()
        for waiter in waiters:
            if not waiter.future.done():
                waiter.future.set_exception(HttpPoolClosedError("the pool was closed while waiting"))
        for stack in list(self._idle.values()):
            for conn in list(stack):
                self._close(conn, "pool closed")
        self._idle.clear()
        self._idle_count = 0
        for conn in list(self._active):
            conn.fail(HttpConnectionClosedError("the pool was closed during the request"))
        try:
            await self._clear_dns_cache()
        except Exception:  # pragma: no cover - clearing a cache is best effort
            logger.debug("clearing the DNS cache failed", exc_info=True)
        # Let the transports' connection_lost callbacks run, so the sockets
        # are really closed when close() returns.
        await asyncio.sleep(0)


def _expire_waiter(future: asyncio.Future, seconds: float) -> None:
    if not future.done():
        future.set_exception(HttpPoolTimeoutError(f"no connection became free within {seconds} seconds"))


def _check_options(**options: Any) -> None:
    for name, value in options.items():
        if not isinstance(value, (int, float)) or isinstance(value, bool) or value < 0:
            raise ValueError(f"{name} must be a non-negative number, not {value!r}")
    for name in ("max_connections", "max_connections_per_host", "recv_bufsize", "max_header_length", "max_header_count"):
        if options[name] < 1:
            raise ValueError(f"{name} must be at least 1")


async def _sock_connect(
    loop: asyncio.AbstractEventLoop,
    sock: socket.socket,
    address: Tuple[str, int],
    deadline: float,
    limit: float,
    pending: set,
) -> None:
    """Connect a non-blocking socket, failing at ``deadline``: a loop timer, no task."""
    try:
        sock.connect(address)
        return
    except (BlockingIOError, InterruptedError):
        pass
    future = loop.create_future()
    fd = sock.fileno()

    def writable() -> None:
        if not future.done():
            future.set_result(None)

    loop.add_writer(fd, writable)
    timer = loop.call_at(deadline, _expire_connect, future, address, limit)
    pending.add(future)
    try:
        await future
    finally:
        pending.discard(future)
        loop.remove_writer(fd)
        timer.cancel()
    error = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
    if error:
        raise OSError(error, f"connect to {address[0]} port {address[1]}: {os.strerror(error)}")


class _AlertingSSLProtocol(_sslproto.SSLProtocol):  # type: ignore[misc,name-defined]
    """asyncio's TLS layer, but a fatal TLS error sends its alert before the socket closes.

    asyncio drops the socket as soon as the handshake fails (a certificate the
    client does not trust), leaving the alert OpenSSL wrote in the outgoing
    buffer: the server sees a bare EOF. A TLS client ends with the alert
    ("unknown ca", "bad certificate"), as ``ssl.SSLSocket`` and so httplib2 do;
    this writes it first. asyncio's private names are read defensively: if
    they change, the layer behaves exactly as asyncio's (EOF, same error).
    """

    def _fatal_error(self, exc: BaseException, message: str = "Fatal error on transport") -> None:
        if isinstance(exc, ssl.SSLError):
            _flush_alert(self)
        super()._fatal_error(exc, message)


def _flush_alert(protocol: Any) -> None:
    transport = getattr(protocol, "_transport", None)
    # 3.11+ keeps the outgoing TLS bytes on the protocol, 3.10 on its _SSLPipe
    outgoing = getattr(protocol, "_outgoing", None) or getattr(getattr(protocol, "_sslpipe", None), "_outgoing", None)
    if transport is None or not isinstance(outgoing, ssl.MemoryBIO) or transport.is_closing():
        return
    try:
        alert = outgoing.read()
        if alert:
            transport.write(alert)  # a few bytes on a fresh socket: sent at once, before the close
    except Exception:  # best effort: the caller gets the TLS error either way
        logger.debug("could not send the TLS alert", exc_info=True)


async def _tls_connect(
    loop: asyncio.AbstractEventLoop,
    conn: Connection,
    sock: socket.socket,
    ssl_context: ssl.SSLContext,
    server_hostname: str,
    handshake_timeout: float,
) -> None:
    """What ``loop.create_connection(ssl=...)`` does, with the alerting TLS layer.

    On loops other than asyncio's own (uvloop...), their TLS layer is used as is.
    """
    if not isinstance(loop, asyncio.BaseEventLoop):
        await loop.create_connection(
            lambda: conn, sock=sock, ssl=ssl_context, server_hostname=server_hostname,
            ssl_handshake_timeout=handshake_timeout,
        )
        return
    handshaken = loop.create_future()
    tls = _AlertingSSLProtocol(
        loop, conn, ssl_context, handshaken, server_side=False, server_hostname=server_hostname,
        ssl_handshake_timeout=handshake_timeout,  # type: ignore[arg-type]  # seconds, float as create_connection takes
    )
    raw, _ = await loop.create_connection(lambda: tls, sock=sock)
    try:
        await handshaken
    except BaseException:
        # as create_connection does: the TLS transport goes, and the socket with it
        app_transport = getattr(tls, "_app_transport", None)
        try:
            if app_transport is not None:
                app_transport.close()
        except Exception:  # a transport already torn down by the failure
            logger.debug("closing the failed TLS transport", exc_info=True)
        finally:
            raw.abort()
        raise


def _expire_connect(future: asyncio.Future, address: Tuple[str, int], limit: float) -> None:
    if not future.done():
        future.set_exception(
            HttpConnectTimeoutError(errno.ETIMEDOUT, f"connect to {address[0]} port {address[1]} took more than {limit} seconds")
        )


# ------------------------------------------------------------ the body
class ResponseBody:
    """The response body: an async iterator of bytes chunks.

    Reading it to the end returns the connection to the pool; ``aclose()``
    or dropping it closes the connection instead.  After the end,
    ``trailers`` holds the chunked trailers.  ``reason`` and ``version``
    are the status line's, for layers that need them.
    """

    __slots__ = ("_pool", "_conn", "_wants_close", "_log", "reason", "version", "trailers", "__weakref__")

    def __init__(
        self,
        pool: PoolState,
        conn: Connection,
        head: ResponseHead,
        wants_close: bool,
        log: Optional[logging.LoggerAdapter],
    ) -> None:
        self._pool = pool
        self._conn: Optional[Connection] = conn
        self._wants_close = wants_close
        self._log = log
        self.reason = head.reason
        self.version = head.version
        self.trailers: Tuple[Tuple[bytes, bytes], ...] = ()
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
        if self._log is not None:
            self._log.debug("body done on %s", conn.peer)
        if end.keep_alive and not self._wants_close:  # type: ignore[union-attr]
            self._pool.release(conn)
        else:
            self._pool.discard(conn, "the response does not allow reuse", self._log)

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
    get_sock: Callable[..., socket.socket] = get_nonblocking_sock,
    get_ssl_context: Callable[[], ssl.SSLContext] = ssl.create_default_context,
    sock_pre_message: Optional[Callable[[socket.socket], None]] = None,
    sock_post_message: Optional[Callable[[socket.socket], None]] = None,
    http_version: bytes = b"HTTP/1.1",
    keep_alive_timeout: float = 15,
    recv_bufsize: int = 16384,
    max_header_length: int = 16384,
    socket_timeout: float = 10,
    get_logger_adapter: Callable[[dict], logging.LoggerAdapter] = get_logger_adapter_default,
    get_resolver_logger_adapter: Callable[[dict], Callable] = get_resolver_logger_adapter_default,
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
    state = PoolState(
        get_dns_resolver=get_dns_resolver,
        get_sock=get_sock,
        get_ssl_context=get_ssl_context,
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
        get_logger_adapter=get_logger_adapter,
        get_resolver_logger_adapter=get_resolver_logger_adapter,
        get_tunnel=get_tunnel,
    )
    return state.request, state.close
