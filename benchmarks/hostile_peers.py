"""The hostile-server catalogue against every peer: where each client stands.

    python benchmarks/hostile_peers.py                 # all clients, all cases
    python benchmarks/hostile_peers.py --clients httplib2,asynchttp --cases te_gzip_chunked
    python benchmarks/hostile_peers.py --json out.json # also write every cell

Runs ``tests/hostile/cases.py`` (the same bytes the test suite uses, from the
same scripted servers on 127.0.0.1) against httplib2, urllib3, aiohttp,
lowhaio 0.0.89, asynchttp_lowhaio and asynchttp.Http, each client in a fresh
process, and prints one row per case and one summary line per client.  Cells:

    ok       the expected answer
    ok~      an error was expected (malformed response), but the client returned what the
             server evidently meant (lenient; only where no framing or status was guessed)
    <Class>  an error of the client's own documented family (right when an error
             is expected; "refused" in the summary when a good answer was expected)
    WRONG    data that is not the answer (or a forbidden header sent on a redirect)
    HANG     no outcome within the case's deadline
    CRASH    an exception outside the client's documented family

Low-level clients (lowhaio, asynchttp_lowhaio) are judged against the core's
expectations (no redirects, no content decoding); the others against the
facade's (httplib2's decoding and redirect rules), all with the same timeouts
and a redirect limit of 5.  Every case is bounded by its deadline and every
client process by the sum of them; nothing leaves loopback.  Not a test.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any, Dict, List, Tuple

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

CLIENTS = ["httplib2", "urllib3", "aiohttp", "lowhaio", "asynchttp_lowhaio", "asynchttp"]
LOW_LEVEL = {"lowhaio", "asynchttp_lowhaio"}
VERDICT_ORDER = ["right", "lenient", "refused", "HANG", "WRONG", "CRASH"]


# ---------------------------------------------------------------- the child
def _timeouts(case: Any) -> Tuple[float, float]:
    """(socket timeout, response head timeout) as the test suite uses them."""
    return (0.3, 0.6) if case.timing else (5.0, 5.0)


def _family(client: str) -> Tuple[type, ...]:
    if client in ("httplib2", "asynchttp"):
        import http.client

        import httplib2
        import httplib2.decode

        return (
            httplib2.HttpLib2Error,
            http.client.HTTPException,
            OSError,
            httplib2.decode.DecodeLimitError,
            httplib2.decode.DecodeRatioError,
        )
    if client == "urllib3":
        import urllib3

        return (urllib3.exceptions.HTTPError, OSError)
    if client == "aiohttp":
        import aiohttp

        return (aiohttp.ClientError, asyncio.TimeoutError, OSError)
    if client == "lowhaio":
        import lowhaio

        return (lowhaio.HttpError,)
    from asynchttp_lowhaio import HttpError

    return (HttpError,)


def _run_sync(client: str, case: Any, servers: Any, out: List[Any]) -> None:
    from tests.hostile.harness import KEEP_BODY, Got, ca_path

    socket_timeout, _ = _timeouts(case)
    if client == "httplib2":
        import httplib2

        http = httplib2.Http(timeout=socket_timeout, ca_certs=ca_path(), proxy_info=None)

        def one(req: Any) -> Tuple[int, bytes]:
            response, content = http.request(
                servers.url(req.path), req.method, body=req.body, headers=dict(req.headers) or None
            )
            return response.status, content
    else:
        import urllib3

        # urllib3's own retry defaults, but redirects limited to 5 like the others
        manager = urllib3.PoolManager(
            ca_certs=ca_path(),
            timeout=urllib3.Timeout(connect=socket_timeout, read=socket_timeout),
            retries=urllib3.Retry(total=8, redirect=5),
        )

        def one(req: Any) -> Tuple[int, bytes]:
            response = manager.request(
                req.method, servers.url(req.path), body=req.body, headers=dict(req.headers) or None
            )
            return response.status, response.data

    for req in case.requests:
        if req.after_mark is not None:
            servers.wait_mark(req.after_mark)
        if req.settle:
            time.sleep(req.settle)
        got = Got()
        try:
            status, data = one(req)
            got.status, got.body = status, data if len(data) <= KEEP_BODY else _digest(data)
        except Exception as exc:  # judged against the client's family
            got.exc = exc
        out.append(got)


def _digest(data: bytes) -> Any:
    import zlib

    from tests.hostile.cases import Digest

    return Digest(len(data), zlib.crc32(data))


async def _run_async(client: str, case: Any, servers: Any, out: List[Any]) -> None:
    from tests.hostile.harness import KEEP_BODY, Got, _core_one, client_context, core_options

    socket_timeout, _ = _timeouts(case)
    if client in ("lowhaio", "asynchttp_lowhaio"):
        if client == "lowhaio":
            import lowhaio as module

            options: Dict[str, Any] = {"socket_timeout": socket_timeout, "get_ssl_context": client_context}
        else:
            import asynchttp_lowhaio as module

            options = core_options(case)
        request, close = module.Pool(**options)
        try:
            for req in case.requests:
                out.append(await _core_one(module, request, case, servers, req))
        finally:
            await close()
        return
    import aiohttp

    timeout = aiohttp.ClientTimeout(total=None, sock_connect=socket_timeout, sock_read=socket_timeout)
    async with aiohttp.ClientSession(timeout=timeout, trust_env=False) as session:
        for req in case.requests:
            if req.after_mark is not None:
                servers.wait_mark(req.after_mark)
            if req.settle:
                await asyncio.sleep(req.settle)
            got = Got()
            try:
                async with session.request(
                    req.method,
                    servers.url(req.path),
                    data=req.body,
                    headers=dict(req.headers) or None,
                    ssl=client_context(),
                    max_redirects=5,
                ) as response:
                    data = await response.read()
                    got.status, got.body = response.status, data if len(data) <= KEEP_BODY else _digest(data)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # judged against the client's family
                got.exc = exc
            out.append(got)


def _play(client: str, case: Any) -> Dict[str, Any]:
    """One case, bounded by its deadline: the verdict and cell of each request."""
    from tests.hostile.harness import Got, Servers, judge, run_facade

    family = _family(client)
    expected = case.core if client in LOW_LEVEL else case.facade
    out: List[Any] = []
    deadline = case.peer_deadline
    with Servers(case) as servers:

        def work() -> None:
            try:
                if client in ("httplib2", "urllib3"):
                    _run_sync(client, case, servers, out)
                elif client == "asynchttp":
                    out.extend(run_facade(case, servers))
                else:
                    asyncio.run(asyncio.wait_for(_run_async(client, case, servers, out), deadline))
            except asyncio.TimeoutError:
                pass  # the requests without an outcome are HANGs
            except BaseException as exc:  # a crash of the runner itself, judged below
                out.append(Got(exc=exc))

        worker = threading.Thread(target=work, name=f"peer-{client}-{case.name}", daemon=True)
        worker.start()
        worker.join(deadline + 1.0)
        # Taken before the servers stop: a client still blocked on their sockets
        # is released by the stop, and what it makes of that is not this case.
        results = list(out)
        forbidden = servers.forbidden_seen()
    verdicts: List[Tuple[str, str]] = []
    for index, outcome in enumerate(expected):
        if index >= len(results):
            verdicts.append(("HANG", "HANG"))
            continue
        tolerable = case.tolerable[index] if index < len(case.tolerable) else None
        verdicts.append(judge(outcome, results[index], family, tolerable))
    if forbidden:
        verdicts.append(("WRONG", "WRONG:sent " + b",".join(forbidden).decode("latin-1", "replace")))
    worst = max(verdicts, key=lambda v: VERDICT_ORDER.index(v[0]))
    return {
        "case": case.name,
        "family": case.family,
        "verdict": worst[0],
        "cell": worst[1],
        "all": [v[1] for v in verdicts],
        "got": [repr(g)[:200] for g in results],
    }


def child(client: str, names: List[str]) -> None:
    import logging

    logging.disable(logging.CRITICAL)  # failing requests log warnings; the table says it all
    from tests.hostile.cases import CASES

    for case in CASES:
        if names and case.name not in names:
            continue
        try:
            row = _play(client, case)
        except BaseException as exc:  # the harness failed: report, go on
            row = {
                "case": case.name,
                "family": case.family,
                "verdict": "CRASH",
                "cell": "CRASH:" + type(exc).__name__,
                "all": [repr(exc)],
            }
        sys.stdout.write(json.dumps(row) + "\n")
        sys.stdout.flush()
    sys.stdout.flush()
    os._exit(0)  # threads stuck in a hung client must not keep the process alive


# --------------------------------------------------------------- the parent
def run_client(client: str, names: List[str], budget: float) -> Dict[str, Dict[str, Any]]:
    proc = subprocess.Popen(
        [sys.executable, __file__, "--child", client, "--cases", ",".join(names)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    rows: Dict[str, Dict[str, Any]] = {}
    lines: List[str] = []

    def read() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.append(line)

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    reader.join(budget)
    if proc.poll() is None:
        proc.kill()
    proc.wait(10)
    reader.join(5)
    for line in lines:
        try:
            row = json.loads(line)
        except ValueError:
            continue
        rows[row["case"]] = row
    stderr = proc.stderr.read() if proc.stderr is not None else ""
    if proc.returncode not in (0, None) and stderr:
        sys.stderr.write(f"[{client}] exited {proc.returncode}: {stderr[-2000:]}\n")
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clients", default=",".join(CLIENTS))
    parser.add_argument("--cases", default="")
    parser.add_argument("--json", default="")
    parser.add_argument("--child", default="")
    args = parser.parse_args()
    names = [n for n in args.cases.split(",") if n]
    if args.child:
        child(args.child, names)
        return 0

    from tests.hostile.cases import CASES

    cases = [c for c in CASES if not names or c.name in names]
    clients = [c for c in args.clients.split(",") if c]
    budget = sum(c.peer_deadline + 1.5 for c in cases) + 30
    table: Dict[str, Dict[str, Dict[str, Any]]] = {}
    started = time.monotonic()
    for client in clients:
        table[client] = run_client(client, [c.name for c in cases], budget)
    elapsed = time.monotonic() - started

    width = max(len(c.name) for c in cases) + 2
    col = 19
    print("hostile-server catalogue: %d cases, %d clients (%.0f s)" % (len(cases), len(clients), elapsed))
    print("case".ljust(width) + "".join(c[: col - 1].ljust(col) for c in clients))
    family = None
    for case in cases:
        if case.family != family:
            family = case.family
            print("-- " + family)
        cells = []
        for client in clients:
            row = table[client].get(case.name)
            cell = row["cell"] if row else "HANG"  # the client process died or ran out of time
            cells.append(cell[: col - 1].ljust(col))
        print(case.name.ljust(width) + "".join(cells))
    print()
    summary: Dict[str, Dict[str, int]] = {}
    for client in clients:
        counts = {v: 0 for v in VERDICT_ORDER}
        for case in cases:
            row = table[client].get(case.name)
            counts[row["verdict"] if row else "HANG"] += 1
        summary[client] = counts
        print(
            "%-18s %3d right, %2d lenient, %2d refused, %2d WRONG, %2d HANG, %2d CRASH  (of %d)"
            % (
                client + ":",
                counts["right"],
                counts["lenient"],
                counts["refused"],
                counts["WRONG"],
                counts["HANG"],
                counts["CRASH"],
                len(cases),
            )
        )
    if args.json:
        Path(args.json).write_text(
            json.dumps(
                {"clients": clients, "cases": [c.name for c in cases], "table": table, "summary": summary}, indent=1
            )
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
