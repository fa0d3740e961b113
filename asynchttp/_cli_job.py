"""The CLI's job: URLs from a stream through one ``Http``, at most ``window`` at a time.

The input is pulled lazily, one entry each time the window has room, so memory does
not depend on how many URLs the input holds. Each entry ends as one ``Record`` (one
JSONL line): an answer, an error with its phase, a malformed line, or a request
cancelled by a stop. ``Stats`` counts what the summary and the exit status say, in
constant memory (latencies go into a log-scale histogram).

Bounded submission is the library's ``Http.imap``; bodies for ``-o`` go to its sinks.

A stop (Ctrl-C or SIGTERM, see ``Stopper``): no new request is started, the ones in
flight get ``grace`` seconds to finish, then they are cancelled; a second signal
cancels at once. Every request that was started has a record either way.
"""

from __future__ import annotations

import json
import math
import re
import signal
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any, Callable, Iterator, Optional
from urllib.parse import unquote, urlsplit

from ._cli_input import DoneSet, Item, Malformed

__all__ = [
    "JobConfig",
    "Record",
    "Stats",
    "Stopper",
    "run_job",
    "error_phase",
    "file_name",
    "json_line",
    "EXIT_OK",
    "EXIT_HTTP_ERRORS",
    "EXIT_USAGE",
    "EXIT_TRANSPORT_ERRORS",
    "EXIT_MALFORMED",
    "EXIT_SIGINT",
    "EXIT_SIGTERM",
]

EXIT_OK = 0
EXIT_HTTP_ERRORS = 1
EXIT_USAGE = 2
EXIT_TRANSPORT_ERRORS = 3
EXIT_MALFORMED = 4
EXIT_SIGINT = 130
EXIT_SIGTERM = 143

_SAFE_NAME_CHARS = re.compile(r"[^A-Za-z0-9._-]+|\.{2,}")
_MAX_NAME = 100
DEFAULT_TEMPLATE = "{n:08d}-{safe}"


class Aborted(BaseException):
    """The job is cut short now: a second signal, or the grace after a stop ran out."""


# ------------------------------------------------------------------ the config


@dataclass
class JobConfig:
    method: str = "GET"
    headers: dict[str, str] = field(default_factory=dict)
    body: Optional[bytes] = None
    concurrency: int = 10
    per_host: Optional[int] = None  # None: as many as concurrency
    timeout: Optional[float] = None
    cache: Optional[str] = None
    output_dir: Optional[Path] = None
    name_template: str = DEFAULT_TEMPLATE
    continue_downloads: bool = False
    follow_redirects: bool = True
    insecure: bool = False
    ca_certs: Optional[str] = None
    retry: Any = None  # an asynchttp.Retry, or None for no retries
    rate_limit: Any = None  # an asynchttp.RateLimit, or None
    grace: float = 10.0
    engine: str = "facade"  # or "core": see _cli_core


# ------------------------------------------------------------------ error phases

# The core's error classes by the phase they name (checked most specific first).
_CORE_PHASES = (
    ("HttpDnsError", "dns"),
    ("HttpTlsError", "tls"),
    ("HttpConnectTimeoutError", "connect"),
    ("HttpConnectError", "connect"),
    ("HttpPoolTimeoutError", "pool"),
    ("HttpPoolClosedError", "pool"),
    ("HttpWriteTimeoutError", "send"),
    ("HttpResponseHeadTimeoutError", "head"),
    ("HttpHeaderTooLong", "head"),
    ("HttpReadTimeoutError", "body"),
)


def error_phase(exc: BaseException) -> Optional[str]:
    """The phase a request failed in: ``asynchttp.error_phase`` when the library has it,
    else read from the exception and its ``__cause__`` chain."""
    import asynchttp

    library = getattr(asynchttp, "error_phase", None)
    if library is not None:
        return library(exc)  # type: ignore[no-any-return]
    return _phase_from_chain(exc)


