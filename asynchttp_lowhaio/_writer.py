"""Request serialisation: URL to target, head bytes, chunked framing.  No I/O.

Everything a caller passes is validated here, before a connection is even
chosen: a CR, LF or NUL in the method, the URL or a header raises
``HttpLocalError`` (a ``ValueError``), so nothing can be injected into the
request line or the head.  Percent-encoding already in the URL is kept as
given; only characters that may not appear in a request target (space,
non-ASCII, a few delimiters) are encoded, and ``%`` never is.
"""

from __future__ import annotations

import functools
import ipaddress
import re
from typing import Any, Iterable, List, NamedTuple, Optional, Sequence, Tuple, Union
from urllib.parse import quote, urlencode, urlsplit

from ._errors import HttpLocalError
from ._rules import DEFAULT_PORTS as _DEFAULT_PORTS
from ._rules import FIELD_VALUE, FIELD_VALUE_FORBIDDEN, without_userinfo
from ._rules import TOKEN as _TOKEN

__all__ = [
    "Target",
    "parse_url",
    "compose_head",
    "encode_chunk",
    "LAST_CHUNK",
    "BODY_METHODS",
]

HeaderPairs = Sequence[Tuple[bytes, bytes]]

# field-value: VCHAR / obs-text / SP / HTAB (RFC 9110 5.5); never CR, LF, NUL or another CTL.
_FIELD_VALUE = FIELD_VALUE
_BAD_IN_VALUE = FIELD_VALUE_FORBIDDEN
_FORBIDDEN_IN_URL = re.compile(r"[\x00-\x1f\x7f]")
# reg-name characters (RFC 3986 3.2.2) once IDNA-encoded; "%" is refused, as
# a percent-encoded host name would reach DNS and the Host header undecoded.
_HOST_NAME = re.compile(r"[A-Za-z0-9\-._~!$&'()*+,;=]+")
_HTTP_VERSIONS = frozenset((b"HTTP/1.1", b"HTTP/1.0"))
# Characters left alone in a path or query: unreserved, sub-delims, ":@/?" and "%".
_PATH_SAFE = "/%:@!$&'()*+,;=-._~"
_QUERY_SAFE = _PATH_SAFE + "?"

LAST_CHUNK = b"0\r\n\r\n"
# Methods whose requests conventionally carry content: an empty one is sent
# with "content-length: 0" so servers that demand a length (nginx: 411) accept it.
BODY_METHODS = frozenset((b"POST", b"PUT", b"PATCH"))


class Target(NamedTuple):
    """Where a URL points and what goes on the request line."""

    scheme: str  # "http" or "https"
    host: str  # lower-cased, no brackets, no trailing dot
    port: int
    is_ip: bool  # an IP literal: no DNS
    request_target: bytes  # origin-form: path and query
    host_header: bytes  # host[:port], IPv6 in brackets
    log_url: str  # the URL without userinfo, for logs


_cache: dict[str, Target] = {}
_CACHE_MAX = 1024


def parse_url(url: str, params: Iterable[Any] = ()) -> Target:
    """Split ``url`` into a ``Target``; ``params`` pairs are appended to its query."""
    if params or type(url) is not str:
        return _parse_url(url, params)
    target = _cache.get(url)
    if target is not None:
        return target
    target = _plain_target(url) or _parse_url(url, params)
    if len(_cache) >= _CACHE_MAX:
        _cache.clear()
    _cache[url] = target
    return target


# The URL of a bulk job: a lower-case http(s) scheme, a host name or IPv4 address of
# plain characters with an optional port, and a path and query made only of
# characters that a request target may carry as they are (no fragment, no userinfo,
# no IPv6 literal). For such a URL the full split below would leave the path and
# query unchanged, so only its origin needs the full treatment, once per origin.
_PLAIN_URL = re.compile(r"(https?)://([A-Za-z0-9.\-]+(?::[0-9]{1,5})?)([/?][A-Za-z0-9/%:@!$&'()*+,;=\-._~?]*)?")
_origins: dict[str, Target] = {}
_ORIGINS_MAX = 1024


