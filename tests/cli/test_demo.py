"""``asynchttp demo`` and its embedded server.

The command runs as a subprocess (on a pipe and on a pseudo-terminal); the server is
also checked on its own with ``http.client``, an independent client, since the
demo's verdict ("every answer was right") is only as good as the server's answers.
"""

from __future__ import annotations

import gzip
import hashlib
import http.client
import json
import re
import subprocess
import time
from typing import Callable, Iterator, Optional

import pytest

from asynchttp._demo import DEMO_TEXT, DemoServer, demo_urls, expected_outcome, pattern
from tests.cli.conftest import run_in_pty, summary_of

Cli = Callable[..., subprocess.CompletedProcess]


# ------------------------------------------------------------------ the command


@pytest.mark.slow
def test_demo_runs_1000_requests_with_bar_and_summary(cli: Cli) -> None:
    proc = cli("demo", "--progress", ASYNCHTTP_NO_TQDM="1")
    assert proc.returncode == 0, proc.stderr
    err = proc.stderr
    assert re.search(r"a local server on http://127\.0\.0\.1:\d+/ ", err)
    assert "fetching 1000 of its URLs, 20 at a time" in err
    assert re.search(r"\r\[#{24}\] 1000/1000 100% [\d.]+ req/s done failed \d+", err)
    summary = summary_of(err)
    assert summary["head"].startswith("asynchttp: 1000 requests in ")
    statuses = dict(pair.split(": ") for pair in summary["status"].split("  "))
    assert set(statuses) == {"200", "404", "500", "503"}  # redirects were followed
    assert summary["errors"].startswith("RemoteDisconnected")  # /drop, on purpose
    assert re.search(
        r"every answer was right \(the \d+ error statuses and \d+ dropped "
        r"connections are on purpose\)",
        err,
    )
    assert proc.stdout == ""


def test_demo_count_and_concurrency(cli: Cli) -> None:
    proc = cli("demo", "-n", "40", "-c", "3")
    assert proc.returncode == 0, proc.stderr
    assert "fetching 40 of its URLs, 3 at a time" in proc.stderr
    summary = summary_of(proc.stderr)
    assert summary["head"].startswith("asynchttp: 40 requests in ")
    assert "\r" not in proc.stderr  # no bar on a pipe unless asked


@pytest.mark.slow
def test_demo_on_a_terminal_shows_the_bar_unless_told_not_to(cli: Cli) -> None:
    status, output = run_in_pty(["demo", "-n", "100"], ASYNCHTTP_NO_TQDM="1")
    assert status == 0, output
    assert re.search(r"\[#{24}\] 100/100 100% [\d.]+ req/s done", output)
    assert "every answer was right" in output
    status, output = run_in_pty(["demo", "-n", "20", "--no-progress"], ASYNCHTTP_NO_TQDM="1")
    assert status == 0, output
    assert "req/s done" not in output and "every answer was right" in output


def test_demo_verbose(cli: Cli) -> None:
    proc = cli("demo", "-n", "10", "-v")
    assert proc.returncode == 0, proc.stderr
    assert re.search(r"^\S+ \S+ asynchttp-loop asynchttp DEBUG request \d+ started", proc.stderr, re.M)


# ------------------------------------------------------------------ the URL mix


def test_demo_urls_are_deterministic_and_cover_every_kind() -> None:
    urls = demo_urls("http://127.0.0.1:1/", 1000)
    assert urls == demo_urls("http://127.0.0.1:1", 1000) and len(set(urls)) == 1000
    kinds = {url.split("/", 3)[3].partition("?")[0] for url in urls}
    assert kinds == {
        "fast",
        "json",
        "gzip",
        "redirect",
        "slow",
        "large",
        "status/404",
        "status/500",
        "status/503",
        "drop",
    }
    assert all(expected_outcome(url) is not None for url in urls)
    for count in (1, 7, 10, 333):
        assert len(demo_urls("http://127.0.0.1:1", count)) == count


# ------------------------------------------------------------------ the server


@pytest.fixture
def server() -> Iterator[DemoServer]:
    with DemoServer(lifetime=30) as running:
        yield running


