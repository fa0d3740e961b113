"""Every script in examples/ runs as a subprocess and prints what it promises.

The eight scripts start together (each starts its own local server), so the suite
waits for the slowest rather than for their sum. Where an example prints data, the
expected values come from an independent client (``http.client``) asking a fresh
demo server the same questions.
"""

from __future__ import annotations

import hashlib
import http.client
import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any, Iterator

import pytest

from asynchttp._demo import DEMO_TEXT, DemoServer, pattern

pytestmark = pytest.mark.slow  # eight scripts run as subprocesses, each starting its server

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = REPO / "examples"
NAMES = ["simple", "callback", "many", "client", "logging_setup", "from_httplib2", "asyncio_interop", "core_streaming"]
# A hang guard per example, not a timing assertion.
EXAMPLE_TIMEOUT = 60.0


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if "proxy" not in k.lower()}
    env["PYTHONPATH"] = str(REPO) + os.pathsep + env.get("PYTHONPATH", "")
    return env


@pytest.fixture(scope="module")
def runs() -> Iterator[dict[str, subprocess.CompletedProcess]]:
    started = {
        name: subprocess.Popen(
            [sys.executable, str(EXAMPLES / (name + ".py"))],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            cwd=str(REPO),
            env=_env(),
        )
        for name in NAMES
    }
    done: dict[str, subprocess.CompletedProcess] = {}
    try:
        for name, proc in started.items():
            out, err = proc.communicate(timeout=EXAMPLE_TIMEOUT)
            done[name] = subprocess.CompletedProcess(
                proc.args, proc.returncode, out.decode("utf-8"), err.decode("utf-8")
            )
    finally:
        for proc in started.values():
            if proc.poll() is None:
                proc.kill()
                proc.communicate()
    yield done


def ran(runs: dict[str, subprocess.CompletedProcess], name: str) -> list[str]:
    proc = runs[name]
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.splitlines()


class Oracle:
    """A fresh demo server asked by http.client, over one keep-alive connection."""

    def __init__(self, server: DemoServer) -> None:
        self.conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)


def get_json(oracle: Oracle, path: str, method: str = "GET", body: Any = None) -> Any:
    oracle.conn.request(method, path, body=None if body is None else json.dumps(body))
    return json.loads(oracle.conn.getresponse().read())


@pytest.fixture
def oracle() -> Iterator[Oracle]:
    with DemoServer(lifetime=60) as server:
        asker = Oracle(server)
        yield asker
        asker.conn.close()


def test_every_example_is_tested() -> None:
    # dask_fetch starts a cluster: test_dask_fetch.py runs it on its own
    assert sorted(p.stem for p in EXAMPLES.glob("*.py")) == sorted(NAMES + ["dask_fetch"])


def test_simple(runs: dict[str, subprocess.CompletedProcess], oracle: Oracle) -> None:
    lines = ran(runs, "simple")
    assert lines[0] == "status: 200 application/json"
    assert lines[1] == "body: %r" % (get_json(oracle, "/json?id=1"),)
    for n, line in zip(range(2, 7), lines[2:7], strict=True):
        item = get_json(oracle, "/json?id=%d" % n)
        assert line == "item %d: %s costs %.2f" % (n, item["name"], item["price"])
    assert lines[7] == "gzip: 200 %d bytes once decoded, starts with %r" % (len(DEMO_TEXT), DEMO_TEXT[:14])
    assert lines[8] == "dropped connection -> RemoteDisconnected"


def test_callback(runs: dict[str, subprocess.CompletedProcess], oracle: Oracle) -> None:
    lines = ran(runs, "callback")
    items = [get_json(oracle, "/json?id=%d" % n) for n in range(1, 21)]
    assert lines[0] == "20 items decoded, total price %.2f" % sum(i["price"] for i in items)
    assert lines[1] == "first item: %s %r" % (items[0]["name"], items[0]["tags"])
    match = re.fullmatch(r"decoded on (\d) worker thread\(s\), none of them the main thread: True", lines[2])
    assert match and 1 <= int(match[1]) <= 4  # max_workers=4
    assert lines[3] == "the dropped request raises on access: RemoteDisconnected"


def test_many(runs: dict[str, subprocess.CompletedProcess], oracle: Oracle) -> None:
    lines = ran(runs, "many")
    assert re.fullmatch(r"queued 1000 requests in [\d.]+ ms", lines[0])
    expected_bytes = sum(
        len(json.dumps(get_json(oracle, "/json?id=%d" % n), sort_keys=True)) for n in range(1000) if n % 10
    ) + 100 * len(b"status 503\n")
    assert re.fullmatch(r"all 1000 done in [\d.]+ s \(\d+ requests/s\), %d bytes" % expected_bytes, lines[1])
    assert lines[2] == "statuses: 200 x 900, 503 x 100"


