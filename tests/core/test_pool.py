"""The pool: limits, FIFO waiting, keep-alive expiry, stale connections, retries, close().

Limits are checked from the server's side: how many connections it accepted and how
many requests reached it while others waited (the /wait route holds a request until
the test releases it). Connection identity comes from x-conn-id / x-conn-requests.
"""

from __future__ import annotations

import asyncio
import gc
import time
from typing import Any, AsyncIterator, Callable

import pytest

from asynchttp_lowhaio import (
    HttpConnectError,
    HttpConnectionClosedError,
    HttpConnectionError,
    HttpConnectTimeoutError,
    HttpError,
    HttpLocalError,
    HttpPoolClosedError,
    HttpPoolTimeoutError,
    HttpReadTimeoutError,
    Pool,
    buffered,
    streamed,
)
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
from tests.servers import closed_port, run
from tests.servers.http_server import Response, TestServer, pattern
from tests.servers.leaks import LeakChecker
from tests.servers.scripted import (
    ScriptedServer,
    close,
    recv_head,
    rst,
    send,
    sleep,
    wait_for_client_close,
)
from tests.servers.tiny import full_backlog_port

OK_2 = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok"


@pytest.fixture
def second_server() -> Any:
    with TestServer() as server:
        yield server


# ---------------------------------------------------------------------- limits
def test_max_connections_is_enforced(http_server: TestServer) -> None:
    async def main() -> tuple[list, dict]:
        async with open_pool(max_connections=2) as request:
            tasks = [asyncio.ensure_future(fetch(request, b"GET", http_server.url("/wait?key=k"))) for _ in range(6)]
            await until(lambda: len(http_server.requests) == 2)
            await asyncio.sleep(0.1)  # give a third connection every chance to appear
            stats = state_of(request).stats()
            assert http_server.connections_opened == 2 and len(http_server.requests) == 2
            http_server.release("k")
            return await asyncio.gather(*tasks), stats

    results, stats = run(main())
    assert [code for code, _, _ in results] == [b"200"] * 6
    assert stats == {"connections": 2, "active": 2, "idle": 0, "waiting": 4}
    assert http_server.connections_opened == 2
    assert {int(header(h, b"x-conn-id") or 0) for _, h, _ in results} == {1, 2}


def test_max_connections_per_host_is_enforced(http_server: TestServer, second_server: TestServer) -> None:
    async def main() -> list:
        async with open_pool(max_connections=10, max_connections_per_host=1) as request:
            tasks = [
                asyncio.ensure_future(fetch(request, b"GET", server.url("/wait?key=k")))
                for server in (http_server, second_server) * 3
            ]
            await until(lambda: len(http_server.requests) == 1 and len(second_server.requests) == 1)
            await asyncio.sleep(0.1)
            assert http_server.connections_opened == 1 and second_server.connections_opened == 1
            assert len(http_server.requests) == 1 and len(second_server.requests) == 1
            assert state_of(request).stats()["waiting"] == 4
            http_server.release("k")
            second_server.release("k")
            return await asyncio.gather(*tasks)

    assert [code for code, _, _ in run(main())] == [b"200"] * 6
    assert http_server.connections_opened == 1 and second_server.connections_opened == 1


def test_a_full_host_does_not_block_waiters_for_another(http_server: TestServer, second_server: TestServer) -> None:
    async def main() -> None:
        async with open_pool(max_connections_per_host=1) as request:
            held = asyncio.ensure_future(fetch(request, b"GET", http_server.url("/wait?key=a")))
            await until(lambda: len(http_server.requests) == 1)
            blocked = asyncio.ensure_future(fetch(request, b"GET", http_server.url("/hello")))
            await asyncio.sleep(0.01)
            # a waiter is queued; the other host is served anyway
            code, _, _ = await fetch(request, b"GET", second_server.url("/hello"))
            assert code == b"200" and not blocked.done()
            http_server.release("a")
            await asyncio.gather(held, blocked)

    run(main())


