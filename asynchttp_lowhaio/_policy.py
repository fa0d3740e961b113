"""The pool's decisions, with no I/O: which idle connection, grant or queue, expire.

``PoolPolicy`` holds the pool's books (idle connections per origin, connection
counts in total and per origin, the FIFO queue of waiters) and answers the
pool's questions from them alone.  It never touches a socket, a loop, a timer
or a future: the time is passed in, and each decision that ends connections
returns them as ``(connection, reason)`` pairs for the pool to close.  So the
policy is tested with plain objects and numbers, as httpcore tests its pool.

A retired connection gives its slot back at once, inside the decision, so a
later step of the same decision (the next waiter) can use the freed slot.

The rules:

- reuse the most recently used idle connection of the origin (LIFO: the
  warmest one, and the others expire sooner), but only one that is still
  usable, younger than ``keep_alive_timeout``, and whose peer is still one of
  the host's current DNS addresses;
- a new request may connect at once only if nobody waits (no queue jumping)
  and both limits have room;
- when something frees up, waiters are served oldest first; a waiter whose
  host is full does not block waiters for other hosts, but once the total is
  full nobody behind it can be served either; when the total is full but the
  waiter's host is not, the oldest idle connection (of any host) is closed to
  make room;
- at most ``max_idle_connections`` idle connections: the oldest goes first.
"""

from __future__ import annotations

from collections import deque
from typing import Deque, Dict, Generic, Hashable, List, Optional, Protocol, Sequence, Tuple, TypeVar, Union

__all__ = ["PoolPolicy", "SLOT", "Pooled", "Waiting"]

Key = Hashable  # (scheme, host, port), or with a tunnel's key added


class Pooled(Protocol):
    """What the policy reads of a connection (``counted`` it also clears)."""

    counted: bool  # holds one of the pool's slots

    @property
    def key(self) -> Key: ...

    @property
    def peer(self) -> Optional[str]: ...  # the address connected to

    @property
    def idle_since(self) -> float: ...

    @property
    def usable(self) -> bool: ...  # open, and nothing unread waits on it


class Waiting(Protocol):
    """A request queued for a connection."""

    @property
    def key(self) -> Key: ...

    @property
    def addresses(self) -> Sequence[str]: ...  # the host's current addresses

    def done(self) -> bool: ...  # cancelled or timed out: skip it


class _Slot:
    """A granted right to open one new connection (the slot is already counted)."""

    def __repr__(self) -> str:
        return "SLOT"


SLOT = _Slot()

C = TypeVar("C", bound=Pooled)
W = TypeVar("W", bound=Waiting)
Closures = List[Tuple[C, str]]  # connections the pool must close, and why


