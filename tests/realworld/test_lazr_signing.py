"""lazr.restfulclient's real ``RestfulHttp`` signing every request, hop by hop.

``RestfulHttp`` signs in ``_request``: it drops an Authorization left from a redirect
and has its authorizer (here lazr's real ``OAuthAuthorizer``, PLAINTEXT, as launchpadlib
builds it) sign each request. Under asynchttp that override runs inside httplib2's own
flow, so every redirect hop and every 401 retry must reach the server exactly as under
httplib2. The oracle is the same scenario run first with lazr's ``RestfulHttp`` over the
real ``httplib2.Http``, on the same server; the way's run must send the same requests.

Ways: passed in (``RestfulHttp`` mixed over ``BlockingHttp`` or ``Http``, the instance
handed to lazr's ``Browser`` through its ``httpFactory`` seam) and swapped (lazr's
module reloaded under ``httplib2.Http`` replaced, so ``RestfulHttp`` subclasses
asynchttp's class; reloaded again after).
"""

from __future__ import annotations

import importlib
import json
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import httplib2
import pytest
from lazr.restfulclient._browser import RestfulHttp as ORIGINAL_RESTFUL_HTTP
from lazr.restfulclient.authorize.oauth import AccessToken, OAuthAuthorizer

from tests.realworld.conftest import ORIGINAL_HTTP, Way, ways
from tests.servers.http_server import Request, TestServer
from tests.servers.realworld import LaunchpadLikeApi

CONSUMER = ("consumer-key", "consumer-secret")
TOKEN = ("token-key", "token-secret")
BASIC = "Basic dTpw"  # u:p, the credentials given to add_credentials
BASIC_KIND = "Basic u:p"  # how a hop shows it
ASYNCHTTP_WAYS = ("BlockingHttp", "Http", "swap-BlockingHttp", "swap-Http")

Hop = tuple[str, str, tuple[str, ...]]  # method, path, what each Authorization field is
Scenario = Callable[[Any, LaunchpadLikeApi], Any]


@pytest.fixture
def restful_http(way: Way) -> Iterator[type]:
    """The RestfulHttp class of this way: lazr's own over real httplib2, mixed over
    asynchttp's class (passed in), or as lazr's module defines it under the swap."""
    import lazr.restfulclient._browser as browser

    assert ORIGINAL_RESTFUL_HTTP.__mro__[1] is ORIGINAL_HTTP
    if not way.swapped:
        if way.cls is ORIGINAL_HTTP:
            yield ORIGINAL_RESTFUL_HTTP
        else:
            yield type(f"RestfulHttpOver{way.cls.__name__}", (ORIGINAL_RESTFUL_HTTP, way.cls), {})
        return
    importlib.reload(browser)
    assert browser.RestfulHttp.__mro__[1] is way.cls
    try:
        yield browser.RestfulHttp
    finally:
        httplib2.Http = ORIGINAL_HTTP
        importlib.reload(browser)


@pytest.fixture
def launchpad(http_server: TestServer) -> LaunchpadLikeApi:
    return LaunchpadLikeApi(http_server, CONSUMER, TOKEN)


def _browser(cls: type, cache: Path, made: list[Any]) -> Any:
    """lazr's Browser over an instance of ``cls``, built by its ``httpFactory`` seam
    with a real OAuthAuthorizer, as launchpadlib's ServiceRoot does."""
    from lazr.restfulclient._browser import Browser

    def factory(authorizer: Any, cache: Any, timeout: Any, proxy_info: Any) -> Any:
        http = cls(authorizer, cache, timeout, proxy_info)
        made.append(http)
        return http

    authorizer = OAuthAuthorizer(CONSUMER[0], CONSUMER[1], access_token=AccessToken(*TOKEN))
    return Browser(SimpleNamespace(httpFactory=factory), authorizer, cache=str(cache), timeout=10, proxy_info=None)


