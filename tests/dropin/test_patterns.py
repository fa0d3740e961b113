"""Issue 9 item 1: every way legacy code swaps httplib2 for asynchttp works.

"Libraries" here are small modules written to a temporary directory and imported the
way a real library is (``import httplib2`` / ``from httplib2 import Http`` /
subclassing at import time), so the tests see exactly what a swap reaches.
"""

from __future__ import annotations

import copy
import importlib
import itertools
import pickle
import sys
from pathlib import Path
from typing import Any, Iterator

import httplib2
import pytest

import asynchttp
from tests.dropin.conftest import WAIT
from tests.servers.http_server import TestServer

ORIGINAL_HTTP = httplib2.Http
REAL_HTTPLIB2 = httplib2  # the module object, whatever sys.modules says later
CLASSES = [asynchttp.BlockingHttp, asynchttp.Http]
_names = itertools.count(1)

LIBRARY = '''
import httplib2
from httplib2 import Http as EarlyHttp


def build_http():
    """google-api-python-client's build_http(): looks httplib2.Http up when called."""
    return httplib2.Http(timeout=%(timeout)r, proxy_info=None)


def build_early():
    """A library that took the name at import time."""
    return EarlyHttp(timeout=%(timeout)r, proxy_info=None)


class Client(httplib2.Http):
    """python-oauth2's Client: subclasses httplib2.Http at import, adds attributes in
    __init__, overrides request() and calls httplib2.Http.request(self, ...)."""

    def __init__(self, token, **kwargs):
        self.token = token
        self.signed = []
        httplib2.Http.__init__(self, **kwargs)

    def request(self, uri, method="GET", body=None, headers=None,
                redirections=httplib2.DEFAULT_MAX_REDIRECTS, connection_type=None):
        headers = dict(headers or {})
        headers["x-token"] = self.token
        self.signed.append(uri)
        return httplib2.Http.request(self, uri, method=method, body=body, headers=headers,
                                     redirections=redirections, connection_type=connection_type)


class SuperClient(httplib2.Http):
    """The same with super()."""

    def request(self, uri, *args, **kwargs):
        headers = dict(kwargs.pop("headers", None) or {})
        headers["x-token"] = "super"
        return super().request(uri, *args, headers=headers, **kwargs)
'''


@pytest.fixture
def library(tmp_path: Path, restore_httplib2: None) -> Iterator[Any]:
    """A function importing a fresh copy of the library module (a new name each time)."""
    (tmp_path / "pkg_marker").mkdir()
    sys.path.insert(0, str(tmp_path))
    imported: list[str] = []

    def load() -> Any:
        name = "dropin_library_%d" % next(_names)
        (tmp_path / (name + ".py")).write_text(LIBRARY % {"timeout": WAIT})
        importlib.invalidate_caches()
        imported.append(name)
        return importlib.import_module(name)

    yield load
    sys.path.remove(str(tmp_path))
    for name in imported:
        sys.modules.pop(name, None)


def close(*https: Any) -> None:
    for http in https:
        if isinstance(http, asynchttp.Http):
            http.shutdown(wait=True, cancel_pending=True)


def get(http: Any, url: str, **kwargs: Any) -> tuple[Any, bytes]:
    response, content = http.request(url, **kwargs)
    return response, bytes(content)


# -- assigning httplib2.Http ------------------------------------------------------


@pytest.mark.parametrize("cls", CLASSES, ids=lambda c: c.__name__)
def test_swap_before_the_library_is_imported(cls: type, library: Any, http_server: TestServer) -> None:
    httplib2.Http = cls
    lib = library()
    built, early, client = lib.build_http(), lib.build_early(), lib.Client("t", timeout=WAIT, proxy_info=None)
    try:
        assert type(built) is cls and type(early) is cls
        assert issubclass(lib.Client, cls)
        assert get(built, http_server.url("/hello"))[1] == b"hello world"
        assert get(early, http_server.url("/hello"))[1] == b"hello world"
        response, _ = get(client, http_server.url("/headers"))
        assert response.status == 200 and http_server.requests[-1].header("x-token") == "t"
    finally:
        close(built, early, client)


@pytest.mark.parametrize("cls", CLASSES, ids=lambda c: c.__name__)
def test_swap_after_the_library_is_imported(cls: type, library: Any, http_server: TestServer) -> None:
    """Code that looks ``httplib2.Http`` up when it runs gets ours; names taken at
    import (``from httplib2 import Http``, a subclass) keep httplib2's: swap first."""
    lib = library()
    httplib2.Http = cls
    built, early = lib.build_http(), lib.build_early()
    try:
        assert type(built) is cls
        assert type(early) is ORIGINAL_HTTP and not issubclass(lib.Client, asynchttp.Http)
        assert get(built, http_server.url("/hello"))[1] == b"hello world"
    finally:
        close(built)


