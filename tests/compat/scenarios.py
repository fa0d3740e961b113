"""The compatibility table: one row per httplib2 behaviour, as data.

A Scenario names the server's routes (handler factories, fresh state per
run), the Http constructor arguments and attributes, and a list of requests.
tests/compat/test_table.py runs every row against httplib2.Http and against
each asynchttp client and compares what the caller saw (status, reason,
headers, content, exception, ``previous`` chain, ``fromcache``) and what the
server received.  ``item`` is the numbered item of issue 4 the row covers.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import io
import ssl
import time
import zlib
from dataclasses import dataclass, field
from typing import Any, Callable, Optional, Union

import httplib2

from tests.servers.script_server import Reply, Request, http_date

# ---------------------------------------------------------------- handlers


def ok(body: bytes = b"hello", headers: tuple = (), status: int = 200, **kw: Any):
    def handler(req: Request, state: dict) -> Reply:
        return Reply(status, [("Content-Type", "text/plain"), *headers], body, **kw)

    return handler


def echo(req: Request, state: dict) -> Reply:
    """The request as the server saw it, in the body (method, target, body)."""
    text = "%s %s\n%s" % (req.method, req.target, req.body.decode("latin-1"))
    return Reply(200, [("Content-Type", "text/plain")], text.encode("latin-1"))


def counted(body: bytes = b"counted", headers: tuple = (), status: int = 200):
    """Body carries how many times the path was hit, so a cache hit is visible in content."""

    def handler(req: Request, state: dict) -> Reply:
        key = "hits:" + req.path
        state[key] = state.get(key, 0) + 1
        return Reply(status, [("Content-Type", "text/plain"), *headers], body + b" #%d" % state[key])

    return handler


def redirect(status: int, location: Optional[str], body: bytes = b"moved", headers: tuple = ()):
    def handler(req: Request, state: dict) -> Reply:
        hdrs = [("Content-Type", "text/plain"), *headers]
        if location is not None:
            hdrs.append(("Location", location))
        return Reply(status, hdrs, body)

    return handler


def etag_resource(etag: str = '"v1"', body: bytes = b"tagged", extra: tuple = ()):
    def handler(req: Request, state: dict) -> Reply:
        if req.headers.get("if-none-match") == etag:
            return Reply(304, [("ETag", etag), ("X-Revalidated", "yes"), *extra])
        return Reply(200, [("Content-Type", "text/plain"), ("ETag", etag), *extra], body)

    return handler


LAST_MODIFIED = "Mon, 01 Jan 2024 00:00:00 GMT"


def last_modified_resource(req: Request, state: dict) -> Reply:
    if req.headers.get("if-modified-since") == LAST_MODIFIED:
        return Reply(304, [("X-Revalidated", "yes")])
    return Reply(200, [("Content-Type", "text/plain"), ("Last-Modified", LAST_MODIFIED)], b"dated")


def changing_etag(req: Request, state: dict) -> Reply:
    state["v"] = state.get("v", 0) + 1
    etag = '"v%d"' % state["v"]
    return Reply(200, [("ETag", etag), ("Content-Type", "text/plain")], b"version %d" % state["v"])


def vary_accept(req: Request, state: dict) -> Reply:
    accept = req.headers.get("accept", "none")
    return Reply(
        200,
        [("Cache-Control", "max-age=3600"), ("Vary", "Accept"), ("Content-Type", "text/plain")],
        b"for " + accept.encode(),
    )


def basic_protected(user: str = "joe", password: str = "secret", realm: str = "test"):
    expected = "Basic " + base64.b64encode(("%s:%s" % (user, password)).encode()).decode()

    def handler(req: Request, state: dict) -> Reply:
        if req.headers.get("authorization") == expected:
            return Reply(200, [("Content-Type", "text/plain")], b"welcome " + user.encode())
        return Reply(401, [("WWW-Authenticate", 'Basic realm="%s"' % realm)], b"who are you")

    return handler


def _md5(text: str) -> str:
    return hashlib.md5(text.encode()).hexdigest()


def _parse_digest(value: str) -> dict:
    import re

    return {k.lower(): (v1 or v2) for k, v1, v2 in re.findall(r'(\w+)=(?:"([^"]*)"|([^,\s]*))', value)}


def digest_protected(
    user: str = "joe",
    password: str = "secret",
    realm: str = "digest-realm",
    qop: str = "auth",
    algorithm: Optional[str] = None,
    opaque: Optional[str] = None,
    stale_after: Optional[int] = None,
    nextnonce: bool = False,
):
    """A Digest server that checks the response hash (RFC 2617, qop=auth)."""

    def challenge(state: dict, stale: bool = False) -> str:
        state["nonce_n"] = state.get("nonce_n", 0) + 1
        state["nonce"] = "nonce%04d" % state["nonce_n"]
        parts = ['Digest realm="%s"' % realm, 'nonce="%s"' % state["nonce"], 'qop="%s"' % qop]
        if algorithm:
            parts.append("algorithm=%s" % algorithm)
        if opaque:
            parts.append('opaque="%s"' % opaque)
        if stale:
            parts.append("stale=true")
        return ", ".join(parts)

    def handler(req: Request, state: dict) -> Reply:
        value = req.headers.get("authorization", "")
        if not value.startswith("Digest "):
            return Reply(401, [("WWW-Authenticate", challenge(state))], b"digest needed")
        p = _parse_digest(value[7:])
        ha1 = _md5("%s:%s:%s" % (user, realm, password))
        ha2 = _md5("%s:%s" % (req.method, p.get("uri", "")))
        good = _md5("%s:%s:%s:%s:%s:%s" % (ha1, p.get("nonce"), p.get("nc"), p.get("cnonce"), p.get("qop"), ha2))
        if p.get("response") != good or p.get("nonce") != state.get("nonce") or p.get("username") != user:
            return Reply(401, [("WWW-Authenticate", challenge(state))], b"bad digest")
        state["served"] = state.get("served", 0) + 1
        if stale_after is not None and state["served"] > stale_after:
            state["served"] = 0
            return Reply(401, [("WWW-Authenticate", challenge(state, stale=True))], b"stale")
        headers = [("Content-Type", "text/plain")]
        if nextnonce:
            state["nonce_n"] = state.get("nonce_n", 0) + 1
            state["nonce"] = "nonce%04d" % state["nonce_n"]
            headers.append(("Authentication-Info", 'nextnonce="%s"' % state["nonce"]))
        return Reply(200, headers, b"digest ok nc=" + p.get("nc", "").encode())

    return handler


def basic_and_digest():
    """Offers Basic and Digest in one header; only Digest is accepted."""
    digest = digest_protected()

    def handler(req: Request, state: dict) -> Reply:
        if req.headers.get("authorization", "").startswith("Digest"):
            return digest(req, state)
        state["nonce"] = "nonce0001"
        offer = 'Basic realm="b", Digest realm="digest-realm", nonce="nonce0001", qop="auth"'
        return Reply(401, [("WWW-Authenticate", offer)], b"choose")

    return handler


def wsse_protected(user: str = "joe", password: str = "secret"):
    def handler(req: Request, state: dict) -> Reply:
        token = req.headers.get("x-wsse", "")
        if req.headers.get("authorization") == 'WSSE profile="UsernameToken"' and token:
            p = _parse_digest(token[len("UsernameToken ") :])
            digest = httplib2._wsse_username_token(p.get("nonce"), p.get("created"), password)
            if p.get("username") == user and p.get("passworddigest") == digest:
                return Reply(200, [("Content-Type", "text/plain")], b"wsse ok")
        return Reply(401, [("WWW-Authenticate", 'WSSE realm="w", profile="UsernameToken"')], b"wsse needed")

    return handler


def encoded(coding: str, payload: bytes = b"decoded text " * 20, raw_deflate: bool = False, corrupt: bool = False):
    def handler(req: Request, state: dict) -> Reply:
        if coding in ("gzip", "x-gzip"):
            data = gzip.compress(payload, mtime=0)
        elif raw_deflate:
            comp = zlib.compressobj(wbits=-15)
            data = comp.compress(payload) + comp.flush()
        else:
            data = zlib.compress(payload)
        if corrupt:
            data = b"this is not compressed at all"
        return Reply(200, [("Content-Type", "text/plain"), ("Content-Encoding", coding)], data)

    return handler


def bomb(size: int):
    data = gzip.compress(b"\0" * size, mtime=0)

    def handler(req: Request, state: dict) -> Reply:
        return Reply(200, [("Content-Encoding", "gzip")], data)

    return handler


def drop_first(then: Callable = None):
    """Close the connection without answering the first request: a stale keep-alive connection."""
    then = then or echo

    def handler(req: Request, state: dict) -> Reply:
        key = "dropped:" + req.path
        if state.get(key, 0) < 1:
            state[key] = state.get(key, 0) + 1
            return Reply(drop=True)
        return then(req, state)

    return handler


def stall_upload(req: Request, state: dict) -> Reply:  # never called: the server stops reading
    raise AssertionError("the upload was read")


stall_upload.stall = True  # type: ignore[attr-defined]


def drop_always(req: Request, state: dict) -> Reply:
    return Reply(drop=True)


def slow(delay: float):
    def handler(req: Request, state: dict) -> Reply:
        return Reply(200, [("Content-Type", "text/plain")], b"late", delay=delay)

    return handler


def raw(data: bytes):
    def handler(req: Request, state: dict) -> Reply:
        return Reply(raw=data)

    return handler


def range_resource(req: Request, state: dict) -> Reply:
    if req.headers.get("range") == "bytes=0-3":
        return Reply(206, [("Content-Range", "bytes 0-3/10"), ("Cache-Control", "max-age=3600")], b"0123")
    return Reply(200, [("Cache-Control", "max-age=3600")], b"0123456789")


# ---------------------------------------------------------------- the table

FRESH = (("Cache-Control", "max-age=3600"),)


@dataclass
class Step:
    path: str = "/"  # "{base}" prefix is added unless it starts with a scheme or "{"
    method: str = "GET"
    body: Any = None
    headers: Optional[dict] = None
    redirections: int = 5
    connection_type: Any = None
    uri: Optional[str] = None  # a full URI template instead of path (may use {base}, {port})


@dataclass
class WaitClosed:
    """Wait until the server has closed this many connections (an event, not a timer)."""

    count: int


@dataclass
class Action:
    """Something done between requests (not observed): ``run(http, base)``."""

    run: Callable[[Any, str], None]


@dataclass
class Scenario:
    id: str
    item: int
    routes: dict  # path -> handler
    steps: list = field(default_factory=lambda: [Step()])
    kwargs: dict = field(default_factory=dict)  # Http(...) constructor arguments
    attrs: dict = field(default_factory=dict)  # attributes set after construction
    cache: Union[bool, str] = False  # True: FileCache dir; "dict": a dict-backed cache object
    credentials: list = field(default_factory=list)  # (name, password, domain) with {authority}
    env: dict = field(default_factory=dict)
    globals: dict = field(default_factory=dict)  # module globals (RETRIES)
    expect: Any = None  # last step: int status or exception class name
    setup_cache: Optional[Callable[[Any, str], None]] = None  # (cache object, base) before requests
    differs: Optional[str] = None  # why asynchttp deliberately differs (docs/httplib2.rst); then check_differs runs
    check_differs: Optional[Callable[[list, list], None]] = None  # (httplib2 obs, asynchttp obs)
    differs_for: tuple = ("semantics", "blocking", "promise")  # the clients the difference applies to
    tls: Optional[str] = None  # serve HTTPS: "ok", "wrong-host", "tls13-only", "client-cert"
    certificates: list = field(default_factory=list)  # add_certificate(key, cert, domain, password) templates
    proxy: Optional[tuple] = None  # a test proxy to start: (kind, required user, required password)
    proxy_info: Optional[tuple] = None  # Http(proxy_info=ProxyInfo(type, 127.0.0.1, <proxy port>, rdns, user, pass))
    server_read_timeout: float = 5.0  # how long the server waits for a request's bytes


class DictCache:
    """A cache object that is not a FileCache: the get/set/delete protocol only."""

    def __init__(self) -> None:
        self.store: dict = {}

    def get(self, key: str):
        return self.store.get(key)

    def set(self, key: str, value: bytes) -> None:
        self.store[key] = value

    def delete(self, key: str) -> None:
        self.store.pop(key, None)


def _seed_corrupt(cache: Any, base: str) -> None:
    cache.set(base + "/", b"no separator in here")


def _seed_permanent(cache: Any, base: str) -> None:
    cache.set(
        base + "/old",
        b"status: 301\r\nlocation: "
        + base.encode()
        + b"/new\r\n-x-permanent-redirect-url: "
        + base.encode()
        + b"/new\r\ncontent-location: "
        + base.encode()
        + b"/old\r\n\r\n",
    )


def _add_credentials(name: str, password: str, domain: str = "") -> Action:
    return Action(lambda h, base: h.add_credentials(name, password, domain))


def _set(attr: str, value: Any) -> Action:
    return Action(lambda h, base: setattr(h, attr, value))


def _check_fold_not_sent(ref: list, mine: list, kind: str = "") -> None:
    # httplib2 puts the caller's CR LF on the wire (its whitespace collapsing never
    # applies); the server then sees a second, injected header line.  asynchttp
    # never sends CR/LF inside a header value.
    assert "b\t c" in ref[0]["received"][0]["headers"]
    sent = mine[0]["received"]
    assert all("b\t c" not in r["headers"] for r in sent), sent
    assert all("\r" not in v and "\n" not in v for r in sent for v in r["headers"].values())


def _check_refused_400(ref: list, mine: list, kind: str = "") -> None:
    # the synthetic 400 carries str(exc); asynchttp's message names host and port
    for obs in (ref, mine):
        response = obs[0]["result"]["response"]
        assert (response["status"], response["reason"]) == (400, "Bad Request")
        assert b"Connection refused" in obs[0]["result"]["content"]


def _check_str_content(ref: list, mine: list, kind: str = "") -> None:
    # httplib2 returns the str "" as content here; the content promise is bytes-like
    assert ref[0]["result"]["content"] == "" and ref[0]["result"]["response"]["status"] == 500
    result = mine[0]["result"]
    assert result.get("response", {}).get("status") == 500 or "TypeError" in str(result), result


def _check_same_results(ref: list, mine: list, kind: str = "") -> None:
    assert [o["result"] for o in ref] == [o["result"] for o in mine]
    assert [o["received"] for o in ref] == [o["received"] for o in mine]


FILE_RESENT = (
    "httplib2 re-sends what is left of a file body after a 307/308 or a 401 (nothing, so a stated "
    "Content-Length is never met and the request fails); asynchttp reads the file once, at the call, "
    "and re-sends all of it"
)


def _check_same_body_other_framing(ref: list, mine: list, kind: str = "") -> None:
    # http.client streams a file of unknown length chunked, and so does asynchttp
    # (tests/compat/test_wire.py); the test transport sends it with its length
    (theirs,), (ours,) = ref[0]["received"], mine[0]["received"]
    assert theirs["body"] == ours["body"] == b"streamed file"
    assert theirs["headers"].get("transfer-encoding") == "chunked"
    assert ours["headers"].get("content-length") == "13"
    assert mine[0]["result"]["response"]["status"] == ref[0]["result"]["response"]["status"] == 200


def _check_file_resent_whole(ref: list, mine: list, kind: str = "") -> None:
    # httplib2's second send is empty: either a complete empty body, or (with a stated
    # Content-Length) one the server never receives in full
    assert [r["body"] for r in ref[0]["received"]][:2] in ([b"file once", b""], [b"file once"])
    if kind == "semantics":
        # the policy layer reads the file at each send, as http.client does
        assert [r["body"] for r in mine[0]["received"]][:2] in ([b"file once", b""], [b"file once"])
        return
    assert [r["body"] for r in mine[0]["received"]] == [b"file once", b"file once"]
    assert mine[0]["result"]["response"]["status"] == 200


def hang_up(req: Request, state: dict) -> Reply:
    """Answer, then close the connection without announcing it (an idle keep-alive timeout)."""
    return Reply(200, [("Content-Type", "text/plain")], req.method.encode() + b" " + req.body, hangup=True)


STALE_IDLE = (
    "a keep-alive connection the server closed while idle: httplib2 reuses it and may fail with "
    "ConnectionResetError (httplib2 issue #40); asynchttp's pool does not hand out a connection the "
    "server has closed, so the request succeeds on a new one"
)


def _first_ok_then_ok_or_reset(observations: list) -> None:
    assert observations[0]["result"]["response"]["status"] == 200
    for obs in observations[1:]:
        result = obs["result"]
        if "exception" in result:
            assert result["exception"]["class"] in (
                "builtins.ConnectionResetError",
                "builtins.BrokenPipeError",
                "http.client.RemoteDisconnected",
            ), result
        else:
            assert result["response"]["status"] == 200


def _check_all_ok(ref: list, mine: list, kind: str = "") -> None:
    assert all(o["result"]["response"]["status"] == 200 for o in mine), mine
    assert all(len(o["received"]) == 1 for o in mine)  # each request reached the server exactly once


def _check_post_not_repeated(ref: list, mine: list, kind: str = "") -> None:
    # httplib2 sends the POST a second time on a fresh connection; asynchttp
    # refuses because the server may have processed it: it raises instead.
    assert ref[0]["result"]["response"]["status"] == 200
    assert "exception" in mine[0]["result"], mine
    assert len(mine[0]["received"]) == 1 and len(ref[0]["received"]) == 2


S: list[Scenario] = []


def add(*scenarios: Scenario) -> None:
    S.extend(scenarios)


# ---- 1. request building
add(
    Scenario("get-plain", 1, {"/": ok()}, expect=200),
    Scenario("get-echo-path-query", 1, {"/p": echo}, [Step("/p?a=1&b=two")], expect=200),
    Scenario(
        "headers-bytes-keys-values", 1, {"/": echo}, [Step(headers={b"X-Bytes": b"value", "X-Str": "s"})], expect=200
    ),
    Scenario(
        "headers-folding-collapsed",
        1,
        {"/": echo},
        [Step(headers={"X-Fold": "a\r\n   b\t c"})],
        expect=200,
        differs="httplib2 sends a caller's CR LF inside a header value (obs-fold) and servers read an injected "
        "header; asynchttp never writes CR/LF inside a header value",
        check_differs=_check_fold_not_sent,
        differs_for=("blocking", "promise"),
    ),
    Scenario(
        "headers-mixed-case-keys",
        1,
        {"/": echo},
        [Step(headers={"X-MiXeD": "1", "CONTENT-TYPE": "text/x"})],
        expect=200,
    ),
    Scenario("user-agent-from-caller", 1, {"/": echo}, [Step(headers={"User-Agent": "mine/1.0"})], expect=200),
    Scenario(
        "accept-encoding-from-caller", 1, {"/": echo}, [Step(headers={"Accept-Encoding": "identity"})], expect=200
    ),
    Scenario(
        "range-suppresses-accept-encoding", 1, {"/": range_resource}, [Step(headers={"Range": "bytes=0-3"})], expect=206
    ),
    Scenario("uri-uppercase-scheme-host", 1, {"/Path": echo}, [Step(uri="HTTP://127.0.0.1:{port}/Path")], expect=200),
    Scenario("uri-empty-path", 1, {"/": echo}, [Step(uri="{base}")], expect=200),
    Scenario("uri-fragment-dropped", 1, {"/f": echo}, [Step("/f?x=1#frag")], expect=200),
    Scenario("uri-space-encoded", 1, {"/a%20b": echo}, [Step("/a b")], expect=200),
    Scenario("uri-crlf-encoded", 1, {"/xInjected:%20yes": echo}, [Step("/x\r\nInjected: yes")], expect=200),
    Scenario("iri-non-ascii-path", 1, {"/caf%C3%A9": echo}, [Step("/café")], expect=200),
    Scenario("relative-uri", 1, {}, [Step(uri="/relative/only")], expect="RelativeURIError"),
    Scenario("unknown-scheme", 1, {}, [Step(uri="ftp://127.0.0.1:{port}/x")], expect="KeyError"),
    Scenario(
        "post-bytes-body",
        1,
        {"/": echo},
        [Step(method="POST", body=b"a=1&b=2", headers={"content-type": "application/x-www-form-urlencoded"})],
        expect=200,
    ),
    Scenario("post-str-body", 1, {"/": echo}, [Step(method="POST", body="caf\xe9 latin-1")], expect=200),
    Scenario(
        "post-non-latin1-str", 1, {"/": echo}, [Step(method="POST", body="snow \u2603")], expect="UnicodeEncodeError"
    ),
    Scenario("post-no-body", 1, {"/": echo}, [Step(method="POST")], expect=200),
    Scenario(
        "post-file-body",
        1,
        {"/": echo},
        [Step(method="POST", body=io.BytesIO(b"from a file"), headers={"content-length": "11"})],
        expect=200,
    ),
    Scenario(
        "post-file-body-no-length",
        1,
        {"/": echo},
        [Step(method="POST", body=io.BytesIO(b"streamed file"))],
        expect=200,
        differs="the test transport (not asynchttp: its clients send a file chunked, as http.client does) "
        "reads a file body at the call and sends it with a Content-Length",
        check_differs=_check_same_body_other_framing,
        differs_for=("semantics",),
    ),
    Scenario(
        "post-file-body-308",
        1,
        {"/": redirect(308, "/t"), "/t": echo},
        [Step(method="POST", body=io.BytesIO(b"file once"), headers={"content-length": "9"})],
        server_read_timeout=0.3,
        expect="RemoteDisconnected",
        differs=FILE_RESENT,
        check_differs=_check_file_resent_whole,
        differs_for=("blocking", "promise"),
    ),
    Scenario(
        "post-file-body-308-no-length",
        1,
        {"/": redirect(308, "/t"), "/t": echo},
        [Step(method="POST", body=io.BytesIO(b"file once"))],
        expect=200,
        differs=FILE_RESENT + "; and the test transport frames an empty body with Content-Length: 0, not chunked",
        check_differs=_check_file_resent_whole,
    ),
    Scenario("put-body", 1, {"/": echo}, [Step(method="PUT", body=b"put data")], expect=200),
    Scenario("delete", 1, {"/": echo}, [Step(method="DELETE")], expect=200),
    Scenario("patch", 1, {"/": echo}, [Step(method="PATCH", body=b"{}")], expect=200),
    Scenario("options", 1, {"/": ok(b"", (("Allow", "GET, POST"),))}, [Step(method="OPTIONS")], expect=200),
    Scenario("custom-method", 1, {"/": echo}, [Step(method="PROPFIND")], expect=200),
    Scenario("head-empty-content", 1, {"/": ok(b"body not sent")}, [Step(method="HEAD")], expect=200),
    Scenario(
        "connection-type-accepted",
        1,
        {"/": ok()},
        [Step(connection_type=httplib2.HTTPConnectionWithTimeout)],
        expect=200,
    ),
    Scenario("status-404", 1, {"/": ok(b"missing", status=404)}, expect=404),
    Scenario("status-500", 1, {"/": ok(b"boom", status=500)}, expect=500),
    Scenario("status-204", 1, {"/": ok(b"", status=204)}, expect=204),
    Scenario(
        "status-201-created",
        1,
        {"/": ok(b"made", (("Location", "/new"),), status=201)},
        [Step(method="POST", body=b"x")],
        expect=201,
    ),
    Scenario("custom-reason", 1, {"/": ok(b"x", status=200, reason="Very Fine")}, expect=200),
    Scenario(
        "repeated-headers-joined",
        1,
        {"/": ok(b"x", (("Set-Cookie", "a=1"), ("Set-Cookie", "b=2"), ("X-Dup", "1"), ("x-dup", "2")))},
        expect=200,
    ),
    Scenario("chunked-response", 1, {"/": ok(b"chunky body", chunked=True)}, expect=200),
    Scenario("close-delimited-response", 1, {"/": ok(b"until close", no_length=True)}, expect=200),
    Scenario(
        "http10-response",
        1,
        {"/": raw(b"HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 5\r\n\r\nold10")},
        expect=200,
    ),
    Scenario("several-requests-keepalive", 1, {"/": counted()}, [Step(), Step(), Step()], expect=200),
    Scenario("non-ascii-response-header", 1, {"/": ok(b"x", (("X-Name", "caf\xe9"),))}, expect=200),
)

# ---- 2. the instance surface (attributes read at request time, globals)
add(
    Scenario(
        "redirect-codes-minus-308",
        2,
        {"/": redirect(308, "/t"), "/t": ok()},
        attrs={},
        steps=[Action(lambda h, b: setattr(h, "redirect_codes", h.redirect_codes - {308})), Step()],
        expect=308,
    ),
    Scenario(
        "safe-methods-extended",
        2,
        {"/": redirect(302, "/t"), "/t": echo},
        [Action(lambda h, b: h.safe_methods.append("POST")), Step(method="POST", body=b"x")],
        expect=200,
    ),
    Scenario(
        "attr-changed-between-requests",
        2,
        {"/": redirect(302, "/t"), "/t": ok()},
        [Step(), _set("follow_redirects", False), Step()],
        expect=302,
    ),
    Scenario("retries-global-1-still-stale-retry", 2, {"/": drop_first()}, globals={"RETRIES": 1}, expect=200),
    Scenario("retries-global-0-fails", 2, {"/": ok()}, globals={"RETRIES": 0}, expect="UnboundLocalError"),
    Scenario(
        "credentials-added-between",
        2,
        {"/": basic_protected()},
        [Step(), _add_credentials("joe", "secret"), Step()],
        expect=200,
    ),
    Scenario(
        "clear-credentials",
        2,
        {"/": basic_protected()},
        [_add_credentials("joe", "secret"), Step(), Action(lambda h, b: h.clear_credentials()), Step()],
        expect=401,
    ),
)

# ---- 3. redirects
add(
    *[
        Scenario("get-%d-followed" % code, 3, {"/": redirect(code, "/target"), "/target": ok(b"arrived")}, expect=200)
        for code in (301, 302, 303, 307, 308)
    ],
    Scenario("300-with-location-followed", 3, {"/": redirect(300, "/target"), "/target": ok()}, expect=200),
    Scenario("300-without-location-returned", 3, {"/": redirect(300, None, b"choices")}, expect=300),
    Scenario("302-missing-location", 3, {"/": redirect(302, None)}, expect="RedirectMissingLocation"),
    Scenario("relative-location", 3, {"/a/b": redirect(302, "c"), "/a/c": ok()}, [Step("/a/b")], expect=200),
    Scenario("absolute-path-location", 3, {"/a/b": redirect(302, "/top"), "/top": ok()}, [Step("/a/b")], expect=200),
    Scenario("absolute-uri-location", 3, {"/": redirect(302, "http://127.0.0.1:{port}/abs"), "/abs": ok()}, expect=200),
    Scenario("location-with-query", 3, {"/": redirect(302, "/t?x=1&y=2"), "/t": echo}, expect=200),
    Scenario("location-with-space", 3, {"/": redirect(302, "/has space"), "/has%20space": ok()}, expect=200),
    Scenario(
        "location-obs-fold-crlf",
        3,
        {
            "/": raw(
                b"HTTP/1.1 302 Found\r\nLocation: /x\r\n Injected: 1\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
            ),
            "/x%0D%0A%20Injected:%201": ok(),
            "/x%20Injected:%201": ok(),
        },
        expect=200,
    ),
    Scenario(
        "chain-of-three",
        3,
        {"/": redirect(301, "/1"), "/1": redirect(302, "/2"), "/2": redirect(307, "/3"), "/3": ok(b"end")},
        expect=200,
    ),
    Scenario("redirect-loop-limit", 3, {"/": redirect(302, "/")}, expect="RedirectLimit"),
    Scenario(
        "redirections-zero", 3, {"/": redirect(302, "/t"), "/t": ok()}, [Step(redirections=0)], expect="RedirectLimit"
    ),
    Scenario(
        "redirections-exact",
        3,
        {"/": redirect(302, "/1"), "/1": redirect(302, "/2"), "/2": ok()},
        [Step(redirections=2)],
        expect=200,
    ),
    Scenario(
        "redirections-one-short",
        3,
        {"/": redirect(302, "/1"), "/1": redirect(302, "/2"), "/2": ok()},
        [Step(redirections=1)],
        expect="RedirectLimit",
    ),
    *[
        Scenario(
            "post-%d-not-followed" % code,
            3,
            {"/": redirect(code, "/t"), "/t": echo},
            [Step(method="POST", body=b"data")],
            expect=code,
        )
        for code in (301, 302, 307)
    ],
    Scenario(
        "post-303-becomes-get",
        3,
        {"/": redirect(303, "/t"), "/t": echo},
        [Step(method="POST", body=b"data")],
        expect=200,
    ),
    Scenario(
        "post-308-keeps-post-body",
        3,
        {"/": redirect(308, "/t"), "/t": echo},
        [Step(method="POST", body=b"data")],
        expect=200,
    ),
    Scenario(
        "follow-all-post-302-get",
        3,
        {"/": redirect(302, "/t"), "/t": echo},
        [Step(method="POST", body=b"data")],
        attrs={"follow_all_redirects": True},
        expect=200,
    ),
    Scenario(
        "follow-all-post-301-repost",
        3,
        {"/": redirect(301, "/t"), "/t": echo},
        [Step(method="POST", body=b"data")],
        attrs={"follow_all_redirects": True},
        expect=200,
    ),
    Scenario(
        "follow-all-post-307-repost",
        3,
        {"/": redirect(307, "/t"), "/t": echo},
        [Step(method="POST", body=b"data")],
        attrs={"follow_all_redirects": True},
        expect=200,
    ),
    Scenario(
        "follow-all-put-303",
        3,
        {"/": redirect(303, "/t"), "/t": echo},
        [Step(method="PUT", body=b"data")],
        attrs={"follow_all_redirects": True},
        expect=200,
    ),
    Scenario(
        "follow-redirects-false",
        3,
        {"/": redirect(301, "/t"), "/t": ok()},
        attrs={"follow_redirects": False},
        expect=301,
    ),
    Scenario(
        "follow-redirects-false-wins",
        3,
        {"/": redirect(302, "/t"), "/t": ok()},
        attrs={"follow_redirects": False, "follow_all_redirects": True},
        expect=302,
    ),
    Scenario(
        "redirect-codes-custom",
        3,
        {"/": redirect(302, "/t"), "/t": ok()},
        attrs={"redirect_codes": frozenset({301})},
        expect=302,
    ),
    Scenario("head-redirect", 3, {"/": redirect(302, "/t"), "/t": ok(b"tt")}, [Step(method="HEAD")], expect=200),
    Scenario(
        "authorization-dropped-on-redirect",
        3,
        {"/": redirect(302, "/t"), "/t": echo},
        [Step(headers={"Authorization": "Bearer tok"})],
        expect=200,
    ),
    Scenario(
        "authorization-forwarded",
        3,
        {"/": redirect(302, "/t"), "/t": echo},
        [Step(headers={"Authorization": "Bearer tok"})],
        attrs={"forward_authorization_headers": True},
        expect=200,
    ),
    Scenario(
        "validators-dropped-on-redirect",
        3,
        {"/": redirect(302, "/t"), "/t": echo},
        [Step(headers={"If-None-Match": '"x"', "If-Modified-Since": LAST_MODIFIED, "X-Keep": "1"})],
        expect=200,
    ),
    Scenario(
        "301-cached-permanent", 3, {"/": redirect(301, "/t"), "/t": counted()}, [Step(), Step()], cache=True, expect=200
    ),
    Scenario(
        "308-cached-permanent", 3, {"/": redirect(308, "/t"), "/t": counted()}, [Step(), Step()], cache=True, expect=200
    ),
    Scenario(
        "302-not-cached", 3, {"/": redirect(302, "/t"), "/t": counted()}, [Step(), Step()], cache=True, expect=200
    ),
    Scenario(
        "post-308-cached-replay",
        3,
        {"/": redirect(308, "/t"), "/t": echo},
        [Step(method="POST", body=b"one"), Step(method="POST", body=b"two")],
        cache=True,
        expect=200,
    ),
    Scenario(
        "cached-permanent-over-limit",
        3,
        {"/old": redirect(301, "/new"), "/new": ok()},
        [Step("/old", redirections=0)],
        cache=True,
        setup_cache=_seed_permanent,
        expect="RedirectLimit",
    ),
    Scenario(
        "cached-permanent-seeded",
        3,
        {"/new": counted()},
        [Step("/old")],
        cache=True,
        setup_cache=_seed_permanent,
        expect=200,
    ),
    Scenario("redirect-to-ftp", 3, {"/": redirect(302, "ftp://127.0.0.1/file")}, expect="KeyError"),
    Scenario(
        "redirect-to-ftp-force",
        3,
        {"/": redirect(302, "ftp://127.0.0.1/file")},
        attrs={"force_exception_to_status_code": True},
        expect=400,
    ),
    Scenario("location-percent-crlf-kept", 3, {"/": redirect(302, "/a%0D%0Ab"), "/a%0D%0Ab": echo}, expect=200),
    Scenario("redirect-to-404", 3, {"/": redirect(302, "/gone"), "/gone": ok(b"nope", status=404)}, expect=404),
    Scenario(
        "redirect-body-content-location",
        3,
        {"/": redirect(307, "/t", b"temp body"), "/t": ok(b"final", (("Content-Location", "/elsewhere"),))},
        expect=200,
    ),
)

# ---- 4. caching
add(
    Scenario("cache-fresh-max-age", 4, {"/": counted(headers=FRESH)}, [Step(), Step()], cache=True, expect=200),
    Scenario("cache-dict-object", 4, {"/": counted(headers=FRESH)}, [Step(), Step()], cache="dict", expect=200),
    Scenario("cache-no-headers-stale", 4, {"/": counted()}, [Step(), Step()], cache=True, expect=200),
    Scenario("cache-etag-304", 4, {"/": etag_resource()}, [Step(), Step()], cache=True, expect=200),
    Scenario(
        "cache-etag-304-merges-headers",
        4,
        {"/": etag_resource(extra=(("X-Extra", "kept"),))},
        [Step(), Step(), Step()],
        cache=True,
        expect=200,
    ),
    Scenario("cache-last-modified-304", 4, {"/": last_modified_resource}, [Step(), Step()], cache=True, expect=200),
    Scenario("cache-etag-changed-200", 4, {"/": changing_etag}, [Step(), Step(), Step()], cache=True, expect=200),
    Scenario(
        "cache-ignore-etag",
        4,
        {"/": etag_resource()},
        [Step(), Step()],
        cache=True,
        attrs={"ignore_etag": True},
        expect=200,
    ),
    Scenario(
        "cache-caller-if-none-match",
        4,
        {"/": etag_resource()},
        [Step(), Step(headers={"If-None-Match": '"other"'})],
        cache=True,
        expect=200,
    ),
    Scenario(
        "cache-response-no-store",
        4,
        {"/": counted(headers=(("Cache-Control", "no-store, max-age=3600"),))},
        [Step(), Step()],
        cache=True,
        expect=200,
    ),
    Scenario(
        "cache-request-no-store",
        4,
        {"/": counted(headers=FRESH)},
        [Step(headers={"Cache-Control": "no-store"}), Step()],
        cache=True,
        expect=200,
    ),
    Scenario(
        "cache-request-no-cache",
        4,
        {"/": etag_resource(extra=FRESH)},
        [Step(), Step(headers={"Cache-Control": "no-cache"})],
        cache=True,
        expect=200,
    ),
    Scenario(
        "cache-pragma-no-cache",
        4,
        {"/": etag_resource(extra=FRESH)},
        [Step(), Step(headers={"Pragma": "no-cache"})],
        cache=True,
        expect=200,
    ),
    Scenario(
        "cache-response-no-cache",
        4,
        {"/": etag_resource(extra=(("Cache-Control", "no-cache, max-age=3600"),))},
        [Step(), Step()],
        cache=True,
        expect=200,
    ),
    Scenario(
        "cache-only-if-cached-hit",
        4,
        {"/": counted()},
        [Step(), Step(headers={"Cache-Control": "only-if-cached"})],
        cache=True,
        expect=200,
    ),
    Scenario(
        "cache-only-if-cached-miss",
        4,
        {"/": counted()},
        [Step(headers={"Cache-Control": "only-if-cached"})],
        cache=True,
        expect=504,
    ),
    Scenario(
        "only-if-cached-no-cache-object",
        4,
        {"/": counted()},
        [Step(headers={"Cache-Control": "only-if-cached"})],
        expect=504,
    ),
    Scenario(
        "cache-request-max-age-0",
        4,
        {"/": etag_resource(extra=FRESH)},
        [Step(), Step(headers={"Cache-Control": "max-age=0"})],
        cache=True,
        expect=200,
    ),
    Scenario(
        "cache-request-min-fresh",
        4,
        {"/": etag_resource(extra=(("Cache-Control", "max-age=100"),))},
        [Step(), Step(headers={"Cache-Control": "min-fresh=200"})],
        cache=True,
        expect=200,
    ),
    Scenario(
        "cache-max-stale-ignored",
        4,
        {"/": counted()},
        [Step(), Step(headers={"Cache-Control": "max-stale=1000"})],
        cache=True,
        expect=200,
    ),
    Scenario(
        "cache-must-revalidate-fresh",
        4,
        {"/": counted(headers=(("Cache-Control", "max-age=3600, must-revalidate"),))},
        [Step(), Step()],
        cache=True,
        expect=200,
    ),
    Scenario(
        "cache-bad-max-age",
        4,
        {"/": counted(headers=(("Cache-Control", "max-age=abc"),))},
        [Step(), Step()],
        cache=True,
        expect=200,
    ),
    Scenario(
        "cache-expires-future",
        4,
        {"/": counted(headers=(("Expires", http_date(time.time() + 86400 * 365)),))},
        [Step(), Step()],
        cache=True,
        expect=200,
    ),
    Scenario(
        "cache-expires-past",
        4,
        {"/": counted(headers=(("Expires", "Thu, 01 Jan 1970 00:00:00 GMT"),))},
        [Step(), Step()],
        cache=True,
        expect=200,
    ),
    Scenario(
        "cache-expires-invalid",
        4,
        {"/": counted(headers=(("Expires", "0"),))},
        [Step(), Step()],
        cache=True,
        expect=200,
    ),
    Scenario(
        "cache-vary-match",
        4,
        {"/": vary_accept},
        [Step(headers={"Accept": "text/a"}), Step(headers={"Accept": "text/a"})],
        cache=True,
        expect=200,
    ),
    Scenario(
        "cache-vary-mismatch",
        4,
        {"/": vary_accept},
        [Step(headers={"Accept": "text/a"}), Step(headers={"Accept": "text/b"})],
        cache=True,
        expect=200,
    ),
    Scenario(
        "cache-vary-absent", 4, {"/": vary_accept}, [Step(headers={"Accept": "text/a"}), Step()], cache=True, expect=200
    ),
    Scenario(
        "cache-post-invalidates",
        4,
        {"/": counted(headers=FRESH)},
        [Step(), Step(method="POST", body=b"x"), Step()],
        cache=True,
        expect=200,
    ),
    Scenario(
        "cache-delete-invalidates",
        4,
        {"/": counted(headers=FRESH)},
        [Step(), Step(method="DELETE"), Step()],
        cache=True,
        expect=200,
    ),
    Scenario(
        "cache-put-if-match",
        4,
        {"/": etag_resource()},
        [Step(), Step(method="PUT", body=b"new")],
        cache=True,
        expect=200,
    ),
    Scenario(
        "cache-patch-if-match",
        4,
        {"/": etag_resource()},
        [Step(), Step(method="PATCH", body=b"new")],
        cache=True,
        expect=200,
    ),
    Scenario(
        "cache-if-match-ignore-etag",
        4,
        {"/": etag_resource()},
        [Step(), Step(method="PUT", body=b"new")],
        cache=True,
        attrs={"ignore_etag": True},
        expect=200,
    ),
    Scenario(
        "cache-if-match-caller",
        4,
        {"/": etag_resource()},
        [Step(), Step(method="PUT", body=b"new", headers={"If-Match": '"mine"'})],
        cache=True,
        expect=200,
    ),
    Scenario(
        "cache-optimistic-delete-added",
        4,
        {"/": etag_resource()},
        [Action(lambda h, b: h.optimistic_concurrency_methods.append("DELETE")), Step(), Step(method="DELETE")],
        cache=True,
        expect=200,
    ),
    Scenario(
        "cache-203-stored", 4, {"/": counted(headers=FRESH, status=203)}, [Step(), Step()], cache=True, expect=203
    ),
    Scenario(
        "cache-404-not-stored", 4, {"/": counted(headers=FRESH, status=404)}, [Step(), Step()], cache=True, expect=404
    ),
    Scenario(
        "cache-range-bypass",
        4,
        {"/": range_resource},
        [Step(), Step(headers={"Range": "bytes=0-3"}), Step()],
        cache=True,
        expect=200,
    ),
    Scenario(
        "cache-head-from-get", 4, {"/": counted(headers=FRESH)}, [Step(), Step(method="HEAD")], cache=True, expect=200
    ),
    Scenario(
        "cache-gzip-stored-decoded",
        4,
        {"/": lambda r, s: Reply(200, [("Content-Encoding", "gzip"), *FRESH], gzip.compress(b"zipped" * 50, mtime=0))},
        [Step(), Step()],
        cache=True,
        expect=200,
    ),
    Scenario(
        "cache-non-ascii-header",
        4,
        {"/": ok(b"x", (("X-Name", "caf\xe9"), *FRESH))},
        [Step(), Step()],
        cache=True,
        expect=200,
    ),
    Scenario(
        "cache-corrupt-entry",
        4,
        {"/": counted(headers=FRESH)},
        [Step(), Step()],
        cache=True,
        setup_cache=_seed_corrupt,
        expect=200,
    ),
    Scenario(
        "cache-304-to-head-deletes",
        4,
        {"/": etag_resource()},
        [Step(), Step(method="HEAD"), Step()],
        cache=True,
        expect=200,
    ),
    Scenario("cache-spontaneous-304", 4, {"/": ok(b"", status=304)}, expect=304),
    Scenario("cache-content-location-set", 4, {"/": counted()}, [Step()], cache=True, expect=200),
    Scenario(
        "cache-query-distinct-keys",
        4,
        {"/": counted(headers=FRESH)},
        [Step("/?a=1"), Step("/?a=2"), Step("/?a=1")],
        cache=True,
        expect=200,
    ),
)

# ---- 5. authentication
add(
    Scenario("basic-auth", 5, {"/": basic_protected()}, credentials=[("joe", "secret", "")], expect=200),
    Scenario(
        "basic-auth-preemptive-reuse",
        5,
        {"/a/": basic_protected(), "/a/b": basic_protected()},
        [Step("/a/"), Step("/a/b"), Step("/a/")],
        credentials=[("joe", "secret", "")],
        expect=200,
    ),
    Scenario(
        "basic-auth-scope-other-path",
        5,
        {"/a/x": basic_protected(), "/b/y": basic_protected()},
        [Step("/a/x"), Step("/b/y")],
        credentials=[("joe", "secret", "")],
        expect=200,
    ),
    Scenario("basic-auth-wrong-password", 5, {"/": basic_protected()}, credentials=[("joe", "wrong", "")], expect=401),
    Scenario("basic-auth-no-credentials", 5, {"/": basic_protected()}, expect=401),
    Scenario(
        "basic-auth-domain-match",
        5,
        {"/": basic_protected()},
        credentials=[("joe", "secret", "{authority}")],
        expect=200,
    ),
    Scenario(
        "basic-auth-domain-host-only",
        5,
        {"/": basic_protected()},
        credentials=[("joe", "secret", "127.0.0.1")],
        expect=401,
    ),
    Scenario(
        "basic-auth-domain-other",
        5,
        {"/": basic_protected()},
        credentials=[("joe", "secret", "example.org")],
        expect=401,
    ),
    Scenario(
        "basic-auth-second-credential",
        5,
        {"/": basic_protected()},
        credentials=[("joe", "wrong", ""), ("joe", "secret", "")],
        expect=200,
    ),
    Scenario(
        "basic-auth-utf8",
        5,
        {"/": basic_protected("jos\xe9", "p\xe4ss")},
        credentials=[("jos\xe9", "p\xe4ss", "")],
        expect=200,
    ),
    Scenario(
        "basic-auth-post",
        5,
        {"/": basic_protected()},
        [Step(method="POST", body=b"payload")],
        credentials=[("joe", "secret", "")],
        expect=200,
    ),
    Scenario("digest-auth", 5, {"/": digest_protected()}, credentials=[("joe", "secret", "")], expect=200),
    Scenario(
        "digest-auth-reuse-nc",
        5,
        {"/": digest_protected()},
        [Step(), Step(), Step()],
        credentials=[("joe", "secret", "")],
        expect=200,
    ),
    Scenario(
        "digest-auth-opaque", 5, {"/": digest_protected(opaque="opq")}, credentials=[("joe", "secret", "")], expect=200
    ),
    Scenario(
        "digest-auth-nextnonce",
        5,
        {"/": digest_protected(nextnonce=True)},
        [Step(), Step(), Step()],
        credentials=[("joe", "secret", "")],
        expect=200,
    ),
    Scenario(
        "digest-auth-stale",
        5,
        {"/": digest_protected(stale_after=1)},
        [Step(), Step(), Step()],
        credentials=[("joe", "secret", "")],
        expect=200,
    ),
    Scenario("digest-auth-wrong-password", 5, {"/": digest_protected()}, credentials=[("joe", "nope", "")], expect=401),
    Scenario(
        "digest-auth-qop-auth-int",
        5,
        {"/": digest_protected(qop="auth-int")},
        credentials=[("joe", "secret", "")],
        expect="TypeError",
    ),
    Scenario(
        "digest-auth-algorithm-sha256",
        5,
        {"/": digest_protected(algorithm="SHA-256")},
        credentials=[("joe", "secret", "")],
        expect="TypeError",
    ),
    Scenario(
        "digest-preferred-over-basic", 5, {"/": basic_and_digest()}, credentials=[("joe", "secret", "")], expect=200
    ),
    Scenario(
        "googlelogin-challenge",
        5,
        {"/": lambda r, s: Reply(401, [("WWW-Authenticate", 'GoogleLogin realm="x", service="xapi"')], b"")},
        credentials=[("joe", "secret", "")],
        expect="UnboundLocalError",
    ),
    Scenario(
        "hmacdigest-challenge",
        5,
        {
            "/": lambda r, s: Reply(
                401, [("WWW-Authenticate", 'HMACDigest realm="x", snonce="abc", algorithm="HMAC-SHA-1"')], b""
            )
        },
        credentials=[("joe", "secret", "")],
        expect="AttributeError",
    ),
    Scenario("wsse-auth", 5, {"/": wsse_protected()}, credentials=[("joe", "secret", "")], expect=200),
    Scenario(
        "malformed-www-authenticate",
        5,
        {"/": lambda r, s: Reply(401, [("WWW-Authenticate", "=broken")], b"")},
        expect="MalformedHeader",
    ),
    Scenario(
        "malformed-www-authenticate-force",
        5,
        {"/": lambda r, s: Reply(401, [("WWW-Authenticate", "Basic, realm")], b"")},
        attrs={"force_exception_to_status_code": True},
        expect=400,
    ),
    Scenario("401-without-challenge", 5, {"/": ok(b"no", status=401)}, credentials=[("joe", "secret", "")], expect=401),
    Scenario(
        "auth-then-redirect-drops-authorization",
        5,
        {"/": basic_protected(), "/t": echo},
        [Step(), Step("/r")],
        credentials=[("joe", "secret", "")],
        expect=200,
    ),
)
S[-1].routes["/r"] = redirect(302, "/t")

# ---- 6. content decoding
add(
    Scenario("gzip", 6, {"/": encoded("gzip")}, expect=200),
    Scenario("deflate-zlib", 6, {"/": encoded("deflate")}, expect=200),
    Scenario("deflate-raw", 6, {"/": encoded("deflate", raw_deflate=True)}, expect=200),
    Scenario("zlib-coding", 6, {"/": encoded("zlib")}, expect=200),
    Scenario("x-gzip-not-decoded", 6, {"/": encoded("x-gzip")}, expect=200),
    Scenario(
        "coding-list-not-decoded",
        6,
        {"/": lambda r, s: Reply(200, [("Content-Encoding", "gzip, identity")], gzip.compress(b"abc", mtime=0))},
        expect=200,
    ),
    Scenario("gzip-corrupt", 6, {"/": encoded("gzip", corrupt=True)}, expect="FailedToDecompressContent"),
    Scenario(
        "gzip-corrupt-force",
        6,
        {"/": encoded("gzip", corrupt=True)},
        attrs={"force_exception_to_status_code": True},
        expect=500,
        differs="httplib2 returns the str '' as content here; a content promise stands for bytes",
        check_differs=_check_str_content,
        differs_for=("promise",),
    ),
    Scenario("gzip-head", 6, {"/": encoded("gzip")}, [Step(method="HEAD")], expect=200),
    Scenario(
        "gzip-chunked",
        6,
        {
            "/": lambda r, s: Reply(
                200, [("Content-Encoding", "gzip")], gzip.compress(b"chunked gz" * 99, mtime=0), chunked=True
            )
        },
        expect=200,
    ),
    Scenario("gzip-large-offloaded", 6, {"/": encoded("gzip", payload=bytes(range(256)) * 4096)}, expect=200),
    Scenario(
        "decode-limit-hard", 6, {"/": bomb(200_000)}, kwargs={"decode_limit_hard": 100_000}, expect="DecodeLimitError"
    ),
    Scenario(
        "decode-limit-ratio",
        6,
        {"/": bomb(2_000_000)},
        kwargs={"decode_limit_safe": 1000, "decode_limit_ratio": 10},
        expect="DecodeRatioError",
    ),
    Scenario(
        "decode-limit-env",
        6,
        {"/": bomb(200_000)},
        env={"httplib2_decode_limit_hard": "50000"},
        expect="DecodeLimitError",
    ),
    Scenario("decode-limit-under", 6, {"/": bomb(50_000)}, kwargs={"decode_limit_hard": 100_000}, expect=200),
)

# ---- 8. proxies (environment handling that needs no proxy server)
add(
    Scenario(
        "no-proxy-env-bypass",
        8,
        {"/": ok()},
        env={"http_proxy": "http://127.0.0.1:9", "no_proxy": "127.0.0.1"},
        expect=200,
    ),
    Scenario(
        "proxy-info-none",
        8,
        {"/": ok()},
        kwargs={"proxy_info": None},
        env={"http_proxy": "http://127.0.0.1:9"},
        expect=200,
    ),
    Scenario("no-proxy-star", 8, {"/": ok()}, env={"http_proxy": "http://127.0.0.1:9", "no_proxy": "*"}, expect=200),
)

# ---- 8. proxies: real test proxies (HTTP CONNECT, SOCKS4/4a, SOCKS5) on 127.0.0.1
P_HTTP, P_S4, P_S5 = 3, 1, 2
BLOCKED = "http://blocked.invalid/"  # never resolved here: only a proxy sees this name, and refuses it
add(
    Scenario(
        "proxy-http-connect",
        8,
        {"/": echo},
        proxy=("http", None, None),
        proxy_info=(P_HTTP, True, None, None),
        expect=200,
    ),
    Scenario(
        "proxy-http-connect-keepalive",
        8,
        {"/": counted()},
        [Step(), Step()],
        proxy=("http", None, None),
        proxy_info=(P_HTTP, True, None, None),
        expect=200,
        differs="the test transport opens a connection (so a tunnel) per request; pooled clients reuse it",
        check_differs=_check_same_results,
        differs_for=("semantics",),
    ),
    Scenario(
        "proxy-http-connect-https",
        8,
        {"/": ok(b"tunnelled")},
        tls="ok",
        kwargs={"ca_certs": "{ca}"},
        proxy=("http", None, None),
        proxy_info=(P_HTTP, True, None, None),
        expect=200,
    ),
    Scenario(
        "proxy-http-auth", 8, {"/": ok()}, proxy=("http", "pu", "pp"), proxy_info=(P_HTTP, True, "pu", "pp"), expect=200
    ),
    Scenario(
        "proxy-http-auth-wrong",
        8,
        {"/": ok()},
        proxy=("http", "pu", "pp"),
        proxy_info=(P_HTTP, True, "pu", "nope"),
        expect="GeneralProxyError",
    ),
    Scenario(
        "proxy-http-auth-missing",
        8,
        {"/": ok()},
        proxy=("http", "pu", "pp"),
        proxy_info=(P_HTTP, True, None, None),
        expect="GeneralProxyError",
    ),
    Scenario(
        "proxy-http-refuses-target",
        8,
        {},
        [Step(uri=BLOCKED)],
        proxy=("http", None, None),
        proxy_info=(P_HTTP, True, None, None),
        expect="GeneralProxyError",
    ),
    Scenario(
        "proxy-http-hostname-rdns",
        8,
        {"/": echo},
        [Step(uri="http://localhost:{port}/")],
        proxy=("http", None, None),
        proxy_info=(P_HTTP, True, None, None),
        expect=200,
    ),
    Scenario(
        "proxy-http-hostname-local-dns",
        8,
        {"/": echo},
        [Step(uri="http://localhost:{port}/")],
        proxy=("http", None, None),
        proxy_info=(P_HTTP, False, None, None),
        expect=200,
    ),
    Scenario(
        "proxy-from-env-http",
        8,
        {"/": echo},
        proxy=("http", None, None),
        env={"http_proxy": "http://127.0.0.1:{proxy_port}"},
        expect=200,
    ),
    Scenario(
        "proxy-from-env-credentials",
        8,
        {"/": echo},
        proxy=("http", "pu", "pp"),
        env={"http_proxy": "http://pu:pp@127.0.0.1:{proxy_port}"},
        expect=200,
    ),
    Scenario(
        "proxy-from-env-https",
        8,
        {"/": ok()},
        tls="ok",
        kwargs={"ca_certs": "{ca}"},
        proxy=("http", None, None),
        env={"https_proxy": "http://127.0.0.1:{proxy_port}"},
        expect=200,
    ),
    Scenario(
        "proxy-env-no-proxy-bypass",
        8,
        {"/": echo},
        proxy=("http", None, None),
        env={"http_proxy": "http://127.0.0.1:{proxy_port}", "no_proxy": "localhost,127.0.0.1"},
        expect=200,
    ),
    Scenario(
        "proxy-env-socks5-url",
        8,
        {"/": echo},
        proxy=("socks5", None, None),
        env={"http_proxy": "socks5://127.0.0.1:{proxy_port}"},
        expect=200,
    ),
    Scenario(
        "proxy-env-socks4-url",
        8,
        {"/": echo},
        proxy=("socks4", None, None),
        env={"http_proxy": "socks4://127.0.0.1:{proxy_port}"},
        expect=200,
    ),
    Scenario(
        "proxy-info-callable",
        8,
        {"/": echo},
        proxy=("http", None, None),
        proxy_info=("callable", True, None, None),
        expect=200,
    ),
    Scenario(
        "proxy-refused",
        8,
        {"/": ok()},
        proxy=("http", None, None),
        proxy_info=(P_HTTP, True, None, None, "closed"),
        expect="ProxyConnectionError",
    ),
    Scenario(
        "proxy-refused-force",
        8,
        {"/": ok()},
        proxy=("http", None, None),
        proxy_info=(P_HTTP, True, None, None, "closed"),
        attrs={"force_exception_to_status_code": True},
        expect=400,
    ),
    Scenario("socks4", 8, {"/": echo}, proxy=("socks4", None, None), proxy_info=(P_S4, True, None, None), expect=200),
    Scenario(
        "socks4-userid",
        8,
        {"/": echo},
        proxy=("socks4", "ident", None),
        proxy_info=(P_S4, True, "ident", None),
        expect=200,
    ),
    Scenario(
        "socks4a-hostname",
        8,
        {"/": echo},
        [Step(uri="http://localhost:{port}/")],
        proxy=("socks4", None, None),
        proxy_info=(P_S4, True, None, None),
        expect=200,
    ),
    Scenario(
        "socks4-local-dns",
        8,
        {"/": echo},
        [Step(uri="http://localhost:{port}/")],
        proxy=("socks4", None, None),
        proxy_info=(P_S4, False, None, None),
        expect=200,
    ),
    Scenario(
        "socks4-refuses-target",
        8,
        {},
        [Step(uri=BLOCKED)],
        proxy=("socks4", None, None),
        proxy_info=(P_S4, True, None, None),
        expect="GeneralProxyError",
    ),
    Scenario("socks5", 8, {"/": echo}, proxy=("socks5", None, None), proxy_info=(P_S5, True, None, None), expect=200),
    Scenario(
        "socks5-https",
        8,
        {"/": ok(b"socks tls")},
        tls="ok",
        kwargs={"ca_certs": "{ca}"},
        proxy=("socks5", None, None),
        proxy_info=(P_S5, True, None, None),
        expect=200,
    ),
    Scenario(
        "socks5-auth", 8, {"/": echo}, proxy=("socks5", "su", "sp"), proxy_info=(P_S5, True, "su", "sp"), expect=200
    ),
    Scenario(
        "socks5-auth-wrong",
        8,
        {"/": echo},
        proxy=("socks5", "su", "sp"),
        proxy_info=(P_S5, True, "su", "bad"),
        expect="GeneralProxyError",
    ),
    Scenario(
        "socks5-auth-not-offered",
        8,
        {"/": echo},
        proxy=("socks5", "su", "sp"),
        proxy_info=(P_S5, True, None, None),
        expect="GeneralProxyError",
    ),
    Scenario(
        "socks5-hostname-rdns",
        8,
        {"/": echo},
        [Step(uri="http://localhost:{port}/")],
        proxy=("socks5", None, None),
        proxy_info=(P_S5, True, None, None),
        expect=200,
    ),
    Scenario(
        "socks5-local-dns",
        8,
        {"/": echo},
        [Step(uri="http://localhost:{port}/")],
        proxy=("socks5", None, None),
        proxy_info=(P_S5, False, None, None),
        expect=200,
    ),
    Scenario(
        "socks5-refuses-target",
        8,
        {},
        [Step(uri=BLOCKED)],
        proxy=("socks5", None, None),
        proxy_info=(P_S5, True, None, None),
        expect="GeneralProxyError",
    ),
)

# ---- 9. timeouts and retries
add(
    Scenario("timeout-read", 9, {"/": slow(1.0)}, kwargs={"timeout": 0.2}, expect="TimeoutError"),
    Scenario(
        "timeout-connect",
        9,
        {},
        [Step(uri="http://127.0.0.1:{full_port}/")],
        kwargs={"timeout": 0.3},
        expect="TimeoutError",
    ),
    Scenario(
        "timeout-write",
        9,
        {"/up": stall_upload},
        [Step("/up", method="PUT", body=b"x" * (48 << 20))],
        kwargs={"timeout": 0.3},
        expect="TimeoutError",
    ),
    Scenario(
        "force-timeout-connect-408",
        10,
        {},
        [Step(uri="http://127.0.0.1:{full_port}/")],
        kwargs={"timeout": 0.3},
        attrs={"force_exception_to_status_code": True},
        expect=408,
    ),
    Scenario(
        "timeout-then-next-ok",
        9,
        {"/": slow(1.0), "/fast": ok()},
        [Step(), Step("/fast")],
        kwargs={"timeout": 0.2},
        expect=200,
    ),
    Scenario("stale-connection-get-retried", 9, {"/": drop_first()}, expect=200),
    Scenario(
        "stale-connection-put-retried", 9, {"/": drop_first()}, [Step(method="PUT", body=b"idempotent")], expect=200
    ),
    Scenario(
        "idle-keepalive-closed-get",
        9,
        {"/": hang_up},
        [Step(), WaitClosed(1), Step(), WaitClosed(2), Step()],
        expect=_first_ok_then_ok_or_reset,
        differs=STALE_IDLE,
        check_differs=_check_all_ok,
    ),
    Scenario(
        "idle-keepalive-closed-post",
        9,
        {"/": hang_up},
        [Step(), WaitClosed(1), Step(method="POST", body=b"after idle")],
        expect=_first_ok_then_ok_or_reset,
        differs=STALE_IDLE,
        check_differs=_check_all_ok,
    ),
    Scenario("drop-always", 9, {"/": drop_always}, expect="RemoteDisconnected"),
    Scenario(
        "stale-connection-post",
        9,
        {"/": drop_first()},
        [Step(method="POST", body=b"once only")],
        expect=200,
        differs="httplib2 re-sends a POST after the server closed the connection without answering; "
        "the server may have processed it, so asynchttp raises instead of repeating it",
        check_differs=_check_post_not_repeated,
    ),
    Scenario("refused", 9, {}, [Step(uri="http://127.0.0.1:{closed_port}/")], expect="ConnectionRefusedError"),
    Scenario("bad-status-line", 9, {"/": raw(b"NONSENSE\r\n\r\n")}, expect="BadStatusLine"),
    Scenario(
        "truncated-body", 9, {"/": raw(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nshort")}, expect="IncompleteRead"
    ),
)

# ---- 10. force_exception_to_status_code
FORCE = {"force_exception_to_status_code": True}
add(
    Scenario("force-relative-uri", 10, {}, [Step(uri="/relative")], attrs=FORCE, expect=400),
    Scenario("force-unknown-scheme", 10, {}, [Step(uri="ftp://127.0.0.1/x")], attrs=FORCE, expect=400),
    Scenario("force-missing-location", 10, {"/": redirect(302, None, b"where")}, attrs=FORCE, expect=500),
    Scenario(
        "force-redirect-limit",
        10,
        {"/": redirect(302, "/1"), "/1": redirect(302, "/2"), "/2": ok()},
        [Step(redirections=1)],
        attrs=FORCE,
        expect=500,
    ),
    Scenario("force-timeout-408", 10, {"/": slow(1.0)}, kwargs={"timeout": 0.2}, attrs=FORCE, expect=408),
    Scenario(
        "force-refused-400",
        10,
        {},
        [Step(uri="http://127.0.0.1:{closed_port}/")],
        attrs=FORCE,
        expect=400,
        differs="the 400's content is str(exception): asynchttp's connection errors name the host and port",
        check_differs=_check_refused_400,
        differs_for=("blocking", "promise"),
    ),
    Scenario(
        "force-digest-unimplemented",
        10,
        {"/": digest_protected(qop="auth-int")},
        credentials=[("joe", "secret", "")],
        attrs=FORCE,
        expect=400,
    ),
    Scenario(
        "force-cached-permanent-over-limit",
        10,
        {"/new": ok()},
        [Step("/old", redirections=0)],
        cache=True,
        setup_cache=_seed_permanent,
        attrs=FORCE,
        expect="AttributeError",
    ),
    Scenario("force-success-untouched", 10, {"/": ok()}, attrs=FORCE, expect=200),
)


# ---- 7. TLS options (certificates made at test time with trustme)
def peer(req: Request, state: dict) -> Reply:
    return Reply(200, [("Content-Type", "text/plain")], ("client cert: %s" % req.peer_subject).encode())


add(
    Scenario("https-ca-certs", 7, {"/": ok(b"secure")}, tls="ok", kwargs={"ca_certs": "{ca}"}, expect=200),
    Scenario("https-default-bundle-rejects", 7, {"/": ok()}, tls="ok", expect="SSLCertVerificationError"),
    Scenario(
        "https-untrusted-ca",
        7,
        {"/": ok()},
        tls="ok",
        kwargs={"ca_certs": "{untrusted_ca}"},
        expect="SSLCertVerificationError",
    ),
    Scenario(
        "https-disable-validation",
        7,
        {"/": ok(b"unchecked")},
        tls="ok",
        kwargs={"disable_ssl_certificate_validation": True},
        expect=200,
    ),
    Scenario(
        "https-disable-validation-wrong-host",
        7,
        {"/": ok()},
        tls="wrong-host",
        kwargs={"disable_ssl_certificate_validation": True},
        expect=200,
    ),
    Scenario(
        "https-wrong-host",
        7,
        {"/": ok()},
        tls="wrong-host",
        kwargs={"ca_certs": "{ca}"},
        expect="SSLCertVerificationError",
    ),
    Scenario(
        "https-missing-ca-file", 7, {"/": ok()}, tls="ok", kwargs={"ca_certs": "{missing}"}, expect="FileNotFoundError"
    ),
    Scenario(
        "https-tls-max-below-server-min",
        7,
        {"/": ok()},
        tls="tls13-only",
        kwargs={"ca_certs": "{ca}", "tls_maximum_version": "TLSv1_2"},
        expect="SSLError",
    ),
    Scenario(
        "https-tls-min-13",
        7,
        {"/": ok()},
        tls="ok",
        kwargs={"ca_certs": "{ca}", "tls_minimum_version": "TLSv1_3"},
        expect=200,
    ),
    Scenario(
        "https-tls-version-enum",
        7,
        {"/": ok()},
        tls="ok",
        kwargs={"ca_certs": "{ca}", "tls_maximum_version": ssl.TLSVersion.TLSv1_2},
        expect=200,
    ),
    Scenario(
        "https-redirect-and-cache",
        7,
        {"/": redirect(301, "/t"), "/t": counted(headers=FRESH)},
        [Step(), Step()],
        tls="ok",
        kwargs={"ca_certs": "{ca}"},
        cache=True,
        expect=200,
    ),
    Scenario(
        "https-basic-auth",
        7,
        {"/": basic_protected()},
        tls="ok",
        kwargs={"ca_certs": "{ca}"},
        credentials=[("joe", "secret", "")],
        expect=200,
    ),
    Scenario(
        "client-cert",
        7,
        {"/": peer},
        tls="client-cert",
        kwargs={"ca_certs": "{ca}"},
        certificates=[("{client_key}", "{client_cert}", "", None)],
        expect=200,
    ),
    Scenario(
        "client-cert-with-password",
        7,
        {"/": peer},
        tls="client-cert",
        kwargs={"ca_certs": "{ca}"},
        certificates=[("{client_key_encrypted}", "{client_cert}", "", "pw")],
        expect=200,
    ),
    Scenario(
        "client-cert-domain-match",
        7,
        {"/": peer},
        tls="client-cert",
        kwargs={"ca_certs": "{ca}"},
        certificates=[("{client_key}", "{client_cert}", "{authority}", None)],
        expect=200,
    ),
    Scenario(
        "client-cert-domain-other",
        7,
        {"/": peer},
        tls="client-cert",
        kwargs={"ca_certs": "{ca}"},
        certificates=[("{client_key}", "{client_cert}", "example.org", None)],
        expect=200,
    ),
    Scenario("client-cert-none", 7, {"/": peer}, tls="client-cert", kwargs={"ca_certs": "{ca}"}, expect=200),
)

SCENARIOS = S
