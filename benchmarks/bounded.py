#!/usr/bin/env python3
"""Memory of bounded submission: peak RSS of ``Http.imap`` over 100,000 and 1,000,000
requests, each run in a fresh process, against the local fast server.

    python benchmarks/bounded.py                       # 100,000 then 1,000,000, window 100
    python benchmarks/bounded.py --counts 20000 200000 --window 50

The input is a generator (nothing is held up front), every outcome is checked and
dropped. Issue 19's target: peak RSS differs by less than 20 MiB between the two
counts (memory does not grow with the input). Not a test; never run in CI.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
TARGET_MIB = 20.0
sys.path.insert(0, REPO)  # this tree's asynchttp, and tests.servers


def child(url: str, count: int, window: int, ordered: bool) -> None:
    """One run, in this process: print a JSON line with the figures."""
    import resource

    import asynchttp

    started = time.monotonic()
    ok = failed = 0
    with asynchttp.Http() as http:
        for outcome in http.imap((url for _ in range(count)), window=window, ordered=ordered):
            if outcome.ok and outcome.content:
                ok += 1
            else:
                failed += 1
    elapsed = time.monotonic() - started
    peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    print(
        json.dumps(
            {
                "count": count,
                "ok": ok,
                "failed": failed,
                "seconds": elapsed,
                "peak_rss_kib": peak_kib,
                "module": asynchttp.__file__,
            }
        )
    )


def run_child(url: str, count: int, window: int, ordered: bool) -> dict[str, float]:
    cmd = [sys.executable, os.path.abspath(__file__), "--child", url, "--counts", str(count), "--window", str(window)]
    if ordered:
        cmd.append("--ordered")
    out = subprocess.run(cmd, cwd=REPO, check=True, capture_output=True, text=True)
    figures: dict[str, float] = json.loads(out.stdout.strip().splitlines()[-1])
    return figures


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--counts", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--window", type=int, default=100)
    parser.add_argument("--ordered", action="store_true")
    parser.add_argument("--child", metavar="URL", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child, args.counts[0], args.window, args.ordered)
        return 0

    from tests.servers.fast_server import FastServer

    server = FastServer("--lifetime", "7200")
    try:
        results = []
        for count in args.counts:
            figures = run_child(server.url("/"), count, args.window, args.ordered)
            results.append(figures)
            print(
                "%9d requests: %6.1f s (%6.0f/s), %d failed, peak RSS %.1f MiB"
                % (
                    count,
                    figures["seconds"],
                    count / figures["seconds"],
                    figures["failed"],
                    figures["peak_rss_kib"] / 1024,
                ),
                flush=True,
            )
    finally:
        server.stop()
    if len(results) >= 2:
        growth = (results[-1]["peak_rss_kib"] - results[0]["peak_rss_kib"]) / 1024
        verdict = "met" if growth < TARGET_MIB else "NOT met"
        print(
            "peak RSS growth %d -> %d requests: %.1f MiB (target < %.0f MiB: %s)"
            % (results[0]["count"], results[-1]["count"], growth, TARGET_MIB, verdict)
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
