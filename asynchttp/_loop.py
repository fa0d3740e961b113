"""The one background event-loop thread of the process, and the callback workers.

All network I/O of every ``Http`` runs on a single asyncio loop in a daemon thread
named ``asynchttp-loop``. It is started by the first request (never at import),
started afresh in a child process after ``fork`` (the parent's thread does not exist
there), and stopped at interpreter exit in the fixed order: refuse new work, cancel
in-flight work, close pools, stop the loop, join the thread, stop the workers.

The loop also stops when nobody uses it: an ``Http`` that has work or connections on
the loop holds it (``attach``) and lets go once closed and idle (``detach``). When the
last holder lets go and none comes back within ``idle_grace()`` seconds (the
``asynchttp.IDLE_GRACE`` setting), the loop stops and closes its selector and wake-up
socket pair, and its thread ends; the next request starts a fresh one. The stop
decision and every ``attach`` take one lock, so a request submitted while the grace
timer fires either keeps the loop or starts the next one: it is never lost.

User callbacks never run on the loop thread: each ``Http`` has a ``WorkerPool`` of
named daemon threads, started on demand and ended after ``idle_grace()`` seconds
without work. A worker that blocks on a promise (a callback that makes a
request and waits for it) is replaced by a spare thread for as long as it blocks, so
nested waits cannot starve the pool; the thread count then follows the nesting depth,
never the number of queued requests.

The loop is asyncio's own unless the user asks for uvloop (``asynchttp.use_uvloop()``,
or ``ASYNCHTTP_LOOP=uvloop`` in the environment): the choice is read each time a loop
thread starts, so it applies from the next start on (see ``loop_factory``).

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
import sys
import threading
import time
import weakref
from typing import Any, Callable, Iterator, Optional, Protocol

__all__ = [
    "get_loop",
    "attach",
    "detach",
    "idle_grace",
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
    "use_uvloop",
    "loop_factory",
    "loop_kind",
    "import_uvloop",
    "LOOP_ENV",
]

logger = logging.getLogger("asynchttp")

# Upper bound on how long interpreter exit may spend closing pools and joining threads.
EXIT_TIMEOUT = 2.0
LOOP_THREAD_NAME = "asynchttp-loop"
# The loop's default executor (run_in_executor(None, ...): file bodies, big decodes).
IO_THREAD_PREFIX = "asynchttp-io"

# Seconds an unused loop thread, callback worker or cache thread waits for new work
# before it ends, unless the asynchttp.IDLE_GRACE setting says otherwise (see idle_grace).
DEFAULT_IDLE_GRACE = 0.5


def idle_grace() -> float:
    """``asynchttp.IDLE_GRACE``, read at each use (as httplib2's module settings are), so
    that a test can lower it; ``DEFAULT_IDLE_GRACE`` before the package is imported."""
    value = getattr(sys.modules.get("asynchttp"), "IDLE_GRACE", DEFAULT_IDLE_GRACE)
    try:
        return max(0.0, float(value))
    except (TypeError, ValueError):
        return DEFAULT_IDLE_GRACE


class LoopClient(Protocol):
    """What an owner of loop-side state offers to exit and fork handling."""

    def _refuse_new_work(self) -> None: ...

    async def _aclose(self, cancel_pending: bool) -> None: ...

    def _stop_workers(self, wait: bool, timeout: Optional[float]) -> None: ...

    def _reset_after_fork(self) -> None: ...

    def _abandon(self) -> None: ...


class _LoopState:
    """The running loop, its thread, and who holds it (guarded by ``_start_lock``)."""

    __slots__ = ("loop", "thread", "users", "idle_since", "stop_timer")

    def __init__(self, loop: asyncio.AbstractEventLoop, thread: threading.Thread) -> None:
        self.loop = loop
        self.thread = thread
        self.users = 0  # attach() minus detach()
        self.idle_since = time.monotonic()
        self.stop_timer: Optional[asyncio.TimerHandle] = None


_state: Optional[_LoopState] = None
# Serialises starting a loop, attach/detach and the decision to stop an idle loop.
_start_lock = threading.Lock()
# Per thread: set on a loop thread only (its list of end-of-iteration calls). Per
# thread, not global, because a stopping loop thread may still be closing down while
# the next loop thread already runs.
_thread_local = threading.local()
_atexit_registered = False
# Loop threads started in this process so far (the restart count, for tests and benchmarks).
loop_starts = 0
# Every live client of this process, for exit and fork handling. Weak, so that an
# Http that is garbage-collected is not kept alive by the registry.
_clients: "weakref.WeakSet[Any]" = weakref.WeakSet()
# Loops inherited from a parent process: never closed nor collected in the child (their
# thread does not exist here; closing them would touch the parent's selector state).
_orphaned: list[Any] = []


def get_loop() -> asyncio.AbstractEventLoop:
    """The background loop, started on first use. Nobody holds it for this call: unless
    someone ``attach``es, it stops after the idle grace."""
    state = _state
    if state is not None:
        return state.loop
    with _start_lock:
        return _start_locked().loop


def attach() -> asyncio.AbstractEventLoop:
    """Hold the background loop (starting it if needed) until ``detach``: it does not
    stop while held. Any thread. Callbacks may be handed to the returned loop for as
    long as the hold lasts."""
    with _start_lock:
        state = _start_locked()
        state.users += 1
        return state.loop


def detach(loop: asyncio.AbstractEventLoop) -> None:
    """Let go of ``loop`` (held by ``attach``). The last one to let go arms the idle
    timer, which stops the loop unless someone attaches within the grace."""
    with _start_lock:
        state = _state
        if state is None or state.loop is not loop:
            return  # stopped by shutdown_all, or forked away: nothing to count
        state.users -= 1
        if state.users > 0:
            return
        state.idle_since = time.monotonic()
        if state.stop_timer is not None:
            return  # armed already: it looks at idle_since when it fires
        if getattr(_thread_local, "deferred", None) is not None and _running_loop() is loop:
            state.stop_timer = loop.call_later(idle_grace(), _stop_if_idle, state)
        else:  # call_later is for the loop's own thread; the check re-arms it there
            state.stop_timer = loop.call_soon_threadsafe(_stop_if_idle, state)  # type: ignore[assignment]


def _running_loop() -> Optional[asyncio.AbstractEventLoop]:
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None


def _stop_if_idle(state: _LoopState) -> None:
    """On the loop thread: stop the loop if nobody has held it for the whole grace.

    The check and the withdrawal of ``_state`` are one step under ``_start_lock``, which
    ``attach`` takes too: an attach that comes first keeps this loop; one that comes
    after finds no loop and starts the next. The stopping loop is not touched again.
    """
    global _state
    with _start_lock:
        state.stop_timer = None
        if _state is not state or state.users:
            return
        remaining = state.idle_since + idle_grace() - time.monotonic()
        if remaining > 0:  # held and let go again meanwhile: wait the rest of the grace
            state.stop_timer = state.loop.call_later(remaining, _stop_if_idle, state)
            return
        _state = None
    logger.debug("loop thread idle for %.3g s: stopping it", idle_grace())
    state.loop.stop()


def on_loop_thread() -> bool:
    """True when called from a background loop's thread."""
    return getattr(_thread_local, "deferred", None) is not None


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


# ---------------------------------------------------------------------------
# Which event loop: asyncio's own by default; uvloop only when asked for.

# The environment setting, read each time a loop thread starts: "asyncio" (or unset,
# or empty) or "uvloop".
LOOP_ENV = "ASYNCHTTP_LOOP"
LOOP_KINDS = ("asyncio", "uvloop")
# use_uvloop()'s choice: None until called, then it wins over the environment.
_chosen_kind: Optional[str] = None


def use_uvloop(enabled: bool = True) -> None:
    """Run asynchttp's loop thread on uvloop (``enabled=False``: asyncio's own loop).

    Applies from the next start of the loop thread: a loop already running keeps its
    kind until it stops (the idle grace after the last ``Http`` closes). Wins over
    ``ASYNCHTTP_LOOP``. Raises ImportError at once when uvloop is not installed
    (``pip install asynchttp[uvloop]``).
    """
    global _chosen_kind
    if enabled:
        import_uvloop()
    _chosen_kind = "uvloop" if enabled else "asyncio"


def loop_kind() -> str:
    """The kind of loop the next loop thread runs: ``use_uvloop``'s choice, else
    ``ASYNCHTTP_LOOP`` from the environment, else "asyncio"."""
    if _chosen_kind is not None:
        return _chosen_kind
    kind = os.environ.get(LOOP_ENV, "").strip().lower() or "asyncio"
    if kind not in LOOP_KINDS:
        raise ValueError(f"{LOOP_ENV}={kind!r}: expected one of {', '.join(LOOP_KINDS)}")
    return kind


def import_uvloop() -> Any:
    """The uvloop module; ImportError naming the extra when it is not installed."""
    try:
        import uvloop
    except ImportError as exc:
        raise ImportError(
            "asynchttp was asked to run on uvloop, which is not installed: pip install 'asynchttp[uvloop]'"
        ) from exc
    return uvloop


def loop_factory() -> Callable[[], asyncio.AbstractEventLoop]:
    """What makes the next loop thread's loop, per ``loop_kind()``."""
    if loop_kind() == "uvloop":
        return import_uvloop().new_event_loop  # type: ignore[no-any-return]
    return _Loop if _FLUSHES_EACH_ITERATION else asyncio.new_event_loop


def at_end_of_iteration(fn: Callable[..., Any], *args: Any) -> None:
    """On the loop thread: call ``fn(*args)`` once this iteration's callbacks have run.

    Waking a thread that waits on a promise is what costs (a futex wake, then the GIL
    changing hands); doing it once per iteration lets a reader that touches promises in
    order find the whole batch settled when it wakes, instead of waking once per answer.
    """
    deferred = _thread_local.deferred
    if not deferred and not _thread_local.flushes:
        asyncio.get_running_loop().call_soon(_run_deferred, deferred)
    deferred.append((fn, args))


def batch_pending() -> bool:
    """On the loop thread: whether other callbacks still run in this iteration, so
    that a wake-up postponed with ``at_end_of_iteration`` can share a batch. When
    none do (one request at a time), postponing only adds to the round trip."""
    ready = getattr(asyncio.get_running_loop(), "_ready", None)
    return ready is None or bool(ready) or bool(getattr(_thread_local, "deferred", None))


def _run_deferred(deferred: list[tuple[Callable[..., Any], tuple[Any, ...]]]) -> None:
    while deferred:
        batch = deferred[:]
        del deferred[:]
        for fn, args in batch:
            try:
                fn(*args)
            except Exception:
                logger.exception("asynchttp: a deferred call failed")


# Flushing the deferred calls right after each iteration's callbacks (before the next
# poll) costs no extra iteration; asyncio has no public hook for it, so where its
# private _run_once is missing (and on uvloop) the flush falls back to call_soon.
_FLUSHES_EACH_ITERATION = hasattr(asyncio.SelectorEventLoop, "_run_once")


class _Loop(asyncio.SelectorEventLoop):
    """The selector loop, flushing ``at_end_of_iteration`` calls after each iteration."""

    def __init__(self) -> None:
        super().__init__()
        self.deferred: list[tuple[Callable[..., Any], tuple[Any, ...]]] = []

    def _run_once(self) -> None:
        super()._run_once()  # type: ignore[misc]
        if self.deferred:
            _run_deferred(self.deferred)


def _start_locked() -> _LoopState:
    """The running loop, or a new one; ``_start_lock`` held by the caller."""
    global _state, _atexit_registered, loop_starts
    if _state is not None:
        return _state
    loop = loop_factory()()
    io_threads = thread_pool(None, IO_THREAD_PREFIX)
    loop.set_default_executor(io_threads)
    started = threading.Event()
    thread = threading.Thread(target=_run_loop, args=(loop, started, io_threads), name=LOOP_THREAD_NAME, daemon=True)
    state = _LoopState(loop, thread)
    thread.start()
    started.wait()
    if not _atexit_registered:
        atexit.register(_at_exit)
        _atexit_registered = True
    # Nobody holds it yet: the idle timer runs from the start (get_loop alone, or an
    # attach that never comes, must not keep it forever).
    state.stop_timer = loop.call_soon_threadsafe(_stop_if_idle, state)  # type: ignore[assignment]
    _state = state
    loop_starts += 1
    logger.debug("loop thread started (pid %d)", os.getpid())
    return state


def _run_loop(
    loop: asyncio.AbstractEventLoop, started: threading.Event, io_threads: concurrent.futures.ThreadPoolExecutor
) -> None:
    asyncio.set_event_loop(loop)
    deferred = getattr(loop, "deferred", None)
    _thread_local.flushes = deferred is not None  # _Loop flushes them after each iteration
    _thread_local.deferred = deferred if deferred is not None else []
    started.set()
    try:
        loop.run_forever()
    finally:
        deferred = _thread_local.deferred
        try:
            _run_deferred(deferred)  # a stop() between iterations must not lose a wake-up
            _cancel_leftover_tasks(loop)
            _run_deferred(deferred)
            loop.run_until_complete(loop.shutdown_asyncgens())
            # Joined here, not with loop.shutdown_default_executor(): from Python 3.12 on
            # that starts a thread, which fails while the interpreter exits.
            io_threads.shutdown(wait=True)
            _run_deferred(deferred)
        finally:
            loop.close()  # the selector (epoll) and the wake-up socket pair
            asyncio.set_event_loop(None)
            _thread_local.deferred = None
            logger.debug("loop thread ended (pid %d)", os.getpid())


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
            await asyncio.gather(*(c._aclose(cancel_pending=True) for c in clients), return_exceptions=True)

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
    global _state, _start_lock
    _start_lock = threading.Lock()
    if _state is not None:
        _orphaned.append(_state)
    _state = None
    # The forking thread may have been a loop thread; in the child it is not.
    _thread_local.deferred = None
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

    Threads start lazily, one per submission that finds none idle, and end after
    ``idle_grace()`` seconds without work (or at ``stop``), so an idle pool holds no
    thread. ``blocking_section`` lets a worker about to block on a promise hand its
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
        with self._lock:
            # Queued under the lock that stop() takes to mark the pool stopped: work
            # accepted here is ahead of the threads' stop markers, never behind them.
            stopped = self._stopped
            if not stopped:
                self._unclaimed += 1
                if self._unclaimed > self._idle and len(self._threads) - self._blocked < self.max_workers:
                    self._spawn()
                self._queue.put((fn, args))
        if stopped:
            # Late work (a done-callback of a promise settled during shutdown) still
            # must not run on the loop thread: give it a thread of its own.
            start_thread(fn, *args, name=self.name + "-late")

    def _spawn(self) -> None:
        thread = threading.Thread(target=self._work, name="%s-%d" % (self.name, next(self._names)), daemon=True)
        self._threads.add(thread)
        thread.start()

    def is_current(self) -> bool:
        """Whether the calling thread is one of this pool's workers."""
        return getattr(_worker_local, "pool", None) is self

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
                try:
                    item = get(timeout=idle_grace())
                except queue.Empty:
                    if self._retire_when_idle():
                        return
                    continue
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

    def _retire_when_idle(self) -> bool:
        """After a wait without work: end this thread (True) unless a call was just
        submitted that counts on it being idle. Decided under the lock ``submit`` takes
        to count idle threads, so a submission either sees this thread gone (and starts
        one) or keeps it."""
        with self._lock:
            self._idle -= 1
            if self._unclaimed > self._idle:
                self._idle += 1  # stays: the next get() takes that call
                return False
            self._threads.discard(threading.current_thread())
            return True

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


def blocking_pool() -> "Optional[WorkerPool]":
    """``blocking_section``'s check without the context manager (a promise's wait runs
    it per request): raises on the loop thread; the worker pool whose thread is about
    to block, or None when the caller is not one of its workers."""
    if on_loop_thread():
        raise RuntimeError("waiting on an asynchttp promise from the event-loop thread would deadlock")
    return getattr(_worker_local, "pool", None)


@contextlib.contextmanager
def blocking_section() -> Iterator[None]:
    """Wrap a wait on a promise: refuses to block the loop thread and keeps a worker
    pool staffed while one of its threads waits."""
    if on_loop_thread():
        raise RuntimeError("waiting on an asynchttp promise from the event-loop thread would deadlock")
    pool = getattr(_worker_local, "pool", None)
    if pool is None:
        yield
        return
    with pool._blocking():
        yield
