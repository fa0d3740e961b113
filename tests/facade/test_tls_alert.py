"""Through the facade, a refused certificate ends the handshake as httplib2's does.

The server records its side of each handshake: httplib2.Http makes it see a TLS
alert ("tlsv1 alert unknown ca"); asynchttp.Http and BlockingHttp must too (not a
bare EOF), while the caller still gets ssl.SSLCertVerificationError.
"""

from __future__ import annotations

import re
import ssl
from typing import Any

import httplib2
import pytest

import asynchttp
import asynchttp_lowhaio as core
from tests.servers.handshake import HandshakeRecorder
from tests.servers.tls import TlsMaterial


def _server_view(outcome: Any) -> str:
    return re.sub(r" \(_ssl\.c:\d+\)", "", repr(outcome))


def _client_error(http: Any, url: str) -> BaseException:
    try:
        response, content = http.request(url)
        bytes(content)  # forces a promise
    except ssl.SSLError as exc:
        return exc
    finally:
        http.close()
    raise AssertionError("the request succeeded")


@pytest.mark.parametrize("kind", ["promise", "blocking"])
def test_untrusted_server_sees_the_alert(kind: str, tls: TlsMaterial, ca_bundle_path: str) -> None:
    cls = asynchttp.Http if kind == "promise" else asynchttp.BlockingHttp
    with HandshakeRecorder(tls.server_context(tls.self_signed_cert())) as server:
        reference = _client_error(httplib2.Http(ca_certs=ca_bundle_path), server.url())
        error = _client_error(cls(ca_certs=ca_bundle_path), server.url())
        outcomes = server.wait_for(2)
    assert len(outcomes) == 2
    theirs, ours = outcomes
    assert "TLSV1_ALERT_UNKNOWN_CA" in str(theirs)
    assert _server_view(ours) == _server_view(theirs)
    assert type(error) is type(reference) is ssl.SSLCertVerificationError
    assert error.verify_code == reference.verify_code
    assert isinstance(error.__cause__, core.HttpTlsError)
