"""The one background event-loop thread of the process, and the callback workers.

All network I/O of every ``Http`` runs on a single asyncio loop in a daemon thread
named ``asynchttp-loop``. It is started by the first request (never at import),
started afresh in a child process after ``fork`` (the parent's thread does not exist
there), and stopped at interpreter exit in the fixed order: refuse new work, cancel
in-flight work, close pools, stop the loop, join the thread, stop the workers.

User callbacks never run on the loop thread: each ``Http`` has a ``WorkerPool`` of
named daemon threads. A worker that blocks on a promise (a callback that makes a
request and waits for it) is replaced by a spare thread for as long as it blocks, so
nested waits cannot starve the pool; the thread count then follows the nesting depth,
never the number of queued requests.

Loop-side owners (one per ``Http``) register here with ``register_client`` so that
exit and fork can reach them; they implement the ``LoopClient`` protocol.
"""

from __future__ import annotations

import asyncio
import atexit
import concurrent.futures
import contextlib
import itertools
import logging
import os
import queue
import threading
import time
import weakref
from typing import Any, Callable, Iterator, Optional, Protocol

__all__ = [
    "get_loop",
    "on_loop_thread",
    "at_end_of_iteration",
    "blocking_section",
    "WorkerPool",
    "register_client",
    "shutdown_all",
    "LoopClient",
    "EXIT_TIMEOUT",
    "start_thread",
    "thread_pool",
]

logger = logging.getLogger("asynchttp")

# Upper bound on how long interpreter exit may spend closing pools and joining threads.
EXIT_TIMEOUT = 2.0
LOOP_THREAD_NAME = "asynchttp-loop"
# The loop's default executor (run_in_executor(None, ...): file bodies, big decodes).
IO_THREAD_PREFIX = "asynchttp-io"


class LoopClient(Protocol):
    """What an owner of loop-side state offers to exit and fork handling."""

    def _refuse_new_work(self) -> None: ...

    async def _aclose(self, cancel_pending: bool) -> None: ...

    def _stop_workers(self, wait: bool, timeout: Optional[float]) -> None: ...

    def _reset_after_fork(self) -> None: ...

    def _abandon(self) -> None: ...


class _LoopState:
    """The running loop and its thread."""

    __slots__ = ("loop", "thread", "ident")

    def __init__(self, loop: asyncio.AbstractEventLoop, thread: threading.Thread) -> None:
        self.loop = loop
        self.thread = thread
        self.ident: Optional[int] = None


_state: Optional[_LoopState] = None
_start_lock = threading.Lock()
_loop_ident: Optional[int] = None
_atexit_registered = False
# Every live client of this process, for exit and fork handling. Weak, so that an
# Http that is garbage-collected is not kept alive by the registry.
_clients: "weakref.WeakSet[Any]" = weakref.WeakSet()
# Loops inherited from a parent process: never closed nor collected in the child (their
# thread does not exist here; closing them would touch the parent's selector state).
_orphaned: list[Any] = []


def get_loop() -> asyncio.AbstractEventLoop:
    """The background loop, started on first use."""
    state = _state
    if state is not None:
        return state.loop
    return _start().loop


def on_loop_thread() -> bool:
    """True when called from the background loop's thread."""
    return _loop_ident is not None and threading.get_ident() == _loop_ident


# ---------------------------------------------------------------------------
# Every thread asynchttp starts is started here, named (thread names show in logs
# and in py-spy/faulthandler dumps) and daemon (exit never waits on user code).


def start_thread(target: Callable[..., Any], *args: Any, name: str) -> threading.Thread:
    """Start ``target(*args)`` in a named daemon thread."""
    thread = threading.Thread(target=target, args=args, name=name, daemon=True)
    thread.start()
    return thread


def thread_pool(max_workers: Optional[int], name: str) -> concurrent.futures.ThreadPoolExecutor:
    """A thread pool whose threads are named ``<name>_<n>``."""
    return concurrent.futures.ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix=name)


# Calls postponed to the end of the current loop iteration (loop thread only).
_deferred: list[tuple[Callable[..., Any], tuple[Any, ...]]] = []


def at_end_of_iteration(fn: Callable[..., Any], *args: Any) -> None:
    """On the loop thread: call ``fn(*args)`` once this iteration's callbacks have run.

    Waking a thread that waits on a promise is what costs (a futex wake, then the GIL
    changing hands); doing it once per iteration lets a reader that touches promises in
    order find the whole batch settled when it wakes, instead of waking once per answer.
    """
    if not _deferred and not _FLUSHES_EACH_ITERATION:
        asyncio.get_running_loop().call_soon(_run_deferred)
    _deferred.append((fn, args))


