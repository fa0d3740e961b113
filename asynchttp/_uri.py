"""URI policy: how httplib2 cleans and splits a request URI, and resolves a Location;
and how http.client reads an authority (its host, its origin, its Host header).

Pure functions over httplib2's public helpers (``iri2uri``, ``urlnorm``,
``parse_uri``), so an asynchttp request reaches the same cache key, the same
connection key and the same request-target as httplib2 would compute.
"""

from __future__ import annotations

import functools
import http.client
import urllib.parse
from typing import NamedTuple

import httplib2
from httplib2.iri2uri import iri2uri

from asynchttp_lowhaio import DEFAULT_PORTS, without_userinfo

__all__ = [
    "RequestTarget",
    "clean_uri",
    "split_uri",
    "uri_parts",
    "safe_uri",
    "resolve_location",
    "KNOWN_SCHEMES",
    "check_scheme",
    "Authority",
    "parse_authority",
    "host_of",
    "origin",
    "host_header",
]

# httplib2 maps these to its connection classes; any other scheme is a KeyError
KNOWN_SCHEMES = ("http", "https")


class RequestTarget(NamedTuple):
    uri: str  # the cleaned absolute URI (before scheme/authority lower-casing)
    scheme: str  # lower-cased
    authority: str  # lower-cased host[:port]; also the credentials/cert domain
    request_uri: str  # path?query, "/" when the path is empty
    defrag_uri: str  # scheme://authority/path?query: the cache key


def clean_uri(uri: str) -> str:
    """IRI -> URI, then percent-encode the characters that could split a request line.

    Space, CR and LF must never reach the wire inside a request-target (header
    injection, CVE-2020-11078): httplib2 encodes them rather than refusing.
    """
    uri = iri2uri(uri)
    return uri.replace(" ", "%20").replace("\r", "%0D").replace("\n", "%0A")


def split_uri(uri: str) -> RequestTarget:
    """Clean and normalise ``uri`` as httplib2 does; raises ``httplib2.RelativeURIError``.

    Memoised: the work (iri2uri, urlnorm) is pure and showed as a third of the
    facade's per-request cost when the same URIs are fetched again and again.
    """
    try:
        return _split_uri_cached(uri)
    except TypeError:  # an unhashable uri: let the uncached path raise what httplib2 would
        return _split_uri(uri)


def _split_uri(uri: str) -> RequestTarget:
    cleaned = clean_uri(uri)
    scheme, authority, request_uri, defrag_uri = httplib2.urlnorm(cleaned)
    return RequestTarget(cleaned, scheme, authority, request_uri, defrag_uri)


_split_uri_cached = functools.lru_cache(maxsize=2048)(_split_uri)


def check_scheme(scheme: str) -> None:
    """httplib2 looks the scheme up in SCHEME_TO_CONNECTION: an unknown one is a KeyError."""
    if scheme not in KNOWN_SCHEMES:
        raise KeyError(scheme)


def resolve_location(absolute_uri: str, location: str) -> str:
    """A Location without an authority is joined to the request URI (httplib2's rule).

    Only a missing authority triggers the join: ``//host/x`` and ``http://...``
    are kept as sent, as httplib2 keeps them.
    """
    _scheme, authority, _path, _query, _fragment = httplib2.parse_uri(location)
    if authority is None:
        return urllib.parse.urljoin(absolute_uri, location)
    return location


def uri_parts(uri: str) -> tuple[str, str, str, str]:
    """httplib2's reading of ``uri``: ``(scheme, authority, request_uri, defrag_uri)``.

    IRIs are percent-encoded, spaces/CR/LF escaped (as httplib2 does against header
    injection), then normalised; a relative URI raises ``httplib2.RelativeURIError``,
    a ``uri`` that is not a str ``TypeError``.
    """
    if not isinstance(uri, str):
        raise TypeError("uri must be str, not %s" % type(uri).__name__)
    target = split_uri(uri)
    return target.scheme, target.authority, target.request_uri, target.defrag_uri


_LOGGED_URI_MAX = 300


def safe_uri(uri: str) -> str:
    """``uri`` without user:password, for logs."""
    try:
        scheme, authority, request_uri, _ = uri_parts(uri)
    except Exception:
        return "<unparsable uri>"
    text = without_userinfo("%s://%s%s" % (scheme, authority, request_uri))
    return text if len(text) <= _LOGGED_URI_MAX else text[:_LOGGED_URI_MAX] + "..."


# ---------------------------------------------------------------------------
# Authorities, as http.client reads them: one parse


class Authority(NamedTuple):
    host: str  # what http.client connects to: no userinfo, port or brackets
    port: int  # the port given, else the scheme's default
    host_header: bytes  # the Host value http.client writes


_HTTP_CLIENT_STRIPS_ZONE = hasattr(http.client, "_strip_ipv6_iface")


@functools.lru_cache(maxsize=1024)
def parse_authority(scheme: str, authority: str) -> Authority:
    """``authority`` (httplib2's, after ``urlnorm``) read once as http.client reads it:
    userinfo dropped, the port split off at the last colon after any ``]`` (an empty
    port is the default), an IPv6 address taken out of its brackets. The Host value
    names the port only when it is not the scheme's default, an IPv6 address in
    brackets without its zone, the name as given (IDNA-encoded if not ASCII; httplib2
    has already done that). A port that is not a number leaves the authority whole
    as the host (the core refuses such a URL)."""
    hostport = authority.rpartition("@")[2]
    default = DEFAULT_PORTS.get(scheme, 80)
    port = default
    colon, bracket = hostport.rfind(":"), hostport.rfind("]")
    host = hostport
    if colon > bracket:
        digits = hostport[colon + 1 :]
        if digits:
            try:
                port = int(digits)
            except ValueError:
                return Authority(hostport, default, hostport.encode("ascii", "replace"))
        host = hostport[:colon]
    if host[:1] == "[" and host[-1:] == "]":
        host = host[1:-1]
    try:
        host_bytes = host.encode("ascii")
    except UnicodeEncodeError:
        host_bytes = host.encode("idna")
    if ":" in host:
        # http.client leaves an IPv6 zone (``%eth0``) out of Host from Python 3.11 on (it
        # means nothing to the server); 3.10's writes it as given
        host_bytes = b"[" + (host_bytes.partition(b"%")[0] if _HTTP_CLIENT_STRIPS_ZONE else host_bytes) + b"]"
    return Authority(host, port, host_bytes if port == default else b"%s:%d" % (host_bytes, port))


def host_of(authority: str) -> str:
    """The host of an authority, as http.client would connect to it."""
    return parse_authority("http", authority).host


def origin(scheme: str, authority: str) -> tuple[str, int]:
    """Host and port of an authority, as the core names an origin."""
    parsed = parse_authority(scheme, authority)
    return parsed.host.rstrip("."), parsed.port


def host_header(scheme: str, authority: str) -> bytes:
    """The Host value http.client writes for a connection to ``authority``."""
    return parse_authority(scheme, authority).host_header
