"""httplib2's ``Http.request()`` as a coroutine over one primitive: ``send_once``.

The facade owns the transport and gives this module one coroutine::

    send_once(scheme, authority, request_uri, method, body, headers) -> (httplib2.Response, bytes)

which sends exactly one request over the core pool and returns the raw
response (body not decoded, core errors already mapped to httplib2's
exception classes with the core error as ``__cause__``).  Everything httplib2
layers on top -- header normalisation, default headers, URI cleaning, the
cache, authentication, decoding, redirects, retries and
``force_exception_to_status_code`` -- is reproduced here, step for step in
httplib2 0.32.1's order, reading the ``Http`` attributes at the moments
httplib2 reads them.  The policies live in the small modules ``_uri``,
``_cache``, ``_auth``, ``_redirects`` and ``_decode``; this module is the
control flow that strings them together.

Deliberate differences, each for safety (see docs/httplib2.rst, "Differences from httplib2"):
blocking cache I/O runs in the cache threads, never on the loop, one call at a
time per cache object; a request whose bytes may have reached the server is
repeated only if its method is idempotent; large bodies are decoded off the
loop; an authentication scheme cannot make a nested request (it would deadlock
the loop); the default User-Agent names asynchttp after httplib2's string.
"""

from __future__ import annotations

import asyncio
import copy
import email.message
import functools
import logging
import os
import socket
import sys
from typing import Any, Awaitable, Callable, Mapping, Optional

import httplib2

from asynchttp_lowhaio import without_userinfo

from . import _auth, _cache, _decode, _facts, _httplib2, _redirects, _retry, _sink, _uri
from ._body import FILE_BLOCK, ChunkedBody, body_bytes, body_to_bytes, read_blocks
from ._protocols import HttpAttributes
from ._retry import IDEMPOTENT_METHODS

__all__ = [
    "SendOnce",
    "run_httplib2_request",
    "default_user_agent",
    "current_retries",
    "FILE_BLOCK",
    "ChunkedBody",
    "body_bytes",
    "body_to_bytes",
    "read_blocks",
    "is_retryable_failure",
    "exception_to_response",
    "IDEMPOTENT_METHODS",
]

SendOnce = Callable[[str, str, str, str, Optional[bytes], dict[str, str]], Awaitable[tuple[httplib2.Response, bytes]]]

logger = logging.getLogger("asynchttp")


def default_user_agent() -> str:
    """httplib2's agent string (servers sniff it), tagged so asynchttp is identifiable."""
    version = getattr(sys.modules.get("asynchttp"), "__version__", None)
    key = (httplib2.__version__, version)
    agent = _agents.get(key)
    if agent is None:  # built once per pair of versions (every request asks)
        agent = "Python-httplib2/%s (gzip)" % httplib2.__version__
        agent = "%s asynchttp/%s" % (agent, version) if version else "%s asynchttp" % agent
        if len(_agents) < 8:
            _agents[key] = agent
    return agent


_agents: dict[tuple[Any, Any], str] = {}


def current_retries() -> int:
    """The ``RETRIES`` global, read per request as httplib2 reads it.

    ``asynchttp.RETRIES`` is httplib2's own attribute seen through asynchttp's module
    (``_seams.forward_httplib2_names``), so code that set either, or set
    ``httplib2.RETRIES`` under ``sys.modules["httplib2"] = asynchttp``, set this one.
    """
    retries: int = httplib2.RETRIES
    return retries


# httplib2's retry rules, with the policy's, live in _retry (the one place that
# decides whether a request is sent again); these names stay importable from here.
is_retryable_failure = _retry.httplib2_verdict


