"""Retry decisions: the one place that says whether a request is sent again.

Three layers could send a request again; this module holds the decisions of the
two facade ones, and the third is documented beside them:

1. The core (``asynchttp_lowhaio``), at the connection level: a kept-alive
   connection taken from the pool that turns out closed by the server before any
   byte of an answer, for an idempotent method, is replaced once by a fresh
   connection, at once. That is the same attempt (the server never saw it), not a
   retry: it is not counted, nor rate-limited again.
2. httplib2's own rules (``RETRIES`` and its stale keep-alive recovery), when no
   :class:`Retry` is in force -- the default of ``Http()`` and ``BlockingHttp()``:
   :func:`httplib2_verdict`, immediate, as httplib2 retries, except that a request
   whose bytes may have reached the server is repeated only if idempotent.
3. A :class:`Retry` policy, when one is in force for the request: it replaces (2)
   entirely (``RETRIES`` is then not read). :func:`after_failure` and
   :func:`after_answer` decide, with backoff, ``Retry-After`` and a time budget.

The loop that acts on the decisions is httplib2's ``_conn_request`` step in
``_semantics`` (``_send_with_retries``), which every send of a request goes
through (each redirect hop and authentication resend is its own series of
attempts; the budget runs from the request's first attempt).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import email.utils
import errno
import http.client
import logging
import math
import random
import re
import ssl
import time
from dataclasses import dataclass, field
from typing import Any, Callable, FrozenSet, Iterable, Optional

from asynchttp_lowhaio import IDEMPOTENT_METHODS as _CORE_IDEMPOTENT_METHODS
from asynchttp_lowhaio import (
    HttpConnectionClosedError,
    HttpConnectionError,
    HttpDnsError,
    HttpError,
    HttpHeaderTooLong,
    HttpLocalError,
    HttpPoolClosedError,
    HttpTlsError,
    without_userinfo,
)

from ._errors import causes
from ._facts import RequestRecord
from ._ratelimit import Buckets, RateLimit

__all__ = [
    "Retry",
    "Resilience",
    "IDEMPOTENT_METHODS",
    "httplib2_verdict",
    "after_failure",
    "after_answer",
    "parse_retry_after",
    "backoff_sleep",
    "interrupt_backoffs",
]

logger = logging.getLogger("asynchttp")

# RFC 9110 9.2.2, the core's list: repeating these cannot change the outcome on the server.
IDEMPOTENT_METHODS = frozenset(m.decode("ascii") for m in _CORE_IDEMPOTENT_METHODS)

# Answers that say the server did not act on the request (RFC 6585 4, RFC 9110
# 15.6.4): the only statuses a non-idempotent request is sent again for. A 502 or
# 504 comes from a gateway whose upstream may well have acted on it.
_REFUSED_STATUSES = frozenset((429, 503))

# httplib2 retries a failed connect only for these (transient routing) errnos
_TRANSIENT_CONNECT_ERRNOS = frozenset((errno.ENETUNREACH, errno.EADDRNOTAVAIL))

_DEFAULT_STATUSES = frozenset((429, 502, 503, 504))


@dataclass(frozen=True)
class Retry:
    """A retry policy: how often, on what, and how long to wait between tries.

    ``attempts``: tries in all, the first included (1: never retry). ``statuses``:
    answers that are retried (the answer is returned as it is once no try is left).
    ``backoff_base`` and ``backoff_cap``: after the n-th try failed, wait a random
    time between 0 and ``min(backoff_cap, backoff_base * 2 ** (n - 1))`` seconds
    ("full jitter"). ``budget``: seconds from the request's first try after which no
    new try starts (None: no limit); a wait that would end past it is not made, and
    the last answer or error is the outcome. ``retry_after``: wait as long as a 429
    or 503 answer's ``Retry-After`` says (seconds or an HTTP date) instead of the
    backoff. ``resend_unsafe``: also send a non-idempotent request (POST, PATCH...)
    again after a failure that may have come after its bytes reached the server
    (off by default: such a request is sent again only when the core knows that no
    byte of it was sent).

    A frozen value, checked when made: share one between Https and threads.
    """

    attempts: int = 4
    statuses: FrozenSet[int] = field(default=_DEFAULT_STATUSES)
    backoff_base: float = 0.5
    backoff_cap: float = 30.0
    budget: Optional[float] = 300.0
    retry_after: bool = True
    resend_unsafe: bool = False

    def __post_init__(self) -> None:
        attempts = self.attempts
        if isinstance(attempts, bool) or not isinstance(attempts, int):
            raise TypeError("attempts must be an int, not %s" % type(attempts).__name__)
        if attempts < 1:
            raise ValueError("attempts must be at least 1 (the first try), not %r" % (attempts,))
        object.__setattr__(self, "statuses", _checked_statuses(self.statuses))
        for name in ("backoff_base", "backoff_cap"):
            object.__setattr__(self, name, _checked_seconds(name, getattr(self, name)))
        if self.budget is not None:
            budget = _checked_seconds("budget", self.budget)
            if budget <= 0:
                raise ValueError("budget must be positive (or None for no limit), not %r" % (self.budget,))
            object.__setattr__(self, "budget", budget)
        for name in ("retry_after", "resend_unsafe"):
            if not isinstance(getattr(self, name), bool):
                raise TypeError("%s must be True or False, not %r" % (name, getattr(self, name)))

    def backoff(self, failed: int, rand: Callable[[], float] = random.random) -> float:
        """Seconds to wait after try number ``failed`` (1-based): full jitter,
        uniform in ``[0, min(backoff_cap, backoff_base * 2 ** (failed - 1))]``."""
        exponent = min(failed - 1, 64)  # 2**64 * any base is past any cap
        ceiling = min(self.backoff_cap, self.backoff_base * 2.0**exponent)
        return rand() * ceiling


def _checked_statuses(statuses: Iterable[int]) -> FrozenSet[int]:
    if isinstance(statuses, (str, bytes)) or not isinstance(statuses, Iterable):
        raise TypeError("statuses must be a collection of status codes, not %s" % type(statuses).__name__)
    checked = frozenset(statuses)
    for status in checked:
        if isinstance(status, bool) or not isinstance(status, int) or not 100 <= status <= 599:
            raise ValueError("statuses must be HTTP status codes (100-599), not %r" % (status,))
    return checked


def _checked_seconds(name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError("%s must be a number of seconds, not %s" % (name, type(value).__name__))
    if not math.isfinite(value) or value < 0:
        raise ValueError("%s must be a finite number of seconds >= 0, not %r" % (name, value))
    return float(value)


# ---------------------------------------------------------------------------
# What an error says about the request: was anything sent?


def core_cause(exc: BaseException) -> Optional[HttpError]:
    """The asynchttp_lowhaio error behind a mapped exception, if any."""
    for current in causes(exc, 8):
        if isinstance(current, HttpError):
            return current
    return None


def _errno_of(exc: Optional[BaseException]) -> Optional[int]:
    for current in causes(exc, 8):
        number = getattr(current, "errno", None)
        if isinstance(number, int):
            return number
    return None


def _is_stale_connection_failure(exc: BaseException, core_exc: Optional[BaseException]) -> bool:
    # http.client's names for "no status line came back"; RemoteDisconnected is a BadStatusLine
    if isinstance(exc, (http.client.BadStatusLine, http.client.ResponseNotReady)):
        return True
    if core_exc is not None:
        # closed before the response head: the facade maps it to RemoteDisconnected,
        # but classify on the core error too in case the mapping is coarser
        return isinstance(core_exc, HttpConnectionClosedError) and not isinstance(exc, http.client.IncompleteRead)
    return False


# ---------------------------------------------------------------------------
# Layer 2: httplib2's own rules (no Retry in force)


def httplib2_verdict(exc: BaseException, method: str, attempt: int, retries: int, stale_retry_used: bool) -> str:
    """After ``send_once`` failed with no :class:`Retry` in force: "retry", "stale"
    (retry, reset the count) or "raise".

    httplib2 retries two situations, and so do we, with one safety rule added:

    * the connection could not be made for a transient routing reason
      (ENETUNREACH, EADDRNOTAVAIL) and attempts remain -- nothing was sent;
    * the first attempt died before any status line (a keep-alive connection
      the server had closed: ``BadStatusLine``/``RemoteDisconnected``); httplib2
      then tries once more whatever ``RETRIES`` says.  httplib2 does this even
      for POST; we do it only when nothing was sent (the core's
      ``HttpConnectionError``) or the method is idempotent, because the server
      may have processed the bytes it got.
    """
    from_core = core_cause(exc)
    nothing_sent = from_core is not None and isinstance(from_core, HttpConnectionError)
    if nothing_sent or (from_core is None and isinstance(exc, OSError) and not isinstance(exc, TimeoutError)):
        if _errno_of(from_core or exc) in _TRANSIENT_CONNECT_ERRNOS and attempt < retries:
            return "retry"
    if isinstance(exc, TimeoutError):
        return "raise"
    if _is_stale_connection_failure(exc, from_core) and attempt == 1 and not stale_retry_used:
        if nothing_sent or method in IDEMPOTENT_METHODS:
            return "stale"
    return "raise"


# ---------------------------------------------------------------------------
# Layer 3: a Retry policy


def failure_kind(exc: BaseException, method: str, resend_unsafe: bool) -> tuple[bool, str]:
    """(may this failure be retried?, why or why not) under a :class:`Retry`.

    A transport failure (a core error behind the exception) is retried when it is
    safe to send the request again: nothing of it was sent (the core's
    ``HttpConnectionError``), or its method is idempotent, or ``resend_unsafe``.
    Never retried: failures that would fail the same way (DNS, a refused
    certificate, a response head over the limits, an invalid request), a pool
    closed by shutdown, and anything that is not a transport failure.
    """
    cause = core_cause(exc)
    if cause is None:
        return False, "not a transport failure"
    if isinstance(cause, (HttpLocalError, HttpPoolClosedError, HttpDnsError, HttpHeaderTooLong)):
        return False, "%s is not worth another try" % type(cause).__name__
    if isinstance(cause, HttpTlsError) and isinstance(cause.__cause__, ssl.SSLCertVerificationError):
        return False, "the server's certificate was refused"
    if isinstance(cause, HttpConnectionError):
        return True, "before any byte of the request was sent"
    if method in IDEMPOTENT_METHODS:
        return True, "%s is idempotent" % method
    if resend_unsafe:
        return True, "resend_unsafe=True"
    return False, "%s may have reached the server (not idempotent; resend_unsafe is off)" % method


class Decision:
    """A policy's answer after a try: ``delay`` seconds then retry (``retry``), or
    not; ``reason`` says why, for the attempt's record and the log."""

    __slots__ = ("retry", "delay", "reason")

    def __init__(self, retry: bool, delay: float, reason: str) -> None:
        self.retry = retry
        self.delay = delay
        self.reason = reason

    def __repr__(self) -> str:
        return "<Decision retry=%s delay=%.3f %s>" % (self.retry, self.delay, self.reason)


