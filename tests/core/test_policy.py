"""The pool's decisions, tested without a loop or a socket.

``PoolPolicy`` reads only a few plain attributes of a connection and a waiter, so
these tests hand it small records and a clock that is just a number, and check
its answers: which idle connection it reuses, whom it serves and in what order,
what it expires and when, and that its counts always add up.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

import pytest

from asynchttp_lowhaio._policy import SLOT, PoolPolicy

A = ("http", "a.example", 80)
B = ("http", "b.example", 80)
ADDRS = ("10.0.0.1", "10.0.0.2")
_ids = iter(range(1_000_000))


@dataclass(eq=False)
class Conn:
    key: tuple
    peer: Optional[str] = "10.0.0.1"
    idle_since: float = 0.0
    usable: bool = True
    counted: bool = True
    name: int = field(default_factory=lambda: next(_ids))


@dataclass(eq=False)
class Waiter:
    key: tuple
    addresses: tuple = ADDRS
    gave_up: bool = False

    def done(self) -> bool:
        return self.gave_up


def policy(**limits: float) -> PoolPolicy:
    options = {
        "max_connections": 10,
        "max_connections_per_host": 10,
        "max_idle_connections": 10,
        "keep_alive_timeout": 15.0,
        **limits,
    }
    return PoolPolicy(**options)  # type: ignore[arg-type]


def opened(pol: PoolPolicy, key: tuple, **attrs: object) -> Conn:
    """A connection as the pool makes one: its slot counted first."""
    assert pol.try_reserve(key)
    return Conn(key, **attrs)  # type: ignore[arg-type]


def idle(pol: PoolPolicy, key: tuple, since: float = 0.0, **attrs: object) -> Conn:
    conn = opened(pol, key, idle_since=since, **attrs)
    assert pol.put_idle(conn) == []
    return conn


def check_books(pol: PoolPolicy) -> None:
    assert pol.idle_count == sum(len(stack) for stack in pol.idle.values())
    assert pol.total == sum(pol.per_host.values())
    assert all(count > 0 for count in pol.per_host.values())


# ----------------------------------------------------------------- which idle connection
def test_the_most_recently_used_connection_is_reused_first() -> None:
    pol = policy()
    first, second, third = (idle(pol, A, since=t) for t in (1.0, 2.0, 3.0))
    picks = [pol.take_idle(A, ADDRS, now=4.0)[0] for _ in range(3)]
    assert picks == [third, second, first]
    assert pol.take_idle(A, ADDRS, now=4.0) == (None, [])
    assert pol.total == 3 and pol.idle_count == 0  # reused connections keep their slots
    check_books(pol)


def test_idle_connections_belong_to_their_origin() -> None:
    pol = policy()
    on_a = idle(pol, A)
    assert pol.take_idle(B, ADDRS, now=1.0) == (None, [])
    assert pol.take_idle(A, ADDRS, now=1.0) == (on_a, [])


def test_a_peer_that_is_no_longer_a_current_address_is_retired() -> None:
    pol = policy()
    current = idle(pol, A, peer="10.0.0.2", since=1.0)
    stale = idle(pol, A, peer="10.0.0.9", since=2.0)  # the most recent, but DNS moved on
    conn, closures = pol.take_idle(A, ADDRS, now=3.0)
    assert conn is current
    assert closures == [(stale, "peer is no longer a current address of the host")]
    assert not stale.counted and pol.total == 1
    check_books(pol)


def test_expired_and_unusable_connections_are_retired_not_reused() -> None:
    pol = policy(keep_alive_timeout=10.0)
    old = idle(pol, A, since=0.0)
    good = idle(pol, A, since=5.0)
    broken = idle(pol, A, since=6.0, usable=False)
    conn, closures = pol.take_idle(A, ADDRS, now=10.0)
    assert conn is good
    assert closures == [(broken, "closed while idle")]
    conn, closures = pol.take_idle(A, ADDRS, now=10.0)
    assert conn is None and closures == [(old, "keep-alive timeout")]  # exactly 10 s idle: expired
    assert pol.total == 1  # only the reused one still holds a slot
    check_books(pol)


# --------------------------------------------------------------------------- limits
def test_a_new_connection_needs_room_in_both_limits() -> None:
    pol = policy(max_connections=3, max_connections_per_host=2)
    assert pol.try_reserve(A) and pol.try_reserve(A)
    assert not pol.try_reserve(A)  # the host is full
    assert pol.try_reserve(B)
    assert not pol.try_reserve(B)  # the total is full
    assert pol.per_host == {A: 2, B: 1}
    pol.unreserve(A)
    assert pol.per_host == {A: 1, B: 1} and pol.try_reserve(B)


def test_nobody_connects_past_a_waiter() -> None:
    pol = policy(max_connections=1)
    assert pol.try_reserve(A)
    pol.enqueue(Waiter(A))
    pol.unreserve(A)  # room again, but the waiter comes first
    assert not pol.try_reserve(A)
    grants, _ = pol.grant(now=0.0)
    assert [granted for _, granted in grants] == [SLOT]


def test_uncount_gives_a_slot_back_once() -> None:
    pol = policy()
    conn = opened(pol, A)
    pol.uncount(conn)
    pol.uncount(conn)
    assert pol.total == 0 and pol.per_host == {} and not conn.counted


def test_max_idle_connections_retires_the_oldest() -> None:
    pol = policy(max_idle_connections=2)
    oldest = idle(pol, B, since=1.0)
    idle(pol, A, since=2.0)
    newest = opened(pol, A, idle_since=3.0)
    assert pol.put_idle(newest) == [(oldest, "making room for another host")]
    assert pol.idle_count == 2 and pol.total == 2 and B not in pol.per_host
    check_books(pol)


# ------------------------------------------------------------------------ the queue
def test_waiters_are_served_oldest_first() -> None:
    pol = policy(max_connections=1)
    conn = opened(pol, A)
    waiters = [Waiter(A) for _ in range(3)]
    for waiter in waiters:
        pol.enqueue(waiter)
    assert pol.grant(now=0.0) == ([], [])  # nothing free yet
    for expected in waiters:
        conn.idle_since = 1.0
        assert pol.put_idle(conn) == []
        grants, closures = pol.grant(now=1.0)
        assert grants == [(expected, conn)] and closures == []
    assert not pol.waiters


def test_a_freed_slot_goes_to_the_first_waiter() -> None:
    pol = policy(max_connections=2)
    first, second = opened(pol, A), opened(pol, A)
    early, late = Waiter(A), Waiter(A)
    pol.enqueue(early)
    pol.enqueue(late)
    pol.uncount(first)
    assert pol.grant(now=0.0) == ([(early, SLOT)], [])
    pol.uncount(second)
    assert pol.grant(now=0.0) == ([(late, SLOT)], [])
    assert pol.total == 2


def test_waiters_that_gave_up_are_dropped_not_served() -> None:
    pol = policy(max_connections=1)
    conn = opened(pol, A)
    gone, alive = Waiter(A, gave_up=True), Waiter(A)
    pol.enqueue(gone)
    pol.enqueue(alive)
    assert pol.put_idle(conn) == []
    assert pol.grant(now=0.0) == ([(alive, conn)], [])
    assert not pol.waiters


def test_forget_takes_a_waiter_out_of_the_queue_once() -> None:
    pol = policy()
    waiter = Waiter(A)
    pol.enqueue(waiter)
    pol.forget(waiter)
    pol.forget(waiter)  # already gone: nothing happens
    assert not pol.waiters


def test_a_full_host_does_not_block_waiters_for_another() -> None:
    pol = policy(max_connections=5, max_connections_per_host=1)
    opened(pol, A)
    for_a, for_b = Waiter(A), Waiter(B)
    pol.enqueue(for_a)
    pol.enqueue(for_b)
    assert pol.grant(now=0.0) == ([(for_b, SLOT)], [])
    assert list(pol.waiters) == [for_a]


def test_once_the_total_is_full_nobody_behind_is_served() -> None:
    pol = policy(max_connections=1, max_connections_per_host=1)
    conn = opened(pol, A)
    for_a, for_b = Waiter(A), Waiter(B)
    pol.enqueue(for_a)
    pol.enqueue(for_b)
    assert pol.grant(now=0.0) == ([], [])
    assert list(pol.waiters) == [for_a, for_b]
    pol.uncount(conn)
    assert pol.grant(now=0.0) == ([(for_a, SLOT)], [])


def test_a_full_total_closes_another_hosts_idle_connection_for_a_waiter() -> None:
    pol = policy(max_connections=2)
    idle_a = idle(pol, A, since=1.0)
    idle(pol, A, since=2.0)
    for_b = Waiter(B)
    pol.enqueue(for_b)
    grants, closures = pol.grant(now=3.0)
    assert grants == [(for_b, SLOT)]
    assert closures == [(idle_a, "making room for another host")]  # the oldest goes
    assert pol.per_host == {A: 1, B: 1}
    check_books(pol)


def test_unfit_idle_connections_are_retired_and_the_waiter_gets_a_freed_slot() -> None:
    pol = policy(max_connections=2, keep_alive_timeout=10.0)
    stale = idle(pol, A, since=15.0, peer="10.9.9.9")
    old = idle(pol, A, since=0.0)
    waiter = Waiter(A)
    pol.enqueue(waiter)
    grants, closures = pol.grant(now=20.0)
    assert {reason for _, reason in closures} == {
        "keep-alive timeout",
        "peer is no longer a current address of the host",
    }
    assert {conn.name for conn, _ in closures} == {stale.name, old.name}
    assert grants == [(waiter, SLOT)]  # both slots freed: one is granted at once
    assert pol.total == 1
    check_books(pol)


# --------------------------------------------------------------------------- expiry
def test_expire_retires_what_outlived_keep_alive_and_says_when_to_look_again() -> None:
    pol = policy(keep_alive_timeout=10.0)
    old_a = idle(pol, A, since=0.0)
    young_a = idle(pol, A, since=4.0)
    young_b = idle(pol, B, since=6.0)
    closures, next_expiry = pol.expire(now=10.0)
    assert closures == [(old_a, "keep-alive timeout")]
    assert next_expiry == 14.0  # young_a's turn
    assert pol.idle == {A: [young_a], B: [young_b]} and pol.total == 2
    closures, next_expiry = pol.expire(now=16.0)
    assert [conn for conn, _ in closures] == [young_a, young_b] and next_expiry is None
    assert pol.total == 0 and pol.idle_count == 0
    check_books(pol)


def test_remove_idle_forgets_a_connection_but_leaves_its_slot_to_the_caller() -> None:
    pol = policy()
    conn = idle(pol, A)
    pol.remove_idle(conn)
    pol.remove_idle(conn)  # not idle any more: nothing happens
    assert pol.idle_count == 0 and pol.total == 1 and conn.counted


def test_drop_all_idle_retires_every_idle_connection() -> None:
    pol = policy()
    conns = [idle(pol, key) for key in (A, A, B)]
    closures = pol.drop_all_idle("pool closed")
    assert sorted(c.name for c, _ in closures) == sorted(c.name for c in conns)
    assert {reason for _, reason in closures} == {"pool closed"}
    assert pol.idle == {} and pol.idle_count == 0 and pol.total == 0


@pytest.mark.parametrize("seed", range(20))
def test_the_books_add_up_after_any_sequence_of_decisions(seed: int) -> None:
    import random

    rng = random.Random(seed)
    pol = policy(max_connections=4, max_connections_per_host=3, max_idle_connections=3, keep_alive_timeout=5.0)
    busy: list[Conn] = []
    now = 0.0
    for _ in range(300):
        now += rng.random()
        key = rng.choice((A, B))
        step = rng.randrange(6)
        if step == 0:
            conn, _ = pol.take_idle(key, ADDRS, now)
            if conn is None and pol.try_reserve(key):
                conn = Conn(key)
            if conn is not None:
                busy.append(conn)
        elif step == 1 and busy:
            conn = busy.pop(rng.randrange(len(busy)))
            conn.idle_since = now
            pol.put_idle(conn)
        elif step == 2 and busy:
            pol.uncount(busy.pop(rng.randrange(len(busy))))
        elif step == 3:
            pol.enqueue(Waiter(key, gave_up=rng.random() < 0.2))
        elif step == 4:
            grants, _ = pol.grant(now)
            busy.extend(Conn(w.key) if granted is SLOT else granted for w, granted in grants)
        else:
            pol.expire(now)
        check_books(pol)
        assert pol.total <= 4 and all(count <= 3 for count in pol.per_host.values())
        assert pol.idle_count <= 3
        assert pol.total == pol.idle_count + len(busy)