async def _send_with_retries(
    http: HttpAttributes,
    send_once: SendOnce,
    scheme: str,
    authority: str,
    request_uri: str,
    method: str,
    body: Any,
    headers: dict[str, str],
    failed: Optional[tuple[float, Exception]] = None,
) -> tuple[httplib2.Response, bytes]:
    """httplib2's ``_conn_request``: send, retry as it retries (or as the request's
    ``Retry`` says: see ``_retry``), then decode the body. Every send takes a token of
    the origin's rate limit first, and is noted as an attempt of the request.

    ``failed``: the first attempt was already sent by the plain path
    (``run_httplib2_request``) and failed so (its start, its exception); this goes on
    from there as if it had sent it (plain records only)."""
    record = _facts.CURRENT.get()
    if record is not None and not record.plain:
        return await _send_with_policy(record, http, send_once, scheme, authority, request_uri, method, body, headers)
    retries = current_retries()
    attempt = 0
    stale_retry_used = False
    while attempt < retries:
        attempt += 1
        if failed is None:
            # bytes (and no body) as they are: only a file-like body needs the executor
            payload = body if body is None or isinstance(body, bytes) else await body_to_bytes(body)
            # (inline, not record.begin_attempt(): every request passes here)
            started = 0.0 if record is None else (record.begin_attempt() if record.attempts else _facts.monotonic())
        try:
            if failed is not None:
                started, first_failure = failed
                failed = None
                raise first_failure
            response, content = await send_once(scheme, authority, request_uri, method, payload, dict(headers))
        except Exception as exc:
            verdict = is_retryable_failure(exc, method, attempt, retries, stale_retry_used)
            if record is not None:
                _note_failure(record, started, exc, verdict)
            if verdict == "retry":
                continue
            if verdict == "stale":
                attempt = 0
                stale_retry_used = True
                continue
            raise
        if record is not None:
            record.attempts.append((started, _facts.monotonic(), response.status, None, None))
        return await _answer(http, method, response, content)
    # httplib2 with RETRIES < 1 never sends and fails on its unbound result (issue #181)
    _read_unbound_response()
    raise AssertionError("unreachable")  # pragma: no cover


def _note_failure(record: _facts.RequestRecord, started: float, exc: BaseException, verdict: str) -> None:
    error = _retry._describe_failure(exc)
    reason = None
    if verdict != "raise":
        reason = "%s; sent again at once as httplib2 does (%s)" % (
            error,
            "transient connect error" if verdict == "retry" else "stale kept-alive connection",
        )
        logger.info("request %d: attempt %d failed: %s", record.request_id, len(record.attempts) + 1, reason)
    record.end_attempt(started, None, error, reason)


async def _answer(
    http: HttpAttributes, method: str, response: httplib2.Response, content: bytes
) -> tuple[httplib2.Response, bytes]:
    if method == "HEAD":
        return response, b""
    if _decode.needs_decoding(response) and content is not _sink.SUNK:  # a sink's body is kept as sent
        content = await _decode.decode_content_async(response, content, http.limit_kwargs)
    return response, content


