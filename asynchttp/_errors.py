"""Core errors -> the exceptions httplib2 raises for the same failure. The one place.

Legacy code catches what httplib2 (over ``http.client`` and ``socket``) raises:
``httplib2.ServerNotFoundError`` for DNS, ``TimeoutError`` (``socket.timeout``),
``ConnectionRefusedError`` and other ``OSError``s, ``ssl.SSLError``, and
``http.client`` exceptions for broken responses. ``to_httplib2_error`` builds that
exception with the core error as ``__cause__``, so the core's split (was anything
sent?) stays available to whoever needs it, e.g. the retry policy.

The class is httplib2's; the message says what a user needs to act on: a timeout
names its phase, the origin and the limit in force (``timed out (head phase,
example.org port 443): response head not complete after 30.0 seconds``), a socket
error names the phase and the origin after the socket module's wording
(``[Errno 111] Connection refused (connect phase, example.org port 8080)``), and
``ServerNotFoundError`` keeps httplib2's sentence and adds the port and the
resolver's answer. Every mapped error carries ``.phase`` (the core's phase, or the
facade's "head"/"body" where the core cannot tell; see ``error_phase``); the
runner adds ``.request_id`` when the request ends (``mark_request``).
"""

from __future__ import annotations

import asyncio
import copy
import http.client
import os
import re
from typing import Iterator, Optional

import httplib2

from asynchttp_lowhaio import (
    HttpConnectError,
    HttpConnectionClosedError,
    HttpDnsError,
    HttpError,
    HttpHeaderTooLong,
    HttpLocalError,
    HttpProtocolError,
    HttpTlsError,
    without_userinfo,
)

__all__ = ["to_httplib2_error", "PHASE_HEAD", "PHASE_BODY", "ShutdownError", "error_phase", "mark_request"]

# Where a request was when the core failed: waiting for the response head, or
# reading the body. http.client reports a closed connection differently in each.
PHASE_HEAD = "head"
PHASE_BODY = "body"


class ShutdownError(RuntimeError):
    """The Http was shut down: it takes no new requests."""


def to_httplib2_error(
    exc: BaseException, host: str, phase: str = PHASE_HEAD, port: Optional[int] = None, detail: bool = True
) -> BaseException:
    """The exception httplib2 would raise for core error ``exc`` (chained to it).

    ``phase`` is where the facade was (waiting for the head, or reading the body),
    used when the core error does not say; ``port`` the origin's port, for the
    message. ``detail=False`` keeps httplib2's bare wording (for a message that
    another one quotes, as a proxy error quotes its cause). Anything that is not a
    core error is returned unchanged.
    """
    if not isinstance(exc, HttpError) or isinstance(exc, asyncio.CancelledError):
        return exc
    where = _phase_of(exc, host, phase)
    mapped = _translate(exc, host, phase, _Where(where, host, port) if detail else None)
    mapped.__cause__ = exc
    mapped.__suppress_context__ = True
    _set(mapped, "phase", where)
    return mapped


def error_phase(exc: BaseException) -> Optional[str]:
    """The phase a request failed in, for an exception it raised: ``"dns"``,
    ``"connect"``, ``"tls"``, ``"pool"``, ``"send"``, ``"head"`` or ``"body"``; None
    when the failure did not come from the network (a bad argument, a redirect
    limit, an exception in a callback) or is not a request's.

    Looks at ``exc.phase``, then along its ``__cause__`` chain (the core's error).
    """
    for current in causes(exc, 20):
        phase = getattr(current, "phase", None)
        if isinstance(phase, str):
            return phase
    return None


def causes(exc: Optional[BaseException], limit: int) -> Iterator[BaseException]:
    """``exc`` and the exceptions along its ``__cause__`` chain, at most ``limit`` of
    them (a guard against a cycle). ``error_phase`` and ``_retry``'s look-ups walk it."""
    seen = 0
    while exc is not None and seen < limit:
        yield exc
        exc = exc.__cause__
        seen += 1


def mark_request(exc: BaseException, request_id: int) -> None:
    """Put the request id (the one its log lines carry) on the exception a request
    ends with, and ``.phase`` (None) if the exception has none yet."""
    _set(exc, "request_id", request_id)
    if getattr(exc, "phase", None) is None:
        _set(exc, "phase", error_phase(exc))


def _set(exc: BaseException, name: str, value: object) -> None:
    try:
        setattr(exc, name, value)
    except (AttributeError, TypeError):  # an exception class that takes no attributes
        pass


class _Where:
    """What a message adds: the phase and the origin."""

    __slots__ = ("phase", "host", "port")

    def __init__(self, phase: Optional[str], host: str, port: Optional[int]) -> None:
        self.phase = phase
        self.host = host
        self.port = port

    def __str__(self) -> str:
        origin = self.host if self.port is None else "%s port %d" % (self.host, self.port)
        return "%s phase, %s" % (self.phase, origin) if self.phase else origin