def after_failure(
    policy: Retry,
    exc: BaseException,
    method: str,
    tries: int,
    elapsed: float,
    rand: Callable[[], float] = random.random,
) -> Decision:
    """Try number ``tries`` of a send failed with ``exc``, ``elapsed`` seconds after
    the request's first try: retry (after how long), or not."""
    safe, why = failure_kind(exc, method, policy.resend_unsafe)
    what = _describe_failure(exc)
    if not safe:
        return Decision(False, 0.0, "%s: not retried: %s" % (what, why))
    return _schedule(policy, tries, elapsed, policy.backoff(tries, rand), "%s (%s)" % (what, why), "backoff")


def after_answer(
    policy: Retry,
    method: str,
    status: int,
    retry_after: Optional[str],
    tries: int,
    elapsed: float,
    rand: Callable[[], float] = random.random,
    wall_clock: Callable[[], float] = time.time,
) -> Optional[Decision]:
    """Try number ``tries`` was answered with ``status`` (``retry_after``: the
    answer's Retry-After value, if any): None when the status is not one to retry,
    else a Decision (which may be "no": no try or budget left, unsafe method)."""
    if status not in policy.statuses:
        return None
    what = "status %d" % status
    if status not in _REFUSED_STATUSES and method not in IDEMPOTENT_METHODS and not policy.resend_unsafe:
        return Decision(False, 0.0, "%s: not retried: %s may have been acted on (not idempotent)" % (what, method))
    if policy.retry_after and status in _REFUSED_STATUSES and retry_after is not None:
        delay = parse_retry_after(retry_after, wall_clock())
        if delay is not None:
            return _schedule(policy, tries, elapsed, delay, "%s, Retry-After %s" % (what, retry_after.strip()), "")
    return _schedule(policy, tries, elapsed, policy.backoff(tries, rand), what, "backoff")


