"""One request over a real connection: URLs, validation, response framing, body errors.

Every test here talks to a real server on loopback: the HTTP test server (which tells
which connection served a request, through x-conn-id and x-conn-requests) or the
scripted server (exact bytes, stalls and resets). What the server received is the
evidence for what the client sent.
"""

from __future__ import annotations

import asyncio
import gc
import json
import tracemalloc
from typing import Any, AsyncIterator, Callable

import pytest

from asynchttp_lowhaio import (
    HttpConnectionClosedError,
    HttpDataError,
    HttpError,
    HttpHeaderTooLong,
    HttpLocalError,
    HttpProtocolError,
    HttpReadTimeoutError,
    HttpResponseHeadTimeoutError,
    HttpWriteTimeoutError,
    _connection,
    buffered,
    empty_async_iterator,
    streamed,
)
from asynchttp_lowhaio._connection import BULK_FIRST
from tests.core.helpers import conn_of, fetch, header, open_pool, state_of, until
from tests.servers import new_client_loop, run
from tests.servers.http_server import Raw, Request, Response, TestServer, pattern
from tests.servers.scripted import (
    ScriptedServer,
    close,
    recv_bytes,
    recv_head,
    rst,
    send,
    send_slowly,
    sleep,
    wait_for_client_close,
)

OK_2 = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok"


def constant(server: TestServer, path: str, make: Callable[[], Any]) -> str:
    """Serve ``make()`` at ``path``; returns the URL."""

    async def handler(_: Request) -> Any:
        return make()

    server.route(path, handler)
    return server.url(path)


# ------------------------------------------------------------------------ URLs
def test_query_in_url_is_kept_and_params_appended(http_server: TestServer) -> None:
    async def main() -> Any:
        async with open_pool() as request:
            return await fetch(request, b"GET", http_server.url("/echo?a=1&b=x%20y"), params=(("c", "3"), ("d", "e f")))

    code, _, body = run(main())
    assert code == b"200"
    echoed = json.loads(body)
    assert echoed["target"] == "/echo?a=1&b=x%20y&c=3&d=e+f"
    assert echoed["args"] == [["a", "1"], ["b", "x y"], ["c", "3"], ["d", "e f"]]


def test_params_alone_make_the_query(http_server: TestServer) -> None:
    async def main() -> None:
        async with open_pool() as request:
            await fetch(request, b"GET", http_server.url("/echo"), (("q", "1"),))

    run(main())
    assert http_server.requests[0].target == "/echo?q=1"


def test_percent_encoding_is_kept_as_given(http_server: TestServer) -> None:
    async def main() -> None:
        async with open_pool() as request:
            await fetch(request, b"GET", http_server.url("/a%2Fb/%41%20c?x=%26%3D&y=%25"))
            await fetch(request, b"GET", http_server.url("/sp ace/caf\u00e9"))

    run(main())
    assert http_server.requests[0].target == "/a%2Fb/%41%20c?x=%26%3D&y=%25"
    # what may not appear in a target is encoded, once
    assert http_server.requests[1].target == "/sp%20ace/caf%C3%A9"


def test_empty_path_becomes_slash(http_server: TestServer) -> None:
    async def main() -> None:
        async with open_pool() as request:
            await fetch(request, b"GET", f"http://127.0.0.1:{http_server.port}")
            await fetch(request, b"GET", f"http://127.0.0.1:{http_server.port}?k=v")

    run(main())
    assert [r.target for r in http_server.requests] == ["/", "/?k=v"]


def test_host_header_carries_a_non_default_port(http_server: TestServer) -> None:
    async def main() -> None:
        async with open_pool() as request:
            await fetch(request, b"GET", http_server.url("/echo"))

    run(main())
    assert http_server.requests[0].header_all("host") == [f"127.0.0.1:{http_server.port}"]


def test_ipv6_literal(http_server_v6: TestServer) -> None:
    url = f"http://[::1]:{http_server_v6.port}/echo?v=6"

    async def main() -> Any:
        async with open_pool() as request:
            return await fetch(request, b"GET", url)

    code, _, body = run(main())
    assert code == b"200"
    assert json.loads(body)["target"] == "/echo?v=6"
    assert http_server_v6.requests[0].header_all("host") == [f"[::1]:{http_server_v6.port}"]


@pytest.mark.parametrize("name", [b"Host", b"host", b"HOST", b"hOsT"])
def test_callers_host_header_replaces_the_default(http_server: TestServer, name: bytes) -> None:
    async def main() -> None:
        async with open_pool() as request:
            await fetch(request, b"GET", http_server.url("/echo"), headers=((name, b"example.test"),))

    run(main())
    received = http_server.requests[0]
    assert received.header_all("host") == ["example.test"]
    assert [n for n, _ in received.headers if n.lower() == "host"] == [name.decode()]


def test_headers_are_sent_in_order_with_duplicates(http_server: TestServer) -> None:
    sent = ((b"X-One", b"1"), (b"x-two", b"2"), (b"X-One", b"3"), ("X-Str", "text"))

    async def main() -> None:
        async with open_pool() as request:
            await fetch(request, b"GET", http_server.url("/echo"), headers=sent)

    run(main())
    received = [(n, v) for n, v in http_server.requests[0].headers if n.lower() != "host"]
    assert received == [("X-One", "1"), ("x-two", "2"), ("X-One", "3"), ("X-Str", "text")]


# ------------------------------------------------------------------ validation
BAD_REQUESTS = [
    pytest.param(dict(method=b"GET\r\nX: y"), id="method CR"),
    pytest.param(dict(method=b"G\x00T"), id="method NUL"),
    pytest.param(dict(method=b"GET /evil"), id="method space"),
    pytest.param(dict(method="GET"), id="method str"),
    pytest.param(dict(path="/a\r\nX-Injected: 1"), id="target CRLF"),
    pytest.param(dict(path="/a\nb"), id="target LF"),
    pytest.param(dict(path="/a\x00b"), id="target NUL"),
    pytest.param(dict(path="/a?x=\rb"), id="query CR"),
    pytest.param(dict(headers=((b"x-a", b"1\r\nx-injected: 2"),)), id="header value CRLF"),
    pytest.param(dict(headers=((b"x-a", b"1\nx"),)), id="header value LF"),
    pytest.param(dict(headers=((b"x-a", b"1\x00"),)), id="header value NUL"),
    pytest.param(dict(headers=((b"x-a\r", b"1"),)), id="header name CR"),
    pytest.param(dict(headers=((b"x\x00a", b"1"),)), id="header name NUL"),
    pytest.param(dict(headers=((b"x-a: b", b"1"),)), id="header name colon"),
    pytest.param(dict(headers=((b"", b"1"),)), id="header name empty"),
    pytest.param(dict(headers=((b"x-a",),)), id="header not a pair"),
    pytest.param(dict(headers=(b"xy",)), id="header two-byte string"),
    pytest.param(dict(headers=((b"x-a", 1),)), id="header value int"),
    pytest.param(dict(headers=(("x-a", "\u20ac"),)), id="header str not latin-1"),
    pytest.param(dict(headers=((b"host", b"a\r\nb"),)), id="host header CRLF"),
]


