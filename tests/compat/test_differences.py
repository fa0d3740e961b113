"""Differences from httplib2 that docs/httplib2.rst lists, each run on both clients.

A reset in the middle of a response body: asynchttp re-sends an idempotent request
once on a fresh connection and returns the second answer, where httplib2 raises
``ConnectionResetError`` and then fails the next request on the same ``Http``; a
POST raises ``ConnectionResetError`` in both; a body cut short by a plain close
raises ``http.client.IncompleteRead`` in both.
"""

from __future__ import annotations

import http.client as http_client
from typing import Any, Callable, Iterator

import httplib2
import pytest

import asynchttp
from tests.servers.scripted import Action, ScriptedServer, close, recv_head, rst, send, sleep

HEAD_AND_SOME = b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nsome"
# after the reset, a second connection answers in full (and a third, for httplib2's next request)
SECOND = [recv_head(), send(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nretry"), sleep(0.2), close()]
RESET_MID_BODY = [recv_head(), send(HEAD_AND_SOME), sleep(0.05), rst()]
CLOSED_MID_BODY = [recv_head(), send(HEAD_AND_SOME), sleep(0.05), close()]

Make = Callable[[], Any]


@pytest.fixture
def blocking() -> Iterator[asynchttp.BlockingHttp]:
    http = asynchttp.BlockingHttp()
    yield http
    http.shutdown()


def _serve(first: list[Action]) -> ScriptedServer:
    return ScriptedServer([first, SECOND, SECOND])


def test_reset_mid_body_get_httplib2_raises_and_fails_the_next_request() -> None:
    with _serve(RESET_MID_BODY) as server:
        http = httplib2.Http()
        with pytest.raises(ConnectionResetError):
            http.request(server.url("/x"))
        with pytest.raises(OSError):  # BrokenPipeError: the broken connection reused
            http.request(server.url("/x"))


def test_reset_mid_body_get_asynchttp_returns_the_retry(blocking: asynchttp.BlockingHttp) -> None:
    with _serve(RESET_MID_BODY) as server:
        response, content = blocking.request(server.url("/x"))
        assert (response.status, content) == (200, b"retry")
        assert len(server.received) == 2
        response, content = blocking.request(server.url("/x"))
        assert (response.status, content) == (200, b"retry")


@pytest.mark.parametrize("kind", ["httplib2", "asynchttp"])
def test_reset_mid_body_post_raises_in_both(kind: str, blocking: asynchttp.BlockingHttp) -> None:
    with _serve(RESET_MID_BODY) as server:
        http = httplib2.Http() if kind == "httplib2" else blocking
        with pytest.raises(ConnectionResetError):
            http.request(server.url("/x"), "POST", body=b"data")
        assert len(server.received) == 1


@pytest.mark.parametrize("kind", ["httplib2", "asynchttp"])
def test_closed_mid_body_is_incomplete_read_in_both(kind: str, blocking: asynchttp.BlockingHttp) -> None:
    with _serve(CLOSED_MID_BODY) as server:
        http = httplib2.Http() if kind == "httplib2" else blocking
        with pytest.raises(http_client.IncompleteRead):
            http.request(server.url("/x"))
