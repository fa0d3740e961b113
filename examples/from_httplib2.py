"""Moving from httplib2: BlockingHttp first (no behaviour change), then Http.

Step 0 is your code as it is, on httplib2. Step 1 swaps ``httplib2.Http`` for
``asynchttp.BlockingHttp``: ``request()`` still waits and returns a real
``(httplib2.Response, bytes)``, raises the same exceptions at the same place, but
the object is thread-safe and pools keep-alive connections. Step 2 uses
``asynchttp.Http``: the same call returns promises at once, so issuing all requests
before touching any makes them concurrent; the code that reads them does not change.

Run: python examples/from_httplib2.py
"""

from __future__ import annotations

import json
import socket
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httplib2

import asynchttp
from asynchttp._demo import DemoServer


def prices_httplib2(urls: list[str]) -> list[float]:
    """Step 0: the original code."""
    http = httplib2.Http()
    prices = []
    for url in urls:
        response, content = http.request(url)
        prices.append(json.loads(content)["price"] if response.status == 200 else 0.0)
    return prices


def prices_blocking(urls: list[str], http: Any) -> list[float]:
    """Step 1: the same lines, with http = asynchttp.BlockingHttp()."""
    prices = []
    for url in urls:
        response, content = http.request(url)
        prices.append(json.loads(content)["price"] if response.status == 200 else 0.0)
    return prices


def prices_concurrent(urls: list[str], http: asynchttp.Http) -> list[float]:
    """Step 2: asynchttp.Http; first issue every request, then read them in order."""
    pairs = [http.request(url) for url in urls]  # all in flight now
    return [json.loads(content)["price"] if response.status == 200 else 0.0 for response, content in pairs]


def closed_port() -> int:
    """A local port where nothing listens (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def timed(label: str, fn: Any, *args: Any) -> list[float]:
    start = time.perf_counter()
    result = fn(*args)
    print("%-34s %.2f s" % (label, time.perf_counter() - start))
    return result


def main() -> None:
    with DemoServer(lifetime=60) as server:
        # slow answers (50 ms each) make the difference visible
        urls = [server.url("/json?id=%d" % n) for n in range(1, 21)]
        slow = [server.url("/slow?delay=0.05&n=%d" % n) for n in range(10)]

        before = timed("0. httplib2.Http", prices_httplib2, urls)
        with asynchttp.BlockingHttp() as blocking:
            step1 = timed("1. asynchttp.BlockingHttp", prices_blocking, urls, blocking)
            # BlockingHttp may be shared by threads (httplib2.Http may not)
            with ThreadPoolExecutor(4) as pool:
                shared = list(pool.map(lambda u: blocking.request(u)[0].status, urls))
        with asynchttp.Http() as http:
            step2 = timed("2. asynchttp.Http", prices_concurrent, urls, http)
            print("same prices in all three:", before == step1 == step2)
            print("shared BlockingHttp from 4 threads:", set(shared) == {200})

            # the gain shows with slow answers: 10 x 50 ms one after another, or overlapped
            with asynchttp.BlockingHttp() as blocking:
                timed("1. BlockingHttp, 10 slow requests", lambda: [blocking.request(u) for u in slow])
            timed("2. Http, 10 slow requests", lambda: [bytes(c) for _, c in [http.request(u) for u in slow]])

        # The same exceptions as httplib2, where httplib2 raises them
        closed = "http://127.0.0.1:%d/" % closed_port()
        for name, client in (("httplib2", httplib2.Http()), ("BlockingHttp", asynchttp.BlockingHttp())):
            try:
                client.request(closed)
            except ConnectionRefusedError:
                print("%s raises ConnectionRefusedError" % name)
        with asynchttp.Http() as http:
            response, _ = http.request(closed)  # no error yet: it surfaces on access
            try:
                _ = response.status  # touching it raises
            except ConnectionRefusedError:
                print("Http raises ConnectionRefusedError when the response is touched")


if __name__ == "__main__":
    main()
