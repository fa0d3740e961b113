"""Host names through aiodnsresolver and the fake DNS server on loopback.

The DNS server's table is the test's to change; its query log shows what the
resolver asked and how often (so TTL caching is visible). Names never reach the
machine's resolver. DNS TTLs are whole seconds, so the tests that cross one run on a
loop whose clock they move forward instead of sleeping.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from aiodnsresolver import TYPES, DnsError

from asynchttp_lowhaio import HttpConnectError, HttpConnectionError, HttpDnsError
from tests.core.helpers import (
    FakeClockLoop,
    conn_of,
    fetch,
    header,
    open_pool,
    run_fake_clock,
    state_of,
    until,
)
from tests.servers import run
from tests.servers.dns import SERVFAIL, DnsServer, make_resolver_factory
from tests.servers.http_server import TestServer
from tests.servers.tiny import TinyServer


def queries(dns_server: DnsServer, qtype: int) -> list[str]:
    """Names asked for ``qtype``, lower-cased (the resolver randomises case: 0x20)."""
    return [name.lower() for name, asked in dns_server.queries if asked == qtype]


def test_name_resolves_through_dns(http_server: TestServer, dns_server: DnsServer, dns_resolver_factory: Any) -> None:
    dns_server.set("service.test", "A", [("127.0.0.1", 60)])

    async def main() -> Any:
        async with open_pool(get_dns_resolver=dns_resolver_factory) as request:
            return await fetch(request, b"GET", f"http://service.test:{http_server.port}/echo")

    code, _, _ = run(main())
    assert code == b"200"
    assert http_server.requests[0].header_all("host") == [f"service.test:{http_server.port}"]
    assert queries(dns_server, TYPES.A) == ["service.test"]


def test_ip_literals_skip_dns(http_server: TestServer, dns_server: DnsServer, dns_resolver_factory: Any) -> None:
    async def main() -> Any:
        async with open_pool(get_dns_resolver=dns_resolver_factory) as request:
            return await fetch(request, b"GET", http_server.url("/hello"))

    assert run(main())[0] == b"200"
    assert dns_server.query_count == 0


def test_names_are_lower_cased_and_a_trailing_dot_is_dropped(
    http_server: TestServer, dns_server: DnsServer, dns_resolver_factory: Any
) -> None:
    dns_server.set("service.test", "A", [("127.0.0.1", 60)])
    port = http_server.port
    urls = [
        f"http://SeRvIcE.TeSt:{port}/a",
        f"http://service.test.:{port}/b",
        f"http://SERVICE.TEST.:{port}/c",
        f"http://service.test:{port}/d",
    ]

    async def main() -> list:
        async with open_pool(get_dns_resolver=dns_resolver_factory) as request:
            return [await conn_of(request, url) for url in urls]

    # one origin: one connection, one cached answer
    assert run(main()) == [(1, 1), (1, 2), (1, 3), (1, 4)]
    assert queries(dns_server, TYPES.A) == ["service.test"]
    assert {r.header("host") for r in http_server.requests} == {f"service.test:{port}"}


def test_international_names_go_through_idna(
    http_server: TestServer, dns_server: DnsServer, dns_resolver_factory: Any
) -> None:
    dns_server.set("xn--bcher-kva.test", "A", [("127.0.0.1", 60)])

    async def main() -> Any:
        async with open_pool(get_dns_resolver=dns_resolver_factory) as request:
            return await fetch(request, b"GET", f"http://B\u00fccher.test:{http_server.port}/")

    assert run(main())[0] == b"404"
    assert http_server.requests[0].header("host") == f"xn--bcher-kva.test:{http_server.port}"


def test_aaaa_only_name_reaches_an_ipv6_server(
    http_server_v6: TestServer, dns_server: DnsServer, dns_resolver_factory: Any
) -> None:
    dns_server.set("six.test", "AAAA", [("::1", 60)])

    async def main() -> Any:
        async with open_pool(get_dns_resolver=dns_resolver_factory) as request:
            return [await conn_of(request, f"http://six.test:{http_server_v6.port}/hello") for _ in range(3)]

    assert run(main()) == [(1, 1), (1, 2), (1, 3)]
    assert queries(dns_server, TYPES.AAAA) == ["six.test"]  # the answer is cached
    # aiodnsresolver does not cache the absence of an A record; the pool
    # remembers it, so A is asked once, not on every request
    assert queries(dns_server, TYPES.A) == ["six.test"]


def test_dual_stack_name_uses_ipv4(http_server: TestServer, dns_server: DnsServer, dns_resolver_factory: Any) -> None:
    dns_server.set("dual.test", "A", [("127.0.0.1", 60)])
    dns_server.set("dual.test", "AAAA", [("::1", 60)])

    async def main() -> Any:
        async with open_pool(get_dns_resolver=dns_resolver_factory) as request:
            return await fetch(request, b"GET", f"http://dual.test:{http_server.port}/hello")

    assert run(main())[2] == b"hello world"
    assert queries(dns_server, TYPES.AAAA) == []


def test_next_address_is_tried_when_connect_fails(
    http_server: TestServer, dns_server: DnsServer, dns_resolver_factory: Any
) -> None:
    # nothing listens on 127.0.0.2 at the server's port: refused, then 127.0.0.1 works
    dns_server.set("multi.test", "A", [("127.0.0.2", 60), ("127.0.0.1", 60)])

    async def main() -> Any:
        async with open_pool(get_dns_resolver=dns_resolver_factory) as request:
            return await fetch(request, b"GET", f"http://multi.test:{http_server.port}/hello")

    assert run(main())[2] == b"hello world"
    assert http_server.connections_opened == 1


def test_every_address_refused_is_connect_error(
    http_server: TestServer, dns_server: DnsServer, dns_resolver_factory: Any
) -> None:
    dns_server.set("none.test", "A", [("127.0.0.2", 60), ("127.0.0.3", 60)])

    async def main() -> BaseException:
        async with open_pool(get_dns_resolver=dns_resolver_factory) as request:
            with pytest.raises(HttpConnectError) as info:
                await request(b"GET", f"http://none.test:{http_server.port}/")
            assert state_of(request).stats()["connections"] == 0
            return info.value

    error = run(main())
    assert "127.0.0.2" in str(error) and "127.0.0.3" in str(error)
    assert isinstance(error.__cause__, ConnectionRefusedError)


def test_answers_are_cached_for_their_ttl(
    http_server: TestServer, dns_server: DnsServer, dns_resolver_factory: Any
) -> None:
    dns_server.set("ttl.test", "A", [("127.0.0.1", 30)])
    url = f"http://ttl.test:{http_server.port}/hello"

    async def main(loop: FakeClockLoop) -> list:
        counts = []
        async with open_pool(get_dns_resolver=dns_resolver_factory, keep_alive_timeout=300) as request:
            for _ in range(3):
                await fetch(request, b"GET", url)
            counts.append(len(queries(dns_server, TYPES.A)))
            loop.advance(29)
            await asyncio.sleep(0)
            await fetch(request, b"GET", url)
            counts.append(len(queries(dns_server, TYPES.A)))
            loop.advance(2)  # past the TTL: the cache entry is dropped by its timer
            for _ in range(3):
                await asyncio.sleep(0)
            await fetch(request, b"GET", url)
            await fetch(request, b"GET", url)
            counts.append(len(queries(dns_server, TYPES.A)))
        return counts

    assert run_fake_clock(main) == [1, 1, 2]


def test_keep_alive_is_dns_aware(http_server: TestServer, dns_server: DnsServer, dns_resolver_factory: Any) -> None:
    """When the host's addresses change, the idle connection to the old one is closed."""
    dns_server.set("moving.test", "A", [("127.0.0.1", 5)])
    port = http_server.port
    url = f"http://moving.test:{port}/hello"

    async def main(loop: FakeClockLoop) -> tuple:
        async with TinyServer("127.0.0.2", port, "second") as second:
            async with open_pool(get_dns_resolver=dns_resolver_factory) as request:
                first = await conn_of(request, url)
                dns_server.set("moving.test", "A", [("127.0.0.2", 5)])
                cached = await conn_of(request, url)  # still the cached answer: reused
                loop.advance(6)
                for _ in range(3):
                    await asyncio.sleep(0)
                code, headers, body = await fetch(request, b"GET", url)
                await until(lambda: http_server.connections_closed == 1)
                again = await fetch(request, b"GET", url)
                stats = state_of(request).stats()
            return (
                first,
                cached,
                header(headers, b"x-served-by"),
                second.connections,
                header(again[1], b"x-served-by"),
                stats,
            )

    first, cached, served_by, second_connections, again, stats = run_fake_clock(main)
    assert (first, cached) == ((1, 1), (1, 2))
    assert served_by == b"second" and again == b"second"
    assert second_connections == 1
    assert stats["connections"] == 1