def _hops(api: LaunchpadLikeApi, requests: list[Request]) -> list[Hop]:
    """Each request as (method, path, its Authorization fields): ``OAuth#n`` is a valid
    signature with the n-th distinct nonce of the run, so a replayed signature shows."""
    nonces: dict[str, int] = {}
    hops = []
    for request in requests:
        fields = []
        for value in request.header_all("authorization"):
            nonce = re.search(r'oauth_nonce="([^"]*)"', value)
            if api.signature_ok(value) and nonce:
                fields.append(f"OAuth#{nonces.setdefault(nonce.group(1), len(nonces) + 1)}")
            else:
                fields.append(BASIC_KIND if value == BASIC else f"other {value[:12]}")
        hops.append((request.method, request.path, tuple(fields)))
    return hops


def _run(cls: type, scenario: Scenario, api: LaunchpadLikeApi, cache: Path, made: list[Any]) -> tuple[Any, list[Hop]]:
    """The scenario's result and the requests it made, as the server saw them."""
    start = len(api.server.requests)
    result = scenario(_browser(cls, cache, made), api)
    return result, _hops(api, api.server.requests[start:])


def _with_oracle(
    way: Way, cls: type, scenario: Scenario, api: LaunchpadLikeApi, tmp_path: Path
) -> tuple[Any, list[Hop], Any, list[Hop]]:
    """The scenario under lazr over real httplib2 (the oracle), then under the way."""
    oracle: list[Any] = []
    try:
        expected = _run(ORIGINAL_RESTFUL_HTTP, scenario, api, tmp_path / "oracle", oracle)
    finally:
        for http in oracle:
            http.close()
    got = _run(cls, scenario, api, tmp_path / "way", way.made)
    return expected + got


# ------------------------------------------------------------------ scenarios


def _everyday(browser: Any, api: LaunchpadLikeApi) -> list[Any]:
    """Root, an entry, the entry revalidated (304), then a PATCH guarded by If-Match."""
    root = json.loads(browser.get(api.root_url))
    widget = json.loads(browser.get(root["widget_link"]))
    again = json.loads(browser.get(root["widget_link"]))
    response, content = browser.patch(widget["self_link"], {"name": "renamed"}, headers={})
    renamed = json.loads(content)
    browser.patch(widget["self_link"], {"name": "gizmo"}, headers={"If-Match": renamed["http_etag"]})
    return [root["motto"], widget["name"], again == widget, response.status, renamed["name"]]


def _redirects(browser: Any, api: LaunchpadLikeApi) -> list[Any]:
    """GET through 301, 302, 303 and 307 to another path; a POST through 303."""
    names = [json.loads(browser.get(f"{api.root_url}moved?status={status}"))["name"] for status in (301, 302, 303, 307)]
    response, content = browser.post(f"{api.root_url}moved?status=303", "rename", name="x")
    return names + [response.status, response.previous.status, json.loads(content)["name"]]


def _basic_retry(browser: Any, api: LaunchpadLikeApi) -> list[Any]:
    """A Basic 401 answered once: httplib2 retries with add_credentials' credentials,
    then sends them first-hand to that path, also at the end of a redirect."""
    browser._connection.add_credentials("u", "p")
    first = browser.get(api.root_url + "guarded", return_response=True)
    second = browser.get(api.root_url + "guarded", return_response=True)
    third = browser.get(api.root_url + "moved?status=302&to=guarded", return_response=True)
    return [(r.status, r.previous.status if r.previous else None, json.loads(c)) for r, c in (first, second, third)]


# ------------------------------------------------------------------ tests


@pytest.mark.parametrize("way", ways(), indirect=True)
def test_every_request_signed(way: Way, restful_http: type, launchpad: LaunchpadLikeApi, tmp_path: Path) -> None:
    expected, oracle_hops, result, hops = _with_oracle(way, restful_http, _everyday, launchpad, tmp_path)
    assert result == expected == ["hello", "gizmo", True, 209, "renamed"]
    assert (
        hops
        == oracle_hops
        == [
            ("GET", "/api/1.0/", ("OAuth#1",)),
            ("GET", "/api/1.0/widget", ("OAuth#2",)),
            ("GET", "/api/1.0/widget", ("OAuth#3",)),  # answered 304
            ("PATCH", "/api/1.0/widget", ("OAuth#4",)),
            ("PATCH", "/api/1.0/widget", ("OAuth#5",)),
        ]
    )
    assert launchpad.not_modified == 2  # once per run
    assert [etag is not None for etag, _ in launchpad.patches] == [True] * 4
    assert launchpad.unsigned == []


