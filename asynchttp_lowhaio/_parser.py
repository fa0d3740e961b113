"""The HTTP/1.1 response parser: bytes in, events out, no I/O.

One ``ResponseParser`` parses one response to one request.  ``feed(data)``
returns the events that ``data`` completes, in order:

- one ``ResponseHead`` (interim 1xx responses are skipped, never returned;
  a 101 is refused, as no upgrade is ever asked for),
- zero or more ``bytes`` objects: the body, de-chunked,
- one ``ResponseEnd`` (trailers, and whether the connection may be reused).

``feed_eof()`` tells the parser the peer closed; it returns the last events
or raises.  Every malformed input raises ``HttpProtocolError`` (or its
subclass ``HttpHeaderTooLong`` when a limit is crossed), and a response cut
short raises ``HttpConnectionClosedError``.  Nothing is buffered without a
bound: only the head, one chunk-size line and the trailers are ever held,
each under ``max_header_length``; body bytes are handed out as they come.

The grammar is RFC 9112's, strictly: a malformed status line or header line
is an error, never a guess.  Framing follows RFC 9112 section 6.3.  The
outcome never depends on how the input was cut into feeds: the same events,
or the same error class, whole or one byte at a time; a bad byte is reported
as soon as it arrives, not when the head or line completes.
"""

from __future__ import annotations

import re
from typing import Dict, List, Optional, Tuple, Union

from ._errors import HttpConnectionClosedError, HttpHeaderTooLong, HttpProtocolError
from ._rules import TOKEN as _TOKEN

__all__ = ["ResponseParser", "ResponseHead", "ResponseEnd", "Event"]

Headers = Tuple[Tuple[bytes, bytes], ...]

# status-line = HTTP-version SP status-code SP [ reason-phrase ]   (RFC 9112 4)
# HTTP-version = "HTTP/" DIGIT "." DIGIT; only 1.x is HTTP/1.  A missing SP
# after the code when there is no reason is common and unambiguous: accepted.
# reason-phrase = 1*( HTAB / SP / VCHAR / obs-text )
_STATUS_LINE = re.compile(rb"HTTP/1\.([0-9]) ([1-9][0-9]{2})(?: ([\t\x20-\x7e\x80-\xff]*))?")

# field-line = field-name ":" OWS field-value OWS              (RFC 9112 5)
# field-name = token; no whitespace is allowed before the colon (5.1).  Field
# lines are split with bytes methods, not one regex: a regex with optional
# whitespace on both sides of the value backtracks quadratically (cubically
# for obs-fold) on a hostile line of spaces.  (token: _rules.TOKEN)

# Every control byte but HTAB; CR and LF are allowed only as CRLF pairs, which
# ``_malformed`` checks by counting, so one C-level pass validates a whole head.
_CTL = bytes(range(0x09)) + bytes(range(0x0A, 0x20)) + b"\x7f"
# Valid field names seen so far, to their lower-cased form: most heads repeat
# a few names.  Bounded in count and name length, so a hostile server cannot grow it.
_NAMES: dict[bytes, bytes] = {}
_NAMES_MAX = 512

# chunk = chunk-size [ chunk-ext ] CRLF chunk-data CRLF       (RFC 9112 7.1)
# chunk-ext = *( BWS ";" BWS chunk-ext-name [ BWS "=" BWS chunk-ext-val ] );
# extensions are ignored, so their inside is only checked for control bytes.
# Whitespace after the size without an extension is outside the grammar but
# sent by real servers and unambiguous, so it is accepted (h11 does the same).
_CHUNK_LINE = re.compile(rb"([0-9A-Fa-f]+)[ \t]*(?:;[\t\x20-\x7e\x80-\xff]*)?")

_CONTENT_LENGTH = re.compile(rb"[0-9]+")
_FRAMING_FIELDS = frozenset((b"connection", b"transfer-encoding", b"content-length"))
_MAX_CONTENT_LENGTH_DIGITS = 18
_MAX_INTERIM_RESPONSES = 16

# States
_HEAD = 0
_BODY_LENGTH = 1
_BODY_CHUNK_SIZE = 2
_BODY_CHUNK_DATA = 3
_BODY_CHUNK_CRLF = 4
_TRAILERS = 5
_BODY_UNTIL_CLOSE = 6
_DONE = 7


