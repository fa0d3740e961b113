"""A small local HTTP/1.1 server for ``asynchttp demo`` and the examples.

It ships inside the package so that ``asynchttp demo`` works from an installed wheel
on a machine without internet: stdlib only, asyncio in a daemon thread, listening on
127.0.0.1 (port chosen by the kernel). Endpoints cover what a real client meets:
fast and slow answers, JSON, gzip, redirects, error statuses, dropped connections,
large bodies, uploads, a cacheable resource and a tiny in-memory REST API.

It is a demo server, not a production one: it trusts its client, keeps no more
than it must in memory, and stops by itself after ``lifetime`` seconds or
``max_requests`` requests, so no demo or example can leave it running.
"""

from __future__ import annotations

import asyncio
import gzip
import hashlib
import json
import random
import threading
from dataclasses import dataclass, field
from typing import Any, AsyncIterator, Awaitable, Callable, Optional
from urllib.parse import parse_qsl

from . import _loop

__all__ = ["DemoServer", "DemoRequest", "DEMO_TEXT", "demo_urls", "expected_outcome", "pattern"]

MAX_HEAD = 64 * 1024  # request line + headers
MAX_BUFFERED_BODY = 16 << 20  # request body read whole for ordinary routes
MAX_LARGE = 1 << 32  # /large?size= ceiling
MAX_DELAY = 5.0  # /slow?delay= ceiling
PIECE = 64 * 1024

# The text behind /gzip (sent compressed when the client accepts gzip).
DEMO_TEXT = ("asynchttp demo: the same text, compressed on the wire. " * 64).encode("ascii")

_REASONS = {
    200: "OK",
    201: "Created",
    204: "No Content",
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
    413: "Content Too Large",
    418: "I'm a teapot",
    429: "Too Many Requests",
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Unavailable",
    504: "Gateway Timeout",
}

# 251 is prime: a dropped or repeated piece anywhere in a long body changes its bytes.
_CYCLE = bytes(range(251))
_BLOCK = _CYCLE * 261  # ~64 KiB, whole cycles


def pattern(size: int, start: int = 0) -> bytes:
    """The deterministic bytes ``start .. start+size`` of every /large body."""
    out = bytearray()
    offset = start % len(_CYCLE)
    while len(out) < size:
        out += _BLOCK[offset : offset + size - len(out)]
        offset = 0
    return bytes(out)


class _Drop(Exception):
    """A handler asks for the connection to be closed without an answer."""


@dataclass
class DemoRequest:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]  # lower-cased names; the last value wins
    version: str
    body_stream: AsyncIterator[bytes]
    body: bytes = b""

    def header(self, name: str, default: str = "") -> str:
        return self.headers.get(name.lower(), default)


@dataclass
class DemoResponse:
    status: int = 200
    body: bytes = b""
    headers: list[tuple[str, str]] = field(default_factory=list)
    stream: Optional[AsyncIterator[bytes]] = None  # sent with Content-Length = length
    length: int = 0


Handler = Callable[[DemoRequest], Awaitable[DemoResponse]]


def _json(data: Any, status: int = 200, headers: Optional[list[tuple[str, str]]] = None) -> DemoResponse:
    body = json.dumps(data, sort_keys=True).encode("utf-8")
    return DemoResponse(status, body, [("Content-Type", "application/json")] + list(headers or []))


def _text(text: str, status: int = 200, headers: Optional[list[tuple[str, str]]] = None) -> DemoResponse:
    return DemoResponse(
        status, text.encode("utf-8"), [("Content-Type", "text/plain; charset=utf-8")] + list(headers or [])
    )


def _int(query: dict[str, str], name: str, default: int, low: int, high: int) -> int:
    try:
        value = int(query.get(name, default))
    except ValueError:
        value = default
    return max(low, min(high, value))


