#!/usr/bin/env python3
"""Side-by-side benchmark of asynchttp_lowhaio (the core), asynchttp.Http
(the facade) and their peers against a local nginx, in one run.

Starts nginx on a free loopback port, runs every client in a fresh process
for each scenario and repetition (repetitions interleaved so drift in the
machine hits every client alike), then prints medians, ratios to aiohttp and
whether the targets of issues 2 and 3 are met. Not a test; never run in CI.

    python benchmarks/bench.py                 # everything, 5 repetitions
    python benchmarks/bench.py --only core     # the core's table alone
    python benchmarks/bench.py --quick         # small counts: a smoke run
    python benchmarks/bench.py --rst           # tables ready for docs/performance.rst
    python benchmarks/bench.py --loop both     # every loop-using client on asyncio and uvloop
    python benchmarks/bench.py --only shapes   # bulk bodies in each script shape
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import json
import os
import platform
import shutil
import signal
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field
from typing import Any, Callable, NoReturn

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
sys.path.insert(0, HERE)

import _delay_proxy  # noqa: E402
import _nginx  # noqa: E402

CORE_CLIENTS = ["asynchttp_lowhaio", "lowhaio", "aiohttp", "raw"]
FACADE_CLIENTS = ["asynchttp", "asynchttp-blocking", "httplib2", "requests-futures", "urllib3", "aiohttp"]
# The shapes section: 1 MiB bodies, 8 at once, in the shapes scripts take (_shapes.py).
SHAPE_CLIENTS = [
    "shape:reused",
    "shape:fresh",
    "shape:fresh-after-idle",
    "shape:fresh-kept",
    "shape:blocking-threads",
    "shape:aiohttp",
]
ALL_CLIENTS = list(dict.fromkeys(CORE_CLIENTS + FACADE_CLIENTS + SHAPE_CLIENTS))
# Clients that run on an asyncio event loop, and so can run on uvloop (--loop):
# "name@uvloop" is that client on uvloop.
LOOP_CLIENTS = {"asynchttp_lowhaio", "lowhaio", "aiohttp", "raw", "asynchttp"} | set(SHAPE_CLIENTS)
UVLOOP = "@uvloop"
# (h): the delay each direction's bytes wait in the local proxy.
H_DELAY = 0.010

TITLES = {
    "asynchttp_lowhaio": "asynchttp_lowhaio",
    "lowhaio": "lowhaio 0.0.89",
    "aiohttp": "aiohttp",
    "raw": "raw ceiling",
    "asynchttp": "asynchttp.Http",
    "asynchttp-blocking": "asynchttp.BlockingHttp",
    "httplib2": "httplib2",
    "requests-futures": "requests-futures",
    "urllib3": "urllib3",
    "shape:reused": "one Http reused",
    "shape:fresh": "fresh Http per job",
    "shape:fresh-after-idle": "fresh Http, new loop thread",
    "shape:fresh-kept": "fresh Http, all bodies kept",
    "shape:blocking-threads": "BlockingHttp, 8 threads",
    "shape:aiohttp": "aiohttp",
}


def base(client: str) -> str:
    """The client without its loop: "aiohttp@uvloop" -> "aiohttp"."""
    return client[: -len(UVLOOP)] if client.endswith(UVLOOP) else client


def title(client: str) -> str:
    return TITLES[base(client)] + (" (uvloop)" if client.endswith(UVLOOP) else "")


@dataclass
class Scenario:
    key: str
    url_attr: str
    n: int
    quick_n: int
    concurrency: int
    size: int
    tls: bool = False
    delayed: bool = False  # through the delay proxy, no warm-up: (h)


SCENARIOS = {
    "a": Scenario("a", "small_url", 5000, 500, 32, _nginx.SMALL_SIZE),
    "b": Scenario("b", "small_url", 2000, 200, 1, _nginx.SMALL_SIZE),
    "c": Scenario("c", "big_url", 100, 10, 8, _nginx.BIG_SIZE),
    "e": Scenario("e", "small_url", 100_000, 5000, 32, _nginx.SMALL_SIZE),
    # (a) and (c) over TLS: same nginx, a certificate made for this run, every client verifying it.
    "f": Scenario("f", "small_tls_url", 5000, 500, 32, _nginx.SMALL_SIZE, tls=True),
    "g": Scenario("g", "big_tls_url", 100, 10, 8, _nginx.BIG_SIZE, tls=True),
    # (f) closer to the internet: through a local proxy that holds each direction's
    # bytes 10 ms (RTT 20 ms), from cold (every connection and handshake in the time).
    "h": Scenario("h", "small_tls_url", 1000, 200, 32, _nginx.SMALL_SIZE, tls=True, delayed=True),
    # The shapes section's one scenario: 1 MiB bodies, 8 at once, after a warm-up job.
    "s": Scenario("s", "big_url", 100, 20, 8, _nginx.BIG_SIZE),
}
# The order scenarios run in, within a repetition.
ORDER = ("a", "b", "c", "f", "g", "h", "s", "e")


def ideal_h(n: int, concurrency: int) -> float:
    """(h)'s floor: n requests, concurrency at once, one round trip each."""
    return n / concurrency * 2 * H_DELAY


