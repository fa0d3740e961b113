"""The hostile-server catalogue: what a broken or malicious server does, as data.

Each ``Case`` says, connection by connection, exactly what the server sends and
does (``Recv``, ``Send``, ``Sleep``, ``Close``, ``Rst``, ``Mark``...), which
requests the client makes, and the outcome expected of each request:

- ``core``: for ``asynchttp_lowhaio`` (``Pool``/``request``): a result
  (status, body) or a class of the ``HttpError`` tree;
- ``facade``: for ``asynchttp.Http``: a result (content decoded as httplib2
  decodes it, redirects followed) or the exception httplib2 raises for it.

The same data drives ``test_core.py``, ``test_facade.py`` and
``benchmarks/hostile_peers.py`` (which also runs httplib2, urllib3, aiohttp and
lowhaio 0.0.89 against it); ``harness.py`` turns the steps into a
``ScriptedServer`` script.  Nothing here opens a socket.
"""

from __future__ import annotations

import functools
import gzip
import http.client
import ssl
import zlib
from dataclasses import dataclass
from typing import Callable, Optional, Sequence, Tuple, Union

import httplib2
import httplib2.decode

from asynchttp_lowhaio import (
    HttpConnectionClosedError,
    HttpConnectionError,
    HttpConnectTimeoutError,
    HttpHeaderTooLong,
    HttpProtocolError,
    HttpReadTimeoutError,
    HttpResponseHeadTimeoutError,
    HttpTlsError,
)

__all__ = [
    "Case",
    "Req",
    "Ok",
    "Err",
    "Digest",
    "Payload",
    "Outcome",
    "Recv",
    "Send",
    "SendSlowly",
    "StreamBody",
    "Sleep",
    "Close",
    "Rst",
    "Mark",
    "CASES",
    "FAMILIES",
    "by_name",
    "body_bytes",
]


# ------------------------------------------------------------------ payloads
@dataclass(frozen=True)
class Payload:
    """Bytes too big to spell out, made on first use (and cached)."""

    name: str

    def materialize(self) -> bytes:
        return _PAYLOADS[self.name]()


@dataclass(frozen=True)
class Digest:
    """A body checked by length and CRC-32 (never held whole by the core test)."""

    length: int
    crc32: int


BLOCK = bytes(range(256)) * 4096  # 1 MiB, every byte value
BIG_BODY_MIB = 100


@functools.lru_cache(maxsize=None)
def _big_digest(mib: int) -> Digest:
    crc = 0
    for _ in range(mib):
        crc = zlib.crc32(BLOCK, crc)
    return Digest(mib * len(BLOCK), crc)


BOMB_MIB = 256


@functools.lru_cache(maxsize=None)
def _zeros_digest(mib: int) -> Digest:
    """What a client that decodes the bomb whole gets (correct data, unbounded memory)."""
    crc = 0
    zeros = bytes(1 << 20)
    for _ in range(mib):
        crc = zlib.crc32(zeros, crc)
    return Digest(mib << 20, crc)


@functools.lru_cache(maxsize=None)
def _gzip_bomb() -> bytes:
    # 256 MiB of zeros gzip to ~250 KiB: a ratio near 1000, far above httplib2's 100.
    compressor = zlib.compressobj(9, zlib.DEFLATED, 31)
    zeros = bytes(1 << 20)
    out = [compressor.compress(zeros) for _ in range(BOMB_MIB)]
    out.append(compressor.flush())
    return b"".join(out)


TEXT = b"The quick brown fox jumps over the lazy dog. " * 20


@functools.lru_cache(maxsize=None)
def _gzip_text() -> bytes:
    return gzip.compress(TEXT, mtime=0)


@functools.lru_cache(maxsize=None)
def _deflate_text() -> bytes:
    return zlib.compress(TEXT)


def _gzip_bomb_head() -> bytes:
    return b"HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: %d\r\n\r\n" % len(_gzip_bomb())


_PAYLOADS: dict[str, Callable[[], bytes]] = {
    "gzip_bomb": _gzip_bomb,
    "gzip_bomb_head": _gzip_bomb_head,
    "gzip_text": _gzip_text,
    "deflate_text": _deflate_text,
}

BodyExpect = Union[bytes, Payload, Digest]


def body_bytes(body: Union[bytes, Payload]) -> bytes:
    return body.materialize() if isinstance(body, Payload) else body


# --------------------------------------------------------------- server steps
@dataclass(frozen=True)
class Recv:
    """Read one request: its head, and its body unless ``body`` is False."""

    body: bool = True


@dataclass(frozen=True)
class Send:
    """Send these exact bytes (``{OTHER}`` becomes the second server's host:port)."""

    data: Union[bytes, Payload]


@dataclass(frozen=True)
class SendSlowly:
    data: bytes
    interval: float = 0.05
    piece: int = 1


@dataclass(frozen=True)
class StreamBody:
    """Send ``mib`` times the 1 MiB ``BLOCK`` (a body of constant server memory)."""

    mib: int


@dataclass(frozen=True)
class Sleep:
    seconds: float


@dataclass(frozen=True)
class Close:
    """FIN; ends the connection's script (then sets ``mark``, if given)."""

    mark: Optional[str] = None


@dataclass(frozen=True)
class Rst:
    """TCP RST; ends the connection's script (then sets ``mark``, if given)."""

    mark: Optional[str] = None


@dataclass(frozen=True)
class Mark:
    """Signal the client (see ``Req.after_mark``) that the steps before it are done."""

    name: str


Step = Union[Recv, Send, SendSlowly, StreamBody, Sleep, Close, Rst, Mark]
Script = Tuple[Step, ...]


# ------------------------------------------------------------------- requests
@dataclass(frozen=True)
class Req:
    method: str = "GET"
    path: str = "/"
    headers: Tuple[Tuple[str, str], ...] = ()
    body: Optional[bytes] = None
    # Wait until the server passed this Mark before making the request.  The
    # core test waits *blocking the loop*, so the client cannot have seen what
    # the server did meanwhile: only what is in the kernel can tell it.
    after_mark: Optional[str] = None
    # Then let the client's loop run this long (0: make the request at once).
    settle: float = 0.0


