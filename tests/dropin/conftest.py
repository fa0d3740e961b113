"""Fixtures of the drop-in suite: Http factories that are always shut down, a guard
that restores ``httplib2.Http`` and ``sys.modules["httplib2"]`` after a swap, and a
signing server (401 to every unsigned request)."""

from __future__ import annotations

import hashlib
import sys
import threading
from typing import Any, Callable, Iterator, Optional

import httplib2
import pytest

import asynchttp
from tests.servers.http_server import Request, Response, TestServer

WAIT = 20.0  # bound on every wait in this suite


@pytest.fixture(autouse=True)
def hang_guard() -> Iterator[None]:
    """No test of this suite may hang: dump the stacks and fail after a bound."""
    timer = threading.Timer(120.0, lambda: __import__("faulthandler").dump_traceback())
    timer.daemon = True
    timer.start()
    yield
    timer.cancel()


@pytest.fixture
def restore_httplib2() -> Iterator[None]:
    """Undo whatever a test swaps: ``httplib2.Http`` and the ``httplib2`` module entry."""
    original_class = httplib2.Http
    original_module = sys.modules["httplib2"]
    yield
    httplib2.Http = original_class
    sys.modules["httplib2"] = original_module


@pytest.fixture
def made() -> Iterator[list[Any]]:
    """Append every asynchttp Http a test makes: they are shut down after it."""
    objects: list[Any] = []
    yield objects
    for http in objects:
        if isinstance(http, asynchttp.Http):
            http.shutdown(wait=True, cancel_pending=True)


def signature(method: str, uri: str) -> str:
    """What the signing clients put in Authorization for ``method`` on ``uri``."""
    return "Signed " + hashlib.sha256(("%s %s" % (method, uri)).encode("utf-8")).hexdigest()[:32]


def signed_as(request: Request, server: TestServer) -> Optional[str]:
    """The URI the request's Authorization signs, if it signs the request itself."""
    uri = server.url(request.target)
    return uri if request.header("authorization") == signature(request.method, uri) else None


@pytest.fixture
def signing_server(http_server: TestServer) -> TestServer:
    """/signed/ok answers 200 to a request signed for its own method and URI, else 401;
    /signed/redirect (signed) 302s to /signed/ok; /basic wants Basic u:p."""

    def unsigned() -> Response:
        return Response(401, b"unsigned", [("WWW-Authenticate", 'Signed realm="test"')])

    async def ok(request: Request) -> Response:
        if signed_as(request, http_server) is None:
            return unsigned()
        return Response(200, b"signed " + request.method.encode(), [("Content-Type", "text/plain")])

    async def redirect(request: Request) -> Response:
        if signed_as(request, http_server) is None:
            return unsigned()
        return Response(302, b"", [("Location", "/signed/ok")])

    async def basic(request: Request) -> Response:
        if request.header("authorization") != "Basic dTpw":  # u:p
            return Response(401, b"who?", [("WWW-Authenticate", 'Basic realm="basic"')])
        return Response(200, b"basic ok")

    http_server.route("/signed/ok", ok)
    http_server.route("/signed/redirect", redirect)
    http_server.route("/basic", basic)
    return http_server


MakeHttp = Callable[..., Any]
