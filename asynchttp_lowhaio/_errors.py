"""The exception tree of asynchttp_lowhaio.

The split that matters to callers is the one lowhaio introduced: an
``HttpConnectionError`` means no byte of the request reached the network, so
any request may be retried; an ``HttpDataError`` means bytes may have been
sent, so only idempotent requests may be retried.  Each class also inherits
the builtin a caller would naturally catch (``TimeoutError``, ``OSError``,
``ConnectionError``, ``ValueError``), and the lower-level cause is always
chained as ``__cause__``.  ``asyncio.CancelledError`` is never wrapped.

This module imports nothing but the standard library.
"""

__all__ = [
    "HttpError",
    "HttpLocalError",
    "HttpConnectionError",
    "HttpDnsError",
    "HttpConnectError",
    "HttpTlsError",
    "HttpConnectTimeoutError",
    "HttpPoolTimeoutError",
    "HttpPoolClosedError",
    "HttpDataError",
    "HttpConnectionClosedError",
    "HttpProtocolError",
    "HttpHeaderTooLong",
    "HttpReadTimeoutError",
    "HttpWriteTimeoutError",
    "HttpResponseHeadTimeoutError",
]


class HttpError(Exception):
    """Root of every error asynchttp_lowhaio raises for a request."""


class HttpLocalError(HttpError, ValueError):
    """The request itself is invalid (say CR/LF in a header): nothing was sent."""


class HttpConnectionError(HttpError, OSError):
    """Raised before any request byte was sent: the request may be retried."""


class HttpDnsError(HttpConnectionError):
    """The host name could not be resolved (cause: an aiodnsresolver.DnsError)."""


class HttpConnectError(HttpConnectionError):
    """No TCP connection could be made to any address of the host."""


class HttpTlsError(HttpConnectionError):
    """The TLS handshake failed (cause: the ssl error)."""


class HttpConnectTimeoutError(HttpConnectionError, TimeoutError):
    """TCP connect plus TLS handshake took longer than ``connect_timeout``."""


class HttpPoolTimeoutError(HttpConnectionError, TimeoutError):
    """No connection became free within ``max_wait_connection_seconds``."""


class HttpPoolClosedError(HttpConnectionError):
    """The pool was closed before the request could use a connection."""


class HttpDataError(HttpError):
    """Raised once request bytes may have been sent: retry only if idempotent."""


class HttpConnectionClosedError(HttpDataError, ConnectionError):
    """The connection was closed (by the server, a reset, or pool shutdown)."""


class HttpProtocolError(HttpDataError):
    """The server's response broke HTTP/1.1 framing or grammar."""


class HttpHeaderTooLong(HttpProtocolError):
    """The response head, a line, a chunk-size line or the trailers exceeded a limit."""


class HttpReadTimeoutError(HttpDataError, TimeoutError):
    """Nothing was received for ``socket_timeout`` seconds."""


class HttpWriteTimeoutError(HttpDataError, TimeoutError):
    """The request could not be written for ``socket_timeout`` seconds."""


class HttpResponseHeadTimeoutError(HttpReadTimeoutError):
    """The response head did not complete within ``response_head_timeout`` (slowloris guard)."""
