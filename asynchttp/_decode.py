"""Content decoding policy: gzip/deflate exactly as httplib2 0.32 decodes them.

httplib2's ``_decompressContent`` does the work (same codings, same bounded
``LimitDecoder``, same ``-content-encoding`` and ``content-length`` rewrite,
same ``FailedToDecompressContent`` / ``DecodeLimitError`` / ``DecodeRatioError``),
so limits configured with ``decode_limit_*`` or the environment behave the
same.  What this module adds is the decision of where the CPU work runs:
large bodies are decoded off the event-loop thread so one big download does
not stall every other request.
"""

from __future__ import annotations

import asyncio
from typing import Any, Mapping

import httplib2

from . import _httplib2

__all__ = ["DECODED_CODINGS", "OFFLOAD_THRESHOLD", "needs_decoding", "decode_content", "decode_content_async"]

# httplib2 compares the header value with these exact strings (no x-gzip, no lists)
DECODED_CODINGS = ("gzip", "deflate", "zlib")

# Below this many encoded bytes decoding stays on the loop: it costs less than a
# thread hand-off.  The bound is on the *encoded* size, and a small body can
# inflate a lot; with httplib2's limits (ratio 100 once past the 10 MiB safe
# limit) 16 KiB in can never exceed about 10 MiB out, so the loop never inflates
# more than that at once.
OFFLOAD_THRESHOLD = 16 * 1024


def needs_decoding(response: Mapping[str, str]) -> bool:
    return response.get("content-encoding") in DECODED_CODINGS


def decode_content(response: httplib2.Response, content: bytes, limit_kwargs: Mapping[str, Any]) -> bytes:
    """Decode ``content`` in place of httplib2 (mutates ``response`` headers as it does)."""
    return _httplib2.decompress_content(response, content, limit_kwargs)


async def decode_content_async(response: httplib2.Response, content: bytes, limit_kwargs: Mapping[str, Any]) -> bytes:
    """Same result as :func:`decode_content`; big bodies go to the loop's executor.

    zlib releases the GIL while inflating, so the loop keeps serving other
    connections while a large body is decoded.
    """
    loop = asyncio._get_running_loop()
    if loop is None or not needs_decoding(response) or len(content) < OFFLOAD_THRESHOLD:
        # (no loop: BlockingHttp's pipeline on its caller's thread, where nothing else waits)
        return decode_content(response, content, limit_kwargs)
    return await loop.run_in_executor(None, decode_content, response, content, dict(limit_kwargs))
