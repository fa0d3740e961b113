"""The wire room: one request on a core pool, as http.client would write it, and the
answer as httplib2 builds it.

``send_once`` composes the head http.client writes (Host, Accept-Encoding, the framing
header, then the caller's fields), frames a chunked body as http.client frames it,
hands both to the core's ``request``, reads the whole answer and builds the
``httplib2.Response`` (``build_response``); a core error comes out as the exception
httplib2 raises (``map_core_error``), with the core error as ``__cause__``.

``send_once`` runs on the loop thread; ``exchange_blocking`` (the same head, framing,
answer and errors over ``asynchttp_lowhaio.BlockingPool``) on a ``BlockingHttp``
caller's own thread. The room holds no state but two bounded caches: no threads, no
queue, no pool choice (the client room, ``_client``, owns the pools and gives the one
a request goes through; ``send_once`` is its method, written here).
``tests/test_import_graph.py`` holds the wall.
"""

from __future__ import annotations

import contextvars
import itertools
import logging
import sys
from typing import Any, AsyncIterator, Callable, Iterable, Iterator, Optional, Protocol

import httplib2

from asynchttp_lowhaio import (
    LAST_CHUNK,
    HttpConnectError,
    HttpConnectTimeoutError,
    HttpDnsError,
    HttpError,
    Request,
    buffered,
    empty_async_iterator,
    empty_iterator,
    encode_chunk,
    prepare_request,
    streamed,
    without_userinfo,
)

from . import _facts, _proxy
from ._body import FILE_BLOCK, ChunkedBody
from ._errors import PHASE_BODY, PHASE_HEAD, to_httplib2_error
from ._uri import host_of, origin, parse_authority

__all__ = [
    "send_once",
    "exchange_blocking",
    "request_fields",
    "build_response",
    "map_core_error",
    "current_request_id",
    "Pools",
    "Generation",
]

logger = logging.getLogger("asynchttp")
_DEBUG = logging.DEBUG

_HTTP10 = b"HTTP/1.0"

# http.client sends Content-Length: 0 for these methods when there is no body.
_METHODS_EXPECTING_BODY = frozenset({"PATCH", "POST", "PUT"})

# The request id of the job a runner is working on, for the core's log lines.
current_request_id: contextvars.ContextVar[int] = contextvars.ContextVar("asynchttp_request_id", default=0)


# ---------------------------------------------------------------------------
# The request body, chunked as http.client frames it

# Chunks framed per write: a big file goes out in bounded pieces, never copied whole.
_CHUNKS_PER_WRITE = 64


def _chunk_sizes(body: ChunkedBody) -> Iterable[int]:
    if body.sizes is not None:
        return body.sizes
    full, rest = divmod(len(body), FILE_BLOCK)
    return itertools.chain(itertools.repeat(FILE_BLOCK, full), (rest,) if rest else ())


def _chunked_writes(body: ChunkedBody) -> Iterator[bytes]:
    """``body`` in chunked framing, byte for byte as http.client writes it (upper-case
    hex sizes, one chunk per block it read). The framing is the core's encoder
    (``encode_chunk``); this only says where the chunks end, and sends them a few
    dozen per write."""
    view = memoryview(body)
    start = 0
    pieces: list[bytes] = []
    for size in _chunk_sizes(body):
        pieces.append(encode_chunk(view[start : start + size], True))
        start += size
        if len(pieces) >= _CHUNKS_PER_WRITE:
            yield b"".join(pieces)
            pieces = []
    pieces.append(LAST_CHUNK)
    yield b"".join(pieces)


def _chunked_stream(body: ChunkedBody) -> Callable[..., AsyncIterator[bytes]]:
    """``_chunked_writes`` as the async core pool's body callable."""

    async def stream(*_: Any, **__: Any) -> AsyncIterator[bytes]:
        for data in _chunked_writes(body):
            yield data

    return stream


# ---------------------------------------------------------------------------
# Response building


