"""Bounded submission: ``Http.imap`` feeds an Http from any iterable, a window at a time.

The caller's thread pulls items lazily, keeps at most ``window`` requests submitted
and not yet handed back (queued, in flight, or finished and waiting for their turn),
and yields one :class:`Outcome` per item. Memory therefore depends on the window,
never on the length of the input: an endless generator is fine.

How completions reach the caller: each request's Future gets a waiter, the protocol
``concurrent.futures.as_completed`` uses (``Future._waiters``), so the thread that
settles the request (the loop thread, or the worker that ran the item's callback)
puts it on this run's queue directly. ``add_done_callback`` would cost one more
thread hand-off per request (done-callbacks of a request settled on the loop are
run by a worker thread, never on the loop).

Ending early: the generator's ``finally`` cancels whatever is outstanding, so a
``break`` (once the generator is dropped or closed), an exception in the consumer, a
Ctrl-C while waiting, or ``Http.close()``/``shutdown()`` (which call
:func:`stop_runs`) leave no request running.
"""

from __future__ import annotations

import collections
import queue
import threading
import weakref
from concurrent.futures import CancelledError
from typing import TYPE_CHECKING, Any, Callable, Deque, Iterable, Iterator, Mapping, Optional

from . import _loop
from ._errors import ShutdownError
from ._promise import CANCELLED_AND_NOTIFIED, FINISHED, RequestFuture

if TYPE_CHECKING:  # pragma: no cover
    import httplib2

__all__ = ["Outcome", "imap", "stop_runs", "REQUEST_KEYS"]

# What a Mapping item may hold: request() keywords, plus "tag" (handed back as is).
REQUEST_KEYS = frozenset(
    {"uri", "method", "body", "headers", "redirections", "retry", "sink", "resume", "callback", "connection_type"}
)


class Outcome:
    """The result of one item of :meth:`Http.imap <asynchttp.Http.imap>`.

    ``item``: the item as given; ``tag``: its ``"tag"`` (None for a str item or a
    mapping without one); ``response``: the ``httplib2.Response`` (None on error);
    ``content``: the body as ``bytes`` (``b""`` when it went to a ``sink``; None on
    error); ``error``: the exception the request ended with (httplib2's class, as
    ``request()`` would raise it; ``concurrent.futures.CancelledError`` if it was
    cancelled; the ``ValueError``/``TypeError``... that ``request()`` raised for a
    bad item), else None; ``future``: the request's Future (``attempts``,
    ``timings``, ``body_bytes``), None when the item never became a request.

    ``ok`` means no error: the status is not judged (a 404 is ``ok``). Immutable.
    """

    __slots__ = ("item", "tag", "response", "content", "error", "future")

    item: Any
    tag: Any
    response: Optional["httplib2.Response"]
    content: Optional[bytes]
    error: Optional[BaseException]
    future: Optional[RequestFuture]

    def __init__(
        self,
        item: Any,
        tag: Any,
        response: Optional["httplib2.Response"],
        content: Optional[bytes],
        error: Optional[BaseException],
        future: Optional[RequestFuture],
    ) -> None:
        for name, value in (
            ("item", item),
            ("tag", tag),
            ("response", response),
            ("content", content),
            ("error", error),
            ("future", future),
        ):
            object.__setattr__(self, name, value)

    @property
    def ok(self) -> bool:
        """True when the request ended with an answer (any status), False on error."""
        return self.error is None

    @property
    def status(self) -> Optional[int]:
        """The answer's status code, None on error."""
        return None if self.response is None else int(self.response.status)

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError("Outcome is immutable")

    def __delattr__(self, name: str) -> None:
        raise AttributeError("Outcome is immutable")

    def __repr__(self) -> str:
        what = "error=%r" % (self.error,) if self.error is not None else "status=%s" % (self.status,)
        return "<Outcome %r %s>" % (self.item if isinstance(self.item, str) else self.tag, what)


