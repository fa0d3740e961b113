"""Http and BlockingHttp: httplib2's API over the core pool, on the background loop.

The caller's thread does only what needs no I/O: it checks the arguments the way
httplib2 would (so a relative URI or a CR in a header raises at the call), builds a
small job (``_client._Job``, the request's Future) and hands it to the Http's loop
side (``_client._Client``), which runs httplib2's policies over the core pool.

The rest lives beside this module: ``_client`` (the bridge to the loop thread and the
per-request job), ``_wire`` (one request on a core pool, as http.client writes it),
``_flow`` (httplib2's own request flow and its thread-local, for subclasses overriding
its seams and for ``connection_type``), ``_tunnels`` (TLS settings, proxies and
tunnels: what each core pool is built from).
"""

from __future__ import annotations

import inspect
import itertools
import re
import socket
import sys
import traceback
import weakref
from typing import Any, Callable, Iterable, Iterator, Mapping, Optional, TypedDict, Union

import httplib2

import asynchttp_lowhaio
from asynchttp_lowhaio import DEFAULT_PORTS as _DEFAULT_PORTS

from . import _bulk, _httplib2, _loop, _retry, _seams, _sink
from ._client import _DEBUG, _Client, _Job, _run_callback, logger
from ._errors import ShutdownError
from ._flow import (
    _POOL_CONNECTIONS,
    _Flow,
    _holds_real_connection,
    _PoolConnection,
    in_flow_of,
    run_in_flow,
    send_through_pool,
)
from ._promise import ContentPromise, Promise, ResponsePromise
from ._ratelimit import RateLimit
from ._retry import Retry
from ._semantics import body_bytes, exception_to_response
from ._tunnels import _default_ca_certs, _PoolOptions, _Tunnels
from ._uri import safe_uri
from ._uri import uri_parts as split_uri
from ._wire import build_response

__all__ = ["Http", "BlockingHttp", "ShutdownError", "split_uri", "build_response"]

DEFAULT_MAX_REDIRECTS = httplib2.DEFAULT_MAX_REDIRECTS

# httplib2's own class, taken once at import: users swap ``httplib2.Http`` for ours
# (``httplib2.Http = asynchttp.BlockingHttp``), so looking it up at call time would
# find this module's class and call itself forever.
_HTTPLIB2_HTTP = httplib2.Http

# The core's keyword options an Http passes through: every option of
# asynchttp_lowhaio.Pool but the limits, which are Http's own keywords, and lowhaio's
# per-socket message hooks, which the facade does not offer. Read from Pool's
# signature, so an option the core gains is accepted here without a second list.
CORE_OPTIONS = frozenset(inspect.signature(asynchttp_lowhaio.Pool).parameters) - {
    "max_connections",
    "max_connections_per_host",
    "sock_pre_message",
    "sock_post_message",
}

# http.client's own checks, applied at the call (it raises ValueError there too). For
# values, the core's field-value grammar: http.client lets other control characters
# through, the core refuses them, so they fail here, at the call, not later on the loop.
_BAD_HEADER_NAME = re.compile(r"[\x00-\x20\x7f:]|^$")
_BAD_HEADER_VALUE = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")
# obs-fold (a line break followed by whitespace): http.client sends it as is, the core
# refuses it; RFC 9112 5.2 lets a sender replace it by one space, as httplib2 meant to.
_OBS_FOLD = re.compile(r"\r?\n[ \t]+")
_BAD_METHOD = re.compile(r"[\x00-\x20\x7f]|^$")

_http_ids = itertools.count(1)

_POOL_STAND_INS = tuple(_POOL_CONNECTIONS.values())


class _Config(TypedDict):
    """What an Http was made with beyond httplib2's arguments (kept across pickling)."""

    max_workers: int
    max_connections: int
    max_connections_per_host: int
    core_options: dict[str, Any]
    retry: Optional[Retry]
    rate_limit: Optional[RateLimit]