def batch_pending() -> bool:
    """On the loop thread: whether other callbacks still run in this iteration, so
    that a wake-up postponed with ``at_end_of_iteration`` can share a batch. When
    none do (one request at a time), postponing only adds to the round trip."""
    ready = getattr(asyncio.get_running_loop(), "_ready", None)
    return ready is None or bool(ready) or bool(_deferred)


def _run_deferred() -> None:
    while _deferred:
        batch = _deferred[:]
        del _deferred[:]
        for fn, args in batch:
            try:
                fn(*args)
            except Exception:
                logger.exception("asynchttp: a deferred call failed")


# Flushing the deferred calls right after each iteration's callbacks (before the next
# poll) costs no extra iteration; asyncio has no public hook for it, so where its
# private _run_once is missing the flush falls back to call_soon (one iteration later).
_FLUSHES_EACH_ITERATION = hasattr(asyncio.SelectorEventLoop, "_run_once")


class _Loop(asyncio.SelectorEventLoop):  # type: ignore[misc,valid-type]
    """The selector loop, flushing ``at_end_of_iteration`` calls after each iteration."""

    def _run_once(self) -> None:
        super()._run_once()  # type: ignore[misc]
        if _deferred:
            _run_deferred()


def _start() -> _LoopState:
    global _state, _atexit_registered
    with _start_lock:
        if _state is not None:
            return _state
        loop = _Loop() if _FLUSHES_EACH_ITERATION else asyncio.new_event_loop()
        loop.set_default_executor(thread_pool(None, IO_THREAD_PREFIX))
        started = threading.Event()
        thread = threading.Thread(
            target=_run_loop, args=(loop, started), name=LOOP_THREAD_NAME, daemon=True
        )
        state = _LoopState(loop, thread)
        thread.start()
        started.wait()
        state.ident = thread.ident
        if not _atexit_registered:
            atexit.register(_at_exit)
            _atexit_registered = True
        _state = state
        logger.debug("loop thread started (pid %d)", os.getpid())
        return state


def _run_loop(loop: asyncio.AbstractEventLoop, started: threading.Event) -> None:
    global _loop_ident
    asyncio.set_event_loop(loop)
    _loop_ident = threading.get_ident()
    started.set()
    try:
        loop.run_forever()
    finally:
        try:
            _run_deferred()  # a stop() between iterations must not lose a wake-up
            _cancel_leftover_tasks(loop)
            _run_deferred()
            loop.run_until_complete(loop.shutdown_asyncgens())
        finally:
            loop.close()
            if _loop_ident == threading.get_ident():
                _loop_ident = None


def _cancel_leftover_tasks(loop: asyncio.AbstractEventLoop) -> None:
    tasks = [t for t in asyncio.all_tasks(loop) if not t.done()]
    for task in tasks:
        task.cancel()
    if tasks:
        loop.run_until_complete(asyncio.wait(tasks, timeout=EXIT_TIMEOUT))


def register_client(client: Any) -> None:
    _clients.add(client)


def shutdown_all(timeout: float = EXIT_TIMEOUT) -> None:
    """Stop everything, in the fixed order; bounded by about ``timeout`` seconds."""
    global _state
    clients = list(_clients)
    for client in clients:
        client._refuse_new_work()
    with _start_lock:
        state, _state = _state, None
    if state is not None and state.thread.is_alive() and not on_loop_thread():
        async def close_all() -> None:
            await asyncio.gather(
                *(c._aclose(cancel_pending=True) for c in clients), return_exceptions=True
            )

        try:
            done = asyncio.run_coroutine_threadsafe(close_all(), state.loop)
            done.result(timeout)
        except Exception:  # a timeout or a closed loop: exit must go on regardless
            logger.debug("closing pools at shutdown did not finish", exc_info=True)
        with contextlib.suppress(RuntimeError):
            state.loop.call_soon_threadsafe(state.loop.stop)
        state.thread.join(timeout)
    for client in clients:
        client._abandon()  # whatever the bounded close did not reach: cancelled, not left hanging
    # Workers run what is queued, then end; one short deadline for all of them (a
    # callback stuck in user code must not hold the exit up: they are daemons).
    deadline = time.monotonic() + min(timeout, 0.5)
    for client in clients:
        client._stop_workers(wait=False, timeout=None)
    for client in clients:
        client._stop_workers(wait=True, timeout=max(0.0, deadline - time.monotonic()))