# ------------------------------------------------------------------- outcomes
@dataclass(frozen=True)
class Ok:
    status: int
    body: BodyExpect = b""


@dataclass(frozen=True)
class Err:
    """An exception that is an instance of one of ``classes``."""

    classes: Tuple[type, ...]

    def __init__(self, *classes: type) -> None:
        object.__setattr__(self, "classes", tuple(classes))

    def __repr__(self) -> str:
        return "Err(" + " | ".join(c.__name__ for c in self.classes) + ")"


# One expected outcome, or a tuple of acceptable ones.
Outcome = Union[Ok, Err, Tuple[Union[Ok, Err], ...]]


@dataclass(frozen=True)
class Case:
    name: str
    family: str
    doc: str
    conns: Tuple[Script, ...]  # conns[i] for the i-th connection; the last repeats
    core: Tuple[Outcome, ...]  # one per request
    facade: Tuple[Outcome, ...]
    requests: Tuple[Req, ...] = (Req(),)
    tls: Optional[str] = None  # None, "good", "untrusted", "expired", "wrong_host", "plain"
    other: Optional[Tuple[Script, ...]] = None  # a second server, on 127.0.0.2
    timing: bool = False  # run with short deadlines
    server_requests: Optional[int] = None  # request heads the server must see (core)
    server_connections: Optional[int] = None  # connections the server must see (core: reuse)
    forbid: Tuple[bytes, ...] = ()  # never to reach any server (compared lower-cased)
    forbid_other: Tuple[bytes, ...] = ()  # never to reach the second server
    # Results that are not wrong data although an error is expected (a lenient
    # peer that returns them is noted, not blamed): one per request, or None.
    tolerable: Tuple[Optional[Ok], ...] = ()
    max_memory: Optional[int] = None  # core: peak traced bytes while streaming
    facade_max_memory: Optional[int] = None  # facade: peak traced bytes for the request
    peer_deadline: float = 4.0
    # The facade's expectation needs httplib2's policies (decoding, redirects).
    semantics: bool = False
    # A known facade deviation: its test is a strict xfail naming it, until fixed.
    facade_bug: str = ""
    # takes about a second or more: marked slow (docs/testing.rst)
    slow: bool = False

    def __post_init__(self) -> None:
        assert len(self.core) == len(self.requests) == len(self.facade), self.name


# --------------------------------------------------------- expected families
PROTO = Err(HttpProtocolError)
TOO_LONG = Err(HttpHeaderTooLong)
CLOSED = Err(HttpConnectionClosedError)
READ_TIMEOUT = Err(HttpReadTimeoutError)
HEAD_TIMEOUT = Err(HttpResponseHeadTimeoutError)
TLS_ERR = Err(HttpTlsError)
CONN_ERR = Err(HttpConnectionError)

F_BAD = Err(http.client.HTTPException)
F_TOO_LONG = Err(http.client.HTTPException)
F_CLOSED = Err(http.client.HTTPException, ConnectionError)
F_TIMEOUT = Err(TimeoutError)
F_TLS = Err(ssl.SSLError)
F_CONN = Err(OSError)
F_REDIRECT_LIMIT = Err(httplib2.RedirectLimit)


# ------------------------------------------------------------- byte helpers
def resp(body: bytes = b"ok", status: bytes = b"200 OK", extra: bytes = b"", version: bytes = b"HTTP/1.1") -> bytes:
    """A well-formed response with Content-Length (``extra``: more header lines)."""
    return b"%s %s\r\nContent-Length: %d\r\n%s\r\n%s" % (version, status, len(body), extra, body)


def head(status_line: bytes, *lines: bytes) -> bytes:
    return status_line + b"\r\n" + b"".join(line + b"\r\n" for line in lines) + b"\r\n"


def one(data: Union[bytes, Payload], *after: Step) -> Tuple[Script, ...]:
    """One connection: read a request, send ``data``, then ``after`` (default: close)."""
    return ((Recv(), Send(data)) + (after or (Close(),)),)


def chunked(*chunks: bytes, trailer: bytes = b"") -> bytes:
    return b"".join(b"%x\r\n%s\r\n" % (len(c), c) for c in chunks) + b"0\r\n" + trailer + b"\r\n"


OK_HEAD = b"HTTP/1.1 200 OK"
# What the server evidently meant: a lenient client that returns it is noted, not blamed
# (where a guess could change the framing or the status, nothing is tolerable).
LENIENT_OK = Ok(200, b"ok")
LENIENT_HELLO = Ok(200, b"hello")
SECOND = resp(b"second")  # the answer on a fresh connection
HOLD = Sleep(3.0)  # keep a connection open (ended early when the server stops)
TWO_GETS = (Req(), Req())


def fresh_after(first: Script) -> Tuple[Script, ...]:
    """The first connection plays ``first``; every later one answers ``second``."""
    return (first, (Recv(), Send(SECOND), Close()))


CASES: list[Case] = []


def case(
    name: str,
    family: str,
    doc: str,
    conns: Sequence[Script],
    core: Sequence[Outcome],
    facade: Optional[Sequence[Outcome]] = None,
    **kw: object,
) -> None:
    CASES.append(
        Case(
            name=name,
            family=family,
            doc=doc,
            conns=tuple(conns),
            core=tuple(core),
            facade=tuple(facade if facade is not None else _to_facade(core)),
            **kw,
        )
    )  # type: ignore[arg-type]


def _to_facade(core: Sequence[Outcome]) -> Tuple[Outcome, ...]:
    """The facade's usual counterpart of a core outcome (http.client's classes)."""

    def one(outcome: Union[Ok, Err]) -> Union[Ok, Err]:
        if isinstance(outcome, Ok):
            return outcome
        classes: list = []
        for cls in outcome.classes:
            for core_class, facade_classes in _FACADE_CLASSES:
                if issubclass(cls, core_class):
                    classes += [c for c in facade_classes if c not in classes]
                    break
        return Err(*classes)

    return tuple(tuple(one(o) for o in outcome) if isinstance(outcome, tuple) else one(outcome) for outcome in core)


