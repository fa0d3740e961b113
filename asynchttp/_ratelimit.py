"""Per-host politeness: a token bucket per origin (scheme, host, port).

:class:`RateLimit` is the value an ``Http`` takes; :class:`Buckets` holds one
bucket per origin on the Http's loop. Every send (first attempts, retries,
redirect hops, authentication resends) takes one token before it asks the pool
for a connection, so a server never sees more than ``burst`` requests at once and
``per_second`` on average from this Http, whatever the retries do.

A bucket is a reservation counter (no queue, no task): a send takes the next
token at once, possibly going into debt, and sleeps on the loop until that token
has been earned. Tokens are therefore handed out in the order sends asked for
them, and a send waiting for one blocks neither the loop nor sends to other hosts.
A send cancelled while it waits gives its token back; a token that let a request
go out is spent, whatever the outcome.
"""

from __future__ import annotations

import asyncio
import functools
import math
from dataclasses import dataclass
from typing import Callable, Optional

__all__ = ["RateLimit", "Buckets", "origin_key"]

_DEFAULT_PORTS = {"http": 80, "https": 443}


@dataclass(frozen=True)
class RateLimit:
    """A per-host request rate: ``per_second`` requests a second on average, at most
    ``burst`` at once (a token bucket of ``burst`` tokens refilled at ``per_second``).

    Applies separately to each origin (scheme, host, port) an Http talks to, and to
    every request that goes out: retries and redirect hops each take a token. Waiting
    for a token is not counted against the socket timeouts. It works alongside
    ``max_connections_per_host``, which bounds how many requests are in flight to a
    host at once; this bounds how often they start.
    """

    per_second: float = 10.0
    burst: int = 10

    def __post_init__(self) -> None:
        per_second = self.per_second
        if isinstance(per_second, bool) or not isinstance(per_second, (int, float)):
            raise TypeError("per_second must be a number, not %s" % type(per_second).__name__)
        if not math.isfinite(per_second) or per_second <= 0:
            raise ValueError("per_second must be a positive finite number, not %r" % (per_second,))
        burst = self.burst
        if isinstance(burst, bool) or not isinstance(burst, int):
            raise TypeError("burst must be an int, not %s" % type(burst).__name__)
        if burst < 1:
            raise ValueError("burst must be at least 1, not %r" % (burst,))
        object.__setattr__(self, "per_second", float(per_second))


@functools.lru_cache(maxsize=4096)
def origin_key(scheme: str, authority: str) -> tuple[str, str, int]:
    """(scheme, host, port) of an authority: user info dropped, host lower-cased,
    the scheme's default port filled in, so ``HOST`` and ``host:80`` share a bucket."""
    hostport = authority.rpartition("@")[2].lower()
    port = _DEFAULT_PORTS.get(scheme, 80)
    host = hostport
    colon = hostport.rfind(":")
    if colon > hostport.rfind("]"):
        digits = hostport[colon + 1 :]
        host = hostport[:colon]
        if digits.isdigit():
            port = int(digits)
    return scheme, host.rstrip(".") if not host.startswith("[") else host, port


class _Bucket:
    __slots__ = ("tokens", "updated")

    def __init__(self, tokens: float, now: float) -> None:
        self.tokens = tokens
        self.updated = now


class Buckets:
    """One token bucket per origin, for one Http, on its loop (loop thread only)."""

    # Buckets not used for this long are full again: forgotten (memory stays bounded
    # on a job over millions of hosts).
    FORGET_AFTER = 60.0

    def __init__(self, limit: RateLimit, clock: Optional[Callable[[], float]] = None) -> None:
        self.limit = limit
        self._clock = clock
        self._buckets: dict[tuple[str, str, int], _Bucket] = {}
        self._swept = 0.0

    def _now(self) -> float:
        clock = self._clock
        return clock() if clock is not None else asyncio.get_running_loop().time()

    def reserve(self, key: tuple[str, str, int]) -> float:
        """Take the next token of ``key``'s bucket: the seconds until it is earned
        (0.0: at once). Pure bookkeeping: the caller waits (see :meth:`take`)."""
        now = self._now()
        limit = self.limit
        bucket = self._buckets.get(key)
        if bucket is None:
            if now - self._swept > self.FORGET_AFTER:
                self._sweep(now)
            bucket = self._buckets[key] = _Bucket(float(limit.burst), now)
        else:
            bucket.tokens = min(float(limit.burst), bucket.tokens + (now - bucket.updated) * limit.per_second)
            bucket.updated = now
        bucket.tokens -= 1.0
        return 0.0 if bucket.tokens >= 0.0 else -bucket.tokens / limit.per_second

    def give_back(self, key: tuple[str, str, int]) -> None:
        """A reserved token was not used (its send was cancelled while waiting)."""
        bucket = self._buckets.get(key)
        if bucket is not None:
            bucket.tokens += 1.0

    async def take(self, scheme: str, authority: str) -> float:
        """Wait on the loop until a token of the origin's bucket is earned; the
        seconds waited (as computed when the token was reserved)."""
        key = origin_key(scheme, authority)
        wait = self.reserve(key)
        if wait > 0.0:
            try:
                await asyncio.sleep(wait)
            except BaseException:
                self.give_back(key)
                raise
        return wait

    def _sweep(self, now: float) -> None:
        self._swept = now
        rate, burst = self.limit.per_second, float(self.limit.burst)
        stale = [
            key
            for key, bucket in self._buckets.items()
            if bucket.tokens + (now - bucket.updated) * rate >= burst and now - bucket.updated > self.FORGET_AFTER
        ]
        for key in stale:
            del self._buckets[key]

    def __len__(self) -> int:
        return len(self._buckets)
