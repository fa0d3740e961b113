"""Whole generated responses, sent over a real socket in random pieces, against the core.

tests/core's parser tests feed bytes to the parser directly; this property goes
through everything instead: a ScriptedServer sends a generated response (interim
responses, status line, headers, Content-Length / chunked / until-close framing,
chunk sizes, extensions, trailers, obs-fold, a body) cut at random points with
short pauses, so the connection, the pool and the parser all meet the pieces as
TCP delivers them.  A model built alongside each response says what it must give:

- a valid response: exactly its status and body (a refusal fails too);
- a response with one known defect (bad version or code, broken header line,
  CTL in a value, conflicting or invalid Content-Length, unknown coding, bad
  chunk size, over-long header, a body cut short): an error of the right
  HttpError class, never data;

and never an exception outside HttpError, with traced memory bounded by a small
multiple of the response whatever lengths it declares.
"""

from __future__ import annotations

import asyncio
import socket
import threading
import time
import tracemalloc
from dataclasses import dataclass, field
from itertools import pairwise
from typing import Any, Iterator, List, Optional, Tuple

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from asynchttp_lowhaio import (
    HttpConnectionClosedError,
    HttpError,
    HttpHeaderTooLong,
    HttpProtocolError,
    Pool,
    empty_async_iterator,
)
from tests.servers import scripted
from tests.servers.scripted import ScriptedServer

MAX_HEADER_LENGTH = 4096
TOKEN_CHARS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-"
VALUE_CHARS = st.characters(min_codepoint=0x21, max_codepoint=0x7E)
RESERVED = {b"content-length", b"transfer-encoding", b"connection"}


@dataclass
class Generated:
    wire: bytes
    method: bytes
    status: int
    body: bytes
    error: Optional[type] = None  # the HttpError class a defect must raise
    defect: str = ""
    cuts: List[int] = field(default_factory=list)

    def pieces(self) -> List[bytes]:
        points = [0] + sorted({c for c in self.cuts if 0 < c < len(self.wire)}) + [len(self.wire)]
        return [self.wire[a:b] for a, b in pairwise(points)]


def _chunk(data: bytes, ext: bytes) -> bytes:
    return b"%x%s\r\n%s\r\n" % (len(data), ext, data)


