"""Unit tests of the httplib2 policy functions (asynchttp/_uri, _redirects, _auth, _cache,
_decode, _semantics helpers), each checked against httplib2's own helpers or behaviour."""

from __future__ import annotations

import asyncio
import errno
import gzip
import io
import random
import threading
import time
import types
import zlib
from http import client as http_client
from typing import Any

import httplib2
import pytest

from asynchttp import _auth, _cache, _decode, _redirects, _semantics, _uri
from asynchttp._semantics import run_httplib2_request
from asynchttp_lowhaio import (
    HttpConnectError,
    HttpConnectionClosedError,
    HttpProtocolError,
    HttpReadTimeoutError,
)
from tests.servers.script_server import Reply, ScriptServer

from ._transport import make_send_once

# ---------------------------------------------------------------- _uri


@pytest.mark.parametrize(
    "uri",
    [
        "http://Example.ORG:81/Path?q=1#frag",
        "HTTPS://host",
        "http://host/a b",
        "http://host/caf\u00e9?x=\u00e9",
        "http://host/?",
        "http://user:pw@host:8080/x",
    ],
)
def test_split_uri_matches_httplib2(uri: str) -> None:
    target = _uri.split_uri(uri)
    cleaned = httplib2.iri2uri(uri).replace(" ", "%20").replace("\r", "%0D").replace("\n", "%0A")
    assert target.uri == cleaned
    assert (target.scheme, target.authority, target.request_uri, target.defrag_uri) == httplib2.urlnorm(cleaned)


def test_split_uri_never_leaves_request_line_breakers() -> None:
    target = _uri.split_uri("http://host/a b\r\nX: y\n")
    assert not any(c in target.request_uri for c in " \r\n")


@pytest.mark.parametrize("uri", ["/only/path", "host/path", "//host/path", "http:/path"])
def test_split_uri_relative(uri: str) -> None:
    with pytest.raises(httplib2.RelativeURIError):
        _uri.split_uri(uri)


def test_check_scheme() -> None:
    _uri.check_scheme("http")
    _uri.check_scheme("https")
    with pytest.raises(KeyError) as info:
        _uri.check_scheme("ftp")
    assert info.value.args == ("ftp",)


@pytest.mark.parametrize(
    "location, expected",
    [
        ("/b", "http://h/b"),
        ("c", "http://h/a/c"),
        ("?q=2", "http://h/a/b?q=2"),
        ("http://other/x", "http://other/x"),
        ("//other/x", "//other/x"),  # has an authority: httplib2 keeps it as sent
        ("../up", "http://h/up"),
    ],
)
def test_resolve_location(location: str, expected: str) -> None:
    assert _uri.resolve_location("http://h/a/b?q=1", location) == expected


# ---------------------------------------------------------------- _redirects


def _http(**overrides: Any) -> types.SimpleNamespace:
    reference = httplib2.Http(proxy_info=None)
    attrs = {k: getattr(reference, k) for k in vars(reference)}
    attrs.update(overrides)
    return types.SimpleNamespace(**attrs)


@pytest.mark.parametrize("status", [300, 301, 302, 303, 307, 308, 200, 304, 305])
@pytest.mark.parametrize("method", ["GET", "HEAD", "POST", "PUT"])
@pytest.mark.parametrize("follow_all", [False, True])
def test_wants_redirect_rule(status: int, method: str, follow_all: bool) -> None:
    http = _http(follow_all_redirects=follow_all)
    safe = method in http.safe_methods
    expected = (follow_all or safe or status in (303, 308)) and status in httplib2.REDIRECT_CODES
    assert _redirects.wants_redirect(http, method, status) == expected


def test_follow_redirects_false_wins() -> None:
    http = _http(follow_redirects=False, follow_all_redirects=True)
    assert not any(_redirects.wants_redirect(http, "GET", s) for s in httplib2.REDIRECT_CODES)


def test_redirect_codes_set_arithmetic_is_honoured() -> None:
    http = _http()
    http.redirect_codes = http.redirect_codes - {308}
    assert not _redirects.wants_redirect(http, "GET", 308)
    assert _redirects.wants_redirect(http, "GET", 307)