def _malformed(block: bytes) -> bool:
    """True if ``block`` holds a control byte, or a CR or LF outside a CRLF pair."""
    # Each CRLF accounts for two deleted bytes; any other CR, LF or control
    # byte makes the count of deleted bytes exceed that.
    return len(block) - len(block.translate(None, _CTL)) != 2 * block.count(b"\r\n")


def _check_partial(buf: bytes, pos: int, stop: int, what: str) -> None:
    """Fail early on a malformed byte in an incomplete line or head.

    Only ``buf[pos:stop]`` is looked at (``stop`` is set by the caller so that
    the bytes examined do not depend on how the input was split), and a final
    CR is not judged yet: its LF may be in the next read.
    """
    window = buf[pos:stop]
    if window[-1:] == b"\r":
        window = window[:-1]
    if _malformed(window):
        raise HttpProtocolError(f"control byte, bare CR or bare LF in the {what}: {window[:100]!r}")


def _resume(buf: bytes, pos: int, scanned: int) -> int:
    """Where checking resumes in a partial line or head of which ``scanned`` bytes were checked.

    A final CR was left unjudged (its LF may follow), so it is looked at
    again; any other byte already checked is not.
    """
    if scanned and buf[pos + scanned - 1] == 0x0D:
        return pos + scanned - 1
    return pos + scanned


class ResponseHead:
    """The final response head.  ``headers`` keeps order and duplicates, names lower-cased."""

    __slots__ = ("version", "code", "status", "reason", "headers")

    def __init__(self, version: bytes, code: bytes, reason: bytes, headers: Headers) -> None:
        self.version = version
        self.code = code
        self.status = int(code)
        self.reason = reason
        self.headers = headers

    def __repr__(self) -> str:
        return f"<ResponseHead HTTP/{self.version.decode()} {self.status} {self.reason!r}>"


class ResponseEnd:
    """The end of the response: trailers, and whether the connection may carry another request.

    ``keep_alive`` can still turn False after the event was returned, if more
    bytes are fed: a response followed by stray bytes poisons the connection.
    """

    __slots__ = ("trailers", "keep_alive")

    def __init__(self, trailers: Headers, keep_alive: bool) -> None:
        self.trailers = trailers
        self.keep_alive = keep_alive

    def __repr__(self) -> str:
        return f"<ResponseEnd keep_alive={self.keep_alive} trailers={len(self.trailers)}>"


Event = Union[ResponseHead, bytes, ResponseEnd]


def _parse_fields(lines: List[bytes], max_count: int, what: str) -> Headers:
    """Field lines (already free of control bytes) to (lower-cased name, value) pairs.

    obs-fold continuation lines are unfolded into one SP, as RFC 9112 5.2
    asks of a user agent.
    """
    if len(lines) > max_count:
        raise HttpHeaderTooLong(f"more than {max_count} {what} fields")
    names = _NAMES
    try:
        # The common case in one comprehension: every name already known and
        # valid.  A line without a colon fails the unpacking, a new or invalid
        # name the lookup; either way the careful loop below decides.
        return tuple([(names[name], value.strip(b" \t")) for name, value in [line.split(b":", 1) for line in lines]])
    except (KeyError, ValueError):
        pass
    fields: List[Tuple[bytes, bytes]] = []
    for line in lines:
        name, colon, value = line.partition(b":")
        lowered = names.get(name) if colon else None
        if lowered is None:
            if colon and _TOKEN.fullmatch(name) is not None:
                lowered = name.lower()
                if len(names) < _NAMES_MAX and len(name) <= 64:
                    names[name] = lowered
            elif line[:1] in (b" ", b"\t") and fields:
                # obs-fold: the line continues the previous field's value.
                folded = line.strip(b" \t")
                if folded:
                    previous_name, previous = fields[-1]
                    fields[-1] = (previous_name, previous + b" " + folded if previous else folded)
                continue
            else:
                raise HttpProtocolError(f"malformed {what} line: {line[:100]!r}")
        fields.append((lowered, value.strip(b" \t")))
    return tuple(fields)


def _content_length(values: List[bytes]) -> int:
    """The Content-Length from its field values; several must agree (RFC 9110 8.6)."""
    if len(values) == 1:
        value = values[0]
        # bytes.isdigit() is ASCII-only: no sign, space or Unicode digit passes.
        if value.isdigit() and len(value) <= _MAX_CONTENT_LENGTH_DIGITS:
            return int(value)
    lengths = set()
    for value in values:
        for part in value.split(b","):
            part = part.strip(b" \t")
            if _CONTENT_LENGTH.fullmatch(part) is None or len(part) > _MAX_CONTENT_LENGTH_DIGITS:
                raise HttpProtocolError(f"invalid content-length: {value[:40]!r}")
            lengths.add(int(part))
    if len(lengths) != 1:
        raise HttpProtocolError(f"conflicting content-length values: {sorted(lengths)}")
    return lengths.pop()