# Most specific first.
_FACADE_CLASSES: Tuple[Tuple[type, Tuple[type, ...]], ...] = (
    (HttpResponseHeadTimeoutError, F_TIMEOUT.classes),
    (HttpReadTimeoutError, F_TIMEOUT.classes),
    (HttpHeaderTooLong, F_TOO_LONG.classes),
    (HttpProtocolError, F_BAD.classes),
    (HttpConnectionClosedError, F_CLOSED.classes),
    (HttpTlsError, F_TLS.classes),
    (HttpConnectionError, F_CONN.classes),
)


# ============================================================== status line
S = "status line"
case("status_missing", S, "headers without a status line", one(b"Content-Length: 2\r\n\r\nok"), [PROTO])
case("status_garbage", S, "a line of garbage", one(b"garbage garbage\r\n\r\n"), [PROTO])
case("status_http09", S, "an HTTP/0.9-style answer: the body alone, then close", one(b"<html>hello</html>"), [PROTO])
case("status_code_2_digits", S, "a two-digit code", one(head(b"HTTP/1.1 20 OK", b"Content-Length: 2") + b"ok"), [PROTO])
case(
    "status_code_4_digits",
    S,
    "HTTP/1.1 2000 (lowhaio read it as 200)",
    one(head(b"HTTP/1.1 2000 OK", b"Content-Length: 2") + b"ok"),
    [PROTO],
)
case(
    "status_code_letters",
    S,
    "letters in the code",
    one(head(b"HTTP/1.1 2OO OK", b"Content-Length: 2") + b"ok"),
    [PROTO],
)
case(
    "status_code_signed",
    S,
    "a sign before the code",
    one(head(b"HTTP/1.1 +200 OK", b"Content-Length: 2") + b"ok"),
    [PROTO],
    tolerable=(LENIENT_OK,),
)
case(
    "status_version_2",
    S,
    "HTTP/2.0 in an HTTP/1.1 status line",
    one(head(b"HTTP/2.0 200 OK", b"Content-Length: 2") + b"ok"),
    [PROTO],
    tolerable=(LENIENT_OK,),
)
case(
    "status_version_lowercase",
    S,
    "http/1.1: the version is case-sensitive",
    one(head(b"http/1.1 200 OK", b"Content-Length: 2") + b"ok"),
    [PROTO],
    tolerable=(LENIENT_OK,),
)
case(
    "status_version_garbage",
    S,
    "HTTP/1.x",
    one(head(b"HTTP/1.x 200 OK", b"Content-Length: 2") + b"ok"),
    [PROTO],
    tolerable=(LENIENT_OK,),
)
case(
    "status_double_space",
    S,
    "two spaces before the code",
    one(head(b"HTTP/1.1  200 OK", b"Content-Length: 2") + b"ok"),
    [PROTO],
    tolerable=(LENIENT_OK,),
)
case(
    "status_nul_in_reason",
    S,
    "a NUL in the reason phrase",
    one(head(b"HTTP/1.1 200 O\x00K", b"Content-Length: 2") + b"ok"),
    [PROTO],
    tolerable=(LENIENT_OK,),
)
case(
    "status_no_reason",
    S,
    "no reason phrase (common, unambiguous): accepted",
    one(head(b"HTTP/1.1 200", b"Content-Length: 2") + b"ok"),
    [Ok(200, b"ok")],
)
case(
    "status_lf_only",
    S,
    "bare LF line ends: refused (strict), never misread",
    one(b"HTTP/1.1 200 OK\nContent-Length: 2\n\nok"),
    [Err(HttpProtocolError, HttpConnectionClosedError)],
    tolerable=(Ok(200, b"ok"),),
)

# ============================================================= header lines
H = "header lines"
case(
    "header_no_colon",
    H,
    "a header line without a colon",
    one(head(OK_HEAD, b"X-Broken header", b"Content-Length: 2") + b"ok"),
    [PROTO],
    tolerable=(LENIENT_OK,),
)
case(
    "header_space_before_colon",
    H,
    "'Transfer-Encoding : chunked' (http.client drops what follows)",
    one(head(OK_HEAD, b"Transfer-Encoding : chunked", b"Content-Length: 2") + b"ok"),
    [PROTO],
)
case(
    "header_obs_fold",
    H,
    "an obs-fold continuation line: unfolded",
    one(head(OK_HEAD, b"X-Folded: one", b"  two", b"Content-Length: 2") + b"ok"),
    [Ok(200, b"ok")],
)
case(
    "header_fold_first",
    H,
    "a continuation line right after the status line (smuggling vector)",
    one(head(OK_HEAD, b" Content-Length: 5", b"Content-Length: 2") + b"ok"),
    [PROTO],
)
case(
    "header_nul",
    H,
    "a NUL in a header value",
    one(head(OK_HEAD, b"X-Nul: a\x00b", b"Content-Length: 2") + b"ok"),
    [PROTO],
    tolerable=(LENIENT_OK,),
)
case(
    "header_bare_cr",
    H,
    "a bare CR injecting a second header (http.client obeys it)",
    one(head(OK_HEAD, b"X-A: a\rContent-Length: 5", b"Content-Length: 2") + b"ok!!!"),
    [PROTO],
)
case(
    "header_bare_lf",
    H,
    "a bare LF inside the header block",
    one(head(OK_HEAD, b"X-A: 1\nContent-Length: 5", b"Content-Length: 2") + b"ok!!!"),
    [PROTO],
)
case(
    "header_ctl",
    H,
    "a control character in a header value",
    one(head(OK_HEAD, b"X-Ctl: a\x01b", b"Content-Length: 2") + b"ok"),
    [PROTO],
    tolerable=(LENIENT_OK,),
)
case(
    "header_name_space",
    H,
    "a space inside a header name",
    one(head(OK_HEAD, b"X Bad: 1", b"Content-Length: 2") + b"ok"),
    [PROTO],
    tolerable=(LENIENT_OK,),
)
case(
    "header_empty_name",
    H,
    "a line starting with a colon",
    one(head(OK_HEAD, b": nameless", b"Content-Length: 2") + b"ok"),
    [PROTO],
    tolerable=(LENIENT_OK,),
)
case(
    "header_obs_text",
    H,
    "obs-text (latin-1) in a value is allowed",
    one(head(OK_HEAD, b"X-Latin: caf\xe9", b"Content-Length: 2") + b"ok"),
    [Ok(200, b"ok")],
)
case(
    "header_line_too_long",
    H,
    "one 40 KiB header line",
    one(head(OK_HEAD, b"X-Long: " + b"a" * 40000, b"Content-Length: 2") + b"ok"),
    [TOO_LONG],
    tolerable=(LENIENT_OK,),
)
case(
    "header_too_many",
    H,
    "150 header lines",
    one(head(OK_HEAD, *[b"X-H%d: v" % i for i in range(150)], b"Content-Length: 2") + b"ok"),
    [TOO_LONG],
    tolerable=(LENIENT_OK,),
)
case(
    "header_endless",
    H,
    "headers that never end (no blank line), connection held open",
    ((Recv(), Send(OK_HEAD + b"\r\n" + b"X-More: yes\r\n" * 30000), HOLD),),
    [TOO_LONG],
)

