"""Promises: the per-request Future, and the response/content proxies over it.

``RequestFuture`` IS a ``concurrent.futures.Future`` (so ``wait``, ``as_completed``,
``add_done_callback`` and ``asyncio.wrap_future`` work unchanged) with three changes
that matter at 100,000 queued requests:

* its ``threading.Condition`` (1.6 KB, most of a plain Future's size) is created only
  when someone actually waits, adds a callback or cancels; settling a future nobody
  waits on is a few attribute stores under a short global lock;
* reading a finished future takes no lock;
* a blocking ``result()``/``exception()``/``wait()`` sleeps on one bare lock that the
  settle releases (no condition, no waiter list: the cheapest thread hand-off there
  is); ``concurrent.futures.wait``/``as_completed`` keep using the condition;
* done-callbacks of a future settled on the loop thread are handed to the request's
  callback workers, never run on the loop thread.

``ResponsePromise`` and ``ContentPromise`` stand for ``httplib2.Response`` and ``bytes``:
every dunder is written out (Python 3 never routes them through ``__getattr__``) and
``__class__`` resolves, so ``isinstance(content, bytes)`` holds. Touching one blocks
until the request is done and raises its error, if any.
"""

from __future__ import annotations

import codecs
import copy
import logging
import operator
import os
import sys
import threading
from concurrent.futures import CancelledError, Future, InvalidStateError
from concurrent.futures import TimeoutError as FutureTimeoutError
from concurrent.futures import _base as _futures_base
from typing import Any, Callable, Iterator, Optional, SupportsIndex

from asynchttp_lowhaio import without_userinfo

from . import _loop

__all__ = ["RequestFuture", "Promise", "ResponsePromise", "ContentPromise", "charset_of"]

logger = logging.getLogger("asynchttp")

PENDING = _futures_base.PENDING
RUNNING = _futures_base.RUNNING
CANCELLED = _futures_base.CANCELLED
CANCELLED_AND_NOTIFIED = _futures_base.CANCELLED_AND_NOTIFIED
FINISHED = _futures_base.FINISHED
_CANCELLED_STATES = (CANCELLED, CANCELLED_AND_NOTIFIED)
_DONE_STATES = (CANCELLED, CANCELLED_AND_NOTIFIED, FINISHED)

# Guards the lazy creation of a future's condition against a settle from another
# thread; held for a handful of bytecodes only.
_create_lock = threading.Lock()


def _reinit_lock_in_child() -> None:
    global _create_lock
    _create_lock = threading.Lock()


os.register_at_fork(after_in_child=_reinit_lock_in_child)


