"""The CLI's input: URLs read as a stream, and what a previous run already did.

A URL file is read one line at a time while the job runs, so a 10-million-line file
starts at once and costs no memory for the lines not yet reached. Each line becomes an
``Item`` (where it came from, its line number, the URL) or, when it is not an absolute
http(s) URL, a ``Malformed`` that the job reports and skips. ``DoneSet`` holds what a
previous run's JSONL says completed, compactly (a CRC of the URL per line number), so
a resumed run skips exactly those lines.
"""

from __future__ import annotations

import json
import os
import re
import zlib
from array import array
from dataclasses import dataclass
from typing import IO, Any, Iterable, Iterator, Optional, Union
from urllib.parse import urlsplit

__all__ = [
    "ARGV",
    "STDIN",
    "Item",
    "Malformed",
    "Source",
    "url_problem",
    "iter_source",
    "DoneSet",
    "count_remaining_lines",
    "DONE_OUTCOMES",
    "Inputs",
    "InputError",
    "read_done",
]

# The names records give to inputs that are not files.
ARGV = "<args>"
STDIN = "<stdin>"

# A record with one of these outcomes is finished: a resumed run does not fetch it again.
# (An HTTP answer of any status is an answer; a transport error or a cancelled request
# is fetched again.)
DONE_OUTCOMES = frozenset({"ok", "redirect", "client_error", "server_error", "informational", "malformed"})

_BAD_URL_CHARS = frozenset(" \t\r\n\x00\x0b\x0c\x7f")


@dataclass(slots=True)
class Item:
    """One URL to fetch: its input's name, its line number there (1-based), the URL.
    (Not frozen: a frozen dataclass's __init__ costs three times as much, once per line.)"""

    source: str
    line: int
    url: str


@dataclass(frozen=True)
class Malformed:
    """A line that is not an absolute http(s) URL: reported, counted, never fetched."""

    __slots__ = ("source", "line", "text", "reason")
    source: str
    line: int
    text: str
    reason: str


Entry = Union[Item, Malformed]


# The common case, checked in one match: scheme, a host name or IPv4 address of the
# usual characters, an optional port of at most 5 digits, then path/query/fragment
# without whitespace or control characters (the class says what is allowed: Python's
# re matches that faster than the negated class). Anything else goes the long way
# (urlsplit), which also says what is wrong.
_PLAIN_URL = re.compile(
    r"(?i:https?)://[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?(?::(\d{1,5}))?(?:[/?#][!-~\x80-\U0010ffff]*)?"
)


def url_problem(url: str) -> Optional[str]:
    """Why ``url`` cannot be fetched as given, or None when it is an absolute http(s) URL."""
    match = _PLAIN_URL.fullmatch(url)
    if match is not None:
        port = match.group(1)
        if port is None or 0 < int(port) <= 65535:
            return None
    if any(ch in _BAD_URL_CHARS for ch in url):
        return "whitespace or a control character in the URL"
    try:
        parts = urlsplit(url)
        scheme = parts.scheme.lower()
        host = parts.hostname
        port = parts.port  # raises ValueError on a bad port
    except ValueError as exc:
        return "not a valid URL (%s)" % exc
    if scheme not in ("http", "https"):
        return "not an http:// or https:// URL"
    if not host:
        return "no host in the URL"
    if port == 0:
        return "port 0 in the URL"
    return None


@dataclass
class Source:
    """An input being read: its name, and how far the reading got (for the progress bar)."""

    name: str
    size: Optional[int] = None  # bytes, when it is a regular file
    consumed: int = 0  # bytes read so far
    lines_read: int = 0
    exhausted: bool = False


def iter_source(source: Source, stream: Union[IO[bytes], Iterable[str]]) -> Iterator[Entry]:
    """The entries of one input, lazily: blank lines and ``#`` comments are skipped,
    a line that does not decode as UTF-8 or is not a URL is a ``Malformed``."""
    number = 0
    for raw in stream:
        number += 1
        source.lines_read = number
        if isinstance(raw, bytes):
            source.consumed += len(raw)
            try:
                line = raw.decode("utf-8").strip()
            except UnicodeDecodeError:
                yield Malformed(source.name, number, raw.decode("utf-8", "replace").strip(), "not UTF-8")
                continue
        else:
            line = raw.strip()
        if not line or line.startswith("#"):
            continue
        problem = url_problem(line)
        if problem is None:
            yield Item(source.name, number, line)
        else:
            yield Malformed(source.name, number, line, problem)
    source.exhausted = True


def count_remaining_lines(stream: IO[bytes], limit_bytes: int = 1 << 34) -> int:
    """Lines left in ``stream`` (a fast newline count, blank lines and comments included)."""
    count = 0
    last = b"\n"
    read = 0
    while read < limit_bytes:
        block = stream.read(1 << 20)
        if not block:
            break
        read += len(block)
        count += block.count(b"\n")
        last = block[-1:]
    if last != b"\n":
        count += 1  # a last line without its newline
    return count


def _crc(url: str) -> int:
    # 0 means "not done", so a URL whose CRC is 0 is stored as 1 (a rare, harmless clash)
    return zlib.crc32(url.encode("utf-8", "surrogatepass")) or 1


