"""asynchttp_lowhaio, the asyncio core: stream a large upload and download in constant memory.

The core is plain asyncio and lowhaio's API: ``request, close = Pool()`` inside a
running loop, then ``code, headers, body = await request(method, url, ...)``. A
request body is a callable returning an async iterator of bytes (called again if the
request is retried); a response body is an async iterator of chunks. Nothing is
buffered whole, so a 32 MiB file goes up and comes down with a few hundred KiB
of memory.

Run: python examples/core_streaming.py
"""

import asyncio
import hashlib
import json
import os
import tempfile
import tracemalloc
from typing import Any, AsyncIterator

from asynchttp._demo import DemoServer
from asynchttp_lowhaio import Pool, buffered

SIZE = 32 * 1024 * 1024
PIECE = 64 * 1024


async def file_pieces(path: str) -> AsyncIterator[bytes]:
    """The upload body: the file, a piece at a time (blocking reads kept short)."""
    with open(path, "rb") as f:
        while True:
            piece = f.read(PIECE)
            if not piece:
                return
            yield piece


async def upload(request: Any, url: str, path: str) -> dict:
    size = os.path.getsize(path)
    code, headers, body = await request(
        b"POST", url, headers=((b"content-length", str(size).encode()),), body=file_pieces, body_args=(path,)
    )
    return json.loads(await buffered(body))  # the server's small JSON answer


async def download(request: Any, url: str, path: str) -> tuple[int, str, int]:
    code, headers, body = await request(b"GET", url)
    digest = hashlib.sha256()
    largest = 0
    with open(path, "wb") as f:
        async for chunk in body:  # read to the end: the connection goes back to the pool
            f.write(chunk)
            digest.update(chunk)
            largest = max(largest, len(chunk))
    return int(code), digest.hexdigest(), largest


async def main(server: DemoServer, workdir: str) -> None:
    source = os.path.join(workdir, "upload.bin")
    sent = hashlib.sha256()
    with open(source, "wb") as f:  # a large file to send, written without holding it
        for n in range(SIZE // PIECE):
            piece = bytes([n % 251]) * PIECE
            f.write(piece)
            sent.update(piece)
    expected = sent.hexdigest()

    request, close = Pool()
    try:
        tracemalloc.start()
        answer = await upload(request, server.url("/upload"), source)
        _, upload_peak = tracemalloc.get_traced_memory()
        print(
            "uploaded %d MiB; the server counted %d bytes; sha256 matches: %s"
            % (SIZE >> 20, answer["bytes"], answer["sha256"] == expected)
        )

        tracemalloc.reset_peak()
        target = os.path.join(workdir, "download.bin")
        code, digest, largest = await download(request, server.url("/large?size=%d" % SIZE), target)
        _, download_peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        print(
            "downloaded %d MiB (status %d) in chunks of at most %d KiB"
            % (os.path.getsize(target) >> 20, code, largest >> 10)
        )
        print(
            "peak memory traced: upload %d KiB, download %d KiB (file: %d KiB)"
            % (upload_peak >> 10, download_peak >> 10, SIZE >> 10)
        )
        print("download digest:", digest)
    finally:
        await close()


if __name__ == "__main__":
    with DemoServer(lifetime=120) as demo_server, tempfile.TemporaryDirectory() as tmp:
        asyncio.run(main(demo_server, tmp))