@pytest.mark.parametrize(
    "status, method, expected",
    [
        (302, "POST", ("GET", None)),
        (303, "PUT", ("GET", None)),
        (301, "POST", ("POST", b"x")),
        (307, "POST", ("POST", b"x")),
        (308, "PATCH", ("PATCH", b"x")),
    ],
)
def test_redirect_method(status: int, method: str, expected: tuple) -> None:
    assert _redirects.redirect_method(status, method, b"x") == expected


def test_permanence_and_missing_location() -> None:
    http = _http()
    assert _redirects.is_permanent(http, "POST", 308)
    assert _redirects.is_permanent(http, "GET", 301)
    assert not _redirects.is_permanent(http, "POST", 301)
    assert not _redirects.is_permanent(http, "GET", 302)
    assert _redirects.missing_location(httplib2.Response({"status": "302"}))
    assert not _redirects.missing_location(httplib2.Response({"status": "300"}))
    assert not _redirects.missing_location(httplib2.Response({"status": "302", "location": "/x"}))


@pytest.mark.parametrize("forward", [False, True])
def test_strip_for_redirect(forward: bool) -> None:
    headers = {"if-none-match": "x", "if-modified-since": "y", "authorization": "z", "x-other": "1"}
    _redirects.strip_for_redirect(headers, forward)
    expected = {"x-other": "1", **({"authorization": "z"} if forward else {})}
    assert headers == expected


def test_cached_redirect_method() -> None:
    assert _redirects.cached_redirect_method("301", "POST") == "GET"
    assert _redirects.cached_redirect_method("308", "POST") == "POST"
    assert _redirects.cached_redirect_method("307", "PUT") == "PUT"


# ---------------------------------------------------------------- _auth


def _challenge(header: str) -> httplib2.Response:
    return httplib2.Response({"status": "401", "www-authenticate": header})


def test_preemptive_picks_deepest_in_scope() -> None:
    response = _challenge('Basic realm="r"')
    top = httplib2.BasicAuthentication(("u", "p"), "h:1", "/", {}, response, b"", None)
    deep = httplib2.BasicAuthentication(("u", "q"), "h:1", "/a/b/", {}, response, b"", None)
    other_host = httplib2.BasicAuthentication(("u", "r"), "h:2", "/a/b/", {}, response, b"", None)
    auths = [top, deep, other_host]
    assert _auth.preemptive_authorization(auths, "h:1", "/a/b/c") is deep
    assert _auth.preemptive_authorization(auths, "h:1", "/x") is top
    assert _auth.preemptive_authorization(auths, "h:3", "/x") is None
    assert _auth.preemptive_authorization([], "h:1", "/") is None


def test_challenge_order_and_domain_scope() -> None:
    http = _http(credentials=httplib2.Credentials())
    http.credentials.add("u", "p", "")
    http.credentials.add("v", "q", "elsewhere:80")
    response = _challenge('Basic realm="b", Digest realm="d", nonce="n", qop="auth"')
    made = list(_auth.authorizations_from_challenge(http, "h:1", "/", {}, response, b""))
    assert [type(a) for a in made] == [httplib2.DigestAuthentication, httplib2.BasicAuthentication]
    assert all(a.credentials == ("u", "p") for a in made)


def test_malformed_challenge_raises_without_credentials() -> None:
    http = _http(credentials=httplib2.Credentials())
    with pytest.raises(httplib2.MalformedHeader):
        _auth.authorizations_from_challenge(http, "h", "/", {}, _challenge("=broken"), b"")


def test_auth_objects_cannot_make_nested_requests() -> None:
    http = _http(credentials=httplib2.Credentials())
    http.credentials.add("u", "p", "")
    made = list(_auth.authorizations_from_challenge(http, "h", "/", {}, _challenge('Basic realm="r"'), b""))
    assert made[0].http.follow_redirects is True  # attributes read through
    with pytest.raises(_auth.NestedRequestError):
        made[0].http.request("http://elsewhere.test/")


def test_custom_scheme_nested_request_fails_instead_of_deadlocking(monkeypatch: Any) -> None:
    class Nested(httplib2.Authentication):
        def __init__(
            self, credentials: Any, host: str, request_uri: str, headers: dict, response: Any, content: bytes, http: Any
        ) -> None:
            super().__init__(credentials, host, request_uri, headers, response, content, http)
            http.request("http://127.0.0.1:9/token")  # would need the loop we are running on

    monkeypatch.setitem(httplib2.AUTH_SCHEME_CLASSES, "nested", Nested)
    monkeypatch.setattr(httplib2, "AUTH_SCHEME_ORDER", ["nested"] + httplib2.AUTH_SCHEME_ORDER)

    def handler(req: Any, state: dict) -> Reply:
        return Reply(401, [("WWW-Authenticate", 'Nested realm="x"')], b"")

    with ScriptServer({"/": handler}) as server:
        http = httplib2.Http(proxy_info=None)
        http.add_credentials("u", "p")
        with pytest.raises(_auth.NestedRequestError):
            asyncio.run(run_httplib2_request(http, make_send_once(http), server.base + "/"))
        assert len(server.log) == 1


