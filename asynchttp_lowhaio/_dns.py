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

from typing import Any, Awaitable, Callable, Dict, Optional, Tuple

from aiodnsresolver import TYPES, DnsError, DnsRecordDoesNotExist

from ._errors import HttpDnsError

__all__ = ["Resolve", "resolve_host"]

Resolve = Callable[..., Awaitable[Tuple[Any, ...]]]


# How long a name known to have no A record is asked for AAAA directly.
# aiodnsresolver caches answers, not their absence, so without this an
# IPv6-only host would cost a network round trip for A on every request.
NO_A_RECORD_SECONDS = 30.0


async def resolve_host(
    resolve: Resolve,
    host: str,
    get_logger_adapter: Callable[..., Any],
    no_a_record: Optional[Dict[str, float]] = None,
    now: float = 0.0,
) -> Tuple[str, ...]:
    """The current addresses of ``host`` (already lower-cased, no trailing dot), as strings.

    ``no_a_record`` maps names found without an A record to the time until
    which that is believed; it is read and updated here.
    """
    skip_a = no_a_record is not None and no_a_record.get(host, 0.0) > now
    try:
        if skip_a:
            raise DnsRecordDoesNotExist()
        answers = await resolve(host, TYPES.A, get_logger_adapter=get_logger_adapter)
    except DnsRecordDoesNotExist as a_error:
        try:
            answers = await resolve(host, TYPES.AAAA, get_logger_adapter=get_logger_adapter)
        except DnsError:
            raise HttpDnsError(f"no address found for {host!r}") from a_error
        if no_a_record is not None and not skip_a and answers:
            if len(no_a_record) >= 1024:
                no_a_record.clear()
            no_a_record[host] = now + NO_A_RECORD_SECONDS
    except DnsError as exc:
        raise HttpDnsError(f"DNS lookup of {host!r} failed: {exc!r}") from exc
    if not answers:
        raise HttpDnsError(f"no address found for {host!r}")
    return tuple(str(address) for address in answers)
