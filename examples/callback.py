"""Process answers in background callbacks: JSON is decoded on worker threads.

``request(..., callback=fn)`` calls ``fn(promise)`` on one of the Http's
``max_workers`` worker threads as soon as the answer is in, before anyone touching
the promises is released. The callback sees ``promise.response``, ``promise.content``
and ``promise.exception``; what it puts in ``promise.content`` is what readers get.

Run: python examples/callback.py
"""

import json
import threading

import asynchttp
from asynchttp._demo import DemoServer


def decode_json(promise: asynchttp.Promise) -> None:
    """Runs on a worker thread: the main thread only ever sees decoded objects."""
    if promise.exception is not None:
        return  # the request failed; touching its promises raises that error
    promise.content = json.loads(promise.content)
    promise.response["x-decoded-on"] = threading.current_thread().name


def main() -> None:
    with DemoServer(lifetime=60) as server, asynchttp.Http(max_workers=4) as http:
        pairs = [http.request(server.url("/json?id=%d" % n), callback=decode_json) for n in range(1, 21)]
        failed = http.request(server.url("/drop"), callback=decode_json)

        total = 0.0
        for _, item in pairs:
            total += item["price"]  # already a dict: decoded in the background
        print("20 items decoded, total price %.2f" % total)
        print("first item:", pairs[0][1]["name"], pairs[0][1]["tags"])

        threads = {response["x-decoded-on"] for response, _ in pairs}
        print(
            "decoded on %d worker thread(s), none of them the main thread: %s"
            % (len(threads), threading.current_thread().name not in threads)
        )

        try:
            failed[1]["id"]
        except Exception as exc:
            print("the dropped request raises on access:", type(exc).__name__)


if __name__ == "__main__":
    main()
