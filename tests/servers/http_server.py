"""A real HTTP/1.1 test server of our own, on asyncio, in a background thread.

Every test suite talks to it over real sockets (plain or TLS). It parses requests
itself (no http.server, no aiohttp) so that tests see exactly what a client sent, and
it tells tests what happened on the wire: each response carries ``x-conn-id`` (which
connection) and ``x-conn-requests`` (how many requests that connection has served),
and ``server.requests`` records every request.

Its loop runs in a daemon thread, so async tests in their own loops and blocking
facade tests use it alike. Every wait in it is bounded; ``stop()`` closes everything.
Other suites add endpoints with ``server.route(path, handler)``.
"""

from __future__ import annotations

import asyncio
import base64
import email.utils
import itertools
import json
import logging
import ssl
import sys
import threading
import zlib
from dataclasses import dataclass, field
from typing import Any, AsyncIterable, AsyncIterator, Awaitable, Callable, Union
from urllib.parse import parse_qsl

from . import leaks

__all__ = [
    "TestServer",
    "Request",
    "Response",
    "Raw",
    "Handler",
    "pattern",
    "KNOWN_TEXT",
    "JSON_BODY",
    "REASONS",
]

logger = logging.getLogger("tests.servers.http")

MAX_HEAD = 64 * 1024  # request head bytes, also the stream reader's line limit
MAX_BODY = 256 * 1024 * 1024  # request body buffered for a non-streaming route
MAX_REQUESTS_PER_CONN = 1_000_000
MAX_WAIT = 30.0  # ceiling on every deliberate wait (/wait, /slow, /stall-body)
STREAM_PIECE = 64 * 1024

# The text behind /gzip, /deflate and /deflate-raw, and their decoded bodies.
KNOWN_TEXT = ("The quick brown fox jumps over the lazy dog. " * 40).encode("ascii")
JSON_BODY = {"hello": "world", "numbers": [1, 2, 3], "nested": {"ok": True}, "text": "caf\u00e9"}

REASONS = {
    100: "Continue",
    101: "Switching Protocols",
    103: "Early Hints",
    200: "OK",
    201: "Created",
    202: "Accepted",
    203: "Non-Authoritative Information",
    204: "No Content",
    206: "Partial Content",
    300: "Multiple Choices",
    301: "Moved Permanently",
    302: "Found",
    303: "See Other",
    304: "Not Modified",
    307: "Temporary Redirect",
    308: "Permanent Redirect",
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    408: "Request Timeout",
    410: "Gone",
    413: "Content Too Large",
    429: "Too Many Requests",
    431: "Request Header Fields Too Large",
    500: "Internal Server Error",
    501: "Not Implemented",
    502: "Bad Gateway",
    503: "Service Unavailable",
    504: "Gateway Timeout",
}

# One 251-byte cycle (a prime length, all byte values but a few) so that a dropped,
# repeated or reordered piece anywhere in a long body changes the bytes.
_CYCLE = bytes(range(251))
_BLOCK = _CYCLE * 1045  # ~256 KiB, a whole number of cycles


if sys.version_info >= (3, 11):

    async def _within(awaitable: Awaitable[Any], timeout: float) -> Any:
        # asyncio.timeout costs no extra task per read, unlike wait_for on 3.11
        async with asyncio.timeout(timeout):
            return await awaitable
else:  # pragma: no cover - Python 3.10
    _within = asyncio.wait_for


def pattern(n: int, start: int = 0) -> bytes:
    """The deterministic body of /bytes, /chunked and /stream: bytes ``start..start+n``."""
    offset = start % len(_CYCLE)
    out = bytearray()
    while len(out) < n:
        piece = _BLOCK[offset : offset + (n - len(out))]
        out += piece
        offset = 0
    return bytes(out)


async def _pattern_pieces(n: int, piece: int) -> AsyncIterator[bytes]:
    sent = 0
    while sent < n:
        size = min(piece, n - sent)
        yield pattern(size, sent)
        sent += size


async def _no_body() -> AsyncIterator[bytes]:
    return
    yield b""  # an async generator that yields nothing