@dataclass
class Row:
    """One line of a table: a figure taken from one scenario's results."""

    label: str
    scenario: str
    key: str
    fmt: Callable[[float], str]
    higher_is_better: bool


def _int(v: float) -> str:
    return f"{v:,.0f}"


def _one(v: float) -> str:
    return f"{v:,.1f}"


def _two(v: float) -> str:
    return f"{v:,.2f}"


def _sec(v: float) -> str:
    return f"{v:,.3f}"


def rows(counts: dict[str, int], facade: bool) -> list[Row]:
    a, b, c, f, g, h = counts["a"], counts["b"], counts["c"], counts["f"], counts["g"], counts["h"]
    return [
        Row(f"(a) {a:,} x 100 B, 32 at once: req/s", "a", "rps", _int, True),
        Row(f"(b) {b:,} sequential: median us", "b", "median_us", _int, False),
        Row("(b) sequential: p99 us", "b", "p99_us", _int, False),
        Row(f"(c) {c} x 1 MiB, 8 at once: MB/s", "c", "mbps", _int, True),
        Row("(d) peak RSS in (a): MiB", "a", "peak_rss_mib", _one, False),
        # Not targets: CPU time the client process spent, which other load on
        # the machine disturbs far less than wall-clock rates.
        Row("(a) client CPU: us/req", "a", "cpu_us_per_req", _int, False),
        Row("(c) client CPU: us/MiB", "c", "cpu_us_per_req", _int, False),
        Row("(c) page faults per MiB", "c", "faults_per_req", _int, False),
        Row(f"(f) TLS: {f:,} x 100 B, 32 at once: req/s", "f", "rps", _int, True),
        Row(f"(g) TLS: {g} x 1 MiB, 8 at once: MB/s", "g", "mbps", _int, True),
        Row("(f) client CPU: us/req", "f", "cpu_us_per_req", _int, False),
        Row("(g) client CPU: us/MiB", "g", "cpu_us_per_req", _int, False),
        Row(
            f"(h) {h:,} x TLS via {H_DELAY * 1e3:.0f} ms proxy, 32 at once: s (ideal {ideal_h(h, 32):.3g})",
            "h",
            "seconds",
            _sec,
            False,
        ),
        Row("(h) wall time / ideal", "h", "over_ideal", _two, False),
        Row("(h) connections opened", "h", "connections", _int, False),
    ]


def shape_rows(counts: dict[str, int]) -> list[Row]:
    return [
        Row(f"{counts['s']} x 1 MiB, 8 at once: MB/s", "s", "mbps", _int, True),
        Row("page faults per MiB", "s", "faults_per_mib", _one, False),
        Row("client CPU: us/MiB", "s", "cpu_us_per_mib", _int, False),
    ]


LEGEND_CORE = (
    "(b) runs on one keep-alive connection. MB = 10^6 bytes. (f), (g): HTTPS to the same nginx, "
    "certificate made at bench time (trustme), verified by every client. Ratios: client / aiohttp "
    "(for us and MiB, lower is better)."
)
LEGEND_FACADE = (
    "asynchttp.Http: queue every request, then touch every content; (b) request() then touch, "
    "one at a time. httplib2: one Http per thread in a ThreadPoolExecutor (32, or 8 in (c)); (b) "
    "sync httplib2 on one connection. requests-futures: FuturesSession(max_workers=32 or 8). "
    "urllib3: one PoolManager shared by 32 (or 8) threads. aiohttp: the same runs as in the core table."
)
LEGEND_H = (
    "(h): HTTPS GETs of the 100-byte file through a local TCP relay that holds each direction's bytes "
    "10 ms, from a cold client (connections and TLS handshakes in the time); ideal = requests / 32 x 20 ms; "
    "connections counted at the relay."
)
LEGEND_SHAPES = (
    "Each shape in a fresh process: a warm-up job, then the timed job of 1 MiB bodies, 8 at once, each "
    "touched (bytes(content)) and dropped. One Http reused: the same Http for both jobs. Fresh Http per "
    "job: `with Http() as http` per job, the next opened as soon as the last closed. Fresh Http, new loop "
    "thread: the same after the loop thread stopped (idle grace). All bodies kept: a fresh Http per job "
    "whose 100 bodies are all kept until the job ends (100 MiB held at once). BlockingHttp: one shared by 8 threads. "
    "Page faults: the process's minor faults (ru_minflt) per MiB; CPU: every thread's."
)


@dataclass
class Target:
    """A ratio the issues ask for: client/peer on one row's figure."""

    issue: int
    scenario_label: str
    row_key: tuple[str, str]
    client: str
    peer: str
    bound: float
    at_least: bool


