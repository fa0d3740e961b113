"""One HTTP/1.1 connection: an asyncio protocol that drives the parser.

A connection is CONNECTING, then ACTIVE while it carries a request, IDLE in
the pool between requests, and finally CLOSED.  The transport reads into a
buffer the loop's thread shares between its connections (``get_buffer`` and
``buffer_updated``: asyncio's ``BufferedProtocol``); the parser turns those
bytes into a head, body chunks and an end, which wait in a small queue until
the request's caller pulls them.  Reading pauses while more than
``high_water`` body bytes wait unread, so a slow consumer holds a bounded
amount of memory however large the body.

A caller that wants a whole Content-Length body at once (``read_all``) gets
it read straight into one buffer of the body's size, which becomes the
returned ``bytes`` without a copy: no chunk queue, no join.  That buffer
starts at no more than ``BULK_FIRST`` bytes and doubles as bytes arrive, so
a server announcing a huge length and sending little costs little.

The first time a large body is read this way, glibc's allocator thresholds
are set once for the process (``ALLOCATOR_SETTINGS``, below): without them,
glibc hands the memory of freed bodies back to the kernel and faults the next
bodies' pages in afresh, which cost half the CPU of a concurrent bulk download
here.

No task is ever created here: the caller's own task awaits a plain future,
and the timeouts are loop timers (``call_at``) that fail that future, so a
test's fake clock drives them.  One timer per connection is re-armed lazily
instead of one per read.
"""

from __future__ import annotations

import asyncio
import io
import os
import threading
from collections import deque
from typing import Any, AsyncIterator, Callable, Deque, List, Mapping, Optional, Protocol

from ._errors import (
    HttpConnectionClosedError,
    HttpError,
    HttpReadTimeoutError,
    HttpResponseHeadTimeoutError,
    HttpWriteTimeoutError,
)
from ._parser import ResponseEnd, ResponseHead, ResponseParser
from ._transport import Socket, idle_watch
from ._writer import LAST_CHUNK, encode_chunk

__all__ = [
    "Connection",
    "ConnectionOwner",
    "CONNECTING",
    "ACTIVE",
    "IDLE",
    "CLOSED",
    "READ_SIZE",
    "HEAD_READ_SIZE",
    "BULK_FIRST",
    "ALLOCATOR_HINT",
    "ALLOCATOR_SETTINGS",
]

_NEVER = float("inf")

# The most one read takes from the socket: asyncio's own figure for a Protocol.
READ_SIZE = 262144
# Until the head is parsed, reads are small: body bytes read with the head go
# through the chunk queue, and a caller about to take the whole body is
# better served by reading the rest straight into its buffer.
HEAD_READ_SIZE = 16384
# The first allocation for a whole body read at once; it doubles from there.
BULK_FIRST = 1 << 20