class _Waiter:
    """``concurrent.futures``' waiter protocol: called by the settling thread (under
    the future's condition), it only queues the future. Cheap and never raises."""

    __slots__ = ("put",)

    def __init__(self, done: "queue.SimpleQueue[Any]") -> None:
        self.put = done.put

    def add_result(self, future: Any) -> None:
        self.put(future)

    def add_exception(self, future: Any) -> None:
        self.put(future)

    def add_cancelled(self, future: Any) -> None:
        self.put(future)


class _Slot:
    """One submitted item: what to hand back with it, and its Future."""

    __slots__ = ("item", "tag", "future", "error")

    def __init__(self, item: Any, tag: Any, future: Optional[RequestFuture], error: Optional[BaseException]) -> None:
        self.item = item
        self.tag = tag
        self.future = future
        self.error = error

    def done(self) -> bool:
        return self.future is None or self.future.done()

    def outcome(self) -> Outcome:
        future = self.future
        if future is None:
            return Outcome(self.item, self.tag, None, None, self.error, None)
        state = future._state
        if state == FINISHED:
            error = future._exception
            if error is None:
                response, content = future._result
                return Outcome(self.item, self.tag, response, content, None, future)
            return Outcome(self.item, self.tag, None, None, error, future)
        if state == CANCELLED_AND_NOTIFIED or future.cancelled():
            return Outcome(self.item, self.tag, None, None, CancelledError(), future)
        raise AssertionError("outcome of a request not done")  # pragma: no cover


class _Run:
    """The state of one ``imap`` shared with ``stop_runs`` (another thread may end it).

    Outstanding requests are kept in submission order (``order``, for ``ordered``)
    or by Future (``by_future``: a completion finds its slot at once)."""

    __slots__ = ("lock", "order", "by_future", "stopped", "done", "__weakref__")

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.order: Deque[_Slot] = collections.deque()
        self.by_future: dict[Any, _Slot] = {}
        self.stopped = False
        self.done: "queue.SimpleQueue[Any]" = queue.SimpleQueue()

    def stop(self) -> None:
        """Cancel every outstanding request; wake the consumer if it waits."""
        with self.lock:
            self.stopped = True
            futures = [slot.future for slot in self.order if slot.future is not None]
            futures += self.by_future
        for future in futures:
            future.cancel()
        self.done.put(None)


# The runs in progress of each Http, for close() and shutdown(). Weak both ways: an
# Http dropped with a run in progress, or a generator dropped, frees its entry.
_runs: "weakref.WeakKeyDictionary[Any, weakref.WeakSet[_Run]]" = weakref.WeakKeyDictionary()
_runs_lock = threading.Lock()


def stop_runs(http: Any) -> None:
    """``Http.close()`` / ``shutdown()``: end every ``imap`` of ``http`` in progress
    (their outstanding requests are cancelled; their loops end at the next step)."""
    with _runs_lock:
        runs = list(_runs.get(http, ()))
    for run in runs:
        run.stop()


def _register(http: Any, run: _Run) -> None:
    with _runs_lock:
        runs = _runs.get(http)
        if runs is None:
            runs = _runs[http] = weakref.WeakSet()
        runs.add(run)


def _unregister(http: Any, run: _Run) -> None:
    with _runs_lock:
        runs = _runs.get(http)
        if runs is not None:
            runs.discard(run)
            if not runs:
                del _runs[http]


def _request_args(item: Any) -> tuple[str, dict[str, Any], Any]:
    """``(uri, keywords, tag)`` of one item; TypeError/ValueError for a bad one."""
    if isinstance(item, str):
        return item, {}, None
    if not isinstance(item, Mapping):
        raise TypeError(
            "an imap item is a str (a URI) or a Mapping of request() arguments, not %s" % type(item).__name__
        )
    unknown = set(item) - REQUEST_KEYS - {"tag"}
    if unknown:
        raise TypeError("unknown imap item key(s): %s" % ", ".join(sorted(map(str, unknown))))
    if "uri" not in item:
        raise ValueError("an imap item needs a 'uri'")
    keywords = {key: value for key, value in item.items() if key not in ("uri", "tag")}
    return item["uri"], keywords, item.get("tag")


