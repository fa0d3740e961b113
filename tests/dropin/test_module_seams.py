"""Issue 22: httplib2's module-level names, read by asynchttp when httplib2 reads them.

Each name httplib2 0.32's request path reads is patched before the Http is made and
after (before its first request), and the outcome is compared with httplib2's own
``Http`` doing the same: the connection classes in ``SCHEME_TO_CONNECTION``, the name
``HTTPSConnectionWithTimeout``, ``debuglevel``, ``RETRIES``, ``CA_CERTS``,
``DEFAULT_TLS_VERSION``, ``socks``, the tables httplib2 consults... An interception
class that answers in-process gets every request and the local server counts no
arrival. docs/httplib2-module-names.rst holds the table; the last tests check that it
lists every name httplib2's code reads (found by reading httplib2's bytecode) and
that each row names a test that exists.

Real local servers throughout; what is patched is httplib2's module, the subject.
"""

from __future__ import annotations

import dis
import errno
import http.client
import importlib
import io
import re
import ssl
import sys
import types
import unittest.mock
from pathlib import Path
from typing import Any, Callable, Iterator

import httplib2
import pytest

import asynchttp
from tests.dropin.conftest import WAIT
from tests.servers.http_server import Request, Response, TestServer
from tests.servers.proxies import ProxyServer

CLASSES = [asynchttp.Http, asynchttp.BlockingHttp]
WHEN = ["before", "after"]  # patched before the Http is made, or after (before its first request)
DOCS = Path(__file__).resolve().parents[2] / "docs" / "httplib2-module-names.rst"

OWN_HTTP = httplib2.HTTPConnectionWithTimeout
OWN_HTTPS = httplib2.HTTPSConnectionWithTimeout

ANSWER = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 11\r\nX-Answered-By: interceptor\r\n\r\nintercepted"

# What the interception classes saw, in order (reset by every test).
LOG: list[tuple[Any, ...]] = []


@pytest.fixture(autouse=True)
def fresh_log() -> Iterator[None]:
    LOG.clear()
    yield
    LOG.clear()


def _as_logged(data: bytes) -> bytes:
    # the one intended difference on the wire: asynchttp's User-Agent names itself too
    return re.sub(rb"user-agent: [^\r]*", b"user-agent: *", bytes(data))


class _InProcessSocket:
    """Enough of a socket for http.client: records what is sent, answers ANSWER."""

    def sendall(self, data: bytes) -> None:
        LOG.append(("sent", _as_logged(data)))

    def makefile(self, mode: str) -> io.BytesIO:
        return io.BytesIO(ANSWER)

    def close(self) -> None:
        LOG.append(("closed",))


class Intercepting(httplib2.HTTPConnectionWithTimeout):
    """What interception tools install: httplib2's class, answering in-process."""

    def __init__(self, host: str, port: Any = None, timeout: Any = None, proxy_info: Any = None) -> None:
        super().__init__(host, port=port, timeout=timeout, proxy_info=proxy_info)
        LOG.append(("init", type(self).__name__, host, timeout))

    def connect(self) -> None:
        LOG.append(("connect", self.host, self.port))
        self.sock = _InProcessSocket()


class InterceptingTLS(httplib2.HTTPSConnectionWithTimeout):
    """Built as vcrpy builds its own: without httplib2's constructor, which finds its
    base through the module name ``HTTPSConnectionWithTimeout`` (rebound, it would
    find this class and recurse)."""

    def __init__(self, host: str, port: Any = None, **kwargs: Any) -> None:
        http.client.HTTPConnection.__init__(self, host, port=port or 443, timeout=kwargs.get("timeout"))
        LOG.append(("init", type(self).__name__, host, tuple(sorted(kwargs))))

    def connect(self) -> None:
        LOG.append(("connect", self.host, self.port))
        self.sock = _InProcessSocket()


class Unreachable(httplib2.HTTPConnectionWithTimeout):
    """A network that is never there: httplib2 retries ENETUNREACH up to RETRIES times."""

    def connect(self) -> None:
        LOG.append(("connect", self.host, self.port))
        raise OSError(errno.ENETUNREACH, "Network is unreachable (in-process)")


# ---------------------------------------------------------------------------
# The harness: the same steps under httplib2.Http and under an asynchttp class


def outcome(call: Callable[[], Any]) -> tuple[Any, ...]:
    """What a request came to, in terms both clients share."""
    try:
        response, content = call()
        content = bytes(content)  # touches a promise
        status = response.status
    except Exception as exc:
        return ("raised", type(exc).__name__, str(exc))
    headers = {k: v for k, v in response.items() if k not in ("date", "x-conn-id", "x-conn-requests")}
    return ("answered", status, headers, content)


def compare(
    cls: type,
    when: str,
    patch: Callable[[pytest.MonkeyPatch], None],
    steps: Callable[[Any], list[tuple[Any, ...]]],
    made: list,
    **kwargs: Any,
) -> tuple[Any, Any]:
    """Run ``steps`` on httplib2.Http then on ``cls``, each with ``patch`` applied
    ``when`` (before or after the Http is made), undone after; returns both results
    (each ``(steps' results, LOG)``)."""
    results = []
    for client in (httplib2.Http, cls):
        LOG.clear()
        with pytest.MonkeyPatch.context() as mp:
            if when == "before":
                patch(mp)
            http = client(timeout=WAIT, **kwargs)
            if isinstance(http, asynchttp.Http):
                made.append(http)
            if when == "after":
                patch(mp)
            results.append((steps(http), list(LOG)))
    return results[0], results[1]


def get(http: Any, uri: str, **kwargs: Any) -> tuple[Any, ...]:
    return outcome(lambda: http.request(uri, **kwargs))


ids = {"ids": lambda c: c.__name__}


