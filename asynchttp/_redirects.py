"""Redirect policy: httplib2's rules for when and how a 3xx is followed.

Pure decisions over the response, the method and the ``Http`` attributes
(``follow_redirects``, ``follow_all_redirects``, ``redirect_codes``,
``safe_methods``, ``forward_authorization_headers``), read at the moment
httplib2 reads them: when the response arrives.
"""

from __future__ import annotations

from typing import Any, Optional

import httplib2

from ._protocols import HttpAttributes

__all__ = [
    "PERMANENT_MARK",
    "wants_redirect",
    "is_permanent",
    "redirect_method",
    "strip_for_redirect",
    "missing_location",
]

# the cache-entry pseudo-header httplib2 uses to mark a permanent redirect
PERMANENT_MARK = "-x-permanent-redirect-url"


def wants_redirect(http: HttpAttributes, method: str, status: int) -> bool:
    """Is this response one httplib2 would follow (or raise RedirectLimit on)?

    Unsafe methods are followed only on 303/308 unless ``follow_all_redirects``;
    ``follow_redirects = False`` wins over everything.
    """
    if not (http.follow_all_redirects or method in http.safe_methods or status in (303, 308)):
        return False
    return bool(http.follow_redirects) and status in http.redirect_codes


def may_cache_plain_response(http: HttpAttributes, method: str, status: int) -> bool:
    """The non-redirect branch: 200/203 to a safe method gets content-location and is stored."""
    if not (http.follow_all_redirects or method in http.safe_methods or status in (303, 308)):
        return False
    return status in (200, 203) and method in http.safe_methods


def is_permanent(http: HttpAttributes, method: str, status: int) -> bool:
    """308 always; 301 only for safe methods (a 301 to POST may legitimately change)."""
    return status == 308 or (status == 301 and method in http.safe_methods)


def missing_location(response: httplib2.Response) -> bool:
    """300 may list choices in its body; every other redirect needs a Location."""
    return "location" not in response and response.status != 300


def redirect_method(status: int, method: str, body: Any) -> tuple[str, Any]:
    """302 and 303 continue as a GET without a body; 301, 307 and 308 keep both."""
    if status in (302, 303):
        return "GET", None
    return method, body


def strip_for_redirect(headers: dict[str, str], forward_authorization: bool) -> None:
    """Drop the headers that must not follow a redirect (mutates, as httplib2 does).

    The validators belong to the old URI; credentials are dropped unless the
    caller opted in with ``forward_authorization_headers``.
    """
    headers.pop("if-none-match", None)
    headers.pop("if-modified-since", None)
    if not forward_authorization:
        headers.pop("authorization", None)


def cached_redirect_method(status_header: Optional[str], method: str) -> str:
    """A cached permanent redirect replays as GET unless it was a 307/308."""
    if status_header not in ("307", "308"):
        return "GET"
    return method
