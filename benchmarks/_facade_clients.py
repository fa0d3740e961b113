"""The blocking clients the facade benchmark compares, behind one interface.

`batch(url, n, size)` makes n requests at the client's concurrency the way
its users would (asynchttp: queue everything, then touch everything; the
thread-based peers: submit to a pool of threads), checking every answer;
`one(url)` makes a single request and waits for it, for the sequential test.
"""

from __future__ import annotations

import collections
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from _core_clients import Unavailable, ca_path


def check(status: int, body: bytes, size: int) -> None:
    if status != 200 or len(body) != size:
        raise AssertionError(f"bad answer: status {status}, {len(body)} bytes, wanted {size}")


class SyncClient:
    name = ""

    def open(self, concurrency: int) -> None:
        raise NotImplementedError

    def batch(self, url: str, n: int, size: int) -> None:
        raise NotImplementedError

    def one(self, url: str) -> tuple[int, bytes]:
        raise NotImplementedError

    def close(self) -> None:
        pass

    def describe(self) -> str:
        return ""


class AsynchttpHttp(SyncClient):
    name = "asynchttp"

    def __init__(self) -> None:
        try:
            import asynchttp
        except Exception as exc:
            raise Unavailable(f"import asynchttp failed: {exc!r}") from exc
        if not hasattr(asynchttp, "Http"):
            raise Unavailable("asynchttp.Http does not exist yet")
        self.module: Any = asynchttp

    def open(self, concurrency: int) -> None:
        # The keyword for the connection limit is the core's option name; an
        # Http without it is still measured, with its own default limit.
        try:
            self.http = self.module.Http(max_connections=concurrency, ca_certs=ca_path())
            self.note = f"max_connections={concurrency}"
        except TypeError:
            self.http = self.module.Http(ca_certs=ca_path())
            self.note = "default limits (max_connections not accepted)"

    def batch(self, url: str, n: int, size: int) -> None:
        # Each answer is dropped once touched, as the thread-pool peers drop
        # theirs (Executor.map lets go of each result it yields): holding all
        # of them would measure page faults on fresh memory, not the client.
        request = self.http.request
        pending = collections.deque([request(url) for _ in range(n)])
        while pending:
            response, content = pending.popleft()
            check(response.status, bytes(content), size)

    def one(self, url: str) -> tuple[int, bytes]:
        response, content = self.http.request(url)
        body = bytes(content)
        return response.status, body

    def close(self) -> None:
        for name in ("shutdown", "close"):
            method = getattr(self.http, name, None)
            if method is not None:
                method()
                return

    def describe(self) -> str:
        return f"asynchttp.Http from {self.module.__file__} ({self.note})"


class AsynchttpBlocking(SyncClient):
    """BlockingHttp: one instance shared by the threads of a ThreadPoolExecutor (it is
    thread-safe and pooled); sequential: the same instance, on the calling thread."""

    name = "asynchttp-blocking"

    def __init__(self) -> None:
        try:
            import asynchttp
        except Exception as exc:
            raise Unavailable(f"import asynchttp failed: {exc!r}") from exc
        self.module: Any = asynchttp

    def open(self, concurrency: int) -> None:
        self.http = self.module.BlockingHttp(max_connections=concurrency, ca_certs=ca_path())
        self.pool = ThreadPoolExecutor(concurrency)

    def _fetch(self, url: str) -> tuple[int, bytes]:
        response, content = self.http.request(url)
        return response.status, content

    def batch(self, url: str, n: int, size: int) -> None:
        for status, body in self.pool.map(self._fetch, [url] * n):
            check(status, body, size)

    def one(self, url: str) -> tuple[int, bytes]:
        return self._fetch(url)

    def close(self) -> None:
        self.pool.shutdown()
        self.http.shutdown()

    def describe(self) -> str:
        driver = getattr(self.http, "_config", {}).get("driver", "loop")
        return f"asynchttp.BlockingHttp from {self.module.__file__} (driver={driver}; ThreadPoolExecutor, one shared)"


class Httplib2Threads(SyncClient):
    """httplib2.Http is not thread-safe: one per thread, as its users do."""

    name = "httplib2"

    def open(self, concurrency: int) -> None:
        import httplib2

        self.httplib2 = httplib2
        self.local = threading.local()
        self.pool = ThreadPoolExecutor(concurrency)
        self.single = httplib2.Http(ca_certs=ca_path())

    def _fetch(self, url: str) -> tuple[int, bytes]:
        http = getattr(self.local, "http", None)
        if http is None:
            http = self.local.http = self.httplib2.Http(ca_certs=ca_path())
        response, content = http.request(url)
        return response.status, content

    def batch(self, url: str, n: int, size: int) -> None:
        for status, body in self.pool.map(self._fetch, [url] * n):
            check(status, body, size)

    def one(self, url: str) -> tuple[int, bytes]:
        response, content = self.single.request(url)
        return response.status, content

    def close(self) -> None:
        self.pool.shutdown()

    def describe(self) -> str:
        return f"httplib2 {self.httplib2.__version__}: one Http per thread, ThreadPoolExecutor; sequential: one Http"


class RequestsFutures(SyncClient):
    name = "requests-futures"

    def open(self, concurrency: int) -> None:
        from requests_futures.sessions import FuturesSession

        # max_workers above requests' pool size resizes the pool to match.
        self.session = FuturesSession(max_workers=concurrency)
        # Per request: requests lets REQUESTS_CA_BUNDLE from the environment
        # win over the session's verify.
        self.kwargs = {"verify": ca_path()} if ca_path() else {}

    def batch(self, url: str, n: int, size: int) -> None:
        get = self.session.get
        kwargs = self.kwargs
        futures = [get(url, **kwargs) for _ in range(n)]
        for future in futures:
            resp = future.result()
            check(resp.status_code, resp.content, size)

    def one(self, url: str) -> tuple[int, bytes]:
        resp = self.session.get(url, **self.kwargs).result()
        return resp.status_code, resp.content

    def close(self) -> None:
        self.session.close()

    def describe(self) -> str:
        from importlib.metadata import version

        return f"requests-futures {version('requests-futures')}, requests {version('requests')}"


class Urllib3Threads(SyncClient):
    name = "urllib3"

    def open(self, concurrency: int) -> None:
        import urllib3

        self.urllib3 = urllib3
        self.manager = urllib3.PoolManager(
            maxsize=concurrency,
            retries=False,
            **({"ca_certs": ca_path(), "cert_reqs": "CERT_REQUIRED"} if ca_path() else {}),
        )
        self.pool = ThreadPoolExecutor(concurrency)

    def _fetch(self, url: str) -> tuple[int, bytes]:
        resp = self.manager.request("GET", url)
        return resp.status, resp.data

    def batch(self, url: str, n: int, size: int) -> None:
        for status, body in self.pool.map(self._fetch, [url] * n):
            check(status, body, size)

    def one(self, url: str) -> tuple[int, bytes]:
        return self._fetch(url)

    def close(self) -> None:
        self.pool.shutdown()
        self.manager.clear()

    def describe(self) -> str:
        return f"urllib3 {self.urllib3.__version__}: one PoolManager, ThreadPoolExecutor"


def make(name: str) -> SyncClient:
    classes: dict[str, type[SyncClient]] = {
        "asynchttp": AsynchttpHttp,
        "asynchttp-blocking": AsynchttpBlocking,
        "httplib2": Httplib2Threads,
        "requests-futures": RequestsFutures,
        "urllib3": Urllib3Threads,
    }
    if name not in classes:
        raise ValueError(f"unknown blocking client {name!r}")
    return classes[name]()