def _phase_from_chain(exc: BaseException) -> Optional[str]:
    import ssl

    import httplib2

    seen = 0
    current: Optional[BaseException] = exc
    while current is not None and seen < 10:
        seen += 1
        phase = getattr(current, "phase", None)
        if isinstance(phase, str):
            return phase
        names = {cls.__name__ for cls in type(current).__mro__}
        for name, named_phase in _CORE_PHASES:
            if name in names:
                return named_phase
        if isinstance(current, httplib2.ServerNotFoundError):
            return "dns"
        if isinstance(current, ssl.SSLError):
            return "tls"
        if isinstance(current, ConnectionRefusedError):
            return "connect"
        current = current.__cause__ or current.__context__
    return None


def error_text(exc: BaseException) -> str:
    message = str(exc)
    name = type(exc).__name__
    return "%s: %s" % (name, message) if message else name


# ------------------------------------------------------------------ file names


def _safe(text: str) -> str:
    return _SAFE_NAME_CHARS.sub("_", text).strip("._")[:_MAX_NAME]


def file_name(template: str, n: int, item: Item) -> str:
    """The relative file name for ``item`` from ``template`` (fields: n, line, host, port,
    path, name, query, safe); every path component made harmless, never above the dir."""
    parts = urlsplit(item.url)
    path = parts.path or "/"
    last = unquote(path.rsplit("/", 1)[-1]) or "index"
    safe_raw = parts.netloc + (path + "index" if path.endswith("/") else path)
    safe_raw += "_" + parts.query if parts.query else ""
    fields = {
        "n": n,
        "line": item.line,
        "host": parts.hostname or "",
        "port": parts.port or (443 if parts.scheme.lower() == "https" else 80),
        "path": unquote(path).strip("/") or "index",
        "name": last,
        "query": parts.query,
        "safe": _safe(safe_raw) or "body",
    }
    try:
        raw = template.format(**fields)
    except (KeyError, IndexError, ValueError) as exc:
        raise ValueError("bad --output-template %r: %s" % (template, exc)) from None
    components = [_safe(piece) for piece in raw.split("/")]
    components = [piece for piece in components if piece]
    return "/".join(components) or "body-%d" % n


# ------------------------------------------------------------------ records


@dataclass(slots=True)
class Record:
    """One line of the JSONL: what became of one input entry."""

    source: str
    line: int
    url: Optional[str]
    outcome: str  # ok redirect client_error server_error informational error malformed cancelled
    n: int = 0
    status: Optional[int] = None
    final_url: Optional[str] = None
    nbytes: int = 0
    seconds: float = 0.0
    error: Optional[BaseException] = None
    error_message: Optional[str] = None
    phase: Optional[str] = None
    attempts: int = 0
    retries: list[str] = field(default_factory=list)
    timings: Optional[dict[str, Optional[float]]] = None
    fromcache: bool = False
    path: Optional[str] = None
    text: Optional[str] = None  # a malformed line as read
    # (queued, connected, tls_done, first_byte, done) as loop times: ``timings`` made
    # only when a record is written (the core engine's hot path does not build it)
    raw_times: Optional[tuple[float, Optional[float], Optional[float], Optional[float], float]] = None

    def timing_dict(self) -> Optional[dict[str, Optional[float]]]:
        """``timings``, or the same built from ``raw_times``: seconds after queued."""
        raw = self.raw_times
        if self.timings is not None or raw is None:
            return self.timings
        queued = raw[0]
        return {
            "queued": 0.0,
            "connected": None if raw[1] is None else round(raw[1] - queued, 6),
            "tls": None if raw[2] is None else round(raw[2] - queued, 6),
            "first_byte": None if raw[3] is None else round(raw[3] - queued, 6),
            "done": round(raw[4] - queued, 6),
        }

    @property
    def ok(self) -> bool:
        return self.outcome in ("ok", "redirect")

    @property
    def nbytes_body(self) -> int:
        return self.nbytes

    def error_text(self) -> Optional[str]:
        if self.error is not None:
            return error_text(self.error)
        return self.error_message

    def as_json(self) -> dict[str, Any]:
        record: dict[str, Any] = {
            "input": self.source,
            "line": self.line,
            "url": self.url,
            "final_url": self.final_url,
            "outcome": self.outcome,
            "status": self.status,
            "bytes": self.nbytes,
            "attempts": self.attempts,
            "retries": self.retries,
            "timings": self.timing_dict(),
            "error": self.error_text(),
            "phase": self.phase,
            "fromcache": self.fromcache,
        }
        if self.path is not None:
            record["file"] = self.path
        if self.text is not None:
            record["text"] = self.text
        return record


