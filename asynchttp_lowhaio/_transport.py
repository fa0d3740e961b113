"""The transport room: sockets and TLS, and nothing else of HTTP.

Everything the core does with the ``socket`` and ``ssl`` modules lives here (the
pool decides *when* to connect, this module knows *how*): the non-blocking socket
with Nagle off, a connect bounded by a loop timer (no task), asyncio's TLS layer
extended to send its alert before a failed handshake closes the socket, the start
of a plain or TLS transport for a connection's protocol, and the few socket
operations the pool and a connection need (shutting down a handshake, the peek
before reuse). Beside them, the blocking backend of the caller-thread driver
(``_sync``): a blocking socket with a deadline, ``ssl.SSLSocket``'s handshake (which
sends its alert itself before a refused certificate fails it) and the same peek. ``tests/test_import_graph.py`` holds the wall: no other core module
imports ``socket`` or ``ssl``.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import os
import select
import socket
import ssl
import struct
from asyncio import sslproto as _sslproto  # asyncio's TLS layer, extended to send its alert
from typing import Any, Callable, Optional, Tuple

from ._errors import HttpConnectTimeoutError

__all__ = [
    "Socket",
    "SSLContext",
    "MSG_PEEK",
    "default_ssl_context",
    "get_nonblocking_sock",
    "new_sock",
    "sock_connect",
    "start_transport",
    "tls_connect",
    "abort_handshake",
    "is_tls_error",
    "get_blocking_sock",
    "blocking_connect",
    "blocking_tls",
    "idle_watch",
    "shut_down",
    "TIMEOUT_ERRORS",
    "use_kernel_timeouts",
    "set_kernel_timeout",
]

logger = logging.getLogger("asynchttp_lowhaio")

# The types and constants other rooms name without importing socket or ssl.
Socket = socket.socket
SSLContext = ssl.SSLContext
MSG_PEEK = socket.MSG_PEEK
# Pool()'s default TLS context factory (lowhaio's): the stdlib's, verifying.
default_ssl_context = ssl.create_default_context


def get_nonblocking_sock(family: int = socket.AF_INET) -> socket.socket:
    """A non-blocking TCP socket with Nagle off."""
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setblocking(False)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


async def sock_connect(
    loop: asyncio.AbstractEventLoop,
    sock: socket.socket,
    address: Tuple[str, int],
    deadline: float,
    limit: float,
    pending: set[asyncio.Future[Any]],
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


class _AlertingSSLProtocol(_sslproto.SSLProtocol):
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


async def tls_connect(
    loop: asyncio.AbstractEventLoop,
    conn: asyncio.BaseProtocol,
    sock: socket.socket,
    ssl_context: ssl.SSLContext,
    server_hostname: str,
    handshake_timeout: float,
) -> None:
    """What ``loop.create_connection(ssl=...)`` does, with the alerting TLS layer.

    On every loop, uvloop's too: uvloop's own TLS layer drops the socket without the
    alert as asyncio's does, and asyncio's layer runs over any loop's transport (it
    needs only the public transport and loop methods), so the alert is sent there too.
    """
    handshaken = loop.create_future()
    tls = _AlertingSSLProtocol(
        loop,
        conn,
        ssl_context,
        handshaken,
        server_side=False,
        server_hostname=server_hostname,
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


def _expire_connect(future: asyncio.Future[Any], address: Tuple[str, int], limit: float) -> None:
    if not future.done():
        future.set_exception(
            HttpConnectTimeoutError(
                errno.ETIMEDOUT, f"connect to {address[0]} port {address[1]} took more than {limit} seconds"
            )
        )


def new_sock(get_sock: Callable[..., socket.socket], address: str) -> socket.socket:
    """A socket from ``get_sock`` for ``address``'s family."""
    # lowhaio's get_sock takes no argument: pass the family only when it is not the default
    return get_sock(socket.AF_INET6) if ":" in address else get_sock()


async def start_transport(
    loop: asyncio.AbstractEventLoop,
    protocol: asyncio.BaseProtocol,
    sock: socket.socket,
    ssl_context: Optional[ssl.SSLContext],
    server_hostname: str,
    handshake_timeout: float,
) -> None:
    """``protocol``'s transport over the connected ``sock``: plain, or TLS when given a context."""
    if ssl_context is None:
        await loop.create_connection(lambda: protocol, sock=sock)
    else:
        await tls_connect(loop, protocol, sock, ssl_context, server_hostname, handshake_timeout)