CORE_TARGETS = [
    Target(2, "(a) req/s", ("a", "rps"), "asynchttp_lowhaio", "aiohttp", 2.0, True),
    Target(2, "(a) req/s", ("a", "rps"), "asynchttp_lowhaio", "lowhaio", 1.3, True),
    Target(2, "(b) median us", ("b", "median_us"), "asynchttp_lowhaio", "aiohttp", 0.45, False),
    Target(2, "(c) MB/s", ("c", "mbps"), "asynchttp_lowhaio", "aiohttp", 1.5, True),
    Target(2, "(d) peak RSS", ("a", "peak_rss_mib"), "asynchttp_lowhaio", "aiohttp", 1.0, False),
    Target(10, "(f) TLS req/s", ("f", "rps"), "asynchttp_lowhaio", "aiohttp", 2.0, True),
    Target(10, "(c) client CPU per MiB", ("c", "cpu_us_per_req"), "asynchttp_lowhaio", "aiohttp", 1.0, False),
]
FACADE_TARGETS = [
    Target(3, "(a) req/s", ("a", "rps"), "asynchttp", "aiohttp", 1.5, True),
    Target(3, "(a) req/s", ("a", "rps"), "asynchttp", "httplib2", 2.0, True),
    Target(3, "(a) req/s", ("a", "rps"), "asynchttp", "requests-futures", 5.0, True),
    Target(3, "(b) median us", ("b", "median_us"), "asynchttp", "httplib2", 0.8, False),
    Target(20, "(b) median us", ("b", "median_us"), "asynchttp-blocking", "httplib2", 0.8, False),
    Target(20, "(b) median us", ("b", "median_us"), "asynchttp", "httplib2", 1.0, False),
    Target(20, "(a) req/s", ("a", "rps"), "asynchttp", "aiohttp", 2.0, True),
    Target(3, "(c) MB/s", ("c", "mbps"), "asynchttp", "httplib2", 1.0, True),
    Target(3, "(d) peak RSS", ("a", "peak_rss_mib"), "asynchttp", "aiohttp", 1.0, False),
    Target(10, "(c) MB/s", ("c", "mbps"), "asynchttp", "aiohttp", 1.2, True),
    Target(10, "(c) client CPU per MiB", ("c", "cpu_us_per_req"), "asynchttp", "aiohttp", 1.0, False),
    Target(10, "(f) TLS req/s", ("f", "rps"), "asynchttp", "aiohttp", 1.5, True),
    Target(10, "(f) TLS req/s", ("f", "rps"), "asynchttp", "httplib2", 2.0, True),
]


SHAPE_TARGET_RATIO = 1.2  # issue 20 part 4: MB/s at least 1.2x aiohttp's
SHAPE_TARGET_FAULTS = 10.0  # and at most 10 page faults per MiB, in every shape


@dataclass
class Results:
    runs: dict[tuple[str, str], list[dict[str, Any]]] = field(default_factory=dict)
    na: dict[str, str] = field(default_factory=dict)
    # Reasons, one per failed repetition; a client failing twice in a
    # scenario is not run again in it (a hang costs the whole timeout).
    failed: dict[tuple[str, str], list[str]] = field(default_factory=dict)
    describe: dict[str, str] = field(default_factory=dict)
    load: tuple[float, float] = (0.0, 0.0)
    code: str = ""

    def values(self, client: str, scenario: str, key: str) -> list[float]:
        return [r[key] for r in self.runs.get((client, scenario), []) if key in r]

    def median(self, client: str, scenario: str, key: str) -> float | None:
        values = self.values(client, scenario, key)
        return statistics.median(values) if values else None

    def spread(self, client: str, scenario: str, key: str) -> float | None:
        values = self.values(client, scenario, key)
        if len(values) < 2 or not statistics.median(values):
            return None  # (a median of 0: page faults that did not happen)
        return (max(values) - min(values)) / statistics.median(values)


# ----- running ----------------------------------------------------------------


def run_one(
    client: str,
    scenario: Scenario,
    n: int,
    server: _nginx.Nginx,
    client_cpu: int | None,
    timeout: float,
    profile_path: str | None = None,
    proxy: _delay_proxy.DelayProxy | None = None,
) -> tuple[str, dict[str, Any] | str]:
    """("ok", result) | ("na", reason) | ("fail", reason)."""
    url = getattr(server, scenario.url_attr)
    if scenario.delayed:
        if proxy is None:
            return "fail", "no delay proxy"
        url = url.replace(f":{server.tls_port}/", f":{proxy.port}/")
        proxy.reset()
    cmd = [
        sys.executable,
        os.path.join(HERE, "_runner.py"),
        base(client),
        scenario.key,
        url,
        str(n),
        str(scenario.concurrency),
        str(scenario.size),
    ]
    if client_cpu is not None:
        cmd = ["taskset", "-c", str(client_cpu)] + cmd
    env = dict(os.environ)
    # The working tree's packages, not whatever version is installed.
    env["PYTHONPATH"] = os.pathsep.join(p for p in (REPO, env.get("PYTHONPATH", "")) if p)
    env.pop("BENCH_PROFILE", None)
    env.pop("BENCH_CA", None)
    # The loop: asyncio's unless this is the client's uvloop variant (the asyncio clients
    # read BENCH_LOOP, asynchttp.Http its own ASYNCHTTP_LOOP).
    env.pop("BENCH_LOOP", None)
    env.pop("ASYNCHTTP_LOOP", None)
    if client.endswith(UVLOOP):
        env["BENCH_LOOP"] = env["ASYNCHTTP_LOOP"] = "uvloop"
    if scenario.tls:
        env["BENCH_CA"] = server.ca_path
    if profile_path:
        env["BENCH_PROFILE"] = profile_path
    try:
        proc = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return "fail", f"no answer within {timeout:.0f} s"
    lines = proc.stdout.strip().splitlines()
    try:
        result = json.loads(lines[-1]) if lines else None
    except ValueError:
        result = None
    if proc.returncode == 3 and result and "na" in result:
        return "na", str(result["na"])
    if proc.returncode != 0 or not isinstance(result, dict):
        err = proc.stderr.strip().splitlines()
        return "fail", f"exit {proc.returncode}: {err[-1] if err else proc.stdout[-200:]}"
    if scenario.delayed and proxy is not None:
        result["connections"] = proxy.connections
        result["over_ideal"] = result["seconds"] / ideal_h(n, scenario.concurrency)
    return "ok", result


