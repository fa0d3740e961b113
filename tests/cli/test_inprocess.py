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

from asynchttp import _cli
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
    assert "argument -c/--concurrency:" in line


@pytest.mark.parametrize("value", ["0", "-1", "soon", "inf", "nan"])
def test_bad_timeout(capsys: pytest.CaptureFixture[str], value: str) -> None:
    assert "argument --timeout:" in usage_error(capsys, "--timeout", value, "http://127.0.0.1:9/")


@pytest.mark.parametrize("header", ["NoColon", "Bad Name: x", ": empty name", "X(y): z"])
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


def test_url_file_not_utf8(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    url_file = tmp_path / "urls.txt"
    url_file.write_bytes(b"http://127.0.0.1:9/\xff\xfe\n")
    assert "cannot read URL file" in usage_error(capsys, "-i", str(url_file))


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
    assert out.startswith("200 11 B ") and "1 answered, 0 failed" in err
    assert [r.path for r in http_server.requests] == ["/hello"]


# ------------------------------------------------------------------ building blocks


def test_percentile_nearest_rank() -> None:
    values = [float(v) for v in range(1, 101)]
    assert [_cli.percentile(values, q) for q in (0.5, 0.9, 0.99, 1.0)] == [50.0, 90.0, 99.0, 100.0]
    assert _cli.percentile([7.0], 0.99) == 7.0
    assert [_cli.percentile([1.0, 2.0, 3.0], q) for q in (0.5, 0.9)] == [2.0, 3.0]


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
def test_safe_file_name(url: str) -> None:
    name = _cli.safe_file_name(42, url, 5)
    assert re.fullmatch(r"00042-[A-Za-z0-9._-]+", name), name
    assert ".." not in name and "/" not in name
    assert len(name) <= 6 + _cli._MAX_NAME


def test_summary_lines() -> None:
    stats = _cli.Stats(
        total=5,
        statuses=Counter({200: 2, 404: 1}),
        errors=Counter({"TimeoutError": 1, "ConnectionRefusedError": 1}),
        nbytes=3 * 1024 * 1024,
        latencies=[0.001, 0.002, 0.003, 0.004, 0.5],
        elapsed=2.0,
    )
    lines = _cli.format_summary(stats).splitlines()
    assert lines[0] == "asynchttp: 5 requests in 2.00 s: 3 answered, 2 failed"
    assert lines[1:] == [
        "  status    200: 2  404: 1",
        "  errors    TimeoutError: 1  ConnectionRefusedError: 1",
        "  received  3.0 MiB (1.5 MiB/s)",
        "  rate      2.5 requests/s",
        "  latency   p50 3.0 ms  p90 500.0 ms  p99 500.0 ms",
    ]
    assert not stats.all_ok and _cli.exit_status(stats) == 1
    stats.interrupted, stats.cancelled, stats.not_started = True, 1, 4
    assert _cli.format_summary(stats).splitlines()[0].endswith("3 answered, 2 failed, 1 cancelled, 4 not started")
    assert _cli.exit_status(stats) == 130


def test_exit_status_counts_3xx_as_success() -> None:
    stats = _cli.Stats(total=2, statuses=Counter({200: 1, 304: 1}))
    assert _cli.exit_status(stats) == 0
    stats.statuses[500] += 1
    assert _cli.exit_status(stats) == 1


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