def test_nxdomain_is_dns_error(dns_server: DnsServer, dns_resolver_factory: Any) -> None:
    async def main() -> BaseException:
        async with open_pool(get_dns_resolver=dns_resolver_factory) as request:
            with pytest.raises(HttpDnsError) as info:
                await request(b"GET", "http://missing.test/")
            return info.value

    error = run(main())
    assert isinstance(error, HttpConnectionError) and isinstance(error, OSError)
    assert isinstance(error.__cause__, DnsError)


def test_name_without_addresses_is_dns_error(dns_server: DnsServer, dns_resolver_factory: Any) -> None:
    dns_server.set("alias.test", "CNAME", [("nowhere.test", 60)])

    async def main() -> BaseException:
        async with open_pool(get_dns_resolver=dns_resolver_factory) as request:
            with pytest.raises(HttpDnsError) as info:
                await request(b"GET", "http://alias.test/")
            return info.value

    assert isinstance(run(main()).__cause__, DnsError)


def test_server_failure_is_dns_error(dns_server: DnsServer, dns_resolver_factory: Any) -> None:
    dns_server.rcode = SERVFAIL

    async def main() -> BaseException:
        async with open_pool(get_dns_resolver=dns_resolver_factory) as request:
            with pytest.raises(HttpDnsError) as info:
                await request(b"GET", "http://failing.test/")
            return info.value

    assert isinstance(run(main()).__cause__, DnsError)


