"""oauth2client (deprecated, still common): ``credentials.authorize(http)`` replaces the
instance's ``request`` with a closure that adds the bearer token and, on a 401,
refreshes it through the same Http and replays the request.
"""

from __future__ import annotations

import json

import pytest
from googleapiclient import discovery
from oauth2client import client, transport

from tests.realworld.conftest import GOOGLEAPICLIENT_RETRIES, Way, ways
from tests.servers.realworld import GoogleLikeApi

# googleapiclient, used here, sets it when imported
HTTPLIB2_RETRIES = GOOGLEAPICLIENT_RETRIES


def _credentials(api: GoogleLikeApi) -> client.OAuth2Credentials:
    return client.OAuth2Credentials(
        access_token="stale",
        client_id="client-1",
        client_secret="secret-1",
        refresh_token="refresh-1",
        token_expiry=None,
        token_uri=api.server.url("/token"),
        user_agent="realworld-test",
    )


def _http(way: Way) -> object:
    """The Http to authorize: passed in, or built by oauth2client (swapped ways)."""
    http = way.http()
    if http is None:
        http = transport.get_http_object(timeout=10)
    assert type(http) is way.cls
    return http


@pytest.mark.parametrize("way", ways(), indirect=True)
def test_authorize_refreshes_on_401_and_replays(way: Way, google_api: GoogleLikeApi) -> None:
    credentials = _credentials(google_api)
    http = credentials.authorize(_http(way))
    body = json.dumps({"name": "old school"})
    response, content = http.request(
        google_api.server.url("/things/v1/secure"), "POST", body=body, headers={"Content-Type": "application/json"}
    )
    assert response.status == 200
    assert json.loads(content) == {"name": "old school", "tag": "access-1"}
    assert credentials.access_token == "access-1"
    seen = [(r.path, r.header("authorization"), r.body) for r in google_api.server.requests]
    assert seen[0] == ("/things/v1/secure", "Bearer stale", body.encode())
    assert seen[1][0] == "/token"
    assert seen[2] == ("/things/v1/secure", "Bearer access-1", body.encode())
    assert google_api.token_requests[0]["refresh_token"] == "refresh-1"
    assert google_api.server.requests[0].header("user-agent").startswith("realworld-test")


@pytest.mark.parametrize("way", ways(), indirect=True)
def test_googleapiclient_over_authorized_http(way: Way, google_api: GoogleLikeApi) -> None:
    http = _credentials(google_api).authorize(_http(way))
    service = discovery.build(
        "things",
        "v1",
        http=http,
        discoveryServiceUrl=google_api.discovery_url_template,
        cache_discovery=False,
        static_discovery=False,
    )
    assert service.things().secure(body={"name": "x"}).execute() == {"name": "x", "tag": "access-1"}
    assert len(google_api.token_requests) == 1