def _submit(request: Callable[..., Any], http: Any, run: _Run, item: Any) -> _Slot:
    """Hand one item to ``http`` through ``request`` (``Http.request``: the promise
    path, even for a BlockingHttp, never blocking on the network); its slot."""
    try:
        uri, keywords, tag = _request_args(item)
    except Exception as exc:
        return _Slot(item, item.get("tag") if isinstance(item, Mapping) else None, None, exc)
    try:
        response, _ = request(http, uri, **keywords)
    except ShutdownError:
        raise
    except Exception as exc:  # what request() raises at the call: the item's outcome
        return _Slot(item, tag, None, exc)
    future: RequestFuture = response.future
    slot = _Slot(item, tag, future, None)
    waiter = _Waiter(run.done)
    with future._condition:
        if not future.done():
            future._waiters.append(waiter)
            return slot
    run.done.put(future)  # already answered (force_exception_to_status_code)
    return slot


def imap(
    http: Any, request: Callable[..., Any], items: Iterable[Any], window: int = 100, ordered: bool = False
) -> Iterator[Outcome]:
    """``Http.imap`` (documented there): feed ``http`` from ``items`` through
    ``request`` (``Http.request``: the promise path, so a BlockingHttp's window is
    concurrent too), at most ``window`` requests at a time."""
    if isinstance(window, bool) or not isinstance(window, int):
        raise TypeError("window must be an int")
    if window < 1:
        raise ValueError("window must be at least 1")
    if http._client.closed:
        raise ShutdownError("this Http was shut down; it takes no new requests")
    return _run(http, request, iter(items), window, ordered)


def _run(
    http: Any, request: Callable[..., Any], source: Iterator[Any], window: int, ordered: bool
) -> Iterator[Outcome]:
    run = _Run()
    _register(http, run)
    order = run.order  # ordered: outstanding slots in submission order
    by_future = run.by_future  # unordered: outstanding slots not yet done
    ready: Deque[_Slot] = collections.deque()  # unordered: done, not yet yielded
    done = run.done
    lock = run.lock
    exhausted = False
    outstanding = 0  # submitted and not yet yielded: never above window
    try:
        while True:
            # Fill the window (before yielding: requests run while the body works).
            while not exhausted and outstanding < window and not run.stopped:
                try:
                    item = next(source)
                except StopIteration:
                    exhausted = True
                    break
                try:
                    slot = _submit(request, http, run, item)
                except ShutdownError:
                    run.stopped = True  # shut down under us: as close() would end it
                    break
                outstanding += 1
                with lock:
                    if ordered:
                        order.append(slot)
                    elif slot.future is None:
                        ready.append(slot)  # refused at the call: its outcome is ready
                    else:
                        by_future[slot.future] = slot
            if run.stopped:
                return
            # The next outcome to hand back, if one is ready.
            slot_out: Optional[_Slot] = None
            if ordered:
                if order and order[0].done():
                    with lock:
                        slot_out = order.popleft()
            elif ready:
                slot_out = ready.popleft()
            if slot_out is not None:
                outstanding -= 1
                yield slot_out.outcome()
                continue
            if outstanding == 0:
                return  # the input is exhausted and everything was handed back
            # Wait for a completion; take every one already queued.
            with _loop.blocking_section():
                finished = done.get()
            while True:
                if not ordered and finished is not None:
                    with lock:
                        slot_done = by_future.pop(finished, None)
                    if slot_done is not None:
                        ready.append(slot_done)
                try:
                    finished = done.get_nowait()
                except queue.Empty:
                    break
    finally:
        _unregister(http, run)
        run.stop()  # nothing outstanding keeps running (a no-op after a clean end)