# ================================================================== framing
F = "framing"
case(
    "cl_duplicate_same",
    F,
    "two identical Content-Length headers: one length",
    one(head(OK_HEAD, b"Content-Length: 2", b"Content-Length: 2") + b"ok"),
    [Ok(200, b"ok")],
)
case(
    "cl_conflicting",
    F,
    "two Content-Length headers that disagree",
    one(head(OK_HEAD, b"Content-Length: 2", b"Content-Length: 5") + b"ok!!!"),
    [PROTO],
)
case(
    "cl_list_conflicting", F, "'Content-Length: 2, 5'", one(head(OK_HEAD, b"Content-Length: 2, 5") + b"ok!!!"), [PROTO]
)
case(
    "cl_plus_sign",
    F,
    "'Content-Length: +2'",
    one(head(OK_HEAD, b"Content-Length: +2") + b"ok"),
    [PROTO],
    tolerable=(LENIENT_OK,),
)
case("cl_negative", F, "'Content-Length: -1'", one(head(OK_HEAD, b"Content-Length: -1") + b"ok"), [PROTO])
case("cl_inner_space", F, "'Content-Length: 1 2'", one(head(OK_HEAD, b"Content-Length: 1 2") + b"ok" * 6), [PROTO])
case("cl_hex", F, "'Content-Length: 0x2'", one(head(OK_HEAD, b"Content-Length: 0x2") + b"ok"), [PROTO])
case(
    "cl_huge", F, "a Content-Length of 30 digits", one(head(OK_HEAD, b"Content-Length: " + b"9" * 30) + b"ok"), [PROTO]
)
case(
    "cl_longer_than_body",
    F,
    "Content-Length 100, 3 bytes, then close",
    one(head(OK_HEAD, b"Content-Length: 100") + b"abc"),
    [CLOSED],
)
case(
    "extra_bytes_keep_alive",
    F,
    "bytes after the body on a keep-alive connection: never read as the next answer",
    fresh_after((Recv(), Send(resp(b"ok") + b"garbage after the body"), HOLD)),
    [Ok(200, b"ok"), Ok(200, b"second")],
    requests=TWO_GETS,
)
case(
    "extra_response_keep_alive",
    F,
    "a whole second response glued after the first (response splitting)",
    fresh_after((Recv(), Send(resp(b"ok") + resp(b"EVIL")), HOLD)),
    [Ok(200, b"ok"), Ok(200, b"second")],
    requests=TWO_GETS,
)
case(
    "te_and_cl",
    F,
    "chunked and Content-Length together: chunked wins, connection not reused",
    fresh_after(
        (
            Recv(),
            Send(head(OK_HEAD, b"Content-Length: 3", b"Transfer-Encoding: chunked") + chunked(b"hello")),
            Recv(),
            Send(resp(b"EVIL")),
            HOLD,
        )
    ),
    [Ok(200, b"hello"), Ok(200, b"second")],
    requests=TWO_GETS,
)
case(
    "te_gzip_chunked",
    F,
    "'Transfer-Encoding: gzip, chunked' (every peer returns the gzip bytes)",
    one(head(OK_HEAD, b"Transfer-Encoding: gzip, chunked") + chunked(gzip.compress(b"hello", mtime=0))),
    [PROTO],
)
case(
    "te_chunked_gzip",
    F,
    "'Transfer-Encoding: chunked, gzip': chunked not last",
    one(head(OK_HEAD, b"Transfer-Encoding: chunked, gzip") + chunked(b"hello")),
    [PROTO],
)
case("te_unknown", F, "an unknown transfer-coding", one(head(OK_HEAD, b"Transfer-Encoding: foo") + b"hello"), [PROTO])
case(
    "te_identity",
    F,
    "'Transfer-Encoding: identity' (removed from HTTP/1.1) with a length",
    one(head(OK_HEAD, b"Transfer-Encoding: identity", b"Content-Length: 5") + b"hello"),
    [PROTO],
    tolerable=(LENIENT_HELLO,),
)
case(
    "te_chunked_twice",
    F,
    "'Transfer-Encoding: chunked, chunked'",
    one(head(OK_HEAD, b"Transfer-Encoding: chunked, chunked") + chunked(b"hello")),
    [PROTO],
)
case(
    "te_in_http10",
    F,
    "Transfer-Encoding in HTTP/1.0 (RFC 9112 6.1): processed or refused, never reused",
    fresh_after(
        (
            Recv(),
            Send(
                head(b"HTTP/1.0 200 OK", b"Connection: keep-alive", b"Transfer-Encoding: chunked") + chunked(b"hello")
            ),
            Recv(),
            Send(resp(b"EVIL")),
            HOLD,
        )
    ),
    [(Ok(200, b"hello"), PROTO), Ok(200, b"second")],
    requests=TWO_GETS,
)
case(
    "chunk_size_garbage",
    F,
    "a chunk size that is not hex",
    one(head(OK_HEAD, b"Transfer-Encoding: chunked") + b"zz\r\nhello\r\n0\r\n\r\n"),
    [PROTO],
)
case(
    "chunk_size_overflow",
    F,
    "a 24-digit chunk size",
    one(head(OK_HEAD, b"Transfer-Encoding: chunked") + b"f" * 24 + b"\r\nhello\r\n0\r\n\r\n"),
    [PROTO],
)
case(
    "chunk_size_negative",
    F,
    "a negative chunk size",
    one(head(OK_HEAD, b"Transfer-Encoding: chunked") + b"-5\r\nhello\r\n0\r\n\r\n"),
    [PROTO],
)
case(
    "chunk_size_0x",
    F,
    "a chunk size with a 0x prefix",
    one(head(OK_HEAD, b"Transfer-Encoding: chunked") + b"0x5\r\nhello\r\n0\r\n\r\n"),
    [PROTO],
    tolerable=(LENIENT_HELLO,),
)
case(
    "chunk_size_leading_space",
    F,
    "whitespace before a chunk size",
    one(head(OK_HEAD, b"Transfer-Encoding: chunked") + b" 5\r\nhello\r\n0\r\n\r\n"),
    [PROTO],
    tolerable=(LENIENT_HELLO,),
)
case(
    "chunk_extensions",
    F,
    "chunk extensions are ignored",
    one(head(OK_HEAD, b"Transfer-Encoding: chunked") + b"5;name=value;x\r\nhello\r\n0;last\r\n\r\n"),
    [Ok(200, b"hello")],
)
case(
    "chunk_trailers",
    F,
    "trailers after the last chunk",
    one(head(OK_HEAD, b"Transfer-Encoding: chunked") + chunked(b"hel", b"lo", trailer=b"X-Sum: 1\r\n")),
    [Ok(200, b"hello")],
)
case(
    "chunk_missing_final_crlf",
    F,
    "the last chunk without the empty line, then close",
    one(head(OK_HEAD, b"Transfer-Encoding: chunked") + b"5\r\nhello\r\n0\r\n"),
    [CLOSED],
    tolerable=(Ok(200, b"hello"),),
)
case(
    "chunk_truncated",
    F,
    "chunk data cut short, then close",
    one(head(OK_HEAD, b"Transfer-Encoding: chunked") + b"10\r\nhello"),
    [CLOSED],
)
case(
    "chunk_data_too_long",
    F,
    "more chunk data than its size says",
    one(head(OK_HEAD, b"Transfer-Encoding: chunked") + b"2\r\nhello\r\n0\r\n\r\n"),
    [PROTO],
)
case(
    "chunk_size_line_too_long",
    F,
    "a 40 KiB chunk extension",
    one(head(OK_HEAD, b"Transfer-Encoding: chunked") + b"5;" + b"x" * 40000 + b"\r\nhello\r\n0\r\n\r\n"),
    [TOO_LONG],
    tolerable=(LENIENT_HELLO,),
)
case(
    "chunk_trailers_too_long",
    F,
    "40 KiB of trailers",
    one(head(OK_HEAD, b"Transfer-Encoding: chunked") + chunked(b"hello", trailer=b"X-T: " + b"t" * 40000 + b"\r\n")),
    [TOO_LONG],
    tolerable=(LENIENT_HELLO,),
)
case(
    "chunk_many_tiny",
    F,
    "50,000 one-byte chunks",
    one(head(OK_HEAD, b"Transfer-Encoding: chunked") + b"1\r\nx\r\n" * 50000 + b"0\r\n\r\n"),
    [Ok(200, b"x" * 50000)],
)
case(
    "http10_until_close",
    F,
    "HTTP/1.0 without a length: the body lasts until close",
    one(b"HTTP/1.0 200 OK\r\n\r\nuntil the end"),
    [Ok(200, b"until the end")],
)
case(
    "http11_until_close",
    F,
    "HTTP/1.1 without framing: read until close, not reused",
    one(b"HTTP/1.1 200 OK\r\n\r\nuntil the end"),
    [Ok(200, b"until the end")],
)

