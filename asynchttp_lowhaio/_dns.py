"""Host name resolution through aiodnsresolver, and what DNS-aware reuse needs.

IP literals never touch DNS.  Names are lower-cased and stripped of a
trailing dot before lookup (aiodnsresolver matches /etc/hosts on exact bytes
and sends a malformed query for a trailing dot).  A records are asked first;
AAAA only when the name has no A record, so dual-stack hosts use IPv4 and
IPv6-only hosts still work.  aiodnsresolver caches answers for their TTL, so
asking again on every request is cheap, and that is what lets a pooled
connection be checked against the host's *current* addresses.
"""

from __future__ import annotations

from typing import Any, Awaitable, Callable, Tuple

from aiodnsresolver import TYPES, DnsError, DnsRecordDoesNotExist

from ._errors import HttpDnsError

__all__ = ["Resolve", "resolve_host"]

Resolve = Callable[..., Awaitable[Tuple[Any, ...]]]


async def resolve_host(resolve: Resolve, host: str, get_logger_adapter: Callable) -> Tuple[str, ...]:
    """The current addresses of ``host`` (already lower-cased, no trailing dot), as strings."""
    try:
        answers = await resolve(host, TYPES.A, get_logger_adapter=get_logger_adapter)
    except DnsRecordDoesNotExist as a_error:
        try:
            answers = await resolve(host, TYPES.AAAA, get_logger_adapter=get_logger_adapter)
        except DnsError:
            raise HttpDnsError(f"no address found for {host!r}") from a_error
    except DnsError as exc:
        raise HttpDnsError(f"DNS lookup of {host!r} failed: {exc!r}") from exc
    if not answers:
        raise HttpDnsError(f"no address found for {host!r}")
    return tuple(str(address) for address in answers)