def _at_exit() -> None:
    shutdown_all()


def _after_fork_in_child() -> None:
    global _state, _loop_ident, _start_lock
    _start_lock = threading.Lock()
    if _state is not None:
        _orphaned.append(_state)
    _state = None
    _loop_ident = None
    del _deferred[:]
    for client in list(_clients):
        client._reset_after_fork()


os.register_at_fork(after_in_child=_after_fork_in_child)


# ---------------------------------------------------------------------------
# Callback workers

_worker_local = threading.local()
_pool_ids = itertools.count(1)
_STOP = object()
_RETIRE = object()


class WorkerPool:
    """Up to ``max_workers`` named daemon threads running submitted calls in order.

    Threads start lazily, one per submission that finds none idle, and stay until
    ``stop``. ``blocking_section`` lets a worker about to block on a promise hand its
    slot to a spare thread.
    """

    def __init__(self, max_workers: int, name: str) -> None:
        if max_workers < 1:
            raise ValueError("max_workers must be at least 1")
        self.max_workers = max_workers
        self.name = name
        self._queue: "queue.SimpleQueue[Any]" = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._threads: set[threading.Thread] = set()
        self._idle = 0
        self._unclaimed = 0
        self._blocked = 0
        self._stopped = False
        self._names = itertools.count(1)

    def submit(self, fn: Callable[..., Any], *args: Any) -> None:
        if self._stopped:
            # Late work (a done-callback of a promise settled during shutdown) still
            # must not run on the loop thread: give it a thread of its own.
            start_thread(fn, *args, name=self.name + "-late")
            return
        with self._lock:
            self._unclaimed += 1
            if self._unclaimed > self._idle and len(self._threads) - self._blocked < self.max_workers:
                self._spawn()
        self._queue.put((fn, args))

    def _spawn(self) -> None:
        thread = threading.Thread(
            target=self._work, name="%s-%d" % (self.name, next(self._names)), daemon=True
        )
        self._threads.add(thread)
        thread.start()

    def thread_count(self) -> int:
        return len(self._threads)

    def _work(self) -> None:
        _worker_local.pool = self
        me = threading.current_thread()
        get = self._queue.get
        try:
            while True:
                with self._lock:
                    self._idle += 1
                item = get()
                with self._lock:
                    self._idle -= 1
                    if item is _STOP:
                        return
                    if item is _RETIRE:
                        if len(self._threads) - self._blocked > self.max_workers:
                            return
                        continue
                    self._unclaimed -= 1
                fn, args = item
                try:
                    fn(*args)
                except BaseException:  # a worker must survive anything a call does
                    logger.exception("asynchttp worker call failed")
                del item, fn, args
        finally:
            with self._lock:
                self._threads.discard(me)

    @contextlib.contextmanager
    def _blocking(self) -> Iterator[None]:
        with self._lock:
            self._blocked += 1
            if not self._stopped and len(self._threads) - self._blocked < self.max_workers:
                self._spawn()
        try:
            yield
        finally:
            with self._lock:
                self._blocked -= 1
                surplus = len(self._threads) - self._blocked > self.max_workers
            if surplus:
                self._queue.put(_RETIRE)

    def stop(self, wait: bool = True, timeout: Optional[float] = None) -> None:
        """Run what is queued, then end every thread; join them unless ``wait`` is False."""
        with self._lock:
            first = not self._stopped
            self._stopped = True
            threads = list(self._threads)
        if first:
            for _ in threads:
                self._queue.put(_STOP)
        if wait:
            deadline = None if timeout is None else time.monotonic() + timeout
            me = threading.current_thread()
            for thread in threads:
                if thread is not me:
                    thread.join(None if deadline is None else max(0.0, deadline - time.monotonic()))

    def _reset_after_fork(self) -> None:
        # The threads do not exist in the child; what was queued belongs to the parent.
        self._queue = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._threads = set()
        self._idle = 0
        self._unclaimed = 0
        self._blocked = 0


@contextlib.contextmanager
def blocking_section() -> Iterator[None]:
    """Wrap a wait on a promise: refuses to block the loop thread and keeps a worker
    pool staffed while one of its threads waits."""
    if on_loop_thread():
        raise RuntimeError(
            "waiting on an asynchttp promise from the event-loop thread would deadlock"
        )
    pool = getattr(_worker_local, "pool", None)
    if pool is None:
        yield
        return
    with pool._blocking():
        yield