_quote = json.encoder.encode_basestring  # C-accelerated in CPython


def _str_or_null(value: Optional[str]) -> str:
    return "null" if value is None else _quote(value)


def _num_or_null(value: Optional[float]) -> str:
    return "null" if value is None else repr(value)


def json_line(record: Record) -> str:
    """``json.dumps(record.as_json())``, built by hand: a long job writes millions of
    these, and the generic encoder costs several times more per record."""
    timings = record.timing_dict()
    if timings is None:
        timings_text = "null"
    else:
        timings_text = "{%s}" % ", ".join("%s: %s" % (_quote(k), _num_or_null(v)) for k, v in timings.items())
    text = (
        '{"input": %s, "line": %d, "url": %s, "final_url": %s, "outcome": %s, "status": %s, "bytes": %d, '
        '"attempts": %d, "retries": [%s], "timings": %s, "error": %s, "phase": %s, "fromcache": %s'
        % (
            _quote(record.source),
            record.line,
            _str_or_null(record.url),
            _str_or_null(record.final_url),
            _quote(record.outcome),
            "null" if record.status is None else "%d" % record.status,
            record.nbytes,
            record.attempts,
            ", ".join(_quote(reason) for reason in record.retries),
            timings_text,
            _str_or_null(record.error_text()),
            _str_or_null(record.phase),
            "true" if record.fromcache else "false",
        )
    )
    if record.path is not None:
        text += ', "file": ' + _quote(record.path)
    if record.text is not None:
        text += ', "text": ' + _quote(record.text)
    return text + "}"


def outcome_of_status(status: int) -> str:
    if 200 <= status < 300:
        return "ok"
    if 300 <= status < 400:
        return "redirect"
    if 400 <= status < 500:
        return "client_error"
    if 500 <= status < 600:
        return "server_error"
    return "informational"


_REDIRECT_STATUSES = frozenset({300, 301, 302, 303, 307, 308})


def final_url_of(url: str, response: Any) -> str:
    """Where the answer came from after redirects. httplib2 keeps only the FIRST hop in
    ``previous`` and stamps the final request's URI as ``content-location`` on a 200/203
    answer to GET/HEAD; otherwise the first hop's (absolute) Location is the best known."""
    previous = getattr(response, "previous", None)
    if previous is None or getattr(previous, "status", None) not in _REDIRECT_STATUSES:
        return url
    stamped = response.get("content-location")
    if stamped and response.status in (200, 203):
        return str(stamped)
    location = previous.get("location")
    return str(location) if location else url


def _timings_of(future: Any, queued: float, done: float) -> dict[str, Optional[float]]:
    timings = getattr(future, "timings", None)
    if timings is None:
        return {"queued": 0.0, "connected": None, "tls": None, "first_byte": None, "done": round(done - queued, 6)}
    base = timings.queued

    def rel(value: Optional[float]) -> Optional[float]:
        return None if value is None else round(value - base, 6)

    return {
        "queued": 0.0,
        "connected": rel(timings.connected),
        "tls": rel(timings.tls_done),
        "first_byte": rel(timings.first_byte),
        "done": rel(timings.done),
    }


def _attempts_of(future: Any) -> tuple[int, list[str]]:
    attempts = getattr(future, "attempts", None)
    if not attempts:
        return 1, []
    reasons = [str(a.retry_reason) for a in attempts if a.retry_reason]
    return len(attempts), reasons


# ------------------------------------------------------------------ statistics