def _schedule(policy: Retry, tries: int, elapsed: float, delay: float, what: str, kind: str) -> Decision:
    if tries >= policy.attempts:
        return Decision(False, 0.0, "%s: not retried: %d of %d tries made" % (what, tries, policy.attempts))
    budget = policy.budget
    if budget is not None and elapsed + delay > budget:
        return Decision(
            False,
            0.0,
            "%s: not retried: waiting %.3g s would pass the budget (%.3g s of %.3g s left)"
            % (what, delay, max(0.0, budget - elapsed), budget),
        )
    return Decision(True, delay, "%s: retry after %s%.3g s" % (what, kind + " " if kind else "", delay))


def _describe_failure(exc: BaseException) -> str:
    cause = core_cause(exc)
    text = "%s: %s" % (type(exc).__name__, exc)
    if cause is not None and cause is not exc:
        text += " (core %s)" % type(cause).__name__
    return without_userinfo(text)


_DELTA_SECONDS = re.compile(r"[0-9]+")


def parse_retry_after(value: str, now: float) -> Optional[float]:
    """Seconds to wait from a Retry-After value (RFC 9110 10.2.3): delta-seconds, or
    an HTTP-date (compared with ``now``, a ``time.time()``; a date in the past is 0).
    None for anything else."""
    text = value.strip()
    if _DELTA_SECONDS.fullmatch(text):
        return float(min(int(text), 10**9))
    try:
        when = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if when is None or when.tzinfo is None:  # HTTP-date is always GMT: a zone-less date is not one
        return None
    return max(0.0, when.timestamp() - now)


