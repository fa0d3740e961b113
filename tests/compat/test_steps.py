"""The named steps of httplib2's request flow in asynchttp/_semantics.py, one at a time.

``_run_hop`` strings them together (prepare_request, look_up_cache, answer_from_cache
or send_and_conclude = send_with_auth then follow_redirect or store_answer); here each
is called alone, over a real local server where it does I/O (``make_send_once``: one
plain connection per request) and a real httplib2 ``FileCache``.
"""

from __future__ import annotations

import asyncio
import base64
from pathlib import Path
from typing import Any

import httplib2
import pytest

from asynchttp import _cache, _semantics, _uri
from tests.servers.script_server import Reply, Request, ScriptServer

from ._transport import make_send_once


def _run(coro: Any) -> Any:
    return asyncio.run(asyncio.wait_for(coro, 10))


async def _must_not_send(*args: Any) -> Any:
    raise AssertionError("this step must not send: %r" % (args,))


# ---------------------------------------------------------------- prepare_request (pure)


def test_prepare_request_normalises_and_adds_httplib2_defaults() -> None:
    http = httplib2.Http(proxy_info=None)
    fields, target = _semantics.prepare_request(http, "HTTP://Example.ORG/a b?q#f", {"X-One": " 1 "}, None)
    assert fields == {
        "x-one": "1",
        "user-agent": _semantics.default_user_agent(),
        "accept-encoding": "gzip, deflate",
    }
    assert fields == dict(
        httplib2._normalize_headers({"X-One": " 1 "}),
        **{
            "user-agent": _semantics.default_user_agent(),
            "accept-encoding": "gzip, deflate",
        },
    )
    assert target == _uri.split_uri("HTTP://Example.ORG/a b?q#f")
    assert (target.scheme, target.authority, target.request_uri) == ("http", "example.org", "/a%20b?q")


def test_prepare_request_keeps_the_callers_choices() -> None:
    http = httplib2.Http(proxy_info=None)
    fields, _ = _semantics.prepare_request(http, "http://h/", {"User-Agent": "mine", "Range": "bytes=0-1"}, None)
    assert fields == {"user-agent": "mine", "range": "bytes=0-1"}  # no Accept-Encoding with a Range
    fields, _ = _semantics.prepare_request(http, "http://h/", {"accept-encoding": "identity"}, None)
    assert fields["accept-encoding"] == "identity"


def test_prepare_request_uses_a_subclass_normalize_headers() -> None:
    class Upper(httplib2.Http):  # type: ignore[misc]
        def _normalize_headers(self, headers: Any) -> dict[str, str]:
            return {k.upper(): v for k, v in headers.items()}

    fields, _ = _semantics.prepare_request(Upper(proxy_info=None), "http://h/", {"x-a": "1"}, None)
    assert fields["X-A"] == "1"


def test_prepare_request_raises_where_httplib2_raises() -> None:
    http = httplib2.Http(proxy_info=None)
    with pytest.raises(httplib2.RelativeURIError):
        _semantics.prepare_request(http, "/relative", None, None)
    with pytest.raises(KeyError):
        _semantics.prepare_request(http, "ftp://h/x", None, None)
    # a connection_type of the caller's takes any scheme
    _, target = _semantics.prepare_request(http, "ftp://h/x", None, object)
    assert target.scheme == "ftp"


def test_not_cached_is_a_504_without_sending() -> None:
    response, content = _semantics.not_cached(_semantics._NO_LOOKUP)
    assert response.status == 504 and content == b""
    assert "status" not in _semantics._NO_LOOKUP.info  # the shared empty entry stays empty


# ---------------------------------------------------------------- the cache steps


def _cached_server() -> ScriptServer:
    def handler(req: Request, state: dict) -> Reply:
        state["n"] = state.get("n", 0) + 1
        headers = [("Cache-Control", "max-age=300"), ("ETag", '"v1"'), ("Vary", "X-Lang")]
        return Reply(200, headers, b"body %d" % state["n"])

    return ScriptServer({"/r": handler})


def _fill(http: Any, uri: str) -> None:
    response, content = _run(_semantics.run_httplib2_request(http, make_send_once(http), uri, headers={"x-lang": "en"}))
    assert response.status == 200 and content == b"body 1" and not response.fromcache


def test_look_up_cache_finds_the_entry_and_checks_vary(tmp_path: Path) -> None:
    with _cached_server() as server:
        http = httplib2.Http(cache=str(tmp_path), proxy_info=None)
        uri = server.base + "/r"
        _fill(http, uri)
        fields, target = _semantics.prepare_request(http, uri, {"x-lang": "en"}, None)
        entry = _run(_semantics.look_up_cache(http, target, "GET", fields))
        assert entry.cachekey == target.defrag_uri and entry.cached_value and entry.content == b"body 1"
        assert entry.info["etag"] == '"v1"'
        other, target = _semantics.prepare_request(http, uri, {"x-lang": "fr"}, None)
        assert _run(_semantics.look_up_cache(http, target, "GET", other)).cached_value is None
        assert len(server.log) == 1