def abort_handshake(sock: socket.socket) -> None:
    """Shut ``sock`` down so a handshake on it fails at once (the pool is closing)."""
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass


def is_tls_error(exc: BaseException) -> bool:
    """Whether ``exc`` is a failure of the TLS layer (a refused certificate, a bad record)."""
    return isinstance(exc, ssl.SSLError)


# ------------------------------------------------------ the blocking backend
def get_blocking_sock(family: int = socket.AF_INET) -> socket.socket:
    """A blocking TCP socket with Nagle off (its timeouts are set per operation)."""
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


def blocking_connect(sock: socket.socket, address: Tuple[str, int], seconds: float, limit: float) -> None:
    """Connect ``sock`` within ``seconds``; a timeout is the core's connect timeout."""
    sock.settimeout(max(seconds, 0.001))
    try:
        sock.connect(address)
    except socket.timeout as exc:
        raise HttpConnectTimeoutError(
            errno.ETIMEDOUT, f"connect to {address[0]} port {address[1]} took more than {limit} seconds"
        ) from exc


def blocking_tls(sock: socket.socket, ssl_context: ssl.SSLContext, server_hostname: str, seconds: float) -> Socket:
    """The TLS socket over the connected ``sock``, handshake done within ``seconds``.

    ``ssl.SSLSocket`` writes OpenSSL's alert ("unknown ca", "bad certificate") before
    the failed handshake raises, as http.client's sockets do; the raw socket is
    closed with the failure.
    """
    tls = ssl_context.wrap_socket(sock, server_hostname=server_hostname, do_handshake_on_connect=False)
    tls.settimeout(max(seconds, 0.001))
    try:
        tls.do_handshake()
    except BaseException:
        tls.close()
        raise
    return tls


def idle_watch(sock: Any) -> Callable[[], bool]:
    """For a pooled socket of either driver: a check, made once per connection, that
    says whether nothing waits on it (an unsolicited answer, a FIN, a reset, a TLS
    alert), so that it may be handed to a new request. It is one poll with no wait,
    whatever the socket's mode: where nothing waits (at every reuse) poll() returns
    an empty list, where recv(MSG_PEEK) would raise BlockingIOError, which costs more
    than the system call. A blocking ``ssl.SSLSocket`` may also hold bytes it has
    already decrypted (``pending()``): those are unsolicited too."""
    poller = select.poll()
    poller.register(sock.fileno(), select.POLLIN | select.POLLPRI)
    poll = poller.poll
    pending = getattr(sock, "pending", None)
    if pending is None:
        return lambda: not poll(0)
    return lambda: not pending() and not poll(0)


# The errors a read or write with a timeout raises when it expires: the socket's own
# (timeout mode), and a blocking plain socket's kernel timeout (SO_RCVTIMEO/SO_SNDTIMEO).
TIMEOUT_ERRORS = (TimeoutError, BlockingIOError)


def use_kernel_timeouts(sock: socket.socket, seconds: float) -> bool:
    """Make a plain socket blocking with ``seconds`` as its kernel read and write
    timeouts (0: none): each read or write is then one system call, with no poll
    before it. True if done; a TLS socket keeps Python's timeout mode (False), since
    ``ssl`` retries a kernel timeout forever on a blocking socket."""
    if hasattr(sock, "pending"):
        sock.settimeout(seconds or None)
        return False
    sock.settimeout(None)
    set_kernel_timeout(sock, seconds, write=True)
    set_kernel_timeout(sock, seconds)
    return True


def set_kernel_timeout(sock: socket.socket, seconds: float, write: bool = False) -> None:
    """The read (or write) timeout of a blocking plain socket, in the kernel."""
    whole = int(seconds)
    micro = min(int((seconds - whole) * 1_000_000), 999_999)
    if not whole and not micro and seconds > 0:
        micro = 1  # a zero timeval would mean "no timeout"
    option = socket.SO_SNDTIMEO if write else socket.SO_RCVTIMEO
    sock.setsockopt(socket.SOL_SOCKET, option, struct.pack("ll", whole, micro))


def shut_down(sock: socket.socket) -> None:
    """Shut ``sock`` down so a thread blocked on it fails at once (the pool is closing)."""
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
