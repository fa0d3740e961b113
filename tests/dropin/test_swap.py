"""Swapping httplib2.Http for asynchttp's classes, the way users move a library that
builds its own Http: the swapped name must construct and request without recursing."""

from __future__ import annotations

from typing import Iterator

import httplib2
import pytest

import asynchttp
from tests.servers.http_server import TestServer


@pytest.fixture
def swapped_httplib2() -> Iterator[None]:
    original = httplib2.Http
    yield
    httplib2.Http = original


@pytest.mark.parametrize("cls", [asynchttp.BlockingHttp, asynchttp.Http])
def test_swapped_class_constructs_and_requests(cls: type, swapped_httplib2: None, http_server: TestServer) -> None:
    httplib2.Http = cls
    http = httplib2.Http(timeout=10)
    try:
        assert type(http) is cls
        response, content = http.request(http_server.url("/hello"))
        assert response.status == 200
        assert bytes(content) == b"hello world"
    finally:
        http.shutdown(wait=True, cancel_pending=True)