def test_client_certificate_choice() -> None:
    http = _http(certificates=httplib2.KeyCerts())
    assert _auth.client_certificate(http, "h:443") is None
    http.certificates.add("k1", "c1", "other:443", None)
    http.certificates.add("k2", "c2", "h:443", "pw")
    http.certificates.add("k3", "c3", "", None)
    assert _auth.client_certificate(http, "h:443") == ("k2", "c2", "pw")
    assert _auth.client_certificate(http, "h") == ("k3", "c3", None)  # the port is part of the domain


# ---------------------------------------------------------------- _cache


def _stored(response_headers: dict, body: bytes, request_headers: dict | None = None) -> bytes:
    captured: dict = {}

    class Capture:
        def set(self, key: str, value: bytes) -> None:
            captured[key] = value

        def delete(self, key: str) -> None:
            captured.pop(key, None)

    httplib2._updateCache(request_headers or {}, httplib2.Response(response_headers), body, Capture(), "k")
    return captured["k"]


def test_parse_entry_round_trip_with_non_ascii() -> None:
    raw = _stored({"status": "200", "etag": '"e"', "x-name": "caf\u00e9"}, b"body\r\n\r\nwith separators")
    info, content = _cache.parse_entry(raw)
    assert content == b"body\r\n\r\nwith separators"
    assert info["etag"] == '"e"' and info["x-name"] == "caf\u00e9" and info["status"] == "200"


def test_parse_entry_corrupt() -> None:
    with pytest.raises(ValueError):
        _cache.parse_entry(b"no separator")


def test_vary_matches() -> None:
    info, _ = _cache.parse_entry(
        _stored({"status": "200", "vary": "Accept, X-Lang"}, b"", {"accept": "a", "x-lang": "en"})
    )
    assert _cache.vary_matches(info, {"accept": "a", "x-lang": "en"})
    assert not _cache.vary_matches(info, {"accept": "b", "x-lang": "en"})
    assert not _cache.vary_matches(info, {"accept": "a"})


def test_add_validators() -> None:
    info, _ = _cache.parse_entry(_stored({"status": "200", "etag": '"e"', "last-modified": "LM"}, b""))
    headers: dict = {}
    _cache.add_validators(info, headers, ignore_etag=False)
    assert headers == {"if-none-match": '"e"', "if-modified-since": "LM"}
    headers = {"if-none-match": "mine"}
    _cache.add_validators(info, headers, ignore_etag=False)
    assert headers["if-none-match"] == "mine"
    headers = {}
    _cache.add_validators(info, headers, ignore_etag=True)
    assert headers == {"if-modified-since": "LM"}


def test_merge_not_modified() -> None:
    info, _ = _cache.parse_entry(_stored({"status": "200", "etag": '"e"', "x-a": "old"}, b"b"))
    not_modified = httplib2.Response({"status": "304", "x-a": "new", "connection": "close", "keep-alive": "5"})
    not_modified._stale_digest = 1
    merged = _cache.merge_not_modified(info, not_modified)
    assert merged["x-a"] == "new" and merged["etag"] == '"e"'
    assert "keep-alive" not in merged  # hop-by-hop headers are not merged
    assert merged._stale_digest == 1


class RecordingCache:
    """A cache that records the threads it runs on and whether two calls ever overlapped."""

    def __init__(self) -> None:
        self.data: dict = {}
        self.threads: set = set()
        self.active = 0
        self.max_active = 0
        self.lock = threading.Lock()

    def _enter(self) -> None:
        with self.lock:
            self.threads.add(threading.current_thread().name)
            self.active += 1
            self.max_active = max(self.max_active, self.active)

    def _leave(self) -> None:
        with self.lock:
            self.active -= 1

    def get(self, key: str):
        self._enter()
        try:
            time.sleep(0.001)  # widen the window in which an overlap would show
            return self.data.get(key)
        finally:
            self._leave()

    def set(self, key: str, value: bytes) -> None:
        self._enter()
        try:
            time.sleep(0.001)
            self.data[key] = value
        finally:
            self._leave()

    def delete(self, key: str) -> None:
        self._enter()
        try:
            self.data.pop(key, None)
        finally:
            self._leave()


