"""Both engines run in this process (``_cli.main``), against local servers.

The subprocess tests (test_long_jobs.py) show what a user sees; these run the same
jobs through ``main()`` so that every branch of the engines is exercised where the
coverage tools see it, and check the records each engine writes field by field.
"""

from __future__ import annotations

import json
import logging
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from asynchttp import _cli
from tests.servers import closed_port
from tests.servers.flaky import FlakyServer, answer, reset_after
from tests.servers.http_server import TestServer

ENGINES = pytest.mark.parametrize("engine", ["core", "facade"])


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, list[dict[str, Any]], str]:
    status = _cli.main(["--no-progress", *argv])
    out, err = capsys.readouterr()
    records = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
    return status, records, err


@ENGINES
def test_a_mixed_file(capsys: pytest.CaptureFixture[str], http_server: TestServer, tmp_path: Path, engine: str) -> None:
    url_file = tmp_path / "urls.txt"
    url_file.write_text(
        "\n".join(
            [
                http_server.url("/hello"),
                http_server.url("/status?code=404"),
                "http://127.0.0.1:%d/x" % closed_port(),
                "ftp://nope/",
                http_server.url("/redirect?to=/json"),
                http_server.url("/status?code=101"),
            ]
        )
        + "\n"
    )
    status, records, err = run(capsys, "--engine", engine, "--jsonl", "--retry", "0", "-i", str(url_file))
    assert status == 4
    by_line = {r["line"]: r for r in records}
    assert [by_line[n]["outcome"] for n in range(1, 6)] == ["ok", "client_error", "error", "malformed", "ok"]
    assert by_line[3]["phase"] == "connect" and by_line[3]["error"].startswith("ConnectionRefusedError")
    assert by_line[5]["final_url"] == http_server.url("/json")
    # an interim status as the final answer breaks HTTP/1.1: no answer, on both engines
    assert (by_line[6]["outcome"], by_line[6]["status"]) == ("error", None)
    assert by_line[6]["error"].startswith("BadStatusLine: unexpected 101")
    assert "%s:4: skipped: not an http:// or https:// URL: 'ftp://nope/'" % url_file in err


@ENGINES
def test_retries_after_resets_and_statuses(capsys: pytest.CaptureFixture[str], engine: str) -> None:
    script = {"/reset": [reset_after(), answer(200, body=b"second")], "/busy": [answer(503), answer(200)]}
    with FlakyServer(script=script) as server:
        status, records, _ = run(
            capsys, "--engine", engine, "--jsonl", "--retry", "2", server.url("/reset"), server.url("/busy")
        )
        assert status == 0
        by_url = {r["url"]: r for r in records}
        reset, busy = by_url[server.url("/reset")], by_url[server.url("/busy")]
        assert (reset["status"], reset["bytes"], reset["attempts"]) == (200, 6, 2)
        assert (busy["status"], busy["attempts"]) == (200, 2) and "503" in busy["retries"][0]
        assert server.count("/reset") == 2 and server.count("/busy") == 2


@ENGINES
def test_a_post_whose_bytes_may_have_arrived_is_not_sent_again(capsys: pytest.CaptureFixture[str], engine: str) -> None:
    with FlakyServer(script={"/p": [reset_after(), answer(200)]}) as server:
        status, records, _ = run(capsys, "--engine", engine, "--jsonl", "-d", "body", server.url("/p"))
        assert status == 3
        (record,) = records
        assert record["outcome"] == "error" and record["attempts"] == 1
        assert server.count("/p") == 1