# ---------------------------------------------------------------------------
# Argument checks done at the call, as httplib2 + http.client would raise them


def _check_headers(headers: Any) -> Optional[dict[str, str]]:
    """A caller's headers as httplib2's ``request()`` takes them: normalised (names
    lower-cased), each field checked as http.client checks it."""
    if headers is None:
        return None
    return _check_fields(_httplib2.normalize_headers(headers))


def _check_fields(fields: dict[str, str]) -> dict[str, str]:
    """Refuse what http.client refuses (a bad name, CR/LF/NUL in a value); an obs-fold
    becomes one space (RFC 9112 5.2), as httplib2 meant its folding to do."""
    for name, value in fields.items():
        if _BAD_HEADER_NAME.search(name):
            raise ValueError("Invalid header name %r" % (name.encode("latin-1", "replace"),))
        if _BAD_HEADER_VALUE.search(value):
            folded = _OBS_FOLD.sub(" ", value)
            if _BAD_HEADER_VALUE.search(folded):
                raise ValueError("Invalid header value %r" % (value.encode("latin-1", "replace"),))
            fields[name] = folded
    return fields


def _as_sent(headers: Mapping[Any, Any]) -> dict[str, str]:
    """Headers as httplib2's ``_conn_request`` hands them to http.client: every key as
    given, so two keys that differ only in case are two fields on the wire (a
    subclass's ``Authorization`` beside httplib2's own ``authorization``), checked
    field by field. Bytes go out as they are (http.client writes them unchanged):
    Latin-1 here is the identity on bytes, and the core encodes them back with it."""
    fields = {_as_text(k): _as_text(v) for k, v in headers.items()}
    return _check_fields(fields)


def _as_text(value: Any) -> str:
    return value.decode("latin-1") if isinstance(value, (bytes, bytearray)) else str(value)


def _capture_stack() -> traceback.StackSummary:
    """Where request() was called from (for a failing callback's log), cheaply."""
    frame = sys._getframe(3)
    return traceback.StackSummary.extract(traceback.walk_stack(frame), limit=30, lookup_lines=False)


# ---------------------------------------------------------------------------
# The facade


def _shutdown_collected(client: _Client) -> None:
    """An Http was garbage-collected: let its requests finish, then free its pool."""
    try:
        client.shutdown(wait=False, cancel_pending=False)
    except Exception:  # a finalizer must not raise
        logger.debug("freeing a collected Http failed", exc_info=True)