class RequestFuture(Future[Any]):
    """A Future whose condition exists only once somebody needs it."""

    def __init__(self) -> None:  # no super().__init__(): it would build the condition
        self._cond: Optional[threading.Condition] = None
        self._state = PENDING
        self._result: Any = None
        self._exception: Optional[BaseException] = None
        self._waiters: list[Any] = []
        self._done_callbacks: list[Callable[[Future[Any]], Any]] = []
        # Held while blocking readers wait; released once, when the future is done.
        # Each reader that gets it releases it again at once, so it wakes them all.
        self._wake: Optional[Any] = None

    @property
    def _condition(self) -> threading.Condition:  # type: ignore[override]
        cond = self._cond
        if cond is None:
            with _create_lock:
                cond = self._cond
                if cond is None:
                    cond = self._cond = threading.Condition()
        return cond

    # -- reading ------------------------------------------------------------

    def done(self) -> bool:
        return self._state in _DONE_STATES

    def cancelled(self) -> bool:
        return self._state in _CANCELLED_STATES

    def running(self) -> bool:
        return self._state == RUNNING

    def result(self, timeout: Optional[float] = None) -> Any:
        if self._state == FINISHED:
            exc = self._exception
            if exc is not None:
                try:
                    raise exc
                finally:
                    del exc, self
            return self._result
        self._wait_done(timeout)
        return self._outcome()

    def exception(self, timeout: Optional[float] = None) -> Optional[BaseException]:
        if self._state == FINISHED:
            return self._exception
        self._wait_done(timeout)
        if self._state in _CANCELLED_STATES:
            raise CancelledError()
        return self._exception

    def wait(self, timeout: Optional[float] = None) -> bool:
        """Block until done (or ``timeout``); True if done. Never raises the request's error."""
        if self._state in _DONE_STATES:
            return True
        try:
            self._wait_done(timeout)
        except FutureTimeoutError:
            return False
        return True

    def _wait_done(self, timeout: Optional[float]) -> None:
        """Block until the future is done; concurrent.futures.TimeoutError after ``timeout`` seconds."""
        pool = _loop.blocking_pool()  # first: never on the loop thread, even if done
        with _create_lock:
            if self._state in _DONE_STATES:
                return
            wake = self._wake
            if wake is None:
                wake = self._wake = threading.Lock()
                wake.acquire()
        self._log_wait()
        if pool is None:
            got = wake.acquire() if timeout is None else wake.acquire(timeout=max(0.0, timeout))
        else:
            with pool._blocking():  # a worker that blocks: its pool starts a spare
                got = wake.acquire() if timeout is None else wake.acquire(timeout=max(0.0, timeout))
        if not got:
            raise FutureTimeoutError()
        wake.release()  # pass it on: the next reader waiting on it wakes too

    def _outcome(self) -> Any:
        """The result of a done future, as ``Future.result`` gives it."""
        state = self._state
        if state in _CANCELLED_STATES:
            raise CancelledError()
        exc = self._exception
        if exc is not None:
            try:
                raise exc
            finally:
                del exc, self
        return self._result

    def _wake_readers(self) -> None:
        """The future is done: release the readers blocked in ``_wait_done``."""
        with _create_lock:
            wake, self._wake = self._wake, None
        if wake is not None:
            wake.release()

    def _log_wait(self) -> None:
        """Hook: log that a reader is about to block."""

    # -- settling -----------------------------------------------------------

    def _settle(self, result: Any, exception: Optional[BaseException], defer: bool = True) -> bool:
        """Finish with ``result`` or ``exception``; False if already cancelled or finished.

        On the loop thread, a future somebody waits on is finished at the end of the
        loop iteration (see ``_loop.at_end_of_iteration``); True is then returned
        before it is known whether a cancel() gets there first.
        """
        with _create_lock:
            if self._cond is None and self._wake is None:
                # Nobody waits, nobody registered a callback: nobody to notify.
                if self._state in _DONE_STATES:
                    return False
                self._result = result
                self._exception = exception
                self._state = FINISHED
                return True
        if self._state in _DONE_STATES:
            return False
        if defer and _loop.on_loop_thread() and _loop.batch_pending():
            _loop.at_end_of_iteration(self._settle_and_notify, result, exception)
            return True
        return self._settle_and_notify(result, exception)

    def _settle_and_notify(self, result: Any, exception: Optional[BaseException]) -> bool:
        with _create_lock:
            if self._cond is None:  # only blocking readers: no condition, no callbacks
                if self._state in _DONE_STATES:
                    return False
                self._result = result
                self._exception = exception
                self._state = FINISHED
                wake, self._wake = self._wake, None
            else:
                wake = None
        if wake is not None:
            wake.release()
            return True
        try:
            if exception is None:
                Future.set_result(self, result)
            else:
                Future.set_exception(self, exception)
        except InvalidStateError:
            return False
        self._wake_readers()
        return True

    def set_result(self, result: Any) -> None:
        if not self._settle(result, None, defer=False):
            raise InvalidStateError("%s: %r" % (self._state, self))

    def set_exception(self, exception: Optional[BaseException]) -> None:
        if exception is None:
            raise TypeError("set_exception needs an exception")
        if not self._settle(None, exception, defer=False):
            raise InvalidStateError("%s: %r" % (self._state, self))

    def _begin_running(self) -> bool:
        """PENDING -> RUNNING (a callback is about to run); False if cancelled."""
        with _create_lock:
            if self._cond is None:
                if self._state != PENDING:
                    return False
                self._state = RUNNING
                return True
        with self._condition:
            if self._state != PENDING:
                return False
            self._state = RUNNING
            return True

    def cancel(self) -> bool:
        with self._condition:
            if self._state in (RUNNING, FINISHED):
                return False
            if self._state in _CANCELLED_STATES:
                return True
            # Straight to CANCELLED_AND_NOTIFIED: nobody will call
            # set_running_or_notify_cancel for us, and wait()/as_completed() only count
            # a cancelled future as done in that state.
            self._state = CANCELLED_AND_NOTIFIED
            for waiter in self._waiters:
                waiter.add_cancelled(self)
            self._condition.notify_all()
        self._wake_readers()
        self._invoke_callbacks()
        self._after_cancel()
        return True

    def _after_cancel(self) -> None:
        """Hook: free whatever the cancelled work holds."""

    def _invoke_callbacks(self) -> None:
        callbacks = self._done_callbacks
        if not callbacks:
            return
        if _loop.on_loop_thread():
            self._dispatch_callbacks(list(callbacks))
        else:
            Future._invoke_callbacks(self)  # type: ignore[attr-defined]  # concurrent.futures' own runner

    def _dispatch_callbacks(self, callbacks: list[Callable[[Future[Any]], Any]]) -> None:
        """Hook: run done-callbacks away from the loop thread."""
        _loop.start_thread(run_done_callbacks, self, callbacks, name="asynchttp-done-callbacks")

    def _fail_after_fork(self, exc: BaseException) -> None:
        # Only this thread exists in a fresh child: no lock may be trusted, nobody waits.
        if self._state not in _DONE_STATES:
            self._cond = None
            self._wake = None
            self._waiters = []
            self._done_callbacks = []
            self._exception = exc
            self._state = FINISHED

    def __repr__(self) -> str:
        return "<%s at %#x state=%s>" % (type(self).__name__, id(self), self._state)


