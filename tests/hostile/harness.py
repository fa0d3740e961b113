"""Plays a hostile case: starts its scripted server(s), runs a client, judges the outcome.

``Servers(case)`` turns the case's steps into ``ScriptedServer`` actions (a
``Mark`` becomes a ``threading.Event`` the client can wait on).  ``run_core``
and ``run_facade`` make the case's requests with ``asynchttp_lowhaio`` and
``asynchttp.Http`` and return one ``Got`` per request; ``judge`` compares a
``Got`` with an expected outcome.  ``benchmarks/hostile_peers.py`` uses the
same pieces for the other clients, so every client meets identical bytes.
"""

from __future__ import annotations

import asyncio
import os
import socket
import ssl
import struct
import tempfile
import threading
import tracemalloc
import zlib
from dataclasses import dataclass
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple, Union

from tests.hostile.cases import (
    BLOCK,
    Case,
    Close,
    Digest,
    Err,
    Mark,
    Ok,
    Outcome,
    Payload,
    Recv,
    Req,
    Rst,
    Send,
    SendSlowly,
    Sleep,
    StreamBody,
    body_bytes,
)
from tests.servers import leaks, scripted
from tests.servers.scripted import ScriptedServer
from tests.servers.tls import TlsMaterial

__all__ = [
    "Servers",
    "Got",
    "run_core",
    "run_facade",
    "judge",
    "matches",
    "tls_material",
    "ca_path",
    "client_context",
    "core_options",
    "facade_options",
    "KEEP_BODY",
    "MarkNotReached",
    "client_fds",
    "new_threads",
]

OTHER_HOST = "127.0.0.2"
KEEP_BODY = 4 << 20  # bodies above this are kept as a Digest only
MARK_WAIT = 5.0

_tls_lock = threading.Lock()
_tls: Dict[str, Any] = {}


def tls_material() -> TlsMaterial:
    with _tls_lock:
        if "material" not in _tls:
            _tls["material"] = TlsMaterial()
        return _tls["material"]


def client_context() -> ssl.SSLContext:
    """Trusts the test CA only (hostname checking on)."""
    return tls_material().client_context()


def ca_path() -> str:
    """A PEM file holding the test CA, for clients that want a path."""
    with _tls_lock:
        path = _tls.get("ca_path")
        if path is None:
            material = _tls.get("material") or TlsMaterial()
            _tls["material"] = material
            fd, path = tempfile.mkstemp(prefix="asynchttp-hostile-ca-", suffix=".pem")
            os.close(fd)
            material.ca.cert_pem.write_to_path(path)
            _tls["ca_path"] = path
        return path


def _server_context(kind: str) -> Optional[ssl.SSLContext]:
    if kind in (None, "plain"):
        return None
    material = tls_material()
    with _tls_lock:
        key = "server_" + kind
        if key not in _tls:
            if kind == "good":
                cert = material.cert
            elif kind == "untrusted":
                cert = material.self_signed_cert()
            elif kind == "expired":
                cert = material.expired_cert()
            elif kind == "wrong_host":
                cert = material.issue("wrong.example")
            else:
                raise ValueError(kind)
            _tls[key] = material.server_context(cert)
        return _tls[key]


# -------------------------------------------------------------------- servers
def _stream_body(mib: int) -> Callable[[socket.socket], None]:
    view = memoryview(BLOCK)

    def stream(sock: socket.socket) -> None:
        sock.settimeout(10.0)
        for _ in range(mib):
            sock.sendall(view)

    return stream


def _close_then_set(event: threading.Event, reset: bool) -> Callable[[socket.socket], None]:
    def close_then_set(sock: socket.socket) -> None:
        if reset:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        sock.close()  # the script must end here: the case puts nothing after it
        event.set()

    return close_then_set


class MarkNotReached(AssertionError):
    """The client never got the server to the point a request waits for."""