class Http(_HTTPLIB2_HTTP):  # type: ignore[misc,valid-type]
    """httplib2.Http whose ``request()`` returns ``(response, content)`` promises at once.

    Positional arguments are httplib2's. Keyword-only extras: ``max_workers`` (callback
    threads), ``max_connections`` and ``max_connections_per_host`` (the pool's limits),
    ``retry`` (a :class:`asynchttp.Retry`: retries with backoff; None, the default,
    retries exactly as httplib2 does), ``rate_limit`` (a :class:`asynchttp.RateLimit`:
    requests per second per host; None: no limit) and any option of
    ``asynchttp_lowhaio.Pool``. One instance may be shared by any number of threads.

    It is a subclass of httplib2's own ``Http`` (the class taken at import), so
    ``isinstance(http, httplib2.Http)`` holds for libraries that check it, and the
    methods asynchttp does not replace are httplib2's. ``request`` (and ``close``) are
    replaced; ``_request`` is httplib2's and ``_conn_request`` sends through the pool:
    a subclass overriding any of the three gets httplib2's own request flow on a
    flow thread (see ``_learn_seams`` and ``_flow``).
    """

    # Private state lives in slots, so __dict__ holds exactly httplib2's attributes
    # (__dict__ and __weakref__ come from httplib2's class, which has no slots).
    __slots__ = ("_client", "_config", "_finalizer", "_id")
    _config: _Config
    # httplib2's instance attribute (its connection objects by "scheme:authority"), in
    # __dict__. Typed Any: mypy cannot see httplib2's base (untyped) has a __dict__, and
    # would take a dict declared on a class with __slots__ for a missing slot.
    connections: Any

    # Whether the class overrides a seam (request, _request, _conn_request): learnt
    # once per class, at its first request (None until then; see _learn_seams).
    _seamed: Optional[bool] = False

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls._seamed = None

    def __init__(
        self,
        cache: Any = None,
        timeout: Optional[float] = None,
        proxy_info: Any = httplib2.proxy_info_from_environment,
        ca_certs: Optional[str] = None,
        disable_ssl_certificate_validation: bool = False,
        tls_maximum_version: Any = None,
        tls_minimum_version: Any = None,
        decode_limit_hard: Optional[int] = None,
        decode_limit_safe: Optional[int] = None,
        decode_limit_ratio: Optional[float] = None,
        decode_limit_chunk: Optional[int] = None,
        *,
        max_workers: int = 5,
        max_connections: int = 100,
        max_connections_per_host: int = 100,
        retry: Optional[Retry] = None,
        rate_limit: Optional[RateLimit] = None,
        **core_options: Any,
    ) -> None:
        if retry is not None and not isinstance(retry, Retry):
            raise TypeError("retry must be an asynchttp.Retry or None, not %s" % type(retry).__name__)
        if rate_limit is not None and not isinstance(rate_limit, RateLimit):
            raise TypeError("rate_limit must be an asynchttp.RateLimit or None, not %s" % type(rate_limit).__name__)
        unknown = set(core_options) - CORE_OPTIONS
        if unknown:
            raise TypeError("unknown Http option(s): %s" % ", ".join(sorted(unknown)))
        if max_workers < 1:
            raise ValueError("max_workers must be at least 1")
        if max_connections < 1 or max_connections_per_host < 1:
            raise ValueError("connection limits must be at least 1")
        # httplib2's own constructor sets its attributes: same names, defaults, types.
        _HTTPLIB2_HTTP.__init__(
            self,
            cache,
            timeout,
            proxy_info,
            ca_certs,
            disable_ssl_certificate_validation,
            tls_maximum_version,
            tls_minimum_version,
            decode_limit_hard,
            decode_limit_safe,
            decode_limit_ratio,
            decode_limit_chunk,
        )
        self._config = {
            "max_workers": max_workers,
            "max_connections": max_connections,
            "max_connections_per_host": max_connections_per_host,
            "core_options": dict(core_options),
            "retry": retry,
            "rate_limit": rate_limit,
        }
        self._start_client()

    def _start_client(self) -> None:
        self._id = next(_http_ids)
        config = self._config
        client = _Client("http%d" % self._id, config["max_connections"], config["max_workers"])
        client.resilience = _retry.Resilience(config.get("retry"), config.get("rate_limit"))
        self._client = client
        self._finalizer = weakref.finalize(self, _shutdown_collected, client)
        self._finalizer.atexit = False  # exit has its own, ordered, shutdown

    # -- httplib2's methods ---------------------------------------------------------

    add_credentials = _HTTPLIB2_HTTP.add_credentials
    add_certificate = _HTTPLIB2_HTTP.add_certificate
    clear_credentials = _HTTPLIB2_HTTP.clear_credentials
    _normalize_headers = _HTTPLIB2_HTTP._normalize_headers

    # -- httplib2's seams -------------------------------------------------------------

    def _conn_request(
        self, conn: Any, request_uri: str, method: str, body: Any, headers: dict[str, Any]
    ) -> tuple[httplib2.Response, Any]:
        """httplib2's ``_conn_request``: one request (with httplib2's retries and
        decoding) over ``conn``, returning ``(httplib2.Response, bytes)``.

        Called by httplib2's ``_request`` when a subclass overrides a seam or a
        ``connection_type`` is given, on the request's flow thread (or the caller's,
        if called directly; never the loop's). ``conn`` is a stand-in for the pool,
        and the request is sent through the pool; or a connection of the caller's
        ``connection_type``, and httplib2's own ``_conn_request`` runs on it.
        """
        if not isinstance(conn, _PoolConnection):
            with self._client.connection_lock:
                answer: tuple[httplib2.Response, Any] = _HTTPLIB2_HTTP._conn_request(
                    self, conn, request_uri, method, body, headers
                )
                return answer
        if _loop.on_loop_thread():
            raise RuntimeError("Http._conn_request waits for the network: it cannot run on asynchttp's loop thread")
        checked = _as_sent(headers or {})  # a subclass may have added any header
        client = self._client
        if client.pool_options is None:
            client.pool_options = self._pool_options()
        return send_through_pool(self, client, conn, request_uri, method, body, checked)

    def _httplib2_request(
        self, uri: str, method: str, body: Any, headers: Any, redirections: int, connection_type: Any
    ) -> tuple[httplib2.Response, Any]:
        """httplib2's ``request()`` itself, on this thread, with this Http's seams."""
        scheme: Optional[str]
        authority: Optional[str]
        try:
            scheme, authority = split_uri(uri)[:2]
        except Exception:
            scheme = authority = None  # httplib2 raises it, inside its own try
        if not connection_type:
            # the pool's stand-in, or the class httplib2 would look up in its
            # SCHEME_TO_CONNECTION now; None: httplib2 raises its KeyError
            connection_type = _seams.connection_for(scheme, _POOL_CONNECTIONS)
        if scheme is not None and connection_type is not None and connection_type not in _POOL_STAND_INS:
            key = "%s:%s" % (scheme, authority)
            if isinstance(self.connections.get(key), _PoolConnection):
                # a stand-in must not take the place of the class the caller asked
                # for, or of the one installed in httplib2.SCHEME_TO_CONNECTION
                self.connections.pop(key, None)
        return run_in_flow(
            self,
            self._client,
            _HTTPLIB2_HTTP.request,
            self,
            uri,
            method,
            body,
            headers,
            redirections,
            connection_type,
        )

    def request(
        self,
        uri: str,
        method: str = "GET",
        body: Any = None,
        headers: Optional[Any] = None,
        redirections: int = DEFAULT_MAX_REDIRECTS,
        connection_type: Any = None,
        callback: Optional[Callable[[Promise], Any]] = None,
        *,
        sink: Any = None,
        resume: bool = False,
        retry: Union[Retry, None, bool] = None,
    ) -> tuple[ResponsePromise, ContentPromise]:
        """Queue the request; return ``(response, content)`` promises at once.

        ``retry``: this request's :class:`asynchttp.Retry`, overriding the Http's;
        False: none (httplib2's own retries); None (default): the Http's.

        Arguments are checked here as httplib2 checks them (a relative URI, a bad
        header or method, an unknown scheme raise now). Network errors surface when a
        promise is touched, as the exception httplib2 raises for them.

        A subclass overriding ``request``, ``_request`` or ``_conn_request``, or a
        ``connection_type``, makes the request run httplib2's own flow on a worker
        thread of this Http (never on the loop); see ``_conn_request``.

        ``sink``: a path (``str`` or ``os.PathLike``) or an object with
        ``.write(bytes)``; the final 2xx answer's body goes there as it arrives
        instead of into memory (the content promise resolves to ``b""``,
        ``future.body_bytes`` counts what was written). A path is written as
        ``<path>.part`` and renamed once complete. ``resume=True`` (a path sink)
        continues an existing ``.part`` with a ``Range`` request. See
        ``asynchttp._sink`` and docs/bulk.rst.
        """
        try:
            client = self._client
        except AttributeError:
            return _foreign_request(Http, self, uri, method, body, headers, redirections, connection_type)
        if client.flow_threads and callback is None and in_flow_of(self):
            # httplib2's flow calling request() again (a redirect): stay in it, here
            return self._httplib2_request(uri, method, body, headers, redirections, connection_type)
        job = self._submit(
            uri, method, body, headers, redirections, connection_type, callback, None, sink, resume, retry
        )
        return ResponsePromise(job), ContentPromise(job)

    def _submit(
        self,
        uri: str,
        method: str,
        body: Any,
        headers: Any,
        redirections: int,
        connection_type: Any,
        callback: Optional[Callable[[Promise], Any]],
        created: Optional[list[_Job]] = None,
        sink: Any = None,
        resume: bool = False,
        retry: Union[Retry, None, bool] = None,
    ) -> _Job:
        client = self._client
        if client.closed:
            raise ShutdownError("this Http was shut down; it takes no new requests")
        if callback is not None and not callable(callback):
            raise TypeError("callback must be callable")
        if retry is not None and retry is not False and not isinstance(retry, Retry):
            raise TypeError("retry must be an asynchttp.Retry, False or None, not %r" % (retry,))
        pooled = _seams.pool_stands_in()  # else httplib2's module names call for its own flow
        try:
            scheme = split_uri(uri)[0]
            if not connection_type and scheme not in (_DEFAULT_PORTS if pooled else httplib2.SCHEME_TO_CONNECTION):
                raise KeyError(scheme)
            if not isinstance(method, str) or _BAD_METHOD.search(method):
                raise ValueError("method can't contain control characters. %r" % (method,))
            if headers is not None:
                headers = _check_headers(headers)
            if body is not None and not isinstance(body, bytes):
                body = body_bytes(body)  # at the call: a file is read here, never on the loop
        except Exception as exc:
            if not self.force_exception_to_status_code:
                raise
            # httplib2 turns these into its synthetic 400 response too: a promise of it
            return self._answered(uri, method, callback, exception_to_response(exc), created)
        sink_state = None
        if sink is not None or resume:
            if sink is None:
                raise ValueError("resume=True needs a sink")
            sink_state, headers = _sink.prepare(sink, resume, method, headers)
        if client.pool_options is None:
            client.pool_options = self._pool_options()
        flow = None
        seamed = type(self)._seamed
        if seamed is None:
            seamed = _learn_seams(type(self))
        if seamed or connection_type or not pooled or (self.connections and _holds_real_connection(self.connections)):
            flow = _Flow()
        job = _Job(self, client, uri, method, body, headers, redirections, connection_type, callback, flow, retry)
        if sink_state is not None:
            if flow is not None:
                raise ValueError(
                    "sink= needs asynchttp's own request flow: no connection_type, no overridden seams, "
                    "httplib2's own classes in httplib2.SCHEME_TO_CONNECTION and httplib2.debuglevel 0"
                )
            job.sink = sink_state
            sink_state.future = job
        if callback is not None:
            job.stack = _capture_stack()
        if logger.isEnabledFor(_DEBUG):
            logger.debug("request %d queued: %s %s", job.request_id, method, safe_uri(uri))
        if created is not None:
            created.append(job)  # before it is queued: an interrupt from here on can cancel it
        client.submit(job)
        return job

    def _answered(
        self,
        uri: str,
        method: str,
        callback: Optional[Callable[[Promise], Any]],
        result: tuple[Any, Any],
        created: Optional[list[_Job]],
    ) -> _Job:
        """A job already answered without I/O (force_exception_to_status_code)."""
        client = self._client
        job = _Job(self, client, uri if isinstance(uri, str) else repr(uri), str(method), None, None, 0, None, callback)
        job._drop_request()
        if created is not None:
            created.append(job)
        if callback is None:
            job._settle(result, None)
        else:
            job.stack = _capture_stack()
            client.workers.submit(_run_callback, job, result, None)
        return job

    def imap(self, items: Iterable[Any], window: int = 100, ordered: bool = False) -> Iterator[_bulk.Outcome]:
        """Feed this Http from ``items`` (any iterable, even endless), at most
        ``window`` requests at a time; yield an :class:`Outcome` per item as each
        completes, or in input order with ``ordered``.

        Each item is a ``str`` (a GET of that URI) or a mapping of ``request()``
        keyword arguments (``"uri"`` required; ``"method"``, ``"body"``,
        ``"headers"``, ``"redirections"``, ``"connection_type"``, ``"callback"``,
        ``"retry"``, ``"sink"``, ``"resume"``) plus an optional ``"tag"`` handed
        back on the outcome. Items are pulled lazily, when a slot is free.

        ``window`` counts the requests submitted and not yet yielded: queued, in
        flight, or (``ordered``) finished and waiting for an earlier one. Memory is
        bounded by it whatever the input's length. The next items are submitted
        before an outcome is yielded.

        Errors never raise out of the loop: a failed request, an item that
        ``request()`` refuses, or a cancelled request is an outcome with ``error``
        set. An exception raised by ``items`` itself propagates, after the
        outstanding requests are cancelled.

        Ending early cancels the outstanding requests: breaking out of the loop
        (when the generator is closed: at once for ``for o in http.imap(...)``; use
        ``contextlib.closing`` when you keep a reference), an exception in the
        loop's body, Ctrl-C, or ``close()``/``shutdown()`` from any thread (the
        loop then ends without yielding the outstanding items).

        On a ``BlockingHttp`` too the requests run concurrently. Item callbacks run
        on the worker threads, before their outcome is yielded. Never call it from
        asynchttp's loop thread. See docs/bulk.rst.
        """
        return _bulk.imap(self, Http.request, items, window, ordered)

    def close(self) -> None:
        """httplib2's close(): drop pooled connections (requests in flight finish on
        theirs), and clear certificates and credentials. An ``imap`` in progress
        ends, its outstanding requests cancelled."""
        _bulk.stop_runs(self)
        existing, self.connections = self.connections, {}
        for conn in existing.values():
            conn.close()  # connection_type connections, as httplib2 closes them
        self.certificates.clear()
        self.clear_credentials()
        client = self._client
        # requests waiting for their next try end now (their pool is the one retired)
        _retry.interrupt_backoffs(client.resilience, client.loop, "Http.close()")
        client.retire_pool(self._pool_options())

    # -- lifecycle ------------------------------------------------------------------

    def shutdown(self, wait: bool = True, cancel_pending: bool = False) -> None:
        """Refuse new requests; finish (or cancel) the pending ones; free the pool and
        the callback workers. With ``wait``, return once all of that is done. An
        ``imap`` in progress ends, its outstanding requests cancelled."""
        _bulk.stop_runs(self)
        self._finalizer.detach()
        client = self._client
        _retry.interrupt_backoffs(client.resilience, client.loop, "Http.shutdown()", stop=True)
        client.shutdown(wait, cancel_pending)
        if wait and self.connections:
            # connection_type connections (http.client objects) hold their sockets
            # until closed; every request that could use them is over
            existing, self.connections = self.connections, {}
            for conn in existing.values():
                conn.close()

    def __enter__(self) -> "Http":
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.shutdown(wait=True)

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state.pop("request", None)
        state.pop("connections", None)
        state["_asynchttp_config"] = self._config
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        state = dict(state)
        self._config = state.pop("_asynchttp_config")
        self.__dict__.update(state)
        self.connections = {}
        self._start_client()

    def __repr__(self) -> str:
        client = self._client
        return "<%s %s queued=%d running=%d%s>" % (
            type(self).__name__,
            client.name,
            len(client.pending),
            len(client.running),
            " shut down" if client.closed else "",
        )

    # -- pool options -------------------------------------------------------------

    def _pool_options(self) -> "_PoolOptions":
        """The core pools' options, from httplib2's attributes as they are now (read, as
        httplib2 reads them, when connections are made: at the first request and after
        close())."""
        config = self._config
        options: dict[str, Any] = {
            "max_connections": config["max_connections"],
            "max_connections_per_host": config["max_connections_per_host"],
        }
        timeout = self.timeout if self.timeout is not None else socket.getdefaulttimeout()
        if timeout is not None:
            options["connect_timeout"] = timeout
            options["socket_timeout"] = timeout
        options.update(config["core_options"])
        tls = (
            self.ca_certs or _default_ca_certs(),
            self.disable_ssl_certificate_validation,
            self.tls_maximum_version,
            self.tls_minimum_version,
        )
        return _PoolOptions(options, tls, self.certificates, _Tunnels(self))