def measure(
    args: argparse.Namespace,
    server: _nginx.Nginx,
    server_cpu: int | None,
    client_cpu: int | None,
    clients: list[str],
    scenario_keys: dict[str, list[str]],
    proxy: _delay_proxy.DelayProxy | None = None,
) -> Results:
    results = Results()
    for rep in range(args.reps):
        # Rotating who goes first spreads any warm-up drift of the machine.
        shift = rep % len(clients)
        order = clients[shift:] + clients[:shift]
        for key in ORDER:
            scenario = SCENARIOS[key]
            n = scenario.quick_n if args.quick else scenario.n
            cpu = client_cpu
            if key == "b" and args.b_cpu == "same" and server_cpu is not None:
                # One request at a time is a ping-pong: on one CPU the hand-off
                # is cheap and steady, across CPUs each wake-up costs tens of
                # microseconds of noise that hides the client's own cost.
                cpu = server_cpu
            for client in order:
                if key not in scenario_keys[client] or client in results.na:
                    continue
                if len(results.failed.get((client, key), [])) >= 2:
                    continue
                t0 = time.monotonic()
                status, payload = run_one(client, scenario, n, server, cpu, args.timeout, proxy=proxy)
                took = time.monotonic() - t0
                if status == "na":
                    results.na[client] = str(payload)
                    log(f"rep {rep + 1}/{args.reps} ({key}) {client}: n/a: {payload}")
                elif status == "fail":
                    results.failed.setdefault((client, key), []).append(str(payload))
                    log(f"rep {rep + 1}/{args.reps} ({key}) {client}: FAILED: {payload}")
                else:
                    assert isinstance(payload, dict)
                    results.runs.setdefault((client, key), []).append(payload)
                    results.describe[client] = str(payload.get("client", ""))
                    log(f"rep {rep + 1}/{args.reps} ({key}) {client}: {brief(key, payload)} [{took:.1f} s]")
    return results


def profile(
    args: argparse.Namespace,
    server: _nginx.Nginx,
    client_cpu: int | None,
    clients: list[str],
    scenario_keys: dict[str, list[str]],
    proxy: _delay_proxy.DelayProxy | None = None,
) -> None:
    """One run per client and scenario under cProfile; the figures of these
    runs are not reported (the profiler's cost distorts them)."""
    stamp = f"{datetime.datetime.now(datetime.timezone.utc):%Y%m%dT%H%M%SZ}"
    folder = os.path.join(HERE, "results", f"profile-{stamp}")
    os.makedirs(folder, exist_ok=True)
    for client in clients:
        for key in scenario_keys[client]:
            scenario = SCENARIOS[key]
            n = scenario.quick_n if args.quick else scenario.n
            path = os.path.join(folder, f"{client}-{key}.txt")
            status, payload = run_one(client, scenario, n, server, client_cpu, args.timeout, path, proxy)
            log(f"profile ({key}) {client}: {path if status == 'ok' else status + ': ' + str(payload)}")


def brief(key: str, r: dict[str, Any]) -> str:
    if key == "a":
        return f"{r['rps']:,.0f} req/s, {r['peak_rss_mib']:.1f} MiB, {r['cpu_us_per_req']:.0f} us CPU/req"
    if key == "b":
        return f"median {r['median_us']:.0f} us, p99 {r['p99_us']:.0f} us"
    if key in ("c", "g"):
        return f"{r['mbps']:,.0f} MB/s, {r['cpu_us_per_req']:.0f} us CPU/MiB"
    if key == "f":
        return f"{r['rps']:,.0f} req/s, {r['cpu_us_per_req']:.0f} us CPU/req"
    if key == "h":
        return f"{r['seconds']:.3f} s ({r['over_ideal']:.2f}x ideal), {r['connections']} connections"
    if key == "s":
        return f"{r['mbps']:,.0f} MB/s, {r['faults_per_mib']:.1f} faults/MiB, {r['cpu_us_per_mib']:.0f} us CPU/MiB"
    return (
        f"{r['completed']:,} done in {r['seconds']:.1f} s, threads {r['threads_before']}->"
        f"{r['threads_max']}->{r['threads_after']}, {r['kib_per_request']:.2f} KiB/request queued, "
        f"{r['queue_seconds'] / r['completed'] * 1e6:.1f} us to queue each, peak RSS {r['peak_rss_mib']:.0f} MiB"
    )


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