# glibc gives freed memory back to the kernel, and the next allocation there has
# every page faulted in again (one fault per 4 KiB page, about 2 us each here).
# Large bodies read a few at a time hit that over and over (measured with 8 bodies
# of 1 MiB at once: about 130 to 220 page faults per MiB, half the CPU per MiB).
# glibc does it three ways: blocks from its mmap threshold on (128 KiB at start)
# get a mapping of their own, unmapped when freed; a heap gives back what lies free
# at its top beyond its trim threshold (128 KiB at start); and a thread's arena
# (every thread but the main one allocates from its own: the loop thread, each
# thread calling BlockingHttp) unmaps a whole heap (64 MiB each) as soon as it
# lies free, however little it keeps. glibc raises the first two itself, up to 32
# and 64 MiB, when it frees a large mapped block (its dynamic thresholds), but
# never keeps a freed heap: a script that held more than 64 MiB of bodies at once
# faulted most of the excess in again at its next job (about 95 faults per MiB
# holding 100 bodies of 1 MiB).
#
# So the first time a large body is read (ALLOCATOR_HINT_FROM bytes or more),
# the core sets glibc's thresholds once for the process through mallopt:
# - M_MMAP_THRESHOLD 32 MiB (the most glibc takes): smaller blocks come from a heap;
# - M_TOP_PAD 64 MiB: every heap grows by this much more than it needs (address
#   space only: a page costs memory once written) and keeps this much free at its
#   top when trimmed; a thread arena's heap is never unmapped while the heap below
#   it has less than this free, which is always (a heap is 64 MiB);
# - M_TRIM_THRESHOLD 256 MiB: the main arena (the main thread's: a script's own
#   asyncio.run, BlockingHttp called from the main thread) gives memory back once
#   more than this lies free at its top (M_TOP_PAD of it never written), down to
#   M_TOP_PAD: more than the bodies it held plus the pad, up to about 190 MiB held.
# The cost: freed memory stays with the process. The main arena keeps up to
# 256 MiB free at its top (at most what it held at once, the pad's unwritten
# pages aside), and a thread's arena keeps what it grew to (its heaps: the most
# that thread held at once), until malloc_trim(0) (glibc's, through ctypes)
# hands the free pages back.
# Setting these switches glibc's dynamic thresholds off, so that they hold
# whatever the script frees later. Nothing is set off glibc, nor when the
# environment already sets one of glibc's thresholds (MALLOC_*_ or their
# GLIBC_TUNABLES forms: the user's choice stands), nor with
# ASYNCHTTP_ALLOCATOR_HINT=0.
ALLOCATOR_HINT = os.environ.get("ASYNCHTTP_ALLOCATOR_HINT", "").strip() != "0"
# mallopt's parameter numbers (glibc's malloc.h) and the values set.
M_TRIM_THRESHOLD = -1
M_TOP_PAD = -2
M_MMAP_THRESHOLD = -3
ALLOCATOR_SETTINGS = (
    (M_MMAP_THRESHOLD, 32 << 20),
    (M_TOP_PAD, 64 << 20),
    (M_TRIM_THRESHOLD, 256 << 20),
)
# The environment settings with which glibc's own thresholds are the user's.
_MALLOC_ENVIRONMENT = ("MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_", "MALLOC_TOP_PAD_", "MALLOC_MMAP_MAX_")
_MALLOC_TUNABLES = (
    "glibc.malloc.mmap_threshold",
    "glibc.malloc.trim_threshold",
    "glibc.malloc.top_pad",
    "glibc.malloc.mmap_max",
)
# Bodies from this size on are large: glibc's own mmap threshold at start.
ALLOCATOR_HINT_FROM = 128 * 1024
allocator_hints = 0  # hints given in this process: normally one (two loop threads may race)
allocator_settings_made = 0  # mallopt settings glibc took (len(ALLOCATOR_SETTINGS) once hinted)


def _on_glibc() -> bool:
    try:
        return (os.confstr("CS_GNU_LIBC_VERSION") or "").startswith("glibc")
    except (AttributeError, ValueError, OSError):  # pragma: no cover - not Linux
        return False


def _thresholds_set_by_user(environ: Mapping[str, str]) -> bool:
    """Whether the environment sets one of glibc's malloc thresholds (glibc read it at start)."""
    if any(name in environ for name in _MALLOC_ENVIRONMENT):
        return True
    tunables = environ.get("GLIBC_TUNABLES", "")
    return any(item.split("=", 1)[0].strip() in _MALLOC_TUNABLES for item in tunables.split(":"))


def _mallopt() -> Optional[Callable[[int, int], int]]:
    """glibc's mallopt, or None where it cannot be had."""
    try:
        import ctypes

        function = ctypes.CDLL(None).mallopt
    except (ImportError, OSError, AttributeError):  # pragma: no cover - a Python without ctypes or dlopen
        return None
    function.argtypes = (ctypes.c_int, ctypes.c_int)
    function.restype = ctypes.c_int
    return function


def _hint_allocator() -> None:
    global allocator_hints, allocator_settings_made
    allocator_hints += 1
    if not (ALLOCATOR_HINT and _on_glibc()) or _thresholds_set_by_user(os.environ):
        return
    mallopt = _mallopt()
    if mallopt is None:  # pragma: no cover - glibc without dlopen
        return
    for parameter, value in ALLOCATOR_SETTINGS:
        if mallopt(parameter, value) != 1:  # pragma: no cover - glibc 2.36 takes any value
            # refused (an older glibc capped the mmap threshold, set first): stop there,
            # leaving glibc's dynamic thresholds on rather than half of these settings
            return
        allocator_settings_made += 1


_per_thread = threading.local()