class BlockingHttp(Http):
    """Http whose ``request()`` waits and returns a real ``(httplib2.Response, bytes)``,
    raising at the call exactly where httplib2 raises: the zero-difference drop-in for
    code that wants only thread safety and pooling."""

    __slots__ = ()

    def request(  # type: ignore[override]
        self,
        uri: str,
        method: str = "GET",
        body: Any = None,
        headers: Optional[Any] = None,
        redirections: int = DEFAULT_MAX_REDIRECTS,
        connection_type: Any = None,
        callback: Optional[Callable[[Promise], Any]] = None,
        *,
        sink: Any = None,
        resume: bool = False,
        retry: Union[Retry, None, bool] = None,
    ) -> tuple[httplib2.Response, bytes]:
        try:
            client = self._client
        except AttributeError:
            return _foreign_request(BlockingHttp, self, uri, method, body, headers, redirections, connection_type)
        if client.flow_threads and callback is None and in_flow_of(self):
            # httplib2's flow calling request() again (a redirect): stay in it, here
            return self._httplib2_request(uri, method, body, headers, redirections, connection_type)
        created: list[_Job] = []
        try:
            answer: tuple[httplib2.Response, bytes] = self._submit(
                uri, method, body, headers, redirections, connection_type, callback, created, sink, resume, retry
            ).result()
            return answer
        except BaseException:
            # An interrupt (Ctrl-C) wherever it lands, even before the wait began: do
            # not leave the request running with nobody to read it.
            for job in created:
                if not job.done():
                    job.cancel()
            raise


