"""Differential test: random request sequences against random server behaviour.

Hypothesis draws a server script (per hit: status, cache headers, ETag,
Location, gzip, Vary), a sequence of requests (method, request cache
directives, validators, Accept) and Http attributes (cache on/off,
follow_all_redirects, ignore_etag).  The same scenario then runs against
httplib2.Http and the asynchttp clients, and every observation (what the caller
saw, what the server received) must be equal.  The hand-written table covers
each behaviour once; this looks for the interactions nobody wrote down.
Derandomized, so a run is reproducible; bounded example count, so it stays fast.
To search harder: COMPAT_EXAMPLES=2000 (and COMPAT_RANDOM=1 --hypothesis-seed=N).
"""

from __future__ import annotations

import gzip
import os
import tempfile
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.servers.script_server import Reply, Request

from .scenarios import Scenario, Step
from .test_table import _HAVE_BLOCKING, _HAVE_PROMISE, _WIRED, _tls_files, _without_wire, run_scenario

STATUSES = [200, 200, 200, 203, 206, 301, 302, 303, 304, 307, 308, 401, 404, 500]
GOOD_AUTH = "Basic am9lOnNlY3JldA=="  # joe:secret
CACHE_CONTROL = [None, None, "max-age=3600", "no-cache", "no-store", "max-age=0", "max-age=3600, must-revalidate"]
ETAGS = [None, None, '"a"', '"b"']

reply_spec = st.fixed_dictionaries(
    {
        "status": st.sampled_from(STATUSES),
        "cache_control": st.sampled_from(CACHE_CONTROL),
        "etag": st.sampled_from(ETAGS),
        "location": st.sampled_from(["/t", "/r", None, "t?x=1"]),
        "gzip": st.booleans(),
        "vary": st.sampled_from([None, "Accept"]),
    }
)

request_spec = st.fixed_dictionaries(
    {
        "method": st.sampled_from(["GET", "GET", "GET", "HEAD", "POST", "PUT", "DELETE"]),
        "cache_control": st.sampled_from([None, None, None, "no-cache", "max-age=0", "only-if-cached", "no-store"]),
        "if_none_match": st.sampled_from([None, None, '"a"']),
        "accept": st.sampled_from([None, "text/a", "text/b"]),
        "authorization": st.sampled_from([None, None, "Bearer caller"]),
        "range": st.sampled_from([None, None, "bytes=0-3"]),
        "redirections": st.sampled_from([5, 5, 1, 0]),
    }
)

attrs_spec = st.fixed_dictionaries(
    {
        "cache": st.booleans(),
        "follow_all_redirects": st.booleans(),
        "ignore_etag": st.booleans(),
        "follow_redirects": st.sampled_from([True, True, False]),
        "forward_authorization_headers": st.booleans(),
        "force_exception_to_status_code": st.booleans(),
        "credentials": st.booleans(),
    }
)


def _scripted(replies: list) -> Any:
    def handler(req: Request, state: dict) -> Reply:
        n = state.get("n", 0)
        state["n"] = n + 1
        spec = replies[n % len(replies)]
        status = spec["status"]
        if status == 401 and req.headers.get("authorization") == GOOD_AUTH:
            status = 200  # the credentials the Http may hold are accepted
        headers = [("Content-Type", "text/plain")]
        if status == 401:
            headers.append(("WWW-Authenticate", 'Basic realm="r"'))
        if spec["cache_control"]:
            headers.append(("Cache-Control", spec["cache_control"]))
        if spec["etag"]:
            headers.append(("ETag", spec["etag"]))
        if spec["vary"]:
            headers.append(("Vary", spec["vary"]))
        if 300 <= status < 400 and status != 304 and spec["location"]:
            headers.append(("Location", spec["location"]))
        body = b"hit %d %s %s %s" % (
            n,
            req.method.encode(),
            req.headers.get("accept", "-").encode(),
            req.headers.get("authorization", "-").encode(),
        )
        if spec["gzip"] and status != 304:
            headers.append(("Content-Encoding", "gzip"))
            body = gzip.compress(body, mtime=0)
        return Reply(status, headers, body if status != 304 else b"")

    return handler


def _target(req: Request, state: dict) -> Reply:
    return Reply(
        200, [("Content-Type", "text/plain"), ("Cache-Control", "max-age=3600")], b"target " + req.method.encode()
    )


def _scenario(replies: list, requests: list, attrs: dict) -> Scenario:
    steps = []
    for spec in requests:
        headers = {}
        if spec["cache_control"]:
            headers["Cache-Control"] = spec["cache_control"]
        if spec["if_none_match"]:
            headers["If-None-Match"] = spec["if_none_match"]
        if spec["accept"]:
            headers["Accept"] = spec["accept"]
        if spec["authorization"]:
            headers["Authorization"] = spec["authorization"]
        if spec["range"]:
            headers["Range"] = spec["range"]
        body = b"payload" if spec["method"] in ("POST", "PUT") else None
        steps.append(
            Step("/r", method=spec["method"], headers=headers or None, body=body, redirections=spec["redirections"])
        )
    names = (
        "follow_all_redirects",
        "ignore_etag",
        "follow_redirects",
        "forward_authorization_headers",
        "force_exception_to_status_code",
    )
    return Scenario(
        "differential",
        4,
        {"/r": _scripted(replies), "/t": _target},
        steps,
        cache=attrs["cache"],
        attrs={name: attrs[name] for name in names},
        credentials=[("joe", "secret", "")] if attrs["credentials"] else [],
    )


KINDS = [
    pytest.param("semantics", id="semantics"),
    pytest.param(
        "blocking",
        id="blocking",
        marks=pytest.mark.skipif(
            not (_HAVE_BLOCKING and _WIRED), reason="asynchttp.BlockingHttp not wired to _semantics"
        ),
    ),
    pytest.param(
        "promise",
        id="promise",
        marks=pytest.mark.skipif(not (_HAVE_PROMISE and _WIRED), reason="asynchttp.Http not wired to _semantics"),
    ),
]


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.slow
def test_random_sequences_match_httplib2(kind: str, tmp_path_factory: Any, monkeypatch: Any) -> None:
    tls = _tls_files(tmp_path_factory)

    @settings(
        max_examples=int(os.environ.get("COMPAT_EXAMPLES", "100")),
        deadline=None,
        derandomize=not os.environ.get("COMPAT_RANDOM"),
        database=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )
    @given(
        replies=st.lists(reply_spec, min_size=1, max_size=4),
        requests=st.lists(request_spec, min_size=1, max_size=4),
        attrs=attrs_spec,
    )
    def check(replies: list, requests: list, attrs: dict) -> None:
        scenario = _scenario(replies, requests, attrs)
        with tempfile.TemporaryDirectory() as where:
            reference = run_scenario("httplib2", scenario, Path(where), monkeypatch, tls)
            mine = run_scenario(kind, scenario, Path(where), monkeypatch, tls)
        assert len(reference) == len(mine)
        if kind == "semantics":  # the test transport frames requests its own way: not the wire
            reference, mine = _without_wire(reference), _without_wire(mine)
        for index, (got, want) in enumerate(zip(mine, reference, strict=True)):
            assert got == want, "step %d differs from httplib2" % index

    check()
