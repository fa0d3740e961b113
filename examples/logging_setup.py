"""Logging: the recommended setup, and what asynchttp says about each request.

asynchttp logs on the logger ``asynchttp`` (the core on ``asynchttp_lowhaio``):
DEBUG for each step of each request (queued, started, connection, sent, response
head, body done, callback, resolved, waited on) with a request id; WARNING when a
request fails; ERROR with a traceback when a callback fails. The thread name in the
format shows who did what: your thread, the ``asynchttp-loop`` thread, a worker.
Nothing is printed unless you configure logging; with DEBUG off it costs nothing.

Run: python examples/logging_setup.py   (the log goes to stderr)
"""

import logging

import asynchttp
from asynchttp._demo import DemoServer

# The recommended format: time, thread, logger, level, message.
LOG_FORMAT = "%(asctime)s %(threadName)s %(name)s %(levelname)s %(message)s"


def main() -> None:
    logging.basicConfig(level=logging.WARNING, format=LOG_FORMAT)
    # every step of every request; add "asynchttp_lowhaio" for the core's connection details
    logging.getLogger("asynchttp").setLevel(logging.DEBUG)

    def failing_callback(promise: asynchttp.Promise) -> None:
        raise ValueError("a bug in a callback is logged with the stack of its request()")

    with DemoServer(lifetime=60) as server, asynchttp.Http() as http:
        response, content = http.request(server.url("/json?id=1"))
        print("1:", response.status, len(content), "bytes")

        response, content = http.request(server.url("/drop"))  # logged as a WARNING
        print("2:", type(response.exception()).__name__)

        response, content = http.request(server.url("/fast"), callback=failing_callback)
        print("3:", type(response.exception()).__name__)  # logged as an ERROR with traceback

    # Quiet again: only warnings and errors from here on.
    logging.getLogger("asynchttp").setLevel(logging.WARNING)


if __name__ == "__main__":
    main()