class LatencyHistogram:
    """Latencies in log-scale buckets (2% wide): percentiles in constant memory."""

    STEP = math.log(1.02)
    FLOOR = 1e-6
    _LOG_FLOOR = math.log(FLOOR)
    _PER_STEP = 1 / STEP

    def __init__(self) -> None:
        self.buckets: Counter[int] = Counter()
        self.count = 0

    def add(self, seconds: float) -> None:
        # (log(seconds) - log(FLOOR)) / STEP, with the constants taken out: once per request
        self.count += 1
        bucket = int((math.log(seconds) - self._LOG_FLOOR) * self._PER_STEP) if seconds > self.FLOOR else 0
        buckets = self.buckets
        buckets[bucket] = buckets.get(bucket, 0) + 1

    def percentile(self, fraction: float) -> float:
        """The nearest-rank percentile, as its bucket's upper bound (2% above at most)."""
        rank = max(1, math.ceil(round(self.count * fraction, 9)))
        seen = 0
        for bucket in sorted(self.buckets):
            seen += self.buckets[bucket]
            if seen >= rank:
                return self.FLOOR * math.exp((bucket + 1) * self.STEP)
        return 0.0


@dataclass
class Stats:
    outcomes: Counter[str] = field(default_factory=Counter)
    statuses: Counter[int] = field(default_factory=Counter)
    errors: Counter[str] = field(default_factory=Counter)
    nbytes: int = 0
    latency: LatencyHistogram = field(default_factory=LatencyHistogram)
    skipped: int = 0  # finished in a previous run (--resume)
    stopped_by: Optional[str] = None  # "SIGINT" / "SIGTERM"
    not_read: Optional[str] = None  # what of the input was never read, in words
    elapsed: float = 0.0

    @property
    def requests(self) -> int:
        """Entries that became a request (answered, failed or cancelled)."""
        return sum(n for name, n in self.outcomes.items() if name != "malformed")

    @property
    def answered(self) -> int:
        return sum(self.statuses.values())

    @property
    def failed(self) -> int:
        return self.outcomes["error"]

    @property
    def cancelled(self) -> int:
        return self.outcomes["cancelled"]

    @property
    def malformed(self) -> int:
        return self.outcomes["malformed"]

    @property
    def finished(self) -> int:
        return self.answered + self.failed

    @property
    def interrupted(self) -> bool:
        return self.stopped_by is not None

    def add(self, record: Record) -> None:
        outcomes = self.outcomes
        outcome = record.outcome
        outcomes[outcome] = outcomes.get(outcome, 0) + 1
        status = record.status
        if status is not None:
            statuses = self.statuses
            statuses[status] = statuses.get(status, 0) + 1
            self.nbytes += record.nbytes
            self.latency.add(record.seconds)
        elif outcome == "error":
            label = type(record.error).__name__ if record.error is not None else "Error"
            if record.phase:
                label += " (%s)" % record.phase
            self.errors[label] += 1
            self.latency.add(record.seconds)

    def exit_status(self) -> int:
        if self.stopped_by == "SIGTERM":
            return EXIT_SIGTERM
        if self.stopped_by is not None:
            return EXIT_SIGINT
        if self.malformed:
            return EXIT_MALFORMED
        if self.failed:
            return EXIT_TRANSPORT_ERRORS
        if self.outcomes["client_error"] or self.outcomes["server_error"] or self.outcomes["informational"]:
            return EXIT_HTTP_ERRORS
        return EXIT_OK


# ------------------------------------------------------------------ stopping