def test_total_limit_across_hosts_closes_an_idle_connection_for_a_waiter(
    http_server: TestServer, second_server: TestServer
) -> None:
    async def main() -> None:
        async with open_pool(max_connections=1) as request:
            held = asyncio.ensure_future(fetch(request, b"GET", http_server.url("/wait?key=a")))
            await until(lambda: len(http_server.requests) == 1)
            other = asyncio.ensure_future(fetch(request, b"GET", second_server.url("/hello")))
            await asyncio.sleep(0.05)
            assert second_server.connections_opened == 0
            http_server.release("a")
            await asyncio.gather(held, other)
            await until(lambda: http_server.connections_closed == 1)
            assert state_of(request).stats() == {"connections": 1, "active": 0, "idle": 1, "waiting": 0}
            # and again, with no waiter queued: the idle one for the other host makes room
            assert await conn_of(request, http_server.url("/hello")) == (2, 1)

    run(main())
    assert second_server.connections_opened == 1


def test_waiters_are_served_in_fifo_order(http_server: TestServer) -> None:
    async def main() -> list:
        async with open_pool(max_connections=1) as request:
            held = asyncio.ensure_future(fetch(request, b"GET", http_server.url("/wait?key=h")))
            await until(lambda: len(http_server.requests) == 1)
            tasks = []
            for i in range(8):
                tasks.append(asyncio.ensure_future(fetch(request, b"GET", http_server.url(f"/hello?i={i}"))))
                await asyncio.sleep(0)  # each one queues before the next is made
            await asyncio.sleep(0.01)
            assert state_of(request).stats()["waiting"] == 8
            http_server.release("h")
            await asyncio.gather(held, *tasks)
            return [r.target for r in http_server.requests[1:]]

    assert run(main()) == [f"/hello?i={i}" for i in range(8)]
    assert http_server.connections_opened == 1


def test_max_wait_connection_seconds_raises_pool_timeout(http_server: TestServer) -> None:
    async def main() -> BaseException:
        async with open_pool(max_connections=1, max_wait_connection_seconds=0.2) as request:
            held = asyncio.ensure_future(fetch(request, b"GET", http_server.url("/wait?key=w")))
            await until(lambda: len(http_server.requests) == 1)
            with pytest.raises(HttpPoolTimeoutError) as info:
                await request(b"GET", http_server.url("/hello"))
            assert state_of(request).stats()["waiting"] == 0
            http_server.release("w")
            await held
            # a request that does not have to wait is not affected
            assert await conn_of(request, http_server.url("/hello")) == (1, 2)
            return info.value

    error = run(main())
    assert isinstance(error, TimeoutError) and isinstance(error, HttpConnectionError)
    assert isinstance(error, OSError)
    assert [r.path for r in http_server.requests] == ["/wait", "/hello"]


def test_max_requests_per_connection(http_server: TestServer) -> None:
    async def main() -> list:
        async with open_pool(max_requests_per_connection=2) as request:
            return [await conn_of(request, http_server.url("/hello")) for _ in range(5)]

    assert run(main()) == [(1, 1), (1, 2), (2, 1), (2, 2), (3, 1)]


def test_max_idle_connections(http_server: TestServer) -> None:
    async def main() -> dict:
        async with open_pool(max_idle_connections=1) as request:
            tasks = [asyncio.ensure_future(fetch(request, b"GET", http_server.url("/wait?key=i"))) for _ in range(3)]
            await until(lambda: len(http_server.requests) == 3)
            http_server.release("i")
            await asyncio.gather(*tasks)
            await until(lambda: http_server.connections_closed == 2)
            return state_of(request).stats()

    assert run(main()) == {"connections": 1, "active": 0, "idle": 1, "waiting": 0}


# ------------------------------------------------------------------ keep-alive
def test_idle_connections_expire_after_keep_alive_timeout(http_server: TestServer) -> None:
    async def main() -> list:
        async with open_pool(keep_alive_timeout=0.2) as request:
            first = await conn_of(request, http_server.url("/hello"))
            second = await conn_of(request, http_server.url("/hello"))
            # the pool's own timer closes it, without another request
            await until(lambda: http_server.connections_closed == 1)
            assert state_of(request).stats() == {"connections": 0, "active": 0, "idle": 0, "waiting": 0}
            return [first, second, await conn_of(request, http_server.url("/hello"))]

    assert run(main()) == [(1, 1), (1, 2), (2, 1)]