async def _send_with_policy(
    record: _facts.RequestRecord,
    http: HttpAttributes,
    send_once: SendOnce,
    scheme: str,
    authority: str,
    request_uri: str,
    method: str,
    body: Any,
    headers: dict[str, str],
) -> tuple[httplib2.Response, bytes]:
    """``_send_with_retries`` with a rate limit or a ``Retry`` in force: every try
    takes a token first; the policy (if any) decides after each try (``_retry``)."""
    policy = record.retry  # None: a rate limit only, and httplib2's own retries
    buckets = record.resilience.buckets
    tries = 0
    retries = current_retries() if policy is None else policy.attempts
    if retries < 1:
        _read_unbound_response()  # httplib2 never sends (see _send_with_retries)
    stale_retry_used = False
    payload = body if body is None or isinstance(body, bytes) else await body_to_bytes(body)
    # each send takes a token once it holds its connection, before any byte goes out
    record.before_send = None if buckets is None else functools.partial(buckets.take, scheme, authority)
    while True:
        tries += 1
        started = record.begin_attempt()
        if logger.isEnabledFor(logging.DEBUG):
            logger.debug(
                "request %d attempt %d: %s %s",
                record.request_id,
                len(record.attempts) + 1,
                method,
                without_userinfo("%s://%s%s" % (scheme, authority, request_uri)),
            )
        try:
            response, content = await send_once(scheme, authority, request_uri, method, payload, dict(headers))
        except Exception as exc:
            if policy is None:
                verdict = is_retryable_failure(exc, method, tries, retries, stale_retry_used)
                _note_failure(record, started, exc, verdict)
                if verdict == "retry":
                    continue
                if verdict == "stale":
                    tries = 0
                    stale_retry_used = True
                    continue
                raise
            decision = _retry.after_failure(policy, exc, method, tries, record.elapsed())
            if not decision.retry:
                record.end_attempt(started, None, _retry._describe_failure(exc))
                _log_last_try(record, tries, len(record.attempts), decision.reason)
                raise
            await _retry_later(record, started, None, _retry._describe_failure(exc), decision)
            continue
        if policy is not None:
            verdict_ = _retry.after_answer(
                policy, method, response.status, response.get("retry-after"), tries, record.elapsed()
            )
            if verdict_ is not None:
                if verdict_.retry:
                    await _retry_later(record, started, response.status, None, verdict_)
                    continue
                _log_last_try(record, tries, len(record.attempts) + 1, verdict_.reason)
        record.end_attempt(started, response.status, None)
        return await _answer(http, method, response, content)


async def _retry_later(
    record: _facts.RequestRecord, started: float, status: Optional[int], error: Optional[str], decision: _retry.Decision
) -> None:
    """The policy retries (after a failure or an answer): end the attempt with its
    reason, log it, and wait out the backoff."""
    record.end_attempt(started, status, error, decision.reason)
    logger.info("request %d attempt %d: retrying: %s", record.request_id, len(record.attempts), decision.reason)
    await _retry.backoff_sleep(record, decision.delay, decision.reason)


def _log_last_try(record: _facts.RequestRecord, tries: int, attempt: int, reason: str) -> None:
    """The policy's reason not to retry: INFO once a request has been retried, DEBUG
    on its first try."""
    logger.log(
        logging.INFO if tries > 1 else logging.DEBUG, "request %d attempt %d: %s", record.request_id, attempt, reason
    )


def _read_unbound_response() -> None:
    """Raise the UnboundLocalError httplib2's send loop ends with when it never ran,
    worded as the running Python words it (3.10 and 3.11 differ)."""
    if _NEVER:
        response = None
    response  # noqa: B018  # raises: never bound


_NEVER = False


# ---------------------------------------------------------------------------
# httplib2's request(), as named steps
#
#   run_httplib2_request   without a cache: the plain path (the first hop's steps on
#                          this one coroutine); with one: _run_with_cache, which leads
#                          or waits on a cacheable request in flight, then one hop
#   _run_hop               one hop of httplib2's request(): prepare_request, then
#                          look_up_cache and answer_from_cache, or send_and_conclude;
#                          force_exception_to_status_code turns a failure into a response
#   send_and_conclude      httplib2's _request(): send_with_auth, then follow_redirect
#                          or store_answer
#
# Each step reads the Http's attributes where httplib2 reads them. Only the steps a
# request needs are awaited: without a cache, a 2xx answer costs one coroutine above
# send_once (run_httplib2_request); a request that needs more takes the named steps
# from the point where it does.


