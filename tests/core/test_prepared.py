"""A request prepared once (``prepare_request``) and sent by either driver.

The bytes a scripted server receives for a prepared request are the bytes the same
arguments give through ``request(method, url, ...)``; every local error is raised by
``prepare_request`` itself, before any I/O; a prepared request that does not fit the
call or the pool is refused before a connection is taken.
"""

from __future__ import annotations

from typing import Any, Callable, Iterator

import pytest

from asynchttp_lowhaio import (
    BlockingPool,
    HttpLocalError,
    Request,
    Target,
    empty_async_iterator,
    prepare_request,
    streamed,
)
from tests.core.helpers import fetch, open_pool
from tests.servers import closed_port, run
from tests.servers.scripted import ScriptedServer, recv_head, send

OK_2 = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok"
HEADERS = ((b"X-One", b" 1 "), (b"Connection", b"keep-alive"))


def test_prepare_request_builds_the_checked_serialised_value() -> None:
    prepared = prepare_request(b"POST", "http://Example.ORG:8080/a b?q=1", (("x", "2"),), HEADERS, has_body=True)
    assert isinstance(prepared, Request) and isinstance(prepared.target, Target)
    assert (prepared.target.host, prepared.target.port, prepared.target.request_target) == (
        "example.org",
        8080,
        b"/a%20b?q=1&x=2",
    )
    assert prepared.head == (
        b"POST /a%20b?q=1&x=2 HTTP/1.1\r\nhost: example.org:8080\r\nX-One: 1\r\nConnection: keep-alive\r\n"
        b"transfer-encoding: chunked\r\n\r\n"
    )
    assert (prepared.chunked, prepared.has_body, prepared.wants_close) == (True, True, False)
    assert prepared.http_version == b"HTTP/1.1"
    closing = prepare_request(b"GET", "http://h/", headers=((b"connection", b"Close"),), http_version=b"HTTP/1.0")
    assert closing.wants_close and closing.head.startswith(b"GET / HTTP/1.0\r\n")


@pytest.mark.parametrize(
    "method, url, headers, has_body, http_version",
    [
        (b"G\r\nET", "http://h/", (), False, b"HTTP/1.1"),
        ("GET", "http://h/", (), False, b"HTTP/1.1"),
        (b"GET", "http://h/\r\nx", (), False, b"HTTP/1.1"),
        (b"GET", "http://h:0/", (), False, b"HTTP/1.1"),
        (b"GET", "http://h:99999/", (), False, b"HTTP/1.1"),
        (b"GET", "ftp://h/", (), False, b"HTTP/1.1"),
        (b"GET", "http://h/", ((b"x-a", b"1\r\nx-b: 2"),), False, b"HTTP/1.1"),
        (b"GET", "http://h/", ((b"x a", b"1"),), False, b"HTTP/1.1"),
        (b"GET", "http://h/", (), False, b"HTTP/2"),
        (b"POST", "http://h/", (), True, b"HTTP/1.0"),  # chunked to HTTP/1.0
    ],
)
def test_every_local_error_is_raised_by_prepare_request(
    method: Any, url: str, headers: Any, has_body: bool, http_version: bytes
) -> None:
    with pytest.raises(HttpLocalError):
        prepare_request(method, url, (), headers, has_body, http_version)


def exchange_script(count: int) -> list[list[Any]]:
    return [[step for _ in range(count) for step in (recv_head(), send(OK_2))]]


def test_a_prepared_request_goes_out_as_the_same_arguments_would(scripted: Callable[..., ScriptedServer]) -> None:
    server = scripted(exchange_script(4))
    url = server.url("/p?a=1")

    async def main() -> list[bytes]:
        async with open_pool() as request:
            bodies = []
            for kind in ("plain", "prepared"):
                for method, body in ((b"GET", empty_async_iterator), (b"PUT", streamed(b"data"))):
                    has_body = body is not empty_async_iterator
                    if kind == "plain":
                        answer = await fetch(request, method, url, headers=HEADERS, body=body)
                    else:
                        prepared = prepare_request(method, url, headers=HEADERS, has_body=has_body)
                        code, _, response = await request(prepared, body=body)
                        answer = (code, (), await response.read_all())
                    bodies.append(answer[2])
            return bodies

    assert run(main()) == [b"ok"] * 4
    (_, get1, _), (_, put1, body1), (_, get2, _), (_, put2, body2) = server.requests
    assert (get1, put1, body1) == (get2, put2, body2)
    assert put1.startswith(b"PUT /p?a=1 HTTP/1.1\r\nhost: ") and body1 == b"4\r\ndata\r\n0\r\n\r\n"