# ---------------------------------------------------------------------------
# SCHEME_TO_CONNECTION and the connection classes


def install_items(mp: pytest.MonkeyPatch) -> None:
    mp.setitem(httplib2.SCHEME_TO_CONNECTION, "http", Intercepting)
    mp.setitem(httplib2.SCHEME_TO_CONNECTION, "https", InterceptingTLS)


def install_like_vcrpy(mp: pytest.MonkeyPatch) -> None:
    """vcrpy's way: the table and both class names rebound."""
    mp.setattr(httplib2, "SCHEME_TO_CONNECTION", {"http": Intercepting, "https": InterceptingTLS})
    mp.setattr(httplib2, "HTTPConnectionWithTimeout", Intercepting)
    mp.setattr(httplib2, "HTTPSConnectionWithTimeout", InterceptingTLS)


@pytest.mark.parametrize("scheme", ["http", "https"])
@pytest.mark.parametrize("install", [install_items, install_like_vcrpy], ids=["items", "rebound"])
@pytest.mark.parametrize("when", WHEN)
@pytest.mark.parametrize("cls", CLASSES, **ids)
def test_installed_class_answers_every_request_in_process(
    cls: type,
    when: str,
    install: Callable[[pytest.MonkeyPatch], None],
    scheme: str,
    http_server: TestServer,
    https_server: TestServer,
    made: list,
) -> None:
    server = http_server if scheme == "http" else https_server

    def steps(http: Any) -> list[tuple[Any, ...]]:
        return [get(http, server.url("/hello?n=%d" % n)) for n in range(3)] + [
            get(http, server.url("/echo"), method="POST", body=b"payload")
        ]

    theirs, mine = compare(cls, when, install, steps, made, proxy_info=None)
    assert mine == theirs
    answers, log = mine
    assert answers[0] == ("answered", 200, mine[0][0][2], b"intercepted")
    heads = [entry[1].split(b" ", 1)[0] for entry in log if entry[0] == "sent" and b"HTTP/1.1\r\n" in entry[1]]
    assert heads == [b"GET", b"GET", b"GET", b"POST"]  # every request, to the class
    assert server.requests == []  # and none to the network


def test_installed_class_with_many_promises_at_once(http_server: TestServer, made: list) -> None:
    """Promises stay promises in httplib2's flow: twenty at once, every one answered
    in-process, none reaching the server."""
    http = asynchttp.Http(proxy_info=None, max_connections=4)
    made.append(http)
    with pytest.MonkeyPatch.context() as mp:
        install_items(mp)
        answers = [http.request(http_server.url("/hello?n=%d" % n)) for n in range(20)]
        assert all(isinstance(response, asynchttp.ResponsePromise) for response, _ in answers)
        assert [bytes(content) for _, content in answers] == [b"intercepted"] * 20
    assert http_server.requests == []