def test_cache_io_off_loop_and_serialised() -> None:
    cache = RecordingCache()

    async def main() -> str:
        loop_thread = threading.current_thread().name
        ops = []
        for i in range(30):
            ops.append(_cache.run_cache_io(cache, cache.set, "k%d" % (i % 3), b"v%d" % i))
            ops.append(_cache.lookup(cache, "k%d" % (i % 3)))
            ops.append(_cache.delete(cache, "k%d" % ((i + 1) % 3)))
        await asyncio.gather(*ops)
        return loop_thread

    loop_thread = asyncio.run(main())
    assert loop_thread not in cache.threads
    assert all(name.startswith("asynchttp-cache") for name in cache.threads)
    assert cache.max_active == 1
    assert _cache._cache_locks == {}  # nothing kept once idle


def test_cache_io_order_is_submission_order() -> None:
    cache = RecordingCache()

    async def main() -> list:
        await asyncio.gather(*[_cache.run_cache_io(cache, cache.set, "k", b"%d" % i) for i in range(20)])
        return [await _cache.run_cache_io(cache, cache.get, "k")]

    assert asyncio.run(main()) == [b"19"]


def test_concurrent_requests_for_one_url_never_corrupt_file_cache(tmp_path: Any) -> None:
    """40 requests for one URL at once; the server answers bodies of very different sizes.

    Every response a caller gets must be one complete body, and the entry left in
    the FileCache must parse and hold one complete body with its own headers.
    """
    bodies = [bytes([65 + i % 26]) * (1000 * (1 + (i * 7) % 40)) for i in range(40)]

    def handler(req: Any, state: dict) -> Reply:
        n = state.setdefault("n", 0)
        state["n"] = n + 1
        body = bodies[n % len(bodies)]
        return Reply(200, [("Content-Type", "text/plain"), ("X-Length", str(len(body)))], body)

    with ScriptServer({"/r": handler}) as server:
        http = httplib2.Http(cache=str(tmp_path / "cache"), proxy_info=None)
        send_once = make_send_once(http)

        async def main() -> list:
            return await asyncio.gather(*[run_httplib2_request(http, send_once, server.base + "/r") for _ in range(40)])

        results = asyncio.run(main())
        for response, content in results:
            assert content in bodies
            assert int(response["x-length"]) == len(content)
        raw = http.cache.get(server.base + "/r")
        info, content = _cache.parse_entry(raw)
        assert content in bodies and int(info["x-length"]) == len(content)


# ---------------------------------------------------------------- _decode


@pytest.mark.parametrize("size", [100, _decode.OFFLOAD_THRESHOLD * 4])
@pytest.mark.parametrize("coding", ["gzip", "deflate"])
def test_decode_async_equals_httplib2(size: int, coding: str) -> None:
    payload = random.Random(size).randbytes(size)  # incompressible: encoded size ~ size
    data = gzip.compress(payload, mtime=0) if coding == "gzip" else zlib.compress(payload)
    assert (len(data) >= _decode.OFFLOAD_THRESHOLD) == (size > 1000)  # both branches are taken
    ours = httplib2.Response({"status": "200", "content-encoding": coding})
    theirs = httplib2.Response({"status": "200", "content-encoding": coding})
    decoded = asyncio.run(_decode.decode_content_async(ours, data, {}))
    assert decoded == httplib2._decompressContent(theirs, data, {}) == payload
    assert dict(ours) == dict(theirs)


@pytest.mark.slow
def test_decode_async_large_errors_propagate() -> None:
    big_random = bytes((i * 7919) % 251 for i in range(_decode.OFFLOAD_THRESHOLD * 2))
    response = httplib2.Response({"status": "200", "content-encoding": "gzip"})
    with pytest.raises(httplib2.FailedToDecompressContent):
        asyncio.run(_decode.decode_content_async(response, big_random, {}))
    compressor = zlib.compressobj(9, zlib.DEFLATED, 31)  # gzip framing, built without 50 MiB in memory
    zeros = b"\0" * (1 << 20)
    bomb = b"".join(compressor.compress(zeros) for _ in range(100)) + compressor.flush()
    assert len(bomb) > _decode.OFFLOAD_THRESHOLD  # goes through the executor
    with pytest.raises(httplib2.decode.DecodeRatioError):
        asyncio.run(_decode.decode_content_async(httplib2.Response({"content-encoding": "gzip"}), bomb, {}))


