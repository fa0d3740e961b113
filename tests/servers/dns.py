"""A real (fake) DNS server on 127.0.0.1 over UDP, and a resolver factory that uses it.

Tests never touch the machine's resolver: names like ``service.test`` resolve through
this server, whose answers come from a table the test owns and may change at any
moment (for TTL expiry and DNS-aware keep-alive tests). It speaks the wire format
through aiodnsresolver's own public ``pack``/``parse`` and record types, echoes the
question exactly as asked (aiodnsresolver randomises the case, 0x20, and rejects an
answer whose question differs) and counts the queries it received.

``make_resolver_factory(server)`` gives the callable the core takes as its
``get_dns_resolver`` option.
"""

from __future__ import annotations

import ipaddress
import socket
import threading
import time
from typing import Any, AsyncIterator, Awaitable, Callable, Iterable, Mapping, Union

import aiodnsresolver
from aiodnsresolver import (
    TYPES,
    IPv4AddressExpiresAt,
    IPv6AddressExpiresAt,
    Message,
    QuestionRecord,
    ResourceRecord,
    pack,
    parse,
)

from . import leaks

__all__ = ["DnsServer", "make_resolver_factory", "NOERROR", "SERVFAIL", "NXDOMAIN", "REFUSED"]

NOERROR, SERVFAIL, NXDOMAIN, REFUSED = 0, 2, 3, 5
MAX_QUERIES = 1_000_000

QType = Union[int, str]
Key = tuple[str, QType]


def _qtype(value: QType) -> int:
    if isinstance(value, str):
        return int(TYPES[value.upper()])
    return int(value)


def _norm(name: str | bytes) -> str:
    if isinstance(name, bytes):
        name = name.decode("ascii", "replace")
    return name.lower().rstrip(".")


class DnsServer:
    """UDP DNS server answering from ``table``: {(name, qtype): [(value, ttl), ...]}.

    ``name`` any case, trailing dot optional; ``qtype`` "A", "AAAA", "CNAME" or the
    number. Values are IP strings (A/AAAA) or target names (CNAME). A query for a name
    with a CNAME gets the CNAME and the target's records, as real servers answer. A name
    absent for every type gets NXDOMAIN; present for other types only, an empty answer.
    ``rcode`` forces an error code for every answer; ``drop`` makes it answer nothing
    (the client times out). ``queries`` lists (name as asked, qtype) per query.
    """

    __test__ = False

    def __init__(
        self,
        table: Mapping[Key, Iterable[tuple[str, int]]] | None = None,
        host: str = "127.0.0.1",
        lifetime: float = 600.0,
    ) -> None:
        self.table: dict[Key, list[tuple[str, int]]] = {k: list(v) for k, v in (table or {}).items()}
        self.host = host
        self.lifetime = lifetime
        self.port = 0
        self.rcode: int | None = None
        self.drop = False
        self.queries: list[tuple[str, int]] = []
        self._sock: socket.socket | None = None
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()

    @property
    def query_count(self) -> int:
        return len(self.queries)

    def set(self, name: str, qtype: QType, records: Iterable[tuple[str, int]]) -> None:
        """Replace the records for (name, qtype), whatever spelling the table used."""
        self.remove(name, qtype)
        self.table[(name, qtype)] = list(records)

    def remove(self, name: str, qtype: QType | None = None) -> None:
        for key in list(self.table):
            if _norm(key[0]) == _norm(name) and (qtype is None or _qtype(key[1]) == _qtype(qtype)):
                del self.table[key]

    def lookup(self, name: str | bytes, qtype: QType) -> list[tuple[str, int]] | None:
        """Records for name/qtype; None when the name is not in the table at all."""
        want_name, want_type = _norm(name), _qtype(qtype)
        found_name = False
        records: list[tuple[str, int]] = []
        for (key_name, key_type), values in list(self.table.items()):
            if _norm(key_name) != want_name:
                continue
            found_name = True
            if _qtype(key_type) == want_type:
                records.extend(values)
        return records if found_name else None

    # ---------------------------------------------------------------- lifecycle

    def start(self) -> "DnsServer":
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_DGRAM)
        sock.bind((self.host, 0))
        sock.settimeout(0.05)
        self._sock = sock
        self.port = sock.getsockname()[1]
        self._thread = threading.Thread(target=self._serve, daemon=True, name=f"asynchttp-test-dns-{self.port}")
        self._thread.start()
        leaks.register(self)
        return self

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            if self._thread.is_alive():
                raise RuntimeError("DNS server thread did not stop")
            self._thread = None
        leaks.unregister(self)

    def leak_ignore_ports(self) -> set[int]:
        return {self.port}

    def leak_ignore_fds(self) -> set[int]:
        return set()

    def __enter__(self) -> "DnsServer":
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    # ---------------------------------------------------------------- serving

    def _serve(self) -> None:
        sock = self._sock
        assert sock is not None
        ends_at = time.monotonic() + self.lifetime
        try:
            while not self._stop.is_set() and time.monotonic() < ends_at and len(self.queries) < MAX_QUERIES:
                try:
                    data, addr = sock.recvfrom(4096)
                except socket.timeout:
                    continue
                except OSError:
                    break
                reply = self._answer(data)
                if reply is not None:
                    try:
                        sock.sendto(reply, addr)
                    except OSError:
                        pass
        finally:
            sock.close()

    def _answer(self, data: bytes) -> bytes | None:
        try:
            query = parse(data)
        except Exception:  # noqa: BLE001 - garbage on the port: ignore it like a server would
            return None
        if query.qr != 0 or len(query.qd) != 1:
            return None
        question = query.qd[0]
        self.queries.append((question.name.decode("ascii", "replace"), question.qtype))
        if self.drop:
            return None
        answers: list[ResourceRecord] = []
        rcode = NOERROR
        if self.rcode is not None:
            rcode = self.rcode
        else:
            found = self._resolve(question, answers)
            if not found:
                rcode = NXDOMAIN
        reply = Message(
            qid=query.qid,
            qr=1,
            opcode=0,
            aa=1,
            tc=0,
            rd=query.rd,
            ra=1,
            z=0,
            rcode=rcode,
            qd=(question,),
            an=tuple(answers),
            ns=(),
            ar=(),
        )
        return pack(reply)

    def _resolve(self, question: QuestionRecord, answers: list[ResourceRecord]) -> bool:
        """Fill ``answers``; False when the name does not exist."""
        name = question.name  # exactly as asked: the 0x20 check compares it
        for _ in range(10):  # bounded CNAME chain
            cnames = self.lookup(name, TYPES.CNAME)
            records = self.lookup(name, question.qtype)
            if records is None and cnames is None:
                return bool(answers)  # a CNAME chain may end at a missing name
            if records and question.qtype != TYPES.CNAME:
                for value, ttl in records:
                    answers.append(ResourceRecord(name, question.qtype, 1, ttl, ipaddress.ip_address(value).packed))
                return True
            if cnames and question.qtype != TYPES.CNAME:
                target, ttl = cnames[0]
                target_bytes = target.rstrip(".").encode("ascii")
                answers.append(ResourceRecord(name, TYPES.CNAME, 1, ttl, target_bytes))
                name = target_bytes
                continue
            if question.qtype == TYPES.CNAME and cnames:
                for target, ttl in cnames:
                    answers.append(ResourceRecord(name, TYPES.CNAME, 1, ttl, target.rstrip(".").encode("ascii")))
            return True
        return True


