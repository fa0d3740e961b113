"""vcrpy, the interception library: it records and replays httplib2 traffic by
rebinding ``httplib2.SCHEME_TO_CONNECTION`` and both connection class names for
the length of a cassette (issue 22). Under asynchttp, as under httplib2: recorded
from a local server, replayed with no arrival at it, and an unrecorded request
refused instead of sent. Also with ``sys.modules["httplib2"] = asynchttp`` in
place before the cassette patches ``httplib2``.
"""

from __future__ import annotations

import importlib
import sys
from pathlib import Path
from typing import Any, Iterator

import httplib2
import pytest

import asynchttp
from tests.servers.http_server import TestServer

vcr = pytest.importorskip("vcr")
from vcr.errors import CannotOverwriteExistingCassetteException  # noqa: E402

CLASSES = [httplib2.Http, asynchttp.BlockingHttp, asynchttp.Http]


@pytest.fixture
def restore_httplib2() -> Iterator[None]:
    original = sys.modules["httplib2"]
    yield
    sys.modules["httplib2"] = original


def fetch(http: Any, uri: str, **kwargs: Any) -> tuple[int, bytes]:
    response, content = http.request(uri, **kwargs)
    content = bytes(content)
    return response.status, content


def close(http: Any) -> None:
    if isinstance(http, asynchttp.Http):
        http.shutdown(wait=True, cancel_pending=True)


def record_and_replay(cls: type, server: TestServer, cassette: Path, **options: Any) -> list[Any]:
    uris = [server.url("/hello"), server.url("/json")]
    seen: list[Any] = []
    with vcr.use_cassette(str(cassette), record_mode="once"):
        http = cls(**options)
        seen.append([fetch(http, uri) for uri in uris])
        seen.append(fetch(http, server.url("/echo"), method="POST", body=b"recorded"))
        close(http)
    seen.append(len(server.requests))
    with vcr.use_cassette(str(cassette), record_mode="none") as played:
        http = cls(**options)
        seen.append([fetch(http, uri) for uri in uris])
        seen.append(fetch(http, server.url("/echo"), method="POST", body=b"recorded"))
        with pytest.raises(CannotOverwriteExistingCassetteException):
            fetch(http, server.url("/hello?never=recorded"))
        close(http)
        seen.append(played.play_count)
    seen.append(len(server.requests))
    return seen


@pytest.mark.parametrize("cls", CLASSES, ids=lambda c: "%s.%s" % (c.__module__.split(".")[0], c.__name__))
def test_record_then_replay(cls: type, http_server: TestServer, tmp_path: Path) -> None:
    seen = record_and_replay(cls, http_server, tmp_path / "cassette.yaml", proxy_info=None)
    recorded, echo, arrivals, replayed, echo_again, plays, arrivals_after = seen
    assert recorded == replayed and recorded[0] == (200, b"hello world")
    assert echo == echo_again and echo[0] == 200 and b'"body": "recorded"' in echo[1]
    assert arrivals == arrivals_after == 3 and plays == 3  # replay: nothing reached the server
    assert httplib2.SCHEME_TO_CONNECTION == {
        "http": httplib2.HTTPConnectionWithTimeout,
        "https": httplib2.HTTPSConnectionWithTimeout,
    }  # the cassette put everything back
    assert httplib2.HTTPConnectionWithTimeout.__module__ == "httplib2"


@pytest.mark.parametrize("cls", CLASSES[1:], ids=lambda c: c.__name__)
def test_record_then_replay_over_tls(cls: type, https_server: TestServer, ca_bundle_path: str, tmp_path: Path) -> None:
    ours = record_and_replay(cls, https_server, tmp_path / "ours.yaml", proxy_info=None, ca_certs=ca_bundle_path)
    theirs = record_and_replay(
        httplib2.Http, https_server, tmp_path / "theirs.yaml", proxy_info=None, ca_certs=ca_bundle_path
    )
    assert ours[0] == ours[3] == theirs[0] == theirs[3]  # /hello and /json, recorded and replayed
    assert ours[1] == ours[4] and ours[1][0] == theirs[1][0] == 200  # the echo (its User-Agent differs)
    assert ours[2] == ours[6] == 3 and ours[5] == theirs[5] == 3


@pytest.mark.parametrize("cls", ["BlockingHttp", "Http"])
def test_record_then_replay_under_the_module_alias(
    cls: str, restore_httplib2: None, http_server: TestServer, tmp_path: Path
) -> None:
    """vcrpy imports ``httplib2`` when a cassette starts: with the alias in place it
    patches asynchttp's names, which are httplib2's own."""
    real = sys.modules["httplib2"]
    sys.modules["httplib2"] = asynchttp
    alias = importlib.import_module("httplib2")
    seen = record_and_replay(getattr(alias, cls), http_server, tmp_path / "cassette.yaml", proxy_info=None)
    assert seen[0] == seen[3] and seen[2] == seen[6] == 3 and seen[5] == 3
    assert alias.SCHEME_TO_CONNECTION is real.SCHEME_TO_CONNECTION
    assert real.SCHEME_TO_CONNECTION["http"] is real.HTTPConnectionWithTimeout  # restored
    assert real.HTTPConnectionWithTimeout.__module__ == "httplib2"