class DemoServer:
    """The demo server in its own thread: ``with DemoServer() as server: server.url("/fast")``."""

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        lifetime: float = 600.0,
        max_requests: int = 10_000_000,
        idle_timeout: float = 15.0,
    ) -> None:
        self.host = host
        self.port = port
        self.lifetime = lifetime
        self.max_requests = max_requests
        self.idle_timeout = idle_timeout
        self.requests_served = 0
        self.connections = 0
        self._loop: Optional[asyncio.AbstractEventLoop] = None
        self._thread: Optional[threading.Thread] = None
        self._server: Optional[asyncio.AbstractServer] = None
        self._conn_tasks: set[asyncio.Task[None]] = set()
        self._stopped: Optional[asyncio.Event] = None
        self._users = {
            i: {"id": i, "name": name} for i, name in enumerate(["ada", "grace", "linus", "guido", "barbara"], 1)
        }
        self._posts: dict[int, dict[str, Any]] = {}
        for user_id in self._users:
            for n in range(1, 3):
                self._add_post(user_id, "post %d of %s" % (n, self._users[user_id]["name"]))
        self._cache_serves = 0
        self._routes: dict[str, Handler] = {
            "/": self._index,
            "/fast": self._fast,
            "/slow": self._slow,
            "/json": self._json,
            "/gzip": self._gzip,
            "/redirect": self._redirect,
            "/large": self._large,
            "/drop": self._drop,
            "/echo": self._echo,
            "/upload": self._upload,
            "/cache": self._cache,
        }

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> "DemoServer":
        if self._thread is not None:
            return self
        ready = threading.Event()
        failure: list[BaseException] = []
        self._loop = asyncio.new_event_loop()
        self._thread = _loop.start_thread(self._run, ready, failure, name="asynchttp-demo-server")
        if not ready.wait(10):
            raise RuntimeError("demo server did not start")
        if failure:
            self._thread.join(5)
            self._thread = None
            raise failure[0]
        return self

    def stop(self, timeout: float = 5.0) -> None:
        thread, loop = self._thread, self._loop
        if thread is None or loop is None:
            return
        if thread.is_alive():
            try:
                loop.call_soon_threadsafe(self._begin_stop)
            except RuntimeError:
                pass  # the loop closed by itself (lifetime over)
            thread.join(timeout)
        self._thread = None

    def __enter__(self) -> "DemoServer":
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    def url(self, path: str = "/") -> str:
        host = "[%s]" % self.host if ":" in self.host else self.host
        return "http://%s:%d%s" % (host, self.port, path if path.startswith("/") else "/" + path)

    # ---------------------------------------------------------------- loop thread

    def _run(self, ready: threading.Event, failure: list[BaseException]) -> None:
        loop = self._loop
        assert loop is not None
        asyncio.set_event_loop(loop)
        # Clients reset connections on purpose (cancel, Ctrl-C); not the server's error.
        loop.set_exception_handler(lambda _loop, _context: None)
        try:
            loop.run_until_complete(self._listen())
        except BaseException as exc:  # noqa: BLE001 - handed to start()
            failure.append(exc)
            ready.set()
            loop.close()
            return
        ready.set()
        stop_later = loop.call_later(self.lifetime, self._begin_stop)
        try:
            loop.run_forever()
        finally:
            stop_later.cancel()
            _loop._cancel_leftover_tasks(loop)  # the same bounded wind-down as the client's loop
            loop.close()

    async def _listen(self) -> None:
        self._stopped = asyncio.Event()
        self._server = await asyncio.start_server(self._serve, self.host, self.port, limit=MAX_HEAD, backlog=1024)
        self.port = self._server.sockets[0].getsockname()[1]

    def _begin_stop(self) -> None:
        assert self._loop is not None
        if self._stopped is not None:
            self._stopped.set()
        if self._server is not None:
            self._server.close()
        for task in list(self._conn_tasks):
            task.cancel()
        self._loop.call_soon(self._loop.stop)

    # --------------------------------------------------------------- connections

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._conn_tasks.add(task)
        self.connections += 1
        try:
            # Bounded: a connection serves at most max_requests requests in all.
            while self.requests_served < self.max_requests:
                try:
                    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), self.idle_timeout)
                except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, asyncio.TimeoutError, ConnectionError):
                    return
                self.requests_served += 1
                if self.requests_served >= self.max_requests and self._loop is not None:
                    self._loop.call_soon(self._begin_stop)
                request = self._parse(head, reader)
                if request is None:
                    writer.write(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
                    return
                try:
                    response = await self._dispatch(request)
                except _Drop:
                    return
                # Whatever the handler left unread is read now, to keep the framing.
                async for _ in request.body_stream:
                    pass
                keep_alive = self._keep_alive(request)
                await self._write(writer, request, response, keep_alive)
                if not keep_alive:
                    return
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.TimeoutError, ValueError):
            return  # a broken or slow client: drop the connection
        finally:
            self._conn_tasks.discard(task)
            writer.transport.abort()

    @staticmethod
    def _keep_alive(request: DemoRequest) -> bool:
        connection = request.header("connection").lower()
        if request.version == "HTTP/1.0":
            return "keep-alive" in connection
        return "close" not in connection

    def _parse(self, head: bytes, reader: asyncio.StreamReader) -> Optional[DemoRequest]:
        try:
            lines = head.decode("latin-1").split("\r\n")
            method, target, version = lines[0].split(" ")
            headers: dict[str, str] = {}
            for line in lines[1:]:
                if not line:
                    continue
                name, sep, value = line.partition(":")
                if not sep or not name or name != name.strip():
                    return None
                headers[name.lower()] = value.strip()
            path, _, query = target.partition("?")
            body_stream = self._body(reader, headers)
        except ValueError:
            return None
        return DemoRequest(method, path, dict(parse_qsl(query, keep_blank_values=True)), headers, version, body_stream)

    def _body(self, reader: asyncio.StreamReader, headers: dict[str, str]) -> AsyncIterator[bytes]:
        if "chunked" in headers.get("transfer-encoding", "").lower():
            return self._chunked_body(reader)
        length = int(headers.get("content-length", "0") or "0")
        if length < 0:
            raise ValueError("negative content-length")
        return self._sized_body(reader, length)

    async def _sized_body(self, reader: asyncio.StreamReader, length: int) -> AsyncIterator[bytes]:
        left = length
        while left:
            piece = await asyncio.wait_for(reader.read(min(left, PIECE)), self.idle_timeout)
            if not piece:
                raise ConnectionResetError("body cut short")
            left -= len(piece)
            yield piece

    async def _chunked_body(self, reader: asyncio.StreamReader) -> AsyncIterator[bytes]:
        while True:
            line = await asyncio.wait_for(reader.readuntil(b"\r\n"), self.idle_timeout)
            size = int(line.split(b";")[0].strip(), 16)
            if size == 0:
                # trailers, up to the empty line
                while (await asyncio.wait_for(reader.readuntil(b"\r\n"), self.idle_timeout)) != b"\r\n":
                    pass
                return
            left = size
            while left:
                piece = await asyncio.wait_for(reader.read(min(left, PIECE)), self.idle_timeout)
                if not piece:
                    raise ConnectionResetError("chunk cut short")
                left -= len(piece)
                yield piece
            await asyncio.wait_for(reader.readexactly(2), self.idle_timeout)

    async def _read_body(self, request: DemoRequest) -> bytes:
        data = bytearray()
        async for piece in request.body_stream:
            if len(data) + len(piece) > MAX_BUFFERED_BODY:
                raise _Drop()
            data += piece
        return bytes(data)

    async def _dispatch(self, request: DemoRequest) -> DemoResponse:
        handler = self._routes.get(request.path)
        if handler is None:
            if request.path.startswith("/status/"):
                handler = self._status
            elif request.path.startswith("/api/"):
                handler = self._api
            else:
                return _text("not found: %s\n" % request.path, 404)
        if request.path != "/upload":  # the one route that reads its body as it comes
            request.body = await self._read_body(request)
        return await handler(request)

    async def _write(
        self, writer: asyncio.StreamWriter, request: DemoRequest, response: DemoResponse, keep_alive: bool
    ) -> None:
        status = response.status
        no_body = request.method == "HEAD" or status in (204, 304) or status < 200
        length = response.length if response.stream is not None else len(response.body)
        lines = ["HTTP/1.1 %d %s" % (status, _REASONS.get(status, "Unknown")), "Server: asynchttp-demo"]
        lines += ["%s: %s" % pair for pair in response.headers]
        if status not in (204, 304) and status >= 200:
            lines.append("Content-Length: %d" % length)
        if not keep_alive:
            lines.append("Connection: close")
        head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
        if no_body:
            writer.write(head)
        elif response.stream is None:
            writer.write(head + response.body)
        else:
            writer.write(head)
            async for piece in response.stream:
                writer.write(piece)
                # flow control: never hold more than a few pieces for a slow reader
                await asyncio.wait_for(writer.drain(), self.idle_timeout)
        if writer.transport.get_write_buffer_size():
            await asyncio.wait_for(writer.drain(), self.idle_timeout)

    # -------------------------------------------------------------------- routes

    async def _index(self, request: DemoRequest) -> DemoResponse:
        return _text(
            "asynchttp demo server\n"
            "/fast /slow?delay=S /json?id=N /gzip /redirect?to=PATH&code=302\n"
            "/status/CODE /large?size=BYTES /drop /echo /upload /cache\n"
            "/api/users /api/users/ID /api/users/ID/posts /api/posts (POST)\n"
        )

    async def _fast(self, request: DemoRequest) -> DemoResponse:
        return _text("fast\n")

    async def _slow(self, request: DemoRequest) -> DemoResponse:
        try:
            delay = max(0.0, min(MAX_DELAY, float(request.query.get("delay", "0.2"))))
        except ValueError:
            delay = 0.2
        assert self._stopped is not None
        try:
            await asyncio.wait_for(self._stopped.wait(), delay)
        except asyncio.TimeoutError:
            pass
        return _text("slow (%.3f s)\n" % delay)

    async def _json(self, request: DemoRequest) -> DemoResponse:
        item = _int(request.query, "id", 1, 0, 1 << 31)
        rng = random.Random(item)
        return _json(
            {
                "id": item,
                "name": "item-%d" % item,
                "price": round(rng.uniform(1, 100), 2),
                "tags": rng.sample(["red", "green", "blue", "small", "large", "new"], 2),
            }
        )

    async def _gzip(self, request: DemoRequest) -> DemoResponse:
        if "gzip" in request.header("accept-encoding").lower():
            return DemoResponse(
                200,
                gzip.compress(DEMO_TEXT, mtime=0),
                [
                    ("Content-Type", "text/plain; charset=ascii"),
                    ("Content-Encoding", "gzip"),
                    ("Vary", "Accept-Encoding"),
                ],
            )
        return DemoResponse(
            200, DEMO_TEXT, [("Content-Type", "text/plain; charset=ascii"), ("Vary", "Accept-Encoding")]
        )

    async def _redirect(self, request: DemoRequest) -> DemoResponse:
        to = request.query.get("to", "/fast")
        code = _int(request.query, "code", 302, 300, 308)
        return _text("see %s\n" % to, code, [("Location", to)])

    async def _status(self, request: DemoRequest) -> DemoResponse:
        code = _int({"c": request.path[len("/status/") :]}, "c", 400, 200, 599)
        return _text("status %d\n" % code, code)

    async def _large(self, request: DemoRequest) -> DemoResponse:
        size = _int(request.query, "size", 1 << 20, 0, MAX_LARGE)

        async def pieces() -> AsyncIterator[bytes]:
            sent = 0
            while sent < size:
                piece = pattern(min(PIECE, size - sent), sent)
                sent += len(piece)
                yield piece

        return DemoResponse(200, headers=[("Content-Type", "application/octet-stream")], stream=pieces(), length=size)

    async def _drop(self, request: DemoRequest) -> DemoResponse:
        raise _Drop()

    async def _echo(self, request: DemoRequest) -> DemoResponse:
        return _json(
            {
                "method": request.method,
                "path": request.path,
                "query": request.query,
                "headers": request.headers,
                "body": request.body.decode("utf-8", "replace"),
                "bytes": len(request.body),
            }
        )

    async def _upload(self, request: DemoRequest) -> DemoResponse:
        # Read as it arrives: an upload of any size costs the server one piece of memory.
        digest = hashlib.sha256()
        count = 0
        async for piece in request.body_stream:
            digest.update(piece)
            count += len(piece)
        return _json({"bytes": count, "sha256": digest.hexdigest()})

    async def _cache(self, request: DemoRequest) -> DemoResponse:
        self._cache_serves += 1
        etag = '"demo-v1"'
        headers = [("Cache-Control", "max-age=300"), ("ETag", etag), ("X-Serve-Count", str(self._cache_serves))]
        if request.header("if-none-match") == etag:
            return DemoResponse(304, headers=headers)
        return _text("a cacheable answer\n", headers=headers)

    # ------------------------------------------------------------- the REST API

    def _add_post(self, user_id: int, title: str) -> dict[str, Any]:
        post: dict[str, Any] = {"id": len(self._posts) + 1, "user_id": user_id, "title": title}
        self._posts[post["id"]] = post
        return post

    async def _api(self, request: DemoRequest) -> DemoResponse:
        parts = [p for p in request.path.split("/") if p][1:]  # after "api"
        if parts == ["users"] and request.method == "GET":
            return _json(sorted(self._users.values(), key=lambda u: u["id"]))
        if parts == ["posts"] and request.method == "POST":
            try:
                data = json.loads(request.body)
                user_id, title = int(data["user_id"]), str(data["title"])
            except (ValueError, KeyError, TypeError):
                return _json({"error": 'expected {"user_id": int, "title": str}'}, 400)
            if user_id not in self._users:
                return _json({"error": "no such user"}, 404)
            post = self._add_post(user_id, title)
            return _json(post, 201, [("Location", "/api/posts/%d" % post["id"])])
        if (
            request.method in ("GET", "HEAD")
            and len(parts) >= 2
            and parts[0] in ("users", "posts")
            and parts[1].isdigit()
        ):
            ident = int(parts[1])
            if parts[0] == "posts" and len(parts) == 2 and ident in self._posts:
                return _json(self._posts[ident])
            if parts[0] == "users" and ident in self._users:
                if len(parts) == 2:
                    return _json(self._users[ident])
                if parts[2:] == ["posts"]:
                    return _json([p for p in self._posts.values() if p["user_id"] == ident])
        if request.method not in ("GET", "POST"):
            return _json({"error": "method not allowed"}, 405)
        return _json({"error": "not found"}, 404)


