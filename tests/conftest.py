"""Fixtures shared by every suite: real local servers, TLS material, leak checks.

Servers start in about a millisecond, so they are per test (fresh counters and
recorded requests each time). Async tests are plain functions calling
``tests.servers.run(main())``; there is no asyncio plugin.
"""

from __future__ import annotations

import signal
import socket
import ssl
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest

from tests.servers.dns import DnsServer, make_resolver_factory
from tests.servers.http_server import TestServer
from tests.servers.leaks import LeakChecker, warm_uvloop
from tests.servers.scripted import ScriptedServer
from tests.servers.tls import TlsMaterial

# A suite started as a background job of a non-interactive shell (`./coverage.sh &`,
# nohup in a script) inherits SIGINT ignored, and so would every child it starts:
# the tests that send Ctrl-C to the command line would see it ignored. Taking
# SIGINT back here gives children the default disposition at exec. (A background
# job gets no Ctrl-C from the terminal either way.)
if signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)


@pytest.fixture(scope="session", autouse=True)
def uvloop_fds_first() -> None:
    """On uvloop runs (ASYNCHTTP_LOOP=uvloop): uvloop's process-wide fds are opened
    before any test takes a leak snapshot (see tests/servers/leaks.py)."""
    warm_uvloop()


@pytest.fixture(scope="session")
def tls() -> TlsMaterial:
    """trustme CA (``.ca``) and server cert (``.cert``) for localhost/127.0.0.1/::1."""
    return TlsMaterial()


@pytest.fixture
def server_ssl_context(tls: TlsMaterial) -> ssl.SSLContext:
    return tls.server_context()


@pytest.fixture
def client_ssl_context(tls: TlsMaterial) -> ssl.SSLContext:
    return tls.client_context()


@pytest.fixture(scope="session")
def ca_bundle_path(tls: TlsMaterial, tmp_path_factory: pytest.TempPathFactory) -> str:
    """Path of a PEM file holding the CA (httplib2's ``ca_certs``)."""
    path = Path(tmp_path_factory.mktemp("tls")) / "ca.pem"
    tls.ca.cert_pem.write_to_path(str(path))
    return str(path)


@pytest.fixture
def http_server() -> Iterator[TestServer]:
    with TestServer() as server:
        yield server


@pytest.fixture
def https_server(server_ssl_context: ssl.SSLContext) -> Iterator[TestServer]:
    with TestServer(ssl_context=server_ssl_context) as server:
        yield server


def _ipv6_loopback() -> bool:
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as sock:
            sock.bind(("::1", 0))
        return True
    except OSError:
        return False


@pytest.fixture
def http_server_v6() -> Iterator[TestServer]:
    """The HTTP server on [::1]; skips the test where IPv6 loopback is missing."""
    if not _ipv6_loopback():
        pytest.skip("no IPv6 loopback")
    with TestServer(host="::1") as server:
        yield server


@pytest.fixture
def scripted() -> Iterator[Callable[..., ScriptedServer]]:
    """Factory: ``scripted(script, ssl_context=None, **kw)`` starts a ScriptedServer;
    all are stopped at teardown."""
    servers: list[ScriptedServer] = []

    def start(script: Any, ssl_context: ssl.SSLContext | None = None, **kwargs: Any) -> ScriptedServer:
        server = ScriptedServer(script, ssl_context, **kwargs).start()
        servers.append(server)
        return server

    yield start
    errors = []
    for server in servers:
        try:
            server.stop()
        except RuntimeError as exc:
            errors.append(exc)
    assert not errors, errors


@pytest.fixture
def dns_server() -> Iterator[DnsServer]:
    """Empty table; fill ``dns_server.table[(name, "A")] = [("127.0.0.1", ttl)]``."""
    with DnsServer() as server:
        yield server


@pytest.fixture
def dns_resolver_factory(dns_server: DnsServer) -> Callable[..., Any]:
    """``get_dns_resolver`` for the core, resolving through ``dns_server`` only."""
    return make_resolver_factory(dns_server)


@pytest.fixture
def no_leaks() -> Iterator[LeakChecker]:
    """Opt-in: fails the test if fds or threads opened during it are still open after.

    Test servers' own sockets and threads are ignored wherever they were started.
    ``no_leaks.ignore_threads(prefix)`` tolerates a thread that outlives a test on
    purpose; ``no_leaks.snapshot()`` moves the baseline (e.g. after a warm-up).
    """
    checker = LeakChecker()
    yield checker
    checker.check()