@st.composite
def responses(draw: Any) -> Generated:
    method = draw(st.sampled_from([b"GET", b"GET", b"GET", b"HEAD"]))
    version = draw(st.sampled_from([b"1.1", b"1.1", b"1.0"]))
    status = draw(st.sampled_from([200, 201, 203, 206, 299, 301, 302, 400, 404, 418, 500, 503, 599, 204, 304]))
    reason = draw(st.text(alphabet=VALUE_CHARS, max_size=12)).encode()
    reason_part = draw(st.sampled_from([b" " + reason, b" " + reason, b"", b" "]))
    bodiless = method == b"HEAD" or status in (204, 304)
    body = draw(st.binary(max_size=3000))
    framing = draw(st.sampled_from(["length", "chunked", "close"] if version == b"1.1" else ["length", "close"]))

    # Headers the model does not care about (names never reserved), some folded.
    headers: List[bytes] = []
    for _ in range(draw(st.integers(0, 6))):
        name = draw(st.text(alphabet=TOKEN_CHARS, min_size=1, max_size=12)).encode()
        if name.lower() in RESERVED:
            name = b"x-" + name
        value = draw(st.text(alphabet=VALUE_CHARS, max_size=30)).encode()
        headers.append(name + b":" + draw(st.sampled_from([b" ", b"", b"\t"])) + value)
        if draw(st.integers(0, 9)) == 0:
            headers.append(b"  folded-" + value)  # obs-fold: allowed, joined to the value
    connection = draw(st.sampled_from([None, b"keep-alive", b"close"]))
    if connection:
        headers.append(b"Connection: " + connection)

    defect = draw(
        st.sampled_from(
            ["none"] * 6
            + [
                "version",
                "code",
                "no_colon",
                "space_colon",
                "ctl",
                "cl_conflict",
                "cl_invalid",
                "te_unknown",
                "chunk_size",
                "huge_header",
                "truncate",
                "cl_declared_huge",
            ]
        )
    )
    error: Optional[type] = None

    # Framing and body bytes.
    payload = b""
    if framing == "length":
        headers.append(b"Content-Length: %d" % len(body))
        if draw(st.booleans()):
            headers.append(b"Content-Length: %d" % len(body))  # duplicates that agree
        payload = body
    elif framing == "chunked":
        headers.append(b"Transfer-Encoding: chunked")
        cuts = sorted(set(draw(st.lists(st.integers(1, max(1, len(body))), max_size=5))))
        parts = [body[a:b] for a, b in pairwise([0, *cuts, len(body)]) if body[a:b]]
        ext = draw(st.sampled_from([b"", b"", b";x", b";name=value", b' ;q="s"']))
        payload = b"".join(_chunk(p, ext) for p in parts) + b"0\r\n"
        if draw(st.booleans()):
            payload += b"X-Trailer: " + draw(st.text(alphabet=VALUE_CHARS, max_size=20)).encode() + b"\r\n"
        payload += b"\r\n"
    else:
        payload = body  # until close

    # One defect at most, when it applies to this response.
    if defect == "version":
        version_text = draw(st.sampled_from([b"HTTP/2.0", b"HTTP/1.", b"HTTX/1.1", b"http/1.1", b"HTTP/11"]))
        error = HttpProtocolError
    else:
        version_text = b"HTTP/" + version
    code = b"%d" % status
    if defect == "code":
        code = draw(st.sampled_from([b"20", b"2000", b"2x0", b"-20", b"020", b"OK"]))
        error = HttpProtocolError
    elif defect == "no_colon":
        headers.insert(draw(st.integers(0, len(headers))), b"X-No-Colon value")
        error = HttpProtocolError
    elif defect == "space_colon":
        headers.insert(draw(st.integers(0, len(headers))), b"X-Space : value")
        error = HttpProtocolError
    elif defect == "ctl":
        bad = draw(st.sampled_from([b"\x00", b"\r", b"\x7f", b"\x01", b"\x1b"]))
        headers.insert(draw(st.integers(0, len(headers))), b"X-Ctl: a" + bad + b"b")
        error = HttpProtocolError
    elif defect == "huge_header":
        headers.append(b"X-Huge: " + b"h" * (MAX_HEADER_LENGTH + 100))
        error = HttpHeaderTooLong
    elif defect == "cl_conflict" and framing == "length" and not bodiless:
        headers.append(b"Content-Length: %d" % (len(body) + 1))
        error = HttpProtocolError
    elif defect == "cl_invalid" and framing == "length" and not bodiless:
        headers = [h for h in headers if not h.startswith(b"Content-Length")]
        headers.append(
            b"Content-Length: "
            + draw(st.sampled_from([b"+%d", b"%da", b"0x%d", b"-%d", b"%d %d"])).replace(b"%d", b"%d" % len(body))
        )
        error = HttpProtocolError
    elif defect == "te_unknown" and framing == "chunked" and not bodiless:
        headers = [h for h in headers if not h.startswith(b"Transfer-Encoding")]
        headers.append(b"Transfer-Encoding: " + draw(st.sampled_from([b"gzip, chunked", b"chunked, gzip", b"foo"])))
        error = HttpProtocolError
    elif defect == "chunk_size" and framing == "chunked" and not bodiless:
        payload = draw(st.sampled_from([b"g", b"-1", b"", b" 5", b"0x5", b"f" * 20])) + b"\r\n" + payload
        error = HttpProtocolError
    elif defect == "truncate" and framing in ("length", "chunked") and not bodiless and payload:
        payload = payload[: draw(st.integers(0, len(payload) - 1))]
        error = HttpConnectionClosedError
    elif defect == "cl_declared_huge" and framing == "length" and not bodiless:
        headers = [h for h in headers if not h.startswith(b"Content-Length")]
        headers.append(b"Content-Length: %d" % (10**15))
        error = HttpConnectionClosedError
    else:
        defect = "none"

    interim = b"".join(
        draw(
            st.lists(
                st.sampled_from(
                    [
                        b"HTTP/1.1 100 Continue\r\n\r\n",
                        b"HTTP/1.1 103 Early Hints\r\nLink: </a.css>; rel=preload\r\n\r\n",
                    ]
                ),
                max_size=2,
            )
        )
    )
    head = version_text + b" " + code + reason_part + b"\r\n" + b"".join(h + b"\r\n" for h in headers) + b"\r\n"
    wire = interim + head + payload
    generated = Generated(wire, method, status, b"" if bodiless else body, error, defect)
    generated.cuts = draw(st.lists(st.integers(1, max(1, len(wire) - 1)), max_size=8))
    return generated