def _plain_target(url: str) -> Optional[Target]:
    """``url``'s ``Target`` when it is a plain URL whose origin splits cleanly, else None
    (the caller then takes the full path, which also names any error)."""
    match = _PLAIN_URL.fullmatch(url)
    if match is None:
        return None
    scheme, netloc, rest = match.groups()
    origin_url = f"{scheme}://{netloc}"
    origin = _origins.get(origin_url)
    if origin is None:
        try:
            origin = _parse_url(origin_url + "/", ())
        except HttpLocalError:
            return None
        if len(_origins) >= _ORIGINS_MAX:
            _origins.clear()
        _origins[origin_url] = origin
    if rest:
        path, mark, query = rest.partition("?")
        if not path:
            path = "/"
        if query:
            path = f"{path}?{query}"
    else:
        path = "/"
    log_url = origin_url + path
    if "@" in path:  # as the full split does: never a "//user@" look-alike in a log
        log_url = without_userinfo(log_url)
    return Target(scheme, origin.host, origin.port, origin.is_ip, path.encode("ascii"), origin.host_header, log_url)


def _shown(url: str) -> str:
    """``url`` as an error message may quote it: without ``user:password@``."""
    return without_userinfo(url)


def _parse_url(url: str, params: Iterable[Any]) -> Target:
    if not isinstance(url, str):
        raise HttpLocalError(f"url must be str, not {type(url).__name__}")
    # urlsplit silently deletes tab, CR and LF, so look before it does.
    if _FORBIDDEN_IN_URL.search(url):
        raise HttpLocalError(f"control character in url: {_shown(url)!r}")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise HttpLocalError(f"invalid url {_shown(url)!r}: {exc}") from exc
    scheme = parts.scheme.lower()
    if scheme not in _DEFAULT_PORTS:
        raise HttpLocalError(f"unsupported scheme in url {_shown(url)!r}: only http and https")
    host = (parts.hostname or "").rstrip(".")
    if not host:
        raise HttpLocalError(f"no host in url {_shown(url)!r}")
    canonical = _canonical_ip(host)
    is_ip = canonical is not None
    if canonical is not None:
        # Canonical form, so a pooled connection's peer address matches it
        # (``[0:0:0:0:0:0:0:1]`` is ``::1``).
        host = canonical
    elif parts.netloc.rpartition("@")[2].startswith("["):
        # Python 3.10's urlsplit accepts any text in brackets; only IPv6 belongs there.
        raise HttpLocalError(f"invalid IPv6 literal in url {_shown(url)!r}")
    if port is None:
        port = _DEFAULT_PORTS[scheme]
    elif port == 0:
        raise HttpLocalError(f"port 0 in url {_shown(url)!r}")
    try:
        path = quote(parts.path, safe=_PATH_SAFE) or "/"
        query = quote(parts.query, safe=_QUERY_SAFE)
        if params:
            extra = urlencode(list(params.items() if hasattr(params, "items") else params), doseq=True)
            query = f"{query}&{extra}" if query else extra
    except (TypeError, ValueError) as exc:  # lone surrogates, params that are not pairs
        raise HttpLocalError(f"cannot encode url {_shown(url)!r} with params {params!r}: {exc}") from exc
    request_target = f"{path}?{query}" if query else path
    if is_ip:
        host_text = f"[{host}]" if ":" in host else host
    else:
        try:
            host_text = _idna(host)
        except UnicodeError as exc:
            raise HttpLocalError(f"invalid host name in url {_shown(url)!r}") from exc
        if _HOST_NAME.fullmatch(host_text) is None:
            raise HttpLocalError(f"invalid character in the host name of url {_shown(url)!r}")
        host = host_text
    if port != _DEFAULT_PORTS[scheme]:
        host_text = f"{host_text}:{port}"
    log_url = without_userinfo(f"{scheme}://{parts.netloc}{request_target}")
    return Target(scheme, host, port, is_ip, request_target.encode("ascii"), host_text.encode("ascii"), log_url)


@functools.lru_cache(maxsize=4096)
def _canonical_ip(host: str) -> Optional[str]:
    """``host``'s canonical form when it is an IP literal, else None. Memoised: the
    URL cache above misses on every new URL, and a bulk job of a million URLs asks
    about the same few hosts a million times (ipaddress's parse, and its ValueError
    for a name, cost more than the rest of the URL's split)."""
    try:
        return str(ipaddress.ip_address(host))
    except ValueError:
        return None