def run_done_callbacks(future: Future[Any], callbacks: list[Callable[[Future[Any]], Any]]) -> None:
    """Call each ``add_done_callback`` callback; one that raises is logged, as
    concurrent.futures does, and the others still run."""
    for callback in callbacks:
        try:
            callback(future)
        except Exception:
            logger.exception("exception calling callback for %r", future)


class Promise:
    """What a request's ``callback`` receives: set ``content`` or the response's
    attributes here and readers of the promises see it. ``exception`` is the request's
    error (httplib2's class) or None; a callback may clear it to recover."""

    __slots__ = ("response", "content", "exception", "request_id", "future", "uri", "method")

    def __init__(
        self,
        future: RequestFuture,
        response: Any,
        content: Any,
        exception: Optional[BaseException],
        request_id: int,
        uri: str,
        method: str,
    ) -> None:
        self.future = future
        self.response = response
        self.content = content
        self.exception = exception
        self.request_id = request_id
        self.uri = uri
        self.method = method

    def done(self) -> bool:
        return self.future.done()

    @property
    def attempts(self) -> Any:
        """The request's sends so far: a tuple of :class:`asynchttp.Attempt`
        (``future.attempts``)."""
        return getattr(self.future, "attempts", ())

    @property
    def timings(self) -> Any:
        """When each step of the request happened: an :class:`asynchttp.Timings`
        (``future.timings``)."""
        return getattr(self.future, "timings", None)

    def __repr__(self) -> str:
        return "<Promise %d %s %s>" % (self.request_id, self.method, without_userinfo(self.uri))


def charset_of(response: Any) -> str:
    """The codec named by ``charset=`` in the response's content-type; UTF-8 otherwise."""
    try:
        content_type = response.get("content-type", "")
    except Exception:
        return "utf-8"
    for param in content_type.split(";")[1:]:
        name, _, value = param.partition("=")
        if name.strip().lower() == "charset":
            value = value.strip().strip('"').strip("'")
            try:
                return codecs.lookup(value).name
            except LookupError:
                return "utf-8"
    return "utf-8"


_PROXY_SLOTS = ("_future",)


def _unwrap(value: Any) -> Any:
    if type(value) in _PROXY_TYPES:
        return value._get()
    return value