# =================================================== interim and bodiless
B = "interim and bodiless"
case(
    "interim_100",
    B,
    "100 Continue before the answer (lowhaio returned the 100)",
    one(head(b"HTTP/1.1 100 Continue") + resp(b"final")),
    [Ok(200, b"final")],
)
case(
    "interim_103",
    B,
    "103 Early Hints before the answer (http.client returns the 103)",
    one(head(b"HTTP/1.1 103 Early Hints", b"Link: </style.css>; rel=preload") + resp(b"final")),
    [Ok(200, b"final")],
)
case(
    "interim_several",
    B,
    "100, 103, 103, then the answer",
    one(
        head(b"HTTP/1.1 100 Continue")
        + head(b"HTTP/1.1 103 Early Hints", b"Link: </a>")
        + head(b"HTTP/1.1 103 Early Hints", b"Link: </b>")
        + resp(b"final")
    ),
    [Ok(200, b"final")],
)
case(
    "interim_endless",
    B,
    "an endless stream of 100 Continue",
    ((Recv(), Send(head(b"HTTP/1.1 100 Continue") * 2000), HOLD),),
    [PROTO],
)
case(
    "interim_101",
    B,
    "101 Switching Protocols nobody asked for",
    one(head(b"HTTP/1.1 101 Switching Protocols", b"Upgrade: evil") + resp(b"final")),
    [PROTO],
)
case(
    "no_content_with_body",
    B,
    "204 with a Content-Length and a body: no body, connection not reused",
    fresh_after((Recv(), Send(resp(b"hello", b"204 No Content")), HOLD)),
    [Ok(204, b""), Ok(200, b"second")],
    requests=TWO_GETS,
)
case(
    "no_content_chunked",
    B,
    "204 with chunked framing and a body",
    fresh_after(
        (Recv(), Send(head(b"HTTP/1.1 204 No Content", b"Transfer-Encoding: chunked") + chunked(b"hello")), HOLD)
    ),
    [Ok(204, b""), Ok(200, b"second")],
    requests=TWO_GETS,
)
case(
    "not_modified_with_length",
    B,
    "304 with Content-Length and no body (lowhaio hung): reused",
    (
        (Recv(), Send(head(b"HTTP/1.1 304 Not Modified", b"Content-Length: 100")), Recv(), Send(resp(b"again")), HOLD),
        (Recv(), Send(resp(b"again")), Close()),
    ),
    [Ok(304, b""), Ok(200, b"again")],
    requests=TWO_GETS,
    server_requests=2,
    server_connections=1,
)
case(
    "head_with_length",
    B,
    "HEAD answered with a Content-Length and no body: reused",
    (
        (Recv(), Send(head(OK_HEAD, b"Content-Length: 1000")), Recv(), Send(resp(b"after head")), HOLD),
        (Recv(), Send(resp(b"after head")), Close()),
    ),
    [Ok(200, b""), Ok(200, b"after head")],
    requests=(Req("HEAD"), Req()),
    server_requests=2,
    server_connections=1,
)
case(
    "head_with_chunked",
    B,
    "HEAD answered with chunked framing and no body: reused",
    (
        (Recv(), Send(head(OK_HEAD, b"Transfer-Encoding: chunked")), Recv(), Send(resp(b"after head")), HOLD),
        (Recv(), Send(resp(b"after head")), Close()),
    ),
    [Ok(200, b""), Ok(200, b"after head")],
    requests=(Req("HEAD"), Req()),
    server_connections=1,
)

