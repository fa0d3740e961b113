"""examples/dask_fetch.py on a real 2-process LocalCluster on 127.0.0.1, against its own server.

The example runs as a subprocess (as the other examples do), so its cluster, its
worker processes and its server are its own, and the test sees only what a user
sees: its output, its exit, and whether its worker processes are gone afterwards.
The expected results come from an independent client (``http.client``) asking a
fresh demo server the same URLs; both the cluster run and the one-process run must
match them exactly.
"""

from __future__ import annotations

import hashlib
import http.client
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from asynchttp._demo import DemoServer

pytest.importorskip("distributed")

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "examples" / "dask_fetch.py"
COUNT = 300
# A hang guard (cluster start-up on a loaded machine included), not a timing assertion.
TIMEOUT = 180.0


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if "proxy" not in k.lower()}
    env["PYTHONPATH"] = str(REPO) + os.pathsep + env.get("PYTHONPATH", "")
    return env


def expected_digest(count: int) -> str:
    """What the example should report, fetched one by one with http.client."""
    results = []
    with DemoServer(lifetime=60) as server:
        conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
        try:
            for n in range(count):
                path = "/status/404?n=%d" % n if n % 10 == 9 else "/json?id=%d" % n
                conn.request("GET", path)
                response = conn.getresponse()
                results.append((path.lstrip("/"), response.status, hashlib.sha256(response.read()).hexdigest()))
        finally:
            conn.close()
    return hashlib.sha256(repr(sorted(results)).encode()).hexdigest()


def value(lines: list[str], prefix: str) -> str:
    (line,) = [line for line in lines if line.startswith(prefix)]
    return line[len(prefix) :].strip()


def gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    try:  # a zombie is gone too: it only waits for its parent to reap it
        with open(f"/proc/{pid}/stat", encoding="ascii") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] == "Z"
    except OSError:
        return True


@pytest.fixture(scope="module")
def run() -> subprocess.CompletedProcess:
    proc = subprocess.run(
        [sys.executable, str(SCRIPT), "--urls", str(COUNT), "--batch", "50", "--compare"],
        capture_output=True,
        text=True,
        cwd=str(REPO),
        env=_env(),
        timeout=TIMEOUT,
    )
    assert proc.returncode == 0, proc.stderr
    return proc


def test_the_cluster_fetches_every_url_with_one_http_per_worker_process(run: subprocess.CompletedProcess) -> None:
    lines = run.stdout.splitlines()
    assert len([line for line in lines if line.startswith("cluster: %d URLs in " % COUNT)]) == 1
    assert value(lines, "cluster statuses:") == "200 x %d, 404 x %d" % (COUNT - COUNT // 10, COUNT // 10)
    assert value(lines, "cluster: 2 worker processes, Http objects per process:") == "[1]"


def test_the_results_match_an_independent_client(run: subprocess.CompletedProcess) -> None:
    lines = run.stdout.splitlines()
    expected = expected_digest(COUNT)
    assert value(lines, "cluster digest:") == expected
    assert value(lines, "one process digest:") == expected
    assert value(lines, "same results both ways:") == "yes"


def test_progress_is_reported_up_to_the_last_url(run: subprocess.CompletedProcess) -> None:
    progress = [line for line in run.stderr.splitlines() if line.startswith("progress: ")]
    done = [int(line.split()[1].split("/")[0]) for line in progress]
    assert done == sorted(done) and done[-1] == COUNT and len(done) >= 2
    assert all(line.endswith("/%d URLs" % COUNT) for line in progress)


def test_the_cluster_is_closed_and_its_workers_are_gone(run: subprocess.CompletedProcess) -> None:
    pids = [int(pid) for pid in value(run.stdout.splitlines(), "worker pids:").split()]
    assert len(pids) == 2 and os.getpid() not in pids
    deadline = time.monotonic() + 10  # bounded: nannies may still be reaping
    while not all(gone(pid) for pid in pids) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert all(gone(pid) for pid in pids)
    assert "Traceback" not in run.stderr


def test_bad_arguments_are_refused_clearly() -> None:
    proc = subprocess.run(
        [sys.executable, str(SCRIPT), "--urls", "0"],
        capture_output=True,
        text=True,
        cwd=str(REPO),
        env=_env(),
        timeout=60,
    )
    assert proc.returncode == 2 and "--urls must be at least 1" in proc.stderr