@pytest.mark.parametrize("case", BAD_REQUESTS)
def test_bad_request_raises_local_error_before_sending(scripted: Callable[..., ScriptedServer], case: dict) -> None:
    server = scripted([recv_head(), send(OK_2)])

    async def main() -> Any:
        async with open_pool() as request:
            with pytest.raises(HttpLocalError) as info:
                await request(
                    case.get("method", b"GET"), server.url(case.get("path", "/")), headers=case.get("headers", ())
                )
            # the pool is still fine, and this is the first connection the server sees
            return info.value, await fetch(request, b"GET", server.url("/fine"))

    error, (code, _, _) = run(main())
    assert isinstance(error, ValueError)
    assert code == b"200"
    assert server.wait_done(1)
    assert server.connections_accepted == 1
    assert len(server.requests) == 1
    assert server.requests[0][1].startswith(b"GET /fine HTTP/1.1\r\n")


@pytest.mark.parametrize(
    "url", ["ftp://127.0.0.1/x", "http:///nohost", "http://127.0.0.1:99999/", "not a url", b"http://127.0.0.1/"]
)
def test_bad_urls_are_local_errors(url: Any) -> None:
    async def main() -> None:
        async with open_pool() as request:
            with pytest.raises(HttpLocalError):
                await request(b"GET", url)

    run(main())


# ------------------------------------------------------------- request bodies
def test_body_without_length_is_sent_chunked(http_server: TestServer) -> None:
    async def gen(a: bytes, *, b: bytes) -> AsyncIterator[bytes]:
        yield a
        yield b""  # an empty chunk must not end the chunked body early
        yield b

    async def main() -> Any:
        async with open_pool() as request:
            return await fetch(
                request,
                b"POST",
                http_server.url("/echo"),
                body=gen,
                body_args=(b"first-",),
                body_kwargs=(("b", b"second"),),
            )

    _, _, body = run(main())
    echoed = json.loads(body)
    assert echoed["body"] == "first-second"
    assert echoed["chunked"] is True


def test_body_with_content_length_is_sent_as_is(http_server: TestServer) -> None:
    async def main() -> Any:
        async with open_pool() as request:
            return await fetch(
                request, b"PUT", http_server.url("/echo"), headers=((b"content-length", b"5"),), body=streamed(b"hello")
            )

    _, _, body = run(main())
    echoed = json.loads(body)
    assert echoed["body"] == "hello" and echoed["chunked"] is False
    assert http_server.requests[0].header_all("content-length") == ["5"]


def test_post_without_body_sends_content_length_zero(http_server: TestServer) -> None:
    async def main() -> None:
        async with open_pool() as request:
            await fetch(request, b"POST", http_server.url("/echo"))
            await fetch(request, b"GET", http_server.url("/echo"), body=empty_async_iterator)

    run(main())
    post, get = http_server.requests
    assert post.header_all("content-length") == ["0"]
    assert get.header_all("content-length") == [] and get.header_all("transfer-encoding") == []


def test_large_request_body_streams_through_flow_control(http_server: TestServer) -> None:
    size = 8 * 1024 * 1024

    async def gen() -> AsyncIterator[bytes]:
        for start in range(0, size, 1 << 20):
            yield pattern(1 << 20, start)

    async def main() -> Any:
        async with open_pool() as request:
            return await fetch(
                request,
                b"POST",
                http_server.url("/discard"),
                body=gen,
                headers=((b"content-length", str(size).encode()),),
            )

    _, _, body = run(main())
    assert json.loads(body)["length"] == size


def test_error_raised_by_the_request_body_propagates_and_drops_the_connection(http_server: TestServer) -> None:
    class Boom(Exception):
        pass

    async def gen() -> AsyncIterator[bytes]:
        yield b"part"
        raise Boom("the caller's own failure")

    async def main() -> Any:
        async with open_pool() as request:
            assert await conn_of(request, http_server.url("/hello")) == (1, 1)
            with pytest.raises(Boom):
                await request(b"POST", http_server.url("/echo"), body=gen)
            assert state_of(request).stats()["connections"] == 0
            return await conn_of(request, http_server.url("/hello"))

    assert run(main()) == (2, 1)


def test_write_timeout_when_the_server_never_reads(scripted: Callable[..., ScriptedServer]) -> None:
    server = scripted([sleep(5)])

    async def gen() -> AsyncIterator[bytes]:
        piece = b"x" * (1 << 20)
        for _ in range(256):  # far more than loopback's socket buffers hold
            yield piece

    async def main() -> BaseException:
        async with open_pool(socket_timeout=0.2) as request:
            with pytest.raises(HttpWriteTimeoutError) as info:
                await request(b"POST", server.url("/"), body=gen)
            return info.value

    error = run(main())
    assert isinstance(error, TimeoutError) and isinstance(error, HttpDataError)


# ------------------------------------------------------------ response framing
def test_interim_responses_are_skipped(http_server: TestServer) -> None:
    url = constant(
        http_server,
        "/interim",
        lambda: Response(body=b"final", interim=[(100, []), (103, [("Link", "</s.css>; rel=preload")])]),
    )

    async def main() -> Any:
        async with open_pool() as request:
            return await fetch(request, b"GET", url), await conn_of(request, url)

    (code, headers, body), second = run(main())
    assert code == b"200" and body == b"final"
    assert header(headers, b"link") is None
    assert second == (1, 2)


@pytest.mark.parametrize("status", [204, 304])
def test_no_body_statuses_ignore_content_length_and_reuse(http_server: TestServer, status: int) -> None:
    url = constant(http_server, "/nobody", lambda: Response(status=status, headers=[("Content-Length", "5")]))

    async def main() -> Any:
        async with open_pool(socket_timeout=2) as request:
            first = await fetch(request, b"GET", url)
            return first, await conn_of(request, url)

    (code, headers, body), second = run(main())
    assert code == str(status).encode() and body == b""
    assert header(headers, b"content-length") == b"5"
    assert second == (1, 2)