async def run_httplib2_request(
    http: HttpAttributes,
    send_once: SendOnce,
    uri: str,
    method: str = "GET",
    body: Any = None,
    headers: Optional[Mapping[Any, Any]] = None,
    redirections: int = httplib2.DEFAULT_MAX_REDIRECTS,
    connection_type: Any = None,
) -> tuple[httplib2.Response, bytes]:
    """One ``Http.request()`` with httplib2 0.32.1's observable behaviour.

    Follows redirects and cached permanent redirects hop by hop (``_run_hop``), as
    httplib2's ``request()`` calls itself, so ``force_exception_to_status_code``
    applies at every hop exactly as there.

    With a cache, a request for a URI that a cacheable request (a safe method)
    of this ``http`` is already fetching waits for that one to finish, then
    runs: so it is answered as httplib2 would answer it after the first (from
    the cache, revalidated, or sent), and N queued requests for one fresh
    resource send one.  Only the first hop of a request leads or waits, so two
    requests can never wait for each other (no deadlock through redirects).

    Without a cache, the first hop runs on this one coroutine (the plain path): the
    steps of ``_run_hop``, ``send_and_conclude``, ``send_with_auth`` and
    ``_send_with_retries`` that such a request takes, in their order, without their
    frames. What needs more takes the named step at the point it would be reached: a
    credential known for the URI, a ``Retry`` or a rate limit, a body still to read,
    or ``RETRIES`` below 1 (``send_and_conclude``); a failed send
    (``_send_with_retries``, from its first attempt on); a 401
    (``answer_challenge``); a redirect (``follow_redirect``).
    """
    cache = http.cache
    if cache is not None:
        return await _run_with_cache(http, send_once, cache, uri, method, body, headers, redirections, connection_type)
    try:
        fields, target = prepare_request(http, uri, headers, connection_type)
        if "cache-control" in fields and "only-if-cached" in _httplib2.parse_cache_control(fields):
            return not_cached(_NO_LOOKUP)
        record = _facts.CURRENT.get()
        if (
            http.authorizations
            or (record is not None and not record.plain)
            or not (body is None or isinstance(body, bytes))
            or current_retries() < 1
        ):
            return await send_and_conclude(http, send_once, target, method, body, fields, redirections, None)
        scheme, authority, request_uri = target.scheme, target.authority, target.request_uri
        # (as _send_with_retries notes an attempt)
        started = 0.0 if record is None else (record.begin_attempt() if record.attempts else _facts.monotonic())
        failed: Optional[tuple[float, Exception]] = None
        try:
            response, content = await send_once(scheme, authority, request_uri, method, body, dict(fields))
        except Exception as exc:
            failed = (started, exc)
        if failed is not None:
            # (out of the except block: the next attempt's failure has no __context__, as
            # it has in _send_with_retries' own loop)
            response, content = await _send_with_retries(
                http, send_once, scheme, authority, request_uri, method, body, fields, failed
            )
        else:
            if record is not None:
                record.attempts.append((started, _facts.monotonic(), response.status, None, None))
            if method == "HEAD":  # (_answer)
                content = b""
            elif _decode.needs_decoding(response) and content is not _sink.SUNK:
                content = await _decode.decode_content_async(response, content, http.limit_kwargs)
        status = response.status
        if status == 401:
            response, content = await answer_challenge(http, send_once, target, method, body, fields, response, content)
            status = response.status
        if _redirects.wants_redirect(http, method, status):
            return await follow_redirect(
                http, send_once, target, method, body, fields, redirections, None, response, content
            )
        if _redirects.may_cache_plain_response(http, method, status) and "content-location" not in response:
            response["content-location"] = target.uri  # as store_answer marks it
        return response, content
    except Exception as exc:
        if not http.force_exception_to_status_code:
            raise
        return exception_to_response(exc)


