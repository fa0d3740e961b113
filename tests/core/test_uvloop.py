"""The core on uvloop, whatever loop this run's other tests use.

uvloop is an optional extra (``asynchttp[uvloop]``); these tests run where it is
installed and are skipped elsewhere. The two places where uvloop behaved unlike
asyncio's loop are pinned here on uvloop itself: a write after the peer reset the
connection (uvloop's transport raises RuntimeError, which the core turns into
``HttpConnectionClosedError``), and the TLS alert on a refused certificate (uvloop's
own TLS layer drops the socket without it; the core uses its alerting layer on every
loop). The whole core suite runs on uvloop too with ``ASYNCHTTP_LOOP=uvloop``
(``.ci/uvloop.sh``).
"""

from __future__ import annotations

import asyncio
import ssl
from typing import Any, AsyncIterator, Callable

import pytest

from asynchttp_lowhaio import HttpConnectionClosedError, HttpError, HttpTlsError, Pool, buffered
from tests.core.helpers import open_pool
from tests.servers import run
from tests.servers.handshake import HandshakeRecorder
from tests.servers.scripted import ScriptedServer, recv_head, rst, sleep
from tests.servers.tls import TlsMaterial

uvloop = pytest.importorskip("uvloop")


def on_uvloop(coro: Any, timeout: float = 10.0) -> Any:
    return run(coro, timeout, loop_factory=uvloop.new_event_loop)


def test_the_loop_is_uvloop() -> None:
    async def main() -> str:
        return type(asyncio.get_running_loop()).__module__

    assert on_uvloop(main()).startswith("uvloop")


@pytest.mark.parametrize("piece", [1 << 10, 1 << 22], ids=["between-chunks", "while-paused"])
def test_write_after_a_reset_is_a_closed_connection(scripted: Callable[..., ScriptedServer], piece: int) -> None:
    """uvloop's transport raises RuntimeError for a write once the reset closed it: the
    caller gets the core's HttpConnectionClosedError (an HttpDataError: bytes went out),
    with uvloop's error as its cause, never the RuntimeError itself."""
    server = scripted([recv_head(body=False), sleep(0.1), rst()])

    async def gen() -> AsyncIterator[bytes]:
        for _ in range(1000):
            yield b"z" * piece
            await asyncio.sleep(0.01)

    async def main() -> BaseException:
        async with open_pool(socket_timeout=5) as request:
            with pytest.raises(HttpError) as info:
                await request(b"POST", server.url("/"), body=gen)
            return info.value

    error = on_uvloop(main())
    assert isinstance(error, HttpConnectionClosedError) and isinstance(error, ConnectionError)


def test_refused_certificate_sends_the_alert_on_uvloop(tls: TlsMaterial, client_ssl_context: ssl.SSLContext) -> None:
    """The server sees the alert a blocking ssl client sends ("unknown ca"), not a bare EOF."""
    with HandshakeRecorder(tls.server_context(tls.self_signed_cert())) as server:

        async def main() -> BaseException:
            request, close = Pool(get_ssl_context=lambda: client_ssl_context)
            try:
                with pytest.raises(HttpTlsError) as info:
                    await request(b"GET", "https://localhost:%d/" % server.port)
                return info.value
            finally:
                await close()

        error = on_uvloop(main())
        (outcome,) = server.wait_for(1)
    assert "TLSV1_ALERT_UNKNOWN_CA" in str(outcome), outcome
    assert isinstance(error.__cause__, ssl.SSLCertVerificationError)


def test_https_answers_on_uvloop(tls: TlsMaterial, client_ssl_context: ssl.SSLContext) -> None:
    with HandshakeRecorder(tls.server_context()) as good:

        async def main() -> tuple[bytes, bytes]:
            request, close = Pool(get_ssl_context=lambda: client_ssl_context)
            try:
                code, _, body = await request(b"GET", "https://localhost:%d/" % good.port)
                return code, await buffered(body)
            finally:
                await close()

        assert on_uvloop(main()) == (b"200", b"ok")
        assert good.wait_for(1) == ["ok"]