# ------------------------------------------------------------- the demo's job

# (path template, share of the URLs, expected status or "error" for a connection the
# server drops on purpose, expected body length once decoded or None).
_MIX: list[tuple[str, int, Any, Optional[int]]] = [
    ("/fast?n={i}", 460, 200, 5),
    ("/json?id={i}", 150, 200, None),
    ("/gzip?n={i}", 100, 200, len(DEMO_TEXT)),
    ("/redirect?to=/fast%3Fn%3D{i}", 80, 200, 5),
    ("/slow?delay=0.2&n={i}", 40, 200, None),
    ("/large?size=262144&n={i}", 40, 200, 262144),
    ("/status/404?n={i}", 40, 404, None),
    ("/status/500?n={i}", 40, 500, None),
    ("/status/503?n={i}", 30, 503, None),
    ("/drop?n={i}", 20, "error", None),
]


def demo_urls(base: str, count: int, seed: int = 2024) -> list[str]:
    """``count`` URLs on ``base`` in the demo's mix, shuffled the same way every run."""
    base = base.rstrip("/")
    total = sum(mix[1] for mix in _MIX)
    urls: list[str] = []
    for template, share, _, _ in _MIX:
        n = max(1, round(count * share / total)) if count >= len(_MIX) else 0
        urls.extend(base + template.format(i=i) for i in range(n))
    fast = _MIX[0][0]
    while len(urls) < count:
        urls.append(base + fast.format(i=len(urls)))
    urls = urls[:count]
    random.Random(seed).shuffle(urls)
    return urls


def expected_outcome(url: str) -> Optional[tuple[Any, Optional[int]]]:
    """What the demo server answers to one of ``demo_urls``: ``(status or "error",
    decoded body length or None)``; None for a URL not of the demo's mix."""
    path = "/" + url.split("://", 1)[-1].partition("/")[2].partition("?")[0]
    for template, _, outcome, length in _MIX:
        if template.partition("?")[0] == path:
            return outcome, length
    return None