class DoneSet:
    """Which (input, line, URL) a previous run finished, at 4 bytes per line number."""

    def __init__(self) -> None:
        self._by_source: dict[str, array[int]] = {}
        self.count = 0

    def add(self, source: str, line: int, url: str) -> None:
        crcs = self._by_source.setdefault(source, array("I"))
        if line >= len(crcs):
            crcs.frombytes(bytes(crcs.itemsize * (line + 1 - len(crcs))))
        if not crcs[line]:
            self.count += 1
        crcs[line] = _crc(url)

    def has(self, source: str, line: int, text: str) -> bool:
        """True when line ``line`` of ``source``, holding ``text``, was finished before."""
        crcs = self._by_source.get(source)
        if crcs is None or line >= len(crcs):
            return False
        value = crcs[line]
        return value != 0 and value == _crc(text)

    def __len__(self) -> int:
        return self.count


def read_done(path: str) -> tuple[DoneSet, int, bool]:
    """The finished entries of a previous run's JSONL at ``path`` (missing: none),
    how many lines could not be read as records (a line cut by a kill), and whether
    the file ends without a newline (the next record must start on a fresh line)."""
    done = DoneSet()
    unreadable = 0
    ends_cut = False
    try:
        handle = open(path, "rb")
    except FileNotFoundError:
        return done, 0, False
    with handle:
        for raw in handle:
            ends_cut = not raw.endswith(b"\n")
            try:
                record = json.loads(raw)
                outcome = record["outcome"]
                if outcome in DONE_OUTCOMES:
                    url = record["url"] if outcome != "malformed" else record["text"]
                    done.add(str(record["input"]), int(record["line"]), str(url))
            except (ValueError, KeyError, TypeError):
                if raw.strip():
                    unreadable += 1
    return done, unreadable, ends_cut


def file_size(handle: IO[bytes]) -> Optional[int]:
    """The size of a regular file behind ``handle`` (None for a pipe or a terminal)."""
    try:
        stat = os.fstat(handle.fileno())
    except (OSError, ValueError, AttributeError):
        return None
    import stat as stat_module

    return stat.st_size if stat_module.S_ISREG(stat.st_mode) else None


class Inputs:
    """Every input of a run, in order: URLs given as arguments, then each ``-i`` file
    (``-`` is stdin), read lazily. Files are opened at once, so an unreadable one is a
    usage error before anything is fetched."""

    def __init__(self, urls: list[str], names: list[str], stdin: Any) -> None:
        self.urls = urls
        self.urls_taken = 0
        self.opened: list[tuple[Source, IO[bytes]]] = []
        self.current: Optional[tuple[Source, IO[bytes]]] = None
        for name in names:
            if name == "-":
                buffer = getattr(stdin, "buffer", None)
                stream: IO[bytes] = buffer if buffer is not None else _EncodedLines(stdin)  # type: ignore[assignment]
                self.opened.append((Source(STDIN, file_size(stream)), stream))
                continue
            try:
                if os.path.isdir(name):
                    raise IsADirectoryError(21, "Is a directory")
                handle = open(name, "rb")
            except OSError as exc:
                self.close()
                raise InputError("cannot read URL file %r: %s" % (name, exc.strerror or exc)) from None
            self.opened.append((Source(name, file_size(handle)), handle))

    @property
    def total_bytes(self) -> Optional[int]:
        """The size of all inputs when each is a regular file (for a progress fraction)."""
        sizes = [source.size for source, _ in self.opened]
        if not sizes or any(size is None for size in sizes):
            return None
        return sum(size for size in sizes if size is not None)

    @property
    def consumed_bytes(self) -> int:
        return sum(source.consumed for source, _ in self.opened)

    def __iter__(self) -> Iterator[Entry]:
        for number, url in enumerate(self.urls, 1):
            self.urls_taken = number
            yield Item(ARGV, number, url)
        for source, stream in self.opened:
            self.current = (source, stream)
            yield from iter_source(source, stream)
        self.current = None

    def not_read(self) -> Optional[str]:
        """What of the input was never read, in words (None when all of it was)."""
        pieces = []
        left_args = len(self.urls) - self.urls_taken
        if left_args:
            pieces.append(
                "%d URL%s given as argument%s"
                % (left_args, "" if left_args == 1 else "s", "" if left_args == 1 else "s")
            )
        for source, stream in self.opened:
            if source.exhausted:
                continue
            if source.name == STDIN:
                pieces.append("the rest of stdin after line %d" % source.lines_read)
                continue
            try:
                left = count_remaining_lines(stream)
            except (OSError, ValueError):
                pieces.append("%s after line %d" % (source.name, source.lines_read))
                continue
            if left:
                pieces.append(
                    "%d line%s of %s (lines %d to %d)"
                    % (
                        left,
                        "" if left == 1 else "s",
                        source.name,
                        source.lines_read + 1,
                        source.lines_read + left,
                    )
                )
        return ", ".join(pieces) or None

    def close(self) -> None:
        for source, stream in self.opened:
            if source.name != STDIN:
                stream.close()


class InputError(Exception):
    """An input that cannot be opened (a usage error)."""


class _EncodedLines:
    """A text stream without ``.buffer`` (a test's StringIO) read as bytes lines."""

    def __init__(self, stream: Any) -> None:
        self.stream = stream

    def __iter__(self) -> Iterator[bytes]:
        for line in self.stream:
            yield line.encode("utf-8", "surrogateescape")

    def read(self, size: int = -1) -> bytes:
        return bytes(self.stream.read(size).encode("utf-8"))

    def fileno(self) -> int:
        raise OSError("no file descriptor")