# ----- reporting --------------------------------------------------------------


def render(header: list[str], body: list[list[str]], rst: bool) -> str:
    widths = [max(len(r[i]) for r in [header] + body) for i in range(len(header))]

    def line(cells: list[str]) -> str:
        first = cells[0].ljust(widths[0])
        rest = [c.rjust(w) for c, w in zip(cells[1:], widths[1:], strict=True)]
        return "  ".join([first] + rest).rstrip()

    rule = "  ".join(("=" if rst else "-") * w for w in widths)
    out = [rule, line(header), rule] if rst else [line(header), rule]
    out += [line(r) for r in body]
    if rst:
        out.append(rule)
    return "\n".join(out)


def cell(results: Results, client: str, row: Row, ref: str) -> str:
    if client in results.na:
        return "n/a"
    failures = len(results.failed.get((client, row.scenario), []))
    value = results.median(client, row.scenario, row.key)
    if value is None:
        return "FAILED" if failures else "-"
    text = row.fmt(value)
    ref_value = results.median(ref, row.scenario, row.key)
    if client != ref and ref_value:
        text += f" ({value / ref_value:.2f}x)"
    # The median of the runs that answered right, marked: see the notes.
    return text + (f" !{failures}" if failures else "")


def main_table(results: Results, clients: list[str], counts: dict[str, int], facade: bool, rst: bool) -> str:
    header = ["scenario"] + [title(c) for c in clients]
    body = [[row.label] + [cell(results, c, row, "aiohttp") for c in clients] for row in rows(counts, facade)]
    return render(header, body, rst)


def shapes_table(results: Results, clients: list[str], counts: dict[str, int], rst: bool) -> str:
    header = ["bulk bodies, by script shape"] + [title(c) for c in clients]
    body = [[row.label] + [cell(results, c, row, "shape:aiohttp") for c in clients] for row in shape_rows(counts)]
    return render(header, body, rst)


def shape_target_lines(results: Results, clients: list[str], rst: bool) -> list[str]:
    """Issue 20 part 4, per shape: MB/s >= 1.2x aiohttp's, <= 10 page faults per MiB."""
    out = []
    for client in clients:
        if base(client) == "shape:aiohttp":
            continue
        peer = "shape:aiohttp" + (UVLOOP if client.endswith(UVLOOP) else "")
        mine = results.median(client, "s", "mbps")
        theirs = results.median(peer, "s", "mbps")
        faults = results.median(client, "s", "faults_per_mib")
        if mine is None or not theirs or faults is None:
            got, verdict = "-", "not measured"
        else:
            ratio = mine / theirs
            met = ratio >= SHAPE_TARGET_RATIO and faults <= SHAPE_TARGET_FAULTS
            got, verdict = f"{ratio:.3f}x, {faults:.1f} faults/MiB", "met" if met else "NOT MET"
        out.append(
            f"{'- ' if rst else '  '}issue 20 (shapes) {title(client)}: >= {SHAPE_TARGET_RATIO}x "
            f"{title(peer)} and <= {SHAPE_TARGET_FAULTS:.0f} faults/MiB: {got} -> {verdict}"
        )
    return out


def spread_table(results: Results, clients: list[str], counts: dict[str, int], facade: bool) -> str:
    header = ["spread (max-min)/median"] + [title(c) for c in clients]
    body = []
    for row in rows(counts, facade):
        cells = []
        for c in clients:
            s = results.spread(c, row.scenario, row.key)
            cells.append("-" if s is None else f"{s * 100:.0f}%")
        body.append([row.label.split(":")[0]] + cells)
    return render(header, body, False)


def target_lines(results: Results, targets: list[Target], rst: bool) -> list[str]:
    out = []
    for t in targets:
        want = f"{'>=' if t.at_least else '<='} {t.bound}x {title(t.peer)}"
        mine = results.median(t.client, *t.row_key)
        theirs = results.median(t.peer, *t.row_key)
        if mine is None or not theirs:
            verdict, got = "not measured", "-"
        else:
            ratio = mine / theirs
            met = ratio >= t.bound if t.at_least else ratio <= t.bound
            verdict, got = ("met" if met else "NOT MET"), f"{ratio:.3f}x"
            if results.failed.get((t.client, t.row_key[0])) or results.failed.get((t.peer, t.row_key[0])):
                verdict += " (some runs failed: see the notes)"
        out.append(
            f"{'- ' if rst else '  '}issue {t.issue} {t.scenario_label}: {title(t.client)} {want}: {got} -> {verdict}"
        )
    return out