async def _run_with_cache(
    http: HttpAttributes,
    send_once: SendOnce,
    cache: Any,
    uri: str,
    method: str,
    body: Any,
    headers: Optional[Mapping[Any, Any]],
    redirections: int,
    connection_type: Any,
) -> tuple[httplib2.Response, bytes]:
    """``run_httplib2_request`` with a cache: lead or wait on a cacheable request in
    flight, then one hop (``_run_hop``)."""
    try:
        use_cache: Optional[bool] = await _cache.is_enabled(cache)
    except Exception:  # the request meets it again below, and fails as httplib2 does
        use_cache = None
    key = _in_flight_key(http, uri) if use_cache else None
    if key is None:
        return await _run_hop(http, send_once, uri, method, body, headers, redirections, connection_type, use_cache)
    # An unsafe method is never answered from the cache, so it leads nobody; but it
    # waits for a read in flight, or that read could store its answer after this write
    # (and its invalidation), which no serial order allows.
    leads = await _lead_or_wait(key, method in http.safe_methods)
    try:
        # (a request that waited asks the cache again: the one it waited for may have changed it)
        return await _run_hop(
            http, send_once, uri, method, body, headers, redirections, connection_type, True if leads else None
        )
    finally:
        if leads:
            _release_waiters(key)


async def _run_hop(
    http: HttpAttributes,
    send_once: SendOnce,
    uri: str,
    method: str = "GET",
    body: Any = None,
    headers: Optional[Mapping[Any, Any]] = None,
    redirections: int = httplib2.DEFAULT_MAX_REDIRECTS,
    connection_type: Any = None,
    use_cache: Optional[bool] = None,
) -> tuple[httplib2.Response, bytes]:
    """One hop of httplib2's ``request()``: its recursive call for redirects lands here.
    ``use_cache``: the cache's truthiness when the caller has just asked it, else None."""
    try:
        fields, target = prepare_request(http, uri, headers, connection_type)
        if use_cache is None:
            # httplib2 tests ``self.cache`` for truth several times per request; once
            # is the same answer, and it may be I/O (see _cache.is_enabled)
            use_cache = await _cache.is_enabled(http.cache)
        entry = await look_up_cache(http, target, method, fields) if use_cache else _NO_LOOKUP
        if (
            entry.cached_value
            and (method in http.safe_methods or entry.info["status"] == "308")
            and "range" not in fields
        ):
            return await answer_from_cache(http, send_once, target, method, body, fields, redirections, entry)
        if "cache-control" in fields and "only-if-cached" in _httplib2.parse_cache_control(fields):
            return not_cached(entry)
        return await send_and_conclude(http, send_once, target, method, body, fields, redirections, entry.cachekey)
    except Exception as exc:
        if not http.force_exception_to_status_code:
            raise
        return exception_to_response(exc)


def prepare_request(
    http: HttpAttributes, uri: str, headers: Optional[Mapping[Any, Any]], connection_type: Any
) -> tuple[dict[str, str], _uri.RequestTarget]:
    """The request as httplib2 has it before the cache: the headers normalised (by the
    Http's own ``_normalize_headers``, which a subclass may override) with httplib2's
    User-Agent and Accept-Encoding defaults, and the URI cleaned and split. Pure.

    Raises as httplib2 does: ``RelativeURIError`` for a relative URI, ``KeyError`` for
    a scheme it has no connection class for (unless a ``connection_type`` is given)."""
    fields: dict[str, str]
    if headers is None:
        fields = {}
    else:
        normalize = getattr(http, "_normalize_headers", None)
        fields = normalize(headers) if callable(normalize) else _httplib2.normalize_headers(headers)
    if "user-agent" not in fields:
        fields["user-agent"] = default_user_agent()
    target = _uri.split_uri(uri)
    if not connection_type and target.scheme not in _uri.KNOWN_SCHEMES:
        # httplib2 fails here, before any cache work
        _uri.check_scheme(target.scheme)
    if "range" not in fields and "accept-encoding" not in fields:
        fields["accept-encoding"] = "gzip, deflate"
    return fields, target


# What a request without a cache finds in it: nothing (shared: never written to).
_NO_LOOKUP = _cache.CacheLookup(None, None, email.message.Message(), b"")


