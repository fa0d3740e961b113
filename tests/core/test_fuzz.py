"""Property tests of the response parser: hostile bytes, generated responses, h11 as an oracle.

Three properties:

- any bytes, cut anywhere, give events or an error of the documented family,
  never another exception, and the same outcome however they were cut;
- generated responses (interim heads, header lines, Content-Length, chunked
  with extensions and trailers, read-until-close) parse to what was
  generated, whole or split, while the parser never holds more than a head;
- on valid responses the parser agrees with h11 (a test-only oracle) on the
  status, headers, body and trailers.
"""

from __future__ import annotations

from itertools import pairwise
from typing import List, NamedTuple, Optional, Tuple

import h11
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from asynchttp_lowhaio._errors import HttpConnectionClosedError, HttpHeaderTooLong, HttpProtocolError
from asynchttp_lowhaio._parser import ResponseEnd, ResponseHead, ResponseParser

SETTINGS = settings(
    max_examples=200,
    deadline=None,
    database=None,  # nothing written into the source tree
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

Headers = Tuple[Tuple[bytes, bytes], ...]


def feed_all(parser: ResponseParser, pieces: List[bytes], eof: bool) -> tuple:
    """Feed ``pieces`` then EOF; the outcome is a tuple of events or ("error", class).

    Checks on the way that the parser's buffer never holds more than a head
    (plus a partial CRLFCRLF), whatever the feed sizes.
    """
    events: list = []
    bound = parser._max_header_length + 3
    try:
        for piece in pieces:
            events += parser.feed(piece)
            assert len(parser._buf) <= bound, (len(parser._buf), bound)
        if eof:
            events += parser.feed_eof()
    except (HttpProtocolError, HttpConnectionClosedError) as exc:
        # HttpHeaderTooLong is an HttpProtocolError; ConnectionClosed only from feed_eof.
        return ("error", type(exc))
    return normalise(events)


def normalise(events: list) -> tuple:
    """Events to comparable values, joining body pieces (their cut depends on the input's)."""
    if not events:
        return ("pending",)
    assert type(events[0]) is ResponseHead
    ends = [event for event in events if type(event) is ResponseEnd]
    assert len(ends) <= 1 and (not ends or events[-1] is ends[0])
    pieces = events[1:-1] if ends else events[1:]
    assert all(type(piece) is bytes and piece for piece in pieces)
    head = events[0]
    end = (ends[0].trailers, ends[0].keep_alive) if ends else None
    return ("response", head.version, head.code, head.reason, head.headers, b"".join(pieces), end)


def cut(data: bytes, points: List[int]) -> List[bytes]:
    bounds = [0, *sorted({point % (len(data) + 1) for point in points}), len(data)]
    return [data[a:b] for a, b in pairwise(bounds) if b > a]


# ------------------------------------------------- generated valid responses

TOKEN = "!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
FRAMING_NAMES = {b"content-length", b"transfer-encoding", b"connection"}
field_names = (
    st.text(alphabet=TOKEN, min_size=1, max_size=12)
    .map(str.encode)
    .filter(lambda name: name.lower() not in FRAMING_NAMES)
)
# field-content: visible bytes and obs-text, single inner spaces or tabs.
field_words = st.lists(
    st.binary(min_size=1, max_size=8).map(lambda raw: bytes(b % 94 + 0x21 if b < 0x80 else b for b in raw)),
    max_size=4,
)
separators = st.sampled_from([b"", b" ", b"  ", b"\t", b" \t"])


@st.composite
def field_line(draw: st.DrawFn) -> Tuple[bytes, bytes, bytes]:
    """(wire bytes of one field line, possibly folded; lower-cased name; expected value)."""
    name = draw(field_names)
    words = draw(field_words)
    value = b" ".join(words)
    wire = name + b":" + draw(separators) + value + draw(separators)
    if len(words) > 1 and draw(st.booleans()):
        # obs-fold: the second word starts a continuation line.
        first, rest = words[0], b" ".join(words[1:])
        wire = name + b":" + draw(separators) + first + b"\r\n" + draw(st.sampled_from([b" ", b"\t", b"  "])) + rest
    return wire + b"\r\n", name.lower(), value


class Generated(NamedTuple):
    wire: bytes
    method: bytes
    version: bytes
    code: bytes
    reason: bytes
    headers: Headers
    body: bytes
    trailers: Headers
    keep_alive: bool
    framing: str
    folded: bool


reasons = st.sampled_from([b"", b"OK", b"Not Found", b"Some  Reason\twith tab", b"D\xe9j\xe0 vu"])


@st.composite
def responses(draw: st.DrawFn, for_h11: bool = False) -> Generated:
    """A valid response; ``for_h11`` leaves out what h11 rejects though RFC 9112 allows it."""
    method = draw(st.sampled_from([b"GET", b"GET", b"POST", b"HEAD"]))
    wire = b""
    for _ in range(draw(st.integers(0, 2))):
        code = draw(st.sampled_from([b"100", b"102", b"103", b"199"]))
        wire += (
            b"HTTP/1.1 "
            + code
            + b" Info\r\n"
            + b"".join(line[0] for line in draw(st.lists(field_line(), max_size=2)))
            + b"\r\n"
        )
    version = draw(st.sampled_from([b"1.1", b"1.1", b"1.0"]))
    code = draw(st.sampled_from([b"200", b"201", b"204", b"206", b"301", b"304", b"404", b"500", b"599"]))
    reason = draw(reasons)
    status = b"HTTP/" + version + b" " + code + ((b" " + reason) if reason or draw(st.booleans()) else b"")
    lines = draw(st.lists(field_line(), max_size=6))
    headers = [(name, value) for _, name, value in lines]
    wire_lines = [line for line, _, _ in lines]
    folded = any(line.count(b"\r\n") > 1 for line in wire_lines)

    connection = draw(st.sampled_from([None, b"close", b"keep-alive", b"Keep-Alive", b"upgrade, close", b"x-other"]))
    if version == b"1.0":
        keep_alive = connection is not None and b"keep-alive" in connection.lower() and b"close" not in connection
    else:
        keep_alive = connection is None or b"close" not in connection
    if connection is not None:
        wire_lines.insert(draw(st.integers(0, len(wire_lines))), b"Connection: " + connection + b"\r\n")
        headers.insert(wire_lines.index(b"Connection: " + connection + b"\r\n"), (b"connection", connection))

    body = draw(st.binary(max_size=300))
    bodiless = method == b"HEAD" or code in (b"204", b"304")
    framing = draw(st.sampled_from(["length", "chunked", "close"]))
    if bodiless and framing == "close":
        framing = "length"
    trailers: List[Tuple[bytes, bytes]] = []
    tail = b""
    # h11 refuses the whitespace RFC 9112 allows before ";" (BWS).
    extensions = h11_chunk_extensions if for_h11 else chunk_extensions
    if framing == "length":
        framing_lines = [(b"Content-Length", b"%d" % len(body))]
        tail = b"" if bodiless else body
    elif framing == "chunked":
        framing_lines = [
            (
                draw(st.sampled_from([b"Transfer-Encoding", b"transfer-encoding"])),
                draw(st.sampled_from([b"chunked", b"Chunked"])),
            )
        ]
        if not for_h11 and draw(st.integers(0, 4)) == 0:
            # Both framings: chunked wins, the connection is not reused.
            framing_lines.append((b"Content-Length", b"%d" % draw(st.integers(0, 1000))))
            keep_alive = False
        if version == b"1.0":
            keep_alive = False
        if not bodiless:
            cuts = (
                sorted(set(draw(st.lists(st.integers(1, max(1, len(body) - 1)), max_size=5)))) if len(body) > 1 else []
            )
            bounds = [0, *cuts, len(body)]
            for a, b in pairwise(bounds):
                if b > a:
                    size = draw(st.sampled_from([b"%x", b"%X", b"00%x"])) % (b - a)
                    tail += size + draw(extensions) + b"\r\n" + body[a:b] + b"\r\n"
            tail += b"0" + draw(extensions) + b"\r\n"
            for line, name, value in draw(st.lists(field_line(), max_size=3)):
                tail += line
                trailers.append((name, value))
                folded = folded or line.count(b"\r\n") > 1
            tail += b"\r\n"
    else:
        framing_lines = []
        keep_alive = False
        tail = body
    for name, value in framing_lines:
        position = draw(st.integers(0, len(wire_lines)))
        wire_lines.insert(position, name + b": " + value + b"\r\n")
        headers.insert(position, (name.lower(), value))
    if bodiless:
        body = b""
    wire += status + b"\r\n" + b"".join(wire_lines) + b"\r\n" + tail
    return Generated(
        wire, method, version, code, reason, tuple(headers), body, tuple(trailers), keep_alive, framing, folded
    )


chunk_extensions = st.sampled_from([b"", b";a", b";a=b", b" ;a=b", b';n="v;x\\"y"', b";a=1;b=2", b"\t; a = b"])
h11_chunk_extensions = st.sampled_from([b"", b";a", b";a=b", b';n="v;x\\"y"', b";a=1;b=2", b"; a = b"])


@SETTINGS
@given(responses(), st.lists(st.integers(0, 10000), max_size=8))
@pytest.mark.slow
def test_generated_responses_parse_the_same_whole_and_split(generated: Generated, points: List[int]) -> None:
    whole = feed_all(ResponseParser(generated.method), [generated.wire], eof=True)
    split = feed_all(ResponseParser(generated.method), cut(generated.wire, points), eof=True)
    assert whole == split
    assert whole == (
        "response",
        generated.version,
        generated.code,
        generated.reason,
        generated.headers,
        generated.body,
        (generated.trailers, generated.keep_alive),
    ), generated.wire


@SETTINGS
@given(responses(), st.data())
@pytest.mark.slow
def test_generated_responses_bytewise_tail(generated: Generated, data: st.DataObject) -> None:
    # One byte at a time over a random stretch: every state sees a feed of one byte.
    start = data.draw(st.integers(0, len(generated.wire)))
    stop = data.draw(st.integers(start, min(len(generated.wire), start + 120)))
    pieces = (
        [generated.wire[:start]] + [generated.wire[i : i + 1] for i in range(start, stop)] + [generated.wire[stop:]]
    )
    split = feed_all(ResponseParser(generated.method), [piece for piece in pieces if piece], eof=True)
    assert split == feed_all(ResponseParser(generated.method), [generated.wire], eof=True)


# ---------------------------------------------------------------- any bytes

prefixes = st.sampled_from(
    [
        b"",
        b"HTTP/1.1 200 OK\r\n",
        b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n",
        b"HTTP/1.1 100 Continue\r\n\r\n",
        b"HTTP/1.0 200 OK\r\n\r\n",
    ]
)
# Bytes that matter to the grammar, so random strings hit the parser's branches.
alphabet = st.sampled_from(
    list(b"\r\n\r\n:; \t0123456789abcdefABCDEFHTP/.,\x00\x7f\x80\xff")
    + [b"chunked", b"Content-Length: ", b"\r\n\r\n", b"HTTP/1.1 "]
)
grammar_bytes = st.lists(alphabet, max_size=60).map(
    lambda items: b"".join(item if isinstance(item, bytes) else bytes([item]) for item in items)
)


@st.composite
def mutated(draw: st.DrawFn) -> bytes:
    """A generated response with a few bytes flipped, inserted or deleted."""
    data = bytearray(draw(responses()).wire)
    for _ in range(draw(st.integers(1, 4))):
        position = draw(st.integers(0, len(data)))
        action = draw(st.sampled_from(["flip", "insert", "delete"]))
        byte = draw(st.sampled_from(list(b"\r\n\x00 :;\t0aZ\x7f\xff")))
        if action == "insert" or position == len(data):
            data[position:position] = bytes([byte])
        elif action == "flip":
            data[position] = byte
        else:
            del data[position]
    return bytes(data)


hostile = st.one_of(st.binary(max_size=200), st.tuples(prefixes, grammar_bytes).map(b"".join), mutated())


@SETTINGS
@given(
    hostile,
    st.lists(st.integers(0, 10000), max_size=8),
    st.sampled_from([b"GET", b"HEAD"]),
    st.sampled_from([24, 64, 16384]),
    st.booleans(),
)
@pytest.mark.slow
def test_any_bytes_give_events_or_a_documented_error(
    data: bytes, points: List[int], method: bytes, limit: int, eof: bool
) -> None:
    limits = dict(max_header_length=limit, max_header_count=4, max_chunk_size_digits=4)
    whole = feed_all(ResponseParser(method, **limits), [data], eof)
    split = feed_all(ResponseParser(method, **limits), cut(data, points), eof)
    bytewise = feed_all(ResponseParser(method, **limits), [data[i : i + 1] for i in range(len(data))], eof)
    # Any other exception escapes feed_all and fails the test; the three cuts must agree.
    assert whole == split == bytewise
    if whole[0] == "error" and whole[1] is HttpConnectionClosedError:
        assert eof


def test_error_family_is_what_feed_all_catches() -> None:
    assert issubclass(HttpHeaderTooLong, HttpProtocolError)
    assert feed_all(ResponseParser(b"GET"), [b"HTTP/1.1 200 OK\r\n\r\n"], eof=False) == (
        "response",
        b"1.1",
        b"200",
        b"OK",
        (),
        b"",
        None,
    )


# --------------------------------------------------------- h11 as an oracle


def h11_parse(wire: bytes, method: bytes) -> tuple:
    """What h11, as a client that sent ``method``, makes of ``wire`` followed by EOF."""
    conn = h11.Connection(h11.CLIENT)
    conn.send(h11.Request(method=method, target="/", headers=[("Host", "example")]))
    conn.send(h11.EndOfMessage())
    conn.receive_data(wire)
    conn.receive_data(b"")
    head: Optional[h11.Response] = None
    body = b""
    while True:
        event = conn.next_event()
        if isinstance(event, h11.InformationalResponse):
            continue
        if isinstance(event, h11.Response):
            head = event
        elif isinstance(event, h11.Data):
            body += event.data
        elif isinstance(event, h11.EndOfMessage):
            assert head is not None
            return (
                head.http_version,
                b"%d" % head.status_code,
                head.reason,
                tuple(head.headers),
                body,
                tuple(event.headers),
            )
        else:  # pragma: no cover - a valid response always ends
            raise AssertionError(f"h11 stopped at {event!r}")


@SETTINGS
@given(responses(for_h11=True))
@pytest.mark.slow
def test_agrees_with_h11(generated: Generated) -> None:
    ours = feed_all(ResponseParser(generated.method), [generated.wire], eof=True)
    assert ours[0] == "response", ours
    _, version, code, reason, headers, body, (trailers, _) = ours
    assert (version, code, reason, h11_normalised(headers), body, trailers) == h11_parse(
        generated.wire, generated.method
    )


def h11_normalised(headers: Headers) -> Headers:
    # h11 lower-cases the value of Transfer-Encoding; we keep values as sent.
    return tuple((name, value.lower() if name == b"transfer-encoding" else value) for name, value in headers)


@pytest.mark.parametrize(
    "wire",
    [
        b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nX-A: a\r\n  b\r\n\r\nhello",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5;x=y\r\nhello\r\n0\r\nX-T: 1\r\n\r\n",
        b"HTTP/1.0 404 Not Found\r\n\r\nuntil close",
    ],
)
def test_agrees_with_h11_on_known_responses(wire: bytes) -> None:
    ours = feed_all(ResponseParser(b"GET"), [wire], eof=True)
    _, version, code, reason, headers, body, (trailers, _) = ours
    assert (version, code, reason, headers, body, trailers) == h11_parse(wire, b"GET")