def test_head_with_content_length_has_no_body_and_reuses(http_server: TestServer) -> None:
    async def main() -> Any:
        async with open_pool(socket_timeout=2) as request:
            first = await fetch(request, b"HEAD", http_server.url("/head-len?n=5000"))
            return first, await conn_of(request, http_server.url("/head-len?n=10"))

    (code, headers, body), second = run(main())
    assert code == b"200" and body == b""
    assert header(headers, b"content-length") == b"5000"
    assert second == (1, 2)


def test_chunked_wins_over_content_length_and_is_not_reused(http_server: TestServer) -> None:
    url = constant(
        http_server, "/both", lambda: Response(body=b"hello world", chunked=True, headers=[("Content-Length", "3")])
    )

    async def main() -> Any:
        async with open_pool() as request:
            first = await fetch(request, b"GET", url)
            return first, await conn_of(request, http_server.url("/hello"))

    (code, _, body), second = run(main())
    assert body == b"hello world"
    assert second == (2, 1)


@pytest.mark.parametrize("lengths", [[b"1x"], [b"-1"], [b"2", b"3"], [b"2, 3"], [b"9" * 30]])
def test_invalid_content_length_is_a_protocol_error(scripted: Callable[..., ScriptedServer], lengths: list) -> None:
    head = b"HTTP/1.1 200 OK\r\n" + b"".join(b"content-length: %s\r\n" % v for v in lengths)
    server = scripted([recv_head(), send(head + b"\r\nok"), wait_for_client_close(2)])

    async def main() -> None:
        async with open_pool() as request:
            with pytest.raises(HttpProtocolError):
                await request(b"GET", server.url("/"))

    run(main())
    assert server.wait_done(1)
    assert server.client_closed[0] is True