class PoolPolicy(Generic[C, W]):
    """The books of one pool and the decisions taken from them."""

    __slots__ = (
        "max_connections",
        "max_per_host",
        "max_idle",
        "keep_alive_timeout",
        "idle",
        "idle_count",
        "total",
        "per_host",
        "waiters",
    )

    def __init__(
        self,
        *,
        max_connections: int,
        max_connections_per_host: int,
        max_idle_connections: int,
        keep_alive_timeout: float,
    ) -> None:
        self.max_connections = max_connections
        self.max_per_host = max_connections_per_host
        self.max_idle = max_idle_connections
        self.keep_alive_timeout = keep_alive_timeout
        self.idle: Dict[Key, List[C]] = {}  # per origin, most recent last
        self.idle_count = 0
        self.total = 0  # connections open or being opened
        self.per_host: Dict[Key, int] = {}
        self.waiters: Deque[W] = deque()

    def __repr__(self) -> str:
        return (
            f"<PoolPolicy total={self.total} idle={self.idle_count} "
            f"waiting={len(self.waiters)} per_host={self.per_host}>"
        )

    # ------------------------------------------------------------- slots
    def has_slot(self, key: Key) -> bool:
        return self.total < self.max_connections and self.per_host.get(key, 0) < self.max_per_host

    def try_reserve(self, key: Key) -> bool:
        """Count a new connection to ``key`` now, if nobody waits and the limits allow."""
        if self.waiters or not self.has_slot(key):
            return False
        self.reserve(key)
        return True

    def reserve(self, key: Key) -> None:
        self.total += 1
        self.per_host[key] = self.per_host.get(key, 0) + 1

    def unreserve(self, key: Key) -> None:
        self.total -= 1
        count = self.per_host[key] - 1
        if count:
            self.per_host[key] = count
        else:
            del self.per_host[key]

    def uncount(self, conn: C) -> None:
        """Give back ``conn``'s slot, once however often it is called."""
        if conn.counted:
            conn.counted = False
            self.unreserve(conn.key)

    # -------------------------------------------------------------- idle
    def take_idle(self, key: Key, addresses: Sequence[str], now: float) -> Tuple[Optional[C], Closures[C]]:
        """The idle connection to reuse for ``key`` (or None), and those found unfit on the way."""
        closures: Closures[C] = []
        stack = self.idle.get(key)
        while stack:
            conn = stack.pop()
            self.idle_count -= 1
            reason = self._unfit(conn, addresses, now)
            if reason is None:
                return conn, closures
            self._retire(conn, reason, closures)
        return None, closures

    def _unfit(self, conn: C, addresses: Sequence[str], now: float) -> Optional[str]:
        if not conn.usable:
            return "closed while idle"
        if now - conn.idle_since >= self.keep_alive_timeout:
            return "keep-alive timeout"
        if conn.peer not in addresses:
            return "peer is no longer a current address of the host"
        return None

    def put_idle(self, conn: C) -> Closures[C]:
        """Keep ``conn`` for reuse; over ``max_idle_connections``, the oldest idle one goes."""
        self.idle.setdefault(conn.key, []).append(conn)
        self.idle_count += 1
        closures: Closures[C] = []
        if self.idle_count > self.max_idle:
            self._retire_oldest_idle(closures)
        return closures

    def remove_idle(self, conn: C) -> None:
        """Forget ``conn`` as idle (it was closed or poisoned); its slot is the caller's."""
        stack = self.idle.get(conn.key)
        if stack and conn in stack:
            stack.remove(conn)
            self.idle_count -= 1

    def expire(self, now: float) -> Tuple[Closures[C], Optional[float]]:
        """Idle connections past ``keep_alive_timeout``, and when the next one expires."""
        closures: Closures[C] = []
        earliest: Optional[float] = None
        for stack in self.idle.values():
            for conn in list(stack):
                if now - conn.idle_since >= self.keep_alive_timeout:
                    stack.remove(conn)
                    self.idle_count -= 1
                    self._retire(conn, "keep-alive timeout", closures)
                elif earliest is None or conn.idle_since < earliest:
                    earliest = conn.idle_since
        return closures, None if earliest is None else earliest + self.keep_alive_timeout

    def drop_all_idle(self, reason: str) -> Closures[C]:
        closures: Closures[C] = []
        for stack in self.idle.values():
            for conn in stack:
                self._retire(conn, reason, closures)
        self.idle.clear()
        self.idle_count = 0
        return closures

    def _retire_oldest_idle(self, closures: Closures[C]) -> None:
        oldest: Optional[C] = None
        for stack in self.idle.values():
            if stack and (oldest is None or stack[0].idle_since < oldest.idle_since):
                oldest = stack[0]
        if oldest is not None:
            self.idle[oldest.key].remove(oldest)
            self.idle_count -= 1
            self._retire(oldest, "making room for another host", closures)

    def _retire(self, conn: C, reason: str, closures: Closures[C]) -> None:
        self.uncount(conn)
        closures.append((conn, reason))

    # ----------------------------------------------------------- waiters
    def enqueue(self, waiter: W) -> None:
        self.waiters.append(waiter)

    def forget(self, waiter: W) -> None:
        """Take a waiter that gave up out of the queue (it may be gone already)."""
        try:
            self.waiters.remove(waiter)
        except ValueError:
            pass

    def grant(self, now: float) -> Tuple[List[Tuple[W, Union[C, _Slot]]], Closures[C]]:
        """Hand what is free to the waiters, oldest first: ``(waiter, connection or SLOT)`` pairs."""
        grants: List[Tuple[W, Union[C, _Slot]]] = []
        closures: Closures[C] = []
        if not self.waiters:
            return grants, closures
        for waiter in list(self.waiters):
            if waiter.done():
                self.waiters.remove(waiter)
                continue
            granted = self._grant_one(waiter, now, closures)
            if granted is not None:
                self.waiters.remove(waiter)
                grants.append((waiter, granted))
            elif self.total >= self.max_connections:
                break  # nothing frees up for anyone behind this waiter either
        return grants, closures

    def _grant_one(self, waiter: W, now: float, closures: Closures[C]) -> Optional[Union[C, _Slot]]:
        key = waiter.key
        conn, unfit = self.take_idle(key, waiter.addresses, now)
        closures.extend(unfit)
        if conn is not None:
            return conn
        if self.total >= self.max_connections and self.per_host.get(key, 0) < self.max_per_host:
            self._retire_oldest_idle(closures)
        if self.has_slot(key):
            self.reserve(key)
            return SLOT
        return None
