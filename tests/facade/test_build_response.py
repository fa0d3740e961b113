"""``_wire.build_response``: the core's answer as httplib2 builds its ``Response``, in one
step. Checked against httplib2's own ``Response`` built from http.client's parse of the
same bytes (the way httplib2 builds it), for the rows the fast step cannot take too.
"""

from __future__ import annotations

import http.client
import io
from typing import Any

import httplib2

from asynchttp import _wire


class _Sock:
    def __init__(self, data: bytes) -> None:
        self._file = io.BytesIO(data)

    def makefile(self, *_: Any) -> io.BytesIO:
        return self._file


def httplib2_response(head: bytes) -> httplib2.Response:
    """httplib2's Response for a head, as httplib2 gets it (http.client parses it)."""
    raw = http.client.HTTPResponse(_Sock(head))  # type: ignore[arg-type]
    raw.begin()
    return httplib2.Response(raw)


def core_fields(head: bytes) -> tuple[tuple[bytes, bytes], ...]:
    """The (lower-cased name, value) pairs the core's parser gives for ``head``."""
    lines = head.split(b"\r\n")[1:-2]
    return tuple((name.lower(), value.strip(b" \t")) for name, value in (line.split(b":", 1) for line in lines))


def same(ours: httplib2.Response, theirs: httplib2.Response) -> None:
    assert dict(ours) == dict(theirs)
    assert (ours.status, ours.reason, ours.version) == (theirs.status, theirs.reason, theirs.version)


HEADS = [
    b"HTTP/1.1 200 OK\r\nServer: nginx\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n\r\n",
    b"HTTP/1.1 200 OK\r\nSet-Cookie: a=1\r\nX-B: 2\r\nSet-Cookie: b=2\r\nContent-Length: 0\r\n\r\n",
    b"HTTP/1.0 204 No Content\r\n\r\n",
    b"HTTP/1.1 404 Not Found\r\nX-Latin: caf\xe9\r\nContent-Length: 0\r\n\r\n",
]


def test_the_response_is_httplib2s_for_every_row() -> None:
    for head in HEADS:
        version = b"1.0" if head.startswith(b"HTTP/1.0") else b"1.1"
        code, reason = head.split(b"\r\n", 1)[0].split(b" ", 2)[1:]
        for _ in range(2):  # a row of names met before, and the first time
            same(_wire.build_response(code, core_fields(head), reason, version), httplib2_response(head))


def test_a_value_holding_the_separator_is_decoded_one_by_one() -> None:
    # (the core's parser never hands one over; the fast step must not split it anyway)
    response = _wire.build_response(b"200", ((b"x-a", b"one\ntwo"), (b"x-b", b"3")), b"OK", b"1.1")
    assert response["x-a"] == "one\ntwo" and response["x-b"] == "3"


def test_the_rows_of_names_kept_are_bounded() -> None:
    for number in range(_wire._KEY_ROWS_MAX + 1):
        _wire.build_response(b"200", ((b"x-row-%d" % number, b"1"),), b"OK", b"1.1")
    assert 1 <= len(_wire._key_rows) <= _wire._KEY_ROWS_MAX
    assert _wire.build_response(b"200", ((b"x-row-0", b"1"),), b"OK", b"1.1")["x-row-0"] == "1"
