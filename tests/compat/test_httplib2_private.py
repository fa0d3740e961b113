"""httplib2's private helpers, pinned through asynchttp._httplib2, their only door.

asynchttp's cache files, decoding limits, TLS contexts, header normalisation and
WWW-Authenticate parsing are httplib2's own because it calls these helpers.  Each test
pins the behaviour asynchttp relies on; the file runs on every httplib2 version
pyproject.toml allows (CI: the newest in the main run, the floor in its own venv), so a
release that changes one of them fails here, by name, not somewhere in a request.
"""

from __future__ import annotations

import email.utils
import gzip
import re
import ssl
import time
import zlib
from typing import Any, Optional

import httplib2
import pytest
from httplib2.decode import DecodeLimitError

from asynchttp import _httplib2


def _version(text: str) -> tuple[int, ...]:
    return tuple(int(part) for part in text.split("."))


def test_the_installed_httplib2_is_a_supported_one() -> None:
    low, high = re.fullmatch(r">=([0-9.]+),<([0-9.]+)", _httplib2.SUPPORTED).groups()  # type: ignore[union-attr]
    assert _version(low) <= _version(httplib2.__version__) < _version(high)


def test_pyproject_allows_exactly_the_supported_range() -> None:
    from pathlib import Path

    # Text, not tomllib: the suite also runs on Python 3.10.
    pyproject = (Path(__file__).resolve().parents[2] / "pyproject.toml").read_text(encoding="utf-8")
    assert '"httplib2%s"' % _httplib2.SUPPORTED in pyproject


# ---------------------------------------------------------------- headers


def test_normalize_headers() -> None:
    assert _httplib2.normalize_headers({b"X-Bytes": b"  v  ", "Content-Type": " text/plain "}) == {
        "x-bytes": "v",
        "content-type": "text/plain",
    }


def test_normalize_headers_takes_the_value_as_a_template() -> None:
    # httplib2 passes the value as re.sub's replacement: kept, as httplib2 users see it
    assert _httplib2.normalize_headers({"A": "a\\tb"}) == {"a": "a\tb"}
    with pytest.raises(re.error):
        _httplib2.normalize_headers({"A": "x\\1"})


def test_parse_cache_control() -> None:
    assert _httplib2.parse_cache_control({}) == {}
    assert _httplib2.parse_cache_control({"cache-control": "Max-Age=60, No-Store,private"}) == {
        "max-age": "60",
        "no-store": 1,
        "private": 1,
    }


def test_end2end_headers() -> None:
    response = httplib2.Response(
        {
            "status": "200",
            "connection": "keep-alive, x-hop",
            "keep-alive": "5",
            "x-hop": "1",
            "content-type": "text/plain",
            "transfer-encoding": "chunked",
            "etag": '"e"',
        }
    )
    assert sorted(_httplib2.end2end_headers(response)) == ["content-type", "etag", "status"]


# ---------------------------------------------------------------- cache freshness and storage


def _date(offset: float) -> str:
    # httplib2 judges against the real clock; every case is hours away from the
    # boundary (or decided by directives alone), so no test can straddle it
    return email.utils.formatdate(time.time() + offset, usegmt=True)


@pytest.mark.parametrize(
    "response_of, request_headers, expected",
    [
        (lambda: {"date": _date(0), "cache-control": "max-age=36000"}, {}, "FRESH"),
        (lambda: {"date": _date(0), "expires": _date(36000)}, {}, "FRESH"),
        (lambda: {"date": _date(-86400), "cache-control": "max-age=60"}, {}, "STALE"),
        (lambda: {"date": _date(0), "expires": _date(-36000)}, {}, "STALE"),
        (lambda: {"date": _date(0), "cache-control": "max-age=36000"}, {"cache-control": "no-cache"}, "TRANSPARENT"),
        (lambda: {"date": _date(0), "cache-control": "max-age=36000"}, {"pragma": "no-cache"}, "TRANSPARENT"),
        (lambda: {"date": _date(-86400), "cache-control": "max-age=60"}, {"cache-control": "only-if-cached"}, "FRESH"),
        (lambda: {"date": _date(0), "cache-control": "no-cache"}, {}, "STALE"),
        (lambda: {"date": _date(0), "cache-control": "max-age=36000"}, {"cache-control": "max-age=0"}, "STALE"),
    ],
)
def test_entry_disposition(response_of: Any, request_headers: dict[str, str], expected: str) -> None:
    assert _httplib2.entry_disposition(response_of(), request_headers) == expected


class _DictCache:
    """httplib2's cache interface (get/set/delete) over a dict."""

    def __init__(self) -> None:
        self.data: dict[str, bytes] = {}

    def get(self, key: str) -> Optional[bytes]:
        return self.data.get(key)

    def set(self, key: str, value: bytes) -> None:
        self.data[key] = value

    def delete(self, key: str) -> None:
        self.data.pop(key, None)