# ======================================================== timing and faults
T = "timing and faults"
case("never_answers", T, "reads the request and never answers", ((Recv(), HOLD),), [READ_TIMEOUT], timing=True)
case(
    "stall_mid_body",
    T,
    "sends half the body and stalls",
    ((Recv(), Send(head(OK_HEAD, b"Content-Length: 10") + b"abcde"), HOLD),),
    [READ_TIMEOUT],
    timing=True,
)
case(
    "slowloris_head",
    T,
    "the head one byte every 50 ms: only a head deadline stops it",
    (
        (
            Recv(),
            SendSlowly(
                head(OK_HEAD, *[b"X-Slow-%d: %s" % (i, b"z" * 20) for i in range(40)], b"Content-Length: 2") + b"ok",
                0.05,
                1,
            ),
            HOLD,
        ),
    ),
    [HEAD_TIMEOUT],
    timing=True,
)
# Closed or reset right after the accept: either the connect already fails (nothing
# sent: HttpConnectError) or the request meets the closed connection.
ACCEPT_THEN_GONE = Err(HttpConnectionClosedError, HttpConnectionError)
case("close_after_accept", T, "closes as soon as the connection is accepted", ((Close(),),), [ACCEPT_THEN_GONE])
case("close_after_request", T, "reads the request, closes without a byte", ((Recv(), Close()),), [CLOSED])
case("rst_after_accept", T, "resets as soon as the connection is accepted", ((Rst(),),), [ACCEPT_THEN_GONE])
case(
    "rst_mid_headers",
    T,
    "resets in the middle of the head",
    ((Recv(), Send(b"HTTP/1.1 200 OK\r\nContent-Le"), Sleep(0.05), Rst()),),
    [CLOSED],
)
case(
    "rst_mid_body",
    T,
    "resets in the middle of the body",
    ((Recv(), Send(head(OK_HEAD, b"Content-Length: 100") + b"abcde"), Sleep(0.05), Rst()),),
    [CLOSED],
)
case("close_mid_headers", T, "closes in the middle of the head", one(b"HTTP/1.1 200 OK\r\nContent-Le"), [CLOSED])