def queue_table(results: Results, n: int, rst: bool) -> tuple[str, list[str]]:
    runs = results.runs.get(("asynchttp", "e"), [])
    if not runs:
        reason = results.na.get("asynchttp") or "; ".join(results.failed.get(("asynchttp", "e"), [])) or "not run"
        return f"(e) {n:,} requests queued at once on one asynchttp.Http: {reason}", [
            f"{'- ' if rst else '  '}issue 10 (e) constant threads, < 1 KiB per queued request: not measured"
        ]

    def med(key: str) -> float:
        return statistics.median(r[key] for r in runs)

    body = [
        ["requests completed (every run)", f"{min(r['completed'] for r in runs):,} of {n:,}"],
        ["wall time: s", f"{med('seconds'):.2f}"],
        ["queuing them all: s", f"{med('queue_seconds'):.2f}"],
        ["time to queue one request: us", f"{med('queue_seconds') / n * 1e6:.1f}"],
        ["throughput: req/s", f"{med('rps'):,.0f}"],
        [
            "threads before / after queuing",
            f"{max(r['threads_before'] for r in runs)} / {max(r['threads_queued'] for r in runs)}",
        ],
        [
            "threads at most while touching / after",
            f"{max(r['threads_max'] for r in runs)} / {max(r['threads_after'] for r in runs)}",
        ],
        ["memory per queued request: KiB", f"{med('kib_per_request'):.2f}"],
        ["peak growth per request: KiB", f"{med('peak_kib_per_request'):.2f}"],
        [
            "peak RSS of the process: MiB",
            f"{med('peak_rss_mib'):.1f}" if all("peak_rss_mib" in r for r in runs) else "-",
        ],
    ]
    table = render([f"(e) {n:,} queued at once on one asynchttp.Http", "median"], body, rst)
    constant = all(r["threads_max"] <= r["threads_before"] and r["threads_after"] <= r["threads_before"] for r in runs)
    complete = all(r["completed"] == n for r in runs)
    kib = med("kib_per_request")
    met = constant and complete and kib < 1.0
    verdict = (
        f"{'- ' if rst else '  '}issue 10 (e) all complete, constant threads, < 1 KiB per queued "
        f"request: {'complete' if complete else 'INCOMPLETE'}, threads "
        f"{'constant' if constant else 'GREW'}, {kib:.2f} KiB -> {'met' if met else 'NOT MET'}"
    )
    return table, [verdict]


def machine() -> str:
    model = platform.processor() or ""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return f"{model}, {os.cpu_count()} CPUs, Linux {platform.release()}"