# The header names of an answer, decoded once per sequence of names and shared by every
# Response that has them (a server sends the same names in the same order answer after
# answer; a kept response then holds one "content-type", not one per response). Keyed
# by the core's name bytes (the parser hands out the same objects for the names it
# knows, so the key's hash is cheap). Bounded.
_key_rows: dict[tuple[bytes, ...], tuple[str, ...]] = {}
_KEY_ROWS_MAX = 256
_header_names: dict[bytes, str] = {}
_HEADER_NAMES_MAX = 1024


def _header_keys(names: tuple[bytes, ...]) -> tuple[str, ...]:
    keys = tuple([_header_names.get(name) or _header_name(name) for name in names])
    if len(_key_rows) >= _KEY_ROWS_MAX:
        _key_rows.clear()
    _key_rows[names] = keys
    return keys


def _header_name(name: bytes) -> str:
    text = sys.intern(name.decode("latin-1").lower())
    if len(_header_names) < _HEADER_NAMES_MAX:
        _header_names[name] = text
    return text


_new_response = httplib2.Response.__new__


def build_response(
    code: bytes, headers: Iterable[tuple[bytes, bytes]], reason: bytes, version: bytes
) -> httplib2.Response:
    """An ``httplib2.Response`` as httplib2 builds it from http.client: lower-cased
    keys, values decoded as Latin-1, repeated headers joined with ", ",
    ``["status"]`` a str. Built in one step: the names' keys found for the whole row,
    the values decoded in one piece (the core's field values hold no control
    character, so none holds the LF that parts them here)."""
    response = _new_response(httplib2.Response)
    if headers:
        names, values = zip(*headers)  # noqa: B905 (pairs: two rows of equal length)
        keys = _key_rows.get(names) or _header_keys(names)
        texts = b"\n".join(values).decode("latin-1").split("\n")
        if len(texts) != len(keys):  # a value with a LF after all: one by one
            texts = [value.decode("latin-1") for value in values]
        dict.update(response, zip(keys, texts))  # noqa: B905 (len checked above)
        if len(response) != len(keys):  # a repeated header: join its values in order
            dict.clear(response)
            get = response.get
            for key, text in zip(keys, texts):  # noqa: B905
                previous = get(key)
                response[key] = text if previous is None else previous + ", " + text
    status = int(code)
    response.status = status
    response["status"] = str(status)
    response.reason = reason.decode("latin-1") if isinstance(reason, bytes) else str(reason)
    response.version = 10 if version in (b"1.0", "1.0", b"HTTP/1.0") else 11
    return response


def _reason(body: Any) -> bytes:
    reason = getattr(body, "reason", b"")
    return reason if isinstance(reason, bytes) else str(reason).encode("latin-1")


# ---------------------------------------------------------------------------
# Errors


def map_core_error(exc: HttpError, scheme: str, authority: str, phase: str, proxies: Any) -> BaseException:
    """The exception httplib2 raises for core error ``exc``: through a proxy
    (``proxies``: the Http's ``_tunnels._Tunnels``, or None), a failure to reach the
    proxy is PySocks' ProxyConnectionError."""
    if (
        proxies is not None
        and isinstance(exc, (HttpDnsError, HttpConnectError, HttpConnectTimeoutError))
        and not isinstance(exc.__cause__, _proxy.ProxyError)
    ):
        host, port = origin(scheme, authority)
        plan = proxies.known_plan(scheme, host, port)
        if plan is not None:
            cause = to_httplib2_error(exc, host, phase, detail=False)  # the proxy's message quotes it
            mapped = _proxy.proxy_connection_error(plan, cause)
            mapped.__cause__ = exc
            return mapped
    return to_httplib2_error(exc, host_of(authority), phase, origin(scheme, authority)[1])


# ---------------------------------------------------------------------------
# One request


class BodySink(Protocol):
    """Where a sink request's body goes (``_sink.Sink``; named here, not imported:
    this room knows no threads, and the sink writes in the I/O executor)."""

    def takes(self, status: bytes) -> bool: ...

    async def receive(self, status: bytes, headers: Any, body: Any) -> bytes: ...


