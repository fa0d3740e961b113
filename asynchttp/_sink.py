"""Bodies to disk: ``request(..., sink=path_or_writable, resume=False)``.

A sink request's final 2xx answer is not read into memory: its body goes, chunk by
chunk as the core hands it over, to a file (``<path>.part``, renamed to ``<path>``
once complete and its length verified) or to an object with ``.write(bytes)``. The
content promise then resolves to ``b""`` and ``future.body_bytes`` says how many body
bytes were written.

Where it hooks in: ``Http._submit`` calls :func:`prepare` at the call (argument
checks, the ``Range`` of a resume, ``Accept-Encoding: identity``); the runner runs
the request through :func:`run` (the sink in a context variable, the Http's cache
out of the way); ``send_once`` asks :func:`current` once the head of an answer has
come and, for a 2xx, lets :meth:`Sink.receive` read the body. Other answers
(redirects, 401s, errors) are read into memory as usual, so only the final 2xx
answer reaches the sink.

Disk writes run in the loop's I/O executor, in batches of up to ``BATCH_BYTES``,
one batch written while the next is read: a slow disk (or the kernel throttling
writeback) never stalls the loop, and memory stays bounded (two batches plus the
connection's read buffer) because reading stops while a batch waits for the disk.
"""

from __future__ import annotations

import asyncio
import contextvars
import http.client
import os
import re
import threading
from typing import TYPE_CHECKING, Any, Awaitable, Callable, Optional

import httplib2

if TYPE_CHECKING:  # pragma: no cover
    from ._promise import RequestFuture

__all__ = ["ResumeError", "Sink", "prepare", "current", "run", "SUNK", "BATCH_BYTES", "PART_SUFFIX"]

# Bytes gathered before one write to the sink (in the I/O executor). Two batches at
# most are held at once: the one being written and the one being read.
BATCH_BYTES = 1 << 20
PART_SUFFIX = ".part"

# RFC 9110 14.4: Content-Range = range-unit SP ( range-resp / unsatisfied-range )
_CONTENT_RANGE = re.compile(r"^\s*bytes\s+(\d+)-(\d+)/(\d+|\*)\s*$", re.IGNORECASE)


class ResumeError(httplib2.HttpLib2Error):  # type: ignore[misc]
    """A 206 answer that does not continue the ``.part`` file: its ``Content-Range``
    is missing, unparsable, starts elsewhere than where the file ends, or ends
    before the resource does. Nothing of it was written; the ``.part`` is kept."""


class _Sunk(bytes):
    """The content ``send_once`` returns for a body that went to the sink: empty, and
    recognisable, so that nothing tries to decode it."""


SUNK = _Sunk()