@functools.lru_cache(maxsize=4096)
def _idna(host: str) -> str:
    """``host`` in IDNA (ASCII) form; memoised for the same reason (errors are not)."""
    return host.encode("idna").decode("ascii")


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def compose_head(
    method: bytes,
    target: Target,
    headers: HeaderPairs,
    http_version: bytes,
    has_body: bool,
) -> Tuple[bytes, bool, bool]:
    """The request line and header block, validated, in one pass over ``headers``:
    ``(head, chunked, wants_close)``.

    The framing header is added last unless the caller framed the body: a body
    without Content-Length or Transfer-Encoding is sent chunked, an empty POST, PUT
    or PATCH says ``content-length: 0``. ``wants_close``: the caller's headers say
    ``Connection: close`` (the connection is then not reused). A lower-case
    ``host`` from the target goes first unless the caller gave Host.
    """
    if type(method) is not bytes or _TOKEN.fullmatch(method) is None:
        raise HttpLocalError(f"invalid method: {method!r}")
    if http_version not in _HTTP_VERSIONS:
        raise HttpLocalError(f"unsupported http_version: {http_version!r}")
    lines: List[bytes] = [method, b" ", target.request_target, b" ", http_version, b"\r\n"]
    has_host = framed = wants_close = False
    token = _TOKEN.fullmatch
    field_value = _FIELD_VALUE.fullmatch
    for pair in headers:
        try:
            name, value = pair
        except (TypeError, ValueError) as exc:
            raise HttpLocalError(f"a header must be a (name, value) pair, not {type(pair).__name__}") from exc
        if type(name) is not bytes:
            name = _as_bytes(name, "header name")
        if type(value) is not bytes:
            value = _as_bytes(value, "header value")
        if token(name) is None:
            raise HttpLocalError(f"invalid header name: {name!r}")
        if field_value(value) is None:
            # the value itself is never quoted: header values carry credentials
            bad = _BAD_IN_VALUE.search(value)
            offset = bad.start() if bad is not None else -1
            raise HttpLocalError(
                f"invalid character (CR, LF, NUL or control) in the value of header {name!r} at offset {offset}"
            )
        lowered = name.lower()
        if lowered in _WATCHED_NAMES:
            if lowered == b"host":
                has_host = True
            elif lowered == b"connection":
                wants_close = wants_close or b"close" in [part.strip() for part in value.lower().split(b",")]
            else:
                framed = True
        lines += (name, b": ", value.strip(b" \t"), b"\r\n")
    if not has_host:
        lines[6:6] = (b"host: ", target.host_header, b"\r\n")
    chunked = False
    if not framed:
        if has_body:
            lines.append(b"transfer-encoding: chunked\r\n")
            chunked = True
        elif method in BODY_METHODS:
            lines.append(b"content-length: 0\r\n")
    lines.append(b"\r\n")
    return b"".join(lines), chunked, wants_close


# The header names compose_head acts on: Host, the caller's framing, Connection.
_WATCHED_NAMES = frozenset((b"host", b"content-length", b"transfer-encoding", b"connection"))


def encode_chunk(data: Union[bytes, bytearray, memoryview], upper: bool = False) -> bytes:
    """One chunk of a chunked body (RFC 9112 7.1); nothing for empty data.

    The size is written in lower-case hex, or upper-case with ``upper`` (as
    http.client writes it; the case means nothing to a server). An empty chunk
    would be the last-chunk and end the body early, so empty data encodes to no
    bytes at all. The one chunked encoder of both packages: the connection frames
    a body with it, and the facade frames http.client's chunks with it.
    """
    if not data:
        return b""
    return (_UPPER_CHUNK if upper else _CHUNK) % (len(data), data)


_CHUNK = b"%x\r\n%b\r\n"
_UPPER_CHUNK = b"%X\r\n%b\r\n"


def _as_bytes(value: Union[bytes, bytearray, str], what: str) -> bytes:
    if type(value) is bytes:
        return value
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value)
    if isinstance(value, str):
        try:
            return value.encode("latin-1")
        except UnicodeEncodeError as exc:
            shown = "" if what == "header value" else f": {value!r}"  # values carry credentials
            raise HttpLocalError(f"{what} is not latin-1{shown}") from exc
    raise HttpLocalError(f"{what} must be bytes, not {type(value).__name__}")
