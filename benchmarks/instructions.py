#!/usr/bin/env python3
"""User-space instructions per request, counted by valgrind's callgrind: a
per-request cost that other work on the machine does not move.

On a shared machine, wall-clock and CPU-time comparisons of a few percent
drown in noise. This runs each client (the classes bench.py measures) in a
fresh process under callgrind twice: once with its warm-up only, once with
the warm-up and N more requests; the difference over N is the instructions
one request costs, startup, imports and connection set-up cancelling out.
Instructions are not time: kernel work, cache misses and thread hand-offs
are not counted. It is for A/B comparisons of Python-level work.

    python benchmarks/instructions.py                      # every client, (a), (b), (f)
    python benchmarks/instructions.py --clients asynchttp --scenarios a,b \\
        --trees /tmp/old,.                                 # an old commit against this tree
    python benchmarks/instructions.py --loop both          # asyncio's loop and uvloop, a column each
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import re
import shutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)

WARMUP = 300
SIZE = 100  # _nginx.SMALL_SIZE, the body every scenario fetches
# Scenario: (URL attribute of _nginx.Nginx, concurrency, row label).
SCENARIOS = {
    "a": ("small_url", 32, "(a) 100 B, 32 at once"),
    "b": ("small_url", 1, "(b) 100 B, sequential"),
    "f": ("small_tls_url", 32, "(f) TLS: 100 B, 32 at once"),
}
CORE = ["asynchttp_lowhaio", "lowhaio", "aiohttp", "raw"]
FACADE = ["asynchttp", "asynchttp-blocking", "httplib2", "urllib3"]
FROM_TREE = ("asynchttp_lowhaio", "asynchttp")  # run once per --trees entry
COLLECTED = re.compile(r"^==\d+== Collected : (\d+)\s*$", re.MULTILINE)
NA = 3  # the child's exit status when the client cannot run here

Found = dict[tuple[str, str], float | str]  # (column label, scenario) -> per request, "n/a" or "FAILED"


# ----- the measured process ----------------------------------------------------


async def core_requests(client: Any, url: str, count: int, concurrency: int) -> None:
    """count GETs from a fixed set of workers pulling from one counter, as _runner.py does."""
    from _runner import check

    get = client.get
    left = count

    async def worker() -> None:
        nonlocal left
        while left > 0:
            left -= 1
            status, body = await get(url)
            check(status, body, SIZE)

    await asyncio.gather(*(worker() for _ in range(min(concurrency, count))))


async def core_child(name: str, url: str, n: int, concurrency: int) -> str:
    import _core_clients

    client = _core_clients.make(name)
    await client.open(concurrency)
    try:
        await core_requests(client, url, WARMUP, concurrency)
        await core_requests(client, url, n, concurrency)
    finally:
        await client.close()
    return client.describe()


def facade_child(name: str, url: str, n: int, concurrency: int) -> str:
    import _facade_clients

    client = _facade_clients.make(name)
    client.open(concurrency)
    try:
        for count in (WARMUP, n):
            if concurrency == 1:
                for _ in range(count):
                    _facade_clients.check(*client.one(url), SIZE)
            elif count:
                client.batch(url, count, SIZE)  # queue all then touch, or a thread pool
    finally:
        client.close()
    return client.describe()


def child(name: str, scenario: str, url: str, n: int) -> int:
    """Warm up, then n requests; print the client's description and where our packages came from."""
    from _core_clients import Unavailable

    concurrency = SCENARIOS[scenario][1]
    try:
        if name in CORE:
            from _core_clients import run_on_chosen_loop

            describe = run_on_chosen_loop(core_child(name, url, n, concurrency))
        else:
            describe = facade_child(name, url, n, concurrency)
    except Unavailable as exc:
        print(json.dumps({"na": str(exc)}))
        return NA
    imports = {m: sys.modules[m].__file__ for m in FROM_TREE if m in sys.modules}
    print(json.dumps({"client": describe, "imports": imports}))
    return 0


# ----- the driver --------------------------------------------------------------


def collected(stderr: str) -> int:
    """The instruction count in callgrind's summary on stderr ("==pid== Collected : n")."""
    found = COLLECTED.findall(stderr)
    if len(found) != 1:
        raise ValueError(f"expected one 'Collected :' line from callgrind, found {len(found)}")
    return int(found[0])


class Failed(Exception):
    """A run crashed, hung, answered wrong or imported our packages from the wrong tree."""


class NotHere(Exception):
    """The client is not installed here, or not written yet in this tree."""


@dataclass
class Column:
    label: str
    client: str
    tree: str
    loop: str = "asyncio"


# Clients that run on an asyncio loop, so on uvloop too (--loop).
LOOP_CLIENTS = ("asynchttp_lowhaio", "lowhaio", "aiohttp", "raw", "asynchttp")