class Servers:
    """The case's server (and its second server, if any), started on entry."""

    def __init__(self, case: Case) -> None:
        self.case = case
        self.marks: Dict[str, threading.Event] = {}
        self.other: Optional[ScriptedServer] = None
        self.main: Optional[ScriptedServer] = None

    def __enter__(self) -> "Servers":
        other_netloc = b""
        try:
            if self.case.other is not None:
                self.other = ScriptedServer(self._scripts(self.case.other, b""), host=OTHER_HOST, lifetime=60).start()
                other_netloc = b"%s:%d" % (OTHER_HOST.encode(), self.other.port)
            self.main = ScriptedServer(
                self._scripts(self.case.conns, other_netloc), _server_context(self.case.tls), lifetime=60
            ).start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    def stop(self) -> None:
        for server in (self.main, self.other):
            if server is not None:
                server.stop()

    @property
    def scheme(self) -> str:
        return "https" if self.case.tls is not None else "http"

    def url(self, path: str = "/") -> str:
        assert self.main is not None
        return f"{self.scheme}://127.0.0.1:{self.main.port}{path}"

    def received(self) -> List[bytes]:
        out = []
        for server in (self.main, self.other):
            if server is not None:
                out.extend(server.received)
        return out

    def request_count(self) -> int:
        assert self.main is not None
        return len(self.main.requests)

    def forbidden_seen(self) -> List[bytes]:
        """The case's forbidden strings that reached a server."""
        seen = [data.lower() for data in self.received()]
        found = [word for word in self.case.forbid if any(word in data for data in seen)]
        if self.other is not None:
            seen = [data.lower() for data in self.other.received]
            found += [word for word in self.case.forbid_other if any(word in data for data in seen)]
        return found

    def ports(self) -> set[int]:
        return {s.port for s in (self.main, self.other) if s is not None}

    def wait_mark(self, name: str) -> None:
        if not self.marks[name].wait(MARK_WAIT):
            raise MarkNotReached(f"the server never reached mark {name!r} (an earlier request failed?)")

    def _scripts(self, conns: Sequence[Sequence[Any]], other: bytes) -> list:
        return [[self._action(step, other) for step in script] for script in conns]

    def _action(self, step: Any, other: bytes) -> scripted.Action:
        if isinstance(step, Recv):
            return scripted.recv_head(timeout=5.0, body=step.body)
        if isinstance(step, Send):
            data = body_bytes(step.data)
            if other:
                data = data.replace(b"{OTHER}", other)
            return scripted.send(data)
        if isinstance(step, SendSlowly):
            return scripted.send_slowly(step.data, step.interval, step.piece)
        if isinstance(step, StreamBody):
            return scripted.call(_stream_body(step.mib))
        if isinstance(step, Sleep):
            return scripted.sleep(step.seconds)
        if isinstance(step, (Close, Rst)):
            if step.mark is None:
                return scripted.close() if isinstance(step, Close) else scripted.rst()
            event = self.marks.setdefault(step.mark, threading.Event())
            return scripted.call(_close_then_set(event, reset=isinstance(step, Rst)))
        if isinstance(step, Mark):
            event = self.marks.setdefault(step.name, threading.Event())
            return scripted.call(lambda _sock: event.set())
        raise TypeError(step)


# ---------------------------------------------------------------- leak counts
def _local_port(fd: int) -> Optional[int]:
    """The local port of socket ``fd``, also for one no longer in /proc/net/tcp
    (a socket whose connection is gone keeps its bound address)."""
    try:
        sock = socket.socket(fileno=os.dup(fd))
    except OSError:
        return None
    try:
        name = sock.getsockname()
        return name[1] if isinstance(name, tuple) and len(name) >= 2 else None
    except OSError:
        return None
    finally:
        sock.close()


def client_fds(before: Dict[int, str], server_ports: set) -> Dict[int, str]:
    """fds opened since ``before`` that are not the test servers' sockets."""
    new = {fd: target for fd, target in leaks.open_fds().items() if before.get(fd) != target}
    if any(target.startswith("socket:") for target in new.values()):
        ports = leaks._socket_local_ports()
        new = {
            fd: t
            for fd, t in new.items()
            if not t.startswith("socket:") or (ports.get(t) or _local_port(fd)) not in server_ports
        }
    return new


def new_threads(before: set) -> List[str]:
    """Threads started since ``before`` that are alive, test servers' excepted."""
    return [
        t.name
        for t in threading.enumerate()
        if t not in before and t.is_alive() and not t.name.startswith("asynchttp-test-")
    ]


# -------------------------------------------------------------------- results
@dataclass
class Got:
    """What one request gave: a status and body, or an exception."""

    status: Optional[int] = None
    body: Union[bytes, Digest, None] = None
    exc: Optional[BaseException] = None
    peak_memory: Optional[int] = None
    phase: str = ""  # "head" or "body" for a core error

    def __repr__(self) -> str:
        if self.exc is not None:
            return f"<raised {type(self.exc).__module__}.{type(self.exc).__name__}: {self.exc}>"
        body = (
            self.body
            if isinstance(self.body, Digest) or len(self.body or b"") <= 80
            else ((self.body or b"")[:80] + b"...")
        )
        return f"<{self.status} {body!r}>"


