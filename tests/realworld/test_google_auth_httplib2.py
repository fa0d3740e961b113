"""google-auth-httplib2: ``AuthorizedHttp`` over each way, against a local token
endpoint and a resource that answers 401 to a stale bearer token.

The credentials are real ``google.oauth2.credentials.Credentials`` holding a refresh
token; the server issues access tokens and accepts only those it issued.
"""

from __future__ import annotations

import http.client
import json
from typing import Any

import google.auth.exceptions
import google_auth_httplib2
import pytest
from google.oauth2.credentials import Credentials
from googleapiclient import discovery

from tests.realworld.conftest import GOOGLEAPICLIENT_RETRIES, Way, ways
from tests.servers.realworld import GoogleLikeApi

# googleapiclient, used here, sets it when imported
HTTPLIB2_RETRIES = GOOGLEAPICLIENT_RETRIES

PROMISE_WRAP_REASON = (
    "google_auth_httplib2.Request wraps transport errors in TransportError in a try "
    "around http.request(); with Http promises the error surfaces later, when "
    "google-auth reads response.status outside that try, so it is not wrapped"
)


def _credentials(api: GoogleLikeApi, token_path: str = "/token") -> Credentials:
    return Credentials(
        token="stale",
        refresh_token="refresh-1",
        token_uri=api.server.url(token_path),
        client_id="client-1",
        client_secret="secret-1",
    )


def _authorized(way: Way, credentials: Credentials) -> Any:
    authed = google_auth_httplib2.AuthorizedHttp(credentials, http=way.http())
    assert type(authed.http) is way.cls
    return authed


@pytest.mark.parametrize("way", ways(), indirect=True)
def test_refreshes_on_401_and_replays(way: Way, google_api: GoogleLikeApi) -> None:
    credentials = _credentials(google_api)
    authed = _authorized(way, credentials)
    body = json.dumps({"name": "secret thing"})
    response, content = authed.request(
        google_api.server.url("/things/v1/secure"), "POST", body=body, headers={"Content-Type": "application/json"}
    )
    assert response.status == 200
    assert json.loads(content) == {"name": "secret thing", "tag": "access-1"}
    assert credentials.token == "access-1"
    seen = [(r.method, r.path, r.header("authorization"), r.body) for r in google_api.server.requests]
    assert seen[0] == ("POST", "/things/v1/secure", "Bearer stale", body.encode())
    assert seen[1][:2] == ("POST", "/token")
    assert seen[2] == ("POST", "/things/v1/secure", "Bearer access-1", body.encode())
    assert len(seen) == 3
    assert google_api.token_requests == [
        {
            "grant_type": "refresh_token",
            "refresh_token": "refresh-1",
            "client_id": "client-1",
            "client_secret": "secret-1",
        }
    ]


@pytest.mark.parametrize("way", ways(), indirect=True)
def test_googleapiclient_service_over_authorized_http(way: Way, google_api: GoogleLikeApi) -> None:
    credentials = _credentials(google_api)
    service = discovery.build(
        "things",
        "v1",
        http=_authorized(way, credentials),
        discoveryServiceUrl=google_api.discovery_url_template,
        cache_discovery=False,
        static_discovery=False,
    )
    assert service.things().secure(body={"name": "via api"}).execute() == {"name": "via api", "tag": "access-1"}
    assert [r.path for r in google_api.server.requests].count("/token") == 1


@pytest.mark.parametrize(
    "way",
    ways(
        xfail={
            "Http": (PROMISE_WRAP_REASON, http.client.RemoteDisconnected),
            "swap-Http": (PROMISE_WRAP_REASON, http.client.RemoteDisconnected),
        }
    ),
    indirect=True,
)
def test_transport_error_during_refresh_is_wrapped(way: Way, google_api: GoogleLikeApi) -> None:
    authed = _authorized(way, _credentials(google_api, "/token-dropped"))
    with pytest.raises(google.auth.exceptions.TransportError) as caught:
        authed.request(google_api.server.url("/things/v1/secure"), "POST", body="{}")
    assert isinstance(caught.value.__cause__ or caught.value.args[0], http.client.RemoteDisconnected)