def test_client(runs: dict[str, subprocess.CompletedProcess], oracle: Oracle) -> None:
    lines = ran(runs, "client")
    users = get_json(oracle, "/api/users")
    for user, line in zip(users, lines[: len(users)], strict=True):
        titles = [p["title"] for p in get_json(oracle, "/api/users/%d/posts" % user["id"])]
        assert line == "%-8s %s" % (user["name"], ", ".join(titles))
    prices = [get_json(oracle, "/json?id=%d" % n)["price"] for n in (1, 2, 3)]
    assert lines[len(users)] == "prices: " + ", ".join("%.2f" % p for p in prices)
    post = get_json(oracle, "/api/posts", "POST", {"user_id": 1, "title": "hello from the example"})
    assert lines[len(users) + 1] == "created (201): post %d by user 1: %s" % (post["id"], post["title"])
    assert len(lines) == len(users) + 2


LOG_LINE = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} (\S+) asynchttp (DEBUG|WARNING|ERROR) ")


def test_logging_setup(runs: dict[str, subprocess.CompletedProcess], oracle: Oracle) -> None:
    lines = ran(runs, "logging_setup")
    size = len(json.dumps(get_json(oracle, "/json?id=1"), sort_keys=True))
    assert lines == ["1: 200 %d bytes" % size, "2: RemoteDisconnected", "3: ValueError"]
    logs = [LOG_LINE.match(line) for line in runs["logging_setup"].stderr.splitlines()]
    found = [m for m in logs if m]
    threads = {m[1] for m in found}
    assert {"MainThread", "asynchttp-loop"} <= threads
    assert any("worker" in name for name in threads)
    assert {m[2] for m in found} == {"DEBUG", "WARNING", "ERROR"}
    stderr = runs["logging_setup"].stderr
    assert "Traceback" in stderr and "ValueError: a bug in a callback" in stderr
    assert "logging_setup.py" in stderr  # the stack of the request() call is in the log
    for step in ("queued", "started", "resolved", "callback start", "callback end"):
        assert re.search(r"request \d+ %s" % step, stderr), step


def test_from_httplib2(runs: dict[str, subprocess.CompletedProcess]) -> None:
    lines = ran(runs, "from_httplib2")
    timed = [line for line in lines if re.fullmatch(r"\d\. .+ [\d.]+ s", line)]
    assert [line.split("  ")[0] for line in timed] == [
        "0. httplib2.Http",
        "1. asynchttp.BlockingHttp",
        "2. asynchttp.Http",
        "1. BlockingHttp, 10 slow requests",
        "2. Http, 10 slow requests",
    ]
    rest = [line for line in lines if line not in timed]
    assert rest == [
        "same prices in all three: True",
        "shared BlockingHttp from 4 threads: True",
        "httplib2 raises ConnectionRefusedError",
        "BlockingHttp raises ConnectionRefusedError",
        "Http raises ConnectionRefusedError when the response is touched",
    ]


def test_asyncio_interop(runs: dict[str, subprocess.CompletedProcess]) -> None:
    assert ran(runs, "asyncio_interop") == [
        "awaited one: item-42",
        "gathered 10 slow answers: [200]",
        "our loop kept running meanwhile: True",
        "awaiting a failed request raises RemoteDisconnected",
    ]


def test_core_streaming(runs: dict[str, subprocess.CompletedProcess]) -> None:
    lines = ran(runs, "core_streaming")
    size = 32 * 1024 * 1024
    assert lines[0] == "uploaded 32 MiB; the server counted %d bytes; sha256 matches: True" % size
    match = re.fullmatch(r"downloaded 32 MiB \(status 200\) in chunks of at most (\d+) KiB", lines[1])
    assert match and int(match[1]) <= 1024
    match = re.fullmatch(r"peak memory traced: upload (\d+) KiB, download (\d+) KiB \(file: (\d+) KiB\)", lines[2])
    assert match and int(match[3]) == size >> 10
    # constant memory: far below the size of the file (a whole copy would be 32768 KiB)
    assert int(match[1]) < 8192 and int(match[2]) < 8192
    expected = hashlib.sha256()
    for start in range(0, size, 1 << 20):
        expected.update(pattern(1 << 20, start))
    assert lines[3] == "download digest: " + expected.hexdigest()