class Stopper:
    """SIGINT and SIGTERM in the main thread: the first asks for a stop (no new request;
    those in flight have ``grace`` seconds), the second, or the end of the grace, aborts."""

    def __init__(self, grace: float, on_stop: Optional[Callable[[str], None]] = None) -> None:
        self.grace = grace
        self.on_stop = on_stop
        self.requested: Optional[str] = None
        self._previous: dict[int, Any] = {}
        self._alarm_previous: Any = None
        self.installed = False

    def install(self) -> "Stopper":
        if threading.current_thread() is not threading.main_thread():
            return self
        for signum in (signal.SIGINT, signal.SIGTERM):
            self._previous[signum] = signal.signal(signum, self._handle)
        self._alarm_previous = signal.signal(signal.SIGALRM, self._grace_over)
        self.installed = True
        return self

    def uninstall(self) -> None:
        if not self.installed:
            return
        signal.setitimer(signal.ITIMER_REAL, 0)
        for signum, previous in self._previous.items():
            signal.signal(signum, previous)
        signal.signal(signal.SIGALRM, self._alarm_previous)
        self.installed = False

    def request(self, name: str) -> None:
        """Ask for a stop as the signal ``name`` would (tests and the KeyboardInterrupt path)."""
        if self.requested is not None:
            raise Aborted(name)
        self.requested = name
        if self.on_stop is not None:
            self.on_stop(name)
        if self.installed:
            signal.setitimer(signal.ITIMER_REAL, self.grace)

    def _handle(self, signum: int, frame: Optional[FrameType]) -> None:
        self.request(signal.Signals(signum).name)

    def _grace_over(self, signum: int, frame: Optional[FrameType]) -> None:
        raise Aborted("grace")


# ------------------------------------------------------------------ the job


class _Pending:
    """What the job keeps about a request in the window (the tag handed to imap)."""

    __slots__ = ("n", "item", "queued", "path")

    def __init__(self, n: int, item: Item, queued: float, path: Optional[Path]) -> None:
        self.n = n
        self.item = item
        self.queued = queued
        self.path = path


def make_http(config: JobConfig) -> Any:
    import asynchttp

    options: dict[str, Any] = {}
    if config.retry is not None:
        options["retry"] = config.retry
    if config.rate_limit is not None:
        options["rate_limit"] = config.rate_limit
    http = asynchttp.Http(
        cache=config.cache,
        timeout=config.timeout,
        ca_certs=config.ca_certs,
        disable_ssl_certificate_validation=config.insecure,
        max_connections=config.concurrency,
        max_connections_per_host=config.per_host or config.concurrency,
        **options,
    )
    http.follow_redirects = config.follow_redirects
    return http