def test_decode_leaves_unknown_codings() -> None:
    response = httplib2.Response({"status": "200", "content-encoding": "br"})
    assert not _decode.needs_decoding(response)
    assert asyncio.run(_decode.decode_content_async(response, b"raw", {})) == b"raw"
    assert response["content-encoding"] == "br"


# ---------------------------------------------------------------- _semantics helpers


def test_body_to_bytes() -> None:
    run = asyncio.run
    assert run(_semantics.body_to_bytes(None)) is None
    assert run(_semantics.body_to_bytes(b"x")) == b"x"
    assert run(_semantics.body_to_bytes(bytearray(b"ba"))) == b"ba"
    assert run(_semantics.body_to_bytes("caf\u00e9")) == b"caf\xe9"
    assert run(_semantics.body_to_bytes(io.BytesIO(b"file"))) == b"file"
    assert run(_semantics.body_to_bytes(io.StringIO("text"))) == b"text"
    assert run(_semantics.body_to_bytes([b"a", "b", b"c"])) == b"abc"
    with pytest.raises(UnicodeEncodeError) as info:
        run(_semantics.body_to_bytes("snow \u2603"))
    assert "Latin-1" in str(info.value)
    with pytest.raises(TypeError):
        run(_semantics.body_to_bytes(3.5))
    # the facade's conversion at the call is the same rule, run on the caller's thread
    assert _semantics.body_bytes(io.StringIO("text")) == b"text"
    assert _semantics.body_bytes(iter([b"a", "b"])) == b"ab"
    with pytest.raises(TypeError, match="not float"):
        _semantics.body_bytes(3.5)


def test_file_body_resent_after_redirect_is_what_is_left() -> None:
    body = io.BytesIO(b"once")

    async def twice() -> tuple:
        return await _semantics.body_to_bytes(body), await _semantics.body_to_bytes(body)

    assert asyncio.run(twice()) == (b"once", b"")


def _mapped(exc: BaseException, cause: BaseException) -> BaseException:
    exc.__cause__ = cause
    return exc


def test_retry_transient_connect_errors_while_attempts_remain() -> None:
    core = _mapped(HttpConnectError("unreachable"), OSError(errno.ENETUNREACH, "Network is unreachable"))
    exc = _mapped(OSError(errno.ENETUNREACH, "Network is unreachable"), core)
    assert _semantics.is_retryable_failure(exc, "POST", 1, 2, False) == "retry"
    assert _semantics.is_retryable_failure(exc, "POST", 2, 2, False) == "raise"


def test_refused_is_not_retried() -> None:
    core = _mapped(HttpConnectError("refused"), ConnectionRefusedError(errno.ECONNREFUSED, "refused"))
    exc = _mapped(ConnectionRefusedError(errno.ECONNREFUSED, "Connection refused"), core)
    assert _semantics.is_retryable_failure(exc, "GET", 1, 2, False) == "raise"


@pytest.mark.parametrize(
    "method, verdict", [("GET", "stale"), ("PUT", "stale"), ("DELETE", "stale"), ("POST", "raise"), ("PATCH", "raise")]
)
def test_stale_connection_retry_only_idempotent(method: str, verdict: str) -> None:
    exc = _mapped(http_client.RemoteDisconnected("closed"), HttpConnectionClosedError("closed before response"))
    assert _semantics.is_retryable_failure(exc, method, 1, 2, False) == verdict
    # once only, and only on the first attempt
    assert _semantics.is_retryable_failure(exc, method, 1, 2, True) == "raise"
    assert _semantics.is_retryable_failure(exc, method, 2, 2, False) == "raise"


def test_garbage_status_line_retried_like_httplib2_for_idempotent() -> None:
    exc = _mapped(http_client.BadStatusLine("NONSENSE"), HttpProtocolError("bad status line"))
    assert _semantics.is_retryable_failure(exc, "GET", 1, 2, False) == "stale"
    assert _semantics.is_retryable_failure(exc, "POST", 1, 2, False) == "raise"