def test_expired_connection_is_not_handed_out_before_the_timer_runs(http_server: TestServer) -> None:
    async def main(loop: FakeClockLoop) -> list:
        async with open_pool(keep_alive_timeout=15) as request:
            first = await conn_of(request, http_server.url("/hello"))
            loop.advance(16)  # no loop iteration in between: only the check at take time
            return [first, await conn_of(request, http_server.url("/hello"))]

    assert run_fake_clock(main) == [(1, 1), (2, 1)]


def test_sweep_keeps_connections_that_are_not_yet_expired(http_server: TestServer) -> None:
    async def main(loop: FakeClockLoop) -> list:
        async with open_pool(keep_alive_timeout=10) as request:
            a = asyncio.ensure_future(conn_of(request, http_server.url("/wait?key=s")))
            b = asyncio.ensure_future(conn_of(request, http_server.url("/wait?key=s")))
            await until(lambda: len(http_server.requests) == 2)
            http_server.release("s")
            await asyncio.gather(a, b)  # two idle connections
            loop.advance(6)
            # one of them carries a request: idle again 6 fake seconds after the other
            assert (await conn_of(request, http_server.url("/hello")))[1] == 2
            loop.advance(5)
            await until(lambda: state_of(request).stats()["idle"] == 1)  # only the first expired
            loop.advance(6)
            await until(lambda: state_of(request).stats()["idle"] == 0)
            return [await conn_of(request, http_server.url("/hello"))]

    assert run_fake_clock(main) == [(3, 1)]


def test_keep_alive_timeout_zero_never_reuses(http_server: TestServer) -> None:
    async def main() -> list:
        async with open_pool(keep_alive_timeout=0) as request:
            return [await conn_of(request, http_server.url("/hello")) for _ in range(3)]

    assert run(main()) == [(1, 1), (2, 1), (3, 1)]


def test_connection_closed_by_server_while_idle_is_never_handed_out(scripted: Callable[..., ScriptedServer]) -> None:
    server = scripted([[recv_head(), send(OK_2), close()], [recv_head(), send(OK_2)]])

    async def main() -> Any:
        async with open_pool() as request:
            await fetch(request, b"GET", server.url("/"))
            await until(lambda: state_of(request).stats()["connections"] == 0)
            # POST is never retried: it succeeds only if the dead connection was skipped
            return await fetch(request, b"POST", server.url("/"), body=streamed(b"x"))

    assert run(main())[2] == b"ok"
    assert server.connections_accepted == 2
    assert [index for index, _, _ in server.requests] == [0, 1]


def test_unsolicited_data_on_an_idle_connection_poisons_it(scripted: Callable[..., ScriptedServer]) -> None:
    server = scripted(
        [
            [
                recv_head(),
                send(OK_2),
                sleep(0.05),
                send(b"HTTP/1.1 408 Request Timeout\r\ncontent-length: 0\r\n\r\n"),
                wait_for_client_close(3),
            ],
            [recv_head(), send(OK_2)],
        ]
    )

    async def main() -> Any:
        async with open_pool() as request:
            await fetch(request, b"GET", server.url("/"))
            await until(lambda: state_of(request).stats()["connections"] == 0)
            return await fetch(request, b"GET", server.url("/"))

    code, _, body = run(main())
    assert (code, body) == (b"200", b"ok")
    assert server.wait_done(2)
    assert server.client_closed[0] is True
    assert server.connections_accepted == 2


# --------------------------------------------------------------------- retries
def stale_on_second_request(last: list) -> list:
    """Conn 0 answers once, then reads the next request and closes without a byte."""
    return [[recv_head(), send(OK_2), recv_head(), close()], last]


def test_idempotent_request_is_retried_once_on_a_stale_connection(scripted: Callable[..., ScriptedServer]) -> None:
    server = scripted(stale_on_second_request([recv_head(), send(OK_2)]))
    calls = []

    async def body() -> AsyncIterator[bytes]:
        calls.append(1)
        yield b"put-data"

    async def main() -> Any:
        async with open_pool() as request:
            await fetch(request, b"GET", server.url("/"))
            return await fetch(request, b"PUT", server.url("/p"), body=body)

    assert run(main())[2] == b"ok"
    assert server.connections_accepted == 2
    assert len(calls) == 2  # the body callable is called again for the retry
    (i0, h0, _), (i1, h1, _), (i2, h2, b2) = server.requests
    assert (i0, i1, i2) == (0, 0, 1)
    assert h1.startswith(b"PUT /p ") and h2.startswith(b"PUT /p ")
    assert b2 == b"8\r\nput-data\r\n0\r\n\r\n"


