"""The command's input checks and building blocks, called in this process.

Each option has its subprocess test in test_options.py; the many variants of bad
input below need no network and no child process, so they run as ``main([...])``
with captured output. The pure helpers (percentiles, file names, the bar, the
summary) are checked against their definitions.
"""

from __future__ import annotations

import io
import re
from collections import Counter
from pathlib import Path

import pytest

from asynchttp import _cli, _cli_input, _cli_job
from tests.servers.http_server import TestServer


def usage_error(capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    """Run main(argv), expect exit status 2 and exactly one line on stderr; return it."""
    assert _cli.main(list(argv)) == 2
    out, err = capsys.readouterr()
    assert out == ""
    lines = err.splitlines()
    assert len(lines) == 1, lines
    assert lines[0].startswith("asynchttp: error: ") and lines[0].endswith("(see 'asynchttp --help')")
    return lines[0]


@pytest.mark.parametrize("value", ["0", "-2", "many", "1.5"])
def test_bad_concurrency(capsys: pytest.CaptureFixture[str], value: str) -> None:
    line = usage_error(capsys, "-c", value, "http://127.0.0.1:9/")
    assert "argument -c/--concurrency/--parallel-max:" in line


@pytest.mark.parametrize("value", ["0", "-1", "soon", "inf", "nan"])
def test_bad_timeout(capsys: pytest.CaptureFixture[str], value: str) -> None:
    assert "argument --timeout:" in usage_error(capsys, "--timeout", value, "http://127.0.0.1:9/")


@pytest.mark.parametrize("header", ["NoColon", "Bad Name: x", ": empty name", "X(y): z", "X-Name: \u65e5\u672c"])
def test_malformed_headers(capsys: pytest.CaptureFixture[str], header: str) -> None:
    line = usage_error(capsys, "-H", header, "http://127.0.0.1:9/")
    assert "malformed header %r" % header in line


def test_header_value_may_be_empty() -> None:
    assert _cli.parse_header("X-Empty:") == ("X-Empty", "")
    assert _cli.parse_header("X-Colon: a:b") == ("X-Colon", "a:b")


@pytest.mark.parametrize(
    "url", ["example.com/x", "ftp://host/x", "http://", "http:///path", "http://host:port/", "//host/x"]
)
def test_not_absolute_http_urls(capsys: pytest.CaptureFixture[str], url: str) -> None:
    assert "not an absolute http(s) URL: %r" % url in usage_error(capsys, url)


def test_no_urls(capsys: pytest.CaptureFixture[str]) -> None:
    assert "no URLs given" in usage_error(capsys)


def test_url_file_with_only_comments(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    url_file = tmp_path / "urls.txt"
    url_file.write_text("# nothing\n\n   \n")
    assert "no URLs given" in usage_error(capsys, "-i", str(url_file))


def test_url_file_is_a_directory(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    assert "cannot read URL file" in usage_error(capsys, "-i", str(tmp_path))


def test_url_file_line_not_utf8_is_a_malformed_line(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    url_file = tmp_path / "urls.txt"
    url_file.write_bytes(b"# first\nhttp://127.0.0.1:9/\xff\xfe\n")
    assert _cli.main(["--no-progress", "-i", str(url_file)]) == 4
    out, err = capsys.readouterr()
    assert out == ""
    assert "asynchttp: %s:2: skipped: not UTF-8: " % url_file in err
    assert "0 requests in " in err and ", 1 malformed line" in err


def test_url_file_unreadable_permissions(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    import os

    url_file = tmp_path / "urls.txt"
    url_file.write_text("http://127.0.0.1:9/\n")
    url_file.chmod(0)
    if os.access(url_file, os.R_OK):  # root reads anything
        pytest.skip("running as a user who can read a mode-000 file")
    assert "Permission denied" in usage_error(capsys, "-i", str(url_file))


def test_malformed_method(capsys: pytest.CaptureFixture[str]) -> None:
    assert "malformed method 'GE T'" in usage_error(capsys, "-X", "GE T", "http://127.0.0.1:9/")


def test_stdin_twice(capsys: pytest.CaptureFixture[str]) -> None:
    assert "-i - given twice" in usage_error(capsys, "-i", "-", "-i", "-")


def test_cacert_unreadable(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    line = usage_error(capsys, "--cacert", str(tmp_path / "none.pem"), "https://127.0.0.1:9/")
    assert "cannot read CA file" in line


def test_option_missing_its_value(capsys: pytest.CaptureFixture[str]) -> None:
    assert "expected one argument" in usage_error(capsys, "http://127.0.0.1:9/", "-H")


def test_progress_options_exclude_each_other(capsys: pytest.CaptureFixture[str]) -> None:
    assert "not allowed with" in usage_error(capsys, "--progress", "--no-progress", "http://127.0.0.1:9/")


def test_demo_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    line = usage_error(capsys, "demo", "-n", "zero")
    assert "argument -n/--count" in line


def test_help_lists_every_option(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        _cli.main(["--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    for option in (
        "URL",
        "-i FILE",
        "-X METHOD",
        "-H 'NAME: VALUE'",
        "-d DATA",
        "-c N",
        "--timeout SECONDS",
        "--cache DIR",
        "-o DIR",
        "--jsonl",
        "--quiet",
        "--no-redirects",
        "--insecure",
        "--cacert FILE",
        "--per-host N",
        "--rate N[/s|/m|/h]",
        "--rate-burst N",
        "--retry N",
        "--retry-max-time SECONDS",
        "--output-template TEMPLATE",
        "-C -",
        "--continue",
        "--resume FILE",
        "--grace SECONDS",
        "--engine",
        "(default 10; the whole response head",
        "--progress",
        "--no-progress",
        "--verbose",
        "--version",
        "Exit status",
    ):
        assert option in out, option


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        _cli.main(["--version"])
    assert exit_info.value.code == 0
    assert re.fullmatch(r"asynchttp \S+\n", capsys.readouterr().out)


def test_main_in_process_fetches(capsys: pytest.CaptureFixture[str], http_server: TestServer) -> None:
    assert _cli.main(["--no-progress", http_server.url("/hello")]) == 0
    out, err = capsys.readouterr()
    assert out.startswith("200 11 B ") and "1 request in " in err and ": 1 ok (2xx)\n" in err
    assert [r.path for r in http_server.requests] == ["/hello"]


# ------------------------------------------------------------------ building blocks


def test_latency_histogram_percentiles_within_two_percent() -> None:
    histogram = _cli_job.LatencyHistogram()
    for value in range(1, 101):
        histogram.add(value / 1000)
    for fraction, exact in ((0.5, 0.050), (0.9, 0.090), (0.99, 0.099), (1.0, 0.100)):
        assert exact <= histogram.percentile(fraction) <= exact * 1.021
    single = _cli_job.LatencyHistogram()
    single.add(0.007)
    assert 0.007 <= single.percentile(0.99) <= 0.007 * 1.021
    assert _cli_job.LatencyHistogram().percentile(0.5) == 0.0


def _item(url: str, line: int = 7) -> _cli_input.Item:
    return _cli_input.Item("urls.txt", line, url)


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8080/a/b.txt",
        "http://h/",
        "http://h/../../etc/passwd",
        "http://h/x?y=%2F..%2F&z=\u00e9",
        "https://[::1]:443/" + "long" * 100,
        "http://h/..",
    ],
)
def test_default_file_name_is_safe(url: str) -> None:
    name = _cli_job.file_name(_cli_job.DEFAULT_TEMPLATE, 42, _item(url))
    assert re.fullmatch(r"00000042-[A-Za-z0-9._-]+", name), name
    assert ".." not in name and "/" not in name
    assert len(name) <= 9 + _cli_job._MAX_NAME


def test_file_name_templates() -> None:
    item = _item("http://Example.org:8080/docs/a%20b.pdf?x=1", line=12)
    assert _cli_job.file_name("{host}/{path}", 3, item) == "example.org/docs/a_b.pdf"
    assert _cli_job.file_name("{line:05d}-{name}", 3, item) == "00012-a_b.pdf"
    assert _cli_job.file_name("{port}/{n}.{query}", 3, item) == "8080/3.x_1"
    # nothing climbs out of the directory, and an empty result still names a file
    assert _cli_job.file_name("../../{name}", 3, _item("http://h/..")) == "body-3"
    assert _cli_job.file_name("../{name}", 3, _item("http://h/a/b")) == "b"
    assert _cli_job.file_name("{query}", 3, _item("http://h/")) == "body-3"
    with pytest.raises(ValueError, match="bad --output-template"):
        _cli_job.file_name("{nope}", 1, item)


def test_bad_output_template_is_a_usage_error(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    line = usage_error(capsys, "-o", str(tmp_path), "--output-template", "{x}", "http://127.0.0.1:9/")
    assert "bad --output-template '{x}'" in line


def _stats(**outcomes: int) -> _cli_job.Stats:
    stats = _cli_job.Stats()
    stats.outcomes.update(outcomes)
    return stats


def test_summary_lines() -> None:
    stats = _cli_job.Stats(
        statuses=Counter({200: 2, 404: 1}),
        errors=Counter({"TimeoutError (head)": 1, "ConnectionRefusedError (connect)": 1}),
        nbytes=3 * 1024 * 1024,
        elapsed=2.0,
    )
    stats.outcomes.update(ok=2, client_error=1, error=2, malformed=1)
    for value in (0.001, 0.002, 0.003, 0.004, 0.5):
        stats.latency.add(value)
    lines = _cli.format_summary(stats, "rerun it").splitlines()
    assert lines[0] == (
        "asynchttp: 5 requests in 2.00 s: 2 ok (2xx), 1 client error (4xx), 2 failed (no answer), 1 malformed line"
    )
    assert lines[1:4] == [
        "  status    200: 2  404: 1",
        "  errors    TimeoutError (head): 1  ConnectionRefusedError (connect): 1",
        "  resume    rerun it",
    ]
    assert lines[4:6] == ["  received  3.0 MiB (1.5 MiB/s)", "  rate      2.5 requests/s"]
    assert re.fullmatch(r"  latency   p50 3\.\d ms  p90 50\d\.\d ms  p99 50\d\.\d ms", lines[6])
    assert lines[7] == "  exit      4 (malformed input lines were skipped)"
    stats.stopped_by, stats.not_read = "SIGTERM", "9 lines of urls.txt (lines 7 to 15)"
    stats.outcomes["cancelled"] = 3
    stats.skipped = 11
    lines = _cli.format_summary(stats, "rerun it").splitlines()
    assert lines[0].startswith("asynchttp: stopped by SIGTERM: 8 requests in 2.00 s: ")
    assert lines[0].endswith(", 2 failed (no answer), 3 cancelled, 1 malformed line")
    assert "  skipped   11 finished in a previous run" in lines
    assert "  not read  9 lines of urls.txt (lines 7 to 15)" in lines
    assert lines[-1] == "  exit      143 (stopped by SIGTERM)"


@pytest.mark.parametrize(
    "outcomes, status",
    [
        ({"ok": 3, "redirect": 1}, 0),
        ({"ok": 3, "client_error": 1}, 1),
        ({"ok": 3, "server_error": 1}, 1),
        ({"ok": 3, "informational": 1}, 1),
        ({"ok": 3, "server_error": 1, "error": 1}, 3),
        ({"ok": 3, "error": 1, "malformed": 1}, 4),
        ({}, 0),
    ],
)
def test_exit_status_is_the_worst_outcome(outcomes: dict[str, int], status: int) -> None:
    assert _stats(**outcomes).exit_status() == status


def test_exit_status_after_a_stop() -> None:
    stats = _stats(ok=1)
    stats.stopped_by = "SIGINT"
    assert stats.exit_status() == 130
    stats.stopped_by = "SIGTERM"
    assert stats.exit_status() == 143


@pytest.mark.parametrize(
    "text, per_second",
    [("5", 5.0), ("2.5/s", 2.5), ("120/m", 2.0), ("3600/h", 1.0), (" 10 / second ", 10.0), (".5", 0.5)],
)
def test_rate_spellings(text: str, per_second: float) -> None:
    assert _cli.parse_rate(text) == per_second


@pytest.mark.parametrize("text", ["0", "-1", "fast", "5/d", "0/s", ""])
def test_bad_rates(capsys: pytest.CaptureFixture[str], text: str) -> None:
    assert "argument --rate:" in usage_error(capsys, "--rate", text, "http://127.0.0.1:9/")


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--retry", "-1"], "argument --retry: must be 0 (no retries) or more"),
        (["--retry", "x"], "argument --retry: expected a whole number"),
        (["--retry-max-time", "0"], "argument --retry-max-time:"),
        (["-C", "100", "-o", "d"], "only '-C -'"),
        (["--continue"], "-C -/--continue needs -o/--output-dir"),
        (["--rate-burst", "3"], "--rate-burst needs --rate"),
        (["--grace", "0"], "argument --grace:"),
        (["--per-host", "0"], "argument --per-host:"),
    ],
)
def test_bad_long_job_options(capsys: pytest.CaptureFixture[str], argv: list[str], message: str) -> None:
    assert message in usage_error(capsys, *argv, "http://127.0.0.1:9/")


@pytest.mark.parametrize(
    "url, problem",
    [
        ("http://h/ok", None),
        ("HTTPS://h:8443/x?y#z", None),
        ("http://h/a b", "whitespace or a control character in the URL"),
        ("ftp://h/x", "not an http:// or https:// URL"),
        ("http:///x", "no host in the URL"),
        ("http://h:port/", "not a valid URL (Port could not be cast to integer value as 'port')"),
        ("h/x", "not an http:// or https:// URL"),
    ],
)
def test_url_problems(url: str, problem: str | None) -> None:
    assert _cli_input.url_problem(url) == problem


def test_done_set_matches_line_and_url() -> None:
    done = _cli_input.DoneSet()
    done.add("urls.txt", 3, "http://h/3")
    done.add("urls.txt", 100_000, "http://h/big")
    done.add("urls.txt", 3, "http://h/3")  # twice is once
    assert len(done) == 2
    assert done.has("urls.txt", 3, "http://h/3") and done.has("urls.txt", 100_000, "http://h/big")
    assert not done.has("urls.txt", 3, "http://h/other")  # the file changed under that line
    assert not done.has("urls.txt", 4, "http://h/3")
    assert not done.has("other.txt", 3, "http://h/3")
    assert not done.has("urls.txt", 10**7, "http://h/3")


def test_read_done_keeps_finished_records_only(tmp_path: Path) -> None:
    import json

    path = tmp_path / "results.jsonl"
    records = [
        {"input": "u", "line": 1, "url": "http://h/1", "outcome": "ok"},
        {"input": "u", "line": 2, "url": "http://h/2", "outcome": "server_error"},
        {"input": "u", "line": 3, "url": "http://h/3", "outcome": "error"},
        {"input": "u", "line": 4, "url": "http://h/4", "outcome": "cancelled"},
        {"input": "u", "line": 5, "url": None, "text": "junk", "outcome": "malformed"},
    ]
    path.write_text("".join(json.dumps(r) + "\n" for r in records) + '{"input": "u", "line": 6, "u')
    done, unreadable, ends_cut = _cli_input.read_done(str(path))
    assert len(done) == 3 and unreadable == 1 and ends_cut
    assert done.has("u", 1, "http://h/1") and done.has("u", 2, "http://h/2") and done.has("u", 5, "junk")
    assert not done.has("u", 3, "http://h/3") and not done.has("u", 4, "http://h/4")
    assert _cli_input.read_done(str(tmp_path / "missing.jsonl"))[0].count == 0


def test_count_remaining_lines() -> None:
    assert _cli_input.count_remaining_lines(io.BytesIO(b"a\nb\nc")) == 3
    assert _cli_input.count_remaining_lines(io.BytesIO(b"a\nb\n")) == 2
    assert _cli_input.count_remaining_lines(io.BytesIO(b"")) == 0


def test_error_phase_from_the_cause_chain() -> None:
    import asynchttp_lowhaio as core

    def caused(outer: BaseException, inner: BaseException) -> BaseException:
        outer.__cause__ = inner
        return outer

    assert _cli_job._phase_from_chain(caused(TimeoutError("t"), core.HttpResponseHeadTimeoutError())) == "head"
    assert _cli_job._phase_from_chain(caused(TimeoutError("t"), core.HttpReadTimeoutError())) == "body"
    assert _cli_job._phase_from_chain(caused(OSError("x"), core.HttpTlsError())) == "tls"
    assert _cli_job._phase_from_chain(ConnectionRefusedError()) == "connect"
    assert _cli_job._phase_from_chain(ValueError("not from the network")) is None


def test_plain_bar() -> None:
    stream = io.StringIO()
    bar = _cli.Progress(4, stream)
    for failed in (False, True, False, False):
        bar.update(failed)
    bar.close()
    text = stream.getvalue()
    assert re.search(r"\r\[#{24}\] 4/4 100% [\d.]+ req/s done failed 1 *\n$", text)
    assert "1/4  25%" in text  # the first update is always drawn


def test_bar_clear_makes_room_and_redraws() -> None:
    stream = io.StringIO()
    bar = _cli.Progress(10, stream)
    bar.update(False)
    drawn = len(stream.getvalue()) - 1
    bar.clear()
    assert stream.getvalue().endswith("\r" + " " * drawn + "\r")
    bar.update(False)  # right after a clear, the next update draws again at once
    assert "2/10" in stream.getvalue().rsplit("\r", 1)[-1]


def test_bar_only_on_a_terminal_unless_asked() -> None:
    class Tty(io.StringIO):
        def isatty(self) -> bool:
            return True

    assert _cli.make_progress(3, io.StringIO(), None) is None
    assert _cli.make_progress(3, Tty(), False) is None
    assert isinstance(_cli.make_progress(3, Tty(), None), _cli.Progress)
    assert isinstance(_cli.make_progress(3, io.StringIO(), True), _cli.Progress)


def test_bar_of_a_stream_shows_the_share_of_the_input_read() -> None:
    stream = io.StringIO()
    share = [0.25]
    bar = _cli.Progress(None, stream, lambda: share[0])
    bar.update(False)
    assert re.search(r"\[#{6}\.{18}\] 1  25% [\d.]+ req/s ETA \S+ failed 0", stream.getvalue())
    share[0] = 1.0
    bar.close()
    assert re.search(r"\[#{24}\] 1 100% [\d.]+ req/s done failed 0 *\n$", stream.getvalue())
    unknown = io.StringIO()
    bar = _cli.Progress(None, unknown)
    bar.update(True)
    bar.close()
    assert re.search(r"\[\?{24}\] 1 done [\d.]+ req/s failed 1 *\n$", unknown.getvalue())


@pytest.mark.parametrize(
    "record",
    [
        _cli_job.Record("urls.txt", 3, "http://h/a", "ok", status=200, final_url="http://h/b", nbytes=5, attempts=2),
        _cli_job.Record(
            'd\u00e9j\u00e0 "vu".txt',
            7,
            'http://h/\u00e9?q="1"\\',
            "error",
            error=TimeoutError("timed out\n(head)"),
            phase="head",
            attempts=4,
            retries=["status 503, Retry-After 1: retry after 1 s", "redirect (301)"],
            timings={"queued": 0.0, "connected": 0.001, "tls": None, "first_byte": 1e-06, "done": 12.5},
        ),
        _cli_job.Record("<args>", 1, None, "malformed", error_message="not UTF-8", text="\ufffd\x01"),
        _cli_job.Record("<stdin>", 2, "http://h/", "client_error", status=404, fromcache=True, path="/tmp/x y"),
        _cli_job.Record("<stdin>", 9, "http://h/", "cancelled"),
    ],
)
def test_json_line_is_the_json_of_the_record(record: _cli_job.Record) -> None:
    import json

    line = _cli_job.json_line(record)
    assert "\n" not in line
    assert json.loads(line) == record.as_json()
    assert list(json.loads(line)) == list(record.as_json())  # the same field order
