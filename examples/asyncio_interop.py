"""From async code: await a promise through its Future.

``response.future`` is a ``concurrent.futures.Future``; ``asyncio.wrap_future`` makes
it awaitable in any event loop. Your loop keeps running while asynchttp's own loop
thread does the I/O, so blocking-style libraries built on asynchttp and asyncio code
can share one Http.

Run: python examples/asyncio_interop.py
"""

import asyncio
import json

import asynchttp
from asynchttp._demo import DemoServer


async def fetch_json(http: asynchttp.Http, url: str) -> dict:
    response, _content = http.request(url)
    real_response, body = await asyncio.wrap_future(response.future)
    return json.loads(body)


async def ticker(stop: asyncio.Event) -> int:
    """Proof that our loop is never blocked while requests are in flight."""
    ticks = 0
    while not stop.is_set():
        ticks += 1
        await asyncio.sleep(0.01)
    return ticks


async def main(server: DemoServer) -> None:
    with asynchttp.Http() as http:
        item = await fetch_json(http, server.url("/json?id=42"))
        print("awaited one:", item["name"])

        stop = asyncio.Event()
        ticks = asyncio.ensure_future(ticker(stop))
        urls = [server.url("/slow?delay=0.1&n=%d" % n) for n in range(10)]
        pairs = await asyncio.gather(*(asyncio.wrap_future(http.request(u)[0].future) for u in urls))
        stop.set()
        print("gathered %d slow answers: %s" % (len(pairs), sorted({r.status for r, _ in pairs})))
        print("our loop kept running meanwhile:", await ticks > 0)

        # errors come out of the await as httplib2's exceptions
        try:
            await asyncio.wrap_future(http.request(server.url("/drop"))[0].future)
        except Exception as exc:
            print("awaiting a failed request raises", type(exc).__name__)


if __name__ == "__main__":
    with DemoServer(lifetime=60) as demo_server:
        asyncio.run(main(demo_server))