def test_stale_connection_reset_is_retried_too(scripted: Callable[..., ScriptedServer]) -> None:
    server = scripted([[recv_head(), send(OK_2), recv_head(), rst()], [recv_head(), send(OK_2)]])

    async def main() -> Any:
        async with open_pool() as request:
            await fetch(request, b"GET", server.url("/"))
            return await fetch(request, b"DELETE", server.url("/"))

    assert run(main())[2] == b"ok"
    assert server.connections_accepted == 2


def test_post_is_never_retried(scripted: Callable[..., ScriptedServer]) -> None:
    server = scripted(stale_on_second_request([recv_head(), send(OK_2)]))

    async def main() -> BaseException:
        async with open_pool() as request:
            await fetch(request, b"GET", server.url("/"))
            with pytest.raises(HttpConnectionClosedError) as info:
                await request(b"POST", server.url("/"), body=streamed(b"once"))
            return info.value

    error = run(main())
    assert isinstance(error, ConnectionError)
    assert server.connections_accepted == 1


def test_retry_happens_only_once(scripted: Callable[..., ScriptedServer]) -> None:
    server = scripted(stale_on_second_request([recv_head(), close()]))

    async def main() -> None:
        async with open_pool() as request:
            await fetch(request, b"GET", server.url("/"))
            with pytest.raises(HttpConnectionClosedError):
                await request(b"GET", server.url("/"))

    run(main())
    assert server.connections_accepted == 2


def test_no_retry_once_response_bytes_arrived(scripted: Callable[..., ScriptedServer]) -> None:
    server = scripted(
        [[recv_head(), send(OK_2), recv_head(), send(b"HTTP/1.1 200 O"), close()], [recv_head(), send(OK_2)]]
    )

    async def main() -> None:
        async with open_pool() as request:
            await fetch(request, b"GET", server.url("/"))
            with pytest.raises(HttpConnectionClosedError):
                await request(b"GET", server.url("/"))

    run(main())
    assert server.connections_accepted == 1


# --------------------------------------------------------------- waiting, cancel
def test_cancelled_waiter_leaves_the_queue(http_server: TestServer) -> None:
    async def main() -> None:
        async with open_pool(max_connections=1) as request:
            held = asyncio.ensure_future(fetch(request, b"GET", http_server.url("/wait?key=c")))
            await until(lambda: len(http_server.requests) == 1)
            waiter = asyncio.ensure_future(request(b"GET", http_server.url("/hello")))
            await asyncio.sleep(0.01)
            assert state_of(request).stats()["waiting"] == 1
            waiter.cancel()
            with pytest.raises(asyncio.CancelledError):
                await waiter
            assert state_of(request).stats()["waiting"] == 0
            http_server.release("c")
            await held
            assert await conn_of(request, http_server.url("/hello")) == (1, 2)

    run(main())


def test_connection_granted_to_a_cancelled_waiter_goes_back(http_server: TestServer) -> None:
    async def main() -> None:
        async with open_pool(max_connections=1) as request:
            code, _, held = await request(b"GET", http_server.url("/stream?n=3000000"))
            waiter = asyncio.ensure_future(request(b"GET", http_server.url("/hello")))
            await asyncio.sleep(0.01)
            await buffered(held)  # releases the connection: granted to the waiter...
            waiter.cancel()  # ...which is cancelled before it could run
            with pytest.raises(asyncio.CancelledError):
                await waiter
            assert state_of(request).stats() == {"connections": 1, "active": 0, "idle": 1, "waiting": 0}
            assert await conn_of(request, http_server.url("/hello")) == (1, 2)

    run(main())


def test_slot_granted_to_a_cancelled_waiter_goes_back(http_server: TestServer) -> None:
    async def main() -> None:
        async with open_pool(max_connections=1) as request:
            code, _, held = await request(b"GET", big_then_close(http_server))
            waiter = asyncio.ensure_future(request(b"GET", http_server.url("/hello")))
            await asyncio.sleep(0.01)
            await buffered(held)  # Connection: close: the slot, not the connection, is granted
            waiter.cancel()
            with pytest.raises(asyncio.CancelledError):
                await waiter
            assert state_of(request).stats() == {"connections": 0, "active": 0, "idle": 0, "waiting": 0}
            assert await conn_of(request, http_server.url("/hello")) == (2, 1)

    run(main())