@pytest.mark.parametrize("way", ways(), indirect=True)
def test_each_redirect_hop_signed_afresh(
    way: Way, restful_http: type, launchpad: LaunchpadLikeApi, tmp_path: Path
) -> None:
    """RestfulHttp drops the signature httplib2 hands to the next hop and signs again:
    a new nonce per hop, on another path of the same host."""
    expected, oracle_hops, result, hops = _with_oracle(way, restful_http, _redirects, launchpad, tmp_path)
    assert result == expected == ["gizmo"] * 4 + [200, 303, "gizmo"]
    moved, widget = "/api/1.0/moved", "/api/1.0/widget"
    assert (
        hops
        == oracle_hops
        == [
            ("GET", moved, ("OAuth#1",)),
            ("GET", widget, ("OAuth#2",)),
            ("GET", moved, ("OAuth#3",)),
            ("GET", widget, ("OAuth#4",)),
            ("GET", moved, ("OAuth#5",)),
            ("GET", widget, ("OAuth#6",)),
            ("GET", moved, ("OAuth#7",)),
            ("GET", widget, ("OAuth#8",)),
            ("POST", moved, ("OAuth#9",)),
            ("GET", widget, ("OAuth#10",)),
        ]
    )
    assert launchpad.unsigned == []


@pytest.mark.parametrize("way", ways(), indirect=True)
def test_basic_401_retry_follows_httplib2s_flow(
    way: Way, restful_http: type, launchpad: LaunchpadLikeApi, tmp_path: Path
) -> None:
    """The 401 is answered to a signed request; httplib2's flow retries it in the same
    ``_request`` (not signed again) with Basic credentials, keeps them for the next
    requests, and each new ``_request`` signs. The same requests under every way."""
    expected, oracle_hops, result, hops = _with_oracle(way, restful_http, _basic_retry, launchpad, tmp_path)
    guarded = {"guarded": True}
    assert result == expected == [(200, None, guarded), (200, None, guarded), (200, 302, guarded)]
    retried, path = hops[:2], "/api/1.0/guarded"
    assert (
        [(m, p) for m, p, _ in hops]
        == [(m, p) for m, p, _ in oracle_hops]
        == [("GET", path), ("GET", path), ("GET", path), ("GET", "/api/1.0/moved"), ("GET", path)]
    )
    assert retried[0][2] == ("OAuth#1",)  # the request that got the 401, signed
    # Basic on the retry and on later requests to the guarded path (httplib2 scopes the
    # credentials to the challenged path: not on /moved)
    assert [BASIC_KIND in fields for _, _, fields in hops] == [False, True, True, False, True]
    assert hops[3][2][0].startswith("OAuth#") and len(hops[3][2]) == 1  # /moved, signed


@pytest.mark.parametrize("way", ways(), indirect=True)
def test_basic_401_retry_sends_what_httplib2_sends(
    way: Way, restful_http: type, launchpad: LaunchpadLikeApi, tmp_path: Path
) -> None:
    """Per hop, the same Authorization fields as httplib2: the retry replays the first
    signature next to the Basic credentials; later requests to the guarded path carry a
    new signature and Basic. (lazr's authorizer sets ``Authorization``, httplib2's Basic
    auth ``authorization``: ``_conn_request`` sends both keys as two fields, as
    http.client does.)"""
    _, oracle_hops, _, hops = _with_oracle(way, restful_http, _basic_retry, launchpad, tmp_path)
    path = "/api/1.0/guarded"
    assert oracle_hops == [
        ("GET", path, ("OAuth#1",)),
        ("GET", path, ("OAuth#1", BASIC_KIND)),  # the retry: same signature, and Basic
        ("GET", path, ("OAuth#2", BASIC_KIND)),
        ("GET", "/api/1.0/moved", ("OAuth#3",)),
        ("GET", path, ("OAuth#4", BASIC_KIND)),
    ]
    assert hops == oracle_hops
    assert launchpad.unsigned == []
