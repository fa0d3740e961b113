"""The ``asynchttp`` command: fetch many URLs concurrently through ``asynchttp.Http``.

``asynchttp [options] URL...`` (or ``-i FILE`` / ``-i -``) runs the main job of the
package from a shell, built for long jobs: the URL file is read as a stream (a
10-million-line file starts at once, in constant memory), a malformed line is reported
with its line number and skipped, requests are retried with backoff where safe, paced
per host, and each entry ends as one JSONL record (``--jsonl``, ``--resume FILE``) that
a rerun with ``--resume`` uses to skip what finished. ``asynchttp demo`` runs the same
job against an embedded local server (``_demo``).

The job itself (bounded submission, records, statistics, stopping) is ``_cli_job``; the
input (streaming, malformed lines, the resume set) is ``_cli_input``. Exit statuses:
``EXIT_STATUS_HELP`` below, also in ``--help`` and docs/cli-long-jobs.rst.
"""

from __future__ import annotations

import argparse
import logging
import math
import os
import re
import sys
import time
from pathlib import Path
from typing import IO, Any, Callable, Iterable, NoReturn, Optional, Sequence
from urllib.parse import urlsplit

from asynchttp_lowhaio import TOKEN_TEXT

from . import _cli_core, _cli_input, _cli_job, _loop
from ._cli_job import JobConfig, Record, Stats

__all__ = ["main", "JobConfig", "Record", "Stats", "LOG_FORMAT", "format_summary", "execute"]

PROG = "asynchttp"
EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130
# The logging format docs/logging.rst recommends: the thread name shows which side
# (caller, asynchttp-loop, callback worker) did what.
LOG_FORMAT = "%(asctime)s %(threadName)s %(name)s %(levelname)s %(message)s"

# RFC 9110 token: what a method or header name may be (the core's grammar).
_TOKEN = TOKEN_TEXT


class UsageError(Exception):
    """Bad command-line input: reported on one line, exit status 2."""


# ------------------------------------------------------------------ arguments


class _Parser(argparse.ArgumentParser):
    """argparse, but every usage error is one line on stderr and exit status 2."""

    def error(self, message: str) -> NoReturn:
        raise UsageError(message)