class Job:
    """One run: feeds the window from ``entries`` and turns outcomes into records."""

    def __init__(
        self,
        entries: Iterator[Item | Malformed],
        config: JobConfig,
        on_record: Callable[[Record], None],
        done: Optional[DoneSet] = None,
        stopper: Optional[Stopper] = None,
    ) -> None:
        self.entries = entries
        self.config = config
        self.on_record = on_record
        self.done = done
        self.stopper = stopper or Stopper(config.grace)
        self.stats = Stats()
        self.window: dict[int, _Pending] = {}
        self.n = 0
        self.http: Any = None

    # the input side ----------------------------------------------------------

    def _emit(self, record: Record) -> None:
        self.stats.add(record)
        self.on_record(record)

    def items(self) -> Iterator[Item]:
        """The entries to fetch, numbered in ``self.n`` as they are pulled; malformed
        lines (a record each) and lines finished before (counted as skipped) are dealt
        with here. Ends at the end of the input or once a stop is requested. Both the
        window's ``requests`` and the core's workers pull from one of these."""
        done = self.done
        entries = iter(self.entries)
        while self.stopper.requested is None:
            entry = next(entries, None)
            if entry is None:
                return
            self.n += 1
            if type(entry) is Malformed:
                if done is not None and done.has(entry.source, entry.line, entry.text):
                    self.stats.skipped += 1
                    continue
                self._emit(
                    Record(
                        entry.source,
                        entry.line,
                        None,
                        "malformed",
                        n=self.n,
                        error_message=entry.reason,
                        text=entry.text,
                    )
                )
                continue
            assert isinstance(entry, Item)
            if done is not None and done.has(entry.source, entry.line, entry.url):
                self.stats.skipped += 1
                continue
            yield entry

    def requests(self) -> Iterator[dict[str, Any]]:
        """The request of each entry, pulled as the window has room; malformed lines and
        lines finished before are dealt with in ``items``, never sent."""
        config = self.config
        headers = dict(config.headers) or None
        base: dict[str, Any] = {"method": config.method}
        if config.body is not None:
            base["body"] = config.body
        for entry in self.items():
            request = dict(base)
            request["uri"] = entry.url
            if headers is not None:
                request["headers"] = dict(headers)
            path = None
            if config.output_dir is not None:
                path = config.output_dir / file_name(config.name_template, self.n, entry)
                path.parent.mkdir(parents=True, exist_ok=True)
                request["sink"] = str(path)
                if config.continue_downloads:
                    request["resume"] = True
            pending = _Pending(self.n, entry, time.perf_counter(), path)
            self.window[id(pending)] = pending
            request["tag"] = pending
            yield request

    # the output side ---------------------------------------------------------

    def record_of(self, outcome: Any) -> Record:
        pending: _Pending = outcome.tag
        item = pending.item
        finished = time.perf_counter()
        record = Record(item.source, item.line, item.url, "error", n=pending.n, seconds=finished - pending.queued)
        future = outcome.future
        if future is not None:
            record.attempts, record.retries = _attempts_of(future)
            record.timings = _timings_of(future, pending.queued, finished)
        error = outcome.error
        if error is not None:
            import concurrent.futures

            if isinstance(error, concurrent.futures.CancelledError):
                record.outcome = "cancelled"
                return record
            record.error = error
            record.phase = error_phase(error)
            if future is None:
                record.attempts = 0
            return record
        response = outcome.response
        status = int(response.status)
        record.status = status
        record.outcome = outcome_of_status(status)
        record.final_url = final_url_of(item.url, response)
        record.fromcache = bool(getattr(response, "fromcache", False))
        if pending.path is not None and 200 <= status < 300:
            # the sink took the body: on disk under its name once complete
            record.nbytes = int(getattr(future, "body_bytes", 0) or 0)
            record.path = str(pending.path) if pending.path.exists() else None
        else:  # no -o, or not a 2xx (the sink takes a 2xx body only)
            record.nbytes = len(outcome.content or b"")
        return record

    def _outcomes(self) -> Iterator[Any]:
        """Bounded submission: the library's ``Http.imap`` (outcomes as they complete)."""
        return self.http.imap(self.requests(), window=self.config.concurrency, ordered=False)  # type: ignore[no-any-return]

    def run(self) -> Stats:
        """The whole job; never raises for a request's failure (a stop ends it cleanly)."""
        stats = self.stats
        started = time.perf_counter()
        outcomes: Optional[Iterator[Any]] = None
        try:
            self.http = make_http(self.config)
            outcomes = self._outcomes()
            for outcome in outcomes:
                pending = outcome.tag
                self.window.pop(id(pending), None)
                self._emit(self.record_of(outcome))
        except (Aborted, KeyboardInterrupt) as exc:
            if self.stopper.requested is None:
                self.stopper.requested = "SIGINT" if isinstance(exc, KeyboardInterrupt) else str(exc)
            close = getattr(outcomes, "close", None)
            if close is not None:
                close()  # cancels what is in flight
        finally:
            self.stopper.uninstall()
            # everything still in the window was started and did not finish: cancelled
            for pending in list(self.window.values()):
                self.window.pop(id(pending), None)
                self._emit(
                    Record(
                        pending.item.source,
                        pending.item.line,
                        pending.item.url,
                        "cancelled",
                        n=pending.n,
                        seconds=time.perf_counter() - pending.queued,
                    )
                )
            stats.stopped_by = self.stopper.requested
            stats.elapsed = time.perf_counter() - started
            if self.http is not None:
                try:
                    self.http.shutdown(wait=stats.stopped_by is None, cancel_pending=True)
                except (KeyboardInterrupt, Aborted):
                    pass
        return stats


def run_job(
    entries: Iterator[Item | Malformed],
    config: JobConfig,
    on_record: Callable[[Record], None],
    done: Optional[DoneSet] = None,
    stopper: Optional[Stopper] = None,
) -> Stats:
    """Run the job through ``asynchttp.Http`` (``_cli_core`` has the other engine)."""
    return Job(entries, config, on_record, done, stopper).run()