class _ResultProxy:
    """Shared machinery of the two proxies: blocking resolution, non-blocking helpers,
    and every operator forwarded to the resolved object."""

    __slots__ = _PROXY_SLOTS
    _future: RequestFuture
    _INDEX = 0

    def __init__(self, future: RequestFuture) -> None:
        object.__setattr__(self, "_future", future)

    def _get(self) -> Any:
        future = self._future
        if future._state == FINISHED and future._exception is None:
            return future._result[self._INDEX]
        return future.result()[self._INDEX]

    # -- non-blocking helpers (names neither bytes nor dict has) ---------------

    @property
    def future(self) -> RequestFuture:
        """The request's Future; its result is ``(response, content)``."""
        return self._future

    def done(self) -> bool:
        return self._future.done()

    def wait(self, timeout: Optional[float] = None) -> bool:
        return self._future.wait(timeout)

    def exception(self, timeout: Optional[float] = None) -> Optional[BaseException]:
        return self._future.exception(timeout)

    def cancel(self) -> bool:
        return self._future.cancel()

    def cancelled(self) -> bool:
        return self._future.cancelled()

    # -- identity ------------------------------------------------------------

    @property  # type: ignore[misc]
    def __class__(self) -> type:  # noqa: D105 - resolves so isinstance() sees the real type
        return type(self._get())

    def __getattr__(self, name: str) -> Any:
        return getattr(self._get(), name)

    def __setattr__(self, name: str, value: Any) -> None:
        setattr(self._get(), name, value)

    def __delattr__(self, name: str) -> None:
        delattr(self._get(), name)

    def __dir__(self) -> list[str]:
        return dir(self._get())

    def __repr__(self) -> str:
        return repr(self._get())

    def __str__(self) -> str:
        return str(self._get())

    def __bytes__(self) -> bytes:
        return bytes(self._get())

    def __format__(self, spec: str) -> str:
        return format(self._get(), spec)

    def __hash__(self) -> int:
        return hash(self._get())

    def __bool__(self) -> bool:
        return bool(self._get())

    def __sizeof__(self) -> int:
        size: int = self._get().__sizeof__()
        return size

    # -- comparisons -----------------------------------------------------------

    def __eq__(self, other: Any) -> Any:
        return self._get() == _unwrap(other)

    def __ne__(self, other: Any) -> Any:
        return self._get() != _unwrap(other)

    def __lt__(self, other: Any) -> Any:
        return self._get() < _unwrap(other)

    def __le__(self, other: Any) -> Any:
        return self._get() <= _unwrap(other)

    def __gt__(self, other: Any) -> Any:
        return self._get() > _unwrap(other)

    def __ge__(self, other: Any) -> Any:
        return self._get() >= _unwrap(other)

    # -- containers ------------------------------------------------------------

    def __len__(self) -> int:
        return len(self._get())

    def __iter__(self) -> Iterator[Any]:
        return iter(self._get())

    def __reversed__(self) -> Iterator[Any]:
        backwards: Iterator[Any] = reversed(self._get())
        return backwards

    def __contains__(self, item: Any) -> bool:
        return _unwrap(item) in self._get()

    def __getitem__(self, key: Any) -> Any:
        return self._get()[key]

    def __setitem__(self, key: Any, value: Any) -> None:
        self._get()[key] = value

    def __delitem__(self, key: Any) -> None:
        del self._get()[key]

    # -- arithmetic (bytes: + * %; dict: |) ---------------------------------------

    def __add__(self, other: Any) -> Any:
        return self._get() + _unwrap(other)

    def __radd__(self, other: Any) -> Any:
        return _unwrap(other) + self._get()

    def __mul__(self, other: Any) -> Any:
        return self._get() * _unwrap(other)

    def __rmul__(self, other: Any) -> Any:
        return _unwrap(other) * self._get()

    def __mod__(self, other: Any) -> Any:
        return self._get() % _unwrap(other)

    def __rmod__(self, other: Any) -> Any:
        return _unwrap(other) % self._get()

    def __or__(self, other: Any) -> Any:
        return self._get() | _unwrap(other)

    def __ror__(self, other: Any) -> Any:
        return _unwrap(other) | self._get()

    def __and__(self, other: Any) -> Any:
        return self._get() & _unwrap(other)

    def __rand__(self, other: Any) -> Any:
        return _unwrap(other) & self._get()

    def __sub__(self, other: Any) -> Any:
        return self._get() - _unwrap(other)

    def __rsub__(self, other: Any) -> Any:
        return _unwrap(other) - self._get()

    def __xor__(self, other: Any) -> Any:
        return self._get() ^ _unwrap(other)

    def __rxor__(self, other: Any) -> Any:
        return _unwrap(other) ^ self._get()

    def __int__(self) -> int:
        return int(self._get())

    def __float__(self) -> float:
        return float(self._get())

    # -- copying and pickling: the resolved object, not a proxy -----------------

    def __copy__(self) -> Any:
        return copy.copy(self._get())

    def __deepcopy__(self, memo: dict[int, Any]) -> Any:
        return copy.deepcopy(self._get(), memo)

    def __reduce_ex__(self, protocol: SupportsIndex) -> Any:
        # What pickling the resolved object would produce, so unpickling needs no
        # asynchttp (protocol 2's form also works when saved at 0 or 1).
        return self._get().__reduce_ex__(max(operator.index(protocol), 2))

    def __reduce__(self) -> Any:
        return self._get().__reduce_ex__(2)


class ResponsePromise(_ResultProxy):
    """Stands for the request's ``httplib2.Response`` (a dict of lower-cased headers
    with ``.status``, ``.reason``, ``.version``, ``.previous``, ``.fromcache``)."""

    __slots__ = ()
    _INDEX = 0


class ContentPromise(_ResultProxy):
    """Stands for the request's body as ``bytes`` (or whatever a callback put there).
    ``str(content)`` decodes it with the response's charset, UTF-8 by default."""

    __slots__ = ()
    _INDEX = 1

    def __str__(self) -> str:
        value = self._get()
        if isinstance(value, (bytes, bytearray)):
            return value.decode(charset_of(self._future._result[0]), "replace")
        return str(value)

    # A buffer on Python 3.12+ (PEP 688): io.BytesIO().write(content), file.write,
    # hashlib, memoryview, b"".join take it as they take bytes. Harmless before 3.12.
    def __buffer__(self, flags: int) -> memoryview:
        return memoryview(self._get())


if sys.version_info < (3, 12):
    # No Python-level buffer protocol before 3.12: C code taking a bytes-like object
    # refuses the promise with "a bytes-like object is required, not '<type name>'".
    # The type's name is what that message shows, so it names the fix (its qualified
    # name, used by repr and pickle, stays "ContentPromise"). Costs nothing per call.
    ContentPromise.__name__ = "ContentPromise (use bytes(content), or BlockingHttp for libraries)"


_PROXY_TYPES = (ResponsePromise, ContentPromise)