def test_the_reproduction_of_issue_22(http_server: TestServer, made: list, monkeypatch: pytest.MonkeyPatch) -> None:
    """As the issue reports it: Http() with its defaults, the class set in the table."""
    for name in ("http_proxy", "HTTP_PROXY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setitem(httplib2.SCHEME_TO_CONNECTION, "http", Intercepting)
    theirs = httplib2.Http().request(http_server.url("/"))
    mine = asynchttp.BlockingHttp()
    made.append(mine)
    assert mine.request(http_server.url("/"))[1] == theirs[1] == b"intercepted"
    assert http_server.requests == []


def test_a_sink_needs_the_pool(http_server: TestServer, made: list, tmp_path: Path) -> None:
    """Bodies to disk are asynchttp's own: with a class installed, refused at the call
    (the message names what to undo), and nothing is sent."""
    http = asynchttp.BlockingHttp(proxy_info=None)
    made.append(http)
    with pytest.MonkeyPatch.context() as mp:
        install_items(mp)
        with pytest.raises(ValueError, match="SCHEME_TO_CONNECTION"):
            http.request(http_server.url("/hello"), sink=str(tmp_path / "body"))
    assert http_server.requests == [] and LOG == [] and list(tmp_path.iterdir()) == []
    http.request(http_server.url("/hello"), sink=str(tmp_path / "body"))
    assert (tmp_path / "body").read_bytes() == b"hello world"


@pytest.mark.parametrize("cls", CLASSES, **ids)
def test_installed_class_under_the_module_alias(
    cls: type, restore_httplib2: None, http_server: TestServer, made: list, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``sys.modules["httplib2"] = asynchttp``: a library's ``import httplib2`` gets
    asynchttp, and what it installs there is what httplib2's own code reads."""
    sys.modules["httplib2"] = asynchttp
    alias = importlib.import_module("httplib2")
    assert alias is asynchttp
    monkeypatch.setattr(alias, "SCHEME_TO_CONNECTION", {"http": Intercepting, "https": InterceptingTLS})
    assert httplib2.SCHEME_TO_CONNECTION is alias.SCHEME_TO_CONNECTION  # one setting
    http = getattr(alias, cls.__name__)(proxy_info=None)
    made.append(http)
    assert get(http, http_server.url("/hello")) == get(httplib2.Http(proxy_info=None), http_server.url("/hello"))
    monkeypatch.undo()
    assert httplib2.SCHEME_TO_CONNECTION["http"] is OWN_HTTP
    monkeypatch.setitem(alias.SCHEME_TO_CONNECTION, "http", Intercepting)  # in place, through the alias
    assert get(cls(proxy_info=None), http_server.url("/hello"))[3] == b"intercepted"
    assert http_server.requests == []


@pytest.mark.parametrize("cls", CLASSES, **ids)
def test_redirect_to_a_scheme_whose_class_is_installed(
    cls: type, http_server: TestServer, https_server: TestServer, made: list
) -> None:
    """Only https intercepted: the first hop reaches the server, the redirect's hop
    the installed class, under both clients."""
    target = https_server.url("/hello")

    def install(mp: pytest.MonkeyPatch) -> None:
        mp.setitem(httplib2.SCHEME_TO_CONNECTION, "https", InterceptingTLS)

    def steps(http: Any) -> list[tuple[Any, ...]]:
        response, content = http.request(http_server.url("/redirect?to=%s" % target))
        return [(response.status, bytes(content), response.previous["status"], response["content-location"])]

    theirs, mine = compare(cls, "after", install, steps, made, proxy_info=None)
    assert mine == theirs and mine[0][0][:2] == (200, b"intercepted")
    assert len(http_server.requests) == 2 and https_server.requests == []  # one first hop each


@pytest.mark.parametrize("cls", CLASSES, **ids)
def test_a_scheme_added_to_the_table(cls: type, made: list) -> None:
    def install(mp: pytest.MonkeyPatch) -> None:
        mp.setitem(httplib2.SCHEME_TO_CONNECTION, "mock", Intercepting)

    def steps(http: Any) -> list[tuple[Any, ...]]:
        return [get(http, "mock://service.invalid/x?y=1")]

    theirs, mine = compare(cls, "after", install, steps, made, proxy_info=None)
    assert mine == theirs and mine[0][0][3] == b"intercepted"
    http = cls(proxy_info=None)
    made.append(http)
    with pytest.raises(KeyError):  # gone from the table: httplib2's KeyError, at the call
        http.request("mock://service.invalid/x")


@pytest.mark.parametrize("cls", CLASSES, **ids)
def test_a_scheme_removed_from_the_table(cls: type, http_server: TestServer, made: list) -> None:
    def remove(mp: pytest.MonkeyPatch) -> None:
        mp.delitem(httplib2.SCHEME_TO_CONNECTION, "http")

    def steps(http: Any) -> list[tuple[Any, ...]]:
        return [get(http, http_server.url("/hello"))]

    theirs, mine = compare(cls, "after", remove, steps, made, proxy_info=None)
    assert mine == theirs and mine[0][0][:2] == ("raised", "KeyError")
    assert http_server.requests == []


@pytest.mark.parametrize("cls", CLASSES, **ids)
def test_installed_after_the_origin_was_used(cls: type, http_server: TestServer, made: list) -> None:
    """The documented difference: httplib2 keeps the connection it made for an origin
    until close(), so a class installed later is not used for that origin; asynchttp
    uses it at the next request (traffic meant to stay in-process stays there)."""
    uri = http_server.url("/hello")
    theirs = httplib2.Http(proxy_info=None)
    mine = cls(proxy_info=None)
    made.append(mine)
    for client in (theirs, mine):
        assert get(client, uri)[3] == b"hello world"
    with pytest.MonkeyPatch.context() as mp:
        install_items(mp)
        assert get(theirs, uri)[3] == b"hello world"  # its kept connection: the network
        assert get(mine, uri)[3] == b"intercepted"
        theirs.close()
        mine.close()
        assert get(theirs, uri)[3] == get(mine, uri)[3] == b"intercepted"
    assert len(http_server.requests) == 3


@pytest.mark.parametrize("cls", CLASSES, **ids)
def test_a_subclass_flow_takes_the_installed_class_too(cls: type, http_server: TestServer, made: list) -> None:
    """A subclass overriding ``_request`` already runs httplib2's flow, whose pool
    stand-in is kept for the origin; a class installed later takes its place at the
    next request (as after close() in httplib2)."""
    seen: list[str] = []

    class Seamed(cls):  # type: ignore[valid-type,misc]
        def _request(self, conn: Any, *args: Any) -> Any:
            seen.append(type(conn).__name__)
            return super()._request(conn, *args)

    http = Seamed(proxy_info=None)
    made.append(http)
    uri = http_server.url("/hello")
    assert get(http, uri)[3] == b"hello world"
    with pytest.MonkeyPatch.context() as mp:
        install_items(mp)
        assert get(http, uri)[3] == b"intercepted"
    assert seen == ["_PoolConnection", "Intercepting"] and len(http_server.requests) == 1


@pytest.mark.parametrize("when", WHEN)
@pytest.mark.parametrize("cls", CLASSES, **ids)
def test_rebound_https_class_name(
    cls: type, when: str, https_server: TestServer, ca_bundle_path: str, made: list
) -> None:
    """``HTTPSConnectionWithTimeout`` rebound alone: httplib2 then builds its own
    class without TLS arguments (its ``issubclass`` check against the name fails),
    and that class's constructor finds its base through the name: TypeError, under
    both. (The pool would have answered: the rebinding is honoured, not ignored.)"""

    class Sub(OWN_HTTPS):
        pass

    def rebind(mp: pytest.MonkeyPatch) -> None:
        mp.setattr(httplib2, "HTTPSConnectionWithTimeout", Sub)

    def steps(http: Any) -> list[tuple[Any, ...]]:
        return [get(http, https_server.url("/hello"))[:2]]

    theirs, mine = compare(cls, when, rebind, steps, made, proxy_info=None, ca_certs=ca_bundle_path)
    assert mine == theirs == ([("raised", "TypeError")], [])
    assert https_server.requests == []
    http = cls(proxy_info=None, ca_certs=ca_bundle_path)
    made.append(http)
    assert get(http, https_server.url("/hello"))[3] == b"hello world"  # not rebound: the pool


# ---------------------------------------------------------------------------
# debuglevel, RETRIES


def _printed(text: str) -> list[str]:
    lines = [line for line in text.splitlines() if line.startswith(("send:", "reply:", "header:"))]
    return [
        re.sub(r"(user-agent: )[^\\]*|(header: (Date|x-conn-id|x-conn-requests): ).*", r"\1\2*", line) for line in lines
    ]


@pytest.mark.parametrize("when", WHEN)
@pytest.mark.parametrize("cls", CLASSES, **ids)
def test_debuglevel_prints_as_httplib2(
    cls: type, when: str, http_server: TestServer, made: list, capsys: pytest.CaptureFixture[str]
) -> None:
    def debug(mp: pytest.MonkeyPatch) -> None:
        mp.setattr(httplib2, "debuglevel", 1)

    printed = []
    for client in (httplib2.Http, cls):

        def steps(http: Any) -> list[tuple[Any, ...]]:
            return [get(http, http_server.url("/hello"))]

        capsys.readouterr()
        theirs, mine = compare(client, when, debug, steps, made, proxy_info=None)
        printed.append(_printed(capsys.readouterr().out))
        assert theirs[0] == mine[0]
    assert printed[0] == printed[1] and printed[0][0].startswith("send: b'GET /hello HTTP/1.1")
    assert any(line.startswith("reply: 'HTTP/1.1 200 OK") for line in printed[0])
    assert len(http_server.requests) == 4  # each client once per comparison (twice)
    capsys.readouterr()
    assert get(cls(proxy_info=None), http_server.url("/hello"))[3] == b"hello world"
    assert _printed(capsys.readouterr().out) == []  # level 0 again: the pool, silent


@pytest.mark.parametrize("retries", [0, 1, 3])
@pytest.mark.parametrize("when", WHEN)
@pytest.mark.parametrize("cls", CLASSES, **ids)
def test_retries(cls: type, when: str, retries: int, made: list) -> None:
    """In httplib2's flow (an installed class that never reaches its network): as
    many connects as RETRIES allows, the same error; RETRIES=0: httplib2's
    UnboundLocalError, nothing attempted."""

    def patch(mp: pytest.MonkeyPatch) -> None:
        mp.setitem(httplib2.SCHEME_TO_CONNECTION, "http", Unreachable)
        mp.setattr(httplib2, "RETRIES", retries)

    def steps(http: Any) -> list[tuple[Any, ...]]:
        return [get(http, "http://unreachable.invalid/")[:2]]

    theirs, mine = compare(cls, when, patch, steps, made, proxy_info=None)
    assert mine == theirs
    assert [entry[0] for entry in mine[1]].count("connect") == retries


@pytest.mark.parametrize("when", WHEN)
@pytest.mark.parametrize("cls", CLASSES, **ids)
def test_retries_zero_on_the_pool_path(cls: type, when: str, http_server: TestServer, made: list) -> None:
    def patch(mp: pytest.MonkeyPatch) -> None:
        mp.setattr(httplib2, "RETRIES", 0)

    def steps(http: Any) -> list[tuple[Any, ...]]:
        return [get(http, http_server.url("/hello"))[:2]]

    theirs, mine = compare(cls, when, patch, steps, made, proxy_info=None)
    assert mine == theirs == ([("raised", "UnboundLocalError")], [])
    assert http_server.requests == []


@pytest.mark.parametrize("cls", CLASSES, **ids)
def test_retries_and_debuglevel_through_the_alias(
    cls: type, restore_httplib2: None, http_server: TestServer, made: list, capsys: pytest.CaptureFixture[str]
) -> None:
    sys.modules["httplib2"] = asynchttp
    alias = importlib.import_module("httplib2")
    http = getattr(alias, cls.__name__)(proxy_info=None)
    made.append(http)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(alias, "RETRIES", 0)
        assert httplib2.RETRIES == 0
        assert get(http, http_server.url("/hello"))[:2] == ("raised", "UnboundLocalError")
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(alias, "debuglevel", 1)
        capsys.readouterr()
        assert get(http, http_server.url("/hello"))[3] == b"hello world"
        assert _printed(capsys.readouterr().out)[0].startswith("send: b'GET /hello HTTP/1.1")
    assert httplib2.RETRIES == 2 and httplib2.debuglevel == 0


# ---------------------------------------------------------------------------
# TLS: CA_CERTS, DEFAULT_TLS_VERSION


@pytest.mark.parametrize("when", WHEN)
@pytest.mark.parametrize("cls", CLASSES, **ids)
def test_ca_certs(cls: type, when: str, https_server: TestServer, ca_bundle_path: str, made: list) -> None:
    def trust(mp: pytest.MonkeyPatch) -> None:
        mp.setattr(httplib2, "CA_CERTS", ca_bundle_path)

    def steps(http: Any) -> list[tuple[Any, ...]]:
        return [get(http, https_server.url("/hello"))[:2]]

    theirs, mine = compare(cls, when, trust, steps, made, proxy_info=None)
    assert mine == theirs == ([("answered", 200)], [])
    theirs, mine = compare(cls, when, lambda mp: None, steps, made, proxy_info=None)
    assert mine == theirs == ([("raised", "SSLCertVerificationError")], [])


@pytest.mark.parametrize("when", WHEN)
@pytest.mark.parametrize("cls", CLASSES, **ids)
def test_default_tls_version(cls: type, when: str, https_server: TestServer, ca_bundle_path: str, made: list) -> None:
    def server_protocol(mp: pytest.MonkeyPatch) -> None:
        mp.setattr(httplib2, "DEFAULT_TLS_VERSION", ssl.PROTOCOL_TLS_SERVER)

    def steps(http: Any) -> list[tuple[Any, ...]]:
        return [get(http, https_server.url("/hello"))]

    theirs, mine = compare(cls, when, server_protocol, steps, made, proxy_info=None, ca_certs=ca_bundle_path)
    assert mine == theirs
    assert mine[0][0][:2] == ("raised", "SSLError") and "PROTOCOL_TLS_SERVER" in mine[0][0][2]
    assert https_server.requests == []


# ---------------------------------------------------------------------------
# Proxies: socks, proxy_info_from_environment


@pytest.mark.parametrize("when", WHEN)
@pytest.mark.parametrize("cls", CLASSES, **ids)
def test_socks_missing(cls: type, when: str, http_server: TestServer, https_server: TestServer, made: list) -> None:
    """``httplib2.socks = None`` (PySocks missing): a plain-HTTP request with a proxy
    raises ProxiesUnavailableError; an HTTPS one goes direct (ProxyInfo.isgood())."""
    with ProxyServer("http") as proxy:
        info = httplib2.ProxyInfo(httplib2.socks.PROXY_TYPE_HTTP, "127.0.0.1", proxy.port)

        def no_socks(mp: pytest.MonkeyPatch) -> None:
            mp.setattr(httplib2, "socks", None)

        def steps(http: Any) -> list[tuple[Any, ...]]:
            return [get(http, http_server.url("/hello"))[:2], get(http, https_server.url("/hello"))[:2]]

        theirs, mine = compare(
            cls, when, no_socks, steps, made, proxy_info=info, disable_ssl_certificate_validation=True
        )
        assert mine == theirs
        assert mine[0] == [("raised", "ProxiesUnavailableError"), ("answered", 200)]
        assert proxy.log == [] and http_server.requests == []


@pytest.mark.parametrize("when", WHEN)
@pytest.mark.parametrize("cls", CLASSES, **ids)
def test_proxy_from_the_environment(
    cls: type, when: str, http_server: TestServer, made: list, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The default ``proxy_info`` (httplib2's ``proxy_info_from_environment``, bound
    when Http was defined) reads the environment when the connection is made."""
    monkeypatch.delenv("no_proxy", raising=False)
    monkeypatch.delenv("NO_PROXY", raising=False)
    with ProxyServer("http") as proxy:

        def environment(mp: pytest.MonkeyPatch) -> None:
            mp.setenv("http_proxy", "http://127.0.0.1:%d" % proxy.port)

        def steps(http: Any) -> list[tuple[Any, ...]]:
            return [get(http, http_server.url("/hello"))[:2]]

        theirs, mine = compare(cls, when, environment, steps, made)
        assert mine == theirs == ([("answered", 200)], [])
        assert [entry["kind"] for entry in proxy.log] == ["http", "http"]


@pytest.mark.parametrize("cls", CLASSES, **ids)
def test_rebinding_proxy_info_from_environment_changes_nothing(
    cls: type, http_server: TestServer, made: list, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Http's default was bound when the class was defined, in httplib2 as here."""
    called: list[str] = []

    def spy(method: str = "http") -> None:
        called.append(method)

    def rebind(mp: pytest.MonkeyPatch) -> None:
        mp.setattr(httplib2, "proxy_info_from_environment", spy)

    def steps(http: Any) -> list[tuple[Any, ...]]:
        return [get(http, http_server.url("/hello"))[:2]]

    monkeypatch.delenv("http_proxy", raising=False)
    monkeypatch.delenv("HTTP_PROXY", raising=False)
    theirs, mine = compare(cls, "before", rebind, steps, made)
    assert mine == theirs == ([("answered", 200)], []) and called == []


# ---------------------------------------------------------------------------
# The tables httplib2 consults: redirects, methods, hop-by-hop headers, auth schemes


@pytest.mark.parametrize("cls", CLASSES, **ids)
def test_default_max_redirects_is_bound_at_definition(cls: type, http_server: TestServer, made: list) -> None:
    def none_allowed(mp: pytest.MonkeyPatch) -> None:
        mp.setattr(httplib2, "DEFAULT_MAX_REDIRECTS", 0)

    def steps(http: Any) -> list[tuple[Any, ...]]:
        return [get(http, http_server.url("/redirect?to=/hello"))[:2]]

    theirs, mine = compare(cls, "before", none_allowed, steps, made, proxy_info=None)
    assert mine == theirs == ([("answered", 200)], [])


@pytest.mark.parametrize("name, value", [("REDIRECT_CODES", frozenset()), ("SAFE_METHODS", ())])
@pytest.mark.parametrize("when", WHEN)
@pytest.mark.parametrize("cls", CLASSES, **ids)
def test_tables_read_when_the_http_is_made(
    cls: type, when: str, name: str, value: Any, http_server: TestServer, made: list
) -> None:
    """Copied into the instance by httplib2's constructor: a patch before the Http is
    made stops the redirect, one after it changes nothing."""

    def patch(mp: pytest.MonkeyPatch) -> None:
        mp.setattr(httplib2, name, value)

    def steps(http: Any) -> list[tuple[Any, ...]]:
        return [get(http, http_server.url("/redirect?to=/hello"))[:2]]

    theirs, mine = compare(cls, when, patch, steps, made, proxy_info=None)
    assert mine == theirs == ([("answered", 302 if when == "before" else 200)], [])


@pytest.mark.parametrize("when", WHEN)
@pytest.mark.parametrize("cls", CLASSES, **ids)
def test_hop_by_hop(cls: type, when: str, http_server: TestServer, made: list, tmp_path: Path) -> None:
    """A 304 refreshes the cached entry's end-to-end headers; a name added to
    HOP_BY_HOP is left as it was, under both."""
    uri = http_server.url("/cache?etag=%22v1%22&cache-control=no-cache&body=kept")

    def hop(mp: pytest.MonkeyPatch) -> None:
        mp.setattr(httplib2, "HOP_BY_HOP", httplib2.HOP_BY_HOP + ["x-serve-count"])

    def steps(http: Any) -> list[tuple[Any, ...]]:
        first = http.request(uri)[0]["x-serve-count"]
        again = http.request(uri)[0]
        return [(again.fromcache, again.status, again["x-serve-count"] == first)]

    for n, patch in enumerate((hop, lambda mp: None)):
        theirs, mine = compare(cls, when, patch, steps, made, proxy_info=None, cache=str(tmp_path / str(n)))
        assert mine == theirs == ([(True, 200, patch is hop)], [])


def _token_server(server: TestServer) -> None:
    async def token(request: Request) -> Response:
        if request.header("authorization") != "Token u:p":
            return Response(401, b"who?", [("WWW-Authenticate", 'Token realm="t"')])
        return Response(200, b"token ok")

    server.route("/token", token)


class TokenAuthentication(httplib2.Authentication):
    def request(self, method: str, request_uri: str, headers: dict, content: Any) -> None:
        headers["authorization"] = "Token %s:%s" % self.credentials


@pytest.mark.parametrize("when", WHEN)
@pytest.mark.parametrize("cls", CLASSES, **ids)
def test_auth_scheme_tables(cls: type, when: str, http_server: TestServer, made: list) -> None:
    _token_server(http_server)

    def register(mp: pytest.MonkeyPatch) -> None:
        mp.setitem(httplib2.AUTH_SCHEME_CLASSES, "token", TokenAuthentication)
        mp.setattr(httplib2, "AUTH_SCHEME_ORDER", ["token"] + httplib2.AUTH_SCHEME_ORDER)

    def steps(http: Any) -> list[tuple[Any, ...]]:
        http.add_credentials("u", "p")
        return [get(http, http_server.url("/token"))[::3]]

    theirs, mine = compare(cls, when, register, steps, made, proxy_info=None)
    assert mine == theirs == ([("answered", b"token ok")], [])
    assert len(http_server.requests) == 4


@pytest.mark.parametrize("when", WHEN)
@pytest.mark.parametrize("cls", CLASSES, **ids)
def test_normalize_space(cls: type, when: str, http_server: TestServer, made: list) -> None:
    """httplib2's header normalisation (``_normalize_headers`` with ``NORMALIZE_SPACE``)
    is httplib2's own function, looked up at the call. (httplib2 0.32 passes the value
    as the replacement over a single space: a pattern that matches no space empties
    every value.)"""

    def patch(mp: pytest.MonkeyPatch) -> None:
        mp.setattr(httplib2, "NORMALIZE_SPACE", re.compile("never"))

    def steps(http: Any) -> list[tuple[Any, ...]]:
        get(http, http_server.url("/hello"), headers={"x-value": "a-b  c"})
        return [http_server.requests[-1].header("x-value")]

    theirs, mine = compare(cls, when, patch, steps, made, proxy_info=None)
    assert mine == theirs == ([""], [])
    theirs, mine = compare(cls, when, lambda mp: None, steps, made, proxy_info=None)
    assert mine == theirs == (["a-b  c"], [])


@pytest.mark.parametrize("cls", CLASSES, **ids)
def test_response_and_exception_classes_are_looked_up_when_used(cls: type, http_server: TestServer, made: list) -> None:
    class Limit(httplib2.RedirectLimit):
        pass

    class Answer(httplib2.Response):
        pass

    def patch(mp: pytest.MonkeyPatch) -> None:
        mp.setattr(httplib2, "RedirectLimit", Limit)
        mp.setattr(httplib2, "Response", Answer)

    def steps(http: Any) -> list[tuple[Any, ...]]:
        response = http.request(http_server.url("/hello"))[0]
        future = getattr(response, "future", None)  # a promise stands for the Response
        real = future.result()[0] if future is not None else response
        return [get(http, http_server.url("/redirect?to=/redirect"), redirections=1)[:2], (type(real).__name__,)]

    theirs, mine = compare(cls, "after", patch, steps, made, proxy_info=None)
    assert mine == theirs == ([("raised", "Limit"), ("Answer",)], [])


@pytest.mark.parametrize("cls", CLASSES, **ids)
def test_uri_helpers(cls: type, http_server: TestServer, made: list) -> None:
    """``urlnorm`` (and ``parse_uri``, ``URI`` under it) is httplib2's, looked up at
    the call; on the pool path a URI once split is remembered, so a patch is seen
    for URIs not split before. In httplib2's flow, at every request, as in httplib2."""
    calls: list[str] = []
    original = httplib2.urlnorm

    def counting(uri: str) -> Any:
        calls.append(uri)
        return original(uri)

    http = cls(proxy_info=None)
    made.append(http)
    fresh = http_server.url("/hello?fresh=%d" % id(http))
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(httplib2, "urlnorm", counting)
        assert get(http, fresh)[3] == b"hello world"
        assert calls == [fresh]  # the pool path: split once
        assert get(http, fresh)[3] == b"hello world"
        assert calls == [fresh]  # remembered (httplib2 would call it again)
        mp.setitem(httplib2.SCHEME_TO_CONNECTION, "http", Intercepting)
        assert get(http, fresh)[3] == b"intercepted"
        assert calls == [fresh, fresh]  # httplib2's flow: its own call


@pytest.mark.parametrize("cls", CLASSES, **ids)
def test_the_message_of_a_missing_location(cls: type, http_server: TestServer, made: list) -> None:
    """httplib2 words RedirectMissingLocation through its gettext alias ``_``."""

    async def no_location(request: Request) -> Response:
        return Response(302, b"")

    http_server.route("/nowhere", no_location)

    def shout(mp: pytest.MonkeyPatch) -> None:
        mp.setattr(httplib2, "_", str.upper)

    def steps(http: Any) -> list[tuple[Any, ...]]:
        return [get(http, http_server.url("/nowhere"))]

    theirs, mine = compare(cls, "after", shout, steps, made, proxy_info=None)
    assert mine == theirs
    assert mine[0][0] == (
        "raised",
        "RedirectMissingLocation",
        "REDIRECTED BUT THE RESPONSE IS MISSING A LOCATION: HEADER.",
    )


@pytest.mark.parametrize("when", WHEN)
@pytest.mark.parametrize("cls", CLASSES, **ids)
def test_decoders(cls: type, when: str, http_server: TestServer, made: list) -> None:
    """gzip is decoded by httplib2's ``_decompressContent``, which builds the decoder
    classes its module names at the time."""
    built: list[str] = []

    class CountingLimit(httplib2.LimitDecoder):  # type: ignore[misc]
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            built.append("limit")
            super().__init__(*args, **kwargs)

    def patch(mp: pytest.MonkeyPatch) -> None:
        mp.setattr(httplib2, "LimitDecoder", CountingLimit)

    def steps(http: Any) -> list[tuple[Any, ...]]:
        answer = get(http, http_server.url("/gzip"))
        return [(answer[2].get("-content-encoding"), len(answer[3]), len(built))]

    theirs, mine = compare(cls, when, patch, steps, made, proxy_info=None)
    assert mine[0] == [(theirs[0][0][0], theirs[0][0][1], 2)] and theirs[0][0][2] == 1


@pytest.mark.parametrize("when", WHEN)
@pytest.mark.parametrize("cls", CLASSES, **ids)
def test_cache_helpers(cls: type, when: str, http_server: TestServer, made: list, tmp_path: Path) -> None:
    """The cache's decisions are httplib2's functions, looked up at the call: one that
    calls every entry fresh serves the second request from the cache, under both."""
    uri = http_server.url("/cache?cache-control=no-cache&body=kept")

    def always_fresh(mp: pytest.MonkeyPatch) -> None:
        mp.setattr(httplib2, "_entry_disposition", lambda response_headers, request_headers: "FRESH")

    def steps(http: Any) -> list[tuple[Any, ...]]:
        http.request(uri)
        response, content = http.request(uri)
        return [(response.fromcache, bytes(content))]

    for n, patch in enumerate((always_fresh, lambda mp: None)):
        theirs, mine = compare(cls, when, patch, steps, made, proxy_info=None, cache=str(tmp_path / str(n)))
        assert mine == theirs == ([(patch is always_fresh, b"kept")], [])


@pytest.mark.parametrize("when", WHEN)
@pytest.mark.parametrize("cls", CLASSES, **ids)
def test_version_in_the_user_agent(cls: type, when: str, http_server: TestServer, made: list) -> None:
    def version(mp: pytest.MonkeyPatch) -> None:
        mp.setattr(httplib2, "__version__", "9.8.7")

    def steps(http: Any) -> list[tuple[Any, ...]]:
        get(http, http_server.url("/hello"))
        return [http_server.requests[-1].header("user-agent").split(" asynchttp")[0]]

    theirs, mine = compare(cls, when, version, steps, made, proxy_info=None)
    assert mine == theirs == (["Python-httplib2/9.8.7 (gzip)"], [])


@pytest.mark.parametrize("when", WHEN)
@pytest.mark.parametrize("cls", CLASSES, **ids)
def test_names_the_constructor_reads(
    cls: type, when: str, made: list, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """httplib2's constructor (which asynchttp's runs) builds FileCache, Credentials
    and KeyCerts and reads the decode limits with try_value_or_env: patched before
    the Http is made they count, after it they do not, in both."""

    class Cache(httplib2.FileCache):
        pass

    class Names(httplib2.Credentials):
        pass

    class Keys(httplib2.KeyCerts):
        pass

    def patch(mp: pytest.MonkeyPatch) -> None:
        mp.setattr(httplib2, "FileCache", Cache)
        mp.setattr(httplib2, "Credentials", Names)
        mp.setattr(httplib2, "KeyCerts", Keys)
        mp.setattr(httplib2, "try_value_or_env", lambda to, value, env_key, default=None: 1234)

    def steps(http: Any) -> list[tuple[Any, ...]]:
        return [
            (type(http.cache).__name__, type(http.credentials).__name__, type(http.certificates).__name__),
            tuple(sorted(http.limit_kwargs.values())),
        ]

    theirs, mine = compare(cls, when, patch, steps, made, proxy_info=None, cache=str(tmp_path))
    assert mine == theirs
    assert (mine[0][0][0] == "Cache") is (when == "before")


def test_names_httplib2_never_reads() -> None:
    """Offered, settable, and read by nothing in httplib2 0.32 (nor in asynchttp):
    setting it changes nothing, in both."""
    everything = [
        value
        for module in (httplib2, httplib2.auth)
        for value in [
            *vars(module).values(),
            *(f for c in vars(module).values() if isinstance(c, type) for f in vars(c).values()),
        ]
        if isinstance(value, types.FunctionType)
    ]
    assert "USE_WWW_AUTH_STRICT_PARSING" not in globals_read(everything)
    for path in (Path(asynchttp.__file__).parent).glob("*.py"):
        assert "USE_WWW_AUTH_STRICT_PARSING" not in path.read_text() or path.name == "__init__.py"


# ---------------------------------------------------------------------------
# asynchttp's httplib2 names are httplib2's


def test_every_httplib2_name_offered_is_a_window_onto_httplib2() -> None:
    forwarded = asynchttp._FORWARDED
    assert {"SCHEME_TO_CONNECTION", "RETRIES", "debuglevel", "CA_CERTS", "socks", "Response"} <= forwarded
    for name in forwarded:
        assert getattr(asynchttp, name) is getattr(httplib2, name), name
        assert name in dir(asynchttp) and name not in vars(asynchttp)
    assert "Http" not in forwarded and asynchttp.Http is not httplib2.Http
    from asynchttp import RETRIES  # from-imports read through too

    assert RETRIES == httplib2.RETRIES


def test_the_module_still_pickles_by_name() -> None:
    """cloudpickle (dask) pickles a module by reference; so does pickle, here."""
    import pickle

    assert isinstance(asynchttp, types.ModuleType)
    assert pickle.loads(pickle.dumps(asynchttp)) is asynchttp
    assert pickle.loads(pickle.dumps({"module": asynchttp}))["module"] is asynchttp


def test_writes_and_patches_through_asynchttp_reach_httplib2(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(asynchttp, "RETRIES", 7)
    assert httplib2.RETRIES == 7
    monkeypatch.setattr(httplib2, "RETRIES", 4)
    assert asynchttp.RETRIES == 4
    monkeypatch.undo()
    assert httplib2.RETRIES == asynchttp.RETRIES == 2
    with unittest.mock.patch.object(asynchttp, "debuglevel", 3):
        assert httplib2.debuglevel == 3
    assert httplib2.debuglevel == asynchttp.debuglevel == 0
    with unittest.mock.patch("httplib2.CA_CERTS", "/nowhere.pem"):
        assert asynchttp.CA_CERTS == "/nowhere.pem"
    assert asynchttp.CA_CERTS == httplib2.CA_CERTS != "/nowhere.pem"


# ---------------------------------------------------------------------------
# The docs table: complete (every name httplib2's request path reads), each row tested


def _code_objects(code: types.CodeType) -> Iterator[types.CodeType]:
    yield code
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            yield from _code_objects(const)


REQUEST_TIME = [
    httplib2.Http.request,
    httplib2.Http._request,
    httplib2.Http._conn_request,
    httplib2.Http._auth_from_challenge,
    httplib2.Http._normalize_headers,
    OWN_HTTP.__init__,
    OWN_HTTP.connect,
    OWN_HTTPS.__init__,
    OWN_HTTPS.connect,
    httplib2.proxy_info_from_environment,
    *(
        function
        for cls in (httplib2.ProxyInfo, httplib2.Response, *httplib2.AUTH_SCHEME_CLASSES.values())
        for function in vars(cls).values()
        if isinstance(function, types.FunctionType)
    ),
]


def globals_read(roots: list[Any]) -> set[str]:
    """httplib2 module names read by ``roots`` and the httplib2 functions they call,
    from the bytecode (LOAD_GLOBAL), less the stdlib modules httplib2 imported."""
    found: set[str] = set()
    seen: set[Any] = set()
    todo = list(roots)
    while todo:
        function = todo.pop()
        if function in seen or function.__globals__ is not vars(httplib2):
            continue
        seen.add(function)
        for code in _code_objects(function.__code__):
            for instruction in dis.get_instructions(code):
                if instruction.opname not in ("LOAD_GLOBAL", "LOAD_NAME"):
                    continue
                name = instruction.argval
                value = vars(httplib2).get(name, _code_objects)
                if value is _code_objects:
                    continue  # a builtin
                if isinstance(value, types.ModuleType) and not value.__name__.startswith(("httplib2", "socks")):
                    continue
                found.add(name)
                if isinstance(value, types.FunctionType):
                    todo.append(value)
    return found


def table_rows() -> list[tuple[list[str], str]]:
    """(names, test) for each row of the docs table: names in the first column as
    ``name``, the test named in the last as ``test_...``."""
    rows = []
    text = DOCS.read_text(encoding="utf-8")
    table = text.split(".. list-table::", 1)[1]
    for row in re.split(r"\n   \* - ", table)[1:]:
        cells = re.split(r"\n     - ", row)
        names = re.findall(r"``([A-Za-z_][\w.]*)``", cells[0])
        tests = re.findall(r"``(tests/[\w/]+\.py)::(test_\w+)``", cells[-1])
        if names:  # the header row names none
            rows.append((names, tests[0] if tests else ("", "")))
    return rows


def test_the_table_lists_every_name_the_request_path_reads() -> None:
    listed = {name for names, _ in table_rows() for name in names}
    read = globals_read(REQUEST_TIME)
    construction = globals_read([httplib2.Http.__init__]) | {"DEFAULT_MAX_REDIRECTS", "proxy_info_from_environment"}
    assert "SCHEME_TO_CONNECTION" in read and "RETRIES" in read and "debuglevel" in read  # the scan works
    assert read - listed == set()
    assert construction - listed == set()


def test_every_row_names_a_test_that_exists() -> None:
    root = Path(__file__).resolve().parents[2]
    rows = table_rows()
    assert len(rows) >= 15
    for names, (path, test) in rows:
        assert path, "row %s names no test" % names
        module = importlib.import_module(path[:-3].replace("/", "."))
        assert callable(getattr(module, test, None)), (names, path, test)
        assert (root / path).exists()


def test_the_fast_path_check_sees_each_seam(monkeypatch: pytest.MonkeyPatch) -> None:
    from asynchttp import _seams

    assert _seams.pool_stands_in()
    for patch in (
        lambda: monkeypatch.setitem(httplib2.SCHEME_TO_CONNECTION, "http", Intercepting),
        lambda: monkeypatch.setitem(httplib2.SCHEME_TO_CONNECTION, "ftp", Intercepting),
        lambda: monkeypatch.setattr(httplib2, "SCHEME_TO_CONNECTION", {"http": OWN_HTTP}),
        lambda: monkeypatch.setattr(httplib2, "HTTPSConnectionWithTimeout", InterceptingTLS),
        lambda: monkeypatch.setattr(httplib2, "debuglevel", 1),
    ):
        patch()
        assert not _seams.pool_stands_in()
        monkeypatch.undo()
        assert _seams.pool_stands_in()
    stand_ins: dict[str, type] = {"http": object}
    assert _seams.connection_for("http", stand_ins) is object
    assert _seams.connection_for("gopher", stand_ins) is None
    monkeypatch.setattr(httplib2, "debuglevel", 1)
    assert _seams.connection_for("http", stand_ins) is OWN_HTTP  # http.client must print
