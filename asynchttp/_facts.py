"""Per-request facts: what happened to one request, readable from its future.

A request's job gets a small mutable :class:`RequestRecord` when a runner starts it;
the pipeline notes each attempt (one send of the request to a server) and the times
the core reports, and the job's ``attempts`` and ``timings`` read them as frozen
values (:class:`Attempt`, :class:`Timings`). The record of the request a coroutine is
working for is found through a context variable (``CURRENT``), so the layers in
between (cache, authentication, redirects) need not carry it.

Every time is ``time.monotonic()``. Recording costs a few clock reads per request;
nothing here does I/O.
"""

from __future__ import annotations

import contextvars
import time
from typing import Any, Awaitable, Callable, NamedTuple, Optional

__all__ = ["Attempt", "Timings", "RequestRecord", "FactsMixin", "CURRENT", "begin", "adopt"]

monotonic = time.monotonic


class Attempt(NamedTuple):
    """One send of a request to a server, and what came of it.

    ``number`` counts from 1 within the request (redirect hops and authentication
    resends are attempts too: each is one request on the wire). ``started`` and
    ``ended`` are ``time.monotonic()`` times (the send began after any rate-limit
    wait; it ended when the answer was read or the failure met). ``status`` is the
    answer's status code, or None after a failure; ``error`` names the failure (class
    and message, no credentials), or None. ``retry_reason`` says why another attempt
    followed this one ("status 503, Retry-After 2 s", "redirect", ...), None for
    the last one.
    """

    number: int
    started: float
    ended: float
    status: Optional[int]
    error: Optional[str]
    retry_reason: Optional[str]


class Timings(NamedTuple):
    """When each step of a request happened, as ``time.monotonic()`` times.

    ``queued``: ``request()`` was called. ``started``: a runner took it from the queue.
    ``connected``: the TCP connection of the last attempt was made, and ``tls_done``:
    its TLS handshake ended; both None when that attempt reused a kept-alive connection
    (``tls_done`` also None for plain http). ``first_byte``: the last attempt's
    response head arrived. ``done``: the request's outcome was known (before any
    callback ran). A step not reached is None.
    """

    queued: float
    started: Optional[float]
    connected: Optional[float]
    tls_done: Optional[float]
    first_byte: Optional[float]
    done: Optional[float]

    def as_dict(self) -> dict[str, Optional[float]]:
        """Each step in seconds after ``queued`` (``queued`` itself 0.0), None where
        not reached: a JSON-friendly form that does not depend on the process's clock."""
        origin = self.queued
        return {name: (None if value is None else round(value - origin, 6)) for name, value in self._asdict().items()}


_FIELD_DOCS = {
    Attempt: {
        "number": "1 for the request's first send, then 2, 3...",
        "started": "When the send began (``time.monotonic()``), before any rate-limit wait.",
        "ended": "When its answer was read, or its failure met (``time.monotonic()``).",
        "status": "The answer's status code; None after a failure.",
        "error": "The failure (exception class and message, no credentials); None for an answer.",
        "retry_reason": "Why another send followed this one; None for the last.",
    },
    Timings: {
        "queued": "``request()`` was called.",
        "started": "A runner took the request from the queue (None: it never did).",
        "connected": "The last attempt's new TCP connection was made (None: reused).",
        "tls_done": "That connection's TLS handshake ended (None: reused, or plain http).",
        "first_byte": "The last attempt's response head arrived.",
        "done": "The outcome was known, before any callback ran.",
    },
}
for _cls, _docs in _FIELD_DOCS.items():
    for _name, _doc in _docs.items():
        getattr(_cls, _name).__doc__ = _doc