async def look_up_cache(
    http: HttpAttributes, target: _uri.RequestTarget, method: str, headers: dict[str, str]
) -> _cache.CacheLookup:
    """httplib2's cache lookup: the stored entry for the request's URI, with what
    httplib2 does on finding it: ``If-Match`` added to a write (lost-update
    protection), the entry deleted for an unsafe method (RFC 7234 4.4), and the stored
    value dropped (``cached_value`` None) when the request's headers do not match its
    ``Vary``. ``headers`` is updated in place, as httplib2 updates its own."""
    cache = http.cache
    entry = await _cache.lookup(cache, target.defrag_uri)
    info = entry.info
    if (
        method in http.optimistic_concurrency_methods
        and "etag" in info
        and not http.ignore_etag
        and "if-match" not in headers
    ):
        headers["if-match"] = info["etag"]
    if entry.cachekey and method not in http.safe_methods:
        await _cache.delete(cache, entry.cachekey)
    if method in http.safe_methods and "vary" in info and not _cache.vary_matches(info, headers):
        entry = entry._replace(cached_value=None)
    return entry


async def answer_from_cache(
    http: HttpAttributes,
    send_once: SendOnce,
    target: _uri.RequestTarget,
    method: str,
    body: Any,
    headers: dict[str, str],
    redirections: int,
    entry: _cache.CacheLookup,
) -> tuple[httplib2.Response, bytes]:
    """A request with a usable stored entry: a cached permanent redirect is followed
    (it counts as a hop), a FRESH entry answers at once, a STALE one is revalidated
    (``If-None-Match``, ``If-Modified-Since``) and a 304 refreshes it."""
    info = entry.info
    if _redirects.PERMANENT_MARK in info:
        if redirections <= 0:
            raise httplib2.RedirectLimit("Redirected more times than redirection_limit allows.", {}, "")
        response, new_content = await _run_hop(
            http,
            send_once,
            info[_redirects.PERMANENT_MARK],
            method=_redirects.cached_redirect_method(info["status"], method),
            headers=headers,
            redirections=redirections - 1,
        )
        response.previous = httplib2.Response(info)
        response.previous.fromcache = True
    else:
        disposition = _httplib2.entry_disposition(info, headers)
        if disposition == "FRESH":
            response = httplib2.Response(info)
            response.fromcache = True
            return response, entry.content
        if disposition == "STALE":
            _cache.add_validators(info, headers, http.ignore_etag)
        response, new_content = await send_and_conclude(
            http, send_once, target, method, body, headers, redirections, entry.cachekey
        )
    return await _revalidated(http.cache, method, headers, entry, response, new_content)


async def _revalidated(
    cache: Any,
    method: str,
    headers: dict[str, str],
    entry: _cache.CacheLookup,
    response: httplib2.Response,
    new_content: bytes,
) -> tuple[httplib2.Response, bytes]:
    """The answer to a request sent with a stored entry: a 304 to a GET refreshes the
    entry and is a 200 from the cache; a 200 is the new answer; anything else also
    deletes the entry."""
    if response.status == 304 and method == "GET":
        merged = _cache.merge_not_modified(entry.info, response)
        await _cache.store(cache, headers, merged, entry.content, entry.cachekey)
        merged.status = 200
        merged.fromcache = True
        return merged, entry.content
    if response.status != 200 and entry.cachekey:  # always set here: a value was found under it
        await _cache.delete(cache, entry.cachekey)
    return response, new_content


def not_cached(entry: _cache.CacheLookup) -> tuple[httplib2.Response, bytes]:
    """httplib2's answer to ``Cache-Control: only-if-cached`` with nothing usable
    stored: a 504 (over the stored headers, if any), without sending."""
    info = email.message.Message() if entry is _NO_LOOKUP else entry.info
    info["status"] = "504"
    return httplib2.Response(info), b""