# =============================================================== keep-alive
K = "keep-alive"
case(
    "idle_closed_settled",
    K,
    "the server closes an idle connection; the client notices before reusing",
    fresh_after((Recv(), Send(resp(b"ok")), Close(mark="closed"))),
    [Ok(200, b"ok"), Ok(200, b"second")],
    requests=(Req(), Req("POST", body=b"data", after_mark="closed", settle=0.05)),
    server_requests=2,
)
case(
    "idle_closed_immediate",
    K,
    "the server closed an idle connection just before the next request (POST)",
    fresh_after((Recv(), Send(resp(b"ok")), Close(mark="closed"))),
    [Ok(200, b"ok"), Ok(200, b"second")],
    requests=(Req(), Req("POST", body=b"data", after_mark="closed")),
    server_requests=2,
)
case(
    "idle_reset_immediate",
    K,
    "the server reset an idle connection just before the next request",
    fresh_after((Recv(), Send(resp(b"ok")), Rst(mark="reset"))),
    [Ok(200, b"ok"), Ok(200, b"second")],
    requests=(Req(), Req("POST", body=b"data", after_mark="reset")),
    server_requests=2,
)
case(
    "unsolicited_settled",
    K,
    "an unsolicited response pushed onto an idle connection is never read as an answer",
    fresh_after((Recv(), Send(resp(b"ok")), Sleep(0.02), Send(resp(b"EVIL")), Mark("pushed"), HOLD)),
    [Ok(200, b"ok"), Ok(200, b"second")],
    requests=(Req(), Req(after_mark="pushed", settle=0.05)),
    server_requests=2,
)
case(
    "unsolicited_immediate",
    K,
    "an unsolicited response pushed just before the next request is made",
    fresh_after((Recv(), Send(resp(b"ok")), Sleep(0.02), Send(resp(b"EVIL")), Mark("pushed"), HOLD)),
    [Ok(200, b"ok"), Ok(200, b"second")],
    requests=(Req(), Req(after_mark="pushed")),
    server_requests=2,
)
case(
    "connection_close_held",
    K,
    "'Connection: close' but the server keeps the socket open: not reused",
    fresh_after((Recv(), Send(resp(b"ok", extra=b"Connection: close\r\n")), Recv(), Send(resp(b"EVIL")), HOLD)),
    [Ok(200, b"ok"), Ok(200, b"second")],
    requests=TWO_GETS,
    server_requests=2,
)
case(
    "http10_keep_alive",
    K,
    "HTTP/1.0 with 'Connection: keep-alive' and a length: reused",
    (
        (
            Recv(),
            Send(resp(b"one", version=b"HTTP/1.0", extra=b"Connection: keep-alive\r\n")),
            Recv(),
            Send(resp(b"two", version=b"HTTP/1.0", extra=b"Connection: keep-alive\r\n")),
            HOLD,
        ),
        (Recv(), Send(resp(b"two", version=b"HTTP/1.0")), Close()),
    ),
    [Ok(200, b"one"), Ok(200, b"two")],
    requests=TWO_GETS,
    server_requests=2,
    server_connections=1,
)
case(
    "http10_not_kept",
    K,
    "HTTP/1.0 with a length but no keep-alive, socket held: not reused",
    fresh_after((Recv(), Send(resp(b"ok", version=b"HTTP/1.0")), Recv(), Send(resp(b"EVIL")), HOLD)),
    [Ok(200, b"ok"), Ok(200, b"second")],
    requests=TWO_GETS,
    server_requests=2,
)
case(
    "retry_idempotent_once",
    K,
    "a reused connection closed before any response byte: a GET is retried once",
    fresh_after((Recv(), Send(resp(b"ok")), Recv(), Close())),
    [Ok(200, b"ok"), Ok(200, b"second")],
    requests=TWO_GETS,
    server_requests=3,
)
case(
    "no_retry_post",
    K,
    "the same for a POST: never retried",
    fresh_after((Recv(), Send(resp(b"ok")), Recv(), Close())),
    [Ok(200, b"ok"), CLOSED],
    facade=[Ok(200, b"ok"), (F_CLOSED, Ok(200, b"second"))],
    requests=(Req(), Req("POST", body=b"data")),
    server_requests=2,
)
case(
    "retry_only_once",
    K,
    "the retry's fresh connection closes too: the error, no third try",
    ((Recv(), Send(resp(b"ok")), Recv(), Close()), (Recv(), Close())),
    [Ok(200, b"ok"), CLOSED],
    facade=[Ok(200, b"ok"), F_CLOSED],
    requests=TWO_GETS,
    server_requests=3,
)
case(
    "no_retry_after_bytes",
    K,
    "closed after part of the answer: never retried, even a GET",
    fresh_after((Recv(), Send(resp(b"ok")), Recv(), Send(b"HTTP/1.1 200 OK\r\nCont"), Close())),
    [Ok(200, b"ok"), CLOSED],
    facade=[Ok(200, b"ok"), (F_CLOSED, Ok(200, b"second"))],
    requests=TWO_GETS,
    server_requests=2,
)

# ------------------------------------------------------------------ more framing
case(
    "cl_max_digits_then_close",
    F,
    "an 18-digit Content-Length, 5 bytes, then close: nothing reserved for it",
    one(head(OK_HEAD, b"Content-Length: 999999999999999999") + b"hello"),
    [CLOSED],
)
case(
    "chunk_size_huge_then_close",
    F,
    "a chunk of 2**63-1 bytes announced, 5 sent, then close",
    one(head(OK_HEAD, b"Transfer-Encoding: chunked") + b"7fffffffffffffff\r\nhello"),
    [CLOSED],
)
case(
    "head_with_body_sent",
    B,
    "HEAD answered with a body anyway: no body, and its bytes never answer the next request",
    fresh_after((Recv(), Send(resp(b"hello")), HOLD)),
    [Ok(200, b""), Ok(200, b"second")],
    requests=(Req("HEAD"), Req()),
)
case(
    "interim_with_body",
    B,
    "a 100 Continue carrying a Content-Length and bytes: interim responses have no body",
    one(head(b"HTTP/1.1 100 Continue", b"Content-Length: 5") + b"hello" + resp(b"final")),
    [PROTO],
)
case(
    "early_response_during_upload",
    K,
    "the server answers 413 and closes while a 4 MiB upload is being sent",
    (
        (
            Recv(body=False),
            Send(resp(b"too large", b"413 Content Too Large", extra=b"Connection: close\r\n")),
            Sleep(0.1),
            Close(),
        ),
    ),
    [(Ok(413, b"too large"), CLOSED)],
    facade=[(Ok(413, b"too large"), F_CLOSED)],
    requests=(Req("POST", body=b"u" * (4 << 20)),),
)


# ===================================================================== size
Z = "size"
case(
    "body_100mb",
    Z,
    "a 100 MiB body: streamed by the core in constant memory",
    ((Recv(), Send(head(OK_HEAD, b"Content-Length: %d" % (BIG_BODY_MIB << 20))), StreamBody(BIG_BODY_MIB), Close()),),
    [Ok(200, _big_digest(BIG_BODY_MIB))],
    max_memory=8 << 20,
    peer_deadline=20.0,
)
case(
    "gzip_bomb",
    Z,
    "256 MiB of zeros as ~250 KiB of gzip: the core returns the bytes, the facade refuses",
    ((Recv(), Send(Payload("gzip_bomb_head")), Send(Payload("gzip_bomb")), Close()),),
    [Ok(200, Payload("gzip_bomb"))],
    facade=[Err(httplib2.decode.DecodeRatioError, httplib2.decode.DecodeLimitError)],
    # the facade decodes 64 KiB of input at a time (httplib2's limits), so it may
    # hold some 64 MiB (twice, while joining) before refusing, never the 256 MiB
    max_memory=8 << 20,
    facade_max_memory=192 << 20,
    peer_deadline=10.0,
    semantics=True,
    tolerable=(Ok(200, _zeros_digest(BOMB_MIB)),),
    slow=True,
)
case(
    "gzip_malformed",
    Z,
    "'Content-Encoding: gzip' on bytes that are not gzip",
    one(resp(b"this is not gzip at all", extra=b"Content-Encoding: gzip\r\n")),
    [Ok(200, b"this is not gzip at all")],
    facade=[Err(httplib2.FailedToDecompressContent)],
    semantics=True,
)
case(
    "gzip_valid",
    Z,
    "a valid gzip body: raw for the core, decoded by the facade",
    one(resp(_gzip_text(), extra=b"Content-Encoding: gzip\r\n")),
    [Ok(200, Payload("gzip_text"))],
    facade=[Ok(200, TEXT)],
    semantics=True,
)
case(
    "deflate_valid",
    Z,
    "a valid deflate (zlib) body",
    one(resp(_deflate_text(), extra=b"Content-Encoding: deflate\r\n")),
    [Ok(200, Payload("deflate_text"))],
    facade=[Ok(200, TEXT)],
    semantics=True,
)

