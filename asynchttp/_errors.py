"""Core errors -> the exceptions httplib2 raises for the same failure. The one place.

Legacy code catches what httplib2 (over ``http.client`` and ``socket``) raises:
``httplib2.ServerNotFoundError`` for DNS, ``TimeoutError`` (``socket.timeout``),
``ConnectionRefusedError`` and other ``OSError``s, ``ssl.SSLError``, and
``http.client`` exceptions for broken responses. ``to_httplib2_error`` builds that
exception with the core error as ``__cause__``, so the core's split (was anything
sent?) stays available to whoever needs it, e.g. the retry policy.
"""

from __future__ import annotations

import asyncio
import copy
import http.client
import os
import re
from typing import Optional

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

__all__ = ["to_httplib2_error", "PHASE_HEAD", "PHASE_BODY", "ShutdownError"]

# Where a request was when the core failed: waiting for the response head, or
# reading the body. http.client reports a closed connection differently in each.
PHASE_HEAD = "head"
PHASE_BODY = "body"


class ShutdownError(RuntimeError):
    """The Http was shut down: it takes no new requests."""


def to_httplib2_error(exc: BaseException, host: str, phase: str = PHASE_HEAD) -> BaseException:
    """The exception httplib2 would raise for core error ``exc`` (chained to it).

    Anything that is not a core error is returned unchanged.
    """
    if not isinstance(exc, HttpError) or isinstance(exc, asyncio.CancelledError):
        return exc
    mapped = _translate(exc, host, phase)
    mapped.__cause__ = exc
    mapped.__suppress_context__ = True
    return mapped


# Letters, digits, hyphens and dots (IDNA already applied), or an IP literal.
_HOST_CHARACTERS = re.compile(r"[A-Za-z0-9.\-]+|\[?[0-9A-Fa-f:.]+\]?")


def _could_be_a_host(host: str) -> bool:
    return bool(host) and _HOST_CHARACTERS.fullmatch(host) is not None


def _server_not_found(host: str) -> BaseException:
    # a local, because httplib2 is untyped for mypy (pyproject.toml says why)
    error: BaseException = httplib2.ServerNotFoundError("Unable to find the server at %s" % host)
    return error


def _translate(exc: HttpError, host: str, phase: str) -> BaseException:
    cause = exc.__cause__
    if isinstance(exc, HttpDnsError):
        return _server_not_found(host)
    if isinstance(exc, TimeoutError):
        # socket.timeout is TimeoutError; http.client's message is "timed out"
        return TimeoutError("timed out")
    if isinstance(exc, HttpTlsError):
        return _fresh_copy(cause) if cause is not None else _ssl_error(str(exc))
    if isinstance(exc, HttpConnectError):
        if isinstance(cause, OSError):
            return _fresh_copy(cause)
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
            return _fresh_copy(cause)
        if phase == PHASE_BODY:
            return http.client.IncompleteRead(b"")
        return http.client.RemoteDisconnected("Remote end closed connection without response")
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


def _fresh_copy(cause: BaseException) -> BaseException:
    """A copy of ``cause`` (same class, args and attributes such as errno or
    verify_code) without its own chain, so it can carry the core error as cause.

    A builtin socket error is worded as the socket module words it
    (``[Errno 111] Connection refused``), as httplib2 users see it; the core's
    detail (which address, which port) stays on the chained core error.
    """
    errno_ = getattr(cause, "errno", None)
    if type(cause).__module__ == "builtins" and isinstance(errno_, int) and isinstance(cause, OSError):
        return type(cause)(errno_, os.strerror(errno_))
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