def make_resolver_factory(
    dns_server: DnsServer,
    hosts: Mapping[str, Union[str, Iterable[str]]] | None = None,
    timeout: float = 0.5,
    attempts: int = 2,
) -> Callable[..., tuple[Callable[..., Awaitable[Any]], Callable[..., Awaitable[None]]]]:
    """A ``get_dns_resolver`` for the core: aiodnsresolver.Resolver asking only ``dns_server``.

    Called as ``factory(get_logger_adapter=...)`` inside a running loop; returns
    ``(resolve, clear_cache)``. ``hosts`` ({name: ip or [ips]}) replaces /etc/hosts;
    the machine's own hosts file and nameservers are never consulted. Each query waits
    ``timeout`` s for an answer, ``attempts`` times.
    """
    by_type: dict[int, dict[bytes, Any]] = {int(TYPES.A): {}, int(TYPES.AAAA): {}}
    for name, ips in (hosts or {}).items():
        for ip in [ips] if isinstance(ips, str) else list(ips):
            address = ipaddress.ip_address(ip)
            key = _norm(name).encode("idna")
            if address.version == 4:
                by_type[int(TYPES.A)].setdefault(key, IPv4AddressExpiresAt(ip, expires_at=0))
            else:
                by_type[int(TYPES.AAAA)].setdefault(key, IPv6AddressExpiresAt(ip, expires_at=0))

    async def get_host(_etc_hosts: Any, fqdn: bytes, qtype: int) -> Any:
        return by_type.get(int(qtype), {}).get(bytes(fqdn).lower().rstrip(b"."))

    async def get_nameservers(_nameservers: Any, _fqdn: bytes) -> AsyncIterator[tuple[float, tuple[str, int]]]:
        for _ in range(attempts):
            yield (timeout, (dns_server.host, dns_server.port))

    def factory(**kwargs: Any) -> tuple[Callable[..., Awaitable[Any]], Callable[..., Awaitable[None]]]:
        return aiodnsresolver.Resolver(get_host=get_host, get_nameservers=get_nameservers, **kwargs)

    return factory