class RequestRecord:
    """The facts of one request as they are gathered (loop side, one writer).

    No ``__slots__``: what most requests never set stays a class attribute, so making
    a record stores five attributes (every request makes one)."""

    connected: Optional[float] = None
    tls_done: Optional[float] = None
    first_byte: Optional[float] = None
    done: Optional[float] = None
    first_attempt: Optional[float] = None
    # What the core awaits once a send holds its connection (a rate-limit token)
    before_send: Optional[Callable[[], Awaitable[Any]]] = None
    # No Retry and no rate limit: httplib2's own sends (the common, cheapest path)
    plain = True

    def __init__(self, request_id: int, resilience: Any, retry: Any) -> None:
        self.request_id = request_id
        self.resilience = resilience  # the Http's _retry.Resilience (rate limits, backoff sleepers)
        self.retry = retry  # the Retry in force for this request, or None (httplib2's own)
        self.started = monotonic()
        # (started, ended, status, error, retry_reason): built into Attempts when read
        self.attempts: list[tuple[float, float, Optional[int], Optional[str], Optional[str]]] = []
        if retry is not None or resilience.buckets is not None:
            self.plain = False

    def begin_attempt(self) -> float:
        """A send is about to go out; the time it started."""
        now = monotonic()
        attempts = self.attempts
        if attempts:
            last = attempts[-1]
            if last[4] is None:  # a send that followed an answer: a hop, not a retry
                attempts[-1] = last[:4] + (_follow_up_reason(last[2]),)
            self.connected = self.tls_done = self.first_byte = None  # the last attempt's, only
        else:
            self.first_attempt = now
        return now

    def end_attempt(
        self, started: float, status: Optional[int], error: Optional[str], retry_reason: Optional[str] = None
    ) -> None:
        self.attempts.append((started, monotonic(), status, error, retry_reason))

    def note_head(self, opened: Optional[tuple[float, Optional[float]]]) -> None:
        """The core answered with a head; ``opened`` is its ``(connected, tls_done)``
        for a new connection, None for a reused one."""
        self.first_byte = monotonic()
        if opened is not None:
            self.connected, self.tls_done = opened

    def elapsed(self) -> float:
        """Seconds since the request's first attempt began (0 before it)."""
        first = self.first_attempt
        return 0.0 if first is None else monotonic() - first


def _follow_up_reason(status: Optional[int]) -> str:
    if status is not None and 300 <= status < 400:
        return "redirect (%d)" % status
    if status == 401:
        return "authentication (401)"
    return "sent again by httplib2's flow (%s)" % status


# The record of the request the running coroutine works for (None outside one).
CURRENT: contextvars.ContextVar[Optional[RequestRecord]] = contextvars.ContextVar(
    "asynchttp_request_record", default=None
)


class FactsMixin:
    """``attempts`` and ``timings`` of a request's future (the job mixes this in and
    sets ``_queued`` and ``_record``)."""

    __slots__ = ()
    _queued: float
    _record: Optional[RequestRecord]

    @property
    def attempts(self) -> tuple[Attempt, ...]:
        """Every send of this request so far, in order (empty before the first)."""
        record = self._record
        if record is None:
            return ()
        return tuple(Attempt(number, *fields) for number, fields in enumerate(list(record.attempts), 1))

    @property
    def timings(self) -> Timings:
        """When each step of this request happened (see :class:`Timings`)."""
        record = self._record
        if record is None:
            return Timings(self._queued, None, None, None, None, None)
        return Timings(self._queued, record.started, record.connected, record.tls_done, record.first_byte, record.done)


def begin(job: Any, resilience: Any) -> RequestRecord:
    """A runner starts ``job``: its record, current for the coroutine from now on."""
    retry = job._retry
    if retry is None:
        retry = resilience.retry
    # RequestRecord.__init__'s work, without its call (every request makes one)
    record = _new_record(RequestRecord)
    record.request_id = job.request_id
    record.resilience = resilience
    record.retry = retry = retry or None
    record.started = monotonic()
    record.attempts = []
    if retry is not None or resilience.buckets is not None:
        record.plain = False
    job._record = record
    CURRENT.set(record)
    return record


_new_record = object.__new__


def adopt(job: Any) -> None:
    """Make ``job``'s record current in this context (httplib2's flow on its thread)."""
    CURRENT.set(job._record)