def columns(clients: list[str], trees: list[str], loops: tuple[str, ...] = ("asyncio",)) -> list[Column]:
    """Our packages once per tree, labelled by commit when there are several; the peers once;
    each client that runs on a loop once per loop asked for."""
    out: list[Column] = []
    for client in clients:
        for tree in trees if client in FROM_TREE else [REPO]:
            for loop in loops if client in LOOP_CLIENTS else ("asyncio",):
                label = client
                if client in FROM_TREE and len(trees) > 1:
                    label = f"{client} [{tree_name(tree)}]"
                if loop != "asyncio":
                    label += f" ({loop})"
                while label in (c.label for c in out):  # the same tree twice: a repeatability check
                    label += "'"
                out.append(Column(label, client, tree, loop))
    return out


def tree_name(tree: str) -> str:
    """The tree's commit, "+" when its packages have uncommitted changes."""

    def git(*args: str) -> str:
        return subprocess.run(["git", "-C", tree, *args], capture_output=True, text=True).stdout.strip()

    dirty = git("status", "--porcelain", "--", "asynchttp", "asynchttp_lowhaio")
    return (git("rev-parse", "--short", "HEAD") or os.path.basename(tree)) + ("+" if dirty else "")


def run(col: Column, scenario: str, url: str, n: int, ca: str, timeout: float) -> tuple[int, dict[str, Any]]:
    """One process under callgrind: (instructions it ran, the child's report)."""
    # A fixed hash seed: the same dict and set layouts, so the same work, every run.
    env = dict(os.environ, PYTHONPATH=col.tree, PYTHONHASHSEED="0")
    env.pop("BENCH_CA", None)
    if ca:
        env["BENCH_CA"] = ca
    env.pop("BENCH_LOOP", None)
    env.pop("ASYNCHTTP_LOOP", None)
    if col.loop == "uvloop":
        env["BENCH_LOOP"] = env["ASYNCHTTP_LOOP"] = "uvloop"
    cmd = ["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null", sys.executable]
    cmd += [os.path.abspath(__file__), "_child", col.client, scenario, url, str(n)]
    try:
        proc = subprocess.run(cmd, env=env, cwd=HERE, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired as exc:
        raise Failed(f"no answer within {timeout:.0f} s") from exc
    lines = proc.stdout.strip().splitlines()
    try:
        report = json.loads(lines[-1]) if lines else {}
    except ValueError:
        report = {}
    if proc.returncode == NA and "na" in report:
        raise NotHere(report["na"])
    if proc.returncode != 0 or "client" not in report:
        raise Failed(f"exit {proc.returncode}: {proc.stderr.strip()[-1500:]}")
    for module, path in report["imports"].items():
        if not path.startswith(col.tree + os.sep):
            raise Failed(f"{module} was imported from {path}, not from {col.tree}")
    try:
        return collected(proc.stderr), report
    except ValueError as exc:
        raise Failed(f"{exc}: {proc.stderr.strip()[-500:]}") from exc


def per_request(col: Column, scenario: str, url: str, ca: str, args: argparse.Namespace) -> tuple[float, str]:
    """(Ir(N) - Ir(0)) / N, and the client's description with its imports."""
    base, _ = run(col, scenario, url, 0, ca, args.timeout)
    total, report = run(col, scenario, url, args.n, ca, args.timeout)
    imports = "; ".join(f"{m} from {p}" for m, p in report["imports"].items() if p not in report["client"])
    return (total - base) / args.n, report["client"] + (f" [{imports}]" if imports else "")


# ----- the report ---------------------------------------------------------------


def cell(value: float | str | None, refs: list[float | str | None]) -> str:
    """Thousands of instructions, then the ratio to each reference (lower is better)."""
    if value is None or isinstance(value, str):
        return value or "-"
    ratios = [f"{value / r:.2f}x" if isinstance(r, float) and r else "-" for r in refs]
    shown = f" ({', '.join(ratios)})" if any(r != "-" for r in ratios) else ""
    return f"{value / 1000:,.1f}k{shown}"


def table(found: Found, labels: list[str], refs: list[str], scenarios: list[str], rst: bool) -> str:
    from bench import TITLES, render

    header = ["k instructions / request"] + [TITLES.get(label, label) for label in labels]
    body = []
    for key in scenarios:
        ref_values = [found.get((ref, key)) for ref in refs]
        body.append([SCENARIOS[key][2]] + [cell(found.get((label, key)), ref_values) for label in labels])
    return render(header, body, rst)


def report(args: argparse.Namespace, cols: list[Column], found: Found, describe: dict[str, str]) -> str:
    out = [
        f"User-space instructions per request counted by callgrind: (Ir({args.n:,}) - Ir(0)) / {args.n:,}, "
        f"both runs after {WARMUP} warm-up requests; Python {platform.python_version()}; lower is better.",
        "",
    ]
    sections = (
        ("Core: ratio to aiohttp", CORE, ["aiohttp"]),
        ("Facade: ratios to aiohttp, to httplib2", FACADE, ["aiohttp", "httplib2"]),
    )
    for title, members, refs in sections:
        if any(c.client in members for c in cols):
            # aiohttp's column, from the core's runs, is the facade's reference too.
            order = members + refs
            chosen = sorted((c for c in cols if c.client in order), key=lambda c: order.index(c.client))
            labels = [c.label for c in chosen]
            out += [title, "", table(found, labels, refs, args.scenarios, args.rst), ""]
    for client in FROM_TREE:  # the A/B: every tree against the first
        labels = [c.label for c in cols if c.client == client]
        for label in labels[1:]:
            first = labels[0]
            ratios = []
            for key in args.scenarios:
                a, b = found.get((first, key)), found.get((label, key))
                if isinstance(a, float) and isinstance(b, float):
                    ratios.append(f"{SCENARIOS[key][2].split()[0]} {b / a:.3f}x")
            out.append(f"{label} / {first}: {', '.join(ratios) or '-'}")
    out += ["", "Clients:"]
    out += [f"{'- ' if args.rst else '  '}{c.label}: {describe.get(c.label, '-')}" for c in cols]
    return "\n".join(out)


# ----- main ---------------------------------------------------------------------


def parse_args(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--n", type=int, default=2000, help="measured requests per run (default 2000)")
    p.add_argument("--clients", default=",".join(CORE + FACADE), help="comma-separated subset of: %(default)s")
    p.add_argument("--scenarios", default=",".join(SCENARIOS), help="comma-separated subset of: %(default)s")
    p.add_argument(
        "--trees",
        default=REPO,
        help="comma-separated source trees: asynchttp and asynchttp_lowhaio are measured once per tree, "
        "imported from it (default: this script's tree)",
    )
    p.add_argument("--rst", action="store_true", help="print reStructuredText tables")
    p.add_argument(
        "--loop",
        choices=("asyncio", "uvloop", "both"),
        default="asyncio",
        help="the loop of every client that runs on one (both: a column for each)",
    )
    p.add_argument("--jobs", type=int, default=2, help="callgrind runs at once (default 2; counts do not depend on it)")
    p.add_argument("--timeout", type=float, default=1800.0, help="seconds allowed to one callgrind run")
    args = p.parse_args(argv)
    args.clients = pick(args.clients, CORE + FACADE, "clients", p)
    args.scenarios = pick(args.scenarios, list(SCENARIOS), "scenarios", p)
    args.trees = [os.path.realpath(t) for t in args.trees.split(",") if t.strip()]
    for tree in args.trees:
        if not os.path.isfile(os.path.join(tree, "asynchttp", "__init__.py")):
            p.error(f"--trees: {tree} has no asynchttp/__init__.py")
    if args.n < 1 or args.jobs < 1:
        p.error("--n and --jobs must be at least 1")
    return args


def pick(text: str, known: list[str], what: str, p: argparse.ArgumentParser) -> list[str]:
    chosen = [x.strip() for x in text.split(",") if x.strip()]
    unknown = [x for x in chosen if x not in known]
    if unknown or not chosen:
        p.error(f"--{what}: choose from {','.join(known)} (got {text!r})")
    return [x for x in known if x in chosen]


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    sys.path.insert(0, HERE)
    import _nginx

    for path, hint in (("valgrind", "apt-get install -y valgrind"), (_nginx.NGINX, _nginx.INSTALL_HINT)):
        if shutil.which(path) is None:
            log(f"{path} is missing; install it with: {hint}")
            return 2
    loops = {"asyncio": ("asyncio",), "uvloop": ("uvloop",), "both": ("asyncio", "uvloop")}[args.loop]
    cols = columns(args.clients, args.trees, loops)
    found: Found = {}
    describe: dict[str, str] = {}

    with _nginx.Nginx(tls="f" in args.scenarios) as server:
        runs = len(cols) * len(args.scenarios) * 2
        log(f"nginx {server.version} on 127.0.0.1:{server.port}; {runs} callgrind runs, {args.jobs} at once")

        def measure(col: Column, key: str) -> None:
            ca = server.ca_path if key == "f" else ""
            try:
                found[col.label, key], about = per_request(col, key, getattr(server, SCENARIOS[key][0]), ca, args)
                # The first scenario's description: the options (a connection limit) differ between them.
                if key == args.scenarios[0] or col.label not in describe:
                    describe[col.label] = about
                log(f"{col.label} ({key}): {found[col.label, key]:,.0f} instructions per request")
            except NotHere as exc:
                found[col.label, key], describe[col.label] = "n/a", f"n/a ({exc})"
                log(f"{col.label} ({key}): n/a: {exc}")
            except Failed as exc:
                found[col.label, key] = "FAILED"
                log(f"{col.label} ({key}): FAILED: {exc}")

        with ThreadPoolExecutor(args.jobs) as pool:
            for job in [pool.submit(measure, col, key) for key in args.scenarios for col in cols]:
                job.result()
    print(report(args, cols, found, describe))
    return 1 if "FAILED" in found.values() else 0


if __name__ == "__main__":
    if sys.argv[1:2] == ["_child"]:
        client, scenario, url, n = sys.argv[2:]
        sys.exit(child(client, scenario, url, int(n)))
    sys.exit(main(sys.argv[1:]))
