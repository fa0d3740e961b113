"""Every option of the ``asynchttp`` command, run as a subprocess against local servers.

What the server received (``server.requests``) is the evidence for what the command
sent; its stdout/stderr and exit status are the evidence for what it reported.
"""

from __future__ import annotations

import gzip
import json
import re
import signal
import subprocess
from pathlib import Path
from typing import Any, Callable

import pytest

from tests.cli.conftest import (
    CHILD_TIMEOUT,
    REPO,
    child_env,
    cli_command,
    cli_process,
    one_line,
    run_in_pty,
    summary_of,
)
from tests.servers import closed_port
from tests.servers.http_server import JSON_BODY, KNOWN_TEXT, TestServer

Cli = Callable[..., subprocess.CompletedProcess]

JSONL_FIELDS = {
    "input",
    "line",
    "url",
    "final_url",
    "outcome",
    "status",
    "bytes",
    "attempts",
    "retries",
    "timings",
    "error",
    "phase",
    "fromcache",
}
LOG_LINE = re.compile(
    r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} (?P<thread>\S+) (?P<logger>asynchttp(_lowhaio)?) "
    r"(?P<level>DEBUG|INFO|WARNING|ERROR) .+"
)


def jsonl(stdout: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stdout.splitlines()]


def by_url(records: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {record["url"]: record for record in records}


# ------------------------------------------------------------------ URLs in


def test_urls_as_arguments(cli: Cli, http_server: TestServer) -> None:
    urls = [http_server.url("/hello"), http_server.url("/json")]
    proc = cli(*urls)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert len(lines) == 2
    for url, body in zip(urls, [b"hello world", json.dumps(JSON_BODY).encode()], strict=True):
        line = next(line for line in lines if line.endswith(" " + url))
        assert line.startswith("200 %d B " % len(body))
    assert sorted(r.path for r in http_server.requests) == ["/hello", "/json"]
    summary = summary_of(proc.stderr)
    assert summary["head"].startswith("asynchttp: 2 requests in ") and summary["head"].endswith(": 2 ok (2xx)")
    assert summary["status"] == "200: 2"
    assert re.fullmatch(r"p50 [\d.]+ ms  p90 [\d.]+ ms  p99 [\d.]+ ms", summary["latency"])
    assert re.fullmatch(r"[\d.]+ requests/s", summary["rate"])
    total = len(b"hello world") + len(json.dumps(JSON_BODY).encode())
    assert summary["received"].startswith("%d B " % total)


def test_python_m_and_main_agree(http_server: TestServer) -> None:
    # the console script calls asynchttp._cli:main; -m goes through __main__ to the same
    proc = subprocess.run(
        [
            cli_command()[0],
            "-c",
            "import sys; from asynchttp._cli import main; sys.exit(main())",
            http_server.url("/hello"),
        ],
        capture_output=True,
        text=True,
        timeout=CHILD_TIMEOUT,
        cwd=str(REPO),
        env=child_env(),
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("200 11 B ")


def test_input_file(cli: Cli, http_server: TestServer, tmp_path: Path) -> None:
    url_file, more = tmp_path / "urls.txt", tmp_path / "more.txt"
    url_file.write_text("# a comment\n\n%s\n  %s  \n" % (http_server.url("/hello?n=1"), http_server.url("/hello?n=2")))
    more.write_text(http_server.url("/hello?n=3") + "\n")
    proc = cli("--jsonl", "-i", str(url_file), http_server.url("/hello?n=0"), "-i", str(more))
    assert proc.returncode == 0, proc.stderr
    assert sorted(r.target for r in http_server.requests) == ["/hello?n=0", "/hello?n=1", "/hello?n=2", "/hello?n=3"]
    assert len(jsonl(proc.stdout)) == 4


def test_input_stdin(cli: Cli, http_server: TestServer) -> None:
    text = "%s\n%s\n" % (http_server.url("/hello?s=1"), http_server.url("/hello?s=2"))
    proc = cli("-i", "-", "--jsonl", input=text)
    assert proc.returncode == 0, proc.stderr
    assert {r["url"] for r in jsonl(proc.stdout)} == set(text.split())
    assert len(http_server.requests) == 2


def test_input_file_unreadable(cli: Cli, tmp_path: Path) -> None:
    missing = tmp_path / "no-such-file.txt"
    proc = cli("-i", str(missing))
    assert proc.returncode == 2
    assert proc.stdout == ""
    line = one_line(proc.stderr)
    assert line.startswith("asynchttp: error: cannot read URL file")
    assert str(missing) in line and "No such file or directory" in line


def test_input_file_with_a_bad_line(cli: Cli, http_server: TestServer, tmp_path: Path) -> None:
    url_file = tmp_path / "urls.txt"
    url_file.write_text(http_server.url("/hello") + "\nftp://example.invalid/x\n" + http_server.url("/json") + "\n")
    proc = cli("-i", str(url_file))
    assert proc.returncode == 4  # malformed lines were skipped
    assert "asynchttp: %s:2: skipped: not an http:// or https:// URL: 'ftp://example.invalid/x'" % url_file in (
        proc.stderr.splitlines()
    )
    assert sorted(r.path for r in http_server.requests) == ["/hello", "/json"]  # the rest is fetched
    assert summary_of(proc.stderr)["head"].endswith(": 2 ok (2xx), 1 malformed line")


# ------------------------------------------------------------------ the request


def test_method(cli: Cli, http_server: TestServer) -> None:
    proc = cli("-X", "DELETE", "--jsonl", http_server.url("/echo"))
    assert proc.returncode == 0, proc.stderr
    assert [r.method for r in http_server.requests] == ["DELETE"]
    record = one_line(proc.stdout)
    assert json.loads(record)["status"] == 200


def test_headers_repeatable(cli: Cli, http_server: TestServer) -> None:
    proc = cli(
        "-H",
        "X-One: 1",
        "-H",
        "X-Two:   two words  ",
        "-H",
        "X-One: again",
        "-H",
        "User-Agent: asynchttp-cli-test",
        http_server.url("/echo"),
    )
    assert proc.returncode == 0, proc.stderr
    (request,) = http_server.requests
    assert request.header_all("x-one") == ["1, again"]
    assert request.header("x-two") == "two words"
    assert request.header_all("user-agent") == ["asynchttp-cli-test"]  # replaces the default


def test_malformed_header(cli: Cli, http_server: TestServer) -> None:
    header = "NoColon"
    proc = cli("-H", header, http_server.url("/echo"))
    assert proc.returncode == 2
    line = one_line(proc.stderr)
    assert line.startswith("asynchttp: error: malformed header %r" % header)
    assert http_server.requests == []


def test_data_inline_defaults_to_post(cli: Cli, http_server: TestServer) -> None:
    proc = cli("-d", "a=1&b=caf\u00e9", http_server.url("/echo"))
    assert proc.returncode == 0, proc.stderr
    (request,) = http_server.requests
    assert request.method == "POST"
    assert request.body == "a=1&b=caf\u00e9".encode("utf-8")


def test_data_with_method(cli: Cli, http_server: TestServer) -> None:
    proc = cli("-X", "PUT", "-d", "payload", http_server.url("/echo"))
    assert proc.returncode == 0, proc.stderr
    assert [(r.method, r.body) for r in http_server.requests] == [("PUT", b"payload")]


def test_data_from_file(cli: Cli, http_server: TestServer, tmp_path: Path) -> None:
    data = bytes(range(256)) * 40  # binary, sent byte for byte
    body_file = tmp_path / "body.bin"
    body_file.write_bytes(data)
    proc = cli("-d", "@" + str(body_file), http_server.url("/echo"), http_server.url("/echo?2"))
    assert proc.returncode == 0, proc.stderr
    assert [r.body for r in http_server.requests] == [data, data]


def test_data_from_stdin(cli: Cli, http_server: TestServer) -> None:
    proc = cli("-d", "@-", http_server.url("/echo"), input="from stdin\n")
    assert proc.returncode == 0, proc.stderr
    assert http_server.requests[0].body == b"from stdin\n"


def test_data_file_unreadable(cli: Cli, http_server: TestServer, tmp_path: Path) -> None:
    proc = cli("-d", "@" + str(tmp_path / "missing.bin"), http_server.url("/echo"))
    assert proc.returncode == 2
    assert "cannot read data file" in one_line(proc.stderr)
    assert http_server.requests == []


# ------------------------------------------------------------------ concurrency, timeout


def test_concurrency_one_uses_one_connection(cli: Cli, http_server: TestServer) -> None:
    urls = [http_server.url("/hello?n=%d" % i) for i in range(6)]
    proc = cli("-c", "1", "-q", *urls)
    assert proc.returncode == 0, proc.stderr
    assert len(http_server.requests) == 6
    assert {r.conn_id for r in http_server.requests} == {http_server.requests[0].conn_id}
    # one at a time: each request is the next on the same connection
    assert sorted(r.conn_request for r in http_server.requests) == [1, 2, 3, 4, 5, 6]


def test_concurrency_limits_requests_in_flight(http_server: TestServer) -> None:
    urls = [http_server.url("/wait?key=cc&n=%d" % i) for i in range(6)]
    with cli_process("-c", "3", "--jsonl", *urls) as proc:
        assert http_server.wait_arrived("cc", 3, timeout=CHILD_TIMEOUT)
        # three are held by the server; a fourth cannot have been sent
        arrived = sum(1 for r in http_server.requests if r.path == "/wait")
        assert arrived == 3
        http_server.release("cc")
        out, err = proc.communicate(timeout=CHILD_TIMEOUT)
    assert proc.returncode == 0, err
    assert len(jsonl(out)) == 6
    assert len({r.conn_id for r in http_server.requests}) == 3


def test_timeout(cli: Cli, http_server: TestServer) -> None:
    slow = http_server.url("/slow?delay=20")
    proc = cli("--timeout", "0.3", "--retry", "0", "--jsonl", slow, http_server.url("/hello"))
    assert proc.returncode == 3  # a request got no answer
    records = by_url(jsonl(proc.stdout))
    assert records[slow]["status"] is None and records[slow]["outcome"] == "error"
    assert records[slow]["error"].startswith("TimeoutError")
    assert records[slow]["phase"] in ("head", "body")  # which read timed out: the core says
    assert records[http_server.url("/hello")]["status"] == 200
    assert re.search(r"TimeoutError \((head|body)\): 1", summary_of(proc.stderr)["errors"])


# ------------------------------------------------------------------ cache, output


def test_cache(cli: Cli, http_server: TestServer, tmp_path: Path) -> None:
    # This server sends no Date, so httplib2's cache revalidates: a conditional GET that
    # the server answers 304, and the body then comes from the cache directory.
    url = http_server.url("/cache?cache-control=max-age%3D300&etag=%22v1%22&body=kept")
    cache_dir = tmp_path / "cache"
    first = cli("--cache", str(cache_dir), "--jsonl", url)
    second = cli("--cache", str(cache_dir), "--jsonl", url)
    assert first.returncode == 0 and second.returncode == 0, (first.stderr, second.stderr)
    assert json.loads(one_line(first.stdout))["fromcache"] is False
    record = json.loads(one_line(second.stdout))
    assert (record["status"], record["bytes"], record["fromcache"]) == (200, len(b"kept"), True)
    assert [r.header("if-none-match") for r in http_server.requests] == [None, '"v1"']
    assert any(cache_dir.iterdir())


def test_cache_dir_unusable(cli: Cli, http_server: TestServer, tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    proc = cli("--cache", str(blocker / "cache"), http_server.url("/hello"))
    assert proc.returncode == 2
    assert "cannot use cache directory" in one_line(proc.stderr)


def test_output_dir(cli: Cli, http_server: TestServer, tmp_path: Path) -> None:
    out_dir = tmp_path / "out" / "nested"
    tricky = http_server.url("/echo?path=../../etc/passwd&x=%2F..%2F")
    urls = [
        http_server.url("/hello"),
        http_server.url("/gzip"),
        http_server.url("/hello"),
        tricky,
        http_server.url("/"),
    ]
    proc = cli("-o", str(out_dir), "--jsonl", *urls)
    assert proc.returncode == 1  # "/" is a 404 on this server: a 2xx body only is saved
    records = jsonl(proc.stdout)
    (not_found,) = [r for r in records if r["status"] == 404]
    assert "file" not in not_found and not_found["bytes"] > 0
    records = [r for r in records if r["status"] == 200]
    urls = urls[:-1]
    files = sorted(out_dir.iterdir())
    assert len(files) == len(urls)  # one file per request, even for the same URL twice
    for path in files:
        assert path.parent == out_dir
        assert re.fullmatch(r"\d{8}-[A-Za-z0-9._-]+", path.name), path.name
        assert ".." not in path.name
    saved = {record["file"]: record for record in records}
    assert set(saved) == {str(path) for path in files}
    for name, record in saved.items():
        assert Path(name).stat().st_size == record["bytes"]
    bodies = [Path(r["file"]).read_bytes() for r in records if r["url"] == urls[0]]
    assert bodies == [b"hello world", b"hello world"]
    gzip_file = next(r["file"] for r in records if r["url"] == urls[1])
    # bodies are saved as received; the command asks for them uncompressed, and one
    # compressed anyway stays compressed (as curl saves it without --compressed)
    assert gzip.decompress(Path(gzip_file).read_bytes()) == KNOWN_TEXT
    assert {r.header("accept-encoding") for r in http_server.requests} == {"identity"}
    # the number in the name is the URL's position in the input
    numbers = {int(Path(r["file"]).name.split("-")[0]): r["url"] for r in records}
    assert [numbers[i] for i in range(1, len(urls) + 1)] == urls


def test_output_dir_uncreatable(cli: Cli, http_server: TestServer, tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    proc = cli("-o", str(blocker / "sub"), http_server.url("/hello"))
    assert proc.returncode == 2
    assert "cannot create output directory" in one_line(proc.stderr)
    assert http_server.requests == []


# ------------------------------------------------------------------ output modes


def test_jsonl(cli: Cli, http_server: TestServer) -> None:
    port = closed_port()
    refused = "http://127.0.0.1:%d/nothing" % port
    ok, missing = http_server.url("/bytes?n=1234"), http_server.url("/status?code=404")
    proc = cli("--jsonl", "--retry", "0", ok, missing, refused)
    assert proc.returncode == 3
    records = by_url(jsonl(proc.stdout))
    assert set(records) == {ok, missing, refused}
    for line, url in enumerate((ok, missing, refused), 1):
        record = records[url]
        assert set(record) == JSONL_FIELDS
        assert (record["input"], record["line"]) == ("<args>", line)
        assert record["timings"]["queued"] == 0.0 and record["timings"]["done"] >= 0
        assert record["fromcache"] is False and record["attempts"] == 1 and record["retries"] == []
    assert (records[ok]["status"], records[ok]["bytes"], records[ok]["error"]) == (200, 1234, None)
    assert (records[ok]["outcome"], records[ok]["final_url"], records[ok]["phase"]) == ("ok", ok, None)
    assert (records[missing]["status"], records[missing]["error"]) == (404, None)
    assert records[missing]["outcome"] == "client_error"
    assert records[refused]["status"] is None and records[refused]["bytes"] == 0
    assert records[refused]["error"].startswith("ConnectionRefusedError")
    assert (records[refused]["outcome"], records[refused]["phase"]) == ("error", "connect")
    assert records[refused]["final_url"] is None
    # stdout holds only the JSON; the error line and the summary are on stderr
    assert "asynchttp: %s (connect): ConnectionRefusedError" % refused in proc.stderr


def test_quiet(cli: Cli, http_server: TestServer) -> None:
    proc = cli("-q", "--retry", "0", http_server.url("/hello"), "http://127.0.0.1:%d/" % closed_port())
    assert proc.returncode == 3
    assert proc.stdout == ""
    assert "ConnectionRefusedError" not in proc.stderr.split("\n  errors")[0]
    assert "ConnectionRefusedError (connect): 1" in summary_of(proc.stderr)["errors"]
    assert "\r" not in proc.stderr and "req/s done" not in proc.stderr  # no bar on a pipe


def test_redirects_followed_by_default(cli: Cli, http_server: TestServer) -> None:
    proc = cli("--jsonl", http_server.url("/redirect?to=/hello"))
    assert proc.returncode == 0, proc.stderr
    record = json.loads(one_line(proc.stdout))
    assert (record["status"], record["bytes"]) == (200, len(b"hello world"))
    assert [r.path for r in http_server.requests] == ["/redirect", "/hello"]


def test_no_redirects(cli: Cli, http_server: TestServer) -> None:
    proc = cli("--no-redirects", "--jsonl", http_server.url("/redirect?to=/hello&code=301"))
    assert proc.returncode == 0, proc.stderr  # a 3xx answer is a success
    assert json.loads(one_line(proc.stdout))["status"] == 301
    assert [r.path for r in http_server.requests] == ["/redirect"]
    assert summary_of(proc.stderr)["status"] == "301: 1"


# ------------------------------------------------------------------ TLS


def test_tls_unverified_fails_without_insecure(cli: Cli, https_server: TestServer) -> None:
    proc = cli("--jsonl", https_server.url("/hello"))
    assert proc.returncode == 3
    record = json.loads(one_line(proc.stdout))
    assert record["status"] is None and "SSL" in record["error"]
    assert (record["outcome"], record["phase"]) == ("error", "tls")
    assert record["attempts"] == 1  # a certificate failure is not retried


def test_insecure(cli: Cli, https_server: TestServer) -> None:
    proc = cli("-k", "--jsonl", https_server.url("/hello"))
    assert proc.returncode == 0, proc.stderr
    assert json.loads(one_line(proc.stdout))["status"] == 200


def test_cacert(cli: Cli, https_server: TestServer, ca_bundle_path: str) -> None:
    proc = cli("--cacert", ca_bundle_path, "--jsonl", https_server.url("/hello"))
    assert proc.returncode == 0, proc.stderr
    assert json.loads(one_line(proc.stdout))["bytes"] == len(b"hello world")


# ------------------------------------------------------------------ failures, exit codes


def test_unreachable_host(cli: Cli) -> None:
    url = "http://127.0.0.1:%d/" % closed_port()
    proc = cli("--retry", "0", url)
    assert proc.returncode == 3
    assert proc.stdout == ""
    error_lines = [line for line in proc.stderr.splitlines() if line.startswith("asynchttp: http")]
    assert error_lines == [error_lines[0]]
    assert error_lines[0].startswith("asynchttp: %s (connect): ConnectionRefusedError: " % url)
    summary = summary_of(proc.stderr)
    assert summary["head"].endswith(": 0 ok (2xx), 1 failed (no answer)")
    assert summary["errors"] == "ConnectionRefusedError (connect): 1"
    assert summary["exit"] == "3 (some requests got no answer)"
    # the facade logs a WARNING per failed request; without -v no log line reaches stderr
    assert not [line for line in proc.stderr.splitlines() if LOG_LINE.match(line)]


def test_error_status_exits_1(cli: Cli, http_server: TestServer) -> None:
    proc = cli("--retry", "0", http_server.url("/hello"), http_server.url("/status?code=503"))
    assert proc.returncode == 1
    summary = summary_of(proc.stderr)
    assert summary["status"] == "200: 1  503: 1"
    assert summary["head"].endswith(": 1 ok (2xx), 1 server error (5xx)")
    assert summary["exit"] == "1 (some answers were 4xx/5xx)"


def test_failures_per_error_class(cli: Cli, http_server: TestServer) -> None:
    refused = ["http://127.0.0.1:%d/%d" % (closed_port(), i) for i in range(2)]
    proc = cli(
        "-q", "--retry", "0", "--timeout", "0.3", http_server.url("/slow?delay=20"), *refused, http_server.url("/hello")
    )
    assert proc.returncode == 3
    summary = summary_of(proc.stderr)
    assert re.fullmatch(r"ConnectionRefusedError \(connect\): 2  TimeoutError \((head|body)\): 1", summary["errors"])
    assert summary["status"] == "200: 1"
    assert summary["head"].startswith("asynchttp: 4 requests in ")
    assert summary["head"].endswith(": 1 ok (2xx), 3 failed (no answer)")


def test_unknown_option(cli: Cli, http_server: TestServer) -> None:
    proc = cli("--frobnicate", http_server.url("/hello"))
    assert proc.returncode == 2
    assert one_line(proc.stderr) == ("asynchttp: error: unrecognized arguments: --frobnicate (see 'asynchttp --help')")
    assert http_server.requests == []


def test_options_between_urls(cli: Cli, http_server: TestServer) -> None:
    proc = cli(http_server.url("/hello?a"), "-q", http_server.url("/hello?b"), "-c", "2")
    assert proc.returncode == 0, proc.stderr
    assert len(http_server.requests) == 2 and proc.stdout == ""


# ------------------------------------------------------------------ logging, progress


def test_verbose(cli: Cli, http_server: TestServer) -> None:
    proc = cli("-v", http_server.url("/hello"))
    assert proc.returncode == 0, proc.stderr
    logs = [LOG_LINE.match(line) for line in proc.stderr.splitlines()]
    logs = [m for m in logs if m]
    assert logs, proc.stderr
    assert {m["thread"] for m in logs} >= {"MainThread", "asynchttp-loop"}
    assert any("queued" in m.group(0) for m in logs)
    assert summary_of(proc.stderr)["status"] == "200: 1"


def test_progress_forced_without_terminal(cli: Cli, http_server: TestServer) -> None:
    proc = cli("--progress", "-q", http_server.url("/hello"), http_server.url("/json"), ASYNCHTTP_NO_TQDM="1")
    assert proc.returncode == 0, proc.stderr
    assert "\r[" in proc.stderr
    assert re.search(r"\[#+\] 2/2 100% [\d.]+ req/s done failed 0", proc.stderr)


def test_progress_on_terminal(http_server: TestServer) -> None:
    urls = [http_server.url("/hello?n=%d" % i) for i in range(20)]
    status, output = run_in_pty(["-c", "4", *urls], ASYNCHTTP_NO_TQDM="1")
    assert status == 0, output
    assert re.search(r"\[#+\] 20/20 100% [\d.]+ req/s done failed 0", output)
    # result lines are written above the bar, each on a line of its own
    result_lines = [
        line
        for line in output.replace("\r\n", "\n").split("\n")
        if line.rstrip().endswith(tuple(urls)) and " B " in line
    ]
    assert len(result_lines) == 20
    # (the bar is cleared before each: what stays on screen is what follows the last CR)
    assert all(line.split("\r")[-1].startswith("200 11 B ") for line in result_lines), result_lines
    assert "asynchttp: 20 requests in" in output


def test_no_progress_on_terminal(http_server: TestServer) -> None:
    status, output = run_in_pty(["--no-progress", http_server.url("/hello")], ASYNCHTTP_NO_TQDM="1")
    assert status == 0, output
    assert "req/s done" not in output and "[#" not in output


def test_progress_with_tqdm_when_installed(http_server: TestServer) -> None:
    pytest.importorskip("tqdm")
    status, output = run_in_pty(["-q", http_server.url("/hello"), http_server.url("/json")])
    assert status == 0, output
    assert "2/2" in output and "req/s" in output


# ------------------------------------------------------------------ Ctrl-C


def test_ctrl_c_cancels_pending_after_the_grace_and_prints_summary(http_server: TestServer) -> None:
    urls = [http_server.url("/hello")] + [http_server.url("/wait?key=held&n=%d" % i) for i in range(3)]
    with cli_process("-c", "2", "--grace", "0.3", *urls) as proc:
        # /hello is done and two /wait requests are held by the server: the window is full
        assert http_server.wait_arrived("held", 2, timeout=CHILD_TIMEOUT)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=CHILD_TIMEOUT)
    assert proc.returncode == 130, err
    assert out.startswith("200 11 B ")
    summary = summary_of(err)
    # the server holds the two in flight beyond the grace: they are cancelled
    assert summary["head"].startswith("asynchttp: stopped by SIGINT: 3 requests in ")
    assert summary["head"].endswith(": 1 ok (2xx), 2 cancelled")
    assert summary["not"] == "read  1 URL given as argument"
    assert summary["status"] == "200: 1"
    assert "asynchttp: SIGINT: no new requests; waiting up to 0.3 s for those in flight" in err
    assert "Traceback" not in err
    # the held requests were abandoned: their connections are closed by the client
    waits = [r for r in http_server.requests if r.path == "/wait"]
    assert len(waits) == 2