class Generation(Protocol):
    """A core pool as the client room keeps it (``_client._PoolGeneration``)."""

    request: Callable[..., Any]  # the core pool's request()
    inflight: int
    retired: bool
    http_version: bytes  # what the pool speaks: b"HTTP/1.0" takes no chunked body
    prepared: dict[Any, Request]  # the pool's prepared requests (prepared_request)
    proxies: Any  # the Http's _tunnels._Tunnels the pool was made with, or None


class Pools(Protocol):
    """The client room, as ``send_once`` uses it: a pool per request, and the close
    of a retired one once its last request is done."""

    def generation(self, scheme: str, authority: str) -> Any: ...  # a Generation

    def close_when_idle(self, gen: Any) -> None: ...

    def current_sink(self) -> Optional[BodySink]: ...


async def send_once(
    pools: Pools,
    scheme: str,
    authority: str,
    request_uri: str,
    method: str,
    body: Optional[bytes],
    headers: dict[str, str],
) -> tuple[httplib2.Response, bytes]:
    """Send one request over the pool ``pools`` gives for ``authority``, as http.client
    would write it, and read the whole answer. No redirects, cache, auth or decoding.
    Failures raise httplib2's exception with the core error as ``__cause__``. The
    client room's ``send_once`` method (the seam with the semantics layer) is this."""
    gen: Generation = pools.generation(scheme, authority)
    sink = pools.current_sink()
    debug = _log_sending(method, scheme, authority, request_uri)
    gen.inflight += 1
    phase = PHASE_HEAD
    record = _facts.CURRENT.get()  # the request's facts (and its rate limit's wait), if any
    try:
        # checked and serialised once (or found made for the same request before); the
        # pool sends it as it is
        prepared, chunked = prepared_request(
            gen.prepared, scheme, authority, request_uri, method, body, headers, gen.http_version
        )
        code, response_headers, response_body = await gen.request(
            prepared,
            body=_chunked_stream(body) if chunked else (streamed(body) if body else empty_async_iterator),  # type: ignore[arg-type]
            get_logger_adapter=_core_log_adapter if debug else None,
            before_send=None if record is None else record.before_send,
        )
        phase = PHASE_BODY
        if record is not None:  # record.note_head(), inline: every request passes here
            record.first_byte = _facts.monotonic()
            opened = response_body.opened
            if opened is not None:
                record.connected, record.tls_done = opened
        if sink is not None and sink.takes(code):
            content = await sink.receive(code, response_headers, response_body)
        else:
            content = await buffered(response_body)
    except HttpError as exc:
        raise map_core_error(exc, scheme, authority, phase, gen.proxies) from exc
    finally:
        gen.inflight -= 1
        if gen.retired:
            pools.close_when_idle(gen)
    return (
        build_response(code, response_headers, _reason(response_body), getattr(response_body, "version", b"1.1")),
        content,
    )


def exchange_blocking(
    request: Callable[..., Any],
    memo: dict[Any, Request],
    scheme: str,
    authority: str,
    request_uri: str,
    method: str,
    body: Optional[bytes],
    headers: dict[str, str],
    http_version: bytes,
    proxies: Any,
) -> tuple[httplib2.Response, bytes]:
    """``send_once`` on the caller's thread, with a blocking core pool's ``request``
    (``asynchttp_lowhaio.BlockingPool``) and its prepared requests (``memo``): the same
    head, framing, answer and errors."""
    debug = _log_sending(method, scheme, authority, request_uri)
    phase = PHASE_HEAD
    try:
        prepared, chunked = prepared_request(memo, scheme, authority, request_uri, method, body, headers, http_version)
        code, response_headers, response_body = request(
            prepared,
            body=(lambda: _chunked_writes(body)) if chunked else ((lambda: (body,)) if body else empty_iterator),  # type: ignore[arg-type]
            get_logger_adapter=_core_log_adapter if debug else None,
        )
        phase = PHASE_BODY
        content = response_body.read_all()
    except HttpError as exc:
        raise map_core_error(exc, scheme, authority, phase, proxies) from exc
    return build_response(code, response_headers, response_body.reason, response_body.version), content


