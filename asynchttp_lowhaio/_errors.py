"""The exception tree of asynchttp_lowhaio.

The split that matters to callers is the one lowhaio introduced: an
``HttpConnectionError`` means no byte of the request reached the network, so
any request may be retried; an ``HttpDataError`` means bytes may have been
sent, so only idempotent requests may be retried.  Each class also inherits
the builtin a caller would naturally catch (``TimeoutError``, ``OSError``,
``ConnectionError``, ``ValueError``), and the lower-level cause is always
chained as ``__cause__``.  ``asyncio.CancelledError`` is never wrapped.

Each error names the phase of the request it failed in, as ``phase``: "dns",
"connect" (TCP, and a proxy's handshake), "tls", "pool" (waiting for a
connection, or the pool closed), "send", "head" (waiting for or reading the
response head), "body", or None where the error alone cannot tell (a protocol
error: its caller knows whether the head had arrived) and for ``HttpLocalError``
(nothing reached the network).  A class gives its usual phase; an instance
may say more precisely (a read timeout: "head" or "body"; a connect timeout
during the TLS handshake: "tls").  A timeout's message names the limit in force.

This module imports nothing but the standard library.
"""

from typing import Optional

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

    #: The phase of the request it failed in (see the module's docstring), or None.
    phase: Optional[str] = None


class HttpLocalError(HttpError, ValueError):
    """The request itself is invalid (say CR/LF in a header): nothing was sent."""


class HttpConnectionError(HttpError, OSError):
    """Raised before any request byte was sent: the request may be retried."""


class HttpDnsError(HttpConnectionError):
    """The host name could not be resolved (cause: an aiodnsresolver.DnsError)."""

    phase = "dns"


class HttpConnectError(HttpConnectionError):
    """No TCP connection could be made to any address of the host."""

    phase = "connect"


class HttpTlsError(HttpConnectionError):
    """The TLS handshake failed (cause: the ssl error)."""

    phase = "tls"


class HttpConnectTimeoutError(HttpConnectionError, TimeoutError):
    """TCP connect plus TLS handshake took longer than ``connect_timeout``."""

    phase = "connect"


class HttpPoolTimeoutError(HttpConnectionError, TimeoutError):
    """No connection became free within ``max_wait_connection_seconds``."""

    phase = "pool"


class HttpPoolClosedError(HttpConnectionError):
    """The pool was closed before the request could use a connection."""

    phase = "pool"


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

    phase = "send"


class HttpResponseHeadTimeoutError(HttpReadTimeoutError):
    """The response head did not complete within ``response_head_timeout`` (slowloris guard)."""

    phase = "head"