def test_update_cache_writes_httplib2s_format() -> None:
    cache = _DictCache()
    response = httplib2.Response(
        {
            "status": "200",
            "content-type": "text/plain",
            "vary": "Accept",
            "transfer-encoding": "chunked",
            "content-encoding": "gzip",
        }
    )
    _httplib2.update_cache({"accept": "text/*"}, response, b"body", cache, "k")
    head, _, body = cache.data["k"].partition(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    assert lines[0] == b"status: 200" and body == b"body"
    assert b"content-type: text/plain" in lines and b"-varied-accept: text/*" in lines
    assert not any(line.startswith((b"transfer-encoding", b"content-encoding")) for line in lines)


def test_update_cache_no_store_deletes_and_no_key_does_nothing() -> None:
    cache = _DictCache()
    cache.data["k"] = b"old"
    _httplib2.update_cache({}, httplib2.Response({"status": "200", "cache-control": "no-store"}), b"x", cache, "k")
    assert cache.data == {}
    _httplib2.update_cache({}, httplib2.Response({"status": "200"}), b"x", cache, None)
    assert cache.data == {}


def test_update_cache_stores_a_304_as_200() -> None:
    cache = _DictCache()
    _httplib2.update_cache({}, httplib2.Response({"status": "304", "etag": '"e"'}), b"x", cache, "k")
    assert cache.data["k"].startswith(b"status: 200\r\n")


# ---------------------------------------------------------------- decoding


PAYLOAD = b"the payload " * 100


@pytest.mark.parametrize(
    "coding, data",
    [
        ("gzip", gzip.compress(PAYLOAD)),
        ("deflate", zlib.compress(PAYLOAD)),
        ("deflate", zlib.compress(PAYLOAD)[2:-4]),  # raw deflate: the fallback
    ],
)
def test_decompress_content(coding: str, data: bytes) -> None:
    response = httplib2.Response({"status": "200", "content-encoding": coding, "content-length": str(len(data))})
    assert _httplib2.decompress_content(response, data, {}) == PAYLOAD
    assert response["content-length"] == str(len(PAYLOAD))
    assert response["-content-encoding"] == coding and "content-encoding" not in response


def test_decompress_content_leaves_other_codings_alone() -> None:
    response = httplib2.Response({"status": "200", "content-encoding": "br"})
    assert _httplib2.decompress_content(response, b"raw", {}) == b"raw"
    assert response["content-encoding"] == "br"


def test_decompress_content_failures_and_limits() -> None:
    with pytest.raises(httplib2.FailedToDecompressContent):
        _httplib2.decompress_content(httplib2.Response({"content-encoding": "gzip"}), b"not gzip", {})
    limits = httplib2.Http(decode_limit_hard=100).limit_kwargs  # the public knob's keywords
    with pytest.raises(DecodeLimitError):
        _httplib2.decompress_content(httplib2.Response({"content-encoding": "gzip"}), gzip.compress(PAYLOAD), limits)


# ---------------------------------------------------------------- TLS and authentication


def test_build_ssl_context(ca_bundle_path: str) -> None:
    verified = _httplib2.build_ssl_context(False, ca_bundle_path)
    assert verified.verify_mode == ssl.CERT_REQUIRED and verified.check_hostname
    assert len(verified.get_ca_certs()) == 1
    unverified = _httplib2.build_ssl_context(True, None, maximum_version="TLSv1_2", minimum_version="TLSv1_2")
    assert unverified.verify_mode == ssl.CERT_NONE and not unverified.check_hostname
    assert unverified.maximum_version == unverified.minimum_version == ssl.TLSVersion.TLSv1_2


def test_parse_www_authenticate() -> None:
    parsed: dict[str, Any] = _httplib2.parse_www_authenticate(
        {"www-authenticate": 'Basic realm="r1", Digest realm="r2", nonce="n", qop="auth"'}
    )
    assert parsed == {"basic": {"realm": "r1"}, "digest": {"realm": "r2", "nonce": "n", "qop": "auth"}}
    assert _httplib2.parse_www_authenticate({}) == {}
    assert _httplib2.parse_www_authenticate({"x-auth": "Basic realm=x"}, "x-auth") == {"basic": {"realm": "x"}}
    # lenient where it can be: an unterminated quote leaves a bare token
    assert _httplib2.parse_www_authenticate({"www-authenticate": 'Basic realm="open'}) == {"basic": {"token": "realm="}}
    with pytest.raises(httplib2.MalformedHeader):
        _httplib2.parse_www_authenticate({"www-authenticate": "=broken"})
