"""asynchttp_lowhaio: a lightweight, streaming-first asyncio HTTP/1.1 client.

The public API of lowhaio 0.0.89, made complete: ``request, close = Pool()``
inside a running loop, then ``code, headers, body = await request(b'GET', url)``
and ``async for chunk in body``.  TLS, pooling with limits, DNS-aware
keep-alive through aiodnsresolver, strict parsing with limits, timeouts, and
one exception tree (``HttpError``) for everything that can go wrong.

``BlockingPool()`` is the same pool driven from the calling thread over blocking
sockets (same options, rules, limits and errors; no loop needed): ``request, close =
BlockingPool()``, then ``code, headers, body = request(b'GET', url)`` and
``body.read_all()``; any number of threads may share it.

A request can be checked and serialised once, ahead of sending: ``prepared =
prepare_request(b'GET', url, headers=..., has_body=False)`` is a ``Request`` (its
``Target``, head bytes and framing), and either driver's ``request(prepared,
body=...)`` sends it without parsing or checking it again.

Beside lowhaio's API, the HTTP rules the core is written against, for layers built
on it (the ``asynchttp`` facade uses these and no ``_`` module of the core):
``DEFAULT_PORTS`` (scheme -> port when an authority names none), ``IDEMPOTENT_METHODS``
(bytes: the methods a request whose bytes may have been sent may be repeated for),
``TOKEN`` and ``TOKEN_TEXT`` (RFC 9110's token grammar for methods and field names,
for bytes and for text; use ``fullmatch``), ``FIELD_VALUE_FORBIDDEN`` and
``FIELD_VALUE_FORBIDDEN_TEXT`` (what a field value may not hold: CR, LF, NUL or
another control character; use ``search``) and ``without_userinfo(text)`` (a URL,
or a message quoting URLs, with every ``user:password@`` removed, for logs). And
the chunked encoder the core frames request bodies with: ``encode_chunk(data,
upper=False)`` (one chunk, nothing for empty data) and ``LAST_CHUNK``.
"""

from ._errors import (
    HttpConnectError,
    HttpConnectionClosedError,
    HttpConnectionError,
    HttpConnectTimeoutError,
    HttpDataError,
    HttpDnsError,
    HttpError,
    HttpHeaderTooLong,
    HttpLocalError,
    HttpPoolClosedError,
    HttpPoolTimeoutError,
    HttpProtocolError,
    HttpReadTimeoutError,
    HttpResponseHeadTimeoutError,
    HttpTlsError,
    HttpWriteTimeoutError,
)
from ._pool import (
    HttpLoggerAdapter,
    Pool,
    Request,
    ResponseBody,
    buffered,
    empty_async_iterator,
    get_logger_adapter_default,
    get_resolver_logger_adapter_default,
    prepare_request,
    streamed,
)
from ._rules import (
    DEFAULT_PORTS,
    FIELD_VALUE_FORBIDDEN,
    FIELD_VALUE_FORBIDDEN_TEXT,
    IDEMPOTENT_METHODS,
    TOKEN,
    TOKEN_TEXT,
    without_userinfo,
)
from ._sync import BlockingPool, BlockingResponseBody, empty_iterator
from ._transport import get_nonblocking_sock
from ._writer import LAST_CHUNK, Target, encode_chunk

__all__ = [
    "Pool",
    "prepare_request",
    "Request",
    "Target",
    "ResponseBody",
    "BlockingPool",
    "BlockingResponseBody",
    "empty_iterator",
    "streamed",
    "buffered",
    "empty_async_iterator",
    "get_nonblocking_sock",
    "HttpLoggerAdapter",
    "get_logger_adapter_default",
    "get_resolver_logger_adapter_default",
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
    "DEFAULT_PORTS",
    "IDEMPOTENT_METHODS",
    "TOKEN",
    "TOKEN_TEXT",
    "FIELD_VALUE_FORBIDDEN",
    "FIELD_VALUE_FORBIDDEN_TEXT",
    "without_userinfo",
    "encode_chunk",
    "LAST_CHUNK",
]
