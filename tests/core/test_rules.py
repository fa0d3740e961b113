"""The rules written once in asynchttp_lowhaio._rules, and the places that must use them.

Each rule (token grammar, default ports, idempotent methods, credentials out of logged
URLs) has one definition; these tests pin its behaviour and check that the core's
parser, writer and pool use that definition, not a copy (tests/facade/test_threads.py
checks the facade's side).
"""

from __future__ import annotations

import pytest

from asynchttp_lowhaio import _parser, _pool, _rules, _writer


@pytest.mark.parametrize(
    "text, expected",
    [
        ("http://user:pw@example.org/p", "http://example.org/p"),
        ("https://u:p@ss@h:8443/?q=a@b#f@g", "https://h:8443/?q=a@b#f@g"),  # an "@" in the password
        ("http://h/path@not-userinfo", "http://h/path@not-userinfo"),
        ("http://h:1", "http://h:1"),
        ("no scheme", "no scheme"),
        ("refused 'http://a:b@h/x' then \"https://c:d@k\"", "refused 'http://h/x' then \"https://k\""),
    ],
)
def test_without_userinfo(text: str, expected: str) -> None:
    assert _rules.without_userinfo(text) == expected


def test_token_grammar_bytes_and_text_agree() -> None:
    for good in ("GET", "X-Custom_1", "!#$%&'*+-.^_`|~"):
        assert _rules.TOKEN.fullmatch(good.encode()) and _rules.TOKEN_TEXT.fullmatch(good)
    for bad in ("", "a b", "a:b", "a\r", "a\n", "caf\u00e9", "(x)"):
        assert _rules.TOKEN_TEXT.fullmatch(bad) is None
        assert _rules.TOKEN.fullmatch(bad.encode("utf-8")) is None


def test_core_modules_use_the_one_definition() -> None:
    assert _parser._TOKEN is _rules.TOKEN and _writer._TOKEN is _rules.TOKEN
    assert _writer._FIELD_VALUE is _rules.FIELD_VALUE and _writer._BAD_IN_VALUE is _rules.FIELD_VALUE_FORBIDDEN
    assert _writer._DEFAULT_PORTS is _rules.DEFAULT_PORTS
    assert _pool.IDEMPOTENT_METHODS is _rules.IDEMPOTENT_METHODS
    assert _rules.DEFAULT_PORTS == {"http": 80, "https": 443}
    assert b"POST" not in _rules.IDEMPOTENT_METHODS and b"PUT" in _rules.IDEMPOTENT_METHODS


def test_the_writer_logs_the_url_without_credentials() -> None:
    target = _writer.parse_url("http://user:secret@example.org:8080/a?b=1")
    assert target.log_url == "http://example.org:8080/a?b=1"


def test_field_value_grammar_bytes_and_text_agree() -> None:
    every_byte = bytes(range(256))
    forbidden = {bytes([b]) for b in every_byte if _rules.FIELD_VALUE_FORBIDDEN.search(bytes([b]))}
    assert forbidden == {bytes([b]) for b in [*range(0x09), *range(0x0A, 0x20), 0x7F]}
    for byte in every_byte:
        text = chr(byte)  # the same character, as a str sent as Latin-1
        assert bool(_rules.FIELD_VALUE_FORBIDDEN_TEXT.search(text)) == (bytes([byte]) in forbidden)
        assert bool(_rules.FIELD_VALUE.fullmatch(bytes([byte]))) == (bytes([byte]) not in forbidden)
    # beyond Latin-1 the grammar says nothing: encoding the value refuses it
    assert _rules.FIELD_VALUE_FORBIDDEN_TEXT.search("snow \u2603 \U0001f600") is None