_warned_foreign: set[tuple[type, type]] = set()


def _foreign_request(ours: type, obj: Any, *args: Any) -> tuple[Any, Any]:
    """``httplib2.Http.request(obj, ...)`` reached ours for an object we never built.

    That happens when ``httplib2.Http`` was swapped for our class after a library had
    already subclassed the real one (python-oauth2's ``Client`` calls
    ``httplib2.Http.request(self, ...)`` by name): the instance was made by httplib2
    and holds none of our state. httplib2 serves it, exactly as before the swap, and
    a warning says once per class (and class of ours called) how to move it onto
    asynchttp."""
    if isinstance(obj, Http):
        raise AttributeError("%s was not initialised: its __init__ must call super().__init__()" % type(obj).__name__)
    cls = type(obj)
    if (cls, ours) not in _warned_foreign:
        _warned_foreign.add((cls, ours))
        logger.warning(
            "%s.%s subclasses httplib2.Http as it was before httplib2.Http was replaced: "
            "httplib2 itself serves it; replace httplib2.Http before importing %s to use asynchttp",
            cls.__module__,
            cls.__qualname__,
            cls.__module__,
        )
    return _HTTPLIB2_HTTP.request(obj, *args)  # type: ignore[no-any-return]


# A class whose seams are these has overridden none of them.
_BASE_REQUESTS = (Http.request, BlockingHttp.request)
_HTTPLIB2_REQUEST = _HTTPLIB2_HTTP._request
_POOL_CONN_REQUEST = Http._conn_request


def _learn_seams(cls: type) -> bool:
    """Does ``cls`` override ``request``, ``_request`` or ``_conn_request``? Asked once
    per class (methods assigned to a class after its first request are not seen)."""
    seamed = (
        cls.request not in _BASE_REQUESTS  # type: ignore[attr-defined]
        or cls._request is not _HTTPLIB2_REQUEST  # type: ignore[attr-defined]
        or cls._conn_request is not _POOL_CONN_REQUEST  # type: ignore[attr-defined]
    )
    cls._seamed = seamed  # type: ignore[attr-defined]
    return seamed