def big_then_close(server: TestServer) -> str:
    """A route answering 3 MB then closing: the body is not complete when request() returns."""

    async def handler(_: Any) -> Response:
        return Response(body=pattern(3_000_000), close=True)

    server.route("/big-close", handler)
    return server.url("/big-close")


# ----------------------------------------------------------- connect failures
def test_refused_connection_is_connect_error_and_frees_the_slot() -> None:
    port = closed_port()

    async def main() -> BaseException:
        async with open_pool(max_connections=1) as request:
            with pytest.raises(HttpConnectError) as info:
                await request(b"GET", f"http://127.0.0.1:{port}/")
            assert state_of(request).stats()["connections"] == 0
            with pytest.raises(HttpConnectError):
                await request(b"GET", f"http://127.0.0.1:{port}/")
            return info.value

    error = run(main())
    assert isinstance(error, OSError) and isinstance(error, HttpConnectionError)
    assert isinstance(error.__cause__, ConnectionRefusedError)


# ----------------------------------------------------------------------- close
def test_close_fails_requests_in_flight_and_leaks_nothing(http_server: TestServer, no_leaks: LeakChecker) -> None:
    async def main() -> list:
        request, close = Pool(max_connections=2)
        awaiting_head = asyncio.ensure_future(request(b"GET", http_server.url("/wait?key=x")))
        code, _, body = await request(b"GET", http_server.url("/stream?n=50000000"))
        queued = asyncio.ensure_future(request(b"GET", http_server.url("/hello")))
        await until(lambda: len(http_server.requests) == 2)
        await asyncio.sleep(0.01)
        assert state_of(request).stats()["waiting"] == 1
        await close()
        done, pending = await asyncio.wait([awaiting_head, queued], timeout=2)
        assert not pending
        errors = [awaiting_head.exception(), queued.exception()]
        with pytest.raises(HttpConnectionClosedError):
            await buffered(body)
        with pytest.raises(HttpPoolClosedError):
            await request(b"GET", http_server.url("/hello"))
        await close()  # twice is fine
        return errors

    head_error, queued_error = run(main())
    assert isinstance(head_error, HttpConnectionClosedError)
    assert isinstance(queued_error, HttpPoolClosedError) and isinstance(queued_error, HttpError)
    http_server.release("x")


def test_close_while_connecting_fails_the_request(http_server: TestServer) -> None:
    async def main() -> BaseException:
        request, close = Pool()
        task = asyncio.ensure_future(request(b"GET", http_server.url("/hello")))
        await asyncio.sleep(0)  # the connect is under way
        await close()
        with pytest.raises(HttpError) as info:
            await task
        return info.value

    assert isinstance(run(main()), HttpError)


def test_idle_connections_are_closed_by_close(http_server: TestServer, no_leaks: LeakChecker) -> None:
    async def main() -> None:
        request, close = Pool()
        await asyncio.gather(*(fetch(request, b"GET", http_server.url("/hello")) for _ in range(4)))
        assert state_of(request).stats()["idle"] == 4
        await close()
        assert state_of(request).stats()["connections"] == 0

    run(main())
    assert http_server.connections_opened == 4


# ----------------------------------------------------------------------- options
@pytest.mark.parametrize(
    "options",
    [
        {"max_connections": 0},
        {"max_connections_per_host": 0},
        {"keep_alive_timeout": -1},
        {"socket_timeout": "10"},
        {"connect_timeout": True},
        {"max_wait_connection_seconds": -1},
        {"max_requests_per_connection": 0},
        {"recv_bufsize": 0},
        {"max_header_count": 0},
    ],
)
def test_invalid_options_are_rejected(options: dict) -> None:
    async def main() -> None:
        with pytest.raises(ValueError):
            Pool(**options)

    run(main())


def test_pool_needs_a_running_loop() -> None:
    with pytest.raises(RuntimeError):
        Pool()