def _read_buffer() -> memoryview:
    """This thread's read buffer, shared by every connection its loop serves: each
    read is copied out in the callback that filled it, and a loop runs one callback
    at a time, so one buffer per thread is enough however many pools there are."""
    buffer = getattr(_per_thread, "read_buffer", None)
    if buffer is None:
        buffer = _per_thread.read_buffer = memoryview(bytearray(READ_SIZE))
    return buffer


def _sized_buffer(size: int) -> io.BytesIO:
    """A BytesIO holding ``size`` bytes: written in place through ``getbuffer()``,
    its ``getvalue()`` is then that same memory as ``bytes`` (CPython shares it)."""
    buffer = io.BytesIO()
    buffer.seek(size - 1)
    buffer.write(b"\0")
    buffer.seek(0)
    return buffer


def _write(transport: Optional[asyncio.Transport], data: bytes) -> None:
    """``transport.write``, whose refusal is a closed connection. asyncio's transports
    drop a write on a transport closed under it (connection_lost reports the close);
    uvloop's raise RuntimeError ("the handler is closed") once the peer's reset has
    closed the handle, and a RuntimeError is what any transport raises when it cannot
    take bytes (after write_eof, say): it must not escape the HttpError tree."""
    try:
        transport.write(data)  # type: ignore[union-attr]
    except RuntimeError as exc:
        raise HttpConnectionClosedError(f"connection closed while sending the request: {exc}") from exc


CONNECTING = "connecting"
ACTIVE = "active"
IDLE = "idle"
CLOSED = "closed"


class ConnectionOwner(Protocol):
    """All a connection knows of whoever holds it (the pool): its loop, and two reports."""

    loop: asyncio.AbstractEventLoop

    def discard(self, conn: "Connection", reason: str) -> None:
        """``conn`` must not be reused (it received bytes nobody asked for)."""

    def on_connection_lost(self, conn: "Connection", previous_state: str) -> None:
        """``conn`` is closed, whoever closed it; ``previous_state`` is what it was until then."""


