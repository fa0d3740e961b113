"""Cache policy: httplib2's private HTTP cache, with its I/O kept off the event loop.

The on-disk/in-store format is httplib2's own (``status: NNN`` + RFC 822
headers + body, written by ``httplib2._updateCache``), so an existing httplib2
cache directory or memcache keeps working, and the freshness rules are
httplib2's ``_entry_disposition``.

Two guarantees that httplib2 never needed, because it ran on the caller's thread:

* every ``cache.get/set/delete`` (blocking disk or network I/O) runs in a small
  pool of named threads, never on the loop thread (they end when idle, as the
  callback workers do: see ``_loop.WorkerPool``);
* one cache object is only ever touched by one of those threads at a time, in
  the order the loop asked.  Cache objects that are not thread-safe
  (``FileCache`` with its truncate-then-write files, pylibmc clients, shelves)
  therefore never see a concurrent reader and writer: two requests for one URL
  cannot read a half-written entry or interleave two writes.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import email
import email.header
import email.message
import os
import threading
from typing import Any, Callable, Mapping, NamedTuple, Optional, TypeVar

import httplib2

from . import _httplib2, _loop

__all__ = [
    "CACHE_THREADS",
    "CacheLookup",
    "run_cache_io",
    "is_enabled",
    "lookup",
    "store",
    "delete",
    "parse_entry",
    "vary_matches",
    "add_validators",
    "merge_not_modified",
]

T = TypeVar("T")

# Cache I/O is short (one small file or one memcache round trip); a few threads
# keep unrelated caches from queueing behind each other without growing with load.
CACHE_THREADS = 4

_executor: Optional["_CacheThreads"] = None
_executor_lock = threading.Lock()
# (id(loop), id(cache object)) -> [asyncio.Lock, number of coroutines using it];
# entries live only while someone uses them, so no cache object is kept alive
# here.  An asyncio.Lock belongs to one loop, hence the loop in the key (the
# facade has one loop per process; tests may run others).
_cache_locks: dict[tuple[int, int], list[Any]] = {}


class _CacheThreads(concurrent.futures.Executor):
    """An executor over a ``WorkerPool``: ``CACHE_THREADS`` named threads at most, each
    ending after the idle grace, so no cache thread outlives the work (a
    ThreadPoolExecutor keeps its threads until shut down)."""

    def __init__(self) -> None:
        self._workers = _loop.WorkerPool(CACHE_THREADS, "asynchttp-cache")

    def submit(self, fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> "concurrent.futures.Future[T]":
        future: "concurrent.futures.Future[T]" = concurrent.futures.Future()
        self._workers.submit(_run_into, future, fn, args, kwargs)
        return future


def _run_into(future: "concurrent.futures.Future[Any]", fn: Callable[..., Any], args: Any, kwargs: Any) -> None:
    if not future.set_running_or_notify_cancel():
        return
    try:
        result = fn(*args, **kwargs)
    except BaseException as exc:  # delivered to the awaiting coroutine
        future.set_exception(exc)
    else:
        future.set_result(result)


def _get_executor() -> _CacheThreads:
    global _executor
    with _executor_lock:
        if _executor is None:
            _executor = _CacheThreads()
        return _executor


def _forget_after_fork() -> None:
    # The parent's worker threads do not exist in a child: start afresh.
    global _executor, _executor_lock
    _executor = None
    _executor_lock = threading.Lock()
    _cache_locks.clear()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_after_fork)


async def run_cache_io(cache: Any, func: Callable[..., T], *args: Any) -> T:
    """Run ``func(*args)`` in the cache threads, serialised per cache object."""
    loop = asyncio.get_running_loop()
    key = (id(loop), id(cache))
    entry = _cache_locks.get(key)
    if entry is None:
        entry = _cache_locks[key] = [asyncio.Lock(), 0]
    entry[1] += 1
    try:
        async with entry[0]:
            work = loop.run_in_executor(_get_executor(), func, *args)
            try:
                return await asyncio.shield(work)
            except asyncio.CancelledError:
                # The call goes on in its thread: the lock stays held until it ends,
                # so the next call on this cache object never runs beside it.
                await _finished(work)
                raise
    finally:
        entry[1] -= 1
        if entry[1] == 0 and _cache_locks.get(key) is entry:
            del _cache_locks[key]


async def _finished(work: "asyncio.Future[Any]") -> None:
    """Wait for ``work`` to end, whatever its outcome and however often this wait is
    cancelled (a cancelled request must still not release the cache's lock early)."""
    while not work.done():
        try:
            await asyncio.wait([work])
        except asyncio.CancelledError:
            continue
    if not work.cancelled():
        work.exception()  # retrieved: the cancelled request does not report it


async def is_enabled(cache: Any) -> bool:
    """httplib2's ``if self.cache:``, without running I/O on the loop.

    Truthiness of a cache object may be I/O (a shelve's ``__len__`` reads its
    database), so it is evaluated in the cache threads unless the type defines
    neither ``__bool__`` nor ``__len__`` (FileCache, memcache clients), where it
    is simply True.  An empty dict-like cache is "no cache", as in httplib2.
    """
    if cache is None:
        return False
    kind = type(cache)
    if not hasattr(kind, "__bool__") and not hasattr(kind, "__len__"):
        return True
    return await run_cache_io(cache, bool, cache)


class CacheLookup(NamedTuple):
    cachekey: Optional[str]  # None once a corrupt entry was dropped (httplib2 then stores nothing)
    cached_value: Optional[bytes]
    info: email.message.Message  # the cached headers (status included), empty when none
    content: bytes  # the cached body, b"" when none


def parse_entry(cached_value: bytes) -> tuple[email.message.Message, bytes]:
    """Split a stored entry into headers and body; ValueError/IndexError when corrupt."""
    head, content = cached_value.split(b"\r\n\r\n", 1)
    info = email.message_from_bytes(head)
    for name, value in info.items():
        # non-ASCII header values were stored RFC 2047-encoded
        if value.startswith("=?") and value.endswith("?="):
            decoded: Any = email.header.decode_header(value)[0]  # (bytes, charset)
            info.replace_header(name, str(*decoded))
    return info, content


def _lookup_blocking(cache: Any, cachekey: str) -> CacheLookup:
    cached_value = cache.get(cachekey)
    if cached_value:
        try:
            info, content = parse_entry(cached_value)
        except (IndexError, ValueError):
            cache.delete(cachekey)
            return CacheLookup(None, None, email.message.Message(), b"")
        return CacheLookup(cachekey, cached_value, info, content)
    return CacheLookup(cachekey, cached_value, email.message.Message(), b"")


async def lookup(cache: Any, cachekey: str) -> CacheLookup:
    """Read and parse the entry for ``cachekey`` (dropping it if it cannot be parsed)."""
    return await run_cache_io(cache, _lookup_blocking, cache, cachekey)


async def store(
    cache: Any, request_headers: dict[str, str], response: httplib2.Response, content: bytes, cachekey: Optional[str]
) -> None:
    """httplib2's ``_updateCache`` (store, or delete on no-store), off the loop."""
    if not cachekey:
        return
    await run_cache_io(cache, _httplib2.update_cache, request_headers, response, content, cache, cachekey)


async def delete(cache: Any, cachekey: str) -> None:
    await run_cache_io(cache, cache.delete, cachekey)


def vary_matches(info: email.message.Message, headers: Mapping[str, str]) -> bool:
    """Does this request carry the same values for every header the entry varies on?"""
    vary = info["vary"]
    for header in vary.lower().replace(" ", "").split(","):
        if headers.get(header, None) != info["-varied-%s" % header]:
            return False
    return True


def add_validators(info: email.message.Message, headers: dict[str, str], ignore_etag: bool) -> None:
    """STALE entry: revalidate with its ETag and Last-Modified (never overriding the caller)."""
    if "etag" in info and not ignore_etag and "if-none-match" not in headers:
        headers["if-none-match"] = info["etag"]
    # httplib2 checks for a request "last-modified" here (not if-modified-since): kept as is
    if "last-modified" in info and "last-modified" not in headers:
        headers["if-modified-since"] = info["last-modified"]


def merge_not_modified(info: email.message.Message, response: httplib2.Response) -> httplib2.Response:
    """A 304 refreshes the stored headers with its end-to-end ones; the result is a 200 from cache."""
    for key in _httplib2.end2end_headers(response):
        info[key] = response[key]
    merged = httplib2.Response(info)
    if hasattr(response, "_stale_digest"):
        merged._stale_digest = response._stale_digest
    return merged
