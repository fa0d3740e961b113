"""One timeout value: httplib2's ``timeout`` number reaches the core pool's deadlines
through one decision (``_tunnels.core_timeouts``), read when connections are made.

Each test makes a real request, then reads the options of the core pool that served
it: connect and socket deadlines are the number, the response-head deadline the one
the core derives from it.
"""

from __future__ import annotations

import socket
from typing import Any, Optional

import pytest

import asynchttp
from asynchttp_lowhaio._pool import HEAD_TIMEOUT_CAP, HEAD_TIMEOUT_FACTOR
from tests.servers.http_server import TestServer


def _served_pool_options(http: asynchttp.Http, url: str) -> Any:
    response, content = http.request(url)
    assert response.status == 200 and bytes(content) == b"hello world"
    (gen,) = http._client.gens.values()
    return gen.request.__self__.options  # the core PoolState's checked options


@pytest.mark.parametrize("timeout", [0.5, 7, 45.0])
def test_httplib2s_timeout_is_the_cores_connect_and_socket_deadline(http_server: TestServer, timeout: float) -> None:
    with asynchttp.Http(timeout=timeout) as http:
        options = _served_pool_options(http, http_server.url("/hello"))
    assert options.connect_timeout == timeout
    assert options.socket_timeout == timeout
    assert options.head_timeout == min(HEAD_TIMEOUT_CAP, HEAD_TIMEOUT_FACTOR * timeout)


@pytest.mark.parametrize("default", [None, 3.0])
def test_no_timeout_means_the_socket_default_read_at_connect(http_server: TestServer, default: Optional[float]) -> None:
    previous = socket.getdefaulttimeout()
    http = asynchttp.Http()  # made before the default is set: it is read when connecting
    socket.setdefaulttimeout(default)
    try:
        options = _served_pool_options(http, http_server.url("/hello"))
    finally:
        socket.setdefaulttimeout(previous)
        http.shutdown()
    expected = 10 if default is None else default  # None: the core's own default
    assert options.connect_timeout == expected and options.socket_timeout == expected


def test_a_core_option_given_to_http_wins_over_its_timeout(http_server: TestServer) -> None:
    with asynchttp.Http(timeout=5, socket_timeout=2.5) as http:
        options = _served_pool_options(http, http_server.url("/hello"))
    assert options.connect_timeout == 5 and options.socket_timeout == 2.5