def test_dns_timeout_is_dns_error(dns_server: DnsServer) -> None:
    dns_server.drop = True
    factory = make_resolver_factory(dns_server, timeout=0.1, attempts=1)

    async def main() -> BaseException:
        async with open_pool(get_dns_resolver=factory) as request:
            with pytest.raises(HttpDnsError) as info:
                await request(b"GET", "http://silent.test/")
            return info.value

    assert isinstance(run(main()).__cause__, DnsError)


def test_resolving_creates_no_tasks(http_server: TestServer, dns_server: DnsServer, dns_resolver_factory: Any) -> None:
    dns_server.set("tasks.test", "A", [("127.0.0.1", 60)])

    async def main() -> list:
        counts = [len(asyncio.all_tasks())]
        async with open_pool(get_dns_resolver=dns_resolver_factory) as request:
            for _ in range(3):
                code, _, body = await request(b"GET", f"http://tasks.test:{http_server.port}/hello")
                counts.append(len(asyncio.all_tasks()))
                await body.aclose()
        counts.append(len(asyncio.all_tasks()))
        return counts

    counts = run(main())
    assert set(counts) == {counts[0]}
    assert dns_server.query_count == 1


def static_resolver(table: dict) -> Any:
    """A ``get_dns_resolver`` of the caller's own: a fixed table, no DNS at all."""

    def factory(**_: Any) -> tuple:
        async def resolve(name: str, qtype: Any, **__: Any) -> tuple:
            return tuple(table.get((name, qtype), ()))

        async def clear_cache(**__: Any) -> None:
            return None

        return resolve, clear_cache

    return factory


def test_a_resolver_of_the_callers_own(http_server: TestServer) -> None:
    factory = static_resolver({("static.test", TYPES.A): ["127.0.0.1"]})

    async def main() -> Any:
        async with open_pool(get_dns_resolver=factory) as request:
            return await fetch(request, b"GET", f"http://static.test:{http_server.port}/hello")

    assert run(main())[2] == b"hello world"


def test_a_resolver_answering_nothing_is_dns_error() -> None:
    factory = static_resolver({})

    async def main() -> None:
        async with open_pool(get_dns_resolver=factory) as request:
            with pytest.raises(HttpDnsError):
                await request(b"GET", "http://empty.test/")

    run(main())


def test_concurrent_lookups_of_one_name_share_one_query(
    http_server: TestServer, dns_server: DnsServer, dns_resolver_factory: Any
) -> None:
    dns_server.set("busy.test", "A", [("127.0.0.1", 60)])
    url = f"http://busy.test:{http_server.port}/hello"

    async def main() -> list:
        async with open_pool(get_dns_resolver=dns_resolver_factory) as request:
            return await asyncio.gather(*(fetch(request, b"GET", url) for _ in range(10)))

    assert [code for code, _, _ in run(main())] == [b"200"] * 10
    assert queries(dns_server, TYPES.A) == ["busy.test"]