def ask(
    server: DemoServer, method: str, path: str, body: Optional[bytes] = None, headers: Optional[dict[str, str]] = None
) -> tuple[int, dict[str, str], bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        response = conn.getresponse()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
    finally:
        conn.close()


def test_each_endpoint_answers_as_the_demo_expects(server: DemoServer) -> None:
    for url in sorted(set(u.split("?")[0] + "?" + u.split("?")[1] for u in demo_urls(server.url("/"), 10))):
        path = url.split(str(server.port), 1)[1]
        status, headers, body = ask(server, "GET", path, headers={"Accept-Encoding": "gzip"})
        outcome = expected_outcome(url)
        assert outcome is not None
        want_status, want_length = outcome
        if path.startswith("/redirect"):
            assert status == 302 and headers["location"].startswith("/fast?n=")
            continue
        if path.startswith("/gzip"):
            assert headers["content-encoding"] == "gzip"
            body = gzip.decompress(body)
        assert status == want_status
        if want_length is not None:
            assert len(body) == want_length


def test_dropped_connection(server: DemoServer) -> None:
    with pytest.raises(http.client.RemoteDisconnected):
        ask(server, "GET", "/drop")


def test_gzip_only_when_accepted(server: DemoServer) -> None:
    _, headers, body = ask(server, "GET", "/gzip")
    assert "content-encoding" not in headers and body == DEMO_TEXT
    _, headers, body = ask(server, "GET", "/gzip", headers={"Accept-Encoding": "gzip, deflate"})
    assert headers["content-encoding"] == "gzip" and gzip.decompress(body) == DEMO_TEXT


def test_large_body_is_the_pattern(server: DemoServer) -> None:
    size = 300_001
    status, headers, body = ask(server, "GET", "/large?size=%d" % size)
    assert status == 200 and int(headers["content-length"]) == size
    assert body == pattern(size) and body[251:502] == bytes(range(251))


def test_upload_sized_and_chunked(server: DemoServer) -> None:
    data = pattern(200_000, 7)
    status, _, body = ask(server, "POST", "/upload", body=data)
    assert status == 200
    assert json.loads(body) == {"bytes": len(data), "sha256": hashlib.sha256(data).hexdigest()}
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    try:
        conn.request("POST", "/upload", body=iter([data[:1000], data[1000:]]), encode_chunked=True)
        answer = json.loads(conn.getresponse().read())
    finally:
        conn.close()
    assert answer == {"bytes": len(data), "sha256": hashlib.sha256(data).hexdigest()}


def test_echo_and_keep_alive(server: DemoServer) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    try:
        for n in range(3):
            conn.request("PUT", "/echo?n=%d" % n, body=b"abc", headers={"X-Test": "yes"})
            echoed = json.loads(conn.getresponse().read())
            assert (echoed["method"], echoed["query"], echoed["body"]) == ("PUT", {"n": str(n)}, "abc")
            assert echoed["headers"]["x-test"] == "yes"
    finally:
        conn.close()
    assert server.connections == 1 and server.requests_served == 3


def test_cache_revalidation(server: DemoServer) -> None:
    status, headers, body = ask(server, "GET", "/cache")
    assert status == 200 and "max-age" in headers["cache-control"]
    status, _, body = ask(server, "GET", "/cache", headers={"If-None-Match": headers["etag"]})
    assert status == 304 and body == b""


def test_rest_api(server: DemoServer) -> None:
    status, _, body = ask(server, "GET", "/api/users")
    users = json.loads(body)
    assert status == 200 and [u["id"] for u in users] == list(range(1, len(users) + 1))
    status, _, body = ask(server, "GET", "/api/users/2/posts")
    assert status == 200 and {p["user_id"] for p in json.loads(body)} == {2}
    status, headers, body = ask(server, "POST", "/api/posts", body=json.dumps({"user_id": 3, "title": "t"}).encode())
    created = json.loads(body)
    assert status == 201 and headers["location"] == "/api/posts/%d" % created["id"]
    assert json.loads(ask(server, "GET", headers["location"])[2]) == created
    assert ask(server, "POST", "/api/posts", body=b"not json")[0] == 400
    assert ask(server, "POST", "/api/posts", body=b'{"user_id": 99, "title": "x"}')[0] == 404
    assert ask(server, "GET", "/api/users/99")[0] == 404
    assert ask(server, "DELETE", "/api/users/1")[0] == 405
    assert ask(server, "GET", "/nowhere")[0] == 404


def test_server_stops_by_itself_after_max_requests() -> None:
    with DemoServer(lifetime=30, max_requests=2) as limited:
        assert ask(limited, "GET", "/fast")[0] == 200
        assert ask(limited, "GET", "/fast")[0] == 200
        deadline = time.monotonic() + 10  # a hang guard for the stop, not a timing assertion
        while limited._thread is not None and limited._thread.is_alive():
            assert time.monotonic() < deadline
            time.sleep(0.01)
        with pytest.raises(OSError):
            ask(limited, "GET", "/fast")


def test_server_stops_by_itself_after_its_lifetime() -> None:
    with DemoServer(lifetime=0.2) as brief:
        thread = brief._thread
        assert thread is not None
        thread.join(10)
        assert not thread.is_alive()


def test_demo_ctrl_c() -> None:
    import os
    import signal

    from tests.cli.conftest import CHILD_TIMEOUT, cli_process

    # One at a time, the demo's 40 slow answers alone take 8 s, so Ctrl-C lands mid-run;
    # the first drawing of the bar shows that the job has started.
    seen = b""
    with cli_process("demo", "-c", "1", "--progress", text=False, ASYNCHTTP_NO_TQDM="1") as proc:
        assert proc.stderr is not None
        while b"\r[" not in seen:
            piece = os.read(proc.stderr.fileno(), 4096)
            assert piece, seen
            seen += piece
        proc.send_signal(signal.SIGINT)
        out, rest = proc.communicate(timeout=CHILD_TIMEOUT)
    err = (seen + rest).decode("utf-8")
    assert proc.returncode == 130, err
    summary = summary_of(err)
    # the first Ctrl-C lets the request in flight finish: none cancelled, the rest never started
    assert summary["head"].startswith("asynchttp: stopped by SIGINT: ")
    assert summary["head"].endswith(", 0 cancelled")
    done = int(summary["head"].split("SIGINT: ")[1].split()[0])
    assert summary["not"] == "read  %d entries not started" % (1000 - done)
    assert "no new requests; waiting up to 10 s for those in flight" in err
    assert "every answer was right" not in err and "Traceback" not in err