class Sink:
    """One request's sink: where its final 2xx body goes, and how far it got."""

    __slots__ = ("path", "part", "writer", "resume", "offset", "future", "written", "closing")

    def __init__(self, path: Optional[str], writer: Any, resume: bool, offset: int) -> None:
        self.path = path  # the final name (a path sink), else None
        self.part = None if path is None else path + PART_SUFFIX
        self.writer = writer  # an object with .write(bytes) (a writable sink), else None
        self.resume = resume
        self.offset = offset  # bytes of the .part asked for with Range (0: none)
        self.future: Optional["RequestFuture"] = None
        self.written = 0
        # The clean-up of an earlier attempt's .part (a retried request): the next
        # attempt opens the file only once it is done, so it never removes or
        # writes into the file the next one writes.
        self.closing: Optional[asyncio.Future[None]] = None

    def takes(self, status: bytes) -> bool:
        """Only a 2xx answer's body goes to the sink; any other is read into memory."""
        return status[:1] == b"2"

    async def receive(self, status: bytes, headers: Any, body: Any) -> bytes:
        """Read ``body`` into the sink; ``SUNK`` once it is complete (and, for a path,
        renamed). On any failure the body is abandoned (its connection closed) and no
        file stands under the final name."""
        loop = asyncio.get_running_loop()
        try:
            start, expected, total = self._plan(int(status), headers)
            closing = self.closing
            if closing is not None:
                await asyncio.wait([closing])
            target = self.writer if self.writer is not None else await self._opened(loop, start)
        except BaseException:
            await body.aclose()  # nothing was written: the connection goes, the body unread
            raise
        pending: Optional[asyncio.Future[None]] = None
        written = 0
        batch: list[bytes] = []
        try:
            size = 0
            async for chunk in body:
                batch.append(chunk)
                size += len(chunk)
                if size >= BATCH_BYTES:
                    if pending is not None:
                        await pending  # the disk is slower than the network: stop reading
                    pending = _schedule(loop, target, _write, target, batch)
                    written += size
                    batch, size = [], 0
            if pending is not None:
                await pending
                pending = None
            if batch:
                last, batch = batch, []
                await _schedule(loop, target, _write, target, last)
                written += size
            if expected is not None and written != expected:
                raise http.client.IncompleteRead(b"", expected - written)
            if total is not None and start + written != total:
                raise ResumeError(
                    "the answer ends at byte %d of %d: the file is not complete" % (start + written, total)
                )
            if self.writer is None:
                await target.schedule(loop, self._complete, target)
        except BaseException:
            await body.aclose()
            self._abandon(target, batch)
            raise
        self.written = written
        future = self.future
        if future is not None:
            future.body_bytes = written  # type: ignore[attr-defined]
        return SUNK

    async def _opened(self, loop: asyncio.AbstractEventLoop, start: int) -> "_File":
        """The ``.part``, opened in the I/O executor. Cancelled meanwhile: the file the
        executor opens anyway is closed (and removed) when it is done."""
        opening = loop.run_in_executor(None, self._open, start)
        try:
            return await asyncio.shield(opening)
        except asyncio.CancelledError:
            opening.add_done_callback(self._discard_opened)
            raise

    def _discard_opened(self, opening: "asyncio.Future[_File]") -> None:
        if not opening.cancelled() and opening.exception() is None:
            self._abandon(opening.result(), [])

    def _plan(self, status: int, headers: Any) -> tuple[int, Optional[int], Optional[int]]:
        """Where the body starts in the file, how long it must be (None: unknown, the
        core's framing decides) and the resource's full length when a 206 says it."""
        fields = {name.lower(): value for name, value in headers}
        length = _int_or_none(fields.get(b"content-length"))
        if b"chunked" in fields.get(b"transfer-encoding", b"").lower():
            length = None  # the chunked end, which the core checks, is the verification
        if status != 206:
            return 0, length, None  # a full answer (200 to a resume: the file restarts)
        found = _CONTENT_RANGE.match(fields.get(b"content-range", b"").decode("latin-1"))
        if found is None:
            raise ResumeError("a 206 answer without a single byte range in Content-Range: nothing written")
        first, last, total_text = int(found.group(1)), int(found.group(2)), found.group(3)
        if first != self.offset or last < first:
            raise ResumeError(
                "the 206 answer starts at byte %d, the file ends at %d: nothing written" % (first, self.offset)
            )
        total = None if total_text == "*" else int(total_text)
        if total is not None and last >= total:
            raise ResumeError("the 206 answer's Content-Range ends past the resource: nothing written")
        expected = last - first + 1
        if length is not None and length != expected:
            raise ResumeError("the 206 answer's Content-Length and Content-Range disagree: nothing written")
        return first, expected, total

    # -- files (in the I/O executor) -------------------------------------------------

    def _open(self, start: int) -> "_File":
        """The ``.part`` file, positioned at ``start`` (0: emptied)."""
        assert self.part is not None
        flags = os.O_WRONLY | os.O_CREAT | getattr(os, "O_CLOEXEC", 0)
        fd = os.open(self.part, flags, 0o666)
        try:
            os.ftruncate(fd, start)  # what an earlier attempt wrote past it goes
            os.lseek(fd, start, os.SEEK_SET)
        except BaseException:
            os.close(fd)
            raise
        return _File(fd)

    def _complete(self, file: "_File") -> None:
        """Close the ``.part`` and give it the final name."""
        assert self.part is not None and self.path is not None
        file.close()
        os.replace(self.part, self.path)

    def _abandon(self, target: Any, unwritten: list[bytes]) -> None:
        """After a failure: close the ``.part`` and remove it, or, when resuming, keep
        it with every byte received (a later run continues from there). After the
        file's operations already scheduled (see ``_File``)."""
        if type(target) is not _File:
            return
        try:
            self.closing = target.schedule(asyncio.get_running_loop(), self._discard, target, unwritten)
        except RuntimeError:  # the executor is shut down (interpreter exit): here, then
            self._discard(target, unwritten)

    def _discard(self, file: "_File", unwritten: list[bytes]) -> None:
        assert self.part is not None
        if file.fd is None:
            return  # completed (renamed) after all
        if self.resume and unwritten:
            try:
                _write(file, unwritten)
            except OSError:
                pass  # the .part keeps what was written before
        file.close()
        if not self.resume:
            try:
                os.unlink(self.part)
            except OSError:
                pass