def test_repr_and_stats_describe_the_pool(http_server: TestServer) -> None:
    async def main() -> tuple[str, str]:
        async with open_pool() as request:
            await fetch(request, b"GET", http_server.url("/hello"))
            state = state_of(request)
            conn = state._policy.idle[("http", "127.0.0.1", http_server.port)][0]
            return repr(state), repr(conn)

    pool_repr, conn_repr = run(main())
    assert "connections=1" in pool_repr and "idle=1" in pool_repr
    assert f"http://127.0.0.1:{http_server.port}" in conn_repr and "state=idle" in conn_repr


def test_lowhaio_positional_options_are_accepted(http_server: TestServer) -> None:
    """lowhaio's Pool took its options positionally; sock_pre/post_message are accepted."""

    async def main() -> Any:
        async with open_pool(sock_pre_message=lambda sock: None, sock_post_message=lambda sock: None) as request:
            return await fetch(request, b"GET", http_server.url("/hello"))

    assert run(main())[2] == b"hello world"
    gc.collect()


# ---------------------------------------- what the loop has not seen yet
def test_idle_connection_closed_just_now_is_not_handed_out(scripted: Callable[..., ScriptedServer]) -> None:
    """The FIN is in the kernel but the loop has not run since: still never handed out."""
    server = scripted([[recv_head(), send(OK_2), close()], [recv_head(), send(OK_2)]])

    async def main() -> Any:
        async with open_pool() as request:
            await fetch(request, b"GET", server.url("/"))
            assert server.wait_done(1)  # blocks the loop: the close is not processed
            time.sleep(0.05)
            return await fetch(request, b"POST", server.url("/"), body=streamed(b"x"))

    assert run(main())[2] == b"ok"
    assert server.connections_accepted == 2


def test_idle_connection_with_unread_bytes_just_now_is_not_handed_out(scripted: Callable[..., ScriptedServer]) -> None:
    server = scripted(
        [
            [
                recv_head(),
                send(OK_2),
                send(b"HTTP/1.1 408 Request Timeout\r\ncontent-length: 0\r\n\r\n"),
                wait_for_client_close(3),
            ],
            [recv_head(), send(OK_2)],
        ]
    )

    async def main() -> Any:
        async with open_pool() as request:
            code, _, body = await request(b"GET", server.url("/"))
            time.sleep(0.1)  # the unsolicited answer reaches the kernel, not the loop
            await buffered(body)
            return await fetch(request, b"POST", server.url("/"), body=streamed(b"x"))

    assert run(main())[2] == b"ok"
    assert server.connections_accepted == 2


def test_cancelled_during_connect_frees_the_slot_and_the_socket(no_leaks: LeakChecker) -> None:
    with full_backlog_port() as port:
        no_leaks.snapshot()

        async def main() -> dict:
            async with open_pool(max_connections=1) as request:
                task = asyncio.ensure_future(request(b"GET", f"http://127.0.0.1:{port}/"))
                await asyncio.sleep(0.05)
                task.cancel()
                with pytest.raises(asyncio.CancelledError):
                    await task
                return state_of(request).stats()

        assert run(main())["connections"] == 0
        no_leaks.check()


def test_connection_keep_alive_from_caller_keeps_the_connection(http_server: TestServer) -> None:
    async def main() -> list:
        async with open_pool() as request:
            out = []
            for _ in range(2):
                _, headers, _ = await fetch(
                    request, b"GET", http_server.url("/hello"), headers=((b"connection", b"keep-alive"),)
                )
                out.append(header(headers, b"x-conn-requests"))
            return out

    assert run(main()) == [b"1", b"2"]


def test_idle_connection_reset_just_now_is_not_handed_out(scripted: Callable[..., ScriptedServer]) -> None:
    server = scripted([[recv_head(), send(OK_2), rst()], [recv_head(), send(OK_2)]])

    async def main() -> Any:
        async with open_pool() as request:
            await fetch(request, b"GET", server.url("/"))
            assert server.wait_done(1)  # blocks the loop: the reset is not processed
            time.sleep(0.05)
            return await fetch(request, b"POST", server.url("/"), body=streamed(b"x"))

    assert run(main())[2] == b"ok"
    assert server.connections_accepted == 2