# =========================================================== redirects (facade)
R = "redirects"


def _redirect(location: bytes, status: bytes = b"302 Found") -> bytes:
    return resp(b"moved", status, extra=b"Location: " + location + b"\r\nConnection: close\r\n")


case(
    "redirect_loop",
    R,
    "a redirect to itself, forever",
    ((Recv(), Send(_redirect(b"/loop")), Close()),),
    [Ok(302, b"moved")],
    facade=[F_REDIRECT_LIMIT],
    requests=(Req(path="/loop"),),
    semantics=True,
)
case(
    "redirect_chain_5",
    R,
    "five redirects, then the answer: followed",
    tuple((Recv(), Send(_redirect(b"/r%d" % (i + 1))), Close()) for i in range(5))
    + ((Recv(), Send(resp(b"end", extra=b"Connection: close\r\n")), Close()),),
    [Ok(302, b"moved")],
    facade=[Ok(200, b"end")],
    requests=(Req(path="/r0"),),
    semantics=True,
)
case(
    "redirect_chain_6",
    R,
    "six redirects: one more than httplib2's default limit",
    tuple((Recv(), Send(_redirect(b"/r%d" % (i + 1))), Close()) for i in range(6))
    + ((Recv(), Send(resp(b"end", extra=b"Connection: close\r\n")), Close()),),
    [Ok(302, b"moved")],
    facade=[F_REDIRECT_LIMIT],
    requests=(Req(path="/r0"),),
    tolerable=(Ok(200, b"end"),),
    semantics=True,
)
case(
    "redirect_location_encoded_crlf",
    R,
    "a Location with %0d%0a: followed, never decoded into the request",
    (
        (Recv(), Send(_redirect(b"/next%0d%0aX-Injected:%20yes")), Close()),
        (Recv(), Send(resp(b"landed", extra=b"Connection: close\r\n")), Close()),
    ),
    [Ok(302, b"moved")],
    facade=[Ok(200, b"landed")],
    forbid=(b"\r\nx-injected",),
    semantics=True,
)
case(
    "redirect_location_bare_cr",
    R,
    "a Location with a bare CR: a malformed header, never followed",
    ((Recv(), Send(_redirect(b"/next\rX-Injected: yes")), Close()),),
    [PROTO],
    forbid=(b"\r\nx-injected",),
)
case(
    "redirect_location_missing",
    R,
    "a 302 without Location",
    one(resp(b"moved", b"302 Found")),
    [Ok(302, b"moved")],
    facade=[Err(httplib2.RedirectMissingLocation)],
    semantics=True,
    tolerable=(Ok(302, b"moved"),),
)
case(
    "redirect_cross_host_auth",
    R,
    "a redirect to another host never carries Authorization",
    ((Recv(), Send(_redirect(b"http://{OTHER}/landing")), Close()),),
    [Ok(302, b"moved")],
    facade=[Ok(200, b"landed")],
    requests=(Req(headers=(("Authorization", "Bearer secret-token"),)),),
    other=((Recv(), Send(resp(b"landed", extra=b"Connection: close\r\n")), Close()),),
    forbid_other=(b"secret-token",),
    semantics=True,
)

case(
    "redirect_to_file",
    R,
    "a redirect to file:///etc/passwd: never read",
    one(_redirect(b"file:///etc/passwd")),
    [Ok(302, b"moved")],
    facade=[Err(httplib2.RelativeURIError)],
    semantics=True,
)
case(
    "redirect_to_ftp",
    R,
    "a redirect to ftp://: httplib2 raises KeyError('ftp') for an unknown scheme",
    one(_redirect(b"ftp://127.0.0.1/file")),
    [Ok(302, b"moved")],
    facade=[Err(KeyError)],
    semantics=True,
    tolerable=(Ok(302, b"moved"),),
)
case(
    "redirect_bad_host",
    R,
    "a redirect to a host name with a NUL (%00): httplib2 says ServerNotFoundError",
    one(_redirect(b"http://%00/")),
    [Ok(302, b"moved")],
    facade=[Err(httplib2.ServerNotFoundError)],
    semantics=True,
    tolerable=(Ok(302, b"moved"),),
)


# ====================================================================== TLS
L = "TLS"
case("tls_good", L, "a certificate from the trusted CA: works", one(resp(b"secure")), [Ok(200, b"secure")], tls="good")
case("tls_self_signed", L, "a certificate from a CA nobody trusts", one(resp(b"secure")), [TLS_ERR], tls="untrusted")
case("tls_expired", L, "an expired certificate", one(resp(b"secure")), [TLS_ERR], tls="expired")
case("tls_wrong_host", L, "a certificate for another host name", one(resp(b"secure")), [TLS_ERR], tls="wrong_host")
case(
    "tls_handshake_stall",
    L,
    "accepts, then never answers the TLS ClientHello: the connect deadline ends it",
    ((HOLD,),),
    [Err(HttpConnectTimeoutError)],
    facade=[F_TIMEOUT],
    tls="plain",
    timing=True,
)
case(
    "tls_plain_server",
    L,
    "an https URL answered in plain text",
    ((Sleep(0.05), Send(resp(b"plain")), Close()),),
    [CONN_ERR],
    facade=[F_CONN],
    tls="plain",
)


FAMILIES = list(dict.fromkeys(c.family for c in CASES))
_BY_NAME = {c.name: c for c in CASES}
assert len(_BY_NAME) == len(CASES), "duplicate case names"


def by_name(name: str) -> Case:
    return _BY_NAME[name]
