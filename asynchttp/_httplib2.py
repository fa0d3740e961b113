"""The one door to httplib2's private functions.

asynchttp reuses eight of httplib2's private helpers so that its cache files,
decoding limits, TLS contexts and header handling are exactly httplib2's.  Private
names may change in any release, so they are reached only through the typed
wrappers below, checked once at import (a missing helper or a changed signature
raises ``ImportError`` naming the httplib2 version instead of failing at the first
request), and pinned by tests/compat/test_httplib2_private.py for every httplib2
version pyproject.toml allows (CI runs it on the lowest and the newest).

Each wrapper looks the function up at call time, as the callers used to, so a
program that patches ``httplib2._updateCache`` (say) still sees its patch used.
"""

from __future__ import annotations

import email.message
import inspect
import ssl
from typing import Any, Mapping, Optional, Union

import httplib2
from httplib2 import auth as _auth

__all__ = [
    "normalize_headers",
    "parse_cache_control",
    "entry_disposition",
    "end2end_headers",
    "update_cache",
    "decompress_content",
    "build_ssl_context",
    "parse_www_authenticate",
    "SUPPORTED",
]

# What pyproject.toml allows; the error message below names it.
SUPPORTED = ">=0.32.0,<0.33"

# name -> (module, the parameters asynchttp passes, by name, in order)
_NEEDED = {
    "_normalize_headers": (httplib2, ("headers",)),
    "_parse_cache_control": (httplib2, ("headers",)),
    "_entry_disposition": (httplib2, ("response_headers", "request_headers")),
    "_get_end2end_headers": (httplib2, ("response",)),
    "_updateCache": (httplib2, ("request_headers", "response_headers", "content", "cache", "cachekey")),
    "_decompressContent": (httplib2, ("response", "new_content", "limit_kwargs")),
    "_build_ssl_context": (
        httplib2,
        (
            "disable_ssl_certificate_validation",
            "ca_certs",
            "cert_file",
            "key_file",
            "maximum_version",
            "minimum_version",
            "key_password",
        ),
    ),
    "_parse_www_authenticate": (_auth, ("headers", "headername")),
}


def _check() -> None:
    """Refuse an httplib2 whose private helpers are not the ones asynchttp was built on."""
    for name, (module, params) in _NEEDED.items():
        func = getattr(module, name, None)
        try:
            found = tuple(inspect.signature(func).parameters) if callable(func) else None
        except (TypeError, ValueError):  # pragma: no cover - a builtin without a signature
            found = None
        if found != params:
            what = "lacks" if found is None else "has a different"
            raise ImportError(
                "asynchttp needs httplib2%s: httplib2 %s %s %s.%s%s (expected parameters %s, found %s)"
                % (
                    SUPPORTED,
                    getattr(httplib2, "__version__", "?"),
                    what,
                    module.__name__,
                    name,
                    "" if found is None else " signature",
                    ", ".join(params),
                    ", ".join(found or ()) or "none",
                )
            )


_check()


def normalize_headers(headers: Mapping[Any, Any]) -> dict[str, str]:
    """Names lower-cased, bytes decoded as UTF-8, values stripped.

    httplib2 0.32 passes the value to ``re.sub`` as the *replacement*, so a value is
    taken as a template: ``"a\\\\tb"`` becomes a real tab and ``"\\\\1"`` raises
    ``re.error``.  Kept as is: the drop-in promise is httplib2's behaviour.
    """
    normalized: dict[str, str] = httplib2._normalize_headers(headers)
    return normalized


def parse_cache_control(headers: Mapping[str, str]) -> dict[str, Union[str, int]]:
    """``Cache-Control`` as a dict: ``name=value`` directives as strings, bare ones as 1."""
    directives: dict[str, Union[str, int]] = httplib2._parse_cache_control(headers)
    return directives


def entry_disposition(
    response_headers: Union[Mapping[str, str], email.message.Message], request_headers: Mapping[str, str]
) -> str:
    """A cached entry's freshness for this request: ``"FRESH"``, ``"STALE"`` or ``"TRANSPARENT"``.

    ``response_headers`` may be the cache entry's parsed head (a ``Message``), as httplib2 passes it."""
    disposition: str = httplib2._entry_disposition(response_headers, request_headers)
    return disposition


def end2end_headers(response: Mapping[str, str]) -> list[str]:
    """The response's header names less the hop-by-hop ones (and those ``Connection`` lists)."""
    names: list[str] = httplib2._get_end2end_headers(response)
    return names


def update_cache(
    request_headers: Mapping[str, str], response: httplib2.Response, content: bytes, cache: Any, cachekey: Optional[str]
) -> None:
    """Store (or, for ``no-store``, delete) the entry in ``cache`` in httplib2's file format."""
    httplib2._updateCache(request_headers, response, content, cache, cachekey)


def decompress_content(response: httplib2.Response, content: bytes, limit_kwargs: Mapping[str, Any]) -> bytes:
    """gzip/deflate decoded under httplib2's ``LimitDecoder``; rewrites ``response``'s
    ``content-length`` and moves ``content-encoding`` to ``-content-encoding``."""
    decoded: bytes = httplib2._decompressContent(response, content, dict(limit_kwargs))
    return decoded


def build_ssl_context(
    disable_ssl_certificate_validation: bool,
    ca_certs: Optional[str],
    cert_file: Optional[str] = None,
    key_file: Optional[str] = None,
    maximum_version: Any = None,
    minimum_version: Any = None,
    key_password: Optional[str] = None,
) -> ssl.SSLContext:
    """httplib2's client TLS context: same protocol, verification and version bounds."""
    context: ssl.SSLContext = httplib2._build_ssl_context(
        disable_ssl_certificate_validation,
        ca_certs,
        cert_file,
        key_file,
        maximum_version=maximum_version,
        minimum_version=minimum_version,
        key_password=key_password,
    )
    return context


def parse_www_authenticate(
    headers: Mapping[str, str], headername: str = "www-authenticate"
) -> dict[str, dict[str, Any]]:
    """One dict of parameters per offered scheme (lower-cased); raises
    ``httplib2.MalformedHeader`` on a header it cannot parse."""
    schemes: dict[str, dict[str, Any]] = _auth._parse_www_authenticate(headers, headername)
    return schemes