def test_expired_waiter_is_skipped_by_a_later_grant(scripted: Callable[..., ScriptedServer]) -> None:
    """A waiter whose wait expired but whose task has not run yet gets nothing."""
    server = scripted(
        [
            [
                recv_head(),
                send(b"HTTP/1.1 200 OK\r\ncontent-length: 4\r\n\r\naa"),
                sleep(0.05),
                send(b"bb"),
                recv_head(),
                send(OK_2),
            ]
        ]
    )

    async def main(loop: FakeClockLoop) -> Any:
        async with open_pool(max_connections=1, max_wait_connection_seconds=5) as request:
            code, _, body = await request(b"GET", server.url("/"))
            await until(lambda: state_of(request).stats()["active"] == 1 and len(server.received[0]) > 0)
            await asyncio.sleep(0.15)  # "bb" is buffered too: the body can end without waiting
            waiter = asyncio.ensure_future(request(b"GET", server.url("/next")))
            await asyncio.sleep(0)
            assert state_of(request).stats()["waiting"] == 1
            loop.advance(6)
            await asyncio.sleep(0)  # the expiry timer runs in this iteration...
            await asyncio.sleep(0)  # ...and this task runs before the waiter's does
            assert waiter.done() is False
            content = b"".join([await body.__anext__(), await body.__anext__()])  # release: grant
            with pytest.raises(HttpPoolTimeoutError):
                await waiter
            return content, state_of(request).stats(), await fetch(request, b"GET", server.url("/"))

    content, stats, after = run_fake_clock(main)
    assert content == b"aabb"
    assert stats == {"connections": 1, "active": 0, "idle": 1, "waiting": 0}
    assert after[2] == b"ok"


def test_close_fails_a_request_stuck_in_tcp_connect_at_once(no_leaks: LeakChecker) -> None:
    with full_backlog_port() as port:
        no_leaks.snapshot()

        async def main() -> tuple[BaseException, dict]:
            # connect_timeout far beyond run()'s bound: only close() can end this request
            request, close = Pool(connect_timeout=60)
            task = asyncio.ensure_future(request(b"GET", f"http://127.0.0.1:{port}/"))
            await asyncio.sleep(0.05)
            await close()
            with pytest.raises(HttpPoolClosedError) as info:
                await task
            return info.value, state_of(request).stats()

        error, stats = run(main(), timeout=5)
        no_leaks.check()
    assert isinstance(error, HttpConnectionError)
    assert stats["connections"] == 0


@pytest.mark.parametrize("seed", [1234, 7, 99])
def test_accounting_survives_a_mixed_workload(
    http_server: TestServer, second_server: TestServer, no_leaks: LeakChecker, seed: int
) -> None:
    """Many requests, each ending a different way; the limits hold throughout and every
    slot comes back: the pool ends with exactly its idle connections counted."""
    import random

    rng = random.Random(seed)
    kinds = ["read", "aclose", "drop", "cancel", "close-header", "server-close", "error"]

    async def one(request: Any, index: int, peak: list) -> str:
        kind = rng.choice(kinds)
        server = (http_server, second_server)[index % 2]
        state = state_of(request)
        try:
            if kind == "cancel":
                task = asyncio.ensure_future(request(b"GET", server.url(f"/slow?delay=0.05&i={index}")))
                await asyncio.sleep(rng.random() * 0.03)
                task.cancel()
                try:
                    code, _, body = await task
                    await body.aclose()
                except asyncio.CancelledError:
                    pass
                return kind
            if kind == "error":
                with pytest.raises(HttpError):
                    await request(b"GET", f"http://127.0.0.1:{closed_port()}/")
                return kind
            path = {"server-close": "/close"}.get(kind, f"/stream?n={rng.choice([10, 300000])}&i={index}")
            headers = ((b"connection", b"close"),) if kind == "close-header" else ()
            code, _, body = await request(b"GET", server.url(path), headers=headers)
            peak.append(state.stats()["connections"])
            if kind == "aclose":
                await body.aclose()
            elif kind == "drop":
                del body
            else:
                await buffered(body)
            return kind
        finally:
            peak.append(state.stats()["connections"])

    async def main() -> tuple[list, list, dict, Any]:
        peak: list = []
        async with open_pool(max_connections=3, max_connections_per_host=2) as request:
            results = await asyncio.gather(*(one(request, i, peak) for i in range(120)))
            gc.collect()
            state = state_of(request)
            stats = state.stats()
            counted = (state._policy.total, sum(state._policy.per_host.values()))
        return results, peak, stats, counted

    results, peak, stats, counted = run(main(), timeout=30)
    assert set(results) == set(kinds)
    assert max(peak) <= 3
    assert stats["active"] == 0 and stats["waiting"] == 0
    assert counted == (stats["connections"], stats["connections"]) and stats["connections"] == stats["idle"]