def test_agreeing_duplicate_content_lengths_are_accepted(scripted: Callable[..., ScriptedServer]) -> None:
    server = scripted([recv_head(), send(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\ncontent-length: 2\r\n\r\nok")])

    async def main() -> Any:
        async with open_pool() as request:
            return await fetch(request, b"GET", server.url("/"))

    assert run(main())[2] == b"ok"


def test_body_until_close_http11(http_server: TestServer) -> None:
    url = constant(http_server, "/until-close", lambda: Response(body=b"no framing at all", add_content_length=False))

    async def main() -> Any:
        async with open_pool() as request:
            first = await fetch(request, b"GET", url)
            return first, await conn_of(request, http_server.url("/hello"))

    (_, headers, body), second = run(main())
    assert body == b"no framing at all"
    assert header(headers, b"content-length") is None
    assert second == (2, 1)


def test_body_until_close_without_connection_header(scripted: Callable[..., ScriptedServer]) -> None:
    data = pattern(50_000)
    server = scripted([recv_head(), send(b"HTTP/1.1 200 OK\r\n\r\n" + data), close()])

    async def main() -> Any:
        async with open_pool() as request:
            return await fetch(request, b"GET", server.url("/"))

    assert run(main())[2] == data


def test_http10_response_until_close(http_server: TestServer) -> None:
    async def main() -> Any:
        async with open_pool() as request:
            code, headers, body = await request(b"GET", http_server.url("/http10"))
            content = await buffered(body)
            return body.version, content, await conn_of(request, http_server.url("/hello"))

    version, content, second = run(main())
    assert version == b"1.0"
    assert content == b"http/1.0 body until close\n"
    assert second == (2, 1)


def test_http10_keep_alive_rules(http_server: TestServer) -> None:
    kept = constant(
        http_server, "/10-keep", lambda: Response(body=b"k", version="HTTP/1.0", headers=[("Connection", "keep-alive")])
    )
    not_kept = constant(http_server, "/10-plain", lambda: Response(body=b"p", version="HTTP/1.0"))

    async def main() -> list:
        async with open_pool() as request:
            return [
                await conn_of(request, kept),
                await conn_of(request, kept),
                await conn_of(request, not_kept),
                await conn_of(request, kept),
            ]

    # keep-alive asked for: reused; HTTP/1.0 without it: the connection ends with it
    assert run(main()) == [(1, 1), (1, 2), (1, 3), (2, 1)]


def test_connection_close_from_server_is_honoured(http_server: TestServer) -> None:
    async def main() -> list:
        async with open_pool() as request:
            return [
                await conn_of(request, http_server.url("/close")),
                await conn_of(request, http_server.url("/hello")),
            ]

    assert run(main()) == [(1, 1), (2, 1)]


def test_connection_close_from_caller_is_honoured(http_server: TestServer) -> None:
    async def main() -> list:
        async with open_pool() as request:
            await fetch(request, b"GET", http_server.url("/hello"), headers=((b"Connection", b"keep-alive, Close"),))
            return [await conn_of(request, http_server.url("/hello"))]

    assert run(main()) == [(2, 1)]
    assert http_server.requests[0].header("connection") == "keep-alive, Close"


def test_chunk_extensions_ignored_and_connection_reused(scripted: Callable[..., ScriptedServer]) -> None:
    response = (
        b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n"
        b'5;name=value;flag\r\nhello\r\n6 ; q="x;y"\r\n world\r\n0;last\r\n\r\n'
    )
    server = scripted([recv_head(), send(response), recv_head(), send(OK_2)])

    async def main() -> Any:
        async with open_pool() as request:
            return await fetch(request, b"GET", server.url("/")), await fetch(request, b"GET", server.url("/"))

    first, second = run(main())
    assert first[2] == b"hello world"
    assert second[2] == b"ok"
    assert server.connections_accepted == 1


def test_trailers_are_read(http_server: TestServer) -> None:
    url = http_server.url("/chunked?n=1000&size=300&trailer=X-Check:abc&trailer=X-Other:%20two")

    async def main() -> Any:
        async with open_pool() as request:
            code, headers, body = await request(b"GET", url)
            assert body.trailers == ()
            content = await buffered(body)
            return content, body.trailers, await conn_of(request, http_server.url("/hello"))

    content, trailers, second = run(main())
    assert content == pattern(1000)
    assert trailers == ((b"x-check", b"abc"), (b"x-other", b"two"))
    assert second == (1, 2)


def test_invalid_chunk_size_is_a_protocol_error(scripted: Callable[..., ScriptedServer]) -> None:
    server = scripted(
        [
            recv_head(),
            send(b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n"),
            wait_for_client_close(2),
        ]
    )

    async def main() -> None:
        async with open_pool() as request:
            with pytest.raises(HttpProtocolError):
                # the whole response comes in one segment: the error may surface as
                # soon as request() or only when the body is read
                code, _, body = await request(b"GET", server.url("/"))
                await buffered(body)

    run(main())


def test_extra_bytes_after_a_response_prevent_reuse(http_server: TestServer) -> None:
    url = constant(http_server, "/extra", lambda: Raw(OK_2 + b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n"))

    async def main() -> Any:
        async with open_pool() as request:
            first = await fetch(request, b"GET", url)
            return first, await conn_of(request, http_server.url("/hello"))

    (_, _, body), second = run(main())
    assert body == b"ok"
    assert second == (2, 1)


def test_extra_bytes_arriving_before_the_body_is_read(scripted: Callable[..., ScriptedServer]) -> None:
    """The response is complete but unread when more bytes come: still not reused."""
    server = scripted(
        [
            [
                recv_head(),
                send(b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\nhel"),
                sleep(0.05),
                send(b"lo"),
                sleep(0.05),
                send(b"junk"),
                wait_for_client_close(2),
            ],
            [recv_head(), send(OK_2)],
        ]
    )

    async def main() -> Any:
        async with open_pool() as request:
            code, _, body = await request(b"GET", server.url("/"))
            await asyncio.sleep(0.2)  # let the junk arrive while the body sits unread
            first = await buffered(body)
            second = await fetch(request, b"GET", server.url("/"))
            return first, second

    first, second = run(main())
    assert first == b"hello" and second[2] == b"ok"
    assert server.connections_accepted == 2


# ------------------------------------------------------------------ big bodies
def test_100mb_body_streams_in_constant_memory(http_server: TestServer) -> None:
    size = 100 * 1024 * 1024

    async def main() -> tuple[int, int]:
        async with open_pool() as request:
            code, _, body = await request(b"GET", http_server.url(f"/stream?n={size}"))
            total = 0
            async for chunk in body:
                total += len(chunk)
            return total, tracemalloc.get_traced_memory()[1]

    gc.collect()
    tracemalloc.start()
    try:
        total, peak = run(main(), timeout=60)
    finally:
        tracemalloc.stop()
    assert total == size
    # the server (same process) and the client together: far below the body's size
    assert peak < 8 * 1024 * 1024, peak


@pytest.mark.slow
def test_slow_consumer_pauses_reading(http_server: TestServer) -> None:
    """A consumer that does not read holds a bounded amount of memory (reading pauses)."""
    size = 32 * 1024 * 1024

    async def main() -> tuple[int, bytes]:
        async with open_pool(recv_bufsize=65536) as request:
            code, _, body = await request(b"GET", http_server.url(f"/stream?n={size}"))
            first = await body.__anext__()
            tracemalloc.start()
            try:
                await asyncio.sleep(0.3)  # the server keeps pushing meanwhile
                held = tracemalloc.get_traced_memory()[1]
            finally:
                tracemalloc.stop()
            rest = b"".join([chunk async for chunk in body])
            return held, first + rest

    held, content = run(main(), timeout=60)
    assert content == pattern(size)
    assert held < 8 * 1024 * 1024, held


# ------------------------------------------------------ whole bodies at once
def test_whole_body_larger_than_the_first_buffer(http_server: TestServer) -> None:
    """buffered() reads a Content-Length body into one growing buffer: exact bytes, then reuse."""
    size = 5 * BULK_FIRST + 12345

    async def main() -> Any:
        async with open_pool() as request:
            code, headers, body = await request(b"GET", http_server.url(f"/stream?n={size}"))
            content = await buffered(body)
            return content, header(headers, b"content-length"), await conn_of(request, http_server.url("/hello"))

    content, length, second = run(main(), timeout=60)
    assert type(content) is bytes and content == pattern(size)
    assert length == b"%d" % size
    assert second == (1, 2)


def test_whole_body_after_streaming_its_start(http_server: TestServer) -> None:
    """Chunks already taken stay taken; buffered() returns the rest, whole."""
    size = 3 * 1024 * 1024

    async def main() -> Any:
        async with open_pool(recv_bufsize=65536) as request:
            code, _, body = await request(b"GET", http_server.url(f"/stream?n={size}"))
            first = await body.__anext__()
            await asyncio.sleep(0.05)  # more arrives and waits in the queue meanwhile
            rest = await buffered(body)
            return first, rest, await conn_of(request, http_server.url("/hello"))

    first, rest, second = run(main(), timeout=60)
    assert first + rest == pattern(size)
    assert second == (1, 2)


def test_bytes_after_a_whole_body_prevent_reuse(scripted: Callable[..., ScriptedServer]) -> None:
    """The body's buffer ends where the body does: what follows is seen and poisons the connection."""
    server = scripted(
        [
            [
                recv_head(),
                send(b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\nhe"),
                sleep(0.1),
                send(b"lloHTTP/1.1 200 OK\r\n"),
                wait_for_client_close(2),
            ],
            [recv_head(), send(OK_2)],
        ]
    )

    async def main() -> Any:
        async with open_pool() as request:
            code, _, body = await request(b"GET", server.url("/"))
            first = await buffered(body)  # waits for the rest of the body
            await asyncio.sleep(0.1)
            second = await fetch(request, b"GET", server.url("/"))
            return first, second

    first, second = run(main())
    assert first == b"hello" and second[2] == b"ok"
    assert server.connections_accepted == 2


def test_announced_length_is_not_allocated_up_front(
    scripted: Callable[..., ScriptedServer], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A server announcing a terabyte and sending ten bytes costs about BULK_FIRST, then a timeout."""
    # the process's one allocator hint (tests/core/test_allocator_hint.py) is not this body's cost
    monkeypatch.setattr(_connection, "allocator_hints", 1)
    server = scripted(
        [recv_head(), send(b"HTTP/1.1 200 OK\r\ncontent-length: 1000000000000\r\n\r\n" + b"z" * 10), sleep(5)]
    )

    async def main() -> int:
        async with open_pool(socket_timeout=0.3) as request:
            code, _, body = await request(b"GET", server.url("/"))
            tracemalloc.start()
            try:
                with pytest.raises(HttpReadTimeoutError):
                    await buffered(body)
                return tracemalloc.get_traced_memory()[1]
            finally:
                tracemalloc.stop()

    peak = run(main())
    assert peak < 2 * BULK_FIRST, peak


# ----------------------------------------------------------- errors in the body
def test_reset_mid_body_is_connection_closed(scripted: Callable[..., ScriptedServer]) -> None:
    server = scripted(
        [recv_head(), send(b"HTTP/1.1 200 OK\r\ncontent-length: 1000\r\n\r\n" + b"x" * 10), sleep(0.1), rst()]
    )

    async def main() -> BaseException:
        async with open_pool() as request:
            code, _, body = await request(b"GET", server.url("/"))
            assert await body.__anext__() == b"x" * 10
            with pytest.raises(HttpConnectionClosedError) as info:
                await buffered(body)
            assert state_of(request).stats()["connections"] == 0
            return info.value

    error = run(main())
    assert isinstance(error, ConnectionError) and isinstance(error, HttpDataError)


def test_clean_close_mid_body_is_connection_closed(scripted: Callable[..., ScriptedServer]) -> None:
    server = scripted(
        [recv_head(), send(b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n3\r\nabc\r\n"), close()]
    )

    async def main() -> None:
        async with open_pool() as request:
            code, _, body = await request(b"GET", server.url("/"))
            with pytest.raises(HttpConnectionClosedError):
                await buffered(body)

    run(main())


def test_stall_mid_body_is_read_timeout(scripted: Callable[..., ScriptedServer]) -> None:
    server = scripted([recv_head(), send(b"HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\n" + b"y" * 40), sleep(10)])

    async def main() -> BaseException:
        async with open_pool(socket_timeout=0.2) as request:
            code, _, body = await request(b"GET", server.url("/"))
            with pytest.raises(HttpReadTimeoutError) as info:
                await buffered(body)
            return info.value

    error = run(main())
    assert isinstance(error, TimeoutError)
    assert not isinstance(error, HttpResponseHeadTimeoutError)


def test_silent_server_is_read_timeout_before_the_head(scripted: Callable[..., ScriptedServer]) -> None:
    server = scripted([recv_head(), sleep(10)])

    async def main() -> None:
        async with open_pool(socket_timeout=0.2) as request:
            with pytest.raises(HttpReadTimeoutError):
                await request(b"GET", server.url("/"))

    run(main())


def test_slowloris_head_hits_the_head_timeout(scripted: Callable[..., ScriptedServer]) -> None:
    head = b"HTTP/1.1 200 OK\r\n" + b"x-slow: " + b"a" * 200 + b"\r\ncontent-length: 0\r\n\r\n"
    server = scripted([recv_head(), send_slowly(head, interval=0.05)])

    async def main() -> BaseException:
        async with open_pool(response_head_timeout=0.3, socket_timeout=5) as request:
            with pytest.raises(HttpResponseHeadTimeoutError) as info:
                await request(b"GET", server.url("/"))
            return info.value

    error = run(main())
    assert isinstance(error, HttpReadTimeoutError) and isinstance(error, TimeoutError)


def test_slow_but_steady_body_is_fine(scripted: Callable[..., ScriptedServer]) -> None:
    """The socket timeout is about inactivity: a body trickling in faster than it passes."""
    data = b"0123456789" * 2
    server = scripted(
        [recv_head(), send(b"HTTP/1.1 200 OK\r\ncontent-length: 20\r\n\r\n"), send_slowly(data, interval=0.03, piece=2)]
    )

    async def main() -> Any:
        async with open_pool(socket_timeout=0.25) as request:
            return await fetch(request, b"GET", server.url("/"))

    assert run(main())[2] == data


def test_closed_before_any_response_byte(scripted: Callable[..., ScriptedServer]) -> None:
    server = scripted([recv_head(), close()])

    async def main() -> None:
        async with open_pool() as request:
            with pytest.raises(HttpConnectionClosedError):
                await request(b"GET", server.url("/"))

    run(main())
    assert server.connections_accepted == 1  # a fresh connection is not retried


def test_garbage_instead_of_a_status_line(scripted: Callable[..., ScriptedServer]) -> None:
    server = scripted([recv_head(), send(b"<html>hello</html>\r\n\r\n"), wait_for_client_close(2)])

    async def main() -> None:
        async with open_pool() as request:
            with pytest.raises(HttpProtocolError):
                await request(b"GET", server.url("/"))

    run(main())


# ------------------------------------------------------------------ cancellation
def test_cancelled_request_raises_cancelled_and_drops_the_connection(http_server: TestServer) -> None:
    async def main() -> tuple[BaseException, tuple[int, int], dict]:
        async with open_pool() as request:
            assert await conn_of(request, http_server.url("/hello")) == (1, 1)
            task = asyncio.ensure_future(request(b"GET", http_server.url("/wait?key=never&max=5")))
            await until(lambda: len(http_server.requests) == 2)
            task.cancel()
            with pytest.raises(asyncio.CancelledError) as info:
                await task
            stats = state_of(request).stats()
            # (the server notices the close only when its held handler answers)
            return info.value, await conn_of(request, http_server.url("/hello")), stats

    error, after, stats = run(main())
    assert type(error) is asyncio.CancelledError  # never wrapped
    assert stats["connections"] == 0 and stats["active"] == 0
    assert after == (2, 1)
    http_server.release("never")


def test_cancelled_while_reading_the_body(scripted: Callable[..., ScriptedServer]) -> None:
    server = scripted(
        [
            [recv_head(), send(b"HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\nabc"), wait_for_client_close(3)],
            [recv_head(), send(OK_2)],
        ]
    )

    async def main() -> Any:
        async with open_pool() as request:
            code, _, body = await request(b"GET", server.url("/"))
            task = asyncio.ensure_future(buffered(body))
            await asyncio.sleep(0.05)
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            return await fetch(request, b"GET", server.url("/"))

    assert run(main())[2] == b"ok"
    assert server.wait_done(2)
    assert server.client_closed[0] is True


# ------------------------------------------------------- abandoning the body
def test_body_read_to_the_end_returns_the_connection(http_server: TestServer) -> None:
    async def main() -> list:
        async with open_pool() as request:
            return [await conn_of(request, http_server.url("/bytes?n=100000")) for _ in range(3)]

    assert run(main()) == [(1, 1), (1, 2), (1, 3)]


def test_aclose_closes_the_connection(http_server: TestServer) -> None:
    async def main() -> Any:
        async with open_pool() as request:
            code, _, body = await request(b"GET", http_server.url("/stream?n=50000000"))
            await body.__anext__()
            await body.aclose()
            await body.aclose()  # twice is harmless
            assert [chunk async for chunk in body] == []
            await until(lambda: http_server.connections_closed == 1)
            return await conn_of(request, http_server.url("/hello"))

    assert run(main()) == (2, 1)


def test_dropping_the_body_closes_the_connection(http_server: TestServer) -> None:
    async def main() -> Any:
        async with open_pool() as request:
            code, _, body = await request(b"GET", http_server.url("/stream?n=50000000"))
            del body
            gc.collect()
            assert state_of(request).stats()["connections"] == 0
            await until(lambda: http_server.connections_closed == 1)
            return await conn_of(request, http_server.url("/hello"))

    assert run(main()) == (2, 1)


def test_body_fully_buffered_before_reading_is_reused(http_server: TestServer) -> None:
    """A small response that is complete when request() returns goes back at once."""

    async def main() -> Any:
        async with open_pool() as request:
            code, _, body = await request(b"GET", http_server.url("/hello"))
            content = await buffered(body)
            code, headers, body2 = await request(b"GET", http_server.url("/hello"))
            await buffered(body2)
            return content, header(headers, b"x-conn-requests")

    assert run(main()) == (b"hello world", b"2")


# ----------------------------------------------------------------- no tasks
def test_no_tasks_are_created_by_the_core(
    http_server: TestServer, https_server: TestServer, client_ssl_context: Any
) -> None:
    async def main() -> list:
        counts = []
        async with open_pool(get_ssl_context=lambda: client_ssl_context) as request:
            counts.append(len(asyncio.all_tasks()))
            for server in (http_server, https_server, http_server, https_server):
                code, _, body = await request(b"POST", server.url("/echo"), body=streamed(b"data"))
                counts.append(len(asyncio.all_tasks()))
                await buffered(body)
                counts.append(len(asyncio.all_tasks()))
            await fetch(request, b"GET", http_server.url("/chunked?n=100000&size=1000"))
            counts.append(len(asyncio.all_tasks()))
        counts.append(len(asyncio.all_tasks()))
        return counts

    counts = run(main())
    # the test's own task (and run()'s wrapper) only
    assert set(counts) == {counts[0]}


def test_errors_are_all_in_the_tree() -> None:
    for cls in (
        HttpConnectionClosedError,
        HttpProtocolError,
        HttpReadTimeoutError,
        HttpResponseHeadTimeoutError,
        HttpWriteTimeoutError,
        HttpLocalError,
    ):
        assert issubclass(cls, HttpError)


# ------------------------------------------------------- writing under pressure
def test_upload_to_a_server_that_reads_late_resumes_writing(scripted: Callable[..., ScriptedServer]) -> None:
    size = 16 * 1024 * 1024
    server = scripted([recv_head(body=False), sleep(0.3), recv_bytes(size, timeout=20), send(OK_2)])

    async def gen() -> AsyncIterator[bytes]:
        for start in range(0, size, 1 << 20):
            yield pattern(1 << 20, start)

    async def main() -> Any:
        async with open_pool(socket_timeout=5) as request:
            return await fetch(
                request, b"PUT", server.url("/"), body=gen, headers=((b"content-length", str(size).encode()),)
            )

    assert run(main(), timeout=30)[2] == b"ok"


# The body's pieces: small ones between which the reset lands, and ones large enough
# that the transport is paused (its buffer full) when it does.
RESET_PIECES = pytest.mark.parametrize("piece", [1 << 10, 1 << 22], ids=["between-chunks", "while-paused"])


@RESET_PIECES
def test_reset_while_sending_the_body(
    scripted: Callable[..., ScriptedServer],
    piece: int,
    loop_factory: Callable[[], asyncio.AbstractEventLoop] = new_client_loop,
) -> None:
    """The server resets the connection while the body is being written: the caller
    gets HttpConnectionClosedError, a ConnectionError, whatever the loop's transport
    raised. tests/core/test_uvloop.py runs this case on uvloop (``loop_factory``)."""
    server = scripted([recv_head(body=False), sleep(0.1), rst()])

    async def gen() -> AsyncIterator[bytes]:
        for _ in range(1000):
            yield b"z" * piece
            await asyncio.sleep(0.01)

    async def main() -> BaseException:
        async with open_pool(socket_timeout=5) as request:
            with pytest.raises(HttpConnectionClosedError) as info:
                await request(b"POST", server.url("/"), body=gen)
            return info.value

    assert isinstance(run(main(), loop_factory=loop_factory), ConnectionError)


@pytest.mark.parametrize("pace", ["fast", "paced"])
def test_early_response_then_close_during_upload_is_returned(
    scripted: Callable[..., ScriptedServer], pace: str
) -> None:
    """A server that answers (say 413) before reading the body and closes: the client
    stops sending and returns that answer, instead of waiting forever to write."""
    answer = b"HTTP/1.1 413 Content Too Large\r\nconnection: close\r\ncontent-length: 7\r\n\r\ntoo big"
    server = scripted([recv_head(body=False), send(answer), sleep(0.2), close()])
    produced = []

    async def gen() -> AsyncIterator[bytes]:
        try:
            for _ in range(64):
                produced.append(1)
                yield b"x" * (1 << 20)
                if pace == "paced":
                    await asyncio.sleep(0.01)
        finally:
            produced.append("closed")

    async def main() -> Any:
        async with open_pool(socket_timeout=2) as request:
            result = await fetch(request, b"POST", server.url("/upload"), body=gen)
            return result, state_of(request).stats()

    (code, _, body), stats = run(main())
    assert (code, body) == (b"413", b"too big")
    assert produced[-1] == "closed" and len(produced) < 64
    assert stats["connections"] == 0


def test_early_response_with_a_plain_async_iterator_body(scripted: Callable[..., ScriptedServer]) -> None:
    """The request body may be any async iterator, not only a generator (no aclose())."""
    answer = b"HTTP/1.1 413 Content Too Large\r\nconnection: close\r\ncontent-length: 0\r\n\r\n"
    server = scripted([recv_head(body=False), send(answer), sleep(0.2), close()])

    class Chunks:
        def __init__(self) -> None:
            self.left = 64

        def __aiter__(self) -> "Chunks":
            return self

        async def __anext__(self) -> bytes:
            if not self.left:
                raise StopAsyncIteration
            self.left -= 1
            await asyncio.sleep(0.005)
            return b"y" * (1 << 20)

    async def main() -> Any:
        async with open_pool(socket_timeout=2) as request:
            return await fetch(request, b"PUT", server.url("/"), body=Chunks)

    assert run(main())[0] == b"413"


def test_caller_slow_to_read_the_body_is_not_a_timeout(scripted: Callable[..., ScriptedServer]) -> None:
    """The inactivity timer runs while nobody waits; what arrived meanwhile is still there."""
    server = scripted(
        [recv_head(), send(b"HTTP/1.1 200 OK\r\ncontent-length: 6\r\n\r\nabc"), sleep(0.05), send(b"def"), sleep(2)]
    )

    async def main() -> Any:
        async with open_pool(socket_timeout=0.2) as request:
            code, _, body = await request(b"GET", server.url("/"))
            await asyncio.sleep(0.4)  # longer than socket_timeout, not reading
            return await buffered(body)

    assert run(main()) == b"abcdef"


def test_connection_info_describes_it(http_server: TestServer) -> None:
    async def main() -> Any:
        async with open_pool() as request:
            await fetch(request, b"GET", http_server.url("/hello"))
            (conn,) = state_of(request)._policy.idle[("http", "127.0.0.1", http_server.port)]
            return conn.info()

    assert run(main()) == {"peer": "127.0.0.1", "state": "idle", "requests": 1}


# --------------------------------------------------- limits, through Pool options
def limited(scripted: Callable[..., ScriptedServer], response: bytes) -> ScriptedServer:
    return scripted([recv_head(), send(response), wait_for_client_close(2)])


def test_max_header_length_bounds_the_head(scripted: Callable[..., ScriptedServer]) -> None:
    fits = scripted([recv_head(), send(b"HTTP/1.1 200 OK\r\nx-a: " + b"a" * 400 + b"\r\ncontent-length: 0\r\n\r\n")])
    too_long = limited(scripted, b"HTTP/1.1 200 OK\r\nx-a: " + b"a" * 600 + b"\r\ncontent-length: 0\r\n\r\n")
    endless = limited(scripted, b"HTTP/1.1 200 OK\r\n" + b"x-b: b\r\n" * 200)  # never ends

    async def main() -> Any:
        async with open_pool(max_header_length=512) as request:
            with pytest.raises(HttpHeaderTooLong):
                await request(b"GET", too_long.url("/"))
            with pytest.raises(HttpHeaderTooLong):
                await request(b"GET", endless.url("/"))
            return await fetch(request, b"GET", fits.url("/"))

    assert run(main())[0] == b"200"


def test_max_header_count_bounds_the_head(scripted: Callable[..., ScriptedServer]) -> None:
    many = limited(scripted, b"HTTP/1.1 200 OK\r\n" + b"x-h: 1\r\n" * 11 + b"content-length: 0\r\n\r\n")
    fits = scripted([recv_head(), send(b"HTTP/1.1 200 OK\r\n" + b"x-h: 1\r\n" * 9 + b"content-length: 0\r\n\r\n")])

    async def main() -> Any:
        async with open_pool(max_header_count=10) as request:
            with pytest.raises(HttpProtocolError):
                await request(b"GET", many.url("/"))
            return await fetch(request, b"GET", fits.url("/"))

    code, headers, _ = run(main())
    assert code == b"200" and len(headers) == 10


def test_trailers_are_bounded(scripted: Callable[..., ScriptedServer]) -> None:
    server = limited(
        scripted,
        b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n" + b"x-t: " + b"t" * 1000 + b"\r\n\r\n",
    )

    async def main() -> None:
        async with open_pool(max_header_length=512) as request:
            with pytest.raises(HttpHeaderTooLong):
                code, _, body = await request(b"GET", server.url("/"))
                await buffered(body)

    run(main())


def test_chunk_size_digits_are_bounded(scripted: Callable[..., ScriptedServer]) -> None:
    server = limited(scripted, b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n" + b"1" * 40 + b"\r\nabc")

    async def main() -> None:
        async with open_pool() as request:
            with pytest.raises(HttpProtocolError):
                code, _, body = await request(b"GET", server.url("/"))
                await buffered(body)

    run(main())


def test_fragment_is_never_sent(http_server: TestServer) -> None:
    async def main() -> None:
        async with open_pool() as request:
            await fetch(request, b"GET", http_server.url("/echo?a=1#section-2"))

    run(main())
    assert http_server.requests[0].target == "/echo?a=1"


def test_userinfo_goes_neither_into_host_nor_into_logs(
    http_server: TestServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level("DEBUG", logger="asynchttp_lowhaio")
    url = f"http://user:s3cret@127.0.0.1:{http_server.port}/echo"

    async def main() -> None:
        async with open_pool() as request:
            await fetch(request, b"GET", url)

    run(main())
    assert http_server.requests[0].header_all("host") == [f"127.0.0.1:{http_server.port}"]
    assert http_server.requests[0].target == "/echo"
    logged = "\n".join(record.getMessage() for record in caplog.records)
    assert "/echo" in logged and "s3cret" not in logged


def test_response_headers_keep_order_and_duplicates_with_lower_cased_names(http_server: TestServer) -> None:
    async def main() -> Any:
        async with open_pool() as request:
            code, headers, body = await request(b"GET", http_server.url("/headers?X-Dup=1&Set-Cookie=a&X-Dup=2"))
            await buffered(body)
            return headers, body.reason, body.version

    headers, reason, version = run(main())
    assert [pair for pair in headers if pair[0] in (b"x-dup", b"set-cookie")] == [
        (b"x-dup", b"1"),
        (b"set-cookie", b"a"),
        (b"x-dup", b"2"),
    ]
    assert all(name == name.lower() for name, _ in headers)
    assert (reason, version) == (b"OK", b"1.1")


def test_custom_reason_phrase_is_exposed(http_server: TestServer) -> None:
    async def main() -> Any:
        async with open_pool() as request:
            code, _, body = await request(b"GET", http_server.url("/status?code=299&reason=Quite%20Fine"))
            await buffered(body)
            return code, body.reason

    assert run(main()) == (b"299", b"Quite Fine")


def test_expect_100_continue_from_the_caller(http_server: TestServer) -> None:
    async def main() -> Any:
        async with open_pool() as request:
            return await fetch(
                request,
                b"POST",
                http_server.url("/echo"),
                headers=((b"expect", b"100-continue"), (b"content-length", b"4")),
                body=streamed(b"data"),
            )

    code, _, body = run(main())
    assert code == b"200" and json.loads(body)["body"] == "data"


def test_http10_client_version(http_server: TestServer) -> None:
    async def main() -> list:
        async with open_pool(http_version=b"HTTP/1.0") as request:
            return [await conn_of(request, http_server.url("/hello")) for _ in range(2)]

    # an HTTP/1.0 request without keep-alive: the server closes after each answer
    assert run(main()) == [(1, 1), (2, 1)]
    assert http_server.requests[0].version == "HTTP/1.0"


@pytest.mark.slow
def test_timeouts_apply_to_each_request_on_a_kept_alive_connection(scripted: Callable[..., ScriptedServer]) -> None:
    slow_head = b"HTTP/1.1 200 OK\r\nx-slow: " + b"s" * 100 + b"\r\ncontent-length: 0\r\n\r\n"
    server = scripted(
        [
            [recv_head(), send(OK_2), recv_head(), send_slowly(slow_head, interval=0.05)],
            [recv_head(), send(OK_2), recv_head(), send(b"HTTP/1.1 200 OK\r\ncontent-length: 9\r\n\r\nabc"), sleep(5)],
        ]
    )

    async def main() -> None:
        async with open_pool(response_head_timeout=0.3, socket_timeout=0.4, keep_alive_timeout=30) as request:
            await fetch(request, b"GET", server.url("/"))
            await asyncio.sleep(0.1)
            with pytest.raises(HttpResponseHeadTimeoutError):
                await request(b"GET", server.url("/"))  # reused connection, slow head
            await fetch(request, b"GET", server.url("/"))  # a second connection
            await asyncio.sleep(0.2)
            code, _, body = await request(b"GET", server.url("/"))  # reused, then stalls
            with pytest.raises(HttpReadTimeoutError):
                await buffered(body)

    run(main())
    assert server.connections_accepted == 2


@pytest.mark.parametrize("secure", [False, True], ids=["http", "https"])
@pytest.mark.parametrize("recv_bufsize", [1, 16384])
@pytest.mark.parametrize(
    "path", ["/bytes?n=700001", "/chunked?n=700001&size=7777", "/stream?n=700001&piece=65536&chunked=1", "/until-close"]
)
def test_bodies_arrive_intact_under_flow_control(
    http_server: TestServer,
    https_server: TestServer,
    client_ssl_context: Any,
    secure: bool,
    recv_bufsize: int,
    path: str,
) -> None:
    server = https_server if secure else http_server

    async def until_close_body(_: Request) -> Response:
        return Response(body=pattern(700001), add_content_length=False)

    server.route("/until-close", until_close_body)

    async def main() -> list:
        async with open_pool(get_ssl_context=lambda: client_ssl_context, recv_bufsize=recv_bufsize) as request:
            out = []
            for _ in range(2):
                code, _, body = await request(b"GET", server.url(path))
                chunks = []
                async for chunk in body:
                    chunks.append(chunk)
                    if len(chunks) % 7 == 0:
                        await asyncio.sleep(0)  # a consumer that sometimes lets the loop run
                out.append(b"".join(chunks))
            return out

    for content in run(main(), timeout=30):
        assert content == pattern(700001)


def test_head_timeout_is_not_delayed_by_a_longer_timer_left_from_the_last_request(
    scripted: Callable[..., ScriptedServer],
) -> None:
    """The inactivity timer outlives a request on a kept-alive connection; a new
    request's shorter head deadline must still fire on time."""
    slow_head = b"HTTP/1.1 200 OK\r\nx-slow: " + b"s" * 200 + b"\r\ncontent-length: 0\r\n\r\n"
    server = scripted(
        [
            recv_head(),
            send(b"HTTP/1.1 200 OK\r\ncontent-length: 4\r\n\r\nab"),
            sleep(0.4),
            send(b"cd"),
            recv_head(),
            send_slowly(slow_head, interval=0.05),
        ]
    )

    async def main() -> bytes:
        async with open_pool(response_head_timeout=0.3, socket_timeout=30) as request:
            first = await fetch(request, b"GET", server.url("/"))
            with pytest.raises(HttpResponseHeadTimeoutError):
                await request(b"GET", server.url("/"))
            return first[2]

    # run()'s 5 s bound fails the test if the 30 s timer left armed were the one to fire
    assert run(main(), timeout=5) == b"abcd"
    assert server.connections_accepted == 1


def test_upload_longer_than_the_head_timeout_is_fine(http_server: TestServer) -> None:
    """response_head_timeout counts from the end of the request, not from its start."""

    async def gen() -> AsyncIterator[bytes]:
        for _ in range(10):
            yield b"u" * 1000
            await asyncio.sleep(0.05)  # 0.5 s of steady upload

    async def main() -> Any:
        async with open_pool(response_head_timeout=0.3, socket_timeout=5) as request:
            return await fetch(request, b"POST", http_server.url("/discard"), body=gen)

    code, _, body = run(main())
    assert code == b"200" and json.loads(body)["length"] == 10_000


def test_head_timeout_still_applies_after_an_upload(scripted: Callable[..., ScriptedServer]) -> None:
    slow_head = b"HTTP/1.1 200 OK\r\nx-slow: " + b"s" * 200 + b"\r\ncontent-length: 0\r\n\r\n"
    server = scripted([recv_head(), send_slowly(slow_head, interval=0.05)])

    async def gen() -> AsyncIterator[bytes]:
        for _ in range(8):
            yield b"u" * 100
            await asyncio.sleep(0.05)

    async def main() -> None:
        async with open_pool(response_head_timeout=0.3, socket_timeout=5) as request:
            with pytest.raises(HttpResponseHeadTimeoutError):
                await request(b"POST", server.url("/"), body=gen)

    run(main())
    assert server.requests[0][2].endswith(b"0\r\n\r\n")  # the whole body went out first


def test_slowly_produced_body_is_not_a_read_timeout(http_server: TestServer) -> None:
    """Each chunk comes within socket_timeout, the whole body takes longer: every write
    is activity, so neither the upload nor the wait for the head that follows times out."""

    async def gen() -> AsyncIterator[bytes]:
        for _ in range(6):
            yield b"s" * 1000
            await asyncio.sleep(0.1)  # 0.6 s in all, against a 0.25 s socket timeout

    async def main() -> Any:
        async with open_pool(socket_timeout=0.25) as request:
            return await fetch(request, b"POST", http_server.url("/discard"), body=gen)

    code, _, body = run(main())
    assert code == b"200" and json.loads(body)["length"] == 6000