class BodyDigester:
    """Collects a streamed body: the bytes while small, a running length and CRC-32 always."""

    def __init__(self) -> None:
        self.chunks: List[bytes] = []
        self.length = 0
        self.crc = 0
        self.kept = True

    def add(self, chunk: bytes) -> None:
        self.length += len(chunk)
        self.crc = zlib.crc32(chunk, self.crc)
        if self.kept:
            if self.length > KEEP_BODY:
                self.kept = False
                self.chunks = []
            else:
                self.chunks.append(chunk)

    def result(self) -> Union[bytes, Digest]:
        return b"".join(self.chunks) if self.kept else Digest(self.length, self.crc)


def _digest(data: Union[bytes, Digest]) -> Digest:
    if isinstance(data, Digest):
        return data
    return Digest(len(data), zlib.crc32(data))


def body_equal(expected: Union[bytes, Payload, Digest], got: Union[bytes, Digest, None]) -> bool:
    if got is None:
        return False
    if isinstance(expected, Payload):
        expected = expected.materialize()
    if isinstance(expected, bytes) and isinstance(got, bytes):
        return expected == got
    return _digest(expected) == _digest(got)


def _alternatives(outcome: Outcome) -> Tuple[Union[Ok, Err], ...]:
    return outcome if isinstance(outcome, tuple) else (outcome,)


def matches(outcome: Outcome, got: Got, error_family: Optional[Tuple[type, ...]] = None) -> bool:
    """Does ``got`` match ``outcome``?  With ``error_family``, any error of that family
    matches an expected error (for peers, whose classes differ from ours)."""
    for alt in _alternatives(outcome):
        if isinstance(alt, Ok):
            if got.exc is None and got.status == alt.status and body_equal(alt.body, got.body):
                return True
        elif got.exc is not None:
            classes = error_family if error_family is not None else alt.classes
            if isinstance(got.exc, classes):
                return True
    return False


def judge(
    outcome: Outcome, got: Got, family: Tuple[type, ...], tolerable: Optional[Ok] = None, peer: bool = False
) -> Tuple[str, str]:
    """(verdict, cell) for the peer table.

    verdict: "right" (the expected answer or an error of the client's family when an
    error is expected), "lenient" (expected an error, got data that is still correct),
    "refused" (an error of the family where a good answer was expected), "WRONG"
    (data that is not the answer), "CRASH" (an exception outside the family).
    """
    if got.exc is not None:
        name = type(got.exc).__name__
        if isinstance(got.exc, MarkNotReached):
            return "refused", "-"  # an earlier request of the case already failed
        if not isinstance(got.exc, family) and not matches(outcome, got):
            # outside the family, unless it is exactly what the case documents (KeyError('ftp'))
            return "CRASH", "CRASH:" + name
        expects_error = any(isinstance(alt, Err) for alt in _alternatives(outcome))
        return ("right" if expects_error else "refused"), name
    if matches(outcome, got):
        return "right", "ok"
    if tolerable is not None and matches(tolerable, got):
        return "lenient", "ok~"
    return "WRONG", "WRONG"


# ---------------------------------------------------------------- core client
def assert_core_case(case: Case, got: List[Got], servers: Servers, fds: Any, threads: Any) -> None:
    """The core drivers' verdict on a played case (``Pool`` in test_core, ``BlockingPool``
    in test_blocking_core): each request's outcome, never an exception outside
    HttpError, the server's counts, no forbidden request, the memory bound, nothing
    left behind."""
    from asynchttp_lowhaio import HttpError

    for index, (expected, result) in enumerate(zip(case.core, got, strict=True)):
        where = f"{case.name} request {index + 1}"
        if result.exc is not None:
            # the family first: anything outside HttpError is a crash, whatever was expected
            assert isinstance(result.exc, HttpError), f"{where}: CRASH, an exception outside HttpError: {result.exc!r}"
            assert result.exc.__cause__ is None or isinstance(result.exc.__cause__, BaseException)
        assert matches(expected, result), f"{where}: expected {expected}, got {result!r}"
    if case.server_requests is not None:
        assert servers.request_count() == case.server_requests, (
            f"{case.name}: the server saw {servers.request_count()} requests, expected {case.server_requests}"
        )
    if case.server_connections is not None:
        assert servers.main is not None
        assert servers.main.connections_accepted == case.server_connections, (
            f"{case.name}: {servers.main.connections_accepted} connections, expected {case.server_connections}"
        )
    assert not servers.forbidden_seen(), f"{case.name}: {servers.forbidden_seen()} reached a server"
    if case.max_memory is not None:
        for result in got:
            assert result.peak_memory is not None and result.peak_memory < case.max_memory, (
                f"{case.name}: traced memory peaked at {result.peak_memory} bytes"
            )
    assert not fds and not threads, f"{case.name}: left behind fds {fds} threads {threads}"


