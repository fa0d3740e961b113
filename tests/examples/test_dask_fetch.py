"""examples/dask_fetch.py on a real 2-process LocalCluster on 127.0.0.1, against local servers.

The example runs as a subprocess, as a user runs it, so its cluster and worker
processes are its own; the test sees its JSONL, its stderr, its exit status, and
what the local servers received (the evidence that each URL was fetched once, that a
malformed line was never fetched, and that the shared rate held across workers).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from tests.servers import closed_port
from tests.servers.flaky import FlakyServer
from tests.servers.http_server import TestServer

pytest.importorskip("distributed")

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "examples" / "dask_fetch.py"
# A hang guard (cluster start-up on a loaded machine included), not a timing assertion.
TIMEOUT = 180.0


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if "proxy" not in k.lower()}
    env["PYTHONPATH"] = str(REPO) + os.pathsep + env.get("PYTHONPATH", "")
    return env


def run(*args: str, input: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(SCRIPT), *args],
        capture_output=True,
        text=True,
        cwd=str(REPO),
        env=_env(),
        timeout=TIMEOUT,
        input=input,
    )


def records_of(text: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def test_a_url_file_is_split_over_the_workers_into_one_jsonl(http_server: TestServer, tmp_path: Path) -> None:
    count = 120
    urls = [http_server.url("/hello?n=%d" % n) for n in range(count)]
    refused = "http://127.0.0.1:%d/refused" % closed_port()
    missing = http_server.url("/status?code=404")
    url_file = tmp_path / "urls.txt"
    url_file.write_text("# my URLs\n" + "\n".join(urls[:60] + ["not a url", missing, refused] + urls[60:]) + "\n")
    out = tmp_path / "results.jsonl"
    proc = run("-i", str(url_file), "-o", str(out), "--batch", "20", "--retry", "0", "--workers", "2")
    assert proc.returncode == 1, proc.stderr  # a 404, a refused connection, a malformed line
    records = records_of(out.read_text())
    by_line = {r["line"]: r for r in records}
    assert len(records) == len(by_line) == count + 3  # one record per line, none twice
    assert by_line[62]["outcome"] == "malformed" and by_line[62]["url"] is None
    assert "dask_fetch: %s:62: skipped: " % url_file in proc.stderr
    assert (by_line[63]["outcome"], by_line[63]["status"]) == ("client_error", 404)
    assert by_line[64]["outcome"] == "error" and by_line[64]["error"].startswith("ConnectionRefusedError")
    ok = [r for r in records if r["outcome"] == "ok"]
    assert sorted(r["url"] for r in ok) == sorted(urls)
    assert all(r["bytes"] == len(b"hello world") and r["attempts"] == 1 for r in ok)
    assert len({r["worker"] for r in ok}) == 2  # both workers took batches
    # each URL reached the server exactly once; the malformed line never did
    assert Counter(r.target for r in http_server.requests) == Counter(
        {"/hello?n=%d" % n: 1 for n in range(count)} | {"/status?code=404": 1}
    )
    assert "dask_fetch: %d lines on 2 workers: " % (count + 3) in proc.stderr
    assert "1 client_error, 1 error, 1 malformed, %d ok" % count in proc.stderr


def test_stdin_and_a_rate_shared_by_the_workers(tmp_path: Path) -> None:
    with FlakyServer() as server:
        urls = [server.url("/p%d" % n) for n in range(8)]
        # 2 per second over both workers (1/s and a burst of 1 each): without the
        # rate, 8 requests would arrive within a few milliseconds
        proc = run("-i", "-", "--rate", "2", "--rate-burst", "2", "--batch", "4", input="\n".join(urls) + "\n")
        assert proc.returncode == 0, proc.stderr
        records = records_of(proc.stdout)
        assert sorted(r["url"] for r in records) == sorted(urls)
        assert all(r["outcome"] == "ok" for r in records)
        assert server.count() == 8
        # at most the two bursts and two tokens earned within any one second
        assert server.arrivals_per_window(1.0) <= 4


def test_bad_arguments_are_refused_clearly() -> None:
    proc = run("--batch", "0", "-i", "x")
    assert proc.returncode == 2 and "--batch must be at least 1" in proc.stderr
    proc = run()
    assert proc.returncode == 2 and "no URLs: give -i FILE" in proc.stderr
