"""Which event loop the loop thread runs: asyncio's unless the user asks for uvloop.

The choice (``asynchttp.use_uvloop()``, else ``ASYNCHTTP_LOOP`` in the environment,
else asyncio) is read each time a loop thread starts, so each case runs in a fresh
interpreter with the environment it names.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest

import asynchttp
from tests.facade.test_lifecycle import ROOT
from tests.servers.http_server import TestServer

# What the loop thread ran on, and that a request was answered there.
REPORT = """
import json
from asynchttp import _loop
print(json.dumps({"loop": type(_loop.get_loop()).__module__ + "." + type(_loop.get_loop()).__name__,
                  "answer": answer}))
"""


def run_fresh(source: str, env_loop: str | None) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, PYTHONPATH=ROOT)
    env.pop("ASYNCHTTP_LOOP", None)
    if env_loop is not None:
        env["ASYNCHTTP_LOOP"] = env_loop
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(source)],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
        cwd=ROOT,
    )


def loop_of(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["answer"] == "hello world"
    return str(report["loop"])


def request_then_report(url: str, before: str = "") -> str:
    return (
        "import asynchttp\n"
        + textwrap.dedent(before)
        + "http = asynchttp.Http()\n"
        + f"answer = http.request({url!r})[1].decode()\n"
        + REPORT
    )


@pytest.mark.parametrize("env_loop", [None, "", "asyncio", " AsyncIO "])
def test_asyncio_by_default(http_server: TestServer, env_loop: str | None) -> None:
    assert loop_of(run_fresh(request_then_report(http_server.url("/hello")), env_loop)).startswith("asynchttp._loop.")


def test_uvloop_from_the_environment(http_server: TestServer) -> None:
    pytest.importorskip("uvloop")
    assert loop_of(run_fresh(request_then_report(http_server.url("/hello")), "uvloop")) == "uvloop.Loop"


def test_use_uvloop_wins_over_the_environment(http_server: TestServer) -> None:
    pytest.importorskip("uvloop")
    url = http_server.url("/hello")
    assert loop_of(run_fresh(request_then_report(url, "asynchttp.use_uvloop()\n"), "asyncio")) == "uvloop.Loop"
    off = run_fresh(request_then_report(url, "asynchttp.use_uvloop(False)\n"), "uvloop")
    assert loop_of(off).startswith("asynchttp._loop.")


def test_the_choice_applies_from_the_next_loop_start(http_server: TestServer) -> None:
    """A running loop keeps its kind; once it stopped (idle), the next one is uvloop."""
    pytest.importorskip("uvloop")
    source = """
    import json, time
    import asynchttp
    from asynchttp import _loop
    asynchttp.IDLE_GRACE = 0.0
    url = %r
    kinds = []
    with asynchttp.Http() as http:
        assert http.request(url)[1] == b"hello world"
        kinds.append(type(_loop.get_loop()).__module__)
        asynchttp.use_uvloop()
        assert http.request(url)[1] == b"hello world"
        kinds.append(type(_loop.get_loop()).__module__)
    deadline = time.monotonic() + 10
    while _loop._state is not None and time.monotonic() < deadline:
        time.sleep(0.01)  # the idle grace (0 here) runs out and the loop thread ends
    with asynchttp.Http() as http:
        answer = http.request(url)[1].decode()
        kinds.append(type(_loop.get_loop()).__module__)
    print(json.dumps({"loop": kinds, "answer": answer, "starts": _loop.loop_starts}))
    """ % http_server.url("/hello")
    result = run_fresh(source, None)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["answer"] == "hello world"
    assert report["loop"] == ["asynchttp._loop", "asynchttp._loop", "uvloop"]
    assert report["starts"] == 2


def test_https_through_uvloop(https_server: TestServer, ca_bundle_path: str) -> None:
    pytest.importorskip("uvloop")
    source = (
        "import asynchttp\n"
        f"http = asynchttp.Http(ca_certs={ca_bundle_path!r})\n"
        f"answer = http.request({https_server.url('/hello')!r})[1].decode()\n" + REPORT
    )
    assert loop_of(run_fresh(source, "uvloop")) == "uvloop.Loop"


def test_an_unknown_loop_name_is_refused_by_name(http_server: TestServer) -> None:
    result = run_fresh(request_then_report(http_server.url("/hello")), "tokio")
    assert result.returncode != 0
    assert "ValueError: ASYNCHTTP_LOOP='tokio': expected one of asyncio, uvloop" in result.stderr


def test_uvloop_asked_for_but_missing_says_how_to_install(http_server: TestServer) -> None:
    # sys.modules["uvloop"] = None makes "import uvloop" fail as on a machine without it.
    before = "import sys\nsys.modules['uvloop'] = None\n"
    for how, env_loop in (("asynchttp.use_uvloop()\n", None), ("", "uvloop")):
        result = run_fresh(request_then_report(http_server.url("/hello"), before + how), env_loop)
        assert result.returncode != 0
        assert "pip install 'asynchttp[uvloop]'" in result.stderr, result.stderr


def test_loop_kind_reads_the_choice_then_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """The decision itself, in this process (the loop threads above ran it in theirs)."""
    from asynchttp import _loop

    monkeypatch.setattr(_loop, "_chosen_kind", None)
    monkeypatch.delenv("ASYNCHTTP_LOOP", raising=False)
    assert _loop.loop_kind() == "asyncio"
    assert _loop.loop_factory() is _loop._Loop
    monkeypatch.setenv("ASYNCHTTP_LOOP", " UVLOOP ")
    assert _loop.loop_kind() == "uvloop"
    monkeypatch.setenv("ASYNCHTTP_LOOP", "tokio")
    with pytest.raises(ValueError, match="ASYNCHTTP_LOOP='tokio'"):
        _loop.loop_kind()
    asynchttp.use_uvloop(False)  # the call wins over the environment
    assert _loop.loop_kind() == "asyncio"


def test_use_uvloop_needs_uvloop(monkeypatch: pytest.MonkeyPatch) -> None:
    from asynchttp import _loop

    monkeypatch.setattr(_loop, "_chosen_kind", None)
    monkeypatch.setitem(sys.modules, "uvloop", None)  # "import uvloop" fails, as where it is missing
    with pytest.raises(ImportError, match=r"pip install 'asynchttp\[uvloop\]'"):
        asynchttp.use_uvloop()
    assert _loop._chosen_kind is None  # nothing changed


def test_use_uvloop_makes_the_next_loop_a_uvloop_one(monkeypatch: pytest.MonkeyPatch) -> None:
    uvloop = pytest.importorskip("uvloop")
    from asynchttp import _loop

    monkeypatch.setattr(_loop, "_chosen_kind", None)
    asynchttp.use_uvloop()
    assert _loop.loop_kind() == "uvloop"
    assert _loop.loop_factory() is uvloop.new_event_loop
