"""Authentication policy: which httplib2 Authentication object signs a request.

The schemes themselves (Basic, Digest with qop=auth/MD5/stale/nextnonce,
WSSE, and the HMACDigest and GoogleLogin classes httplib2 still ships) are
httplib2's own classes, looked up in ``httplib2.AUTH_SCHEME_CLASSES`` and
``AUTH_SCHEME_ORDER`` at call time, so a program that registers its own scheme
there is honoured.  These functions only choose and create them; they do no I/O.
"""

from __future__ import annotations

from typing import Any, Iterator, Mapping, Optional, Sequence

import httplib2

from . import _httplib2
from ._protocols import HttpAttributes

__all__ = ["preemptive_authorization", "authorizations_from_challenge", "client_certificate", "NestedRequestError"]


def preemptive_authorization(
    authorizations: Sequence[httplib2.Authentication], host: str, request_uri: str
) -> Optional[httplib2.Authentication]:
    """The remembered authorization for ``host`` whose path is the deepest prefix of ``request_uri``.

    httplib2 sorts ``(depth, auth)`` pairs; Authentication orders every object
    as "less than" any other, so among equal depths the first one wins.  The
    same sort is used here so ties break identically.
    """
    candidates = [(a.depth(request_uri), a) for a in authorizations if a.inscope(host, request_uri)]
    if not candidates:
        return None
    return sorted(candidates)[0][1]


def authorizations_from_challenge(
    http: HttpAttributes,
    host: str,
    request_uri: str,
    headers: dict[str, str],
    response: httplib2.Response,
    content: bytes,
) -> Iterator[httplib2.Authentication]:
    """Lazily yield one Authentication per (matching credential, offered scheme).

    The challenge is parsed before the first credential is looked at, so a
    malformed WWW-Authenticate raises ``MalformedHeader`` even when no
    credentials are configured, as in httplib2.  Objects are built lazily
    because building one can raise (Digest with an unsupported qop/algorithm)
    and httplib2 only builds the ones it reaches.
    """
    challenges = _httplib2.parse_www_authenticate(response, "www-authenticate")
    return _build(http, challenges, host, request_uri, headers, response, content)


class NestedRequestError(RuntimeError):
    """An authentication scheme tried to make its own HTTP request from inside a request."""


class _HttpViewForAuth:
    """What an Authentication object sees as ``self.http``: the Http, minus ``request``.

    A scheme registered in ``httplib2.AUTH_SCHEME_CLASSES`` may call
    ``self.http.request()`` while it is built, as httplib2's own GoogleLogin was
    written to (on Python 3 that class fails earlier, with UnboundLocalError).
    Here such a call would run on the event-loop thread and wait for a result
    that needs the same loop: a deadlock.  Failing loudly is the safe answer.
    """

    __slots__ = ("_http",)

    def __init__(self, http: HttpAttributes) -> None:
        object.__setattr__(self, "_http", http)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._http, name)

    def __setattr__(self, name: str, value: Any) -> None:
        setattr(self._http, name, value)

    def __reduce__(self) -> Any:
        # httplib2's Http pickles its authorizations, which hold this view: rebuild it
        # from the Http (the default would set the slot through __setattr__ above)
        return (_HttpViewForAuth, (self._http,))

    def request(self, *args: Any, **kwargs: Any) -> Any:
        raise NestedRequestError("an authentication scheme tried to make its own HTTP request while signing one")


def _build(
    http: HttpAttributes,
    challenges: Mapping[str, Any],
    host: str,
    request_uri: str,
    headers: dict[str, str],
    response: httplib2.Response,
    content: bytes,
) -> Iterator[httplib2.Authentication]:
    view = _HttpViewForAuth(http)
    for credential in http.credentials.iter(host):
        for scheme in httplib2.AUTH_SCHEME_ORDER:
            if scheme in challenges:
                yield httplib2.AUTH_SCHEME_CLASSES[scheme](
                    credential, host, request_uri, headers, response, content, view
                )


def client_certificate(http: HttpAttributes, authority: str) -> Optional[tuple[str, str, Optional[str]]]:
    """The ``(key_file, cert_file, password)`` httplib2 would present to ``authority``.

    httplib2 takes the first ``add_certificate`` entry whose domain is ``""`` or
    equals the request's authority (``host:port`` when the URI has a port), when it
    creates the connection.  The facade builds its TLS context per authority from this.
    """
    for key_file, cert_file, password in http.certificates.iter(authority):
        return key_file, cert_file, password
    return None
