"""The ``asynchttp`` command against ``curl -Z``, and the command's memory on a long input.

Speed (issue 19, item 6): N small URLs (distinct query strings, 100-byte answers) from
a local nginx, the same concurrency for both: ``curl -s -Z --parallel-max C -K cfg``
(each URL's body to /dev/null) and ``python -m asynchttp -q --no-progress -c C
--per-host C -i urls.txt``. Both are timed as whole processes (start-up included),
repetitions interleaved, medians reported, and the ratio of rates printed::

    python benchmarks/cli_vs_curl.py                    # 30,000 URLs, -c 50, 3 reps
    python benchmarks/cli_vs_curl.py --urls 30000 --concurrency 10 --engine facade
    python benchmarks/cli_vs_curl.py --loop both        # the command on asyncio and on uvloop

The package's modules are byte-compiled first (``compileall``, as ``pip install``
does for a wheel), so that a run in a checkout with ``PYTHONDONTWRITEBYTECODE`` set
does not time the compiling of every module from source at each start.

nginx (Debian's ``nginx-light``) is started on a free loopback port with a config of
its own in a temporary directory and stopped afterwards (``_nginx.py``); without it
the script says so and exits 2.

Memory (``--rss N``): the command fetches N URLs (from a file it writes) from the
fast test server (tests/servers/fast_server.py, its own process) with ``--jsonl`` to
/dev/null, and its peak RSS (ru_maxrss of the child) is printed::

    python benchmarks/cli_vs_curl.py --rss 1000000
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(ROOT))

from _nginx import Nginx, NginxMissing  # noqa: E402


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if "proxy" not in k.lower()}
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    return env


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _timed(cmd: list[str], **env: str) -> tuple[float, float]:
    """(wall seconds, CPU seconds: user + system) of one run of ``cmd``."""
    cpu = _children_cpu()
    started = time.perf_counter()
    proc = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env={**_env(), **env}, cwd=str(ROOT))
    elapsed = time.perf_counter() - started
    if proc.returncode != 0:
        raise SystemExit("%s failed (%d): %s" % (cmd[0], proc.returncode, proc.stderr.decode()[-2000:]))
    return elapsed, _children_cpu() - cpu


def _byte_compile() -> None:
    """Write the .pyc files of both packages, as installing a wheel does."""
    import compileall

    for package in ("asynchttp", "asynchttp_lowhaio"):
        compileall.compile_dir(str(ROOT / package), quiet=1)


def speed(args: argparse.Namespace) -> None:
    _byte_compile()
    try:
        nginx = Nginx()
        nginx.__enter__()
    except NginxMissing as exc:
        print("nginx is not installed: %s" % exc)
        raise SystemExit(2) from None
    load = os.getloadavg()[0]
    try:
        with tempfile.TemporaryDirectory(prefix="asynchttp-cli-bench-") as tmp:
            urls = Path(tmp) / "urls.txt"
            config = Path(tmp) / "curl.cfg"
            with open(urls, "w") as url_file, open(config, "w") as curl_file:
                for n in range(args.urls):
                    url = "%s?n=%d" % (nginx.small_url, n)
                    url_file.write(url + "\n")
                    curl_file.write('url = "%s"\noutput = "/dev/null"\n' % url)
            c = str(args.concurrency)
            curl = ["curl", "-s", "-Z", "--parallel-max", c, "-K", str(config)]
            cli = [sys.executable, "-m", "asynchttp", "-q", "--no-progress", "-c", c, "--per-host", c]
            cli += ["--engine", args.engine, "-i", str(urls)]
            loops = ["asyncio", "uvloop"] if args.loop == "both" else [args.loop]
            curl_runs: list[tuple[float, float]] = []
            cli_runs: dict[str, list[tuple[float, float]]] = {loop: [] for loop in loops}
            for _ in range(args.reps):
                curl_runs.append(_timed(curl))
                for loop in loops:
                    cli_runs[loop].append(_timed(cli, ASYNCHTTP_LOOP=loop))
            print(
                "nginx %s on 127.0.0.1:%d, %d URLs of %d B, concurrency %s, %d reps interleaved (medians); "
                "load average at the start %.1f" % (nginx.version, nginx.port, args.urls, 100, c, args.reps, load)
            )
            rates = {}
            rows = [("curl -Z --parallel-max " + c, curl_runs)]
            rows += [("asynchttp --engine %s (%s)" % (args.engine, loop), cli_runs[loop]) for loop in loops]
            for name, runs in rows:
                wall = statistics.median(t for t, _ in runs)
                cpu = statistics.median(u for _, u in runs)
                rates[name] = args.urls / wall
                print(
                    "%-36s %6.2f s %8.0f req/s  CPU %5.1f us/req  (runs: %s)"
                    % (name, wall, args.urls / wall, cpu / args.urls * 1e6, ", ".join("%.2f" % t for t, _ in runs))
                )
            curl_rate, *cli_rates = rates.values()
            for loop, cli_rate in zip(loops, cli_rates, strict=True):
                print("ratio (asynchttp rate / curl rate), %s: %.2f" % (loop, cli_rate / curl_rate))
    finally:
        nginx.stop()


def rss(args: argparse.Namespace) -> None:
    _byte_compile()
    from tests.servers.fast_server import FastServer

    server = FastServer("--lifetime", "3600")
    try:
        with tempfile.TemporaryDirectory(prefix="asynchttp-cli-rss-") as tmp:
            urls = Path(tmp) / "urls.txt"
            with open(urls, "w") as url_file:
                for n in range(args.rss):
                    url_file.write(server.url("/x?n=%d\n" % n))
            cmd = [sys.executable, "-m", "asynchttp", "-q", "--no-progress", "--jsonl", "-c", str(args.concurrency)]
            cmd += ["--engine", args.engine, "-i", str(urls)]
            started = time.perf_counter()
            proc = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=_env(), cwd=str(ROOT))
            elapsed = time.perf_counter() - started
            peak_kib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
            summary = proc.stderr.decode().strip().splitlines()
            print("\n".join(summary[-8:]))
            print(
                "%d URLs (file of %.0f MiB), --engine %s, -c %d: exit %d in %.1f s, peak RSS %.1f MiB"
                % (
                    args.rss,
                    urls.stat().st_size / 2**20,
                    args.engine,
                    args.concurrency,
                    proc.returncode,
                    elapsed,
                    peak_kib / 1024,
                )
            )
    finally:
        server.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--urls", type=int, default=30000, help="URLs in the speed run (default 30000)")
    parser.add_argument(
        "--concurrency", type=int, default=50, help="curl's --parallel-max and the CLI's -c (default 50)"
    )
    parser.add_argument("--reps", type=int, default=3, help="repetitions, interleaved (default 3)")
    parser.add_argument("--engine", default="auto", choices=("auto", "core", "facade"), help="the CLI's --engine")
    parser.add_argument(
        "--loop",
        default="asyncio",
        choices=("asyncio", "uvloop", "both"),
        help="the command's event loop (ASYNCHTTP_LOOP; default asyncio, the command's own default)",
    )
    parser.add_argument("--rss", type=int, metavar="N", help="measure peak RSS for N URLs instead of the speed")
    args = parser.parse_args()
    if args.rss:
        rss(args)
    else:
        speed(args)


if __name__ == "__main__":
    main()