def code_state() -> str:
    """The commit and a digest of the measured packages' sources: the tree is
    being edited while benchmarks run, and each client process imports it
    afresh, so a change during a run would mix versions in one table."""
    import hashlib

    digest = hashlib.sha256()
    for package in ("asynchttp_lowhaio", "asynchttp"):
        root = os.path.join(REPO, package)
        for folder, dirs, files in os.walk(root):
            dirs.sort()
            for name in sorted(files):
                if name.endswith(".py"):
                    path = os.path.join(folder, name)
                    digest.update(path.encode())
                    try:
                        with open(path, "rb") as f:
                            digest.update(f.read())
                    except OSError:
                        pass
    head = (
        subprocess.run(
            ["git", "-C", REPO, "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=False
        ).stdout.strip()
        or "?"
    )
    dirty = subprocess.run(
        ["git", "-C", REPO, "status", "--porcelain", "--", "asynchttp_lowhaio", "asynchttp"],
        capture_output=True,
        text=True,
        check=False,
    ).stdout.strip()
    return f"{head}{' + uncommitted changes' if dirty else ''}, sources {digest.hexdigest()[:12]}"


def load_average() -> float:
    try:
        with open("/proc/loadavg", encoding="ascii") as f:
            return float(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        return 0.0


def report(
    args: argparse.Namespace,
    results: Results,
    sections: list[str],
    clients: list[str],
    server_version: str,
    pinning: str,
    counts: dict[str, int],
) -> str:
    rst = args.rst
    out = [
        f"{datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC; {machine()}; "
        f"Python {platform.python_version()}; nginx {server_version}.",
        f"{pinning}; {args.reps} repetition{'s' if args.reps > 1 else ''} interleaved, each client "
        f"in a fresh process; medians (ratio to aiohttp).",
        f"Load average {results.load[0]:.2f} before, {results.load[1]:.2f} after; code: {results.code}.",
        "",
    ]
    targets: list[str] = []
    for section in sections:
        facade = section == "facade"
        if section == "shapes":
            chosen = [c for c in clients if base(c) in SHAPE_CLIENTS]
            if chosen:
                out += ["Bulk bodies in each script shape (asynchttp; aiohttp for reference)", ""]
                out += [shapes_table(results, chosen, counts, rst), "", LEGEND_SHAPES, ""]
                if not rst and args.reps > 1:
                    spread = [
                        Row(r.label.split(":")[0], r.scenario, r.key, r.fmt, r.higher_is_better)
                        for r in shape_rows(counts)
                    ]
                    header = ["spread (max-min)/median"] + [title(c) for c in chosen]
                    body = []
                    for row in spread:
                        cells = []
                        for c in chosen:
                            value = results.spread(c, row.scenario, row.key)
                            cells.append("-" if value is None else f"{value * 100:.0f}%")
                        body.append([row.label] + cells)
                    out += [render(header, body, False), ""]
                targets += shape_target_lines(results, chosen, rst)
            continue
        section_clients = FACADE_CLIENTS if facade else CORE_CLIENTS
        chosen = sorted(
            (c for c in clients if base(c) in section_clients),
            key=lambda c: (section_clients.index(base(c)), c.endswith(UVLOOP)),
        )
        if not chosen:
            continue
        out.append(
            "Facade: asynchttp.Http and blocking peers" if facade else "Core: asynchttp_lowhaio and asyncio peers"
        )
        out.append("")
        out.append(main_table(results, chosen, counts, facade, rst))
        out.append("")
        out.append(LEGEND_FACADE if facade else LEGEND_CORE)
        out.append("")
        out.append(LEGEND_H)
        out.append("")
        if not rst and args.reps > 1:
            out.append(spread_table(results, chosen, counts, facade))
            out.append("")
        targets += target_lines(results, FACADE_TARGETS if facade else CORE_TARGETS, rst)
        if facade and "asynchttp" in chosen:
            table, verdict = queue_table(results, counts["e"], rst)
            out += [table, ""]
            targets += verdict
    if targets:
        out.append("Targets (ratios of medians from this run):")
        out.append("")
        out += targets
        out.append("")
    notes = [f"{title(c)}: n/a ({why})" for c, why in results.na.items()]
    notes += [
        f"{title(c)} ({k}): FAILED in {len(whys)} run(s) (!{len(whys)} in the table): {whys[0]}"
        for (c, k), whys in results.failed.items()
    ]
    notes += [f"{title(c)}: {d}" for c, d in results.describe.items() if d]
    if notes:
        out.append("Clients:")
        out += [f"{'- ' if rst else '  '}{n}" for n in notes]
    return "\n".join(out)


# ----- main -------------------------------------------------------------------


def parse_args(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--reps", type=int, default=None, help="repetitions (default 5; 1 with --quick)")
    p.add_argument("--quick", action="store_true", help="small counts: a smoke run, figures not meaningful")
    p.add_argument("--only", choices=("core", "facade", "shapes"), help="run one section only")
    p.add_argument(
        "--loop",
        choices=("asyncio", "uvloop", "both"),
        default="asyncio",
        help="the event loop of every client that runs on one (both: a column for each)",
    )
    p.add_argument("--clients", help=f"comma-separated subset of: {','.join(ALL_CLIENTS)}")
    p.add_argument("--scenarios", help="comma-separated subset of the scenario letters to run (default: all)")
    pin = p.add_mutually_exclusive_group()
    pin.add_argument(
        "--taskset",
        dest="taskset",
        action="store_true",
        default=None,
        help="pin nginx and the client to one CPU each (default when taskset and 2 CPUs exist)",
    )
    pin.add_argument("--no-taskset", dest="taskset", action="store_false")
    p.add_argument(
        "--b-cpu",
        choices=("same", "other"),
        default="same",
        help="when pinned, run (b) on nginx's CPU (default: steady) or on the other one",
    )
    p.add_argument("--rst", action="store_true", help="print reStructuredText tables")
    p.add_argument(
        "--json", metavar="FILE", help="write every run's raw results here (default benchmarks/results/<time>.json)"
    )
    p.add_argument(
        "--profile",
        action="store_true",
        help="instead of measuring, run each client once per scenario under cProfile "
        "and write the stats to benchmarks/results/profile-<time>/",
    )
    p.add_argument("--timeout", type=float, default=300.0, help="seconds allowed to one client process")
    p.add_argument("--report", metavar="FILE", help="print the report of a saved run (its --json file) and exit")
    args = p.parse_args(argv)
    if args.reps is None:
        args.reps = 1 if args.quick else 5
    if args.reps < 1:
        p.error("--reps must be at least 1")
    return args


def choose_cpus(wanted: bool | None) -> tuple[int | None, int | None, str]:
    cpus = sorted(os.sched_getaffinity(0))
    possible = shutil.which("taskset") is not None and len(cpus) >= 2
    if wanted and not possible:
        raise SystemExit("--taskset needs the taskset command (util-linux) and at least 2 CPUs")
    if wanted is False or not possible:
        return None, None, "not pinned"
    return cpus[0], cpus[1], f"nginx pinned to CPU {cpus[0]}, client to CPU {cpus[1]}"


def _terminate(signum: int, frame: Any) -> NoReturn:
    # Turn SIGTERM into the same unwinding as Ctrl-C, so nginx is stopped.
    raise KeyboardInterrupt


def reprint(args: argparse.Namespace, sections: list[str], clients: list[str]) -> int:
    """The report of a saved run (``--report FILE``: its --json file), for the options it ran with."""
    with open(args.report, encoding="utf-8") as f:
        saved = json.load(f)
    ran = parse_args(saved["argv"])
    ran.rst = args.rst
    results = Results(load=tuple(saved["load"]), code=saved["code"])  # type: ignore[arg-type]
    for name, runs in saved["runs"].items():
        client, key = name.rsplit(" ", 1)
        results.runs[client, key] = runs
        results.describe[client] = str(runs[-1].get("client", ""))
    results.na = saved["na"]
    results.failed = {tuple(name.rsplit(" ", 1)): whys for name, whys in saved["failed"].items()}  # type: ignore[misc]
    print(report(ran, results, sections, clients, saved["nginx"], saved["pinning"], saved["counts"]))
    return 1 if results.failed else 0


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    if args.report:
        # The saved run's own options decide what its report shows.
        with open(args.report, encoding="utf-8") as f:
            saved_argv = json.load(f)["argv"]
        rst, report_path = args.rst, args.report
        args = parse_args(saved_argv)
        args.rst, args.report = rst, report_path
    sections = [args.only] if args.only else ["core", "facade", "shapes"]
    wanted = [
        c
        for c in (CORE_CLIENTS if "core" in sections else [])
        + (FACADE_CLIENTS if "facade" in sections else [])
        + (SHAPE_CLIENTS if "shapes" in sections else [])
    ]
    clients = list(dict.fromkeys(wanted))
    if args.clients:
        asked = [c.strip() for c in args.clients.split(",") if c.strip()]
        unknown = [c for c in asked if c not in ALL_CLIENTS]
        if unknown:
            raise SystemExit(f"unknown clients {unknown}; known: {ALL_CLIENTS}")
        clients = [c for c in clients if c in asked]
    if args.loop != "asyncio":
        try:
            import uvloop  # noqa: F401
        except ImportError:
            raise SystemExit("--loop uvloop|both needs uvloop: pip install -e '.[bench]'") from None
        on_uvloop = [c + UVLOOP for c in clients if c in LOOP_CLIENTS]
        if args.loop == "uvloop":
            clients = [c + UVLOOP if c in LOOP_CLIENTS else c for c in clients]
        else:
            clients = clients + on_uvloop
    scenario_keys = {
        c: ["s"]
        if base(c) in SHAPE_CLIENTS
        else ["a", "b", "c", "f", "g", "h"] + (["e"] if base(c) == "asynchttp" else [])
        for c in clients
    }
    if args.scenarios:
        chosen = [k.strip() for k in args.scenarios.split(",") if k.strip()]
        unknown = [k for k in chosen if k not in SCENARIOS]
        if unknown:
            raise SystemExit(f"unknown scenarios {unknown}; known: {list(SCENARIOS)}")
        scenario_keys = {c: [k for k in keys if k in chosen] for c, keys in scenario_keys.items()}
    tls = any(SCENARIOS[k].tls for keys in scenario_keys.values() for k in keys)
    if tls:
        try:
            import trustme  # noqa: F401
        except ImportError:
            log("trustme is not installed (pip install trustme): the TLS scenarios (f) and (g) are skipped")
            scenario_keys = {c: [k for k in keys if not SCENARIOS[k].tls] for c, keys in scenario_keys.items()}
            tls = False
    counts = {k: (s.quick_n if args.quick else s.n) for k, s in SCENARIOS.items()}
    if args.report:
        return reprint(args, sections, clients)

    if not os.access(_nginx.NGINX, os.X_OK):
        print(
            f"{_nginx.NGINX} is missing. Install Debian's nginx-light:\n\n    {_nginx.INSTALL_HINT}\n", file=sys.stderr
        )
        return 2
    server_cpu, client_cpu, pinning = choose_cpus(args.taskset)
    if server_cpu is not None:
        pinning += f" ({server_cpu if args.b_cpu == 'same' else client_cpu} in (b))"
    signal.signal(signal.SIGTERM, _terminate)
    try:
        delayed = any(SCENARIOS[k].delayed for keys in scenario_keys.values() for k in keys)
        with (
            _nginx.Nginx(cpu=server_cpu, tls=tls) as server,
            contextlib.ExitStack() as stack,
        ):
            log(f"nginx {server.version} on 127.0.0.1:{server.port}; {pinning}; clients: {', '.join(clients)}")
            proxy = stack.enter_context(_delay_proxy.DelayProxy(server.tls_port, H_DELAY)) if delayed else None
            if args.profile:
                profile(args, server, client_cpu, clients, scenario_keys, proxy)
                return 0
            code_before = code_state()
            load_before = load_average()
            if load_before > 0.5:
                log(
                    f"warning: load average {load_before:.2f} before starting: other work on this "
                    f"machine will show as variance (compare the CPU-time rows)"
                )
            results = measure(args, server, server_cpu, client_cpu, clients, scenario_keys, proxy)
            results.load = (load_before, load_average())
            results.code = code_before
            code_after = code_state()
            # Commits of other files move HEAD all the time; only the
            # measured sources matter.
            if code_after.rsplit("sources ", 1)[1] != code_before.rsplit("sources ", 1)[1]:
                results.code = f"CHANGED DURING THE RUN: {code_before} -> {code_after}"
                log("warning: asynchttp_lowhaio/asynchttp changed during the run; figures mix versions")
            version = server.version
    except KeyboardInterrupt:
        log("interrupted; nginx stopped")
        return 130

    path = args.json or os.path.join(
        HERE, "results", f"{datetime.datetime.now(datetime.timezone.utc):%Y%m%dT%H%M%SZ}.json"
    )
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        json.dump(
            {
                "argv": argv,
                "pinning": pinning,
                "load": results.load,
                "code": results.code,
                "nginx": version,
                "counts": counts,
                "runs": {f"{c} {k}": v for (c, k), v in results.runs.items()},
                "na": results.na,
                "failed": {f"{c} {k}": v for (c, k), v in results.failed.items()},
            },
            f,
            indent=1,
        )
    log(f"raw results: {path}")
    print(report(args, results, sections, clients, version, pinning, counts))
    return 1 if results.failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
