"""asynchttp.Retry: the value, the decisions (pure, with injected random and clocks),
and the policy at work against a flaky server on 127.0.0.1.

What a server saw is counted at the server (FlakyServer records every request's raw
bytes), never inferred from the client. No test sleeps long: backoffs are
milliseconds, and a Retry-After that is honoured is "0" or a date in the past.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import dataclasses
import email.utils
import logging
import pickle
import ssl
import time
from typing import Any, Callable, Iterator

import httplib2
import pytest

import asynchttp
from asynchttp import _facts, _retry, _semantics
from asynchttp._errors import to_httplib2_error
from asynchttp_lowhaio import (
    HttpConnectError,
    HttpConnectionClosedError,
    HttpDnsError,
    HttpHeaderTooLong,
    HttpReadTimeoutError,
)
from tests.servers.flaky import FlakyServer, answer, reset_after
from tests.servers.tls import TlsMaterial

from .resilience_helpers import WAIT, http_factory, quick, wait_until

MakeHttp = Callable[..., asynchttp.Http]


@pytest.fixture
def make_http() -> Iterator[MakeHttp]:
    yield from http_factory()


# ---------------------------------------------------------------------------
# The value


def test_defaults_are_the_contract() -> None:
    retry = asynchttp.Retry()
    assert retry.attempts == 4
    assert retry.statuses == frozenset({429, 502, 503, 504})
    assert (retry.backoff_base, retry.backoff_cap, retry.budget) == (0.5, 30.0, 300.0)
    assert retry.retry_after is True and retry.resend_unsafe is False


def test_a_retry_is_frozen_hashable_and_picklable() -> None:
    retry = asynchttp.Retry(attempts=2, statuses=[503, 429])
    assert retry.statuses == frozenset({429, 503})  # any collection, kept as a frozenset
    with pytest.raises(dataclasses.FrozenInstanceError):
        retry.attempts = 9  # type: ignore[misc]
    assert pickle.loads(pickle.dumps(retry)) == retry
    assert hash(retry) == hash(asynchttp.Retry(attempts=2, statuses={429, 503}))


@pytest.mark.parametrize(
    "kwargs, error",
    [
        ({"attempts": 0}, ValueError),
        ({"attempts": 2.0}, TypeError),
        ({"attempts": True}, TypeError),
        ({"statuses": 503}, TypeError),
        ({"statuses": "503"}, TypeError),
        ({"statuses": {99}}, ValueError),
        ({"statuses": {600}}, ValueError),
        ({"statuses": {"503"}}, ValueError),
        ({"backoff_base": -1}, ValueError),
        ({"backoff_cap": float("inf")}, ValueError),
        ({"backoff_base": "1"}, TypeError),
        ({"budget": 0}, ValueError),
        ({"budget": float("nan")}, ValueError),
        ({"retry_after": 1}, TypeError),
        ({"resend_unsafe": None}, TypeError),
    ],
)
def test_a_bad_value_is_refused_when_made(kwargs: dict[str, Any], error: type) -> None:
    with pytest.raises(error):
        asynchttp.Retry(**kwargs)


def test_no_budget_and_ints_for_seconds() -> None:
    retry = asynchttp.Retry(budget=None, backoff_base=1, backoff_cap=2)
    assert retry.budget is None and retry.backoff_base == 1.0 and isinstance(retry.backoff_base, float)


def test_http_and_request_refuse_what_is_not_a_policy(make_http: MakeHttp) -> None:
    with pytest.raises(TypeError, match="Retry"):
        asynchttp.Http(retry=3)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="RateLimit"):
        asynchttp.Http(rate_limit=10)  # type: ignore[arg-type]
    http = make_http()
    with pytest.raises(TypeError, match="retry must be"):
        http.request("http://127.0.0.1:9/", retry=True)


# ---------------------------------------------------------------------------
# Full jitter, with the random source injected


@pytest.mark.parametrize("failed", range(1, 12))
def test_backoff_is_full_jitter_under_the_capped_exponential(failed: int) -> None:
    retry = asynchttp.Retry(backoff_base=0.5, backoff_cap=30.0)
    ceiling = min(30.0, 0.5 * 2 ** (failed - 1))
    assert retry.backoff(failed, lambda: 0.0) == 0.0
    assert retry.backoff(failed, lambda: 0.5) == pytest.approx(ceiling / 2)
    top = retry.backoff(failed, lambda: 0.999999)
    assert ceiling * 0.999 < top < ceiling or ceiling == 0


def test_backoff_samples_stay_within_bounds_and_spread() -> None:
    import random

    rng = random.Random(1234)
    retry = asynchttp.Retry(backoff_base=0.1, backoff_cap=1.0)
    samples = [retry.backoff(4, rng.random) for _ in range(2000)]  # ceiling 0.8
    assert all(0.0 <= s <= 0.8 for s in samples)
    assert min(samples) < 0.05 and max(samples) > 0.75  # spread over the whole range
    huge = retry.backoff(10_000, lambda: 1.0)  # no overflow far past the cap
    assert huge == 1.0


# ---------------------------------------------------------------------------
# Retry-After, both forms, with the clock injected

NOW = 1_800_000_000.0


def http_date(seconds_from_now: float) -> str:
    return email.utils.formatdate(NOW + seconds_from_now, usegmt=True)


@pytest.mark.parametrize(
    "value, expected",
    [
        ("0", 0.0),
        ("120", 120.0),
        (" 7 ", 7.0),
        (http_date(30), 30.0),
        (http_date(-30), 0.0),  # a date in the past: at once
        ("Sun, 06 Nov 1994 08:49:37 GMT", 0.0),
        ("-1", None),
        ("1.5", None),
        ("soon", None),
        ("", None),
        ("Sun, 06 Nov 1994 08:49:37", None),  # no zone: not an HTTP-date
    ],
)
def test_retry_after_parsing(value: str, expected: Any) -> None:
    assert _retry.parse_retry_after(value, NOW) == expected


# ---------------------------------------------------------------------------
# Decisions after an answer (pure)


def decide(
    status: int, header: Any = None, method: str = "GET", tries: int = 1, elapsed: float = 0.0, **kw: Any
) -> Any:
    """The policy's decision after an answer (``header``: its Retry-After), with the
    random source at 0.5 and the wall clock at NOW."""
    policy = asynchttp.Retry(**kw)
    return _retry.after_answer(policy, method, status, header, tries, elapsed, lambda: 0.5, lambda: NOW)


def test_a_status_not_in_the_policy_is_the_answer() -> None:
    assert decide(500) is None
    assert decide(200) is None
    assert decide(500, statuses={500}).retry


def test_retry_after_seconds_and_date_set_the_wait() -> None:
    assert decide(503, "2").delay == 2.0
    assert decide(429, http_date(40)).delay == 40.0
    assert "Retry-After 2" in decide(503, "2").reason
    # not honoured: the backoff (0.5 of the first ceiling, 0.5 s)
    assert decide(503, "2", retry_after=False).delay == 0.25
    assert decide(502, "2").delay == 0.25  # only 429 and 503 carry a wait the policy honours
    assert decide(503, "garbage").delay == 0.25


def test_the_budget_caps_every_wait() -> None:
    late = decide(503, "60", elapsed=250.0, budget=300.0)
    assert not late.retry and "budget" in late.reason
    assert decide(503, "60", elapsed=239.0, budget=300.0).retry
    assert not decide(503, http_date(3600), budget=300.0).retry
    assert decide(503, http_date(3600), budget=None).delay == 3600.0
    assert not decide(503, elapsed=299.9, budget=300.0, backoff_base=1.0).retry


def test_no_try_left() -> None:
    assert decide(503, "0", tries=3, attempts=4).retry
    final = decide(503, "0", tries=4, attempts=4)
    assert not final.retry and "4 of 4" in final.reason
    assert not decide(503, "0", attempts=1).retry


def test_a_non_idempotent_request_is_resent_only_for_refusals() -> None:
    assert decide(503, "0", method="POST").retry  # the server says it did not act
    assert decide(429, "0", method="PATCH").retry
    refused = decide(502, method="POST")
    assert not refused.retry and "POST" in refused.reason
    assert not decide(504, method="POST").retry
    assert decide(502, method="POST", resend_unsafe=True).retry
    assert decide(502, method="PUT").retry  # idempotent


# ---------------------------------------------------------------------------
# Decisions after a failure (pure, over the exceptions the facade raises)


def mapped(core: Exception, phase: str = "head") -> BaseException:
    return to_httplib2_error(core, "example.com", phase)


def refused() -> BaseException:
    cause = ConnectionRefusedError(111, "Connection refused")
    core = HttpConnectError("could not connect")
    core.__cause__ = cause
    return mapped(core)


def reset() -> BaseException:
    cause = ConnectionResetError(104, "Connection reset by peer")
    core = HttpConnectionClosedError("connection closed")
    core.__cause__ = cause
    return mapped(core)


def fail(exc: BaseException, method: str = "GET", tries: int = 1, elapsed: float = 0.0, **kw: Any) -> Any:
    return _retry.after_failure(asynchttp.Retry(**kw), exc, method, tries, elapsed, lambda: 0.5)


def test_nothing_sent_is_retried_whatever_the_method() -> None:
    for method in ("GET", "POST", "PATCH"):
        decision = fail(refused(), method)
        assert decision.retry and "before any byte" in decision.reason


def test_possibly_sent_is_retried_only_when_idempotent_or_allowed() -> None:
    assert fail(reset(), "GET").retry
    assert fail(reset(), "DELETE").retry
    post = fail(reset(), "POST")
    assert not post.retry and "may have reached the server" in post.reason
    assert fail(reset(), "POST", resend_unsafe=True).retry
    assert not fail(mapped(HttpReadTimeoutError("slow")), "POST").retry
    assert fail(mapped(HttpReadTimeoutError("slow")), "GET").retry


def test_failures_that_would_repeat_are_not_retried() -> None:
    assert not fail(mapped(HttpDnsError("no such host"))).retry
    assert not fail(mapped(HttpHeaderTooLong("head too long"))).retry
    assert not fail(ValueError("not from the network")).retry
    assert not fail(httplib2.RedirectLimit("too many", {}, b"")).retry


def test_failure_decisions_respect_tries_and_budget() -> None:
    assert not fail(refused(), tries=4).retry
    assert not fail(refused(), elapsed=299.9, budget=300.0, backoff_base=10.0).retry
    assert fail(refused(), elapsed=299.0, budget=300.0, backoff_base=1.0).delay == 0.5


def test_httplib2_rules_live_in_the_same_module() -> None:
    # one place decides: the compat name is the retry module's function
    assert _semantics.is_retryable_failure is _retry.httplib2_verdict
    assert _retry.httplib2_verdict(reset(), "GET", 1, 2, False) == "stale"
    assert _retry.httplib2_verdict(reset(), "POST", 1, 2, False) == "raise"


# ---------------------------------------------------------------------------
# The policy at work, against a real flaky server


def test_default_http_returns_a_503_as_httplib2_does(make_http: MakeHttp) -> None:
    with FlakyServer(script={"/x": [answer(503, {"Retry-After": "0"})]}) as srv:
        for blocking in (False, True):
            response, _ = make_http(blocking=blocking).request(srv.url("/x"))
            assert response.status == 503
            assert len(response.future.attempts if not blocking else ()) in (0, 1)
        assert srv.count("/x") == 2  # one each: nobody retried


def test_a_retried_request_is_sent_again_byte_for_byte(make_http: MakeHttp) -> None:
    script = {"/x": [answer(503, {"Retry-After": "0"}), answer(429), answer(200, body=b"finally")]}
    with FlakyServer(script=script) as srv:
        http = make_http(retry=quick())
        headers = {"X-Trace": "abc", "Content-Type": "application/octet-stream"}
        response, content = http.request(srv.url("/x"), "PUT", body=b"\x00payload\xff" * 100, headers=headers)
        assert response.status == 200 and content == b"finally"
        sent = srv.arrivals("/x")
        assert len(sent) == 3
        assert sent[0].raw == sent[1].raw == sent[2].raw
        assert sent[0].body == b"\x00payload\xff" * 100
        attempts = response.future.attempts
        assert [a.status for a in attempts] == [503, 429, 200]
        assert [a.number for a in attempts] == [1, 2, 3]
        assert "Retry-After 0" in (attempts[0].retry_reason or "")
        assert "status 429" in (attempts[1].retry_reason or "") and "backoff" in (attempts[1].retry_reason or "")
        assert attempts[2].retry_reason is None


def test_statuses_retried_until_no_try_is_left(make_http: MakeHttp) -> None:
    with FlakyServer(script={"/x": [answer(502)]}) as srv:
        response, _ = make_http(retry=quick(attempts=3)).request(srv.url("/x"))
        assert response.status == 502  # the last answer is the outcome
        assert srv.count("/x") == 3
        reasons = [a.retry_reason for a in response.future.attempts]
        assert reasons[0] and reasons[1] and reasons[2] is None


def test_retry_after_as_an_http_date(make_http: MakeHttp) -> None:
    past = email.utils.formatdate(time.time() - 60, usegmt=True)
    script = {"/x": [answer(503, {"Retry-After": past}), answer(200)]}
    with FlakyServer(script=script) as srv:
        response, _ = make_http(retry=quick(budget=5.0)).request(srv.url("/x"))
        assert response.status == 200 and srv.count("/x") == 2
        assert past in (response.future.attempts[0].retry_reason or "")


@pytest.mark.parametrize("retry_after", ["3600", "FUTURE"])
def test_a_wait_past_the_budget_returns_the_answer_at_once(make_http: MakeHttp, retry_after: str) -> None:
    if retry_after == "FUTURE":
        retry_after = email.utils.formatdate(time.time() + 3600, usegmt=True)
    with FlakyServer(script={"/x": [answer(429, {"Retry-After": retry_after}), answer(200)]}) as srv:
        response, _ = make_http(retry=quick(budget=60.0)).request(srv.url("/x"))
        assert response.status == 429 and srv.count("/x") == 1
        assert response.future.attempts[0].retry_reason is None


def test_a_post_whose_bytes_reached_the_server_is_never_repeated(make_http: MakeHttp) -> None:
    with FlakyServer(script={"/p": [reset_after(), answer(200)]}) as srv:
        response, _ = make_http(retry=quick(attempts=5)).request(srv.url("/p"), "POST", body=b"order=1")
        with pytest.raises(ConnectionResetError):
            _ = response.status
        assert srv.count("/p") == 1  # the server saw it once, and only once
        (attempt,) = response.future.attempts
        assert attempt.status is None and "ConnectionResetError" in (attempt.error or "")


def test_an_idempotent_request_after_a_reset_is_retried(make_http: MakeHttp) -> None:
    with FlakyServer(script={"/p": [reset_after(), answer(201)]}) as srv:
        response, _ = make_http(retry=quick()).request(srv.url("/p"), "PUT", body=b"v=1")
        assert response.status == 201
        first, second = srv.arrivals("/p")
        assert first.raw == second.raw


def test_resend_unsafe_for_one_request(make_http: MakeHttp) -> None:
    with FlakyServer(script={"/p": [reset_after(), answer(200)]}) as srv:
        http = make_http(retry=quick())
        response, _ = http.request(srv.url("/p"), "POST", body=b"again", retry=quick(resend_unsafe=True))
        assert response.status == 200
        first, second = srv.arrivals("/p")
        assert first.raw == second.raw


def test_a_post_refused_before_anything_was_sent_is_retried(make_http: MakeHttp) -> None:
    srv = FlakyServer(script={"/p": [answer(201)]})  # bound, not listening: connections refused
    try:
        http = make_http(retry=quick(attempts=200, backoff_base=0.01, backoff_cap=0.02))
        response, _ = http.request(srv.url("/p"), "POST", body=b"once")
        assert wait_until(lambda: len(response.future.attempts) >= 1)
        srv.start()
        assert response.status == 201
        assert srv.count("/p") == 1
        attempts = response.future.attempts
        assert attempts[0].status is None and "ConnectionRefusedError" in (attempts[0].error or "")
        assert "before any byte" in (attempts[0].retry_reason or "")
    finally:
        srv.stop()


def test_a_post_reset_before_the_tls_handshake_is_retried(make_http: MakeHttp, tls: TlsMaterial, tmp_path: Any) -> None:
    ca = tmp_path / "ca.pem"
    tls.ca.cert_pem.write_to_path(str(ca))
    with FlakyServer(script={"/p": [answer(201)]}, connections=["reset"], ssl_context=tls.server_context()) as srv:
        http = make_http(ca_certs=str(ca), retry=quick())
        response, _ = http.request(srv.url("/p"), "POST", body=b"tls once")
        assert response.status == 201
        assert srv.resets_before == 1 and srv.count("/p") == 1
        assert "before any byte" in (response.future.attempts[0].retry_reason or "")


def test_a_request_override_turns_retries_off_and_on(make_http: MakeHttp) -> None:
    with FlakyServer(script={"/a": [answer(503, {"Retry-After": "0"}), answer(200)]}) as srv:
        response, _ = make_http(retry=quick()).request(srv.url("/a"), retry=False)
        assert response.status == 503 and srv.count("/a") == 1
    with FlakyServer(script={"/a": [answer(503, {"Retry-After": "0"}), answer(200)]}) as srv:
        response, _ = make_http().request(srv.url("/a"), retry=quick())
        assert response.status == 200 and srv.count("/a") == 2


def test_blocking_http_takes_the_same_policy(make_http: MakeHttp) -> None:
    with FlakyServer(script={"/a": [answer(503, {"Retry-After": "0"}), answer(200, body=b"ok")]}) as srv:
        http = make_http(blocking=True, retry=quick())
        response, content = http.request(srv.url("/a"))
        assert type(response) is httplib2.Response and response.status == 200 and content == b"ok"
        assert srv.count("/a") == 2


def test_redirect_hops_are_attempts_each_with_its_own_tries(make_http: MakeHttp) -> None:
    script = {
        "/r": [answer(301, {"Location": "/t"})],
        "/t": [answer(503, {"Retry-After": "0"}), answer(200, body=b"there")],
    }
    with FlakyServer(script=script) as srv:
        response, content = make_http(retry=quick(attempts=2)).request(srv.url("/r"))
        assert response.status == 200 and content == b"there"
        attempts = response.future.attempts
        assert [a.status for a in attempts] == [301, 503, 200]
        assert attempts[0].retry_reason == "redirect (301)"


def test_no_promise_is_left_unresolved(make_http: MakeHttp) -> None:
    script = {
        "/ok": [answer(200)],
        "/busy": [answer(503, {"Retry-After": "0"}), answer(200)],
        "/down": [answer(502)],
        "/reset": [reset_after()],
    }
    with FlakyServer(script=script) as srv:
        http = make_http(retry=quick(attempts=3))
        promises = []
        for i in range(60):
            path = ("/ok", "/busy", "/down", "/reset")[i % 4]
            method = "POST" if i % 8 == 3 else "GET"
            promises.append(http.request(srv.url(path), method, body=b"x" if method == "POST" else None)[0])
        done, not_done = concurrent.futures.wait([p.future for p in promises], timeout=WAIT)
        assert not not_done
        outcomes = {"ok": 0, "error": 0}
        for promise in promises:
            outcomes["error" if promise.exception() is not None else "ok"] += 1
        assert outcomes["ok"] == 45 and outcomes["error"] == 15
        # every POST to /reset was seen at most once by the server
        posts = [a for a in srv.arrivals("/reset") if a.method == "POST"]
        assert len(posts) == 8


def test_close_during_a_backoff_ends_the_request_clearly(make_http: MakeHttp) -> None:
    with FlakyServer(script={"/slow": [answer(503, {"Retry-After": "30"}), answer(200)]}) as srv:
        http = make_http(retry=quick(budget=120.0))
        response, _ = http.request(srv.url("/slow"))
        assert wait_until(lambda: len(response.future.attempts) == 1)
        assert wait_until(lambda: bool(http._client.resilience.sleepers))
        http.close()
        assert response.future.wait(WAIT)
        with pytest.raises(concurrent.futures.CancelledError, match=r"Http.close\(\).*not sent again"):
            _ = response.status
        assert srv.count("/slow") == 1
        assert wait_until(lambda: not http._client.running and not http._client.resilience.sleepers)
        # the Http still works after close(), as httplib2's does
        again, _ = http.request(srv.url("/slow"))
        assert again.status == 200


def test_shutdown_during_a_backoff_does_not_wait_for_it(make_http: MakeHttp) -> None:
    with FlakyServer(script={"/slow": [answer(503, {"Retry-After": "30"})]}) as srv:
        http = make_http(retry=quick(budget=120.0))
        response, _ = http.request(srv.url("/slow"))
        assert wait_until(lambda: bool(http._client.resilience.sleepers))
        http.shutdown(wait=True)  # bounded: the wait is ended, not sat out
        assert response.done()
        assert isinstance(response.exception(), concurrent.futures.CancelledError)
        assert "Http.shutdown()" in str(response.exception())
        assert srv.count("/slow") == 1


def test_cancelling_a_request_during_its_backoff(make_http: MakeHttp) -> None:
    with FlakyServer(script={"/slow": [answer(503, {"Retry-After": "30"})]}) as srv:
        http = make_http(retry=quick(budget=120.0))
        response, _ = http.request(srv.url("/slow"))
        assert wait_until(lambda: bool(http._client.resilience.sleepers))
        assert response.cancel()
        assert wait_until(lambda: not http._client.resilience.sleepers and not http._client.running)
        assert srv.count("/slow") == 1


def test_every_attempt_is_logged_with_its_request_id_and_no_credentials(
    make_http: MakeHttp, caplog: pytest.LogCaptureFixture
) -> None:
    # the reset comes first, on a new connection: a reset on a reused one would be the
    # core's to recover from (it resends an idempotent request once, as the same attempt)
    script = {"/x": [reset_after(), answer(503, {"Retry-After": "0"}), answer(200)]}
    with FlakyServer(script=script) as srv:
        http = make_http(retry=quick())
        uri = srv.url("/x").replace("://", "://alice:s3cr3t-pw@")
        with caplog.at_level(logging.DEBUG, logger="asynchttp"):
            response, _ = http.request(uri, headers={"Authorization": "Bearer s3cr3t-token"})
            assert response.status == 200
        request_id = response.future.request_id
        lines = [r.getMessage() for r in caplog.records if r.name == "asynchttp"]
        for number in (1, 2, 3):
            assert any(line.startswith("request %d attempt %d: " % (request_id, number)) for line in lines), lines
        retried = [line for line in lines if "retrying" in line and line.startswith("request %d " % request_id)]
        assert len(retried) == 2
        assert "ConnectionResetError" in retried[0] and "status 503" in retried[1]
        assert "s3cr3t" not in caplog.text


def test_retries_are_logged_at_info(make_http: MakeHttp, caplog: pytest.LogCaptureFixture) -> None:
    with FlakyServer(script={"/x": [answer(503, {"Retry-After": "0"}), answer(200)]}) as srv:
        with caplog.at_level(logging.INFO, logger="asynchttp"):
            response, _ = make_http(retry=quick()).request(srv.url("/x"))
            assert response.status == 200
        infos = [r for r in caplog.records if r.levelno == logging.INFO and "retrying" in r.getMessage()]
        assert len(infos) == 1


def test_a_subclass_in_httplib2s_flow_gets_the_policy_too(make_http: MakeHttp) -> None:
    seen: list[str] = []

    class Traced(asynchttp.Http):
        def _request(self, *args: Any, **kwargs: Any) -> Any:
            seen.append("request")
            return super()._request(*args, **kwargs)

    with FlakyServer(script={"/x": [answer(503, {"Retry-After": "0"}), answer(200)]}) as srv:
        http = Traced(retry=quick())
        try:
            response, _ = http.request(srv.url("/x"))
            assert response.status == 200 and srv.count("/x") == 2 and seen == ["request"]
            assert [a.status for a in response.future.attempts] == [503, 200]
        finally:
            http.shutdown(wait=True, cancel_pending=True)


def test_the_policy_survives_pickling_the_http(make_http: MakeHttp) -> None:
    http = make_http(retry=quick(attempts=7), rate_limit=asynchttp.RateLimit(3, burst=2))
    clone = pickle.loads(pickle.dumps(http))
    try:
        assert clone._client.resilience.retry == quick(attempts=7)
        assert clone._client.resilience.buckets is not None
        assert clone._client.resilience.buckets.limit == asynchttp.RateLimit(3, burst=2)
    finally:
        clone.shutdown(wait=True)


def test_a_refused_certificate_is_not_retried(make_http: MakeHttp, tls: TlsMaterial) -> None:
    with FlakyServer(ssl_context=tls.server_context(tls.self_signed_cert())) as srv:
        response, _ = make_http(retry=quick()).request(srv.url("/x"))
        with pytest.raises(ssl.SSLError):
            _ = response.status
        (attempt,) = response.future.attempts
        assert "SSL" in (attempt.error or "")
        assert srv.connections == 1 and srv.count() == 0


def test_an_authentication_resend_is_an_attempt(make_http: MakeHttp) -> None:
    challenge = answer(401, {"WWW-Authenticate": 'Basic realm="r"'})
    with FlakyServer(script={"/a": [challenge, answer(200)]}) as srv:
        http = make_http(retry=quick())
        http.add_credentials("user", "pw")
        response, _ = http.request(srv.url("/a"))
        assert response.status == 200
        first, second = response.future.attempts
        assert (first.status, first.retry_reason) == (401, "authentication (401)")
        assert second.retry_reason is None
        assert srv.arrivals("/a")[1].header("authorization") == "Basic dXNlcjpwdw=="


def test_a_wait_is_not_begun_after_shutdown() -> None:
    resilience = _retry.Resilience(None, None)
    _retry.interrupt_backoffs(resilience, None, "Http.shutdown()", stop=True)
    record = _facts.RequestRecord(7, resilience, None)
    with pytest.raises(_retry.RetryInterrupted, match=r"request 7: not sent again .*Http.shutdown\(\)"):
        asyncio.run(_retry.backoff_sleep(record, 60.0, "status 503"))


def test_interrupting_on_a_closed_loop_is_harmless() -> None:
    loop = asyncio.new_event_loop()
    loop.close()
    resilience = _retry.Resilience(None, None)
    _retry.interrupt_backoffs(resilience, loop, "Http.close()")
    assert resilience.interrupts == 1 and resilience.interrupted_by == "Http.close()"


def test_decisions_read_well_in_a_repr() -> None:
    text = repr(decide(503, "2"))
    assert text.startswith("<Decision retry=True delay=2.000 status 503")


def test_a_send_after_an_answer_names_why() -> None:
    assert _facts._follow_up_reason(302) == "redirect (302)"
    assert _facts._follow_up_reason(401) == "authentication (401)"
    assert "httplib2" in _facts._follow_up_reason(200)


def test_a_wake_meant_for_earlier_waits_does_not_cut_a_later_one_short() -> None:
    async def main() -> str:
        resilience = _retry.Resilience(None, None)
        record = _facts.RequestRecord(3, resilience, None)
        resilience.interrupt("Http.close()", False)  # a close() whose wake-up is still on its way
        sleeping = asyncio.ensure_future(_retry.backoff_sleep(record, 30.0, "status 503"))
        for _ in range(3):
            await asyncio.sleep(0)
        resilience.wake_sleepers()  # ...arrives now: this wait began after that close()
        for _ in range(3):
            await asyncio.sleep(0)
        assert not sleeping.done()  # still waiting its 30 s
        _retry.interrupt_backoffs(resilience, asyncio.get_running_loop(), "Http.close()")
        with pytest.raises(_retry.RetryInterrupted) as caught:
            await sleeping
        return str(caught.value)

    assert "request 3: Http.close() during the wait" in asyncio.run(main())