@pytest.mark.parametrize("cls", CLASSES, ids=lambda c: c.__name__)
def test_python_oauth2_client_after_the_swap_sees_every_hop(cls: type, library: Any, http_server: TestServer) -> None:
    """``httplib2.Http.request(self, ...)`` inside request(): after the swap that name IS
    ours; httplib2 calls self.request() for a redirect, so the override runs per hop."""
    httplib2.Http = cls
    lib = library()
    client = lib.Client("tok", timeout=WAIT, proxy_info=None)
    try:
        response, content = get(client, http_server.url("/redirect?code=302&to=/headers"))
        assert response.status == 200 and response.previous.status == 302
        assert len(client.signed) == 2  # the hop went through Client.request again
        assert [r.header("x-token") for r in http_server.requests] == ["tok", "tok"]
        assert client.token == "tok" and "token" in vars(client)
    finally:
        close(client)


@pytest.mark.parametrize("cls", CLASSES, ids=lambda c: c.__name__)
def test_super_request_subclass(cls: type, library: Any, http_server: TestServer) -> None:
    httplib2.Http = cls
    lib = library()
    client = lib.SuperClient(timeout=WAIT, proxy_info=None)
    try:
        response, _ = get(client, http_server.url("/redirect?code=302&to=/headers"))
        assert response.status == 200 and response.previous.status == 302
        assert [r.header("x-token") for r in http_server.requests] == ["super", "super"]
    finally:
        close(client)


# -- aliasing the module -------------------------------------------------------------


def test_sys_modules_alias(library: Any, http_server: TestServer) -> None:
    """``sys.modules["httplib2"] = asynchttp`` before the library is imported: it gets
    asynchttp's names, promises from Http (see docs/httplib2.rst for when that is unsound)."""
    sys.modules["httplib2"] = asynchttp
    lib = library()
    assert lib.httplib2 is asynchttp
    built = lib.build_http()
    client = lib.Client("alias", timeout=WAIT, proxy_info=None)
    try:
        assert type(built) is asynchttp.Http and isinstance(built, ORIGINAL_HTTP)
        response, content = built.request(http_server.url("/hello"))
        assert isinstance(response, asynchttp.ResponsePromise) and bytes(content) == b"hello world"
        assert client.request(http_server.url("/hello"))[0].status == 200
        from httplib2 import Credentials, KeyCerts, socks, urlnorm  # what libraries import

        assert Credentials is REAL_HTTPLIB2.Credentials and KeyCerts is REAL_HTTPLIB2.KeyCerts
        assert urlnorm("HTTP://Example.COM/a")[0] == "http" and socks is REAL_HTTPLIB2.socks
    finally:
        close(built, client)


def test_import_asynchttp_as_httplib2(http_server: TestServer) -> None:
    import asynchttp as httplib2_alias

    http = httplib2_alias.BlockingHttp(timeout=WAIT, proxy_info=None)
    try:
        response, content = http.request(http_server.url("/hello"))
        assert response.status == 200 and content == b"hello world"
        assert isinstance(http, httplib2.Http) and httplib2_alias.RETRIES == httplib2.RETRIES
        assert httplib2_alias.DEFAULT_MAX_REDIRECTS == 5
    finally:
        close(http)


def test_private_names_reach_httplib2_through_the_alias() -> None:
    assert asynchttp._normalize_headers is httplib2._normalize_headers
    with pytest.raises(AttributeError, match="no attribute 'no_such_name'"):
        asynchttp.no_such_name  # noqa: B018


# -- isinstance, copy, pickle, repr -----------------------------------------------------