@ENGINES
def test_resume_in_process(
    capsys: pytest.CaptureFixture[str], http_server: TestServer, tmp_path: Path, engine: str
) -> None:
    state = tmp_path / "state.jsonl"
    urls = [http_server.url("/hello?n=%d" % n) for n in range(4)]
    assert _cli.main(["--no-progress", "-q", "--engine", engine, "--resume", str(state), *urls[:2]]) == 0
    assert _cli.main(["--no-progress", "-q", "--engine", engine, "--resume", str(state), *urls]) == 0
    err = capsys.readouterr().err
    assert "skipped   2 finished in a previous run" in err
    assert Counter(r.target for r in http_server.requests) == Counter({"/hello?n=%d" % n: 1 for n in range(4)})
    lines = [json.loads(line) for line in state.read_text().splitlines()]
    assert sorted(r["line"] for r in lines) == [1, 2, 3, 4]


@ENGINES
def test_headers_body_and_method(capsys: pytest.CaptureFixture[str], http_server: TestServer, engine: str) -> None:
    status, records, _ = run(
        capsys, "--engine", engine, "--jsonl", "-X", "PUT", "-H", "X-One: 1", "-d", "payload", http_server.url("/echo")
    )
    assert status == 0 and records[0]["status"] == 200
    (request,) = http_server.requests
    assert (request.method, request.body, request.header("x-one")) == ("PUT", b"payload", "1")
    assert request.header("content-length") == "7"


@ENGINES
def test_tls_insecure_and_cacert(
    capsys: pytest.CaptureFixture[str], https_server: TestServer, ca_bundle_path: str, engine: str
) -> None:
    status, records, _ = run(capsys, "--engine", engine, "--jsonl", https_server.url("/hello"))
    assert status == 3 and records[0]["phase"] == "tls" and records[0]["attempts"] == 1
    assert run(capsys, "--engine", engine, "-k", "-q", https_server.url("/hello"))[0] == 0
    status, records, _ = run(
        capsys, "--engine", engine, "--jsonl", "--cacert", ca_bundle_path, https_server.url("/hello")
    )
    assert status == 0 and records[0]["timings"]["tls"] is not None


@ENGINES
def test_timeout_phase(capsys: pytest.CaptureFixture[str], http_server: TestServer, engine: str) -> None:
    status, records, _ = run(
        capsys, "--engine", engine, "--jsonl", "--retry", "0", "--timeout", "0.2", http_server.url("/slow?delay=5")
    )
    assert status == 3
    assert records[0]["error"].startswith("TimeoutError") and records[0]["phase"] in ("head", "body")


def test_rate_in_process(capsys: pytest.CaptureFixture[str]) -> None:
    with FlakyServer() as server:
        urls = [server.url("/r%d" % n) for n in range(4)]
        assert _cli.main(["--no-progress", "-q", "--engine", "core", "--rate", "4", "--rate-burst", "1", *urls]) == 0
        assert server.count() == 4 and server.arrivals_per_window(0.2) <= 2


@pytest.mark.parametrize("kind", ["asyncio", "uvloop"])
def test_the_core_engine_runs_on_the_loop_asynchttp_loop_names(
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
    http_server: TestServer,
    kind: str,
) -> None:
    if kind == "uvloop":
        pytest.importorskip("uvloop")
    monkeypatch.setenv("ASYNCHTTP_LOOP", kind)
    with caplog.at_level(logging.DEBUG, logger="asynchttp.cli"):
        status, records, _ = run(
            capsys, "--engine", "core", "--jsonl", http_server.url("/hello"), http_server.url("/json")
        )
    assert status == 0
    assert sorted((r["line"], r["outcome"], r["status"]) for r in records) == [(1, "ok", 200), (2, "ok", 200)]
    started = [m for m in caplog.messages if m.startswith("core engine:")]
    assert len(started) == 1 and started[0].split(" on ")[1].split(".")[0] == kind


def test_a_loop_that_does_not_exist_is_a_usage_error(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, http_server: TestServer
) -> None:
    monkeypatch.setenv("ASYNCHTTP_LOOP", "tokio")
    status = _cli.main(["--no-progress", http_server.url("/hello")])
    err = capsys.readouterr().err
    assert status == 2 and "ASYNCHTTP_LOOP='tokio'" in err
    assert http_server.requests == []  # nothing was sent
