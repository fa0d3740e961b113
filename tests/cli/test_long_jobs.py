"""The command on long jobs: streamed input, malformed lines, records, stops and resumes.

Each test runs ``python -m asynchttp`` as a subprocess against a local server; what the
server received is the evidence for what was sent (and how often), the JSONL and the
summary for what was reported.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from collections import Counter
from pathlib import Path
from typing import Any, Callable

import pytest

from tests.cli.conftest import CHILD_TIMEOUT, cli_process, summary_of
from tests.servers import closed_port
from tests.servers.http_server import TestServer

Cli = Callable[..., subprocess.CompletedProcess]

# The jobs below run on both engines (--engine core: the core pool on the main thread;
# --engine facade: asynchttp.Http), which must agree on every record and count.
ENGINES = pytest.mark.parametrize("engine", ["core", "facade"])


def records_of(text: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def wait_for(condition: Callable[[], bool], what: str) -> None:
    """Poll ``condition`` (a hang guard, not a timing assertion)."""
    deadline = time.monotonic() + CHILD_TIMEOUT
    while not condition():
        assert time.monotonic() < deadline, "never happened: " + what
        time.sleep(0.01)


# ------------------------------------------------------------------ streaming input


def test_the_first_request_goes_out_before_the_input_is_complete(http_server: TestServer, tmp_path: Path) -> None:
    fifo = tmp_path / "urls.fifo"
    os.mkfifo(fifo)
    with cli_process("--jsonl", "-i", str(fifo)) as proc:
        with open(fifo, "w", encoding="utf-8") as writer:
            writer.write(http_server.url("/hello?n=1") + "\n")
            writer.flush()
            # the writer is still open: the command cannot have read its whole input
            wait_for(lambda: len(http_server.requests) == 1, "the first request")
            writer.write("# more to come\n" + http_server.url("/hello?n=2") + "\n")
        out, err = proc.communicate(timeout=CHILD_TIMEOUT)
    assert proc.returncode == 0, err
    assert [r.target for r in http_server.requests] == ["/hello?n=1", "/hello?n=2"]
    assert [(r["line"], r["outcome"]) for r in records_of(out)] == [(1, "ok"), (3, "ok")]


def test_a_url_file_on_stdin_is_streamed_too(cli: Cli, http_server: TestServer) -> None:
    text = "".join(http_server.url("/hello?n=%d" % n) + "\n" for n in range(25))
    proc = cli("-i", "-", "--jsonl", "-c", "4", input=text)
    assert proc.returncode == 0, proc.stderr
    records = records_of(proc.stdout)
    assert sorted(r["line"] for r in records) == list(range(1, 26))
    assert {r["input"] for r in records} == {"<stdin>"}


# ------------------------------------------------------------------ malformed lines


@ENGINES
def test_malformed_lines_are_reported_skipped_and_counted(
    cli: Cli, http_server: TestServer, tmp_path: Path, engine: str
) -> None:
    url_file = tmp_path / "urls.txt"
    lines = [
        http_server.url("/hello?n=1"),
        "www.example.com/no-scheme",
        "http://",
        http_server.url("/hello?n=2"),
        "http://h:99999999/",
        "mailto:someone@example.com",
        http_server.url("/hello?n=3") + " trailing words",
        http_server.url("/hello?n=4"),
    ]
    url_file.write_bytes("\n".join(lines).encode() + b"\nhttp://h/\xff\n")
    proc = cli("--engine", engine, "--jsonl", "-i", str(url_file))
    assert proc.returncode == 4, proc.stderr
    assert sorted(r.target for r in http_server.requests) == ["/hello?n=1", "/hello?n=2", "/hello?n=4"]
    records = {r["line"]: r for r in records_of(proc.stdout)}
    assert sorted(records) == list(range(1, 10))
    bad = {line: r for line, r in records.items() if r["outcome"] == "malformed"}
    assert sorted(bad) == [2, 3, 5, 6, 7, 9]
    for line, record in bad.items():
        assert record["url"] is None and record["status"] is None and record["attempts"] == 0
        assert record["text"] and record["error"]
        assert "asynchttp: %s:%d: skipped: %s: " % (url_file, line, record["error"]) in proc.stderr
    assert bad[6]["error"] == "not an http:// or https:// URL"
    assert bad[9]["error"] == "not UTF-8"
    summary = summary_of(proc.stderr)
    assert summary["head"].endswith(": 3 ok (2xx), 6 malformed lines")
    assert summary["exit"] == "4 (malformed input lines were skipped)"


# ------------------------------------------------------------------ the records


@ENGINES
def test_a_record_names_the_final_url_after_redirects(cli: Cli, http_server: TestServer, engine: str) -> None:
    url = http_server.url("/redirect?to=/redirect%3Fto%3D/hello")
    proc = cli("--engine", engine, "--jsonl", url)
    assert proc.returncode == 0, proc.stderr
    (record,) = records_of(proc.stdout)
    assert (record["url"], record["final_url"], record["status"]) == (url, http_server.url("/hello"), 200)
    assert [r.path for r in http_server.requests] == ["/redirect", "/redirect", "/hello"]


@ENGINES
def test_summary_counts_match_the_records_and_the_exit_status(
    cli: Cli, http_server: TestServer, tmp_path: Path, engine: str
) -> None:
    url_file = tmp_path / "urls.txt"
    url_file.write_text(
        "\n".join(
            [
                http_server.url("/hello?n=1"),
                http_server.url("/hello?n=2"),
                http_server.url("/status?code=404"),
                http_server.url("/status?code=500"),
                http_server.url("/status?code=503"),
                "http://127.0.0.1:%d/refused" % closed_port(),
                "not a url",
            ]
        )
        + "\n"
    )
    proc = cli("--engine", engine, "--jsonl", "--retry", "0", "-i", str(url_file))
    outcomes = Counter(r["outcome"] for r in records_of(proc.stdout))
    assert outcomes == Counter(ok=2, client_error=1, server_error=2, error=1, malformed=1)
    summary = summary_of(proc.stderr)
    assert summary["head"].endswith(
        ": 2 ok (2xx), 1 client error (4xx), 2 server error (5xx), 1 failed (no answer), 1 malformed line"
    )
    assert summary["head"].startswith("asynchttp: 6 requests in ")
    assert summary["status"] == "200: 2  404: 1  500: 1  503: 1"
    assert proc.returncode == 4 and summary["exit"].startswith("4 ")
    # without the malformed line the worst is the transport error, then the 4xx/5xx
    url_file.write_text("\n".join(url_file.read_text().splitlines()[:-1]) + "\n")
    assert cli("--engine", engine, "--retry", "0", "-q", "-i", str(url_file)).returncode == 3
    url_file.write_text("\n".join(url_file.read_text().splitlines()[:-1]) + "\n")
    assert cli("--engine", engine, "--retry", "0", "-q", "-i", str(url_file)).returncode == 1


# ------------------------------------------------------------------ stop and resume


@ENGINES
@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_a_stopped_run_resumes_and_every_url_is_fetched_exactly_once(
    cli: Cli, http_server: TestServer, tmp_path: Path, signum: signal.Signals, engine: str
) -> None:
    count = 30
    url_file = tmp_path / "urls.txt"
    state = tmp_path / "results.jsonl"
    url_file.write_text(
        "# a slow server: the stop lands mid-run\n"
        + "".join(http_server.url("/slow?delay=0.2&n=%d" % n) + "\n" for n in range(count))
        + "not a url\n"
    )
    args = ["--engine", engine, "-q", "-c", "3", "-i", str(url_file), "--resume", str(state)]
    with cli_process(*args) as proc:
        wait_for(lambda: len(http_server.requests) >= 6, "six requests at the server")
        proc.send_signal(signum)
        _, err = proc.communicate(timeout=CHILD_TIMEOUT)
    assert proc.returncode == 128 + signum, err
    name = signal.Signals(signum).name
    summary = summary_of(err)
    assert summary["head"].startswith("asynchttp: stopped by %s: " % name)
    assert summary["head"].endswith(", 0 cancelled")  # the grace let those in flight finish
    first = records_of(state.read_text())
    assert all(r["outcome"] == "ok" for r in first), first
    done = len(first)
    assert 6 <= done < count
    read_up_to = max(r["line"] for r in first)
    assert summary["not"] == "read  %d lines of %s (lines %d to %d)" % (
        count + 2 - read_up_to,
        url_file,
        read_up_to + 1,
        count + 2,
    )
    assert "rerun the same command (with --resume %s)" % state in summary["resume"]
    assert "Traceback" not in err

    again = cli(*args)
    assert again.returncode == 4, again.stderr  # the malformed last line
    summary = summary_of(again.stderr)
    assert summary["skipped"] == "%d finished in a previous run" % done
    assert summary["head"].endswith(": %d ok (2xx), 1 malformed line" % (count - done))
    # every URL reached the server exactly once over the two runs, and has one record
    assert Counter(r.target for r in http_server.requests) == Counter(
        {"/slow?delay=0.2&n=%d" % n: 1 for n in range(count)}
    )
    records = records_of(state.read_text())
    assert sorted(r["line"] for r in records) == list(range(2, count + 3))
    # a third run has nothing left to do
    third = cli(*args)
    assert third.returncode == 0, third.stderr
    assert summary_of(third.stderr)["skipped"] == "%d finished in a previous run" % (count + 1)
    assert len(http_server.requests) == count


@ENGINES
def test_a_second_signal_cancels_those_in_flight_and_they_are_fetched_on_resume(
    cli: Cli, http_server: TestServer, tmp_path: Path, engine: str
) -> None:
    state = tmp_path / "results.jsonl"
    held = [http_server.url("/wait?key=held&n=%d" % n) for n in range(2)]
    args = ["--engine", engine, "-q", "-c", "2", "--resume", str(state), *held, http_server.url("/hello")]
    with cli_process(*args) as proc:
        assert http_server.wait_arrived("held", 2, timeout=CHILD_TIMEOUT)
        proc.send_signal(signal.SIGTERM)
        assert proc.stderr is not None
        line = proc.stderr.readline()
        assert "SIGTERM: no new requests; waiting up to 10 s for those in flight (again to cancel them)" in line
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=CHILD_TIMEOUT)
    assert proc.returncode == 143, err
    summary = summary_of(err)
    assert summary["head"].endswith(": 0 ok (2xx), 2 cancelled")
    assert summary["not"] == "read  1 URL given as argument"
    records = records_of(state.read_text())
    assert sorted((r["line"], r["outcome"]) for r in records) == [(1, "cancelled"), (2, "cancelled")]
    http_server.release("held")
    again = cli(*args)
    assert again.returncode == 0, again.stderr
    assert summary_of(again.stderr)["head"].endswith(": 3 ok (2xx)")
    outcomes = [(r["line"], r["outcome"]) for r in records_of(state.read_text())]
    assert sorted(outcomes) == [(1, "cancelled"), (1, "ok"), (2, "cancelled"), (2, "ok"), (3, "ok")]


def test_resume_file_cut_in_the_middle_of_a_record(cli: Cli, http_server: TestServer, tmp_path: Path) -> None:
    state = tmp_path / "results.jsonl"
    first = cli("--resume", str(state), http_server.url("/hello?n=1"))
    assert first.returncode == 0, first.stderr
    with open(state, "a", encoding="utf-8") as handle:
        handle.write('{"input": "<args>", "line": 2, "url": "ht')  # what a kill -9 can leave
    again = cli("-q", "--resume", str(state), http_server.url("/hello?n=1"), http_server.url("/hello?n=2"))
    assert again.returncode == 0, again.stderr
    assert "asynchttp: %s: 1 unreadable line(s) ignored" % state in again.stderr
    assert [r.target for r in http_server.requests] == ["/hello?n=1", "/hello?n=2"]
    lines = state.read_text().splitlines()
    assert len(lines) == 3 and json.loads(lines[2])["line"] == 2


def test_resume_file_unusable(cli: Cli, http_server: TestServer, tmp_path: Path) -> None:
    proc = cli("--resume", str(tmp_path), http_server.url("/hello"))
    assert proc.returncode == 2
    assert "cannot use resume file" in proc.stderr and http_server.requests == []


# ------------------------------------------------------------------ downloads


def test_downloads_named_by_a_template(cli: Cli, http_server: TestServer, tmp_path: Path) -> None:
    out = tmp_path / "out"
    urls = [http_server.url("/bytes?n=%d" % n) for n in (10, 2000)] + [http_server.url("/hello")]
    proc = cli("-o", str(out), "--output-template", "{host}/{line}-{name}", "--jsonl", *urls)
    assert proc.returncode == 0, proc.stderr
    records = {r["line"]: r for r in records_of(proc.stdout)}
    assert records[1]["file"] == str(out / "127.0.0.1" / "1-bytes")
    assert records[3]["file"] == str(out / "127.0.0.1" / "3-hello")
    assert Path(records[3]["file"]).read_bytes() == b"hello world"
    assert [Path(records[n]["file"]).stat().st_size for n in (1, 2)] == [10, 2000]
    assert [r["bytes"] for _, r in sorted(records.items())] == [10, 2000, 11]
    assert not list(out.rglob("*.part"))


# ------------------------------------------------------------------ retries and politeness


@ENGINES
def test_retries_are_on_by_default_and_recorded(cli: Cli, engine: str) -> None:
    from tests.servers.flaky import FlakyServer, answer

    script = {
        "/busy": [answer(503, {"Retry-After": "0"}), answer(429, {"Retry-After": "0"}), answer(200, body=b"done")],
        "/gone": [answer(503, {"Retry-After": "0"})],
    }
    with FlakyServer(script=script) as server:
        proc = cli("--engine", engine, "--jsonl", server.url("/busy"), server.url("/gone"))
        records = {r["url"]: r for r in records_of(proc.stdout)}
        busy, gone = records[server.url("/busy")], records[server.url("/gone")]
        assert (busy["outcome"], busy["status"], busy["bytes"], busy["attempts"]) == ("ok", 200, 4, 3)
        assert len(busy["retries"]) == 2
        assert "503" in busy["retries"][0] and "429" in busy["retries"][1]
        # the default --retry 3: four tries in all, then the last answer is the outcome
        assert (gone["outcome"], gone["status"], gone["attempts"]) == ("server_error", 503, 4)
        assert server.count("/busy") == 3 and server.count("/gone") == 4
        assert proc.returncode == 1
        off = cli("--jsonl", "--retry", "0", server.url("/gone"))
        (record,) = records_of(off.stdout)
        assert (record["status"], record["attempts"], record["retries"]) == (503, 1, [])
        assert server.count("/gone") == 5


@ENGINES
def test_rate_per_host_paces_arrivals(cli: Cli, engine: str) -> None:
    from tests.servers.flaky import FlakyServer

    with FlakyServer() as server:
        urls = [server.url("/r%d" % n) for n in range(5)]
        proc = cli("--engine", engine, "-q", "-c", "5", "--rate", "2/s", "--rate-burst", "1", *urls)
        assert proc.returncode == 0, proc.stderr
        assert server.count() == 5
        # one at once, then two a second: never more than three within any second
        assert server.arrivals_per_window(1.0) <= 3
    with FlakyServer() as server:  # the same job without --rate: all five at once
        urls = [server.url("/r%d" % n) for n in range(5)]
        assert cli("-q", "-c", "5", *urls).returncode == 0
        assert server.arrivals_per_window(1.0) == 5


@ENGINES
def test_per_host_limits_connections(cli: Cli, http_server: TestServer, engine: str) -> None:
    urls = [http_server.url("/slow?delay=0.05&n=%d" % n) for n in range(6)]
    proc = cli("--engine", engine, "-q", "-c", "6", "--per-host", "1", *urls)
    assert proc.returncode == 0, proc.stderr
    assert len(http_server.requests) == 6
    assert len({r.conn_id for r in http_server.requests}) == 1


def test_the_core_engine_refuses_what_only_the_facade_does(cli: Cli, http_server: TestServer, tmp_path: Path) -> None:
    for extra, why in (
        (["--cache", str(tmp_path / "c")], "--cache"),
        (["-o", str(tmp_path / "o")], "-o"),
        (["-v"], "-v"),
        (["-i", "-"], "input from a pipe"),
    ):
        proc = cli("--engine", "core", *extra, http_server.url("/hello"), input="")
        assert proc.returncode == 2, proc.stderr
        assert "--engine core cannot run this job (%s needs --engine facade)" % why in proc.stderr
    proc = cli("--engine", "core", http_server.url("/hello"), http_proxy="http://127.0.0.1:9")
    assert proc.returncode == 2 and "a proxy in the environment" in proc.stderr
    assert http_server.requests == []


def _ranged_file(http_server: TestServer, data: bytes) -> None:
    """/file on ``http_server``: ``data``, with Range support (206 and Content-Range)."""
    from tests.servers.http_server import Request, Response

    async def serve(request: Request) -> Response:
        wanted = request.header("range")
        if wanted and wanted.startswith("bytes=") and wanted.endswith("-"):
            start = int(wanted[len("bytes=") : -1])
            headers = [("Content-Range", "bytes %d-%d/%d" % (start, len(data) - 1, len(data)))]
            return Response(status=206, body=data[start:], headers=headers)
        return Response(status=200, body=data)

    http_server.route("/file", serve)


def test_continue_resumes_a_partial_download_with_range(cli: Cli, http_server: TestServer, tmp_path: Path) -> None:
    data = bytes(range(256)) * 64
    _ranged_file(http_server, data)
    out = tmp_path / "out"
    out.mkdir()
    (out / "file.part").write_bytes(data[:1000])  # what an interrupted run left
    proc = cli("-o", str(out), "--output-template", "{name}", "-C", "-", "--jsonl", http_server.url("/file"))
    assert proc.returncode == 0, proc.stderr
    assert (out / "file").read_bytes() == data and not (out / "file.part").exists()
    assert [r.header("range") for r in http_server.requests] == ["bytes=1000-"]
    (record,) = records_of(proc.stdout)
    assert (record["status"], record["file"]) == (206, str(out / "file"))


@ENGINES
def test_a_closed_stdout_ends_the_job(http_server: TestServer, tmp_path: Path, engine: str) -> None:
    url_file = tmp_path / "urls.txt"
    url_file.write_text("".join(http_server.url("/hello?n=%d" % n) + "\n" for n in range(2000)))
    with cli_process("--engine", engine, "-c", "2", "-i", str(url_file), text=False) as proc:
        assert proc.stdout is not None
        assert proc.stdout.readline().startswith(b"200 ")
        proc.stdout.close()  # as `| head -1` does
        _, err = proc.communicate(timeout=CHILD_TIMEOUT)
    assert proc.returncode == 1, err
    assert b"Traceback" not in err
    assert len(http_server.requests) < 2000  # it stopped instead of fetching the rest


@ENGINES
@pytest.mark.parametrize(
    "method, code, followed_with",
    [("GET", 302, "GET"), ("POST", 302, None), ("POST", 303, "GET"), ("PUT", 308, "PUT"), ("GET", 307, "GET")],
)
def test_redirects_followed_as_httplib2_follows_them(
    cli: Cli, http_server: TestServer, engine: str, method: str, code: int, followed_with: str | None
) -> None:
    url = http_server.url("/redirect?to=/echo&code=%d" % code)
    proc = cli("--engine", engine, "--jsonl", "-X", method, "-d", "x", url)
    (record,) = records_of(proc.stdout)
    methods = [(r.method, r.path) for r in http_server.requests]
    if followed_with is None:
        assert (record["status"], record["final_url"]) == (code, url) and proc.returncode == 0
        assert methods == [(method, "/redirect")]
    else:
        assert (record["status"], record["final_url"]) == (200, http_server.url("/echo"))
        assert methods == [(method, "/redirect"), (followed_with, "/echo")]
        assert (record["attempts"], record["retries"]) == (2, ["redirect (%d)" % code])