async def send_and_conclude(
    http: HttpAttributes,
    send_once: SendOnce,
    target: _uri.RequestTarget,
    method: str,
    body: Any,
    headers: dict[str, str],
    redirections: int,
    cachekey: Optional[str],
) -> tuple[httplib2.Response, bytes]:
    """httplib2's ``_request``: send (with authentication), then follow one level of
    redirect or store a cacheable answer."""
    response, content = await send_with_auth(http, send_once, target, method, body, headers)
    if _redirects.wants_redirect(http, method, response.status):
        return await follow_redirect(
            http, send_once, target, method, body, headers, redirections, cachekey, response, content
        )
    if _redirects.may_cache_plain_response(http, method, response.status):
        # 206 is never stored: byte ranges are not reassembled
        if cachekey:
            await store_answer(http.cache, headers, response, content, cachekey, target.uri)
        elif "content-location" not in response:
            response["content-location"] = target.uri  # as store_answer marks it
    return response, content


async def send_with_auth(
    http: HttpAttributes,
    send_once: SendOnce,
    target: _uri.RequestTarget,
    method: str,
    body: Any,
    headers: dict[str, str],
) -> tuple[httplib2.Response, bytes]:
    """Send with httplib2's authentication: a known credential for the URI signs the
    request first; a Digest ``stale=true`` signs again and resends once; a 401 tries
    each credential the challenge accepts until one is not refused (and keeps it)."""
    host, request_uri = target.authority, target.request_uri
    authorizations = http.authorizations
    auth = _auth.preemptive_authorization(authorizations, host, request_uri) if authorizations else None
    if auth:
        auth.request(method, request_uri, headers, body)

    response, content = await _send_with_retries(
        http, send_once, target.scheme, host, request_uri, method, body, headers
    )

    if auth:
        # Digest stale=true: sign again with the fresh nonce and resend once
        if auth.response(response, body):
            auth.request(method, request_uri, headers, body)
            response, content = await _send_with_retries(
                http, send_once, target.scheme, host, request_uri, method, body, headers
            )
            response._stale_digest = 1

    if response.status == 401:
        return await answer_challenge(http, send_once, target, method, body, headers, response, content)
    return response, content


async def answer_challenge(
    http: HttpAttributes,
    send_once: SendOnce,
    target: _uri.RequestTarget,
    method: str,
    body: Any,
    headers: dict[str, str],
    response: httplib2.Response,
    content: bytes,
) -> tuple[httplib2.Response, bytes]:
    """A 401: each credential the challenge accepts signs the request and sends it
    again, until one is not refused (and is kept for the next requests)."""
    host, request_uri = target.authority, target.request_uri
    for authorization in _auth.authorizations_from_challenge(http, host, request_uri, headers, response, content):
        authorization.request(method, request_uri, headers, body)
        response, content = await _send_with_retries(
            http, send_once, target.scheme, host, request_uri, method, body, headers
        )
        if response.status != 401:
            http.authorizations.append(authorization)
            authorization.response(response, body)
            break
    return response, content


async def follow_redirect(
    http: HttpAttributes,
    send_once: SendOnce,
    target: _uri.RequestTarget,
    method: str,
    body: Any,
    headers: dict[str, str],
    redirections: int,
    cachekey: Optional[str],
    response: httplib2.Response,
    content: bytes,
) -> tuple[httplib2.Response, bytes]:
    """A redirect answer, as httplib2 follows it: ``RedirectLimit`` when no hop is
    left, ``RedirectMissingLocation`` without a Location; the Location made absolute, a
    permanent redirect stored, credentials stripped for the next hop, and the next hop
    run with the redirected method and body, the answer keeping this one as
    ``previous``."""
    if not redirections:
        raise httplib2.RedirectLimit("Redirected more times than redirection_limit allows.", response, content)
    if _redirects.missing_location(response):
        raise httplib2.RedirectMissingLocation(  # through httplib2's gettext alias, as httplib2 words it
            httplib2._("Redirected but the response is missing a Location: header."), response, content
        )
    absolute_uri = target.uri
    if "location" in response:
        response["location"] = _uri.resolve_location(absolute_uri, response["location"])
    if _redirects.is_permanent(http, method, response.status):
        response[_redirects.PERMANENT_MARK] = response["location"]
        if "content-location" not in response:
            response["content-location"] = absolute_uri
        await _cache.store(http.cache, headers, response, content, cachekey)
    _redirects.strip_for_redirect(headers, http.forward_authorization_headers)
    if "location" not in response:
        return response, content
    old_response = copy.deepcopy(response)
    if "content-location" not in old_response:
        old_response["content-location"] = absolute_uri
    next_method, next_body = _redirects.redirect_method(response.status, method, body)
    answer, answer_content = await _run_hop(
        http,
        send_once,
        response["location"],
        method=next_method,
        body=next_body,
        headers=headers,
        redirections=redirections - 1,
    )
    answer.previous = old_response
    return answer, answer_content


