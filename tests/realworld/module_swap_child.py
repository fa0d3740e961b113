"""Run in a fresh interpreter by test_module_swap.py: ``main()`` aliases the module
(``sys.modules["httplib2"] = asynchttp``) BEFORE importing one real library, drive it
against the parent's local server, and print one JSON object: step -> "ok", or what
went wrong ("ExceptionClass: message", or "wrong: <value>").

Usage: python -m tests.realworld.module_swap_child LIBRARY ROOT_URL
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable
from typing import Any

import asynchttp

CONSUMER = ("swap-consumer", "swap-consumer-secret")
TOKEN = ("swap-token", "swap-token-secret")


def _step(out: dict[str, str], name: str, check: Callable[[], Any]) -> None:
    try:
        result = check()
    except Exception as exc:  # noqa: BLE001 - reported to the parent, not hidden
        out[name] = f"{type(exc).__name__}: {exc}"
        return
    out[name] = "ok" if result is True else f"wrong: {result!r}"


def googleapiclient(root: str, out: dict[str, str]) -> None:
    from googleapiclient import discovery

    service: Any = None

    def build() -> bool:
        nonlocal service
        service = discovery.build(
            "things",
            "v1",
            discoveryServiceUrl=root + "discovery/v1/apis/{api}/{apiVersion}/rest",
            cache_discovery=False,
            static_discovery=False,
        )
        return type(service._http) is asynchttp.Http

    def batch() -> Any:
        answers: dict[str, Any] = {}
        request = service.new_batch_http_request(callback=lambda rid, resp, exc: answers.__setitem__(rid, exc or resp))
        request.add(service.things().get(thingId="t1"), request_id="a")
        request.add(service.things().get(thingId="t2"), request_id="b")
        request.execute()
        return (
            answers == {"a": {"id": "t1", "name": "first", "size": 1}, "b": {"id": "t2", "name": "second", "size": 2}}
            or answers
        )

    def retries() -> Any:
        request = service.things().flaky(plan="swap")
        slept: list[float] = []
        request._sleep, request._rand = slept.append, lambda: 0.5
        result = request.execute(num_retries=3)
        return (result == {"id": "flaky", "name": "swap"} and slept == [1.0, 2.0]) or slept

    _step(out, "build", build)
    _step(
        out, "get", lambda: service.things().get(thingId="t1", view="name").execute() == {"id": "t1", "name": "first"}
    )
    _step(
        out,
        "insert",
        lambda: service.things().insert(tag="q", body={"name": "b"}).execute() == {"id": "t3", "name": "b", "tag": "q"},
    )
    _step(out, "batch", batch)
    _step(out, "retries", retries)


def google_auth_httplib2(root: str, out: dict[str, str]) -> None:
    import google_auth_httplib2 as module
    from google.oauth2.credentials import Credentials

    credentials = Credentials(
        token="stale",
        refresh_token="refresh-1",
        token_uri=root + "token",
        client_id="client-1",
        client_secret="secret-1",
    )
    authed = module.AuthorizedHttp(credentials)
    _step(out, "http class", lambda: type(authed.http) is asynchttp.Http)

    def refresh() -> Any:
        response, content = authed.request(root + "things/v1/secure", "POST", body='{"a": 1}')
        return (
            response.status == 200 and json.loads(content)["tag"] == "access-1" and credentials.token == "access-1"
        ) or (response.status, content)

    _step(out, "refresh on 401", refresh)


def oauth2client(root: str, out: dict[str, str]) -> None:
    from oauth2client import client, transport

    credentials = client.OAuth2Credentials("stale", "client-1", "secret-1", "refresh-1", None, root + "token", "ua")
    http = credentials.authorize(transport.get_http_object(timeout=10))

    def refresh() -> Any:
        response, content = http.request(root + "things/v1/secure", "POST", body='{"a": 1}')
        return (response.status == 200 and json.loads(content)["tag"] == "access-1") or (response.status, content)

    _step(out, "refresh on 401", refresh)


def oauth2(root: str, out: dict[str, str]) -> None:
    import oauth2 as module

    _step(out, "subclass", lambda: module.Client.__mro__[1] is asynchttp.Http)

    def signed() -> Any:
        client = module.Client(module.Consumer(*CONSUMER), module.Token(*TOKEN), timeout=10)
        response, content = client.request(root + "oauth1/echo?color=red")
        return response.status == 200 or (response.status, content)

    _step(out, "signed get", signed)


def apitools(root: str, out: dict[str, str]) -> None:
    from apitools.base.py import http_wrapper

    time.sleep = lambda seconds: None  # the retry's back-off: time is the one thing faked

    def retries() -> Any:
        http = http_wrapper.GetHttp(timeout=10)
        request = http_wrapper.Request(root + "things/v1/flaky?plan=swap")
        response = http_wrapper.MakeRequest(http, request, retries=4)
        return (type(http) is asynchttp.Http and response.status_code == 200) or response

    _step(out, "retries", retries)


def lazr_restfulclient(root: str, out: dict[str, str]) -> None:
    import tempfile

    from lazr.restfulclient.authorize.oauth import AccessToken, OAuthAuthorizer
    from lazr.restfulclient.resource import ServiceRoot

    cache = tempfile.mkdtemp(prefix="asynchttp-realworld-")
    authorizer = OAuthAuthorizer(CONSUMER[0], CONSUMER[1], access_token=AccessToken(*TOKEN))

    def service_root() -> Any:
        first = ServiceRoot(authorizer, root + "api/1.0/", cache=cache)
        second = ServiceRoot(authorizer, root + "api/1.0/", cache=cache)
        return (first.motto == second.motto == "hello") or (first.motto, second.motto)

    _step(out, "service root twice", service_root)


LIBRARIES = {
    f.__name__: f for f in (googleapiclient, google_auth_httplib2, oauth2client, oauth2, apitools, lazr_restfulclient)
}


def main() -> None:
    # The swap under test, before the library's import (never at import of this
    # module: the parent test imports it for its constants).
    sys.modules["httplib2"] = asynchttp
    library, root = sys.argv[1], sys.argv[2]
    out: dict[str, str] = {}
    _step(out, "import", lambda: LIBRARIES[library](root, out) is None)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