def _phase_of(exc: HttpError, host: str, facade_phase: str) -> Optional[str]:
    if isinstance(exc, HttpLocalError):
        # nothing reached the network; a host name that cannot be one fails as DNS does
        return None if _could_be_a_host(host) else "dns"
    return exc.phase or facade_phase


# Letters, digits, hyphens and dots (IDNA already applied), or an IP literal.
_HOST_CHARACTERS = re.compile(r"[A-Za-z0-9.\-]+|\[?[0-9A-Fa-f:.]+\]?")


def _could_be_a_host(host: str) -> bool:
    return bool(host) and _HOST_CHARACTERS.fullmatch(host) is not None


def _server_not_found(host: str, where: Optional[_Where] = None, reason: str = "") -> BaseException:
    # httplib2's sentence first (code may match on it), then the port and the reason
    message = "Unable to find the server at %s" % host
    if where is not None and where.port is not None:
        message += " (port %d%s)" % (where.port, ": " + reason if reason else "")
    # a local, because httplib2 is untyped for mypy (pyproject.toml says why)
    error: BaseException = httplib2.ServerNotFoundError(message)
    return error


def _translate(exc: HttpError, host: str, phase: str, where: Optional[_Where]) -> BaseException:
    cause = exc.__cause__
    if isinstance(exc, HttpDnsError):
        return _server_not_found(host, where, str(exc))
    if isinstance(exc, TimeoutError):
        # socket.timeout is TimeoutError; http.client's message is "timed out"
        if where is None:
            return TimeoutError("timed out")
        return TimeoutError("timed out (%s): %s" % (where, _core_message(exc)))
    if isinstance(exc, HttpTlsError):
        return _fresh_copy(cause) if cause is not None else _ssl_error(str(exc))
    if isinstance(exc, HttpConnectError):
        if isinstance(cause, OSError):
            return _fresh_copy(cause, where)
        return ConnectionError(str(exc))
    if isinstance(exc, HttpLocalError):
        if not _could_be_a_host(host):
            # httplib2 hands such a name (from a URI or a server's Location) to
            # getaddrinfo, which fails: the user sees ServerNotFoundError.
            return _server_not_found(host)
        return ValueError(str(exc))
    if isinstance(exc, HttpConnectionClosedError):
        if isinstance(cause, OSError):
            # a reset or broken pipe: http.client lets the socket error through
            return _fresh_copy(cause, where)
        if phase == PHASE_BODY:
            return http.client.IncompleteRead(b"")
        message = "Remote end closed connection without response"
        return http.client.RemoteDisconnected(message if where is None else "%s (%s)" % (message, where))
    if isinstance(exc, HttpHeaderTooLong):
        return http.client.LineTooLong(str(exc))
    if isinstance(exc, HttpProtocolError):
        if phase == PHASE_BODY:
            return http.client.IncompleteRead(b"")
        return http.client.BadStatusLine(str(exc))
    if isinstance(exc, OSError):
        # pool closed and other nothing-sent failures: a plain connection error
        return ConnectionAbortedError(str(exc))
    return http.client.HTTPException(str(exc))


def _core_message(exc: HttpError) -> str:
    # an OSError-style core error (errno, message) shows "[Errno 110] ..."; the message alone
    strerror = getattr(exc, "strerror", None)
    return strerror if isinstance(strerror, str) else str(exc)


def _fresh_copy(cause: BaseException, where: Optional[_Where] = None) -> BaseException:
    """A copy of ``cause`` (same class, args and attributes such as errno or
    verify_code) without its own chain, so it can carry the core error as cause.

    A builtin socket error is worded as the socket module words it
    (``[Errno 111] Connection refused``), as httplib2 users see it, followed by the
    phase and the origin when ``where`` is given; the core's detail (which
    addresses were tried) stays on the chained core error.
    """
    errno_ = getattr(cause, "errno", None)
    if type(cause).__module__ == "builtins" and isinstance(errno_, int) and isinstance(cause, OSError):
        text = os.strerror(errno_)
        return type(cause)(errno_, text if where is None else "%s (%s)" % (text, where))
    try:
        fresh = copy.copy(cause)
    except Exception:
        return cause
    fresh.__traceback__ = None
    fresh.__cause__ = None
    fresh.__context__ = None
    return fresh


def _ssl_error(message: str) -> BaseException:
    import ssl

    return ssl.SSLError(message)


def describe(exc: Optional[BaseException]) -> str:
    """One line for logs: the class and message, and the core class behind it, with
    any credentials of a quoted URL removed."""
    if exc is None:
        return "no error"
    cause = exc.__cause__
    if isinstance(cause, HttpError):
        text = "%s: %s (core %s)" % (type(exc).__name__, exc, type(cause).__name__)
    else:
        text = "%s: %s" % (type(exc).__name__, exc)
    return without_userinfo(text)  # a URL quoted by an error: its credentials never logged
