"""asynchttp.RateLimit: the value, the bucket (with an injected clock), and the
limit measured where it matters: arrivals counted at a server on 127.0.0.1.

The counts allow slack for a busy machine (a late token can make the next ones look
early): with a rate r and a burst b, no 1-second window at the server may hold more
than b + r + 1 requests. No assertion is made on how long the client took.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import dataclasses
from typing import Any, Callable, Iterator

import pytest

import asynchttp
from asynchttp._ratelimit import Buckets, origin_key
from tests.servers.flaky import FlakyServer, answer

from .resilience_helpers import WAIT, http_factory, quick, wait_until

MakeHttp = Callable[..., asynchttp.Http]


@pytest.fixture
def make_http() -> Iterator[MakeHttp]:
    yield from http_factory()


def test_the_value() -> None:
    limit = asynchttp.RateLimit(per_second=5, burst=3)
    assert limit.per_second == 5.0 and isinstance(limit.per_second, float) and limit.burst == 3
    assert asynchttp.RateLimit() == asynchttp.RateLimit(10.0, 10)
    with pytest.raises(dataclasses.FrozenInstanceError):
        limit.burst = 9  # type: ignore[misc]


@pytest.mark.parametrize(
    "kwargs, error",
    [
        ({"per_second": 0}, ValueError),
        ({"per_second": -1}, ValueError),
        ({"per_second": float("inf")}, ValueError),
        ({"per_second": "5"}, TypeError),
        ({"per_second": True}, TypeError),
        ({"burst": 0}, ValueError),
        ({"burst": 1.5}, TypeError),
        ({"burst": False}, TypeError),
    ],
)
def test_bad_values_are_refused(kwargs: dict[str, Any], error: type) -> None:
    with pytest.raises(error):
        asynchttp.RateLimit(**kwargs)


@pytest.mark.parametrize(
    "scheme, authority, key",
    [
        ("http", "Example.COM", ("http", "example.com", 80)),
        ("http", "example.com:80", ("http", "example.com", 80)),
        ("http", "user:pw@example.com:8080", ("http", "example.com", 8080)),
        ("https", "example.com", ("https", "example.com", 443)),
        ("https", "example.com.", ("https", "example.com", 443)),
        ("http", "[::1]:8000", ("http", "[::1]", 8000)),
        ("http", "[::1]", ("http", "[::1]", 80)),
    ],
)
def test_one_bucket_per_origin(scheme: str, authority: str, key: tuple[str, str, int]) -> None:
    assert origin_key(scheme, authority) == key


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_the_bucket_gives_the_burst_then_the_rate() -> None:
    clock = FakeClock()
    buckets = Buckets(asynchttp.RateLimit(per_second=4, burst=3), clock=clock)
    key = ("http", "a", 80)
    assert [buckets.reserve(key) for _ in range(3)] == [0.0, 0.0, 0.0]
    # in debt from here: each next token a quarter of a second later, in order
    assert [buckets.reserve(key) for _ in range(3)] == [0.25, 0.5, 0.75]
    clock.now += 10.0  # refilled, but never past the burst
    assert [buckets.reserve(key) for _ in range(4)] == [0.0, 0.0, 0.0, 0.25]


def test_hosts_do_not_share_a_bucket() -> None:
    clock = FakeClock()
    buckets = Buckets(asynchttp.RateLimit(per_second=1, burst=1), clock=clock)
    assert buckets.reserve(("http", "a", 80)) == 0.0
    assert buckets.reserve(("http", "a", 80)) == 1.0
    assert buckets.reserve(("http", "b", 80)) == 0.0  # another host: its own, full
    assert buckets.reserve(("https", "a", 443)) == 0.0


def test_idle_buckets_are_forgotten() -> None:
    clock = FakeClock()
    buckets = Buckets(asynchttp.RateLimit(per_second=1, burst=2), clock=clock)
    for host in range(100):
        buckets.reserve(("http", "h%d" % host, 80))
    assert len(buckets) == 100
    clock.now += Buckets.FORGET_AFTER + 1
    buckets.reserve(("http", "new", 80))
    assert len(buckets) == 1


def test_a_cancelled_wait_gives_its_token_back() -> None:
    async def main() -> tuple[float, float]:
        clock = FakeClock()
        buckets = Buckets(asynchttp.RateLimit(per_second=1, burst=1), clock=clock)
        assert await buckets.take("http", "a") == 0.0
        waiting = asyncio.ensure_future(buckets.take("http", "a"))  # would wait a second
        await asyncio.sleep(0)
        waiting.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiting
        # the next one waits as long as the cancelled one would have, not longer
        return buckets.reserve(("http", "a", 80)), buckets.reserve(("http", "a", 80))

    assert asyncio.run(main()) == (1.0, 2.0)


def assert_polite(srv: FlakyServer, limit: asynchttp.RateLimit) -> None:
    most = srv.arrivals_per_window(1.0)
    assert most <= limit.burst + limit.per_second + 1, (most, [round(a.time, 3) for a in srv.arrivals()])


def test_arrivals_per_second_at_the_server_stay_within_the_limit(make_http: MakeHttp) -> None:
    limit = asynchttp.RateLimit(per_second=5, burst=5)
    with FlakyServer() as srv:
        http = make_http(rate_limit=limit)
        promises = [http.request(srv.url("/n%d" % i))[0] for i in range(22)]
        done, not_done = concurrent.futures.wait([p.future for p in promises], timeout=WAIT)
        assert not not_done and all(p.status == 200 for p in promises)
        assert srv.count() == 22
        assert_polite(srv, limit)
        assert srv.arrivals_per_window(1.0) >= limit.burst  # the burst is used: it is a limit, not a pace


def test_retries_and_redirect_hops_take_tokens_too(make_http: MakeHttp) -> None:
    limit = asynchttp.RateLimit(per_second=4, burst=2)
    script = {
        "/r": [answer(302, {"Location": "/busy"})],
        "/busy": [answer(503, {"Retry-After": "0"}), answer(503, {"Retry-After": "0"}), answer(200)],
    }
    with FlakyServer(script=script) as srv:
        http = make_http(rate_limit=limit, retry=quick(attempts=10))
        promises = [http.request(srv.url("/r"))[0] for _ in range(6)]
        done, not_done = concurrent.futures.wait([p.future for p in promises], timeout=WAIT)
        assert not not_done and all(p.status == 200 for p in promises)
        assert srv.count("/r") == 6 and srv.count("/busy") == 8  # 2 refusals, then 6 answers
        assert_polite(srv, limit)


def test_requests_that_waited_for_a_busy_connection_do_not_bunch(make_http: MakeHttp) -> None:
    # One connection, a slow first answer: the others queue for the connection. A
    # token taken before that wait would let them all out at once when it frees.
    limit = asynchttp.RateLimit(per_second=5, burst=1)
    script = {"/slow": [answer(200, delay=1.5)]}
    with FlakyServer(script=script) as srv:
        http = make_http(rate_limit=limit, max_connections_per_host=1)
        first = http.request(srv.url("/slow"))[0]
        rest = [http.request(srv.url("/q%d" % i))[0] for i in range(12)]
        done, not_done = concurrent.futures.wait([p.future for p in [first, *rest]], timeout=WAIT)
        assert not not_done and all(p.status == 200 for p in [first, *rest])
        assert_polite(srv, limit)


def test_a_token_wait_does_not_count_against_the_socket_timeout(make_http: MakeHttp) -> None:
    limit = asynchttp.RateLimit(per_second=2, burst=1)
    with FlakyServer() as srv:
        http = make_http(timeout=0.3, rate_limit=limit)  # later requests wait longer than that
        promises = [http.request(srv.url("/t%d" % i))[0] for i in range(4)]
        assert all(p.status == 200 for p in promises)
        assert_polite(srv, limit)


def test_blocking_http_is_rate_limited_too(make_http: MakeHttp) -> None:
    limit = asynchttp.RateLimit(per_second=4, burst=2)
    with FlakyServer() as srv:
        http = make_http(blocking=True, rate_limit=limit)
        statuses = [http.request(srv.url("/b%d" % i))[0].status for i in range(8)]
        assert statuses == [200] * 8
        assert_polite(srv, limit)


def test_other_hosts_are_not_held_up(make_http: MakeHttp) -> None:
    limit = asynchttp.RateLimit(per_second=0.1, burst=1)
    with FlakyServer() as slow_host, FlakyServer() as other:
        http = make_http(rate_limit=limit)
        first = http.request(slow_host.url("/s0"))[0]
        assert first.status == 200
        waiting = http.request(slow_host.url("/s1"))[0]  # its token comes in 10 s
        answered = http.request(other.url("/o"))[0]
        assert answered.status == 200  # another host: its own bucket, served meanwhile
        assert waiting.cancel()  # still waiting for its token: nothing of it was sent
        assert wait_until(lambda: not http._client.running)
        assert slow_host.count() == 1