def test_look_up_cache_for_a_write_adds_if_match_and_invalidates(tmp_path: Path) -> None:
    with _cached_server() as server:
        http = httplib2.Http(cache=str(tmp_path), proxy_info=None)
        uri = server.base + "/r"
        _fill(http, uri)
        fields, target = _semantics.prepare_request(http, uri, {"x-lang": "en"}, None)
        entry = _run(_semantics.look_up_cache(http, target, "PUT", fields))
        assert fields["if-match"] == '"v1"'  # lost-update protection, as httplib2 adds it
        assert entry.cachekey is not None and http.cache.get(entry.cachekey) is None  # RFC 7234 4.4


def test_answer_from_cache_fresh_sends_nothing(tmp_path: Path) -> None:
    with _cached_server() as server:
        http = httplib2.Http(cache=str(tmp_path), proxy_info=None)
        uri = server.base + "/r"
        _fill(http, uri)
        fields, target = _semantics.prepare_request(http, uri, {"x-lang": "en"}, None)
        entry = _run(_semantics.look_up_cache(http, target, "GET", fields))
        response, content = _run(
            _semantics.answer_from_cache(http, _must_not_send, target, "GET", None, fields, 5, entry)
        )
        assert response.fromcache and response.status == 200 and content == b"body 1"
        assert len(server.log) == 1


def test_store_answer_marks_and_stores(tmp_path: Path) -> None:
    http = httplib2.Http(cache=str(tmp_path), proxy_info=None)
    target = _uri.split_uri("http://example.org/stored")
    response = httplib2.Response({"status": "200", "cache-control": "max-age=60"})
    _run(_semantics.store_answer(http.cache, {}, response, b"kept", target.defrag_uri, target.uri))
    assert response["content-location"] == "http://example.org/stored"
    info, content = _cache.parse_entry(http.cache.get(target.defrag_uri))
    assert content == b"kept" and info["content-location"] == "http://example.org/stored"


# ---------------------------------------------------------------- send_with_auth


def test_send_with_auth_answers_the_challenge_and_keeps_the_credential() -> None:
    good = "Basic " + base64.b64encode(b"u:p").decode()

    def handler(req: Request, state: dict) -> Reply:
        if req.headers.get("authorization") == good:
            return Reply(200, [], b"in")
        return Reply(401, [("WWW-Authenticate", 'Basic realm="r"')], b"no")

    with ScriptServer({"/a": handler}) as server:
        http = httplib2.Http(proxy_info=None)
        send_once = make_send_once(http)
        fields, target = _semantics.prepare_request(http, server.base + "/a", None, None)
        response, content = _run(_semantics.send_with_auth(http, send_once, target, "GET", None, fields))
        assert (response.status, content) == (401, b"no")  # no credential: httplib2's 401
        http.add_credentials("u", "p")
        fields, target = _semantics.prepare_request(http, server.base + "/a", None, None)
        response, content = _run(_semantics.send_with_auth(http, send_once, target, "GET", None, fields))
        assert (response.status, content) == (200, b"in")
        assert len(http.authorizations) == 1
        # the kept credential signs the next request before it is sent: one request, no 401
        fields, target = _semantics.prepare_request(http, server.base + "/a", None, None)
        sent = len(server.log)
        response, _ = _run(_semantics.send_with_auth(http, send_once, target, "GET", None, fields))
        assert response.status == 200 and len(server.log) == sent + 1
        assert server.log[-1].headers["authorization"] == good


# ---------------------------------------------------------------- follow_redirect


def test_follow_redirect_runs_the_next_hop_and_keeps_the_previous() -> None:
    def target_handler(req: Request, state: dict) -> Reply:
        return Reply(200, [], b"landed " + req.method.encode())

    with ScriptServer({"/b": target_handler}) as server:
        http = httplib2.Http(proxy_info=None)
        fields, target = _semantics.prepare_request(http, server.base + "/a", {"Authorization": "secret"}, None)
        redirect = httplib2.Response({"status": "303", "location": "/b"})
        response, content = _run(
            _semantics.follow_redirect(
                http,
                make_send_once(http),
                target,
                "POST",
                b"form",
                fields,
                3,
                None,
                redirect,
                b"",
            )
        )
        assert (response.status, content) == (200, b"landed GET")  # 303: the next hop is a GET
        assert response.previous["location"] == server.base + "/b"  # made absolute
        assert response.previous["content-location"] == server.base + "/a"
        assert "authorization" not in server.log[-1].headers  # never forwarded on a redirect


def test_follow_redirect_limits_without_sending() -> None:
    http = httplib2.Http(proxy_info=None)
    fields, target = _semantics.prepare_request(http, "http://example.org/a", None, None)
    redirect = httplib2.Response({"status": "302", "location": "/b"})
    with pytest.raises(httplib2.RedirectLimit):
        _run(_semantics.follow_redirect(http, _must_not_send, target, "GET", None, fields, 0, None, redirect, b""))
    missing = httplib2.Response({"status": "302"})
    with pytest.raises(httplib2.RedirectMissingLocation):
        _run(_semantics.follow_redirect(http, _must_not_send, target, "GET", None, fields, 3, None, missing, b""))