async def store_answer(
    cache: Any,
    headers: dict[str, str],
    response: httplib2.Response,
    content: bytes,
    cachekey: Optional[str],
    absolute_uri: str,
) -> None:
    """httplib2's cache store for a plain cacheable answer: ``content-location`` set to
    the request's URI when the server gave none, then ``_updateCache`` (store, or
    delete on ``no-store``)."""
    if "content-location" not in response:
        response["content-location"] = absolute_uri
    await _cache.store(cache, headers, response, content, cachekey)


# Requests in flight per (loop, Http, cache key) -> the futures of those waiting for
# it. Loop thread only; an entry lives while its request runs (which keeps the Http,
# and so its id, alive) and is removed when it ends, however it ends.
_in_flight: dict[tuple[int, int, str], list[asyncio.Future[None]]] = {}
if hasattr(os, "register_at_fork"):
    # a child has none of its parent's requests: nothing there must wait for them
    os.register_at_fork(after_in_child=_in_flight.clear)


def _in_flight_key(http: HttpAttributes, uri: Any) -> Optional[tuple[int, int, str]]:
    """The key a cacheable request leads or waits under: its cache key, on this Http."""
    try:
        defrag_uri = _uri.split_uri(uri).defrag_uri
    except Exception:  # the request itself meets it again and fails as httplib2 does
        return None
    return (id(asyncio.get_running_loop()), id(http), defrag_uri)


async def _lead_or_wait(key: tuple[int, int, str], may_lead: bool) -> bool:
    """True: nothing is in flight for ``key``, this request leads (and must release).
    False: it waited for the one in flight to end (answer, error or cancellation), or
    there was none and it may not lead."""
    waiters = _in_flight.get(key)
    if waiters is None:
        if not may_lead:
            return False
        _in_flight[key] = []
        return True
    waiter = asyncio.get_running_loop().create_future()
    waiters.append(waiter)
    await waiter  # cancelling this request cancels only its own waiter
    return False


def _release_waiters(key: tuple[int, int, str]) -> None:
    for waiter in _in_flight.pop(key, ()):
        if not waiter.done():
            waiter.set_result(None)


def exception_to_response(exc: BaseException) -> tuple[Any, Any]:
    """httplib2's synthetic responses: 500 for errors carrying a response, 408, else 400."""
    if isinstance(exc, httplib2.HttpLib2ErrorWithResponse):
        response = exc.response
        content = exc.content
        # a plain dict here (cached redirect over the limit) fails as in httplib2
        response.status = 500
        response.reason = str(exc)
        return response, content
    if isinstance(exc, socket.timeout):
        content = b"Request Timeout"
        response = httplib2.Response({"content-type": "text/plain", "status": "408", "content-length": len(content)})
        response.reason = "Request Timeout"
        return response, content
    content = str(exc).encode("utf-8")
    response = httplib2.Response({"content-type": "text/plain", "status": "400", "content-length": len(content)})
    response.reason = "Bad Request"
    return response, content