# ---------------------------------------------------------------------------
# One Http's state: its policies, its buckets, its requests between tries


class Resilience:
    """What an Http's loop side holds for retries and rate limits."""

    def __init__(self, retry: Optional[Retry], rate_limit: Optional[RateLimit]) -> None:
        self.retry = retry
        self.buckets = Buckets(rate_limit) if rate_limit is not None else None
        # Requests sleeping between tries, woken by close() and shutdown().
        self.sleepers: set[asyncio.Future[None]] = set()
        self.interrupts = 0
        self.interrupted_by = ""
        self.stopped_by = ""  # set by shutdown(): no request waits for a next try any more

    def interrupt(self, by: str, stop: bool) -> None:
        """From any thread: requests waiting for their next try end (see backoff_sleep);
        with ``stop``, so does any that would begin such a wait from now on."""
        self.interrupted_by = by
        if stop:
            self.stopped_by = by
        self.interrupts += 1

    def wake_sleepers(self) -> None:
        """On the loop thread: wake every request waiting for its next try."""
        for sleeper in list(self.sleepers):
            if not sleeper.done():
                sleeper.set_result(None)


class RetryInterrupted(concurrent.futures.CancelledError):
    """A request waiting for its next try was ended by ``close()`` or ``shutdown()``."""


def interrupt_backoffs(
    resilience: Resilience, loop: Optional[asyncio.AbstractEventLoop], by: str, stop: bool = False
) -> None:
    """``close()``/``shutdown()`` (``stop``) from any thread: end the waits between tries."""
    resilience.interrupt(by, stop)
    if loop is None:
        return
    try:
        loop.call_soon_threadsafe(resilience.wake_sleepers)
    except RuntimeError:  # the loop is closed: nothing sleeps on it
        pass


async def backoff_sleep(record: RequestRecord, delay: float, why: str) -> None:
    """Wait ``delay`` seconds before the next try, unless the Http is closed or shut
    down meanwhile: then raise :class:`RetryInterrupted` (a CancelledError), which
    settles the request with a message saying so."""
    resilience = record.resilience
    if resilience.stopped_by:
        raise RetryInterrupted(
            "request %d: not sent again (after %s): %s was called" % (record.request_id, why, resilience.stopped_by)
        )
    epoch = resilience.interrupts
    loop = asyncio.get_running_loop()
    deadline = loop.time() + delay
    while True:
        waiter: asyncio.Future[None] = loop.create_future()
        timer = loop.call_at(deadline, _wake, waiter)
        resilience.sleepers.add(waiter)
        try:
            await waiter
        finally:
            timer.cancel()
            resilience.sleepers.discard(waiter)
        if resilience.interrupts != epoch:
            raise RetryInterrupted(
                "request %d: %s during the wait before its next try (after %s); it was not sent again"
                % (record.request_id, resilience.interrupted_by, why)
            )
        if loop.time() >= deadline:
            return
        # woken by a close() that came before this wait began: not for this one


def _wake(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_result(None)
