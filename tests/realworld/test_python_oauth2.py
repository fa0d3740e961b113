"""python-oauth2 (``oauth2`` on PyPI): ``Client`` subclasses ``httplib2.Http`` at import,
signs with HMAC-SHA1 in ``request()`` and calls ``httplib2.Http.request(self, ...)``.

There is no Http to pass in: asynchttp goes under it by swapping ``httplib2.Http``
before ``oauth2`` is imported (here: reloaded under the swap, and again after). The
server verifies every signature with oauthlib.
"""

from __future__ import annotations

import importlib
import json
from collections.abc import Iterator
from types import ModuleType
from typing import Any

import httplib2
import pytest

from tests.realworld.conftest import ORIGINAL_HTTP, Way, ways
from tests.servers.http_server import TestServer
from tests.servers.realworld import LaunchpadLikeApi

CONSUMER = ("oauth2-consumer", "oauth2-consumer-secret")
TOKEN = ("oauth2-token", "oauth2-token-secret")
OAUTH2_WAYS = ("httplib2", "swap-BlockingHttp", "swap-Http")

# oauth2/_version.py uses distutils' version classes
pytestmark = pytest.mark.filterwarnings("ignore:distutils Version classes:DeprecationWarning")


@pytest.fixture
def oauth2(way: Way) -> Iterator[ModuleType]:
    """The oauth2 module as imported under this way's httplib2.Http."""
    import oauth2 as module

    if way.swapped:
        importlib.reload(module)
    assert module.Client.__mro__[1] is way.cls
    try:
        yield module
    finally:
        if way.swapped:
            httplib2.Http = ORIGINAL_HTTP
            importlib.reload(module)


@pytest.fixture
def signed_api(http_server: TestServer) -> LaunchpadLikeApi:
    return LaunchpadLikeApi(http_server, CONSUMER, TOKEN)


def _client(oauth2: ModuleType, way: Way) -> Any:
    client = oauth2.Client(oauth2.Consumer(*CONSUMER), oauth2.Token(*TOKEN), timeout=10)
    way.made.append(client)
    return client


@pytest.mark.parametrize("way", ways(*OAUTH2_WAYS), indirect=True)
def test_signed_get_with_query(way: Way, oauth2: ModuleType, signed_api: LaunchpadLikeApi) -> None:
    client = _client(oauth2, way)
    response, content = client.request(signed_api.server.url("/oauth1/echo?color=red"))
    assert response.status == 200, content
    echoed = json.loads(content)
    assert echoed["method"] == "GET" and echoed["query"]["color"] == "red"
    assert signed_api.unsigned == []


@pytest.mark.parametrize("way", ways(*OAUTH2_WAYS), indirect=True)
def test_signed_form_post(way: Way, oauth2: ModuleType, signed_api: LaunchpadLikeApi) -> None:
    client = _client(oauth2, way)
    response, content = client.request(signed_api.server.url("/oauth1/echo"), "POST", body="size=3&name=caf%C3%A9")
    assert response.status == 200, content
    form = dict(p.split("=", 1) for p in json.loads(content)["form"].split("&"))
    assert form["size"] == "3" and form["name"] == "caf%C3%A9"
    assert "oauth_signature" in form
    assert signed_api.unsigned == []


@pytest.mark.parametrize("way", ways(*OAUTH2_WAYS), indirect=True)
def test_signed_json_put_in_header(way: Way, oauth2: ModuleType, signed_api: LaunchpadLikeApi) -> None:
    client = _client(oauth2, way)
    response, content = client.request(
        signed_api.server.url("/oauth1/echo"), "PUT", body=b'{"a": 1}', headers={"Content-Type": "application/json"}
    )
    assert response.status == 200, content
    sent = signed_api.server.requests[-1]
    assert sent.header("authorization").startswith('OAuth realm="http://127.0.0.1')
    assert sent.body == b'{"a": 1}'
    assert signed_api.unsigned == []


@pytest.mark.parametrize("way", ways(*OAUTH2_WAYS), indirect=True)
def test_wrong_secret_is_refused(way: Way, oauth2: ModuleType, signed_api: LaunchpadLikeApi) -> None:
    """The server really checks: a signature made with another secret gets 401."""
    client = oauth2.Client(oauth2.Consumer(CONSUMER[0], "not-the-secret"), oauth2.Token(*TOKEN), timeout=10)
    way.made.append(client)
    response, _ = client.request(signed_api.server.url("/oauth1/echo?color=red"))
    assert response.status == 401
    assert signed_api.unsigned == ["GET /oauth1/echo"]


@pytest.mark.parametrize("way", ways("httplib2", "BlockingHttp", "Http"), indirect=True)
def test_swap_after_import(way: Way, signed_api: LaunchpadLikeApi, caplog: pytest.LogCaptureFixture) -> None:
    """The swap made after ``import oauth2`` (the baseline swaps nothing): oauth2.Client's
    base is still the real httplib2.Http, and its request() calls
    ``httplib2.Http.request(self, ...)`` by name, which now is asynchttp's. That instance
    was built by httplib2, so httplib2 serves it (signed, as before the swap) and a
    warning names the fix: swap before importing the library."""
    import oauth2

    client = oauth2.Client(oauth2.Consumer(*CONSUMER), oauth2.Token(*TOKEN), timeout=10)
    assert type(client).__mro__[1] is ORIGINAL_HTTP
    httplib2.Http = way.cls
    with caplog.at_level("WARNING", logger="asynchttp"):
        for _ in range(2):
            response, content = client.request(signed_api.server.url("/oauth1/echo?color=red"))
            assert response.status == 200, content
            assert json.loads(content)["query"]["color"] == "red"
    assert signed_api.unsigned == []
    warnings = [r.getMessage() for r in caplog.records if r.name == "asynchttp"]
    if way.name != "httplib2":
        assert len(warnings) == 1  # once per class, not per request
        assert "oauth2.Client subclasses httplib2.Http" in warnings[0]
        assert "replace httplib2.Http before importing oauth2" in warnings[0]
    else:
        assert warnings == []