class WithExtras(asynchttp.BlockingHttp):
    """A subclass adding attributes in __init__ (pickled with the rest of __dict__)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.api_key = "k"


def test_isinstance_of_httplib2s_class() -> None:
    mine = [asynchttp.Http(proxy_info=None), asynchttp.BlockingHttp(proxy_info=None)]
    try:
        for http in mine:
            assert isinstance(http, ORIGINAL_HTTP)
        assert issubclass(asynchttp.Http, ORIGINAL_HTTP)
    finally:
        close(*mine)


@pytest.mark.parametrize("cls", CLASSES + [WithExtras], ids=lambda c: c.__name__)
def test_copy_pickle_and_repr(cls: type, http_server: TestServer) -> None:
    http = cls(timeout=WAIT, proxy_info=None, max_connections=3)
    http.add_credentials("u", "p")
    http.follow_all_redirects = True
    made = [http]
    try:
        get(http, http_server.url("/hello"))
        for other in (copy.copy(http), pickle.loads(pickle.dumps(http))):
            made.append(other)
            assert type(other) is cls and other.follow_all_redirects is True
            assert set(vars(other)) == set(vars(http)) and other.connections == {}
            assert other.credentials.credentials == [("", "u", "p")]
            assert other._client is not http._client  # its own pool and workers
            assert other._config["max_connections"] == 3
            assert get(other, http_server.url("/hello"))[1] == b"hello world"
        if cls is WithExtras:
            assert made[1].api_key == made[2].api_key == "k"
        text = repr(http)
        assert text.startswith("<%s http" % cls.__name__) and "queued=0" in text
    finally:
        close(*made)


def test_pickle_keeps_authorizations_made_by_a_401_retry(http_server: TestServer) -> None:
    """httplib2 pickles the authorizations it learnt (they hold the Http)."""

    async def basic(request: Any) -> Any:
        from tests.servers.http_server import Response

        if request.header("authorization") != "Basic dTpw":
            return Response(401, b"", [("WWW-Authenticate", 'Basic realm="b"')])
        return Response(200, b"in")

    http_server.route("/basic-pickle", basic)
    http = asynchttp.BlockingHttp(timeout=WAIT, proxy_info=None)
    http.add_credentials("u", "p")
    restored = None
    try:
        assert http.request(http_server.url("/basic-pickle"))[1] == b"in"
        restored = pickle.loads(pickle.dumps(http))
        assert type(restored.authorizations[0]) is httplib2.BasicAuthentication
        assert restored.request(http_server.url("/basic-pickle"))[1] == b"in"
        assert http_server.requests[-1].header("authorization") == "Basic dTpw"  # preemptive
    finally:
        close(http, restored)


# -- nothing looks httplib2.Http up at call time -------------------------------------------


def test_no_call_time_lookup_of_httplib2_http_in_the_source() -> None:
    """Only the one import-time binding names ``httplib2.Http`` in code."""
    import re

    root = Path(asynchttp.__file__).parent
    offenders = []
    for path in sorted(root.glob("*.py")):
        for number, line in enumerate(path.read_text().splitlines(), 1):
            code = line.split("#", 1)[0]
            if re.search(r"\bhttplib2\.Http\b(?!Lib2)", code) and "_HTTPLIB2_HTTP = httplib2.Http" not in code:
                if not code.strip().startswith(('"', "'", "``")) and "``" not in code:
                    offenders.append("%s:%d: %s" % (path.name, number, line.strip()))
    assert offenders == []


class _Poison:
    """Stands in for httplib2.Http: any use of it by asynchttp fails the test."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        raise AssertionError("asynchttp looked httplib2.Http up at call time")

    def __init_subclass__(cls, **kwargs: Any) -> None:
        raise AssertionError("asynchttp subclassed httplib2.Http at call time")


class SeamedBlocking(asynchttp.BlockingHttp):
    def _request(self, *args: Any) -> Any:
        return super()._request(*args)


class SeamedHttp(asynchttp.Http):
    def _request(self, *args: Any) -> Any:
        return super()._request(*args)


SEAMED = {asynchttp.BlockingHttp: SeamedBlocking, asynchttp.Http: SeamedHttp}


@pytest.mark.parametrize("cls", CLASSES, ids=lambda c: c.__name__)
def test_every_path_runs_with_httplib2_http_poisoned(
    cls: type, restore_httplib2: None, http_server: TestServer
) -> None:
    httplib2.Http = _Poison  # type: ignore[misc,assignment]
    Seamed = SEAMED[cls]
    made = []
    try:
        plain = cls(timeout=WAIT, proxy_info=None)
        seamed = Seamed(timeout=WAIT, proxy_info=None)
        made += [plain, seamed]
        for http in (plain, seamed):
            assert get(http, http_server.url("/redirect?code=302&to=/hello"))[1] == b"hello world"
            assert (
                get(http, http_server.url("/hello"), connection_type=httplib2.HTTPConnectionWithTimeout)[1]
                == b"hello world"
            )
            other = pickle.loads(pickle.dumps(http))
            made += [other, copy.copy(http)]
            assert get(other, http_server.url("/hello"))[1] == b"hello world"
            http.add_credentials("u", "p")
            http.close()
    finally:
        close(*made)
