"""DEBUG logging on the "asynchttp_lowhaio" logger: every step of a request, with its
method and URL, and no breakage when the URL holds a ``%``.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
from typing import Any

import pytest

from asynchttp_lowhaio import HttpLoggerAdapter, get_logger_adapter_default, streamed
from tests.core.helpers import fetch, open_pool, until
from tests.servers import run
from tests.servers.dns import DnsServer
from tests.servers.http_server import TestServer
from tests.servers.scripted import close, recv_head, send


def messages(caplog: pytest.LogCaptureFixture, name: str = "asynchttp_lowhaio") -> list[str]:
    # getMessage() formats with the record's args: a broken %-format would raise here
    return [record.getMessage() for record in caplog.records if record.name == name]


def test_every_step_is_logged_with_method_and_url(
    https_server: TestServer, client_ssl_context: ssl.SSLContext, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="asynchttp_lowhaio")
    url = https_server.url("/echo?q=1")

    async def main() -> None:
        async with open_pool(get_ssl_context=lambda: client_ssl_context) as request:
            await fetch(request, b"POST", url, body=streamed(b"x"))
            await fetch(request, b"GET", url)

    run(main())
    lines = messages(caplog)
    text = "\n".join(lines)
    for step in (
        "connecting to 127.0.0.1",
        "TLS handshake",
        "connected to",
        "request sent",
        "response head: 200",
        "body done",
        "reusing connection",
        "closing",
    ):
        assert step in text, step
    tagged = [line for line in lines if not line.startswith("closing")]
    assert all(url in line for line in tagged), tagged
    assert any("POST" in line for line in tagged) and any("GET" in line for line in tagged)


def test_percent_in_url_does_not_break_logging(http_server: TestServer, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    url = http_server.url("/echo?fmt=%25s%25d&raw=%s%(name)s")

    async def main() -> Any:
        async with open_pool() as request:
            return await fetch(request, b"GET", url)

    code, _, _ = run(main())
    assert code == b"200"
    lines = messages(caplog)
    assert any(url in line and "request sent" in line for line in lines)


def test_nothing_is_logged_when_debug_is_off(http_server: TestServer, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="asynchttp_lowhaio")

    async def main() -> None:
        async with open_pool() as request:
            await fetch(request, b"GET", http_server.url("/hello"))

    run(main())
    assert messages(caplog) == []


def test_dns_steps_are_logged_through_the_resolver_adapter(
    http_server: TestServer, dns_server: DnsServer, dns_resolver_factory: Any, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    dns_server.set("logged.test", "A", [("127.0.0.1", 60)])
    url = f"http://logged.test:{http_server.port}/hello"

    async def main() -> None:
        async with open_pool(get_dns_resolver=dns_resolver_factory) as request:
            await fetch(request, b"GET", url)

    run(main())
    dns_lines = messages(caplog, "aiodnsresolver")
    assert dns_lines and any("logged.test" in line for line in dns_lines)


def test_custom_logger_adapters_per_pool_and_per_request(
    http_server: TestServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    custom = logging.getLogger("tests.custom")
    seen: list[dict] = []

    def adapter(extra: dict) -> logging.LoggerAdapter:
        seen.append(extra)
        return HttpLoggerAdapter(custom, {**extra, "request_id": "r-42"})

    async def main() -> None:
        async with open_pool(get_logger_adapter=adapter) as request:
            await fetch(request, b"GET", http_server.url("/hello"))
            await fetch(
                request,
                b"GET",
                http_server.url("/hello?per=request"),
                get_logger_adapter=lambda extra: HttpLoggerAdapter(custom, {"tag": "per-request"}),
            )

    run(main())
    custom_lines = messages(caplog, "tests.custom")
    assert any("r-42" in line and "request sent" in line for line in custom_lines)
    assert any("per-request" in line for line in custom_lines)
    assert seen and seen[0]["method"] == "GET"


def test_adapter_without_context_still_prefixes() -> None:
    record_holder: list[str] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            record_holder.append(record.getMessage())

    target = logging.getLogger("tests.bare")
    target.setLevel(logging.DEBUG)
    handler = Keep()
    target.addHandler(handler)
    try:
        HttpLoggerAdapter(target, {}).debug("plain %s", "message")
        HttpLoggerAdapter(target, {"url": "http://h/%d%s"}).debug("with %s", "args")
    finally:
        target.removeHandler(handler)
    assert record_holder == ["[http] plain message", "[http:http://h/%d%s] with args"]
    assert get_logger_adapter_default({"method": "GET"}).logger.name == "asynchttp_lowhaio"


def test_retry_wait_and_connect_failure_are_logged(
    http_server: TestServer,
    dns_server: DnsServer,
    dns_resolver_factory: Any,
    scripted: Any,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG, logger="asynchttp_lowhaio")
    ok = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok"
    stale = scripted([[recv_head(), send(ok), recv_head(), close()], [recv_head(), send(ok)]])
    dns_server.set("multi.test", "A", [("127.0.0.2", 60), ("127.0.0.1", 60)])

    async def main() -> None:
        async with open_pool(get_dns_resolver=dns_resolver_factory, max_connections=1) as request:
            # a retry on a stale connection
            await fetch(request, b"GET", stale.url("/"))
            await fetch(request, b"GET", stale.url("/again"))
        async with open_pool(get_dns_resolver=dns_resolver_factory, max_connections=1) as request:
            # a refused first address, then a wait for the only connection
            held = asyncio.ensure_future(fetch(request, b"GET", f"http://multi.test:{http_server.port}/wait?key=l"))
            await until(lambda: len(http_server.requests) == 1)
            waiting = asyncio.ensure_future(fetch(request, b"GET", f"http://multi.test:{http_server.port}/hello"))
            await asyncio.sleep(0.01)
            http_server.release("l")
            await asyncio.gather(held, waiting)

    run(main())
    text = "\n".join(messages(caplog))
    assert "retrying once" in text
    assert "connect to 127.0.0.2 failed" in text
    assert "waiting for a connection" in text
    assert "reusing connection" in text


def test_closes_during_a_request_carry_its_method_and_url(
    http_server: TestServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="asynchttp_lowhaio")
    close_url = http_server.url("/close")
    stream_url = http_server.url("/stream?n=50000000")

    async def main() -> None:
        async with open_pool() as request:
            await fetch(request, b"GET", close_url)  # Connection: close
            code, _, body = await request(b"GET", stream_url)
            await body.aclose()  # abandoned

    run(main())
    closes = [line for line in messages(caplog) if "closing" in line]
    assert any(close_url in line and "GET" in line and "does not allow reuse" in line for line in closes)
    assert any(stream_url in line and "abandoned" in line for line in closes)


def test_percent_in_url_does_not_break_dns_logging(
    http_server: TestServer, dns_server: DnsServer, dns_resolver_factory: Any, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    dns_server.set("percent.test", "A", [("127.0.0.1", 60)])
    url = f"http://percent.test:{http_server.port}/echo?x=%25s%25d&y=%s%d"

    async def main() -> Any:
        async with open_pool(get_dns_resolver=dns_resolver_factory) as request:
            return await fetch(request, b"GET", url)

    assert run(main())[0] == b"200"
    dns_lines = messages(caplog, "aiodnsresolver")  # raises if a record cannot be formatted
    assert dns_lines and all(url in line for line in dns_lines if line.startswith("[dns:"))