@pytest.mark.slow
def test_get_survives_a_server_closing_idle_connections_at_any_moment(http_server: TestServer) -> None:
    """The server drops idle connections after 100 ms; requests come 60-140 ms apart, so
    some find their connection closed just as they reuse it: detection or the one retry
    must make every GET succeed. (Not tighter: a loaded machine must still let the
    server read a fresh connection's first request within its idle timeout.)"""
    import random

    rng = random.Random(5)
    http_server.idle_timeout = 0.1

    async def main() -> list:
        codes = []
        async with open_pool() as request:
            for _ in range(25):
                code, _, _ = await fetch(request, b"GET", http_server.url("/hello"))
                codes.append(code)
                await asyncio.sleep(rng.uniform(0.06, 0.14))
        return codes

    assert run(main(), timeout=30) == [b"200"] * 25
    assert http_server.connections_opened > 1  # the server did close connections


# ------------------------------------------------- every timer is a loop timer
def test_fake_clock_drives_read_connect_and_pool_timeouts(
    scripted: Callable[..., ScriptedServer], http_server: TestServer
) -> None:
    """Long timeouts (10 s and more) fire as soon as the loop's clock passes them:
    they are loop timers (call_at), not sleeps in tasks or socket timeouts."""
    stalled = scripted([recv_head(), send(b"HTTP/1.1 200 OK\r\ncontent-length: 10\r\n\r\nab"), sleep(5)])

    async def main(loop: FakeClockLoop) -> list:
        errors = []
        async with open_pool(socket_timeout=10) as request:
            code, _, body = await request(b"GET", stalled.url("/"))
            reading = asyncio.ensure_future(buffered(body))
            await asyncio.sleep(0.05)
            loop.advance(11)
            with pytest.raises(HttpReadTimeoutError) as read_info:
                await reading
            errors.append(read_info.value)

        async with open_pool(socket_timeout=100, max_connections=1, max_wait_connection_seconds=30) as request:
            held = asyncio.ensure_future(fetch(request, b"GET", http_server.url("/wait?key=f")))
            await until(lambda: len(http_server.requests) == 1)
            waiting = asyncio.ensure_future(request(b"GET", http_server.url("/hello")))
            await asyncio.sleep(0.01)
            loop.advance(31)
            with pytest.raises(HttpPoolTimeoutError) as pool_info:
                await waiting
            errors.append(pool_info.value)
            http_server.release("f")
            await held

        with full_backlog_port() as port:
            async with open_pool(connect_timeout=20) as request:
                connecting = asyncio.ensure_future(request(b"GET", f"http://127.0.0.1:{port}/"))
                await asyncio.sleep(0.05)
                loop.advance(21)
                with pytest.raises(HttpConnectTimeoutError) as connect_info:
                    await connecting
                errors.append(connect_info.value)
        return errors

    errors = run_fake_clock(main, timeout=10)
    assert [type(e) for e in errors] == [HttpReadTimeoutError, HttpPoolTimeoutError, HttpConnectTimeoutError]


def test_http10_request_body_must_be_framed_by_the_caller(http_server: TestServer) -> None:
    # RFC 9112 6.1: chunked is not for HTTP/1.0, so an unframed body is refused
    # before anything is sent, and a framed one goes through.
    async def main() -> None:
        async with open_pool(http_version=b"HTTP/1.0") as request:
            with pytest.raises(HttpLocalError):
                await request(b"POST", http_server.url("/echo"), body=streamed(b"abc"))
            assert http_server.connections_opened == 0
            code, _, body = await fetch(
                request,
                b"POST",
                http_server.url("/echo"),
                headers=((b"content-length", b"3"),),
                body=streamed(b"abc"),
            )
            assert code == b"200"
            assert b'"body": "abc"' in body

    run(main())