class Connection(asyncio.BufferedProtocol):
    """A pooled HTTP/1.1 connection to one origin."""

    def __init__(
        self,
        pool: ConnectionOwner,
        key: tuple[str, str, int],
        *,
        socket_timeout: float,
        response_head_timeout: float,
        high_water: int,
        max_header_length: int,
        max_header_count: int,
    ) -> None:
        self._pool = pool
        self._loop = pool.loop
        self.key = key
        self.state = CONNECTING
        self.transport: Optional[asyncio.Transport] = None
        self.peer: Optional[str] = None
        self.requests = 0
        # (connected, tls_done) as time.monotonic() times, set by the pool once the
        # connection is made (tls_done None without TLS): reported with its first answer.
        self.opened: Optional[tuple[float, Optional[float]]] = None
        self.idle_since = 0.0
        self.counted = True  # holds one of the pool's connection slots
        self.sock: Optional[Socket] = None  # the raw socket, to look at before reuse
        self._nothing_waiting: Optional[Callable[[], bool]] = None  # idle_watch(sock), made at the first look
        self._socket_timeout = socket_timeout
        self._response_head_timeout = response_head_timeout
        self._high_water = high_water
        self._max_header_length = max_header_length
        self._max_header_count = max_header_count
        self.parser: Optional[ResponseParser] = None
        self._chunks: Deque[bytes] = deque()
        self._buffered = 0
        self._head: Optional[ResponseHead] = None
        self._end: Optional[ResponseEnd] = None
        self._exc: Optional[BaseException] = None
        self._waiter: Optional[asyncio.Future[None]] = None
        self._waiting_to_write = False
        self._reading_paused = False
        self._writing_paused = False
        self._timer: Optional[asyncio.TimerHandle] = None
        self._last_activity = 0.0
        self._head_deadline = 0.0
        self._read_buffer = _read_buffer()
        self._head_buffer = self._read_buffer[:HEAD_READ_SIZE]
        # read_all()'s destination while a whole body is read into it.
        self._bulk: Optional[io.BytesIO] = None
        self._bulk_view: Optional[memoryview] = None
        self._bulk_filled = 0
        self._bulk_total = 0

    def __repr__(self) -> str:
        return (
            f"<Connection {self.key[0]}://{self.key[1]}:{self.key[2]} peer={self.peer} "
            f"state={self.state} requests={self.requests}>"
        )

    # ------------------------------------------------------- protocol events
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        peername = transport.get_extra_info("peername")
        self.peer = peername[0] if peername else None

    def get_buffer(self, sizehint: int) -> memoryview:
        view = self._bulk_view
        if view is None:
            return self._head_buffer if self._head is None else self._read_buffer
        filled = self._bulk_filled
        if filled == len(view):
            view = self._grow_bulk()
        return view[filled:]

    def buffer_updated(self, nbytes: int) -> None:
        if self._bulk_view is not None:
            self._bulk_updated(nbytes)
            return
        parser = self.parser
        if self.state is not ACTIVE or parser is None:
            # Bytes nobody asked for (an unsolicited response pushed onto an
            # idle connection): whatever they are, the connection is poisoned.
            self._pool.discard(self, "unsolicited data while idle")
            return
        if self._end is not None:
            # More bytes after a complete response: never reuse.
            self._end.keep_alive = False
            return
        self._last_activity = self._loop.time()
        try:
            events = parser.feed(self._read_buffer[:nbytes].tobytes())
        except HttpError as exc:
            self._fail(exc)
            return
        for event in events:
            kind = type(event)
            if kind is bytes:
                self._chunks.append(event)  # type: ignore[arg-type]
                self._buffered += len(event)  # type: ignore[arg-type]
            elif kind is ResponseHead:
                self._head = event  # type: ignore[assignment]
            else:
                self._end = event  # type: ignore[assignment]
        if self._buffered > self._high_water and not self._reading_paused:
            self._reading_paused = True
            self.transport.pause_reading()  # type: ignore[union-attr]
        self._wake()

    def _bulk_updated(self, nbytes: int) -> None:
        """Bytes read straight into read_all()'s buffer: the parser only counts them."""
        self._bulk_filled += nbytes
        self._last_activity = self._loop.time()
        for event in self.parser.body_received(nbytes):  # type: ignore[union-attr]
            self._end = event  # type: ignore[assignment]
            # Bytes past the body's end go through the read buffer again,
            # where they mark the connection as not reusable.
            self._bulk_view.release()  # type: ignore[union-attr]
            self._bulk_view = None
            self._wake()

    def eof_received(self) -> bool:
        return False  # let the transport close; connection_lost does the rest

    def connection_lost(self, exc: Optional[BaseException]) -> None:
        if exc is not None:
            # The transport's frame in this traceback holds the slice of the body buffer
            # that its recv_into was filling: kept alive through our error's cause, it
            # would keep that BytesIO exported past _drop_bulk, and freeing the two in
            # one garbage cycle crashes CPython 3.12.1 (3.13 reports a BufferError).
            exc.__traceback__ = None
        state = self.state
        self.state = CLOSED
        self._cancel_timer()
        if state is ACTIVE and self._exc is None and self._end is None:
            parser = self.parser
            try:
                if exc is not None:
                    lost = HttpConnectionClosedError(f"connection lost: {exc!r}")
                    lost.phase = "head" if self._head is None else "body"
                    raise lost from exc
                if parser is not None:
                    for event in parser.feed_eof():
                        self._end = event  # type: ignore[assignment]
                else:
                    raise HttpConnectionClosedError("connection closed")
            except HttpError as error:
                self._exc = error
        # Always: a writer waiting in _drain() must see the close even when the
        # response was already complete (an early answer, say a 413, then close).
        self._wake()
        self._pool.on_connection_lost(self, state)

    def pause_writing(self) -> None:
        self._writing_paused = True

    def resume_writing(self) -> None:
        self._writing_paused = False
        self._last_activity = self._loop.time()
        self._wake()

    # ----------------------------------------------------------- the request
    def start(self, method: bytes) -> None:
        """Make the connection ACTIVE for a new request."""
        transport = self.transport
        if self.state is CLOSED or transport is None or transport.is_closing():
            self.parser = None
            closed = HttpConnectionClosedError("connection closed before the request was sent")
            closed.phase = "send"
            raise closed
        self.state = ACTIVE
        self.requests += 1
        self.parser = ResponseParser(
            method, max_header_length=self._max_header_length, max_header_count=self._max_header_count
        )
        self._head = None
        self._end = None
        self._chunks.clear()
        self._buffered = 0
        self._drop_bulk()
        now = self._loop.time()
        self._last_activity = now
        self._head_deadline = now + self._response_head_timeout

    async def send(self, head: bytes, body: Optional[AsyncIterator[bytes]], chunked: bool) -> None:
        """Write the request: the head, then the body, honouring write flow control."""
        transport = self.transport
        if self._exc is not None:
            raise self._exc
        if body is None:
            _write(transport, head)
        else:
            # The head timeout runs from the end of the request: an upload may
            # take longer than it (the socket timeout still guards progress).
            self._head_deadline = _NEVER
            pending: Optional[bytes] = head
            async for chunk in body:
                if not chunk:
                    continue
                data = encode_chunk(chunk) if chunked else bytes(chunk)
                if pending is not None:
                    # Head and first chunk in one write: one segment, like TCP_CORK.
                    data = pending + data
                    pending = None
                _write(transport, data)
                # A write is activity: a body produced slowly must not count as silence.
                self._last_activity = self._loop.time()
                if self._writing_paused:
                    await self._drain()
                elif self._exc is not None:
                    raise self._exc
                if self.state is not ACTIVE:
                    # The server closed: stop sending (RFC 9112 9.5), and finish the
                    # caller's generator now rather than through the loop's GC hook.
                    aclose = getattr(body, "aclose", None)
                    if aclose is not None:
                        await aclose()
                    break
            else:
                tail = (pending or b"") + (LAST_CHUNK if chunked else b"")
                if tail:
                    _write(transport, tail)
            now = self._loop.time()
            self._last_activity = now
            self._head_deadline = now + self._response_head_timeout
        if self._writing_paused:
            await self._drain()
        if self._exc is not None:
            raise self._exc
        if self.state is not ACTIVE and self._end is None:
            # (with a complete early response, read_head() hands it over)
            closed = HttpConnectionClosedError("connection closed while sending the request")
            closed.phase = "send"
            raise closed

    async def _drain(self) -> None:
        self._waiting_to_write = True
        try:
            while self._writing_paused and self.state is ACTIVE:
                if self._exc is not None:
                    raise self._exc
                await self._wait()
        finally:
            self._waiting_to_write = False
        if self._exc is not None:
            raise self._exc

    async def read_head(self) -> ResponseHead:
        while self._head is None:
            if self._exc is not None:
                raise self._exc
            await self._wait()
        return self._head

    def read_nowait(self) -> Optional[bytes]:
        """The next body chunk if one is buffered, else None."""
        if self._chunks:
            data = self._chunks.popleft()
            self._buffered -= len(data)
            if self._reading_paused and self._buffered <= self._high_water:
                self._resume_reading()
            return data
        return None

    def _resume_reading(self) -> None:
        if self._reading_paused:
            self._reading_paused = False
            if self.state is ACTIVE:
                try:
                    self.transport.resume_reading()  # type: ignore[union-attr]
                except AttributeError:
                    # Python 3.10's TLS transport after the peer closed, before
                    # connection_lost reaches us: its socket transport is None.
                    pass

    async def read_all(self) -> bytes:
        """The rest of the body as one bytes object.

        A Content-Length body is read straight into a buffer of its size;
        any other body is read chunk by chunk and joined.
        """
        parser = self.parser
        remaining = parser.length_remaining if parser is not None and self._exc is None else 0
        if not remaining:
            chunks: List[bytes] = []
            while True:
                data = await self.read()
                if data is None:
                    return b"".join(chunks)
                chunks.append(data)
        self._start_bulk(remaining)
        try:
            while self._end is None:
                if self._exc is not None:
                    raise self._exc
                await self._wait()
            bulk = self._bulk
        finally:
            self._drop_bulk()
        # The transport's views of the buffer are gone by now, so this is the
        # buffer itself, not a copy.
        return bulk.getvalue()  # type: ignore[union-attr]

    def _start_bulk(self, remaining: int) -> None:
        """Read the rest of a Content-Length body into one buffer, starting with what is queued."""
        queued = self._buffered
        total = queued + remaining
        if total >= ALLOCATOR_HINT_FROM and not allocator_hints:
            _hint_allocator()
        bulk = _sized_buffer(min(total, max(BULK_FIRST, 2 * queued)))
        for chunk in self._chunks:
            bulk.write(chunk)
        self._chunks.clear()
        self._buffered = 0
        self._bulk = bulk
        self._bulk_view = bulk.getbuffer()
        self._bulk_filled = queued
        self._bulk_total = total
        self._resume_reading()

    def _grow_bulk(self) -> memoryview:
        """The body buffer is full and more is due: move to one twice its size."""
        old = self._bulk_view
        filled = self._bulk_filled
        bulk = _sized_buffer(min(self._bulk_total, 2 * filled))
        bulk.write(old[:filled])  # type: ignore[index]
        old.release()  # type: ignore[union-attr]
        self._bulk = bulk
        view = self._bulk_view = bulk.getbuffer()
        return view

    def _drop_bulk(self) -> None:
        if self._bulk_view is not None:
            self._bulk_view.release()
            self._bulk_view = None
        self._bulk = None

    async def read(self) -> Optional[bytes]:
        """The next body chunk, or None at the end of the body."""
        while True:
            data = self.read_nowait()
            if data is not None:
                return data
            if self._end is not None:
                return None
            if self._exc is not None:
                raise self._exc
            await self._wait()

    @property
    def end(self) -> Optional[ResponseEnd]:
        return self._end

    @property
    def body_complete(self) -> bool:
        return self._end is not None and not self._chunks

    # ------------------------------------------------------------ internals
    async def _wait(self) -> None:
        waiter = self._waiter = self._loop.create_future()
        # The timer outlives requests on a kept-alive connection: it is only
        # replaced when this wait's deadline comes before the armed one, and a
        # timer that fires early re-arms itself.  That saves creating and
        # cancelling a timer per request.
        deadline = self._next_deadline()
        timer = self._timer
        if timer is None or timer.when() > deadline:
            if timer is not None:
                timer.cancel()
            self._timer = self._loop.call_at(deadline, self._on_timer)
        try:
            await waiter
        finally:
            self._waiter = None

    def _next_deadline(self) -> float:
        deadline = self._last_activity + self._socket_timeout
        if self._head is None and self._head_deadline < deadline:
            return self._head_deadline
        return deadline

    def _on_timer(self) -> None:
        self._timer = None
        if self._waiter is None or self.state is not ACTIVE:
            return  # nobody is waiting: the next wait arms a timer again
        now = self._loop.time()
        if self._head is None and now >= self._head_deadline:
            self._fail(
                HttpResponseHeadTimeoutError(f"response head not complete after {self._response_head_timeout} seconds")
            )
        elif now >= self._last_activity + self._socket_timeout:
            if self._waiting_to_write:
                error: HttpError = HttpWriteTimeoutError(f"could not write for {self._socket_timeout} seconds")
            else:
                error = HttpReadTimeoutError(f"nothing received for {self._socket_timeout} seconds")
                error.phase = "head" if self._head is None else "body"
            self._fail(error)
        else:
            self._timer = self._loop.call_at(self._next_deadline(), self._on_timer)

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def _fail(self, exc: BaseException) -> None:
        """Record a terminal error, wake the reader, and drop the connection."""
        if self._exc is None:
            self._exc = exc
        self._wake()
        self.close()

    def fail(self, exc: BaseException) -> None:
        self._fail(exc)

    def idle(self, now: float) -> None:
        self.state = IDLE
        self.idle_since = now
        self.parser = None
        self._drop_bulk()
        if self._reading_paused:
            # An idle connection must keep reading, or a close by the server goes unseen.
            self._reading_paused = False
            self.transport.resume_reading()  # type: ignore[union-attr]

    def _cancel_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def close(self) -> None:
        """Drop the connection at once (no lingering TLS shutdown keeps the socket open)."""
        self._cancel_timer()
        transport = self.transport
        if transport is not None and not transport.is_closing():
            transport.abort()
        elif transport is None and self.state is not CLOSED:
            self.state = CLOSED
            self._pool.on_connection_lost(self, CONNECTING)

    @property
    def usable(self) -> bool:
        """Idle, open and with nothing unread: safe to hand to a new request."""
        transport = self.transport
        if self.state is not IDLE or transport is None or transport.is_closing():
            return False
        # What the server sent (an unsolicited response, a FIN, a reset) may still
        # sit in the kernel, unseen by the loop: look, so it is never handed out.
        nothing_waiting = self._nothing_waiting
        if nothing_waiting is None:
            sock = self.sock
            if sock is None:
                return True
            nothing_waiting = self._nothing_waiting = idle_watch(sock)
        return nothing_waiting()

    def info(self) -> Any:
        return {"peer": self.peer, "state": self.state, "requests": self.requests}
