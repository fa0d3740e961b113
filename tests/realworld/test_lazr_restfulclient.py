"""lazr.restfulclient (what launchpadlib is built on): a cached, OAuth-signing client.

``RestfulHttp`` subclasses ``httplib2.Http`` when lazr.restfulclient is imported and
signs every request by overriding ``_request``; ``ServiceRoot`` builds it itself. So
asynchttp goes under it only by swapping ``httplib2.Http`` before the import (here: the
two modules are reloaded under the swap, and again after it). To pass one in, a
``ServiceRoot`` overrides ``httpFactory`` to return ``RestfulHttp`` mixed over asynchttp's
class: test_lazr_signing.py does that.

The service checks the PLAINTEXT signature on every request, including each hop of a
redirect, and answers a matching If-None-Match with 304.
"""

from __future__ import annotations

import importlib
import json
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import httplib2
import pytest
from lazr.restfulclient import errors as lazr_errors
from lazr.restfulclient.authorize.oauth import AccessToken, OAuthAuthorizer

from tests.realworld.conftest import NOT_A_BUFFER, ORIGINAL_HTTP, Way, ways
from tests.servers.http_server import TestServer
from tests.servers.realworld import LaunchpadLikeApi

CONSUMER = ("consumer-key", "consumer-secret")
TOKEN = ("token-key", "token-secret")
LAZR_WAYS = ("httplib2", "swap-BlockingHttp", "swap-Http")
PROMISE_BYTES_REASON = (
    "wadllib's Application wraps the WADL content in io.BytesIO(content): a content "
    "promise is not a buffer before Python 3.12 (TypeError: a bytes-like object is "
    "required, not 'ContentPromise (use bytes(content), or BlockingHttp for libraries)')"
)
LAZR_XFAIL = {"swap-Http": (PROMISE_BYTES_REASON, TypeError)} if NOT_A_BUFFER else {}


@pytest.fixture
def lazr(way: Way) -> Iterator[SimpleNamespace]:
    """lazr.restfulclient's modules as imported under this way's httplib2.Http."""
    import lazr.restfulclient._browser as browser
    from lazr.restfulclient import resource

    if way.swapped:
        importlib.reload(browser)
        importlib.reload(resource)
    assert resource.RestfulHttp.__mro__[1] is way.cls
    try:
        yield SimpleNamespace(browser=browser, resource=resource)
    finally:
        if way.swapped:
            httplib2.Http = ORIGINAL_HTTP
            importlib.reload(browser)
            importlib.reload(resource)


@pytest.fixture
def launchpad(http_server: TestServer) -> LaunchpadLikeApi:
    return LaunchpadLikeApi(http_server, CONSUMER, TOKEN)


def _authorizer() -> OAuthAuthorizer:
    return OAuthAuthorizer(CONSUMER[0], CONSUMER[1], access_token=AccessToken(*TOKEN))


@pytest.mark.parametrize("way", ways(*LAZR_WAYS, xfail=LAZR_XFAIL), indirect=True)
def test_service_root_revalidates_its_cache(
    way: Way, lazr: SimpleNamespace, launchpad: LaunchpadLikeApi, tmp_path: Path
) -> None:
    """launchpadlib's start-up: WADL and root JSON, then again from a warm cache."""
    cache = str(tmp_path / "cache")
    first = lazr.resource.ServiceRoot(_authorizer(), launchpad.root_url, cache=cache)
    assert first.motto == "hello"
    assert first.widget.name == "gizmo"
    assert launchpad.not_modified == 0

    second = lazr.resource.ServiceRoot(_authorizer(), launchpad.root_url, cache=cache)
    assert second.motto == "hello" and second.widget.size == 3
    assert launchpad.not_modified == 3  # WADL, root JSON, widget

    launchpad.motto = "changed"
    third = lazr.resource.ServiceRoot(_authorizer(), launchpad.root_url, cache=cache)
    assert third.motto == "changed"
    assert launchpad.not_modified == 4  # only the WADL
    assert launchpad.unsigned == []
    assert len(launchpad.server.requests) == 8  # the third never reads the widget


@pytest.mark.parametrize("way", ways(*LAZR_WAYS), indirect=True)
def test_browser_etag_revalidation_through_filecache(
    way: Way, lazr: SimpleNamespace, launchpad: LaunchpadLikeApi, tmp_path: Path
) -> None:
    """httplib2.FileCache under RestfulHttp: a 301 signed per hop and cached, then a
    conditional GET answered 304 and served from the cache."""
    factory = SimpleNamespace(httpFactory=lazr.browser.RestfulHttp)
    browser = lazr.browser.Browser(factory, _authorizer(), cache=httplib2.FileCache(str(tmp_path / "fc")))
    assert type(browser._connection).__mro__[1] is way.cls
    old = launchpad.root_url + "old-widget"
    first = browser.get(old)
    assert json.loads(first)["name"] == "gizmo"
    second = browser.get(old)
    assert second == first
    paths = [(r.path, r.header("if-none-match") is not None) for r in launchpad.server.requests]
    assert paths == [("/api/1.0/old-widget", False), ("/api/1.0/widget", False), ("/api/1.0/widget", True)]
    assert launchpad.not_modified == 1
    assert launchpad.unsigned == []


@pytest.mark.parametrize("way", ways(*LAZR_WAYS, xfail=LAZR_XFAIL), indirect=True)
def test_entry_save_patches_with_if_match(
    way: Way, lazr: SimpleNamespace, launchpad: LaunchpadLikeApi, tmp_path: Path
) -> None:
    """lp_save(): a signed PATCH carrying the entry's ETag in If-Match, answered 209
    with the new representation; a stale ETag gets 412."""
    root = lazr.resource.ServiceRoot(_authorizer(), launchpad.root_url, cache=str(tmp_path / "cache"))
    widget = root.widget
    etag = widget.http_etag
    widget.name = "renamed"
    widget.lp_save()
    assert widget.name == "renamed" and widget.http_etag != etag
    assert launchpad.widget == {"name": "renamed", "size": 3}
    assert launchpad.patches == [(etag, b'{"name": "renamed"}')]

    stale = lazr.resource.ServiceRoot(_authorizer(), launchpad.root_url, cache=str(tmp_path / "other")).widget
    assert stale.size == 3  # fetched now, with the ETag of size 3
    launchpad.widget["size"] = 4  # changed behind the client's back
    stale.size = 5
    with pytest.raises(lazr_errors.PreconditionFailed):
        stale.lp_save()
    assert launchpad.widget["size"] == 4
    assert launchpad.unsigned == []