@dataclass
class Request:
    """One request as the server received it (headers keep their order and case)."""

    method: str
    target: str
    version: str
    headers: list[tuple[str, str]]
    body: bytes
    conn_id: int
    conn_request: int  # 1 for the first request on its connection
    trailers: list[tuple[str, str]] = field(default_factory=list)
    chunked: bool = False  # the body came with Transfer-Encoding: chunked
    body_length: int = 0  # bytes of body (also set for streaming routes)
    _reader: Any = field(default=None, repr=False)
    _server: Any = field(default=None, repr=False)
    _body_pending: Any = field(default=None, repr=False)

    @property
    def path(self) -> str:
        return self.target.partition("?")[0]

    @property
    def query(self) -> str:
        return self.target.partition("?")[2]

    @property
    def args_list(self) -> list[tuple[str, str]]:
        return parse_qsl(self.query, keep_blank_values=True)

    @property
    def args(self) -> dict[str, str]:
        """Query parameters, first value of each name."""
        out: dict[str, str] = {}
        for name, value in self.args_list:
            out.setdefault(name, value)
        return out

    def header(self, name: str, default: str | None = None) -> str | None:
        """First value of header ``name`` (case-insensitive)."""
        lower = name.lower()
        for key, value in self.headers:
            if key.lower() == lower:
                return value
        return default

    def header_all(self, name: str) -> list[str]:
        lower = name.lower()
        return [value for key, value in self.headers if key.lower() == lower]

    async def iter_body(self) -> AsyncIterator[bytes]:
        """For routes added with ``stream_body=True``: the request body, as it arrives."""
        if self._body_pending is None:
            if self.body:
                yield self.body
            return
        pending, self._body_pending = self._body_pending, None
        async for piece in pending:
            self.body_length += len(piece)
            yield piece

    def has_body_headers(self) -> bool:
        for key, _ in self.headers:
            lower = key.lower()
            if lower == "content-length" or lower == "transfer-encoding":
                return True
        return False

    async def wait_closed(self, timeout: float = MAX_WAIT) -> bool:
        """Wait until the client closes the connection (or the server stops).

        Reads and discards whatever the client sends meanwhile. True if the client closed.
        """
        reader = self._reader

        async def until_eof() -> None:
            for _ in range(1 << 30):
                if not await reader.read(65536):
                    return

        try:
            await asyncio.wait_for(until_eof(), timeout)
        except (asyncio.TimeoutError, ConnectionError, OSError):
            return False
        return True


BodyType = Union[bytes, AsyncIterable[bytes], None]


@dataclass
class Response:
    """What a handler returns. The server adds framing and the x-conn-* headers.

    ``body`` is bytes or an async iterable of bytes. For bytes, Content-Length is added
    unless ``chunked`` or ``add_content_length=False``. For an iterable, give ``length``
    (sent as Content-Length), or ``chunked=True``; with neither the body is delimited by
    closing the connection. Statuses 1xx/204/304 and HEAD requests never get a body.
    """

    status: int = 200
    body: BodyType = b""
    headers: list[tuple[str, str]] = field(default_factory=list)
    reason: str | None = None
    version: str = "HTTP/1.1"
    chunked: bool = False
    close: bool = False
    length: int | None = None
    add_content_length: bool = True
    trailers: list[tuple[str, str]] = field(default_factory=list)
    interim: list[tuple[int, list[tuple[str, str]]]] = field(default_factory=list)


@dataclass
class Raw:
    """Bytes written to the socket exactly as given, then optionally close."""

    data: bytes
    close: bool = False


HandlerResult = Union[Response, Raw, bytes]
Handler = Callable[[Request], Awaitable[HandlerResult]]