def _tokens(values: List[bytes]) -> List[bytes]:
    """The comma-separated tokens of a list field, lower-cased, empty elements dropped."""
    if len(values) == 1 and b"," not in values[0]:
        # One value, one token, already stripped of OWS by _parse_fields.
        return [values[0].lower()] if values[0] else []
    parts = b",".join(values).lower().split(b",")
    return [token for token in [part.strip(b" \t") for part in parts] if token]


class ResponseParser:
    """Parses one HTTP/1.x response to a request made with ``method``."""

    __slots__ = (
        "_method_is_head",
        "_max_header_length",
        "_max_header_count",
        "_max_chunk_size_digits",
        "_buf",
        "_state",
        "_remaining",
        "_keep_alive",
        "_interim",
        "_trailer_lines",
        "_trailer_bytes",
        "_end",
        "_scanned",
        "received_any",
        "head",
    )

    def __init__(
        self,
        method: bytes = b"GET",
        *,
        max_header_length: int = 16384,
        max_header_count: int = 100,
        max_chunk_size_digits: int = 16,
    ) -> None:
        self._method_is_head = method == b"HEAD"
        self._max_header_length = max_header_length
        self._max_header_count = max_header_count
        self._max_chunk_size_digits = max_chunk_size_digits
        self._buf = b""
        self._state = _HEAD
        self._remaining = 0
        self._keep_alive = True
        self._interim = 0
        self._trailer_lines: List[bytes] = []
        self._trailer_bytes = 0
        self._end: Optional[ResponseEnd] = None
        # Bytes at the start of _buf already searched and checked, so a head
        # arriving in tiny reads is scanned once, not once per read.
        self._scanned = 0
        self.received_any = False
        self.head: Optional[ResponseHead] = None

    @property
    def done(self) -> bool:
        return self._state == _DONE

    @property
    def length_remaining(self) -> int:
        """Bytes still due of a Content-Length body; 0 when the body is framed otherwise or over."""
        return self._remaining if self._state == _BODY_LENGTH else 0

    def body_received(self, count: int) -> List[Event]:
        """``count`` bytes of a Content-Length body arrived outside ``feed``.

        The caller read them straight into a buffer of its own (no copy
        through the parser), never past ``length_remaining``; returns the
        ``ResponseEnd`` once the last byte is counted.
        """
        if self._state != _BODY_LENGTH or not 0 < count <= self._remaining:
            raise ValueError(f"{count} body bytes do not fit: {self.length_remaining} expected")
        self._remaining -= count
        events: List[Event] = []
        if not self._remaining:
            self._finish(events)
        return events

    # ------------------------------------------------------------------ feed
    def feed(self, data: bytes) -> List[Event]:
        """Parse ``data``; returns the events it completes."""
        if not data:
            return []
        self.received_any = True
        events: List[Event] = []
        buf = self._buf + data if self._buf else data
        self._buf = b""
        pos = 0
        end = len(buf)
        while pos < end:
            state = self._state
            if state == _BODY_LENGTH:
                take = min(self._remaining, end - pos)
                events.append(buf[pos : pos + take] if (pos or take != end) else buf)
                pos += take
                self._remaining -= take
                if not self._remaining:
                    self._finish(events)
            elif state == _BODY_UNTIL_CLOSE:
                events.append(buf[pos:] if pos else buf)
                pos = end
            elif state == _HEAD:
                pos = self._parse_head(buf, pos, events)
                if pos < 0:
                    return events
            elif state == _BODY_CHUNK_DATA:
                take = min(self._remaining, end - pos)
                events.append(buf[pos : pos + take])
                pos += take
                self._remaining -= take
                if not self._remaining:
                    self._state = _BODY_CHUNK_CRLF
            elif state == _BODY_CHUNK_SIZE:
                pos = self._parse_chunk_size(buf, pos)
                if pos < 0:
                    return events
            elif state == _BODY_CHUNK_CRLF:
                if end - pos < 2:
                    if buf[pos] != 0x0D:
                        raise HttpProtocolError("chunk data not followed by CRLF")
                    self._buf = buf[pos:]
                    return events
                if buf[pos : pos + 2] != b"\r\n":
                    raise HttpProtocolError("chunk data not followed by CRLF")
                pos += 2
                self._state = _BODY_CHUNK_SIZE
            elif state == _TRAILERS:
                pos = self._parse_trailer_line(buf, pos, events)
                if pos < 0:
                    return events
            else:
                # _DONE: bytes after the end of the response.  The end event
                # may already be in the caller's hands: it is the same object,
                # so the caller sees the connection must not be reused.
                self._keep_alive = False
                self._end.keep_alive = False  # type: ignore[union-attr]
                pos = end
        return events

    def feed_eof(self) -> List[Event]:
        """The peer closed the connection: finish a read-until-close body, or fail."""
        state = self._state
        if state == _BODY_UNTIL_CLOSE:
            self._keep_alive = False
            events: List[Event] = []
            self._finish(events)
            return events
        if state == _DONE:
            return []
        if state == _HEAD:
            if not self.received_any:
                raise HttpConnectionClosedError("connection closed before any response byte")
            raise HttpConnectionClosedError("connection closed in the middle of the response head")
        if state == _BODY_LENGTH:
            raise HttpConnectionClosedError(
                f"connection closed with {self._remaining} bytes of the body still expected"
            )
        raise HttpConnectionClosedError("connection closed in the middle of a chunked body")

    # ------------------------------------------------------------------ head
    def _parse_head(self, buf: bytes, pos: int, events: List[Event]) -> int:
        """Parse one head starting at ``pos``; returns the new position, or -1 for more data."""
        # Fail as soon as the first bytes cannot start a status line (an
        # HTTP/0.9-style answer, garbage), rather than waiting for a head.
        if not b"HTTP/".startswith(buf[pos : pos + 5]):
            raise HttpProtocolError(f"response does not start with a status line: {buf[pos : pos + 40]!r}")
        limit = self._max_header_length
        scanned = self._scanned
        self._scanned = 0
        terminator = buf.find(b"\r\n\r\n", pos + scanned - 3 if scanned > 3 else pos)
        # The early checks look at no more than limit + 3 bytes (a head of
        # ``limit`` bytes plus a partial terminator), so whole and split input
        # give the same error.
        if terminator < 0:
            end = len(buf)
            _check_partial(buf, _resume(buf, pos, scanned), min(end, pos + limit + 3), "response head")
            if end - pos > limit + 3:
                raise HttpHeaderTooLong(f"response head longer than {limit} bytes")
            self._buf = buf[pos:]
            self._scanned = end - pos
            return -1
        if terminator - pos > limit:
            _check_partial(buf, pos, pos + limit + 3, "response head")
            raise HttpHeaderTooLong(f"response head longer than {limit} bytes")
        block = buf[pos:terminator]
        if _malformed(block):
            raise HttpProtocolError(f"control byte, bare CR or bare LF in the response head: {block[:200]!r}")
        lines = block.split(b"\r\n")
        status = _STATUS_LINE.fullmatch(lines[0])
        if status is None:
            raise HttpProtocolError(f"malformed status line: {lines[0][:100]!r}")
        headers = _parse_fields(lines[1:], self._max_header_count, "header")
        code = status.group(2)
        next_pos = terminator + 4
        if code[0] == 0x31:  # 1xx: interim, no body
            if code == b"101":
                raise HttpProtocolError("unexpected 101 Switching Protocols: no upgrade was asked for")
            self._interim += 1
            if self._interim > _MAX_INTERIM_RESPONSES:
                raise HttpProtocolError(f"more than {_MAX_INTERIM_RESPONSES} interim responses")
            return next_pos
        head = ResponseHead(b"1." + status.group(1), code, status.group(3) or b"", headers)
        self.head = head
        events.append(head)
        self._start_body(head)
        if self._state == _DONE:
            self._finish(events)
        return next_pos

    def _start_body(self, head: ResponseHead) -> None:
        """Decide the body framing: RFC 9112 section 6.3, in its order."""
        found: Dict[bytes, List[bytes]] = {}
        for name, value in head.headers:
            if name in _FRAMING_FIELDS:
                found.setdefault(name, []).append(value)
        connection = found.get(b"connection")
        codings = found.get(b"transfer-encoding")
        lengths = found.get(b"content-length")
        if connection:
            options = _tokens(connection)
            if head.version == b"1.0":
                self._keep_alive = b"keep-alive" in options and b"close" not in options
            else:
                self._keep_alive = b"close" not in options
        elif head.version == b"1.0":
            self._keep_alive = False
        if codings and (lengths or head.version == b"1.0"):
            # Transfer-Encoding with Content-Length, or in HTTP/1.0, is a
            # smuggling or response-splitting sign (RFC 9112 6.1, 6.3 rule 3):
            # this response is read, the connection is never reused, even
            # when the response has no body.
            self._keep_alive = False
        status = head.status
        # 1. HEAD, 204 and 304 have no content, whatever their headers say.
        if self._method_is_head or status == 204 or status == 304:
            self._state = _DONE
            return
        if codings:
            # 3./4. Transfer-Encoding wins over Content-Length.  Codings other
            # than chunked are refused rather than handed out as the body.
            tokens = _tokens(codings)
            if tokens != [b"chunked"]:
                raise HttpProtocolError("unsupported transfer-coding: " + b", ".join(codings).decode("latin-1")[:100])
            self._state = _BODY_CHUNK_SIZE
            return
        if lengths:
            length = _content_length(lengths)
            self._remaining = length
            self._state = _BODY_LENGTH if length else _DONE
            return
        # 7. No framing: the body lasts until the server closes.
        self._keep_alive = False
        self._state = _BODY_UNTIL_CLOSE

    # --------------------------------------------------------------- chunked
    def _parse_chunk_size(self, buf: bytes, pos: int) -> int:
        scanned = self._scanned
        self._scanned = 0
        eol = buf.find(b"\r\n", pos + scanned - 1 if scanned else pos)
        limit = self._max_header_length
        if eol < 0:
            end = len(buf)
            _check_partial(buf, _resume(buf, pos, scanned), min(end, pos + limit + 1), "chunk-size line")
            if end - pos > limit + 1:
                raise HttpHeaderTooLong(f"chunk-size line longer than {limit} bytes")
            self._buf = buf[pos:]
            self._scanned = end - pos
            return -1
        if eol - pos > limit:
            _check_partial(buf, pos, pos + limit + 1, "chunk-size line")
            raise HttpHeaderTooLong(f"chunk-size line longer than {limit} bytes")
        line = buf[pos:eol]
        match = _CHUNK_LINE.fullmatch(line)
        if match is None:
            raise HttpProtocolError(f"invalid chunk-size line: {line[:40]!r}")
        digits = match.group(1)
        if len(digits.lstrip(b"0")) > self._max_chunk_size_digits:
            raise HttpProtocolError(f"chunk size too large: {digits[:40]!r}")
        size = int(digits, 16)
        if size:
            self._remaining = size
            self._state = _BODY_CHUNK_DATA
        else:
            self._state = _TRAILERS
        return eol + 2

    def _parse_trailer_line(self, buf: bytes, pos: int, events: List[Event]) -> int:
        scanned = self._scanned
        self._scanned = 0
        eol = buf.find(b"\r\n", pos + scanned - 1 if scanned else pos)
        if eol == pos:  # the empty line that ends the trailers: free of charge
            trailers = _parse_fields(self._trailer_lines, self._max_header_count, "trailer")
            self._trailer_lines = []
            self._finish(events, trailers)
            return eol + 2
        # Each trailer line costs its bytes plus CRLF against what is left.
        limit = self._max_header_length - self._trailer_bytes
        if eol < 0:
            end = len(buf)
            _check_partial(buf, _resume(buf, pos, scanned), min(end, pos + limit), "trailers")
            # A lone CR may still be the final empty line, so judge two bytes or more.
            if end - pos > max(limit - 1, 1):
                raise HttpHeaderTooLong(f"trailers longer than {self._max_header_length} bytes")
            self._buf = buf[pos:]
            self._scanned = end - pos
            return -1
        if eol - pos + 2 > limit:
            _check_partial(buf, pos, pos + limit, "trailers")
            raise HttpHeaderTooLong(f"trailers longer than {self._max_header_length} bytes")
        line = buf[pos:eol]
        if _malformed(line):
            raise HttpProtocolError(f"control byte, bare CR or bare LF in the trailers: {line[:100]!r}")
        self._trailer_lines.append(line)
        self._trailer_bytes += eol - pos + 2
        return eol + 2

    def _finish(self, events: List[Event], trailers: Headers = ()) -> None:
        self._state = _DONE
        end = ResponseEnd(trailers, self._keep_alive)
        self._end = end
        events.append(end)