def _whole_number(text: str, minimum: int, expected: str, too_small: str) -> int:
    """``text`` as an int of at least ``minimum``; else a usage error worded by
    ``expected`` (given ``text``) or ``too_small`` (given the number)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(expected % text) from None
    if value < minimum:
        raise argparse.ArgumentTypeError(too_small % value)
    return value


def _positive_int(text: str) -> int:
    return _whole_number(text, 1, "expected a whole number, got %r", "must be at least 1, got %d")


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


DEFAULT_CONCURRENCY = 10
DEFAULT_RETRIES = 3
DEFAULT_RETRY_MAX_TIME = 300.0
DEFAULT_GRACE = 10.0

EXIT_STATUS_HELP = (
    "Exit status: 0 every URL answered 2xx (or 3xx); 1 some answered 4xx/5xx; 2 usage error; "
    "3 some got no answer (transport error); 4 malformed input lines were skipped (when several "
    "apply, the largest); 130 stopped by Ctrl-C, 143 stopped by SIGTERM."
)


def _core_socket_timeout() -> float:
    """The core's own inactivity timeout: what applies when --timeout is not given."""
    import inspect

    import asynchttp_lowhaio

    return float(inspect.signature(asynchttp_lowhaio.Pool).parameters["socket_timeout"].default)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog=PROG,
        description="Fetch many URLs concurrently through asynchttp.Http: input read as a stream, "
        "retries with backoff, per-host limits, downloads, JSONL records, resumable runs. "
        "'asynchttp demo' runs it against a built-in local server.",
        epilog=EXIT_STATUS_HELP,
    )
    parser.add_argument("urls", nargs="*", metavar="URL", help="absolute http:// or https:// URLs")
    parser.add_argument(
        "-i",
        "--input",
        metavar="FILE",
        action="append",
        default=[],
        help="read URLs from FILE, one per line, as a stream ('-' for stdin; blank lines "
        "and lines starting with # are skipped; a line that is not a URL is reported with "
        "its line number and skipped); repeatable",
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
    limits = parser.add_argument_group("limits and politeness")
    limits.add_argument(
        "-c",
        "--concurrency",
        "--parallel-max",
        metavar="N",
        type=_positive_int,
        default=DEFAULT_CONCURRENCY,
        help="requests queued or in flight at once, over all hosts (default %d)" % DEFAULT_CONCURRENCY,
    )
    limits.add_argument(
        "--per-host",
        metavar="N",
        type=_positive_int,
        help="connections per host (default: as many as -c)",
    )
    limits.add_argument(
        "--rate",
        metavar="N[/s|/m|/h]",
        type=parse_rate,
        help="at most N requests per second (or per minute, per hour) to each host, retries and "
        "redirects included; a burst of up to --rate-burst may go at once (default: off)",
    )
    limits.add_argument(
        "--rate-burst",
        metavar="N",
        type=_positive_int,
        help="requests a host may get at once before --rate paces them (default: one second's worth, at least 1)",
    )
    limits.add_argument(
        "--timeout",
        metavar="SECONDS",
        type=_positive_float,
        help="connect and inactivity timeout of each attempt (default %g; the whole response head"
        " must then arrive within 3 times it, at most 60)" % _core_socket_timeout(),
    )
    limits.add_argument(
        "--retry",
        metavar="N",
        type=_retries,
        default=DEFAULT_RETRIES,
        help="retry a failed request up to N times (default %d; 0: never): 429, 502, 503, 504 "
        "and transport errors where safe, with exponential backoff and full jitter, "
        "honouring Retry-After" % DEFAULT_RETRIES,
    )
    limits.add_argument(
        "--retry-max-time",
        metavar="SECONDS",
        type=_positive_float,
        default=DEFAULT_RETRY_MAX_TIME,
        help="no new retry of a request after SECONDS from its first attempt (default %g)" % DEFAULT_RETRY_MAX_TIME,
    )
    downloads = parser.add_argument_group("downloads")
    downloads.add_argument(
        "-o",
        "--output-dir",
        metavar="DIR",
        help="save each body in DIR (written to NAME.part, renamed when complete), named by --output-template",
    )
    downloads.add_argument(
        "--output-template",
        metavar="TEMPLATE",
        default=_cli_job.DEFAULT_TEMPLATE,
        help="file name under DIR, with fields {n} (entry number), {line}, {host}, {port}, "
        "{path}, {name} (last path segment), {query}, {safe} (host, path and query made "
        "safe); '/' makes subdirectories (default %r)" % _cli_job.DEFAULT_TEMPLATE.replace("%", "%%"),
    )
    downloads.add_argument(
        "-C",
        "--continue-at",
        dest="continue_at",
        metavar="-",
        type=_continue_at,
        help="'-C -': resume partial downloads (NAME.part) with a Range request",
    )
    downloads.add_argument(
        "--continue", dest="continue_flag", action="store_true", help="the same as '-C -' (wget's name)"
    )
    records = parser.add_argument_group("records and resuming")
    records.add_argument(
        "--jsonl",
        action="store_true",
        help="one JSON object per input entry on stdout (fields: input, line, url, final_url, "
        "outcome, status, bytes, attempts, retries, timings, error, phase, fromcache, and file with -o)",
    )
    records.add_argument(
        "--resume",
        metavar="FILE",
        help="append the JSON records to FILE, and first skip every entry FILE says finished "
        "(by input, line number and URL): the same command line starts a job and resumes it",
    )
    records.add_argument(
        "--grace",
        metavar="SECONDS",
        type=_positive_float,
        default=DEFAULT_GRACE,
        help="after Ctrl-C or SIGTERM, how long requests in flight may finish before they are "
        "cancelled (default %g; a second signal cancels at once)" % DEFAULT_GRACE,
    )
    parser.add_argument("--cache", metavar="DIR", help="httplib2-style HTTP cache in DIR")
    parser.add_argument(
        "--engine",
        choices=("auto", "core", "facade"),
        default="auto",
        help="how requests are sent: 'facade' through asynchttp.Http (every feature), 'core' "
        "through the core pool on the main thread (about twice as fast; not with --cache, -o, "
        "-v, a proxy from the environment, or input from a pipe); 'auto' (default) picks core when it can",
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
    try:
        value.encode("latin-1")
    except UnicodeEncodeError:
        # what HTTP/1.1 carries (http.client would fail each request on it instead)
        raise UsageError("malformed header %r (a value must be Latin-1 text)" % text) from None
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


_RATE = re.compile(r"\s*([0-9]*\.?[0-9]+)\s*(?:/\s*(s|sec|second|m|min|minute|h|hour))?\s*", re.IGNORECASE)
_PER = {"s": 1.0, "m": 60.0, "h": 3600.0}


def parse_rate(text: str) -> float:
    """``--rate``: requests per second, as ``N``, ``N/s``, ``N/m`` or ``N/h`` (curl's spelling)."""
    match = _RATE.fullmatch(text)
    if match is None:
        raise argparse.ArgumentTypeError("expected requests per second as N, N/s, N/m or N/h, got %r" % text)
    number = float(match.group(1))
    unit = (match.group(2) or "s")[0].lower()
    per_second = number / _PER[unit]
    if not per_second > 0 or per_second == float("inf"):
        raise argparse.ArgumentTypeError("the rate must be above zero, got %r" % text)
    return per_second


def _retries(text: str) -> int:
    return _whole_number(
        text, 0, "expected a whole number of retries, got %r", "must be 0 (no retries) or more, got %d"
    )


def _continue_at(text: str) -> str:
    if text != "-":
        raise argparse.ArgumentTypeError("only '-C -' (resume from the size of the partial file) is supported")
    return text


# ------------------------------------------------------------------ progress


class Progress:
    """A one-line bar on stderr: done (of total when known), percent, rate, ETA, failures.

    With a URL file the total is not known in advance (the file is read as a stream):
    the percentage is then the share of the input's bytes read, when the input is a
    regular file. Redrawn at most ten times a second; ``clear()`` lets other output go
    above it.
    """

    WIDTH = 24

    def __init__(self, total: Optional[int], stream: IO[str], fraction: Optional[Callable[[], float]] = None) -> None:
        self.total = total
        self.stream = stream
        self.fraction = fraction
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

    def _share(self) -> Optional[float]:
        if self.total is not None:
            return min(1.0, self.done / max(self.total, 1))
        if self.fraction is not None:
            return min(1.0, max(0.0, self.fraction()))
        return None

    def line(self, now: float) -> str:
        elapsed = max(now - self.started, 1e-9)
        rate = self.done / elapsed
        share = self._share()
        if share is None:
            return "[%s] %d done %.1f req/s failed %d" % ("?" * self.WIDTH, self.done, rate, self.failed)
        filled = int(self.WIDTH * share)
        bar = "#" * filled + "." * (self.WIDTH - filled)
        finished = self.done >= self.total if self.total is not None else share >= 1.0
        if finished:
            eta = "done"
        elif rate > 0 and share > 0:
            eta = "ETA " + _clock(elapsed * (1 - share) / share)
        else:
            eta = "ETA ?"
        counted = "%d/%d" % (self.done, self.total) if self.total is not None else "%d" % self.done
        return "[%s] %s %3d%% %.1f req/s %s failed %d" % (bar, counted, int(100 * share), rate, eta, self.failed)

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
        if self.total is None or self.done < self.total:
            self.draw()  # the final count (the last update may be undrawn)
        if self._drawn:
            self.stream.write("\n")
            self.stream.flush()
            self._drawn = 0


class TqdmProgress(Progress):
    """The same bar drawn by tqdm, when it is installed (never required)."""

    def __init__(self, total: Optional[int], stream: IO[str], tqdm_class: Any) -> None:
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


def make_progress(
    total: Optional[int], stream: IO[str], wanted: Optional[bool], fraction: Optional[Callable[[], float]] = None
) -> Optional[Progress]:
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
    return Progress(total, stream, fraction)


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


_OUTCOME_WORDS = (
    ("redirect", "redirect (3xx)"),
    ("client_error", "client error (4xx)"),
    ("server_error", "server error (5xx)"),
    ("informational", "other status"),
    ("error", "failed (no answer)"),
    ("cancelled", "cancelled"),
)

_EXIT_WORDS = {
    _cli_job.EXIT_OK: "every URL answered 2xx/3xx",
    _cli_job.EXIT_HTTP_ERRORS: "some answers were 4xx/5xx",
    _cli_job.EXIT_TRANSPORT_ERRORS: "some requests got no answer",
    _cli_job.EXIT_MALFORMED: "malformed input lines were skipped",
    _cli_job.EXIT_SIGINT: "stopped by SIGINT",
    _cli_job.EXIT_SIGTERM: "stopped by SIGTERM",
}


def format_summary(stats: Stats, resume_hint: Optional[str] = None) -> str:
    """The closing summary: every entry counted once, by what became of it."""
    elapsed = max(stats.elapsed, 1e-9)
    requests = stats.requests
    first = "%s: %s%d request%s in %.2f s: %d ok (2xx)" % (
        PROG,
        "stopped by %s: " % stats.stopped_by if stats.stopped_by else "",
        requests,
        "" if requests == 1 else "s",
        stats.elapsed,
        stats.outcomes["ok"],
    )
    for outcome, words in _OUTCOME_WORDS:
        if stats.outcomes[outcome] or (outcome == "cancelled" and stats.interrupted):
            first += ", %d %s" % (stats.outcomes[outcome], words)
    if stats.malformed:
        first += ", %d malformed line%s" % (stats.malformed, "" if stats.malformed == 1 else "s")
    lines = [first]
    if stats.statuses:
        lines.append(
            "  status    " + "  ".join("%d: %d" % (status, count) for status, count in sorted(stats.statuses.items()))
        )
    if stats.errors:
        lines.append("  errors    " + "  ".join("%s: %d" % (name, count) for name, count in stats.errors.most_common()))
    if stats.skipped:
        lines.append("  skipped   %d finished in a previous run" % stats.skipped)
    if stats.not_read:
        lines.append("  not read  %s" % stats.not_read)
    if resume_hint and (stats.not_read or stats.cancelled or stats.failed):
        lines.append("  resume    %s" % resume_hint)
    lines.append("  received  %s (%s/s)" % (_size(stats.nbytes), _size(stats.nbytes / elapsed)))
    lines.append("  rate      %.1f requests/s" % (stats.finished / elapsed))
    if stats.latency.count:
        lines.append(
            "  latency   p50 %s  p90 %s  p99 %s" % tuple(_ms(stats.latency.percentile(q)) for q in (0.5, 0.9, 0.99))
        )
    status = stats.exit_status()
    lines.append("  exit      %d (%s)" % (status, _EXIT_WORDS[status]))
    return "\n".join(lines)


class Reporter:
    """Writes each record as it comes: a line on stdout (or JSON with ``--jsonl``), errors
    and malformed lines on stderr, JSON to the resume file; flushes at most every
    ``FLUSH_EVERY`` seconds, and keeps the bar below the text."""

    FLUSH_EVERY = 0.2

    def __init__(
        self,
        stdout: IO[str],
        stderr: IO[str],
        jsonl: bool,
        quiet: bool,
        progress: Optional[Progress],
        state: Optional[IO[str]] = None,
    ) -> None:
        self.stdout = stdout
        self.stderr = stderr
        self.jsonl = jsonl
        self.quiet = quiet
        self.progress = progress
        self.state = state
        self.results: list[Record] = []
        self.keep = False
        self._next_flush = 0.0

    def __call__(self, record: Record) -> None:
        if self.keep:
            self.results.append(record)
        out_line = err_line = None
        json_line = None
        if self.jsonl or self.state is not None:
            json_line = _cli_job.json_line(record) + "\n"
            if self.state is not None:
                self.state.write(json_line)
        if self.jsonl:
            out_line = json_line
        elif not self.quiet and record.status is not None:
            out_line = "%d %s %s %s%s\n" % (
                record.status,
                _size(record.nbytes),
                _ms(record.seconds),
                record.url,
                " (from cache)" if record.fromcache else "",
            )
        if not self.quiet and record.status is None and record.outcome != "cancelled":
            if record.outcome == "malformed":
                err_line = "%s: %s:%d: skipped: %s: %r\n" % (
                    PROG,
                    record.source,
                    record.line,
                    record.error_text(),
                    record.text,
                )
            else:
                phase = " (%s)" % record.phase if record.phase else ""
                err_line = "%s: %s%s: %s\n" % (PROG, record.url, phase, record.error_text())
        if out_line is not None or err_line is not None:
            if self.progress is not None:
                self.progress.clear()
            if out_line is not None:
                self.stdout.write(out_line)
            if err_line is not None:
                self.stderr.write(err_line)
                self.stderr.flush()
        if self.progress is not None:
            self.progress.update(record.outcome in ("error", "malformed"))
        now = time.monotonic()
        if now >= self._next_flush:
            self._next_flush = now + self.FLUSH_EVERY
            self.flush()

    def flush(self) -> None:
        self.stdout.flush()
        if self.state is not None:
            self.state.flush()


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
    entries: Iterable[Any],
    config: JobConfig,
    *,
    stdout: IO[str],
    stderr: IO[str],
    jsonl: bool = False,
    quiet: bool = False,
    progress: Optional[bool] = None,
    verbose: bool = False,
    keep_results: bool = False,
    inputs: Optional[_cli_input.Inputs] = None,
    total: Optional[int] = None,
    state: Optional[IO[str]] = None,
    done: Optional[_cli_input.DoneSet] = None,
    resume_hint: Optional[str] = None,
) -> tuple[Stats, list[Record]]:
    """Run the job with the bar, the per-request output, the records and the summary."""
    fraction = None
    if inputs is not None and total is None:
        total_bytes = inputs.total_bytes
        if total_bytes:
            fraction = lambda: inputs.consumed_bytes / total_bytes  # noqa: E731
    bar = None if verbose else make_progress(total, stderr, progress, fraction)
    reporter = Reporter(stdout, stderr, jsonl, quiet, bar, state)
    reporter.keep = keep_results

    def on_stop(name: str) -> None:
        # May run inside a signal handler, perhaps while this thread is in the middle
        # of writing to stderr: a buffered write from here could fail as reentrant, so
        # the line goes straight to the file descriptor (on a new line after the bar).
        text = "%s%s: %s: no new requests; waiting up to %g s for those in flight (again to cancel them)\n" % (
            "\n" if bar is not None else "",
            PROG,
            name,
            config.grace,
        )
        try:
            fd = stderr.fileno()
        except (AttributeError, OSError, ValueError):  # not a real file (in-process use)
            stderr.write(text)
            return
        try:
            os.write(fd, text.encode("utf-8", "replace"))
        except OSError:
            pass

    stopper = _cli_job.Stopper(config.grace, on_stop).install()
    try:
        run_job = _cli_core.run_core_job if config.engine == "core" else _cli_job.run_job
        stats = run_job(iter(entries), config, reporter, done, stopper)
        if stats.interrupted and inputs is not None:
            stats.not_read = inputs.not_read()
        elif stats.interrupted and total is not None:
            left = total - sum(stats.outcomes.values()) - stats.skipped
            stats.not_read = "%d entries not started" % left if left else None
    finally:
        stopper.uninstall()
        reporter.flush()
        if bar is not None:
            bar.close()
    if inputs is not None and not (stats.outcomes or stats.skipped or stats.interrupted):
        raise UsageError("no URLs given (the input held no URL)")
    stderr.write(format_summary(stats, resume_hint) + "\n")
    stderr.flush()
    return stats, reporter.results


def exit_status(stats: Stats) -> int:
    return stats.exit_status()


def _make_retry(args: argparse.Namespace) -> Any:
    if args.retry == 0:
        return None
    import asynchttp

    retry_class = getattr(asynchttp, "Retry", None)
    if retry_class is None:  # pragma: no cover - until the library has Retry
        return None
    return retry_class(attempts=args.retry + 1, budget=args.retry_max_time)


def _make_rate_limit(args: argparse.Namespace) -> Any:
    if args.rate is None:
        if args.rate_burst is not None:
            raise UsageError("--rate-burst needs --rate")
        return None
    import asynchttp

    rate_class = getattr(asynchttp, "RateLimit", None)
    if rate_class is None:  # pragma: no cover - until the library has RateLimit
        raise UsageError("--rate needs asynchttp.RateLimit, which this version lacks")
    burst = args.rate_burst if args.rate_burst is not None else max(1, math.ceil(args.rate))
    return rate_class(per_second=args.rate, burst=burst)


def _make_dir(name: str, what: str) -> Path:
    path = Path(name)
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UsageError("cannot %s %r: %s" % (what, name, exc.strerror or exc)) from None
    return path


def _open_state(path: str) -> tuple[IO[str], _cli_input.DoneSet, int]:
    """The resume file: what it says finished, and the file opened for appending."""
    try:
        done, unreadable, ends_cut = _cli_input.read_done(path)
        handle = open(path, "a", encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise UsageError("cannot use resume file %r: %s" % (path, reason)) from None
    if ends_cut:
        handle.write("\n")  # the last record was cut by a kill: the next one starts afresh
    return handle, done, unreadable


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
    for url in args.urls:
        check_url(url)
    if not args.urls and not args.input:
        raise UsageError("no URLs given (pass URLs as arguments, or -i FILE, or -i - for stdin)")
    body = read_body(args.data, stdin, stdin_for_urls)
    method = args.method or ("POST" if body is not None else "GET")
    if not _TOKEN.fullmatch(method):
        raise UsageError("malformed method %r" % method)
    if args.cacert is not None and not os.access(args.cacert, os.R_OK):
        raise UsageError("cannot read CA file %r" % args.cacert)
    continue_downloads = args.continue_flag or args.continue_at is not None
    if continue_downloads and args.output_dir is None:
        raise UsageError("-C -/--continue needs -o/--output-dir")
    try:
        _cli_job.file_name(args.output_template, 1, _cli_input.Item(_cli_input.ARGV, 1, "http://h/p"))
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    output_dir = _make_dir(args.output_dir, "create output directory") if args.output_dir is not None else None
    if output_dir is not None and not any(name.lower() == "accept-encoding" for name in headers):
        # bodies go to disk as received: ask for them as they are (as wget does)
        headers["Accept-Encoding"] = "identity"
    if args.cache is not None:
        _make_dir(args.cache, "use cache directory")
    config = JobConfig(
        method=method,
        headers=headers,
        body=body,
        concurrency=args.concurrency,
        per_host=args.per_host,
        timeout=args.timeout,
        cache=args.cache,
        output_dir=output_dir,
        name_template=args.output_template,
        continue_downloads=continue_downloads,
        follow_redirects=not args.no_redirects,
        insecure=args.insecure,
        ca_certs=args.cacert,
        retry=_make_retry(args),
        rate_limit=_make_rate_limit(args),
        grace=args.grace,
    )
    try:
        inputs = _cli_input.Inputs(list(args.urls), list(args.input), stdin)
    except _cli_input.InputError as exc:
        raise UsageError(str(exc)) from None
    try:
        _loop.loop_factory()  # ASYNCHTTP_LOOP names a loop that exists (both engines run on it)
    except (ValueError, ImportError) as exc:
        inputs.close()
        raise UsageError(str(exc)) from None
    needs_facade = _cli_core.eligible(config, inputs, args.verbose)
    if args.engine == "core" and needs_facade is not None:
        inputs.close()
        raise UsageError("--engine core cannot run this job (%s needs --engine facade)" % needs_facade)
    config.engine = "core" if args.engine == "core" or (args.engine == "auto" and needs_facade is None) else "facade"
    state = None
    done = None
    if args.resume is not None:
        state, done, unreadable = _open_state(args.resume)
        if unreadable:
            stderr.write("%s: %s: %d unreadable line(s) ignored\n" % (PROG, args.resume, unreadable))
    if args.resume is not None:
        hint = "rerun the same command (with --resume %s): finished entries are skipped" % args.resume
    else:
        hint = "rerun with --resume FILE, FILE holding this run's --jsonl output: finished entries are skipped"
    setup_logging(args.verbose, stderr)
    try:
        stats, _ = execute(
            inputs,
            config,
            stdout=stdout,
            stderr=stderr,
            jsonl=args.jsonl,
            quiet=args.quiet,
            progress=args.progress,
            verbose=args.verbose,
            inputs=inputs,
            total=len(args.urls) if not args.input else None,
            state=state,
            done=done,
            resume_hint=hint,
        )
    finally:
        inputs.close()
        if state is not None:
            state.close()
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
            [_cli_input.Item(_cli_input.ARGV, number, url) for number, url in enumerate(urls, 1)],
            JobConfig(concurrency=args.concurrency),
            total=len(urls),
            stdout=stdout,
            stderr=stderr,
            quiet=True,
            progress=args.progress,
            verbose=args.verbose,
            keep_results=True,
        )
    if stats.interrupted:
        return stats.exit_status()
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


def _as_expected(result: Record) -> bool:
    from . import _demo

    expected = _demo.expected_outcome(result.url or "")
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