def core_options(case: Case) -> Dict[str, Any]:
    if case.timing:
        timeouts = {"socket_timeout": 0.3, "response_head_timeout": 0.6, "connect_timeout": 0.5}
    else:
        timeouts = {"socket_timeout": 5.0, "response_head_timeout": 5.0, "connect_timeout": 5.0}
    return {**timeouts, "get_ssl_context": client_context}


async def run_core(case: Case, servers: Servers, pool: Any = None) -> List[Got]:
    """The case's requests, one after the other, on one core Pool (closed at the end)."""
    import asynchttp_lowhaio as core

    pool_module = pool or core
    request, close = pool_module.Pool(**core_options(case))
    out: List[Got] = []
    try:
        for req in case.requests:
            out.append(await _core_one(pool_module, request, case, servers, req))
    finally:
        await close()
    return out


async def _core_one(core: Any, request: Any, case: Case, servers: Servers, req: Req) -> Got:
    if req.after_mark is not None:
        # Blocking the loop on purpose: whatever the server did meanwhile is only
        # in the kernel, so only the pool's own checks can see it.
        servers.wait_mark(req.after_mark)
    if req.settle:
        await asyncio.sleep(req.settle)
    headers = [(k.encode("latin-1"), v.encode("latin-1")) for k, v in req.headers]
    if req.body is not None:
        headers.append((b"content-length", b"%d" % len(req.body)))
    # a tuple: lowhaio 0.0.89 (run by the peer benchmark) concatenates it with one
    kwargs: Dict[str, Any] = {"headers": tuple(headers)}
    if req.body is not None:
        kwargs["body"] = core.streamed(req.body)
    tracing = case.max_memory is not None
    got = Got()
    if tracing:
        tracemalloc.start()
    try:
        try:
            code, _headers, body = await request(req.method.encode(), servers.url(req.path), **kwargs)
        except asyncio.CancelledError:
            raise
        except BaseException as exc:  # judged by the caller: the family is the point
            got.exc, got.phase = exc, "head"
            return got
        digester = BodyDigester()
        try:
            async for chunk in body:
                digester.add(chunk)
        except asyncio.CancelledError:
            raise
        except BaseException as exc:
            got.exc, got.phase = exc, "body"
            return got
        got.status = int(code)
        got.body = digester.result()
        return got
    finally:
        if tracing:
            got.peak_memory = tracemalloc.get_traced_memory()[1]
            tracemalloc.stop()


# -------------------------------------------------------------- facade client
def facade_options(case: Case) -> Dict[str, Any]:
    options: Dict[str, Any] = {"ca_certs": ca_path(), "proxy_info": None}
    if case.timing:
        options.update(timeout=0.3, response_head_timeout=0.6)
    else:
        options.update(timeout=5.0, response_head_timeout=5.0)
    return options


def run_facade(case: Case, servers: Servers, http_class: Any = None) -> List[Got]:
    """The case's requests through one ``asynchttp.Http``, touching each result before the next."""
    if http_class is None:
        import asynchttp

        http_class = asynchttp.Http
    http = http_class(**facade_options(case))
    out: List[Got] = []
    try:
        for req in case.requests:
            if req.after_mark is not None:
                servers.wait_mark(req.after_mark)
            if req.settle:
                threading.Event().wait(req.settle)
            got = Got()
            tracing = case.facade_max_memory is not None
            if tracing:
                tracemalloc.start()  # traces every thread: the loop's and the decoder's too
            try:
                response, content = http.request(
                    servers.url(req.path), req.method, body=req.body, headers=dict(req.headers) or None
                )
                status = response.status
                data = bytes(content)
            except Exception as exc:  # judged by the caller
                got.exc = exc
            else:
                got.status = status
                got.body = data if len(data) <= KEEP_BODY else _digest(data)
            finally:
                if tracing:
                    got.peak_memory = tracemalloc.get_traced_memory()[1]
                    tracemalloc.stop()
            out.append(got)
    finally:
        http.close()
        shutdown = getattr(http, "shutdown", None)
        if shutdown is not None:
            shutdown(wait=True)
    return out
