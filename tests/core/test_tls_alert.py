"""A refused certificate ends the handshake with a TLS alert, as ssl.SSLSocket ends it.

asyncio's own TLS layer drops the socket without sending the alert OpenSSL wrote,
so the server saw a bare EOF; the core sends it first. The server's side of each
handshake is recorded and compared with what a blocking ``ssl`` client (what
http.client and so httplib2 use) makes it see; the client's error is unchanged.
"""

from __future__ import annotations

import re
import socket
import ssl
from typing import Any, Callable

import pytest

from asynchttp_lowhaio import HttpTlsError, Pool, buffered
from tests.servers import run
from tests.servers.handshake import HandshakeRecorder
from tests.servers.tls import TlsMaterial


def _server_view(outcome: Any) -> str:
    """The server's handshake outcome without the C source line (differs by build)."""
    return re.sub(r" \(_ssl\.c:\d+\)", "", repr(outcome))


def _blocking_client(port: int, context: ssl.SSLContext) -> BaseException:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        try:
            context.wrap_socket(sock, server_hostname="localhost").close()
        except ssl.SSLError as exc:
            return exc
    raise AssertionError("the handshake succeeded")


def _core_client(port: int, context: ssl.SSLContext) -> BaseException:
    async def main() -> BaseException:
        request, close = Pool(get_ssl_context=lambda: context)
        try:
            await request(b"GET", "https://localhost:%d/" % port)
        except HttpTlsError as exc:
            return exc
        finally:
            await close()
        raise AssertionError("the request succeeded")

    return run(main())


CERTS: dict[str, Callable[[TlsMaterial], Any]] = {
    "untrusted ca": lambda tls: tls.self_signed_cert(),
    "expired": lambda tls: tls.expired_cert(),
    "wrong host": lambda tls: tls.issue("other.example"),
}


@pytest.mark.parametrize("case", list(CERTS))
def test_refused_certificate_sends_the_alert(case: str, tls: TlsMaterial, client_ssl_context: ssl.SSLContext) -> None:
    server_context = tls.server_context(CERTS[case](tls))
    with HandshakeRecorder(server_context) as server:
        reference = _blocking_client(server.port, client_ssl_context)
        error = _core_client(server.port, client_ssl_context)
        outcomes = server.wait_for(2)
    assert len(outcomes) == 2
    theirs, ours = outcomes
    assert isinstance(theirs, ssl.SSLError) and "ALERT" in str(theirs), theirs
    assert not isinstance(ours, ssl.SSLEOFError), "the server saw a bare EOF, no alert"
    assert _server_view(ours) == _server_view(theirs)
    # the caller's error is what it was: the core's TLS error over the verification error
    assert type(error.__cause__) is type(reference) is ssl.SSLCertVerificationError
    assert error.__cause__.verify_code == reference.verify_code


def test_untrusted_ca_alert_is_unknown_ca(tls: TlsMaterial, client_ssl_context: ssl.SSLContext) -> None:
    with HandshakeRecorder(tls.server_context(tls.self_signed_cert())) as server:
        _core_client(server.port, client_ssl_context)
        (outcome,) = server.wait_for(1)
    assert "TLSV1_ALERT_UNKNOWN_CA" in str(outcome)


def test_trusted_server_still_answers_after_a_refusal(tls: TlsMaterial, client_ssl_context: ssl.SSLContext) -> None:
    """The alerting TLS layer is the one every connection uses: a good handshake still works."""
    with (
        HandshakeRecorder(tls.server_context(tls.self_signed_cert())) as bad,
        HandshakeRecorder(tls.server_context()) as good,
    ):

        async def main() -> tuple:
            request, close = Pool(get_ssl_context=lambda: client_ssl_context)
            try:
                with pytest.raises(HttpTlsError):
                    await request(b"GET", "https://localhost:%d/" % bad.port)
                code, _, body = await request(b"GET", "https://localhost:%d/" % good.port)
                return code, await buffered(body)
            finally:
                await close()

        assert run(main()) == (b"200", b"ok")
        assert good.wait_for(1) == ["ok"]
        assert "ALERT" in str(bad.wait_for(1)[0])
