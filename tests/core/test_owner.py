"""A connection needs no pool: anything with ``loop``, ``discard`` and ``on_connection_lost``.

``Connection`` reports to its owner only through the ``ConnectionOwner`` protocol.
Here a small recording owner stands in for the pool, and a connection to a real
server on 127.0.0.1 carries a request, goes idle, is poisoned by unsolicited bytes
and is lost, each reported to the owner exactly as the pool would be told.
"""

from __future__ import annotations

import asyncio
from typing import Any

from asynchttp_lowhaio._connection import ACTIVE, IDLE, Connection, ConnectionOwner
from tests.core.helpers import until
from tests.servers import run
from tests.servers.http_server import TestServer
from tests.servers.scripted import ScriptedServer, recv_head, send, sleep, wait_for_client_close


class RecordingOwner:
    """An owner that only writes down what its connections report."""

    def __init__(self) -> None:
        self.loop = asyncio.get_running_loop()
        self.reports: list[tuple[str, Any, str]] = []

    def discard(self, conn: Connection, reason: str) -> None:
        self.reports.append(("discard", conn, reason))
        conn.close()

    def on_connection_lost(self, conn: Connection, previous_state: str) -> None:
        self.reports.append(("lost", conn, previous_state))


async def connect(owner: ConnectionOwner, port: int) -> Connection:
    conn = Connection(
        owner,
        ("http", "127.0.0.1", port),
        socket_timeout=5,
        response_head_timeout=5,
        high_water=65536,
        max_header_length=16384,
        max_header_count=100,
    )
    await owner.loop.create_connection(lambda: conn, "127.0.0.1", port)
    return conn


def test_a_request_and_a_close_are_reported_to_any_owner(http_server: TestServer) -> None:
    async def main() -> tuple[bytes, bytes, list]:
        owner = RecordingOwner()
        conn = await connect(owner, http_server.port)
        conn.start(b"GET")
        await conn.send(b"GET /hello HTTP/1.1\r\nhost: 127.0.0.1\r\n\r\n", None, False)
        head = await conn.read_head()
        body = b""
        while (chunk := await conn.read()) is not None:
            body += chunk
        assert conn.state is ACTIVE and conn.body_complete
        conn.idle(owner.loop.time())
        conn.close()
        await until(lambda: bool(owner.reports))
        return head.code, body, owner.reports

    code, body, reports = run(main())
    assert code == b"200" and body
    assert [(kind, state) for kind, _, state in reports] == [("lost", IDLE)]


def test_unsolicited_bytes_on_an_idle_connection_are_reported_as_a_discard(scripted: Any) -> None:
    server: ScriptedServer = scripted(
        [
            recv_head(),
            send(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok"),
            sleep(0.05),
            send(b"HTTP/1.1 408 Request Timeout\r\ncontent-length: 0\r\n\r\n"),
            wait_for_client_close(3),
        ]
    )

    async def main() -> list:
        owner = RecordingOwner()
        conn = await connect(owner, server.port)
        conn.start(b"GET")
        await conn.send(b"GET / HTTP/1.1\r\nhost: 127.0.0.1\r\n\r\n", None, False)
        await conn.read_head()
        while await conn.read() is not None:
            pass
        conn.idle(owner.loop.time())
        await until(lambda: len(owner.reports) >= 2)
        return owner.reports

    reports = run(main())
    assert server.wait_done(1) and server.client_closed[0] is True
    assert [(kind, detail) for kind, _, detail in reports] == [
        ("discard", "unsolicited data while idle"),
        ("lost", IDLE),
    ]