def request_fields(
    scheme: str, authority: str, method: str, body: Optional[bytes], headers: dict[str, str], http10: bool
) -> tuple[tuple[tuple[bytes, bytes], ...], bool]:
    """The header fields http.client would send, and whether the body goes chunked.

    What http.client adds, spelled and ordered as it writes them: Host, then
    Accept-Encoding, then the framing header, then the caller's headers. Giving Host
    ourselves keeps the core from adding its own lower-case one."""
    head: list[tuple[bytes, bytes]] = []
    chunked = False
    if "host" not in headers:
        head.append((b"Host", parse_authority(scheme, authority).host_header))
    if "accept-encoding" not in headers:
        head.append((b"Accept-Encoding", b"identity"))
    if "content-length" not in headers and "transfer-encoding" not in headers:
        if type(body) is ChunkedBody and not http10:
            head.append((b"Transfer-Encoding", b"chunked"))
            chunked = True
        elif body is not None:
            head.append((b"Content-Length", b"%d" % len(body)))
        elif method in _METHODS_EXPECTING_BODY:
            head.append((b"Content-Length", b"0"))
    for name, value in headers.items():
        head.append((name.encode("latin-1"), value.encode("latin-1")))
    return tuple(head), chunked


def _log_sending(method: str, scheme: str, authority: str, request_uri: str) -> bool:
    debug = logger.isEnabledFor(_DEBUG)
    if debug:
        url = scheme + "://" + authority + request_uri
        logger.debug("request %d: sending %s %s", current_request_id.get(), method, without_userinfo(url))
    return debug


# Prepared requests kept per pool (at most this many): a request sent again with the same
# method, URL, fields and body length is not composed and checked again.
PREPARED_MAX = 256


def prepared_request(
    memo: dict[Any, Request],
    scheme: str,
    authority: str,
    request_uri: str,
    method: str,
    body: Optional[bytes],
    headers: dict[str, str],
    http_version: bytes,
) -> tuple[Request, bool]:
    """The core's prepared request for these arguments, as http.client would write it
    (``request_fields``), and whether the body goes chunked (framed here, by
    ``_chunked_writes``): made and checked once by the core's ``prepare_request`` (its
    errors raised here, before any I/O), then found in ``memo`` (the pool's) for a
    request built from the same values. A file or iterable body (``ChunkedBody``) is
    prepared each time."""
    key: Any = None
    if type(body) is not ChunkedBody:
        key = (method, scheme, authority, request_uri, -1 if body is None else len(body), *headers.items())
        try:
            found = memo.get(key)
        except TypeError:  # a field that is not a str (and not hashable): prepared each time
            key = found = None
        if found is not None:
            return found, False
    head, chunked = request_fields(scheme, authority, method, body, headers, http_version == _HTTP10)
    url = scheme + "://" + authority + request_uri
    prepared = prepare_request(method.encode("latin-1"), url, (), head, chunked or bool(body), http_version)
    if key is not None:
        if len(memo) >= PREPARED_MAX:
            memo.clear()
        memo[key] = prepared
    return prepared, chunked


class _CoreLogAdapter(logging.LoggerAdapter):  # type: ignore[type-arg]
    """Puts the core's per-request debug lines (connection new or reused, sent,
    response head, body done) on the "asynchttp" logger, tagged with our request id."""

    def process(self, msg: Any, kwargs: Any) -> tuple[Any, Any]:
        return "request %d: %s" % (current_request_id.get(), msg), kwargs


def _core_log_adapter(extra: dict[str, Any]) -> logging.LoggerAdapter:  # type: ignore[type-arg]
    return _CoreLogAdapter(logger, {})
