"""Request bodies as httplib2 (through http.client) accepts them, turned into bytes
once, at the call: bytes as is, str as Latin-1, a file read block by block, a buffer
copied, an iterable joined. File and iterable bodies become ``ChunkedBody`` (bytes
that remember the chunks http.client would have written), which the wire room
(``_wire``) frames chunked. Pure, but for ``body_to_bytes``, which reads a file in
the loop's executor.
"""

from __future__ import annotations

import asyncio
from typing import Any, Callable, Optional

__all__ = ["FILE_BLOCK", "ChunkedBody", "body_bytes", "body_to_bytes", "read_blocks"]


def _latin1(text: str, what: str = "body") -> bytes:
    # http.client encodes str bodies as Latin-1 and raises UnicodeEncodeError otherwise
    try:
        return text.encode("iso-8859-1")
    except UnicodeEncodeError as exc:
        raise UnicodeEncodeError(
            exc.encoding,
            exc.object,
            exc.start,
            exc.end,
            "%s (%.20r) is not valid Latin-1. Use %s.encode('utf-8') if you want to send it encoded in UTF-8."
            % (what.title(), text[exc.start : exc.end], what),
        ) from None


# http.client reads a file body in blocks of this size and sends each as one chunk.
FILE_BLOCK = 8192


class ChunkedBody(bytes):
    """A body http.client would send chunked (a file or an iterable: its length is not
    known up front), read at the call. ``sizes`` are the chunks http.client would write,
    or None for a file read in full ``FILE_BLOCK`` blocks (the usual case)."""

    sizes: Optional[tuple[int, ...]] = None


def body_bytes(body: Any) -> Optional[bytes]:
    """The request body as bytes, accepting what httplib2 (through http.client) accepts.

    bytes as is; str as Latin-1; a file-like object is read, on the calling thread,
    from its current position (so a second send after a redirect reads what is left,
    as http.client would), block by block; other buffers (bytearray, memoryview,
    array) copied; any other iterable joined. File and iterable bodies come back as
    :class:`ChunkedBody`: http.client sends those chunked, and so does asynchttp.
    """
    if body is None or isinstance(body, bytes):
        return body
    if isinstance(body, str):
        return _latin1(body)
    read = getattr(body, "read", None)
    if read is not None:  # before the buffer check: http.client prefers read() too (mmap)
        return read_blocks(read)
    try:
        return memoryview(body).tobytes()  # bytearray, memoryview, array: sent with a length
    except TypeError:
        pass
    try:
        pieces = iter(body)
    except TypeError:
        raise TypeError(
            "body must be bytes, str, a file or an iterable of bytes, not %s" % type(body).__name__
        ) from None
    parts = [_latin1(p) if isinstance(p, str) else bytes(p) for p in pieces]
    parts = [p for p in parts if p]  # http.client skips empty pieces (one would end the body)
    chunked = ChunkedBody(b"".join(parts))
    chunked.sizes = tuple(len(p) for p in parts)
    return chunked


def read_blocks(read: Callable[[int], Any]) -> ChunkedBody:
    """Read a file as http.client does, block by block, remembering the block sizes
    only when one came back short before the end (a pipe, a socket)."""
    blocks = []
    while True:
        block = read(FILE_BLOCK)
        if not block:
            break
        blocks.append(_latin1(block) if isinstance(block, str) else bytes(block))
    chunked = ChunkedBody(b"".join(blocks))
    if any(len(block) != FILE_BLOCK for block in blocks[:-1]):
        chunked.sizes = tuple(len(block) for block in blocks)
    return chunked


async def body_to_bytes(body: Any) -> Optional[bytes]:
    """:func:`body_bytes` on the loop: a file-like body is read in the loop's
    executor (it may be a slow disk), everything else converted at once."""
    read = getattr(body, "read", None)
    if read is not None and not isinstance(body, (bytes, str)):
        return await asyncio.get_running_loop().run_in_executor(None, read_blocks, read)
    return body_bytes(body)
