"""The code blocks of docs/bulk.rst and docs/retries.rst, run against a local server.

Those blocks work on the reader's own URLs: a file ``urls.txt``, a list ``urls``,
a big file on a real host. Each runs here as the page shows it, in a fresh
interpreter whose working directory holds a ``urls.txt`` of URLs on a local
DemoServer. What the test changes is in plain sight in each test: the prelude
that binds ``urls`` (``PRELUDE``) and the one URL of a real host replaced by a
local one (``substitute``). Then what the block printed or wrote is checked
against what the server answers to each URL.

Every python block of those two pages is run here or by test_readme.py (the ones
that start their own DemoServer); a block that cannot run locally would have to
say so on its page and be listed here with the reason (there is none today).
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any, Iterator

import pytest

import asynchttp
from asynchttp._demo import DemoServer, pattern
from tests.examples.pages import REPO, code_blocks, run_python

JOB_PAGES = ("docs/bulk.rst", "docs/retries.rst")

# Each block, by a line of it that no other block of its page has.
IMAP = ("docs/bulk.rst", 'http.imap(urls("urls.txt"), window=100)')
POLITE_HTTP = ("docs/bulk.rst", "max_connections_per_host=4,  # at most 4 requests in flight per host")
SINK = ("docs/bulk.rst", 'sink="big.iso"')
RESUMABLE_JOB = ("docs/bulk.rst", 'http.imap(items("urls.txt"), window=200)')
POLITE_JOB = ("docs/retries.rst", "concurrent.futures.as_completed(futures)")
RUN_HERE = [IMAP, POLITE_HTTP, SINK, RESUMABLE_JOB, POLITE_JOB]

# retries.rst leaves ``urls`` to the reader ("any iterable"): the test binds it first.
PRELUDE = "urls = %r  # the reader's URLs; here, on a local server\n"


def block(claim: tuple[str, str]) -> str:
    page, line = claim
    found = [code for _, code in code_blocks((REPO / page).read_text(encoding="utf-8"), "python") if line in code]
    assert len(found) == 1, "%s: %d python blocks have the line %r" % (page, len(found), line)
    return found[0]


def substitute(code: str, old: str, new: str) -> str:
    assert code.count(old) == 1, old
    return code.replace(old, new)


def run(code: str, cwd: Path) -> list[str]:
    """Run ``code`` as a reader would, in ``cwd``; the lines it printed."""
    proc = run_python(["-c", code], cwd)
    assert proc.returncode == 0, "%s\n%s" % (code, proc.stderr)
    assert not re.search(r"^Traceback", proc.stderr, re.M), proc.stderr
    return proc.stdout.splitlines()


def write_urls(cwd: Path, lines: list[str]) -> None:
    (cwd / "urls.txt").write_text("".join(line + "\n" for line in lines), encoding="utf-8")


@pytest.fixture(scope="module")
def server() -> Iterator[DemoServer]:
    with DemoServer(lifetime=300) as running:
        yield running


@pytest.mark.parametrize("page", JOB_PAGES)
def test_every_python_block_of_the_page_is_run(page: str) -> None:
    blocks = code_blocks((REPO / page).read_text(encoding="utf-8"), "python")
    assert blocks
    for line, code in blocks:
        runners = ["test_readme.py"] if "DemoServer" in code else []
        runners += ["here, %r" % claim[1] for claim in RUN_HERE if claim[0] == page and claim[1] in code]
        assert len(runners) == 1, "%s line %d is run by %s" % (page, line, runners or "no test")


def test_imap_block(server: DemoServer, tmp_path: Path) -> None:
    fast = [server.url("/fast?n=%d" % n) for n in range(6)]
    missing, dropped = server.url("/status/404"), server.url("/drop")
    # A comment and a blank line, which the block's reader skips.
    write_urls(tmp_path, ["# the reader's list"] + fast[:3] + [""] + fast[3:] + [missing, dropped])
    printed = run(block(IMAP), tmp_path)
    failed = [line for line in printed if line.startswith("failed ")]
    assert [line.split(" ")[1] for line in failed] == [dropped]  # the server closes without an answer
    answered = sorted(set(printed) - set(failed))
    assert answered == sorted(["200 %s 5" % url for url in fast] + ["404 %s 11" % missing])  # "fast\n", "status 404\n"
    assert len(printed) == len(fast) + 2  # one line per URL, none twice


def test_sink_block_with_the_polite_http_before_it(server: DemoServer, tmp_path: Path) -> None:
    # The sink block goes on from the page's block before it, which makes ``http``.
    size = (3 << 20) + 7  # several of the sink's 1 MiB batches
    sink = substitute(block(SINK), '"https://example.org/big.iso"', repr(server.url("/large?size=%d" % size)))
    printed = run(block(POLITE_HTTP) + sink, tmp_path)
    assert printed == ["200 %d" % size]  # the status and content.future.body_bytes
    assert (tmp_path / "big.iso").read_bytes() == pattern(size)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["big.iso"]  # no .part left


def _records(cwd: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (cwd / "results.jsonl").read_text(encoding="utf-8").splitlines()]


@pytest.mark.slow  # the dropped connection is retried with backoff, twice over
def test_resumable_job_block_skips_what_is_done(server: DemoServer, tmp_path: Path) -> None:
    sizes = {1: 1, 2: 300_001, 3: (1 << 20) + 5}  # line number: body size
    urls = {line: server.url("/large?size=%d&n=%d" % (size, line)) for line, size in sizes.items()}
    urls[5], urls[6] = server.url("/status/404"), server.url("/drop")
    write_urls(tmp_path, [urls[1], urls[2], urls[3], "", urls[5], urls[6]])  # line 4 blank: skipped
    out = tmp_path / "out"

    run(block(RESUMABLE_JOB), tmp_path)
    first = _records(tmp_path)
    assert sorted(record["line"] for record in first) == [1, 2, 3, 5, 6]
    assert all(record["url"] == urls[record["line"]] for record in first)
    statuses = {record["line"]: record["status"] for record in first}
    assert statuses == {1: 200, 2: 200, 3: 200, 5: 404, 6: None}
    assert [sorted(record) for record in first if record["line"] == 6] == [["error", "line", "status", "url"]]
    assert sorted(p.name for p in out.iterdir()) == ["00000001", "00000002", "00000003"]  # non-2xx: no file
    for line, size in sizes.items():
        assert (out / ("%08d" % line)).read_bytes() == pattern(size)

    # A run stopped in the middle of line 2's body leaves its first bytes in a .part.
    # The demo server ignores Range, so the next run gets a 200 and starts it over.
    (out / "00000002").rename(out / "00000002.part")
    with open(out / "00000002.part", "r+b") as part:
        part.truncate(1000)
    run(block(RESUMABLE_JOB), tmp_path)
    again = _records(tmp_path)[len(first) :]
    assert sorted((record["line"], record["status"]) for record in again) == [(2, 200), (5, 404), (6, None)]
    assert sorted(p.name for p in out.iterdir()) == ["00000001", "00000002", "00000003"]
    assert (out / "00000002").read_bytes() == pattern(sizes[2])


@pytest.mark.slow  # the 503 and the dropped connection are retried with backoff
def test_polite_job_block_records_each_request(server: DemoServer, tmp_path: Path) -> None:
    fast = [server.url("/fast?n=%d" % n) for n in range(3)]
    unavailable, missing, dropped = server.url("/status/503"), server.url("/status/404"), server.url("/drop")
    printed = run(PRELUDE % (fast + [unavailable, missing, dropped]) + block(POLITE_JOB), tmp_path)
    records = {record["url"]: record for record in map(json.loads, printed)}
    assert len(records) == len(printed) == 6
    outcomes = {url: (record["attempts"], record.get("status"), "error" in record) for url, record in records.items()}
    assert outcomes == {
        **{url: (1, 200, False) for url in fast},
        missing: (1, 404, False),  # not a status to retry
        unavailable: (4, 503, False),  # every try, then the last answer as it came
        dropped: (4, None, True),  # a GET is safe to send again; the last error is the outcome
    }
    timings = set(asynchttp.Timings._fields)
    assert all(timings <= set(record) and record["done"] is not None for record in records.values())