def test_timeouts_never_retried() -> None:
    exc = _mapped(TimeoutError("timed out"), HttpReadTimeoutError("read timeout"))
    assert _semantics.is_retryable_failure(exc, "GET", 1, 2, False) == "raise"


def test_current_retries(monkeypatch: Any) -> None:
    """One setting: asynchttp.RETRIES is httplib2.RETRIES, whichever name is written."""
    import asynchttp

    monkeypatch.setattr(httplib2, "RETRIES", 5)
    assert _semantics.current_retries() == 5 == asynchttp.RETRIES
    monkeypatch.setattr(asynchttp, "RETRIES", 1)
    assert _semantics.current_retries() == 1 == httplib2.RETRIES


def test_default_user_agent_identifies_both() -> None:
    agent = _semantics.default_user_agent()
    assert agent.startswith("Python-httplib2/%s (gzip)" % httplib2.__version__)
    assert "asynchttp" in agent


@pytest.mark.parametrize(
    "exc, status, reason, content",
    [
        (
            httplib2.RelativeURIError("Only absolute URIs are allowed. uri = /x"),
            400,
            "Bad Request",
            b"Only absolute URIs are allowed. uri = /x",
        ),
        (KeyError("ftp"), 400, "Bad Request", b"'ftp'"),
        (TimeoutError("timed out"), 408, "Request Timeout", b"Request Timeout"),
    ],
)
def test_exception_to_response(exc: BaseException, status: int, reason: str, content: bytes) -> None:
    response, body = _semantics.exception_to_response(exc)
    assert (response.status, response.reason, body) == (status, reason, content)
    assert response["content-length"] == len(content)  # an int, as httplib2 leaves it
    assert response["content-type"] == "text/plain"


def test_exception_with_response_becomes_500() -> None:
    original = httplib2.Response({"status": "302"})
    exc = httplib2.RedirectLimit("Redirected more times than redirection_limit allows.", original, b"c")
    response, body = _semantics.exception_to_response(exc)
    assert response is original and response.status == 500 and response["status"] == "302"
    assert response.reason == str(exc) and body == b"c"


def _facade_wired() -> bool:
    import asynchttp._client

    return getattr(asynchttp._client, "_run_request", None) is run_httplib2_request


@pytest.mark.skipif(not _facade_wired(), reason="asynchttp._client does not route through _semantics yet")
def test_facade_concurrent_cached_requests_keep_cache_io_off_the_loop() -> None:
    """40 promises for one URL at once through asynchttp.Http: every cache call runs in a
    cache thread, never two at a time on the cache, and every caller gets a whole body."""
    import asynchttp

    cache = RecordingCache()
    bodies = [bytes([97 + i % 26]) * (500 * (1 + i % 9)) for i in range(40)]

    def handler(req: Any, state: dict) -> Reply:
        n = state.setdefault("n", 0)
        state["n"] = n + 1
        return Reply(200, [("ETag", '"%d"' % n)], bodies[n % len(bodies)])

    with ScriptServer({"/r": handler}) as server:
        http = asynchttp.Http(cache=cache, proxy_info=None)
        try:
            promises = [http.request(server.base + "/r") for _ in range(40)]
            for response, content in promises:
                assert response.status == 200 and bytes(content) in bodies
        finally:
            http.close()
    assert cache.threads and all(name.startswith("asynchttp-cache") for name in cache.threads)
    assert cache.max_active == 1
    info, content = _cache.parse_entry(cache.data[server.base + "/r"])
    assert content in bodies


def test_cache_truthiness_is_httplib2s_and_off_the_loop() -> None:
    class SizedCache(RecordingCache):
        def __len__(self) -> int:
            self._enter()
            try:
                return len(self.data)
            finally:
                self._leave()

    async def main() -> tuple:
        empty, filled = SizedCache(), SizedCache()
        filled.data["k"] = b"v"
        return (
            await _cache.is_enabled(None),
            await _cache.is_enabled(httplib2.FileCache.__new__(httplib2.FileCache)),
            await _cache.is_enabled(empty),
            await _cache.is_enabled(filled),
            empty.threads | filled.threads,
        )

    none, file_cache, empty, filled, threads = asyncio.run(main())
    assert (none, file_cache, empty, filled) == (False, True, False, True)
    assert threads and all(name.startswith("asynchttp-cache") for name in threads)