class _File:
    """A ``.part`` descriptor. Every operation on it runs in the I/O executor in the
    order it was scheduled (a ticket each), even when an await for an earlier one
    was cancelled meanwhile: a write never lands after the close, or on a reused fd."""

    __slots__ = ("fd", "turn", "tickets", "served")

    def __init__(self, fd: int) -> None:
        self.fd: Optional[int] = fd
        self.turn = threading.Condition(threading.Lock())
        self.tickets = 0  # handed out (on the loop thread)
        self.served = 0  # done (in the executor)

    def schedule(self, loop: asyncio.AbstractEventLoop, fn: Callable[..., None], *args: Any) -> "asyncio.Future[None]":
        ticket = self.tickets
        self.tickets += 1
        return loop.run_in_executor(None, self._in_turn, ticket, fn, args)

    def _in_turn(self, ticket: int, fn: Callable[..., None], args: tuple[Any, ...]) -> None:
        with self.turn:
            self.turn.wait_for(lambda: self.served == ticket)
        try:
            fn(*args)
        finally:
            with self.turn:
                self.served += 1
                self.turn.notify_all()

    def close(self) -> None:
        fd, self.fd = self.fd, None
        if fd is not None:
            os.close(fd)


def _write(target: Any, batch: list[bytes]) -> None:
    """One batch to the sink (I/O executor): the ``.part`` file, or a writable object."""
    data = batch[0] if len(batch) == 1 else b"".join(batch)
    if type(target) is _File:
        fd = target.fd
        if fd is None:
            return  # abandoned meanwhile
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
    else:
        target.write(data)


def _schedule(
    loop: asyncio.AbstractEventLoop, target: Any, fn: Callable[..., None], *args: Any
) -> "asyncio.Future[None]":
    if type(target) is _File:
        return target.schedule(loop, fn, *args)
    return loop.run_in_executor(None, fn, *args)


def _int_or_none(value: Optional[bytes]) -> Optional[int]:
    if value is None:
        return None
    try:
        return int(value)
    except ValueError:
        return None


# -- at the call, and on the runner --------------------------------------------------

_current: contextvars.ContextVar[Optional[Sink]] = contextvars.ContextVar("asynchttp_sink", default=None)


def current() -> Optional[Sink]:
    """The sink of the request this runner is working on (``send_once`` asks)."""
    return _current.get()


def prepare(sink: Any, resume: bool, method: str, headers: Optional[dict[str, str]]) -> tuple[Sink, dict[str, str]]:
    """At the call: check the arguments, and the headers a sink request sends.

    A path sink resuming an existing, non-empty ``.part`` asks for the rest
    (``Range: bytes=<size>-``). Every sink request asks for the body as it is
    (``Accept-Encoding: identity``) unless the caller chose an encoding: what is
    written is the body as it comes on the wire, never decoded.
    """
    if method == "HEAD":
        raise ValueError("a HEAD answer has no body: sink= makes no sense with it")
    fields = dict(headers) if headers is not None else {}
    if isinstance(sink, (str, os.PathLike)):
        path = os.fspath(sink)
        if not isinstance(path, str):
            path = os.fsdecode(path)
        offset = 0
        if resume:
            try:
                offset = os.stat(path + PART_SUFFIX).st_size
            except FileNotFoundError:
                offset = 0
        if offset:
            if "range" in fields:
                raise ValueError("resume=True sends its own Range header; do not give one")
            fields["range"] = "bytes=%d-" % offset
        made = Sink(path, None, resume, offset)
    elif callable(getattr(sink, "write", None)):
        if resume:
            raise ValueError("resume=True needs a path sink (a file whose size says where to resume)")
        made = Sink(None, sink, False, 0)
    else:
        raise TypeError("sink must be a path (str or os.PathLike) or have a write(bytes) method")
    fields.setdefault("accept-encoding", "identity")
    return made, fields


class _Uncached:
    """An Http as the request pipeline sees it for a sink request: without its cache
    (a streamed body is not stored, and a stored one would not reach the sink)."""

    __slots__ = ("_http",)
    cache = None

    def __init__(self, http: Any) -> None:
        object.__setattr__(self, "_http", http)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._http, name)

    def __setattr__(self, name: str, value: Any) -> None:
        setattr(self._http, name, value)


async def run(
    sink: Sink, run_request: Callable[..., Awaitable[tuple[Any, Any]]], http: Any, *args: Any
) -> tuple[Any, Any]:
    """Run the request pipeline for a sink request (on its runner)."""
    token = _current.set(sink)
    try:
        response, content = await run_request(_Uncached(http), *args)
    finally:
        _current.reset(token)
    if content is SUNK:
        content = b""
    return response, content