def test_the_blocking_pool_sends_a_prepared_request_as_prepared(scripted: Callable[..., ScriptedServer]) -> None:
    server = scripted(exchange_script(2))
    request, close = BlockingPool()
    try:
        url = server.url("/b")
        framed = HEADERS + ((b"content-length", b"4"),)
        code, _, body = request(b"PATCH", url, headers=framed, body=lambda: (b"data",))
        assert (code, body.read_all()) == (b"200", b"ok")
        prepared = prepare_request(b"PATCH", url, headers=framed, has_body=True)
        code, _, body = request(prepared, body=lambda: (b"data",))
        assert (code, body.read_all()) == (b"200", b"ok")
    finally:
        close()
    (_, head1, body1), (_, head2, body2) = server.requests
    assert (head1, body1) == (head2, body2) == (prepared.head, b"data")


def misfits(url: str) -> Iterator[tuple[Request, dict[str, Any], str]]:
    """Prepared requests that do not fit their call or the pool, and what is refused."""
    plain = prepare_request(b"GET", url)
    yield plain, {"url": url}, "pass none beside it"
    yield plain, {"params": (("a", "1"),)}, "pass none beside it"
    yield plain, {"headers": ((b"x-a", b"1"),)}, "pass none beside it"
    yield plain, {"body": "a body"}, "prepared without a body, and is sent with one"
    yield prepare_request(b"PUT", url, has_body=True), {}, "prepared with a body, and is sent without one"
    yield prepare_request(b"GET", url, http_version=b"HTTP/1.0"), {}, "this pool speaks b'HTTP/1.1'"


def test_a_misfit_is_refused_before_any_connection_by_both_drivers() -> None:
    url = "http://127.0.0.1:%d/" % closed_port()  # nothing listens: a connect would fail otherwise
    bodies = {"a body": (streamed(b"x"), lambda: (b"x",))}

    async def on_the_loop() -> list[str]:
        messages = []
        async with open_pool() as request:
            for prepared, extra, _ in misfits(url):
                if "body" in extra:
                    extra = {"body": bodies[extra["body"]][0]}
                with pytest.raises(HttpLocalError) as info:
                    await request(prepared, **extra)
                messages.append(str(info.value))
            assert request.__self__.stats()["connections"] == 0
        return messages

    expected = [needle for _, _, needle in misfits(url)]
    assert all(needle in message for needle, message in zip(expected, run(on_the_loop()), strict=True))

    request, close = BlockingPool()
    try:
        for prepared, extra, needle in misfits(url):
            if "body" in extra:
                extra = {"body": bodies[extra["body"]][1]}
            with pytest.raises(HttpLocalError, match=needle.replace("(", r"\(")):
                request(prepared, **extra)
        assert request.__self__.stats()["connections"] == 0  # type: ignore[attr-defined]
    finally:
        close()


def test_a_url_is_still_needed_without_a_prepared_request() -> None:
    """As when ``url`` was a required argument: a TypeError, nothing sent."""

    async def main() -> None:
        async with open_pool() as request:
            with pytest.raises(TypeError, match="missing 1 required positional argument: 'url'"):
                await request(b"GET")
            with pytest.raises(HttpLocalError, match="url must be str, not bytes"):
                await request(b"GET", b"http://127.0.0.1/")

    run(main())
    request, close = BlockingPool()
    try:
        with pytest.raises(TypeError, match="missing 1 required positional argument: 'url'"):
            request(b"GET")
    finally:
        close()
