"""One owner per rule: threads are started only by asynchttp._loop, every one named,
and the HTTP rules the core defines once (asynchttp_lowhaio._rules, exported by the core's
package) are the facade's too.

A fresh interpreter makes requests that use each kind of thread (the loop, the
loop's default executor for a large decode, the cache threads, the callback
workers, a done-callback settled on the loop), then lists the threads: apart from
the main thread, every one is named ``asynchttp-...``.
"""

from __future__ import annotations

import gzip
import json
import os

import asynchttp_lowhaio as _rules
from tests.facade.test_lifecycle import run_script
from tests.servers.http_server import Request, Response, TestServer

# incompressible enough that the gzip body is past the decode-offload threshold
BIG = os.urandom(48 * 1024)


async def _big_gzip(request: Request) -> Response:
    return Response(200, gzip.compress(BIG), [("Content-Encoding", "gzip"), ("Cache-Control", "max-age=60")])


def test_every_thread_asynchttp_starts_is_named(http_server: TestServer, tmp_path: object) -> None:
    http_server.route("/big-gzip", _big_gzip)
    result = run_script(
        """
        import concurrent.futures, hashlib, json, threading, time
        import asynchttp
        from asynchttp import _decode
        asynchttp.IDLE_GRACE = 60  # keep idle threads until they are listed (a naming test)
        http = asynchttp.Http(cache=%r)
        response, content = http.request(%r)
        assert len(content) > _decode.OFFLOAD_THRESHOLD  # decoded in the loop's executor
        seen = []
        promise = http.request(%r, callback=lambda p: seen.append(threading.current_thread().name))
        later = http.request(%r)  # answers after 0.5 s: settled on the loop, not here
        later[0].future.add_done_callback(lambda f: seen.append(threading.current_thread().name))
        concurrent.futures.wait([promise[0].future, later[0].future], timeout=20)
        # a done-callback runs after wait() is woken: give it its turn (a hang guard)
        deadline = time.monotonic() + 20
        while len(seen) < 2 and time.monotonic() < deadline:
            time.sleep(0.01)
        digest = hashlib.sha256(bytes(content)).hexdigest()
        names = sorted(t.name for t in threading.enumerate() if t is not threading.main_thread())
        http.close()
        print(json.dumps([digest, names, seen]))
        """
        % (str(tmp_path), http_server.url("/big-gzip"), http_server.url("/hello"), http_server.url("/slow?delay=0.5"))
    )
    assert result.returncode == 0, result.stderr
    digest, names, seen = json.loads(result.stdout)
    import hashlib

    assert digest == hashlib.sha256(BIG).hexdigest()
    assert names and all(name.startswith("asynchttp-") for name in names), names
    assert "asynchttp-loop" in names
    assert any(name.startswith("asynchttp-io") for name in names), names  # the default executor
    assert any(name.startswith("asynchttp-cache") for name in names), names
    assert len(seen) == 2 and all(name.startswith("asynchttp-") for name in seen), seen


def test_facade_modules_use_the_core_definition() -> None:
    from asynchttp import _cli, _client, _errors, _http, _promise, _semantics, _uri, _wire

    assert _http._DEFAULT_PORTS is _rules.DEFAULT_PORTS
    assert _cli._TOKEN is _rules.TOKEN_TEXT
    assert _http._BAD_HEADER_VALUE is _rules.FIELD_VALUE_FORBIDDEN_TEXT
    assert _semantics.IDEMPOTENT_METHODS == {m.decode() for m in _rules.IDEMPOTENT_METHODS}
    assert _promise.without_userinfo is _rules.without_userinfo
    assert _uri.without_userinfo is _rules.without_userinfo
    assert _wire.without_userinfo is _rules.without_userinfo
    assert _errors.without_userinfo is _rules.without_userinfo
    # the facade's own shared helpers: one home each
    assert _http.body_bytes is _semantics.body_bytes
    assert _client.run_done_callbacks is _promise.run_done_callbacks
