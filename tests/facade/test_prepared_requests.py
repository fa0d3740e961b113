"""The wire room's prepared requests (``_wire.prepared_request``): made and checked once
by the core, then found again for a request built from the same values; never for one
that differs, never for a file or iterable body, bounded.

What reaches the wire is compared with httplib2 byte for byte in tests/compat/test_wire.py
("sent again and varied"); here the memo itself is looked at, with no I/O.
"""

from __future__ import annotations

from typing import Any

import pytest

from asynchttp import _wire
from asynchttp._body import ChunkedBody
from asynchttp_lowhaio import HttpLocalError, Request

FIELDS = {"user-agent": "agent", "accept-encoding": "gzip, deflate"}


def prepare(memo: dict[Any, Request], uri: str = "/a", body: Any = None, **fields: str) -> tuple[Request, bool]:
    headers = dict(FIELDS, **fields)
    return _wire.prepared_request(memo, "http", "127.0.0.1:8080", uri, "POST", body, headers, b"HTTP/1.1")


def test_the_same_values_give_the_same_prepared_request_once_checked() -> None:
    memo: dict[Any, Request] = {}
    first, chunked = prepare(memo, body=b"abc")
    assert not chunked and len(memo) == 1
    assert first.head == (
        b"POST /a HTTP/1.1\r\nHost: 127.0.0.1:8080\r\nContent-Length: 3\r\n"
        b"user-agent: agent\r\naccept-encoding: gzip, deflate\r\n\r\n"
    )
    assert prepare(memo, body=b"xyz") == (first, False)  # same length: the same head
    assert prepare(memo, body=b"abcd")[0].head != first.head
    assert prepare(memo, body=b"abc", x_a="1")[0].head != first.head
    assert len(memo) == 3


def test_a_file_or_iterable_body_is_prepared_each_time() -> None:
    memo: dict[Any, Request] = {}
    body = ChunkedBody(b"abc")
    prepared, chunked = prepare(memo, body=body)
    assert chunked and b"Transfer-Encoding: chunked\r\n" in prepared.head and not memo
    again, _ = prepare(memo, body=body)
    assert again == prepared and again is not prepared and not memo


def test_the_memo_is_bounded() -> None:
    memo: dict[Any, Request] = {}
    for number in range(_wire.PREPARED_MAX):
        prepare(memo, "/%d" % number)
    assert len(memo) == _wire.PREPARED_MAX
    prepare(memo, "/one-more")
    assert len(memo) == 1


def test_errors_are_raised_every_time_and_nothing_is_kept() -> None:
    memo: dict[Any, Request] = {}
    for _ in range(2):
        with pytest.raises(HttpLocalError):
            prepare(memo, "/a b\x7f")
    assert not memo


def test_a_field_that_cannot_be_a_key_fails_as_it_would_without_the_memo() -> None:
    memo: dict[Any, Request] = {}
    headers: dict[str, Any] = dict(FIELDS, x_list=["a"])
    with pytest.raises(AttributeError):
        _wire.request_fields("http", "127.0.0.1:8080", "GET", None, headers, False)
    with pytest.raises(AttributeError):
        _wire.prepared_request(memo, "http", "127.0.0.1:8080", "/a", "GET", None, headers, b"HTTP/1.1")
    assert not memo