class _BadRequest(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def _text(body: str | bytes, status: int = 200, ctype: str = "text/plain; charset=utf-8", **kw: Any) -> Response:
    data = body.encode("utf-8") if isinstance(body, str) else body
    headers = [("Content-Type", ctype)] + list(kw.pop("headers", []))
    return Response(status=status, body=data, headers=headers, **kw)


def _int_arg(request: Request, name: str, default: int, low: int = 0, high: int = 1 << 40) -> int:
    try:
        value = int(request.args.get(name, default))
    except ValueError:
        raise _BadRequest(400, f"bad integer for {name}") from None
    return max(low, min(high, value))


def _float_arg(request: Request, name: str, default: float) -> float:
    try:
        value = float(request.args.get(name, default))
    except ValueError:
        raise _BadRequest(400, f"bad number for {name}") from None
    return max(0.0, min(MAX_WAIT, value))


class TestServer:
    """HTTP/1.1 server on 127.0.0.1 (or ``host``), plain or TLS, in its own thread."""

    __test__ = False  # not a pytest test class despite the name

    def __init__(
        self,
        ssl_context: ssl.SSLContext | None = None,
        host: str = "127.0.0.1",
        idle_timeout: float = 30.0,
        lifetime: float = 600.0,
    ) -> None:
        self.ssl_context = ssl_context
        self.host = host
        # Seconds a keep-alive connection may sit idle before the server closes it;
        # tests may lower it on a running server to make it close idle connections.
        self.idle_timeout = idle_timeout
        self.lifetime = lifetime  # the server stops by itself after this
        self.send_100_continue = True  # answer Expect: 100-continue before the body
        self.port = 0
        self.requests: list[Request] = []
        self.connections_opened = 0
        self.connections_closed = 0
        self.errors: list[BaseException] = []
        self._routes: dict[str, tuple[Handler, bool]] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._server: asyncio.base_events.Server | None = None
        self._conn_tasks: set[asyncio.Task[None]] = set()
        self._writers: set[asyncio.StreamWriter] = set()
        self._conn_ids = itertools.count(1)
        self._events: dict[str, asyncio.Event] = {}
        self._arrived: dict[str, int] = {}
        self._arrived_cond = threading.Condition()
        self._stopping: asyncio.Event | None = None
        self._cache_serves = 0
        self._startup_fds: set[int] = set()
        self._install_default_routes()

    # ---------------------------------------------------------------- lifecycle

    def start(self) -> "TestServer":
        if self._thread is not None:
            return self
        ready = threading.Event()
        failure: list[BaseException] = []
        fds_before = set(leaks.open_fds())
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self._run, args=(ready, failure), daemon=True, name=f"asynchttp-test-http-server-{id(self):x}"
        )
        self._thread.start()
        if not ready.wait(10) or failure:
            self.stop()
            raise RuntimeError("test server failed to start") from (failure[0] if failure else None)
        # the loop's selector and wake-up pipe are the server's, not a test's leak
        self._startup_fds = set(leaks.open_fds()) - fds_before
        leaks.register(self)
        return self

    def stop(self, timeout: float = 5.0) -> None:
        thread, loop = self._thread, self._loop
        if thread is None or loop is None:
            return
        if thread.is_alive():
            try:
                loop.call_soon_threadsafe(self._begin_stop)
            except RuntimeError:
                pass  # the loop already closed (lifetime ended)
            thread.join(timeout)
        if thread.is_alive():
            raise RuntimeError("test server thread did not stop")
        self._thread = None
        leaks.unregister(self)

    def leak_ignore_ports(self) -> set[int]:
        return {self.port}

    def leak_ignore_fds(self) -> set[int]:
        return set(self._startup_fds)

    def __enter__(self) -> "TestServer":
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    @property
    def scheme(self) -> str:
        return "https" if self.ssl_context is not None else "http"

    @property
    def netloc(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"

    def url(self, path: str = "/") -> str:
        if not path.startswith("/"):
            path = "/" + path
        return f"{self.scheme}://{self.netloc}{path}"

    def route(self, path: str, handler: Handler, *, stream_body: bool = False) -> None:
        """Serve ``path`` (exact match, query ignored) with ``handler``.

        ``handler`` is ``async def handler(request: Request) -> Response | Raw | bytes``.
        With ``stream_body=True`` the request body is not read beforehand: the handler
        reads it with ``async for piece in request.iter_body()`` (rest is discarded).
        """
        self._routes[path] = (handler, stream_body)

    def release(self, key: str) -> None:
        """Let /wait?key=KEY answer (requests already waiting and future ones)."""
        loop = self._loop
        if loop is None or loop.is_closed():
            return
        try:
            loop.call_soon_threadsafe(self._release_in_loop, key)
        except RuntimeError:
            pass

    def wait_arrived(self, key: str, count: int = 1, timeout: float = 5.0) -> bool:
        """Block until ``count`` requests for /wait?key=KEY have reached the server."""
        with self._arrived_cond:
            return self._arrived_cond.wait_for(lambda: self._arrived.get(key, 0) >= count, timeout)

    def call(self, func: Callable[[], Any]) -> None:
        """Run ``func`` on the server's loop thread (for handlers' shared state)."""
        assert self._loop is not None
        self._loop.call_soon_threadsafe(func)

    # ------------------------------------------------------------- loop thread

    def _run(self, ready: threading.Event, failure: list[BaseException]) -> None:
        loop = self._loop
        assert loop is not None
        asyncio.set_event_loop(loop)
        loop.set_exception_handler(self._exception_handler)
        try:
            loop.run_until_complete(self._listen())
        except BaseException as exc:  # noqa: BLE001 - reported to start()
            failure.append(exc)
            ready.set()
            loop.close()
            return
        ready.set()
        lifetime = loop.call_later(self.lifetime, self._begin_stop)
        try:
            loop.run_forever()
        finally:
            lifetime.cancel()
            self._finish(loop)

    async def _listen(self) -> None:
        self._stopping = asyncio.Event()
        self._server = await asyncio.start_server(
            self._serve_connection,
            self.host,
            0,
            ssl=self.ssl_context,
            limit=MAX_HEAD,
            ssl_handshake_timeout=10 if self.ssl_context else None,
            backlog=1024,
        )
        self.port = self._server.sockets[0].getsockname()[1]

    def _begin_stop(self) -> None:
        loop = self._loop
        assert loop is not None
        if self._stopping is not None:
            self._stopping.set()
        if self._server is not None:
            self._server.close()
        for event in self._events.values():
            event.set()
        for writer in list(self._writers):
            writer.transport.abort()
        for task in list(self._conn_tasks):
            task.cancel()
        loop.call_soon(loop.stop)

    def _finish(self, loop: asyncio.AbstractEventLoop) -> None:
        try:
            tasks = [t for t in asyncio.all_tasks(loop) if not t.done()]
            for task in tasks:
                task.cancel()
            if tasks:
                loop.run_until_complete(asyncio.wait(tasks, timeout=2))
            loop.run_until_complete(loop.shutdown_asyncgens())
            if self._server is not None:
                # wait_closed() waits for the listener only on 3.11; bounded anyway
                loop.run_until_complete(asyncio.wait([loop.create_task(self._server.wait_closed())], timeout=1))
        finally:
            loop.close()

    def _exception_handler(self, loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        # Clients under test fail TLS handshakes and reset connections on purpose;
        # that is not the server's error, so keep it out of the test output.
        exc = context.get("exception")
        logger.debug("test server loop: %s (%r)", context.get("message"), exc)

    def _release_in_loop(self, key: str) -> None:
        self._events.setdefault(key, asyncio.Event()).set()

    # ------------------------------------------------------------ connections

    async def _serve_connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None and self._stopping is not None
        if self._stopping.is_set():
            writer.transport.abort()
            return
        self._conn_tasks.add(task)
        self._writers.add(writer)
        conn_id = next(self._conn_ids)
        self.connections_opened += 1
        served = 0
        try:
            while served < MAX_REQUESTS_PER_CONN:
                try:
                    head = await _within(reader.readuntil(b"\r\n\r\n"), self.idle_timeout)
                except asyncio.IncompleteReadError:
                    break  # client closed between requests (or mid-head)
                except asyncio.LimitOverrunError:
                    await self._write_error(writer, 431, "request head too long")
                    break
                except asyncio.TimeoutError:
                    break
                served += 1
                try:
                    request = self._parse_head(head, conn_id, served)
                    request._reader = reader
                    request._server = self
                    handler, stream_body = self._routes.get(request.path, (None, False))
                    if self._expects_continue(request) and self.send_100_continue:
                        writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
                    if not request.has_body_headers():
                        pending = _no_body()
                    else:
                        pending = self._body_iter(reader, request)
                    if stream_body:
                        request._body_pending = pending
                    else:
                        pieces = []
                        async for piece in pending:
                            request.body_length += len(piece)
                            if request.body_length > MAX_BODY:
                                raise _BadRequest(413, "request body too large")
                            pieces.append(piece)
                        request.body = b"".join(pieces)
                except _BadRequest as exc:
                    await self._write_error(writer, exc.status, str(exc))
                    break
                self.requests.append(request)
                if handler is None:
                    result: HandlerResult = _text(f"no route for {request.path}\n", 404)
                else:
                    try:
                        result = await handler(request)
                    except _BadRequest as exc:
                        result = _text(str(exc) + "\n", exc.status)
                    except (ConnectionError, asyncio.IncompleteReadError):
                        raise
                    except Exception as exc:  # noqa: BLE001 - a bug in a test handler
                        logger.exception("handler for %s failed", request.path)
                        self.errors.append(exc)
                        result = _text(f"handler error: {exc!r}\n", 500, close=True)
                if stream_body:
                    async for piece in pending:
                        request.body_length += len(piece)  # what the handler left unread
                keep = await self._write_result(writer, request, result, served)
                if not keep:
                    break
        except (
            ConnectionError,
            OSError,
            asyncio.IncompleteReadError,
            ssl.SSLError,
            asyncio.TimeoutError,
            asyncio.LimitOverrunError,
        ):
            pass
        except asyncio.CancelledError:
            pass  # server stopping
        finally:
            self._conn_tasks.discard(task)
            self._writers.discard(writer)
            self.connections_closed += 1
            writer.transport.abort() if self._stopping.is_set() else writer.close()

    @staticmethod
    def _expects_continue(request: Request) -> bool:
        return (request.header("expect") or "").lower() == "100-continue"

    @staticmethod
    def _parse_head(head: bytes, conn_id: int, served: int) -> Request:
        lines = head[:-4].split(b"\r\n")
        # RFC 9112 2.2: a server SHOULD ignore empty lines before the request line
        while lines and lines[0] == b"":
            lines.pop(0)
        if not lines:
            raise _BadRequest(400, "empty request")
        parts = lines[0].split(b" ")
        if len(parts) != 3 or not parts[2].startswith(b"HTTP/"):
            raise _BadRequest(400, "bad request line")
        method, target, version = (p.decode("latin-1") for p in parts)
        headers = []
        for line in lines[1:]:
            name, colon, value = line.partition(b":")
            if not colon or not name or name != name.strip():
                raise _BadRequest(400, "bad header line")
            headers.append((name.decode("latin-1"), value.strip(b" \t").decode("latin-1")))
        return Request(
            method=method,
            target=target,
            version=version,
            headers=headers,
            body=b"",
            conn_id=conn_id,
            conn_request=served,
        )

    async def _body_iter(self, reader: asyncio.StreamReader, request: Request) -> AsyncIterator[bytes]:
        te = ",".join(request.header_all("transfer-encoding")).lower()
        codings = [c.strip() for c in te.split(",") if c.strip()]
        if codings:
            if codings[-1] != "chunked":
                raise _BadRequest(400, "unsupported transfer-encoding")
            request.chunked = True
            async for piece in self._chunked_body(reader, request):
                yield piece
            return
        lengths = request.header_all("content-length")
        if not lengths:
            return
        if len(set(lengths)) != 1 or not lengths[0].isdigit():
            raise _BadRequest(400, "bad content-length")
        remaining = int(lengths[0])
        while remaining > 0:
            piece = await self._read_some(reader, min(remaining, 65536))
            remaining -= len(piece)
            yield piece

    async def _read_some(self, reader: asyncio.StreamReader, n: int) -> bytes:
        piece = await _within(reader.read(n), self.idle_timeout)
        if not piece:
            raise asyncio.IncompleteReadError(b"", n)
        return piece

    async def _chunked_body(self, reader: asyncio.StreamReader, request: Request) -> AsyncIterator[bytes]:
        for _ in range(10_000_000):
            line = await asyncio.wait_for(reader.readuntil(b"\r\n"), self.idle_timeout)
            size_text = line[:-2].split(b";")[0].strip()
            try:
                size = int(size_text, 16)
            except ValueError:
                raise _BadRequest(400, "bad chunk size") from None
            if size == 0:
                break
            remaining = size
            while remaining > 0:
                piece = await self._read_some(reader, min(remaining, 65536))
                remaining -= len(piece)
                yield piece
            if await asyncio.wait_for(reader.readexactly(2), self.idle_timeout) != b"\r\n":
                raise _BadRequest(400, "chunk not followed by CRLF")
        for _ in range(100):
            line = await asyncio.wait_for(reader.readuntil(b"\r\n"), self.idle_timeout)
            if line == b"\r\n":
                return
            name, _, value = line[:-2].partition(b":")
            request.trailers.append((name.decode("latin-1"), value.strip().decode("latin-1")))
        raise _BadRequest(400, "too many trailers")

    async def _write_error(self, writer: asyncio.StreamWriter, status: int, message: str) -> None:
        body = (message + "\n").encode()
        writer.write(
            f"HTTP/1.1 {status} {REASONS.get(status, 'Error')}\r\nContent-Type: text/plain\r\n"
            f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n".encode()
            + body
        )
        try:
            await asyncio.wait_for(writer.drain(), 5)
        except (ConnectionError, OSError, asyncio.TimeoutError):
            pass

    async def _write_result(
        self, writer: asyncio.StreamWriter, request: Request, result: HandlerResult, served: int
    ) -> bool:
        """Send ``result``; True when the connection may serve another request."""
        if isinstance(result, (bytes, bytearray)):
            result = Raw(bytes(result))
        if isinstance(result, Raw):
            writer.write(result.data)
            await self._drain(writer)
            return not result.close
        resp = result
        client_close = "close" in (request.header("connection") or "").lower() or (
            request.version == "HTTP/1.0" and "keep-alive" not in (request.header("connection") or "").lower()
        )
        bodiless_status = resp.status < 200 or resp.status in (204, 304)
        no_body = bodiless_status or request.method == "HEAD"
        headers = list(resp.headers)
        names = {name.lower() for name, _ in headers}
        body = resp.body if resp.body is not None else b""
        close = resp.close or client_close
        delimited_by_close = False
        if not bodiless_status:
            if resp.chunked:
                headers.append(("Transfer-Encoding", "chunked"))
            elif "content-length" in names:
                pass
            elif isinstance(body, (bytes, bytearray)):
                if resp.add_content_length:
                    headers.append(("Content-Length", str(len(body))))
                else:
                    delimited_by_close = True
            elif resp.length is not None:
                headers.append(("Content-Length", str(resp.length)))
            else:
                delimited_by_close = True
        if delimited_by_close and not no_body:
            close = True
        if close and "connection" not in names:
            headers.append(("Connection", "close"))
        headers.append(("x-conn-id", str(request.conn_id)))
        headers.append(("x-conn-requests", str(served)))
        out = bytearray()
        for status, interim_headers in resp.interim:
            out += f"HTTP/1.1 {status} {REASONS.get(status, 'Interim')}\r\n".encode("latin-1")
            out += b"".join(f"{n}: {v}\r\n".encode("latin-1") for n, v in interim_headers)
            out += b"\r\n"
        reason = resp.reason if resp.reason is not None else REASONS.get(resp.status, "Unknown")
        out += f"{resp.version} {resp.status} {reason}\r\n".encode("latin-1")
        out += b"".join(f"{n}: {v}\r\n".encode("latin-1") for n, v in headers)
        out += b"\r\n"
        if no_body:
            writer.write(bytes(out))
            await self._drain(writer)
            return not close
        if isinstance(body, (bytes, bytearray)):
            if resp.chunked:
                if body:
                    out += b"%x\r\n%s\r\n" % (len(body), body)
                out += self._last_chunk(resp)
            else:
                out += body
            writer.write(bytes(out))
            await self._drain(writer)
            return not close
        writer.write(bytes(out))
        async for piece in body:
            if not piece:
                continue
            if resp.chunked:
                writer.write(b"%x\r\n" % len(piece))
                writer.write(piece)
                writer.write(b"\r\n")
            else:
                writer.write(piece)
            await self._drain(writer)
        if resp.chunked:
            writer.write(self._last_chunk(resp))
        await self._drain(writer)
        return not close

    @staticmethod
    def _last_chunk(resp: Response) -> bytes:
        trailers = b"".join(f"{n}: {v}\r\n".encode("latin-1") for n, v in resp.trailers)
        return b"0\r\n" + trailers + b"\r\n"

    async def _drain(self, writer: asyncio.StreamWriter) -> None:
        # Flow control: a client that stops reading makes drain() wait; bound it so a
        # stuck client cannot hold the server past the idle timeout.
        if writer.transport.get_write_buffer_size() > 0:
            await _within(writer.drain(), max(self.idle_timeout, 1.0))

    # ---------------------------------------------------------------- routes

    def _install_default_routes(self) -> None:
        for path, handler in {
            "/hello": self._hello,
            "/echo": self._echo,
            "/bytes": self._bytes,
            "/chunked": self._chunked,
            "/stream": self._stream,
            "/status": self._status,
            "/slow": self._slow,
            "/stall-body": self._stall_body,
            "/gzip": self._gzip,
            "/deflate": self._deflate,
            "/deflate-raw": self._deflate_raw,
            "/json": self._json,
            "/close": self._close,
            "/http10": self._http10,
            "/redirect": self._redirect,
            "/headers": self._headers,
            "/wait": self._wait,
            "/cache": self._cache,
            "/auth/basic": self._auth_basic,
            "/head-len": self._head_len,
        }.items():
            self.route(path, handler)
        self.route("/discard", self._discard, stream_body=True)

    async def _hello(self, request: Request) -> Response:
        return _text("hello world")

    async def _echo(self, request: Request) -> Response:
        data = {
            "method": request.method,
            "target": request.target,
            "path": request.path,
            "query": request.query,
            "args": [list(p) for p in request.args_list],
            "version": request.version,
            "headers": [[n, v] for n, v in request.headers],
            "body": request.body.decode("latin-1"),
            "chunked": request.chunked,
            "trailers": [[n, v] for n, v in request.trailers],
            "conn_id": request.conn_id,
            "conn_request": request.conn_request,
        }
        return _text(json.dumps(data), ctype="application/json")

    async def _bytes(self, request: Request) -> Response:
        n = _int_arg(request, "n", 100, high=MAX_BODY)
        return Response(body=pattern(n), headers=[("Content-Type", "application/octet-stream")])

    async def _chunked(self, request: Request) -> Response:
        n = _int_arg(request, "n", 10000, high=1 << 34)
        size = _int_arg(request, "size", 1000, low=1, high=1 << 24)
        trailers = [tuple(t.split(":", 1)) for t in (v for k, v in request.args_list if k == "trailer") if ":" in t]
        headers = [("Content-Type", "application/octet-stream")]
        if trailers:
            headers.append(("Trailer", ", ".join(n for n, _ in trailers)))
        return Response(
            body=_pattern_pieces(n, size),
            chunked=True,
            headers=headers,
            trailers=[(n.strip(), v.strip()) for n, v in trailers],
        )

    async def _stream(self, request: Request) -> Response:
        n = _int_arg(request, "n", 1 << 20, high=1 << 34)
        piece = _int_arg(request, "piece", STREAM_PIECE, low=1, high=1 << 24)
        chunked = request.args.get("chunked") == "1"
        return Response(
            body=_pattern_pieces(n, piece),
            length=None if chunked else n,
            chunked=chunked,
            headers=[("Content-Type", "application/octet-stream")],
        )

    async def _status(self, request: Request) -> Response:
        code = _int_arg(request, "code", 200, low=100, high=999)
        reason = request.args.get("reason")
        return _text(f"status {code}\n", code, reason=reason)

    async def _slow(self, request: Request) -> Response:
        await self._sleep(_float_arg(request, "delay", 1.0))
        return _text("slow\n")

    async def _sleep(self, delay: float) -> None:
        assert self._stopping is not None
        try:
            await asyncio.wait_for(self._stopping.wait(), delay)
        except asyncio.TimeoutError:
            pass

    async def _stall_body(self, request: Request) -> Response:
        n = _int_arg(request, "n", 1000, low=2, high=1 << 30)

        async def body() -> AsyncIterator[bytes]:
            yield pattern(n // 2)
            await request.wait_closed(MAX_WAIT)
            # then end the connection: the promised rest never comes
            raise ConnectionResetError("stall-body over")

        return Response(body=body(), length=n, headers=[("Content-Type", "application/octet-stream")])

    async def _gzip(self, request: Request) -> Response:
        comp = zlib.compressobj(6, zlib.DEFLATED, 31)
        data = comp.compress(KNOWN_TEXT) + comp.flush()
        return Response(body=data, headers=[("Content-Type", "text/plain"), ("Content-Encoding", "gzip")])

    async def _deflate(self, request: Request) -> Response:
        return Response(
            body=zlib.compress(KNOWN_TEXT), headers=[("Content-Type", "text/plain"), ("Content-Encoding", "deflate")]
        )

    async def _deflate_raw(self, request: Request) -> Response:
        comp = zlib.compressobj(6, zlib.DEFLATED, -15)
        data = comp.compress(KNOWN_TEXT) + comp.flush()
        return Response(body=data, headers=[("Content-Type", "text/plain"), ("Content-Encoding", "deflate")])

    async def _json(self, request: Request) -> Response:
        return _text(json.dumps(JSON_BODY), ctype="application/json")

    async def _close(self, request: Request) -> Response:
        return _text("closing\n", close=True)

    async def _http10(self, request: Request) -> Response:
        return Response(
            body=b"http/1.0 body until close\n",
            version="HTTP/1.0",
            add_content_length=False,
            close=True,
            headers=[("Content-Type", "text/plain")],
        )

    async def _redirect(self, request: Request) -> Response:
        code = _int_arg(request, "code", 302, low=300, high=399)
        to = request.args.get("to", "/hello")
        return _text(f"redirect to {to}\n", code, headers=[("Location", to)])

    async def _headers(self, request: Request) -> Response:
        return _text("headers\n", headers=request.args_list)

    async def _wait(self, request: Request) -> Response:
        key = request.args.get("key", "")
        event = self._events.setdefault(key, asyncio.Event())
        with self._arrived_cond:
            self._arrived[key] = self._arrived.get(key, 0) + 1
            self._arrived_cond.notify_all()
        timeout = _float_arg(request, "max", MAX_WAIT)
        try:
            await asyncio.wait_for(event.wait(), timeout)
        except asyncio.TimeoutError:
            return _text(f"not released: {key}\n", 504)
        return _text(f"released {key}\n")

    async def _cache(self, request: Request) -> Response:
        """Cache validators from the query: etag, last-modified, cache-control, expires,
        vary, body. 304 when If-None-Match (else If-Modified-Since) matches. Header
        x-serve-count counts every /cache request this server answered."""
        self._cache_serves += 1
        args = request.args
        headers = [("x-serve-count", str(self._cache_serves))]
        for name in ("Cache-Control", "ETag", "Last-Modified", "Expires", "Vary", "Content-Location"):
            value = args.get(name.lower())
            if value is not None:
                headers.append((name, value))
        etag = args.get("etag")
        last_modified = args.get("last-modified")
        inm = request.header("if-none-match")
        ims = request.header("if-modified-since")
        not_modified = False
        if inm is not None and etag is not None:

            def strip_weak(tag: str) -> str:
                return tag[2:] if tag.startswith("W/") else tag

            tags = [t.strip() for t in inm.split(",")]
            not_modified = "*" in tags or strip_weak(etag) in {strip_weak(t) for t in tags}
        elif inm is None and ims is not None and last_modified is not None:
            try:
                since = email.utils.parsedate_to_datetime(ims)
                modified = email.utils.parsedate_to_datetime(last_modified)
                not_modified = modified <= since
            except (TypeError, ValueError):
                not_modified = False
        if not_modified and request.method in ("GET", "HEAD"):
            return Response(status=304, headers=headers)
        body = args.get("body", "cached body").encode("utf-8")
        ctype = args.get("content-type", "text/plain; charset=utf-8")
        return Response(body=body, headers=[("Content-Type", ctype)] + headers)

    async def _auth_basic(self, request: Request) -> Response:
        user = request.args.get("user", "user")
        password = request.args.get("pass", "pass")
        realm = request.args.get("realm", "test")
        expected = "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()
        if request.header("authorization") == expected:
            return _text(f"authenticated as {user}\n")
        return _text("authentication required\n", 401, headers=[("WWW-Authenticate", f'Basic realm="{realm}"')])

    async def _head_len(self, request: Request) -> Response:
        n = _int_arg(request, "n", 1234, high=MAX_BODY)
        if request.method == "HEAD":
            return Response(
                body=None, headers=[("Content-Length", str(n)), ("Content-Type", "application/octet-stream")]
            )
        return Response(body=pattern(n), headers=[("Content-Type", "application/octet-stream")])

    async def _discard(self, request: Request) -> Response:
        """Reads any request body in constant memory; answers its length and a CRC32."""
        crc = 0
        async for piece in request.iter_body():
            crc = zlib.crc32(piece, crc)
        return _text(json.dumps({"length": request.body_length, "crc32": crc}), ctype="application/json")
