"""The ``asynchttp`` command: fetch many URLs concurrently through ``asynchttp.Http``.

``asynchttp [options] URL...`` (or ``-i FILE`` / ``-i -``) runs the main job of the
package from a shell: requests go out ``-c`` at a time over one pooled ``Http``, a
progress bar runs on stderr when it is a terminal, each result is reported as it
completes (a line, or a JSON object with ``--jsonl``), and a summary closes the run.
``asynchttp demo`` runs the same job against an embedded local server (``_demo``).

Exit status: 0 when every request got a 2xx/3xx answer, 1 when any failed (an error
or a 4xx/5xx answer), 2 on a usage error, 130 after Ctrl-C (pending requests are
cancelled and the summary of what finished is still printed).

The job keeps at most ``concurrency`` requests queued in the ``Http`` at a time and
tops the window up as each completes: the pool stays full, memory stays flat for any
number of URLs, and a request's time measures the request, not its wait in a queue.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import os
import queue
import re
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Callable, NoReturn, Optional, Sequence
from urllib.parse import urlsplit

from asynchttp_lowhaio import TOKEN_TEXT

__all__ = ["main", "JobConfig", "JobResult", "Stats", "run_job", "LOG_FORMAT"]

PROG = "asynchttp"
EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130
# The logging format docs/logging.rst recommends: the thread name shows which side
# (caller, asynchttp-loop, callback worker) did what.
LOG_FORMAT = "%(asctime)s %(threadName)s %(name)s %(levelname)s %(message)s"

# RFC 9110 token: what a method or header name may be (the core's grammar).
_TOKEN = TOKEN_TEXT
_SAFE_NAME_CHARS = re.compile(r"[^A-Za-z0-9._-]+|\.{2,}")
_MAX_NAME = 100


class UsageError(Exception):
    """Bad command-line input: reported on one line, exit status 2."""


# ------------------------------------------------------------------ arguments


class _Parser(argparse.ArgumentParser):
    """argparse, but every usage error is one line on stderr and exit status 2."""

    def error(self, message: str) -> NoReturn:
        raise UsageError(message)


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError("expected a whole number, got %r" % text) from None
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1, got %d" % value)
    return value


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError("expected a number of seconds, got %r" % text) from None
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError("must be a positive number of seconds, got %r" % text)
    return value


def _version() -> str:
    # the package's own number first: from a checkout, installed metadata may be another's
    package = sys.modules.get(__package__ or "asynchttp")
    version = getattr(package, "__version__", None)
    if version:
        return str(version)
    try:
        from importlib.metadata import version as installed_version

        return installed_version("asynchttp")
    except Exception:
        return "unknown"


class _VersionAction(argparse.Action):
    """--version, looking the version up only when asked (it scans installed metadata)."""

    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: Any,
        option_string: Optional[str] = None,
    ) -> None:
        sys.stdout.write("%s %s\n" % (PROG, _version()))
        parser.exit()


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog=PROG,
        description="Fetch many URLs concurrently through asynchttp.Http, with a progress "
        "bar and a summary. 'asynchttp demo' runs it against a built-in local server.",
        epilog="Exit status: 0 every request got a 2xx/3xx answer; 1 some failed; 2 usage error; 130 interrupted.",
    )
    parser.add_argument("urls", nargs="*", metavar="URL", help="absolute http:// or https:// URLs")
    parser.add_argument(
        "-i",
        "--input",
        metavar="FILE",
        action="append",
        default=[],
        help="read URLs from FILE, one per line ('-' for stdin; blank lines "
        "and lines starting with # are skipped); repeatable",
    )
    parser.add_argument("-X", "--method", metavar="METHOD", help="request method (default GET, or POST with -d)")
    parser.add_argument(
        "-H",
        "--header",
        metavar="'NAME: VALUE'",
        action="append",
        default=[],
        dest="headers",
        help="add a request header; repeatable",
    )
    parser.add_argument(
        "-d", "--data", metavar="DATA", help="request body: DATA as is, or @FILE for a file's bytes (@- for stdin)"
    )
    parser.add_argument(
        "-c",
        "--concurrency",
        metavar="N",
        type=_positive_int,
        default=10,
        help="requests in flight at once (default 10)",
    )
    parser.add_argument(
        "--timeout",
        metavar="SECONDS",
        type=_positive_float,
        help="connect and inactivity timeout per request (default 10; the whole response head"
        " must then arrive within 3 times it, at most 60)",
    )
    parser.add_argument("--cache", metavar="DIR", help="httplib2-style HTTP cache in DIR")
    parser.add_argument(
        "-o",
        "--output-dir",
        metavar="DIR",
        help="save each body in DIR, under a safe name made from its number and URL",
    )
    parser.add_argument(
        "--jsonl",
        action="store_true",
        help="one JSON object per request on stdout: url, status, bytes, seconds, error, fromcache (and file, with -o)",
    )
    parser.add_argument("-q", "--quiet", action="store_true", help="no line per request (progress and summary only)")
    parser.add_argument("--no-redirects", action="store_true", help="report 3xx answers instead of following them")
    parser.add_argument("-k", "--insecure", action="store_true", help="do not verify TLS certificates")
    parser.add_argument(
        "--cacert", metavar="FILE", help="verify TLS certificates against the CA certificates in FILE (PEM)"
    )
    _add_display_options(parser)
    parser.add_argument("--version", action=_VersionAction, nargs=0, help="show the version and exit")
    return parser


def _add_display_options(parser: argparse.ArgumentParser) -> None:
    """--progress/--no-progress and -v, the same for the main job and the demo."""
    progress = parser.add_mutually_exclusive_group()
    progress.add_argument(
        "--progress",
        dest="progress",
        action="store_true",
        default=None,
        help="show the progress bar even when stderr is not a terminal",
    )
    progress.add_argument("--no-progress", dest="progress", action="store_false", help="never show the progress bar")
    parser.add_argument(
        "-v", "--verbose", action="store_true", help="debug logging of every request step on stderr (turns the bar off)"
    )


def build_demo_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog=PROG + " demo",
        description="Start a local demo server on 127.0.0.1 (fast, slow, JSON, gzip, "
        "redirect, error, dropped and large answers) and fetch N of its URLs, with the "
        "progress bar and the summary. Needs no network.",
    )
    parser.add_argument(
        "-n", "--count", metavar="N", type=_positive_int, default=1000, help="how many URLs to fetch (default 1000)"
    )
    parser.add_argument(
        "-c",
        "--concurrency",
        metavar="N",
        type=_positive_int,
        default=20,
        help="requests in flight at once (default 20)",
    )
    _add_display_options(parser)
    return parser


def parse_header(text: str) -> tuple[str, str]:
    name, sep, value = text.partition(":")
    if not sep or not _TOKEN.fullmatch(name):
        raise UsageError("malformed header %r (expected 'Name: value')" % text)
    value = value.strip()
    if any(ch in value for ch in "\r\n\x00"):
        raise UsageError("malformed header %r (CR, LF or NUL in the value)" % text)
    return name, value


def check_url(url: str, where: str = "") -> str:
    try:
        parts = urlsplit(url)
        ok = parts.scheme.lower() in ("http", "https") and bool(parts.hostname)
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError:
        ok = False
    if not ok:
        raise UsageError("%snot an absolute http(s) URL: %r" % (where, url))
    return url


def _read_stdin_bytes(stdin: IO[str]) -> bytes:
    buffer = getattr(stdin, "buffer", None)
    return buffer.read() if buffer is not None else stdin.read().encode("utf-8")


def read_urls(args: argparse.Namespace, stdin: IO[str]) -> list[str]:
    urls = [check_url(url) for url in args.urls]
    for name in args.input:
        try:
            if name == "-":
                text = _read_stdin_bytes(stdin).decode("utf-8")
            else:
                text = Path(name).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
            raise UsageError("cannot read URL file %r: %s" % (name, reason)) from None
        for number, line in enumerate(text.splitlines(), 1):
            line = line.strip()
            if line and not line.startswith("#"):
                urls.append(check_url(line, "%s:%d: " % ("<stdin>" if name == "-" else name, number)))
    if not urls:
        raise UsageError("no URLs given (pass URLs as arguments, or -i FILE, or -i - for stdin)")
    return urls


def read_body(data: Optional[str], stdin: IO[str], stdin_taken: bool) -> Optional[bytes]:
    if data is None:
        return None
    if not data.startswith("@"):
        return data.encode("utf-8")
    name = data[1:]
    if name == "-":
        if stdin_taken:
            raise UsageError("-d @- and -i - cannot both read stdin")
        return _read_stdin_bytes(stdin)
    try:
        return Path(name).read_bytes()
    except OSError as exc:
        raise UsageError("cannot read data file %r: %s" % (name, exc.strerror or exc)) from None


# ------------------------------------------------------------------ the job


@dataclass
class JobConfig:
    method: str = "GET"
    headers: dict[str, str] = field(default_factory=dict)
    body: Optional[bytes] = None
    concurrency: int = 10
    timeout: Optional[float] = None
    cache: Optional[str] = None
    output_dir: Optional[Path] = None
    follow_redirects: bool = True
    insecure: bool = False
    ca_certs: Optional[str] = None


@dataclass
class JobResult:
    index: int
    url: str
    status: Optional[int] = None
    nbytes: int = 0
    seconds: float = 0.0
    error: Optional[BaseException] = None
    fromcache: bool = False
    path: Optional[str] = None

    @property
    def ok(self) -> bool:
        return self.error is None and self.status is not None and 200 <= self.status < 400

    def error_text(self) -> Optional[str]:
        if self.error is None:
            return None
        message = str(self.error)
        name = type(self.error).__name__
        return "%s: %s" % (name, message) if message else name

    def as_json(self) -> dict[str, Any]:
        record = {
            "url": self.url,
            "status": self.status,
            "bytes": self.nbytes,
            "seconds": round(self.seconds, 6),
            "error": self.error_text(),
            "fromcache": self.fromcache,
        }
        if self.path is not None:
            record["file"] = self.path
        return record


@dataclass
class Stats:
    total: int
    statuses: Counter[int] = field(default_factory=Counter)
    errors: Counter[str] = field(default_factory=Counter)
    nbytes: int = 0
    latencies: list[float] = field(default_factory=list)
    cancelled: int = 0
    not_started: int = 0
    interrupted: bool = False
    elapsed: float = 0.0

    @property
    def answered(self) -> int:
        return sum(self.statuses.values())

    @property
    def failed(self) -> int:
        return sum(self.errors.values())

    @property
    def finished(self) -> int:
        return self.answered + self.failed

    @property
    def all_ok(self) -> bool:
        return (
            not self.interrupted
            and self.failed == 0
            and self.cancelled == 0
            and all(200 <= status < 400 for status in self.statuses)
        )

    def add(self, result: JobResult) -> None:
        self.latencies.append(result.seconds)
        if result.error is not None:
            self.errors[type(result.error).__name__] += 1
        else:
            assert result.status is not None
            self.statuses[result.status] += 1
            self.nbytes += result.nbytes


def safe_file_name(index: int, url: str, width: int) -> str:
    """``00042-host_port_path_query``: unique by its number, harmless on any file system."""
    parts = urlsplit(url)
    path = parts.path or "/"
    if path.endswith("/"):
        path += "index"
    raw = parts.netloc + path + ("_" + parts.query if parts.query else "")
    name = _SAFE_NAME_CHARS.sub("_", raw).strip("._") or "body"
    return "%0*d-%s" % (width, index, name[:_MAX_NAME])


def percentile(sorted_values: Sequence[float], fraction: float) -> float:
    """Nearest-rank percentile of an already sorted, non-empty sequence."""
    # rounded first so that 0.9 * 1000 cannot become rank 901 through float error
    rank = max(1, math.ceil(round(len(sorted_values) * fraction, 9)))
    return sorted_values[rank - 1]


def make_http(config: JobConfig) -> Any:
    import asynchttp

    http = asynchttp.Http(
        cache=config.cache,
        timeout=config.timeout,
        ca_certs=config.ca_certs,
        disable_ssl_certificate_validation=config.insecure,
        max_connections=config.concurrency,
        max_connections_per_host=config.concurrency,
    )
    http.follow_redirects = config.follow_redirects
    return http


def run_job(urls: Sequence[str], config: JobConfig, on_result: Callable[[JobResult], None]) -> Stats:
    """Fetch ``urls`` with ``config``; ``on_result`` sees each result as it completes.

    Ctrl-C (KeyboardInterrupt) ends the job early: what is in flight is cancelled and
    the returned Stats say so. Never raises for a request's failure.
    """
    stats = Stats(total=len(urls))
    http: Any = None
    width = len(str(len(urls)))
    # Done-callbacks run on the Http's worker threads; they only stamp the time and
    # hand the future over, so all reporting happens on this thread.
    done: "queue.SimpleQueue[tuple[Any, float]]" = queue.SimpleQueue()
    in_flight: dict[Any, tuple[int, str, float]] = {}
    next_index = 0
    started = time.perf_counter()

    def submit_one() -> None:
        nonlocal next_index
        index, url = next_index, urls[next_index]
        next_index += 1
        begin = time.perf_counter()
        try:
            response, _content = http.request(
                url, method=config.method, body=config.body, headers=dict(config.headers) or None
            )
        except Exception as exc:  # refused at the call (e.g. a URL httplib2 rejects)
            result = JobResult(index, url, error=exc, seconds=time.perf_counter() - begin)
            stats.add(result)
            on_result(result)
            return
        future = response.future
        in_flight[future] = (index, url, begin)
        future.add_done_callback(lambda f: done.put((f, time.perf_counter())))

    def collect(future: Any, finished: float) -> None:
        index, url, begin = in_flight.pop(future)
        result = JobResult(index, url, seconds=finished - begin)
        if future.cancelled():
            stats.cancelled += 1
            return
        error = future.exception()
        if error is not None:
            result.error = error
        else:
            response, content = future.result()
            result.status = response.status
            result.fromcache = bool(getattr(response, "fromcache", False))
            body = bytes(content)
            result.nbytes = len(body)
            if config.output_dir is not None:
                path = config.output_dir / safe_file_name(index + 1, url, width)
                try:
                    path.write_bytes(body)
                    result.path = str(path)
                except OSError as exc:
                    result.error = exc
                    result.status = None
        stats.add(result)
        on_result(result)

    try:
        http = make_http(config)
        while next_index < len(urls) or in_flight:
            while next_index < len(urls) and len(in_flight) < config.concurrency:
                submit_one()
            if in_flight:
                collect(*done.get())
    except KeyboardInterrupt:
        stats.interrupted = True
        for future in list(in_flight):
            future.cancel()
        stats.not_started = len(urls) - next_index
        # Requests that finished while we were interrupted still count.
        while not done.empty():
            future, finished = done.get()
            if future in in_flight:
                collect(future, finished)
        stats.cancelled += len(in_flight)
        in_flight.clear()
    finally:
        stats.elapsed = time.perf_counter() - started
        if http is not None:
            try:
                http.shutdown(wait=not stats.interrupted, cancel_pending=True)
            except KeyboardInterrupt:
                stats.interrupted = True
    return stats


# ------------------------------------------------------------------ progress


class Progress:
    """A one-line bar on stderr: done/total, percent, rate, ETA, requests without an answer.

    Redrawn at most ten times a second; ``clear()`` lets other output go above it.
    """

    WIDTH = 24

    def __init__(self, total: int, stream: IO[str]) -> None:
        self.total = total
        self.stream = stream
        self.done = 0
        self.failed = 0
        self.started = time.monotonic()
        self._last_draw = 0.0
        self._drawn = 0

    def update(self, failed: bool) -> None:
        self.done += 1
        self.failed += failed
        now = time.monotonic()
        if now - self._last_draw >= 0.1 or self.done == self.total:
            self._last_draw = now
            self.draw(now)

    def line(self, now: float) -> str:
        elapsed = max(now - self.started, 1e-9)
        rate = self.done / elapsed
        filled = self.WIDTH * self.done // max(self.total, 1)
        bar = "#" * filled + "." * (self.WIDTH - filled)
        if self.done >= self.total:
            eta = "done"
        elif rate > 0:
            eta = "ETA " + _clock((self.total - self.done) / rate)
        else:
            eta = "ETA ?"
        return "[%s] %d/%d %3d%% %.1f req/s %s failed %d" % (
            bar,
            self.done,
            self.total,
            100 * self.done // max(self.total, 1),
            rate,
            eta,
            self.failed,
        )

    def draw(self, now: Optional[float] = None) -> None:
        text = self.line(time.monotonic() if now is None else now)
        pad = max(0, self._drawn - len(text))
        self.stream.write("\r" + text + " " * pad)
        self.stream.flush()
        self._drawn = len(text)

    def clear(self) -> None:
        if self._drawn:
            self.stream.write("\r" + " " * self._drawn + "\r")
            self.stream.flush()
            self._drawn = 0
            self._last_draw = 0.0  # redraw on the next update

    def close(self) -> None:
        if self.done < self.total:
            self.draw()  # interrupted: show where it stopped (the last update may be undrawn)
        if self._drawn:
            self.stream.write("\n")
            self.stream.flush()
            self._drawn = 0


class TqdmProgress(Progress):
    """The same bar drawn by tqdm, when it is installed (never required)."""

    def __init__(self, total: int, stream: IO[str], tqdm_class: Any) -> None:
        super().__init__(total, stream)
        self._bar = tqdm_class(total=total, file=stream, unit="req", dynamic_ncols=True, smoothing=0.1)

    def update(self, failed: bool) -> None:
        self.done += 1
        if failed:
            self.failed += 1
            self._bar.set_postfix(failed=self.failed, refresh=False)
        self._bar.update(1)

    def clear(self) -> None:
        self._bar.clear()

    def close(self) -> None:
        self._bar.close()


def make_progress(total: int, stream: IO[str], wanted: Optional[bool]) -> Optional[Progress]:
    """The bar: when asked for, or by default when ``stream`` is a terminal."""
    if wanted is None:
        wanted = bool(getattr(stream, "isatty", lambda: False)())
    if not wanted:
        return None
    if os.environ.get("ASYNCHTTP_NO_TQDM") != "1":
        try:
            from tqdm import tqdm  # optional: a nicer bar when present
        except ImportError:
            pass
        else:
            return TqdmProgress(total, stream, tqdm)
    return Progress(total, stream)


def _clock(seconds: float) -> str:
    seconds = int(seconds + 0.5)
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return "%d:%02d:%02d" % (hours, minutes, secs) if hours else "%d:%02d" % (minutes, secs)


# ------------------------------------------------------------------ reporting


def _size(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return ("%d %s" % (n, unit)) if unit == "B" else ("%.1f %s" % (n, unit))
        n /= 1024
    return "%d B" % n  # pragma: no cover - the loop always returns


def _ms(seconds: float) -> str:
    return "%.1f ms" % (seconds * 1000)


def format_summary(stats: Stats) -> str:
    elapsed = max(stats.elapsed, 1e-9)
    first = "%s: %s%d request%s in %.2f s: %d answered, %d failed" % (
        PROG,
        "interrupted: " if stats.interrupted else "",
        stats.total,
        "" if stats.total == 1 else "s",
        stats.elapsed,
        stats.answered,
        stats.failed,
    )
    if stats.cancelled or stats.interrupted:
        first += ", %d cancelled" % stats.cancelled
    if stats.not_started:
        first += ", %d not started" % stats.not_started
    lines = [first]
    if stats.statuses:
        lines.append(
            "  status    " + "  ".join("%d: %d" % (status, count) for status, count in sorted(stats.statuses.items()))
        )
    if stats.errors:
        lines.append("  errors    " + "  ".join("%s: %d" % (name, count) for name, count in stats.errors.most_common()))
    lines.append("  received  %s (%s/s)" % (_size(stats.nbytes), _size(stats.nbytes / elapsed)))
    lines.append("  rate      %.1f requests/s" % (stats.finished / elapsed))
    if stats.latencies:
        ordered = sorted(stats.latencies)
        lines.append(
            "  latency   p50 %s  p90 %s  p99 %s" % tuple(_ms(percentile(ordered, q)) for q in (0.5, 0.9, 0.99))
        )
    return "\n".join(lines)


class Reporter:
    """Writes each result as it comes (stdout lines or JSON, stderr errors) around the bar."""

    def __init__(
        self, stdout: IO[str], stderr: IO[str], jsonl: bool, quiet: bool, progress: Optional[Progress]
    ) -> None:
        self.stdout = stdout
        self.stderr = stderr
        self.jsonl = jsonl
        self.quiet = quiet
        self.progress = progress
        self.results: list[JobResult] = []
        self.keep = False

    def __call__(self, result: JobResult) -> None:
        if self.keep:
            self.results.append(result)
        out_line = err_line = None
        if self.jsonl:
            out_line = json.dumps(result.as_json())
        elif not self.quiet and result.error is None:
            assert result.status is not None  # a result without an error has a status
            out_line = "%d %s %s %s%s" % (
                result.status,
                _size(result.nbytes),
                _ms(result.seconds),
                result.url,
                " (from cache)" if result.fromcache else "",
            )
        if not self.quiet and result.error is not None:
            err_line = "%s: %s: %s" % (PROG, result.url, result.error_text())
        if out_line is not None or err_line is not None:
            if self.progress is not None:
                self.progress.clear()
            if out_line is not None:
                self.stdout.write(out_line + "\n")
                self.stdout.flush()
            if err_line is not None:
                self.stderr.write(err_line + "\n")
                self.stderr.flush()
        if self.progress is not None:
            # "failed" as in the summary: no answer at all (4xx/5xx count as answered)
            self.progress.update(result.error is not None)


def setup_logging(verbose: bool, stream: IO[str]) -> None:
    if not verbose:
        return
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter(LOG_FORMAT))
    for name in ("asynchttp", "asynchttp_lowhaio"):
        logger = logging.getLogger(name)
        logger.setLevel(logging.DEBUG)
        logger.addHandler(handler)


def execute(
    urls: Sequence[str],
    config: JobConfig,
    *,
    stdout: IO[str],
    stderr: IO[str],
    jsonl: bool = False,
    quiet: bool = False,
    progress: Optional[bool] = None,
    verbose: bool = False,
    keep_results: bool = False,
) -> tuple[Stats, list[JobResult]]:
    """Run the job with the bar, the per-request output and the summary."""
    bar = None if verbose else make_progress(len(urls), stderr, progress)
    reporter = Reporter(stdout, stderr, jsonl, quiet, bar)
    reporter.keep = keep_results
    try:
        stats = run_job(urls, config, reporter)
    finally:
        if bar is not None:
            bar.close()
    stderr.write(format_summary(stats) + "\n")
    stderr.flush()
    return stats, reporter.results


def exit_status(stats: Stats) -> int:
    if stats.interrupted:
        return EXIT_INTERRUPTED
    return EXIT_OK if stats.all_ok else EXIT_FAILED


# ------------------------------------------------------------------ commands


def run_main(argv: Sequence[str], stdin: IO[str], stdout: IO[str], stderr: IO[str]) -> int:
    args = build_parser().parse_intermixed_args(argv)
    headers: dict[str, str] = {}
    for text in args.headers:
        name, value = parse_header(text)
        # repeated names are joined, as HTTP allows for list-valued headers
        headers[name] = headers[name] + ", " + value if name in headers else value
    stdin_for_urls = "-" in args.input
    if args.input.count("-") > 1:
        raise UsageError("-i - given twice")
    body = read_body(args.data, stdin, stdin_for_urls)
    urls = read_urls(args, stdin)
    method = args.method or ("POST" if body is not None else "GET")
    if not _TOKEN.fullmatch(method):
        raise UsageError("malformed method %r" % method)
    if args.cacert is not None and not os.access(args.cacert, os.R_OK):
        raise UsageError("cannot read CA file %r" % args.cacert)
    output_dir = None
    if args.output_dir is not None:
        output_dir = Path(args.output_dir)
        try:
            output_dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise UsageError("cannot create output directory %r: %s" % (args.output_dir, exc.strerror or exc)) from None
    if args.cache is not None:
        cache_dir = Path(args.cache)
        try:
            cache_dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise UsageError("cannot use cache directory %r: %s" % (args.cache, exc.strerror or exc)) from None
    config = JobConfig(
        method=method,
        headers=headers,
        body=body,
        concurrency=args.concurrency,
        timeout=args.timeout,
        cache=args.cache,
        output_dir=output_dir,
        follow_redirects=not args.no_redirects,
        insecure=args.insecure,
        ca_certs=args.cacert,
    )
    setup_logging(args.verbose, stderr)
    stats, _ = execute(
        urls,
        config,
        stdout=stdout,
        stderr=stderr,
        jsonl=args.jsonl,
        quiet=args.quiet,
        progress=args.progress,
        verbose=args.verbose,
    )
    return exit_status(stats)


def run_demo(argv: Sequence[str], stdout: IO[str], stderr: IO[str]) -> int:
    from . import _demo

    args = build_demo_parser().parse_args(argv)
    setup_logging(args.verbose, stderr)
    # Bounded: the server stops by itself even if this process is stuck.
    with _demo.DemoServer(lifetime=max(60.0, args.count / 10)) as server:
        urls = _demo.demo_urls(server.url("/"), args.count)
        stderr.write(
            "%s demo: a local server on %s (fast, slow, JSON, gzip, redirect, error, dropped "
            "and large answers);\nfetching %d of its URLs, %d at a time, through asynchttp.Http\n"
            % (PROG, server.url("/"), len(urls), args.concurrency)
        )
        stderr.flush()
        stats, results = execute(
            urls,
            JobConfig(concurrency=args.concurrency),
            stdout=stdout,
            stderr=stderr,
            quiet=True,
            progress=args.progress,
            verbose=args.verbose,
            keep_results=True,
        )
    if stats.interrupted:
        return EXIT_INTERRUPTED
    wrong = [r for r in results if not _as_expected(r)]
    if wrong or stats.finished != len(urls):
        for result in wrong[:5]:
            stderr.write(
                "%s demo: unexpected answer for %s: status %s, %d bytes, %s\n"
                % (PROG, result.url, result.status, result.nbytes, result.error_text())
            )
        stderr.write(
            "%s demo: %d of %d answers were not what the server sent\n"
            % (PROG, len(wrong) + len(urls) - stats.finished, len(urls))
        )
        return EXIT_FAILED
    on_purpose = sum(count for status, count in stats.statuses.items() if status >= 400)
    stderr.write(
        "%s demo: every answer was right (the %d error statuses and %d dropped "
        "connections are on purpose)\n" % (PROG, on_purpose, stats.failed)
    )
    return EXIT_OK


def _as_expected(result: JobResult) -> bool:
    from . import _demo

    expected = _demo.expected_outcome(result.url)
    if expected is None:
        return False
    status, nbytes = expected
    if status == "error":
        return result.error is not None
    return result.status == status and (nbytes is None or result.nbytes == nbytes)


def main(argv: Optional[Sequence[str]] = None) -> int:
    """The console script: returns the exit status."""
    arguments = list(sys.argv[1:] if argv is None else argv)
    try:
        if arguments[:1] == ["demo"]:
            return run_demo(arguments[1:], sys.stdout, sys.stderr)
        return run_main(arguments, sys.stdin, sys.stdout, sys.stderr)
    except UsageError as exc:
        sys.stderr.write("%s: error: %s (see '%s --help')\n" % (PROG, exc, PROG))
        return EXIT_USAGE
    except KeyboardInterrupt:
        # Ctrl-C before or after the job (reading stdin, say): nothing was in flight.
        sys.stderr.write("%s: interrupted\n" % PROG)
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        # stdout closed early (| head): stop quietly. Point stdout at /dev/null so the
        # interpreter's final flush does not complain about the closed pipe.
        try:
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
        except (OSError, ValueError):
            pass
        return EXIT_FAILED
