"""The smallest asynchttp program: requests return at once, values arrive when touched.

``Http().request()`` takes httplib2's arguments and returns ``(response, content)``
straight away. They stand for an ``httplib2.Response`` and ``bytes``: the first time
you touch one (``response.status``, ``json.loads(content)``...) it waits for the
answer. Make all your requests first, then touch them: they run concurrently.

Run: python examples/simple.py (it starts its own local server; no network needed).
"""

import json

import asynchttp
from asynchttp._demo import DemoServer  # a local server shipped for demos; use your own URLs


def main() -> None:
    with DemoServer(lifetime=60) as server, asynchttp.Http() as http:
        # One request: it is in flight as soon as request() returns.
        response, content = http.request(server.url("/json?id=1"))
        print("status:", response.status, response["content-type"])
        print("body:", json.loads(content))

        # Several: all are queued before the first is touched, so they overlap.
        pairs = [http.request(server.url("/json?id=%d" % n)) for n in range(2, 7)]
        for _, content in pairs:
            item = json.loads(content)
            print("item %d: %s costs %.2f" % (item["id"], item["name"], item["price"]))

        # content behaves as bytes, response as httplib2.Response (a dict of headers)
        response, content = http.request(server.url("/gzip"))
        print("gzip:", response.status, len(content), "bytes once decoded,", "starts with", bytes(content[:14]))
        # Errors surface when touched, as the exception httplib2 would raise
        response, content = http.request(server.url("/drop"))
        try:
            _ = response.status  # touching it raises
        except Exception as exc:  # here http.client.RemoteDisconnected
            print("dropped connection ->", type(exc).__name__)


if __name__ == "__main__":
    main()
