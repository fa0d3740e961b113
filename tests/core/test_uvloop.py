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
from typing import Any, Callable

import pytest

from asynchttp_lowhaio import HttpTlsError, Pool, buffered
from tests.core import test_connection
from tests.servers import run
from tests.servers.handshake import HandshakeRecorder
from tests.servers.scripted import ScriptedServer
from tests.servers.tls import TlsMaterial

uvloop = pytest.importorskip("uvloop")


def on_uvloop(coro: Any, timeout: float = 10.0) -> Any:
    return run(coro, timeout, loop_factory=uvloop.new_event_loop)


def test_the_loop_is_uvloop() -> None:
    async def main() -> str:
        return type(asyncio.get_running_loop()).__module__

    assert on_uvloop(main()).startswith("uvloop")


@test_connection.RESET_PIECES
def test_write_after_a_reset_is_a_closed_connection(scripted: Callable[..., ScriptedServer], piece: int) -> None:
    """uvloop's transport raises RuntimeError for a write once the reset closed it: the
    caller gets the core's HttpConnectionClosedError (an HttpDataError: bytes went out),
    never the RuntimeError itself. The scripted case is test_connection's, on uvloop."""
    test_connection.test_reset_while_sending_the_body(scripted, piece, loop_factory=uvloop.new_event_loop)


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
