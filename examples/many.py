"""Queue 1,000 requests, then take the results as they complete.

Every promise carries ``.future``, a ``concurrent.futures.Future`` whose result is
``(httplib2.Response, bytes)``, so the standard ``as_completed`` and ``wait`` work.
Queuing is cheap (no thread per request): the pool keeps ``max_connections``
requests in flight and starts the rest in order.

Run: python examples/many.py
"""

import time
from collections import Counter
from concurrent.futures import as_completed

import asynchttp
from asynchttp._demo import DemoServer

COUNT = 1000


def main() -> None:
    with DemoServer(lifetime=60) as server, asynchttp.Http(max_connections=20) as http:
        paths = ["/json?id=%d" % n if n % 10 else "/status/503?n=%d" % n for n in range(COUNT)]
        start = time.perf_counter()
        futures = {}
        for path in paths:
            response, _content = http.request(server.url(path))
            futures[response.future] = path
        queued = time.perf_counter() - start
        print("queued %d requests in %.1f ms" % (len(futures), queued * 1000))

        statuses = Counter()
        received = 0
        for future in as_completed(futures):
            response, content = future.result()  # raises the request's error, if any
            statuses[response.status] += 1
            received += len(content)
        elapsed = time.perf_counter() - start
        print(
            "all %d done in %.2f s (%.0f requests/s), %d bytes"
            % (sum(statuses.values()), elapsed, COUNT / elapsed, received)
        )
        print("statuses:", ", ".join("%d x %d" % pair for pair in sorted(statuses.items())))


if __name__ == "__main__":
    main()