class Feeder:
    """Serves the current example: one connection each, sent piece by piece, then closed."""

    def __init__(self) -> None:
        self.current: Optional[Generated] = None
        self.lock = threading.Lock()

    def send(self, sock: socket.socket) -> None:
        with self.lock:
            generated = self.current
        assert generated is not None
        sock.settimeout(5.0)
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except OSError:
            pass
        for index, piece in enumerate(generated.pieces()):
            if index:
                time.sleep(0.002)  # let each piece arrive as its own read
            try:
                sock.sendall(piece)
            except OSError:
                return  # the client gave up (an error it found early): fine


@pytest.fixture(scope="module")
def feeder() -> Iterator[Tuple[Feeder, ScriptedServer]]:
    feed = Feeder()
    server = ScriptedServer(
        [scripted.recv_head(timeout=5.0), scripted.call(feed.send), scripted.close()], lifetime=300.0
    ).start()
    try:
        yield feed, server
    finally:
        server.stop()


async def _fetch(url: str, method: bytes) -> Tuple[Optional[int], Optional[bytes], Optional[BaseException], int]:
    request, close = Pool(
        max_header_length=MAX_HEADER_LENGTH,
        max_header_count=50,
        socket_timeout=2.0,
        response_head_timeout=3.0,
        recv_bufsize=4096,
    )
    tracemalloc.reset_peak()
    base = tracemalloc.get_traced_memory()[0]
    try:
        try:
            code, _headers, body = await request(method, url, body=empty_async_iterator)
            chunks = [chunk async for chunk in body]
        except asyncio.CancelledError:
            raise
        except BaseException as exc:
            return None, None, exc, tracemalloc.get_traced_memory()[1] - base
        return int(code), b"".join(chunks), None, tracemalloc.get_traced_memory()[1] - base
    finally:
        await close()


@settings(
    max_examples=300,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.function_scoped_fixture],
)
@given(generated=responses())
@pytest.mark.slow
def test_generated_responses_through_a_socket(feeder: Tuple[Feeder, ScriptedServer], generated: Generated) -> None:
    feed, server = feeder
    event(f"defect={generated.defect}")
    with feed.lock:
        feed.current = generated
    tracemalloc.start()
    try:
        status, body, exc, peak = asyncio.run(asyncio.wait_for(_fetch(server.url("/fuzz"), generated.method), 20))
    finally:
        tracemalloc.stop()
    what = f"defect={generated.defect} pieces={len(generated.pieces())} wire={generated.wire[:300]!r}"
    if exc is not None:
        assert isinstance(exc, HttpError), f"{exc!r} is outside HttpError; {what}"
        assert generated.error is not None, f"a valid response refused with {exc!r}; {what}"
        assert isinstance(exc, generated.error), f"expected {generated.error.__name__}, got {exc!r}; {what}"
    else:
        assert generated.error is None, f"a defective response accepted as {status} {body[:60]!r}; {what}"
        assert (status, body) == (generated.status, generated.body), f"wrong answer {status} {body[:60]!r}; {what}"
    # Nothing the server declares (10**15 bytes, endless heads) makes the core hold
    # more than a small multiple of what actually arrived.
    # (asyncio itself reads into a 256 KiB buffer: the fixed part of the bound.)
    assert peak < (1 << 20) + 4 * len(generated.wire), f"traced memory peaked at {peak} bytes; {what}"
